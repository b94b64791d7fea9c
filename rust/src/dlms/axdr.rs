//! A-XDR decoding of COSEM `Data` (IEC 61334-6; type tags from the DLMS Blue Book, PROTOCOL.md
//! §5.1–§5.2).
//!
//! The decoder is iterative (an explicit stack, never recursion) and writes a flat pre-order
//! list of [`Node`]s into a caller-owned `Vec` that can be reused frame after frame, so steady-state
//! decoding allocates nothing. Strings are borrowed from the input. Work and memory are bounded
//! by the input: nesting is limited to [`MAX_DEPTH`], and a container's element count is
//! rejected when it exceeds the bytes left (every element takes at least one byte).

#[cfg(not(feature = "std"))]
use alloc::vec::Vec;

use crate::cursor::Cursor;
use crate::error::{ErrorKind, Layer, Result};

/// Deepest nesting of arrays/structures accepted. Real pushes nest 3 deep.
pub const MAX_DEPTH: u8 = 16;

/// One decoded A-XDR value. Containers carry their element count; their elements follow them
/// in the node list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// 0x00 null-data.
    Null,
    /// 0x01 array of n elements.
    Array(u32),
    /// 0x02 structure of n elements.
    Structure(u32),
    /// 0x03 boolean.
    Boolean(bool),
    /// 0x04 bit-string: number of bits and the bytes holding them.
    BitString {
        /// Number of bits.
        bits: u32,
        /// ceil(bits / 8) bytes.
        bytes: &'a [u8],
    },
    /// 0x05 double-long (int32).
    I32(i32),
    /// 0x06 double-long-unsigned (uint32).
    U32(u32),
    /// 0x09 octet-string.
    OctetString(&'a [u8]),
    /// 0x0A visible-string.
    VisibleString(&'a [u8]),
    /// 0x0C utf8-string.
    Utf8String(&'a [u8]),
    /// 0x0D bcd: one byte (Blue Book: bcd is an Integer8 of two BCD digits).
    Bcd(u8),
    /// 0x0F integer (int8).
    I8(i8),
    /// 0x10 long (int16).
    I16(i16),
    /// 0x11 unsigned (uint8).
    U8(u8),
    /// 0x12 long-unsigned (uint16).
    U16(u16),
    /// 0x13 compact-array, undecoded: its type description followed by its contents
    /// (see [`Value::compact_parts`]). Kept as one slice so a `Value` stays 24 bytes.
    CompactArray {
        /// The type-description bytes, then the length and the contents.
        bytes: &'a [u8],
        /// Where the contents start in `bytes`.
        contents_at: u32,
    },
    /// 0x14 long64 (int64).
    I64(i64),
    /// 0x15 long64-unsigned (uint64).
    U64(u64),
    /// 0x16 enum.
    Enum(u8),
    /// 0x17 float32.
    F32(f32),
    /// 0x18 float64.
    F64(f64),
    /// 0x19 date-time (12 bytes).
    DateTime(&'a [u8]),
    /// 0x1A date (5 bytes).
    Date(&'a [u8]),
    /// 0x1B time (4 bytes).
    Time(&'a [u8]),
    /// 0xFF don't-care.
    DontCare,
}

impl<'a> Value<'a> {
    /// A compact-array's (type description, contents); `None` for other values.
    pub fn compact_parts(&self) -> Option<(&'a [u8], &'a [u8])> {
        match *self {
            Value::CompactArray { bytes, contents_at } => {
                let at = usize::try_from(contents_at).ok()?;
                // the description ends where the contents' A-XDR length begins
                let desc_end = compact_description_len(bytes)?;
                Some((bytes.get(..desc_end)?, bytes.get(at..)?))
            }
            _ => None,
        }
    }

    /// The value as a signed integer, for any integer type (and enum/boolean).
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            Value::I8(v) => i128::from(v),
            Value::I16(v) => i128::from(v),
            Value::I32(v) => i128::from(v),
            Value::I64(v) => i128::from(v),
            Value::U8(v) | Value::Enum(v) => i128::from(v),
            Value::U16(v) => i128::from(v),
            Value::U32(v) => i128::from(v),
            Value::U64(v) => i128::from(v),
            _ => return None,
        })
    }

    /// Number of elements of an array or structure.
    pub fn container_len(&self) -> Option<u32> {
        match *self {
            Value::Array(n) | Value::Structure(n) => Some(n),
            _ => None,
        }
    }

    /// Name of the A-XDR type, as in the Blue Book.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null-data",
            Value::Array(_) => "array",
            Value::Structure(_) => "structure",
            Value::Boolean(_) => "boolean",
            Value::BitString { .. } => "bit-string",
            Value::I32(_) => "double-long",
            Value::U32(_) => "double-long-unsigned",
            Value::OctetString(_) => "octet-string",
            Value::VisibleString(_) => "visible-string",
            Value::Utf8String(_) => "utf8-string",
            Value::Bcd(_) => "bcd",
            Value::I8(_) => "integer",
            Value::I16(_) => "long",
            Value::U8(_) => "unsigned",
            Value::U16(_) => "long-unsigned",
            Value::CompactArray { .. } => "compact-array",
            Value::I64(_) => "long64",
            Value::U64(_) => "long64-unsigned",
            Value::Enum(_) => "enum",
            Value::F32(_) => "float32",
            Value::F64(_) => "float64",
            Value::DateTime(_) => "date-time",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::DontCare => "dont-care",
        }
    }
}

