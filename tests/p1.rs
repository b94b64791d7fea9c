//! Every P1 record of tests/data/records/*.jsonl through the P1 layer: the stream splitter's
//! `classify` finds the telegram, `parse` accepts those with a good or absent CRC and rejects
//! the CRC mismatches with the P1 checksum error, and every value the record's source states
//! (`expected`) equals what was parsed — decimals compared exactly as integers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use hanport::p1::{
    classify, classify_last, parse, parse_lenient, parse_obis, CrcStatus, Decimal, Line,
    P1Candidate, P1Scanner, P1Telegram, Value, DEFAULT_MAX_LEN,
};
use hanport::{CheckField, ErrorKind, Layer};
use serde_json::Value as J;

#[path = "common/data.rs"]
mod data;
use data::unhex;

/// The P1 records.
fn records() -> Vec<J> {
    data::records()
        .into_iter()
        .filter(|r| r["format"] == "p1")
        .collect()
}

/// What the record says its bytes are.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// A telegram with a good CRC (value) or none.
    Good(Option<u16>),
    /// A CRC mismatch: (computed over the bytes, found after '!').
    CrcMismatch(u16, u16),
    /// Binary after a P1 header (an encrypted payload, captured with dropped bytes).
    NotATelegram,
    /// The telegram stops before its '!'.
    Truncated,
}

/// The records whose `check` fails for a reason other than a CRC mismatch, from their notes.
const NON_CRC_FAILURES: &[(&str, Want, &str)] = &[
    (
        "UtilitechAS__amsreader-firmware:kaifa_gh986-1.hex",
        Want::NotATelegram,
        "encrypted KFM5 payload after an ASCII header, captured with a serial overflow",
    ),
    (
        "UtilitechAS__amsreader-firmware:sagemcom_gh264-1.txt",
        Want::Truncated,
        "decrypted EST5 telegram saved without its last lines and '!'",
    ),
];

fn want(r: &J) -> Want {
    let id = r["id"].as_str().unwrap();
    let check = &r["check"];
    let hex16 = |k: &str| u16::from_str_radix(check[k].as_str().unwrap(), 16).unwrap();
    match check["crc_ok"].as_bool() {
        Some(true) => {
            assert!(check["ok"].as_bool().unwrap());
            Want::Good(Some(hex16("crc_found")))
        }
        Some(false) => Want::CrcMismatch(hex16("crc_expected"), hex16("crc_found")),
        None if check["ok"].as_bool() == Some(true) => Want::Good(None),
        None => {
            let (_, w, _) = NON_CRC_FAILURES
                .iter()
                .find(|(i, _, _)| *i == id)
                .unwrap_or_else(|| panic!("{id}: failing check without a known reason"));
            assert_eq!(check["error"], "no / ... ! envelope", "{id}");
            *w
        }
    }
}

/// Bytes after the telegram in the record (not part of it), by id.
const TRAILERS: &[(&str, &str)] = &[
    (
        "ndokter__dsmr_parser:TELEGRAM_ESY5Q3DB1024_V304",
        "EasyMeter: serial number line and 0xFF padding after '!' CR LF",
    ),
    (
        "ndokter__dsmr_parser:TELEGRAM_ESY5Q3DA1004_V304",
        "EasyMeter: serial number lines after '!' CR LF",
    ),
    (
        "UtilitechAS__amsreader-firmware:kaifa_gh1067-2.hex",
        "NUL padding after '!D770' CR LF",
    ),
];

/// An exact decimal `m × 10^e` from its text (`"9621.983"`, `"-0.5"`, `"7"`).
fn decimal_text(s: &str) -> (i128, i32) {
    let s = s.trim();
    assert!(!s.contains(['e', 'E']), "{s}");
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = format!("{int}{frac}");
    let m: i128 = digits.parse().unwrap();
    (if neg { -m } else { m }, -(frac.len() as i32))
}

/// `a` and `b` are the same number.
fn same(a: (i128, i32), b: (i128, i32)) -> bool {
    let e = a.1.min(b.1);
    let scale = |(m, x): (i128, i32)| m * 10i128.pow((x - e) as u32);
    scale(a) == scale(b)
}

