//! The façade: [`decode_frame`] (strict, one frame) and [`Decoder`] (lax, a byte stream).
//!
//! ```text
//! bytes ─ FrameSplitter ─ HDLC frame ─ LLC ─ data-notification ─ A-XDR nodes ─ meters::map ─ Telegram
//! ```

#[cfg(not(feature = "std"))]
use alloc::vec::Vec;

use crate::dlms::apdu::{strip_llc, DataNotification};
use crate::dlms::axdr::{decode_into_limited, Node, MAX_DEPTH};
use crate::dlms::security::{
    CipheredApdu, CounterCheck, CounterTracker, Decrypted, KeyRing, Protection,
};
use crate::error::{Error, ErrorKind, Layer, Result};
use crate::hdlc::{
    ErrorRecord, Event, FrameSpan, FrameSplitter, HdlcFrame, LinkSpan, Stats as SplitStats,
};
use crate::meters::layout::Layouts;
use crate::meters::p1_layout::P1Layouts;
use crate::meters::{map, map_traced, LinkHints};
use crate::telegram::{recycle, ObjectRef, Telegram, TelegramRef};

/// Resource limits of the decoders (memory and work stay bounded by these and the input size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest A-XDR nesting accepted (1..=16; real pushes nest 3 deep).
    pub max_depth: u8,
    /// Longest HDLC frame accepted, bytes between the flags (7..=2047).
    pub max_frame_length: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: MAX_DEPTH,
            max_frame_length: crate::hdlc::frame::MAX_FRAME_LEN,
        }
    }
}

/// What decoding a notification body needs besides its bytes: the node scratch, the nesting
/// limit and (in the stream decoder) the learned layouts.
struct Body<'s, 'a> {
    nodes: &'s mut Vec<Node<'a>>,
    max_depth: u8,
    layouts: Option<&'a mut Layouts>,
}

/// Decodes an information field (LLC + APDU, or a bare APDU) into `tg` (empty, its object
/// list reused), stateless quality flags included; a ciphered APDU is decrypted into `plain`
/// with `keys`. Error offsets are relative to `info`.
fn decode_information<'a>(
    info: &'a [u8],
    hints: LinkHints<'_>,
    nodes: &mut Vec<Node<'a>>,
    tg: &mut TelegramRef<'a>,
    max_depth: u8,
    keys: &KeyRing,
    plain: &'a mut Vec<u8>,
) -> Result<Option<Decrypted>> {
    let (apdu, llc_len) = strip_llc(info)?;
    let body = Body {
        nodes,
        max_depth,
        layouts: None,
    };
    decode_apdu(apdu, hints, body, tg, keys, plain).map_err(|e| e.add_offset(llc_len))
}

/// Decodes one complete APDU: a data-notification, or a ciphered APDU (general-glo- or
/// general-ded-ciphering) around one, decrypted into `plain`. Offsets of errors in the
/// plaintext are those of the matching ciphertext bytes (AES-GCM/CTR keep positions).
fn decode_apdu<'a>(
    apdu: &'a [u8],
    hints: LinkHints<'_>,
    body: Body<'_, 'a>,
    tg: &mut TelegramRef<'a>,
    keys: &KeyRing,
    plain: &'a mut Vec<u8>,
) -> Result<Option<Decrypted>> {
    match apdu.first() {
        Some(&(0xDB | 0xDC)) => {
            let (c, used) = CipheredApdu::parse(apdu)?;
            if used != apdu.len() {
                return Err(Error::new(
                    Layer::Security,
                    used,
                    ErrorKind::Malformed("bytes after the ciphered APDU"),
                ));
            }
            let d = c.decrypt(keys, plain)?;
            let at = c.ciphertext_offset;
            let plain: &'a [u8] = plain;
            let hints = LinkHints {
                system_title: Some(d.system_title),
                ..hints
            };
            // without a verified tag, a plaintext that does not decode is what a wrong key
            // gives: a decryption failure, not a malformed push
            let unverified = !d.authenticated;
            let wrong_key = |e: Error| {
                if unverified && matches!(e.layer, Layer::Apdu | Layer::Axdr | Layer::P1) {
                    Error::new(
                        Layer::Security,
                        at,
                        ErrorKind::Decryption {
                            system_title: d.system_title,
                            reason: "the plaintext does not decode (wrong key?)",
                        },
                    )
                } else {
                    e.add_offset(at)
                }
            };
            if plain.first() == Some(&b'/') {
                // Luxembourg, Styria: the plaintext is a P1 telegram
                decode_p1(plain, tg).map_err(wrong_key)?;
            } else {
                decode_notification(plain, hints, body, tg).map_err(wrong_key)?;
            }
            tg.system_title = Some(d.system_title);
            tg.invocation_counter = Some(d.invocation_counter);
            // a tag was sent but could not be checked (no authentication key)
            if matches!(
                d.protection,
                Protection::EncryptedTagUnchecked | Protection::AuthenticationUnchecked
            ) {
                tg.flags.set(crate::quality::UNAUTHENTICATED);
            }
            Ok(Some(d))
        }
        _ => decode_notification(apdu, hints, body, tg).map(|()| None),
    }
}