/// A value in the flat pre-order list, with where it came from and where its subtree ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node<'a> {
    /// The value.
    pub value: Value<'a>,
    /// Byte offset of its tag in the decoded input.
    pub offset: u32,
    /// Index one past its last descendant (its next sibling); `index + 1` for leaves.
    pub end: u32,
}

/// Reads an A-XDR length: `< 0x80` itself, `0x8N` then N big-endian bytes (N ≤ 4).
///
/// # Errors
/// [`ErrorKind::Truncated`], or [`ErrorKind::Malformed`] for N = 0 or N > 4.
pub fn read_length(c: &mut Cursor<'_>) -> Result<usize> {
    let at = c.position();
    let first = c.u8()?;
    if first < 0x80 {
        return Ok(usize::from(first));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 4 {
        return Err(c.error_at(
            at,
            ErrorKind::Malformed("A-XDR length of 0 or more than 4 bytes"),
        ));
    }
    let mut v: usize = 0;
    for b in c.take(n)? {
        v = (v << 8) | usize::from(*b);
    }
    Ok(v)
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Decodes one A-XDR `Data` value from the start of `input`, appending its nodes to `out`
/// (which is not cleared). Returns the number of bytes consumed.
///
/// # Errors
/// [`Layer::Axdr`] errors with offsets relative to `input`: `Truncated`, `Malformed` (an element
/// count larger than the bytes left, a bad length), `Unsupported` (unknown tag), `TooDeep`.
pub fn decode_into<'a>(input: &'a [u8], out: &mut Vec<Node<'a>>) -> Result<usize> {
    decode_into_limited(input, out, MAX_DEPTH)
}

/// As [`decode_into`], with nesting limited to `max_depth` (clamped to 1..=[`MAX_DEPTH`]).
///
/// # Errors
/// As [`decode_into`]; `TooDeep` reports the effective limit.
pub fn decode_into_limited<'a>(
    input: &'a [u8],
    out: &mut Vec<Node<'a>>,
    max_depth: u8,
) -> Result<usize> {
    let limit = max_depth.clamp(1, MAX_DEPTH);
    let mut c = Cursor::new(input, Layer::Axdr);
    // (node index, elements still to read); the virtual root expects one element
    let mut stack: [(u32, u32); MAX_DEPTH as usize + 1] = [(0, 0); MAX_DEPTH as usize + 1];
    let mut depth: usize = 0;
    let mut root_left: u32 = 1;
    loop {
        // close finished containers
        while depth > 0 {
            let Some(&(idx, left)) = stack.get(depth - 1) else {
                break;
            };
            if left > 0 {
                break;
            }
            let len = u32_of(out.len());
            if let Some(n) = out.get_mut(idx as usize) {
                n.end = len;
            }
            depth -= 1;
        }
        if depth == 0 && root_left == 0 {
            return Ok(c.position());
        }
        // one more element of the innermost open container
        match depth.checked_sub(1).and_then(|d| stack.get_mut(d)) {
            Some(top) => top.1 -= 1,
            None => root_left -= 1,
        }
        let at = c.position();
        let idx = u32_of(out.len());
        let value = read_value(&mut c, input)?;
        if let Value::Array(n) | Value::Structure(n) = value {
            if depth >= usize::from(limit) {
                return Err(c.error_at(at, ErrorKind::TooDeep { limit }));
            }
            if n > 0 {
                if let Some(slot) = stack.get_mut(depth) {
                    *slot = (idx, n);
                    depth += 1;
                }
            }
        }
        out.push(Node {
            value,
            offset: u32_of(at),
            end: idx + 1,
        });
    }
}

