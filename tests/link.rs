//! Link-layer tests over the real captures in tests/data/records: M-Bus long frames and their
//! CI-field reassembly, General Block Transfer over HDLC (Landis+Gyr E450), HDLC S-bit
//! segmentation (Iskra) and the IEC 62056-47 wrapper (UDP pushes).
//!
//! Run with `--nocapture` to see the summary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::BTreeMap;

use hanport::dlms::apdu::{strip_llc, DataNotification};
use hanport::dlms::axdr;
use hanport::dlms::gbt::{announced_len, GbtBlock, GbtReassembler};
use hanport::dlms::security::{decrypt, CipheredApdu, KeyRing, Keys};
use hanport::dlms::wrapper::Wrapper;
use hanport::hdlc::segments::SegmentReassembler;
use hanport::hdlc::{Event, FrameSplitter, HdlcFrame};
use hanport::mbus::{
    classify, classify_final, MbusCandidate, MbusFrame, MbusReassembler, Transport,
};
use hanport::ErrorKind;
use serde_json::Value;

#[path = "common/data.rs"]
mod data;
use data::{records, unhex as hex};

fn id(r: &Value) -> &str {
    r["id"].as_str().unwrap()
}

fn bytes(r: &Value) -> Vec<u8> {
    hex(r["hex"].as_str().unwrap())
}

/// The keys of a record, if it has an encryption key.
fn keys(r: &Value) -> Option<KeyRing> {
    let ek = r["key"].as_str()?;
    let k = Keys::from_hex(ek, r["auth_key"].as_str()).unwrap();
    Some(KeyRing::for_any(k))
}

/// Decrypts a ciphered APDU and compares it with the record's reference plaintext.
fn check_plaintext(r: &Value, apdu: &[u8]) -> bool {
    let (Some(ring), Some(want)) = (keys(r), r["reference_decode"]["decrypted_apdu"].as_str())
    else {
        return false;
    };
    let (c, used) = CipheredApdu::parse(apdu).unwrap();
    assert_eq!(used, apdu.len(), "{}", id(r));
    let mut out = Vec::new();
    decrypt(&c, &ring, &mut out).unwrap();
    assert_eq!(out, hex(want), "{}: plaintext", id(r));
    true
}

/// A `DB` APDU has the length its own header announces: `DB 08 <title> <A-XDR length>`.
fn assert_db_length(apdu: &[u8], what: &str) {
    assert_eq!(apdu[0], 0xDB, "{what}");
    assert_eq!(apdu[1], 8, "{what}: system title length");
    let (len, head) = match apdu[10] {
        n if n < 0x80 => (usize::from(n), 11),
        0x81 => (usize::from(apdu[11]), 12),
        0x82 => (usize::from(apdu[11]) << 8 | usize::from(apdu[12]), 13),
        n => panic!("{what}: length byte {n:02X}"),
    };
    assert_eq!(head + len, apdu.len(), "{what}: announced length");
    assert_eq!(announced_len(apdu), Some(apdu.len()), "{what}");
}

/// A `0F` data-notification whose body decodes completely.
fn assert_notification_decodes(apdu: &[u8], what: &str) {
    let n = DataNotification::parse(apdu).unwrap_or_else(|e| panic!("{what}: {e}"));
    let (_, used) = axdr::decode(n.body).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(used, n.body.len(), "{what}: trailing bytes after the body");
}