/// Decodes one P1 telegram (it may be followed by padding, as in decrypted plaintexts).
fn decode_p1<'a>(data: &'a [u8], tg: &mut TelegramRef<'a>) -> Result<()> {
    let len = match crate::p1::classify_last(data, crate::hdlc::splitter::MAX_P1) {
        crate::p1::P1Candidate::Telegram { len, .. } => len,
        crate::p1::P1Candidate::Bad { error, .. } => return Err(error),
        _ => {
            return Err(Error::new(
                Layer::P1,
                0,
                ErrorKind::Malformed("not a P1 telegram"),
            ))
        }
    };
    let t = crate::p1::parse(data.get(..len).unwrap_or(data))?;
    map_p1(&t, tg)
}

/// Decodes one P1 telegram the stream splitter delimited and CRC-checked.
/// Mapped by the stream's learned P1 layouts.
fn decode_p1_framed<'a>(
    data: &'a [u8],
    layouts: &'a mut P1Layouts,
    tg: &mut TelegramRef<'a>,
) -> Result<()> {
    let t = crate::p1::parse_verified(data)?;
    layouts.map(&t, tg)?;
    p1_flags(&t, tg);
    Ok(())
}

fn map_p1<'a>(t: &crate::p1::P1Telegram<'a>, tg: &mut TelegramRef<'a>) -> Result<()> {
    crate::meters::p1::map(t, tg)?;
    p1_flags(t, tg);
    Ok(())
}

/// The stateless quality flags of a mapped P1 telegram.
fn p1_flags(t: &crate::p1::P1Telegram<'_>, tg: &mut TelegramRef<'_>) {
    tg.flags = crate::quality::stateless(tg);
    if t.crc == crate::p1::CrcStatus::Unchecked {
        tg.flags.set(crate::quality::CRC_MISSING);
    }
}

/// Decodes a data-notification APDU (errors relative to `apdu`).
fn decode_notification<'a>(
    apdu: &'a [u8],
    hints: LinkHints<'_>,
    body: Body<'_, 'a>,
    tg: &mut TelegramRef<'a>,
) -> Result<()> {
    let n = DataNotification::parse(apdu)?;
    let body_at = n.body_offset;
    let Body {
        nodes,
        max_depth,
        mut layouts,
    } = body;
    if let Some(i) = layouts.as_deref_mut().and_then(|l| l.find(&n, &hints)) {
        if let Some(l) = layouts.take() {
            let l: &'a Layouts = l;
            if l.fill(i, &n, tg) {
                tg.flags = crate::quality::stateless(tg);
                return Ok(());
            }
        }
        // a check failed on the fast path: the full path gives the result (or the error); the
        // layout is already known
    }
    nodes.clear();
    let used = match decode_into_limited(n.body, nodes, max_depth) {
        Ok(used) => used,
        Err(e) => {
            // Czech pushes send their capture-object descriptors untagged; any other body
            // keeps the error of the tagged reading
            nodes.clear();
            crate::dlms::axdr::decode_untagged_captures(n.body, nodes, max_depth)
                .map_err(|_| e.add_offset(body_at))?
        }
    };
    if used != n.body.len() {
        return Err(Error::new(
            Layer::Axdr,
            body_at + used,
            ErrorKind::Malformed("bytes after the notification body"),
        ));
    }
    match layouts {
        Some(l) => {
            map_traced(&n, nodes, hints, tg, &mut l.from).map_err(|e| e.add_offset(body_at))?;
            l.learn(&n, &hints, nodes, tg);
        }
        None => map(&n, nodes, hints, tg).map_err(|e| e.add_offset(body_at))?,
    }
    tg.flags = crate::quality::stateless(tg);
    Ok(())
}

