//! The test data the integration tests and benchmarks read (included with `#[path]`): the
//! records of tests/data/records/*.jsonl and the raw serial captures of
//! tests/data/streams/*.bin.
#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

/// tests/data.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The files of `dir` ending in `.ext`, in name order.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    paths.sort();
    paths
}

/// Every record: the files in name order, each file's lines in order (blank lines skipped).
pub fn records() -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for path in files(&data_dir().join("records"), "jsonl") {
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if !line.trim().is_empty() {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
    }
    out
}

/// Every raw capture (path, bytes), in name order.
pub fn streams() -> Vec<(PathBuf, Vec<u8>)> {
    files(&data_dir().join("streams"), "bin")
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

/// The bytes of a hex string.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// The distinct HDLC frames (flags included) the splitter finds in the captures, sorted; with
/// `segmented` false, only those without the S bit.
pub fn capture_frames(segmented: bool) -> Vec<Vec<u8>> {
    use hanport::hdlc::{Event, FrameSplitter};
    let mut out = Vec::new();
    for (_, data) in streams() {
        let mut s = FrameSplitter::new();
        let mut on = |ev: Event<'_>| {
            if let Event::Frame(f) = ev {
                if segmented || !f.header.segmented {
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
