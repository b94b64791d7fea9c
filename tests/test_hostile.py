"""Hostile input and data quality, part 2: stateful, mutation, API-contract and resource tests.

1. Rule-based state machines drive one ``Decoder`` / ``FrameSplitter`` through feeds (slices of
   a stream of real frames, or garbage), flushes, ``drain_errors`` and reads, in any order, and
   check the invariants after every step: counters never decrease, ``bytes_in`` is what was
   fed, ``pending`` holds less than one largest frame, at most 10 000 records are kept, outputs
   come in stream order and exactly once, every frame fed intact comes back, and everything
   equals feeding each flush-delimited segment in one piece.
2. Mutations of real frames (from ``tests/data/streams``): bit flips, dropped and inserted
   bytes, truncation, duplicates, reordering and a frame cut in two around another frame.
   Untouched frames come back byte-exact at their offsets, nothing comes back that the
   independent validator of ``strategies.py`` rejects (no false accept), duplicates twice.
3. Every public name in ``hanport.__all__`` is called with hostile values; the only outcomes
   allowed are a normal return, a ``DecodeError`` for bad data, ``TypeError``/``ValueError``
   for bad arguments (an unknown ``tz`` is a ``ValueError`` too), or the exception
   a hostile object raises itself. Every property of every returned object is read.
4. Bounded resources: maximum length fields, endless false starts, 10 000-deep A-XDR, element
   counts and lengths of 0x84 FF FF FF FF, resident memory over 50 MB of adversarial input, and
   decoding time linear in the input.

Bugs found are kept as ``xfail(strict=True)`` tests at the end of the file.
"""

from __future__ import annotations

import array
import json
import math
import mmap
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

import hanport
from hanport import (
    OBIS_TABLE,
    AxdrError,
    CosemObject,
    DecodeError,
    Decoder,
    ErrorRecord,
    FrameSplitter,
    HdlcFrame,
    Stats,
    Telegram,
    crc16_x25,
    decode_frame,
)

from strategies import (
    FLAG,
    EncodedFrame,
    chunk_sizes,
    chunked,
    crc16_x25_bitwise,
    dlms_frames,
    encode_frame,
    gaps,
    interesting_bytes,
    is_address,
    noisy_streams,
)

STREAMS_DIR = Path(__file__).resolve().parent / "data" / "streams"

#: The largest frame: an 11-bit length (0x7FF bytes between the flags) plus both flags.
MAX_FRAME = 0x7FF + 2
#: ``pending`` bound between calls. The splitter keeps at most one incomplete candidate, which
#: is shorter than the largest frame (while a chunk is being bridged the buffer may briefly
#: reach 2049 + BRIDGE (4096) bytes, rust/src/hdlc/splitter.rs, but never between calls).
PENDING_BOUND = MAX_FRAME - 1
#: Error records a stream decoder keeps between two ``drain_errors()`` calls.
MAX_KEPT_ERRORS = 10_000

SPLIT_COUNTERS = (
    "bytes_in",
    "frames_ok",
    "frames_bad_checksum",
    "frames_malformed",
    "bytes_skipped",
)
COUNTERS = (*SPLIT_COUNTERS, "telegrams", "frames_undecodable", "frames_reassembled")
LAYERS = {"stream", "hdlc", "llc", "apdu", "axdr", "mapping", "mbus", "security", "p1"}
KINDS = {
    "bad_checksum",
    "bad_crc",
    "no_key",
    "decryption_failed",
    "bad_sequence",
    "bad_hcs",
    "bad_fcs",
    "bad_length",
    "bad_address",
    "missing_closing_flag",
    "truncated",
    "garbage",
    "malformed",
    "unsupported",
    "too_deep",
}

#: Aidon list 1 (1661 W), a frame from a real meter.
AIDON = bytes.fromhex(
    "7ea02a410883130413e6e7000f40000000000101020309060100010700ff060000067d02020f00161b1c057e"
)
#: A data-notification APDU header without date-time: tag, invoke-id, 00.
APDU_HEAD = bytes.fromhex("0f4000000000")
LLC = bytes.fromhex("e6e700")


# ============================================================================================
# Helpers
# ============================================================================================


@cache
def real_frames() -> tuple[bytes, ...]:
    """Distinct valid frames from every real capture: a few of each length, short to long."""
    pool: list[bytes] = []
    for path in sorted(STREAMS_DIR.glob("*.bin")):
        splitter = FrameSplitter()
        frames = splitter.feed(path.read_bytes()) + splitter.flush()
        by_length: dict[int, list[bytes]] = {}
        for frame in frames:
            same = by_length.setdefault(len(frame.raw), [])
            if len(same) < 2 and frame.raw not in same:
                same.append(frame.raw)
        for length in sorted(by_length)[:4]:
            pool += by_length[length]
    assert len(pool) > 20, "the real captures are missing"
    return tuple(dict.fromkeys(pool))


def independently_valid(raw: bytes) -> bool:
    """True when ``raw`` is one valid frame by the description in ``strategies.py`` (format
    type 0xA, length field, 1/2/4-byte addresses, HCS when there is information, FCS, both
    flags), checked with the bitwise CRC there, not with the product's code."""
    if len(raw) < 9 or raw[0] != FLAG or raw[-1] != FLAG:
        return False
    inner = raw[1:-1]
    if inner[0] >> 4 != 0xA or ((inner[0] & 0x07) << 8 | inner[1]) != len(inner):
        return False
    pos = 2
    for _ in range(2):  # destination, then source address
        end = pos
        while end < len(inner) and inner[end] & 1 == 0:
            end += 1
        if not is_address(inner[pos : end + 1]):
            return False
        pos = end + 1
    header_len = pos + 1  # the control byte
    fcs_ok = crc16_x25_bitwise(inner[:-2]) == int.from_bytes(inner[-2:], "little")
    if len(inner) == header_len + 2:
        return fcs_ok
    if len(inner) < header_len + 4:
        return False
    hcs = int.from_bytes(inner[header_len : header_len + 2], "little")
    return fcs_ok and crc16_x25_bitwise(inner[:header_len]) == hcs


def overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Bytes shared by the ranges ``[a0, a1)`` and ``[b0, b1)``."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def hdlc(information: bytes) -> bytes:
    """A valid frame (independent encoder) carrying ``information``."""
    return encode_frame(b"\x41", b"\x08\x83", 0x13, False, information).raw


def notification(body: bytes) -> bytes:
    """A valid frame with LLC + data-notification header + ``body``."""
    return hdlc(LLC + APDU_HEAD + body)


def obis_body(meter_id: bytes, watts: int = 1) -> bytes:
    """An OBIS-coded list: meter id and active power import."""
    return (
        b"\x01\x02"
        + b"\x02\x02\x09\x06\x00\x00\x60\x01\x00\xff\x0a"
        + bytes([len(meter_id)])
        + meter_id
        + b"\x02\x02\x09\x06\x01\x00\x01\x07\x00\xff\x06"
        + watts.to_bytes(4, "big")
    )


def _crc_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def fast_notification(body: bytes) -> bytes:
    """:func:`notification` with a table-driven CRC, for building thousands of frames."""

    def crc(data: bytes) -> bytes:
        value = 0xFFFF
        for byte in data:
            value = (value >> 8) ^ _CRC_TABLE[(value ^ byte) & 0xFF]
        return (value ^ 0xFFFF).to_bytes(2, "little")

    info = LLC + APDU_HEAD + body
    length = 2 + 1 + 2 + 1 + 2 + len(info) + 2
    head = bytes([0xA0 | length >> 8, length & 0xFF, 0x41, 0x08, 0x83, 0x13])
    inner = head + crc(head) + info
    return bytes([FLAG]) + inner + crc(inner) + bytes([FLAG])


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("needs /proc/self/status")
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no VmRSS in /proc/self/status")


def record_tuple(rec: ErrorRecord) -> tuple[int, int, str, str, str]:
    return (rec.offset, rec.length, rec.layer, rec.kind, rec.message)


# --------------------------------------------------------------------------------------------
# Reading everything a returned object offers
# --------------------------------------------------------------------------------------------

#: The public attributes of every class the API returns, from python/hanport/_core.pyi. The
#: coverage test below fails when one is added without being read here.
PUBLIC: dict[type, set[str]] = {
    Telegram: {
        "manufacturer",
        "list_id",
        "meter_id",
        "meter_type",
        "system_title",
        "invocation_counter",
        "meter_time",
        "notification_time",
        "values",
        "objects",
        "offset",
        "raw",
        "flags",
        "received_at",
        "to_dict",
    },
    CosemObject: {"obis", "value", "raw", "scaler", "unit", "field", "scaler_source", "to_dict"},
    HdlcFrame: {
        "parse",
        "offset",
        "raw",
        "length",
        "segmented",
        "dest_address",
        "source_address",
        "control",
        "information",
    },
    ErrorRecord: {"offset", "length", "layer", "kind", "message"},
    Stats: {*COUNTERS, "to_dict"},
    Decoder: {"feed", "flush", "stats", "errors", "drain_errors", "pending"},
    FrameSplitter: {"feed", "flush", "stats", "errors", "drain_errors", "pending"},
    hanport.Batch: {
        "column_names",
        "errors",
        "format",
        "input_error",
        "source",
        "stats",
        "telegrams",
        "to_arrow",
        "tz",
    },
    hanport.BatchIterator: set(),
}
_VALUE_TYPES = (int, float, str, bytes, datetime, bool, type(None))


def touch(obj: object) -> None:
    """Read every property of ``obj`` (and of what they return), call its to_dict() and
    repr(). Any exception here is a failure: objects the API returned must be usable."""
    if isinstance(obj, list | tuple):
        for item in obj:
            touch(item)
        return
    if isinstance(obj, hanport.BatchIterator):
        touch(list(obj))
        return
    if isinstance(obj, hanport.Batch):
        assert len(obj) == obj.stats.telegrams
        assert all(isinstance(c, str) for c in obj.column_names())
        assert obj.input_error is None or isinstance(obj.input_error, str)
        touch(obj.errors)
        touch(obj.telegrams())
        assert obj.to_arrow().num_rows == len(obj)
        return
    if isinstance(obj, Telegram):
        assert isinstance(obj.offset, int)
        assert obj.offset >= 0
        assert isinstance(obj.raw, bytes)
        for text in (obj.manufacturer, obj.list_id, obj.meter_id, obj.meter_type):
            assert text is None or isinstance(text, str)
        for when in (obj.meter_time, obj.notification_time, obj.received_at):
            assert when is None or (isinstance(when, datetime) and when.tzinfo is not None)
        assert all(isinstance(v, _VALUE_TYPES) for v in obj.values.values())
        assert all(isinstance(flag, str) for flag in obj.flags)
        touch(obj.objects)
        json.dumps(obj.to_dict())
        assert repr(obj).startswith("Telegram(")
    elif isinstance(obj, CosemObject):
        assert isinstance(obj.obis, str)
        assert isinstance(obj.value, _VALUE_TYPES)
        assert isinstance(obj.raw, _VALUE_TYPES)
        assert -128 <= obj.scaler <= 127
        assert obj.unit is None or isinstance(obj.unit, str)
        assert obj.field is None or isinstance(obj.field, str)
        assert obj.scaler_source in ("payload", "vendor", "none")
        json.dumps(obj.to_dict())
        assert repr(obj).startswith("CosemObject(")
    elif isinstance(obj, HdlcFrame):
        assert obj.offset >= 0
        assert len(obj) == len(obj.raw) == obj.length + 2
        assert isinstance(obj.segmented, bool)
        assert 1 <= len(obj.dest_address) <= 4
        assert 1 <= len(obj.source_address) <= 4
        assert 0 <= obj.control <= 0xFF
        assert obj.information in obj.raw
        again = HdlcFrame.parse(obj.raw)  # every frame returned is valid on its own
        assert (again.raw, again.information) == (obj.raw, obj.information)
        assert repr(obj).startswith("HdlcFrame(")
    elif isinstance(obj, ErrorRecord):
        assert obj.offset >= 0
        assert obj.length >= 0
        assert obj.layer in LAYERS, obj
        assert obj.kind in KINDS, obj
        assert str(obj.offset) in obj.message
        assert obj == obj
        assert repr(obj).startswith("ErrorRecord(")
    elif isinstance(obj, Stats):
        as_dict = obj.to_dict()
        assert as_dict == {name: getattr(obj, name) for name in COUNTERS}
        assert all(isinstance(v, int) and v >= 0 for v in as_dict.values())
        assert obj == obj
        assert repr(obj).startswith("Stats(")
    elif isinstance(obj, Decoder | FrameSplitter):
        touch(obj.stats)
        touch(obj.errors)
        assert 0 <= obj.pending <= PENDING_BOUND
        repr(obj)


# ============================================================================================
# 1. State machines
# ============================================================================================


@dataclass(frozen=True)
class Prepared:
    """A stream of real frames (own flags, shared flags, idle flags or garbage between them)."""

    data: bytes
    #: (offset of the opening flag, frame bytes), in stream order
    frames: tuple[tuple[int, bytes], ...]


@st.composite
def prepared_streams(draw: st.DrawFn) -> Prepared:
    raws = draw(st.lists(st.sampled_from(real_frames()), min_size=1, max_size=12))
    data = bytearray()
    spans: list[tuple[int, bytes]] = []
    for raw in raws:
        how = draw(st.sampled_from(["own", "shared", "idle", "gap"]))
        if how == "shared" and data and data[-1] == FLAG:
            spans.append((len(data) - 1, raw))
            data += raw[1:]
            continue
        if how == "idle":
            data += bytes([FLAG]) * draw(st.integers(1, 3))
        elif how == "gap":
            data += draw(gaps()).data
        spans.append((len(data), raw))
        data += raw
    return Prepared(bytes(data), tuple(spans))


GARBAGE = st.one_of(
    st.binary(min_size=1, max_size=200),
    interesting_bytes(min_size=1, max_size=200),
    noisy_streams(max_parts=3),
    st.sampled_from([b"\x7e", b"\x7e\xa7\xff", b"\x7e\xa0", b"\x7e\x7e", b"\xa0"]),
)


class StreamMachine(RuleBasedStateMachine):
    """Common rules and invariants of both stream decoders; subclasses say which one."""

    def __init__(self) -> None:
        super().__init__()
        self.dec = self.new()
        self.prepared = Prepared(b"", ())
        self.cursor = 0
        #: everything fed so far
        self.fed = bytearray()
        #: for each byte fed: its offset in the prepared stream, or -1 for garbage
        self.origin: list[int] = []
        #: bytes fed between flushes (the last one still open)
        self.segments: list[bytearray] = [bytearray()]
        #: bytes_in at each flush
        self.flushes: list[int] = []
        #: (offset, raw) of every output so far, in the order returned
        self.outputs: list[tuple[int, bytes]] = []
        self.drained: list[tuple[int, int, str, str, str]] = []
        self.overflowed = False
        self.last: dict[str, int] = dict.fromkeys(COUNTERS, 0)

    # -- what subclasses provide ---------------------------------------------------------
    def new(self) -> Decoder | FrameSplitter:
        raise NotImplementedError

    def feed(self, chunk: bytes, received_at: float | None) -> list[Telegram] | list[HdlcFrame]:
        raise NotImplementedError

    # -- rules ---------------------------------------------------------------------------
    @initialize(prepared=prepared_streams())
    def prepare(self, prepared: Prepared) -> None:
        self.prepared = prepared

    def _feed(self, chunk: bytes, origin: Sequence[int], received_at: float | None) -> None:
        out = self.feed(chunk, received_at)
        self.fed += chunk
        self.origin += origin
        self.segments[-1] += chunk
        self._take(out)
        if isinstance(self.dec, Decoder):
            for telegram in out:
                assert isinstance(telegram, Telegram)
                if received_at is not None:
                    assert telegram.received_at is not None
                    assert telegram.received_at.timestamp() == pytest.approx(received_at, abs=1e-3)

    @rule(
        size=st.one_of(st.integers(0, 8), st.integers(0, 600), st.just(10**6)),
        received_at=st.one_of(st.none(), st.floats(0, 4e9)),
    )
    def feed_stream(self, size: int, received_at: float | None) -> None:
        """The next ``size`` bytes of the prepared stream (possibly none, or all the rest)."""
        start = self.cursor
        chunk = self.prepared.data[start : start + size]
        self.cursor += len(chunk)
        self._feed(chunk, range(start, start + len(chunk)), received_at)

    @rule(garbage=GARBAGE)
    def feed_garbage(self, garbage: bytes) -> None:
        self._feed(garbage, [-1] * len(garbage), None)

    @rule()
    def flush(self) -> None:
        self._take(self.dec.flush())
        assert self.dec.pending == 0
        self.flushes.append(len(self.fed))
        self.segments.append(bytearray())
        self.check_against_reference()

    @rule()
    def drain(self) -> None:
        before = [record_tuple(r) for r in self.dec.errors]
        drained = [record_tuple(r) for r in self.dec.drain_errors()]
        assert drained == before
        assert self.dec.errors == []
        self.drained += drained

    @rule()
    def read(self) -> None:
        touch(self.dec)

    # -- invariants ----------------------------------------------------------------------
    def _take(self, out: Sequence[Telegram | HdlcFrame]) -> None:
        for item in out:
            pair = (item.offset, item.raw)
            # stream order, each once: offsets strictly increase across the whole run
            if self.outputs:
                assert pair[0] > self.outputs[-1][0], (pair[0], self.outputs[-1][0])
            assert self.fed[pair[0] : pair[0] + len(pair[1])] == pair[1]
            # no false accept: whatever comes back is a valid frame by the independent rules
            assert independently_valid(pair[1]), pair[1].hex()
            self.outputs.append(pair)

    @invariant()
    def counters_only_grow(self) -> None:
        stats = self.dec.stats
        now = {name: getattr(stats, name) for name in COUNTERS}
        for name in COUNTERS:
            assert now[name] >= self.last[name], (name, now[name], self.last[name])
        self.last = now
        assert now["bytes_in"] == len(self.fed)
        assert now["bytes_skipped"] <= now["bytes_in"]
        assert now["frames_ok"] >= len(self.outputs)
        if isinstance(self.dec, FrameSplitter):
            assert now["frames_ok"] == len(self.outputs)
        else:
            assert now["telegrams"] == len(self.outputs)
            assert (
                now["telegrams"] + now["frames_undecodable"] + now["frames_reassembled"]
                == now["frames_ok"]
            )

    @invariant()
    def bounded(self) -> None:
        assert 0 <= self.dec.pending <= PENDING_BOUND
        errors = self.dec.errors
        assert len(errors) <= MAX_KEPT_ERRORS
        if len(errors) == MAX_KEPT_ERRORS:
            self.overflowed = True
        for rec in errors[-20:]:
            touch(rec)
            assert rec.offset + rec.length <= len(self.fed)

    @invariant()
    def intact_frames_come_back(self) -> None:
        """Every prepared frame fed in one piece (no garbage or flush inside it) is returned
        at its offset once nothing before it is held back, unless a valid frame made up of
        garbage overlaps it (a CRC collision, which would be no decoder bug)."""
        returned = set(self.outputs)
        foreign = [(off, off + len(raw)) for off, raw in self.outputs if raw not in real_frames()]
        for start, raw in self.prepared.frames:
            end = start + len(raw)
            if end > self.cursor:
                break
            try:
                at = self.origin.index(start)
            except ValueError:
                continue  # never fed as stream bytes
            if self.origin[at : at + len(raw)] != list(range(start, end)):
                continue  # garbage inside
            if any(at < f < at + len(raw) for f in self.flushes):
                continue  # flushed in the middle
            if at + len(raw) > len(self.fed) - self.dec.pending:
                continue  # held back behind an earlier, still undecided candidate
            if any(overlap((at, at + len(raw)), span) > 1 for span in foreign):
                continue
            assert (at, raw) in returned, (at, raw.hex())

    def check_against_reference(self) -> None:
        """All outputs, records and counters equal those of a fresh decoder fed each
        flush-delimited segment in one piece."""
        ref = self.new()
        outs: list[tuple[int, bytes]] = []
        for segment in self.segments[:-1]:
            outs += [(o.offset, o.raw) for o in ref.feed(bytes(segment))]
            outs += [(o.offset, o.raw) for o in ref.flush()]
        assert outs == self.outputs
        assert ref.stats == self.dec.stats
        kept = [record_tuple(r) for r in ref.errors]
        if not self.overflowed and len(kept) < MAX_KEPT_ERRORS:
            assert self.drained + [record_tuple(r) for r in self.dec.errors] == kept
            offsets = [r[0] for r in kept]
            assert offsets == sorted(offsets), "records in stream order"

    def teardown(self) -> None:
        self.flush()


