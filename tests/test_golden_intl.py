"""Golden files for every record the NO/SE goldens leave out, and checks that read them.

``golden/intl`` holds one file per record of ``tests/data/records`` that test_golden.py does
not cover: M-Bus, encrypted (HDLC, M-Bus, bare APDUs, IEC 62056-47 UDP wrappers, raw
streams), P1/DSMR telegrams, frames from Denmark, Austria, Switzerland, Slovenia, Croatia,
Luxembourg and elsewhere, and the damaged frames of every country (see tests/golden.py for the
file layout: the strict ``decode_frame`` result and the lax ``Decoder`` output of the same
bytes, with the record's key). ``UPDATE_GOLDEN=1 pytest tests/test_golden_intl.py`` rewrites
them; review the diff.

Which result is *the* decode of a record: ``raw-stream`` records, and records whose bytes are
several link frames of one message (the corpus checker counts ``frames``/``hdlc_good`` > 1),
are read with the ``Decoder``; every other record is one frame or one message for
``decode_frame``. The tests below then check, beyond the goldens:

- both paths agree where they should (one message: the same telegram; see
  :data:`KNOWN_HANPORT_BUGS` for where they would not);
- every record that does not decode is explained: damaged on purpose or in capture (the
  corpus' independent checker says ``FAIL``), no key published, one part of a multi-frame
  message on its own, or listed in :data:`UNDECODED` with the reason;
- keys: the right key decodes, a wrong key is a ``DecryptionError`` whose message shows no key;
- the values each source project states (``expected``) agree with hanport's, except the
  disagreements listed with a reason (:data:`KNOWN_SOURCE_DISAGREEMENTS` and
  :data:`SOURCE_DECODES_WHAT_IS_NOT_THERE` where the source is wrong,
  :data:`KNOWN_HANPORT_GAPS`, :data:`HANPORT_WRONG_VALUES` and the hanport gaps of
  :data:`UNDECODED` where hanport is), as test_expected.py does for NO/SE;
- DLMS telegrams are physically plausible (power factors within +-1, per-phase energies of
  the order of the total; :data:`IMPLAUSIBLE` lists where hanport is not yet);
- every number and timestamp of every P1 telegram equals what the telegram's text says.

Where hanport is wrong the test is a strict xfail, so a fix shows up as an XPASS: then drop
the entry (and, if the golden content changes, regenerate the goldens).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_expected import (
    _STALE_BUFFER,
    _STALE_LIST_TYPE,
    Claim,
    Decoded,
    Normaliser,
    invoke_id,
    list_level,
    norm_amsreader,
    norm_dlms_parser,
    norm_hass_ams,
    norm_provenance,
)

import hanport

from golden import (
    GOLDEN_INTL,
    all_records,
    decode_intl_record,
    decode_lax,
    decode_strict,
    intl_golden_name,
    intl_records,
    is_norwegian_golden,
    record_input,
    record_keys,
)

Record = dict[str, Any]

RECORDS: list[Record] = list(intl_records())


def rid(r: Record) -> str:
    """A record's unique name: id and format (two ids are shared by a capture and a frame)."""
    return f"{r['id']}@{r['format']}"


BY_NAME: dict[str, Record] = {rid(r): r for r in RECORDS}
OSLO = ZoneInfo("Europe/Oslo")


@cache
def golden_of(name: str) -> dict[str, Any]:
    """The decoded content of a record (computed, not read: the golden test compares)."""
    return decode_intl_record(BY_NAME[name])


def several_frames(r: Record) -> bool:
    """The corpus checker found more than one link frame in the record's bytes."""
    check = r.get("check") or {}
    return int(check.get("frames") or 0) > 1 or int(check.get("hdlc_good") or 0) > 1


#: Captures of one telegram followed by bytes that belong to none (strict ``decode_frame``
#: refuses them, rightly): read with the ``Decoder``, which reports those bytes as garbage.
TRAILING_BYTES = {
    f"ndokter__dsmr_parser:TELEGRAM_{n}@p1": (
        "EasyMeter Q3D capture: after the telegram's '!' a line '  25803103' and 33 bytes of "
        "0xFF padding follow"
    )
    for n in ("ESY5Q3DB1024_V304", "ESY5Q3DA1004_V304")
}


def is_stream_record(r: Record) -> bool:
    """Read with the ``Decoder`` (see the module docstring)."""
    return r["format"] == "raw-stream" or several_frames(r) or rid(r) in TRAILING_BYTES


# --------------------------------------------------------------------------------------------
# the golden files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", RECORDS, ids=rid)
def test_golden(record: Record) -> None:
    got = golden_of(rid(record))
    path = GOLDEN_INTL / intl_golden_name(record)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN_INTL.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    want = json.loads(path.read_text())
    assert got == want


def test_every_record_has_exactly_one_golden_file() -> None:
    everything = list(all_records())
    nordic = [r for r in everything if is_norwegian_golden(r)]
    assert len(nordic) + len(RECORDS) == len(everything)
    names = [intl_golden_name(r) for r in RECORDS]
    assert len(set(names)) == len(names)
    if not os.environ.get("UPDATE_GOLDEN"):
        on_disk = {p.name for p in GOLDEN_INTL.glob("*.json")}
        assert on_disk == set(names), "stale or missing golden files"


def test_records_of_every_kind_are_covered() -> None:
    formats = Counter(r["format"] for r in RECORDS)
    assert formats["hdlc"] >= 150
    assert formats["mbus"] >= 25
    assert formats["p1"] >= 35
    assert formats["apdu"] >= 20
    assert formats["udp-wrapper"] >= 13
    assert formats["raw-stream"] >= 6
    assert formats["llc-pdu"] >= 3
    assert sum(1 for r in RECORDS if r.get("key")) >= 35


def test_stream_golden_is_chunking_independent() -> None:
    """The ``stream`` part does not depend on how the bytes arrive."""
    for r in RECORDS:
        data, keys = record_input(r), record_keys(r)
        whole = golden_of(rid(r))["stream"]
        for chunk in (1, 7, 61):
            got = decode_lax(data, keys, chunk=chunk)
            assert got == whole, (rid(r), chunk)


# --------------------------------------------------------------------------------------------
# the record's telegram(s): which path, and why a record does not decode
# --------------------------------------------------------------------------------------------


def primary_error(name: str) -> dict[str, Any] | None:
    """Why a record does not decode (None if it does): the strict error, or for a stream
    record the first error record when the stream yields no telegram."""
    g = golden_of(name)
    if is_stream_record(BY_NAME[name]):
        if g["stream"]["telegrams"]:
            return None
        errors: list[dict[str, Any]] = g["stream"]["errors"]
        return errors[0] if errors else {"layer": "stream", "kind": "incomplete"}
    err: dict[str, Any] | None = g["frame"].get("error")
    return err


_PART = "one part of a multi-frame message on its own; the other parts are separate records"
_FIRST_PART = "the first frame of a multi-frame message on its own: the message is incomplete"
_ISKRA_BARE_TOTALS = (
    "Iskra AM550's 4-element total-energy list (serial, unsigned, A+, A-) as a bare APDU: "
    "its first element has no ISK prefix and there is no HDLC address (CF / 02 23) to name "
    "the meter, and the shape alone is too common to claim; amsreader maps nothing either"
)
_OCTET_BODY = (
    "decrypts (GCM tag verified) to a data-notification whose body is one octet-string (34 "
    "bytes of an unnamed proprietary layout), not a COSEM array/structure: nothing to map"
)

