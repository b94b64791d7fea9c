"""Live reading of a HAN port in asyncio: an async iterator of :class:`~hanport.Telegram`\\ s.

::

    from hanport.aio import AsyncSerialReader

    async with AsyncSerialReader("/dev/ttyUSB0") as reader:
        async for tg in reader:
            print(tg.list_id, tg.values, reader.detected)

Same options, counters, detection, stall timeout, back-off and logging as
:class:`hanport.serial.SerialReader`: both drive the same I/O-free core
(:mod:`hanport._live`) around the same sans-IO :class:`hanport.Decoder`.

How the bytes are read, by kind of URL (no third-party async serial package):

* ``socket://host:port``: an asyncio transport (the layer under asyncio streams): non-blocking
  connect, no thread, no pyserial at all.
* A device path on POSIX (``/dev/ttyUSB0``, a pty): pyserial opens and configures it (termios:
  baud rate, parity), then the event loop watches its file descriptor (``loop.add_reader``)
  and reads it non-blocking. This is what ``pyserial-asyncio(-fast)`` does; doing it here
  keeps one small code path we can cancel precisely, and spares a dependency whose
  transport/protocol API we would only wrap again.
* Everything else (``rfc2217://``, ``loop://``, ``sim://``, Windows ports): these have no file
  descriptor to watch (``pyserial-asyncio-fast`` does not support them either), so one thread
  per reader owns the pyserial port and does blocking reads of at most ``read_timeout``
  seconds, handing the bytes to the loop with ``call_soon_threadsafe``.

Cancellation is clean: cancelling the task that awaits :meth:`AsyncSerialReader.read` (or
iterates) closes the reader before the ``CancelledError`` propagates, so no task, thread or
file descriptor is left behind. The reader creates no tasks of its own. To poll without
closing, use ``read(timeout)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from os import PathLike
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit

from hanport._core import Telegram
from hanport._live import (
    Backoff,
    LineSettings,
    ReaderCore,
    ReaderOptions,
    ReaderState,
    settings_errors,
    url_scheme,
)
from hanport.serial import READ_SIZE, Port, apply_settings, cancel_read, check_url, open_port

__all__ = ["AsyncSerialReader"]

CONNECT_TIMEOUT = 10.0


def _resolve(fut: asyncio.Future[None], exc: BaseException | None = None) -> None:
    if not fut.done():
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)


class _Inbox:
    """Bytes handed over to the loop, and a reader waiting for them (no task involved)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._chunks: deque[bytes] = deque()
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put(self, data: bytes) -> None:
        self._chunks.append(data)
        self.wake()

    def fail(self, exc: BaseException) -> None:
        if self._exc is None:
            self._exc = exc
        self.wake()

    def clear(self) -> None:
        self._chunks.clear()

    def wake(self) -> None:
        if self._waiter is not None:
            _resolve(self._waiter)

    async def get(self, timeout: float) -> bytes:
        """What arrived; waits up to ``timeout`` seconds for something. Raises the failure."""
        if not self._chunks and self._exc is None:
            waiter: asyncio.Future[None] = self._loop.create_future()
            handle = self._loop.call_later(timeout, _resolve, waiter)
            self._waiter = waiter
            try:
                await waiter
            finally:
                handle.cancel()
                self._waiter = None
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks.clear()
            return data
        if self._exc is not None:
            raise self._exc
        return b""


class _Source(Protocol):
    inbox: _Inbox

    def apply(self, settings: LineSettings) -> None: ...

    async def close(self) -> None: ...


class _FdPort:
    """A POSIX serial device: pyserial configures it, the loop watches its descriptor."""

    def __init__(self, ser: Port, loop: asyncio.AbstractEventLoop) -> None:
        self.inbox = _Inbox(loop)
        self._ser = ser
        self._loop = loop
        self._fd: int = ser.fileno()
        self._watching = True
        loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._unwatch()
            self.inbox.fail(ConnectionError(f"read failed: {e}"))
            return
        if not data:
            self._unwatch()
            self.inbox.fail(ConnectionError("device reports end of file (disconnected?)"))
            return
        self.inbox.put(data)

    def _unwatch(self) -> None:
        if self._watching:
            self._watching = False
            self._loop.remove_reader(self._fd)

    def apply(self, settings: LineSettings) -> None:
        apply_settings(self._ser, settings)
        self.inbox.clear()

    async def close(self) -> None:
        self._unwatch()
        with contextlib.suppress(Exception):
            self._ser.close()


