"""A virtual HAN-port meter: Aidon, Kaifa or Kamstrup, 1- or 3-phase.

Layers, from the physics up:

* :class:`MeterModel`: a household load (base load, a cycling fridge, appliances arriving at
  random on random phases), per-phase voltages wandering around 230 V and a power factor, so
  that every push is consistent: per phase ``P = U * I * cos(phi)`` and
  ``Q = U * I * sin(phi)``, the energies integrate the powers and never go down.
* The list cadence of each vendor: list 1 (active power) every 2.5 s (Aidon) or 2 s (Kaifa),
  list 2 every 10 s, list 3 (clock and energies) instead of list 2 at the top of the hour;
  Kamstrup has no list 1. The pushes are encoded by :mod:`hanport._encode` into exactly the
  frames :class:`hanport.Decoder` reads (valid HCS and FCS).
* :class:`Simulator`: the meter on its serial line. Frames go out back to back at the meter's
  baud rate and character format (2400 8E1 or 8N1); optional noise flips a bit of a byte and
  optional drops lose bytes. ``speed`` compresses time: at ``speed=10`` everything, the line
  included, runs ten times faster.
* :class:`UartReceiver`: the line at bit level (start, data, parity and stop bits), re-sampled
  by a receiver with its own baud rate and character format the way a UART does it: wait for a
  falling edge, sample each bit in its middle. A receiver with the wrong parity or baud rate
  gets the garbage a real one would: a stop bit sampled low is a framing error, delivered as
  ``00`` as a Linux tty does by default, parity is not checked on input (pyserial clears
  ``INPCK``) but counted here.
* Outputs: :class:`PtySimulator` (a pseudo-terminal pair: the reader opens the slave path),
  :class:`TcpSimulator` (a TCP server like ser2net), :func:`write_file`, and the pyserial URL
  ``sim://`` (:mod:`hanport.protocol_sim`), the only one that models the line settings: a
  Linux pty forces 8 data bits without parity whatever the reader sets, and TCP carries bytes.

Nothing here needs pyserial.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import random
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Literal
from zoneinfo import ZoneInfo

from hanport._encode import VENDORS, Reading, Vendor, encode
from hanport._live import METER_LINE, LineSettings

__all__ = [
    "VENDORS",
    "Burst",
    "ByteClock",
    "LineSettings",
    "MeterModel",
    "PtySimulator",
    "Push",
    "Simulator",
    "TcpSimulator",
    "UartReceiver",
    "Vendor",
    "write_file",
]

#: Seconds between list-1 pushes (None: the meter sends no list 1).
LIST1_PERIOD: dict[Vendor, float | None] = {"aidon": 2.5, "kaifa": 2.0, "kamstrup": None}
#: Seconds between list-2 pushes (and the grid list 3 falls on at the top of the hour).
LIST2_PERIOD = 10.0

_TYPES: dict[Vendor, tuple[str, str]] = {  # meter type: 1-phase, 3-phase
    "aidon": ("6515", "6525"),
    "kaifa": ("MA105H2E", "MA304H3E"),
    "kamstrup": ("6861111BN242101040", "6841121BN243101040"),
}
_ID_PREFIX: dict[Vendor, str] = {"aidon": "7359992", "kaifa": "6970631", "kamstrup": "5706567"}

#: Appliances: (apparent power VA, mean duration s, weight).
_APPLIANCES = (
    (2000.0, 180.0, 3.0),  # kettle
    (1200.0, 240.0, 2.0),  # microwave
    (2200.0, 1800.0, 2.0),  # oven, heater
    (800.0, 3600.0, 1.0),  # dishwasher
    (1500.0, 900.0, 2.0),  # panel heater
)


@dataclass
class _Appliance:
    phase: int
    va: float
    until: float


class MeterModel:
    """The electrical state of one household behind one meter, in simulated time.

    Time ``t`` is in seconds since ``start``. :meth:`reading` advances the state to ``t``
    (which must not go back) and returns what the meter reports for one list.
    """

    def __init__(
        self,
        vendor: Vendor,
        phases: Literal[1, 3] = 3,
        *,
        start: datetime | None = None,
        seed: int | None = None,
        tz: str = "Europe/Oslo",
    ) -> None:
        if vendor not in VENDORS:
            raise ValueError(f"unknown meter {vendor!r}; expected one of {', '.join(VENDORS)}")
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, not {phases!r}")
        self.vendor: Vendor = vendor
        self.phases: Literal[1, 3] = phases
        self.tz = ZoneInfo(tz)
        self.start = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self.rng = random.Random(seed)
        rng = self.rng
        self.meter_id = _ID_PREFIX[vendor] + "".join(str(rng.randrange(10)) for _ in range(9))
        self.meter_type = _TYPES[vendor][phases == 3]
        self.voltages = [230.0 + rng.uniform(-4, 4) for _ in range(phases)]
        self.base = [rng.uniform(60, 160) for _ in range(phases)]
        self.pf = rng.uniform(0.9, 0.97)
        self.appliances: list[_Appliance] = []
        self.next_arrival = rng.expovariate(1 / 300)
        years = rng.uniform(1, 6)
        #: Wh, Wh, varh, varh: import, export, reactive import, reactive export.
        self.energies = [years * 4.5e6, 0.0, years * 0.9e6, 0.0]
        self.t = 0.0
        self._fridge_phase = rng.uniform(0, 3000)
        self.powers = (0.0, 0.0, 0.0, 0.0)
        self.currents: tuple[float, ...] = ()
        self._update()

    def local_time(self, t: float) -> datetime:
        """The meter's aware local time at ``t`` (whole seconds, as a meter clock shows)."""
        return (self.start + timedelta(seconds=round(t))).astimezone(self.tz)

    def _apparent(self) -> list[float]:
        va = list(self.base)
        if (self.t + self._fridge_phase) % 3000 < 1200:
            va[0] += 110.0
        for a in self.appliances:
            va[a.phase] += a.va
        return va

    def _update(self) -> None:
        va = self._apparent()
        sin = math.sqrt(1 - self.pf * self.pf)
        self.currents = tuple(s / u for s, u in zip(va, self.voltages, strict=True))
        p = sum(s * self.pf for s in va)
        q = sum(s * sin for s in va)
        self.powers = (p, 0.0, q, 0.0)

    def advance(self, t: float) -> None:
        """Move the state to time ``t``: integrate the energies, then let the load evolve."""
        dt = t - self.t
        if dt < 0:
            raise ValueError("time does not go back")
        if dt == 0:
            return
        for i, p in enumerate(self.powers):
            self.energies[i] += p * dt / 3600
        rng = self.rng
        self.t = t
        while self.next_arrival <= t:
            va, mean, _ = rng.choices(_APPLIANCES, weights=[w for *_, w in _APPLIANCES])[0]
            until = self.next_arrival + rng.expovariate(1 / mean)
            self.appliances.append(_Appliance(rng.randrange(self.phases), va, until))
            self.next_arrival += rng.expovariate(1 / 300)
        self.appliances = [a for a in self.appliances if a.until > t]
        k = min(1.0, dt / 60)  # mean reversion of the voltage and the power factor
        self.voltages = [
            min(253.0, max(207.0, u + k * (230.0 - u) + rng.gauss(0, 0.4 * math.sqrt(min(dt, 60)))))
            for u in self.voltages
        ]
        self.pf = min(0.99, max(0.8, self.pf + k * (0.94 - self.pf) + rng.gauss(0, 0.005)))
        self._update()

    def reading(self, t: float, list_no: Literal[1, 2, 3]) -> Reading:
        """What the meter reports in list ``list_no`` at time ``t``."""
        self.advance(t)
        local = self.local_time(t)
        return Reading(
            list_no=list_no,
            phases=self.phases,
            time=local.replace(tzinfo=None),
            dst=bool(local.dst()),
            meter_id=self.meter_id,
            meter_type=self.meter_type,
            powers=self.powers,
            currents=self.currents,
            voltages=tuple(self.voltages),
            energies=(
                self.energies[0],
                self.energies[1],
                self.energies[2],
                self.energies[3],
            ),
        )

    def schedule(self) -> Iterator[tuple[float, Literal[1, 2, 3]]]:
        """The push times and lists, forever: list 2 on every 10-second boundary of the clock,
        list 3 instead at hh:00:00, list 1 in between (not Kamstrup)."""
        period = LIST1_PERIOD[self.vendor] or LIST2_PERIOD
        epoch = self.start.timestamp()
        k = math.ceil(epoch / period - 1e-9)
        while True:
            at = k * period
            k += 1
            slot = at % LIST2_PERIOD
            if slot > 1e-6 and LIST2_PERIOD - slot > 1e-6:
                yield at - epoch, 1
                continue
            local = self.local_time(at - epoch)
            yield at - epoch, (3 if local.minute == 0 and local.second == 0 else 2)


