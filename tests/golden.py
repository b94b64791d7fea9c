"""Shared helpers for the golden files of decoded telegrams (test_golden.py, test_golden_intl.py).

``golden/telegrams``: one golden JSON per Norwegian/Swedish record of tests/data/records (a
valid HDLC frame, an LLC PDU or an APDU): the whole ``to_dict()`` output, or the error raised.

``golden/intl``: one golden JSON per every other record (M-Bus, encrypted, P1, the damaged
frames, raw streams, other countries), decoded both ways: ``frame`` is what the strict
``decode_frame`` returns (the telegram or the error), ``stream`` what the lax ``Decoder``
yields for the same bytes (every telegram, every error record and the counters). Records with a
key are decoded with it (``keys={"*": {"ek": key, "ak": auth_key}}``).

The Rust test tests/golden.rs reads both directories.
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
GOLDEN_INTL = DATA / "golden" / "intl"
COUNTRIES = ("Norway", "Sweden")


def all_records() -> Iterator[dict[str, Any]]:
    """Every record of tests/data/records, in file order."""
    for path in sorted((DATA / "records").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                r: dict[str, Any] = json.loads(line)
                yield r


def is_norwegian_golden(r: dict[str, Any]) -> bool:
    """A valid Norwegian/Swedish HDLC frame, or a NO/SE LLC PDU or APDU record."""
    if r.get("country") not in COUNTRIES:
        return False
    fmt = r.get("format")
    if fmt == "hdlc" and r["check"]["result"] != "ok":
        return False
    return fmt in ("hdlc", "llc-pdu", "apdu")


def norwegian_records() -> Iterator[dict[str, Any]]:
    """Every valid Norwegian/Swedish HDLC frame and every NO/SE LLC PDU or APDU record."""
    return (r for r in all_records() if is_norwegian_golden(r))


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


# --------------------------------------------------------------------------------------------
# every other record: golden/intl
# --------------------------------------------------------------------------------------------


def intl_records() -> Iterator[dict[str, Any]]:
    """Every record the NO/SE golden files leave out."""
    return (r for r in all_records() if not is_norwegian_golden(r))


def intl_golden_name(r: dict[str, Any]) -> str:
    """A file name for a record: its id and format (two records share an id: a raw capture
    and the HDLC frame cut out of it)."""
    return golden_name(f"{r['id']}@{r['format']}")


def record_keys(r: dict[str, Any]) -> dict[str, Any] | None:
    """The ``keys=`` a record is decoded with: its key (and authentication key) for any
    system title, or None."""
    if not r.get("key"):
        return None
    keys: dict[str, str] = {"ek": r["key"]}
    if r.get("auth_key"):
        keys["ak"] = r["auth_key"]
    return {"*": keys}


def record_input(r: dict[str, Any]) -> bytes:
    """The bytes of a record, as hanport is given them (an IEC 62056-47 wrapper included)."""
    return bytes.fromhex(r["hex"])


def error_dict(e: hanport.DecodeError) -> dict[str, Any]:
    """An exception as golden content."""
    return {
        "type": type(e).__name__,
        "layer": e.layer,
        "kind": e.kind,
        "offset": e.offset,
        "message": e.message,
    }


def telegram_dict(t: hanport.Telegram) -> dict[str, Any]:
    """A telegram's ``to_dict()``, with the security header fields ``to_dict()`` leaves out
    (the sender's system title and the invocation counter of an encrypted push)."""
    d = t.to_dict()
    d.setdefault("system_title", t.system_title)
    d.setdefault("invocation_counter", t.invocation_counter)
    return d


def decode_strict(data: bytes, keys: dict[str, Any] | None) -> dict[str, Any]:
    """``decode_frame``'s whole output: the telegram's dict, or ``{"error": ...}``."""
    try:
        out = telegram_dict(hanport.decode_frame(data, keys=keys))
    except hanport.DecodeError as e:
        out = {"error": error_dict(e)}
    return out


def decode_lax(data: bytes, keys: dict[str, Any] | None, chunk: int = 0) -> dict[str, Any]:
    """The ``Decoder``'s whole output for ``data`` fed at once (or in ``chunk``-byte pieces)
    and flushed: every telegram's ``to_dict()`` (without ``received_at``, the wall clock),
    every error record, and the counters."""
    dec = hanport.Decoder(keys=keys)
    telegrams: list[hanport.Telegram] = []
    step = chunk or max(len(data), 1)
    for at in range(0, len(data), step):
        telegrams += dec.feed(data[at : at + step])
    telegrams += dec.flush()
    dicts = []
    for t in telegrams:
        d = telegram_dict(t)
        assert d.pop("received_at") is not None
        dicts.append(d)
    errors = [
        {
            "offset": e.offset,
            "length": e.length,
            "layer": e.layer,
            "kind": e.kind,
            "message": e.message,
        }
        for e in dec.errors
    ]
    return {"telegrams": dicts, "errors": errors, "stats": dec.stats.to_dict()}


def decode_intl_record(r: dict[str, Any]) -> dict[str, Any]:
    """The golden content of a record: both decodes of its bytes, with its key."""
    data, keys = record_input(r), record_keys(r)
    return {
        "id": r["id"],
        "format": r["format"],
        "source": r["source"],
        "frame": decode_strict(data, keys),
        "stream": decode_lax(data, keys),
    }
