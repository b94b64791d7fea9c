"""pytest-benchmark benchmarks of bulk decoding (``decode_bytes``, ``Batch.to_arrow``, the
``hanport decode`` CLI) through the Python bindings.

The input is the Norwegian traffic mix of ``test_bench_framing.py`` (copied here, since test
files are not importable as modules): every valid frame of ``tests/data/streams/*.bin``, grouped
by meter and list, re-assembled as 5 list-1 frames per list-2 frame and one list-3 frame per 360
list-2 frames, meters taking turns, frames picked by a seeded PRNG.

Groups:

* ``bulk_to_arrow``: ``decode_bytes(data).to_arrow()`` on the mix (``HANPORT_PY_BULK_MB``,
  default 30), then amshan 2.1.1's full decode (HDLC reader + AutoDecoder on each payload) on a
  prefix of the same bytes (``HANPORT_PY_PEER_MB``, default 0.5), best of 3; ``extra_info`` has
  telegrams/s, MB/s and ``ratio_vs_amshan`` (hanport telegrams/s / amshan frames/s), which must
  be >= 1000 when measuring.
* ``bulk_jobs``: ``decode_bytes(data, jobs=N)`` for N = 1, 2; the ``jobs=2`` result records the
  speed-up over ``jobs=1`` (best rounds, measured back to back; not asserted).
* ``bulk_big_capture``: only with ``--benchmark-enable`` and ``HANPORT_BIG_GB`` set: a capture
  of that many GB (10^9 bytes) made by repeating the mix is converted to Parquet by
  ``python -m hanport decode FILE --format parquet -o OUT`` in a child process, whose peak RSS
  must stay under 300 MB; the Parquet file must hold one row per telegram, and its first rows
  must equal ``decode_bytes`` of the first copy of the mix.

pytest runs with ``--benchmark-disable`` by default: then every benchmark runs once on a small
stream, as a smoke test, and the big-capture check is skipped.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hanport

from _mix import (
    Benchmark,
    Mix,
    build_stream,
    mb_from_env,
    record_rates,
)

SMOKE_BYTES = 200_000
"""Stream size when benchmarks are disabled (each test then runs once)."""
SMOKE_PEER_BYTES = 20_000
"""amshan prefix when benchmarks are disabled."""
MIN_RATIO_VS_AMSHAN = 1000
WRITE_CHUNK = 64 << 20
MAX_RSS_BYTES = 300_000_000
RSS_KILL_BYTES = 4_000_000_000
"""The CLI child is killed if its resident set passes this (a runaway would swap the machine)."""
SAMPLE_COLUMNS = ("offset", "manufacturer", "list_id", "meter_id", "meter_time", "flags")


def bulk_mix(benchmark: Benchmark) -> Mix:
    """The full-size stream when measuring, a small one for the smoke run."""
    if benchmark.disabled:
        return build_stream(SMOKE_BYTES)
    return build_stream(mb_from_env("HANPORT_PY_BULK_MB", 30))


def record(benchmark: Benchmark, *, telegrams: int, nbytes: int) -> None:
    """Store the workload and, when measured, telegrams/s and MB/s (10^6 bytes) of the median
    and the best round in ``extra_info``."""
    record_rates(benchmark, count=telegrams, nbytes=nbytes, unit="telegrams")


def _best_of(rounds: int, fn: Callable[[], object]) -> float:
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def decode_to_arrow(data: bytes) -> Any:
    return hanport.decode_bytes(data).to_arrow()


def amshan_full_decode(data: bytes) -> list[Any] | None:
    """amshan's documented full decode: HDLC reader, then AutoDecoder on each payload; None if
    amshan is not installed."""
    try:
        from han import autodecoder, hdlc
    except ImportError:
        return None
    dec = autodecoder.AutoDecoder()
    out: list[Any] = []
    for frame in hdlc.HdlcFrameReader(False).read(data):
        payload = frame.payload
        out.append(None if payload is None else dec.decode_message_payload(payload))
    return out


def prefix_of(mix: Mix, nbytes: int) -> tuple[bytes, int]:
    """The first frames of ``mix`` making at least ``nbytes`` bytes, and how many frames."""
    size = 0
    count = 0
    for frame in mix.frames:
        if size >= nbytes:
            break
        size += len(frame)
        count += 1
    return mix.data[:size], count


def test_decode_bytes_to_arrow(benchmark: Benchmark) -> None:
    """``decode_bytes`` -> ``to_arrow`` on the mix, against amshan's full decode."""
    mix = bulk_mix(benchmark)
    benchmark.group = "bulk_to_arrow"
    table = benchmark(decode_to_arrow, mix.data)
    assert table.num_rows == len(mix.frames)
    record(benchmark, telegrams=table.num_rows, nbytes=len(mix.data))

    peer_bytes = SMOKE_PEER_BYTES if benchmark.disabled else mb_from_env("HANPORT_PY_PEER_MB", 0.5)
    prefix, nframes = prefix_of(mix, peer_bytes)
    rounds = 1 if benchmark.disabled else 3
    results: list[Any] | None = None

    def run_amshan() -> None:
        nonlocal results
        results = amshan_full_decode(prefix)

    amshan_s = _best_of(rounds, run_amshan)
    if results is None:
        benchmark.extra_info["amshan"] = "not installed"
        return
    assert sum(1 for r in results if r) == len(results) == nframes
    benchmark.extra_info["amshan_bytes"] = len(prefix)
    benchmark.extra_info["amshan_frames"] = nframes
    if benchmark.disabled or benchmark.stats is None:
        return
    ours = table.num_rows / float(benchmark.stats.stats.median)
    theirs = nframes / amshan_s
    ratio = ours / theirs
    benchmark.extra_info["amshan_best_frames_per_s"] = round(theirs)
    benchmark.extra_info["ratio_vs_amshan"] = round(ratio, 1)
    assert ratio >= MIN_RATIO_VS_AMSHAN, (
        f"hanport {ours:,.0f} telegrams/s is only {ratio:.0f}x amshan's {theirs:,.0f} frames/s"
    )


