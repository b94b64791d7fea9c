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
//!   identifier, a broken A-XDR length).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::fs;
use std::path::{Path, PathBuf};

use hanport::crc::fcs16;
use hanport::hdlc::ErrorRecord;
use hanport::hdlc::{Event, FrameSplitter, HdlcFrame};
use hanport::{Decoder, DecoderEvent, Stats, Telegram};
use proptest::prelude::*;

fn streams() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/streams");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let data = fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

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
    FRAMES.get_or_init(read_frames)
}

fn read_frames() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (_, data) in streams() {
        let mut s = FrameSplitter::new();
        let mut on = |ev: Event<'_>| {
            if let Event::Frame(f) = ev {
                if !f.header.segmented {
                    out.push(f.bytes.to_vec());
                }
            }
        };
        s.push(&data, &mut on);
        s.finish(&mut on);
    }
    out.sort();
    out.dedup();
    out
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
