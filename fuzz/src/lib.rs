//! Shared checks of the hanport fuzz targets. The checks live in `checks.rs`, which
//! `tests/corpus_replay.rs` at the crate root includes by path, so the committed corpus and
//! regressions are replayed through exactly the same code by a plain `cargo test`.
pub mod checks;