/// Reads the value whose tag is at the cursor: a leaf with its contents, or a container's tag
/// and element count (its elements follow it). An element count larger than the bytes left is
/// rejected here; nesting is the caller's to bound.
#[inline(always)]
fn read_value<'a>(c: &mut Cursor<'a>, input: &'a [u8]) -> Result<Value<'a>> {
    let at = c.position();
    let tag = c.u8()?;
    Ok(match tag {
        0x00 => Value::Null,
        0x01 | 0x02 => {
            let n = read_length(c)?;
            if n > c.remaining() {
                return Err(c.error_at(
                    at,
                    ErrorKind::Malformed("element count larger than the bytes left"),
                ));
            }
            let n = u32_of(n);
            if tag == 0x01 {
                Value::Array(n)
            } else {
                Value::Structure(n)
            }
        }
        0x03 => Value::Boolean(c.u8()? != 0),
        0x04 => {
            let bits = read_length(c)?;
            let bytes = c.take(bits.div_ceil(8))?;
            Value::BitString {
                bits: u32_of(bits),
                bytes,
            }
        }
        0x05 => Value::I32(i32::from_be_bytes(c.array()?)),
        0x06 => Value::U32(c.be_u32()?),
        0x09 | 0x0A | 0x0C => {
            let n = read_length(c)?;
            let s = c.take(n)?;
            match tag {
                0x09 => Value::OctetString(s),
                0x0A => Value::VisibleString(s),
                _ => Value::Utf8String(s),
            }
        }
        0x0D => Value::Bcd(c.u8()?),
        0x0F => Value::I8(i8::from_be_bytes(c.array()?)),
        0x10 => Value::I16(i16::from_be_bytes(c.array()?)),
        0x11 => Value::U8(c.u8()?),
        0x12 => Value::U16(c.be_u16()?),
        0x13 => {
            let start = c.position();
            skip_type_description(c, 0)?;
            let n = read_length(c)?;
            let contents_at = c.position() - start;
            c.take(n)?;
            Value::CompactArray {
                bytes: input.get(start..c.position()).unwrap_or(&[]),
                contents_at: u32_of(contents_at),
            }
        }
        0x14 => Value::I64(i64::from_be_bytes(c.array()?)),
        0x15 => Value::U64(c.be_u64()?),
        0x16 => Value::Enum(c.u8()?),
        0x17 => Value::F32(f32::from_be_bytes(c.array()?)),
        0x18 => Value::F64(f64::from_be_bytes(c.array()?)),
        0x19 => Value::DateTime(c.take(12)?),
        0x1A => Value::Date(c.take(5)?),
        0x1B => Value::Time(c.take(4)?),
        0xFF => Value::DontCare,
        _ => return Err(c.error_at(at, ErrorKind::Unsupported { tag })),
    })
}

