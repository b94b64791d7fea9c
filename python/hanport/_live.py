"""The I/O-free core shared by the blocking (:mod:`hanport.serial`) and the asyncio
(:mod:`hanport.aio`) readers: line settings and their detection, counters, the latest error,
rate-limited logging of damage, and the reconnect back-off.

The drivers own the port and the clock of their world; they tell the core what happened
(:meth:`ReaderCore.begin`, :meth:`ReaderCore.feed`, :meth:`ReaderCore.tick`,
:meth:`ReaderCore.end`) and apply the line settings it asks for. Nothing here blocks, sleeps or
touches a port, so the detection logic is the same for both readers and testable on its own.
"""

from __future__ import annotations

import logging
import os
import random
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Any, Literal
from urllib.parse import urlsplit

from hanport._core import Decoder, Telegram

Parity = Literal["N", "E", "O"]
"""Parity of a UART character: none, even or odd (pyserial's ``PARITY_*`` values)."""

MeterName = Literal["aidon", "kaifa", "kamstrup", "p1"]
"""Meters whose line settings the readers know."""

METERS: tuple[MeterName, ...] = ("aidon", "kaifa", "kamstrup", "p1")

log = logging.getLogger("hanport.serial")


@dataclass(frozen=True, order=True)
class LineSettings:
    """The UART character format of a serial line: ``2400 8E1`` and the like."""

    baudrate: int
    bytesize: int = 8
    parity: Parity = "N"
    stopbits: int = 1

    def __str__(self) -> str:
        return f"{self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"

    @property
    def bits_per_char(self) -> int:
        """Bits on the wire per character: start, data, parity (if any) and stop bits."""
        return 1 + self.bytesize + (self.parity != "N") + self.stopbits

    @property
    def char_time(self) -> float:
        """Seconds one character occupies the line."""
        return self.bits_per_char / self.baudrate

    def to_pyserial(self) -> dict[str, Any]:
        """Keyword arguments for ``serial.Serial``/``serial_for_url``."""
        return {
            "baudrate": self.baudrate,
            "bytesize": self.bytesize,
            "parity": self.parity,
            "stopbits": self.stopbits,
        }


#: The line each meter's HAN port uses: the Norwegian M-Bus HAN ports of Aidon and Kaifa send
#: 2400 8E1, Kamstrup's 2400 8N1; a P1 port (Swedish and Dutch meters) sends 115200 8N1.
METER_LINE: dict[MeterName, LineSettings] = {
    "aidon": LineSettings(2400, 8, "E", 1),
    "kaifa": LineSettings(2400, 8, "E", 1),
    "kamstrup": LineSettings(2400, 8, "N", 1),
    "p1": LineSettings(115200, 8, "N", 1),
}

#: Settings tried, in this order, when nothing is known about the meter.
PROBE_ORDER: tuple[LineSettings, ...] = (
    LineSettings(2400, 8, "E", 1),
    LineSettings(2400, 8, "N", 1),
    LineSettings(115200, 8, "N", 1),
    LineSettings(9600, 8, "E", 1),
    LineSettings(9600, 8, "N", 1),
)

#: URL schemes whose byte stream does not depend on the line settings (a TCP bridge such as
#: ser2net, pyserial's ``loop://``): nothing to detect there.
TRANSPARENT_SCHEMES = frozenset({"socket", "loop"})


def candidate_settings(
    meter: str | None = None, baudrate: int | None = None, parity: str = "auto"
) -> tuple[LineSettings, ...]:
    """The line settings to try, best guess first.

    ``meter`` puts that meter's settings first; a fixed ``baudrate`` or ``parity`` (``"N"``,
    ``"E"``, ``"O"``; ``"auto"`` to detect) keeps only the candidates that have it.
    """
    if meter is not None and meter not in METER_LINE:
        raise ValueError(f"unknown meter {meter!r}; expected one of {', '.join(METERS)}")
    parity = parity.upper() if parity.lower() != "auto" else "auto"
    if parity not in ("auto", "N", "E", "O"):
        raise ValueError(f"parity must be 'auto', 'N', 'E' or 'O', not {parity!r}")
    if baudrate is not None and baudrate <= 0:
        raise ValueError(f"baudrate must be positive, not {baudrate}")
    first = [METER_LINE[meter]] if meter is not None else []
    pool = first + list(PROBE_ORDER)
    if baudrate is not None and all(c.baudrate != baudrate for c in pool):
        pool += [LineSettings(baudrate, 8, "E", 1), LineSettings(baudrate, 8, "N", 1)]
    if parity == "O":
        pool += [LineSettings(c.baudrate, 8, "O", 1) for c in pool]
    out: list[LineSettings] = []
    for cand in pool:
        if baudrate is not None and cand.baudrate != baudrate:
            cand = LineSettings(baudrate, cand.bytesize, cand.parity, cand.stopbits)
        if parity != "auto" and cand.parity != parity:
            continue
        if cand not in out:
            out.append(cand)
    return tuple(out)


