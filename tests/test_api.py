"""The Python surface: exceptions, argument types, counters, reprs, version, real captures."""

from __future__ import annotations

import importlib.metadata
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hanport
import hanport.errors
from hanport import (
    ApduError,
    AxdrError,
    ChecksumError,
    DecodeError,
    Decoder,
    DecryptionError,
    FrameError,
    FrameSplitter,
    HanError,
    HdlcFrame,
    MappingError,
    UnsupportedError,
    decode_frame,
)

from strategies import FLAG, crc16_x25_bitwise, encode_frame

ERROR_CLASSES: list[type[DecodeError]] = [
    DecodeError,
    FrameError,
    ChecksumError,
    ApduError,
    AxdrError,
    UnsupportedError,
    DecryptionError,
    MappingError,
]

#: Kinds HdlcFrame.parse documents (bad format type, length, address, missing flag,
#: truncation, HCS/FCS); "malformed" is what a missing opening flag gives.
PARSE_KINDS = {
    "bad_hcs",
    "bad_fcs",
    "bad_format",
    "bad_length",
    "bad_address",
    "missing_closing_flag",
    "truncated",
    "malformed",
}

#: Both stream decoders share feed/flush/stats/errors/drain_errors/pending.
STREAM_CLASSES: list[Callable[[], Decoder | FrameSplitter]] = [Decoder, FrameSplitter]
STATS_KEYS = {"bytes_in", "frames_ok", "frames_bad_checksum", "frames_malformed", "bytes_skipped"}

#: Aidon list 1 (1661 W), with a 0x7D in the payload: a frame from a real meter.
AIDON = bytes.fromhex(
    "7ea02a410883130413e6e7000f40000000000101020309060100010700ff060000067d02020f00161b1c057e"
)
INFO = bytes.fromhex("e6e7000f4000000000") + bytes([0x7E, 0x7D]) * 8
GOOD = encode_frame(bytes([0x41]), bytes([0x08, 0x83]), 0x13, False, INFO).raw


