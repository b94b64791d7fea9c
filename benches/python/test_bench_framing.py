"""pytest-benchmark benchmarks of the framing layer through the Python bindings.

The input is built like the Rust benchmark's (``benches/framing.rs``): every valid frame of the
raw serial captures in ``tests/data/streams/*.bin`` is extracted with
:class:`hanport.FrameSplitter`, grouped by meter (HDLC source address) and list (< 60 bytes is
list 1; otherwise frames more than 20 % above the meter's median size are list 3, the rest
list 2), then re-assembled in the Norwegian push pattern: 5 list-1 frames per list-2 frame and
one list-3 frame per 360 list-2 frames, meters taking turns (Kamstrup sends no list 1), frames
picked by a seeded PRNG.

Groups: ``feed`` (:class:`hanport.FrameSplitter` and the full :class:`hanport.Decoder`, fed the
whole stream at once or in 4 KiB chunks), ``hdlc_frame_parse`` (:meth:`hanport.HdlcFrame.parse`
per frame) and ``vs_amshan`` (FrameSplitter against the pure-Python ``amshan`` 2.1.1 HDLC reader
on the same bytes; the amshan side runs only if ``amshan`` is installed).

pytest runs with ``--benchmark-disable`` by default: then every benchmark runs once on a small
stream, as a smoke test. ``pytest benches/python --benchmark-enable`` measures; each result's
``extra_info`` holds frames/s and MB/s (10^6 bytes) computed from the median and the best round.
Stream sizes when enabled: ``HANPORT_PY_BENCH_MB`` (default 10), ``HANPORT_PY_PEER_MB``
(default 0.5) for ``vs_amshan``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pytest

import hanport

from _mix import (
    Benchmark,
    Mix,
    build_stream,
    mb_from_env,
    record_rates,
)

CHUNK = 4096
SMOKE_BYTES = 200_000
"""Stream size when benchmarks are disabled (each test then runs once)."""


def stream_for(benchmark: Benchmark, env: str, default_mb: float) -> Mix:
    """The full-size stream when measuring, a small one for the smoke run."""
    if benchmark.disabled:
        return build_stream(SMOKE_BYTES)
    return build_stream(mb_from_env(env, default_mb))


def record(benchmark: Benchmark, *, frames: int, nbytes: int) -> None:
    """Store the workload and, when measured, frames/s and MB/s in ``extra_info``.

    Rates use the median round (robust on a shared machine) and the best round. Python's cyclic
    GC matters here: the returned frames are GC-tracked, so feeding a large stream triggers
    collections (compare with ``--benchmark-disable-gc``).
    """
    record_rates(benchmark, count=frames, nbytes=nbytes, unit="frames")


class StreamDecoder(Protocol):
    """What :class:`hanport.FrameSplitter` and :class:`hanport.Decoder` have in common."""

    def feed(self, chunk: bytes | memoryview, /) -> Sequence[object]: ...

    def flush(self) -> Sequence[object]: ...


LAYERS: dict[str, Callable[[], StreamDecoder]] = {
    "FrameSplitter": hanport.FrameSplitter,
    "Decoder": hanport.Decoder,
}


def feed_whole(make: Callable[[], StreamDecoder], data: bytes) -> list[object]:
    decoder = make()
    return [*decoder.feed(data), *decoder.flush()]


def feed_chunked(make: Callable[[], StreamDecoder], data: bytes) -> list[object]:
    decoder = make()
    view = memoryview(data)
    out: list[object] = []
    for at in range(0, len(view), CHUNK):
        out.extend(decoder.feed(view[at : at + CHUNK]))
    out.extend(decoder.flush())
    return out


def split_whole(data: bytes) -> list[hanport.HdlcFrame]:
    splitter = hanport.FrameSplitter()
    return [*splitter.feed(data), *splitter.flush()]


def parse_each(frames: tuple[bytes, ...]) -> int:
    parse = hanport.HdlcFrame.parse
    n = 0
    for raw in frames:
        n += len(parse(raw))
    return n


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", f"chunks_{CHUNK // 1024}KiB"])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_feed(benchmark: Benchmark, layer: str, chunked: bool) -> None:
    mix = stream_for(benchmark, "HANPORT_PY_BENCH_MB", 10)
    benchmark.group = "feed"
    feed = feed_chunked if chunked else feed_whole
    out = benchmark(feed, LAYERS[layer], mix.data)
    # Every frame of the captures decodes, so the Decoder returns one telegram per frame.
    assert len(out) == len(mix.frames)
    record(benchmark, frames=len(out), nbytes=len(mix.data))


def test_hdlc_frame_parse(benchmark: Benchmark) -> None:
    mix = stream_for(benchmark, "HANPORT_PY_BENCH_MB", 10)
    benchmark.group = "hdlc_frame_parse"
    total = benchmark(parse_each, mix.frames)
    assert total == sum(len(f) for f in mix.frames)
    record(benchmark, frames=len(mix.frames), nbytes=len(mix.data))


def test_peer_hanport(benchmark: Benchmark) -> None:
    """hanport's FrameSplitter on the stream the amshan benchmark reads (like for like)."""
    mix = stream_for(benchmark, "HANPORT_PY_PEER_MB", 0.5)
    benchmark.group = "vs_amshan"
    frames = benchmark(split_whole, mix.data)
    assert [f.raw for f in frames] == list(mix.frames)
    record(benchmark, frames=len(frames), nbytes=len(mix.data))


