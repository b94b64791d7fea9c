//! Criterion benchmark of bulk decoding into columns ([`hanport::batch::decode_all`]) over the
//! Norwegian traffic mix of `benches/framing.rs` (its mix builder is copied here: a bench file
//! is its own crate). Throughput is reported in telegrams and in bytes.
//!
//! `cargo bench --bench bulk` builds a 100 MB stream (`HANPORT_BENCH_MB=<n>` overrides);
//! `cargo test --benches` uses 1 MB.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    dead_code
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
#[path = "common/mix.rs"]
mod mix;
use mix::*;

fn bench_bulk(c: &mut Criterion) {
    let meters = meters();
    let mix = build_stream(meters, stream_target(), None, SEED);
    let data = mix.bytes.as_slice();
    // Checked once, outside the timing: every frame of the real captures becomes a row.
    let batch = hanport::batch::decode_all(data);
    assert_eq!(batch.len() as u64, mix.good);
    assert!(batch.errors.is_empty());
    let columns = batch.numbers.iter().flatten().count();
    eprintln!(
        "bulk: {} bytes, {} telegrams, {columns} number columns",
        data.len(),
        batch.len()
    );
    let mut g = c.benchmark_group("bulk");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Elements(mix.good));
    g.bench_function("columns_telegrams", |b| {
        b.iter(|| hanport::batch::decode_all(black_box(data)).len())
    });
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("columns_bytes", |b| {
        b.iter(|| hanport::batch::decode_all(black_box(data)).len())
    });
    let threads = rayon::current_num_threads();
    let par = hanport::batch::decode_parts(data, 0);
    assert_eq!(par.iter().map(|b| b.len()).sum::<usize>(), batch.len());
    g.throughput(Throughput::Elements(mix.good));
    g.bench_function(format!("columns_telegrams_{threads}_threads"), |b| {
        b.iter(|| hanport::batch::decode_parts(black_box(data), 0).len())
    });
    g.finish();
}

criterion_group!(benches, bench_bulk);
criterion_main!(benches);
