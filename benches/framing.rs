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

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use hanport::crc::fcs16;
use hanport::hdlc::{Event, FrameSplitter};

#[path = "common/mix.rs"]
mod mix;
use mix::*;

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
        Event::Link(l) => {
            frames += 1;
            frame_bytes += l.bytes.len() as u64;
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
