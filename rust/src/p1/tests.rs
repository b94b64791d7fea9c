//! Unit tests of the P1 layer (telegrams from tests/data/records, PROTOCOL.md Appendix A.9).

#![allow(clippy::panic)]

use super::*;

/// Appendix A.9: amsreader frames/dsmr.raw, CRC 0x4760.
const ELL: &[u8] = b"/ELL5\\253833635_A\r\n\
\r\n\
0-0:1.0.0(241212201348W)\r\n\
1-0:1.8.0(00047522.278*kWh)\r\n\
1-0:2.8.0(00000000.001*kWh)\r\n\
1-0:3.8.0(00000059.039*kvarh)\r\n\
1-0:4.8.0(00012570.976*kvarh)\r\n\
1-0:1.7.0(0001.231*kW)\r\n\
1-0:2.7.0(0000.000*kW)\r\n\
1-0:3.7.0(0000.000*kvar)\r\n\
1-0:4.7.0(0000.451*kvar)\r\n\
1-0:21.7.0(0000.376*kW)\r\n\
1-0:41.7.0(0000.824*kW)\r\n\
1-0:61.7.0(0000.030*kW)\r\n\
1-0:22.7.0(0000.000*kW)\r\n\
1-0:42.7.0(0000.000*kW)\r\n\
1-0:62.7.0(0000.000*kW)\r\n\
1-0:23.7.0(0000.000*kvar)\r\n\
1-0:43.7.0(0000.000*kvar)\r\n\
1-0:63.7.0(0000.000*kvar)\r\n\
1-0:24.7.0(0000.072*kvar)\r\n\
1-0:44.7.0(0000.349*kvar)\r\n\
1-0:64.7.0(0000.029*kvar)\r\n\
1-0:32.7.0(232.8*V)\r\n\
1-0:52.7.0(233.5*V)\r\n\
1-0:72.7.0(238.5*V)\r\n\
1-0:31.7.0(001.8*A)\r\n\
1-0:51.7.0(004.0*A)\r\n\
1-0:71.7.0(000.1*A)\r\n\
!4760\r\n";

/// dsmr_parser TELEGRAM_V2_2: no CRC, DSMR 3 two-line gas reading.
const V22: &[u8] = b"/ISk5\\2MT382-1004\r\n\
\r\n\
0-0:96.1.1(00000000000000)\r\n\
1-0:1.8.1(00001.001*kWh)\r\n\
1-0:1.8.2(00001.001*kWh)\r\n\
1-0:2.8.1(00001.001*kWh)\r\n\
1-0:2.8.2(00001.001*kWh)\r\n\
0-0:96.14.0(0001)\r\n\
1-0:1.7.0(0001.01*kW)\r\n\
1-0:2.7.0(0000.00*kW)\r\n\
0-0:17.0.0(0999.00*kW)\r\n\
0-0:96.3.10(1)\r\n\
0-0:96.13.1()\r\n\
0-0:96.13.0()\r\n\
0-1:24.1.0(3)\r\n\
0-1:96.1.0(000000000000)\r\n\
0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n\
(00001.001)\r\n\
0-1:24.4.0(1)\r\n\
!\r\n";

/// dsmr_parser TELEGRAM_UNPADDED_CRC: `!B9F`.
const UNPADDED: &[u8] = b"/NWA-WARMTELINK\r\n\
\r\n\
1-3:0.2.8(50)\r\n\
0-0:1.0.0(260215200523W)\r\n\
0-0:96.1.1(ADC3100000158491)\r\n\
0-0:96.13.1()\r\n\
0-0:96.13.0()\r\n\
0-1:24.1.0(004)\r\n\
0-1:96.1.0(621848012D2C0B0C)\r\n\
0-1:24.2.1(260215200523W)(240.860*GJ)\r\n\
!B9F\r\n";

/// dsmr_parser TELEGRAM_FLUVIUS_V171: Belgian demand registers, two M-Bus devices.
const FLUVIUS: &[u8] = b"/FLU5\\253769484_A\r\n\
\r\n\
0-0:96.1.4(50217)\r\n\
0-0:96.1.1(3153414733313031303231363035)\r\n\
0-0:1.0.0(200512135409S)\r\n\
1-0:1.8.1(000000.034*kWh)\r\n\
1-0:1.8.2(000015.758*kWh)\r\n\
1-0:2.8.1(000000.000*kWh)\r\n\
1-0:2.8.2(000000.011*kWh)\r\n\
1-0:1.4.0(02.351*kW)\r\n\
1-0:1.6.0(200509134558S)(02.589*kW)\r\n\
0-0:98.1.0(3)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kW)(200401000000S)(200305122139S)(05.980*kW)(200301000000S)(200210035421W)(04.318*kW)\r\n\
0-0:96.14.0(0001)\r\n\
1-0:1.7.0(00.000*kW)\r\n\
1-0:2.7.0(00.000*kW)\r\n\
1-0:21.7.0(00.000*kW)\r\n\
1-0:41.7.0(00.000*kW)\r\n\
1-0:61.7.0(00.000*kW)\r\n\
1-0:22.7.0(00.000*kW)\r\n\
1-0:42.7.0(00.000*kW)\r\n\
1-0:62.7.0(00.000*kW)\r\n\
1-0:32.7.0(234.7*V)\r\n\
1-0:52.7.0(234.7*V)\r\n\
1-0:72.7.0(234.7*V)\r\n\
1-0:31.7.0(000.00*A)\r\n\
1-0:51.7.0(000.00*A)\r\n\
1-0:71.7.0(000.00*A)\r\n\
0-0:96.3.10(1)\r\n\
0-0:17.0.0(999.9*kW)\r\n\
1-0:31.4.0(999*A)\r\n\
0-0:96.13.0()\r\n\
0-1:24.1.0(003)\r\n\
0-1:96.1.1(37464C4F32313139303333373333)\r\n\
0-1:24.4.0(1)\r\n\
0-1:24.2.3(200512134558S)(00112.384*m3)\r\n\
0-2:24.1.0(007)\r\n\
0-2:96.1.1(3853414731323334353637383930)\r\n\
0-2:24.2.1(200512134558S)(00872.234*m3)\r\n\
!3AD7\r\n";

const MAX: usize = DEFAULT_MAX_LEN;

fn o(a: u8, b: u8, c: u8, d: u8, e: u8) -> Obis {
    Obis([a, b, c, d, e, 255])
}

fn dec(mantissa: i64, exponent: i8, unit: &str) -> Value<'_> {
    Value::Decimal(Decimal {
        mantissa,
        exponent,
        unit,
    })
}

fn ts(
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    dst: bool,
) -> Value<'static> {
    Value::Timestamp(Timestamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
        dst: Some(dst),
    })
}

/// Plain bitwise CRC-16/ARC written from the parameters, to check the table engine.
fn arc_bitwise(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

#[test]
fn crc_known_answer() {
    assert_eq!(crc16_arc(b"123456789"), 0xBB3D);
    assert_eq!(arc_bitwise(b"123456789"), 0xBB3D);
    let bang = ELL.iter().position(|&b| b == b'!').unwrap();
    assert_eq!(crc16_arc(&ELL[..=bang]), 0x4760);
    assert_eq!(arc_bitwise(&ELL[..=bang]), 0x4760);
    assert_eq!(crc16_arc(&FLUVIUS[..FLUVIUS.len() - 6]), 0x3AD7);
}

#[test]
fn parses_the_swedish_telegram() {
    let t = parse(ELL).unwrap();
    assert_eq!(t.header.flag, "ELL");
    assert_eq!(t.header.baud, b'5');
    assert_eq!(t.header.ident, b"\\253833635_A");
    assert_eq!(t.crc, CrcStatus::Checked(0x4760));
    let lines: Vec<_> = t.lines().collect::<Result<_>>().unwrap();
    assert_eq!(lines.len(), 27);
    assert_eq!(lines[0].obis, o(0, 0, 1, 0, 0));
    assert_eq!(lines[0].obis_text(), b"0-0:1.0.0");
    assert_eq!(lines[0].value(), Some(ts(2024, 12, 12, 20, 13, 48, false)));
    assert_eq!(lines[1].obis, o(1, 0, 1, 8, 0));
    assert_eq!(lines[1].value(), Some(dec(47522278, -3, "kWh")));
    assert_eq!(
        lines[1].offset,
        ELL.windows(9).position(|w| w == b"1-0:1.8.0").unwrap()
    );
    assert_eq!(lines[1].raw(), b"1-0:1.8.0(00047522.278*kWh)");
    assert_eq!(
        t.get(o(1, 0, 1, 7, 0)).unwrap().value(),
        Some(dec(1231, -3, "kW"))
    );
    assert_eq!(
        t.get(o(1, 0, 32, 7, 0)).unwrap().value(),
        Some(dec(2328, -1, "V"))
    );
    assert_eq!(
        t.get(o(1, 0, 71, 7, 0)).unwrap().value(),
        Some(dec(1, -1, "A"))
    );
    assert_eq!(
        t.get(o(1, 0, 4, 8, 0)).unwrap().value(),
        Some(dec(12570976, -3, "kvarh"))
    );
    let g = t.get(o(1, 0, 1, 8, 0)).unwrap().group(0).unwrap();
    assert_eq!(&ELL[g.offset..g.offset + g.raw.len()], g.raw);
    assert!(t.get(o(1, 0, 99, 7, 0)).is_none());
}

#[test]
fn unpadded_crc_and_no_crc() {
    let t = parse(UNPADDED).unwrap();
    assert_eq!(t.crc, CrcStatus::Checked(0x0B9F));
    assert_eq!(t.header.flag, "NWA");
    assert_eq!(t.header.baud, b'-');
    assert_eq!(t.header.ident, b"WARMTELINK");
    let heat = t.get(o(0, 1, 24, 2, 1)).unwrap();
    assert_eq!(heat.group_count, 2);
    assert_eq!(
        heat.group(0).unwrap().value(),
        ts(2026, 2, 15, 20, 5, 23, false)
    );
    assert_eq!(heat.group(1).unwrap().value(), dec(240860, -3, "GJ"));
    assert_eq!(
        heat.group(1).unwrap().value().decimal().unwrap().to_si(),
        Some(Decimal {
            mantissa: 240860,
            exponent: 6,
            unit: "J"
        })
    );
    assert!(matches!(
        classify(UNPADDED, MAX),
        P1Candidate::Telegram { len, crc: CrcStatus::Checked(0x0B9F) } if len == UNPADDED.len()
    ));

    let t = parse(V22).unwrap();
    assert_eq!(t.crc, CrcStatus::Unchecked);
    assert!(matches!(
        classify(V22, MAX),
        P1Candidate::Telegram { len, crc: CrcStatus::Unchecked } if len == V22.len()
    ));
}

#[test]
fn dsmr3_gas_value_on_the_next_line() {
    let t = parse(V22).unwrap();
    let lines: Vec<_> = t.lines().collect::<Result<_>>().unwrap();
    assert_eq!(lines.len(), 16);
    let gas = t.get(o(0, 1, 24, 3, 0)).unwrap();
    assert_eq!(gas.group_count, 7);
    let g: Vec<_> = gas.groups().map(|g| g.value()).collect();
    assert_eq!(g[0], dec(161107190000, 0, ""));
    assert_eq!(
        gas.group(0).unwrap().timestamp(),
        Some(Timestamp {
            year: 2016,
            month: 11,
            day: 7,
            hour: 19,
            minute: 0,
            second: 0,
            dst: None
        })
    );
    assert_eq!(g[1], dec(0, 0, ""));
    assert_eq!(g[2], dec(60, 0, ""));
    assert_eq!(g[4], Value::Obis(o(0, 1, 24, 2, 1)));
    assert_eq!(g[5], Value::Text(b"m3"));
    assert_eq!(g[6], dec(1001, -3, ""));
    assert_eq!(
        gas.raw(),
        b"0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n(00001.001)"
    );
    // the line after the continuation is found
    assert_eq!(
        t.get(o(0, 1, 24, 4, 0)).unwrap().value(),
        Some(dec(1, 0, ""))
    );
    // ids made of digits: typed as numbers, raw kept
    let id = t.get(o(0, 0, 96, 1, 1)).unwrap();
    assert_eq!(id.group(0).unwrap().raw, b"00000000000000");
    assert_eq!(
        t.get(o(0, 0, 96, 13, 1)).unwrap().value(),
        Some(Value::Empty)
    );
    assert_eq!(
        t.get(o(0, 0, 96, 14, 0)).unwrap().group(0).unwrap().raw,
        b"0001"
    );
}

#[test]
fn belgian_multi_group_lines() {
    let t = parse(FLUVIUS).unwrap();
    assert_eq!(t.crc, CrcStatus::Checked(0x3AD7));
    assert_eq!(t.lines().filter(|l| l.is_err()).count(), 0);
    let peak = t.get(o(1, 0, 1, 6, 0)).unwrap();
    let g: Vec<_> = peak.groups().map(|g| g.value()).collect();
    assert_eq!(g, [ts(2020, 5, 9, 13, 45, 58, true), dec(2589, -3, "kW")]);
    let hist = t.get(o(0, 0, 98, 1, 0)).unwrap();
    assert_eq!(hist.group_count, 12);
    let g: Vec<_> = hist.groups().map(|g| g.value()).collect();
    assert_eq!(g[0], dec(3, 0, ""));
    assert_eq!(g[1], Value::Obis(o(1, 0, 1, 6, 0)));
    assert_eq!(g[2], Value::Obis(o(1, 0, 1, 6, 0)));
    assert_eq!(g[3], ts(2020, 5, 1, 0, 0, 0, true));
    assert_eq!(g[4], ts(2020, 4, 23, 19, 25, 38, true));
    assert_eq!(g[5], dec(3695, -3, "kW"));
    assert_eq!(g[11], dec(4318, -3, "kW"));
    assert_eq!(g[10], ts(2020, 2, 10, 3, 54, 21, false));
    let gas = t.get(o(0, 1, 24, 2, 3)).unwrap();
    assert_eq!(gas.group(1).unwrap().value(), dec(112384, -3, "m3"));
    let water = t.get(o(0, 2, 24, 2, 1)).unwrap();
    assert_eq!(water.group(1).unwrap().value(), dec(872234, -3, "m3"));
    assert_eq!(
        t.get(o(0, 0, 96, 1, 1)).unwrap().value(),
        Some(Value::Text(b"3153414733313031303231363035"))
    );
    let mut buf = [0u8; 16];
    assert_eq!(
        decode_hex(b"3153414733313031303231363035", &mut buf),
        Some(&b"1SAG3101021605"[..])
    );
    assert_eq!(
        t.get(o(1, 0, 31, 7, 0)).unwrap().value(),
        Some(dec(0, -2, "A"))
    );
}

#[test]
fn power_failure_log() {
    let t = b"/XMX5LGBBFFB231314239\r\n\r\n\
1-0:99.97.0(2)(0-0:96.7.19)(170520130938S)(0000005627*s)(170325044014W)(0043178677*s)\r\n\
1-0:99.97.0(0)(0-0:96.7.19)\r\n\
!\r\n";
    let tg = parse(t).unwrap();
    let lines: Vec<_> = tg.lines().collect::<Result<_>>().unwrap();
    assert_eq!(lines.len(), 2);
    let g: Vec<_> = lines[0].groups().map(|g| g.value()).collect();
    assert_eq!(
        g,
        [
            dec(2, 0, ""),
            Value::Obis(o(0, 0, 96, 7, 19)),
            ts(2017, 5, 20, 13, 9, 38, true),
            dec(5627, 0, "s"),
            ts(2017, 3, 25, 4, 40, 14, false),
            dec(43178677, 0, "s"),
        ]
    );
    assert_eq!(lines[1].group_count, 2);
}

#[test]
fn text_message_of_2048_hex_digits() {
    let msg: String = (0..1024)
        .map(|i| format!("{:02X}", 0x20 + i % 95))
        .collect();
    let mut t = format!("/ISK5\\2M550T-1012\r\n\r\n0-0:96.13.0({msg})\r\n1-0:1.8.1(1.5*kWh)\r\n!")
        .into_bytes();
    let crc = crc16_arc(&t);
    t.extend_from_slice(format!("{crc:04X}\r\n").as_bytes());
    assert!(matches!(classify(&t, MAX), P1Candidate::Telegram { len, .. } if len == t.len()));
    let tg = parse(&t).unwrap();
    let line = tg.get(o(0, 0, 96, 13, 0)).unwrap();
    assert_eq!(line.value(), Some(Value::Text(msg.as_bytes())));
    let mut out = [0u8; 1024];
    let text = decode_hex(msg.as_bytes(), &mut out).unwrap();
    assert_eq!(text[0], b' ');
    assert_eq!(text[94], b'~');
    assert_eq!(decode_hex(msg.as_bytes(), &mut [0u8; 1023]), None);
    assert_eq!(decode_hex(b"4", &mut out), None);
    assert_eq!(decode_hex(b"4G", &mut out), None);
    assert_eq!(
        tg.get(o(1, 0, 1, 8, 1)).unwrap().value(),
        Some(dec(15, -1, "kWh"))
    );
    // a telegram longer than max_len is a bad boundary, not a hang
    assert!(matches!(
        classify(&t, 1000),
        P1Candidate::Bad { span: 1000, .. }
    ));
}

#[test]
fn malformed_obis_line_is_skipped() {
    let t = b"/KAM5\r\n\r\n\
1-0:22.7.0(0000.000*kW)\r\n\
1-0:4:24.7.0(0000.000*kVAr)\r\n\
1-0:44.7.0(0000.182*kVAr)\r\n\
!\r\n";
    let tg = parse(t).unwrap();
    let items: Vec<_> = tg.lines().collect();
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[2].is_ok());
    let e = items[1].unwrap_err();
    assert_eq!(e.layer, Layer::P1);
    assert!(matches!(e.kind, ErrorKind::Malformed(_)));
    assert_eq!(e.offset, 9 + 25);
    assert_eq!(items[2].unwrap().value(), Some(dec(182, -3, "kVAr")));
}

