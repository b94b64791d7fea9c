"""Live reading of a HAN port: a blocking iterator of :class:`~hanport.Telegram`\\ s.

::

    from hanport.serial import SerialReader

    with SerialReader("/dev/ttyUSB0") as reader:  # or socket://host:port, rfc2217://, sim://
        for tg in reader:
            print(tg.list_id, tg.values)
            print(reader.detected, reader.stats.frames_ok, reader.last_error)

Anything ``serial.serial_for_url`` opens works; importing this module registers hanport's own
``sim://`` URL (a simulated meter, see :mod:`hanport.protocol_sim`). pyserial is an optional
dependency: ``pip install 'hanport[serial]'``.

The line settings are detected unless fixed: the candidates (the ``meter``'s settings first,
then 2400 8E1, 2400 8N1, 115200 8N1, 9600 8E1, 9600 8N1) are tried in turn and the first that
yields a valid frame is kept (:attr:`SerialReader.detected`, and a log line). Reads that stall
for ``stall_timeout`` seconds, read errors and a vanished device close the port; it is reopened
with capped exponential back-off until it comes back. Damaged frames are counted
(:attr:`SerialReader.stats`) and summed up in one warning per ``log_interval`` at most, on the
``hanport.serial`` logger.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from os import PathLike
from types import ModuleType, TracebackType
from typing import Any, Protocol

from hanport._core import Telegram
from hanport._live import (
    METER_LINE,
    PROBE_ORDER,
    PYSERIAL_MISSING,
    Backoff,
    LineSettings,
    ReaderCore,
    ReaderError,
    ReaderOptions,
    ReaderState,
    ReaderStats,
    candidate_settings,
    settings_errors,
)

__all__ = [
    "METER_LINE",
    "PROBE_ORDER",
    "Backoff",
    "LineSettings",
    "Port",
    "ReaderError",
    "ReaderStats",
    "SerialReader",
    "candidate_settings",
    "open_port",
    "pyserial",
]

HANDLER_PACKAGE = "hanport"
"""Where pyserial finds ``hanport.protocol_sim`` for ``sim://`` URLs."""

READ_SIZE = 4096


def pyserial() -> ModuleType:
    """Import pyserial and register hanport's URL handlers with it.

    Raises:
        ImportError: pyserial is not installed (the message says how to install it).
    """
    try:
        import serial
    except ImportError as e:
        raise ImportError(PYSERIAL_MISSING) from e
    if HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(HANDLER_PACKAGE)
    return serial


with contextlib.suppress(ImportError):  # register sim:// now if pyserial is there
    pyserial()


class Port(Protocol):
    """The parts of a pyserial port the readers use."""

    baudrate: int
    bytesize: int
    parity: str
    stopbits: float

    def read(self, size: int = 1, /) -> bytes: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...

    def fileno(self) -> int: ...


def open_port(url: str, settings: LineSettings | None, timeout: float | None) -> Port:
    """Open ``url`` with pyserial with these line settings (None: pyserial's defaults)."""
    serial = pyserial()
    kwargs: dict[str, Any] = settings.to_pyserial() if settings is not None else {}
    port: Port = serial.serial_for_url(url, timeout=timeout, **kwargs)
    return port


def check_url(url: str) -> None:
    """Raise ValueError now if pyserial has no handler for ``url``'s scheme (a typo is not
    worth retrying)."""
    pyserial().serial_for_url(url, do_not_open=True)


def cancel_read(port: Port) -> None:
    """Make a read blocked in another thread return, if the port can (POSIX, loop://, sim://)."""
    cancel = getattr(port, "cancel_read", None)
    if cancel is not None:
        with contextlib.suppress(Exception):
            cancel()


def apply_settings(port: Port, settings: LineSettings) -> None:
    """Switch an open port to ``settings`` and drop what it has buffered."""
    port.baudrate = settings.baudrate
    port.bytesize = settings.bytesize
    port.parity = settings.parity
    port.stopbits = settings.stopbits
    port.reset_input_buffer()


