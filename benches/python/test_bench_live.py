"""CPU cost of reading a live meter: a simulated Kaifa 3-phase meter writes a real-time
2400-baud stream into a pty (in a child process, paced as a USB adapter hands bytes over), and
:class:`hanport.serial.SerialReader` / :class:`hanport.aio.AsyncSerialReader` read it in this
process. The cost is this process's CPU time over wall time, in % of one core (target: < 2 %).

With ``--benchmark-enable`` each reader reads for ``HANPORT_LIVE_BENCH_S`` seconds (default 20)
at real speed; otherwise a 2-second smoke run at 10x speed checks that it works. The numbers go
to the benchmark's ``extra_info`` (``cpu_percent``, ``telegrams``, ``seconds``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import pytest

pytest.importorskip("serial")

from hanport.aio import AsyncSerialReader
from hanport.serial import SerialReader

T = TypeVar("T")
TARGET_PERCENT = 2.0

CHILD = """
import sys, time
from hanport.simulate import PtySimulator, Simulator
sim = Simulator("kaifa", 3, speed=float(sys.argv[1]), seed=1)
with PtySimulator(sim) as pty:
    print(pty.port, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
"""


class Benchmark(Protocol):
    """The parts of pytest-benchmark's ``benchmark`` fixture used here."""

    group: str | None
    extra_info: dict[str, Any]
    disabled: bool

    def pedantic(
        self,
        target: Callable[..., T],
        args: Sequence[Any] = ...,
        *,
        rounds: int = ...,
        warmup_rounds: int = ...,
        iterations: int = ...,
    ) -> T: ...


def _seconds(benchmark: Benchmark) -> float:
    if benchmark.disabled:
        return 2.0
    try:
        return max(1.0, float(os.environ.get("HANPORT_LIVE_BENCH_S", "20")))
    except ValueError:
        return 20.0


@pytest.fixture
def meter_pty(benchmark: Benchmark) -> Iterator[str]:
    """The path of a pty a simulated meter writes to, from a child process."""
    speed = "10" if benchmark.disabled else "1"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, speed],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
        child.stdout.close()  # type: ignore[union-attr]


def read_sync(port: str, seconds: float) -> tuple[int, float, float]:
    """Telegrams read, CPU seconds and wall seconds."""
    n = 0
    with SerialReader(port, meter="kaifa") as reader:
        reader.read(timeout=5.0)  # connected and in step
        cpu0, wall0 = time.process_time(), time.monotonic()
        while (left := seconds - (time.monotonic() - wall0)) > 0:
            if reader.read(timeout=left) is not None:
                n += 1
        return n, time.process_time() - cpu0, time.monotonic() - wall0


def read_async(port: str, seconds: float) -> tuple[int, float, float]:
    """Telegrams read, CPU seconds and wall seconds."""

    async def main() -> tuple[int, float, float]:
        n = 0
        async with AsyncSerialReader(port, meter="kaifa") as reader:
            await reader.read(timeout=5.0)
            cpu0, wall0 = time.process_time(), time.monotonic()
            while (left := seconds - (time.monotonic() - wall0)) > 0:
                if await reader.read(timeout=left) is not None:
                    n += 1
            return n, time.process_time() - cpu0, time.monotonic() - wall0

    return asyncio.run(main())


@pytest.mark.parametrize("read", [read_sync, read_async], ids=["sync", "asyncio"])
def test_live_read_cpu(
    benchmark: Benchmark, meter_pty: str, read: Callable[[str, float], tuple[int, float, float]]
) -> None:
    seconds = _seconds(benchmark)
    benchmark.group = "live_read_cpu"
    n, cpu, wall = benchmark.pedantic(read, (meter_pty, seconds), rounds=1, iterations=1)
    percent = 100 * cpu / wall
    benchmark.extra_info.update(
        telegrams=n,
        seconds=round(wall, 2),
        cpu_seconds=round(cpu, 4),
        cpu_percent=round(percent, 3),
    )
    print(f"\n{read.__name__}: {n} telegrams in {wall:.1f} s, CPU {percent:.2f} % of one core")
    assert n >= 2
    if not benchmark.disabled:
        assert percent < TARGET_PERCENT