#: Records (``id@format``) that do not decode although their bytes are not damaged (the
#: corpus checker says ok or n/a) and not for want of a key, with the reason.
UNDECODED: dict[str, str] = {
    "UtilitechAS__amsreader-firmware:iskraemeco_gh869-7.hex@apdu": _ISKRA_BARE_TOTALS,
    "UtilitechAS__amsreader-firmware:iskraemeco_gh1072-1.hex@hdlc": _FIRST_PART,
    "UtilitechAS__amsreader-firmware:iskraemeco_gh1072-2.hex@apdu": (
        "a reassembly by hand of gh1072-1 and its continuation that kept the HDLC closing flag "
        "and header bytes between the segments (the record notes an internal 7E): A-XDR tag "
        "0x9F at the seam, correctly rejected"
    ),
    "UtilitechAS__amsreader-firmware:kaifa_gh539-1.hex@mbus": _FIRST_PART,
    "UtilitechAS__amsreader-firmware:kaifa_gh539-2.hex@mbus": _PART,
    "UtilitechAS__amsreader-firmware:kamstrup_gh73-3.hex@llc-pdu": (
        "no key, and the dump is truncated (the record says PARTIAL/TRUNCATED): the ciphered "
        "APDU's length runs past the dump's end and other bytes follow, a security/malformed"
    ),
    "UtilitechAS__amsreader-firmware:landis-gyr_gh740-1.hex@hdlc": _FIRST_PART,
    "UtilitechAS__amsreader-firmware:landis-gyr_gh740-2.hex@hdlc": _PART,
    "UtilitechAS__amsreader-firmware:landis-gyr_gh740-3.hex@hdlc": _PART,
    "UtilitechAS__amsreader-firmware:landis-gyr_gh949-1.hex@hdlc": _FIRST_PART,
    "UtilitechAS__amsreader-firmware:landis-gyr_gh949-2.hex@hdlc": _PART,
    "UtilitechAS__amsreader-firmware:landis-gyr_em-ct623-1.hex@hdlc": _FIRST_PART,
    "UtilitechAS__amsreader-firmware:landis-gyr_em-ct623-2.hex@hdlc": _PART,
    "UtilitechAS__amsreader-firmware:frames/lng.raw#1@hdlc": _FIRST_PART,
    "UtilitechAS__amsreader-firmware:frames/lng.raw#29@hdlc": _PART,
    "esphome-libs__dlms_parser:hdlc_iskra550#1@hdlc": _FIRST_PART,
    "esphome-libs__dlms_parser:hdlc_iskra550#2@hdlc": _PART,
    "esphome-libs__dlms_parser:hdlc_iskra550#3@hdlc": _PART,
    **{
        f"esphome-libs__dlms_parser:{n}#{i}@hdlc": _FIRST_PART if i == 1 else _PART
        for n in ("hdlc_landis_gyr_e450", "hdlc_lgz_e450_2")
        for i in (1, 2, 3)
    },
    "toreamun__amshan:test_hdlc.py:FRAME_EMPTY_INFO@hdlc": (
        "amshan's HDLC unit-test frame with an empty information field: a valid frame "
        "without an LLC PDU, so there is nothing to decode"
    ),
    "toreamun__amshan:test_hdlc.py:FRAME_SHORT_INFO@hdlc": (
        "amshan's HDLC unit-test frame with 3 arbitrary information bytes (not E6 E7 00)"
    ),
    "toreamun__amshan:test_hdlc.py:STUFFED_FRAME_SHORT_INFO@hdlc": (
        "amshan's unit-test frame with asynchronous HDLC byte stuffing (7D 5E for 7E): "
        "IEC 62056-46 frames carry a length field and are not byte-stuffed, so hanport reads "
        "the frame by its length and finds no closing flag there"
    ),
    **{f"u9n__dlms-cosem:test_udp_message.py#L{n}@udp-wrapper": _OCTET_BODY for n in range(6, 19)},
    "u9n__dlms-cosem:test_udp_message.py#L24@apdu": _OCTET_BODY,
}


def failure_explanation(name: str) -> str | None:
    """Why a record does not decode, or None when it decodes."""
    err = primary_error(name)
    if err is None:
        return None
    r = BY_NAME[name]
    result = str((r.get("check") or {}).get("result"))
    if result.startswith("FAIL"):
        return f"damaged ({'synthetic' if r.get('synthetic') else 'capture'}): checker {result}"
    if err["kind"] == "no_key" and not r.get("key"):
        return "encrypted, and the source published no key"
    return UNDECODED.get(name, "UNEXPLAINED")


def test_every_failure_is_explained() -> None:
    unexplained = [n for n in BY_NAME if failure_explanation(n) == "UNEXPLAINED"]
    assert unexplained == []
    stale = [n for n in UNDECODED if failure_explanation(n) != UNDECODED[n]]
    assert stale == [], "listed in UNDECODED but decoding (or explained otherwise)"


def test_damaged_records_never_decode_strictly() -> None:
    """A record the corpus checker finds damaged gives no telegram from ``decode_frame``."""
    damaged = [n for n, r in BY_NAME.items() if str(r["check"].get("result")).startswith("FAIL")]
    assert len(damaged) >= 80
    assert [n for n in damaged if "error" not in golden_of(n)["frame"]] == []


def test_failure_counts() -> None:
    """Most records that are intact and have their key decode."""
    kinds = Counter(
        (failure_explanation(n) or "decodes").split(":")[0].split(" (")[0] for n in BY_NAME
    )
    assert kinds["decodes"] >= 65, kinds
    assert kinds["damaged"] >= 80, kinds


# --------------------------------------------------------------------------------------------
# the two paths agree
# --------------------------------------------------------------------------------------------

#: Records where hanport is known to be wrong (``id@format`` -> reason); their tests are
#: strict xfails, so a fix shows up as XPASS.
KNOWN_HANPORT_BUGS: dict[str, str] = {}
# (Until the fix of rust/src/decode.rs, 2 Dec 2026, decode_frame raised stream/truncated for
# every message of several frames -- kaifa_gh905-1, mbus_netz_noe_p1, the E450 and Iskra550
# captures, landis-gyr_gh740: it required stats.frames_reassembled == 0.)


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "received_at"}


def _one_message(name: str) -> bool:
    stream = golden_of(name)["stream"]
    return len(stream["telegrams"]) == 1 and not stream["errors"]


ONE_MESSAGE = [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_HANPORT_BUGS[n]))
    if n in KNOWN_HANPORT_BUGS
    else n
    for n in BY_NAME
    if _one_message(n)
]


@pytest.mark.parametrize("name", ONE_MESSAGE)
def test_one_message_decodes_strictly_like_the_stream(name: str) -> None:
    """Bytes the stream decoder reads as exactly one telegram and nothing else are one
    message: ``decode_frame`` must give the same telegram."""
    g = golden_of(name)
    assert "error" not in g["frame"], g["frame"].get("error")
    strict, lax = _clean(g["frame"]), dict(g["stream"]["telegrams"][0])
    # an empty line before a P1 telegram (KAM5 modules) is line fill: the stream's offset is
    # the telegram's `/`, decode_frame's the start of its input
    data = record_input(BY_NAME[name])
    assert lax.pop("offset") - strict.pop("offset") == len(data) - len(data.lstrip(b"\r\n"))
    assert strict == lax


def test_known_bugs_refer_to_records() -> None:
    assert set(KNOWN_HANPORT_BUGS) <= set(BY_NAME)
    assert len(ONE_MESSAGE) >= 50


def _padding_only(data: bytes, errors: list[dict[str, Any]]) -> bool:
    return all(
        e["layer"] == "stream"
        and e["kind"] == "garbage"
        and set(data[e["offset"] : e["offset"] + e["length"]]) <= set(b"\r\n")
        for e in errors
    )


@pytest.mark.parametrize("name", [n for n in BY_NAME if "error" not in golden_of(n)["frame"]])
def test_strict_telegram_is_found_by_the_stream(name: str) -> None:
    """What ``decode_frame`` decodes, the stream decoder finds too -- except a bare APDU or
    LLC PDU, which is no link-layer framing a stream could be searched for."""
    r, g = BY_NAME[name], golden_of(name)
    if r["format"] in ("apdu", "llc-pdu"):
        assert g["stream"]["telegrams"] == [] or r.get("key"), name
        return
    assert len(g["stream"]["telegrams"]) == 1
    lax = dict(g["stream"]["telegrams"][0])
    strict = _clean(g["frame"])
    assert lax.pop("offset") - strict.pop("offset") == len(record_input(r)) - len(
        record_input(r).lstrip(b"\r\n")
    )
    assert lax == strict
    # an empty line before a KAM5 telegram is line fill to both (no error record)
    assert _padding_only(record_input(r), g["stream"]["errors"])


# --------------------------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------------------------

KEYED = [r for r in RECORDS if r.get("key")]