fn as_pair(d: &Decimal<'_>) -> (i128, i32) {
    (i128::from(d.mantissa), i32::from(d.exponent))
}

struct Tally {
    values: usize,
    by_kind: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    /// The decimal of `group` of the line `code` equals `text` in `unit` (converted via the
    /// SI table when the line's unit differs, e.g. kW → W).
    fn decimal(
        &mut self,
        t: &P1Telegram<'_>,
        id: &str,
        code: &str,
        group: usize,
        text: &str,
        unit: Option<&str>,
    ) {
        let line = line(t, id, code);
        let g = line
            .group(group)
            .unwrap_or_else(|| panic!("{id} {code}: no group {group}"));
        let Value::Decimal(d) = g.value() else {
            panic!(
                "{id} {code}: group {group} {:?} is not a decimal",
                g.value()
            );
        };
        let got = match unit {
            Some(u) if u != d.unit => {
                let (want_shift, want_si) = hanport::p1::unit_si(u).unwrap();
                let si = d
                    .to_si()
                    .unwrap_or_else(|| panic!("{id} {code}: unit {}", d.unit));
                assert_eq!(si.unit, want_si, "{id} {code}");
                (
                    i128::from(si.mantissa),
                    i32::from(si.exponent) - i32::from(want_shift),
                )
            }
            _ => as_pair(&d),
        };
        assert!(
            same(got, decimal_text(text)),
            "{id} {code}: parsed {d:?}, source says {text} {unit:?}"
        );
        self.values += 1;
    }

    /// The raw text of the line's first group.
    fn text(&mut self, t: &P1Telegram<'_>, id: &str, code: &str, text: &str) {
        let g = line(t, id, code).group(0).unwrap();
        assert_eq!(g.raw, text.as_bytes(), "{id} {code}");
        self.values += 1;
    }
}

fn line<'a>(t: &P1Telegram<'a>, id: &str, code: &str) -> Line<'a> {
    let obis = parse_obis(code.as_bytes()).unwrap();
    t.get(obis)
        .unwrap_or_else(|| panic!("{id}: no line {code}"))
}

