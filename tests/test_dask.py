"""``hanport.dask.read_captures`` on a real multi-process ``distributed`` cluster."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from hanport import decode_file

STREAMS = sorted((Path(__file__).resolve().parent / "data" / "streams").glob("*.bin"))

pytest.importorskip("pyarrow")
pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")


def _rows(df: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = df.astype(object).where(df.notna(), None).to_dict("records")
    return out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_read_captures_on_local_cluster(tmp_path: Path) -> None:
    import distributed

    from hanport._arrow import conform
    from hanport.dask import read_captures

    d = tmp_path / "caps"
    d.mkdir()
    for p in STREAMS[:6]:
        (d / p.name).write_bytes(p.read_bytes())
    (d / "z.bin.gz").write_bytes(gzip.compress(STREAMS[6].read_bytes()))
    files = sorted(str(p) for p in d.iterdir())
    want = [r for f in files for r in _rows(conform(decode_file(f)).to_pandas())]
    dist: Any = distributed  # untyped
    with (
        dist.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        dist.Client(cluster),
    ):
        ddf = read_captures(str(d / "*"))
        assert ddf.npartitions == len(files)
        got = _rows(ddf.compute())
    assert len(got) == len(want) > 0
    assert got == want
    with pytest.raises(FileNotFoundError):
        read_captures(str(tmp_path / "nothing*"))