/// Decodes one complete link frame, strictly: an HDLC frame with flags (`7E … 7E`) or without
/// them (`A0 …`), or a bare LLC PDU (`E6 E7 00 …`) or APDU (`0F …`).
///
/// # Errors
/// The first problem found, at any layer, with its offset in `data`.
pub fn decode_frame(data: &[u8]) -> Result<Telegram> {
    decode_frame_with(data, &Limits::default())
}

/// As [`decode_frame`], under the given [`Limits`] (the frame-length limit applies to HDLC
/// frames).
///
/// # Errors
/// As [`decode_frame`].
pub fn decode_frame_with(data: &[u8], limits: &Limits) -> Result<Telegram> {
    decode_frame_keyed(data, limits, &KeyRing::new())
}

/// As [`decode_frame_with`], decrypting ciphered APDUs with `keys`.
///
/// # Errors
/// As [`decode_frame`]; [`Layer::Security`] `NoKey`/`Decryption` for a ciphered APDU whose
/// sender has no key in `keys`, or whose key does not fit.
pub fn decode_frame_keyed(data: &[u8], limits: &Limits, keys: &KeyRing) -> Result<Telegram> {
    let max_depth = limits.max_depth;
    if data.first() == Some(&0x7E) || data.first().is_some_and(|b| b >> 4 == 0xA) {
        let inner = data.strip_prefix(&[0x7E]).unwrap_or(data);
        if let [hi, lo, ..] = inner {
            let length = (u16::from(hi & 0x07) << 8) | u16::from(*lo);
            if length > limits.max_frame_length {
                return Err(Error::new(
                    Layer::Hdlc,
                    data.len() - inner.len(),
                    ErrorKind::BadLength {
                        length,
                        minimum: crate::hdlc::frame::MIN_FRAME_LEN,
                    },
                ));
            }
        }
    }
    if needs_stream(data) {
        return decode_frames(data, limits, keys);
    }
    let mut nodes = Vec::new();
    let mut plain = Vec::new();
    let mut tg = TelegramRef::with_objects(Vec::new());
    decode_link_frame(data, &mut nodes, &mut tg, max_depth, keys, &mut plain)?;
    Ok(tg.to_owned())
}

/// Whether `data` is one frame of a protocol other than HDLC, or several link frames forming
/// one message (HDLC segments, General Block Transfer blocks, M-Bus segments): those go
/// through the stream decoder.
fn needs_stream(data: &[u8]) -> bool {
    match data {
        [0x68, ..] | [b'/', ..] | [0xDB | 0xDC, 0x08, ..] => true,
        // a P1 telegram after an empty line (Kamstrup's KAM5 modules send one)
        [b'\r' | b'\n', ..] => data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'/'),
        [0x7E, hi, lo, ..] if hi >> 4 == 0xA => {
            let claimed = (usize::from(hi & 0x07) << 8 | usize::from(*lo)) + 2;
            let segmented = hi & 0x08 != 0;
            // bytes after the first frame (other than trailing idle flags), or a segmented
            // first frame: a message of several frames
            let more = data
                .get(claimed..)
                .is_some_and(|rest| rest.iter().any(|&b| b != 0x7E));
            // a block of a General Block Transfer is a message part even when alone
            let block = data
                .get(..claimed)
                .and_then(|f| HdlcFrame::from_flagged(f).ok())
                .is_some_and(|f| {
                    matches!(
                        strip_llc(f.information_slice()),
                        Ok(([crate::dlms::gbt::GENERAL_BLOCK_TRANSFER, ..], _))
                    )
                });
            segmented || more || block
        }
        _ => false,
    }
}

/// Strict decode of a message of one or more link frames of any protocol: the stream decoder
/// must find exactly one telegram and nothing else.
fn decode_frames(data: &[u8], limits: &Limits, keys: &KeyRing) -> Result<Telegram> {
    let mut dec = Decoder::with_keys(*limits, keys.clone());
    let mut out: Option<Telegram> = None;
    let mut first_error: Option<Error> = None;
    let mut extra = false;
    let mut on = |ev: DecoderEvent<'_>| match ev {
        DecoderEvent::Telegram { telegram, .. } => {
            if out.is_none() {
                out = Some(telegram.to_owned());
            } else {
                extra = true;
            }
        }
        DecoderEvent::Error(r) => {
            let at = usize::try_from(r.offset).unwrap_or(usize::MAX);
            let len = usize::try_from(r.length).unwrap_or(usize::MAX);
            // line ends or NUL padding around a P1 telegram are no problem
            let padding = r.error.kind == ErrorKind::Garbage
                && data
                    .get(at..at.saturating_add(len))
                    .is_some_and(|g| g.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | 0)));
            if first_error.is_none() && !padding {
                first_error = Some(r.error.add_offset(at));
            }
        }
    };
    dec.push(data, &mut on);
    dec.finish(&mut on);
    if let Some(e) = first_error {
        return Err(e);
    }
    if extra {
        return Err(Error::new(
            Layer::Stream,
            0,
            ErrorKind::Malformed("more than one telegram in the frames given"),
        ));
    }
    match out {
        Some(mut tg) if !dec.reassembling() => {
            // no history: the counters of a single message say nothing
            tg.flags.0 &= !crate::quality::STATEFUL;
            Ok(tg)
        }
        _ => Err(Error::new(
            Layer::Stream,
            data.len(),
            ErrorKind::Truncated {
                needed: data.len() + 1,
                available: data.len(),
            },
        )),
    }
}