#[test]
fn malformed_lines_of_every_kind() {
    for (body, n_ok) in [
        (&b"1-0:1.8.0(12\r\n1-0:2.8.0(1)\r\n"[..], 1),
        (b"1-0:1.8.0 (12)\r\n1-0:2.8.0(1)\r\n", 1),
        (b"1-0:1.8.0(12)x\r\n1-0:2.8.0(1)\r\n", 1),
        (b"1-0:1.8.0(1(2)\r\n1-0:2.8.0(1)\r\n", 1),
        (b"(12)\r\n1-0:2.8.0(1)\r\n", 1),
        (b"1-0:256.8.0(12)\r\n1-0:2.8.0(1)\r\n", 1),
        (b"1-0:1.8.0\r\n1-0:2.8.0(1)\r\n", 1),
        (b"1-0:1.8.0(1)\r\n1-0:2.8.0(1", 1),
        (b"1-0:1.8.0(1)\r1-0:2.8.0(1)\r\n", 0),
    ] {
        let mut t = b"/ABC5\r\n\r\n".to_vec();
        t.extend_from_slice(body);
        t.extend_from_slice(b"!\r\n");
        let tg = parse(&t).unwrap();
        let items: Vec<_> = tg.lines().collect();
        assert_eq!(items.iter().filter(|i| i.is_ok()).count(), n_ok, "{body:?}");
        assert!(items.iter().any(|i| i.is_err()), "{body:?}");
        for e in items.iter().filter_map(|i| i.err()) {
            assert!(e.offset <= t.len());
        }
    }
}