def url_scheme(url: str) -> str:
    """The URL scheme in lower case, ``""`` for a device path such as ``/dev/ttyUSB0``."""
    return urlsplit(url).scheme.lower() if "://" in url else ""


def is_pty(path: str) -> bool:
    """True if ``path`` is (a link to) the slave side of a Linux pseudo-terminal (Unix98 pty
    slaves have device majors 136 to 143)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISCHR(st.st_mode) and 136 <= os.major(st.st_rdev) <= 143


def line_independent(url: str) -> bool:
    """True if the bytes read from ``url`` do not depend on the line settings: ``socket://``
    and ``loop://`` URLs, and pseudo-terminals (Linux forces 8 data bits, no parity on them
    and ignores the baud rate)."""
    scheme = url_scheme(url)
    return scheme in TRANSPARENT_SCHEMES or (not scheme and is_pty(url))


def settings_errors() -> tuple[type[BaseException], ...]:
    """The exceptions by which a port refuses line settings (pyserial raises ValueError for
    values it rejects itself, ``termios.error`` when the driver rejects them)."""
    try:
        import termios
    except ImportError:  # not POSIX
        return (ValueError,)
    return (ValueError, termios.error)


@dataclass
class ReaderStats:
    """Counters of a live reader, over every connection it made.

    The decoder counters (``frames_ok`` ... ``frames_undecodable``) cover the bytes read with
    settings that were kept; bytes read while probing settings that were then rejected are
    counted in ``probe_bytes`` only (they are garbage by construction).
    """

    bytes_in: int = 0
    """Bytes read from the port, all of them."""
    frames_ok: int = 0
    """Valid frames."""
    frames_bad_checksum: int = 0
    """Frame candidates rejected for a bad HCS or FCS."""
    frames_malformed: int = 0
    """Frame candidates rejected for length, address, missing closing flag or truncation."""
    bytes_skipped: int = 0
    """Bytes that belong to no valid frame."""
    telegrams: int = 0
    """Telegrams decoded."""
    frames_undecodable: int = 0
    """Valid frames whose content could not be decoded."""
    frames_reassembled: int = 0
    """Frames taken into messages of several frames (see :class:`hanport.Stats`)."""
    probe_bytes: int = 0
    """Bytes read with line settings that detection then rejected."""
    probes: int = 0
    """Line settings tried by detection (each try counts)."""
    connects: int = 0
    """Successful opens of the port."""
    disconnects: int = 0
    """Connections lost (read error, end of stream, stall)."""
    open_failures: int = 0
    """Failed attempts to open the port."""
    stalls: int = 0
    """Connections dropped because nothing was read for ``stall_timeout`` seconds."""

    @property
    def frames_bad(self) -> int:
        """Damaged frame candidates: bad checksum plus malformed."""
        return self.frames_bad_checksum + self.frames_malformed

    def to_dict(self) -> dict[str, int]:
        """The counters as a dict."""
        return asdict(self)


_DECODER_FIELDS = (
    "frames_ok",
    "frames_bad_checksum",
    "frames_malformed",
    "bytes_skipped",
    "telegrams",
    "frames_undecodable",
    "frames_reassembled",
)


@dataclass(frozen=True)
class ReaderError:
    """The latest problem a reader met: damaged input or a connection failure."""

    time: float
    """When (``time.time()``)."""
    layer: str
    """``"serial"`` for the connection, else the decoder's layer (``"hdlc"``, ``"apdu"``...)."""
    kind: str
    """``"open_failed"``, ``"read_failed"``, ``"disconnected"``, ``"stall"``, or the decoder's
    kind (``"bad_fcs"``, ``"garbage"``...)."""
    message: str
    """Human-readable explanation."""

    def __str__(self) -> str:
        return f"{self.layer}/{self.kind}: {self.message}"


