"""The asyncio live reader: its three ways of reading (a pty's descriptor watched by the loop,
an asyncio transport for ``socket://``, a thread for ``sim://``), reconnects, detection, and
cancellation that leaves no task, thread or file descriptor behind."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

import hanport
from hanport._live import LineSettings
from hanport.simulate import PtySimulator, Simulator, TcpSimulator

pytest.importorskip("serial")
from hanport.aio import AsyncSerialReader

T = TypeVar("T")
L8E1 = LineSettings(2400, 8, "E", 1)
L8N1 = LineSettings(2400, 8, "N", 1)
FAST: dict[str, Any] = {"backoff_initial": 0.05, "backoff_max": 0.2, "stall_timeout": 5.0}


def run(coro: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro()

    return asyncio.run(main())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def read_n(reader: AsyncSerialReader, n: int, timeout: float = 10.0) -> list[Any]:
    out: list[hanport.Telegram] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline, f"only {len(out)} of {n} telegrams in {timeout} s"
        tg = await reader.read(timeout=0.5)
        if tg is not None:
            out.append(tg)
    return out


async def settle(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``check()`` holds (our in-process servers close their side a tick later)."""
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def contiguous(telegrams: list[hanport.Telegram], sim: Simulator) -> bool:
    frames = [p.frame for p in sim.history]
    raws = [tg.raw for tg in telegrams]
    return any(frames[i : i + len(raws)] == raws for i in range(len(frames) - len(raws) + 1))


def test_pty_through_the_event_loop() -> None:
    sim = Simulator("kaifa", 3, speed=40, seed=1)

    async def main() -> None:
        with PtySimulator(sim) as pty:
            async with AsyncSerialReader(pty.port, **FAST) as reader:
                assert reader._kind == "fd"
                telegrams = await read_n(reader, 6)
                assert reader.connected
            assert not reader.connected
        assert contiguous(telegrams, sim)
        assert {tg.manufacturer for tg in telegrams} == {"Kaifa"}

    run(main)


def test_async_for_and_aclose_from_another_task() -> None:
    async def main() -> None:
        with PtySimulator(Simulator("aidon", 1, speed=40, seed=2)) as pty:
            reader = AsyncSerialReader(pty.port, **FAST)
            got: list[hanport.Telegram] = []

            async def consume() -> None:
                async for tg in reader:
                    got.append(tg)

            task = asyncio.get_running_loop().create_task(consume())
            await settle(lambda: len(got) >= 3)
            await reader.aclose()
            await asyncio.wait_for(task, 1.0)  # the iteration ended by itself
            assert len(got) >= 3
            assert reader.closed

    run(main)


def test_socket_reconnects_after_the_server_restarts() -> None:
    sim = Simulator("kamstrup", 3, speed=40, seed=3)  # a push every 0.25 s

    async def main() -> None:
        with TcpSimulator(sim) as server:
            async with AsyncSerialReader(server.url, **FAST) as reader:
                assert reader._kind == "stream"
                before = await read_n(reader, 3)
                server.kill()
                down = time.monotonic()
                while time.monotonic() - down < 0.5:  # what was sent before, then retries
                    tg = await reader.read(timeout=0.1)
                    if tg is not None:
                        before.append(tg)
                assert not reader.connected
                server.revive()
                after = await read_n(reader, 3)
                stats = reader.stats
        assert contiguous(before, sim)
        assert contiguous(after, sim)
        indexes = [p.index for p in sim.history if p.frame in {tg.raw for tg in after}]
        assert min(indexes) > max(p.index for p in sim.history if p.frame == before[-1].raw)
        assert stats.connects == 2
        assert stats.disconnects == 1
        assert stats.open_failures >= 1

    run(main)


def test_sim_detection_in_a_thread() -> None:
    async def main() -> None:
        url = "sim://kaifa?speed=20&seed=5"
        async with AsyncSerialReader(url, candidates=[L8N1, L8E1], probe_timeout=1.0) as reader:
            assert reader._kind == "thread"
            telegrams = await read_n(reader, 3)
            assert reader.detected == L8E1
            assert reader.stats.probe_bytes > 0
        assert telegrams[0].manufacturer == "Kaifa"

    run(main)


def test_read_timeout_does_not_close() -> None:
    async def main() -> None:
        async with AsyncSerialReader("sim://kamstrup?speed=0.01") as reader:
            t0 = time.monotonic()
            assert await reader.read(timeout=0.3) is None
            assert 0.25 < time.monotonic() - t0 < 1.0
            assert not reader.closed
            assert reader.connected

    run(main)


@pytest.mark.parametrize("kind", ["fd", "stream", "thread", "backoff"])
def test_cancellation_leaves_nothing_behind(kind: str) -> None:
    """Cancel the task iterating the reader at several moments; afterwards the process has
    the same file descriptors, threads and tasks as before."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with (
            PtySimulator(Simulator("aidon", 3, speed=40, seed=4)) as pty,
            TcpSimulator(Simulator("kaifa", 3, speed=40, seed=4)) as tcp,
        ):
            url = {
                "fd": pty.port,
                "stream": tcp.url,
                "thread": "sim://kaifa?speed=40",
                "backoff": "socket://127.0.0.1:9",  # refused: the reader sleeps between tries
            }[kind]
            await asyncio.sleep(0.1)  # the simulators' threads and fds are up
            fds, threads = open_fds(), threading.active_count()
            for delay in (0.0, 0.05, 0.3):
                reader = AsyncSerialReader(url, **FAST)
                got: list[hanport.Telegram] = []

                async def consume(
                    r: AsyncSerialReader = reader, got: list[hanport.Telegram] = got
                ) -> None:
                    async for tg in r:
                        got.append(tg)

                task = loop.create_task(consume())
                await asyncio.sleep(delay)
                if kind != "backoff" and delay == 0.3:
                    assert reader.connected
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert reader.closed
                assert not reader.connected
                assert asyncio.all_tasks() == {asyncio.current_task()}
                await settle(lambda: (open_fds(), threading.active_count()) == (fds, threads))
                assert open_fds() == fds
                assert threading.active_count() == threads
                assert await reader.read() is None  # closed for good

    run(main)


def test_cancellation_is_never_lost_while_reconnecting() -> None:
    """Cancel a reader's task at many moments while it keeps failing to connect (a refused
    socket, short back-off): every cancellation ends the task. Before Python 3.12,
    ``asyncio.wait_for`` could turn a cancellation that met the refused connect into the
    ``ConnectionRefusedError``, and the reader went on retrying for ever (13 % of such
    cancellations here, before the connect stopped using it)."""
    fast: dict[str, Any] = {"backoff_initial": 0.0005, "backoff_max": 0.001, "stall_timeout": 5.0}
    rng = random.Random(7)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        lost = 0
        for _ in range(400):
            reader = AsyncSerialReader("socket://127.0.0.1:9", **fast)

            async def consume(r: AsyncSerialReader = reader) -> None:
                async for _tg in r:
                    pass

            task = loop.create_task(consume())
            await asyncio.sleep(rng.random() * 0.003)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=2.0)
            if not done:
                lost += 1
                await reader.aclose()
                await asyncio.wait({task}, timeout=2.0)
            assert reader.closed
        assert lost == 0, f"{lost} of 400 cancellations lost"
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(main)