/// dsmr_parser's names for the codes its tests assert (OBIS facts, checked against the bytes).
fn dsmr_parser_code(name: &str) -> &'static str {
    match name {
        "P1_MESSAGE_HEADER" => "1-3:0.2.8",
        "P1_MESSAGE_TIMESTAMP" => "0-0:1.0.0",
        "ELECTRICITY_USED_TARIFF_1" => "1-0:1.8.1",
        "ELECTRICITY_USED_TARIFF_2" => "1-0:1.8.2",
        "ELECTRICITY_USED_TARIFF_3" => "1-0:1.8.3",
        "ELECTRICITY_USED_TARIFF_4" => "1-0:1.8.4",
        "ELECTRICITY_DELIVERED_TARIFF_1" => "1-0:2.8.1",
        "ELECTRICITY_DELIVERED_TARIFF_2" => "1-0:2.8.2",
        "ELECTRICITY_DELIVERED_TARIFF_3" => "1-0:2.8.3",
        "ELECTRICITY_DELIVERED_TARIFF_4" => "1-0:2.8.4",
        "ELECTRICITY_ACTIVE_TARIFF" => "0-0:96.14.0",
        "EQUIPMENT_IDENTIFIER" => "0-0:96.1.1",
        "EQUIPMENT_SERIAL_NUMBER" => "0-0:96.1.0",
        "COSEM_LOGICAL_DEVICE_NAME" => "0-0:42.0.0",
        "CURRENT_ELECTRICITY_USAGE" => "1-0:1.7.0",
        "CURRENT_ELECTRICITY_DELIVERY" => "1-0:2.7.0",
        "LONG_POWER_FAILURE_COUNT" => "0-0:96.7.9",
        "SHORT_POWER_FAILURE_COUNT" => "0-0:96.7.21",
        "VOLTAGE_SAG_L1_COUNT" => "1-0:32.32.0",
        "VOLTAGE_SAG_L2_COUNT" => "1-0:52.32.0",
        "VOLTAGE_SAG_L3_COUNT" => "1-0:72.32.0",
        "VOLTAGE_SWELL_L1_COUNT" => "1-0:32.36.0",
        "VOLTAGE_SWELL_L2_COUNT" => "1-0:52.36.0",
        "VOLTAGE_SWELL_L3_COUNT" => "1-0:72.36.0",
        "INSTANTANEOUS_VOLTAGE_L1" => "1-0:32.7.0",
        "INSTANTANEOUS_VOLTAGE_L2" => "1-0:52.7.0",
        "INSTANTANEOUS_VOLTAGE_L3" => "1-0:72.7.0",
        "INSTANTANEOUS_CURRENT_L1" => "1-0:31.7.0",
        "INSTANTANEOUS_CURRENT_L2" => "1-0:51.7.0",
        "INSTANTANEOUS_CURRENT_L3" => "1-0:71.7.0",
        "INSTANTANEOUS_ACTIVE_POWER_L1_POSITIVE" => "1-0:21.7.0",
        "INSTANTANEOUS_ACTIVE_POWER_L2_POSITIVE" => "1-0:41.7.0",
        "INSTANTANEOUS_ACTIVE_POWER_L3_POSITIVE" => "1-0:61.7.0",
        "INSTANTANEOUS_ACTIVE_POWER_L1_NEGATIVE" => "1-0:22.7.0",
        "INSTANTANEOUS_ACTIVE_POWER_L2_NEGATIVE" => "1-0:42.7.0",
        "INSTANTANEOUS_ACTIVE_POWER_L3_NEGATIVE" => "1-0:62.7.0",
        "ACTUAL_SWITCH_POSITION" => "0-0:96.3.10",
        "ACTUAL_TRESHOLD_ELECTRICITY" => "0-0:17.0.0",
        "ELECTRICITY_IMPORTED_TOTAL" => "1-0:1.8.0",
        "ELECTRICITY_EXPORTED_TOTAL" => "1-0:2.8.0",
        "ELECTRICITY_REACTIVE_IMPORTED_TOTAL" => "1-0:3.8.0",
        "ELECTRICITY_REACTIVE_EXPORTED_TOTAL" => "1-0:4.8.0",
        "ELECTRICITY_REACTIVE_TOTAL_Q1" => "1-0:5.8.0",
        "ELECTRICITY_REACTIVE_TOTAL_Q2" => "1-0:6.8.0",
        "ELECTRICITY_REACTIVE_TOTAL_Q3" => "1-0:7.8.0",
        "ELECTRICITY_REACTIVE_TOTAL_Q4" => "1-0:8.8.0",
        "ELECTRICITY_COMBINED" => "1-0:15.8.0",
        "INSTANTANEOUS_POWER_FACTOR_TOTAL" => "1-0:13.7.0",
        "INSTANTANEOUS_POWER_FACTOR_L1" => "1-0:33.7.0",
        "INSTANTANEOUS_POWER_FACTOR_L2" => "1-0:53.7.0",
        "INSTANTANEOUS_POWER_FACTOR_L3" => "1-0:73.7.0",
        "FREQUENCY" => "1-0:14.7.0",
        "INSTANTANEOUS_REACTIVE_POWER_Q1" => "1-0:5.7.0",
        "INSTANTANEOUS_REACTIVE_POWER_Q2" => "1-0:6.7.0",
        "INSTANTANEOUS_REACTIVE_POWER_Q3" => "1-0:7.7.0",
        "INSTANTANEOUS_REACTIVE_POWER_Q4" => "1-0:8.7.0",
        "FUSE_THRESHOLD_L1" => "1-0:31.4.0",
        "FUSE_THRESHOLD_L2" => "1-0:51.4.0",
        "FUSE_THRESHOLD_L3" => "1-0:71.4.0",
        other => panic!("no OBIS code known for dsmr_parser name {other}"),
    }
}

/// Strips one level of Python quotes: `'kWh'` / `"Hz"`.
fn unquote(s: &str) -> &str {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
        .unwrap_or_else(|| panic!("not a quoted string: {s}"))
}

