"""Bulk decoding: ``decode_bytes``/``decode_file``/``iter_file``, Arrow, input formats, the CLI."""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import hanport
from hanport import Decoder, FrameSplitter, decode_bytes, decode_file, iter_file
from hanport._cli_bulk import COLUMNS, register

STREAMS = sorted((Path(__file__).resolve().parent / "data" / "streams").glob("*.bin"))
FLAG_BITS = {
    "implausible_voltage": 1,
    "implausible_current": 2,
    "power_inconsistent": 4,
    "repeated_snapshot": 8,
    "register_backwards": 16,
    "clock_drift": 32,
}
NUMBER_FIELDS = [str(r["field"]) for r in hanport.OBIS_TABLE if r["kind"] == "number"]


def reference(data: bytes) -> list[dict[str, Any]]:
    """Rows built from the stream decoder's telegrams."""
    dec = Decoder()
    tgs = dec.feed(data, received_at=0.0) + dec.flush()
    rows = []
    for tg in tgs:
        row: dict[str, Any] = {
            "offset": tg.offset,
            "manufacturer": tg.manufacturer,
            "list_id": tg.list_id,
            "meter_id": tg.meter_id,
            "meter_type": tg.meter_type,
            "meter_time": tg.meter_time,
            "notification_time": tg.notification_time,
            "flags": sum(FLAG_BITS[f] for f in tg.flags),
        }
        values = tg.values
        for f in NUMBER_FIELDS:
            v = values.get(f)
            row[f] = None if v is None else float(v)  # type: ignore[arg-type]
        rows.append(row)
    return rows


def frames_of(data: bytes) -> list[bytes]:
    sp = FrameSplitter()
    return [f.raw for f in sp.feed(data) + sp.flush()]


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem[:40])
def test_rows_equal_stream_decoder(path: Path) -> None:
    data = path.read_bytes()
    want = reference(data)
    batch = decode_bytes(data)
    assert len(batch) == len(want)
    dec = Decoder()
    dec.feed(data)
    dec.flush()
    assert batch.stats == dec.stats
    assert len(batch.errors) == len(dec.errors)
    # without pyarrow: telegrams() gives the same telegrams
    tgs = batch.telegrams()
    assert [t.offset for t in tgs] == [r["offset"] for r in want]
    assert [sum(FLAG_BITS[f] for f in t.flags) for t in tgs] == [r["flags"] for r in want]
    pa = pytest.importorskip("pyarrow")
    table = batch.to_arrow()
    assert isinstance(table, pa.Table)
    assert table.num_rows == len(want)
    for name in ("manufacturer", "list_id", "meter_id", "meter_type"):
        assert table.schema.field(name).type == pa.dictionary(pa.int32(), pa.string())
        column = table.column(name)
        for chunk in column.chunks:  # each distinct value once per part
            assert len(chunk.dictionary) == len(set(chunk.dictionary.to_pylist()))
    got = table.to_pylist()
    for g, w in zip(got, want, strict=True):
        for k, v in w.items():
            assert g.get(k) == v, (path.name, w["offset"], k)
        assert set(g) <= set(w)


def test_times_are_instants_in_zone() -> None:
    pytest.importorskip("pyarrow")
    data = max(STREAMS, key=lambda p: p.stat().st_size).read_bytes()
    for tz in ("Europe/Oslo", "UTC", "America/New_York"):
        dec = Decoder(tz=tz)
        tgs = dec.feed(data) + dec.flush()
        table = decode_bytes(data, tz=tz).to_arrow()
        assert str(table.schema.field("meter_time").type) == f"timestamp[us, tz={tz}]"
        got = table.column("notification_time").to_pylist()
        for g, tg in zip(got, tgs, strict=True):
            assert g == tg.notification_time
            if g is not None:
                assert isinstance(g, datetime)
                assert g.utcoffset() == tg.notification_time.utcoffset()


