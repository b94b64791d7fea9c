//! Capture files as byte streams: raw binary, hex text (one frame per line, or dumps with
//! timestamps, comments, `hexdump -C`/`xxd` offsets and ASCII columns), each optionally gzip-
//! or zstd-compressed (detected by magic). Read in bounded chunks, so files of any size stream
//! through a fixed amount of memory.
//!
//! Hex text is turned into bytes line by line and the lines are concatenated: the stream
//! decoder finds the frames, whether a line holds one frame, several, or part of one. What the
//! line rules get wrong ends up as skipped bytes, never as a wrong telegram (CRCs).

use std::io::{self, Cursor, Read};

/// How to read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Detect: compression by magic, then hex text or binary by content.
    Auto,
    /// Raw bytes as received.
    Binary,
    /// Hex text (any of the dump styles).
    Hex,
    /// gzip, then detect the content.
    Gzip,
    /// zstd, then detect the content.
    Zstd,
}

impl Format {
    /// Parses `"auto"`, `"binary"`/`"bin"`/`"raw"`, `"hex"`, `"gzip"`/`"gz"`, `"zstd"`/`"zst"`.
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s.to_ascii_lowercase().as_str() {
            "auto" => Format::Auto,
            "binary" | "bin" | "raw" => Format::Binary,
            "hex" | "text" => Format::Hex,
            "gzip" | "gz" => Format::Gzip,
            "zstd" | "zst" => Format::Zstd,
            _ => return None,
        })
    }

    /// The name used by [`Format::parse`].
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Binary => "binary",
            Format::Hex => "hex",
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
const SNIFF: usize = 4096;

/// Whether `head` looks like hex text rather than binary capture bytes.
pub fn looks_like_text(head: &[u8]) -> bool {
    !head.is_empty()
        && head
            .iter()
            .all(|&b| matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7E))
        && head.iter().filter(|b| b.is_ascii_hexdigit()).count() >= 4
}

fn read_head<R: Read>(r: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

type Reader = Box<dyn Read + Send + Sync>;

/// A capture as a stream of bytes for the decoder.
pub struct Source {
    reader: Reader,
    hex: Option<HexParser>,
    /// Compression and content found: e.g. `"gzip+hex"`.
    detected: String,
    eof: bool,
    /// An error met while sniffing, reported when the bytes before it are used up.
    pending: Option<io::Error>,
}

impl core::fmt::Debug for Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Source")
            .field("detected", &self.detected)
            .field("eof", &self.eof)
            .finish()
    }
}

