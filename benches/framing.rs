//! Criterion benchmarks of the framing layer: CRC-16/X.25 and the HDLC stream splitter.
//!
//! The input is synthetic but made of real frames: every valid frame of the raw serial captures
//! in `tests/data/streams/*.bin` is extracted with [`FrameSplitter`], grouped by meter (the
//! HDLC source address: Aidon `08 83`, Kaifa `02 01`, Kamstrup `21`) and by list (< 60 bytes is
//! list 1; otherwise, per meter, frames more than 20 % above the meter's median size are list 3,
//! the rest list 2). The stream then follows the Norwegian push pattern: 5 list-1 frames per
//! list-2 frame (list 1 every 2 s, list 2 every 10 s) and one list-3 frame per 360 list-2 frames
//! (hourly). Meters take turns per list (Kamstrup sends no list 1); the frame within a
//! (meter, list) pool is picked by a seeded PRNG, so every run sees the same bytes.
//!
//! Groups (throughput in bytes of input):
//! * `crc`: [`fcs16`] over 64 B, 1 KiB and 64 KiB buffers;
//! * `split`: the clean stream pushed in one call and in 4 KiB chunks, `finish` included;
//! * `split_noisy`: the same mix with ~5 % of the frames corrupted by one flipped byte and
//!   random garbage (1..=64 bytes) before ~5 % of the frames.
//!
//! `cargo bench --bench framing` builds a 100 MB stream (`HANPORT_BENCH_MB=<n>` overrides the
//! size); `cargo test --benches` (criterion test mode: each benchmark runs once) uses 1 MB.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use hanport::crc::fcs16;
use hanport::hdlc::{Event, FrameSplitter};

/// Seed of every PRNG in this file.
const SEED: u64 = 0x4841_4E50_4F52_5421;
/// Chunk size of the chunked variants (a typical serial/socket read).
const CHUNK: usize = 4096;
/// Frames shorter than this (both flags included) are list 1.
const LIST1_MAX: usize = 60;
/// List-1 frames per list-2 frame.
const LIST1_PER_LIST2: usize = 5;
/// List-2 frames per list-3 frame.
const LIST2_PER_LIST3: u64 = 360;
/// Stream size in MB (10^6 bytes) for `cargo bench`, unless `HANPORT_BENCH_MB` says otherwise.
const DEFAULT_MB: f64 = 100.0;
/// Stream size in test mode (`cargo test --benches`, unoptimised build).
const TEST_BYTES: usize = 1_000_000;

/// SplitMix64: tiny, seedable, good enough to pick frames and make noise.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// The valid frames (flags included) of one meter, by list (index 0 = list 1).
struct Meter {
    name: String,
    lists: [Vec<Vec<u8>>; 3],
}

fn vendor_name(src: &[u8]) -> String {
    match src {
        [0x08, 0x83] => "Aidon".to_owned(),
        [0x02, 0x01] => "Kaifa".to_owned(),
        [0x21] => "Kamstrup".to_owned(),
        other => other.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Extracts and classifies every valid frame of the captures (once per process).
fn meters() -> &'static [Meter] {
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
struct Noise {
    /// Probability that a frame gets one byte (between the flags) XOR-ed with a non-zero mask.
    corrupt: f64,
    /// Probability that random garbage precedes a frame.
    garbage: f64,
    /// Longest garbage run.
    garbage_max: usize,
}

/// An assembled stream and what it holds.
struct Mix {
    bytes: Vec<u8>,
    /// Frames per list.
    frames: [u64; 3],
    /// Frames left intact (what the splitter must accept).
    good: u64,
    corrupted: u64,
    garbage_bytes: u64,
}

fn build_stream(meters: &[Meter], target: usize, noise: Option<Noise>, seed: u64) -> Mix {
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
        if list2 % LIST2_PER_LIST3 == 0 {
            emit(&mut mix, &mut rng, 2);
        }
    }
    mix
}

/// Splits `data` pushed in `chunk`-byte pieces (all at once for `None`), `finish` included.
/// Returns (frames, frame bytes, error records).
fn split(data: &[u8], chunk: Option<usize>) -> (u64, u64, u64) {
    let mut splitter = FrameSplitter::new();
    let (mut frames, mut frame_bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut on = |ev: Event<'_>| match ev {
        Event::Frame(f) => {
            frames += 1;
            frame_bytes += f.bytes.len() as u64;
        }
        Event::Error(_) => errors += 1,
    };
    match chunk {
        None => splitter.push(data, &mut on),
        Some(n) => {
            for c in data.chunks(n) {
                splitter.push(c, &mut on);
            }
        }
    }
    splitter.finish(&mut on);
    (frames, frame_bytes, errors)
}

/// `cargo bench` passes `--bench`; `cargo test --benches` (criterion test mode) does not.
fn full_size() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list")
}

