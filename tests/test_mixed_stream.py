"""One :class:`hanport.Decoder` on a stream that mixes every link protocol hanport knows.

Real captures from ``tests/data/records`` (with their published keys), concatenated with
idle flags and garbage between them, are fed in chunks of every size: HDLC (Norwegian Aidon
list 1, encrypted Danish Kamstrup), General Block Transfer over HDLC (Swiss Landis+Gyr
E450), M-Bus segments carrying an encrypted Austrian Kaifa push, a raw ciphered APDU whose
plaintext is a P1 telegram (the Luxembourg form), and a plain DSMR 5 P1 telegram. Every message
must come back as one telegram, in order, at its offset, with nothing but the garbage
reported.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from hanport import Decoder, Telegram

RECORDS = Path(__file__).resolve().parent / "data" / "records"

#: (record id, what the telegram must say): manufacturer and one value its source states
#: (dlms_parser's expected values; dsmr_parser's assertion 4.426 kWh; amsreader's golden
#: 362 W; for the Luxembourg-form vector, its plaintext telegram's `1-0:1.7.0(000000286*W)`).
PARTS: list[tuple[str, str | None, str, float]] = [
    ("esphome-libs__dlms_parser:hdlc_kamstrup_omnipower", "Kamstrup", "voltage_l1", 222.0),
    ("esphome-libs__dlms_parser:mbus_netz_noe_p1", "Kaifa", "voltage_l1", 233.7),
    ("ndokter__dsmr_parser:TELEGRAM_V5", "Iskra", "active_energy_import_tariff_1", 4426.0),
    (
        "UtilitechAS__amsreader-firmware:landis-gyr_gh740.hex",
        "Landis+Gyr",
        "active_power_import",
        362.0,
    ),
    ("PolarGoose__arduino-dsmr-2:encrypted_packet.bin", None, "active_power_import", 286.0),
]
#: Aidon list 1, 1661 W (PROTOCOL.md §2.2).
AIDON = bytes.fromhex(
    "7ea02a410883130413e6e7000f40000000000101020309060100010700ff060000067d02020f00161b1c057e"
)
#: Bytes that start no frame of any protocol hanport recognises.
GARBAGE = bytes([0x11, 0x22, 0x33, 0x00, 0x55, 0xAA])


def records() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(RECORDS.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            out[r["id"]] = r
    return out


def build() -> tuple[bytes, list[tuple[int, int]], dict[str, Any], list[int]]:
    """The stream, the (offset, length) of each message, the keys, the garbage offsets."""
    recs = records()
    keys: dict[str, Any] = {}
    data = bytearray()
    spans: list[tuple[int, int]] = []
    garbage: list[int] = []
    messages = [AIDON] + [bytes.fromhex(recs[rid]["hex"]) for rid, *_ in PARTS] + [AIDON]
    for rid, *_ in PARTS:
        r = recs[rid]
        if r.get("key"):
            # the encrypted captures come from different meters: one entry per system title
            raw = bytes.fromhex(r["hex"])
            at = raw.index(b"\xdb\x08") + 2
            title = raw[at : at + 8].hex().upper()
            keys[title] = {"ek": r["key"], "ak": r.get("auth_key")}
    for k, msg in enumerate(messages):
        if k % 2:
            garbage.append(len(data))
            data += GARBAGE
        else:
            data += b"\x7e\x7e"  # idle flags
        spans.append((len(data), len(msg)))
        data += msg
    return bytes(data), spans, keys, garbage


def decode(data: bytes, keys: dict[str, Any], sizes: list[int]) -> tuple[list[Telegram], Decoder]:
    dec = Decoder(keys=keys)
    out: list[Telegram] = []
    pos = 0
    k = 0
    while pos < len(data):
        n = sizes[k % len(sizes)]
        out += dec.feed(data[pos : pos + n])
        pos += n
        k += 1
    out += dec.flush()
    return out, dec


@pytest.mark.parametrize("chunk", [None, 1, 7, 64, 4096, "random"])
def test_one_decoder_for_every_protocol(chunk: int | str | None) -> None:
    data, spans, keys, garbage = build()
    if chunk is None:
        sizes = [len(data)]
    elif chunk == "random":
        rng = random.Random(2026)
        sizes = [rng.randint(1, 300) for _ in range(200)]
    else:
        assert isinstance(chunk, int)
        sizes = [chunk]
    telegrams, dec = decode(data, keys, sizes)
    assert [(t.offset, len(t.raw)) for t in telegrams] == spans
    for t, (offset, length) in zip(telegrams, spans, strict=True):
        assert t.raw == data[offset : offset + length]
    middle = telegrams[1:-1]
    for t, (_, maker, field, value) in zip(middle, PARTS, strict=True):
        assert t.manufacturer == maker
        assert t.values[field] == pytest.approx(value), t.values
    assert telegrams[0].values == telegrams[-1].values == {"active_power_import": 1661}
    # the P1 telegrams carry their text; the encrypted ones their sender
    assert [t.system_title is not None for t in middle] == [True, True, False, False, True]
    errors = dec.drain_errors()
    assert [(e.offset, e.layer, e.kind) for e in errors] == [
        (g, "stream", "garbage") for g in garbage
    ]
    stats = dec.stats
    assert stats.telegrams == len(spans)
    assert stats.frames_undecodable == 0
    assert stats.frames_ok == stats.telegrams + stats.frames_reassembled
    assert stats.bytes_skipped == len(garbage) * len(GARBAGE)


def test_a_missing_key_costs_only_its_message() -> None:
    data, spans, keys, _ = build()
    kamstrup = next(t for t in keys if bytes.fromhex(t).startswith(b"KAM"))
    del keys[kamstrup]
    telegrams, dec = decode(data, keys, [97])
    assert [t.offset for t in telegrams] == [o for k, (o, _) in enumerate(spans) if k != 1]
    errors = [e for e in dec.errors if e.layer != "stream"]
    assert [(e.offset, e.layer, e.kind) for e in errors] == [(spans[1][0], "security", "no_key")]
    assert kamstrup in errors[0].message
