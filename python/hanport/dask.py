"""Capture files as a ``dask.dataframe`` (needs ``pip install 'hanport[dask]'``).

>>> from hanport.dask import read_captures            # doctest: +SKIP
>>> df = read_captures("captures/**/*.bin.gz")        # doctest: +SKIP
>>> df.groupby("meter_id").active_power_import.mean().compute()  # doctest: +SKIP

One partition per file; each is decoded by :func:`hanport.decode_file` on whichever worker runs
it, so a ``distributed`` cluster decodes files on all its machines. Every partition has the
columns of :func:`hanport._arrow.full_schema` (``source`` first), so the rows are the same as
decoding the files one by one in a single process.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hanport._arrow import conform, full_schema, require_pyarrow
from hanport._core import decode_file

__all__ = ["read_captures"]


def _paths(paths_or_glob: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    items = [paths_or_glob] if isinstance(paths_or_glob, str | os.PathLike) else paths_or_glob
    out: list[str] = []
    for item in items:
        s = os.fspath(item)
        if Path(s).is_dir():
            out.extend(sorted(str(p) for p in Path(s).rglob("*") if p.is_file()))
        elif glob.has_magic(s):
            out.extend(sorted(p for p in glob.glob(s, recursive=True) if Path(p).is_file()))
        else:
            out.append(s)
    return out


def load_partition(path: str, tz: str = "Europe/Oslo", format: str = "auto") -> Any:
    """One file as a pandas DataFrame of the fixed schema."""
    return conform(decode_file(path, tz=tz, format=format, jobs=1)).to_pandas()


def read_captures(
    paths_or_glob: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    tz: str = "Europe/Oslo",
    format: str = "auto",
) -> Any:
    """A ``dask.dataframe.DataFrame`` of every telegram in the files (one partition per file).

    ``paths_or_glob``: a path, a directory (searched recursively), a glob pattern (``**``
    allowed), or an iterable of those. Raises FileNotFoundError when nothing matches.
    """
    try:
        import dask.dataframe as dd
    except ImportError as e:
        raise ImportError("this needs dask: pip install 'hanport[dask]'") from e
    paths = _paths(paths_or_glob)
    if not paths:
        raise FileNotFoundError(f"no capture files match {paths_or_glob!r}")
    pa = require_pyarrow()
    meta = pa.Table.from_batches([], schema=full_schema(tz)).to_pandas()
    from_map: Any = dd.from_map  # untyped in dask
    return from_map(load_partition, paths, tz=tz, format=format, meta=meta, enforce_metadata=False)
