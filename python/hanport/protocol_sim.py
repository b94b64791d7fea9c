"""pyserial URL handler for ``sim://``: a simulated meter on a serial line, modelled per bit.

``import hanport.serial`` adds ``"hanport"`` to ``serial.protocol_handler_packages``; then
``serial.serial_for_url("sim://kaifa?phases=3&speed=10")`` opens a port on which a virtual
Kaifa meter (:class:`hanport.simulate.Simulator`) pushes its lists. The URL's host is the
meter (``aidon``, ``kaifa``, ``kamstrup``); options:

``phases``
    1 or 3 (default 3).
``speed``
    Simulated seconds per wall-clock second (default 1): the list cadence and the line
    itself run that much faster.
``noise``, ``drop``
    Per-byte probabilities of a flipped bit and of a lost byte (default 0).
``seed``
    Seed of the meter's randomness (default: random).
``start``
    ISO 8601 date-time of the meter clock when the port opens (default: now), e.g. a few
    seconds before a full hour to see list 3 at once.
``tz``
    Time zone of the meter clock (default ``Europe/Oslo``).
``line``
    The meter's line settings as ``BAUD-8E1`` (default: the vendor's, 2400 8E1 or 8N1).

The port honours the reader's ``baudrate``, ``bytesize``, ``parity`` and ``stopbits`` at all
times: the meter's bit stream is re-sampled by a UART with those settings
(:class:`hanport.simulate.UartReceiver`), so wrong settings give the garbage real hardware
gives. ``timeout`` is respected like pyserial's own ports (None blocks, 0 polls); reads can be
cancelled with :meth:`Serial.cancel_read`. Each open starts a new meter; what it pushes while
the port is closed is lost, as on a real line. Writes are accepted and ignored (a HAN port
only sends). The receive buffer holds 4096 bytes; the excess is lost and counted in
:attr:`Serial.overruns`.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, Literal, cast
from urllib.parse import parse_qs, urlsplit

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from hanport._encode import VENDORS
from hanport._live import LineSettings, Parity
from hanport.simulate import Simulator, UartReceiver, UartStats

__all__ = ["Serial", "parse_url"]

BUFFER_SIZE = 4096


def _line(text: str) -> LineSettings:
    baud, _, fmt = text.partition("-")
    fmt = fmt.upper() or "8N1"
    if len(fmt) != 3 or fmt[0] not in "5678" or fmt[1] not in "NEO" or fmt[2] not in "12":
        raise ValueError(f"line must look like 2400-8E1, not {text!r}")
    return LineSettings(int(baud), int(fmt[0]), cast(Parity, fmt[1]), int(fmt[2]))


def parse_url(url: str) -> dict[str, Any]:
    """The :class:`~hanport.simulate.Simulator` keyword arguments a ``sim://`` URL asks for.

    Raises:
        SerialException: the URL is not a valid ``sim://`` URL.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "sim":
        raise SerialException(f"expected a sim:// URL, not {url!r}")
    meter = (parts.hostname or "").lower()
    if meter not in VENDORS:
        raise SerialException(f"sim://METER: METER is one of {', '.join(VENDORS)}, not {meter!r}")
    out: dict[str, Any] = {"meter": meter}
    try:
        for key, values in parse_qs(parts.query, keep_blank_values=True).items():
            value = values[-1]
            if key == "phases":
                if value not in ("1", "3"):
                    raise ValueError("phases is 1 or 3")
                out["phases"] = cast(Literal[1, 3], int(value))
            elif key in ("speed", "noise", "drop"):
                out[key] = float(value)
            elif key == "seed":
                out["seed"] = int(value)
            elif key == "start":
                out["start"] = datetime.fromisoformat(value)
            elif key == "tz":
                out["tz"] = value
            elif key == "line":
                out["line"] = _line(value)
            else:
                raise ValueError(f"unknown option {key!r}")
    except ValueError as e:
        raise SerialException(f"bad sim:// URL {url!r}: {e}") from e
    return out


