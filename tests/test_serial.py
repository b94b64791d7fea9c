"""The blocking live reader, over real I/O: pty pairs, TCP on loopback, ``sim://``.

Time is compressed with the simulator's ``speed`` so the whole file runs in a few seconds.
"""

from __future__ import annotations

import logging
import random
import socket
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import hanport
from hanport._encode import VENDORS, Reading, Vendor, encode
from hanport._live import Backoff, LineSettings, ReaderCore, candidate_settings
from hanport.simulate import PtySimulator, Simulator, TcpSimulator

pytest.importorskip("serial")
from hanport.serial import SerialReader, pyserial

L8E1 = LineSettings(2400, 8, "E", 1)
L8N1 = LineSettings(2400, 8, "N", 1)
FAST: dict[str, Any] = {"backoff_initial": 0.05, "backoff_max": 0.2, "stall_timeout": 5.0}


def read_n(reader: SerialReader, n: int, timeout: float = 10.0) -> list[hanport.Telegram]:
    """``n`` telegrams, failing the test if they take longer than ``timeout`` seconds."""
    out: list[hanport.Telegram] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline, f"only {len(out)} of {n} telegrams in {timeout} s"
        tg = reader.read(timeout=0.5)
        if tg is not None:
            out.append(tg)
    return out


def assert_contiguous(telegrams: list[hanport.Telegram], sim: Simulator) -> None:
    """The telegrams are consecutive pushes of ``sim``: nothing lost, duplicated or altered."""
    frames = [p.frame for p in sim.history]
    raws = [tg.raw for tg in telegrams]
    n = len(raws)
    assert any(frames[i : i + n] == raws for i in range(len(frames) - n + 1))


# --------------------------------------------------------------------------------------------
# pty
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
def test_pty_all_vendors(vendor: Vendor) -> None:
    sim = Simulator(vendor, 3, speed=40, seed=1)
    with PtySimulator(sim) as pty, SerialReader(pty.port, **FAST) as reader:
        telegrams = read_n(reader, 5)
        assert reader.connected
        assert reader.detected is None  # a pty carries no line settings
        s = reader.stats
    # Aidon's list 1 frames name no maker (L&G's Embriq module sends the same frame)
    makers = {tg.manufacturer for tg in telegrams}
    allowed = {vendor.capitalize(), None} if vendor == "aidon" else {vendor.capitalize()}
    assert makers <= allowed
    assert any(tg.manufacturer == vendor.capitalize() for tg in telegrams) or vendor == "aidon"
    assert_contiguous(telegrams, sim)
    assert s.frames_bad_checksum + s.frames_malformed <= 1  # the reader may open mid-frame
    assert s.connects == 1
    assert not reader.connected


def test_device_vanishes_and_comes_back(tmp_path: Path) -> None:
    """A USB adapter unplugged and plugged in again: udev removes and re-creates the link."""
    link = tmp_path / "ttyHAN0"
    first = PtySimulator(Simulator("aidon", 1, speed=40, seed=2))
    link.symlink_to(first.start())
    with SerialReader(str(link), **FAST) as reader:
        read_n(reader, 2)
        first.stop()
        link.unlink()
        deadline = time.monotonic() + 0.8
        while time.monotonic() < deadline:  # leftovers, then the read error, then retries
            reader.read(timeout=0.1)
        assert not reader.connected
        assert reader.stats.disconnects == 1
        assert reader.stats.open_failures >= 2
        assert reader.last_error is not None
        assert reader.last_error.kind == "open_failed"
        second = Simulator("aidon", 1, speed=40, seed=3)
        with PtySimulator(second) as pty:
            link.symlink_to(pty.port)
            again = read_n(reader, 3)
        assert reader.stats.connects == 2
    assert_contiguous(again, second)


# --------------------------------------------------------------------------------------------
# TCP (socket://)
# --------------------------------------------------------------------------------------------