/// The number of content bytes after the tag of a fixed-size leaf type (numbers, boolean,
/// enum, bcd, date-time, date, time); `None` for containers, strings and compact arrays, whose
/// size is sent.
pub fn fixed_contents_len(tag: u8) -> Option<usize> {
    Some(match tag {
        0x03 | 0x0D | 0x0F | 0x11 | 0x16 => 1,
        0x10 | 0x12 => 2,
        0x05 | 0x06 | 0x17 | 0x1B => 4,
        0x1A => 5,
        0x14 | 0x15 | 0x18 => 8,
        0x19 => 12,
        _ => return None,
    })
}

/// The width in bytes and the signedness of a big-endian integer type (and enum, unsigned)
/// with tag `tag`; `None` for every other type (bcd included: its byte holds two digits).
pub(crate) fn integer_tag(tag: u8) -> Option<(u8, bool)> {
    Some(match tag {
        0x0F => (1, true),
        0x10 => (2, true),
        0x05 => (4, true),
        0x14 => (8, true),
        0x11 | 0x16 => (1, false),
        0x12 => (2, false),
        0x06 => (4, false),
        0x15 => (8, false),
        _ => return None,
    })
}

/// The value whose tag is at offset `at` of `input` (a container's count, not its elements).
///
/// # Errors
/// As [`decode_into`], for that one value.
#[inline(always)]
pub fn value_at(input: &[u8], at: usize) -> Result<Value<'_>> {
    let mut c = Cursor::new(input, Layer::Axdr);
    c.take(at)?;
    read_value(&mut c, input)
}

/// Skips a compact-array type description (Blue Book: array = 01 count(u16) type; structure =
/// 02 count type...; anything else a simple tag).
fn skip_type_description(c: &mut Cursor<'_>, depth: u8) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Err(c.error(ErrorKind::TooDeep { limit: MAX_DEPTH }));
    }
    let at = c.position();
    match c.u8()? {
        0x01 => {
            c.be_u16()?;
            skip_type_description(c, depth + 1)
        }
        0x02 => {
            let n = read_length(c)?;
            if n > c.remaining() {
                return Err(c.error_at(
                    at,
                    ErrorKind::Malformed("element count larger than the bytes left"),
                ));
            }
            for _ in 0..n {
                skip_type_description(c, depth + 1)?;
            }
            Ok(())
        }
        0x00 | 0x03..=0x06 | 0x09..=0x0D | 0x0F..=0x12 | 0x14..=0x1B | 0xFF => Ok(()),
        tag => Err(c.error_at(at, ErrorKind::Unsupported { tag })),
    }
}

/// Length of the type description at the start of a compact-array's bytes.
fn compact_description_len(bytes: &[u8]) -> Option<usize> {
    let mut c = Cursor::new(bytes, Layer::Axdr);
    skip_type_description(&mut c, 0).ok()?;
    Some(c.position())
}

/// Smallest element of [`decode_untagged_captures`]: `02 02`, class id, logical name,
/// attribute index and a one-byte value (null-data).
const UNTAGGED_CAPTURE_MIN: usize = 12;

