//! The golden files of decoded telegrams (tests/data/golden/telegrams, written by
//! tests/test_golden.py, and tests/data/golden/intl, written by tests/test_golden_intl.py,
//! both through the Python API) checked against the Rust API directly: the same records must
//! give the same manufacturer, identifiers and objects (OBIS code, field, raw value, scaler,
//! unit, scaler source, scaled value), or the same error. For golden/intl the strict
//! `decode_frame` part is checked, decoded with the record's key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::fs;
use std::path::Path;

use hanport::decode::decode_frame_keyed;
use hanport::dlms::security::{KeyRing, Keys};
use hanport::{decode_frame, Data, Result, Telegram};
use serde_json::Value;

#[path = "common/data.rs"]
mod data;
use data::unhex as hex;

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn num_eq(got: f64, want: &Value) -> bool {
    let w = want.as_f64().unwrap();
    (got - w).abs() <= 1e-9 * w.abs().max(1.0)
}

fn check_data(id: &str, what: &str, d: &Data, want: &Value) {
    match d {
        Data::Int(v) => assert_eq!(want.as_i64(), Some(*v), "{id} {what}"),
        Data::UInt(v) => assert_eq!(want.as_u64(), Some(*v), "{id} {what}"),
        Data::Float(v) => assert!(num_eq(*v, want), "{id} {what}: {v} vs {want}"),
        Data::Text(s) => assert_eq!(want.as_str(), Some(s.as_str()), "{id} {what}"),
        Data::Bytes(b) => assert_eq!(want.as_str(), Some(hex_of(b).as_str()), "{id} {what}"),
        Data::Bool(b) => assert_eq!(want.as_bool(), Some(*b), "{id} {what}"),
        Data::Null => assert!(want.is_null(), "{id} {what}"),
        // ISO strings depend on the zone database; the Python test checks them
        Data::DateTime(_) => assert!(want.is_string() || want.is_null(), "{id} {what}"),
    }
}

/// The golden `want` (a telegram's dict or `{"error": ...}`) against what Rust decoded.
fn check_decoded(id: &str, want: &Value, got: Result<Telegram>) {
    match got {
        Err(err) => {
            assert_eq!(want["error"]["layer"], err.layer.name(), "{id}: {err}");
            assert_eq!(want["error"]["kind"], err.kind_name(), "{id}: {err}");
            assert_eq!(want["error"]["offset"], err.offset, "{id}: {err}");
        }
        Ok(tg) => {
            assert!(
                want.get("error").is_none(),
                "{id}: Rust decodes, golden has an error"
            );
            assert_eq!(
                want["manufacturer"].as_str(),
                tg.manufacturer.map(|m| m.name()),
                "{id}"
            );
            assert_eq!(want["list_id"].as_str(), tg.list_id.as_deref(), "{id}");
            assert_eq!(want["meter_id"].as_str(), tg.meter_id.as_deref(), "{id}");
            assert_eq!(
                want["meter_type"].as_str(),
                tg.meter_type.as_deref(),
                "{id}"
            );
            assert_eq!(
                want["meter_time"].is_null(),
                tg.meter_time.and_then(|t| t.fields()).is_none(),
                "{id}"
            );
            if let Some(title) = want.get("system_title") {
                let ours = tg.system_title.map(|t| hex_of(&t).to_uppercase());
                assert_eq!(title.as_str(), ours.as_deref(), "{id}");
            }
            if let Some(ic) = want.get("invocation_counter") {
                assert_eq!(ic.as_u64(), tg.invocation_counter.map(u64::from), "{id}");
            }
            let flags: Vec<&str> = tg.flags.names().collect();
            assert_eq!(want["flags"], serde_json::json!(flags), "{id}");
            let objs = want["objects"].as_array().unwrap();
            assert_eq!(objs.len(), tg.objects.len(), "{id}");
            for (o, w) in tg.objects.iter().zip(objs) {
                assert_eq!(w["obis"], o.obis.to_string(), "{id}");
                assert_eq!(w["field"].as_str(), o.quantity.map(|q| q.field()), "{id}");
                assert_eq!(w["scaler"], i64::from(o.scaler), "{id}");
                assert_eq!(w["unit"].as_str(), o.unit_name(), "{id}");
                assert_eq!(w["scaler_source"], o.scaler_source.name(), "{id}");
                check_data(id, "raw", &o.raw, &w["raw"]);
                check_data(id, "value", &o.value(), &w["value"]);
            }
        }
    }
}

fn key(hex_key: &Value) -> Option<[u8; 16]> {
    hex_key.as_str().map(|k| hex(k).try_into().unwrap())
}

#[test]
fn rust_decoder_agrees_with_every_golden_file() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut by_id = std::collections::HashMap::new();
    for r in data::records() {
        by_id.insert(r["id"].as_str().unwrap().to_owned(), r);
    }
    let mut checked = 0;
    for e in fs::read_dir(data.join("golden/telegrams")).unwrap() {
        let golden: Value =
            serde_json::from_str(&fs::read_to_string(e.unwrap().path()).unwrap()).unwrap();
        let id = golden["id"].as_str().unwrap();
        let bytes = hex(by_id[id]["hex"].as_str().unwrap());
        check_decoded(id, &golden["decoded"], decode_frame(&bytes));
        checked += 1;
    }
    assert!(checked >= 180, "{checked}");
}

#[test]
fn rust_decoder_agrees_with_every_intl_golden_file() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    // two records share an id (a raw capture and the frame cut out of it): key by id@format
    let mut by_name = std::collections::HashMap::new();
    for r in data::records() {
        let name = format!(
            "{}@{}",
            r["id"].as_str().unwrap(),
            r["format"].as_str().unwrap()
        );
        by_name.insert(name, r);
    }
    let mut checked = 0;
    let mut keyed = 0;
    for e in fs::read_dir(data.join("golden/intl")).unwrap() {
        let golden: Value =
            serde_json::from_str(&fs::read_to_string(e.unwrap().path()).unwrap()).unwrap();
        let name = format!(
            "{}@{}",
            golden["id"].as_str().unwrap(),
            golden["format"].as_str().unwrap()
        );
        let r = &by_name[&name];
        let bytes = hex(r["hex"].as_str().unwrap());
        let keys = match key(&r["key"]) {
            Some(ek) => {
                keyed += 1;
                KeyRing::for_any(Keys {
                    ek,
                    ak: key(&r["auth_key"]),
                })
            }
            None => KeyRing::new(),
        };
        let got = decode_frame_keyed(&bytes, &Default::default(), &keys);
        check_decoded(&name, &golden["frame"], got);
        checked += 1;
    }
    assert!(checked >= 250, "{checked}");
    assert!(keyed >= 35, "{keyed}");
}
