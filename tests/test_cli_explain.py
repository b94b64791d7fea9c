"""``hanport explain``: the layer-by-layer dump of one frame, plain and encrypted (``--keys``),
on real captures from tests/data/records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hanport.cli import main

RECORDS = Path(__file__).resolve().parent / "data" / "records"

#: Netz Burgenland's Landis+Gyr E450 push (amsreader gh501), AES-GCM with published keys
E450 = "UtilitechAS__amsreader-firmware:landis-gyr_gh501-1.hex"
#: the README's Aidon list-1 frame
AIDON = "7ea02a410883130413e6e7000f40000000000101020309060100010700ff060000067d02020f00161b1c057e"


def _record(rid: str) -> dict[str, Any]:
    for path in RECORDS.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            r: dict[str, Any] = json.loads(line) if line.strip() else {}
            if r.get("id") == rid:
                return r
    raise AssertionError(rid)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["explain", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_plain_frame_layer_by_layer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, AIDON)
    assert code == 0
    lines = out.splitlines()
    assert [ln.split()[0] for ln in lines[1:6]] == ["HDLC", "[3]", "[9]", "LLC", "APDU"]
    assert "dest 41, src 0883, control 0x13" in out
    assert "1-0:1.7.0.255" in out
    assert "active_power_import" in out
    assert "1661" in out
    assert "CIPHER" not in out


def test_encrypted_frame_with_its_keys(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    r = _record(E450)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"*": {"ek": r["key"], "ak": r["auth_key"]}}))
    code, out, _ = _run(capsys, "--keys", str(keys), r["hex"])
    assert code == 0
    assert "CIPHER db general-glo-ciphering; system title 4c475a6772a9a111 (Landis+Gyr)" in out
    # the security header sits at frame byte 23: HDLC header 9, LLC 3, DB 08 + title 10, length 1
    assert "[23] security control 0x30 (authenticated + encrypted, suite 0)" in out
    assert "12-byte tag" in out
    assert "METER  Landis+Gyr" in out
    assert "id 30137181" in out
    assert "voltage_l1" in out
    for k in (r["key"], r["auth_key"]):
        assert k.lower() not in out.lower()


@pytest.mark.parametrize("wrong", [None, "00" * 16])
def test_encrypted_frame_without_its_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, wrong: str | None
) -> None:
    r = _record(E450)
    argv = [r["hex"]]
    if wrong is not None:
        keys = tmp_path / "keys.json"
        keys.write_text(json.dumps({"4C475A6772A9A111": wrong}))
        argv = ["--keys", str(keys), *argv]
    code, out, _ = _run(capsys, *argv)
    assert code == 0  # a frame that does not decode is reported, not a usage error
    assert "CIPHER db" in out
    assert "DECODE FAILED" in out
    assert "4C475A6772A9A111" in out
    assert ("no_key" if wrong is None else "decryption_failed") in out
    assert "METER" not in out
    assert r["key"].lower() not in out.lower()


def test_unreadable_key_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "--keys", str(tmp_path / "missing.json"), AIDON)
    assert code == 2
    assert "hanport:" in err
