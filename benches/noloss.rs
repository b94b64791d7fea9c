//! The no-loss benchmark (issue "Hostile input"): a stream of N valid frames from the real
//! captures, with byte corruption injected at a known rate. Every frame untouched by the
//! corruption must come back (byte-exact, at its offset); every touched frame must be rejected.
//! Reported per rate: frames, touched, untouched, lost untouched, false accepts (HDLC level:
//! a frame whose bytes are not an original untouched frame passed HCS+FCS; telegram level: such
//! a frame also passed the DLMS structure checks), per million corrupted frames.
//!
//! `cargo bench --bench noloss` runs 1 000 000 frames per rate; `cargo test --benches` runs a
//! small smoke version. `HANPORT_NOLOSS_FRAMES` overrides the count. Exits non-zero if a frame
//! is lost or a false accept reaches the telegram level.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use hanport::hdlc::{Event, FrameSplitter};
use hanport::{Decoder, DecoderEvent};
use std::collections::HashMap;

#[path = "../tests/common/data.rs"]
mod data;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Outcome {
    frames: u64,
    touched: u64,
    lost_untouched: u64,
    rejected_touched_frames_found: u64,
    false_frames: u64,
    false_telegrams: u64,
    bytes: u64,
}

fn run(pool: &[Vec<u8>], n: u64, rate: f64, seed: u64) -> Outcome {
    let mut rng = Rng(seed);
    let mut data = Vec::new();
    // offset -> (untouched?) of every original frame
    let mut originals: HashMap<u64, bool> = HashMap::new();
    let mut touched = 0;
    for _ in 0..n {
        let f = &pool[(rng.next() % pool.len() as u64) as usize];
        let at = data.len();
        data.extend_from_slice(f);
        let mut hit = false;
        for b in &mut data[at..] {
            if rng.unit() < rate {
                *b ^= 1 + (rng.next() % 255) as u8; // always a real change
                hit = true;
            }
        }
        touched += u64::from(hit);
        originals.insert(at as u64, !hit);
    }
    let untouched_at = |off: u64| originals.get(&off).copied().unwrap_or(false);
    // HDLC level
    let mut found = HashMap::new();
    let mut s = FrameSplitter::new();
    let mut on = |e: Event<'_>| {
        if let Event::Frame(f) = e {
            found.insert(f.offset, f.bytes.len());
        }
    };
    s.push(&data, &mut on);
    s.finish(&mut on);
    let mut false_frames = 0;
    let mut rejected_touched_frames_found = 0;
    for (&off, _) in found.iter() {
        if !untouched_at(off) {
            false_frames += 1;
            if originals.contains_key(&off) {
                rejected_touched_frames_found += 1;
            }
        }
    }
    let lost_untouched = originals
        .iter()
        .filter(|(off, ok)| **ok && !found.contains_key(off))
        .count() as u64;
    // telegram level: HCS + FCS + LLC/APDU/A-XDR/mapping
    let mut false_telegrams = 0;
    let mut dec = Decoder::new();
    let mut on = |e: DecoderEvent<'_>| {
        if let DecoderEvent::Telegram { offset, raw, .. } = e {
            if !untouched_at(offset) {
                false_telegrams += 1;
                if std::env::var_os("HANPORT_NOLOSS_SHOW").is_some() {
                    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                    eprintln!("false telegram at {offset}: {hex}");
                }
            }
        }
    };
    dec.push(&data, &mut on);
    dec.finish(&mut on);
    Outcome {
        frames: n,
        touched,
        lost_untouched,
        rejected_touched_frames_found,
        false_frames,
        false_telegrams,
        bytes: data.len() as u64,
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: u64 = std::env::var("HANPORT_NOLOSS_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 1_000_000 } else { 20_000 });
    let pool = data::capture_frames(true);
    println!(
        "no-loss: {n} frames per rate drawn from {} distinct real frames",
        pool.len()
    );
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>6} {:>13} {:>16} {:>8}",
        "rate", "frames", "touched", "untouched", "lost", "false frames", "false telegrams", "MB"
    );
    let mut failed = false;
    for (k, rate) in [0.01, 0.05, 0.20].into_iter().enumerate() {
        let o = run(&pool, n, rate, 0x5EED_0000 + k as u64);
        let per_million = |x: u64| x as f64 * 1e6 / o.touched.max(1) as f64;
        println!(
            "{:>5.0}% {:>9} {:>9} {:>9} {:>6} {:>6} ({:>4.1}/M) {:>8} ({:>4.1}/M) {:>8.1}",
            rate * 100.0,
            o.frames,
            o.touched,
            o.frames - o.touched,
            o.lost_untouched,
            o.false_frames,
            per_million(o.false_frames),
            o.false_telegrams,
            per_million(o.false_telegrams),
            o.bytes as f64 / 1e6
        );
        let _ = o.rejected_touched_frames_found;
        failed |= o.lost_untouched > 0 || o.false_telegrams > 0;
    }
    if failed {
        eprintln!("no-loss FAILED: a frame was lost or a corrupted frame was accepted");
        std::process::exit(1);
    }
}
