"""The live subcommands of the ``hanport`` command: ``read``, ``simulate`` and the live demo.

``hanport.cli`` calls :func:`register` with its subparsers; ``hanport demo --live`` calls
:func:`run_live_demo`. pyserial is needed by ``read`` and the demo only.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import IO, TYPE_CHECKING, Any, Literal, cast

from hanport._core import OBIS_TABLE
from hanport._encode import VENDORS, Vendor
from hanport._live import METERS, PYSERIAL_MISSING, ReaderStats

if TYPE_CHECKING:
    from hanport.serial import SerialReader

UNITS: dict[str, str] = {str(row["field"]): str(row["unit"]) for row in OBIS_TABLE}
FIELD_ORDER: dict[str, int] = {str(row["field"]): i for i, row in enumerate(OBIS_TABLE)}
RATE_WINDOW = 60.0
"""Seconds over which frames/s is computed."""
ROW_HEADER = ("offset", "maker", "list", "P+ W", "P- W", "I A", "U V", "A+ kWh", "meter time")
"""Columns of :func:`hanport.cli.telegram_row`."""


def register(subparsers: Any) -> None:
    """Add the ``read`` and ``simulate`` subcommands to ``hanport``'s subparsers."""
    rd = subparsers.add_parser(
        "read",
        help="read a meter live from a serial port or URL",
        description="Read telegrams live from a serial port (/dev/ttyUSB0, COM3) or a pyserial "
        "URL (socket://host:port, rfc2217://host:port, sim://kaifa?speed=10). Line settings "
        "are detected unless given. Needs pyserial: pip install 'hanport[serial]'.",
    )
    rd.add_argument("port", metavar="PORT_OR_URL", help="serial device or pyserial URL")
    rd.add_argument(
        "--format",
        choices=("table", "jsonl"),
        default="table",
        help="a live table of the latest values (default) or one JSON object per telegram",
    )
    rd.add_argument("--count", type=int, metavar="N", help="stop after N telegrams")
    rd.add_argument("--baudrate", type=int, metavar="B", help="fix the baud rate")
    rd.add_argument(
        "--parity", choices=("auto", "N", "E", "O"), default="auto", help="fix the parity"
    )
    rd.add_argument("--meter", choices=METERS, help="try this meter's line settings first")
    rd.add_argument(
        "--stall-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="reconnect after S seconds without a byte (default 30)",
    )
    rd.add_argument("--tz", default="Europe/Oslo", help="time zone of the date-times")
    rd.add_argument(
        "--keys",
        metavar="FILE",
        help="JSON/TOML key file of encrypted meters (system title -> key)",
    )
    rd.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    rd.set_defaults(func=cmd_read)

    sim = subparsers.add_parser(
        "simulate",
        help="run a simulated meter on a pty, a TCP port or into a file",
        description="A virtual Aidon, Kaifa or Kamstrup meter: realistic list cadence and "
        "physics, valid frames. Read it with 'hanport read'.",
    )
    sim.add_argument("--meter", choices=VENDORS, required=True)
    sim.add_argument("--phases", type=int, choices=(1, 3), default=3)
    out = sim.add_mutually_exclusive_group(required=True)
    out.add_argument("--pty", action="store_true", help="create a pseudo-terminal; prints its path")
    out.add_argument("--tcp", type=int, metavar="PORT", help="serve on TCP PORT (0: any free)")
    out.add_argument("-o", "--output", metavar="FILE", help="write the byte stream to FILE")
    sim.add_argument("--host", default="127.0.0.1", help="address for --tcp (default loopback)")
    sim.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="run X times faster than real time"
    )
    sim.add_argument(
        "--noise", type=float, default=0.0, metavar="P", help="probability a byte is damaged"
    )
    sim.add_argument(
        "--drop", type=float, default=0.0, metavar="P", help="probability a byte is lost"
    )
    sim.add_argument("--seed", type=int, help="seed of the meter's randomness")
    sim.add_argument(
        "--start", type=datetime.fromisoformat, help="meter clock at start (ISO 8601; default now)"
    )
    sim.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="simulated seconds to run (default: until interrupted; 600 with -o)",
    )
    sim.add_argument("-v", "--verbose", action="store_true", help="print every push on stderr")
    sim.set_defaults(func=cmd_simulate)


# --------------------------------------------------------------------------------------------
# read
# --------------------------------------------------------------------------------------------