@pytest.mark.parametrize("jobs", [1, 2])
def test_decode_bytes_jobs(benchmark: Benchmark, jobs: int) -> None:
    """``decode_bytes`` on one core and on two; ``jobs=2`` records its speed-up."""
    mix = bulk_mix(benchmark)
    benchmark.group = "bulk_jobs"
    batch = benchmark(lambda: hanport.decode_bytes(mix.data, jobs=jobs))
    assert len(batch) == len(mix.frames)
    record(benchmark, telegrams=len(batch), nbytes=len(mix.data))
    benchmark.extra_info["jobs"] = jobs
    if benchmark.disabled or benchmark.stats is None:
        return
    # Cores actually busy: process CPU time over wall time of one more round.
    cpu, wall = time.process_time(), time.perf_counter()
    hanport.decode_bytes(mix.data, jobs=jobs)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    benchmark.extra_info["cpu_per_wall"] = round(cpu / wall, 2)
    if jobs == 1:
        return
    one_core = _best_of(5, lambda: hanport.decode_bytes(mix.data, jobs=1))
    benchmark.extra_info["jobs1_best_s"] = round(one_core, 4)
    benchmark.extra_info["speedup_vs_jobs1_best"] = round(
        one_core / float(benchmark.stats.stats.min), 2
    )


# Run in a child process: runs the CLI as its own child, so RUSAGE_CHILDREN is the CLI's alone
# (not pytest's other children), and kills it if its resident set runs away.
CLI_WRAPPER = """
import json, resource, subprocess, sys, time
capture, out, kill_kib = sys.argv[1], sys.argv[2], int(sys.argv[3])
cmd = [sys.executable, "-m", "hanport", "decode", capture, "--format", "parquet", "-o", out]
start = time.perf_counter()
child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
killed = False
while child.poll() is None:
    try:
        with open(f"/proc/{child.pid}/status") as f:
            rss = next((int(l.split()[1]) for l in f if l.startswith("VmRSS:")), 0)
    except OSError:
        rss = 0
    if rss > kill_kib:
        child.kill()
        killed = True
    time.sleep(0.1)
stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
child.wait()
print(json.dumps({
    "rc": child.returncode,
    "seconds": time.perf_counter() - start,
    "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "killed": killed,
    "stderr": stderr[-2000:],
}))
"""


