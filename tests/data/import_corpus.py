#!/usr/bin/env python3
"""Copy the real captures the tests need from the shared corpus into tests/data/.

Run by a developer when the corpus grows (`python tests/data/import_corpus.py ../shared/corpus`);
tests only ever read the copies. Records keep their full provenance (source, source_url, notes)
and the verdict of the corpus' independent checker (`check`), which the tests use as the expected
validity. Streams are copied byte for byte with their provenance JSON.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(corpus: Path) -> int:
    out_records = HERE / "records"
    out_streams = HERE / "streams"
    out_records.mkdir(exist_ok=True)
    out_streams.mkdir(exist_ok=True)
    n = 0
    for path in sorted((corpus / "records").glob("*.jsonl")):
        shutil.copyfile(path, out_records / path.name)
        n += sum(1 for line in path.open() if line.strip())
    for path in sorted((corpus / "streams").iterdir()):
        if path.suffix in (".bin", ".json"):
            shutil.copyfile(path, out_streams / path.name)
    print(f"copied {n} records and {len(list(out_streams.glob('*.bin')))} streams")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/corpus")))