impl Source {
    /// Wraps any reader (e.g. a file).
    ///
    /// # Errors
    /// Reading the first bytes failed, or a forced decompressor could not start.
    pub fn new<R: Read + Send + Sync + 'static>(
        mut reader: R,
        format: Format,
    ) -> io::Result<Source> {
        let head = read_head(&mut reader, SNIFF)?;
        let mut pending = None;
        let rest: Reader = Box::new(Cursor::new(head.clone()).chain(reader));
        let (inner, compression): (Reader, &str) = match format {
            Format::Gzip => (Box::new(flate2::read::MultiGzDecoder::new(rest)), "gzip+"),
            Format::Zstd => (zstd(rest)?, "zstd+"),
            Format::Auto if head.starts_with(&GZIP_MAGIC) => {
                (Box::new(flate2::read::MultiGzDecoder::new(rest)), "gzip+")
            }
            Format::Auto if head.starts_with(&ZSTD_MAGIC) => (zstd(rest)?, "zstd+"),
            _ => (rest, ""),
        };
        let (reader, text) = match format {
            Format::Binary => (inner, false),
            Format::Hex => (inner, true),
            _ => {
                let mut inner = inner;
                let mut head = Vec::with_capacity(SNIFF);
                // a damaged compressed file: keep what it held, report the error at its end
                if let Err(e) = (&mut inner).take(SNIFF as u64).read_to_end(&mut head) {
                    pending = Some(e);
                }
                let text = looks_like_text(&head);
                let reader: Reader = if pending.is_some() {
                    Box::new(Cursor::new(head))
                } else {
                    Box::new(Cursor::new(head).chain(inner))
                };
                (reader, text)
            }
        };
        Ok(Source {
            reader,
            hex: text.then(HexParser::default),
            detected: format!("{compression}{}", if text { "hex" } else { "binary" }),
            eof: false,
            pending,
        })
    }

    /// Opens a file.
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub fn open(path: &std::path::Path, format: Format) -> io::Result<Source> {
        let f = std::fs::File::open(path)?;
        Source::new(io::BufReader::with_capacity(1 << 16, f), format)
    }

    /// What was detected, e.g. `"binary"`, `"hex"`, `"gzip+hex"`.
    pub fn detected(&self) -> &str {
        &self.detected
    }

    /// Whether the end was reached.
    pub fn at_end(&self) -> bool {
        self.eof
    }

    /// Appends about `max` bytes of capture data (fewer at the end) to `out`.
    ///
    /// # Errors
    /// A read or decompression error (e.g. a truncated gzip member); what was read before it
    /// is in `out` and the source is at its end.
    pub fn read_chunk(&mut self, max: usize, out: &mut Vec<u8>) -> io::Result<()> {
        let start = out.len();
        let mut buf = vec![0u8; max.clamp(1, 1 << 24)];
        while !self.eof && out.len() - start < max {
            let n = match self.reader.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    if let Some(e) = self.pending.take() {
                        if let Some(h) = &mut self.hex {
                            h.finish(out);
                        }
                        return Err(e);
                    }
                    0
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.eof = true;
                    if let Some(h) = &mut self.hex {
                        h.finish(out);
                    }
                    return Err(e);
                }
            };
            let got = buf.get(..n).unwrap_or(&[]);
            match &mut self.hex {
                Some(h) => {
                    h.push(got, out);
                    if self.eof {
                        h.finish(out);
                    }
                }
                None => out.extend_from_slice(got),
            }
        }
        Ok(())
    }

    /// Reads everything.
    ///
    /// # Errors
    /// As [`Source::read_chunk`]; `out` keeps what was read.
    pub fn read_all(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        while !self.eof {
            self.read_chunk(1 << 23, out)?;
        }
        Ok(())
    }
}

fn zstd(r: Reader) -> io::Result<Reader> {
    let d = ruzstd::decoding::StreamingDecoder::new(r)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(Box::new(d))
}

/// Line-by-line hex text to bytes.
#[derive(Debug, Default)]
pub struct HexParser {
    partial: Vec<u8>,
    hexdump: bool,
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A token of hex bytes (`7E`, `7ea02a`, `0x7E,`), or None.
fn hex_token(t: &str) -> Option<&str> {
    let t = t.trim_end_matches([',', ';']);
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    (!t.is_empty() && t.len().is_multiple_of(2) && t.bytes().all(|c| c.is_ascii_hexdigit()))
        .then_some(t)
}

fn push_hex(t: &str, out: &mut Vec<u8>) {
    for pair in t.as_bytes().chunks_exact(2) {
        if let [a, b] = pair {
            if let (Some(a), Some(b)) = (hex_val(*a), hex_val(*b)) {
                out.push(a << 4 | b);
            }
        }
    }
}

impl HexParser {
    fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(i);
            if self.partial.is_empty() {
                self.line(line, out);
            } else {
                self.partial.extend_from_slice(line);
                let l = core::mem::take(&mut self.partial);
                self.line(&l, out);
            }
            rest = tail.get(1..).unwrap_or(&[]);
        }
        self.partial.extend_from_slice(rest);
        // a "line" without end is not text we can use; keep memory bounded
        if self.partial.len() > 1 << 20 {
            let l = core::mem::take(&mut self.partial);
            self.line(&l, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        let l = core::mem::take(&mut self.partial);
        self.line(&l, out);
    }

    /// One line of text (see the module documentation for the rules).
    pub fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let Ok(s) = core::str::from_utf8(line) else {
            return;
        };
        let mut s = s.trim();
        let mut drop_first = false;
        let is_offset = |t: &str| t.len() >= 4 && t.bytes().all(|c| c.is_ascii_hexdigit());
        let xxd = s
            .split_once(':')
            .filter(|(first, tail)| is_offset(first) && tail.starts_with(' '));
        let first_token = s.split_ascii_whitespace().next().unwrap_or("");
        if let Some((_, tail)) = xxd {
            // xxd: "00000010: 7ea0 2a41 ...  ~.*A"; the hex area ends at the first double space
            let tail = tail.trim_start();
            s = tail.split_once("  ").map_or(tail, |(h, _)| h);
        } else if let (Some(i), true) = (s.find('|'), is_offset(first_token)) {
            // hexdump -C: offset, 16 bytes, |ASCII|
            s = s.get(..i).unwrap_or("");
            self.hexdump = true;
            drop_first = true;
        } else {
            for marker in ["#", "//"] {
                if let Some(i) = s.find(marker) {
                    s = s.get(..i).unwrap_or("");
                }
            }
        }
        let tokens: Vec<&str> = s.split_ascii_whitespace().collect();
        if self.hexdump && tokens.len() == 1 {
            return; // the closing offset line of hexdump -C
        }
        let mut started = false;
        for (i, t) in tokens.iter().enumerate() {
            match hex_token(t) {
                Some(_) if i == 0 && drop_first => {}
                Some(h) => {
                    started = true;
                    push_hex(h, out);
                }
                None if started => break,
                None => {} // timestamps, labels, "RX:", "[...]"
            }
        }
    }
}

