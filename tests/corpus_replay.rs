#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]
//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) and the minimised crashers
//! (`fuzz/regressions/<target>/`) through the fuzz targets' own checks, without libfuzzer, so
//! every finding stays fixed under a plain `cargo test`.
//!
//! The `roundtrip` target's inputs are `Arbitrary`-encoded; here they are interpreted by the
//! deterministic `Tree::from_bytes` / `Push::from_bytes` instead (same encoder and oracle,
//! different mapping from bytes to model), and also fed to the byte-level targets.

#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::path::Path;

const TARGETS: [&str; 6] = ["splitter", "frame", "axdr", "apdu", "pipeline", "roundtrip"];

fn run(target: &str, data: &[u8]) {
    match target {
        "splitter" => checks::check_splitter(data),
        "frame" => checks::check_frame(data),
        "axdr" => checks::check_axdr(data),
        "apdu" => checks::check_apdu(data),
        "pipeline" => checks::check_pipeline(data),
        "roundtrip" => {
            checks::check_tree(&checks::Tree::from_bytes(data));
            checks::check_push(&checks::Push::from_bytes(data));
            checks::check_axdr(data);
            checks::check_frame(data);
        }
        other => panic!("unknown target {other}"),
    }
}

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    let mut n = 0;
    for target in TARGETS {
        for file in checks::sorted_files(&root.join(target)) {
            let data = std::fs::read(&file).unwrap();
            let r = std::panic::catch_unwind(|| run(target, &data));
            assert!(r.is_ok(), "{target}: {} failed", file.display());
            n += 1;
        }
    }
    n
}

#[test]
fn corpus_replays_cleanly() {
    let n = replay("corpus");
    assert!(n > 0, "no corpus found under fuzz/corpus");
}

#[test]
fn regressions_replay_cleanly() {
    replay("regressions");
}

#[test]
fn chunk_plan_reads_its_header() {
    let (sizes, data) = checks::chunk_plan(&[2, 0, 0xC0, 9, 9, 9]);
    assert_eq!(sizes, vec![1, 256]);
    assert_eq!(data, &[9, 9, 9]);
    assert_eq!(
        checks::chunks(&[1, 2, 3, 4], &[1, 2]),
        vec![&[1][..], &[2, 3], &[4]]
    );
    assert_eq!(checks::chunk_plan(&[0, 5]), (vec![], &[5][..]));
}

#[test]
fn generated_models_round_trip() {
    // a few hundred deterministic models besides the corpus
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for len in 0..400usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        checks::check_tree(&checks::Tree::from_bytes(&bytes));
        checks::check_push(&checks::Push::from_bytes(&bytes));
    }
}
