"""pytest-benchmark benchmarks of the international workloads (issue #6): encrypted pushes and
DSMR/P1 telegrams, through the Python bindings, against dsmr-parser on the same telegrams.

The streams are built like the Rust benchmark's (``benches/intl.rs``), from real messages of
``tests/data/records/*.jsonl``, repeated:

* ``encrypted``: every non-synthetic record with a published ``key`` that a keyed
  :class:`hanport.Decoder` turns, on its own, into exactly one telegram and no error record
  (Iskraemeco AM550, L&G gh501 and two E450 pushes over General Block Transfer, Kamstrup
  Omnipower, Kaifa over M-Bus, a raw Kaifa ciphered APDU), meters (system titles) taking turns,
  a meter's messages in turn. ``keys=`` maps each system title to its EK (and AK). The repeats
  carry old invocation counters, so the decoder flags them as replays: a quality flag only,
  every repeat is still decrypted and decoded.
* ``p1``: every P1 record that :func:`hanport.decode_frame` accepts (CRC mismatches and
  truncated captures dropped; a leading empty line dropped), in record order.
* ``p1_dsmr5``: those declaring DSMR 5 (``1-3:0.2.8(50)``) that dsmr-parser's
  ``TelegramParser(telegram_specifications.V5)`` (checksum validation on) also accepts.

Groups:

* ``intl_decode_bytes``: ``decode_bytes(data, keys=..., jobs=1)`` (one core) on each stream.
  On ``p1_dsmr5`` the same telegrams, as ``str`` (decoded outside the timing), are then parsed
  one by one by dsmr-parser (best of 3 over the first ``HANPORT_PY_PEER_TELEGRAMS``, default
  1000); ``extra_info`` has both telegrams/s and ``ratio_vs_dsmr_parser`` (hanport's median
  round against dsmr-parser's best), which must be >= 300 when measuring.
* ``intl_feed``: :meth:`hanport.Decoder.feed` in 4 KiB chunks, then ``flush``, into
  :class:`hanport.Telegram` objects, on each stream (the stream path); on ``p1_dsmr5`` the
  ratio against dsmr-parser is recorded too (not asserted).

Stream size when measuring: ``HANPORT_PY_INTL_MB`` (default 10). pytest runs with
``--benchmark-disable`` by default: then every benchmark runs once on a small stream, as a
smoke test, and dsmr-parser parses a few telegrams.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import hanport

from _mix import Benchmark, mb_from_env, record_rates

RECORDS = Path(__file__).resolve().parents[2] / "tests" / "data" / "records"
SMOKE_BYTES = 200_000
"""Stream size when benchmarks are disabled (each test then runs once)."""
SMOKE_PEER_TELEGRAMS = 8
"""Telegrams dsmr-parser parses when benchmarks are disabled."""
MIN_RATIO_VS_DSMR_PARSER = 300
CHUNK = 4096
DSMR5_VERSION = b"1-3:0.2.8(50)"
WORKLOADS = ("encrypted", "p1", "p1_dsmr5")

_Keys = dict[str, Any]


@dataclass(frozen=True)
class Workload:
    """A stream of repeated real messages: the bytes, its messages in order, and the keys."""

    name: str
    data: bytes
    messages: tuple[bytes, ...]
    distinct: int
    keys: _Keys | None


@cache
def records() -> tuple[dict[str, Any], ...]:
    paths = sorted(RECORDS.glob("*.jsonl"))
    assert paths, f"no records in {RECORDS}"
    out: list[dict[str, Any]] = []
    for path in paths:
        with path.open(encoding="utf-8") as f:
            out.extend(json.loads(line) for line in f if line.strip())
    return tuple(out)


def system_title(data: bytes) -> bytes | None:
    """The 8 bytes after the first ``DB 08`` (general-glo-ciphering with its system title)."""
    at = data.find(b"\xdb\x08")
    return data[at + 2 : at + 10] if at >= 0 and len(data) >= at + 10 else None


def feed_all(data: bytes | memoryview, keys: _Keys | None) -> tuple[list[hanport.Telegram], int]:
    """Every telegram of ``data`` (fed in one piece) and the number of error records."""
    decoder = hanport.Decoder(keys=keys)
    telegrams = [*decoder.feed(data), *decoder.flush()]
    return telegrams, len(decoder.errors)


@cache
def encrypted_pools() -> tuple[tuple[tuple[bytes, ...], ...], _Keys]:
    """The usable encrypted messages, grouped by meter, and ``keys=`` for all meters."""
    meters: dict[bytes, tuple[Any, list[bytes]]] = {}
    for r in records():
        ek = r.get("key")
        if not ek or r.get("synthetic"):
            continue
        data = bytes.fromhex(r["hex"])
        title = system_title(data)
        if title is None:
            continue
        ak = r.get("auth_key")
        key: Any = {"ek": ek, "ak": ak} if ak else ek
        telegrams, errors = feed_all(data, {title.hex(): key})
        if len(telegrams) != 1 or errors:
            continue  # a GBT part on its own, or a plaintext that is no register list
        known, messages = meters.setdefault(title, (key, []))
        assert known == key, f"{r['id']}: other keys for the same system title"
        messages.append(data)
    assert len(meters) >= 5, f"too few encrypted meters: {len(meters)}"
    titles = sorted(meters)
    pools = tuple(tuple(meters[t][1]) for t in titles)
    return pools, {t.hex(): meters[t][0] for t in titles}


@cache
def p1_telegrams(dsmr5: bool) -> tuple[bytes, ...]:
    """The P1 telegrams ``decode_frame`` accepts (only the DSMR 5 ones dsmr-parser's V5 spec
    also accepts, with ``dsmr5``), a leading empty line dropped."""
    parser = dsmr5_parser() if dsmr5 else None
    out = []
    for r in records():
        if r["format"] != "p1":
            continue
        data = bytes.fromhex(r["hex"])
        try:
            hanport.decode_frame(data)
        except hanport.DecodeError:
            continue
        data = data.lstrip(b"\r\n")
        if dsmr5:
            if DSMR5_VERSION not in data:
                continue
            if parser is not None:
                try:
                    parser.parse(data.decode("latin-1"))
                except Exception:
                    continue
        out.append(data)
    assert len(out) >= 3, "too few P1 telegrams"
    return tuple(out)


def assemble(pools: Sequence[Sequence[bytes]], target: int) -> tuple[bytes, tuple[bytes, ...]]:
    """Meters take turns (one message each per round, a meter's messages in turn) until the
    stream holds ``target`` bytes."""
    out = bytearray()
    messages: list[bytes] = []
    rnd = 0
    while len(out) < target:
        for pool in pools:
            m = pool[rnd % len(pool)]
            out.extend(m)
            messages.append(m)
        rnd += 1
    return bytes(out), tuple(messages)


@cache
def build(name: str, target: int) -> Workload:
    if name == "encrypted":
        pools, keys = encrypted_pools()
        data, messages = assemble(pools, target)
        return Workload(name, data, messages, sum(len(p) for p in pools), keys)
    telegrams = p1_telegrams(dsmr5=name == "p1_dsmr5")
    # one pool: the telegrams in record order, all of them per round
    data, rounds = assemble([[b"".join(telegrams)]], target)
    return Workload(name, data, telegrams * len(rounds), len(telegrams), None)


def workload(benchmark: Benchmark, name: str) -> Workload:
    """The full-size stream when measuring, a small one for the smoke run."""
    if benchmark.disabled:
        return build(name, SMOKE_BYTES)
    return build(name, mb_from_env("HANPORT_PY_INTL_MB", 10))


def record(benchmark: Benchmark, w: Workload) -> float | None:
    """Store the workload and, when measured, telegrams/s and MB/s (10^6 bytes) of the median
    and the best round in ``extra_info``; returns the median telegrams/s."""
    telegrams, nbytes = len(w.messages), len(w.data)
    benchmark.extra_info["workload"] = w.name
    benchmark.extra_info["distinct_messages"] = w.distinct
    benchmark.extra_info["bytes_per_telegram"] = round(nbytes / telegrams, 1)
    return record_rates(benchmark, count=telegrams, nbytes=nbytes, unit="telegrams")


# --- dsmr-parser -----------------------------------------------------------------------------


@cache
def dsmr5_parser() -> Any | None:
    """dsmr-parser's DSMR 5 telegram parser (checksum validation on), or None if dsmr-parser is
    not installed."""
    try:
        from dsmr_parser import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
            telegram_specifications,
        )
        from dsmr_parser.parsers import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
            TelegramParser,
        )
    except ImportError:
        return None
    return TelegramParser(telegram_specifications.V5, apply_checksum_validation=True)


def _best_of(rounds: int, fn: Callable[[], object]) -> float:
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@cache
def dsmr_parser_rate(count: int) -> tuple[float, int, int] | None:
    """dsmr-parser's best rate over ``count`` telegrams of the ``p1_dsmr5`` stream, parsed one
    by one (as ``str``, decoded beforehand): (telegrams/s, telegrams, objects of the last
    round); None if dsmr-parser is not installed."""
    parser = dsmr5_parser()
    if parser is None:
        return None
    base = p1_telegrams(dsmr5=True)
    texts = [base[i % len(base)].decode("latin-1") for i in range(count)]
    objects = 0

    def run() -> None:
        nonlocal objects
        objects = 0
        for text in texts:
            objects += len(parser.parse(text))

    rounds = 3 if count > SMOKE_PEER_TELEGRAMS else 1
    seconds = _best_of(rounds, run)
    return count / seconds, count, objects


def compare_with_dsmr_parser(benchmark: Benchmark, ours: float | None, *, check: bool) -> None:
    """Record dsmr-parser's rate on the same telegrams and, when measured, the ratio."""
    count = (
        SMOKE_PEER_TELEGRAMS
        if benchmark.disabled
        else int(os.environ.get("HANPORT_PY_PEER_TELEGRAMS", "1000"))
    )
    peer = dsmr_parser_rate(max(count, 1))
    if peer is None:
        benchmark.extra_info["dsmr_parser"] = "not installed"
        return
    theirs, n, objects = peer
    assert objects >= n, "dsmr-parser found no objects"
    benchmark.extra_info["dsmr_parser_telegrams"] = n
    benchmark.extra_info["dsmr_parser_objects_per_telegram"] = round(objects / n, 1)
    if ours is None:
        return
    ratio = ours / theirs
    benchmark.extra_info["dsmr_parser_best_telegrams_per_s"] = round(theirs)
    benchmark.extra_info["ratio_vs_dsmr_parser"] = round(ratio, 1)
    if check:
        assert ratio >= MIN_RATIO_VS_DSMR_PARSER, (
            f"hanport {ours:,.0f} telegrams/s is only {ratio:.0f}x dsmr-parser's "
            f"{theirs:,.0f} telegrams/s"
        )


# --- benchmarks ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKLOADS)
def test_decode_bytes(benchmark: Benchmark, name: str) -> None:
    """``decode_bytes(data, keys=..., jobs=1)``; on ``p1_dsmr5`` against dsmr-parser."""
    w = workload(benchmark, name)
    benchmark.group = "intl_decode_bytes"
    batch = benchmark(lambda: hanport.decode_bytes(w.data, keys=w.keys, jobs=1))
    assert len(batch) == len(w.messages)
    assert not batch.errors, batch.errors[:3]
    ours = record(benchmark, w)
    if name == "p1_dsmr5":
        compare_with_dsmr_parser(benchmark, ours, check=True)


def feed_chunked(data: bytes, keys: _Keys | None) -> list[hanport.Telegram]:
    decoder = hanport.Decoder(keys=keys)
    view = memoryview(data)
    out: list[hanport.Telegram] = []
    for at in range(0, len(view), CHUNK):
        out.extend(decoder.feed(view[at : at + CHUNK]))
    out.extend(decoder.flush())
    assert not decoder.errors, decoder.errors[:3]
    return out


@pytest.mark.parametrize("name", WORKLOADS)
def test_feed(benchmark: Benchmark, name: str) -> None:
    """``Decoder.feed`` in 4 KiB chunks to ``Telegram`` objects (the stream path)."""
    w = workload(benchmark, name)
    benchmark.group = "intl_feed"
    telegrams = benchmark(feed_chunked, w.data, w.keys)
    assert len(telegrams) == len(w.messages)
    if name == "encrypted":
        assert all(t.system_title is not None for t in telegrams)
    ours = record(benchmark, w)
    if name == "p1_dsmr5":
        compare_with_dsmr_parser(benchmark, ours, check=False)
