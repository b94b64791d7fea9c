"""``hanport decode``: bulk-decode capture files to JSON Lines, CSV or Parquet.

Files are read with :func:`hanport.iter_file` (binary, hex text and hex dumps, gzip, zstd; bounded
memory), several at a time with ``--jobs`` (the decoder releases the GIL). Every row has the same
columns whatever the file: ``source``, the telegram columns of :class:`hanport.Batch` and one
column per numeric field of the OBIS table. Unusable paths are reported and make the exit status
2; damaged data is skipped, counted and summarised, and never fails the run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from hanport._core import OBIS_TABLE, Batch, iter_file

BASE_COLUMNS = (
    "source",
    "offset",
    "manufacturer",
    "list_id",
    "meter_id",
    "meter_type",
    "meter_time",
    "notification_time",
    "flags",
)
NUMBER_FIELDS = tuple(str(r["field"]) for r in OBIS_TABLE if r["kind"] == "number")
COLUMNS = BASE_COLUMNS + NUMBER_FIELDS
FLAG_NAMES = (
    "implausible_voltage",
    "implausible_current",
    "power_inconsistent",
    "repeated_snapshot",
    "register_backwards",
    "clock_drift",
)


def register(subparsers: Any) -> None:
    """Add the ``decode`` subcommand to ``hanport``'s subparsers."""
    p = subparsers.add_parser(
        "decode",
        help="bulk-decode capture files to JSON Lines, CSV or Parquet",
        description="Decode capture files (raw binary, hex text or dumps, gzip, zstd; "
        "directories are searched recursively) into one row per telegram.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="capture files or directories")
    p.add_argument(
        "--format",
        choices=("jsonl", "csv", "parquet"),
        default="jsonl",
        help="output format (parquet needs pyarrow: pip install 'hanport[arrow]')",
    )
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="files decoded in parallel")
    p.add_argument(
        "--input-format",
        choices=("auto", "binary", "hex", "gzip", "zstd"),
        default="auto",
        help="how to read the inputs (default: detect)",
    )
    p.add_argument("--tz", default="Europe/Oslo", help="zone of wall-clock meter times")
    p.add_argument(
        "--keys",
        metavar="FILE",
        help="JSON/TOML key file of encrypted meters (system title -> key)",
    )
    p.add_argument(
        "--batch-bytes",
        type=int,
        default=2 << 20,
        metavar="B",
        help="capture bytes per batch (memory stays within a few of these per file)",
    )
    p.set_defaults(func=cmd_decode)


@dataclass
class Summary:
    """What a run did."""

    files: int = 0
    telegrams: int = 0
    errors: int = 0
    bytes_in: int = 0
    bytes_skipped: int = 0
    problems: list[str] = field(default_factory=list)
    bad_paths: list[str] = field(default_factory=list)


def expand(paths: Sequence[str], summary: Summary) -> list[Path]:
    """Files named by ``paths`` (directories searched recursively); bad paths go to summary."""
    out: list[Path] = []
    for arg in paths:
        p = Path(arg)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            summary.bad_paths.append(f"{arg}: no such file or directory")
    return out


def _flag_names(bits: int) -> str:
    return ",".join(n for i, n in enumerate(FLAG_NAMES) if bits >> i & 1)


def batch_rows(batch: Batch) -> Iterator[dict[str, Any]]:
    """Flat rows (every column of :data:`COLUMNS`) of a batch, without pyarrow."""
    src = batch.source
    for tg in batch.telegrams():
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(
            source=src,
            offset=tg.offset,
            manufacturer=tg.manufacturer,
            list_id=tg.list_id,
            meter_id=tg.meter_id,
            meter_type=tg.meter_type,
            meter_time=tg.meter_time,
            notification_time=tg.notification_time,
            flags=",".join(tg.flags),
        )
        for k, v in tg.values.items():
            if k in row and k not in BASE_COLUMNS and isinstance(v, int | float):
                row[k] = float(v)
        yield row


def arrow_rows(batch: Batch) -> Iterator[dict[str, Any]]:
    """Like :func:`batch_rows`, through pyarrow (faster for large batches)."""
    for r in batch.to_arrow().to_pylist():
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(r)
        row["source"] = batch.source
        row["flags"] = _flag_names(int(r["flags"]))
        yield row


def _have_pyarrow() -> bool:
    try:
        import pyarrow  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


