"""Arrow conversion of :class:`hanport.Batch` (needs ``pyarrow``: ``pip install hanport[arrow]``).

The decoded columns are handed over without a copy: on the first ``to_arrow()`` the Rust
vectors become read-only NumPy arrays that own them (so this needs ``numpy``, which the
``arrow`` extra installs), kept by the batch, and wrapped here with ``pyarrow.py_buffer`` and
``pyarrow.Array.from_buffers``. Timestamps are UTC instants (``timestamp("us", tz)``); rows
whose meter sends wall-clock time are placed with the zone's offset, looked up with
:mod:`zoneinfo` once per distinct (hour, fold) (:func:`zone_offset`, called from Rust).
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hanport._core import Batch

_EPOCH = datetime(1970, 1, 1)


def require_pyarrow() -> Any:
    """The ``pyarrow`` module, or an ImportError that says how to get it."""
    try:
        import pyarrow  # type: ignore[import-untyped]
    except ImportError as e:
        raise ImportError(
            "this needs pyarrow: pip install 'hanport[arrow]' (or pip install pyarrow)"
        ) from e
    return pyarrow


def zone_offset(zone: tzinfo, hour: int, fold: int) -> int:
    """UTC offset (microseconds) of ``zone`` at a wall-clock hour since the epoch (``fold`` 1:
    the second of two such hours). Called from Rust once per distinct (hour, fold)."""
    wall = (_EPOCH + timedelta(hours=hour)).replace(tzinfo=zone, fold=fold)
    off = wall.utcoffset() or timedelta(0)
    return off // timedelta(microseconds=1)


def batch_to_table(batch: Batch) -> Any:
    """The batch as a ``pyarrow.Table`` (one record batch per decoded part)."""
    pa = require_pyarrow()
    types = {
        "uint64": pa.uint64(),
        "uint32": pa.uint32(),
        "float64": pa.float64(),
        "null_float64": pa.float64(),
        "timestamp": pa.timestamp("us", tz=batch.tz),
    }
    record_batches: list[Any] = []
    names: list[str] = []
    buffer = pa.py_buffer
    for part in batch._arrow_columns():
        names = []
        arrays: list[Any] = []
        for name, kind, length, nulls, valid, data, offsets in part:
            names.append(name)
            if data is None:  # "null_float64": no row has the field
                arrays.append(pa.nulls(length, pa.float64()))
                continue
            bufs = [None if valid is None else buffer(valid)]
            if kind == "dictionary":  # offsets holds (size, offsets, bytes) of the dictionary
                size, dict_offsets, dict_bytes = offsets
                values = pa.Array.from_buffers(
                    pa.string(), size, [None, buffer(dict_offsets), buffer(dict_bytes)]
                )
                keys = pa.Array.from_buffers(
                    pa.int32(), length, [*bufs, buffer(data)], null_count=nulls
                )
                arrays.append(pa.DictionaryArray.from_arrays(keys, values, safe=False))
                continue
            if offsets is not None:
                bufs.append(buffer(offsets))
            bufs.append(buffer(data))
            arrays.append(pa.Array.from_buffers(types[kind], length, bufs, null_count=nulls))
        record_batches.append(pa.RecordBatch.from_arrays(arrays, names=names))
    return pa.Table.from_batches(record_batches)


def full_schema(tz: str) -> Any:
    """The fixed schema of :func:`conform`: ``source``, the telegram columns, then one float64
    column per numeric field of the OBIS table (whether or not a batch has it)."""
    from hanport._core import OBIS_TABLE

    pa = require_pyarrow()
    ts = pa.timestamp("us", tz=tz)
    base = [
        ("source", pa.string()),
        ("offset", pa.uint64()),
        ("manufacturer", pa.string()),
        ("list_id", pa.string()),
        ("meter_id", pa.string()),
        ("meter_type", pa.string()),
        ("meter_time", ts),
        ("notification_time", ts),
        ("flags", pa.uint32()),
    ]
    numbers = [(str(r["field"]), pa.float64()) for r in OBIS_TABLE if r["kind"] == "number"]
    return pa.schema(base + numbers)


def conform(batch: Batch) -> Any:
    """The batch as a ``pyarrow.Table`` of :func:`full_schema` (absent fields are all null)."""
    pa = require_pyarrow()
    schema = full_schema(batch.tz)
    t = batch_to_table(batch)
    n = t.num_rows
    cols = []
    for f in schema:
        if f.name == "source":
            cols.append(pa.array([batch.source] * n, pa.string()))
        elif f.name in t.column_names:
            col = t.column(f.name)
            # the fixed schema has plain strings where the batch has dictionaries
            cols.append(col.cast(f.type) if col.type != f.type else col)
        else:
            cols.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(cols, schema=schema)
