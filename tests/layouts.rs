//! The learned-layout fast path of the stream decoder (`meters::layout`) against the full path.
//!
//! Two decoders read the same bytes, one with layouts (the default) and one without
//! (`Decoder::set_layout_cache(false)`); every event — each telegram's whole owned value, its
//! offsets and bytes, each error record — and the counters must be equal:
//!
//! * over every raw serial capture in tests/data/streams and over all of them concatenated;
//! * over every valid HDLC frame of the captures followed by copies of it with random bytes of
//!   its information field changed (frame check sequence recomputed so the frame still passes
//!   the link layer): value bytes changed exercise the fast path, structure bytes changed its
//!   misses, and damage it must hand to the full path (a clock out of range, a non-printable
//!   identifier, a broken A-XDR length);
//! * the same for the P1 telegrams of the records (`meters::p1_layout`), their CRC recomputed:
//!   changed digits take the fast path, other changes miss it or fall back (a month 13, a digit
//!   turned into a letter or a second decimal point).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use hanport::crc::fcs16;
use hanport::hdlc::ErrorRecord;
use hanport::hdlc::HdlcFrame;
use hanport::{Decoder, DecoderEvent, Stats, Telegram};
use proptest::prelude::*;

#[path = "common/data.rs"]
mod data;
use data::streams;

/// One event, owned.
#[derive(Debug, PartialEq)]
enum Seen {
    Telegram {
        offset: u64,
        end: u64,
        raw: Vec<u8>,
        telegram: Telegram,
    },
    Error(ErrorRecord),
}

/// Every event of `data` through a decoder with or without layouts, the counters and the
/// layout hits.
fn events(data: &[u8], layouts: bool) -> (Vec<Seen>, Stats, u64) {
    let mut d = Decoder::new();
    d.set_layout_cache(layouts);
    let mut out = Vec::new();
    let mut on = |ev: DecoderEvent<'_>| match ev {
        DecoderEvent::Telegram {
            telegram,
            offset,
            raw,
            end,
        } => out.push(Seen::Telegram {
            offset,
            end,
            raw: raw.to_vec(),
            telegram: telegram.to_owned(),
        }),
        DecoderEvent::Error(r) => out.push(Seen::Error(r)),
    };
    d.push(data, &mut on);
    d.finish(&mut on);
    (out, d.stats(), d.layout_hits())
}

/// Asserts both decoders agree; returns (telegrams, layout hits).
fn assert_same(data: &[u8], what: impl Fn() -> String) -> (usize, u64) {
    let (fast, fast_stats, hits) = events(data, true);
    let (full, full_stats, no_hits) = events(data, false);
    assert_eq!(no_hits, 0, "{}: layouts used while turned off", what());
    assert_eq!(fast.len(), full.len(), "{}: event counts differ", what());
    for (k, (a, b)) in fast.iter().zip(&full).enumerate() {
        assert!(a == b, "{}: event {k} differs:\n{a:?}\n{b:?}", what());
    }
    assert_eq!(fast_stats, full_stats, "{}: counters differ", what());
    let telegrams = fast
        .iter()
        .filter(|e| matches!(e, Seen::Telegram { .. }))
        .count();
    (telegrams, hits)
}

#[test]
fn every_capture_decodes_the_same_with_and_without_layouts() {
    let mut all = Vec::new();
    let (mut telegrams, mut hits) = (0, 0);
    for (path, data) in streams() {
        let (t, h) = assert_same(&data, || path.display().to_string());
        telegrams += t;
        hits += h;
        all.extend_from_slice(&data);
    }
    assert!(
        telegrams > 1000,
        "only {telegrams} telegrams in the captures"
    );
    // a meter repeats its lists: most telegrams of a capture take the fast path
    assert!(
        hits as f64 > 0.9 * telegrams as f64,
        "{hits} of {telegrams} telegrams by learned layouts"
    );
    // interleaved meters (the layouts of several streams live side by side)
    assert_same(&all, || "all captures concatenated".into());
}

/// The unsegmented HDLC frames of the captures (flags included), one of each distinct frame.
fn frames() -> &'static [Vec<u8>] {
    static FRAMES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    FRAMES.get_or_init(|| data::capture_frames(false))
}

