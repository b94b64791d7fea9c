//! Every encrypted record in tests/data/records (the ones with a published `key`) decrypted with
//! `hanport::dlms::security`: the ciphered APDU is dug out of its transport (HDLC + LLC, M-Bus
//! long frames, the IEC 62056-47 UDP wrapper, GBT blocks over several HDLC frames), its tag
//! verified where one is sent, and the plaintext compared with the record's reference decode.
//! A wrong key must give `Decryption` (or `NoKey`) and no error text may contain key bytes.
//!
//! Records that cannot be reached on their own: the `…#2` / `…#3` HDLC frames of a GBT-split
//! L&G E450 push carry only continuation blocks (no security header). They are decrypted as
//! part of their group (`…#1` + `…#2` + `…#3`, reassembled here in block-number order), the
//! same bytes as the matching `raw-stream` record, so every keyed record is reached.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::{BTreeMap, HashMap};

use hanport::dlms::security::{
    decrypt, CipheredApdu, CounterCheck, CounterTracker, KeyRing, Keys, Protection, TitleMatch,
    LUXEMBOURG_AK,
};
use hanport::hdlc::HdlcFrame;
use hanport::ErrorKind;
use serde_json::Value;

#[path = "common/data.rs"]
mod data;
use data::unhex as hex;

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn key16(s: &str) -> [u8; 16] {
    hex(s).try_into().unwrap()
}

fn strip_llc(b: &[u8]) -> &[u8] {
    match b {
        [0xE6, 0xE7, 0x00, rest @ ..] => rest,
        _ => b,
    }
}

/// Information fields of the HDLC frames in `stream` (back to back, each `7E … 7E`), checked.
fn hdlc_infos(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut infos = Vec::new();
    let mut p = 0;
    while p < stream.len() {
        assert_eq!(stream[p], 0x7E, "frame start at {p}");
        let len = (usize::from(stream[p + 1] & 0x07) << 8) | usize::from(stream[p + 2]);
        let frame = &stream[p..p + len + 2];
        let f = HdlcFrame::from_flagged(frame).unwrap();
        infos.push(f.information_slice().to_vec());
        p += len + 2;
    }
    infos
}

/// A-XDR length at the start of `b`: (value, bytes used).
fn axdr_len(b: &[u8]) -> (usize, usize) {
    match b[0] {
        n @ 0..=0x7F => (usize::from(n), 1),
        0x81 => (usize::from(b[1]), 2),
        0x82 => ((usize::from(b[1]) << 8) | usize::from(b[2]), 3),
        x => panic!("A-XDR length form {x:02X}"),
    }
}

/// APDUs of consecutive frames: GBT block data reassembled in block-number order when the first
/// starts with `E0`, otherwise the concatenation (HDLC S-bit segments).
fn reassemble(infos: &[Vec<u8>]) -> Vec<u8> {
    let apdus: Vec<&[u8]> = infos.iter().map(|i| strip_llc(i)).collect();
    if apdus[0].first() != Some(&0xE0) {
        return apdus.concat();
    }
    let mut blocks = BTreeMap::new();
    let mut last_seen = false;
    for a in apdus {
        assert_eq!(a[0], 0xE0, "GBT block");
        let control = a[1];
        let number = u16::from_be_bytes([a[2], a[3]]);
        let (len, used) = axdr_len(&a[6..]);
        let data = &a[6 + used..];
        assert_eq!(data.len(), len, "GBT block {number} length");
        blocks.insert(number, data.to_vec());
        last_seen |= control & 0x80 != 0;
    }
    assert!(last_seen, "GBT last block");
    let numbers: Vec<u16> = blocks.keys().copied().collect();
    assert_eq!(numbers, (1..=numbers.len() as u16).collect::<Vec<_>>());
    blocks.into_values().flatten().collect()
}