def test_tcp_server_killed_and_restarted() -> None:
    sim = Simulator("kaifa", 3, speed=20, seed=8)  # a push every 0.1 s
    with TcpSimulator(sim) as server, SerialReader(server.url, **FAST) as reader:
        got = read_n(reader, 8)
        server.kill()
        down = time.monotonic()
        while time.monotonic() - down < 0.6:  # what was sent before the kill, then nothing
            tg = reader.read(timeout=0.1)
            if tg is not None:
                got.append(tg)
        assert not reader.connected
        server.revive()
        got += read_n(reader, 8)
        stats = reader.stats
        deliveries = list(server.deliveries)
    # Exactly the pushes that reached the reader's connections, in order, once each.
    first, last = (
        next(d.push.index for d in deliveries if d.push.frame == tg.raw) for tg in (got[0], got[-1])
    )
    span = [d for d in deliveries if first <= d.push.index <= last]
    assert [tg.raw for tg in got] == [d.push.frame for d in span if d.complete]
    # What was lost is one run of pushes: those sent while no connection was up.
    lost = [d.push.index for d in span if not d.complete]
    assert lost, "the server was down for 0.6 s: some pushes must be lost"
    assert lost == list(range(lost[0], lost[-1] + 1))
    connections = {cid for d in span for cid in d.complete}
    assert len(connections) == 2
    before = max(d.push.index for d in span if min(connections) in d.complete)
    after = min(d.push.index for d in span if max(connections) in d.complete)
    assert lost == list(range(before + 1, after))
    assert stats.connects == 2
    assert stats.disconnects == 1
    assert stats.open_failures >= 1
    assert stats.frames_bad_checksum == 0


def test_stall_timeout_reconnects() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never sends
        url = f"socket://127.0.0.1:{silent.getsockname()[1]}"
        with SerialReader(url, stall_timeout=0.2, backoff_initial=0.01, backoff_max=0.02) as r:
            assert r.read(timeout=1.2) is None
            stats = r.stats
            assert r.last_error is not None
    assert stats.stalls >= 2
    assert stats.connects >= 2
    assert r.last_error.kind == "stall"


def test_unreachable_port_backs_off() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again: nobody listens there
    reader = SerialReader(f"socket://127.0.0.1:{port}", backoff_initial=0.05, backoff_max=0.4)
    with reader:
        assert reader.read(timeout=1.2) is None
    # delays 0.05, 0.1, 0.2, 0.4, 0.4... (minus jitter): about 5 attempts in 1.2 s, not dozens
    assert 3 <= reader.stats.open_failures <= 7
    assert reader.stats.connects == 0


# --------------------------------------------------------------------------------------------
# Line settings detection through sim://
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kwargs", "expected"),
    [
        # a 2400 8E1 meter, the reader starting at 8N1
        ("sim://kaifa?speed=20&seed=4", {"candidates": [L8N1, L8E1]}, L8E1),
        # ... and starting at 9600
        (
            "sim://aidon?speed=20&seed=4",
            {"candidates": [LineSettings(9600, 8, "E", 1), LineSettings(9600, 8, "N", 1), L8E1]},
            L8E1,
        ),
        # a Kamstrup (8N1), the reader starting at its default, 8E1
        ("sim://kamstrup?speed=40&seed=4", {}, L8N1),
        # the meter hint puts the right settings first
        ("sim://kamstrup?speed=40&seed=4", {"meter": "kamstrup"}, L8N1),
    ],
)
def test_detection(
    caplog: pytest.LogCaptureFixture, url: str, kwargs: dict[str, object], expected: LineSettings
) -> None:
    caplog.set_level(logging.INFO, "hanport.serial")
    with SerialReader(url, probe_timeout=1.0, **kwargs) as reader:  # type: ignore[arg-type]
        telegrams = read_n(reader, 3)
        stats = reader.stats
        assert reader.detected == expected
        assert reader.line == expected
    tries = 1 if kwargs.get("meter") else len(kwargs.get("candidates", [1, 2]))  # type: ignore[arg-type]
    assert stats.probes == tries
    assert (stats.probe_bytes > 0) == (tries > 1)
    assert stats.frames_bad_checksum + stats.frames_malformed <= 1  # a partial first frame
    # the reader knows the maker once a telegram named it (Aidon's list 1 names none)
    vendor = url.removeprefix("sim://").split("?")[0].capitalize()
    assert {tg.manufacturer for tg in telegrams} <= {vendor, None}
    if any(tg.manufacturer for tg in telegrams):
        assert reader.manufacturer == vendor
    detected = [r.getMessage() for r in caplog.records if "detected line settings" in r.message]
    assert len(detected) == 1
    assert str(expected) in detected[0]