/// The strict one-frame decode of [`decode_frame_with`], into borrowed scratch.
fn decode_link_frame<'a>(
    data: &'a [u8],
    nodes: &mut Vec<Node<'a>>,
    tg: &mut TelegramRef<'a>,
    max_depth: u8,
    keys: &KeyRing,
    plain: &'a mut Vec<u8>,
) -> Result<Option<Decrypted>> {
    match data.first() {
        Some(0x7E) => {
            let f = HdlcFrame::from_flagged(data)?;
            let (dest, src) = (f.dest_addr(), f.src_addr());
            if f.segmented() {
                return Err(Error::new(
                    Layer::Hdlc,
                    1,
                    ErrorKind::Malformed(
                        "segmented HDLC frames need reassembly (not yet supported)",
                    ),
                ));
            }
            let hints = LinkHints {
                dest: dest.bytes(),
                src: src.bytes(),
                system_title: None,
            };
            let info_at = 1 + f.header().info_offset();
            decode_information(
                f.information_slice(),
                hints,
                nodes,
                tg,
                max_depth,
                keys,
                plain,
            )
            .map_err(|e| e.add_offset(info_at))
        }
        Some(b) if b >> 4 == 0xA => {
            let f = HdlcFrame::new_checked(data)?;
            let (dest, src) = (f.dest_addr(), f.src_addr());
            let hints = LinkHints {
                dest: dest.bytes(),
                src: src.bytes(),
                system_title: None,
            };
            let info_at = f.header().info_offset();
            let info = data
                .get(info_at..data.len().saturating_sub(2))
                .unwrap_or(&[]);
            decode_information(info, hints, nodes, tg, max_depth, keys, plain)
                .map_err(|e| e.add_offset(info_at))
        }
        // an IEC 62056-47 wrapper (version 0x0001) around exactly one APDU
        Some(0x00) if wrapped(data).is_some() => {
            let apdu = wrapped(data).unwrap_or(&[]);
            let body = Body {
                nodes,
                max_depth,
                layouts: None,
            };
            decode_apdu(apdu, LinkHints::default(), body, tg, keys, plain)
                .map_err(|e| e.add_offset(data.len() - apdu.len()))
        }
        Some(_) => decode_information(
            data,
            LinkHints::default(),
            nodes,
            tg,
            max_depth,
            keys,
            plain,
        ),
        None => Err(Error::new(
            Layer::Hdlc,
            0,
            ErrorKind::Truncated {
                needed: 1,
                available: 0,
            },
        )),
    }
}

/// The invocation-counter flags of a decrypted push (and its counter remembered).
pub(crate) fn counter_flags(counters: &mut CounterTracker, tg: &TelegramRef<'_>) -> u32 {
    let (Some(title), Some(ic)) = (tg.system_title, tg.invocation_counter) else {
        return 0;
    };
    counter_bits(counters.check(title, ic))
}

/// The flag bits of a counter check.
pub(crate) fn counter_bits(c: CounterCheck) -> u32 {
    match c {
        CounterCheck::Replay => crate::quality::COUNTER_REPLAY.bit,
        CounterCheck::Gap { .. } => crate::quality::COUNTER_GAP.bit,
        _ => 0,
    }
}

/// The APDU of an IEC 62056-47 wrapper that is exactly `data`.
fn wrapped(data: &[u8]) -> Option<&[u8]> {
    match crate::dlms::wrapper::Wrapper::parse(data) {
        Ok((w, used)) if used == data.len() => Some(w.apdu),
        _ => None,
    }
}

