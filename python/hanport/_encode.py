"""Encoder of the push telegrams the Norwegian HAN ports send (used by :mod:`hanport.simulate`).

It emits exactly the layouts :class:`hanport.Decoder` reads, outermost layer first::

    HDLC   7E | A0 len | dest | src | control | HCS | information | FCS | 7E
    LLC    E6 E7 00
    APDU   0F | invoke-id (4, BE) | date-time (00, 0C + 12 bytes or 09 0C + 12 bytes) | body
    body   one A-XDR value: Aidon an array of {OBIS, value[, scaler-unit]} structures, Kaifa a
           structure of bare values (meaning by position), Kamstrup a structure of
           list id, OBIS, value, OBIS, value, ...

The design follows ``tests/encoder.py`` (the independent encoder the round-trip tests use) but
only the subset a meter sends; values are given in SI units and rounded to each vendor's
resolution here. The CRC is the extension's :func:`hanport.crc16_x25`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from hanport._core import crc16_x25

Vendor = Literal["aidon", "kaifa", "kamstrup"]
"""The meters the simulator models."""

VENDORS: tuple[Vendor, ...] = ("aidon", "kaifa", "kamstrup")

LLC = b"\xe6\xe7\x00"

# A-XDR tags
_NULL = 0x00
_ARRAY = 0x01
_STRUCTURE = 0x02
_OCTET_STRING = 0x09
_VISIBLE_STRING = 0x0A
_UINT32 = 0x06
_INT8 = 0x0F
_INT16 = 0x10
_UINT16 = 0x12
_ENUM = 0x16

# DLMS unit enum values
_W, _VAR, _WH, _VARH, _A, _V = 27, 29, 30, 32, 33, 35

AIDON_LIST_ID = "AIDON_V0001"
KAIFA_LIST_ID = "KFM_001"
KAMSTRUP_LIST_ID = "Kamstrup_V0001"

_U32_MAX = 0xFFFF_FFFF


def _length(n: int) -> bytes:
    """A-XDR length or element count (short form below 0x80, else 0x8N + N bytes)."""
    if n < 0x80:
        return bytes([n])
    size = (n.bit_length() + 7) // 8
    return bytes([0x80 | size]) + n.to_bytes(size, "big")


def _u32(v: int) -> bytes:
    return bytes([_UINT32]) + min(max(v, 0), _U32_MAX).to_bytes(4, "big")


def _u16(v: int) -> bytes:
    return bytes([_UINT16]) + min(max(v, 0), 0xFFFF).to_bytes(2, "big")


def _i16(v: int) -> bytes:
    return bytes([_INT16]) + min(max(v, -0x8000), 0x7FFF).to_bytes(2, "big", signed=True)


def _octets(data: bytes) -> bytes:
    return bytes([_OCTET_STRING]) + _length(len(data)) + data


def _visible(text: str) -> bytes:
    data = text.encode("ascii")
    return bytes([_VISIBLE_STRING]) + _length(len(data)) + data


def _obis(a: int, b: int, c: int, d: int, e: int, f: int = 255) -> bytes:
    return _octets(bytes([a, b, c, d, e, f]))


def _structure(*items: bytes) -> bytes:
    return bytes([_STRUCTURE]) + _length(len(items)) + b"".join(items)


def _array(*items: bytes) -> bytes:
    return bytes([_ARRAY]) + _length(len(items)) + b"".join(items)


def _scaler_unit(scaler: int, unit: int) -> bytes:
    return _structure(bytes([_INT8, scaler & 0xFF]), bytes([_ENUM, unit]))


def cosem_datetime(local: datetime, *, deviation: int | None, dst: bool) -> bytes:
    """The 12-byte COSEM date-time of the naive wall-clock time ``local``.

    ``deviation`` in minutes (None: 0x8000, not specified); ``dst`` sets the clock-status bit 7.
    Hundredths are sent as 0xFF (not specified), as the meters do.
    """
    dev = 0x8000 if deviation is None else deviation & 0xFFFF
    return (
        local.year.to_bytes(2, "big")
        + bytes(
            [
                local.month,
                local.day,
                local.isoweekday(),
                local.hour,
                local.minute,
                local.second,
                0xFF,
            ]
        )
        + dev.to_bytes(2, "big")
        + bytes([0x80 if dst else 0x00])
    )


def hdlc_frame(dest: bytes, src: bytes, control: int, info: bytes) -> bytes:
    """One HDLC frame (format type 3, not segmented) with both flags, HCS and FCS."""
    length = 2 + len(dest) + len(src) + 1 + 2 + len(info) + 2
    if length > 0x7FF:
        raise ValueError(f"frame too long: {length} bytes")
    head = bytearray((0xA000 | length).to_bytes(2, "big"))
    head += dest + src + bytes([control])
    head += crc16_x25(bytes(head)).to_bytes(2, "little")
    head += info
    head += crc16_x25(bytes(head)).to_bytes(2, "little")
    return b"\x7e" + bytes(head) + b"\x7e"


def data_notification(body: bytes, *, invoke_id: int, header: bytes | None, tagged: bool) -> bytes:
    """The data-notification APDU (0F) around an encoded body.

    ``header`` is the 12-byte date-time or None (sent as ``00``); ``tagged`` writes it with the
    A-XDR octet-string tag in front (``09 0C``), as Kaifa and Kamstrup do.
    """
    out = bytearray([0x0F]) + invoke_id.to_bytes(4, "big")
    if header is None:
        out.append(0x00)
    else:
        if tagged:
            out.append(_OCTET_STRING)
        out.append(len(header))
        out += header
    return bytes(out + body)


@dataclass(frozen=True)
class Reading:
    """What one push reports, in SI units (W, var, A, V, Wh, varh).

    ``list_no`` 1 carries the active power import only; 2 adds identity, the four powers and one
    current and voltage per phase; 3 adds the clock and the four cumulative energies.
    ``time`` is the meter's naive local wall-clock time, ``dst`` whether summer time is in force.
    """

    list_no: Literal[1, 2, 3]
    phases: Literal[1, 3]
    time: datetime
    dst: bool
    meter_id: str
    meter_type: str
    powers: tuple[float, float, float, float]
    currents: tuple[float, ...]
    voltages: tuple[float, ...]
    energies: tuple[float, float, float, float]


def _powers(r: Reading) -> list[int]:
    return [round(p) for p in r.powers]


def encode_aidon(r: Reading) -> bytes:
    """Aidon: array of {OBIS, value, scaler-unit}; current and voltage x0.1, energy x10 Wh."""

    def reg(c: int, d: int, value: bytes, scaler: int, unit: int) -> bytes:
        return _structure(_obis(1, 0, c, d, 0), value, _scaler_unit(scaler, unit))

    def text(code: tuple[int, int, int, int, int], value: str) -> bytes:
        return _structure(_obis(*code), _visible(value))

    if r.list_no == 1:
        items = [reg(1, 7, _u32(_powers(r)[0]), 0, _W)]
    else:
        items = [
            text((1, 1, 0, 2, 129), AIDON_LIST_ID),
            text((0, 0, 96, 1, 0), r.meter_id),
            text((0, 0, 96, 1, 7), r.meter_type),
        ]
        for c, (p, unit) in enumerate(zip(_powers(r), (_W, _W, _VAR, _VAR), strict=True), 1):
            items.append(reg(c, 7, _u32(p), 0, unit))
        for c, i in zip((31, 51, 71), r.currents, strict=False):
            items.append(reg(c, 7, _i16(round(i * 10)), -1, _A))
        for c, u in zip((32, 52, 72), r.voltages, strict=False):
            items.append(reg(c, 7, _u16(round(u * 10)), -1, _V))
        if r.list_no == 3:
            # Aidon sends deviation 0 with local time ("FF 00 00 00"); the decoder knows.
            clock = cosem_datetime(r.time, deviation=0, dst=False)
            items.append(_structure(_obis(0, 0, 1, 0, 0), _octets(clock)))
            units = (_WH, _WH, _VARH, _VARH)
            for c, (e, unit) in enumerate(zip(r.energies, units, strict=True), 1):
                items.append(reg(c, 8, _u32(int(e // 10)), 1, unit))
    apdu = data_notification(_array(*items), invoke_id=0x4000_0000, header=None, tagged=False)
    return hdlc_frame(b"\x41", b"\x08\x83", 0x13, LLC + apdu)


def encode_kaifa(r: Reading) -> bytes:
    """Kaifa: structure of bare values; current x0.001 A, voltage x0.1 V, energy x1 Wh."""
    if r.list_no == 1:
        items = [_u32(_powers(r)[0])]
    else:
        items = [
            _octets(KAIFA_LIST_ID.encode("ascii")),
            _octets(r.meter_id.encode("ascii")),
            _octets(r.meter_type.encode("ascii")),
            *(_u32(p) for p in _powers(r)),
            *(_u32(round(i * 1000)) for i in r.currents),
            *(_u32(round(u * 10)) for u in r.voltages),
        ]
        if r.list_no == 3:
            items.append(_octets(cosem_datetime(r.time, deviation=None, dst=r.dst)))
            items += [_u32(int(e)) for e in r.energies]
    header = cosem_datetime(r.time, deviation=None, dst=r.dst)
    apdu = data_notification(_structure(*items), invoke_id=0x4000_0000, header=header, tagged=True)
    return hdlc_frame(b"\x01", b"\x02\x01", 0x10, LLC + apdu)


def encode_kamstrup(r: Reading) -> bytes:
    """Kamstrup: list id, then OBIS, value pairs; current x0.01 A, voltage x1 V, energy x10 Wh.

    Kamstrup has no list 1: list 2 is its 10-second list, list 3 its hourly one. A 1-phase
    meter keeps the element count and sends null-data for each missing OBIS code and value.
    """
    if r.list_no == 1:
        raise ValueError("Kamstrup sends lists 2 (10 s) and 3 (hourly) only")
    items = [
        _visible(KAMSTRUP_LIST_ID),
        _obis(1, 1, 0, 0, 5),
        _visible(r.meter_id),
        _obis(1, 1, 96, 1, 1),
        _visible(r.meter_type),
    ]
    for c, p in enumerate(_powers(r), 1):
        items += [_obis(1, 1, c, 7, 0), _u32(p)]
    for c, i in zip((31, 51, 71), r.currents, strict=False):
        items += [_obis(1, 1, c, 7, 0), _u32(round(i * 100))]
    items += [bytes([_NULL]), bytes([_NULL])] * (3 - len(r.currents))
    for c, u in zip((32, 52, 72), r.voltages, strict=False):
        items += [_obis(1, 1, c, 7, 0), _u16(round(u))]
    items += [bytes([_NULL]), bytes([_NULL])] * (3 - len(r.voltages))
    if r.list_no == 3:
        clock = cosem_datetime(r.time, deviation=None, dst=r.dst)
        items += [_obis(0, 1, 1, 0, 0), _octets(clock)]
        for c, e in enumerate(r.energies, 1):
            items += [_obis(1, 1, c, 8, 0), _u32(int(e // 10))]
    header = cosem_datetime(r.time, deviation=None, dst=r.dst)
    apdu = data_notification(_structure(*items), invoke_id=0, header=header, tagged=True)
    return hdlc_frame(b"\x2b", b"\x21", 0x13, LLC + apdu)


def encode(vendor: Vendor, reading: Reading) -> bytes:
    """The complete HDLC frame ``vendor``'s meter sends for ``reading``."""
    if vendor == "aidon":
        return encode_aidon(reading)
    if vendor == "kaifa":
        return encode_kaifa(reading)
    if vendor == "kamstrup":
        return encode_kamstrup(reading)
    raise ValueError(f"unknown meter {vendor!r}")