/// The outcome of walking a buffer for M-Bus frames: frames `(offset, len)` and rejected
/// candidates `(offset, kind)`.
#[derive(Debug, Default, PartialEq)]
struct Walk {
    frames: Vec<(usize, usize)>,
    bad: Vec<(usize, &'static str)>,
}

/// Splits a complete buffer.
fn walk(buf: &[u8]) -> Walk {
    let mut w = Walk::default();
    let mut i = 0;
    while i < buf.len() {
        if buf[i] != 0x68 {
            i += 1;
            continue;
        }
        match classify_final(&buf[i..]) {
            MbusCandidate::Frame { len } => {
                w.frames.push((i, len));
                i += len;
            }
            MbusCandidate::Bad { error, .. } => {
                w.bad.push((i, error.kind_name()));
                i += 1;
            }
            MbusCandidate::NotAFrame => i += 1,
            MbusCandidate::NeedMore { .. } => unreachable!("classify_final never waits"),
        }
    }
    w
}

/// Splits a buffer that arrives in `chunk`-byte pieces, deciding as early as the bytes allow.
fn walk_chunked(data: &[u8], chunk: usize) -> Walk {
    let mut w = Walk::default();
    let mut have = 0;
    let mut i = 0;
    loop {
        have = (have + chunk).min(data.len());
        let ended = have == data.len();
        let buf = &data[..have];
        while i < buf.len() {
            if buf[i] != 0x68 {
                i += 1;
                continue;
            }
            let d = if ended {
                classify_final(&buf[i..])
            } else {
                classify(&buf[i..])
            };
            match d {
                MbusCandidate::NeedMore { needed } => {
                    assert!(needed > buf.len() - i);
                    break;
                }
                MbusCandidate::Frame { len } => {
                    w.frames.push((i, len));
                    i += len;
                }
                MbusCandidate::Bad { error, .. } => {
                    w.bad.push((i, error.kind_name()));
                    i += 1;
                }
                MbusCandidate::NotAFrame => i += 1,
            }
        }
        if ended {
            return w;
        }
    }
}

#[derive(Debug, Default)]
struct MbusSummary {
    records: usize,
    wire_records: usize,
    rejected_records: usize,
    frames: usize,
    wrapped_l: usize,
    messages: usize,
    pending_at_end: usize,
    discarded: usize,
    decrypted: usize,
    rejected_candidates: BTreeMap<&'static str, usize>,
}

#[test]
fn mbus_records_split_check_and_reassemble() {
    let mut s = MbusSummary::default();
    for r in records().iter().filter(|r| r["format"] == "mbus") {
        s.records += 1;
        let name = id(r);
        let data = bytes(r);
        let check = &r["check"];
        let w = walk(&data);
        for (_, kind) in &w.bad {
            *s.rejected_candidates.entry(kind).or_default() += 1;
        }
        for chunk in [1, 7, 64, 263] {
            assert_eq!(walk_chunked(&data, chunk), w, "{name}: chunk {chunk}");
        }
        let parts: Vec<&Value> = check["parts"].as_array().unwrap().iter().collect();
        let good: Vec<&Value> = parts.iter().copied().filter(|p| p["ok"] == true).collect();
        assert_eq!(w.frames.len(), good.len(), "{name}: {:?}", w);
        if check["ok"] == true {
            assert_eq!(
                w.frames.len() as u64,
                check["frames"].as_u64().unwrap(),
                "{name}"
            );
            s.wire_records += 1;
        } else {
            // firmware re-assemblies (68 00 00 68 / 68 01 01 68 without the bytes the length
            // claims), truncated captures and garbage: nothing may be accepted
            assert!(w.frames.is_empty(), "{name}");
            s.rejected_records += 1;
        }
        // The frames cover the record: wire records hold nothing but frames.
        if check["ok"] == true {
            assert_eq!(
                w.frames.iter().map(|f| f.1).sum::<usize>(),
                data.len(),
                "{name}"
            );
        }
        let mut frames = Vec::new();
        for (&(at, len), part) in w.frames.iter().zip(&good) {
            let f = MbusFrame::new_checked(&data[at..at + len]).unwrap();
            assert_eq!(
                f.length() as u64,
                part["L"].as_u64().unwrap(),
                "{name}@{at}"
            );
            assert_eq!(format!("{:02x}", f.control()), part["C"], "{name}@{at}");
            assert_eq!(format!("{:02x}", f.address()), part["A"], "{name}@{at}");
            assert_eq!(format!("{:02x}", f.ci()), part["CI"], "{name}@{at}");
            assert_eq!(
                f.wrapped_length(),
                part["nonstandard_16bit_length"] == true,
                "{name}@{at}"
            );
            s.wrapped_l += usize::from(f.wrapped_length());
            frames.push((at, f));
        }
        s.frames += frames.len();
        if frames.is_empty() {
            continue;
        }

        // reassembly
        let mut payload = 0;
        let mut fins = 0;
        let mut first_seq = None;
        for (_, f) in &frames {
            let (t, seg) = f.transport().unwrap();
            let Transport::Dlms(t) = t else {
                panic!("{name}: only DLMS transport headers on HAN ports")
            };
            assert_eq!((t.stsap, t.dtsap), (0x01, 0x67), "{name}");
            first_seq.get_or_insert(t.sequence);
            fins += usize::from(t.fin);
            payload += seg.len();
        }
        if let Some(want) = r["reference_decode"]["mbus_reassembled_payload_len"].as_u64() {
            assert_eq!(payload as u64, want, "{name}: payload bytes");
        }
        let mut re = MbusReassembler::new();
        let mut done = Vec::new();
        let mut discarded = Vec::new();
        for (at, f) in &frames {
            let p = re.push(f, *at as u64);
            if let Some(m) = p.complete {
                done.push((m.apdu.to_vec(), m.first_offset, m.last_offset, m.parts));
            }
            discarded.extend(p.discarded);
        }
        if first_seq == Some(0) {
            assert!(discarded.is_empty(), "{name}: {discarded:?}");
            assert_eq!(done.len(), fins, "{name}");
        } else {
            // kaifa_gh539-2: the second half of a push whose first half is another record
            assert_eq!(done.len(), 0, "{name}");
            assert_eq!(discarded.len(), 1, "{name}");
            assert!(matches!(
                discarded[0].error.kind,
                ErrorKind::Sequence { expected: 0, .. }
            ));
        }
        let last_fin = matches!(
            frames.last().unwrap().1.transport().unwrap().0,
            Transport::Dlms(t) if t.fin
        );
        assert_eq!(re.is_pending(), !last_fin, "{name}");
        s.pending_at_end += usize::from(re.is_pending());
        s.discarded += discarded.len();
        for (k, (apdu, first, last, parts)) in done.iter().enumerate() {
            let what = format!("{name} message {k}");
            assert!(
                matches!(apdu[0], 0xDB | 0x0F),
                "{what}: tag {:02X}",
                apdu[0]
            );
            if apdu[0] == 0xDB {
                assert_db_length(apdu, &what);
            }
            assert!(first <= last);
            assert!(*parts >= 1);
        }
        s.messages += done.len();
        if let Some((apdu, ..)) = done.first() {
            s.decrypted += usize::from(check_plaintext(r, apdu));
        }
    }
    println!("M-Bus: {s:?}");
    assert!(s.records >= 25, "{s:?}");
    assert!(s.wrapped_l >= 15, "{s:?}");
    assert!(s.decrypted >= 2, "{s:?}");
}

/// kaifa_gh539-1 (segment 0) and kaifa_gh539-2 (segment 1, FIN) fit together: their payloads
/// add up to the length the ciphered APDU in the first announces.
#[test]
fn the_two_vorarlberg_halves_fit_together() {
    let all = records();
    let find = |suffix: &str| {
        bytes(
            all.iter()
                .find(|r| id(r).ends_with(suffix))
                .unwrap_or_else(|| panic!("{suffix}")),
        )
    };
    let (a, b) = (find(":kaifa_gh539-1.hex"), find(":kaifa_gh539-2.hex"));
    let (fa, la) = MbusFrame::parse(&a).unwrap();
    let (fb, _) = MbusFrame::parse(&b).unwrap();
    let mut re = MbusReassembler::new();
    assert!(re.push(&fa, 0).is_idle());
    let p = re.push(&fb, la as u64);
    let m = p.complete.unwrap();
    assert_eq!(m.apdu.len(), 354);
    assert_db_length(m.apdu, "gh539-1 + gh539-2");
    assert_eq!((m.first_offset, m.last_offset, m.parts), (0, 256, 2));
}

/// The GBT blocks found by the HDLC splitter, as `(offset, wire length, had LLC, apdu)`.
fn gbt_frames(stream: &[u8]) -> Vec<(u64, u64, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let mut sp = FrameSplitter::new();
    let mut on = |ev: Event<'_>| match ev {
        Event::Frame(f) => {
            let info = f.information();
            let (apdu, llc) = strip_llc(info).unwrap();
            out.push((f.offset, f.bytes.len() as u64, llc == 3, apdu.to_vec()));
        }
        Event::Link(l) => panic!("an HDLC splitter reported a {:?} frame", l.kind),
        Event::Error(e) => panic!("{e:?}"),
    };
    sp.push(stream, &mut on);
    sp.finish(&mut on);
    out
}