/// Segments of the M-Bus long frames in `stream` concatenated (`68 L L 68 C A CI STSAP DTSAP
/// <segment> CS 16`), trying `L` and `L + 256` (Sagemcom T210-D sends `L mod 256`).
fn mbus_payload(stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut p = 0;
    let mut expect_seq = 0;
    while p < stream.len() {
        let s = &stream[p..];
        assert!(
            s[0] == 0x68 && s[1] == s[2] && s[3] == 0x68,
            "M-Bus start at {p}"
        );
        let l = [usize::from(s[1]), usize::from(s[1]) + 256]
            .into_iter()
            .find(|&l| {
                s.len() >= l + 6
                    && s[4 + l + 1] == 0x16
                    && s[4..4 + l].iter().fold(0u8, |a, b| a.wrapping_add(*b)) == s[4 + l]
            })
            .unwrap_or_else(|| panic!("no M-Bus frame length fits at {p}"));
        let ci = s[6];
        assert_eq!(ci & 0x0F, expect_seq, "M-Bus segment sequence");
        expect_seq += 1;
        out.extend_from_slice(&s[9..4 + l]);
        p += l + 6;
        if ci & 0x10 != 0 {
            assert_eq!(p, stream.len(), "bytes after the last M-Bus segment");
        }
    }
    out
}

/// The ciphered APDU of a record, or why it cannot be reached.
fn ciphered_apdu(rec: &Value, by_id: &HashMap<String, Value>) -> Result<Vec<u8>, String> {
    let id = rec["id"].as_str().unwrap();
    let bytes = hex(rec["hex"].as_str().unwrap());
    match rec["format"].as_str().unwrap() {
        "apdu" => Ok(strip_llc(&bytes).to_vec()),
        "udp-wrapper" => {
            assert_eq!(&bytes[..2], &[0x00, 0x01], "{id}: wrapper version");
            let len = usize::from(u16::from_be_bytes([bytes[6], bytes[7]]));
            assert_eq!(len, bytes.len() - 8, "{id}: wrapper length");
            Ok(bytes[8..].to_vec())
        }
        "mbus" => Ok(mbus_payload(&bytes)),
        "raw-stream" => Ok(reassemble(&hdlc_infos(&bytes))),
        "hdlc" => {
            let infos = hdlc_infos(&bytes);
            match strip_llc(&infos[0]).first() {
                Some(0xDB | 0xDC) => Ok(reassemble(&infos)),
                Some(0xE0) => {
                    // a GBT-split push stored one frame per record: `base#1`, `base#2`, …
                    let (base, _) = id
                        .rsplit_once('#')
                        .ok_or_else(|| format!("{id}: a GBT block without siblings"))?;
                    let mut group = Vec::new();
                    for k in 1.. {
                        match by_id.get(&format!("{base}#{k}")) {
                            Some(r) => group.extend(hdlc_infos(&hex(r["hex"].as_str().unwrap()))),
                            None => break,
                        }
                    }
                    Ok(reassemble(&group))
                }
                other => Err(format!("{id}: information field starts with {other:02X?}")),
            }
        }
        f => Err(format!("{id}: format {f} not handled")),
    }
}

/// No key, in hex of either case, in `text`.
fn assert_no_key_bytes(id: &str, text: &str, keys: &[[u8; 16]]) {
    let lower = text.to_ascii_lowercase();
    for k in keys {
        assert!(!lower.contains(&hex_of(k)), "{id}: key bytes in {text:?}");
        // also the first 8 bytes on their own (a partial leak)
        assert!(
            !lower.contains(&hex_of(&k[..8])),
            "{id}: key bytes in {text:?}"
        );
    }
}