class DecoderMachine(StreamMachine):
    def new(self) -> Decoder:
        return Decoder()

    def feed(self, chunk: bytes, received_at: float | None) -> list[Telegram]:
        assert isinstance(self.dec, Decoder)
        if received_at is None:
            return self.dec.feed(chunk)
        return self.dec.feed(chunk, received_at=received_at)


class SplitterMachine(StreamMachine):
    def new(self) -> FrameSplitter:
        return FrameSplitter()

    def feed(self, chunk: bytes, received_at: float | None) -> list[HdlcFrame]:
        assert isinstance(self.dec, FrameSplitter)
        out = self.dec.feed(chunk)
        for frame in out[:2]:
            touch(frame)
        return out


MACHINE_SETTINGS = settings(
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestDecoderMachine = DecoderMachine.TestCase
TestDecoderMachine.settings = MACHINE_SETTINGS
TestSplitterMachine = SplitterMachine.TestCase
TestSplitterMachine.settings = MACHINE_SETTINGS


# ============================================================================================
# 2. Mutations of real frames
# ============================================================================================


@dataclass(frozen=True)
class Mutant:
    """A stream built from real frames, some mutated, and what must come back."""

    data: bytes
    #: (offset, raw) of every frame whose bytes no mutation touched
    intact: tuple[tuple[int, bytes], ...]
    #: what was done, for the failure report
    steps: tuple[str, ...]


@dataclass(frozen=True)
class _Item:
    raw: bytes  # the original frame
    data: bytes  # what goes into the stream
    touched: bool


MUTATIONS = ("flip", "drop", "insert", "truncate", "duplicate", "nest")


@st.composite
def mutants(draw: st.DrawFn) -> Mutant:
    pool = real_frames()
    chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6))
    items = [_Item(raw, raw, False) for raw in draw(st.permutations(chosen))]
    steps: list[str] = ["order " + " ".join(str(pool.index(i.raw)) for i in items)]
    for op in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=5)):
        i = draw(st.integers(0, len(items) - 1))
        item = items[i]
        data = item.data
        n = len(data)
        if op == "flip" and n:
            at = draw(st.integers(0, n - 1))
            bit = draw(st.integers(0, 7))
            data = data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1 :]
            steps.append(f"flip #{i} byte {at} bit {bit}")
        elif op == "drop" and n:
            at = draw(st.integers(0, n - 1))
            data = data[:at] + data[at + 1 :]
            steps.append(f"drop #{i} byte {at}")
        elif op == "insert":
            at = draw(st.integers(0, n))
            byte = draw(st.one_of(st.sampled_from([FLAG, 0xA0, 0x00]), st.integers(0, 255)))
            data = data[:at] + bytes([byte]) + data[at:]
            steps.append(f"insert #{i} at {at} byte {byte:#04x}")
        elif op == "truncate" and n > 1:
            keep = draw(st.integers(1, n - 1))
            data = data[:keep]
            steps.append(f"truncate #{i} to {keep}")
        elif op == "duplicate":
            j = draw(st.integers(0, len(items)))
            items.insert(j, item)
            steps.append(f"duplicate #{i} to #{j}")
            continue
        elif op == "nest" and n > 1:
            cut = draw(st.integers(1, n - 1))
            guest = draw(st.sampled_from(pool))
            items[i : i + 1] = [
                _Item(item.raw, data[:cut], True),
                _Item(guest, guest, False),
                _Item(item.raw, data[cut:], True),
            ]
            steps.append(f"nest frame {pool.index(guest)} in #{i} at {cut}")
            continue
        else:
            continue
        items[i] = _Item(item.raw, data, True)

    out = bytearray()
    intact: list[tuple[int, bytes]] = []
    for item in items:
        how = draw(st.sampled_from(["own", "shared", "idle", "gap"]))
        if how == "shared" and out and out[-1] == FLAG and item.data[:1] == bytes([FLAG]):
            start = len(out) - 1
            out += item.data[1:]
        else:
            if how == "idle":
                out += bytes([FLAG]) * draw(st.integers(1, 3))
            elif how == "gap":
                out += draw(gaps()).data
            start = len(out)
            out += item.data
        if not item.touched and out[start : start + len(item.raw)] == item.raw:
            intact.append((start, item.raw))
    return Mutant(bytes(out), tuple(intact), tuple(steps))


def check_mutant(mutant: Mutant, returned: Sequence[tuple[int, bytes]]) -> None:
    data = mutant.data
    intact = set(mutant.intact)
    made_up: list[tuple[int, int]] = []
    for offset, raw in returned:
        assert data[offset : offset + len(raw)] == raw, "byte-exact at its offset"
        if (offset, raw) not in intact:
            # a mutated (or made-up) frame comes back only if it is really valid
            assert independently_valid(raw), f"false accept at {offset}: {raw.hex()}"
            if raw not in real_frames():
                made_up.append((offset, offset + len(raw)))
    got = set(returned)
    assert len(got) == len(returned), "a frame came back twice"
    for offset, raw in mutant.intact:
        span = (offset, offset + len(raw))
        if any(overlap(span, other) > 1 for other in made_up):
            continue  # mutations made up a valid frame over it: a CRC collision
        assert (offset, raw) in got, f"lost the untouched frame at {offset}"
    for raw in {raw for _, raw in mutant.intact}:
        copies = sum(1 for _, r in mutant.intact if r == raw)
        assert sum(1 for _, r in returned if r == raw) >= copies, "duplicates come back each"


@given(mutant=mutants(), sizes=chunk_sizes())
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_real_frames_splitter(mutant: Mutant, sizes: list[int]) -> None:
    splitter = FrameSplitter()
    frames: list[HdlcFrame] = []
    for chunk in chunked(mutant.data, sizes, cycle=True):
        frames += splitter.feed(chunk)
    frames += splitter.flush()
    check_mutant(mutant, [(f.offset, f.raw) for f in frames])
    assert splitter.stats.frames_ok == len(frames)


@given(mutant=mutants(), sizes=chunk_sizes())
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_real_frames_decoder(mutant: Mutant, sizes: list[int]) -> None:
    decoder = Decoder()
    telegrams: list[Telegram] = []
    for chunk in chunked(mutant.data, sizes, cycle=True):
        telegrams += decoder.feed(chunk)
    telegrams += decoder.flush()
    pairs = [(t.offset, t.raw) for t in telegrams]
    # every real frame decodes, so every untouched one gives a telegram
    check_mutant(mutant, pairs)
    # and the Decoder frames exactly like the FrameSplitter
    splitter = FrameSplitter()
    frames = splitter.feed(mutant.data) + splitter.flush()
    assert set(pairs) <= {(f.offset, f.raw) for f in frames}
    stats = decoder.stats
    assert stats.frames_ok == len(frames)
    assert stats.telegrams + stats.frames_undecodable + stats.frames_reassembled == stats.frames_ok
    touch(telegrams)


def test_duplicated_frame_comes_back_twice() -> None:
    frame = real_frames()[0]
    for data in (frame + frame, frame + frame[1:], frame + b"\x7e\x7e" + frame):
        decoder = Decoder()
        telegrams = decoder.feed(data) + decoder.flush()
        assert [t.raw for t in telegrams] == [frame, frame]
        assert telegrams[1].offset == len(data) - len(frame)