@dataclass(frozen=True)
class Push:
    """One push of the meter: when (simulated seconds since start), which list, the frame."""

    index: int
    t: float
    list_no: int
    frame: bytes
    reading: Reading


@dataclass(frozen=True)
class Burst:
    """A push on the line: the bytes sent (noise and drops applied) from ``start`` on, back to
    back at ``char_time`` seconds per character."""

    push: Push
    start: float
    data: bytes
    char_time: float

    @property
    def end(self) -> float:
        """When the last stop bit ends."""
        return self.start + len(self.data) * self.char_time


class Simulator:
    """A meter on its serial line, in simulated time (seconds since ``start``).

    ``speed`` is the ratio simulated/wall time the outputs use. ``noise`` is the probability
    that a byte gets one bit flipped, ``drop`` that it is lost. ``line`` overrides the meter's
    line settings (e.g. a 9600-baud port). :attr:`history` keeps the last ``history`` pushes.
    """

    def __init__(
        self,
        meter: Vendor = "kaifa",
        phases: Literal[1, 3] = 3,
        *,
        speed: float = 1.0,
        noise: float = 0.0,
        drop: float = 0.0,
        seed: int | None = None,
        start: datetime | None = None,
        tz: str = "Europe/Oslo",
        line: LineSettings | None = None,
        history: int = 10_000,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        if not (0 <= noise <= 1 and 0 <= drop <= 1):
            raise ValueError("noise and drop are probabilities (0..1)")
        self.meter: Vendor = meter
        self.model = MeterModel(meter, phases, start=start, seed=seed, tz=tz)
        self.line = line or METER_LINE[meter]
        self.speed = speed
        self.noise = noise
        self.drop = drop
        self._rng = random.Random(None if seed is None else seed + 1)
        self._schedule = self.model.schedule()
        self._next = next(self._schedule)
        self._line_free = 0.0
        self.t = 0.0
        self.pushes = 0
        self.bytes_sent = 0
        self.history: deque[Push] = deque(maxlen=history)

    @property
    def next_push(self) -> float:
        """Simulated time of the next push."""
        return self._next[0]

    def _damage(self, frame: bytes) -> bytes:
        if not self.noise and not self.drop:
            return frame
        rng = self._rng
        out = bytearray()
        for b in frame:
            if self.drop and rng.random() < self.drop:
                continue
            if self.noise and rng.random() < self.noise:
                b ^= 1 << rng.randrange(8)
            out.append(b)
        return bytes(out)

    def advance(self, t: float) -> list[Burst]:
        """The pushes due by simulated time ``t``, as bursts on the line (a push waits for the
        line if the previous one is still being sent)."""
        out: list[Burst] = []
        self.t = max(self.t, t)
        while self._next[0] <= t:
            at, list_no = self._next
            self._next = next(self._schedule)
            reading = self.model.reading(at, list_no)
            push = Push(self.pushes, at, list_no, encode(self.meter, reading), reading)
            self.pushes += 1
            self.history.append(push)
            data = self._damage(push.frame)
            burst = Burst(push, max(at, self._line_free), data, self.line.char_time)
            self._line_free = burst.end
            self.bytes_sent += len(data)
            out.append(burst)
        return out

    def run_for(self, seconds: float) -> list[Burst]:
        """Every burst of the next ``seconds`` of simulated time (for files and tests)."""
        return self.advance(self.t + seconds)


class ByteClock:
    """The bytes of bursts as they complete on the line: byte ``i`` of a burst is received
    when its stop bit ends, ``start + (i + 1) * char_time``."""

    def __init__(self) -> None:
        self._bursts: deque[Burst] = deque()
        self._offset = 0

    def add(self, bursts: list[Burst]) -> None:
        """Queue bursts (in start order)."""
        self._bursts.extend(bursts)

    def take(self, t: float) -> list[tuple[Burst, int, bytes]]:
        """Segments ``(burst, offset, data)`` completed by ``t``, in line order."""
        out: list[tuple[Burst, int, bytes]] = []
        while self._bursts:
            b = self._bursts[0]
            done = min(len(b.data), int((t - b.start) / b.char_time + 1e-9))
            if done > self._offset:
                out.append((b, self._offset, b.data[self._offset : done]))
                self._offset = done
            if self._offset < len(b.data):
                break
            self._bursts.popleft()
            self._offset = 0
        return out

    def next_time(self) -> float | None:
        """When the next queued byte completes (None: nothing queued)."""
        if not self._bursts:
            return None
        b = self._bursts[0]
        return b.start + (self._offset + 1) * b.char_time

    @property
    def busy(self) -> bool:
        """True while queued bytes remain."""
        return bool(self._bursts)


@dataclass
class UartStats:
    """What a :class:`UartReceiver` saw."""

    chars: int = 0
    framing_errors: int = 0
    parity_errors: int = 0
    false_starts: int = 0


@dataclass
class _LineBurst:
    burst: Burst
    start: float
    end: float
    bit_time: float
    _bits: bytes | None = field(default=None, repr=False)

    def bits(self, tx: LineSettings) -> bytes:
        """Line levels, one byte (0 or 1) per bit time."""
        if self._bits is None:
            self._bits = _line_bits(self.burst.data, tx)
        return self._bits


def _parity_bit(value: int, parity: str) -> int:
    ones = value.bit_count()
    return ones & 1 if parity == "E" else (ones & 1) ^ 1


def _line_bits(data: bytes, tx: LineSettings) -> bytes:
    out = bytearray()
    stop = b"\x01" * tx.stopbits
    for value in data:
        out.append(0)
        out += bytes((value >> i) & 1 for i in range(tx.bytesize))
        if tx.parity != "N":
            out.append(_parity_bit(value, tx.parity))
        out += stop
    return bytes(out)


class UartReceiver:
    """A UART receiving a meter's line: transmitter format ``tx``, receiver format ``rx``.

    Feed it the bursts (:meth:`add`) and ask for what it received by a time (:meth:`receive`).
    When ``rx`` equals ``tx`` and the receiver is in step with the characters, bytes are copied
    through; otherwise the line is re-sampled bit by bit. ``rx`` can change at any time, as a
    reader that changes its settings does.
    """

    def __init__(self, tx: LineSettings, rx: LineSettings | None = None) -> None:
        self.tx = tx
        self._rx = rx or tx
        self.stats = UartStats()
        self._bursts: deque[_LineBurst] = deque()
        self._t = -math.inf  # the receiver looks for a start bit from here on
        self._sync: tuple[Burst, int] | None = None  # in step: next char index of a burst

    @property
    def rx(self) -> LineSettings:
        """The receiver's character format."""
        return self._rx

    @rx.setter
    def rx(self, rx: LineSettings) -> None:
        if rx != self._rx:
            self._rx = rx
            self._sync = None

    def add(self, bursts: list[Burst]) -> None:
        """Bursts now on the line (in start order)."""
        tm = 1 / self.tx.baudrate
        for b in bursts:
            self._bursts.append(_LineBurst(b, b.start, b.end, tm))

    def discard(self, t: float) -> None:
        """Forget whatever the line carried before ``t`` (an input flush, a port opened)."""
        if t > self._t:
            self._t = t
            self._sync = None

    def next_time(self) -> float | None:
        """A time by which more may have been received (None: the line is idle)."""
        if not self._bursts:
            return None
        b = self._bursts[0]
        return max(self._t, b.start) + self._rx.char_time

    def _level(self, t: float) -> int:
        for lb in self._bursts:
            if t < lb.start:
                return 1
            if t < lb.end:
                return lb.bits(self.tx)[int((t - lb.start) / lb.bit_time)]
        return 1

    def _edge(self, lb: _LineBurst, t: float) -> float | None:
        """The first falling edge in ``lb`` at or after ``t``."""
        bits = lb.bits(self.tx)
        j0 = 0 if t <= lb.start else math.ceil((t - lb.start) / lb.bit_time - 1e-6)
        if j0 == 0 and bits[:1] == b"\x00":
            return lb.start
        k = bits.find(b"\x01\x00", max(j0 - 1, 0))
        return None if k < 0 else lb.start + (k + 1) * lb.bit_time

    def receive(self, now: float) -> bytes:
        """Every character whose stop bit the receiver has sampled by ``now``."""
        out = bytearray()
        rx, tx = self._rx, self.tx
        matched = rx.baudrate == tx.baudrate and (rx.bytesize, rx.parity) == (
            tx.bytesize,
            tx.parity,
        )
        tr = 1 / rx.baudrate
        n_bits = 1 + rx.bytesize + (rx.parity != "N")  # bits before the (first) stop bit
        while self._bursts:
            lb = self._bursts[0]
            b = lb.burst
            if self._t >= lb.end:
                self._bursts.popleft()
                self._sync = None
                continue
            first = None
            if matched:
                if self._sync is not None and self._sync[0] is b:
                    first = self._sync[1]
                elif self._t <= lb.start:
                    first = 0
            if first is not None:  # in step: copy the characters through
                stop_at = (n_bits + 0.5) * tr
                done = math.floor((now - lb.start - stop_at) / b.char_time + 1e-9) + 1
                done = max(first, min(done, len(b.data)))
                if done > first:
                    out += b.data[first:done]
                    self.stats.chars += done - first
                    self._t = lb.start + (done - 1) * b.char_time + stop_at
                if done < len(b.data):
                    self._sync = (b, done)
                    break
                self._sync = None
                self._bursts.popleft()
                continue
            edge = self._edge(lb, self._t)
            if edge is None:
                if lb.end > now:
                    break
                self._t = max(self._t, lb.end)
                self._bursts.popleft()
                continue
            stop_sample = edge + (n_bits + 0.5) * tr
            if stop_sample > now:
                break
            if self._level(edge + 0.5 * tr):  # a glitch, not a start bit
                self.stats.false_starts += 1
                self._t = edge + 0.5 * tr
                continue
            value = 0
            for i in range(rx.bytesize):
                value |= self._level(edge + (1.5 + i) * tr) << i
            if rx.parity != "N":
                p = self._level(edge + (1.5 + rx.bytesize) * tr)
                if p != _parity_bit(value, rx.parity):
                    self.stats.parity_errors += 1
            self.stats.chars += 1
            if not self._level(stop_sample):
                self.stats.framing_errors += 1
                value = 0  # what a Linux tty hands over without IGNPAR/PARMRK
            out.append(value)
            self._t = stop_sample
        return bytes(out)


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


class _Runner:
    """A thread that advances a simulator in (compressed) real time."""

    tick = 0.01

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self.error: BaseException | None = None

    def now(self) -> float:
        """Simulated time now."""
        return (time.monotonic() - self._t0) * self.sim.speed

    def _start_thread(self, name: str) -> None:
        self._stop.clear()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            self._run()
        except BaseException as e:  # reported to the owner, never lost silently
            self.error = e

    def _run(self) -> None:
        raise NotImplementedError

    def _sleep_until(self, sim_t: float, longest: float = 0.25) -> None:
        wall = max(self.tick, min(longest, (sim_t - self.now()) / self.sim.speed))
        self._stop.wait(wall)

    def _join(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None


class PtySimulator(_Runner):
    """The simulator writing to the master side of a pseudo-terminal pair.

    Open :attr:`port` (the slave, e.g. ``/dev/pts/3``) with any serial reader. The bytes are
    paced at the meter's line speed (times ``speed``) in chunks of :attr:`tick` seconds, as a
    USB serial adapter hands them over. A pty carries no line settings (Linux forces 8 data bits
    without parity on it), so a reader always receives the bytes as sent; use ``sim://`` to
    model wrong settings. Bytes nobody reads are dropped once the pty buffer is full.
    """

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self._master = -1
        self._slave = -1
        self.port = ""
        self.overruns = 0

    def start(self) -> str:
        """Create the pty pair and start sending; returns the slave's path."""
        import tty

        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._start_thread(f"hanport-sim-pty {self.port}")
        return self.port

    def _run(self) -> None:
        clock = ByteClock()
        while not self._stop.is_set():
            now = self.now()
            clock.add(self.sim.advance(now))
            data = b"".join(chunk for _, _, chunk in clock.take(now))
            if data:
                try:
                    os.write(self._master, data)
                except BlockingIOError:
                    self.overruns += len(data)
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
            nxt = clock.next_time()
            self._sleep_until(nxt if nxt is not None else self.sim.next_push)

    def stop(self) -> None:
        """Stop sending and close both sides (a reader then sees the device vanish)."""
        self._join()
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> PtySimulator:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass
class Delivery:
    """What happened to one push at a :class:`TcpSimulator`: the connections (ids) that got
    all of it."""

    push: Push
    complete: list[int] = field(default_factory=list)


class TcpSimulator(_Runner):
    """The simulator behind a TCP server, like a serial-to-network bridge (ser2net).

    Every connected client receives the line's bytes as they complete; a client that connects
    joins at the next frame, one that cannot keep up is dropped. :meth:`kill` closes the
    listener and every connection while the meter goes on pushing (those pushes reach nobody);
    :meth:`revive` listens again on the same port. :attr:`deliveries` tells, per push, which
    connections received all of it (the last 100 000 pushes). Listens on loopback by default.
    """

    def __init__(self, sim: Simulator, port: int = 0, host: str = "127.0.0.1") -> None:
        super().__init__(sim)
        self.host = host
        self.port = port
        self.deliveries: deque[Delivery] = deque(maxlen=100_000)
        self.connections = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._clients: dict[int, tuple[socket.socket, int]] = {}  # id -> (socket, first push)
        self._sel = selectors.DefaultSelector()

    @property
    def url(self) -> str:
        """The pyserial URL of this server: ``socket://host:port``."""
        return f"socket://{self.host}:{self.port}"

    def _listen(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(8)
        s.setblocking(False)
        self.port = s.getsockname()[1]
        self._listener = s
        self._sel.register(s, selectors.EVENT_READ)

    def start(self) -> str:
        """Listen and start the meter; returns :attr:`url`."""
        with self._lock:
            self._listen()
        self._start_thread(f"hanport-sim-tcp {self.port}")
        return self.url

    def kill(self) -> None:
        """Close the listener and every connection, as a killed server process would."""
        with self._lock:
            if self._listener is not None:
                self._sel.unregister(self._listener)
                self._listener.close()
                self._listener = None
            for cid in list(self._clients):
                self._drop(cid)

    def _drop(self, cid: int) -> None:
        sock, _ = self._clients.pop(cid)
        self._sel.unregister(sock)
        sock.close()

    def revive(self) -> None:
        """Listen again on the same port."""
        with self._lock:
            if self._listener is None:
                self._listen()

    def stop(self) -> None:
        """Stop the meter and close everything."""
        self._join()
        self.kill()
        self._sel.close()

    def _poll(self, next_push: int) -> None:
        """Accept new clients; close those that hung up (anything they send is ignored)."""
        for key, _ in self._sel.select(0):
            if key.data is None:  # the listener
                assert self._listener is not None
                try:
                    sock, _ = self._listener.accept()
                except BlockingIOError:
                    continue
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connections += 1
                self._clients[self.connections] = (sock, next_push)
                self._sel.register(sock, selectors.EVENT_READ, self.connections)
                continue
            cid = key.data
            try:
                gone = not self._clients[cid][0].recv(4096)
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            if gone:
                self._drop(cid)

    def _run(self) -> None:
        clock = ByteClock()
        pending: dict[int, Delivery] = {}
        next_push = 0  # index of the first push no byte of which went out yet
        while not self._stop.is_set():
            now = self.now()
            bursts = self.sim.advance(now)
            for b in bursts:
                pending[b.push.index] = Delivery(b.push)
                self.deliveries.append(pending[b.push.index])
            clock.add(bursts)
            with self._lock:
                self._poll(next_push)
                for burst, offset, data in clock.take(now):
                    if offset == 0:
                        next_push = burst.push.index + 1
                    done = offset + len(data) == len(burst.data)
                    for cid, (sock, first) in list(self._clients.items()):
                        if burst.push.index < first:
                            continue
                        try:
                            sent = sock.send(data)
                        except OSError:
                            sent = -1
                        if sent != len(data):  # gone, or cannot keep up: drop it
                            self._drop(cid)
                        elif done:
                            pending[burst.push.index].complete.append(cid)
                    if done:
                        pending.pop(burst.push.index, None)
            nxt = clock.next_time()
            self._sleep_until(nxt if nxt is not None else self.sim.next_push, longest=0.02)

    def __enter__(self) -> TcpSimulator:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def write_file(
    sim: Simulator,
    path: str | Path,
    seconds: float,
    *,
    on_burst: Callable[[Burst], None] | None = None,
) -> int:
    """Write ``seconds`` of simulated pushes to ``path`` at once (no pacing); returns the number
    of bytes written."""
    bursts = sim.run_for(seconds)
    with open(path, "wb") as f:
        for b in bursts:
            f.write(b.data)
            if on_burst is not None:
                on_burst(b)
    return sum(len(b.data) for b in bursts)