class SerialReader(ReaderState):
    """Telegrams from a serial port or URL, for as long as you iterate.

    Args:
        url: a device (``/dev/ttyUSB0``, ``COM3``) or a pyserial URL (``socket://host:port``,
            ``rfc2217://host:port``, ``loop://``, ``sim://kaifa?speed=10``...).
        baudrate: fix the baud rate (None: detect).
        parity: ``"auto"`` (detect), ``"N"``, ``"E"`` or ``"O"``.
        meter: ``"aidon"``, ``"kaifa"``, ``"kamstrup"`` or ``"p1"``: try its line settings
            first (2400 8E1, 2400 8E1, 2400 8N1, 115200 8N1).
        candidates: the line settings to try, in order (overrides the three above).
        stall_timeout: seconds without a byte after which the connection is dropped and made
            again (meters push at least every 10 s).
        backoff_initial, backoff_max, backoff_factor: reconnect delays, ``initial *
            factor**n`` capped at ``max`` (with 10 % jitter); reset by a valid frame.
        probe_timeout, probe_bytes: how long (seconds, bytes) detection waits for a valid frame
            before trying the next settings (3 damaged frames also reject them).
        read_timeout: seconds one read waits; the latency of :meth:`close` and the time
            granularity of the checks.
        log_interval: seconds between two warnings about damaged frames, at least.
        tz: time zone of the telegrams' date-times.
        keys: decryption keys, passed to :class:`hanport.Decoder`.
        logger: where to log (default: ``logging.getLogger("hanport.serial")``).

    Raises:
        ImportError: pyserial is not installed.
        ValueError: invalid options, or a URL scheme pyserial does not know.

    Iterating never raises for I/O problems: they are counted, logged, recorded in
    :attr:`last_error` and retried. :meth:`close` (from any thread) ends the iteration.
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int | None = None,
        parity: str = "auto",
        meter: str | None = None,
        candidates: Sequence[LineSettings] | None = None,
        stall_timeout: float = 30.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        backoff_factor: float = 2.0,
        probe_timeout: float = 25.0,
        probe_bytes: int = 1024,
        read_timeout: float = 0.1,
        log_interval: float = 60.0,
        tz: str = "Europe/Oslo",
        keys: Mapping[str, Any] | str | PathLike[str] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        check_url(url)
        self.url = url
        self.options = ReaderOptions(
            baudrate=baudrate,
            parity=parity,
            meter=meter,
            stall_timeout=stall_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            backoff_factor=backoff_factor,
            probe_timeout=probe_timeout,
            probe_bytes=probe_bytes,
            read_timeout=read_timeout,
            log_interval=log_interval,
            tz=tz,
            keys=keys,
            logger=logger,
            candidates=tuple(candidates) if candidates is not None else None,
        )
        self._core: ReaderCore = self.options.core(url)
        self._backoff: Backoff = self.options.backoff()
        self._port: Port | None = None
        self._pending: deque[Telegram] = deque()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._busy = False
        self._last_rx = 0.0
        self._retry_at = 0.0
        self._refusals = settings_errors()

    # -- state -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed.is_set()

    # -- iteration ---------------------------------------------------------------------------

    def __iter__(self) -> SerialReader:
        return self

    def __next__(self) -> Telegram:
        tg = self.read(None)
        if tg is None:
            raise StopIteration
        return tg

    def read(self, timeout: float | None = None) -> Telegram | None:
        """The next telegram; None if ``timeout`` seconds pass first or the reader is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if self._busy:
                raise RuntimeError("SerialReader is being read by another thread")
            self._busy = True
        try:
            while not self._pending:
                if self._closed.is_set():
                    self._disconnect()
                    return None
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                self._step(deadline)
            return self._pending.popleft()
        finally:
            with self._lock:
                self._busy = False
                if self._closed.is_set():
                    self._disconnect()

    def close(self) -> None:
        """Stop: the port is closed and iteration ends (safe from any thread)."""
        self._closed.set()
        with self._lock:
            busy = self._busy
        if not busy:
            self._disconnect()
            return
        port = self._port
        if port is not None:  # wake a blocked read; the reading thread closes the port
            cancel_read(port)

    def __enter__(self) -> SerialReader:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _wait(self, seconds: float, deadline: float | None) -> None:
        if deadline is not None:
            seconds = min(seconds, max(0.0, deadline - time.monotonic()))
        self._closed.wait(seconds)

    def _step(self, deadline: float | None) -> None:
        if self._port is None:
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                self._wait(wait, deadline)
                return
            if not self._connect():
                return
        port = self._port
        assert port is not None
        core = self._core
        try:
            data = port.read(READ_SIZE)
        except Exception as e:  # pyserial raises SerialException, OSError, and worse
            self._lost("read_failed", f"{type(e).__name__}: {e}")
            return
        now = time.monotonic()
        if data:
            self._last_rx = now
            telegrams, switch = core.feed(data)
            if core.good_since_connect:
                self._backoff.reset()
            self._pending.extend(telegrams)
        else:
            switch = core.tick()
            if now - self._last_rx >= self.options.stall_timeout:
                stall = self.options.stall_timeout
                self._lost("stall", f"nothing read for {stall:g} s")
                return
        if switch is not None:
            try:
                apply_settings(port, switch)
            except self._refusals as e:  # reopen with the next candidate
                core.refused(switch, f"{type(e).__name__}: {e}")
                self._disconnect()
            except Exception as e:
                self._lost("read_failed", f"cannot set {switch}: {e}")

    def _connect(self) -> bool:
        core = self._core
        problem = ""
        for _ in core.candidates:
            settings = core.open_settings()
            try:
                port = open_port(self.url, settings, self.options.read_timeout)
            except self._refusals as e:
                if settings is None:
                    problem = f"{type(e).__name__}: {e}"
                    break
                core.refused(settings, f"{type(e).__name__}: {e}")
                problem = f"every candidate line setting failed; the last: {type(e).__name__}: {e}"
                continue
            except Exception as e:  # pyserial raises SerialException, OSError, and worse
                problem = f"{type(e).__name__}: {e}"
                break
            self._port = port
            self._last_rx = time.monotonic()
            if core.stats.connects:
                core.log.info("%s: connected again", self.url)
            core.begin()
            return True
        core.open_failed(problem)
        self._retry_at = time.monotonic() + self._backoff.next()
        return False

    def _lost(self, kind: str, message: str) -> None:
        core = self._core
        self._disconnect()
        if self._closed.is_set():
            return
        core.end(kind, message)
        delay = self._backoff.next()
        self._retry_at = time.monotonic() + delay
        core.log.warning("%s: %s; reconnecting in %.1f s", self.url, message, delay)

    def _disconnect(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()