#[test]
fn last_line_without_line_end_and_f_group() {
    // Aidon manual style: "!" right after the last group; IEC 62056-21 style "*255".
    let t = b"/ESY5Q3DB1024 V3.04\r\n\r\n1-0:1.8.0*255(00052185.7825309*kWh)\r\n1-0:71.7.0(123.1*A)!\r\n";
    let tg = parse(t).unwrap();
    assert_eq!(tg.header.flag, "ESY");
    assert_eq!(tg.header.ident, b"Q3DB1024 V3.04");
    let lines: Vec<_> = tg.lines().collect::<Result<_>>().unwrap();
    assert_eq!(lines[0].obis, o(1, 0, 1, 8, 0));
    assert_eq!(lines[0].obis_text(), b"1-0:1.8.0*255");
    assert_eq!(lines[0].value(), Some(dec(521857825309, -7, "kWh")));
    assert_eq!(lines[1].value(), Some(dec(1231, -1, "A")));
    let t2 = b"/ABC5\r\n\r\n1-0:1.8.0.3(1)\r\n0-0:96.1.255*255(1ESY1313002565)\r\n!\r\n";
    let tg = parse(t2).unwrap();
    let lines: Vec<_> = tg.lines().collect::<Result<_>>().unwrap();
    assert_eq!(lines[0].obis, Obis([1, 0, 1, 8, 0, 3]));
    assert_eq!(lines[1].obis, Obis([0, 0, 96, 1, 255, 255]));
    assert_eq!(lines[1].value(), Some(Value::Text(b"1ESY1313002565")));
}

