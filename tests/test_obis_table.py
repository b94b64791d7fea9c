"""The OBIS table (rust/src/obis/table.rs) is the single source of truth for field names."""

from __future__ import annotations

import re
from pathlib import Path

import hanport

ROOT = Path(__file__).resolve().parents[1]

#: The field names of the public interface (API.md), which the table must provide.
API_FIELDS = {
    "active_power_import",
    "active_power_export",
    "reactive_power_import",
    "reactive_power_export",
    "current_l1",
    "current_l2",
    "current_l3",
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "active_energy_import",
    "active_energy_export",
    "reactive_energy_import",
    "reactive_energy_export",
    "power_factor",
    "power_factor_l1",
    "power_factor_l2",
    "power_factor_l3",
    "active_power_import_l1",
    "active_power_import_l2",
    "active_power_import_l3",
    "active_power_export_l1",
    "active_power_export_l2",
    "active_power_export_l3",
    "active_energy_import_tariff_1",
    "active_energy_export_tariff_1",
    "frequency",
    "meter_id",
    "meter_type",
    "list_id",
    "meter_time",
}

SI_UNITS = {"W", "var", "A", "V", "Wh", "varh", "Hz", "m³", ""}


def test_table_has_the_api_fields_with_si_units() -> None:
    rows = {row["field"]: row for row in hanport.OBIS_TABLE}
    assert len(rows) == len(hanport.OBIS_TABLE), "field names are unique"
    assert set(rows) >= API_FIELDS
    for row in rows.values():
        assert row["unit"] in SI_UNITS
        assert row["kind"] in ("number", "text", "datetime")
        assert all(re.fullmatch(r"[01]-\*:\d+\.\d+\.\d+", c) for c in row["codes"])
    assert rows["current_l1"]["unit"] == "A"
    assert rows["active_energy_import"]["unit"] == "Wh"
    assert rows["power_factor"]["unit"] == ""


def test_decoded_fields_come_from_the_table() -> None:
    frame = bytes.fromhex(
        "7ea02a410883130413e6e7000f40000000000101020309060100010700ff060000067d02020f00161b1c057e"
    )
    tg = hanport.decode_frame(frame)
    fields = {row["field"] for row in hanport.OBIS_TABLE}
    assert set(tg.values) <= fields
    assert tg.objects[0].field == "active_power_import"


def test_no_obis_code_of_a_quantity_is_spelled_outside_the_table() -> None:
    # C.D.E codes of electricity quantities written as "x.7.0"/"x.8.0" tuples or strings
    pattern = re.compile(r"\(1,\s*\d+,\s*[78],\s*\d\)")
    offenders = []
    for path in sorted((ROOT / "rust" / "src").rglob("*.rs")):
        if path.name == "table.rs":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []
