"""The ``hanport`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from hanport._core import (
    Decoder,
    HdlcFrame,
    Telegram,
    __version__,
    decode_frame,
    flag_manufacturer,
)
from hanport.errors import DecodeError

CHUNK = 256  # bytes per read, about what a UART driver hands over at a time


def sample_paths() -> list[Path]:
    """The bundled real captures, sorted by name."""
    root = resources.files("hanport") / "samples"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".bin"))


def _decode_file(path: Path) -> tuple[Decoder, list[Telegram]]:
    dec = Decoder()
    out: list[Telegram] = []
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            out.extend(dec.feed(chunk))
    out.extend(dec.flush())
    return dec, out


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        cells = (
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        return "  ".join(cells).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _fmt(v: object, digits: int) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _triple(values: dict[str, object], name: str, digits: int) -> str:
    parts = [values.get(f"{name}_l{i}") for i in (1, 2, 3)]
    return "/".join(_fmt(p, digits) for p in parts if p is not None) or "-"


def telegram_row(tg: Telegram) -> list[str]:
    """One line of the demo's telegram table."""
    v: dict[str, object] = dict(tg.values)
    t = tg.meter_time or tg.notification_time
    energy = v.get("active_energy_import")
    return [
        str(tg.offset),
        tg.manufacturer or "?",
        tg.list_id or "-",
        _fmt(v.get("active_power_import"), 0),
        _fmt(v.get("active_power_export"), 0),
        _triple(v, "current", 2),
        _triple(v, "voltage", 1),
        "-" if energy is None else f"{float(str(energy)) / 1000:.2f}",
        t.isoformat(timespec="seconds") if t else "-",
    ]


def cmd_demo(args: argparse.Namespace) -> int:
    """Decode the bundled real captures and print what was found in each."""
    if args.live:
        from hanport._cli_live import run_live_demo

        return run_live_demo(args)
    paths = [Path(p) for p in args.paths] or sample_paths()
    summary: list[list[str]] = []
    for path in paths:
        dec, telegrams = _decode_file(path)
        s = dec.stats
        summary.append(
            [
                path.stem[:48],
                str(s.bytes_in),
                str(s.frames_ok),
                str(s.telegrams),
                str(s.frames_bad_checksum),
                str(s.frames_malformed),
                str(s.bytes_skipped),
            ]
        )
        print(f"\n{path.name}: {s.telegrams} telegrams from {s.frames_ok} frames")
        shown: list[Telegram] = []
        seen: set[tuple[str | None, int]] = set()
        for tg in telegrams:  # the first telegram of each list shape, then every n-th
            key = (tg.list_id, len(tg.objects))
            if key not in seen or len(shown) < args.per_file // 2:
                seen.add(key)
                shown.append(tg)
            if len(shown) >= args.per_file:
                break
        header = ("offset", "maker", "list", "P+ W", "P- W", "I A", "U V", "A+ kWh", "meter time")
        for line in _table(header, [telegram_row(t) for t in shown]):
            print("  " + line)
    print(f"\nhanport {__version__}: summary")
    cols = ("capture", "bytes", "frames", "telegrams", "bad checksum", "malformed", "skipped")
    for line in _table(cols, summary):
        print(line)
    return 0


def _read_frame_arg(arg: str) -> bytes:
    path = Path(arg)
    if path.is_file():
        raw = path.read_bytes()
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return raw
        return bytes.fromhex("".join(c for c in text if c in "0123456789abcdefABCDEF"))
    return bytes.fromhex("".join(c for c in arg if not c.isspace() and c not in ":-,"))


def _axdr_length(b: bytes, at: int) -> tuple[int, int] | None:
    """An A-XDR length at ``b[at]``: (value, bytes it took), or None when cut short."""
    if at >= len(b):
        return None
    first = b[at]
    if first < 0x80:
        return first, 1
    n = first & 0x7F
    if n == 0 or n > 4 or at + 1 + n > len(b):
        return None
    return int.from_bytes(b[at + 1 : at + 1 + n], "big"), 1 + n


def _explain_ciphered(apdu: bytes, at: int) -> list[str]:
    """The header of a general-glo/ded-ciphering APDU (``DB``/``DC``) starting at byte ``at``
    of the frame; never its contents."""
    name = "general-glo-ciphering" if apdu[0] == 0xDB else "general-ded-ciphering"
    if len(apdu) < 2 or apdu[1] != 8 or len(apdu) < 10:
        return [f"CIPHER {apdu[0]:02x} {name}; system title missing or not 8 bytes"]
    title = apdu[2:10]
    maker = flag_manufacturer(title) or "unknown maker"
    out = [f"CIPHER {apdu[0]:02x} {name}; system title {title.hex()} ({maker})"]
    length = _axdr_length(apdu, 10)
    if length is None or 10 + length[1] + 5 > len(apdu):
        out.append("       security header cut short")
        return out
    n, took = length
    sc_at = 10 + took
    sc = apdu[sc_at]
    ic = int.from_bytes(apdu[sc_at + 1 : sc_at + 5], "big")
    tag = 12 if sc & 0x10 else 0
    modes = ("authenticated + " if sc & 0x10 else "") + ("encrypted" if sc & 0x20 else "plain")
    out.append(
        f"       [{at + sc_at}] security control 0x{sc:02x} ({modes}, suite {sc & 0x0F}); "
        f"invocation counter {ic}; {n - 5 - tag} bytes of ciphertext"
        + (", 12-byte tag" if tag else ", no tag")
    )
    return out


