//! The Norwegian traffic mix shared by the criterion benches (included with `#[path]`, since
//! each bench is its own crate): every valid frame of tests/data/streams grouped by meter and
//! list, re-assembled 5 list-1 frames per list-2 frame and one list 3 per 360 list-2 frames.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use hanport::hdlc::{Event, FrameSplitter};

/// Seed of every PRNG in this file.
pub const SEED: u64 = 0x4841_4E50_4F52_5421;
/// Chunk size of the chunked variants (a typical serial/socket read).
pub const CHUNK: usize = 4096;
/// Frames shorter than this (both flags included) are list 1.
pub const LIST1_MAX: usize = 60;
/// List-1 frames per list-2 frame.
pub const LIST1_PER_LIST2: usize = 5;
/// List-2 frames per list-3 frame.
pub const LIST2_PER_LIST3: u64 = 360;
/// Stream size in MB (10^6 bytes) for `cargo bench`, unless `HANPORT_BENCH_MB` says otherwise.
pub const DEFAULT_MB: f64 = 100.0;
/// Stream size in test mode (`cargo test --benches`, unoptimised build).
pub const TEST_BYTES: usize = 1_000_000;

/// SplitMix64: tiny, seedable, good enough to pick frames and make noise.
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// The valid frames (flags included) of one meter, by list (index 0 = list 1).
pub struct Meter {
    pub name: String,
    pub lists: [Vec<Vec<u8>>; 3],
}

pub fn vendor_name(src: &[u8]) -> String {
    match src {
        [0x08, 0x83] => "Aidon".to_owned(),
        [0x02, 0x01] => "Kaifa".to_owned(),
        [0x21] => "Kamstrup".to_owned(),
        other => other.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Extracts and classifies every valid frame of the captures (once per process).
pub fn meters() -> &'static [Meter] {
    static METERS: OnceLock<Vec<Meter>> = OnceLock::new();
    METERS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/streams");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .collect();
        paths.sort();
        let mut by_src: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
        for path in &paths {
            let data = std::fs::read(path).unwrap();
            let mut splitter = FrameSplitter::new();
            let mut on = |ev: Event<'_>| {
                if let Event::Frame(f) = ev {
                    by_src
                        .entry(f.header.src.bytes().to_vec())
                        .or_default()
                        .push(f.bytes.to_vec());
                }
            };
            splitter.push(&data, &mut on);
            splitter.finish(&mut on);
        }
        by_src
            .into_iter()
            .map(|(src, frames)| {
                let mut big: Vec<usize> = frames
                    .iter()
                    .map(Vec::len)
                    .filter(|&n| n >= LIST1_MAX)
                    .collect();
                big.sort_unstable();
                let median = big.get(big.len() / 2).copied().unwrap_or(usize::MAX);
                let mut lists: [Vec<Vec<u8>>; 3] = Default::default();
                for f in frames {
                    let list = if f.len() < LIST1_MAX {
                        0
                    } else if f.len() * 5 > median.saturating_mul(6) {
                        2
                    } else {
                        1
                    };
                    lists[list].push(f);
                }
                Meter {
                    name: vendor_name(&src),
                    lists,
                }
            })
            .collect()
    })
}

/// Damage applied while assembling a stream.
#[derive(Clone, Copy)]
pub struct Noise {
    /// Probability that a frame gets one byte (between the flags) XOR-ed with a non-zero mask.
    pub corrupt: f64,
    /// Probability that random garbage precedes a frame.
    pub garbage: f64,
    /// Longest garbage run.
    pub garbage_max: usize,
}

/// An assembled stream and what it holds.
pub struct Mix {
    pub bytes: Vec<u8>,
    /// Frames per list.
    pub frames: [u64; 3],
    /// Frames left intact (what the splitter must accept).
    pub good: u64,
    pub corrupted: u64,
    pub garbage_bytes: u64,
}

pub fn build_stream(meters: &[Meter], target: usize, noise: Option<Noise>, seed: u64) -> Mix {
    let pools: [Vec<&[Vec<u8>]>; 3] = core::array::from_fn(|l| {
        meters
            .iter()
            .map(|m| m.lists[l].as_slice())
            .filter(|p| !p.is_empty())
            .collect()
    });
    assert!(
        pools.iter().all(|p| !p.is_empty()),
        "the captures must hold frames of every list"
    );
    let mut rng = Rng::new(seed);
    let mut mix = Mix {
        bytes: Vec::with_capacity(target + 4096),
        frames: [0; 3],
        good: 0,
        corrupted: 0,
        garbage_bytes: 0,
    };
    let mut turn = [0usize; 3];
    let mut emit = |mix: &mut Mix, rng: &mut Rng, list: usize| {
        let pool = pools[list][turn[list] % pools[list].len()];
        turn[list] += 1;
        let frame = &pool[rng.below(pool.len())];
        if let Some(n) = noise {
            if rng.chance(n.garbage) {
                let len = 1 + rng.below(n.garbage_max);
                let at = mix.bytes.len();
                mix.bytes.resize(at + len, 0);
                rng.fill(&mut mix.bytes[at..]);
                mix.garbage_bytes += len as u64;
            }
        }
        let at = mix.bytes.len();
        mix.bytes.extend_from_slice(frame);
        mix.frames[list] += 1;
        match noise {
            Some(n) if rng.chance(n.corrupt) => {
                let i = at + 1 + rng.below(frame.len() - 2);
                mix.bytes[i] ^= 1 + rng.below(255) as u8;
                mix.corrupted += 1;
            }
            _ => mix.good += 1,
        }
    };
    let mut list2 = 0u64;
    while mix.bytes.len() < target {
        for _ in 0..LIST1_PER_LIST2 {
            emit(&mut mix, &mut rng, 0);
        }
        emit(&mut mix, &mut rng, 1);
        list2 += 1;
        if list2.is_multiple_of(LIST2_PER_LIST3) {
            emit(&mut mix, &mut rng, 2);
        }
    }
    mix
}

/// `cargo bench` passes `--bench`; `cargo test --benches` (criterion test mode) does not.
pub fn full_size() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list")
}

pub fn stream_target() -> usize {
    target_bytes(DEFAULT_MB)
}

/// Stream size: `HANPORT_BENCH_MB` (else `default_mb`) MB under `cargo bench`, [`TEST_BYTES`]
/// in test mode.
pub fn target_bytes(default_mb: f64) -> usize {
    if !full_size() {
        return TEST_BYTES;
    }
    let mb = std::env::var("HANPORT_BENCH_MB")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(default_mb);
    (mb * 1e6) as usize
}