def wrong_key(hex_key: str) -> str:
    """A key that differs from ``hex_key`` in every byte (and is not the Luxembourg AK)."""
    return bytes(b ^ 0x5A for b in bytes.fromhex(hex_key)).hex()


def _all_key_hex(r: Record) -> list[str]:
    keys = [k for k in (r.get("key"), r.get("auth_key")) if k]
    return [k.lower() for k in keys + [wrong_key(k) for k in keys]]


def _reaches_decryption(name: str) -> bool:
    """With the right key the bytes get past the security layer (a telegram, or an error of
    a later layer): a single segment or a later GBT block never reaches it."""
    g = golden_of(name)
    later = ("mapping", "axdr")
    return bool(
        g["stream"]["telegrams"]
        or any(e["layer"] in later for e in g["stream"]["errors"])
        or g["frame"].get("error", {}).get("layer") in later
    )


def test_no_key_material_in_golden_files() -> None:
    for r in KEYED:
        text = json.dumps(golden_of(rid(r))).lower()
        for k in _all_key_hex(r):
            assert k not in text, rid(r)


@pytest.mark.parametrize("record", KEYED, ids=rid)
def test_wrong_key_is_a_decryption_error(record: Record) -> None:
    name, data = rid(record), record_input(record)
    ek, ak = record["key"], record.get("auth_key") or record["key"]
    wrong = {"*": {"ek": wrong_key(ek), "ak": wrong_key(ak)}}
    cases: list[dict[str, Any]] = [wrong, {"*": wrong_key(ek)}]
    if record.get("auth_key"):  # all keyed records with an AK send A=1: the tag must fail
        cases.append({"*": {"ek": ek, "ak": wrong_key(ak)}})
    for keys in cases:
        strict, lax = decode_strict(data, keys), decode_lax(data, keys)
        if not _reaches_decryption(name):  # the key is never used
            assert strict == golden_of(name)["frame"]
            assert lax == golden_of(name)["stream"]
            continue
        assert strict.get("error", {}).get("type") == "DecryptionError", strict.get("error")
        assert (strict["error"]["layer"], strict["error"]["kind"]) == (
            "security",
            "decryption_failed",
        )
        assert lax["telegrams"] == []
        assert ("security", "decryption_failed") in [(e["layer"], e["kind"]) for e in lax["errors"]]
        shown = (json.dumps(strict) + json.dumps(lax)).lower()
        for k in _all_key_hex(record):
            assert k not in shown
        with pytest.raises(hanport.DecryptionError) as info:
            hanport.decode_frame(data, keys=keys)
        for text in (str(info.value), repr(info.value), repr(info.value.args)):
            assert not any(k in text.lower() for k in _all_key_hex(record))


@pytest.mark.parametrize("record", KEYED, ids=rid)
def test_no_key_is_a_decryption_error_naming_the_sender(record: Record) -> None:
    name, data = rid(record), record_input(record)
    if not _reaches_decryption(name):
        return
    err = decode_strict(data, None)["error"]
    assert (err["type"], err["layer"], err["kind"]) == ("DecryptionError", "security", "no_key")
    assert re.search(r"system title [0-9A-F]{16}", err["message"]), err["message"]


def test_keyed_records_decode_with_their_key() -> None:
    decoded = [r for r in KEYED if _reaches_decryption(rid(r))]
    assert len(decoded) >= 30
    with_telegram = [r for r in decoded if golden_of(rid(r))["stream"]["telegrams"]]
    assert len(with_telegram) >= 16


# --------------------------------------------------------------------------------------------
# the values the sources state
# --------------------------------------------------------------------------------------------


class IntlDecoded(Decoded):
    """test_expected's view of a record (values, objects, lookups), for the record's own
    telegram: decoded with its key, by the path the module docstring describes."""

    def __init__(self, rec: Record) -> None:  # (no super().__init__: it decodes without keys)
        self.rec = rec
        self.data = record_input(rec)
        self.telegram = None
        self.error = None
        keys = record_keys(rec)
        if is_stream_record(rec):
            dec = hanport.Decoder(keys=keys)
            telegrams = dec.feed(self.data) + dec.flush()
            if len(telegrams) == 1:
                self.telegram = telegrams[0]
            else:
                self.error = f"{len(telegrams)} telegrams"
        else:
            try:
                self.telegram = hanport.decode_frame(self.data, keys=keys)
            except hanport.HanError as exc:
                self.error = f"{type(exc).__name__}: {exc}"
        self.frame = None
        if rec["format"] == "hdlc":
            try:
                self.frame = hanport.HdlcFrame.parse(self.data)
            except hanport.HanError:
                self.frame = None


#: amsreader's meter-type enum as its golden master prints it (test_expected.py's values,
#: plus 8 = Iskra, which the Slovenian/Croatian Iskra fixtures show); 0 and 255: none/unknown.
AMSREADER_TYPES = {
    0: None,
    1: "Aidon",
    2: "Kaifa",
    3: "Kamstrup",
    8: "Iskra",
    9: "Landis+Gyr",
    255: None,
}
AMSREADER_TYPE_NAMES = {
    "AmsTypeIskra": "Iskra",
    "AmsTypeKaifa": "Kaifa",
    "AmsTypeLandisGyr": "Landis+Gyr",
    "AmsTypeKamstrup": "Kamstrup",
}


def _manufacturer(d: Decoded) -> str | None:
    return d.telegram.manufacturer if d.telegram is not None else None


