//! Word-at-a-time byte scans (SWAR on `u64`, no `unsafe`): finding the end of a value group
//! and the next byte of the data lines that needs attention, 8 bytes per step.
//!
//! Every per-byte test below is exact (no carries between bytes), so the lowest set bit of a
//! mask is the first matching byte of a little-endian load.

/// 0x01 in every byte.
const L: u64 = 0x0101_0101_0101_0101;
/// 0x80 in every byte.
const H: u64 = 0x8080_8080_8080_8080;
/// 0x7F in every byte.
const M: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// 0x80 in each byte of `y` that is zero.
#[inline(always)]
fn zero(y: u64) -> u64 {
    !(((y & M).wrapping_add(M)) | y) & H
}

/// 0x80 in each byte of `x` below 0x20.
#[inline(always)]
fn below_space(x: u64) -> u64 {
    !(((x & M).wrapping_add(L * 0x60)) | x) & H
}

/// 0x80 in each byte of `x` at or above 0x7F.
#[inline(always)]
fn above_tilde(x: u64) -> u64 {
    (((x & M).wrapping_add(L)) | x) & H
}

/// Bytes that end a value group's text: `(`, `)` and everything outside 0x20..=0x7E.
#[inline(always)]
fn group_special(x: u64) -> u64 {
    below_space(x) | above_tilde(x) | zero((x & !L) ^ (L * 0x28))
}

/// Bytes of the data lines that need attention: `!`, `/`, and everything outside 0x20..=0x7E
/// except CR and LF.
#[inline(always)]
fn body_special(x: u64) -> u64 {
    let line_end = zero(x ^ (L * 0x0D)) | zero(x ^ (L * 0x0A));
    (below_space(x) & !line_end) | above_tilde(x) | zero(x ^ (L * 0x21)) | zero(x ^ (L * 0x2F))
}

/// First index ≥ `from` whose byte the mask function flags (or `s.len()`); `one` is the same
/// test for a single byte.
#[inline(always)]
fn find(s: &[u8], from: usize, word: impl Fn(u64) -> u64, one: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while let Some(w) = s.get(i..i + 8) {
        let Ok(a) = <[u8; 8]>::try_from(w) else {
            break;
        };
        let m = word(u64::from_le_bytes(a));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    let tail = s.get(i..).unwrap_or(&[]);
    i + tail.iter().position(|&b| one(b)).unwrap_or(tail.len())
}

/// Index of the first byte at or after `from` that cannot be inside a value group (normally
/// its `)`), or `s.len()`.
#[inline]
pub(crate) fn group_end(s: &[u8], from: usize) -> usize {
    find(
        s,
        from,
        group_special,
        |b| !matches!(b, b' '..=b'\'' | b'*'..=b'~'),
    )
}

/// 1 for a byte of the data lines that needs attention (see [`body_special`]), branch-free so
/// that a fold over a block vectorizes.
#[inline(always)]
fn body_flag(b: u8) -> u8 {
    let printable = b.wrapping_sub(0x20) < 0x5F;
    let line_end = (b == b'\r') | (b == b'\n');
    let marker = (b == b'!') | (b == b'/');
    u8::from((!printable & !line_end) | marker)
}

/// Index of the first byte at or after `from` that is not plain P1 text (printable ASCII
/// other than `!` and `/`, CR, LF), or `s.len()`. Whole 32-byte blocks are tested at once;
/// the block with the hit is searched a word at a time.
#[inline]
pub(crate) fn body_special_at(s: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(block) = s.get(i..i + 32) {
        if block.iter().fold(0u8, |acc, &b| acc | body_flag(b)) != 0 {
            break;
        }
        i += 32;
    }
    find(s, i, body_special, |b| body_flag(b) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_tests_match_byte_tests() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut w = [b'A'; 8];
                w[pos] = b;
                let x = u64::from_le_bytes(w);
                let g = !matches!(b, b' '..=b'\'' | b'*'..=b'~');
                assert_eq!(group_special(x) != 0, g, "group {b:#04x}");
                assert_eq!(group_end(&w, 0), if g { pos } else { 8 });
                let s = !matches!(b, b' ' | b'"'..=b'.' | b'0'..=b'~' | b'\r' | b'\n');
                assert_eq!(body_special(x) != 0, s, "body {b:#04x}");
                assert_eq!(body_special_at(&w, 0), if s { pos } else { 8 });
                assert_eq!(body_flag(b) != 0, s);
                let mut long = [b'A'; 100];
                long[pos * 11] = b;
                assert_eq!(body_special_at(&long, 0), if s { pos * 11 } else { 100 });
                let from1 = if s && pos > 0 { pos * 11 } else { 100 };
                assert_eq!(body_special_at(&long, 1), from1);
                // a flagged byte first, then this one: the first is found
                let mut v = [b'A'; 11];
                v[pos + 3] = b;
                v[2] = 0x00;
                assert_eq!(group_end(&v, 0), 2);
                assert_eq!(body_special_at(&v, 1), 2);
                assert_eq!(body_special_at(&v, 3), if s { pos + 3 } else { 11 });
            }
        }
        assert_eq!(group_end(b"", 0), 0);
        assert_eq!(group_end(b"abc", 5), 5);
    }
}
