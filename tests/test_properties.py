"""Property tests against the independent encoder in ``strategies.py``.

The HDLC layer (``HdlcFrame.parse``, ``FrameSplitter``, ``crc16_x25``) is checked property by
property; the layers above it (``Decoder``, ``decode_frame``) are fuzzed with DLMS-looking
frames and checked for never raising anything unplanned and for agreeing with the splitter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import hanport
from hanport import DecodeError, Decoder, FrameSplitter, HdlcFrame, Telegram, decode_frame

from strategies import (
    FLAG,
    EncodedFrame,
    Gap,
    Stream,
    assemble,
    chunk_sizes,
    chunked,
    crc16_x25_bitwise,
    dlms_frames,
    encoded_frames,
    gaps,
    hdlc_frames,
    interesting_bytes,
    noisy_streams,
    shared_flag_streams,
    streams,
)

#: Kinds HdlcFrame.parse may report (see its docstring and hanport.errors). "malformed" is what
#: a missing *opening* flag gives.
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
#: Kinds the HDLC layer records (ErrorRecord.kind docstring).
RECORD_KINDS = {
    "bad_hcs",
    "bad_fcs",
    "bad_length",
    "bad_address",
    "missing_closing_flag",
    "truncated",
    "garbage",
}


@dataclass(frozen=True)
class Run:
    """Everything observable after feeding a stream and flushing."""

    frames: list[tuple[int, bytes]]
    errors: list[tuple[int, int, str, str, str]]
    stats: dict[str, int]
    decoded: list[HdlcFrame]


def decode(chunks: Iterable[bytes]) -> Run:
    dec = FrameSplitter()
    out: list[HdlcFrame] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    out += dec.flush()
    assert dec.pending == 0
    errors = [(e.offset, e.length, e.layer, e.kind, e.message) for e in dec.errors]
    return Run([(f.offset, f.raw) for f in out], errors, dec.stats.to_dict(), out)


def covered(ranges: Iterable[tuple[int, int]]) -> set[int]:
    return {i for start, end in ranges for i in range(start, end)}


# --------------------------------------------------------------------------------------------
# (a) chunking never changes the result
# --------------------------------------------------------------------------------------------


@given(
    data=st.one_of(
        noisy_streams(),
        streams().map(lambda s: s.data),
        shared_flag_streams().map(lambda s: s.data),
    ),
    sizes=chunk_sizes(),
    cycle=st.booleans(),
)
def test_chunking_gives_the_same_frames_errors_and_stats(
    data: bytes, sizes: list[int], cycle: bool
) -> None:
    whole = decode([data])
    parts = list(chunked(data, sizes, cycle=cycle))
    assert b"".join(parts) == data
    split = decode(parts)
    assert split.frames == whole.frames
    assert split.errors == whole.errors
    assert split.stats == whole.stats


@given(data=noisy_streams(max_parts=20))
def test_one_byte_chunks_equal_whole(data: bytes) -> None:
    whole = decode([data])
    ones = decode(data[i : i + 1] for i in range(len(data)))
    assert (ones.frames, ones.errors, ones.stats) == (whole.frames, whole.errors, whole.stats)


def test_pending_candidate_bridged_by_a_huge_chunk() -> None:
    """A credible header claiming 2047 bytes, then far more than 4 KiB in one chunk."""
    good = hanport.HdlcFrame.parse(
        bytes.fromhex(
            "7ea027010201105a87e6e7000f40000000090c07e4020f06011922ff8000000201060000157eea5e7e"
        )
    ).raw
    head = bytes([0xA7, 0xFF, 0x03, 0x03, 0x13])
    false_start = bytes([FLAG]) + head + crc16_x25_bitwise(head).to_bytes(2, "little")
    data = false_start + bytes(range(0x20, 0x70)) * 100 + good * 20 + b"\x00" * 3000 + good
    whole = decode([data])
    split = decode([data[:5], data[5:]])
    assert split.frames == whole.frames
    assert split.errors == whole.errors
    assert split.stats == whole.stats
    assert len(whole.frames) == 21


# --------------------------------------------------------------------------------------------
# (b) garbage between frames loses nothing
# --------------------------------------------------------------------------------------------


@given(stream=streams(), sizes=chunk_sizes())
def test_garbage_between_frames_loses_no_frame(stream: Stream, sizes: list[int]) -> None:
    run = decode(chunked(stream.data, sizes, cycle=True))
    assert run.frames == stream.frames
    assert run.stats["frames_ok"] == len(stream.frames)
    for frame in run.decoded:
        assert stream.data[frame.offset : frame.offset + len(frame)] == frame.raw
        assert frame.length == len(frame.raw) - 2

    # every rejected false start is reported at its flag, with the right kind
    hdlc = [(off, kind) for off, _, layer, kind, _ in run.errors if layer == "hdlc"]
    assert hdlc == stream.rejections
    # garbage records never cover a frame byte
    frame_bytes = covered((off, off + len(raw)) for off, raw in stream.frames)
    for off, length, layer, kind, message in run.errors:
        assert kind in RECORD_KINDS
        assert str(off) in message
        if layer == "stream":
            assert kind == "garbage"
            assert length > 0
            assert not covered([(off, off + length)]) & frame_bytes
        else:
            assert layer == "hdlc"
    # every skipped byte is accounted for by some record
    assert covered(stream.gaps) <= covered((off, off + length) for off, length, *_ in run.errors)
    # records come in stream order
    assert [e[0] for e in run.errors] == sorted(e[0] for e in run.errors)


@given(stream=shared_flag_streams(), sizes=chunk_sizes())
def test_shared_and_idle_flags_lose_no_frame(stream: Stream, sizes: list[int]) -> None:
    run = decode(chunked(stream.data, sizes, cycle=True))
    assert run.frames == stream.frames
    assert run.errors == []
    assert run.stats["bytes_skipped"] == 0
    assert run.stats["frames_ok"] == len(stream.frames)


def test_trailing_idle_flag_is_not_garbage() -> None:
    frame = HdlcFrame.parse(bytes.fromhex("7ea00801020110378d7e")).raw
    run = decode([frame + b"\x7e"])
    assert run.frames == [(0, frame)]
    assert run.stats["bytes_skipped"] == 0
    assert run.errors == []


# --------------------------------------------------------------------------------------------
# (c) no input makes anything but a DecodeError escape
# --------------------------------------------------------------------------------------------

ARBITRARY = st.one_of(
    st.binary(max_size=4000),
    interesting_bytes(max_size=4000),
    noisy_streams(),
)


SPLIT_COUNTERS = (
    "bytes_in",
    "frames_ok",
    "frames_bad_checksum",
    "frames_malformed",
    "bytes_skipped",
)


def other_protocol_start(data: bytes) -> bool:
    """Whether ``data`` holds the start of an M-Bus long frame, a P1 telegram or a raw ciphered
    APDU (what the stream Decoder recognises besides HDLC)."""
    mbus = any(
        data[i] == 0x68 and i + 3 < len(data) and data[i + 1] == data[i + 2] and data[i + 3] == 0x68
        for i in range(len(data))
    )
    p1 = re.search(rb"/[A-Za-z]{3}", data) is not None
    return mbus or p1 or b"\xdb\x08" in data or b"\xdc\x08" in data


def framing_of(dec: Decoder | FrameSplitter) -> tuple[list[tuple[Any, ...]], list[int]]:
    """The framing layer's records and counters.

    Records of layers "stream" and "hdlc" count, except what the Decoder's reassembly of
    segmented frames reports (``hdlc``/``malformed``, ``hdlc``/``bad_sequence``, and
    ``hdlc``/``truncated`` for a reassembled message shorter than it announces): those are
    about accepted frames, not framing decisions.
    """
    reassembly = {("hdlc", "malformed"), ("hdlc", "bad_sequence")}
    accepted = {(e.offset, e.length) for e in dec.errors if (e.layer, e.kind) in reassembly}
    records = [
        (e.offset, e.length, e.layer, e.kind)
        for e in dec.errors
        if e.layer in ("stream", "hdlc")
        and (e.layer, e.kind) not in reassembly
        and not (
            e.kind == "truncated" and isinstance(dec, Decoder) and (e.offset, e.length) in accepted
        )
    ]
    stats = dec.stats
    return records, [getattr(stats, name) for name in SPLIT_COUNTERS]


@given(data=ARBITRARY, sizes=chunk_sizes())
def test_decoder_never_raises(data: bytes, sizes: list[int]) -> None:
    try:
        run = decode(chunked(data, sizes, cycle=True))
        full = Decoder()
        for chunk in chunked(data, sizes, cycle=True):
            full.feed(chunk)
        full.flush()
        splitter = FrameSplitter()
        splitter.feed(data)
        splitter.flush()
    except BaseException as exc:  # PanicException is a BaseException
        if isinstance(exc, KeyboardInterrupt):
            raise
        pytest.fail(f"a stream decoder raised {type(exc).__name__}: {exc!r}")
    # the telegram Decoder frames exactly like the FrameSplitter, unless the bytes hold a start
    # of another protocol the Decoder also looks for (M-Bus `68 L L 68`, a P1 header `/ABC`,
    # a raw ciphered APDU `DB 08`): then its own candidate explains those bytes
    if not other_protocol_start(data):
        assert framing_of(full) == framing_of(splitter)
    assert run.stats["bytes_in"] == len(data)
    assert run.stats["frames_ok"] == len(run.frames)
    assert run.stats["bytes_skipped"] <= len(data)
    frame_bytes = covered((off, off + len(raw)) for off, raw in run.frames)
    assert run.stats["bytes_skipped"] <= len(data) - len(frame_bytes)
    previous_end = 0
    for frame in run.decoded:
        # in order, at most the shared flag overlapping, byte-exact, and strictly valid
        assert frame.offset >= previous_end - 1
        previous_end = frame.offset + len(frame)
        assert data[frame.offset : previous_end] == frame.raw
        again = HdlcFrame.parse(frame.raw)
        assert (again.information, again.control, again.segmented) == (
            frame.information,
            frame.control,
            frame.segmented,
        )
    for off, length, layer, kind, _ in run.errors:
        assert kind in RECORD_KINDS
        assert layer in ("hdlc", "stream")
        assert 0 <= off < len(data)
        assert 0 < length <= len(data) - off
    assert run.stats["frames_bad_checksum"] == sum(
        e[3] in ("bad_hcs", "bad_fcs") for e in run.errors
    )
    assert run.stats["frames_malformed"] == sum(
        e[2] == "hdlc" and e[3] not in ("bad_hcs", "bad_fcs") for e in run.errors
    )


def _mutations(frame: bytes) -> st.SearchStrategy[bytes]:
    n = len(frame)
    return st.one_of(
        st.integers(0, n).map(lambda k: frame[:k]),
        st.binary(min_size=1, max_size=8).map(lambda tail: frame + tail),
        st.tuples(st.integers(0, n - 1), st.integers(0, 255)).map(
            lambda m: frame[: m[0]] + bytes([m[1]]) + frame[m[0] + 1 :]
        ),
        st.integers(0, 0x7FF).map(
            lambda length: (
                frame[:1] + bytes([(frame[1] & 0xF8) | length >> 8, length & 0xFF]) + frame[3:]
            )
        ),
    )


PARSE_INPUTS = st.one_of(
    st.binary(max_size=4000),
    st.binary(max_size=200).map(lambda b: b"\x7e" + b),
    st.binary(max_size=200).map(lambda b: b"\x7e" + b + b"\x7e"),
    hdlc_frames(200).flatmap(_mutations),
)


@given(data=PARSE_INPUTS)
@example(b"")
@example(b"\x7e")
@example(b"\x7e\x7e")
@example(bytes.fromhex("7ea00801020110378d"))
def test_parse_raises_only_decode_errors(data: bytes) -> None:
    frame: HdlcFrame | None = None
    error: DecodeError | None = None
    try:
        frame = HdlcFrame.parse(data)
    except DecodeError as exc:
        error = exc
    except BaseException as exc:  # PanicException is a BaseException
        if isinstance(exc, KeyboardInterrupt):
            raise
        pytest.fail(f"HdlcFrame.parse raised {type(exc).__name__}: {exc!r}")
    if error is not None:
        assert error.layer == "hdlc"
        assert error.kind in PARSE_KINDS
        assert 0 <= error.offset <= len(data)
        assert f"byte {error.offset}" in error.message
        assert isinstance(error, hanport.FrameError)
        assert isinstance(error, hanport.ChecksumError) == (error.kind in ("bad_hcs", "bad_fcs"))
        return
    # accepted: it must be a frame by the book
    assert frame is not None
    assert data[0] == data[-1] == FLAG
    assert frame.raw == data
    assert frame.length == len(data) - 2
    body = data[1:-1]
    assert crc16_x25_bitwise(body[:-2]) == int.from_bytes(body[-2:], "little")


# --------------------------------------------------------------------------------------------
# (d) what the encoder builds, the parser reads back
# --------------------------------------------------------------------------------------------


@given(enc=encoded_frames())
def test_encoded_frames_parse_to_their_fields(enc: EncodedFrame) -> None:
    frame = HdlcFrame.parse(enc.raw)
    assert frame.offset == 0
    assert frame.raw == enc.raw
    assert len(frame) == len(enc.raw)
    assert frame.length == enc.length
    assert frame.segmented is enc.segmented
    assert frame.dest_address == enc.dest
    assert frame.source_address == enc.src
    assert frame.control == enc.control
    assert frame.information == enc.information
    # every buffer type gives the same frame
    for buf in (bytearray(enc.raw), memoryview(enc.raw)):
        assert HdlcFrame.parse(buf).information == enc.information


@given(
    enc=encoded_frames(max_info=40),
    lead=st.binary(max_size=20).map(lambda b: b.replace(b"\x7e", b"")),
)
def test_encoded_frame_is_found_in_a_stream(enc: EncodedFrame, lead: bytes) -> None:
    (frame,) = decode([lead + enc.raw]).decoded
    assert frame.offset == len(lead)
    assert (frame.dest_address, frame.source_address, frame.control) == (
        enc.dest,
        enc.src,
        enc.control,
    )
    assert (frame.segmented, frame.information, frame.length) == (
        enc.segmented,
        enc.information,
        enc.length,
    )


# --------------------------------------------------------------------------------------------
# (e) every single-bit error is detected
# --------------------------------------------------------------------------------------------


@given(enc=encoded_frames(max_info=48))
def test_every_single_bit_flip_is_rejected(enc: EncodedFrame) -> None:
    raw = enc.raw
    last = len(raw) - 1
    fcs_at = len(raw) - 3  # offset of the FCS in the flagged frame
    hcs_at = 1 + enc.header_len
    # bit 0 of an address byte ends or extends the address
    address_bytes = range(3, 3 + len(enc.dest) + len(enc.src))
    for i in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[i] ^= 1 << bit
            with pytest.raises(DecodeError) as info:
                HdlcFrame.parse(bytes(flipped))
            exc = info.value
            where = f"byte {i} bit {bit}: {exc.kind} at {exc.offset}"
            assert exc.layer == "hdlc", where
            assert exc.kind in PARSE_KINDS, where
            if i < 3:
                continue  # flag or format field: anything goes
            if i == last:
                assert (exc.kind, exc.offset) == ("missing_closing_flag", last), where
            elif i in address_bytes and bit == 0:
                pass  # the address changes length: the header is misread, anything goes
            elif enc.information and i < hcs_at + 2:
                # address, control or HCS: the HCS catches it
                assert (exc.kind, exc.offset) == ("bad_hcs", hcs_at), where
                assert isinstance(exc, hanport.ChecksumError)
            else:
                assert (exc.kind, exc.offset) == ("bad_fcs", fcs_at), where
                assert isinstance(exc, hanport.ChecksumError)


# --------------------------------------------------------------------------------------------
# (f) byte accounting
# --------------------------------------------------------------------------------------------


@given(stream=streams(), sizes=chunk_sizes())
def test_byte_accounting(stream: Stream, sizes: list[int]) -> None:
    run = decode(chunked(stream.data, sizes))
    assert run.stats["bytes_in"] == len(stream.data)
    assert run.stats["bytes_skipped"] == len(stream.data) - stream.frame_bytes
    assert run.stats["frames_ok"] == len(stream.frames)
    kinds = [kind for _, kind in stream.rejections]
    assert run.stats["frames_bad_checksum"] == kinds.count("bad_hcs")
    assert run.stats["frames_malformed"] == len(kinds) - kinds.count("bad_hcs")


# --------------------------------------------------------------------------------------------
# (g) the CRC
# --------------------------------------------------------------------------------------------


def test_crc_known_answers() -> None:
    assert crc16_x25_bitwise(b"123456789") == 0x906E
    assert hanport.crc16_x25(b"123456789") == 0x906E
    assert hanport.crc16_x25(b"") == crc16_x25_bitwise(b"") == 0x0000
    assert hanport.crc16_x25(bytes([0xA0, 0x08, 0x01, 0x02, 0x01, 0x10])) == 0x8D37


@given(data=st.binary(max_size=2000))
def test_crc_agrees_with_bitwise_reference(data: bytes) -> None:
    expected = crc16_x25_bitwise(data)
    assert hanport.crc16_x25(data) == expected
    assert hanport.crc16_x25(bytearray(data)) == expected
    assert hanport.crc16_x25(memoryview(data)) == expected


# --------------------------------------------------------------------------------------------
# the layers above HDLC: the telegram Decoder and decode_frame never raise anything unplanned
# --------------------------------------------------------------------------------------------

DECODER_LAYERS = {"stream", "hdlc", "llc", "apdu", "axdr", "mapping", "mbus", "security", "p1"}
DECODER_KINDS = RECORD_KINDS | {
    "malformed",
    "unsupported",
    "too_deep",
    "bad_sequence",
    "no_key",
    "decryption_failed",
    "bad_checksum",
    "bad_crc",
}
OBIS_TEXT = re.compile(r"\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
OBIS_FIELDS = {row["field"] for row in hanport.OBIS_TABLE}


def touch(telegram: Telegram) -> dict[str, Any]:
    """Read every attribute of a telegram (values are converted lazily, on access)."""
    for obj in telegram.objects:
        assert OBIS_TEXT.fullmatch(obj.obis), obj.obis
        assert obj.field is None or obj.field in OBIS_FIELDS
        assert obj.scaler_source in ("payload", "vendor", "none")
        assert -128 <= obj.scaler <= 127
        assert obj.unit is None or isinstance(obj.unit, str)
        as_dict = obj.to_dict()
        assert (as_dict["obis"], as_dict["field"], as_dict["unit"]) == (
            obj.obis,
            obj.field,
            obj.unit,
        )
        json.dumps(as_dict)
        assert repr(obj).startswith("CosemObject(")
        assert isinstance(obj.raw, (int, float, str, bytes, datetime, bool, type(None)))
        assert isinstance(obj.value, (int, float, str, bytes, datetime, bool, type(None)))
    for when in (telegram.meter_time, telegram.notification_time):
        assert when is None or when.tzinfo is not None
    out = telegram.to_dict()
    json.dumps(out)
    assert set(out["values"]) == set(telegram.values)
    assert (out["manufacturer"], out["list_id"]) == (telegram.manufacturer, telegram.list_id)
    assert (out["meter_id"], out["meter_type"]) == (telegram.meter_id, telegram.meter_type)
    assert out["offset"] == telegram.offset
    assert repr(telegram).startswith("Telegram(")
    return out


@given(
    frames=st.lists(dlms_frames(), max_size=5),
    between=st.lists(gaps(), min_size=6, max_size=6),
    sizes=chunk_sizes(),
)
def test_telegram_decoder_never_raises(
    frames: list[EncodedFrame], between: list[Gap], sizes: list[int]
) -> None:
    stream = assemble([f.raw for f in frames], between[: len(frames) + 1])
    try:
        dec = Decoder()
        telegrams: list[Telegram] = []
        for chunk in chunked(stream.data, sizes, cycle=True):
            telegrams += dec.feed(chunk)
        telegrams += dec.flush()
        dicts = [touch(telegram) for telegram in telegrams]
    except BaseException as exc:  # PanicException is a BaseException
        if isinstance(exc, KeyboardInterrupt):
            raise
        pytest.fail(f"Decoder raised {type(exc).__name__}: {exc!r}")
    stats = dec.stats
    assert stats.bytes_in == len(stream.data)
    assert stats.frames_ok == len(frames)
    assert stats.telegrams == len(telegrams)
    assert stats.telegrams + stats.frames_undecodable <= stats.frames_ok
    for rec in dec.errors:
        assert rec.layer in DECODER_LAYERS, rec
        assert rec.kind in DECODER_KINDS, rec
        assert str(rec.offset) in rec.message, rec
    for telegram in telegrams:
        assert stream.data[telegram.offset : telegram.offset + len(telegram.raw)] == telegram.raw
    splitter = FrameSplitter()
    splitter.feed(stream.data)
    splitter.flush()
    assert framing_of(dec) == framing_of(splitter)

    if any(f.segmented for f in frames):
        return
    # unsegmented frames: the stream Decoder agrees with decode_frame, frame by frame
    by_offset = {t.offset: d for t, d in zip(telegrams, dicts, strict=True)}
    upper = {(e.offset, e.layer, e.kind) for e in dec.errors if e.layer not in ("stream", "hdlc")}
    for offset, raw in stream.frames:
        alone: dict[str, Any] | None = None
        error: DecodeError | None = None
        try:
            alone = decode_frame(raw).to_dict()
            alone["received_at"] = by_offset.get(offset, {}).get("received_at")
        except DecodeError as exc:
            error = exc
        if error is not None:
            assert offset not in by_offset
            assert (offset, error.layer, error.kind) in upper
        else:
            assert {**(alone or {}), "offset": offset} == by_offset[offset]


@given(enc=dlms_frames())
def test_decode_frame_raises_only_decode_errors(enc: EncodedFrame) -> None:
    for data in (enc.raw, enc.raw[1:-1], enc.information):
        error: DecodeError | None = None
        try:
            touch(decode_frame(data))
        except DecodeError as exc:
            error = exc
        except BaseException as exc:  # PanicException is a BaseException
            if isinstance(exc, KeyboardInterrupt):
                raise
            pytest.fail(f"decode_frame raised {type(exc).__name__}: {exc!r}")
        if error is not None:
            assert error.layer in DECODER_LAYERS
            assert error.kind in DECODER_KINDS
            assert f"byte {error.offset}" in error.message