def flip(data: bytes, at: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[at] ^= mask
    return bytes(out)


# --------------------------------------------------------------------------------------------
# exception hierarchy
# --------------------------------------------------------------------------------------------


def test_exception_hierarchy() -> None:
    assert issubclass(HanError, Exception)
    assert not issubclass(HanError, ValueError)
    assert issubclass(DecodeError, HanError)
    assert issubclass(DecodeError, ValueError)
    for cls in ERROR_CLASSES:
        assert issubclass(cls, DecodeError)
        assert issubclass(cls, ValueError)
        assert issubclass(cls, HanError)
    assert issubclass(ChecksumError, FrameError)
    assert not issubclass(FrameError, ChecksumError)
    for cls in (ApduError, AxdrError, UnsupportedError, DecryptionError, MappingError):
        assert not issubclass(cls, FrameError)


def test_package_reexports_the_errors_module() -> None:
    for name in hanport.errors.__all__:
        assert getattr(hanport, name) is getattr(hanport.errors, name)
        assert name in hanport.__all__
    for name in hanport.__all__:
        assert hasattr(hanport, name), name


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_errors_pickle_round_trip(cls: type[DecodeError], protocol: int) -> None:
    err = cls("hdlc error at byte 17: something", 17, "hdlc", "bad_fcs")
    back = pickle.loads(pickle.dumps(err, protocol=protocol))
    assert type(back) is cls
    assert (back.message, back.offset, back.layer, back.kind) == (
        "hdlc error at byte 17: something",
        17,
        "hdlc",
        "bad_fcs",
    )
    assert str(back) == str(err) == "hdlc error at byte 17: something"
    assert back.args == err.args


def test_error_defaults_and_str() -> None:
    err = DecodeError("plain")
    assert (err.message, err.offset, err.layer, err.kind) == ("plain", 0, "", "")
    assert str(err) == "plain"
    with pytest.raises(ValueError, match="plain"):
        raise err


def test_raised_error_pickles() -> None:
    with pytest.raises(ChecksumError) as info:
        HdlcFrame.parse(flip(GOOD, len(GOOD) - 5))
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is ChecksumError
    assert (back.message, back.offset, back.layer, back.kind) == (
        info.value.message,
        info.value.offset,
        info.value.layer,
        info.value.kind,
    )


# --------------------------------------------------------------------------------------------
# errors raised by HdlcFrame.parse
# --------------------------------------------------------------------------------------------

HEADER_LEN = 2 + 1 + 2 + 1  # format, dest, src, control
PARSE_CASES: list[tuple[str, bytes, type[DecodeError], str, int | None]] = [
    ("empty", b"", FrameError, "truncated", 0),
    ("lone flag", b"\x7e", FrameError, "truncated", 0),
    ("no opening flag", b"\x00" + GOOD[1:], FrameError, "malformed", 0),
    ("cut short", GOOD[:-5], FrameError, "truncated", None),
    ("format type 5", bytes([FLAG, 0x50]) + GOOD[2:], FrameError, "bad_format", 1),
    ("length below 7", bytes([FLAG, 0xA0, 0x05]) + GOOD[3:], FrameError, "bad_length", 1),
    ("one byte too many", GOOD[:-1] + b"\x00\x7e", FrameError, "bad_length", None),
    (
        "address without end",
        bytes([FLAG, 0xA0, 0x0B, *bytes(9), FLAG]),
        FrameError,
        "bad_address",
        3,
    ),
    (
        "closing flag missing",
        GOOD[:-1] + b"\x00",
        FrameError,
        "missing_closing_flag",
        len(GOOD) - 1,
    ),
    ("HCS", flip(GOOD, 1 + HEADER_LEN), ChecksumError, "bad_hcs", 1 + HEADER_LEN),
    ("control", flip(GOOD, HEADER_LEN, 0x80), ChecksumError, "bad_hcs", 1 + HEADER_LEN),
    ("information", flip(GOOD, 12, 0x10), ChecksumError, "bad_fcs", len(GOOD) - 3),
    ("FCS", flip(GOOD, len(GOOD) - 2, 0x80), ChecksumError, "bad_fcs", len(GOOD) - 3),
]


@pytest.mark.parametrize(
    ("data", "cls", "kind", "offset"),
    [case[1:] for case in PARSE_CASES],
    ids=[case[0] for case in PARSE_CASES],
)
def test_parse_errors_carry_layer_offset_kind(
    data: bytes, cls: type[DecodeError], kind: str, offset: int | None
) -> None:
    with pytest.raises(cls) as info:
        HdlcFrame.parse(data)
    err = info.value
    assert type(err) is cls
    assert err.layer == "hdlc"
    assert err.kind == kind
    assert err.kind in PARSE_KINDS
    assert isinstance(err.offset, int)
    if offset is not None:
        assert err.offset == offset
    assert 0 <= err.offset <= max(len(data), 1)
    assert f"byte {err.offset}" in err.message
    assert str(err) == err.message
    assert err.args[1:] == (err.offset, err.layer, err.kind)


def test_parse_real_frame() -> None:
    frame = HdlcFrame.parse(AIDON)
    assert (frame.length, frame.segmented, frame.control) == (42, False, 0x13)
    assert (frame.dest_address, frame.source_address) == (b"\x41", b"\x08\x83")
    assert frame.information[:3] == b"\xe6\xe7\x00"
    assert len(frame.information) == 42 - 6 - 2 - 2
    # the encoder in strategies.py reproduces the real frame byte for byte
    assert encode_frame(b"\x41", b"\x08\x83", 0x13, False, frame.information).raw == AIDON
    assert repr(frame).startswith("HdlcFrame(")


# --------------------------------------------------------------------------------------------
# argument types
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("new", STREAM_CLASSES, ids=lambda c: getattr(c, "__name__", "?"))
def test_stream_decoders_accept_every_buffer_type(
    new: Callable[[], Decoder | FrameSplitter],
) -> None:
    data = b"\x00\x11" + AIDON + GOOD + b"\x22"
    results = []
    for buf in (data, bytearray(data), memoryview(data), memoryview(bytearray(data))):
        dec = new()
        out = [*dec.feed(buf), *dec.flush()]
        results.append(
            (
                [(x.offset, x.raw) for x in out],
                [(e.offset, e.length, e.layer, e.kind) for e in dec.errors],
                dec.stats.to_dict(),
            )
        )
    assert all(r == results[0] for r in results)
    assert results[0][2]["bytes_in"] == len(data)
    assert results[0][2]["frames_ok"] == 2


@pytest.mark.parametrize("new", STREAM_CLASSES, ids=lambda c: getattr(c, "__name__", "?"))
def test_stream_decoders_reject_str(new: Callable[[], Decoder | FrameSplitter]) -> None:
    dec = new()
    with pytest.raises(TypeError, match="str"):
        dec.feed(AIDON.hex())  # type: ignore[arg-type]
    assert dec.stats.bytes_in == 0


def test_parse_and_crc_accept_buffers_and_reject_str() -> None:
    for buf in (bytearray(AIDON), memoryview(AIDON)):
        assert HdlcFrame.parse(buf).raw == AIDON
        assert hanport.crc16_x25(buf) == crc16_x25_bitwise(AIDON)
    # a non-contiguous view: its bytes, in order
    assert hanport.crc16_x25(memoryview(b"123456789")[::2]) == crc16_x25_bitwise(b"13579")
    with pytest.raises(TypeError):
        HdlcFrame.parse(AIDON.hex())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hanport.crc16_x25("123456789")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [5, [0x7E, 0xA0]], ids=["int", "list"])