/// Counters of a [`Decoder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Framing counters.
    pub split: SplitStats,
    /// Telegrams decoded.
    pub telegrams: u64,
    /// Valid frames (or reassembled messages) whose content could not be decoded (each has an
    /// error record).
    pub frames_undecodable: u64,
    /// Frames taken into messages of several frames (HDLC segments, block-transfer blocks,
    /// M-Bus segments) beyond the one frame their telegram or error accounts for, and frames of
    /// a message still incomplete: `frames_ok = telegrams + frames_undecodable +
    /// frames_reassembled`.
    pub frames_reassembled: u64,
}

/// An event of the stream decoder, in stream order.
#[derive(Debug)]
pub enum DecoderEvent<'a> {
    /// A decoded telegram (borrowing the frame and the decoder; [`TelegramRef::to_owned`] keeps
    /// it), with the stream offset of its (first) frame and the bytes of its frame(s).
    Telegram {
        /// The telegram.
        telegram: &'a TelegramRef<'a>,
        /// Stream offset of the first byte of its (first) frame.
        offset: u64,
        /// The frame bytes (flags included); for a message reassembled from several frames,
        /// those frames concatenated.
        raw: &'a [u8],
        /// Stream offset one past its (last) frame: `end - offset == raw.len()` unless other
        /// bytes came between the frames of a reassembled message.
        end: u64,
    },
    /// Something skipped or undecodable.
    Error(ErrorRecord),
}

/// What the decoding of one APDU needs besides its bytes (everything of the stream decoder
/// but the splitter and the reassemblers).
#[derive(Debug)]
struct Cx {
    max_depth: u8,
    nodes: Vec<Node<'static>>,
    objects: Vec<ObjectRef<'static>>,
    layouts: Layouts,
    p1_layouts: P1Layouts,
    keys: KeyRing,
    plain: Vec<u8>,
    books: Books,
    reassembled: u64,
}

/// The per-stream state of decoded telegrams: the stateful checks and the counts.
#[derive(Debug, Default)]
struct Books {
    tracker: crate::quality::Tracker,
    counters: CounterTracker,
    telegrams: u64,
    undecodable: u64,
}

impl Books {
    fn fail<F: FnMut(DecoderEvent<'_>)>(&mut self, error: Error, origin: Origin<'_>, sink: &mut F) {
        self.undecodable += 1;
        sink(DecoderEvent::Error(ErrorRecord {
            offset: origin.offset,
            length: origin.end - origin.offset,
            error,
        }));
    }
}

/// Hands one decoded message to `sink`: the telegram with its stateful quality flags, or the
/// error; counts it.
fn deliver<F: FnMut(DecoderEvent<'_>)>(
    result: Result<()>,
    tg: &mut TelegramRef<'_>,
    books: &mut Books,
    origin: Origin<'_>,
    sink: &mut F,
) {
    match result {
        Ok(()) => {
            let stateful = books.tracker.check(tg);
            tg.flags.0 |= stateful.0 | counter_flags(&mut books.counters, tg);
            books.telegrams += 1;
            sink(DecoderEvent::Telegram {
                telegram: tg,
                offset: origin.offset,
                raw: origin.raw,
                end: origin.end,
            });
        }
        Err(error) => books.fail(error, origin, sink),
    }
}

/// Where an APDU to decode came from.
#[derive(Debug, Clone, Copy)]
struct Origin<'r> {
    offset: u64,
    raw: &'r [u8],
    end: u64,
}

impl Cx {
    /// Decodes one P1 telegram and hands the telegram or the error to `sink`.
    fn emit_p1<F: FnMut(DecoderEvent<'_>)>(
        &mut self,
        data: &[u8],
        origin: Origin<'_>,
        sink: &mut F,
    ) {
        let mut tg = TelegramRef::with_objects(recycle(core::mem::take(&mut self.objects)));
        let result = decode_p1_framed(data, &mut self.p1_layouts, &mut tg);
        deliver(result, &mut tg, &mut self.books, origin, sink);
        self.objects = recycle(tg.objects);
    }

    /// A frame (or message) that cannot be decoded.
    fn fail<F: FnMut(DecoderEvent<'_>)>(&mut self, error: Error, origin: Origin<'_>, sink: &mut F) {
        self.books.fail(error, origin, sink);
    }

    /// A frame went into a reassembler.
    fn taken(&mut self) {
        self.reassembled += 1;
    }

    /// A reassembler discarded a message: one error for it.
    fn discarded<F: FnMut(DecoderEvent<'_>)>(&mut self, r: ErrorRecord, sink: &mut F) {
        self.reassembled = self.reassembled.saturating_sub(1);
        self.books.undecodable += 1;
        sink(DecoderEvent::Error(r));
    }