def test_peer_amshan(benchmark: Benchmark) -> None:
    """The pure-Python ``amshan`` HDLC reader (amshan 2.1.1) on the same stream."""
    hdlc = pytest.importorskip("han.hdlc")
    mix = stream_for(benchmark, "HANPORT_PY_PEER_MB", 0.5)
    benchmark.group = "vs_amshan"

    def read(data: bytes) -> list[Any]:
        frames: list[Any] = hdlc.HdlcFrameReader(False).read(data)
        return frames

    frames = benchmark.pedantic(read, (mix.data,), rounds=3, warmup_rounds=0, iterations=1)
    good = sum(1 for f in frames if f.is_good_ffc and f.is_expected_length)
    assert good == len(frames) == len(mix.frames)
    record(benchmark, frames=len(frames), nbytes=len(mix.data))
    if not benchmark.disabled and benchmark.stats is not None:
        # Best round of each, measured back to back on the same bytes.
        ours = len(mix.frames) / min(_timed(split_whole, mix.data) for _ in range(5))
        theirs = len(frames) / float(benchmark.stats.stats.min)
        benchmark.extra_info["hanport_best_frames_per_s"] = round(ours)
        benchmark.extra_info["amshan_best_frames_per_s"] = round(theirs)
        benchmark.extra_info["hanport_speedup"] = round(ours / theirs, 1)


def _timed(fn: Callable[[bytes], object], data: bytes) -> float:
    start = time.perf_counter()
    fn(data)
    return time.perf_counter() - start


def decode_whole(data: bytes) -> list[hanport.Telegram]:
    decoder = hanport.Decoder()
    return [*decoder.feed(data), *decoder.flush()]


def decode_each(frames: tuple[bytes, ...]) -> int:
    decode = hanport.decode_frame
    n = 0
    for raw in frames:
        n += len(decode(raw).objects)
    return n


def test_decode_frame_each(benchmark: Benchmark) -> None:
    """``decode_frame`` per frame: the per-call overhead of the strict API."""
    mix = stream_for(benchmark, "HANPORT_PY_PEER_MB", 0.5)
    benchmark.group = "decode_frame"
    total = benchmark(decode_each, mix.frames)
    assert total > 0
    record(benchmark, frames=len(mix.frames), nbytes=len(mix.data))


def test_full_decode_hanport(benchmark: Benchmark) -> None:
    """``Decoder.feed`` to ``Telegram`` objects, on the stream the amshan side decodes."""
    mix = stream_for(benchmark, "HANPORT_PY_PEER_MB", 0.5)
    benchmark.group = "full_decode_vs_amshan"
    telegrams = benchmark(decode_whole, mix.data)
    assert len(telegrams) == len(mix.frames)
    record(benchmark, frames=len(telegrams), nbytes=len(mix.data))


def test_full_decode_amshan(benchmark: Benchmark) -> None:
    """amshan 2.1.1 full decode: HDLC reader, then AutoDecoder on each payload (its documented
    use), on the same bytes; the hanport rate is re-measured back to back for the ratio."""
    hdlc = pytest.importorskip("han.hdlc")
    autodecoder = pytest.importorskip("han.autodecoder")
    mix = stream_for(benchmark, "HANPORT_PY_PEER_MB", 0.5)
    benchmark.group = "full_decode_vs_amshan"

    def decode(data: bytes) -> list[Any]:
        dec = autodecoder.AutoDecoder()
        out: list[Any] = []
        for frame in hdlc.HdlcFrameReader(False).read(data):
            out.append(dec.decode_message_payload(frame.payload))
        return out

    results = benchmark.pedantic(decode, (mix.data,), rounds=3, warmup_rounds=0, iterations=1)
    decoded = sum(1 for r in results if r)
    assert decoded == len(mix.frames)
    record(benchmark, frames=len(results), nbytes=len(mix.data))
    if not benchmark.disabled and benchmark.stats is not None:
        ours = len(mix.frames) / min(_timed(decode_whole, mix.data) for _ in range(5))
        theirs = len(results) / float(benchmark.stats.stats.min)
        benchmark.extra_info["hanport_best_telegrams_per_s"] = round(ours)
        benchmark.extra_info["amshan_best_frames_per_s"] = round(theirs)
        benchmark.extra_info["hanport_speedup"] = round(ours / theirs, 1)