def test_frame_cut_in_two_around_another() -> None:
    pool = real_frames()
    host, guest = pool[-1], pool[0]
    for cut in range(1, len(host)):
        data = host[:cut] + guest + host[cut:]
        splitter = FrameSplitter()
        frames = splitter.feed(data) + splitter.flush()
        expected = [(cut, guest)]
        if cut == 1:
            # only the opening flag is cut off: the guest's closing flag opens the host
            expected.append((len(guest), host))
        if cut == len(host) - 1:
            # only the closing flag is cut off: the guest's opening flag closes the host
            expected.insert(0, (0, host))
        assert [(f.offset, f.raw) for f in frames] == expected, cut


def test_mutation_tests_can_fail() -> None:
    """The checker rejects a lost frame, a shifted frame and a false accept."""
    frame = real_frames()[0]
    mutant = Mutant(frame + frame, ((0, frame), (len(frame), frame)), ())
    with pytest.raises(AssertionError, match="lost"):
        check_mutant(mutant, [(0, frame)])
    with pytest.raises(AssertionError, match="byte-exact"):
        check_mutant(mutant, [(1, frame)])
    bad = frame[:-3] + bytes([frame[-3] ^ 1]) + frame[-2:]
    with pytest.raises(AssertionError, match="false accept"):
        check_mutant(Mutant(bad, (), ()), [(0, bad)])


# ============================================================================================
# 3. Nothing but the documented results
# ============================================================================================


class BoomError(Exception):
    """What the hostile objects below raise themselves; propagating it is fine."""


class RaisingBytes:
    def __bytes__(self) -> bytes:
        raise BoomError


class RaisingBuffer:
    def __buffer__(self, flags: int) -> memoryview:
        raise BoomError


class RaisingNumber:
    def __float__(self) -> float:
        raise BoomError

    def __index__(self) -> int:
        raise BoomError


class WrongNumber:
    def __float__(self) -> str:
        return "nan"


class BytesSub(bytes):
    def __len__(self) -> int:
        return 10**9


class StrSub(str):
    pass


def _released() -> memoryview:
    view = memoryview(b"\x7e\xa0")
    view.release()
    return view


def _mmap() -> mmap.mmap:
    m = mmap.mmap(-1, len(AIDON))
    m.write(AIDON)
    return m


def _nested(depth: int) -> list[Any]:
    root: list[Any] = []
    cur = root
    for _ in range(depth):
        cur.append([])
        cur = cur[0]
    return root


#: Hostile values by name (the name keeps failure reports readable).
HOSTILE: dict[str, Callable[[], object]] = {
    "None": lambda: None,
    "empty bytes": lambda: b"",
    "str": lambda: "7ea0",
    "str subclass": lambda: StrSub("Europe/Oslo"),
    "surrogate str": lambda: "\ud800",
    "NUL str": lambda: "Europe/Oslo\x00",
    "zero": lambda: 0,
    "negative": lambda: -1,
    "2**64": lambda: 2**64,
    "10**400": lambda: 10**400,
    "float": lambda: 1.5,
    "bool": lambda: True,
    "list of ints": lambda: [0x7E, 0xA0, 0x07],
    "deeply nested list": lambda: _nested(100_000),
    "dict": lambda: {"key": b"\x00" * 16},
    "object": lambda: object(),
    "type": lambda: bytes,
    "raising __bytes__": lambda: RaisingBytes(),
    "raising __buffer__": lambda: RaisingBuffer(),
    "raising __float__/__index__": lambda: RaisingNumber(),
    "__float__ returning str": lambda: WrongNumber(),
    "released memoryview": _released,
    "non-contiguous memoryview": lambda: memoryview(AIDON * 2)[::2],
    "2-d memoryview": lambda: memoryview(bytearray(AIDON[:42])).cast("B", (6, 7)),
    "array of doubles": lambda: array.array("d", [1.5, -2.5]),
    "bytes subclass lying about len": lambda: BytesSub(AIDON),
    "bytearray": lambda: bytearray(AIDON),
    "mmap": _mmap,
    "iterator of bytes": lambda: iter([AIDON]),
}


def _shallow(value: object) -> bool:
    """Not the deeply nested list: str() of an exception holding it is Python's own
    RecursionError, nothing of hanport's."""
    return not (isinstance(value, list) and value and isinstance(value[0], list))


def _decoder_fed(**kwargs: Any) -> list[object]:
    decoder = Decoder(**kwargs)
    return [decoder.feed(AIDON), decoder.flush(), decoder]


def _feed_received(value: Any) -> list[object]:
    decoder = Decoder()
    return [decoder.feed(AIDON, received_at=value), decoder]


def _methods_with_extra(value: Any) -> list[object]:
    """Methods called with an argument they do not take: TypeError, nothing else."""
    outcomes: list[object] = []
    for obj in (Decoder(), FrameSplitter()):
        for name in ("flush", "drain_errors"):
            with pytest.raises(TypeError):
                getattr(obj, name)(value)
        with pytest.raises(TypeError):
            obj.feed(AIDON, value)  # type: ignore[call-arg]
        outcomes.append(obj)
    return outcomes


def _compare(value: Any) -> list[object]:
    """== with anything is a bool; hashing an unhashable is a TypeError."""
    decoder = Decoder()
    decoder.feed(b"\x7e\xa0\x00garbage")
    decoder.flush()
    record, stats = decoder.errors[0], decoder.stats
    assert isinstance(record == value, bool)
    assert isinstance(stats == value, bool)
    assert isinstance(stats != value, bool)
    return [record, stats]


def _error_class(cls: type[Exception]) -> Callable[[Any], object]:
    def call(value: Any) -> object:
        exc = cls(value, value, value, value)
        assert exc.args == (value, value, value, value)
        exc = cls(value)
        str(exc)  # a non-str message gives a TypeError here
        return exc

    return call


#: (target name, the call, which inputs it takes, extra exception types it may raise)
Target = tuple[str, Callable[[Any], object], Callable[[object], bool], tuple[type, ...]]
_ANY: Callable[[object], bool] = lambda value: True  # noqa: E731
_TZ_ERRORS: tuple[type, ...] = ()  # unknown zones are a ValueError like any bad value