def test_arrow_round_trip(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    batch = decode_file(STREAMS[0])
    table = batch.to_arrow()
    assert table.column_names == batch.column_names()
    # the PyCapsule stream interface
    assert pa.table(batch).equals(table)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    assert pa.ipc.open_stream(sink.getvalue()).read_all().equals(table)
    pq.write_table(table, tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").equals(table)


def test_empty_and_garbage() -> None:
    assert len(decode_bytes(b"")) == 0
    b = decode_bytes(bytes(range(256)) * 4)
    assert len(b) == 0
    assert b.stats.bytes_skipped > 0
    assert b.errors
    with pytest.raises(TypeError):
        decode_bytes("7e")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time zone"):
        decode_bytes(b"", tz="Nowhere/Else")
    if pytest.importorskip("pyarrow"):
        assert decode_bytes(b"").to_arrow().num_rows == 0


def _hexdump_c(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i : i + 16]
        hx = (
            " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        )
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{i:08x}  {hx:<48}  |{asc}|")
    lines.append(f"{len(data):08x}")
    return "\n".join(lines) + "\n"


def _xxd(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i : i + 16]
        groups = " ".join(chunk[j : j + 2].hex() for j in range(0, len(chunk), 2))
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{i:08x}: {groups:<39}  {asc}")
    return "\n".join(lines) + "\n"


def _samples(data: bytes) -> dict[str, bytes]:
    frames = frames_of(data)
    per_line = "".join(f.hex() + "\n" for f in frames).encode()
    logged = "".join(
        f"# frame {i}\n2024-03-31 02:00:{i % 60:02d}.123 RX: {f.hex(' ').upper()} // ok\n"
        for i, f in enumerate(frames)
    ).encode()
    joined = b"".join(frames)
    return {
        "hex.txt": per_line,
        "log.txt": logged,
        "hexdump.txt": _hexdump_c(joined).encode(),
        "xxd.txt": _xxd(joined).encode(),
        "bin.gz": gzip.compress(data),
        "hex.txt.gz": gzip.compress(per_line),
    }


@pytest.mark.parametrize("path", STREAMS[:4], ids=lambda p: p.stem[:40])
def test_format_detection(path: Path, tmp_path: Path) -> None:
    data = path.read_bytes()
    want = [t.raw for t in decode_bytes(data).telegrams()]
    expected_format = {
        "hex.txt": "hex",
        "log.txt": "hex",
        "hexdump.txt": "hex",
        "xxd.txt": "hex",
        "bin.gz": "gzip+binary",
        "hex.txt.gz": "gzip+hex",
    }
    for name, content in _samples(data).items():
        p = tmp_path / name
        p.write_bytes(content)
        b = decode_file(p)
        assert b.format == expected_format[name], name
        assert [t.raw for t in b.telegrams()] == want, name
        assert b.input_error is None
    # forcing the format
    p = tmp_path / "hex.txt"
    assert len(decode_file(p, format="binary")) == 0
    assert len(decode_file(p, format="hex")) == len(want)
    with pytest.raises(ValueError, match="format"):
        decode_file(p, format="xml")


def test_iter_file_bounded_batches(tmp_path: Path) -> None:
    path = max(STREAMS, key=lambda p: p.stat().st_size)
    whole = decode_file(path)
    batches = list(iter_file(path, batch_bytes=1000))
    assert len(batches) > 2
    assert sum(len(b) for b in batches) == len(whole)
    assert [t.raw for b in batches for t in b.telegrams()] == [t.raw for t in whole.telegrams()]
    assert sum(b.stats.bytes_in for b in batches) == whole.stats.bytes_in
    assert sum(b.stats.telegrams for b in batches) == whole.stats.telegrams
    gz = tmp_path / "x.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert sum(len(b) for b in iter_file(gz, batch_bytes=4096)) == len(whole)
    hx = tmp_path / "x.txt"  # hex lines cut anywhere by the chunking
    hx.write_text("".join(t.raw.hex(" ") + "\n" for t in whole.telegrams()))
    assert sum(len(b) for b in iter_file(hx, batch_bytes=100)) == len(whole)
    with pytest.raises(ValueError, match="batch_bytes"):
        iter_file(path, batch_bytes=0)
    with pytest.raises(FileNotFoundError):
        iter_file(tmp_path / "missing")


def _messy_dir(tmp_path: Path) -> tuple[Path, int]:
    d = tmp_path / "captures"
    d.mkdir()
    good = STREAMS[0].read_bytes()
    n_good = len(decode_bytes(good))
    (d / "a_good.bin").write_bytes(good)
    damaged = bytearray(good)
    for i in range(50, len(damaged), 97):
        damaged[i] ^= 0x55
    (d / "b_damaged.bin").write_bytes(bytes(damaged))
    (d / "c_truncated.bin").write_bytes(good[: len(good) // 2 + 7])
    (d / "d_empty.bin").write_bytes(b"")
    gz = gzip.compress(good)
    (d / "e_truncated.gz").write_bytes(gz[: len(gz) // 2])
    return d, n_good


def test_damaged_truncated_empty(tmp_path: Path) -> None:
    d, n_good = _messy_dir(tmp_path)
    good = decode_file(d / "a_good.bin")
    assert len(good) == n_good
    damaged = decode_file(d / "b_damaged.bin")
    assert 0 < len(damaged) < n_good
    assert damaged.errors
    trunc = decode_file(d / "c_truncated.bin")
    assert 0 < len(trunc) < n_good
    assert trunc.errors[-1].offset + trunc.errors[-1].length <= trunc.stats.bytes_in
    assert len(decode_file(d / "d_empty.bin")) == 0
    tgz = decode_file(d / "e_truncated.gz")
    assert tgz.input_error
    assert 0 < len(tgz) < n_good


def run_cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hanport")
    register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    rc: int = args.func(args)
    return rc


def test_cli_jsonl_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d, n_good = _messy_dir(tmp_path)
    out = tmp_path / "out.jsonl"
    assert run_cli(["decode", str(d), "-o", str(out), "--jobs", "3"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    total = sum(len(decode_file(p)) for p in sorted(d.iterdir()))
    assert len(rows) == total
    assert rows[0]["source"].endswith("a_good.bin")
    err = capsys.readouterr().err
    assert f"5 files, {total} telegrams" in err
    assert "input ended early" in err
    out_csv = tmp_path / "out.csv"
    assert run_cli(["decode", str(d / "a_good.bin"), "--format", "csv", "-o", str(out_csv)]) == 0
    lines = out_csv.read_text().splitlines()
    assert lines[0].split(",") == list(COLUMNS)
    assert len(lines) == n_good + 1


def test_cli_bad_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d, _ = _messy_dir(tmp_path)
    out = tmp_path / "o.jsonl"
    assert run_cli(["decode", str(d), str(tmp_path / "nope"), "-o", str(out)]) == 2
    assert "nope" in capsys.readouterr().err
    assert out.read_text()


def test_cli_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out.parquet"
    paths = [str(p) for p in STREAMS]
    assert run_cli(["decode", *paths, "--format", "parquet", "-o", str(out), "--jobs", "2"]) == 0
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    want = [r for p in STREAMS for r in reference(p.read_bytes())]
    assert table.num_rows == len(want)
    got = table.to_pylist()
    for g, w in zip(got, want, strict=True):
        for k, v in w.items():
            assert g[k] == v, k


def test_parallel_paths_match(tmp_path: Path) -> None:
    data = b"".join(p.read_bytes() for p in STREAMS)
    data *= (3 << 20) // len(data) + 1  # several MiB: cut into parts
    one = decode_bytes(data, jobs=1)
    many = decode_bytes(data, jobs=2)
    assert len(one) == len(many) > 0
    assert one.stats.telegrams == many.stats.telegrams
    if pytest.importorskip("pyarrow"):
        assert len(many.to_arrow().column("offset").chunks) == 2
        assert many.to_arrow().equals(one.to_arrow())
    a, b = one.telegrams(), many.telegrams()
    assert [(t.offset, t.raw, t.flags) for t in a] == [(t.offset, t.raw, t.flags) for t in b]
    batches = hanport.decode_files(STREAMS, jobs=2)
    assert [len(b) for b in batches] == [len(decode_file(p)) for p in STREAMS]
    assert [b.source for b in batches] == [str(p) for p in STREAMS]
    with pytest.raises(FileNotFoundError):
        hanport.decode_files([tmp_path / "missing"])


HOSTILE_VALUES: list[Any] = [
    None,
    0,
    -1,
    2**70,
    1.5,
    float("nan"),
    "",
    "7e",
    "\x00",
    b"",
    b"\x7e" * 1000,
    bytearray(b"\x7e\xa0"),
    memoryview(b"\x7e\xa0\x08"),
    [1, 2],
    object(),
]


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=lambda v: type(v).__name__)
def test_hostile_arguments(value: Any, tmp_path: Path) -> None:
    """The bulk entry points raise only TypeError/ValueError/OSError (never crash or panic)."""
    allowed = (TypeError, ValueError, OSError, OverflowError)
    p = tmp_path / "f.bin"
    p.write_bytes(STREAMS[0].read_bytes()[:2000])
    calls: list[Callable[[], object]] = [
        lambda: decode_bytes(value),
        lambda: decode_bytes(b"\x7e", tz=value),
        lambda: decode_bytes(b"\x7e", jobs=value),
        lambda: decode_file(value),
        lambda: decode_file(p, format=value),
        lambda: decode_file(p, jobs=value),
        lambda: hanport.decode_files(value),
        lambda: list(iter_file(p, batch_bytes=value)),
        lambda: list(iter_file(value)),
    ]
    for call in calls:
        try:
            result = call()
        except allowed:
            continue
        if isinstance(result, hanport.Batch):
            assert len(result) >= 0
            repr(result)
            result.errors  # noqa: B018


def _several_parts() -> bytes:
    data = b"".join(p.read_bytes() for p in STREAMS)
    return data * ((3 << 20) // len(data) + 1)  # several MiB: cut into parts


def test_arrow_export_is_zero_copy_and_made_once() -> None:
    """The columns become read-only NumPy arrays once; every table shares their memory."""
    pytest.importorskip("pyarrow")
    batch = decode_bytes(_several_parts(), jobs=2)
    before = [(t.offset, t.raw, t.flags) for t in batch.telegrams()]
    cols = batch._arrow_columns()
    assert len(cols) == 2
    assert batch._arrow_columns() is cols
    for part in cols:
        for _, kind, length, nulls, valid, data, offsets in part:
            if kind == "dictionary":  # (size, offsets, bytes) of the distinct values
                size, dict_offsets, dict_bytes = offsets
                assert len(dict_offsets) == size + 1
                assert len(dict_bytes) == dict_offsets[-1]
                assert 0 < size <= length
                assert data.dtype.name == "int32"
                assert len(data) == length
                arrays: tuple[Any, ...] = (valid, data, dict_offsets, dict_bytes)
            else:
                arrays = (valid, data, offsets)
            for arr in arrays:
                assert arr is None or not arr.flags.writeable
            assert (data is None) == (kind == "null_float64")
            assert valid is None or len(valid) == (length + 7) // 8
            assert (valid is None) == (nulls == 0) or kind == "null_float64"
    one, two = batch.to_arrow(), batch.to_arrow()
    assert one.equals(two)
    for name in ("offset", "meter_id", "meter_time", "active_power_import"):
        a, b = one.column(name).chunks[0], two.column(name).chunks[0]
        assert [x.address for x in a.buffers() if x] == [x.address for x in b.buffers() if x]
    # telegrams() reads offsets and flags back from the arrays
    assert [(t.offset, t.raw, t.flags) for t in batch.telegrams()] == before
    assert one.equals(decode_bytes(_several_parts(), jobs=1).to_arrow().combine_chunks())


def test_zone_lookup_failure_leaves_batch_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing zone lookup (partway through a column) raises; the next call goes on."""
    pytest.importorskip("pyarrow")
    import hanport._arrow as arrow

    data = max(STREAMS, key=lambda p: p.stat().st_size).read_bytes()
    want = decode_bytes(data).to_arrow()
    real = arrow.zone_offset
    calls = []

    def flaky(zone: Any, hour: int, fold: int) -> int:
        calls.append((hour, fold))
        if len(calls) == 2:
            raise RuntimeError("zone lookup failed")
        return real(zone, hour, fold)

    monkeypatch.setattr(arrow, "zone_offset", flaky)
    batch = decode_bytes(data)
    with pytest.raises(RuntimeError, match="zone lookup failed"):
        batch.to_arrow()
    assert batch.to_arrow().equals(want)
    assert len(calls) > 2
    assert len(batch.telegrams()) == want.num_rows


def test_without_numpy_only_arrow_needs_it() -> None:
    """Decoding, counters and telegrams() work without numpy; the Arrow export says why not."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "import hanport\n"
        f"b = hanport.decode_file({str(STREAMS[0])!r})\n"
        "assert len(b.telegrams()) == len(b) > 0 and b.stats.telegrams == len(b)\n"
        "try:\n"
        "    b._arrow_columns()\n"
        "except ImportError as e:\n"
        "    assert 'numpy' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
        "assert len(b.telegrams()) == len(b)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