/// `datetime.datetime(2017, 1, 2, 18, 20, 2, tzinfo=...)` against the line's timestamp: the
/// meter sends local time (W = UTC+1, S = UTC+2 in the Netherlands); a UTC datetime is
/// compared after adding that offset, a zoned one (Europe/Budapest) directly.
fn check_datetime(t: &P1Telegram<'_>, id: &str, code: &str, py: &str) {
    let inner = py
        .strip_prefix("datetime.datetime(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap();
    let (fields, tz) = inner.split_once(", tzinfo=").unwrap();
    let f: Vec<u32> = fields.split(", ").map(|x| x.parse().unwrap()).collect();
    let Value::Timestamp(ts) = line(t, id, code).value().unwrap() else {
        panic!("{id} {code}: not a timestamp");
    };
    let hour = match tz {
        "datetime.timezone.utc" => f[3] + if ts.dst == Some(true) { 2 } else { 1 },
        z if z.contains("Europe/") => f[3],
        z => panic!("{id}: unknown tzinfo {z}"),
    };
    assert!(hour < 24, "{id}: offset crosses midnight, extend the test");
    let got = [
        u32::from(ts.year),
        u32::from(ts.month),
        u32::from(ts.day),
        u32::from(ts.hour),
        u32::from(ts.minute),
        u32::from(ts.second),
    ];
    assert_eq!(got, [f[0], f[1], f[2], hour, f[4], f[5]], "{id} {code}");
}

/// Compares everything the record's `expected` states (counted in `tally`).
fn check_expected(r: &J, t: Option<&P1Telegram<'_>>, tally: &mut Tally, skipped: &mut Vec<String>) {
    let id = r["id"].as_str().unwrap();
    let expected = r["expected"].as_object().unwrap();
    for (kind, e) in expected {
        let before = tally.values;
        match kind.as_str() {
            "amsreader_golden" => {
                if e["decoded"] != 1 {
                    // amsreader could not decode it (CRC mismatch or truncated): no values stated
                    skipped.push(format!("{id}: amsreader_golden decoded=0"));
                    continue;
                }
                let t = t.unwrap_or_else(|| panic!("{id}: amsreader decoded it, we did not"));
                for (field, code, unit) in [
                    ("activeImport_W", "1-0:1.7.0", "W"),
                    ("activeExport_W", "1-0:2.7.0", "W"),
                    ("l1_V", "1-0:32.7.0", "V"),
                    ("l2_V", "1-0:52.7.0", "V"),
                    ("l3_V", "1-0:72.7.0", "V"),
                    ("l1_A", "1-0:31.7.0", "A"),
                    ("l2_A", "1-0:51.7.0", "A"),
                    ("l3_A", "1-0:71.7.0", "A"),
                    ("activeImportCounter_kWh", "1-0:1.8.0", "kWh"),
                ] {
                    let v = &e[field];
                    assert!(v.is_number(), "{id}: {field}");
                    tally.decimal(t, id, code, 0, &v.to_string(), Some(unit));
                }
                match &e["meterId"] {
                    J::String(s) if s.is_empty() => {}
                    v => tally.text(t, id, "0-0:96.1.0", v.to_string().trim_matches('"')),
                }
                for k in e.as_object().unwrap().keys() {
                    assert!(
                        [
                            "decoded",
                            "listType",
                            "meterType",
                            "activeImport_W",
                            "activeExport_W",
                            "l1_V",
                            "l2_V",
                            "l3_V",
                            "l1_A",
                            "l2_A",
                            "l3_A",
                            "activeImportCounter_kWh",
                            "meterId",
                            "_kind",
                            "_source"
                        ]
                        .contains(&k.as_str()),
                        "{id}: amsreader field {k} not compared"
                    );
                }
            }
            "esp-smart-meter test_main.cpp" => {
                let s = e.as_str().unwrap();
                if s.contains("asserted FALSE") {
                    assert!(t.is_none(), "{id}: the source rejects it, we accepted it");
                    tally.values += 1;
                } else {
                    esp_assert(t.unwrap(), id, s, tally);
                }
            }
            "dsmr_parser_test_assertions" => {
                let t = t.unwrap();
                for (name, a) in e.as_object().unwrap() {
                    if name == "_sources" {
                        continue;
                    }
                    let code = dsmr_parser_code(name);
                    let v = a["value"].as_str().unwrap();
                    if let Some(d) = v.strip_prefix("Decimal(").and_then(|s| s.strip_suffix(')')) {
                        let unit = a.get("unit").map(|u| unquote(u.as_str().unwrap()));
                        let line = line(t, id, code);
                        let got = line.value().and_then(|v| v.decimal()).unwrap();
                        assert_eq!(got.unit, unit.unwrap_or(""), "{id} {name}");
                        tally.decimal(t, id, code, 0, unquote(d), unit);
                    } else if v.starts_with("datetime.datetime(") {
                        check_datetime(t, id, code, v);
                        tally.values += 1;
                    } else if v.starts_with('\'') {
                        tally.text(t, id, code, unquote(v));
                    } else {
                        // a Python int
                        tally.decimal(t, id, code, 0, v, None);
                    }
                }
            }
            "crc" => {
                let t = t.unwrap();
                let crc = u16::from_str_radix(e.as_str().unwrap(), 16).unwrap();
                assert_eq!(t.crc, CrcStatus::Checked(crc), "{id}");
                tally.values += 1;
            }
            "is_valid" => {
                assert_eq!(t.is_some(), e.as_bool().unwrap(), "{id}");
                tally.values += 1;
            }
            "identification" => {
                assert_eq!(
                    t.unwrap().header.ident,
                    e.as_str().unwrap().as_bytes(),
                    "{id}"
                );
                tally.values += 1;
            }
            "end_line" => {
                assert_eq!(e, "!", "{id}");
                assert_eq!(t.unwrap().crc, CrcStatus::Unchecked, "{id}");
                tally.values += 1;
            }
            other => panic!("{id}: expected kind {other} not compared"),
        }
        *tally.by_kind.entry(kind.clone()).or_default() += tally.values - before;
    }
}

/// `TEST_ASSERT_EQUAL(473.789, jsonData["payload"]["KFM5KAIFA-METER"]["0-1:24.2.1"][1])`
fn esp_assert(t: &P1Telegram<'_>, id: &str, s: &str, tally: &mut Tally) {
    let args = s.strip_prefix("TEST_ASSERT_EQUAL(").unwrap();
    let (num, path) = args.split_once(", ").unwrap();
    let keys: Vec<&str> = path.split('"').skip(1).step_by(2).collect();
    assert_eq!(keys[0], "payload");
    let h = &t.header;
    let name = format!(
        "{}{}{}",
        h.flag,
        char::from(h.baud),
        String::from_utf8_lossy(h.ident).replace('\\', "_")
    );
    assert_eq!(keys[1], name, "{id}: header key");
    let index: usize = path
        .rsplit('[')
        .next()
        .unwrap()
        .trim_end_matches([']', ')'])
        .parse()
        .unwrap();
    tally.decimal(t, id, keys[2], index, num, None);
}

/// Types every group of every line; returns (well-formed lines, malformed lines, groups).
fn walk(t: &P1Telegram<'_>) -> (usize, usize, usize) {
    let (mut ok, mut bad, mut groups) = (0, 0, 0);
    for l in t.lines() {
        match l {
            Ok(l) => {
                ok += 1;
                assert_eq!(l.groups().count(), l.group_count);
                for g in l.groups() {
                    groups += 1;
                    let _ = g.value();
                    assert_eq!(&t.raw()[g.offset..g.offset + g.raw.len()], g.raw);
                }
            }
            Err(e) => {
                assert_eq!(e.layer, Layer::P1);
                assert!(matches!(e.kind, ErrorKind::Malformed(_)));
                bad += 1;
            }
        }
    }
    (ok, bad, groups)
}

#[test]
fn every_p1_record() {
    let records = records();
    assert!(records.len() >= 30, "only {} P1 records", records.len());
    let mut tally = Tally {
        values: 0,
        by_kind: Default::default(),
    };
    let mut skipped = Vec::new();
    let (mut good, mut crc_bad, mut other_bad, mut lines_total, mut groups_total) = (0, 0, 0, 0, 0);
    let mut malformed_lines = Vec::new();
    for r in &records {
        let id = r["id"].as_str().unwrap();
        let bytes = unhex(r["hex"].as_str().unwrap());
        assert!(r["text"].as_str().is_some_and(|s| !s.is_empty()), "{id}");
        let want = want(r);

        // the splitter: leading CR LF (Kamstrup) is outside the candidate
        let start = bytes.iter().position(|&b| b == b'/').unwrap();
        assert!(
            bytes[..start].iter().all(|b| b.is_ascii_whitespace()),
            "{id}: leading garbage"
        );
        let cand = &bytes[start..];
        let mut decision = classify(cand, DEFAULT_MAX_LEN);
        if decision == P1Candidate::NeedMore {
            decision = classify_last(cand, DEFAULT_MAX_LEN);
        }
        // chunking independence on the real bytes
        for step in [1, 3, 17, 64] {
            let mut sc = P1Scanner::new();
            let mut got = P1Candidate::NeedMore;
            let mut n = 0;
            while n < cand.len() && got == P1Candidate::NeedMore {
                n = (n + step).min(cand.len());
                got = sc.classify(&cand[..n], DEFAULT_MAX_LEN);
            }
            if got == P1Candidate::NeedMore {
                got = sc.classify_last(cand, DEFAULT_MAX_LEN);
            }
            assert_eq!(got, decision, "{id}: chunks of {step}");
        }

        let telegram: Option<P1Telegram<'_>> = match (want, decision) {
            (Want::Good(crc), P1Candidate::Telegram { len, crc: status }) => {
                let trailing = cand.len() - len;
                let expected_trailer = TRAILERS.iter().any(|(i, _)| *i == id);
                assert_eq!(
                    trailing > 0,
                    expected_trailer,
                    "{id}: {trailing} bytes after the telegram"
                );
                let want_status = crc.map_or(CrcStatus::Unchecked, CrcStatus::Checked);
                assert_eq!(status, want_status, "{id}");
                let t = parse(&cand[..len]).unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_eq!(t.crc, want_status, "{id}");
                good += 1;
                Some(t)
            }
            (Want::CrcMismatch(computed, found), P1Candidate::Bad { error, span }) => {
                let kind = ErrorKind::Checksum {
                    field: CheckField::P1Crc,
                    expected: computed,
                    found,
                };
                assert_eq!(error.kind, kind, "{id}");
                assert_eq!(error.layer, Layer::P1);
                let trailing = cand.len() - span;
                assert_eq!(
                    trailing > 0,
                    TRAILERS.iter().any(|(i, _)| *i == id),
                    "{id}: {trailing} trailing"
                );
                let e = parse(&cand[..span]).unwrap_err();
                assert_eq!(e.kind, kind, "{id}");
                assert_eq!(e.kind_name(), "bad_crc");
                // the damaged telegram is still readable for diagnostics
                let lenient = parse_lenient(&cand[..span]).unwrap();
                assert_eq!(lenient.crc, CrcStatus::Mismatch { computed, found });
                let (ok, bad, _) = walk(&lenient);
                assert!(ok > 10, "{id}");
                if bad > 0 {
                    malformed_lines.push(format!("{id}: {bad}"));
                }
                crc_bad += 1;
                None
            }
            (Want::NotATelegram, P1Candidate::NotATelegram) => {
                assert!(parse(cand).is_err());
                other_bad += 1;
                None
            }
            (Want::Truncated, P1Candidate::Bad { error, span }) => {
                assert!(matches!(error.kind, ErrorKind::Truncated { .. }), "{id}");
                assert_eq!(span, cand.len());
                assert_eq!(classify(cand, DEFAULT_MAX_LEN), P1Candidate::NeedMore);
                assert!(matches!(
                    parse(cand).unwrap_err().kind,
                    ErrorKind::Truncated { .. }
                ));
                other_bad += 1;
                None
            }
            (w, d) => panic!("{id}: record says {w:?}, classify says {d:?}"),
        };

        if let Some(t) = &telegram {
            let (ok, bad, groups) = walk(t);
            assert_eq!(bad, 0, "{id}: malformed lines in a good telegram");
            assert!(ok >= 5, "{id}");
            lines_total += ok;
            groups_total += groups;
        }
        check_expected(r, telegram.as_ref(), &mut tally, &mut skipped);
    }

    // the Kamstrup capture with `1-0:4:24.7.0` (bytes lost in a hex dump, hence also a bad CRC)
    assert_eq!(
        malformed_lines,
        ["UtilitechAS__amsreader-firmware:kamstrup_gh712-2.hex: 1"],
        "malformed lines"
    );
    println!(
        "P1 records: {} ({good} parsed with good/absent CRC, {crc_bad} CRC mismatches rejected, \
         {other_bad} other failures); {lines_total} lines / {groups_total} groups typed; \
         {} stated values compared",
        records.len(),
        tally.values
    );
    for (kind, n) in &tally.by_kind {
        println!("  {n:4} from {kind}");
    }
    for s in &skipped {
        println!("  no values stated: {s}");
    }
    assert_eq!(good + crc_bad + other_bad, records.len());
    assert!(tally.values >= 150, "only {} values compared", tally.values);
}