/// Writes a new frame check sequence over a flagged frame (`7E … FCS 7E`).
fn refcs(frame: &mut [u8]) {
    let n = frame.len();
    let fcs = fcs16(&frame[1..n - 3]);
    frame[n - 3..n - 1].copy_from_slice(&fcs.to_le_bytes());
}

/// Where the information field of a flagged frame starts.
fn info_start(frame: &[u8]) -> usize {
    let f = HdlcFrame::from_flagged(frame).unwrap();
    1 + f.header().info_offset()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn changed_bytes_decode_the_same_with_and_without_layouts(
        pick in any::<prop::sample::Index>(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        copies in 1usize..4,
    ) {
        let all = frames();
        let frame = pick.get(all);
        let start = info_start(frame);
        // the original first, so its layout is learned, then the changed copies
        let mut stream = frame.clone();
        let mut changed = frame.clone();
        for _ in 0..copies {
            for (at, b) in &changes {
                let i = start + at.index(frame.len() - 3 - start);
                changed[i] = *b;
            }
            refcs(&mut changed);
            stream.extend_from_slice(&changed);
            stream.extend_from_slice(frame);
        }
        assert_same(&stream, || format!("{frame:02x?} changed to {changed:02x?}"));
    }
}

/// Every single-bit change of every information-field byte, each copy after the original,
/// for two frames of each (length, header) the captures hold: changes of value bytes take the
/// fast path, the rest miss it or fall back.
#[test]
fn every_one_bit_change_decodes_the_same_with_and_without_layouts() {
    let (mut checked, mut hits) = (0, 0);
    let mut per_kind = std::collections::BTreeMap::new();
    for frame in frames() {
        let start = info_start(frame);
        let seen = per_kind.entry(frame[..start].to_vec()).or_insert(0);
        *seen += 1;
        if *seen > 2 {
            continue;
        }
        let mut stream = frame.clone();
        for i in start..frame.len() - 3 {
            let mut c = frame.clone();
            c[i] ^= 0x01;
            refcs(&mut c);
            stream.extend_from_slice(&c);
        }
        let (t, h) = assert_same(&stream, || format!("{frame:02x?}"));
        checked += t;
        hits += h;
    }
    assert!(checked > 2000, "only {checked} telegrams");
    assert!(
        hits > checked as u64 / 4,
        "only {hits} of {checked} by learned layouts"
    );
}

/// The P1 telegrams of the records that decode alone, one of each.
fn p1_telegrams() -> &'static [Vec<u8>] {
    static P1: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    P1.get_or_init(|| {
        let mut out = Vec::new();
        for r in data::records() {
            if r["format"] != "p1" {
                continue;
            }
            let bytes = data::unhex(r["hex"].as_str().unwrap());
            if hanport::decode_frame(&bytes).is_ok() {
                out.push(bytes);
            }
        }
        out.sort();
        out.dedup();
        out
    })
}

/// Writes a new CRC after the last `!` of a P1 telegram, if it has one.
fn p1_recrc(t: &mut [u8]) {
    let bang = t.iter().rposition(|&b| b == b'!').unwrap();
    if t.len() >= bang + 5 && t[bang + 1..bang + 5].iter().all(u8::is_ascii_hexdigit) {
        let crc = format!("{:04X}", hanport::p1::crc16_arc(&t[..=bang]));
        t[bang + 1..bang + 5].copy_from_slice(crc.as_bytes());
    }
}

/// Where the data lines of a P1 telegram end (its `!`).
fn p1_bang(t: &[u8]) -> usize {
    t.iter().rposition(|&b| b == b'!').unwrap()
}