/// Converts hex text (all of it) to bytes with the rules of [`HexParser`].
pub fn hex_to_bytes(text: &[u8]) -> Vec<u8> {
    let mut p = HexParser::default();
    let mut out = Vec::new();
    p.push(text, &mut out);
    p.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_styles() {
        let want = [0x7E, 0xA0, 0x2A, 0x41, 0x08, 0x83];
        assert_eq!(hex_to_bytes(b"7EA02A410883\n"), want);
        assert_eq!(hex_to_bytes(b"7e a0 2a 41 08 83 # comment 12\n"), want);
        assert_eq!(
            hex_to_bytes(b"2024-01-01 12:00:00.123 RX: 7E A0 2A 41 08 83 // x\n"),
            want
        );
        assert_eq!(
            hex_to_bytes(b"00000000  7e a0 2a 41 08 83                 |~.*A..|\n00000006\n"),
            want
        );
        assert_eq!(
            hex_to_bytes(b"00000000: 7ea0 2a41 0883                           ~.*A..\n"),
            want
        );
        assert_eq!(hex_to_bytes(b"0x7E, 0xA0, 0x2A,\r\n0x41 0x08 0x83"), want);
    }

    #[test]
    fn detection() {
        assert!(looks_like_text(b"7ea0 2a41\n"));
        assert!(!looks_like_text(&[0x7E, 0xA0, 0x2A, 0x41]));
        assert!(!looks_like_text(b""));
        let gz = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b"7ea02a41\n").unwrap();
            e.finish().unwrap()
        };
        let mut s = Source::new(Cursor::new(gz), Format::Auto).unwrap();
        assert_eq!(s.detected(), "gzip+hex");
        let mut out = Vec::new();
        s.read_all(&mut out).unwrap();
        assert_eq!(out, [0x7E, 0xA0, 0x2A, 0x41]);
    }

    #[test]
    fn zstd_and_truncated_gzip() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let z = ruzstd::encoding::compress_to_vec(
            Cursor::new(data.clone()),
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let mut s = Source::new(Cursor::new(z), Format::Auto).unwrap();
        assert_eq!(s.detected(), "zstd+binary");
        let mut out = Vec::new();
        s.read_all(&mut out).unwrap();
        assert_eq!(out, data);

        let gz = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let mut s = Source::new(Cursor::new(gz[..gz.len() / 2].to_vec()), Format::Auto).unwrap();
        let mut out = Vec::new();
        assert!(s.read_all(&mut out).is_err());
        assert!(s.at_end());
        assert!(!out.is_empty() && data.starts_with(&out));
        assert_eq!(Format::parse("GZ"), Some(Format::Gzip));
        assert_eq!(Format::parse("xml"), None);
    }
}