class Rate:
    """Frames per second over a sliding window."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, now: float, count: int) -> float:
        """Record ``count`` (a running total) at ``now``; returns the rate over the window."""
        self._samples.append((now, count))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()
        t0, c0 = self._samples[0]
        return (count - c0) / (now - t0) if now > t0 else 0.0


def _fmt_value(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".")
    if isinstance(v, datetime):
        return v.isoformat(timespec="seconds")
    return str(v)


def status_lines(reader: SerialReader, rate: float) -> list[str]:
    """What the reader detected and counted, for the table and stderr."""
    s: ReaderStats = reader.stats
    if reader.probing and reader.line is not None:
        line = f"line: trying {reader.line}"
    elif reader.detected is not None:
        line = f"line {reader.detected}"
    elif reader.connected and reader.line is None:
        line = "line settings: not applicable (set by the remote end or a pty)"
    else:
        line = "line: not detected yet"
    err = reader.last_error
    return [
        f"{reader.url}  {line}  meter {reader.manufacturer or '?'}  "
        f"{'connected' if reader.connected else 'DISCONNECTED'}",
        f"telegrams {s.telegrams}  frames ok {s.frames_ok} ({rate:.2f}/s)  "
        f"bad checksum {s.frames_bad_checksum}  malformed {s.frames_malformed}  "
        f"undecodable {s.frames_undecodable}  skipped {s.bytes_skipped} B  "
        f"reconnects {max(0, s.connects - 1)}  open failures {s.open_failures}",
        f"last error: {err if err is not None else '-'}",
    ]


def value_rows(latest: dict[str, tuple[object, float]], now: float) -> list[list[str]]:
    """One row per field: name, value, unit, age."""
    rows = []
    for name in sorted(latest, key=lambda n: (FIELD_ORDER.get(n, 999), n)):
        value, at = latest[name]
        rows.append([name, _fmt_value(value), UNITS.get(name, ""), f"{now - at:.0f} s"])
    return rows


class _Screen:
    """Redraws in place on a terminal; prints one line per telegram otherwise."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.tty = out.isatty()
        self.header_done = False

    def draw(self, lines: list[str]) -> None:
        self.out.write("\x1b[H\x1b[J" + "\n".join(lines) + "\n")
        self.out.flush()


