"""Differential test: hanport against amshan, an independent pure-Python decoder.

amshan (PyPI ``amshan==2.1.1``, import name ``han``, pinned in requirements-dev.txt) decodes the
Norwegian and Swedish HAN lists of Aidon, Kaifa and Kamstrup. Every NO/SE record of the corpus
whose bytes are a valid HDLC frame, an LLC PDU or an APDU is given to amshan's
``AutoDecoder().decode_message_payload`` (the HDLC information field, i.e. the LLC PDU; an APDU
gets the ``E6 E7 00`` LLC header the meters send) and every value both decoders report is
compared, after mapping amshan's keys and units onto hanport's (see :data:`AMSHAN_FIELDS`).

Where amshan is wrong the disagreement is listed with the reason in
:data:`AMSHAN_KNOWN_WRONG` (one frame, one field) or :data:`AMSHAN_SYSTEMATIC` (a rule that
names the frames it covers), and the test asserts that exactly those disagreements exist.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import hanport

autodecoder = pytest.importorskip("han.autodecoder")
cosem = pytest.importorskip("han.cosem")
kamstrup = pytest.importorskip("han.kamstrup")

RECORDS_DIR = Path(__file__).resolve().parent / "data" / "records"
TZ = ZoneInfo("Europe/Oslo")
LLC_HEADER = b"\xe6\xe7\x00"


def _selected_records() -> list[dict[str, Any]]:
    """NO/SE records whose bytes are a valid HDLC frame (the corpus' independent checker says
    ok), an LLC PDU or an APDU: the same selection as test_expected.py."""
    out = []
    for path in sorted(RECORDS_DIR.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                rec = json.loads(line)
                if rec.get("country") not in ("Norway", "Sweden"):
                    continue
                fmt, check = rec.get("format"), rec.get("check") or {}
                if fmt in ("llc-pdu", "apdu") or (fmt == "hdlc" and check.get("result") == "ok"):
                    out.append(rec)
    return out


RECORDS = _selected_records()


class Frame:
    """One record: its LLC PDU, amshan's decode and hanport's."""

    def __init__(self, rec: dict[str, Any]) -> None:
        self.id: str = rec["id"]
        data = bytes.fromhex(rec["hex"])
        if rec["format"] == "hdlc":
            self.pdu = hanport.HdlcFrame.parse(data).information
        elif rec["format"] == "llc-pdu":
            self.pdu = data
        else:
            self.pdu = LLC_HEADER + data
        assert self.pdu.startswith(LLC_HEADER), self.id
        self.apdu = self.pdu[len(LLC_HEADER) :]
        # A fresh AutoDecoder per frame: it tries the decoder that last succeeded first.
        self.amshan: dict[str, Any] | None = autodecoder.AutoDecoder().decode_message_payload(
            self.pdu
        )
        self.telegram: hanport.Telegram | None
        try:
            self.telegram = hanport.decode_frame(data)
        except hanport.HanError:
            self.telegram = None


FRAMES = [Frame(r) for r in RECORDS]
FRAMES_BY_ID = {f.id: f for f in FRAMES}
DECODED = [f for f in FRAMES if f.amshan is not None]


def _ours_value(field: str) -> Callable[[Frame], Any]:
    def get(f: Frame) -> Any:
        return f.telegram.values.get(field) if f.telegram is not None else None

    return get


def _ours_manufacturer(f: Frame) -> Any:
    return f.telegram.manufacturer if f.telegram is not None else None


def _ours_datetime(f: Frame) -> Any:
    """The clock amshan reports: its Kamstrup decoder the APDU header's date-time (it overwrites
    the clock object's), the others the clock object if the list has one, else the header's."""
    if f.telegram is None or f.amshan is None:
        return None
    if f.amshan.get("meter_manufacturer") == "Kamstrup" or f.telegram.meter_time is None:
        return f.telegram.notification_time
    return f.telegram.meter_time


# amshan key -> hanport's value. Units: amshan's powers are W and var, currents A, voltages V
# (scaled by the frame's scaler for Aidon, by amshan's own vendor tables for Kaifa and Kamstrup)
# and its "*_total" registers are the energy registers in Wh/varh (obis_map.py: 1.8.0 etc.),
# all as hanport's.
AMSHAN_FIELDS: dict[str, Callable[[Frame], Any]] = {
    "meter_manufacturer": _ours_manufacturer,
    "meter_datetime": _ours_datetime,
    "list_ver_id": _ours_value("list_id"),
    "active_power_import_total": _ours_value("active_energy_import"),
    "active_power_export_total": _ours_value("active_energy_export"),
    "reactive_power_import_total": _ours_value("reactive_energy_import"),
    "reactive_power_export_total": _ours_value("reactive_energy_export"),
    **{
        k: _ours_value(k)
        for k in (
            "meter_id",
            "meter_type",
            "active_power_import",
            "active_power_export",
            "reactive_power_import",
            "reactive_power_export",
            "current_l1",
            "current_l2",
            "current_l3",
            "voltage_l1",
            "voltage_l2",
            "voltage_l3",
            *(
                f"{q}_l{n}"
                for q in (
                    "active_power_import",
                    "active_power_export",
                    "reactive_power_import",
                    "reactive_power_export",
                )
                for n in (1, 2, 3)
            ),
        )
    },
}


def agrees(theirs: Any, ours: Any) -> bool:
    if theirs is None or ours is None:
        return theirs is None and ours is None
    if isinstance(theirs, int) and isinstance(ours, int):
        return theirs == ours
    if isinstance(theirs, (int, float)) and isinstance(ours, (int, float)):
        return math.isclose(theirs, ours, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(theirs, datetime) and isinstance(ours, datetime):
        if theirs.tzinfo is None:  # deviation not specified: wall-clock time
            return ours.astimezone(TZ).replace(tzinfo=None) == theirs
        return theirs == ours
    return bool(theirs == ours)


def disagreements(f: Frame) -> dict[str, tuple[Any, Any]]:
    """amshan key -> (amshan's value, hanport's) for every common value that differs."""
    assert f.amshan is not None
    out: dict[str, tuple[Any, Any]] = {}
    for key, theirs in f.amshan.items():
        assert key in AMSHAN_FIELDS, f"{f.id}: amshan key {key!r} has no mapping"
        ours = AMSHAN_FIELDS[key](f)
        if not agrees(theirs, ours):
            out[key] = (theirs, ours)
    return out


# --------------------------------------------------------------------------------------------
# Where amshan is wrong
# --------------------------------------------------------------------------------------------


def _is_aidon_deviation_zero(f: Frame) -> bool:
    """An Aidon clock object whose deviation field is 0 (Aidon's Norwegian lists)."""
    t = f.telegram
    if t is None or t.manufacturer != "Aidon":
        return False
    clock = next((o for o in t.objects if o.field == "meter_time"), None)
    if clock is None:
        return False
    marker = bytes.fromhex("0000010000ff090c")  # OBIS 0-0:1.0.0.255, octet-string of 12
    at = f.apdu.find(marker)
    assert at >= 0, f.id
    octets = f.apdu[at + len(marker) : at + len(marker) + 12]
    return octets[9:11] == b"\x00\x00"


def _is_unlabelled_register_list(f: Frame) -> bool:
    """A frame with no list id whose layout Aidon and L&G's Embriq module share."""
    t = f.telegram
    return t is not None and t.list_id is None and t.manufacturer is None


# field -> (which frames the rule covers, why amshan is wrong there)
AMSHAN_SYSTEMATIC: dict[str, tuple[Callable[[Frame], bool], str]] = {
    "meter_manufacturer": (
        _is_unlabelled_register_list,
        "amshan names 'Aidon' for any list-id-less array of register structures, but the "
        "Landis+Gyr E350's Embriq module sends byte-for-byte the same layout and HDLC "
        "addresses (frames/L&G-E350_Norway.raw#108 is a list 1 of an L&G meter): the frame "
        "does not say who made the meter, so hanport reports None instead of guessing",
    ),
    "meter_datetime": (
        _is_aidon_deviation_zero,
        "amshan turns every specified deviation into a fixed offset, so Aidon's deviation 0 "
        "makes the clock UTC. Aidon's Norwegian lists send local wall-clock time with "
        "deviation 0 (the hourly list is stamped hh:00:00 local, summer and winter; see "
        "hanport's date-time policy), so e.g. 16:00 means 16:00 in Oslo, not 17:00",
    ),
}

_LG = "UtilitechAS__amsreader-firmware:frames/L&G-E350_Norway.raw#"
_LG_MAKER = (
    "amshan's Aidon decoder accepts any array of OBIS/value/scaler structures and hard-codes "
    "meter_manufacturer 'Aidon'; the frame's list version identifier is EMBRIQ_V1_1, the "
    "Landis+Gyr E350 list"
)
_LG_NUL = (
    "the octet string is NUL-padded to a fixed width (e.g. '13943597' + 8 x 00); amshan keeps "
    "the padding, hanport strips it, and the meter's identifier has no NUL characters"
)

AMSHAN_KNOWN_WRONG: dict[tuple[str, str], str] = {
    **{(f"{_LG}{n}", "meter_manufacturer"): _LG_MAKER for n in (29, 159, 289, 419, 549)},
    **{(f"{_LG}{n}", "meter_id"): _LG_NUL for n in (29, 159, 289, 419, 549)},
    (f"{_LG}159", "meter_type"): _LG_NUL + " (here all four octets are 00)",
    ("UtilitechAS__amsreader-firmware:kaifa_gh242-4.hex", "meter_manufacturer"): (
        "a Kaifa MA304T4 (CT) frame with KFM_001 whose energy registers are 8-byte unsigned "
        "(A-XDR 0x15): amshan's Kaifa decoders reject the type, and its Kamstrup decoder then "
        "'succeeds' with no value but meter_manufacturer 'Kamstrup' and the header date-time"
    ),
}

# Frames amshan returns None for, and why (hanport rejects them too).
AMSHAN_UNDECODABLE = {
    "skagmo__meter_reading:hafslund_example:long-body": (
        "not a data-notification: the bytes start with 02 (a structure without the APDU "
        "header); hanport raises ApduError for it as well"
    ),
}


def expected_wrong(f: Frame) -> set[str]:
    rules = {k for k, (covers, _) in AMSHAN_SYSTEMATIC.items() if covers(f)}
    return rules | {k for (fid, k) in AMSHAN_KNOWN_WRONG if fid == f.id}


@pytest.mark.parametrize("frame", DECODED, ids=lambda f: f.id)
def test_amshan_agrees_except_where_known_wrong(frame: Frame) -> None:
    assert frame.telegram is not None, "amshan decodes a frame hanport rejects"
    found = disagreements(frame)
    expected = expected_wrong(frame)
    unexpected = {k: v for k, v in found.items() if k not in expected}
    assert not unexpected, f"new disagreements (amshan, hanport): {unexpected}"
    vanished = expected - set(found)
    assert not vanished, f"documented amshan errors no longer occur: {sorted(vanished)}"


def test_amshan_decodes_nearly_every_frame() -> None:
    undecoded = {f.id for f in FRAMES if f.amshan is None}
    assert undecoded == set(AMSHAN_UNDECODABLE)
    for fid in undecoded:
        assert FRAMES_BY_ID[fid].telegram is None, fid
    assert len(DECODED) >= 180


def test_known_wrong_entries_refer_to_decoded_frames() -> None:
    decoded_ids = {f.id for f in DECODED}
    assert {fid for fid, _ in AMSHAN_KNOWN_WRONG} <= decoded_ids
    for field, (covers, _) in AMSHAN_SYSTEMATIC.items():
        assert any(covers(f) and field in (f.amshan or {}) for f in DECODED), field


def diff_stats() -> tuple[int, int, int, int]:
    """(frames compared, values compared, agreeing, disagreeing)."""
    n = ok = 0
    for f in DECODED:
        found = disagreements(f)
        n += len(f.amshan or {})
        ok += len(f.amshan or {}) - len(found)
    return len(DECODED), n, ok, n - ok


def test_most_values_are_compared_and_agree() -> None:
    frames, n, ok, _ = diff_stats()
    assert n >= 10 * frames
    assert ok >= 0.98 * n


# --------------------------------------------------------------------------------------------
# amshan errors that decode_message_payload does not surface
# --------------------------------------------------------------------------------------------


def test_amshan_invoke_id_bit_order() -> None:
    """amshan's LongInvokeIdAndPriority BitStruct reads the first 24 bits as the invoke-id (and
    the last octet's bits as the flags). Per the Green Book the invoke-id is bits 0-23, the last
    three octets, and the first octet holds priority (bit 31), service class (bit 30),
    processing option and self-descriptive: Aidon's and Kaifa's 40 00 00 00 is invoke-id 0,
    service class confirmed, where amshan reads invoke-id 0x400000 and 'Unconfirmed'. hanport
    has no accessor for the invoke-id, so the Green Book reading is made here."""
    wrong = 0
    for f in DECODED:
        field = f.apdu[1:5]
        parsed = cosem.LongInvokeIdAndPriority.parse(field)
        green_book = int.from_bytes(field, "big") & 0x00FF_FFFF
        assert parsed.invoke_id == int.from_bytes(field[:3], "big")
        if field[0] != 0:  # a priority/service-class bit is set: amshan's reading is wrong
            assert parsed.invoke_id != green_book, f.id
            wrong += 1
        else:
            assert parsed.invoke_id == green_book, f.id
    assert wrong >= 100


def test_amshan_kamstrup_ct_meter_branch_is_dead() -> None:
    """amshan means to read Kamstrup CT meters' (type 685...) currents in mA, but looks the
    meter type up under OBIS '1.1.96.1.1.256' (never present) and would call ``startswith`` on a
    construct Container if it were: its CT branch never runs. The corpus has no Kamstrup CT
    meter, so this patches a real 3-phase list's type to 685... and checks that amshan still
    scales IL1 by 0.01."""
    f = FRAMES_BY_ID["toreamun__amshan:test_kamstrup.py:se_list_real_sample"]
    assert b"6841138BN245101090" in f.pdu
    ct_pdu = f.pdu.replace(b"6841138BN245101090", b"6851138BN245101090")
    decoded = kamstrup.decode_frame_content(ct_pdu)
    assert decoded["meter_type"].startswith("685")
    assert math.isclose(decoded["current_l1"], 237 * 0.01)  # raw 0x00ED: not 0.237 A