def run_cli_to_parquet(capture: Path, out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CLI_WRAPPER, str(capture), str(out), str(RSS_KILL_BYTES // 1024)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def write_repeated(path: Path, data: bytes, total: int) -> None:
    """Write ``total`` bytes of ``data`` repeated (the last copy cut short), in 64 MB writes."""
    reps = -(-WRITE_CHUNK // len(data)) + 1
    ring = memoryview(data * reps)  # any WRITE_CHUNK window starting within the first copy
    with path.open("wb") as f:
        pos = 0
        while pos < total:
            n = min(WRITE_CHUNK, total - pos)
            at = pos % len(data)
            f.write(ring[at : at + n])
            pos += n


def test_big_capture_to_parquet(benchmark: Benchmark, tmp_path: Path) -> None:
    """``hanport decode`` of a multi-GB capture to Parquet: peak RSS < 300 MB, every row."""
    gb_env = os.environ.get("HANPORT_BIG_GB")
    if benchmark.disabled or not gb_env:
        pytest.skip("needs --benchmark-enable and HANPORT_BIG_GB")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    benchmark.group = "bulk_big_capture"
    mix = bulk_mix(benchmark)
    total = int(float(gb_env) * 1e9)
    capture = tmp_path / "capture.bin"
    out = tmp_path / "capture.parquet"
    try:
        start = time.perf_counter()
        write_repeated(capture, mix.data, total)
        benchmark.extra_info["write_s"] = round(time.perf_counter() - start, 1)
        assert capture.stat().st_size == total

        result = benchmark.pedantic(
            run_cli_to_parquet, (capture, out), rounds=1, warmup_rounds=0, iterations=1
        )
        rss = int(result["maxrss_kib"]) * 1024
        benchmark.extra_info["capture_bytes"] = total
        benchmark.extra_info["cli_s"] = round(float(result["seconds"]), 1)
        benchmark.extra_info["cli_MB_per_s"] = round(total / float(result["seconds"]) / 1e6, 1)
        benchmark.extra_info["peak_rss_MB"] = round(rss / 1e6, 1)
        benchmark.extra_info["cli_summary"] = str(result["stderr"]).strip().splitlines()[-1:]
        assert not result["killed"], (
            f"killed at > {RSS_KILL_BYTES / 1e6:.0f} MB resident after {result['seconds']:.1f} s"
        )
        assert result["rc"] == 0, result["stderr"]
        assert rss < MAX_RSS_BYTES, f"peak RSS {rss / 1e6:.0f} MB >= {MAX_RSS_BYTES / 1e6:.0f} MB"

        copies, tail = divmod(total, len(mix.data))
        first = hanport.decode_bytes(mix.data).to_arrow()
        expected = copies * first.num_rows + len(hanport.decode_bytes(mix.data[:tail]))
        parquet = pq.ParquetFile(out)
        rows = int(parquet.metadata.num_rows)
        benchmark.extra_info["rows"] = rows
        benchmark.extra_info["telegrams_per_s"] = round(rows / float(result["seconds"]))
        assert rows == expected

        head: list[Any] = []
        got = 0
        for rb in parquet.iter_batches(batch_size=1 << 16, columns=list(SAMPLE_COLUMNS)):
            head.append(rb)
            got += rb.num_rows
            if got >= first.num_rows:
                break
        head_table = pa.Table.from_batches(head).slice(0, first.num_rows)
        numbers = [f.name for f in first.schema if pa.types.is_floating(f.type)][:4]
        numeric = parquet.read_row_group(0, columns=numbers) if numbers else None
        for name in SAMPLE_COLUMNS:
            assert head_table.column(name).to_pylist() == first.column(name).to_pylist(), name
        if numeric is not None:
            n = min(numeric.num_rows, first.num_rows)
            for name in numbers:
                want = first.column(name).slice(0, n).to_pylist()
                assert numeric.column(name).slice(0, n).to_pylist() == want, name
    finally:
        capture.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
