"""Data-quality flags: they fire on the corpus cases that motivate them and on no clean capture.

Flags never change a value; they say what looks wrong (see rust/src/quality.rs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hanport

from golden import norwegian_records
from strategies import encode_frame

DATA = Path(__file__).resolve().parent / "data"


def record(record_id: str) -> bytes:
    for path in (DATA / "records").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r["id"] == record_id:
                    return bytes.fromhex(r["hex"])
    raise KeyError(record_id)


# amsreader issue #1119: an Aidon 6534 re-sends the 17:00 hourly list (clock and counters) at
# 18:00; frames 1..4 were pushed at 16:00, 17:00, 18:00 and 19:00.
GH1119 = [record(f"UtilitechAS__amsreader-firmware:aidon_gh1119-{k}.hex") for k in (1, 2, 3, 4)]


def feed_each(frames: list[bytes], **kwargs: float) -> list[hanport.Telegram]:
    dec = hanport.Decoder()
    out: list[hanport.Telegram] = []
    for f in frames:
        out += dec.feed(f, **kwargs)
    return out + dec.flush()


def test_repeated_hourly_snapshot_is_flagged() -> None:
    tgs = feed_each(GH1119)
    assert [t.flags for t in tgs] == [[], [], ["repeated_snapshot"], []]
    # what repeats is the clock and the counters; nothing is dropped or changed
    assert tgs[2].meter_time == tgs[1].meter_time
    energy = [k for k in tgs[1].values if "energy" in k]
    assert len(energy) == 4
    assert all(tgs[2].values[k] == tgs[1].values[k] for k in energy)
    assert tgs[2].values["active_power_import"] != tgs[1].values["active_power_import"]


def test_register_going_backwards_is_flagged() -> None:
    # the 17:00 list followed by the 16:00 one: every counter that moved goes back
    tgs = feed_each([GH1119[1], GH1119[0]])
    assert tgs[0].flags == []
    assert tgs[1].flags == ["register_backwards"]


def test_flags_are_per_meter() -> None:
    kaifa = record("toreamun__amshan:test_kaifa.py:no_list_3")
    tgs = feed_each([GH1119[1], kaifa, GH1119[3]])
    assert all(t.flags == [] for t in tgs)


def _reencode(frame: bytes, old: bytes, new: bytes) -> bytes:
    """The frame with one byte string of its information field replaced, CRCs recomputed."""
    f = hanport.HdlcFrame.parse(frame)
    assert f.information.count(old) == 1
    info = f.information.replace(old, new)
    return encode_frame(f.dest_address, f.source_address, f.control, False, info).raw


AIDON_LIST2 = record("robinsmidsrod__ams-han-decoder:6515-1-ok@0")


def test_scaling_error_on_voltage_is_flagged() -> None:
    # UL1 = 0x09C4 with scaler -1 (250.0 V); a scaler of 0 gives 2500 V: a x10 error
    bad = _reencode(
        AIDON_LIST2, bytes.fromhex("1209c402020fff1623"), bytes.fromhex("1209c402020f001623")
    )
    tg = hanport.decode_frame(bad)
    assert tg.values["voltage_l1"] == 2500.0
    assert tg.flags == ["implausible_voltage"]


def test_scaling_error_on_current_is_flagged() -> None:
    # IL1 = 0x005D with scaler -1 (9.3 A); scaler +3 gives 93 kA; scaler -4 gives 9.3 mA, and
    # then the 1362 W of P+ no longer fits U x I
    big = _reencode(
        AIDON_LIST2, bytes.fromhex("10005d02020fff1621"), bytes.fromhex("10005d02020f031621")
    )
    assert hanport.decode_frame(big).flags == ["implausible_current"]
    small = _reencode(
        AIDON_LIST2, bytes.fromhex("10005d02020fff1621"), bytes.fromhex("10005d02020ffc1621")
    )
    assert hanport.decode_frame(small).flags == ["power_inconsistent"]


def test_clock_drift_needs_a_limit_and_a_receive_time() -> None:
    hourly = GH1119[0]
    meter_time = hanport.decode_frame(hourly).meter_time
    assert meter_time is not None
    t = meter_time.timestamp()
    assert feed_each([hourly], received_at=t + 3600)[0].flags == []  # no limit configured
    dec = hanport.Decoder(max_clock_drift=600.0)
    late = dec.feed(hourly, received_at=t + 3600)
    assert late[0].flags == ["clock_drift"]
    assert late[0].received_at is not None
    assert late[0].received_at.timestamp() == pytest.approx(t + 3600)
    dec = hanport.Decoder(max_clock_drift=600.0)
    assert dec.feed(hourly, received_at=t + 10)[0].flags == []


def test_no_flags_on_clean_captures() -> None:
    flagged = []
    for r in norwegian_records():
        try:
            tg = hanport.decode_frame(bytes.fromhex(r["hex"]))
        except hanport.DecodeError:
            continue
        if tg.flags:
            flagged.append((r["id"], tg.flags))
    for path in sorted((DATA / "streams").glob("*.bin")):
        dec = hanport.Decoder()
        for tg in [*dec.feed(path.read_bytes()), *dec.flush()]:
            if tg.flags:
                flagged.append((f"{path.name}@{tg.offset}", tg.flags))
    assert flagged == []


def test_resource_limits_are_configurable() -> None:
    aidon_list2 = AIDON_LIST2  # 212 bytes on the wire
    dec = hanport.Decoder(max_frame_length=100, max_errors=3)
    out = dec.feed(aidon_list2 * 5)
    assert out == []  # every frame is longer than the limit
    assert dec.pending < 20  # nothing is buffered for a candidate over the limit
    assert len(dec.errors) == 3
    assert {e.kind for e in dec.errors} <= {"bad_length", "garbage"}
    assert any(e.kind == "bad_length" for e in dec.errors)
    assert dec.stats.frames_malformed >= 5
    assert len(hanport.Decoder().feed(aidon_list2)) == 1
    # A-XDR nesting: Aidon registers nest 3 deep
    assert hanport.decode_frame(aidon_list2, max_depth=3).values["voltage_l1"] == 250.0
    with pytest.raises(hanport.AxdrError, match="nesting deeper than 2"):
        hanport.decode_frame(aidon_list2, max_depth=2)
    with pytest.raises(hanport.FrameError):
        hanport.decode_frame(aidon_list2, max_frame_length=100)
    for bad in ({"max_depth": 0}, {"max_depth": 17}, {"max_frame_length": 6}, {"max_errors": 0}):
        with pytest.raises(ValueError, match="max_"):
            hanport.Decoder(**bad)  # type: ignore[arg-type]
