"""The Norwegian traffic mix shared by the pytest-benchmark files (not a test module).

Every valid frame of the raw serial captures in ``tests/data/streams/*.bin`` is extracted with
:class:`hanport.FrameSplitter`, grouped by meter (HDLC source address) and list (< 60 bytes is
list 1; otherwise frames more than 20 % above the meter's median size are list 3, the rest
list 2), then re-assembled in the Norwegian push pattern: 5 list-1 frames per list-2 frame and
one list-3 frame per 360 list-2 frames, meters taking turns, frames picked by a seeded PRNG.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import hanport

STREAMS = Path(__file__).resolve().parents[2] / "tests" / "data" / "streams"


SEED = 0x48414E504F525421


LIST1_MAX = 60


LIST1_PER_LIST2 = 5


LIST2_PER_LIST3 = 360


T = TypeVar("T")


class Benchmark(Protocol):
    """The parts of pytest-benchmark's ``benchmark`` fixture used here."""

    group: str | None
    extra_info: dict[str, Any]
    stats: Any
    disabled: bool

    def __call__(self, function_to_benchmark: Callable[..., T], /, *args: Any) -> T: ...

    def pedantic(
        self,
        target: Callable[..., T],
        args: Sequence[Any] = ...,
        *,
        rounds: int = ...,
        warmup_rounds: int = ...,
        iterations: int = ...,
    ) -> T: ...


@dataclass(frozen=True)
class Meter:
    """The valid frames (flags included) of one meter, by list (index 0 is list 1)."""

    source_address: bytes
    lists: tuple[tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...]]


@dataclass(frozen=True)
class Mix:
    """An assembled stream, the frames in it, and how many of each list."""

    data: bytes
    frames: tuple[bytes, ...]
    per_list: tuple[int, int, int]


def record_rates(benchmark: Benchmark, *, count: int, nbytes: int, unit: str) -> float | None:
    """Store the workload (``unit`` = its name in the plural, ``"telegrams"`` or ``"frames"``)
    and, when measured, the rates of the median round (robust on a shared machine) and of the
    best round in ``extra_info``: ``<unit>_per_s``, ``MB_per_s`` (10^6 bytes), ``ns_per_<one>``,
    ``best_<unit>_per_s``, ``best_MB_per_s``. Returns the median rate (None when not measured)."""
    benchmark.extra_info[unit] = count
    benchmark.extra_info["bytes"] = nbytes
    if benchmark.disabled or benchmark.stats is None:
        return None
    median = float(benchmark.stats.stats.median)
    best = float(benchmark.stats.stats.min)
    benchmark.extra_info[f"{unit}_per_s"] = round(count / median)
    benchmark.extra_info["MB_per_s"] = round(nbytes / median / 1e6, 2)
    benchmark.extra_info[f"ns_per_{unit.removesuffix('s')}"] = round(median / count * 1e9, 1)
    benchmark.extra_info[f"best_{unit}_per_s"] = round(count / best)
    benchmark.extra_info["best_MB_per_s"] = round(nbytes / best / 1e6, 2)
    return count / median


def mb_from_env(name: str, default: float) -> int:
    try:
        mb = float(os.environ.get(name, default))
    except ValueError:
        mb = default
    return int((mb if mb > 0 else default) * 1e6)


@cache
def meters() -> tuple[Meter, ...]:
    """Every valid frame of the captures, grouped by meter and list."""
    by_src: dict[bytes, list[bytes]] = {}
    paths = sorted(STREAMS.glob("*.bin"))
    assert paths, f"no captures in {STREAMS}"
    for path in paths:
        splitter = hanport.FrameSplitter()
        for frame in [*splitter.feed(path.read_bytes()), *splitter.flush()]:
            by_src.setdefault(frame.source_address, []).append(frame.raw)
    out = []
    for src in sorted(by_src):
        frames = by_src[src]
        big = sorted(len(f) for f in frames if len(f) >= LIST1_MAX)
        median = big[len(big) // 2] if big else 0
        lists: tuple[list[bytes], list[bytes], list[bytes]] = ([], [], [])
        for f in frames:
            if len(f) < LIST1_MAX:
                lists[0].append(f)
            elif len(f) * 5 > median * 6:
                lists[2].append(f)
            else:
                lists[1].append(f)
        out.append(Meter(src, (tuple(lists[0]), tuple(lists[1]), tuple(lists[2]))))
    return tuple(out)


@cache
def build_stream(target: int, seed: int = SEED) -> Mix:
    """A clean stream of at least ``target`` bytes in the Norwegian list 1/2/3 pattern.

    Deterministic: a smaller ``target`` gives a prefix (at a frame border) of a larger one.
    """
    pools = [[m.lists[k] for m in meters() if m.lists[k]] for k in range(3)]
    assert all(pools), "the captures must hold frames of every list"
    rng = random.Random(seed)
    out = bytearray()
    frames: list[bytes] = []
    per_list = [0, 0, 0]
    turn = [0, 0, 0]

    def emit(k: int) -> None:
        pool = pools[k][turn[k] % len(pools[k])]
        turn[k] += 1
        frame = pool[rng.randrange(len(pool))]
        out.extend(frame)
        frames.append(frame)
        per_list[k] += 1

    list2 = 0
    while len(out) < target:
        for _ in range(LIST1_PER_LIST2):
            emit(0)
        emit(1)
        list2 += 1
        if list2 % LIST2_PER_LIST3 == 0:
            emit(2)
    return Mix(bytes(out), tuple(frames), (per_list[0], per_list[1], per_list[2]))
