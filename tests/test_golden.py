"""Golden files: the whole decoded output of every Norwegian/Swedish record in tests/data.

``UPDATE_GOLDEN=1 pytest tests/test_golden.py`` rewrites them; review the diff.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from golden import GOLDEN, decode_record, golden_name, norwegian_records

RECORDS = list(norwegian_records())


def test_there_are_many_records() -> None:
    assert len(RECORDS) >= 180


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_golden(record: dict[str, Any]) -> None:
    got = decode_record(record)
    path = GOLDEN / golden_name(record["id"])
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    want = json.loads(path.read_text())
    assert got == want


def test_every_valid_hdlc_frame_decodes() -> None:
    failures = [
        r["id"] for r in RECORDS if r["format"] == "hdlc" and "error" in decode_record(r)["decoded"]
    ]
    assert failures == []