#[test]
fn value_typing() {
    assert_eq!(Value::of(b""), Value::Empty);
    assert_eq!(Value::of(b"00047522.278*kWh"), dec(47522278, -3, "kWh"));
    assert_eq!(Value::of(b"0001.231*kW"), dec(1231, -3, "kW"));
    assert_eq!(Value::of(b"232.8*V"), dec(2328, -1, "V"));
    assert_eq!(Value::of(b"006*A"), dec(6, 0, "A"));
    assert_eq!(Value::of(b"00013"), dec(13, 0, ""));
    assert_eq!(Value::of(b"-1.5*kW"), dec(-15, -1, "kW"));
    assert_eq!(Value::of(b"2147483647*s"), dec(2147483647, 0, "s"));
    assert_eq!(
        Value::of(b"999999999999999999"),
        dec(999_999_999_999_999_999, 0, "")
    );
    // too long for i64, odd forms, non-numbers: text as sent
    for t in [
        &b"3960221976967177082151037881335713"[..],
        b"4B384547303034303436333935353037",
        b"12.",
        b"1..2",
        b"1.2.3",
        b"*kW",
        b"12*",
        b"12*k W",
        b"20240111 09:35:00",
        b"632525252525W",
        b"m3",
        b"3134<redacted>",
        b"-",
        b"1-0:4:24.7.0",
    ] {
        assert_eq!(Value::of(t), Value::Text(t), "{t:?}");
    }
    assert_eq!(
        Value::of(b"241212201348W"),
        ts(2024, 12, 12, 20, 13, 48, false)
    );
    assert_eq!(
        Value::of(b"200509134558S"),
        ts(2020, 5, 9, 13, 45, 58, true)
    );
    assert_eq!(Value::of(b"000101000001W"), ts(2000, 1, 1, 0, 0, 1, false));
    assert_eq!(Value::of(b"0-0:96.7.19"), Value::Obis(o(0, 0, 96, 7, 19)));
    assert_eq!(Value::of(b"1-0:1.8.0.255"), Value::Obis(o(1, 0, 1, 8, 0)));
    assert_eq!(Timestamp::parse(b"161107190000").unwrap().dst, None);
    assert_eq!(Timestamp::parse(b"161107190000X"), None);
    assert_eq!(Timestamp::parse(b"161307190000"), None);
    assert_eq!(Timestamp::parse(b"16110719000"), None);
}

#[test]
fn decimals_and_units() {
    let d = Decimal {
        mantissa: 47522278,
        exponent: -3,
        unit: "kWh",
    };
    let si = d.to_si().unwrap();
    assert_eq!(
        si,
        Decimal {
            mantissa: 47522278,
            exponent: 0,
            unit: "Wh"
        }
    );
    assert_eq!(si.rescale(0), Some(47522278));
    assert_eq!(d.rescale(-3), Some(47522278));
    assert_eq!(d.rescale(-4), Some(475222780));
    assert_eq!(d.rescale(-2), None);
    assert_eq!(
        Decimal {
            mantissa: 4000,
            exponent: -3,
            unit: ""
        }
        .rescale(0),
        Some(4)
    );
    assert_eq!(
        Decimal {
            mantissa: i64::MAX,
            exponent: 0,
            unit: ""
        }
        .rescale(-1),
        None
    );
    assert_eq!(
        Decimal {
            mantissa: 1,
            exponent: -100,
            unit: ""
        }
        .rescale(0),
        None
    );
    assert_eq!(d.to_f64(), 47522.278);
    assert_eq!(
        Decimal {
            mantissa: 2328,
            exponent: -1,
            unit: "V"
        }
        .to_f64(),
        232.8
    );
    assert_eq!(
        Decimal {
            mantissa: 12,
            exponent: 2,
            unit: ""
        }
        .to_f64(),
        1200.0
    );
    for (u, shift, si) in [
        ("kWh", 3, "Wh"),
        ("Wh", 0, "Wh"),
        ("kW", 3, "W"),
        ("W", 0, "W"),
        ("kvarh", 3, "varh"),
        ("kVArh", 3, "varh"),
        ("varh", 0, "varh"),
        ("kvar", 3, "var"),
        ("kVAr", 3, "var"),
        ("var", 0, "var"),
        ("V", 0, "V"),
        ("A", 0, "A"),
        ("m3", 0, "m3"),
        ("GJ", 9, "J"),
        ("s", 0, "s"),
        ("Hz", 0, "Hz"),
        ("kVA", 3, "VA"),
    ] {
        assert_eq!(unit_si(u), Some((shift, si)), "{u}");
    }
    assert_eq!(unit_si(""), None);
    assert_eq!(unit_si("furlong"), None);
    assert_eq!(
        Decimal {
            mantissa: 1,
            exponent: 127,
            unit: "kW"
        }
        .to_si(),
        None,
        "exponent overflow"
    );
}

#[test]
fn obis_text() {
    assert_eq!(parse_obis(b"1-0:1.8.0"), Some(o(1, 0, 1, 8, 0)));
    assert_eq!(parse_obis(b"0-1:24.2.1"), Some(o(0, 1, 24, 2, 1)));
    assert_eq!(parse_obis(b"1-3:0.2.8"), Some(o(1, 3, 0, 2, 8)));
    assert_eq!(parse_obis(b"1-0:1.8.0*255"), Some(o(1, 0, 1, 8, 0)));
    assert_eq!(
        parse_obis(b"1-0:1.8.0.101"),
        Some(Obis([1, 0, 1, 8, 0, 101]))
    );
    for bad in [
        &b"1-0:4:24.7.0"[..],
        b"1-0:1.8",
        b"1-0:1.8.",
        b"1-0:1.8.0.",
        b"1-0:1.8.0.256",
        b"1-0:1.8.0x",
        b"1-0:1234.8.0",
        b"-0:1.8.0",
        b"",
    ] {
        assert_eq!(parse_obis(bad), None, "{bad:?}");
    }
}

#[test]
fn header_with_stx_and_leading_bytes() {
    let t = b"/ISk5\x02MIE5T-200\r\n\r\n1-0:0.0.0(00000000)\r\n!\r\n";
    assert!(matches!(classify(t, MAX), P1Candidate::Telegram { len, .. } if len == t.len()));
    let tg = parse(t).unwrap();
    assert_eq!(tg.header.flag, "ISk");
    assert_eq!(tg.header.ident, b"\x02MIE5T-200");
    // parse wants the telegram itself: leading CR LF or trailing NULs are the splitter's
    assert!(parse(b"\r\n/ABC5\r\n\r\n!\r\n").is_err());
    assert!(parse(b"/ABC5\r\n\r\n!\r\n\0").is_err());
    assert!(parse(b"/ABC5\r\n\r\n!\r\n").is_ok());
    assert!(parse(b"/ABC5\n\n1-0:1.8.0(1)\n!\n").is_ok());
    assert!(parse(b"/AB5\r\n\r\n!\r\n").is_err());
    assert!(parse(b"/A1C5\r\n\r\n!\r\n").is_err());
    assert!(parse(b"/ABC\r\n\r\n!\r\n").is_err());
    assert!(parse(b"/ABC5\x01\r\n\r\n!\r\n").is_err());
    assert!(parse(b"/ABC5!\r\n").is_err());
    assert!(parse(b"").is_err());
}

