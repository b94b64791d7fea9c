"""The ``hanport`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from hanport._core import Decoder, __version__

CHUNK = 256  # bytes per read, about what a UART driver hands over at a time


def sample_paths() -> list[Path]:
    """The bundled real captures, sorted by name."""
    root = resources.files("hanport") / "samples"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".bin"))


def _split_file(path: Path) -> tuple[Decoder, int]:
    dec = Decoder()
    frames = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            frames += len(dec.feed(chunk))
    frames += len(dec.flush())
    return dec, frames


def cmd_demo(args: argparse.Namespace) -> int:
    """Split the bundled captures and print what was found in each."""
    paths = [Path(p) for p in args.paths] or sample_paths()
    header = ("capture", "bytes", "frames", "bad checksum", "malformed", "bytes skipped")
    rows: list[tuple[str, ...]] = []
    for path in paths:
        dec, frames = _split_file(path)
        s = dec.stats
        rows.append(
            (
                path.stem[:60],
                str(s.bytes_in),
                str(frames),
                str(s.frames_bad_checksum),
                str(s.frames_malformed),
                str(s.bytes_skipped),
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        )

    print(f"hanport {__version__}: HDLC frames in the bundled real captures")
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hanport`` command."""
    p = argparse.ArgumentParser(prog="hanport", description="Decode smart-meter HAN port data.")
    p.add_argument("--version", action="version", version=f"hanport {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="split the bundled real captures and print a table")
    demo.add_argument("paths", nargs="*", help="capture files to use instead of the samples")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hanport`` command."""
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except BrokenPipeError:
        return 0
    except OSError as e:
        print(f"hanport: {e}", file=sys.stderr)
        return 2
    return result
