//! CRC-16/X.25, the HDLC header and frame check sequence (IEC 62056-46, RFC 1662 "FCS-16").
//!
//! Poly 0x1021 reflected, init 0xFFFF, reflected in and out, final XOR 0xFFFF. Sent low byte
//! first. Running the register over data plus its two FCS bytes leaves the residue 0xF0B8.
//!
//! Implemented as slice-by-16 over tables built at compile time, with the tail of a buffer taken
//! 8, 4 and 2 bytes at a time: HDLC frames are short (the Norwegian mix averages 70 bytes), so
//! the byte-at-a-time loop a plain slice-by-16 leaves for the last 0–15 bytes (and for a whole
//! 8-byte header) would cost more than the blocks. Checked against a bitwise reference and the
//! `crc` crate's engine; see `benches/framing.rs`.

/// The reflected polynomial 0x1021.
const POLY: u16 = 0x8408;

/// `TABLES[k][b]`: the register change of byte `b` followed by `k` zero bytes.
static TABLES: [[u16; 256]; 16] = tables();

#[allow(clippy::indexing_slicing)] // evaluated at compile time: an index out of range would not build
const fn tables() -> [[u16; 256]; 16] {
    let mut t = [[0u16; 256]; 16];
    let mut b = 0;
    while b < 256 {
        let mut crc = b as u16;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            k += 1;
        }
        t[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 16 {
        let mut b = 0;
        while b < 256 {
            let prev = t[k - 1][b];
            t[k][b] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

/// Runs the (reflected, un-complemented) register over `chunk` of N ≤ 16 bytes at once.
#[inline(always)]
#[allow(clippy::indexing_slicing)] // k < N ≤ 16 and a u8 index into 256 entries
fn step<const N: usize>(crc: u16, chunk: &[u8; N]) -> u16 {
    if N == 1 {
        return TABLES[0][usize::from(chunk[0] ^ crc as u8)] ^ (crc >> 8);
    }
    // the bytes the register does not touch first, so their lookups do not wait for it
    let mut acc = 0u16;
    let mut k = N;
    while k > 2 {
        k -= 1;
        acc ^= TABLES[N - 1 - k][usize::from(chunk[k])];
    }
    acc ^ TABLES[N - 2][usize::from(chunk[1] ^ (crc >> 8) as u8)]
        ^ TABLES[N - 1][usize::from(chunk[0] ^ crc as u8)]
}

/// The register after `data`, from `crc`.
#[inline]
fn update(mut crc: u16, data: &[u8]) -> u16 {
    let mut blocks = data.chunks_exact(16);
    for b in blocks.by_ref() {
        if let Ok(b) = <&[u8; 16]>::try_from(b) {
            crc = step(crc, b);
        }
    }
    let mut rest = blocks.remainder();
    if let Some((b, r)) = rest.split_first_chunk::<8>() {
        crc = step(crc, b);
        rest = r;
    }
    if let Some((b, r)) = rest.split_first_chunk::<4>() {
        crc = step(crc, b);
        rest = r;
    }
    if let Some((b, r)) = rest.split_first_chunk::<2>() {
        crc = step(crc, b);
        rest = r;
    }
    if let Some((b, _)) = rest.split_first_chunk::<1>() {
        crc = step(crc, b);
    }
    crc
}

/// The un-complemented register value left after running over data followed by its FCS.
pub const RESIDUE: u16 = 0xF0B8;

/// CRC-16/X.25 of `data` (the value an HDLC sender transmits, low byte first).
#[inline]
pub fn fcs16(data: &[u8]) -> u16 {
    !update(0xFFFF, data)
}

/// CRC-16/X.25 of `prefix ++ rest` where `prefix` ends with its own correct FCS (an HDLC
/// header followed by its valid HCS): the register after such a prefix is always [`RESIDUE`],
/// so only `rest` needs to be run through. Lets the frame check sequence skip the header bytes
/// the header check sequence already covered.
#[inline]
pub fn fcs16_after_checked(rest: &[u8]) -> u16 {
    !update(RESIDUE, rest)
}

/// True when `data` ends with its own correct little-endian CRC-16/X.25.
///
/// Equivalent to checking the residue: the complemented CRC over data+FCS equals
/// `!RESIDUE` (0x0F47).
#[inline]
pub fn verify_residue(data_with_fcs: &[u8]) -> bool {
    data_with_fcs.len() >= 2 && fcs16(data_with_fcs) == !RESIDUE
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain bitwise reference, written from the parameters, to check the table engine.
    fn bitwise(data: &[u8]) -> u16 {
        let mut crc: u16 = 0xFFFF;
        for &b in data {
            crc ^= u16::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x8408
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn continuation_after_a_checked_prefix() {
        let data: Vec<u8> = (0u16..300).map(|i| (i * 37 + 11) as u8).collect();
        for cut in [0usize, 1, 5, 8, 17, 64] {
            for tail in [0usize, 1, 2, 15, 16, 33, 200] {
                let mut v = data[..cut].to_vec();
                v.extend_from_slice(&fcs16(&data[..cut]).to_le_bytes());
                let rest = &data[cut..cut + tail];
                let whole = [v.as_slice(), rest].concat();
                assert_eq!(fcs16_after_checked(rest), fcs16(&whole), "{cut} {tail}");
            }
        }
    }

    #[test]
    fn known_answer() {
        assert_eq!(fcs16(b"123456789"), 0x906E);
    }

    #[test]
    fn hdlc_known_frame() {
        // A0 08 01 02 01 10 | FCS 37 8D (STYLE.md known answer)
        assert_eq!(fcs16(&[0xA0, 0x08, 0x01, 0x02, 0x01, 0x10]), 0x8D37);
        assert!(verify_residue(&[
            0xA0, 0x08, 0x01, 0x02, 0x01, 0x10, 0x37, 0x8D
        ]));
        assert!(!verify_residue(&[
            0xA0, 0x08, 0x01, 0x02, 0x01, 0x10, 0x8D, 0x37
        ]));
    }

    #[test]
    fn residue_is_f0b8() {
        let data = b"hanport residue";
        let c = fcs16(data);
        let mut v = data.to_vec();
        v.extend_from_slice(&c.to_le_bytes());
        // un-complemented register over data+fcs == 0xF0B8
        assert_eq!(!fcs16(&v), RESIDUE);
        assert!(verify_residue(&v));
    }

    #[test]
    fn table_matches_bitwise() {
        let data: Vec<u8> = (0u32..1000).map(|i| (i * 7 + i / 13) as u8).collect();
        for n in 0..data.len() {
            assert_eq!(fcs16(&data[..n]), bitwise(&data[..n]), "len {n}");
        }
    }

    #[test]
    fn matches_the_crc_crate_at_every_length_and_alignment() {
        const X25: crc::Crc<u16, crc::Table<16>> =
            crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_IBM_SDLC);
        let data: Vec<u8> = (0u32..400)
            .map(|i| (i * 151 + 7) as u8 ^ (i >> 3) as u8)
            .collect();
        for start in 0..17 {
            for end in start..data.len() {
                let d = &data[start..end];
                assert_eq!(fcs16(d), X25.checksum(d), "{start}..{end}");
            }
        }
    }
}