    /// A reassembler completed a message (its telegram or error is counted by `emit`).
    fn completed(&mut self) {
        self.reassembled = self.reassembled.saturating_sub(1);
    }

    /// Decodes one APDU (with or without LLC) and hands the telegram or the error to `sink`.
    /// `at` is the APDU's position within `origin.raw` (for error offsets), `llc` whether an
    /// LLC header may precede it.
    fn emit<F: FnMut(DecoderEvent<'_>)>(
        &mut self,
        apdu: &[u8],
        at: usize,
        hints: LinkHints<'_>,
        origin: Origin<'_>,
        sink: &mut F,
    ) {
        let mut nodes: Vec<Node<'_>> = recycle(core::mem::take(&mut self.nodes));
        let mut tg = TelegramRef::with_objects(recycle(core::mem::take(&mut self.objects)));
        let body = Body {
            nodes: &mut nodes,
            max_depth: self.max_depth,
            layouts: Some(&mut self.layouts),
        };
        let result = decode_apdu(apdu, hints, body, &mut tg, &self.keys, &mut self.plain)
            .map_err(|e| e.add_offset(at));
        self.nodes = recycle(nodes);
        deliver(result.map(|_| ()), &mut tg, &mut self.books, origin, sink);
        self.objects = recycle(tg.objects);
    }
}

/// The frames of a message being reassembled, kept so the telegram can give its bytes.
#[derive(Debug, Default)]
struct Parts {
    bytes: Vec<u8>,
    /// (stream offset, position in `bytes`) of each frame.
    starts: Vec<(u64, usize)>,
}

impl Parts {
    fn add(&mut self, offset: u64, frame: &[u8]) {
        self.starts.push((offset, self.bytes.len()));
        self.bytes.extend_from_slice(frame);
    }

    /// The bytes of the frames from stream offset `first` on.
    fn from(&self, first: u64) -> &[u8] {
        let at = self
            .starts
            .iter()
            .find(|(o, _)| *o >= first)
            .map_or(self.bytes.len(), |(_, p)| *p);
        self.bytes.get(at..).unwrap_or(&[])
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
    }
}

/// Sans-IO stream decoder: push bytes, get telegrams and error records. Lax: bad input is
/// skipped, counted and recorded; every good frame around it is kept.
///
/// It recognises HDLC frames, M-Bus long frames, DSMR/P1 telegrams and raw ciphered APDUs in
/// the same stream, reassembles HDLC segments, General Block Transfer blocks and M-Bus
/// segments, and decrypts ciphered APDUs with its keys.
#[derive(Debug)]
pub struct Decoder {
    splitter: FrameSplitter,
    cx: Cx,
    segments: crate::hdlc::segments::SegmentReassembler,
    blocks: crate::dlms::gbt::GbtReassembler,
    mbus: crate::mbus::MbusReassembler,
    hdlc_parts: Parts,
    mbus_parts: Parts,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder at stream offset 0.
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// A decoder under the given [`Limits`].
    pub fn with_limits(limits: Limits) -> Self {
        Self::with_keys(limits, KeyRing::new())
    }

    /// A decoder under the given [`Limits`] that decrypts ciphered APDUs with `keys`.
    pub fn with_keys(limits: Limits, keys: KeyRing) -> Self {
        Decoder {
            splitter: FrameSplitter::with_protocols(
                limits.max_frame_length,
                crate::hdlc::Protocols::ALL,
            ),
            cx: Cx {
                max_depth: limits.max_depth,
                nodes: Vec::new(),
                objects: Vec::new(),
                layouts: Layouts::default(),
                p1_layouts: P1Layouts::default(),
                keys,
                plain: Vec::new(),
                books: Books::default(),
                reassembled: 0,
            },
            segments: crate::hdlc::segments::SegmentReassembler::new(),
            blocks: crate::dlms::gbt::GbtReassembler::new(),
            mbus: crate::mbus::MbusReassembler::new(),
            hdlc_parts: Parts::default(),
            mbus_parts: Parts::default(),
        }
    }

    /// Turns the learned-layout fast path on (the default) or off. Off, every DLMS body and P1
    /// telegram is decoded and mapped the full way; the results are the same either way (see
    /// `meters::layout` and `meters::p1_layout`), so this is only for comparing the two.
    pub fn set_layout_cache(&mut self, on: bool) {
        self.cx.layouts.disabled = !on;
        self.cx.p1_layouts.disabled = !on;
    }