def explain(data: bytes, keys: Any = None) -> list[str]:
    """An annotated, layer-by-layer description of one frame (``keys`` as for
    ``decode_frame``: encrypted frames are shown decrypted when their key is given)."""
    out: list[str] = [f"{len(data)} bytes: {data.hex(' ')}"]
    if data[:1] == b"\x7e":
        try:
            f = HdlcFrame.parse(data)
        except DecodeError as e:
            out.append(f"HDLC   INVALID: {e} [{e.layer}/{e.kind} at byte {e.offset}]")
            return out
        hdr = 3 + len(f.dest_address) + len(f.source_address) + 1
        out += [
            f"HDLC   [0] flag 7e; [1-2] format {data[1:3].hex()}: type A, "
            f"segmented={f.segmented}, length={f.length}",
            f"       [3] dest {f.dest_address.hex()}, src {f.source_address.hex()}, "
            f"control 0x{f.control:02x}; HCS {data[hdr : hdr + 2].hex()} ok",
            f"       [{hdr + 2}] information {len(f.information)} bytes; "
            f"FCS {data[-3:-1].hex()} ok; closing flag",
        ]
        info, info_at = f.information, hdr + 2
    else:
        info, info_at = data, 0
    if info[:3] in (b"\xe6\xe7\x00", b"\xe6\xe6\x00"):
        out.append(f"LLC    {info[:3].hex(' ')} (dest LSAP e6, src LSAP {info[1]:02x}, quality 00)")
        apdu, apdu_at = info[3:], info_at + 3
    else:
        apdu, apdu_at = info, info_at
    if apdu[:1] in (b"\xdb", b"\xdc"):
        out += _explain_ciphered(apdu, apdu_at)
    if apdu[:1] == b"\x0f" and len(apdu) >= 6:
        form = {0x00: "none", 0x0C: "12 bytes", 0x09: "09 0c + 12 bytes (Kaifa tag)"}
        out.append(
            f"APDU   0f data-notification; invoke id {apdu[1:5].hex()}; "
            f"date-time {form.get(apdu[5], hex(apdu[5]))}"
        )
    try:
        tg = decode_frame(data, keys=keys)
    except DecodeError as e:
        out.append(f"DECODE FAILED: {e} [{e.layer}/{e.kind} at byte {e.offset}]")
        return out
    out.append(
        f"METER  {tg.manufacturer or 'unknown'}, list {tg.list_id or '-'}, "
        f"id {tg.meter_id or '-'}, type {tg.meter_type or '-'}"
    )
    if tg.invocation_counter is not None:
        out.append(f"       decrypted: invocation counter {tg.invocation_counter}")
    if tg.notification_time:
        out.append(f"       notification time {tg.notification_time.isoformat()}")
    for o in tg.objects:
        unit = o.unit or ""
        scale = f" raw {o.raw!r} x10^{o.scaler} ({o.scaler_source})" if o.scaler else ""
        out.append(f"  {o.obis:<18} {o.field or '?':<24} {o.value!r} {unit}{scale}")
    return out


def cmd_explain(args: argparse.Namespace) -> int:
    """Print the layer-by-layer dump of one frame."""
    try:
        data = _read_frame_arg(args.frame)
    except ValueError as e:
        print(f"hanport: not hex and not a file: {e}", file=sys.stderr)
        return 2
    try:
        lines = explain(data, keys=args.keys)
    except (OSError, ValueError) as e:  # an unreadable or malformed key file
        print(f"hanport: {e}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hanport`` command."""
    p = argparse.ArgumentParser(prog="hanport", description="Decode smart-meter HAN port data.")
    p.add_argument("--version", action="version", version=f"hanport {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="decode the bundled real captures and print tables")
    demo.add_argument("paths", nargs="*", help="capture files to use instead of the samples")
    demo.add_argument("--per-file", type=int, default=8, help="telegrams shown per capture")
    demo.add_argument(
        "--live", action="store_true", help="simulated meters on a pty, read live (needs pyserial)"
    )
    demo.set_defaults(func=cmd_demo)
    exp = sub.add_parser("explain", help="annotated, layer-by-layer dump of one frame")
    exp.add_argument("frame", help="the frame as hex, or a file holding it (binary or hex)")
    exp.add_argument(
        "--keys",
        metavar="FILE",
        help="JSON/TOML key file of encrypted meters (system title -> key)",
    )
    exp.set_defaults(func=cmd_explain)
    from hanport._cli_bulk import register as register_bulk
    from hanport._cli_live import register

    register(sub)
    register_bulk(sub)
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