#[test]
fn every_keyed_record_decrypts() {
    let records = data::records();
    let by_id: HashMap<String, Value> = records
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    // format -> (encrypted records, decrypted)
    let mut summary: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut unreachable = Vec::new();
    let mut out = Vec::new();
    for rec in &records {
        let Some(key) = rec["key"].as_str() else {
            continue;
        };
        let id = rec["id"].as_str().unwrap();
        let format = rec["format"].as_str().unwrap().to_owned();
        summary.entry(format.clone()).or_default().0 += 1;
        let apdu = match ciphered_apdu(rec, &by_id) {
            Ok(a) => a,
            Err(why) => {
                unreachable.push(why);
                continue;
            }
        };
        let ek = key16(key);
        let ak = rec["auth_key"].as_str().map(key16);
        // a frame of a GBT-split push (`base#k`) shares the reference of its `base` record
        let rd = match id.rsplit_once('#') {
            Some((base, _)) if rec["reference_decode"]["decrypted_apdu"].is_null() => {
                &by_id[base]["reference_decode"]
            }
            _ => &rec["reference_decode"],
        };

        let (c, n) = CipheredApdu::parse(&apdu).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            n,
            apdu.len(),
            "{id}: the length field covers the APDU exactly"
        );
        let title = c.system_title.unwrap();
        let sc = c.security_control;
        if let Some(want) = rd["decryption"]["security_control"].as_str() {
            assert_eq!(format!("{:02x}", sc.bits()), want, "{id}: SC");
        }
        assert_eq!(c.tag.is_some(), sc.authenticated(), "{id}");

        // the record's keys, under its exact title (with a decoy wildcard that must not be used)
        let mut ring = KeyRing::new();
        ring.insert(TitleMatch::Any, Keys::new([0xA5; 16]));
        ring.insert(title, Keys { ek, ak });
        let d = decrypt(&c, &ring, &mut out).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            (d.system_title, d.invocation_counter),
            (title, c.invocation_counter)
        );
        if sc.authenticated() {
            assert!(d.authenticated, "{id}: tag must verify");
            assert_eq!(d.protection, Protection::AuthenticatedEncryption, "{id}");
            assert_eq!(d.luxembourg_ak, ak.is_none(), "{id}");
        } else {
            assert_eq!(d.protection, Protection::EncryptedOnly, "{id}");
        }
        if rd["decryption"]["tag_ok"] == Value::Bool(true) {
            assert!(d.authenticated, "{id}: reference says the tag verifies");
        }
        if let Some(want) = rd["decrypted_apdu"].as_str() {
            assert_eq!(hex_of(&out), want.to_ascii_lowercase(), "{id}: plaintext");
        } else if let Some(head) = rd["decryption"]["plaintext_head"].as_str() {
            assert!(out.starts_with(head.as_bytes()), "{id}: plaintext head");
        } else {
            panic!("{id}: no reference plaintext to compare with");
        }
        if let Some(start) = rd["decryption"]["plaintext_starts"].as_str() {
            assert!(hex_of(&out).starts_with(start), "{id}: plaintext start");
        }
        let plaintext = out.clone();

        // EK only: the Luxembourg AK is tried, else the plaintext comes unverified
        let d = decrypt(&c, &KeyRing::for_any(Keys::new(ek)), &mut out).unwrap();
        assert_eq!(out, plaintext, "{id}: EK only");
        if sc.authenticated() {
            let lux = ak == Some(LUXEMBOURG_AK) || ak.is_none();
            assert_eq!(d.authenticated, lux, "{id}");
            assert_eq!(d.luxembourg_ak, lux, "{id}");
            if !lux {
                assert_eq!(d.protection, Protection::EncryptedTagUnchecked, "{id}");
            }
        }

        // wrong keys: a Decryption error, never a plaintext
        let wrong_ek = ek.map(|b| b ^ 0x5A);
        let wrong_ak = ak.map(|k| k.map(|b| b ^ 0xC3));
        let mut all_keys = vec![ek, wrong_ek];
        all_keys.extend(ak);
        all_keys.extend(wrong_ak);
        for keys in [
            Keys {
                ek: wrong_ek,
                ak: wrong_ak,
            },
            Keys { ek: wrong_ek, ak },
            Keys::new(wrong_ek),
        ] {
            let e = decrypt(&c, &KeyRing::for_any(keys), &mut out).unwrap_err();
            assert!(
                matches!(e.kind, ErrorKind::Decryption { system_title, .. } if system_title == title),
                "{id}: {e}"
            );
            assert!(out.is_empty(), "{id}: no plaintext after a failure");
            assert_no_key_bytes(id, &format!("{e} {e:?}"), &all_keys);
        }
        if let Some(ak) = ak {
            // right EK, wrong AK: the tag fails
            let e = decrypt(
                &c,
                &KeyRing::for_any(Keys::with_ak(ek, ak.map(|b| b ^ 1))),
                &mut out,
            )
            .unwrap_err();
            if sc.authenticated() {
                assert!(matches!(e.kind, ErrorKind::Decryption { .. }), "{id}: {e}");
            }
            assert_no_key_bytes(id, &format!("{e} {e:?}"), &all_keys);
        }
        // no entry for this title
        let mut other = KeyRing::new();
        let mut other_title = title;
        other_title[7] ^= 0xFF;
        other.insert(other_title, Keys::new(ek));
        let e = decrypt(&c, &other, &mut out).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::NoKey {
                system_title: title
            },
            "{id}"
        );
        assert_no_key_bytes(id, &format!("{e} {e:?} {other:?}"), &all_keys);

        // a corrupted ciphertext byte: the tag catches it, or the plaintext changes
        let mut bad = apdu.clone();
        bad[c.ciphertext_offset] ^= 0x01;
        let (cb, _) = CipheredApdu::parse(&bad).unwrap();
        match decrypt(&cb, &ring, &mut out) {
            Err(e) => assert!(matches!(e.kind, ErrorKind::Decryption { .. }), "{id}: {e}"),
            Ok(_) => {
                assert!(!sc.authenticated(), "{id}: a corrupted frame authenticated");
                assert_ne!(out, plaintext, "{id}");
            }
        }

        summary.get_mut(&format).unwrap().1 += 1;
    }
    let mut total = (0, 0);
    for (format, (found, done)) in &summary {
        println!("security: {format:12} {done:3} of {found:3} encrypted records decrypted");
        total.0 += found;
        total.1 += done;
    }
    println!(
        "security: total {} of {} decrypted; unreachable: {unreachable:?}",
        total.1, total.0
    );
    assert!(unreachable.is_empty(), "{unreachable:?}");
    assert!(total.0 >= 38, "encrypted records found: {}", total.0);
    assert_eq!(total.0, total.1);
}

#[test]
fn invocation_counters_of_the_udp_pushes() {
    // u9n test_udp_message.py lines 6..18: the same meter, counters 0x1E5.. with one gap; line
    // 24 repeats the frame of line 6 (a replay)
    let records = data::records();
    let by_id: HashMap<String, Value> = records
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    let mut t = CounterTracker::new();
    let mut seen = Vec::new();
    for line in (6..=18).chain([24]) {
        let rec = &by_id[&format!("u9n__dlms-cosem:test_udp_message.py#L{line}")];
        let apdu = ciphered_apdu(rec, &by_id).unwrap();
        let (c, _) = CipheredApdu::parse(&apdu).unwrap();
        seen.push((
            c.invocation_counter,
            t.check(c.system_title.unwrap(), c.invocation_counter),
        ));
    }
    assert_eq!(seen[0], (0x1E5, CounterCheck::First));
    assert!(seen[1..13]
        .iter()
        .all(|(_, k)| matches!(k, CounterCheck::Next | CounterCheck::Gap { .. })));
    assert!(seen.contains(&(0x1EE, CounterCheck::Gap { missing: 1 })));
    assert_eq!(seen[13], (0x1E5, CounterCheck::Replay));
}