fn stream_target() -> usize {
    if !full_size() {
        return TEST_BYTES;
    }
    let mb = std::env::var("HANPORT_BENCH_MB")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(DEFAULT_MB);
    (mb * 1e6) as usize
}

fn describe(label: &str, mix: &Mix, meters: &[Meter]) {
    let total: u64 = mix.frames.iter().sum();
    let pools: Vec<String> = meters
        .iter()
        .map(|m| {
            format!(
                "{} {}/{}/{}",
                m.name,
                m.lists[0].len(),
                m.lists[1].len(),
                m.lists[2].len()
            )
        })
        .collect();
    eprintln!(
        "{label}: {} bytes, {total} frames (list 1/2/3: {}/{}/{}, mean {:.1} B/frame), \
         {} corrupted, {} garbage bytes; pools (list 1/2/3): {}",
        mix.bytes.len(),
        mix.frames[0],
        mix.frames[1],
        mix.frames[2],
        mix.bytes.len() as f64 / total as f64,
        mix.corrupted,
        mix.garbage_bytes,
        pools.join(", ")
    );
}

fn bench_crc(c: &mut Criterion) {
    let mut g = c.benchmark_group("crc");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    let mut rng = Rng::new(SEED);
    for (name, size) in [("64B", 64usize), ("1KiB", 1024), ("64KiB", 65536)] {
        let mut buf = vec![0u8; size];
        rng.fill(&mut buf);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(name, |b| b.iter(|| fcs16(black_box(&buf))));
    }
    g.finish();
}

fn split_group(c: &mut Criterion, group: &str, mix: &Mix) {
    let data = mix.bytes.as_slice();
    // Checked once, outside the timing: the splitter finds exactly the intact frames.
    for chunk in [None, Some(CHUNK)] {
        let (frames, _, errors) = split(data, chunk);
        assert_eq!(
            frames, mix.good,
            "{group} {chunk:?}: {errors} error records"
        );
        if mix.corrupted == 0 && mix.garbage_bytes == 0 {
            assert_eq!(errors, 0, "{group}: a clean stream yields no error record");
        }
    }
    let mut g = c.benchmark_group(group);
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("whole", |b| b.iter(|| split(black_box(data), None)));
    g.bench_function("chunks_4KiB", |b| {
        b.iter(|| split(black_box(data), Some(CHUNK)))
    });
    g.finish();
}

fn bench_split(c: &mut Criterion) {
    let meters = meters();
    let mix = build_stream(meters, stream_target(), None, SEED);
    describe("split", &mix, meters);
    split_group(c, "split", &mix);
}

fn bench_split_noisy(c: &mut Criterion) {
    let meters = meters();
    let noise = Noise {
        corrupt: 0.05,
        garbage: 0.05,
        garbage_max: 64,
    };
    let mix = build_stream(meters, stream_target(), Some(noise), SEED ^ 0x5EED);
    describe("split_noisy", &mix, meters);
    split_group(c, "split_noisy", &mix);
}

/// Full decode: frames -> LLC -> APDU -> A-XDR -> vendor mapping -> owned `Telegram`s.
/// Returns (telegrams, objects, error records).
fn decode(data: &[u8]) -> (u64, u64, u64) {
    let mut dec = hanport::Decoder::new();
    let (mut telegrams, mut objects, mut errors) = (0u64, 0u64, 0u64);
    let mut on = |ev: hanport::DecoderEvent<'_>| match ev {
        hanport::DecoderEvent::Telegram { telegram, .. } => {
            telegrams += 1;
            objects += telegram.objects.len() as u64;
        }
        hanport::DecoderEvent::Error(_) => errors += 1,
    };
    dec.push(data, &mut on);
    dec.finish(&mut on);
    (telegrams, objects, errors)
}

fn bench_decode(c: &mut Criterion) {
    let meters = meters();
    let mix = build_stream(meters, stream_target(), None, SEED);
    let data = mix.bytes.as_slice();
    // Checked once, outside the timing: every frame of the real captures decodes.
    let (telegrams, objects, errors) = decode(data);
    assert_eq!(telegrams, mix.good, "{errors} error records");
    assert_eq!(errors, 0);
    eprintln!(
        "decode: {telegrams} telegrams, {objects} objects, {:.1} objects/telegram",
        objects as f64 / telegrams as f64
    );
    let mut g = c.benchmark_group("decode");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Elements(telegrams));
    g.bench_function("norwegian_mix_telegrams", |b| {
        b.iter(|| decode(black_box(data)))
    });
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("norwegian_mix_bytes", |b| {
        b.iter(|| decode(black_box(data)))
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_crc,
    bench_split,
    bench_split_noisy,
    bench_decode
);
criterion_main!(benches);