    /// DLMS bodies and P1 telegrams so far that matched a learned layout (the others took the
    /// full path).
    pub fn layout_hits(&self) -> u64 {
        self.cx.layouts.hits() + self.cx.p1_layouts.hits()
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        Stats {
            split: self.splitter.stats(),
            telegrams: self.cx.books.telegrams,
            frames_undecodable: self.cx.books.undecodable,
            frames_reassembled: self.cx.reassembled,
        }
    }

    /// Bytes held back because they may start a frame.
    pub fn pending(&self) -> usize {
        self.splitter.pending()
    }

    /// Whether a message of several frames (HDLC segments, block transfer, M-Bus segments) is
    /// waiting for its next part.
    pub fn reassembling(&self) -> bool {
        self.segments.is_pending() || self.blocks.is_pending() || self.mbus.is_pending()
    }

    /// Feeds a chunk of any size; `sink` receives telegrams and error records in stream order.
    pub fn push<F: FnMut(DecoderEvent<'_>)>(&mut self, chunk: &[u8], sink: F) {
        self.run(Some(chunk), sink);
    }

    /// Ends the stream (see [`FrameSplitter::finish`]).
    pub fn finish<F: FnMut(DecoderEvent<'_>)>(&mut self, sink: F) {
        self.run(None, sink);
    }

    fn run<F: FnMut(DecoderEvent<'_>)>(&mut self, chunk: Option<&[u8]>, mut sink: F) {
        let Decoder {
            splitter,
            cx,
            segments,
            blocks,
            mbus,
            hdlc_parts,
            mbus_parts,
        } = self;
        // the event is read where the splitter wrote it (every arm borrows): a copy, read back
        // at once, would wait on those writes
        let on_event = |ev: Event<'_>| match ev {
            Event::Frame(ref f) => on_hdlc(cx, segments, blocks, hdlc_parts, f, &mut sink),
            Event::Link(ref l) => match l.kind {
                crate::hdlc::LinkKind::Mbus => on_mbus(cx, mbus, mbus_parts, l, &mut sink),
                crate::hdlc::LinkKind::Apdu => {
                    let origin = Origin {
                        offset: l.offset,
                        raw: l.bytes,
                        end: l.offset + l.bytes.len() as u64,
                    };
                    cx.emit(l.bytes, 0, LinkHints::default(), origin, &mut sink);
                }
                crate::hdlc::LinkKind::P1 => {
                    let origin = Origin {
                        offset: l.offset,
                        raw: l.bytes,
                        end: l.offset + l.bytes.len() as u64,
                    };
                    cx.emit_p1(l.bytes, origin, &mut sink);
                }
            },
            Event::Error(ref r) => sink(DecoderEvent::Error(*r)),
        };
        match chunk {
            Some(c) => splitter.push(c, on_event),
            None => splitter.finish(on_event),
        }
    }
}

/// An HDLC frame: decoded at once, or (segmented, or a block of a General Block Transfer)
/// kept until its message is complete.
fn on_hdlc<F: FnMut(DecoderEvent<'_>)>(
    cx: &mut Cx,
    segments: &mut crate::hdlc::segments::SegmentReassembler,
    blocks: &mut crate::dlms::gbt::GbtReassembler,
    parts: &mut Parts,
    f: &FrameSpan<'_>,
    sink: &mut F,
) {
    let hints = LinkHints {
        dest: f.header.dest.bytes(),
        src: f.header.src.bytes(),
        system_title: None,
    };
    let info = f.information();
    let info_at = 1 + f.header.info_offset();
    let end = f.offset + f.bytes.len() as u64;
    let llc = strip_llc(info);
    let block = matches!(llc, Ok(([crate::dlms::gbt::GENERAL_BLOCK_TRANSFER, ..], _)));
    if !f.header.segmented && !segments.is_pending() && !block && !blocks.is_pending() {
        // the common case: one frame, one APDU
        let origin = Origin {
            offset: f.offset,
            raw: f.bytes,
            end,
        };
        match llc {
            Ok((apdu, n)) => cx.emit(apdu, info_at + n, hints, origin, sink),
            Err(e) => cx.fail(e.add_offset(info_at), origin, sink),
        }
        return;
    }
    if !segments.is_pending() && !blocks.is_pending() {
        parts.clear();
    }
    parts.add(f.offset, f.bytes);
    cx.taken();
    // S-bit reassembly first (a frame that is not segmented completes at once)
    let progress = segments.push_frame(f);
    if let Some(r) = progress.discarded {
        cx.discarded(r, sink);
    }
    let Some(m) = progress.complete else {
        return;
    };
    let (m_first, m_end) = (m.first_offset, m.end_offset);
    if m.apdu.first() == Some(&crate::dlms::gbt::GENERAL_BLOCK_TRANSFER) {
        let progress = blocks.push_apdu(m.apdu, m_first, m_end - m_first);
        if let Some(r) = progress.discarded {
            cx.discarded(r, sink);
        }
        if let Some(b) = progress.complete {
            cx.completed();
            let origin = Origin {
                offset: b.first_offset,
                raw: parts.from(b.first_offset),
                end: b.end_offset,
            };
            cx.emit(b.apdu, 0, hints, origin, sink);
            parts.clear();
        }
    } else {
        cx.completed();
        let origin = Origin {
            offset: m_first,
            raw: parts.from(m_first),
            end: m_end,
        };
        cx.emit(m.apdu, 0, hints, origin, sink);
        if !blocks.is_pending() {
            parts.clear();
        }
    }
}