def test_fixed_wrong_settings_are_not_changed() -> None:
    with SerialReader("sim://kaifa?speed=20", baudrate=2400, parity="N") as reader:
        assert reader.read(timeout=0.6) is None
        assert reader.line == L8N1
        stats = reader.stats
    assert stats.probes == 0
    assert stats.frames_ok == 0
    assert stats.bytes_skipped > 0
    assert reader.detected is None


def test_damage_is_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "hanport.serial")
    url = "sim://kaifa?speed=40&noise=0.004&seed=6"
    with SerialReader(url, meter="kaifa", log_interval=0.8) as reader:
        t0 = time.monotonic()
        read_n(reader, 25)
        elapsed = time.monotonic() - t0
        stats = reader.stats
    warnings = [r for r in caplog.records if "damaged" in r.getMessage()]
    assert stats.frames_bad > len(warnings) >= 1
    assert len(warnings) <= 1 + elapsed / 0.8
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert reader.last_error is not None


def test_close_from_another_thread_ends_iteration() -> None:
    reader = SerialReader("sim://kamstrup?speed=0.01")  # silent for minutes
    threading.Timer(0.3, reader.close).start()
    t0 = time.monotonic()
    assert list(reader) == []
    assert time.monotonic() - t0 < 1.5
    assert reader.closed
    assert not reader.connected


def test_iterating_from_two_threads_is_refused() -> None:
    with SerialReader("sim://kamstrup?speed=0.01") as reader:
        t = threading.Thread(target=reader.read, args=(0.5,))
        t.start()
        time.sleep(0.1)
        with pytest.raises(RuntimeError, match="another thread"):
            reader.read(0.1)
        t.join()


# --------------------------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------------------------


def test_candidate_settings() -> None:
    assert candidate_settings()[:2] == (L8E1, L8N1)
    assert candidate_settings("kamstrup")[0] == L8N1
    assert candidate_settings("p1")[0] == LineSettings(115200, 8, "N", 1)
    assert candidate_settings(parity="N") == tuple(
        c for c in candidate_settings() if c.parity == "N"
    )
    assert {c.baudrate for c in candidate_settings(baudrate=4800)} == {4800}
    assert str(L8E1) == "2400 8E1"
    assert L8E1.bits_per_char == 11
    with pytest.raises(ValueError, match="meter"):
        candidate_settings("landis")
    with pytest.raises(ValueError, match="parity"):
        candidate_settings(parity="X")


def test_backoff_grows_caps_and_resets() -> None:
    b = Backoff(0.5, 4.0, 2.0, jitter=0.1, rng=random.Random(1))
    delays = [b.next() for _ in range(7)]
    for d, nominal in zip(delays, [0.5, 1, 2, 4, 4, 4, 4], strict=True):
        assert nominal * 0.9 <= d <= nominal
    b.reset()
    assert b.next() <= 0.5
    with pytest.raises(ValueError, match="initial"):
        Backoff(1.0, 0.5)


def _frame(list_no: int) -> bytes:
    now = datetime(2025, 1, 1, 12, 0, 0)
    r = Reading(list_no, 3, now, False, "1", "t", (1.0, 0, 0, 0), (1, 1, 1), (230,) * 3, (0,) * 4)  # type: ignore[arg-type]
    return encode("kaifa", r)


def test_core_reprobes_when_frames_stop_making_sense() -> None:
    now = [0.0]
    core = ReaderCore("/dev/ttyX", clock=lambda: now[0], reprobe_bytes=4096)
    assert core.open_settings() == L8E1
    core.begin()
    assert core.probing
    telegrams, switch = core.feed(_frame(1) + _frame(2))
    assert len(telegrams) == 2
    assert switch is None
    assert core.detected == L8E1
    garbage = random.Random(0).randbytes(5000).replace(b"\x7e", b"\x00")
    _, switch = core.feed(garbage)
    assert switch == L8N1  # no valid frame in 4096 bytes: detection starts again
    assert core.detected is None
    assert core.probing


def test_missing_pyserial_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "serial", None)
    with pytest.raises(ImportError, match=r"pip install 'hanport\[serial\]'"):
        pyserial()
    with pytest.raises(ImportError, match=r"hanport\[serial\]"):
        SerialReader("/dev/ttyUSB0")


def test_sim_handler_is_registered() -> None:
    import serial

    assert "hanport" in serial.protocol_handler_packages


def test_unknown_url_scheme_fails_at_once() -> None:
    with pytest.raises(ValueError, match="bogus"):
        SerialReader("bogus://somewhere")