def test_non_buffers_are_rejected(bad: Any) -> None:
    dec = hanport.Decoder()
    with pytest.raises(TypeError):
        dec.feed(bad)
    with pytest.raises(TypeError):
        hanport.crc16_x25(bad)
    with pytest.raises(TypeError):
        HdlcFrame.parse(bad)


# --------------------------------------------------------------------------------------------
# version, counters, error records, reprs
# --------------------------------------------------------------------------------------------


def test_version_matches_installed_metadata() -> None:
    assert hanport.__version__ == importlib.metadata.version("hanport")
    assert hanport.__version__.count(".") >= 2


@pytest.mark.parametrize("new", STREAM_CLASSES, ids=lambda c: getattr(c, "__name__", "?"))
def test_stats_and_to_dict(new: Callable[[], Decoder | FrameSplitter]) -> None:
    dec = new()
    before = dec.stats
    fresh = before.to_dict()
    assert set(fresh) >= STATS_KEYS
    assert all(v == 0 for v in fresh.values())
    bad = flip(GOOD, 12)
    # garbage after the rejected frame, so its closing flag cannot pass for an idle flag
    data = b"\x01\x02" + bad + b"\x03" + AIDON
    dec.feed(data)
    dec.flush()
    stats = dec.stats
    d = stats.to_dict()
    for key, value in d.items():
        assert getattr(stats, key) == value, key
        assert isinstance(value, int)
    assert d["bytes_in"] == len(data)
    assert d["frames_ok"] == 1
    assert d["frames_bad_checksum"] == 1
    assert d["frames_malformed"] == 0
    assert d["bytes_skipped"] == 3 + len(bad)
    assert stats == dec.stats
    assert stats != before
    assert repr(stats).startswith("Stats(")
    assert "bytes_in=" in repr(stats)


@pytest.mark.parametrize("new", STREAM_CLASSES, ids=lambda c: getattr(c, "__name__", "?"))
def test_error_records_and_drain(new: Callable[[], Decoder | FrameSplitter]) -> None:
    dec = new()
    bad = flip(GOOD, 12)
    dec.feed(b"\x01\x02\x03" + bad)
    dec.flush()
    records = dec.errors
    assert [(e.offset, e.length, e.layer, e.kind) for e in records] == [
        (0, 3, "stream", "garbage"),
        (3, len(bad), "hdlc", "bad_fcs"),
    ]
    assert f"byte {3 + len(bad) - 3}" in records[1].message
    for rec in records:
        assert repr(rec).startswith("ErrorRecord(")
        assert rec.kind in repr(rec)
    assert dec.errors == records  # a copy, not drained by reading
    drained = dec.drain_errors()
    assert drained == records
    assert dec.errors == []
    assert dec.drain_errors() == []
    assert dec.stats.frames_bad_checksum == 1  # counters survive draining
    # new records after a drain keep absolute offsets
    dec.feed(b"\x05\x06")
    dec.flush()
    assert [(e.offset, e.kind) for e in dec.errors] == [(3 + len(bad), "garbage")]