TARGETS: list[Target] = [
    ("crc16_x25(v)", lambda v: crc16_x25(v), _ANY, ()),
    ("HdlcFrame.parse(v)", lambda v: HdlcFrame.parse(v), _ANY, ()),
    ("decode_frame(v)", lambda v: decode_frame(v), _ANY, ()),
    ("decode_bytes(v)", lambda v: hanport.decode_bytes(v), _ANY, ()),
    ("decode_bytes(AIDON, tz=v)", lambda v: hanport.decode_bytes(AIDON, tz=v), _ANY, ()),
    # paths: a missing or unreadable file is an OSError, as for open()
    ("decode_file(v)", lambda v: hanport.decode_file(v), _ANY, (OSError,)),
    ("decode_files(v)", lambda v: hanport.decode_files(v), _ANY, (OSError,)),
    ("iter_file(v)", lambda v: hanport.iter_file(v), _ANY, (OSError,)),
    ("decode_frame(AIDON, tz=v)", lambda v: decode_frame(AIDON, tz=v), _ANY, _TZ_ERRORS),
    # a str or path is a key file: OSError when it cannot be read
    ("decode_frame(AIDON, keys=v)", lambda v: decode_frame(AIDON, keys=v), _ANY, (OSError,)),
    ("decode_frame(v, v)", lambda v: decode_frame(v, v), _ANY, ()),  # type: ignore[call-arg]
    ("Decoder(v)", lambda v: Decoder(v), _ANY, ()),  # type: ignore[call-arg]
    ("Decoder(tz=v)", lambda v: _decoder_fed(tz=v), _ANY, _TZ_ERRORS),
    ("Decoder(keys=v)", lambda v: _decoder_fed(keys=v), _ANY, (OSError,)),
    ("Decoder(max_clock_drift=v)", lambda v: _decoder_fed(max_clock_drift=v), _ANY, ()),
    ("Decoder(unknown=v)", lambda v: Decoder(unknown=v), _ANY, ()),  # type: ignore[call-arg]
    ("Decoder().feed(v)", lambda v: [Decoder().feed(v)], _ANY, ()),
    ("Decoder().feed(AIDON, received_at=v)", _feed_received, _ANY, ()),
    ("FrameSplitter(v)", lambda v: FrameSplitter(v), _ANY, ()),  # type: ignore[call-arg]
    ("FrameSplitter().feed(v)", lambda v: [FrameSplitter().feed(v)], _ANY, ()),
    ("flush(v)/drain_errors(v)/feed(_, v)", _methods_with_extra, _ANY, ()),
    ("ErrorRecord/Stats == v", _compare, _ANY, ()),
    *[
        (f"{cls.__name__}(v)", lambda v, cls=cls: cls(v), _ANY, ())
        for cls in (Telegram, CosemObject, HdlcFrame, ErrorRecord, Stats)
    ],
    *[
        (f"{name}(v, v, v, v)", _error_class(getattr(hanport, name)), _shallow, ())
        for name in hanport.errors.__all__
    ],
]
#: Every name in hanport.__all__ and where it is exercised (the callables in TARGETS, the
#: methods and properties through touch(); the two constants in test_constants).
COVERED = {
    "OBIS_TABLE",
    "__version__",
    "crc16_x25",
    "decode_frame",
    "HdlcFrame",
    "Decoder",
    "FrameSplitter",
    "Telegram",
    "CosemObject",
    "ErrorRecord",
    "Stats",
    "Batch",
    "BatchIterator",
    "decode_bytes",
    "decode_file",
    "decode_files",
    "iter_file",
    *hanport.errors.__all__,
}
ALLOWED: tuple[type, ...] = (DecodeError, TypeError, ValueError, BoomError)
NEVER: tuple[type, ...] = (SystemError, MemoryError, RecursionError)


def outcome(call: Callable[[], object], extra: tuple[type, ...] = ()) -> object:
    """Run ``call``: a normal return is touched all over; an exception must be one of the
    allowed ones (PanicException is a BaseException, hence the broad except)."""
    try:
        result = call()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | AssertionError):
            raise
        if isinstance(exc, NEVER) or not isinstance(exc, ALLOWED + extra):
            pytest.fail(f"undocumented {type(exc).__mro__}: {exc!r}")
        return exc
    touch(result)
    return result


def test_every_public_name_is_covered() -> None:
    assert set(hanport.__all__) == COVERED
    for cls, names in PUBLIC.items():
        assert {n for n in dir(cls) if not n.startswith("_")} == names, cls.__name__


def test_constants() -> None:
    assert isinstance(hanport.__version__, str)
    json.dumps(OBIS_TABLE)
    for row in OBIS_TABLE:
        assert set(row) == {"field", "unit", "kind", "codes"}


@pytest.mark.parametrize(("name", "call", "accepts", "extra"), TARGETS, ids=[t[0] for t in TARGETS])
def test_hostile_values(
    name: str,
    call: Callable[[Any], object],
    accepts: Callable[[object], bool],
    extra: tuple[type, ...],
) -> None:
    for label, make in HOSTILE.items():
        value = make()
        if accepts(value):
            try:
                outcome(partial(call, value), extra)
            except (AssertionError, pytest.fail.Exception) as exc:
                raise AssertionError(f"{name} with {label}: {exc}") from exc


ANY_VALUE = st.one_of(
    st.binary(max_size=300),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.lists(st.integers(0, 255), max_size=8),
    st.sampled_from(["UTC", "Europe/Oslo", "", ".", "../x", "Etc/GMT+12", "zone.tab"]),
    st.binary(max_size=300).map(bytearray),
    st.binary(max_size=300).map(lambda b: memoryview(b)),
)