class Backoff:
    """Capped exponential back-off with jitter: ``initial * factor**n``, at most ``maximum``.

    Each delay is drawn uniformly from ``[(1 - jitter) * d, d]`` so that many readers restarted
    together do not reconnect in lock-step.
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        if initial < 0 or maximum < initial or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("need 0 <= initial <= maximum, factor >= 1 and 0 <= jitter < 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt; each call grows it until the cap."""
        try:
            grown = self.initial * self.factor**self.attempt
        except OverflowError:
            grown = self.maximum
        delay = min(self.maximum, grown)
        if grown < self.maximum:  # once at the cap, stop growing (no overflow, however long)
            self.attempt += 1
        return delay * (1 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """Back to the initial delay (after a connection that delivered valid frames)."""
        self.attempt = 0


class ReaderCore:
    """Detection, counters, errors and logging of a live reader; no I/O.

    Detection tries the candidate settings in turn: the first valid frame (HCS and FCS both
    right) accepts the current one; without one, any of these rejects it: ``probe_bytes``
    bytes, ``probe_bad`` damaged frame candidates, ``probe_bursts`` bursts of bytes (a meter
    sends one frame per burst, so with the right settings the second burst at the latest holds
    a valid frame; a burst ends with ``burst_gap`` seconds of silence) or ``probe_timeout``
    seconds. When settings have been kept, ``reprobe_bytes`` bytes without a valid frame start
    detection again.
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int | None = None,
        parity: str = "auto",
        meter: str | None = None,
        candidates: tuple[LineSettings, ...] | None = None,
        tz: str = "Europe/Oslo",
        keys: Mapping[str, Any] | str | PathLike[str] | None = None,
        probe_timeout: float = 25.0,
        probe_bytes: int = 1024,
        probe_bad: int = 3,
        probe_bursts: int = 3,
        burst_gap: float = 0.5,
        reprobe_bytes: int = 8192,
        log_interval: float = 60.0,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        if candidates is not None:
            self.candidates = tuple(dict.fromkeys(candidates))
        else:
            self.candidates = candidate_settings(meter, baudrate, parity)
        if not self.candidates:
            raise ValueError(f"no line settings match baudrate={baudrate} parity={parity}")
        self.transparent = line_independent(url)
        self.auto = len(self.candidates) > 1 and not self.transparent
        Decoder(tz=tz, keys=keys)  # validate tz and keys now, not at the first connection
        self._tz = tz
        self._keys = keys
        self.probe_timeout = probe_timeout
        self.probe_bytes = probe_bytes
        self.probe_bad = probe_bad
        self.probe_bursts = probe_bursts
        self.burst_gap = burst_gap
        self.reprobe_bytes = reprobe_bytes
        self.log_interval = log_interval
        self.log = logger or log
        self.clock = clock
        self.stats = ReaderStats()
        self.detected: LineSettings | None = None
        self.manufacturer: str | None = None
        self.last_error: ReaderError | None = None
        self.current: LineSettings | None = None
        self.probing = False
        self._index = 0
        self._decoder = Decoder(tz=tz, keys=keys)
        self._folded = dict.fromkeys(_DECODER_FIELDS, 0)
        self._probe_start = 0.0
        self._bursts = 0
        self._in_burst = False
        self._last_data = -float("inf")
        self._bytes_since_ok = 0
        self._last_ok_count = 0
        self._damage_logged = 0
        self._skipped_logged = 0
        self._last_damage_log = -float("inf")
        self._damage_since = 0.0
        self._last_connect_log = -float("inf")
        self._refused: set[LineSettings] = set()
        self.good_since_connect = False

    # -- connection life cycle ---------------------------------------------------------------

    def open_settings(self) -> LineSettings | None:
        """The line settings to open the port with (None: any, they do not matter)."""
        if self.transparent:
            return None
        if self.detected is not None and self.detected in self.candidates:
            self._index = self.candidates.index(self.detected)
        return self.candidates[self._index]

    def begin(self) -> None:
        """The port was opened with :meth:`open_settings`."""
        self.stats.connects += 1
        self.good_since_connect = False
        self._new_decoder()
        if self.transparent:
            self.current = None
            self.probing = False
            return
        self._start_probe(self._index)

    def refused(self, settings: LineSettings, message: str) -> None:
        """The port refused ``settings``: the next candidate is tried next (logged once per
        settings as a warning, then at debug level)."""
        self.error("serial", "settings_refused", f"{settings}: {message}")
        level = logging.DEBUG if settings in self._refused else logging.WARNING
        self._refused.add(settings)
        self.log.log(level, "%s: the port refuses %s (%s)", self.url, settings, message)
        if self.probing:
            self._fold_decoder(keep=False)
        self.probing = False
        if self.detected == settings:
            self.detected = None
        self._index = (self.candidates.index(settings) + 1) % len(self.candidates)

    def end(self, kind: str, message: str) -> None:
        """The connection was lost or given up (``kind``: ``"read_failed"``, ``"stall"``...)."""
        self.stats.disconnects += 1
        if kind == "stall":
            self.stats.stalls += 1
        self._fold_decoder(keep=not self.probing)
        self.probing = False
        self.error("serial", kind, message)

    def open_failed(self, message: str) -> None:
        """An attempt to open the port failed; logged at most once per ``log_interval``."""
        self.stats.open_failures += 1
        self.error("serial", "open_failed", message)
        now = self.clock()
        if now - self._last_connect_log >= self.log_interval:
            self._last_connect_log = now
            self.log.warning("%s: cannot open (%s); retrying with back-off", self.url, message)

    def error(self, layer: str, kind: str, message: str) -> None:
        """Record the latest error."""
        self.last_error = ReaderError(time.time(), layer, kind, message)

    # -- data --------------------------------------------------------------------------------

    def feed(self, data: bytes) -> tuple[list[Telegram], LineSettings | None]:
        """Bytes read. Returns the telegrams they complete and, if detection wants other line
        settings, those settings (apply them and discard what the port has buffered)."""
        self.stats.bytes_in += len(data)
        now = self.clock()
        if self._in_burst and now - self._last_data >= self.burst_gap:
            self._bursts += 1
        self._in_burst = True
        self._last_data = now
        dec = self._decoder
        telegrams = dec.feed(data)
        errors = dec.drain_errors()
        if errors:
            e = errors[-1]
            self.error(e.layer, e.kind, e.message)
        s = dec.stats
        if s.frames_ok > self._last_ok_count:
            self._last_ok_count = s.frames_ok
            self._bytes_since_ok = 0
            self.good_since_connect = True
            # the latest telegram that names its maker (Aidon's list 1 names none)
            named = [tg.manufacturer for tg in telegrams if tg.manufacturer]
            if named:
                self.manufacturer = named[-1]
            if self.probing or (self.detected is None and not self.transparent):
                self._accept()
        else:
            self._bytes_since_ok += len(data)
        switch = self._check_probe() if self.probing else self._check_reprobe()
        if not self.probing:
            self._log_damage()
        return telegrams, switch

    def tick(self) -> LineSettings | None:
        """Nothing was read for a while: time-based checks. Returns settings to switch to."""
        if self._in_burst and self.clock() - self._last_data >= self.burst_gap:
            self._in_burst = False
            self._bursts += 1
        if self.probing:
            return self._check_probe()
        self._log_damage()
        return None

    # -- counters ----------------------------------------------------------------------------

    def snapshot(self) -> ReaderStats:
        """The counters now, the current connection's decoder included."""
        out = ReaderStats(**self.stats.to_dict())
        live = self._decoder.stats.to_dict() if not self.probing else {}
        for name in _DECODER_FIELDS:
            setattr(out, name, self._folded[name] + live.get(name, 0))
        return out

    # -- internals ---------------------------------------------------------------------------

    def _new_decoder(self) -> None:
        self._decoder = Decoder(tz=self._tz, keys=self._keys)
        self._last_ok_count = 0
        self._bytes_since_ok = 0

    def _fold_decoder(self, *, keep: bool) -> None:
        d = self._decoder.stats.to_dict()
        if keep:
            for name in _DECODER_FIELDS:
                self._folded[name] += d[name]
        else:
            self.stats.probe_bytes += d["bytes_in"]
        self._new_decoder()

    def _start_probe(self, index: int) -> None:
        self._index = index % len(self.candidates)
        self.current = self.candidates[self._index]
        self.probing = self.auto
        self.stats.probes += self.auto
        self._probe_start = self.clock()
        self._bursts = 0
        self._in_burst = False
        if self.probing:
            self.log.debug("%s: trying %s", self.url, self.current)

    def _accept(self) -> None:
        self.probing = False
        self.detected = self.current
        took = self.clock() - self._probe_start
        how = "detected" if self.auto else "using"
        self.log.info(
            "%s: %s line settings %s%s after %.1f s",
            self.url,
            how,
            self.current,
            f" ({self.manufacturer} meter)" if self.manufacturer else "",
            took,
        )

    def _check_probe(self) -> LineSettings | None:
        s = self._decoder.stats
        bad = s.frames_bad_checksum + s.frames_malformed
        elapsed = self.clock() - self._probe_start
        if (
            s.bytes_in < self.probe_bytes
            and bad < self.probe_bad
            and self._bursts < self.probe_bursts
            and elapsed < self.probe_timeout
        ):
            return None
        self.log.debug(
            "%s: %s rejected: no valid frame in %d bytes, %d bursts, %d damaged, %.1f s",
            self.url,
            self.current,
            s.bytes_in,
            self._bursts,
            bad,
            elapsed,
        )
        self._fold_decoder(keep=False)
        nxt = self._index + 1
        if nxt >= len(self.candidates):
            self.log.warning(
                "%s: no line settings gave a valid frame (%s); trying again",
                self.url,
                ", ".join(str(c) for c in self.candidates),
            )
        self._start_probe(nxt)
        return self.current

    def _check_reprobe(self) -> LineSettings | None:
        if not self.auto or self._bytes_since_ok < self.reprobe_bytes:
            return None
        self.log.warning(
            "%s: no valid frame in %d bytes with %s; detecting the line settings again",
            self.url,
            self._bytes_since_ok,
            self.current,
        )
        self._fold_decoder(keep=True)
        self.detected = None
        self._start_probe(self._index + 1)
        return self.current

    def _log_damage(self) -> None:
        """One warning per ``log_interval`` at most, summing the damage since the last one."""
        now = self.clock()
        if now - self._last_damage_log < self.log_interval:
            return
        snap = self.snapshot()
        damaged = snap.frames_bad + snap.frames_undecodable
        if damaged <= self._damage_logged:
            return
        new = damaged - self._damage_logged
        skipped = snap.bytes_skipped - self._skipped_logged
        span = (
            ""
            if self._last_damage_log == -float("inf")
            else f" in {now - self._damage_since:.0f} s"
        )
        self.log.warning(
            "%s: %d damaged or undecodable frame(s)%s (%d bad checksum, %d malformed, "
            "%d undecodable in total), %d byte(s) skipped; last: %s",
            self.url,
            new,
            span,
            snap.frames_bad_checksum,
            snap.frames_malformed,
            snap.frames_undecodable,
            skipped,
            self.last_error,
        )
        self._damage_logged = damaged
        self._skipped_logged = snap.bytes_skipped
        self._last_damage_log = now
        self._damage_since = now


class ReaderState:
    """The read-only state both readers (sync and asyncio) expose, from their shared core."""

    _core: ReaderCore
    _port: object | None

    @property
    def stats(self) -> ReaderStats:
        """Counters over every connection so far (a snapshot)."""
        return self._core.snapshot()

    @property
    def last_error(self) -> ReaderError | None:
        """The latest problem: a damaged frame or a connection failure."""
        return self._core.last_error

    @property
    def detected(self) -> LineSettings | None:
        """The line settings that gave valid frames (None: not yet, or a ``socket://`` or
        ``loop://`` URL, whose bytes do not depend on them)."""
        return self._core.detected

    @property
    def line(self) -> LineSettings | None:
        """The line settings the port uses now (None: not connected, or not applicable)."""
        return self._core.current if self._port is not None else None

    @property
    def probing(self) -> bool:
        """True while line settings are being tried."""
        return self._core.probing

    @property
    def manufacturer(self) -> str | None:
        """The meter's manufacturer, from the latest telegram that names it."""
        return self._core.manufacturer

    @property
    def connected(self) -> bool:
        """True while the port is open."""
        return self._port is not None


@dataclass
class ReaderOptions:
    """The keyword arguments both readers take, validated once."""

    baudrate: int | None = None
    parity: str = "auto"
    meter: str | None = None
    candidates: tuple[LineSettings, ...] | None = None
    stall_timeout: float = 30.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_factor: float = 2.0
    probe_timeout: float = 25.0
    probe_bytes: int = 1024
    read_timeout: float = 0.1
    log_interval: float = 60.0
    tz: str = "Europe/Oslo"
    keys: Mapping[str, Any] | str | PathLike[str] | None = None
    logger: logging.Logger | None = None

    def __post_init__(self) -> None:
        if self.stall_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("stall_timeout and read_timeout must be positive")
        if self.read_timeout > self.stall_timeout:
            raise ValueError("read_timeout must not exceed stall_timeout")

    def core(self, url: str) -> ReaderCore:
        """A :class:`ReaderCore` for ``url`` with these options."""
        return ReaderCore(
            url,
            baudrate=self.baudrate,
            parity=self.parity,
            meter=self.meter,
            candidates=self.candidates,
            tz=self.tz,
            keys=self.keys,
            probe_timeout=self.probe_timeout,
            probe_bytes=self.probe_bytes,
            log_interval=self.log_interval,
            logger=self.logger,
        )

    def backoff(self) -> Backoff:
        """A :class:`Backoff` with these options."""
        return Backoff(self.backoff_initial, self.backoff_max, self.backoff_factor)


PYSERIAL_MISSING = (
    "hanport's serial reader needs pyserial: pip install 'hanport[serial]' "
    "(or pip install pyserial)"
)