class _StreamPort(asyncio.Protocol):
    """``socket://host:port`` as an asyncio transport."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.inbox = _Inbox(loop)
        self._transport: asyncio.Transport | None = None
        self._closed: asyncio.Future[None] = loop.create_future()
        self._loop = loop

    async def open(self, url: str) -> None:
        parts = urlsplit(url)
        if not parts.hostname or parts.port is None:
            raise ValueError(f"expected socket://HOST:PORT, not {url!r}")
        # Not asyncio.wait_for: before Python 3.12 it can lose a cancellation that arrives as
        # the connection attempt fails (it raises the ConnectionRefusedError instead), and the
        # reader would go on retrying after its task was cancelled.
        connect = asyncio.ensure_future(
            self._loop.create_connection(lambda: self, parts.hostname, parts.port)
        )
        try:
            done, _ = await asyncio.wait({connect}, timeout=CONNECT_TIMEOUT)
        except BaseException:
            connect.cancel()
            await asyncio.wait({connect})  # finished before the cancellation goes on
            if not connect.cancelled():
                connect.exception()  # retrieved: the cancellation is what counts
            raise
        if not done:
            connect.cancel()
            await asyncio.wait({connect})
            raise asyncio.TimeoutError(f"no connection within {CONNECT_TIMEOUT:g} s")
        connect.result()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self.inbox.put(data)

    def eof_received(self) -> bool:
        self.inbox.fail(ConnectionError("socket closed by the peer"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.inbox.fail(ConnectionError(f"socket disconnected: {exc or 'closed'}"))
        _resolve(self._closed)

    def apply(self, settings: LineSettings) -> None:
        pass  # the remote end sets the line

    async def close(self) -> None:
        if self._transport is None:
            return
        self._transport.abort()
        # asyncio.wait neither cancels the future on time-out nor loses our own cancellation
        await asyncio.wait({self._closed}, timeout=1.0)


class _ThreadPort:
    """Any pyserial URL: a thread owns the port and does blocking reads."""

    def __init__(
        self,
        url: str,
        settings: LineSettings | None,
        read_timeout: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.inbox = _Inbox(loop)
        self._url = url
        self._settings = settings
        self._read_timeout = read_timeout
        self._loop = loop
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._request: LineSettings | None = None
        self._generation = 0
        self._ser: Port | None = None
        self._opened: asyncio.Future[None] = loop.create_future()
        self._done: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, name=f"hanport-aio {url}", daemon=True)

    async def open(self) -> None:
        self._thread.start()
        try:
            await asyncio.shield(self._opened)
        except BaseException:
            await self.close()
            raise

    def _call(self, fn: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(fn, *args)

    def _deliver(self, generation: int, data: bytes) -> None:
        if generation == self._generation:
            self.inbox.put(data)

    def _run(self) -> None:
        ser: Port | None = None
        try:
            try:
                ser = open_port(self._url, self._settings, self._read_timeout)
            except BaseException as e:
                self._call(_resolve, self._opened, e)
                return
            self._ser = ser
            self._call(_resolve, self._opened)
            while not self._stop.is_set():
                with self._lock:
                    request, self._request = self._request, None
                    generation = self._generation
                if request is not None:
                    apply_settings(ser, request)
                data = ser.read(READ_SIZE)
                if data:
                    self._call(self._deliver, generation, data)
        except Exception as e:
            self._call(self.inbox.fail, ConnectionError(f"{type(e).__name__}: {e}"))
        finally:
            if ser is not None:
                with contextlib.suppress(Exception):
                    ser.close()
            self._call(_resolve, self._done)

    def apply(self, settings: LineSettings) -> None:
        with self._lock:
            self._request = settings
            self._generation += 1
        self.inbox.clear()

    async def close(self) -> None:
        self._stop.set()
        if self._thread.ident is None:  # never started
            return
        ser = self._ser
        if ser is not None:
            cancel_read(ser)
        if self._thread.is_alive() or not self._done.done():
            await asyncio.shield(self._done)
        self._thread.join(1.0)  # it has closed the port and is returning


class AsyncSerialReader(ReaderState):
    """Telegrams from a serial port or URL, as an async iterator.

    Takes the arguments of :class:`hanport.serial.SerialReader`. Use it as an async context
    manager or call :meth:`aclose`; cancelling a pending :meth:`read` closes it too.

    Raises:
        ImportError: pyserial is needed for this URL and not installed (``socket://`` URLs do
            not need it).
        ValueError: invalid options, or a URL scheme pyserial does not know.
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
        scheme = url_scheme(url)
        self._kind = (
            "stream"
            if scheme == "socket"
            else "fd"
            if not scheme and os.name == "posix"
            else "thread"
        )
        if self._kind != "stream":
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
        self._port: _Source | None = None
        self._pending: deque[Telegram] = deque()
        self._closed = False
        self._busy = False
        self._idle: asyncio.Event | None = None
        self._sleeper: asyncio.Future[None] | None = None
        self._last_rx = 0.0
        self._retry_at = 0.0
        self._refusals = settings_errors()

    # -- state -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called (or a read was cancelled)."""
        return self._closed

    # -- iteration ---------------------------------------------------------------------------

    def __aiter__(self) -> AsyncSerialReader:
        return self

    async def __anext__(self) -> Telegram:
        tg = await self.read()
        if tg is None:
            raise StopAsyncIteration
        return tg

    async def read(self, timeout: float | None = None) -> Telegram | None:
        """The next telegram; None if ``timeout`` seconds pass first or the reader is closed.

        Cancelling this coroutine closes the reader (the port is released before the
        ``CancelledError`` propagates).
        """
        if self._busy:
            raise RuntimeError("AsyncSerialReader is being read by another task")
        deadline = None if timeout is None else time.monotonic() + timeout
        self._busy = True
        if self._idle is None:
            self._idle = asyncio.Event()
        self._idle.clear()
        try:
            while not self._pending:
                if self._closed:
                    await self._disconnect()
                    return None
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                await self._step(deadline)
            return self._pending.popleft()
        except asyncio.CancelledError:
            self._closed = True
            await self._disconnect()
            raise
        finally:
            self._busy = False
            self._idle.set()

    async def aclose(self) -> None:
        """Close the port and end the iteration (waits for a pending read to finish)."""
        self._closed = True
        if self._sleeper is not None:
            _resolve(self._sleeper)
        if self._busy and self._idle is not None:
            if self._port is not None:
                self._port.inbox.wake()
            await self._idle.wait()
        await self._disconnect()

    async def __aenter__(self) -> AsyncSerialReader:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- internals ---------------------------------------------------------------------------

    async def _sleep(self, seconds: float, deadline: float | None) -> None:
        if deadline is not None:
            seconds = min(seconds, max(0.0, deadline - time.monotonic()))
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(seconds, _resolve, fut)
        self._sleeper = fut
        try:
            await fut
        finally:
            handle.cancel()
            self._sleeper = None

    async def _open(self, settings: LineSettings | None) -> _Source:
        loop = asyncio.get_running_loop()
        if self._kind == "stream":
            stream = _StreamPort(loop)
            try:
                await stream.open(self.url)
            except BaseException:
                await stream.close()
                raise
            return stream
        if self._kind == "fd":
            ser = open_port(self.url, settings, 0)
            try:
                return _FdPort(ser, loop)
            except BaseException:
                ser.close()
                raise
        thread = _ThreadPort(self.url, settings, self.options.read_timeout, loop)
        await thread.open()
        return thread

    async def _step(self, deadline: float | None) -> None:
        if self._port is None:
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                await self._sleep(wait, deadline)
                return
            if not await self._connect():
                return
        port = self._port
        assert port is not None
        core = self._core
        try:
            data = await port.inbox.get(self.options.read_timeout)
        except Exception as e:  # ConnectionError, SerialException (an OSError), ...
            await self._lost("read_failed", str(e))
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
                await self._lost("stall", f"nothing read for {self.options.stall_timeout:g} s")
                return
        if switch is not None:
            try:
                port.apply(switch)
            except self._refusals as e:  # reopen with the next candidate
                core.refused(switch, f"{type(e).__name__}: {e}")
                await self._disconnect()
            except Exception as e:
                await self._lost("read_failed", f"cannot set {switch}: {e}")

    async def _connect(self) -> bool:
        core = self._core
        problem = ""
        for _ in core.candidates:
            settings = core.open_settings()
            try:
                port = await self._open(settings)
            except self._refusals as e:
                if settings is None:
                    problem = f"{type(e).__name__}: {e}"
                    break
                core.refused(settings, f"{type(e).__name__}: {e}")
                problem = f"every candidate line setting failed; the last: {type(e).__name__}: {e}"
                continue
            except Exception as e:  # OSError, SerialException, asyncio.TimeoutError, ...
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

    async def _lost(self, kind: str, message: str) -> None:
        await self._disconnect()
        if self._closed:
            return
        self._core.end(kind, message)
        delay = self._backoff.next()
        self._retry_at = time.monotonic() + delay
        self._core.log.warning("%s: %s; reconnecting in %.1f s", self.url, message, delay)

    async def _disconnect(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            await port.close()