class Serial(SerialBase):
    """A serial port with a simulated meter on the other end (see the module documentation)."""

    BAUDRATES = (
        300,
        600,
        1200,
        1800,
        2400,
        4800,
        9600,
        19200,
        38400,
        57600,
        115200,
        230400,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.simulator: Simulator | None = None
        self._rx: UartReceiver | None = None
        self._buffer = bytearray()
        self._t0 = 0.0
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self.overruns = 0
        super().__init__(*args, **kwargs)

    # -- life cycle --------------------------------------------------------------------------

    def open(self) -> None:
        """Start a new simulated meter on this port."""
        if self.port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise SerialException("Port is already open.")
        options = parse_url(self.port)
        try:
            sim = Simulator(**options)
        except ValueError as e:
            raise SerialException(f"bad sim:// URL {self.port!r}: {e}") from e
        self.simulator = sim
        self._rx = UartReceiver(sim.line, self._settings())
        self._buffer.clear()
        self._cancel.clear()
        self._t0 = time.monotonic()
        self.is_open = True

    def close(self) -> None:
        """Close the port (a blocked :meth:`read` returns)."""
        self.is_open = False
        self._cancel.set()

    def from_url(self, url: str) -> dict[str, Any]:
        """The simulator options of ``url`` (see :func:`parse_url`)."""
        return parse_url(url)

    def _settings(self) -> LineSettings:
        parity = self.parity if self.parity in ("N", "E", "O") else "E"  # mark/space: present
        return LineSettings(
            int(self.baudrate), int(self.bytesize), cast(Parity, parity), int(self.stopbits)
        )

    def _reconfigure_port(self, *args: Any, **kwargs: Any) -> None:
        if self._rx is not None:
            self._rx.rx = self._settings()

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass

    # -- the simulated line ------------------------------------------------------------------

    @property
    def uart_stats(self) -> UartStats:
        """Characters received and framing/parity errors seen by the simulated UART."""
        return self._rx.stats if self._rx is not None else UartStats()

    def _now(self) -> float:
        assert self.simulator is not None
        return (time.monotonic() - self._t0) * self.simulator.speed

    def _pump(self) -> float:
        """Move the line to now; returns the wall seconds until more may arrive."""
        sim, rx = self.simulator, self._rx
        assert sim is not None
        assert rx is not None
        now = self._now()
        rx.add(sim.advance(now))
        data = rx.receive(now)
        if data:
            room = max(0, BUFFER_SIZE - len(self._buffer))
            self._buffer += data[:room]
            self.overruns += max(0, len(data) - room)
        nxt = rx.next_time()
        if nxt is None:
            nxt = sim.next_push
        return max(0.0, (nxt - now) / sim.speed)

    @property
    def in_waiting(self) -> int:
        """Bytes received and not read yet."""
        if not self.is_open:
            raise PortNotOpenError()
        with self._lock:
            self._pump()
            return len(self._buffer)

    def read(self, size: int = 1, /) -> bytes:
        """Read up to ``size`` bytes, waiting as ``timeout`` says (None: until ``size`` bytes)."""
        if not self.is_open:
            raise PortNotOpenError()
        timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if not self.is_open:
                    break
                wait = self._pump()
                if len(self._buffer) >= size:
                    break
            if self._cancel.is_set():
                self._cancel.clear()
                break
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(wait, left)
            self._cancel.wait(min(max(wait, 0.002), 0.05))
        with self._lock:
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
        return data

    def cancel_read(self) -> None:
        """Make a blocked :meth:`read` return what it has."""
        self._cancel.set()

    def write(self, data: Any, /) -> int:
        """Accepted and ignored: a HAN port only sends."""
        if not self.is_open:
            raise PortNotOpenError()
        return len(memoryview(data).cast("B"))

    def reset_input_buffer(self) -> None:
        """Drop what was received; the UART starts afresh at the next start bit."""
        if not self.is_open:
            raise PortNotOpenError()
        with self._lock:
            self._pump()
            self._buffer.clear()
            assert self._rx is not None
            self._rx.discard(self._now())

    def reset_output_buffer(self) -> None:
        """Nothing to do: writes are ignored."""

    @property
    def out_waiting(self) -> int:
        """Always 0."""
        return 0

    @property
    def cts(self) -> bool:
        """Clear To Send: always True."""
        return True

    @property
    def dsr(self) -> bool:
        """Data Set Ready: always True."""
        return True

    @property
    def ri(self) -> bool:
        """Ring Indicator: always False."""
        return False

    @property
    def cd(self) -> bool:
        """Carrier Detect: always True."""
        return True