/// Reassembles GBT blocks; returns the completed APDUs and whether a message is still open.
fn reassemble_gbt(blocks: &[(u64, u64, bool, Vec<u8>)]) -> (Vec<Vec<u8>>, bool) {
    let mut g = GbtReassembler::new();
    let mut out = Vec::new();
    for (off, len, _, apdu) in blocks {
        let p = g.push_apdu(apdu, *off, *len);
        assert!(p.discarded.is_none(), "{p:?}");
        if let Some(m) = p.complete {
            out.push(m.apdu.to_vec());
        }
    }
    (out, g.is_pending())
}

/// The group a single-frame GBT record belongs to and its place: `x#2` and `x-2.hex`.
fn gbt_group(name: &str) -> Option<(String, u32)> {
    if let Some((g, n)) = name.rsplit_once('#') {
        return Some((g.to_string(), n.parse().ok()?));
    }
    let stem = name.strip_suffix(".hex")?;
    let (g, n) = stem.rsplit_once('-')?;
    Some((format!("{g}.hex"), n.parse().ok()?))
}

#[test]
fn landis_gyr_general_block_transfer() {
    let all = records();
    let mut streams = 0;
    let mut stream_apdus: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // the raw streams with a reference reassembly
    for r in all
        .iter()
        .filter(|r| r["reference_decode"]["gbt"].is_object())
    {
        let name = id(r);
        let reference = &r["reference_decode"]["gbt"];
        let blocks = gbt_frames(&bytes(r));
        let want: Vec<&Value> = reference["blocks"].as_array().unwrap().iter().collect();
        assert_eq!(blocks.len(), want.len(), "{name}");
        for (k, ((_, _, llc, apdu), w)) in blocks.iter().zip(&want).enumerate() {
            // the LLC header only before the first block
            assert_eq!(*llc, k == 0, "{name} block {k}");
            let (b, used) = GbtBlock::parse(apdu).unwrap();
            assert_eq!(used, apdu.len(), "{name} block {k}");
            assert_eq!(format!("{:02x}", b.control()), w["block_control"], "{name}");
            assert_eq!(
                u64::from(b.block_number),
                w["block_number"].as_u64().unwrap()
            );
            assert_eq!(u64::from(b.block_number_ack), w["ack"].as_u64().unwrap());
            assert_eq!(b.data.len() as u64, w["len"].as_u64().unwrap());
            assert_eq!(b.last, k + 1 == want.len());
        }
        let (done, pending) = reassemble_gbt(&blocks);
        assert_eq!(done.len(), 1, "{name}");
        assert!(!pending);
        let apdu = &done[0];
        assert_eq!(
            apdu.len() as u64,
            reference["reassembled_len"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            format!("{:02x}", apdu[0]),
            r["reference_decode"]["dlms"]["apdu_tag"],
            "{name}"
        );
        match apdu[0] {
            0xDB => {
                assert_db_length(apdu, name);
                assert!(check_plaintext(r, apdu), "{name}: no key to compare");
            }
            _ => assert_notification_decodes(apdu, name),
        }
        stream_apdus.insert(name.to_string(), apdu.clone());
        streams += 1;
    }
    assert_eq!(streams, 3);

    // the single-frame records, grouped into their pushes
    let mut groups: BTreeMap<String, Vec<(u32, Vec<u8>)>> = BTreeMap::new();
    for r in all.iter().filter(|r| r["check"]["apdu_tag"] == "e0") {
        let (g, n) = gbt_group(id(r)).unwrap_or_else(|| panic!("{}", id(r)));
        groups.entry(g).or_default().push((n, bytes(r)));
    }
    let (mut complete, mut open, mut matched) = (0, 0, 0);
    for (g, mut members) in groups {
        members.sort();
        let mut blocks = Vec::new();
        let mut at = 0u64;
        for (k, (_, b)) in members.iter().enumerate() {
            let f = HdlcFrame::from_flagged(b).unwrap();
            let (apdu, llc) = strip_llc(f.information_slice()).unwrap();
            assert_eq!(llc == 3, k == 0, "{g}: LLC only before the first block");
            blocks.push((at, b.len() as u64, llc == 3, apdu.to_vec()));
            at += b.len() as u64;
        }
        let (done, pending) = reassemble_gbt(&blocks);
        match done.as_slice() {
            [] => {
                // landis-gyr_gh949: two blocks of three were captured
                assert!(pending, "{g}");
                open += 1;
            }
            [apdu] => {
                complete += 1;
                if let Some(s) = stream_apdus.get(&g) {
                    assert_eq!(apdu, s, "{g}: same as the raw stream");
                    matched += 1;
                }
                match apdu[0] {
                    0xDB => assert_db_length(apdu, &g),
                    0x0F => assert_notification_decodes(apdu, &g),
                    t => panic!("{g}: tag {t:02X}"),
                }
            }
            more => panic!("{g}: {} messages", more.len()),
        }
    }
    println!(
        "GBT: {streams} raw streams match their reference reassembly; single-frame groups: \
         {complete} complete ({matched} equal to their raw stream), {open} still open"
    );
    assert_eq!(matched, 3);
}

/// The layering a stream decoder uses: HDLC splitter → S-bit reassembly (unsegmented frames
/// pass through without a copy) → General Block Transfer → the APDU, all inside the splitter's
/// callback.
#[test]
fn splitter_segments_and_blocks_chain() {
    let all = records();
    for r in all
        .iter()
        .filter(|r| r["reference_decode"]["gbt"].is_object())
    {
        let mut seg = SegmentReassembler::new();
        let mut gbt = GbtReassembler::new();
        let mut apdus = Vec::new();
        let mut sp = FrameSplitter::new();
        let mut on = |ev: Event<'_>| {
            let Event::Frame(f) = ev else {
                panic!("{ev:?}")
            };
            let p = seg.push_frame(&f);
            assert!(p.discarded.is_none());
            let Some(m) = p.complete else { return };
            assert!(m.apdu.first() == Some(&0xE0));
            let len = m.end_offset - m.first_offset;
            let q = gbt.push_apdu(m.apdu, m.first_offset, len);
            assert!(q.discarded.is_none());
            if let Some(done) = q.complete {
                apdus.push((
                    done.apdu.to_vec(),
                    done.first_offset,
                    done.last_offset,
                    done.parts,
                ));
            }
        };
        sp.push(&bytes(r), &mut on);
        sp.finish(&mut on);
        assert_eq!(apdus.len(), 1, "{}", id(r));
        let (apdu, first, last, parts) = &apdus[0];
        let want = r["reference_decode"]["gbt"]["reassembled_len"]
            .as_u64()
            .unwrap();
        assert_eq!(apdu.len() as u64, want);
        assert_eq!((*first, *parts), (0, 3));
        assert!(*last > 0);
    }
}