#[test]
fn crc_mismatch() {
    let mut t = ELL.to_vec();
    let at = t.windows(4).position(|w| w == b"4760").unwrap();
    t[at + 3] = b'1';
    let e = parse(&t).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Checksum {
            field: crate::error::CheckField::P1Crc,
            expected: 0x4760,
            found: 0x4761
        }
    );
    assert_eq!(e.offset, at);
    assert_eq!(e.kind_name(), "bad_crc");
    let lenient = parse_lenient(&t).unwrap();
    assert_eq!(
        lenient.crc,
        CrcStatus::Mismatch {
            computed: 0x4760,
            found: 0x4761
        }
    );
    assert_eq!(lenient.lines().count(), 27);
    match classify(&t, MAX) {
        P1Candidate::Bad { error, span } => {
            assert_eq!(error, e);
            assert_eq!(span, t.len());
        }
        other => panic!("{other:?}"),
    }
    // a corrupted data byte
    let mut t = ELL.to_vec();
    t[40] ^= 0x01;
    assert!(matches!(
        parse(&t).unwrap_err().kind,
        ErrorKind::Checksum { .. }
    ));
}

#[test]
fn terminator_forms() {
    let base = b"/ABC5\r\n\r\n1-0:1.8.0(1)\r\n!";
    let crc = crc16_arc(base);
    let hex4 = format!("{crc:04X}");
    let hex_short = format!("{crc:X}");
    let ok = |tail: &str| {
        let mut t = base.to_vec();
        t.extend_from_slice(tail.as_bytes());
        t
    };
    for tail in [
        format!("{hex4}\r\n"),
        format!("{hex4}\n"),
        hex4.clone(),
        format!("{}\r\n", hex4.to_lowercase()),
        "\r\n".into(),
        "\n".into(),
    ] {
        let t = ok(&tail);
        assert!(parse(&t).is_ok(), "{tail:?}");
        assert!(
            matches!(classify_last(&t, MAX), P1Candidate::Telegram { len, .. } if len == t.len()),
            "{tail:?}"
        );
    }
    if hex_short.len() < 4 {
        let t = ok(&format!("{hex_short}\r\n"));
        assert!(parse(&t).is_ok());
    }
    for tail in [
        "".to_string(),
        hex4[..3].to_string(),
        format!("{hex4}\r"),
        format!("{hex4}0\r\n"),
        "\r".into(),
        "x\r\n".into(),
        format!("{hex4} \r\n"),
    ] {
        let t = ok(&tail);
        assert!(parse(&t).is_err(), "{tail:?}");
    }
    // what follows 4 CRC digits without a line end is not part of the telegram
    let mut t = ok(&hex4);
    let n = t.len();
    t.extend_from_slice(b"/ABC5");
    assert!(matches!(classify(&t, MAX), P1Candidate::Telegram { len, .. } if len == n));
    let mut t = ok(&hex4);
    t.extend_from_slice(b"\0\r\n");
    assert!(matches!(classify(&t, MAX), P1Candidate::Telegram { len, .. } if len == n));
    let mut t = ok(&hex4);
    t.extend_from_slice(b"\r/");
    assert!(matches!(classify(&t, MAX), P1Candidate::Telegram { len, .. } if len == n));
    // 0-3 digits need a line end
    let t = ok("12/");
    assert!(matches!(classify(&t, MAX), P1Candidate::Bad { span, .. } if span == t.len() - 1));
    let t = ok("\r/");
    assert!(matches!(classify(&t, MAX), P1Candidate::Bad { .. }));
    // at the end of the stream
    assert!(matches!(
        classify_last(&ok(&format!("{hex4}\r")), MAX),
        P1Candidate::Telegram { len, .. } if len == base.len() + 4
    ));
    for tail in ["", "12", "\r"] {
        assert!(matches!(
            classify_last(&ok(tail), MAX),
            P1Candidate::Bad {
                error: Error {
                    kind: ErrorKind::Truncated { .. },
                    ..
                },
                ..
            }
        ));
    }
}

/// Every byte-prefix of a telegram: `NeedMore` from `classify`, an error from `parse` (except
/// the prefix that ends right after 4 CRC digits: the telegram without its line end is
/// complete), never a panic.
#[test]
fn truncated_prefixes() {
    for t in [ELL, V22, UNPADDED, FLUVIUS] {
        let complete_at = t.len() - 2; // "...!XXXX" without CR LF
        for n in 0..t.len() {
            let p = &t[..n];
            assert_eq!(classify(p, MAX), P1Candidate::NeedMore, "prefix {n}");
            let mut s = P1Scanner::new();
            assert_eq!(s.classify(p, MAX), P1Candidate::NeedMore);
            let r = parse(p);
            let r2 = parse_lenient(p);
            if n == complete_at && t[n - 5] == b'!' {
                assert!(r.is_ok(), "prefix {n}");
                assert_eq!(
                    r.unwrap().lines().count(),
                    parse(t).unwrap().lines().count()
                );
            } else {
                assert!(r.is_err(), "prefix {n} of {} parsed", t.len());
                assert!(r2.is_err(), "lenient prefix {n}");
            }
            let last = classify_last(p, MAX);
            assert_ne!(last, P1Candidate::NeedMore);
            if (n == complete_at || n == complete_at + 1) && t[complete_at - 5] == b'!' {
                // "!XXXX" or "!XXXX\r" at the end of the stream: complete without the line end
                assert!(matches!(last, P1Candidate::Telegram { len, .. } if len == complete_at));
            } else if n == 0 {
                assert_eq!(last, P1Candidate::NotATelegram);
            } else {
                assert!(
                    matches!(
                        last,
                        P1Candidate::Bad { error: Error { kind: ErrorKind::Truncated { .. }, .. }, span } if span == n
                    ),
                    "prefix {n}: {last:?}"
                );
            }
        }
        assert!(matches!(classify(t, MAX), P1Candidate::Telegram { len, .. } if len == t.len()));
    }
}