def norm_amsreader_intl(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """test_expected's amsreader normaliser, with the meter types of the other countries;
    list type 0 is amsreader's "nothing decoded"."""
    rest = {k: v for k, v in stated.items() if k not in ("meterType", "listType")}
    yield from norm_amsreader(d, origin, rest)
    kind = AMSREADER_TYPES[stated["meterType"]]
    yield Claim(origin, "meterType", "manufacturer", kind, _manufacturer(d))
    level = list_level(d.values) if d.telegram is not None else None
    yield Claim(origin, "listType", "list_level", stated["listType"] or None, level or None)


def norm_amsreader_assertions(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """amsreader's unit tests (test/test_decoder): TEST_ASSERT_EQUAL on the meter type and id,
    TEST_ASSERT_FLOAT_WITHIN (``~``, 0.05) on a voltage."""
    for key, value in stated.items():
        if key == "_note":
            continue
        if key == "meterType":
            yield Claim(origin, key, "manufacturer", AMSREADER_TYPE_NAMES[value], _manufacturer(d))
        elif key == "meterId":
            yield Claim(origin, key, "meter_id", value, d.values.get("meter_id"))
        elif key == "l1_V~":
            yield Claim(origin, key, "voltage_l1", value, d.values.get("voltage_l1"), abs_tol=0.05)
        else:
            raise AssertionError(f"unknown amsreader assertion {key!r}")


ESP_P1_ASSERT = re.compile(
    r"TEST_ASSERT_EQUAL\((?P<value>-?[\d.]+), "
    r'jsonData\["payload"\]\["(?P<ident>[^"]+)"\]\["(?P<obis>[^"]+)"\]\[(?P<idx>\d+)\]\)'
)


def norm_esp_smart_meter_p1(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """aviborg/esp-smart-meter's P1 tests: ``payload[<ident>][<obis>][i]`` is the i-th value
    group of the line (in its unit: here m3 and A, SI already); or a negative test."""
    if "asserted FALSE" in stated:
        yield Claim(origin, "ParseData", "decodes", False, d.telegram is not None)
        return
    m = ESP_P1_ASSERT.fullmatch(stated)
    assert m is not None, stated
    objs = [o for o in d.objects if o.obis == f"{m['obis']}.255"]
    idx = int(m["idx"])
    ours = objs[idx].value if idx < len(objs) else None
    yield Claim(origin, f"{m['obis']}[{idx}]", m["obis"], float(m["value"]), ours)
    # the JSON key is the identification line with its backslash written as '_'
    ident = d.telegram.list_id if d.telegram is not None else None
    ours_id = ident.replace(chr(92), "_") if ident else None
    yield Claim(origin, "ident", "list_id", m["ident"], ours_id)


_DSMR_REPR = re.compile(
    r"Decimal\('(?P<dec>[^']*)'\)|'(?P<str>[^']*)'|(?P<int>-?\d+)|"
    r"datetime\.datetime\((?P<dt>[\d, ]+), tzinfo=(?P<tz>datetime\.timezone\.utc|"
    r'ZoneInfo\("[^"]+"\))\)'
)
DSMR_UNITS: dict[str, tuple[int, str]] = {
    "kWh": (1000, "Wh"),
    "kW": (1000, "W"),
    "kvarh": (1000, "varh"),
    "kVArh": (1000, "varh"),
    "kvar": (1000, "var"),
    "kVAr": (1000, "var"),
    "V": (1, "V"),
    "A": (1, "A"),
    "Hz": (1, "Hz"),
    "m3": (1, "m³"),
    "W": (1, "W"),
    "Wh": (1, "Wh"),
    "var": (1, "var"),
    "varh": (1, "varh"),
    "s": (1, "s"),
    "GJ": (10**9, "J"),
}


def parse_dsmr_repr(text: str) -> Any:
    """A value as dsmr_parser's test asserts it (``repr`` of a Decimal, str, int, datetime)."""
    m = _DSMR_REPR.fullmatch(text)
    assert m is not None, text
    if m["dec"] is not None:
        return Decimal(m["dec"])
    if m["str"] is not None:
        return m["str"]
    if m["int"] is not None:
        return int(m["int"])
    parts = [int(p) for p in m["dt"].split(",")]
    tz: Any = timezone.utc if "utc" in m["tz"] else ZoneInfo(m["tz"].split('"')[1])
    hour, minute, second = [*parts[3:], 0, 0, 0][:3]
    return datetime(parts[0], parts[1], parts[2], hour, minute, second, tzinfo=tz)


def si_decimal(obj: hanport.CosemObject) -> Decimal | None:
    """A numeric object's exact value in SI units: ``raw`` x 10^``scaler``."""
    if isinstance(obj.raw, bool) or not isinstance(obj.raw, int):
        return None
    return Decimal(obj.raw).scaleb(obj.scaler)


@cache
def dsmr_name_patterns() -> dict[str, str]:
    """dsmr_parser's value name -> its line signature (an OBIS regex), over every spec."""
    specs = pytest.importorskip("dsmr_parser.telegram_specifications")
    out: dict[str, str] = {}
    for spec in vars(specs).values():
        if isinstance(spec, dict) and "objects" in spec:
            for obj in spec["objects"]:
                out.setdefault(obj["value_name"], obj["obis_reference"])
    return out


def dsmr_value_claim(
    origin: str, key: str, expected: Any, unit: str | None, objs: list[hanport.CosemObject]
) -> Claim:
    """One dsmr_parser value against the hanport object with its OBIS code, exactly."""
    if not objs:
        return Claim(origin, key, key, str(expected), None)
    obj = objs[0]
    if isinstance(expected, datetime):
        ours = obj.value if isinstance(obj.value, datetime) else None
        return Claim(origin, key, key, expected, ours)
    if isinstance(expected, Decimal):
        factor, si_unit = DSMR_UNITS[unit] if unit else (1, None)
        ours_d = si_decimal(obj) if obj.unit == si_unit else None
        return Claim(origin, key, key, expected * factor, ours_d)
    if isinstance(expected, str) and not isinstance(obj.value, str):
        # dsmr_parser keeps e.g. the tariff '0002' as text; hanport reads the number
        return Claim(origin, key, key, Decimal(expected), si_decimal(obj))
    return Claim(origin, key, key, expected, obj.value)


def norm_dsmr_parser(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """ndokter/dsmr_parser's test assertions: ``telegram.<NAME>.value``/``.unit`` (repr).
    The name is mapped to its OBIS line signature through dsmr_parser's own specifications
    and matched against hanport's object codes; Decimals in dsmr_parser's unit are compared
    exactly with ``raw`` x 10^``scaler`` in SI units."""
    patterns = dsmr_name_patterns()
    for key, value in stated.items():
        if key == "_sources":
            continue
        expected = parse_dsmr_repr(value["value"])
        unit = parse_dsmr_repr(value["unit"].replace('"', "'")) if "unit" in value else None
        pat = re.compile(patterns[key])
        objs = [o for o in d.objects if pat.match(o.obis.rsplit(".", 1)[0] + "(x)\r\n(x)\r\n")]
        yield dsmr_value_claim(origin, key, expected, unit, objs)


def _objects_dict(t: hanport.Telegram | None) -> list[dict[str, Any]] | None:
    return [o.to_dict() for o in t.objects] if t is not None else None


def _twin(record_id: str) -> hanport.Telegram:
    twin = next(r for r in RECORDS + list(all_records()) if r["id"] == record_id)
    return hanport.decode_frame(record_input(twin), keys=record_keys(twin))


def norm_plaintext(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """'dsmr_parser TELEGRAM_SAGEMCOM_T210_D_R (...)': the ciphertext decrypts to that
    telegram, which is also a record of its own."""
    name = re.match(r"dsmr_parser (TELEGRAM_\w+)", stated)
    assert name is not None, stated
    theirs = _objects_dict(_twin(f"ndokter__dsmr_parser:{name[1]}"))
    yield Claim(origin, stated, "objects", theirs, _objects_dict(d.telegram))


def norm_decrypts_to(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """reitermarkus/dlms-cosem-rs: ENCRYPTED_MESSAGE decrypts to DECRYPTED_MESSAGE."""
    assert stated == "DECRYPTED_MESSAGE (same file)", stated
    theirs = _objects_dict(_twin("reitermarkus__dlms-cosem-rs:lib.rs#L463:DECRYPTED_MESSAGE"))
    yield Claim(origin, stated, "objects", theirs, _objects_dict(d.telegram))


DLMS_COSEM_RS = re.compile(
    r"long_invoke_id (?P<invoke>\d+); date_time (?P<when>[\d-]+ [\d:]+) offset (?P<dev>-?\d+); "
    r"body structure \[datetime, (?P<body>.*)\]"
)
DLMS_UNIT_ENUMS = {30: "Wh", 32: "varh"}


def norm_dlms_cosem_rs(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """reitermarkus/dlms-cosem-rs's parse_apdu test: invoke-id, the header date-time (the
    Blue Book's sign, UTC = local + deviation) and (OBIS, value, (scaler, unit enum))."""
    m = DLMS_COSEM_RS.fullmatch(stated)
    assert m is not None, stated
    yield Claim(origin, "long_invoke_id", "invoke_id", int(m["invoke"]), invoke_id(d.data))
    wall = datetime.fromisoformat(m["when"])
    when = wall.replace(tzinfo=timezone(timedelta(minutes=-int(m["dev"]))))
    ours = d.telegram.notification_time if d.telegram is not None else None
    yield Claim(origin, "date_time", "notification_time", when, ours)
    for obis, value, scaler, enum in re.findall(
        r"(\d+\.\d+\.\d+\.\d+\.\d+\.\d+), (-?\d+), \((-?\d+), enum (\d+)\)", m["body"]
    ):
        a, b, c, dd, e, f = obis.split(".")
        obj = next((o for o in d.objects if o.obis == f"{a}-{b}:{c}.{dd}.{e}.{f}"), None)
        yield Claim(origin, obis, f"{obis}.raw", int(value), obj.raw if obj else None)
        yield Claim(origin, obis, f"{obis}.scaler", int(scaler), obj.scaler if obj else None)
        unit = DLMS_UNIT_ENUMS[int(enum)]
        yield Claim(origin, obis, f"{obis}.unit", unit, obj.unit if obj else None)


def _p1_crc(d: Decoded) -> str | None:
    m = re.search(rb"!([0-9A-Fa-f]{1,4})\r?\n?$", d.data)
    return m[1].decode() if m else None


def norm_amshan_dlde(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """toreamun/amshan's DLDE (P1) tests: the telegram's CRC text, its validity, its end
    line and the identification after the manufacturer FLAG id and baud-rate character."""
    if origin == "crc":
        yield Claim(origin, origin, "p1_crc", stated, _p1_crc(d))
        crc_ok = d.telegram is not None and "crc_missing" not in d.telegram.flags
        yield Claim(origin, origin, "p1_crc_verified", True, crc_ok)
    elif origin == "is_valid":
        yield Claim(origin, origin, "decodes", stated, d.telegram is not None)
    elif origin == "end_line":
        yield Claim(origin, origin, "end_line", stated, "!" if b"\r\n!" in d.data else None)
    elif origin == "identification":
        ident = d.telegram.list_id if d.telegram is not None else None
        yield Claim(origin, origin, "list_id", stated, ident[4:] if ident else None)
    else:
        raise AssertionError(origin)


def norm_crc_valid(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """karl-gustav/ams-han TestCrc16Invalid: the frame's checksums do not hold."""
    yield Claim(origin, origin, "hdlc_valid", stated, d.frame is not None)


def norm_dlms_parser_intl(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """test_expected's dlms_parser normaliser, plus what dlms_parser reports for elements
    without an OBIS code under the pseudo-code 0.0.0.0.0.0 (the list id, or the header
    date-time; counted in ``_expected_count``, while hanport keeps them as ``list_id`` and
    ``notification_time``), and printable octet-strings, which dlms_parser shows as text."""
    rest = dict(stated)
    pseudo = rest.pop("0.0.0.0.0.0", None)
    t = d.telegram
    if pseudo is not None:
        rest["_expected_count"] -= 1
        if re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", pseudo):
            ours = t.notification_time if t is not None else None
            when = datetime.fromisoformat(pseudo)  # naive: compared as Oslo wall-clock time
            yield Claim(origin, "0.0.0.0.0.0", "notification_time", when, ours)
        else:
            ours_id = t.list_id if t is not None else None
            yield Claim(origin, "0.0.0.0.0.0", "list_id", pseudo, ours_id)
    for c in norm_dlms_parser(d, origin, rest):
        if isinstance(c.expected, str) and isinstance(c.ours, bytes):
            c = Claim(c.origin, c.key, c.field, c.expected, c.ours.decode("latin-1"))
        yield c


def norm_hass_ams_intl(d: Decoded, origin: str, stated: Any) -> Iterator[Claim]:
    """test_expected's hass-AMS normaliser; the OSS-mode flag of a negative test (a frame
    hass-AMS's test_valid_data() rejects) states how the test runs, nothing about the frame."""
    expected = d.rec.get("expected") or {}
    if origin == "hass_ams_oss_mode" and expected.get("hass_ams_test_valid_data") is False:
        return
    yield from norm_hass_ams(d, origin, stated)


NORMALISERS: dict[str, Normaliser] = {
    "amsreader_golden": norm_amsreader_intl,
    "amsreader_test_assertions": norm_amsreader_assertions,
    "dlms_parser_expected_h": norm_dlms_parser_intl,
    "decoded_dump": norm_provenance,
    "esp-smart-meter test_main.cpp": norm_esp_smart_meter_p1,
    "dsmr_parser_test_assertions": norm_dsmr_parser,
    "plaintext": norm_plaintext,
    "decrypts_to": norm_decrypts_to,
    "dlms-cosem-rs parse_apdu": norm_dlms_cosem_rs,
    "crc": norm_amshan_dlde,
    "is_valid": norm_amshan_dlde,
    "end_line": norm_amshan_dlde,
    "identification": norm_amshan_dlde,
    "crc_valid": norm_crc_valid,
    "hass_ams_test_valid_data": norm_hass_ams_intl,
    "hass_ams_oss_mode": norm_hass_ams_intl,
    "ams_active_power_import": norm_hass_ams_intl,
    "meter_manufacturer(all keys)": norm_hass_ams_intl,
    "_file": norm_hass_ams_intl,
}


def claims_for(rec: Record) -> list[Claim]:
    d = IntlDecoded(rec)
    out: list[Claim] = []
    for origin, stated in (rec.get("expected") or {}).items():
        assert origin in NORMALISERS, f"{rid(rec)}: no normaliser for origin {origin!r}"
        out.extend(NORMALISERS[origin](d, origin, stated))
    return out


# ---- where a source is wrong (or applies a quirk of its own) -------------------------------

_AMS = "UtilitechAS__amsreader-firmware:"
_AMSREADER_P1_NO_TYPE = (
    "amsreader's P1 (ASCII) path does not set a meter type for this telegram (255 = unknown); "
    "hanport names the manufacturer from the P1 FLAG id (ISK = Iskra, KAM = Kamstrup ...); the "
    "values agree"
)
_DLMS_PARSER_NO_IMPLICIT_SCALER = (
    "dlms_parser reports the values as sent when a frame carries no scaler; Kamstrup's lists "
    "have implicit ones (energy in 10 Wh/10 varh, current in 10 mA): 222 V x 0.57 A x PF "
    "0.31 = 39 W matches the frame's L1 power of 36 W, whereas 57 A would not"
)

#: (``id@format``, field) -> why the source's value is wrong.
_AMSREADER_LG_CH_VOLTS = (
    "amsreader divides the Landis+Gyr E450 (CH) voltages by 10: 23.5 V with 1.67 A gives "
    "39 VA, less than the 289 W the same push reports for L2; 235 V x 1.67 A = 392 VA fits"
)

_DLMS_PARSER_PUSH_LIST = (
    "dlms_parser gives 0.0 for every object of this Energomera push; its body is a push object "
    "list (seven 6-element capture-object descriptors) followed by the values, and hanport "
    "maps descriptor k to element k: 96.5.134 = 1, the logical device name 'EMR0222173608710', "
    "the serial number '012415173608710' (NUL-padded as sent), alarm register 16, alarm filter "
    "65535, 96.5.135 a structure (no scalar value); descriptor 0, the push setup, is the list "
    "itself and not reported, so 6 objects against dlms_parser's 7"
)

_AMSREADER_ISKRA_ID = (
    "amsreader takes an Iskra AM550 list's second element as the meter id; hanport reports "
    "the first, the logical device name (ISK and 13 digits), as the meter id: the second is "
    "16820005 for two different meters (gh615-1 ISK1030789375606, gh956-1 ISK1030792283067) "
    "and 16820006 in their 15-minute lists (a list number, reported as list_id), UP_3f in "
    "Elektro Celje's list (a list name), and in the 1-phase lists the short serial that the "
    "device name ends with (ISK84605887 in ISK1020784605887)"
)
_AMSREADER_ISKRA_UNMAPPED = (
    "amsreader recognises this Iskra AM550 list but maps none of its values (zeros, no meter "
    "id); hanport maps it by position: the tariff registers add up to the totals"
)
_AMSREADER_ISKRA_1P_LEVEL = (
    "amsreader classes this 1-phase Iskra list as its list type 3 although it carries no "
    "energy register; hanport's level follows the fields present (powers, voltage)"
)
_AMSREADER_ISKRA_TOTALS = (
    "amsreader does not recognise Iskra's 4-element total-energy list (meter type unknown, "
    "no values); hanport takes it as Iskra's from the HDLC addresses CF / 02 23"
)

KNOWN_SOURCE_DISAGREEMENTS: dict[tuple[str, str], str] = {
    ("esphome-libs__dlms_parser:raw_egd_example@apdu", "0-2:25.9.0.255"): (
        "attribute 1 of the push setup (class 40) is its logical name, the octet string "
        "00 02 19 09 00 FF; dlms_parser's expected header shows non-printable octet strings as "
        "'', hanport keeps the bytes"
    ),
    ("esphome-libs__dlms_parser:mbus_netz_noe_p1@mbus", "object_count"): (
        "the EVN/Netz NOe list starts with the meter clock as a bare date-time (no OBIS code); "
        "hanport reports it as the meter_time object (0-0:1.0.0.255), dlms_parser lists no "
        "object for it: 13 objects against 12"
    ),
    (f"{_AMS}sagemcom_gh867-2.hex@apdu", "meter_id"): (
        "amsreader looks for the Sagemcom meter id at element 58 of a longer list; in this "
        "EVN-shaped list (bare clock, OBIS-coded values, bare number) the last element is the "
        "number, '178210128502' as the record's notes say"
    ),
    **{
        (f"{_AMS}iskraemeco_{n}", "meter_id"): _AMSREADER_ISKRA_ID
        for n in (
            *(f"gh615-{i}.hex@hdlc" for i in (1, 2, 3, 4, 5, 6, 8, 9)),
            *(f"gh869-{i}.hex@hdlc" for i in (1, 2, 5)),
            "gh869-6.hex@apdu",
            "gh869-8.hex@llc-pdu",
            "gh956-1.hex@hdlc",
            "gh956-2.hex@hdlc",
        )
    },
    **{
        (f"{_AMS}iskraemeco_{n}", f): _AMSREADER_ISKRA_UNMAPPED
        for n in ("gh615-2.hex@hdlc", "gh615-4.hex@hdlc", "gh956-2.hex@hdlc")
        for f in ("active_energy_import", "list_level")
    },
    **{
        (f"{_AMS}iskraemeco_gh1072-{i}.hex@apdu", f): _AMSREADER_ISKRA_UNMAPPED
        for i in (3, 4)
        for f in (
            "active_energy_import",
            "active_power_import",
            "voltage_l1",
            "voltage_l2",
            "voltage_l3",
            "current_l1",
            "current_l2",
            "current_l3",
            "meter_id",
            "list_level",
        )
    },
    **{
        (f"{_AMS}iskraemeco_gh869-{i}.hex@hdlc", "list_level"): _AMSREADER_ISKRA_1P_LEVEL
        for i in (1, 2, 5)
    },
    **{
        (f"{_AMS}iskraemeco_gh869-{i}.hex@hdlc", f): _AMSREADER_ISKRA_TOTALS
        for i in (3, 4)
        for f in ("active_energy_import", "meter_id", "manufacturer", "list_level")
    },
    **{
        ("esphome-libs__dlms_parser:raw_energomera@apdu", f): _DLMS_PARSER_PUSH_LIST
        for f in (
            "0.0.25.9.0.255",
            "0-0:96.5.134.255",
            "0-0:42.0.0.255",
            "meter_id",
            "0-0:97.98.0.255",
            "0-0:97.98.10.255",
            "0-0:96.5.135.255",
            "object_count",
        )
    },
    (f"{_AMS}iskraemeco_gh1037-1.txt@p1", "manufacturer"): _AMSREADER_P1_NO_TYPE,
    **{
        (f"{_AMS}landis-gyr_gh934-1.hex@apdu", f"voltage_l{i}"): _AMSREADER_LG_CH_VOLTS
        for i in (1, 2, 3)
    },
    (f"{_AMS}landis-gyr_gh934-1.hex@apdu", "manufacturer"): (
        "not in these bytes: a bare APDU carries no system title and no HDLC address, which "
        "is where hanport takes the manufacturer from (the same push inside its HDLC frames, "
        "landis-gyr_gh740.hex, is named Landis+Gyr from the E450's CE FF / 03 addressing); "
        "amsreader knows it from its configuration"
    ),
    **{
        (f"{_AMS}kamstrup_{n}", "active_energy_import"): _STALE_BUFFER
        for n in ("gh175-2.hex@raw-stream", "gh196-1.hex@raw-stream", "gh196-1.hex@hdlc")
    },
    **{
        (f"{_AMS}kamstrup_{n}", "list_level"): _STALE_LIST_TYPE
        for n in ("gh175-2.hex@raw-stream", "gh196-1.hex@raw-stream", "gh196-1.hex@hdlc")
    },
    **{
        ("esphome-libs__dlms_parser:hdlc_kamstrup_omnipower@hdlc", f): (
            _DLMS_PARSER_NO_IMPLICIT_SCALER
        )
        for f in (
            "active_energy_import",
            "reactive_energy_import",
            "reactive_energy_export",
            "current_l1",
            "current_l2",
            "current_l3",
            "power_factor",
            "power_factor_l1",
            "power_factor_l2",
            "power_factor_l3",
            "active_energy_import_l1",
            "active_energy_import_l2",
            "active_energy_import_l3",
        )
    },
}

#: ``id@format`` -> why every value the source states for the record is to be ignored.
SOURCE_DECODES_WHAT_IS_NOT_THERE: dict[str, str] = {
    f"{_AMS}iskraemeco_gh869-7.hex@apdu": (
        "amsreader says 'decoded' for this bare APDU but recognises no meter (type unknown) "
        "and maps no value; see UNDECODED for why hanport leaves it unmapped"
    ),
    "esphome-libs__dlms_parser:hdlc_landis_gyr_zmf100@hdlc": (
        "dlms_parser's test decodes this frame without checking its FCS; the corpus checker "
        "(and hanport) find the FCS wrong (computed 0xB938, sent 0x5A45), so hanport rejects it"
    ),
    "turbokongen__hass-AMS:AIDON_OSS_HOURLY@hdlc": (
        "hass-AMS's OSS-brikken mode accepts the frames the OSS device forwards with a wrong "
        "length field and FCS (checker FAIL(len,fcs)); hanport's strict decode rejects them"
    ),
    "turbokongen__hass-AMS:AIDON_OSS_10SEC@hdlc": (
        "as AIDON_OSS_HOURLY: hass-AMS's OSS mode takes a frame whose length field and FCS do "
        "not hold"
    ),
    f"{_AMS}iskraemeco_gh1072-2.hex@apdu": (
        "amsreader 'decodes' this hand-merged APDU (which contains the seam of two HDLC "
        "frames) as an Iskra list but maps no value (all zeros); hanport rejects the A-XDR "
        "tag 0x9F at the seam"
    ),
}

# ---- where hanport is wrong or lacks something ---------------------------------------------

#: ``id@format`` -> why hanport's values for the record are wrong (strict xfail).
HANPORT_WRONG_VALUES: dict[str, str] = {}

#: (``id@format``, field) -> what hanport does not decode that the source does.
KNOWN_HANPORT_GAPS: dict[tuple[str, str], str] = {}


def _gap_records() -> dict[str, str]:
    """Records hanport cannot map at all (see :data:`UNDECODED`)."""
    return {n: why for n, why in UNDECODED.items() if "hanport gap" in why}


def disagreements_of(rec: Record) -> dict[str, list[Claim]]:
    out: dict[str, list[Claim]] = {}
    for claim in claims_for(rec):
        if not claim.agrees():
            out.setdefault(claim.field, []).append(claim)
    return out


WITH_EXPECTED = [r for r in RECORDS if r.get("expected")]


def _claims_param(r: Record) -> Any:
    name = rid(r)
    why = HANPORT_WRONG_VALUES.get(name) or _gap_records().get(name)
    if why is not None and claims_for(r):
        return pytest.param(r, id=name, marks=pytest.mark.xfail(strict=True, reason=why))
    return pytest.param(r, id=name)


@pytest.mark.parametrize("rec", [_claims_param(r) for r in WITH_EXPECTED])
def test_record_matches_its_sources(rec: Record) -> None:
    """Every stated value agrees, except the documented disagreements, which must persist."""
    name = rid(rec)
    found = disagreements_of(rec)
    if name in SOURCE_DECODES_WHAT_IS_NOT_THERE:
        assert found, "the source's values now agree: remove the entry"
        return
    known = {
        f
        for table in (KNOWN_SOURCE_DISAGREEMENTS, KNOWN_HANPORT_GAPS)
        for (n, f) in table
        if n == name
    }
    unexpected = {f: c for f, c in found.items() if f not in known}
    assert not unexpected, "new disagreements:\n" + "\n".join(
        str(c) for cs in unexpected.values() for c in cs
    )
    vanished = known - set(found)
    assert not vanished, f"documented disagreements no longer occur: {sorted(vanished)}"


def test_documented_disagreements_refer_to_records() -> None:
    names = {rid(r) for r in WITH_EXPECTED}
    for table in (KNOWN_SOURCE_DISAGREEMENTS, KNOWN_HANPORT_GAPS):
        assert {n for n, _ in table} <= names
    assert set(SOURCE_DECODES_WHAT_IS_NOT_THERE) <= names
    assert set(HANPORT_WRONG_VALUES) <= names


def comparison_stats() -> dict[str, int]:
    """Claims by outcome."""
    out: Counter[str] = Counter()
    documented = KNOWN_SOURCE_DISAGREEMENTS | KNOWN_HANPORT_GAPS
    excused = set(SOURCE_DECODES_WHAT_IS_NOT_THERE) | set(HANPORT_WRONG_VALUES)
    for rec in WITH_EXPECTED:
        name = rid(rec)
        for c in claims_for(rec):
            if c.agrees():
                out["agree"] += 1
            elif (name, c.field) in documented:
                out["documented"] += 1
            elif name in excused or name in _gap_records():
                out["record documented"] += 1
            else:
                out["unexplained"] += 1
    return dict(out)


def test_claims_add_up() -> None:
    stats = comparison_stats()
    assert stats.get("unexplained", 0) == 0, stats
    assert sum(stats.values()) >= 700, stats
    assert stats["agree"] > 0.75 * sum(stats.values()), stats


def _descriptor(class_id: int, obis: str) -> str:
    """A capture-object descriptor {class id, logical name, attribute 2, data index 0}."""
    return f"0204 12{class_id:04x} 0906{obis} 0f02 120000"


def _descriptor6(class_id: int, obis: str) -> str:
    """The 6-element descriptor Energomera sends: {class id, logical name, attribute 2, data
    index 0, restriction {enum 0, null}, columns []}."""
    return f"0206 12{class_id:04x} 0906{obis} 0f02 120000 0202 1600 00 0100"


def _notification(body: str) -> bytes:
    return bytes.fromhex(("0f00000001 00" + body).replace(" ", ""))


def test_push_object_list_of_the_e450_shape_is_mapped() -> None:
    """Landis+Gyr E450 (CH/AT): structure(3){array(3){push setup, 1-0:1.7.0, 1-0:2.7.0},
    331, 7} -- descriptor k's value is element k."""
    body = (
        "0203 0103"
        + _descriptor(40, "0000190900ff")
        + _descriptor(3, "0100010700ff")
        + _descriptor(3, "0100020700ff")
        + "060000014b 0600000007"
    )
    values = hanport.decode_frame(_notification(body)).values
    assert values["active_power_import"] == 331
    assert values["active_power_export"] == 7


def test_push_object_list_of_6_element_descriptors_is_mapped() -> None:
    """Energomera's shape: the descriptors carry a restriction and columns too."""
    body = (
        "0203 0103"
        + _descriptor6(40, "0000190900ff")
        + _descriptor6(3, "0100010700ff")
        + _descriptor6(3, "0100020700ff")
        + "060000014b 0600000007"
    )
    values = hanport.decode_frame(_notification(body)).values
    assert values == {"active_power_import": 331, "active_power_export": 7}


def test_push_object_list_matching_no_values_is_rejected() -> None:
    """One descriptor, three values: which value is whose cannot be told."""
    body = "0204 0101" + _descriptor(3, "0100010700ff") + "060000014b 0600000007 0600000008"
    with pytest.raises(hanport.DecodeError, match="capture-object descriptors"):
        hanport.decode_frame(_notification(body))


@pytest.mark.parametrize(
    "body",
    [
        "0202 0101" + _descriptor(3, "0100010700ff") + "060000014b",
        "0203 0102"
        + _descriptor(40, "0000190900ff")
        + _descriptor(3, "0100010700ff")
        + "09060000190900ff 060000014b",
        "0202 0101" + _descriptor6(3, "0100010700ff") + "060000014b",
        "0204 0101" + _descriptor(3, "0100010700ff") + "060000014b 060000014b 060000014b",
    ],
    ids=["one-descriptor", "push-setup-and-one", "one-6-element", "more-values"],
)
def test_capture_descriptors_are_never_values(body: str) -> None:
    """Whatever the shape, a descriptor's attribute index (2) is not the register's value:
    rejecting the body is fine, 'active_power_import = 2 W' is not. (Push object lists are
    mapped descriptor by value, or rejected when their number matches no reading; read as
    OBIS-coded (code, value) pairs, the attribute index would become every value.)"""
    try:
        values = hanport.decode_frame(_notification(body)).values
    except hanport.DecodeError:
        return
    assert values.get("active_power_import") in (None, 331)


# ---- plausibility of what hanport reports -------------------------------------------------

IMPLAUSIBLE: dict[str, str] = {}


def _implausible(t: hanport.Telegram) -> list[str]:
    v = t.values
    out = [
        f"{k}={x}"
        for k, x in v.items()
        if k.startswith("power_factor") and isinstance(x, (int, float)) and abs(x) > 1
    ]
    phases = [v.get(f"active_energy_import_l{i}") for i in (1, 2, 3)]
    total = v.get("active_energy_import")
    known = [x for x in phases if isinstance(x, int)]
    if known and isinstance(total, int) and total > 1000 and sum(known) < total / 5:
        out.append(f"per-phase import energies {known} vs total {total}")
    numbers = [o.value for o in t.objects if isinstance(o.value, (int, float))]
    twos = sum(1 for x in numbers if x == 2)
    if twos >= 3 and twos >= 0.75 * len(numbers):
        out.append(f"{twos} of {len(numbers)} values are 2")
    return out


def _plausibility_param(n: str) -> Any:
    if n in IMPLAUSIBLE:
        return pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=IMPLAUSIBLE[n]))
    return n


@pytest.mark.parametrize(
    "name",
    [
        _plausibility_param(n)
        for n, r in BY_NAME.items()
        if r["format"] != "p1" and IntlDecoded(r).telegram is not None
    ],
)
def test_dlms_telegrams_are_plausible(name: str) -> None:
    """Power factors within [-1, 1]; per-phase energies of the order of the total. (P1
    values are what the text says -- E.ON Hungary's 1-0:13.7.0(4.556) is the meter's own.)"""
    t = IntlDecoded(BY_NAME[name]).telegram
    assert t is not None
    assert _implausible(t) == []


# --------------------------------------------------------------------------------------------
# P1: every value equals the telegram's text
# --------------------------------------------------------------------------------------------

#: field -> SI unit, from hanport.OBIS_TABLE: a value group without a unit (a gas reading
#: '(00000000)') gets its quantity's unit.
TABLE_UNITS: dict[str | None, str | None] = {
    e["field"]: e["unit"] or None for e in hanport.OBIS_TABLE
}
P1_LINE = re.compile(rb"^(?P<code>\d+-\d+:\d+\.\d+\.\d+)(?:\*\d+)?(?P<groups>(?:\([^()\r\n]*\))+)")
P1_NUMBER = re.compile(r"(?P<num>-?\d+(?:\.\d+)?)(?:\*(?P<unit>.+))?")
P1_TIME = re.compile(r"(?P<wall>\d{12})(?P<dst>[SW])")


def p1_lines(data: bytes) -> dict[str, list[str]]:
    """OBIS code (A-B:C.D.E) -> the value groups of its line(s), in order, as text."""
    out: dict[str, list[str]] = {}
    for line in data.split(b"\n"):
        m = P1_LINE.match(line.strip())
        if m:
            groups = re.findall(rb"\(([^()]*)\)", m["groups"])
            out.setdefault(m["code"].decode(), []).extend(g.decode("latin-1") for g in groups)
    return out


def p1_telegrams() -> Iterator[tuple[str, bytes, hanport.Telegram]]:
    for name, r in BY_NAME.items():
        d = IntlDecoded(r)
        t = d.telegram
        if t is None or not t.objects or r["format"] not in ("p1", "apdu"):
            continue
        if t.raw.lstrip().startswith(b"/"):
            yield name, t.raw, t


def check_p1_object(obj: hanport.CosemObject, group: str) -> str:
    """Compare one object with its value group; returns what kind of value was compared."""
    value = obj.value
    t = P1_TIME.fullmatch(group)
    if t is not None and isinstance(value, datetime):
        # YY as Python's %y reads it: 69..99 are 1969..1999 (a meter sends 700101010000W for
        # an unused M-Bus channel)
        wall = datetime.strptime(t["wall"], "%y%m%d%H%M%S")
        assert value.replace(tzinfo=None) == wall, (obj.obis, group, value)
        return "timestamp"
    n = P1_NUMBER.fullmatch(group)
    if n is not None and not isinstance(value, str):
        factor, si_unit = DSMR_UNITS[n["unit"]] if n["unit"] else (1, TABLE_UNITS.get(obj.field))
        assert obj.unit == si_unit, (obj.obis, group, obj.unit)
        assert si_decimal(obj) == Decimal(n["num"]) * factor, (obj.obis, group, obj.raw, obj.scaler)
        assert obj.scaler_source == "payload"
        if isinstance(value, float):
            assert math.isclose(value, float(Decimal(n["num"]) * factor), rel_tol=1e-12)
        return "number"
    if group == "":
        assert value in (None, ""), (obj.obis, value)
        return "empty"
    assert value == group, (obj.obis, group, value)
    return "text"


def test_p1_values_equal_the_telegram_text() -> None:
    kinds: Counter[str] = Counter()
    telegrams = 0
    for name, raw, t in p1_telegrams():
        telegrams += 1
        lines = p1_lines(raw)
        by_code: dict[str, list[hanport.CosemObject]] = {}
        for o in t.objects:
            by_code.setdefault(o.obis.rsplit(".", 1)[0], []).append(o)
        for code, objs in by_code.items():
            groups = lines[code]
            if len(objs) == len(groups):  # one object per value group
                for o, g in zip(objs, groups, strict=True):
                    kinds[check_p1_object(o, g)] += 1
            else:  # a line of several groups kept whole as text
                assert len(objs) == 1, (name, code)
                assert isinstance(objs[0].value, str), (name, code)
                kinds["line kept as text"] += 1
        assert set(lines) <= set(by_code), (name, set(lines) - set(by_code))
    assert telegrams >= 25
    assert kinds["number"] >= 500, kinds
    assert kinds["timestamp"] >= 30, kinds


def test_p1_timestamps_are_local_time_of_the_zone() -> None:
    """hanport's tz policy for P1: the digits are the wall clock in ``tz``; the S/W letter
    only picks the repeated hour at the end of summer time."""
    for _, raw, _t in p1_telegrams():
        for tz in ("Europe/Oslo", "UTC", "Asia/Tokyo"):
            t = hanport.decode_frame(raw, tz=tz)
            if t.meter_time is not None:
                m = re.search(rb"0-0:1\.0\.0\((\d{12})[SW]\)", raw)
                assert m is not None
                wall = datetime.strptime(m[1].decode(), "%y%m%d%H%M%S")
                assert t.meter_time.replace(tzinfo=None) == wall
                assert str(t.meter_time.tzinfo) == tz


# ---- Iskra AM550's positional lists (PROTOCOL.md §12.4) -------------------------------------


def _iskra(name: str) -> bytes:
    (r,) = [r for r in RECORDS if r["id"] == f"{_AMS}iskraemeco_{name}"]
    return bytes.fromhex(r["hex"])


_ISKRA_LISTS = [
    *(f"gh615-{i}.hex" for i in (1, 2, 3, 4, 5, 6, 8, 9)),
    *(f"gh869-{i}.hex" for i in (1, 2, 3, 4, 5, 6, 8)),
    "gh956-1.hex",
    "gh956-2.hex",
    "gh1072-3.hex",
    "gh1072-4.hex",
]


@pytest.mark.parametrize("name", _ISKRA_LISTS)
def test_iskra_positions_agree_with_the_physics(name: str) -> None:
    """The positions are taken from a peer's reading, so the captures check them: per-phase
    powers add up to the total (within the meter's rounding), tariff registers to theirs,
    and S = U x I bounds P for every phase that has both."""
    values = hanport.decode_frame(_iskra(name)).values
    assert values, name
    v = {k: float(x) for k, x in values.items() if isinstance(x, (int, float))}
    for d in ("import", "export"):
        phases = [v.get(f"active_power_{d}_l{i}") for i in (1, 2, 3)]
        if f"active_power_{d}" in v and all(p is not None for p in phases):
            total = sum(p for p in phases if p is not None)
            assert abs(total - v[f"active_power_{d}"]) <= 3, (name, d, phases)
        tariffs = [v.get(f"active_energy_{d}_tariff_{i}") for i in (1, 2)]
        if all(t is not None for t in tariffs):
            assert sum(t for t in tariffs if t is not None) == v[f"active_energy_{d}"], name
    for i in (1, 2, 3):
        u, a = v.get(f"voltage_l{i}"), v.get(f"current_l{i}")
        if u is not None:
            assert 180 <= u <= 260, (name, i, u)
        p = v.get(f"active_power_import_l{i}", 0.0) + v.get(f"active_power_export_l{i}", 0.0)
        if u is not None and a is not None:
            assert p <= u * a * 1.02 + 5, (name, i, p, u, a)


def test_iskra_list_of_other_types_is_not_mapped_by_position() -> None:
    """A layout is taken only when every element has its type: the 18-element list with its
    first voltage sent as a double-long-unsigned is no Iskra list hanport knows."""
    frame = _iskra("gh615-1.hex")
    apdu = frame[12:-3]  # 7E, format 2, addresses 3, control 1, HCS 2, LLC 3 | FCS 2, 7E
    assert hanport.decode_frame(apdu).values["voltage_l1"] == 237.9
    at = apdu.index(bytes.fromhex("12094b12094b"))
    changed = apdu[:at] + bytes.fromhex("060000094b") + apdu[at + 3 :]
    with pytest.raises(hanport.errors.MappingError):
        hanport.decode_frame(changed)


def test_iskra_totals_list_needs_iskra_addressing() -> None:
    """The 4-element total-energy list has no ISK name: inside Iskra's HDLC frame (CF / 02 23)
    it is Iskra's; the same APDU alone is not claimed."""
    frame = _iskra("gh869-3.hex")
    tg = hanport.decode_frame(frame)
    assert (tg.manufacturer, tg.meter_id) == ("Iskra", "84605887")
    assert tg.values["active_energy_import"] == 7924641
    with pytest.raises(hanport.errors.MappingError):
        hanport.decode_frame(frame[12:-3])


def test_bare_clock_and_meter_number_around_obis_objects() -> None:
    """The EVN/Netz NOe shape: a bare date-time first and a bare number last, OBIS-coded
    objects between; both bare ends are needed before either is taken."""
    clock = "090c 07e5091b01092f0f00ff8880"
    energy = "0906 0100010800ff 0600003289 02020f00161e"
    number = "090c" + b"181220000009".hex()
    tg = hanport.decode_frame(_notification("0205" + clock + energy + number))
    assert tg.meter_id == "181220000009"
    assert tg.meter_time is not None
    assert tg.meter_time.isoformat() == "2021-09-27T09:47:15+02:00"
    assert [o.field for o in tg.objects] == ["meter_time", "active_energy_import", "meter_id"]
    for body in ("0204" + energy + number, "0204" + clock + energy):
        tg = hanport.decode_frame(_notification(body))
        assert (tg.meter_id, tg.meter_time) == (None, None), body
        assert tg.values == {"active_energy_import": 12937}


@pytest.mark.parametrize(
    "name",
    [
        "esphome-libs__dlms_parser:raw_egd_example@apdu",
        "esphome-libs__dlms_parser:raw_sagecom_xt211@apdu",
    ],
)
def test_untagged_descriptors_through_a_learned_layout(name: str) -> None:
    """The Czech pushes with untagged capture-object descriptors, framed in HDLC and sent again
    and again with another active power each time: the stream decoder's learned layout (from
    the second push on) gives what ``decode_frame`` gives for each frame."""
    from encoder import hdlc_frame

    apdu = bytes.fromhex(BY_NAME[name]["hex"])
    # the descriptor of 1-0:1.7.0.255 (class 3, attribute 2), then a double-long-unsigned
    marker = bytes.fromhex("00030100010700ff0206")
    at = apdu.index(marker) + len(marker)
    frames = []
    for power in (7, 1956, 65_536, 4_000_000_000, 0):
        body = apdu[:at] + power.to_bytes(4, "big") + apdu[at + 4 :]
        frames.append(hdlc_frame(b"\x41", b"\x03", 0x13, b"\xe6\xe7\x00" + body))
    dec = hanport.Decoder()
    got = dec.feed(b"".join(frames)) + dec.flush()
    assert not dec.errors
    assert len(got) == len(frames)
    for tg, frame, power in zip(got, frames, (7, 1956, 65_536, 4_000_000_000, 0), strict=True):
        want = hanport.decode_frame(frame)
        assert tg.values == want.values
        assert tg.values["active_power_import"] == power
        assert [o.to_dict() for o in tg.objects] == [o.to_dict() for o in want.objects]