@pytest.mark.parametrize(("name", "call", "accepts", "extra"), TARGETS, ids=[t[0] for t in TARGETS])
@settings(deadline=None, max_examples=max(20, settings().max_examples // 5))
@given(value=ANY_VALUE)
def test_generated_values(
    name: str,
    call: Callable[[Any], object],
    accepts: Callable[[object], bool],
    extra: tuple[type, ...],
    value: Any,
) -> None:
    if accepts(value):
        outcome(lambda: call(value), extra)


@given(data=st.one_of(st.binary(max_size=3000), interesting_bytes(max_size=3000)))
@settings(deadline=None)
def test_binary_through_every_data_entry_point(data: bytes) -> None:
    outcome(partial(crc16_x25, data))
    outcome(partial(HdlcFrame.parse, data))
    outcome(partial(decode_frame, data))
    for view in (data, bytearray(data), memoryview(data)):
        outcome(partial(_decoder_fed_with, view))
        outcome(partial(_splitter_fed_with, view))


def _decoder_fed_with(data: bytes | bytearray | memoryview) -> list[object]:
    decoder = Decoder()
    return [decoder.feed(data), decoder.flush(), decoder]


def _splitter_fed_with(data: bytes | bytearray | memoryview) -> list[object]:
    splitter = FrameSplitter()
    return [splitter.feed(data), splitter.flush(), splitter]


ZONES = [
    "UTC",
    "Europe/Oslo",
    "Pacific/Kiritimati",
    "Etc/GMT+12",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "right/UTC",
    "Factory",
]


@given(
    frames=st.lists(dlms_frames(), min_size=1, max_size=4),
    tz=st.sampled_from(ZONES),
    drift=st.one_of(st.none(), st.floats(allow_nan=True), st.floats(-1e9, 1e9)),
    received_at=st.one_of(st.none(), st.floats(-1e10, 1e10)),
)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_dlms_frames_in_any_zone(
    frames: list[EncodedFrame], tz: str, drift: float | None, received_at: float | None
) -> None:
    """Fuzzed notifications decoded in far-off zones with a clock-drift check: the stream
    decoder never raises, every telegram is fully readable, and decode_frame raises only
    DecodeErrors for them."""
    # NaN, negative, or beyond the seconds a datetime can show (up to 9999-12-30): refused
    if drift is not None and not 0 <= drift <= 253_402_128_000.0:
        with pytest.raises(ValueError, match="max_clock_drift"):
            Decoder(tz=tz, max_clock_drift=drift)
        drift = None
    decoder = Decoder(tz=tz, max_clock_drift=drift)
    data = b"".join(f.raw for f in frames)
    if received_at is None:
        telegrams = decoder.feed(data)
    else:
        telegrams = decoder.feed(data, received_at=received_at)
    outcome(lambda: [telegrams, decoder.flush(), decoder])
    for frame in frames:
        outcome(partial(decode_frame, frame.raw, tz=tz))


def test_bytearray_mutated_during_feed() -> None:
    """Bytes are copied before decoding; Python code that runs during the call (here the
    received_at conversion) may change or resize the bytearray first: the decoder sees one
    consistent version and the telegram keeps its own copy."""
    data = bytearray(AIDON * 2)

    class Mutating:
        def __float__(self) -> float:
            del data[len(AIDON) :]
            data[10] ^= 0xFF
            return 1.0

    decoder = Decoder()
    telegrams = decoder.feed(data, received_at=Mutating())  # type: ignore[arg-type]
    assert decoder.stats.bytes_in in (len(AIDON), 2 * len(AIDON))
    assert [t.raw for t in telegrams] in ([], [AIDON], [AIDON, AIDON])
    data[:] = b"\x00" * len(data)
    assert all(t.raw == AIDON for t in telegrams)
    touch(telegrams)


def test_hostile_checks_can_fail() -> None:
    """outcome() rejects an undocumented exception and a panic-like BaseException."""

    class PanicException(BaseException):
        pass

    def raise_(exc: BaseException) -> object:
        raise exc

    for exc in (KeyError("x"), OverflowError(), PanicException("boom"), SystemError()):
        with pytest.raises(pytest.fail.Exception, match="undocumented"):
            outcome(partial(raise_, exc))
    outcome(lambda: raise_(hanport.ChecksumError("bad", 1, "hdlc", "bad_fcs")))


# ============================================================================================
# 4. Bounded resources
# ============================================================================================


def credible_header(length: int = 0x7FF) -> bytes:
    """A flag and a header with a correct HCS claiming ``length`` bytes: 8 bytes, so repeated
    back to back every candidate's claimed closing position holds a flag (2048 = 256 * 8) and
    its FCS over 2047 bytes must be computed before it is rejected."""
    head = bytes([0xA0 | length >> 8, length & 0xFF, 0x41, 0x03, 0x13])
    return bytes([FLAG]) + head + crc16_x25_bitwise(head).to_bytes(2, "little")


FALSE_START = b"\x7e\xa7\xff"
CREDIBLE_MAX = credible_header()


def pattern_chunks(pattern: bytes, total: int, size: int = 64 * 1024) -> Iterator[memoryview]:
    """``total`` bytes of ``pattern`` repeated, in chunks of ``size`` (the pattern's phase
    shifts from chunk to chunk when ``size`` is not a multiple of its length)."""
    blob = memoryview(pattern * (total // len(pattern) + 1))[:total]
    for at in range(0, total, size):
        yield blob[at : at + size]


@pytest.mark.parametrize("cls", [Decoder, FrameSplitter])
def test_max_length_fields_back_to_back(cls: type[Decoder | FrameSplitter]) -> None:
    dec = cls()
    data = CREDIBLE_MAX * (1 << 17)  # 1 MiB
    sizes = [1] * 3000 + [7, 4095, 4096, 4097, 2049, 64 * 1024]
    for chunk in chunked(data, sizes, cycle=True):
        assert dec.feed(chunk) == []
        assert dec.pending <= PENDING_BOUND
    good = real_frames()[-1]
    found = dec.feed(good) + dec.flush()
    assert [(f.offset, f.raw) for f in found] == [(len(data), good)]
    errors = dec.errors
    assert len(errors) == MAX_KEPT_ERRORS
    assert {e.kind for e in errors} <= {"bad_fcs", "missing_closing_flag", "truncated"}
    stats = dec.stats
    assert stats.frames_ok == 1
    assert stats.bytes_skipped == len(data)
    assert stats.frames_bad_checksum + stats.frames_malformed == data.count(FLAG)


def test_endless_false_starts() -> None:
    """20 MB of ``7E A7 FF`` in 64 KiB chunks: every flag rejected, 10 000 records kept,
    pending and memory bounded, and a good frame afterwards still found."""
    total = 20 * 1024 * 1024
    chunks = list(pattern_chunks(FALSE_START, total))
    dec = Decoder()
    dec.feed(bytes(chunks[0]))
    before = rss_bytes()
    for chunk in chunks[1:]:
        assert dec.feed(chunk) == []
        assert dec.pending <= PENDING_BOUND
    grown = rss_bytes() - before
    telegrams = dec.feed(AIDON) + dec.flush()
    assert [(t.offset, t.raw) for t in telegrams] == [(total, AIDON)]
    stats = dec.stats
    assert stats.bytes_in == total + len(AIDON)
    assert stats.bytes_skipped == total
    assert stats.frames_bad_checksum + stats.frames_malformed == total // 3 + (total % 3 > 0)
    assert len(dec.errors) == MAX_KEPT_ERRORS
    assert grown < 50 * 1024 * 1024, grown


DEEP_BODIES = {
    "structures": b"\x02\x01" * 10_000 + b"\x00",
    "arrays": b"\x01\x01" * 10_000 + b"\x00",
    "mixed": b"\x01\x01\x02\x01" * 5_000 + b"\x00",
    "compact-array type description": b"\x13" + b"\x02\x01" * 10_000 + b"\x06\x00",
    "compact-array of arrays": b"\x13" + b"\x01\x00\x01" * 10_000 + b"\x06\x00",
}


@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES)
def test_deep_axdr(body: bytes) -> None:
    with pytest.raises(AxdrError) as caught:
        decode_frame(APDU_HEAD + body)
    assert caught.value.kind == "too_deep"
    assert caught.value.layer == "axdr"


def test_deep_axdr_in_a_stream() -> None:
    """1 000 levels fit in one frame: the Decoder skips it with a record and goes on."""
    deep = notification(b"\x02\x01" * 1000 + b"\x00")
    assert len(deep) <= MAX_FRAME
    with pytest.raises(AxdrError):
        decode_frame(deep)
    dec = Decoder()
    data = AIDON + deep + AIDON
    telegrams = dec.feed(data) + dec.flush()
    assert [t.offset for t in telegrams] == [0, len(AIDON) + len(deep)]
    assert [(e.offset, e.layer, e.kind) for e in dec.errors] == [(len(AIDON), "axdr", "too_deep")]
    assert dec.stats.frames_undecodable == 1


HUGE = b"\x84\xff\xff\xff\xff"
HUGE_BODIES: dict[str, tuple[bytes, type[DecodeError]]] = {
    "array count": (b"\x01" + HUGE, AxdrError),
    "structure count": (b"\x02" + HUGE, AxdrError),
    "nested structure count": (b"\x02\x01\x02" + HUGE + b"\x00" * 64, AxdrError),
    "octet-string length": (b"\x02\x01\x09" + HUGE + b"abc", AxdrError),
    "visible-string length": (b"\x02\x01\x0a" + HUGE, AxdrError),
    "utf8-string length": (b"\x02\x01\x0c" + HUGE, AxdrError),
    "bcd length": (b"\x02\x01\x0d" + HUGE, AxdrError),
    "bit-string bits": (b"\x02\x01\x04" + HUGE, AxdrError),
    "compact-array description count": (b"\x13\x02" + HUGE + b"\x06", AxdrError),
    "compact-array contents length": (b"\x13\x01\xff\xff\x06" + HUGE, AxdrError),
    "8-byte length form": (b"\x01\x88" + b"\xff" * 8, AxdrError),
    "indefinite length form": (b"\x01\x80", AxdrError),
    "date-time octet-string length": (b"\x09" + HUGE, hanport.ApduError),
}


@pytest.mark.parametrize(("body", "error"), HUGE_BODIES.values(), ids=HUGE_BODIES)
def test_huge_counts_and_lengths(body: bytes, error: type[DecodeError]) -> None:
    apdu = APDU_HEAD + body if error is AxdrError else APDU_HEAD[:5] + body
    start = time.process_time()
    with pytest.raises(error):
        decode_frame(apdu)
    frame = hdlc(LLC + apdu)
    with pytest.raises(error):
        decode_frame(frame)
    dec = Decoder()
    telegrams = dec.feed(AIDON + frame + AIDON) + dec.flush()
    assert [t.offset for t in telegrams] == [0, len(AIDON) + len(frame)]
    assert [(e.offset, e.layer) for e in dec.errors] == [
        (len(AIDON), "axdr" if error is AxdrError else "apdu")
    ]
    assert time.process_time() - start < 1.0


METERS_PER_CHUNK = 8


def _adversarial_chunks(total: int, first_meter: int = 0) -> Iterator[bytes]:
    """64 KiB chunks cycling through false starts, credible maximum-length headers, valid
    frames nested too deep, telegrams of ever new meters (with long ids) and random bytes."""
    size = 64 * 1024
    rng = random.Random(1)
    deep = notification(b"\x02\x01" * 1000 + b"\x00")
    meter = first_meter
    for k in range(total // size):
        kind = k % 5
        if kind == 0:
            chunk = (FALSE_START * (size // 3 + 1))[:size]
        elif kind == 1:
            chunk = CREDIBLE_MAX * (size // len(CREDIBLE_MAX))
        elif kind == 2:
            chunk = (deep * (size // len(deep) + 1))[:size]
        elif kind == 3:
            parts = []
            for _ in range(METERS_PER_CHUNK):
                meter += 1
                parts.append(fast_notification(obis_body(b"%0120d" % meter, meter)))
            filler = rng.randbytes(size - sum(map(len, parts)))
            chunk = b"".join(parts) + filler
        else:
            chunk = rng.randbytes(size)
        yield chunk


def test_memory_stays_bounded() -> None:
    """50 MB of adversarial input through one Decoder: resident memory grows < 50 MB."""
    assert fast_notification(obis_body(b"1")) == notification(obis_body(b"1"))
    total = 50 * 1024 * 1024
    dec = Decoder()
    for chunk in _adversarial_chunks(2 * 1024 * 1024):  # warm up allocator and caches
        dec.feed(chunk)
    before = rss_bytes()
    telegrams = 0
    for chunk in _adversarial_chunks(total, first_meter=10**6):
        telegrams += len(dec.feed(chunk))
        assert dec.pending <= PENDING_BOUND
    telegrams += len(dec.flush())
    grown = rss_bytes() - before
    assert grown < 50 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB"
    assert len(dec.errors) == MAX_KEPT_ERRORS
    meters = METERS_PER_CHUNK * len(range(3, total // (64 * 1024), 5))
    assert meters > 1024  # more meters than the quality tracker remembers
    assert telegrams == meters
    assert dec.stats.frames_undecodable > 0


@pytest.mark.parametrize("pattern", [FALSE_START, CREDIBLE_MAX], ids=["7E A7 FF", "credible"])
def test_decoding_time_is_linear(pattern: bytes) -> None:
    def cost(total: int) -> float:
        chunks = list(pattern_chunks(pattern, total))
        dec = Decoder()
        start = time.process_time()
        for chunk in chunks:
            dec.feed(chunk)
        dec.flush()
        return time.process_time() - start

    cost(256 << 10)  # warm-up
    small, large = cost(4 << 20), cost(16 << 20)
    assert large < 8 * max(small, 0.01), (small, large)
    assert small + large < 10


# ============================================================================================
# Bugs found (kept failing on purpose until fixed)
# ============================================================================================

#: Receive times a datetime cannot hold: feed() takes them, then the telegram it returns
#: raises on .received_at and .to_dict() (OverflowError, OSError or ValueError).
OUT_OF_RANGE_EPOCH = {
    "1e20": 1e20,
    "-1e20": -1e20,
    "inf": math.inf,
    "-inf": -math.inf,
    "nan": math.nan,
    "2**63": float(2**63),
    "-2**63 (int)": -(2**63),
    "year 10000": 253402300800.0,
    "year 0": -62135600000.0,
}


@pytest.mark.parametrize("received_at", OUT_OF_RANGE_EPOCH.values(), ids=OUT_OF_RANGE_EPOCH)
def test_out_of_range_received_at(received_at: float) -> None:
    dec = Decoder()
    try:
        telegrams = dec.feed(AIDON, received_at=received_at)
    except (TypeError, ValueError):
        return  # rejecting the argument up front would be fine
    assert len(telegrams) == 1
    when = telegrams[0].received_at  # a datetime or None, never an exception
    assert when is None or isinstance(when, datetime)
    json.dumps(telegrams[0].to_dict())


def test_clock_drift_limit_is_the_datetime_span() -> None:
    """The largest drift accepted is the span a datetime can show (up to 9999-12-30)."""
    Decoder(max_clock_drift=253_402_128_000.0)
    Decoder(max_clock_drift=0.0)
    for refused in (math.nextafter(253_402_128_000.0, math.inf), 1e12, -1.0, math.nan):
        with pytest.raises(ValueError, match="max_clock_drift"):
            Decoder(max_clock_drift=refused)


@pytest.mark.parametrize("where", ["received_at", "max_clock_drift"])
def test_huge_int_seconds(where: str) -> None:
    huge = 10**400
    if where == "received_at":
        outcome(lambda: Decoder().feed(AIDON, received_at=huge))
    else:
        outcome(lambda: Decoder(max_clock_drift=huge))


def test_reentrant_call_during_feed() -> None:
    dec = Decoder()
    inner: list[object] = []

    class Reentrant:
        def __float__(self) -> float:
            inner.append(outcome(lambda: dec.pending))
            return 1.0

    dec.feed(AIDON, received_at=Reentrant())  # type: ignore[arg-type]
    assert inner == [0]