#[test]
fn stray_slash_in_binary_is_rejected_at_once() {
    for junk in [
        &b"/\x00"[..],
        b"/\xff",
        b"/1",
        b"/ ",
        b"/A\x7e",
        b"/AB\x00",
        b"/ABC\r",
        b"/ABC\x00",
        b"/ABC/",
        b"/ABC5\x00",
        b"/ABC5xyz\x81",
        b"/ABC5xyz\r\x00",
        b"/ABC5\r\n\r\n\x00\x82\x02\x8f",
        b"/ABC5\r\n\r\n1-0:1.8.0(1\x02",
        b"/ABC5\r\n1\x7f",
    ] {
        assert_eq!(classify(junk, MAX), P1Candidate::NotATelegram, "{junk:?}");
        assert_eq!(
            classify_last(junk, MAX),
            P1Candidate::NotATelegram,
            "{junk:?}"
        );
    }
    assert_eq!(classify(b"", MAX), P1Candidate::NeedMore);
    assert_eq!(classify(b"/", MAX), P1Candidate::NeedMore);
    assert_eq!(classify(b"x", MAX), P1Candidate::NotATelegram);
    // a header longer than MAX_HEADER
    let mut long = b"/ABC5".to_vec();
    long.resize(MAX_HEADER + 1, b'x');
    assert_eq!(classify(&long, MAX), P1Candidate::NotATelegram);
}