/// Decodes a notification body whose capture-object descriptors carry no A-XDR tags (Czech
/// EG.D and Sagemcom XT211 pushes): `02 02 16 e 01 n`, then `n` elements
/// `02 02 cc cc ll ll ll ll ll ll aa <Data>` (class id, logical name and attribute index
/// untagged, then the attribute's value). The nodes are the shape the tagged form would give
/// without the class ids and attribute indexes: `Structure(2)`, `Enum(e)`, `Array(n)`, and
/// per element `Structure(2)`, `OctetString(logical name)` (its offset is that of the class
/// id) and the value's nodes. Appends to `out`; returns the bytes consumed.
///
/// # Errors
/// [`Layer::Axdr`] `Malformed` where the bytes are not that shape, `Truncated`, and the errors
/// of [`decode_into_limited`] for the values (nested one level deeper than the elements).
pub fn decode_untagged_captures<'a>(
    input: &'a [u8],
    out: &mut Vec<Node<'a>>,
    max_depth: u8,
) -> Result<usize> {
    let not_this = |c: &Cursor<'_>, at: usize| {
        c.error_at(
            at,
            ErrorKind::Malformed("not a structure of untagged capture-object descriptors"),
        )
    };
    let mut c = Cursor::new(input, Layer::Axdr);
    let root = u32_of(out.len());
    if c.take(3)? != [0x02, 0x02, 0x16] {
        return Err(not_this(&c, 0));
    }
    let e = c.u8()?;
    let at_array = c.position();
    if c.u8()? != 0x01 {
        return Err(not_this(&c, at_array));
    }
    let n = read_length(&mut c)?;
    if n == 0 || n > c.remaining() / UNTAGGED_CAPTURE_MIN {
        return Err(not_this(&c, at_array));
    }
    // root, enum, array: their `end` is set once the elements are in
    out.push(Node {
        value: Value::Structure(2),
        offset: 0,
        end: 0,
    });
    out.push(Node {
        value: Value::Enum(e),
        offset: 2,
        end: root + 2,
    });
    out.push(Node {
        value: Value::Array(u32_of(n)),
        offset: u32_of(at_array),
        end: 0,
    });
    let depth = max_depth.clamp(1, MAX_DEPTH);
    if depth < 4 {
        return Err(c.error_at(at_array, ErrorKind::TooDeep { limit: depth }));
    }
    for _ in 0..n {
        let at = c.position();
        if c.take(2)? != [0x02, 0x02] {
            return Err(not_this(&c, at));
        }
        let element = u32_of(out.len());
        out.push(Node {
            value: Value::Structure(2),
            offset: u32_of(at),
            end: 0,
        });
        let descriptor = c.take(9)?;
        let name = descriptor.get(2..8).unwrap_or_default();
        out.push(Node {
            value: Value::OctetString(name),
            offset: u32_of(at + 2),
            end: element + 2,
        });
        let from = c.position();
        let first = out.len();
        let used = decode_into_limited(c.rest(), out, depth - 3).map_err(|e| e.add_offset(from))?;
        for node in out.get_mut(first..).unwrap_or_default() {
            node.offset = node.offset.saturating_add(u32_of(from));
        }
        c.take(used)?;
        let end = u32_of(out.len());
        if let Some(node) = out.get_mut(element as usize) {
            node.end = end;
        }
    }
    let end = u32_of(out.len());
    for i in [root, root + 2] {
        if let Some(node) = out.get_mut(i as usize) {
            node.end = end;
        }
    }
    Ok(c.position())
}

