//! Golden tests over the real captures in tests/data (copied from the shared corpus).
//!
//! * every HDLC record the corpus' independent checker marks valid parses; every one it marks
//!   invalid is rejected, for one of the reasons the checker found;
//! * every raw serial stream splits into exactly the number of good frames the independent
//!   checker found, and the whole splitter output (frames, error records, counters) equals the
//!   golden file in tests/data/golden/streams (UPDATE_GOLDEN=1 rewrites it; review the diff).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::fs;

use hanport::hdlc::{Event, FrameSplitter, HdlcFrame};
use serde_json::{json, Value};

#[path = "common/data.rs"]
mod data;
use data::{data_dir, records, unhex as hex};

/// The reasons our strict parser may give for each failure the checker reports.
fn allowed_kinds(check: &Value) -> Vec<&'static str> {
    let mut kinds = vec![];
    if check["length_ok"] == json!(false) || check.get("error").is_some() {
        kinds.extend(["truncated", "bad_length", "bad_address", "bad_format"]);
    }
    if check["hcs_ok"] == json!(false) {
        kinds.push("bad_hcs");
    }
    if check["fcs_ok"] == json!(false) {
        kinds.push("bad_fcs");
    }
    if check["flags"] != json!("both") {
        kinds.push("missing_closing_flag");
        kinds.push("malformed");
    }
    kinds
}

#[test]
fn every_hdlc_record_is_judged_like_the_independent_checker() {
    let mut accepted = 0;
    let mut rejected = 0;
    for r in records().iter().filter(|r| r["format"] == "hdlc") {
        let id = r["id"].as_str().unwrap();
        let mut bytes = hex(r["hex"].as_str().unwrap());
        // the corpus keeps frames as their sources wrote them; some omit the flags
        if bytes.first() != Some(&0x7E) {
            bytes.insert(0, 0x7E);
        }
        if bytes.last() != Some(&0x7E) || bytes.len() < 2 {
            bytes.push(0x7E);
        }
        let check = &r["check"];
        let stuffed = check["byte_stuffed"] == json!(true);
        let got = HdlcFrame::from_flagged(&bytes);
        if check["ok"] == json!(true) && !stuffed {
            let f = got.unwrap_or_else(|e| panic!("{id}: valid frame rejected: {e}"));
            assert_eq!(usize::from(f.header().length), bytes.len() - 2, "{id}");
            accepted += 1;
        } else {
            // byte-stuffed test frames are not what meters send: literally read, they are bad
            let e = got.expect_err(id);
            if !stuffed {
                let allowed = allowed_kinds(check);
                assert!(
                    allowed.contains(&e.kind_name()),
                    "{id}: rejected as {} ({e}), checker found {check}",
                    e.kind_name()
                );
            }
            rejected += 1;
        }
    }
    assert!(accepted >= 240, "{accepted}");
    assert!(rejected >= 70, "{rejected}");
}

fn split_golden(data: &[u8]) -> Value {
    let mut s = FrameSplitter::new();
    let mut frames = Vec::new();
    let mut errors = Vec::new();
    let mut on = |e: Event<'_>| match e {
        Event::Frame(f) => frames.push(json!([f.offset, f.bytes.len()])),
        Event::Link(l) => panic!("an HDLC splitter reported a {:?} frame", l.kind),
        Event::Error(r) => errors.push(json!({
            "offset": r.offset,
            "length": r.length,
            "layer": r.layer(),
            "kind": r.kind(),
            "at": r.error.offset,
        })),
    };
    s.push(data, &mut on);
    s.finish(&mut on);
    let st = s.stats();
    json!({
        "stats": {
            "bytes_in": st.bytes_in,
            "frames_ok": st.frames_ok,
            "frames_bad_checksum": st.frames_bad_checksum,
            "frames_malformed": st.frames_malformed,
            "bytes_skipped": st.bytes_skipped,
        },
        "errors": errors,
        "frames": frames,
    })
}

#[test]
fn every_stream_splits_into_the_checkers_good_frames_and_matches_golden() {
    let dir = data_dir().join("streams");
    let golden_dir = data_dir().join("golden/streams");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 12);
    for p in paths {
        let name = p.file_stem().unwrap().to_str().unwrap().to_owned();
        let data = fs::read(&p).unwrap();
        let meta: Value =
            serde_json::from_str(&fs::read_to_string(p.with_extension("json")).unwrap()).unwrap();
        let out = split_golden(&data);
        assert_eq!(
            out["stats"]["frames_ok"], meta["scan"]["hdlc_good"],
            "{name}: good frames differ from the independent checker"
        );
        // chunked feeding gives the same output
        let mut s = FrameSplitter::new();
        let mut n = 0u64;
        for c in data.chunks(97) {
            s.push(c, |e| {
                if let Event::Frame(_) = e {
                    n += 1
                }
            });
        }
        s.finish(|_| {});
        assert_eq!(json!(n), meta["scan"]["hdlc_good"], "{name} chunked");
        let golden = golden_dir.join(format!("{name}.json"));
        if update {
            fs::create_dir_all(&golden_dir).unwrap();
            fs::write(&golden, serde_json::to_string(&out).unwrap() + "\n").unwrap();
        } else {
            let want: Value = serde_json::from_str(
                &fs::read_to_string(&golden)
                    .unwrap_or_else(|_| panic!("{name}: no golden file; run UPDATE_GOLDEN=1")),
            )
            .unwrap();
            assert_eq!(out, want, "{name}: output differs from golden");
        }
    }
}
