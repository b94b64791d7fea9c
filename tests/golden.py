"""Shared helpers for the golden files of decoded telegrams (used by test_golden.py).

One golden JSON per Norwegian/Swedish record of tests/data/records: the whole ``to_dict()``
output, or the error raised. The Rust test tests/golden.rs reads the same files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hanport

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "golden" / "telegrams"
COUNTRIES = ("Norway", "Sweden")


def norwegian_records() -> Iterator[dict[str, Any]]:
    """Every valid Norwegian/Swedish HDLC frame and every NO/SE LLC PDU or APDU record."""
    for path in sorted((DATA / "records").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            r: dict[str, Any] = json.loads(line)
            if r.get("country") not in COUNTRIES:
                continue
            fmt = r.get("format")
            if fmt == "hdlc" and r["check"]["result"] != "ok":
                continue
            if fmt in ("hdlc", "llc-pdu", "apdu"):
                yield r


def golden_name(record_id: str) -> str:
    """A file name for a record id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", record_id) + ".json"


def decode_record(r: dict[str, Any]) -> dict[str, Any]:
    """The whole decoded output of a record, or the error it raises."""
    data = bytes.fromhex(r["hex"])
    try:
        out: dict[str, Any] = hanport.decode_frame(data).to_dict()
    except hanport.DecodeError as e:
        out = {
            "error": {
                "type": type(e).__name__,
                "layer": e.layer,
                "kind": e.kind,
                "offset": e.offset,
            }
        }
    return {"id": r["id"], "source": r["source"], "decoded": out}