@pytest.mark.parametrize("new", STREAM_CLASSES, ids=lambda c: getattr(c, "__name__", "?"))
def test_reprs_and_pending(new: Callable[[], Decoder | FrameSplitter]) -> None:
    dec = new()
    name = type(dec).__name__
    assert repr(dec).startswith(f"{name}(")
    dec.feed(GOOD[:20])
    assert dec.pending == 20
    assert "pending=20" in repr(dec)
    dec.feed(GOOD[20:])
    assert dec.pending <= 1  # at most the closing flag, which may open the next frame
    dec.flush()
    assert dec.pending == 0
    assert f"bytes_in={len(GOOD)}" in repr(dec)


# --------------------------------------------------------------------------------------------
# real captures against the golden files
# --------------------------------------------------------------------------------------------


def test_real_captures_match_golden_files(data_dir: Path) -> None:
    captures = sorted((data_dir / "streams").glob("*.bin"))
    assert captures, data_dir
    for path in captures:
        golden = json.loads((data_dir / "golden" / "streams" / f"{path.stem}.json").read_text())
        data = path.read_bytes()
        dec = FrameSplitter()
        frames = []
        for k, at in enumerate(range(0, len(data), 61)):
            frames += dec.feed(data[at : at + 61])
            if k % 100 == 0:
                assert dec.pending <= 2049 + 4096
        frames += dec.flush()
        assert [[f.offset, len(f.raw)] for f in frames] == golden["frames"], path.name
        errors = dec.errors
        assert [[e.offset, e.length, e.layer, e.kind] for e in errors] == [
            [g["offset"], g["length"], g["layer"], g["kind"]] for g in golden["errors"]
        ], path.name
        for rec, g in zip(errors, golden["errors"], strict=True):
            assert f"byte {g['offset'] + g['at']}" in rec.message
        stats = dec.stats.to_dict()
        assert {k: stats[k] for k in golden["stats"]} == golden["stats"], path.name
        for f in frames[:25]:
            assert data[f.offset : f.offset + len(f.raw)] == f.raw
            body = f.raw[1:-1]
            assert crc16_x25_bitwise(body[:-2]) == int.from_bytes(body[-2:], "little")
            assert HdlcFrame.parse(f.raw).information == f.information


# --------------------------------------------------------------------------------------------
# telegrams: date-times Python cannot represent
# --------------------------------------------------------------------------------------------


def _cosem_datetime(year: int, month: int, day: int, hms: tuple[int, int, int], dev: int) -> bytes:
    return (
        bytes([year >> 8, year & 0xFF, month, day, 0xFF, *hms, 0])
        + (dev & 0xFFFF).to_bytes(2, "big")
        + b"\x00"
    )


@pytest.mark.parametrize(
    "when",
    [
        _cosem_datetime(0, 1, 1, (0, 0, 0), 0x8000),
        _cosem_datetime(10000, 1, 1, (0, 0, 0), 0x8000),
        _cosem_datetime(65534, 1, 1, (0, 0, 0), 0x8000),
        _cosem_datetime(9999, 12, 31, (23, 59, 59), 60),
        _cosem_datetime(1, 1, 1, (0, 0, 0), -60),
    ],
    ids=["year-0", "year-10000", "year-65534", "9999-12-31-dev+60", "0001-01-01-dev-60"],
)
def test_out_of_range_years_do_not_raise(when: bytes) -> None:
    body = bytes.fromhex("010102020906000001 0000ff".replace(" ", "")) + b"\x09\x0c" + when
    info = bytes.fromhex("e6e7000f40000000") + b"\x09\x0c" + when + body
    frame = encode_frame(b"\x41", b"\x08\x83", 0x13, False, info).raw
    telegram = decode_frame(frame)
    assert telegram.notification_time is None
    json.dumps(telegram.to_dict())
    for obj in telegram.objects:
        assert obj.value is None
        repr(obj)