#[test]
fn iskra_hdlc_segmentation() {
    let all = records();
    let find = |suffix: &str| {
        all.iter()
            .find(|r| id(r).ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix}"))
    };
    // Croatian Iskra IE.5: only the first segment was captured
    let first = bytes(find(":iskraemeco_gh1072-1.hex"));
    let f = HdlcFrame::from_flagged(&first).unwrap();
    assert!(f.segmented());
    assert_eq!(f.control(), 0x03);
    let mut re = SegmentReassembler::new();
    let p = re.push(f.information_slice(), f.segmented(), 0, first.len() as u64);
    assert!(p.is_idle(), "{p:?}");
    assert!(re.is_pending());
    assert_eq!(re.pending_len(), f.information().len() - 3);
    // what it holds is the start of the reconstructed payload in gh1072-2
    let merged = bytes(find(":iskraemeco_gh1072-2.hex"));
    assert!(merged.starts_with(&f.information()[3..]));

    // Iskra AM550 (esphome): all three segments, through the splitter
    let name = "hdlc_iskra550";
    let stream = bytes(find(&format!(":{name}")));
    let mut re = SegmentReassembler::new();
    let mut done = Vec::new();
    let mut waits = 0;
    let mut sp = FrameSplitter::new();
    let mut on = |ev: Event<'_>| match ev {
        Event::Frame(f) => {
            let p = re.push_frame(&f);
            assert!(p.discarded.is_none(), "{p:?}");
            match p.complete {
                Some(m) => done.push((m.apdu.to_vec(), m.parts, m.first_offset, m.last_offset)),
                None => waits += 1,
            }
        }
        Event::Link(l) => panic!("an HDLC splitter reported a {:?} frame", l.kind),
        Event::Error(e) => panic!("{e:?}"),
    };
    sp.push(&stream, &mut on);
    sp.finish(&mut on);
    assert_eq!(waits, 2);
    assert_eq!(done.len(), 1);
    let (apdu, parts, first, last) = &done[0];
    assert_eq!((*parts, *first, *last), (3, 0, 332));
    assert_notification_decodes(apdu, name);
    // the same from the three single-frame records
    let mut re = SegmentReassembler::new();
    let mut at = 0;
    let mut single = None;
    for k in 1..=3 {
        let b = bytes(find(&format!(":{name}#{k}")));
        let f = HdlcFrame::from_flagged(&b).unwrap();
        let p = re.push(f.information_slice(), f.segmented(), at, b.len() as u64);
        assert!(p.discarded.is_none());
        assert_eq!(p.complete.is_some(), k == 3);
        single = p.complete.map(|m| m.apdu.to_vec());
        at += b.len() as u64;
    }
    assert_eq!(single.as_ref(), Some(apdu));
    println!(
        "S-bit: gh1072-1 waits with {} bytes; {name} reassembles 3 segments into a {}-byte \
         data-notification (same from {name}#1..#3)",
        f.information().len() - 3,
        apdu.len()
    );
}

#[test]
fn udp_wrapper_records() {
    let mut n = 0;
    let mut decrypted = 0;
    for r in records().iter().filter(|r| r["format"] == "udp-wrapper") {
        let name = id(r);
        let data = bytes(r);
        let reference = &r["reference_decode"]["udp_wrapper"];
        let (w, used) = Wrapper::parse(&data).unwrap();
        assert_eq!(used, data.len(), "{name}");
        assert_eq!(format!("{:04x}", w.version), reference["version"]);
        assert_eq!(format!("{:04x}", w.source_port), reference["src_wport"]);
        assert_eq!(
            format!("{:04x}", w.destination_port),
            reference["dst_wport"]
        );
        assert_eq!(w.length() as u64, reference["length"].as_u64().unwrap());
        let at = r["reference_decode"]["udp_apdu_hex_offset"]
            .as_u64()
            .unwrap() as usize;
        assert_eq!(w.apdu, &data[at..], "{name}");
        assert_db_length(w.apdu, name);
        decrypted += usize::from(check_plaintext(r, w.apdu));
        n += 1;
    }
    println!("wrapper: {n} UDP records, {decrypted} decrypted to their reference plaintext");
    assert!(n >= 10);
}