/// The malformed OBIS line of the Kamstrup capture is skipped, its neighbours are read.
#[test]
fn kamstrup_malformed_obis_line() {
    let r = records()
        .into_iter()
        .find(|r| r["id"] == "UtilitechAS__amsreader-firmware:kamstrup_gh712-2.hex")
        .unwrap();
    let bytes = unhex(r["hex"].as_str().unwrap());
    let t = parse_lenient(&bytes).unwrap();
    let items: Vec<_> = t.lines().collect();
    let bad: Vec<_> = items.iter().filter_map(|i| i.err()).collect();
    assert_eq!(bad.len(), 1);
    let at = bad[0].offset;
    assert!(
        bytes[at..].starts_with(b"1-0:4:24.7.0"),
        "{:?}",
        &bytes[at..at + 12]
    );
    let ok: Vec<_> = items.iter().filter_map(|i| i.ok()).collect();
    let i = ok
        .iter()
        .position(|l| l.obis_text() == b"1-0:22.7.0")
        .unwrap();
    assert_eq!(ok[i + 1].obis_text(), b"1-0:44.7.0");
    assert_eq!(
        ok[i + 1].value(),
        Some(Value::Decimal(Decimal {
            mantissa: 182,
            exponent: -3,
            unit: "kVAr"
        }))
    );
}