def _json_value(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


class _TextSink:
    def __init__(self, out: IO[str], fmt: str, use_arrow: bool) -> None:
        self.out = out
        self.fmt = fmt
        self.rows = arrow_rows if use_arrow else batch_rows
        self.csv: Any = None
        if fmt == "csv":
            self.csv = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
            self.csv.writeheader()

    def write(self, batch: Batch) -> None:
        for row in self.rows(batch):
            if self.csv is not None:
                self.csv.writerow({k: _json_value(v) for k, v in row.items()})
            else:
                clean = {k: _json_value(v) for k, v in row.items() if v is not None}
                self.out.write(json.dumps(clean, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self.out.flush()


class _ParquetSink:
    def __init__(self, path: str, tz: str) -> None:
        from hanport._arrow import full_schema, require_pyarrow

        require_pyarrow()
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        self.writer = pq.ParquetWriter(path, full_schema(tz))

    def write(self, batch: Batch) -> None:
        from hanport._arrow import conform

        self.writer.write_table(conform(batch))

    def close(self) -> None:
        self.writer.close()


def _stream_path(path: Path, args: argparse.Namespace) -> Iterator[Batch] | str:
    """The batches of one file, decoded lazily (bounded memory), or why it cannot be read."""
    try:
        return iter(
            iter_file(
                path,
                keys=args.keys,
                tz=args.tz,
                format=args.input_format,
                batch_bytes=args.batch_bytes,
            )
        )
    except OSError as e:
        return f"{path}: {e.strerror or e}"


def _decode_path(path: Path, args: argparse.Namespace) -> list[Batch] | str:
    """Every batch of one file (for decoding several files in parallel), or why it could not
    be read."""
    batches = _stream_path(path, args)
    if isinstance(batches, str):
        return batches
    try:
        return list(batches)
    except OSError as e:
        return f"{path}: {e.strerror or e}"


def _ordered(
    fn: Callable[[Path], Iterable[Batch] | str], paths: Sequence[Path], jobs: int
) -> Iterator[tuple[Path, Iterable[Batch] | str]]:
    """``fn`` over paths, ``jobs`` at a time (at most ``2 * jobs`` results held), in order."""
    if jobs <= 1:
        for p in paths:
            yield p, fn(p)
        return
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        window: deque[tuple[Path, Future[Iterable[Batch] | str]]] = deque()
        it = iter(paths)
        for p in it:
            window.append((p, ex.submit(fn, p)))
            if len(window) >= 2 * jobs:
                q, f = window.popleft()
                yield q, f.result()
        while window:
            q, f = window.popleft()
            yield q, f.result()


def _progress(total: int) -> Any:
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, desc="decode")


def cmd_decode(args: argparse.Namespace) -> int:
    """Run ``hanport decode``."""
    summary = Summary()
    paths = expand(args.paths, summary)
    if args.format == "parquet" and not args.output:
        print("hanport decode: --format parquet needs -o OUT", file=sys.stderr)
        return 2
    sink: _TextSink | _ParquetSink
    out_file: IO[str] | None = None
    try:
        if args.format == "parquet":
            sink = _ParquetSink(args.output, args.tz)
        else:
            if args.output:
                out_file = open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
            sink = _TextSink(out_file or sys.stdout, args.format, _have_pyarrow())
    except ImportError as e:
        print(f"hanport decode: {e}", file=sys.stderr)
        return 2
    bar = _progress(sum(os.path.getsize(p) for p in paths))
    try:
        # one file at a time streams batch by batch (memory bounded whatever the file size);
        # --jobs N decodes N files at once, each held whole until written
        decode: Callable[[Path], Iterable[Batch] | str] = (
            (lambda p: _stream_path(p, args))
            if args.jobs <= 1
            else (lambda p: _decode_path(p, args))
        )
        for path, result in _ordered(decode, paths, args.jobs):
            if isinstance(result, str):
                summary.bad_paths.append(result)
                continue
            summary.files += 1
            try:
                for batch in result:
                    s = batch.stats
                    summary.telegrams += len(batch)
                    summary.errors += len(batch.errors)
                    summary.bytes_in += s.bytes_in
                    summary.bytes_skipped += s.bytes_skipped
                    if batch.input_error:
                        summary.problems.append(f"{path}: {batch.input_error}")
                    sink.write(batch)
            except OSError as e:  # the file became unreadable while streaming
                summary.bad_paths.append(f"{path}: {e.strerror or e}")
            if bar is not None:
                bar.update(path.stat().st_size)
    finally:
        sink.close()
        if out_file is not None:
            out_file.close()
        if bar is not None:
            bar.close()
    for msg in summary.bad_paths:
        print(f"hanport decode: {msg}", file=sys.stderr)
    for msg in summary.problems:
        print(f"hanport decode: input ended early: {msg}", file=sys.stderr)
    print(
        f"hanport decode: {summary.files} files, {summary.telegrams} telegrams, "
        f"{summary.errors} error records, {summary.bytes_skipped} of {summary.bytes_in} bytes "
        "skipped",
        file=sys.stderr,
    )
    return 2 if summary.bad_paths else 0