#[test]
fn new_slash_cuts_the_candidate_and_max_len() {
    let mut t = ELL[..200].to_vec();
    t.extend_from_slice(ELL);
    match classify(&t, MAX) {
        P1Candidate::Bad { error, span } => {
            assert_eq!(span, 200);
            assert_eq!(error.offset, 200);
            assert!(matches!(error.kind, ErrorKind::Malformed(_)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        classify(&t[200..], MAX),
        P1Candidate::Telegram { .. }
    ));
    // max_len
    let n = ELL.len();
    assert!(matches!(classify(ELL, n), P1Candidate::Telegram { len, .. } if len == n));
    for max in [n - 1, 100, 10, 1] {
        match classify(ELL, max) {
            P1Candidate::Bad { error, span } => {
                assert_eq!(span, max);
                assert!(matches!(error.kind, ErrorKind::Malformed(_)));
            }
            other => panic!("{max}: {other:?}"),
        }
        assert_eq!(classify(&ELL[..max], max), P1Candidate::NeedMore);
    }
    assert!(matches!(classify(ELL, 0), P1Candidate::Bad { span: 1, .. }));
}

/// Decisions depend only on the bytes: for every prefix the answer is `NeedMore` or the answer
/// for the whole buffer, and the resumable scanner fed any chunking agrees with a fresh scan.
#[test]
fn chunking_independence() {
    let mut streams: Vec<Vec<u8>> = Vec::new();
    for t in [ELL, V22, UNPADDED, FLUVIUS] {
        let mut s = t.to_vec();
        s.extend_from_slice(b"\0\0/KAM5");
        streams.push(s);
        streams.push(t[..t.len() - 2].to_vec());
        let mut bad = t.to_vec();
        let k = bad.len() / 2;
        bad[k] = b'#';
        streams.push(bad);
        let mut cut = t[..t.len() / 3].to_vec();
        cut.extend_from_slice(t);
        streams.push(cut);
        let mut bin = t[..30].to_vec();
        bin.push(0x90);
        streams.push(bin);
    }
    for s in &streams {
        for max in [MAX, 300] {
            let whole = classify(s, max);
            let whole_last = classify_last(s, max);
            if whole != P1Candidate::NeedMore {
                assert_eq!(whole_last, whole);
            }
            let mut first_decision = None;
            for n in 0..=s.len() {
                let r = classify(&s[..n], max);
                if r != P1Candidate::NeedMore {
                    first_decision.get_or_insert(n);
                    assert_eq!(r, whole, "prefix {n}");
                }
            }
            // resumable scanner, a few chunkings
            for step in [1usize, 2, 3, 7, 64, 1000] {
                let mut sc = P1Scanner::new();
                let mut got = P1Candidate::NeedMore;
                let mut n = 0;
                while n < s.len() {
                    n = (n + step).min(s.len());
                    got = sc.classify(&s[..n], max);
                    if got != P1Candidate::NeedMore {
                        break;
                    }
                }
                assert_eq!(got, whole, "step {step}");
                if got == P1Candidate::NeedMore {
                    assert_eq!(sc.classify_last(s, max), whole_last);
                }
                // idempotent after a decision
                assert_eq!(sc.classify(&s[..n], max), got);
            }
        }
    }
}

#[test]
fn scanner_restarts_on_a_shorter_buffer() {
    let mut sc = P1Scanner::new();
    assert_eq!(sc.classify(&ELL[..100], MAX), P1Candidate::NeedMore);
    assert_eq!(sc.classify(b"/\x00", MAX), P1Candidate::NotATelegram);
    sc.reset();
    assert!(matches!(
        sc.classify(ELL, MAX),
        P1Candidate::Telegram { .. }
    ));
}

/// Random bytes and random damage never panic (and never read out of bounds).
#[test]
fn hostile_inputs_do_not_panic() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet = b"/!()*.-:\r\n0123456789ABCDEFSWkWh\x02";
    for round in 0..3000 {
        let mut t: Vec<u8> = if round % 2 == 0 {
            FLUVIUS.to_vec()
        } else {
            V22.to_vec()
        };
        for _ in 0..(next() % 6) {
            let len = t.len() as u64;
            let i = (next() % len) as usize;
            match next() % 3 {
                0 => t[i] = alphabet[(next() % alphabet.len() as u64) as usize],
                1 => {
                    t.remove(i);
                }
                _ => t.insert(i, alphabet[(next() % alphabet.len() as u64) as usize]),
            }
        }
        if round % 3 == 0 {
            t.truncate((next() % (t.len() as u64 + 1)) as usize);
        }
        let _ = classify(&t, MAX);
        let _ = classify_last(&t, 500);
        for tg in [parse(&t), parse_lenient(&t)].into_iter().flatten() {
            for l in tg.lines() {
                match l {
                    Ok(l) => {
                        assert!(l.group_count >= 1);
                        for g in l.groups() {
                            let _ = g.value();
                            let _ = g.timestamp();
                            assert!(g.offset + g.raw.len() <= t.len());
                        }
                        assert_eq!(l.groups().count(), l.group_count);
                    }
                    Err(e) => assert!(e.offset <= t.len()),
                }
            }
        }
    }
}

#[test]
fn crc16_arc_matches_the_table_engine_at_every_length_and_alignment() {
    let data: Vec<u8> = (0u32..1200)
        .map(|i| (i * 151 + 7) as u8 ^ (i >> 3) as u8)
        .collect();
    for start in 0..17 {
        for end in start..data.len() {
            let d = &data[start..end];
            assert_eq!(
                crc16_arc(d),
                (ARC.checksum(d) & 0xFFFF) as u16,
                "{start}..{end}"
            );
        }
    }
    assert_eq!(crc16_arc(b"123456789"), 0xBB3D);
}

/// Timing of the CRC engines on a ~900-byte telegram (run with --ignored --release).
#[test]
#[ignore = "timing"]
fn crc_engine_speed() {
    use std::time::Instant;
    const ONE: crc::Crc<u16, crc::Table<1>> = crc::Crc::<u16, crc::Table<1>>::new(&crc::CRC_16_ARC);
    let data = FLUVIUS;
    let n = 200_000;
    let t0 = Instant::now();
    let mut acc = 0u16;
    for _ in 0..n {
        acc ^= crc16_arc(std::hint::black_box(data));
    }
    let t16 = t0.elapsed();
    let t0 = Instant::now();
    for _ in 0..n {
        acc ^= (ARC.checksum(std::hint::black_box(data)) & 0xFFFF) as u16;
    }
    let table16 = t0.elapsed();
    let t0 = Instant::now();
    for _ in 0..n {
        acc ^= ONE.checksum(std::hint::black_box(data));
    }
    let t1 = t0.elapsed();
    println!(
        "{} bytes: crc-fast {:.0} ns, Table<16> {:.0} ns, Table<1> {:.0} ns ({acc})",
        data.len(),
        t16.as_nanos() as f64 / n as f64,
        table16.as_nanos() as f64 / n as f64,
        t1.as_nanos() as f64 / n as f64
    );
}

/// Best-of-15 nanoseconds per call of `f`.
fn best_ns(mut f: impl FnMut() -> u64) -> f64 {
    use std::time::Instant;
    let n = 20_000u32;
    let mut best = f64::MAX;
    let mut acc = 0u64;
    for _ in 0..15 {
        let t0 = Instant::now();
        for _ in 0..n {
            acc = acc.wrapping_add(f());
        }
        best = best.min(t0.elapsed().as_nanos() as f64 / f64::from(n));
    }
    std::hint::black_box(acc);
    best
}

/// Timing of parse, lines and values (run with --ignored --release --test-threads=1).
#[test]
#[ignore = "timing"]
fn parse_speed() {
    use std::hint::black_box;
    for data in [ELL, FLUVIUS] {
        let crc = best_ns(|| u64::from(crc16_arc(black_box(data))));
        let parse_only = best_ns(|| parse(black_box(data)).map_or(0, |t| t.data().len() as u64));
        let split = best_ns(|| {
            let t = parse(black_box(data)).unwrap();
            t.lines().map(|l| u64::from(l.unwrap().obis.0[2])).sum()
        });
        let typed = best_ns(|| {
            let t = parse(black_box(data)).unwrap();
            let mut acc = 0u64;
            for l in t.lines().flatten() {
                for g in l.groups() {
                    if let Value::Decimal(d) = g.value() {
                        acc = acc.wrapping_add(d.mantissa as u64);
                    }
                }
            }
            acc
        });
        let cls = best_ns(|| match classify(black_box(data), MAX) {
            P1Candidate::Telegram { len, .. } => len as u64,
            _ => 0,
        });
        println!(
            "{} bytes: crc {crc:.0} ns, parse {parse_only:.0}, parse+lines {split:.0}, \
             parse+lines+values {typed:.0}, classify {cls:.0}",
            data.len()
        );
    }
}