/// An M-Bus long frame: its segment kept until the message is complete.
fn on_mbus<F: FnMut(DecoderEvent<'_>)>(
    cx: &mut Cx,
    mbus: &mut crate::mbus::MbusReassembler,
    parts: &mut Parts,
    l: &LinkSpan<'_>,
    sink: &mut F,
) {
    let frame = match crate::mbus::MbusFrame::new_checked(l.bytes) {
        Ok(f) => f,
        Err(error) => {
            let origin = Origin {
                offset: l.offset,
                raw: l.bytes,
                end: l.offset + l.bytes.len() as u64,
            };
            cx.fail(error, origin, sink);
            return;
        }
    };
    if !mbus.is_pending() {
        parts.clear();
    }
    parts.add(l.offset, l.bytes);
    cx.taken();
    let progress = mbus.push(&frame, l.offset);
    if let Some(r) = progress.discarded {
        cx.discarded(r, sink);
    }
    if let Some(m) = progress.complete {
        cx.completed();
        let origin = Origin {
            offset: m.first_offset,
            raw: parts.from(m.first_offset),
            end: m.end_offset,
        };
        cx.emit(m.apdu, 0, LinkHints::default(), origin, sink);
        parts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlms::security::Keys;
    use ctr::cipher::{KeyIvInit, StreamCipher};

    const EK: [u8; 16] = *b"0123456789ABCDEF";
    const TITLE: [u8; 8] = *b"KFMtest1";

    /// A general-glo-ciphering APDU, encryption only (SC 0x20), of `plain`.
    fn ciphered(plain: &[u8]) -> Vec<u8> {
        let mut iv = [0u8; 16];
        iv[..8].copy_from_slice(&TITLE);
        iv[8..12].copy_from_slice(&7u32.to_be_bytes());
        iv[15] = 2;
        let mut ct = plain.to_vec();
        ctr::Ctr32BE::<aes::Aes128>::new(&EK.into(), &iv.into()).apply_keystream(&mut ct);
        let mut out = vec![0xDB, 0x08];
        out.extend_from_slice(&TITLE);
        out.push(u8::try_from(5 + ct.len()).unwrap());
        out.push(0x20);
        out.extend_from_slice(&7u32.to_be_bytes());
        out.extend_from_slice(&ct);
        out
    }

    #[test]
    fn unverified_plaintext_that_does_not_decode_is_a_decryption_failure() {
        let keys = KeyRing::for_any(Keys { ek: EK, ak: None });
        // a structure of 2 holding one element: the start looks right, the body does not decode
        let bad = ciphered(&[0x0F, 0, 0, 0, 0, 0x00, 0x02, 0x02, 0x11, 0x01]);
        let e = decode_frame_keyed(&bad, &Limits::default(), &keys).unwrap_err();
        assert_eq!(e.layer, Layer::Security, "{e}");
        assert!(
            matches!(e.kind, ErrorKind::Decryption { system_title, .. } if system_title == TITLE)
        );
        // the same plaintext complete decodes (a mapping error is not blamed on the key)
        let good = ciphered(&[
            0x0F, 0, 0, 0, 0, 0x00, 0x02, 0x02, 0x09, 0x06, 1, 0, 1, 7, 0, 0xFF, 0x06, 0, 0, 1, 0,
        ]);
        let tg = decode_frame_keyed(&good, &Limits::default(), &keys).unwrap();
        assert_eq!(tg.system_title, Some(TITLE));
        assert_eq!(tg.objects.len(), 1);
    }
}