/// Timing on every good record (run with `--release -- --ignored --nocapture`): parse (CRC +
/// header) + all lines, and with every group typed.
#[test]
#[ignore = "timing"]
fn timing_on_records() {
    use std::hint::black_box;
    use std::time::Instant;
    let best = |f: &mut dyn FnMut() -> usize| {
        let mut best = f64::MAX;
        let mut acc = 0;
        for _ in 0..11 {
            let t0 = Instant::now();
            for _ in 0..5000 {
                acc += f();
            }
            best = best.min(t0.elapsed().as_nanos() as f64 / 5000.0);
        }
        black_box(acc);
        best
    };
    for r in records() {
        let bytes = unhex(r["hex"].as_str().unwrap());
        let start = bytes.iter().position(|&b| b == b'/').unwrap();
        let cand = &bytes[start..];
        let P1Candidate::Telegram { len, .. } = classify_last(cand, DEFAULT_MAX_LEN) else {
            continue;
        };
        let t = &cand[..len];
        let lines = best(&mut || parse(black_box(t)).unwrap().lines().count());
        let typed = best(&mut || {
            let tg = parse(black_box(t)).unwrap();
            tg.lines()
                .flatten()
                .flat_map(|l| l.groups())
                .filter(|g| matches!(g.value(), Value::Decimal(_)))
                .count()
        });
        let split = best(&mut || match classify(black_box(t), DEFAULT_MAX_LEN) {
            P1Candidate::Telegram { len, .. } => len,
            _ => 0,
        });
        println!(
            "{:>5} B {:>3} lines: classify {split:>5.0} ns, parse+lines {lines:>5.0} ns, \
             +values {typed:>5.0} ns  {}",
            len,
            parse(t).unwrap().lines().count(),
            r["id"].as_str().unwrap()
        );
    }
}