def cmd_read(args: argparse.Namespace) -> int:
    """``hanport read``: telegrams from a port, live."""
    logging.basicConfig(
        level=max(logging.DEBUG, logging.WARNING - 10 * args.verbose),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        from hanport.serial import SerialReader

        reader = SerialReader(
            args.port,
            baudrate=args.baudrate,
            parity=args.parity,
            meter=args.meter,
            stall_timeout=args.stall_timeout,
            tz=args.tz,
            keys=args.keys,
        )
    except ImportError as e:
        print(f"hanport: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"hanport: {e}", file=sys.stderr)
        return 2
    from hanport.cli import _table, telegram_row

    out = sys.stdout
    screen = _Screen(out)
    rate = Rate()
    latest: dict[str, tuple[object, float]] = {}
    n = 0
    announced = False
    last_draw = 0.0
    try:
        with reader:
            while args.count is None or n < args.count:
                tg = reader.read(timeout=1.0)
                now = time.monotonic()
                fps = rate.update(now, reader.stats.frames_ok)
                if reader.detected is not None and not announced:
                    announced = True
                    print(
                        f"hanport: {reader.url}: line settings {reader.detected} detected"
                        f" ({reader.manufacturer or 'unknown'} meter)",
                        file=sys.stderr,
                    )
                if tg is not None:
                    n += 1
                    if args.format == "jsonl":
                        out.write(json.dumps(tg.to_dict(), ensure_ascii=False) + "\n")
                        out.flush()
                        continue
                    for name, value in tg.values.items():
                        latest[name] = (value, now)
                    if not screen.tty:
                        lines = _table(ROW_HEADER, [telegram_row(tg)])
                        out.write(("\n".join(lines[:2]) + "\n") if not screen.header_done else "")
                        out.write(lines[2] + "\n")
                        out.flush()
                        screen.header_done = True
                        continue
                if (
                    args.format == "table"
                    and screen.tty
                    and (tg is not None or now - last_draw >= 1)
                ):
                    last_draw = now
                    rows = value_rows(latest, now)
                    body = _table(("field", "value", "unit", "age"), rows) if rows else []
                    screen.draw([*status_lines(reader, fps), "", *body])
    except KeyboardInterrupt:
        pass
    for line in status_lines(reader, rate.update(time.monotonic(), reader.stats.frames_ok)):
        print(f"hanport: {line}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    """``hanport simulate``: a virtual meter on a pty, a TCP port or into a file."""
    from hanport.simulate import PtySimulator, Simulator, TcpSimulator, write_file

    try:
        sim = Simulator(
            cast(Vendor, args.meter),
            cast(Literal[1, 3], args.phases),
            speed=args.speed,
            noise=args.noise,
            drop=args.drop,
            seed=args.seed,
            start=args.start,
        )
    except ValueError as e:
        print(f"hanport: {e}", file=sys.stderr)
        return 2
    desc = f"{args.meter} {args.phases}-phase meter, {sim.line}, speed {args.speed:g}"
    if args.output is not None:
        seconds = args.duration if args.duration is not None else 600.0
        n = write_file(
            sim,
            args.output,
            seconds,
            on_burst=(
                (lambda b: print(f"t={b.push.t:8.1f} s list {b.push.list_no}", file=sys.stderr))
                if args.verbose
                else None
            ),
        )
        print(f"hanport: {desc}: {sim.pushes} pushes, {n} bytes in {args.output}", file=sys.stderr)
        return 0
    runner: PtySimulator | TcpSimulator
    if args.pty:
        runner = PtySimulator(sim)
        where = runner.start()
    else:
        runner = TcpSimulator(sim, args.tcp, args.host)
        where = runner.start()
    print(where, flush=True)
    print(f"hanport: {desc} on {where}; Ctrl-C stops", file=sys.stderr)
    wall = None if args.duration is None else args.duration / args.speed
    t0 = time.monotonic()
    seen = 0
    try:
        while wall is None or time.monotonic() - t0 < wall:
            time.sleep(0.2)
            if runner.error is not None:
                raise runner.error
            if args.verbose and sim.pushes > seen:
                print(f"hanport: {sim.pushes} pushes, {sim.bytes_sent} bytes", file=sys.stderr)
                seen = sim.pushes
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
    return 0


# --------------------------------------------------------------------------------------------
# demo --live
# --------------------------------------------------------------------------------------------

DEMO_METERS: tuple[tuple[Vendor, Literal[1, 3]], ...] = (
    ("aidon", 3),
    ("kaifa", 1),
    ("kamstrup", 3),
)


def run_live_demo(args: argparse.Namespace) -> int:
    """``hanport demo --live``: for each vendor, a simulated meter on a pty read back by
    :class:`hanport.serial.SerialReader`; prints the telegrams and what the reader saw.

    Uses ``args.per_file`` (telegrams per meter, default 6) and ``args.speed`` (default 20) if
    present. The meter clocks start 5 s before a full hour, so list 3 shows up too.
    """
    try:
        from hanport.serial import SerialReader, pyserial

        pyserial()
    except ImportError:
        print(f"hanport: {PYSERIAL_MISSING}", file=sys.stderr)
        return 2
    from hanport.cli import _table, telegram_row
    from hanport.simulate import PtySimulator, Simulator

    per_meter = max(1, int(getattr(args, "per_file", 6) or 6))
    speed = float(getattr(args, "speed", None) or 20.0)
    now = datetime.now(timezone.utc)
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1, seconds=-5)
    status = 0
    for i, (vendor, phases) in enumerate(DEMO_METERS):
        sim = Simulator(vendor, phases, speed=speed, seed=2024 + i, start=start)
        with PtySimulator(sim) as pty, SerialReader(pty.port, meter=vendor) as reader:
            print(f"\n{vendor} {phases}-phase meter ({sim.line}) on {pty.port}, speed {speed:g}")
            rows: list[Sequence[str]] = []
            deadline = time.monotonic() + max(10.0, 20 * per_meter / speed * 10)
            while len(rows) < per_meter and time.monotonic() < deadline:
                tg = reader.read(timeout=0.5)
                if tg is not None:
                    rows.append(telegram_row(tg))
            for line in _table(ROW_HEADER, rows) if rows else ["(no telegram)"]:
                print("  " + line)
            s = reader.stats
            print(
                f"  reader: {s.telegrams} telegrams, {s.frames_ok} frames ok, "
                f"{s.frames_bad} damaged, {s.bytes_in} bytes"
            )
            if len(rows) < per_meter:
                status = 1
    return status