/// Convenience: decodes `input` into a fresh node list.
///
/// # Errors
/// As [`decode_into`].
pub fn decode(input: &[u8]) -> Result<(Vec<Node<'_>>, usize)> {
    let mut v = Vec::new();
    let n = decode_into(input, &mut v)?;
    Ok((v, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EG.D push body (esphome-libs/dlms_parser `raw_egd_example`), 2 of its 27 elements
    /// and the count changed to 2, read untagged, gives the nodes of the tagged body that
    /// sends each logical name as an octet-string instead of class id, name and attribute.
    #[test]
    fn untagged_captures_match_their_tagged_form() {
        let untagged = [
            "0202 1601 0102",
            "0202 0001 00002a0000ff 02 0909454744303132333435",
            "0202 0003 0100010700ff 02 06000007a4",
        ]
        .concat()
        .replace(' ', "");
        let tagged = [
            "0202 1601 0102",
            "0202 0906 00002a0000ff 0909454744303132333435",
            "0202 0906 0100010700ff 06000007a4",
        ]
        .concat()
        .replace(' ', "");
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let (u, t) = (hex(&untagged), hex(&tagged));
        let mut got = Vec::new();
        assert_eq!(
            decode_untagged_captures(&u, &mut got, MAX_DEPTH).unwrap(),
            u.len()
        );
        let (want, _) = decode(&t).unwrap();
        fn shape<'a>(n: &[Node<'a>]) -> Vec<(Value<'a>, u32)> {
            n.iter().map(|n| (n.value, n.end)).collect()
        }
        assert_eq!(shape(&got), shape(&want));
        // the values' offsets are their tags; the names' point at their class ids
        assert_eq!(u.get(got[5].offset as usize), Some(&0x09));
        assert_eq!(u.get(got[8].offset as usize), Some(&0x06));
        assert_eq!(got[4].offset, 8);
        // the tagged body is not this shape, every cut of the untagged one is an error, and
        // so is a nesting limit that leaves the values no room
        assert!(decode_untagged_captures(&t, &mut Vec::new(), MAX_DEPTH).is_err());
        for cut in 0..u.len() {
            let mut out = Vec::new();
            assert!(decode_untagged_captures(&u[..cut], &mut out, MAX_DEPTH).is_err());
        }
        assert!(decode_untagged_captures(&u, &mut Vec::new(), 3).is_err());
        // an element count beyond what the bytes can hold
        let mut big = u.clone();
        big[5] = 0x7F;
        assert!(decode_untagged_captures(&big, &mut Vec::new(), MAX_DEPTH).is_err());
    }

    /// `fixed_contents_len` (the learned layouts' mask) and the decoder agree: every tag it
    /// names decodes from exactly 1 + n bytes whatever they hold, and every other tag the
    /// decoder reads is a container or sized by its contents.
    #[test]
    fn fixed_contents_len_is_what_the_decoder_reads() {
        for tag in 0..=u8::MAX {
            let mut b = vec![tag];
            b.extend_from_slice(&[0xA5; 40]);
            match fixed_contents_len(tag) {
                Some(n) => {
                    let mut c = Cursor::new(&b, Layer::Axdr);
                    assert!(read_value(&mut c, &b).is_ok(), "tag {tag:#04x}");
                    assert_eq!(c.position(), 1 + n, "tag {tag:#04x}");
                }
                None => assert!(
                    matches!(
                        tag,
                        0x00 | 0x01 | 0x02 | 0x04 | 0x09 | 0x0A | 0x0C | 0x13 | 0xFF
                    ) || value_at(&b, 0).is_err(),
                    "tag {tag:#04x} decodes but has no fixed size"
                ),
            }
        }
    }

    #[test]
    fn aidon_register_structure() {
        // structure[3] { octet-string(6) OBIS, uint32 1661, structure[2] { int8 0, enum 27 } }
        #[rustfmt::skip]
        let b = [
            0x02, 0x03,
            0x09, 0x06, 0x01, 0x00, 0x01, 0x07, 0x00, 0xFF,
            0x06, 0x00, 0x00, 0x06, 0x7D,
            0x02, 0x02, 0x0F, 0x00, 0x16, 0x1B,
        ];
        let (nodes, used) = decode(&b).unwrap();
        assert_eq!(used, b.len());
        assert_eq!(nodes.len(), 6);
        assert_eq!(nodes[0].value, Value::Structure(3));
        assert_eq!(nodes[0].end, 6);
        assert_eq!(nodes[1].value, Value::OctetString(&[1, 0, 1, 7, 0, 0xFF]));
        assert_eq!(nodes[2].value, Value::U32(1661));
        assert_eq!(nodes[3].value, Value::Structure(2));
        assert_eq!(nodes[3].end, 6);
        assert_eq!(nodes[4].value, Value::I8(0));
        assert_eq!(nodes[5].value, Value::Enum(27));
        assert_eq!(nodes[5].offset, 19);
    }

    #[test]
    fn every_scalar_type() {
        #[rustfmt::skip]
        let b = [
            0x02, 0x16,
            0x00,
            0x03, 0x01,
            0x04, 0x0A, 0xFF, 0xC0,
            0x05, 0xFF, 0xFF, 0xFF, 0xFE,
            0x0A, 0x02, b'h', b'i',
            0x0C, 0x01, b'x',
            0x0D, 0x12,
            0x0F, 0xFE,
            0x10, 0xFF, 0xF6,
            0x11, 0x07,
            0x12, 0x08, 0xE2,
            0x13, 0x01, 0x00, 0x02, 0x12, 0x04, 0x00, 0x01, 0x00, 0x02,
            0x14, 0x80, 0, 0, 0, 0, 0, 0, 0,
            0x15, 0, 0, 0, 0, 0, 0, 1, 0,
            0x16, 0x1B,
            0x17, 0x3F, 0x80, 0, 0,
            0x18, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0,
            0x19, 7, 0xE9, 1, 2, 3, 4, 5, 6, 0xFF, 0x80, 0, 0,
            0x1A, 7, 0xE9, 1, 2, 3,
            0x1B, 1, 2, 3, 0xFF,
            0xFF,
            0x09, 0x81, 0x02, 0xAA, 0xBB,
        ];
        let (nodes, used) = decode(&b).unwrap();
        assert_eq!(used, b.len());
        let v: Vec<_> = nodes.iter().map(|n| n.value).collect();
        assert_eq!(v[1], Value::Null);
        assert_eq!(v[2], Value::Boolean(true));
        assert_eq!(
            v[3],
            Value::BitString {
                bits: 10,
                bytes: &[0xFF, 0xC0]
            }
        );
        assert_eq!(v[4], Value::I32(-2));
        assert_eq!(v[5], Value::VisibleString(b"hi"));
        assert_eq!(v[7], Value::Bcd(0x12));
        assert_eq!(v[8], Value::I8(-2));
        assert_eq!(v[9], Value::I16(-10));
        assert_eq!(v[10], Value::U8(7));
        assert_eq!(v[11], Value::U16(2274));
        assert_eq!(
            v[12].compact_parts(),
            Some((&[0x01, 0x00, 0x02, 0x12][..], &[0, 1, 0, 2][..]))
        );
        assert_eq!(std::mem::size_of::<Value<'_>>(), 24);
        assert_eq!(std::mem::size_of::<Node<'_>>(), 32);
        assert_eq!(v[13], Value::I64(i64::MIN));
        assert_eq!(v[14], Value::U64(256));
        assert_eq!(v[16], Value::F32(1.0));
        assert_eq!(v[17], Value::F64(1.0));
        assert_eq!(v[21], Value::DontCare);
        assert_eq!(v[22], Value::OctetString(&[0xAA, 0xBB]));
    }

    #[test]
    fn hostile_inputs_fail_fast() {
        // count far larger than the input
        let e = decode(&[0x01, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Malformed(_)), "{e:?}");
        // 5-byte length form
        let e = decode(&[0x09, 0x85, 0, 0, 0, 0, 1]).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Malformed(_)));
        // deep nesting: 10 000 nested structures
        let mut deep = Vec::new();
        for _ in 0..10_000 {
            deep.extend_from_slice(&[0x02, 0x01]);
        }
        deep.push(0x00);
        let e = decode(&deep).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooDeep { limit: MAX_DEPTH });
        assert_eq!(e.offset, 2 * usize::from(MAX_DEPTH));
        // unknown tag
        assert_eq!(
            decode(&[0x02, 0x01, 0x07]).unwrap_err().kind,
            ErrorKind::Unsupported { tag: 7 }
        );
        assert_eq!(decode(&[0x02, 0x01, 0x07]).unwrap_err().offset, 2);
        // a configured lower limit
        let mut v = Vec::new();
        let e = decode_into_limited(&deep, &mut v, 3).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooDeep { limit: 3 });
        assert_eq!(e.offset, 6);
        v.clear();
        assert!(decode_into_limited(&[0x02, 0x01, 0x02, 0x01, 0x00], &mut v, 2).is_ok());
    }

    #[test]
    fn every_truncated_prefix_fails() {
        let b = [
            0x02, 0x03, 0x09, 0x06, 0x01, 0x00, 0x01, 0x07, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x06,
            0x7D, 0x02, 0x02, 0x0F, 0x00, 0x16, 0x1B,
        ];
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "prefix {n}");
        }
    }
}