#[test]
fn p1_telegrams_decode_the_same_with_and_without_layouts() {
    let all = p1_telegrams();
    assert!(all.len() >= 20, "only {} P1 telegrams", all.len());
    let mut stream = Vec::new();
    for t in all {
        let (n, hits) = assert_same(&t.repeat(3), || String::from_utf8_lossy(t).into_owned());
        assert_eq!(n, 3, "{}", String::from_utf8_lossy(t));
        // the first is learned, the repeats take the fast path
        assert_eq!(hits, 2, "{}", String::from_utf8_lossy(t));
        stream.extend_from_slice(t);
    }
    // interleaved meters: eight at a time (their layouts side by side), then all of them
    // (more than the decoder keeps: the least recently used ones are replaced)
    for group in all.chunks(8) {
        let twice = group.concat().repeat(2);
        let (n, hits) = assert_same(&twice, || "P1 telegrams twice".into());
        assert_eq!(n, 2 * group.len());
        assert!(hits as usize >= group.len(), "{hits} hits");
    }
    let (n, _) = assert_same(&stream.repeat(2), || "all P1 telegrams twice".into());
    assert_eq!(n, 2 * all.len());
}

/// Every change of bit 0 (digits stay digits: the fast path) and bit 3 (`2`–`7` become
/// punctuation: a fallback or a miss) of every byte up to the `!`, CRC recomputed, each after
/// the original.
#[test]
fn every_one_bit_change_of_a_p1_telegram_decodes_the_same_with_and_without_layouts() {
    let (mut checked, mut hits) = (0, 0);
    for t in p1_telegrams() {
        let mut stream = t.clone();
        for i in 0..p1_bang(t) {
            for bit in [0x01, 0x08] {
                let mut c = t.clone();
                c[i] ^= bit;
                p1_recrc(&mut c);
                stream.extend_from_slice(&c);
                stream.extend_from_slice(t);
            }
        }
        let (n, h) = assert_same(&stream, || String::from_utf8_lossy(t).into_owned());
        checked += n;
        hits += h;
    }
    assert!(checked > 20_000, "only {checked} telegrams");
    assert!(
        hits as usize > checked / 2,
        "only {hits} of {checked} by learned layouts"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    /// Random digits of a telegram replaced by random digits (the fast path's own ground) or
    /// by any byte, CRC recomputed.
    #[test]
    fn changed_p1_digits_decode_the_same_with_and_without_layouts(
        pick in any::<prop::sample::Index>(),
        changes in prop::collection::vec(
            (any::<prop::sample::Index>(), 0u8..10, any::<u8>(), any::<bool>()), 1..12),
    ) {
        let all = p1_telegrams();
        let t = pick.get(all);
        let digits: Vec<usize> = (0..p1_bang(t)).filter(|&i| t[i].is_ascii_digit()).collect();
        let mut c = t.clone();
        for (at, d, b, any_byte) in &changes {
            c[*at.get(&digits)] = if *any_byte { *b } else { b'0' + d };
        }
        p1_recrc(&mut c);
        let mut stream = t.clone();
        stream.extend_from_slice(&c);
        stream.extend_from_slice(t);
        stream.extend_from_slice(&c);
        assert_same(&stream, || String::from_utf8_lossy(&c).into_owned());
    }
}

/// An M-Bus reading whose capture time is in the bare `YYMMDDhhmmss` form (made up from the
/// DSMR 3 shape): the line is mapped as (time, value) only while that time is a valid date, so
/// each of its digits changed to every other digit must give what the full path gives.
#[test]
fn a_p1_capture_time_without_letter_decodes_the_same_with_and_without_layouts() {
    let mut t = b"/ISk5\\2MT382-1000\r\n\r\n0-0:96.1.1(4B384547303034303436333935353037)\r\n\
        1-0:1.8.1(12345.678*kWh)\r\n0-1:24.2.1(101209112500)(12785.123*m3)\r\n!0000\r\n"
        .to_vec();
    p1_recrc(&mut t);
    let at = t.windows(12).position(|w| w == b"101209112500").unwrap();
    let mut stream = t.clone();
    for i in at..at + 12 {
        for d in b'0'..=b'9' {
            let mut c = t.clone();
            c[i] = d;
            p1_recrc(&mut c);
            stream.extend_from_slice(&c);
        }
    }
    let (n, hits) = assert_same(&stream, || String::from_utf8_lossy(&t).into_owned());
    assert_eq!(n, 1 + 120);
    assert!(hits > 60, "{hits} hits");
}
