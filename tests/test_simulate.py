"""The simulated meter: encoder, cadence, physics, the bit-level line model, ``sim://``, files.

The package's encoder (``hanport._encode``) is checked byte for byte against the independent
test encoder (``encoder.py``) and by decoding with hanport; the cadence and physics on decoded
telegrams of whole simulated hours; the UART model by hand-computed bit patterns and by what a
mis-configured receiver makes of real frames.
"""

from __future__ import annotations

import argparse
import itertools
import math
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest

import hanport
from hanport._cli_live import register, run_live_demo
from hanport._encode import VENDORS, Reading, Vendor, encode
from hanport._live import LineSettings
from hanport.simulate import (
    Burst,
    MeterModel,
    Push,
    Simulator,
    UartReceiver,
    write_file,
)

import encoder as ref

L8E1 = LineSettings(2400, 8, "E", 1)
L8N1 = LineSettings(2400, 8, "N", 1)
#: Ten seconds before a full hour (in UTC, and so in Europe/Oslo, the simulator's zone).
BEFORE_HOUR = datetime(2025, 3, 3, 9, 59, 50, tzinfo=timezone.utc)
CASES: list[tuple[Vendor, Literal[1, 3]]] = [(v, p) for v in VENDORS for p in (1, 3)]


def decode_all(data: bytes) -> tuple[hanport.Decoder, list[hanport.Telegram]]:
    dec = hanport.Decoder()
    return dec, [*dec.feed(data), *dec.flush()]


# --------------------------------------------------------------------------------------------
# Encoder
# --------------------------------------------------------------------------------------------


def _reading(list_no: Literal[1, 2, 3], phases: Literal[1, 3]) -> Reading:
    return Reading(
        list_no=list_no,
        phases=phases,
        time=datetime(2024, 7, 1, 13, 0, 0),
        dst=True,
        meter_id="7359992890941742",
        meter_type="6525",
        powers=(1234.4, 0.0, 321.0, 0.0),
        currents=(5.23, 3.1, 1.0)[:phases],
        voltages=(231.44, 229.0, 233.3)[:phases],
        energies=(1234567.0, 0.0, 23456.0, 1000.0),
    )


def _reference(vendor: Vendor, r: Reading) -> bytes:
    """The same reading through the independent test encoder, in each vendor's raw units."""
    cur = {"aidon": 10, "kaifa": 1000, "kamstrup": 100}[vendor]
    vol = {"aidon": 10, "kaifa": 10, "kamstrup": 1}[vendor]
    e_div = {"aidon": 10, "kaifa": 1, "kamstrup": 10}[vendor]
    p0, p1, p2, p3 = (round(p) for p in r.powers)
    e0, e1, e2, e3 = (int(e // e_div) for e in r.energies)
    if vendor == "aidon":
        clock = ref.Clock(r.time, deviation=0, dst=False)
    else:
        clock = ref.Clock(r.time, deviation=None, dst=r.dst)
    reading = ref.Reading(
        list_no=r.list_no,
        phases=r.phases,
        meter_id=r.meter_id,
        meter_type=r.meter_type,
        powers=(p0, p1, p2, p3),
        currents=tuple(round(i * cur) for i in r.currents),
        voltages=tuple(round(u * vol) for u in r.voltages),
        clock=clock if r.list_no == 3 else None,
        energies=(e0, e1, e2, e3),
        header_time=ref.Clock(r.time, deviation=None, dst=r.dst),
    )
    if vendor == "aidon":
        return ref.aidon_frame(reading).frame
    if vendor == "kaifa":
        return ref.kaifa_frame(reading, header_form="tagged").frame
    return ref.kamstrup_frame(reading, header_form="tagged").frame


@pytest.mark.parametrize(("vendor", "phases"), CASES)
@pytest.mark.parametrize("list_no", [1, 2, 3])
def test_encoder_matches_the_independent_encoder(
    vendor: Vendor, phases: Literal[1, 3], list_no: Literal[1, 2, 3]
) -> None:
    r = _reading(list_no, phases)
    if vendor == "kamstrup" and list_no == 1:
        with pytest.raises(ValueError, match="Kamstrup"):
            encode(vendor, r)
        return
    frame = encode(vendor, r)
    assert frame == _reference(vendor, r)
    tg = hanport.decode_frame(frame)
    # Aidon's list 1 names no maker (L&G's Embriq module sends the same frame)
    maker = None if (vendor, list_no) == ("aidon", 1) else vendor.capitalize()
    assert tg.manufacturer == maker
    assert tg.values["active_power_import"] == 1234
    if list_no >= 2:
        assert tg.meter_id == r.meter_id
        assert len([k for k in tg.values if k.startswith("current_l")]) == phases
    if list_no == 3:
        assert tg.meter_time == datetime(2024, 7, 1, 13, tzinfo=timezone(timedelta(hours=2)))
        assert tg.values["active_energy_import"] == pytest.approx(1234567, abs=10)
    assert tg.flags == []


# --------------------------------------------------------------------------------------------
# Cadence and physics
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hour_runs() -> dict[tuple[Vendor, int], list[tuple[Burst, hanport.Telegram]]]:
    """70 simulated minutes of each vendor and phase count, from 10 s before a full hour,
    decoded from the concatenated byte stream."""
    out: dict[tuple[Vendor, int], list[tuple[Burst, hanport.Telegram]]] = {}
    for vendor, phases in CASES:
        sim = Simulator(vendor, phases, seed=7, start=BEFORE_HOUR)
        bursts = sim.run_for(70 * 60)
        dec, telegrams = decode_all(b"".join(b.data for b in bursts))
        assert dec.stats.frames_ok == len(bursts) == len(telegrams)
        assert dec.stats.bytes_skipped == 0
        out[(vendor, phases)] = list(zip(bursts, telegrams, strict=True))
    return out


@pytest.mark.parametrize(("vendor", "phases"), CASES)
def test_list_cadence(
    hour_runs: dict[tuple[Vendor, int], list[tuple[Burst, hanport.Telegram]]],
    vendor: Vendor,
    phases: int,
) -> None:
    run = hour_runs[(vendor, phases)]
    by_list: dict[int, list[float]] = {1: [], 2: [], 3: []}
    for burst, tg in run:
        by_list[burst.push.list_no].append(burst.push.t)
        assert tg.raw == burst.push.frame
        expected_id = {1: None}.get(burst.push.list_no, tg.list_id)
        assert (tg.list_id is None) == (expected_id is None)
    period1 = {"aidon": 2.5, "kaifa": 2.0, "kamstrup": None}[vendor]
    if period1 is None:
        assert by_list[1] == []
    else:
        gaps = {round(b - a, 6) for a, b in itertools.pairwise(by_list[1])}
        assert gaps <= {period1, 2 * period1}  # list 2 takes the slot every 10 s
    two_three = sorted(by_list[2] + by_list[3])
    assert {round(b - a, 6) for a, b in itertools.pairwise(two_three)} == {10.0}
    # list 3 exactly at the top of each hour: 10:00:00 and 11:00:00 are both in the 70 minutes
    assert by_list[3] == [10.0, 3610.0]
    hours = [tg.meter_time for (b, tg) in run if b.push.list_no == 3]
    assert hours == [BEFORE_HOUR + timedelta(seconds=10), BEFORE_HOUR + timedelta(seconds=3610)]


@pytest.mark.parametrize(("vendor", "phases"), CASES)
def test_physics(
    hour_runs: dict[tuple[Vendor, int], list[tuple[Burst, hanport.Telegram]]],
    vendor: Vendor,
    phases: int,
) -> None:
    run = hour_runs[(vendor, phases)]
    u_res = 1.0 if vendor == "kamstrup" else 0.1
    i_res = {"aidon": 0.1, "kaifa": 0.001, "kamstrup": 0.01}[vendor]
    powers: list[tuple[float, float]] = []
    energies: list[tuple[float, float]] = []
    for burst, tg in run:
        v = tg.values
        assert tg.flags == []
        p = float(str(v["active_power_import"]))
        powers.append((burst.push.t, p))
        if burst.push.list_no == 1:
            continue
        q = float(str(v["reactive_power_import"]))
        ui = [
            float(str(v[f"voltage_l{k}"])) * float(str(v[f"current_l{k}"]))
            for k in range(1, phases + 1)
        ]
        # one power factor for the whole house: |S| = sum of U*I over the phases, to the
        # resolution of what is sent
        slack = 2.0
        for k in range(1, phases + 1):
            u, i = float(str(v[f"voltage_l{k}"])), float(str(v[f"current_l{k}"]))
            slack += 0.5 * u_res * i + 0.5 * i_res * u
        assert math.hypot(p, q) == pytest.approx(sum(ui), abs=slack)
        assert 0.8 <= p / max(math.hypot(p, q), 1e-9) <= 0.99 + 1e-3
        for k in range(1, phases + 1):
            assert 207 <= float(str(v[f"voltage_l{k}"])) <= 253
        if burst.push.list_no == 3:
            energies.append((burst.push.t, float(str(v["active_energy_import"]))))
    assert min(p for _, p in powers) > 0
    (t0, e0), (t1, e1) = energies
    assert e1 > e0  # energies only go up...
    hour = [p for t, p in powers if t0 <= t < t1]  # ...by the integral of the power
    assert (e1 - e0) / ((t1 - t0) / 3600) == pytest.approx(sum(hour) / len(hour), rel=0.03)


def test_energy_never_decreases_and_load_varies() -> None:
    model = MeterModel("kaifa", 3, seed=3)
    last = list(model.energies)
    seen_p = set()
    for step in range(1, 2000):
        r = model.reading(step * 10.0, 3)
        assert all(a >= b for a, b in zip(r.energies, last, strict=True))
        last = list(r.energies)
        seen_p.add(round(r.powers[0], -2))
    assert len(seen_p) > 5  # appliances come and go


def test_seed_makes_it_reproducible() -> None:
    a = Simulator("aidon", 3, seed=11, start=BEFORE_HOUR).run_for(300)
    b = Simulator("aidon", 3, seed=11, start=BEFORE_HOUR).run_for(300)
    assert [x.data for x in a] == [y.data for y in b]


def test_noise_and_drops_damage_frames_but_not_all() -> None:
    sim = Simulator("kaifa", 3, seed=5, noise=0.002, drop=0.001, start=BEFORE_HOUR)
    bursts = sim.run_for(1800)
    dec, telegrams = decode_all(b"".join(b.data for b in bursts))
    s = dec.stats
    assert s.frames_bad_checksum + s.frames_malformed > 0
    assert len(bursts) * 0.5 < len(telegrams) < len(bursts)
    clean = {b.push.frame for b in bursts}
    assert all(tg.raw in clean for tg in telegrams)  # damage is detected, never decoded


# --------------------------------------------------------------------------------------------
# The line at bit level
# --------------------------------------------------------------------------------------------


def _push(data: bytes) -> Push:
    r = _reading(1, 1)
    return Push(0, 0.0, 1, data, r)


def _receive(data: bytes, tx: LineSettings, rx: LineSettings) -> tuple[bytes, UartReceiver]:
    uart = UartReceiver(tx, rx)
    uart.add([Burst(_push(data), 0.001, data, tx.char_time)])
    return uart.receive(10.0), uart


def test_uart_bits_by_hand() -> None:
    # 0x7E has six ones: its even parity bit is 0. An 8N1 receiver takes that 0 for its stop
    # bit: framing error, handed over as 00. 0x01 has one 1: parity bit 1, looks like a stop bit.
    out, uart = _receive(b"\x7e\x01", L8E1, L8N1)
    assert out == b"\x00\x01"
    assert (uart.stats.chars, uart.stats.framing_errors) == (2, 1)
    # The right settings get the bytes as sent, parity checked.
    out, uart = _receive(b"\x7e\x01", L8E1, L8E1)
    assert out == b"\x7e\x01"
    assert uart.stats.parity_errors == uart.stats.framing_errors == 0
    # 8E1 receiver on an 8N1 line: the next start bit is sampled as the stop bit.
    out, uart = _receive(b"\x7e\x7e", L8N1, L8E1)
    assert out[:1] == b"\x00"
    assert uart.stats.framing_errors >= 1
    # Four times the baud rate: each meter bit is seen four times.
    out, _ = _receive(b"\x00", L8N1, LineSettings(9600, 8, "N", 1))
    assert out[:1] == b"\x00"
    # 0xF0 holds the line low for 5 meter bits (start + 4 zeros) = 20 receiver bits: the
    # receiver's stop bit is low (framing error); then no falling edge until the next byte.
    out, uart = _receive(b"\xf0", L8N1, LineSettings(9600, 8, "N", 1))
    assert out == b"\x00"
    assert uart.stats.framing_errors == 1


@pytest.mark.parametrize(
    ("vendor", "rx"),
    [
        ("kaifa", L8N1),
        ("kaifa", LineSettings(9600, 8, "E", 1)),
        ("kaifa", LineSettings(115200, 8, "N", 1)),
        ("aidon", LineSettings(9600, 8, "N", 1)),
        ("kamstrup", L8E1),
        ("kamstrup", LineSettings(9600, 8, "N", 1)),
    ],
)
def test_wrong_settings_give_garbage(vendor: Vendor, rx: LineSettings) -> None:
    sim = Simulator(vendor, 3, seed=1, start=BEFORE_HOUR)
    uart = UartReceiver(sim.line, rx)
    uart.add(sim.run_for(120))
    dec, telegrams = decode_all(uart.receive(1e9))
    assert telegrams == []
    assert dec.stats.frames_ok == 0
    assert dec.stats.bytes_in > 100


def test_switching_to_the_right_settings_recovers() -> None:
    sim = Simulator("kaifa", 3, seed=2, start=BEFORE_HOUR)
    uart = UartReceiver(sim.line, L8N1)
    uart.add(sim.advance(30))
    bad = uart.receive(30)
    uart.rx = L8E1
    uart.discard(30)
    uart.add(sim.advance(60))
    good = uart.receive(60)
    assert decode_all(bad)[1] == []
    telegrams = decode_all(good)[1]
    assert len(telegrams) >= 13
    assert uart.stats.framing_errors > 0


# --------------------------------------------------------------------------------------------
# sim:// (pyserial URL handler)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def serial() -> ModuleType:
    """pyserial, with hanport's sim:// handler registered."""
    pytest.importorskip("serial")
    from hanport.serial import pyserial

    return pyserial()


@pytest.fixture
def sim_port(serial: ModuleType) -> Iterator[Any]:
    port = serial.serial_for_url("sim://kaifa?speed=20&seed=1", baudrate=2400, parity="E")
    try:
        yield port
    finally:
        port.close()


def test_sim_url_gives_frames_at_the_right_settings(sim_port: Any) -> None:
    sim_port.timeout = 0.1
    dec = hanport.Decoder()
    telegrams: list[hanport.Telegram] = []
    deadline = time.monotonic() + 5
    while len(telegrams) < 4 and time.monotonic() < deadline:
        telegrams += dec.feed(sim_port.read(4096))
    assert len(telegrams) >= 4
    assert {tg.manufacturer for tg in telegrams} == {"Kaifa"}


def test_sim_url_honours_the_readers_settings(sim_port: Any) -> None:
    sim_port.parity = "N"  # a reader with the wrong parity
    sim_port.timeout = 0.1
    sim_port.reset_input_buffer()
    data = b""
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        data += sim_port.read(4096)
    assert len(data) > 50
    assert decode_all(data)[1] == []
    assert sim_port.uart_stats.framing_errors > 0


@pytest.mark.parametrize("timeout", [0.0, 0.15, 0.4])
def test_sim_url_respects_timeouts(serial: ModuleType, timeout: float) -> None:
    # a slow meter: nothing for a while after opening, so a read must time out
    with serial.serial_for_url("sim://kamstrup?speed=0.01", timeout=timeout) as port:
        t0 = time.monotonic()
        assert port.read(10) == b""
        took = time.monotonic() - t0
        assert timeout <= took < timeout + 0.25
        assert port.in_waiting == 0


def test_sim_url_read_can_be_cancelled(serial: ModuleType) -> None:
    with serial.serial_for_url("sim://kamstrup?speed=0.01", timeout=None) as port:
        threading.Timer(0.2, port.cancel_read).start()
        t0 = time.monotonic()
        assert port.read(10) == b""
        assert 0.15 < time.monotonic() - t0 < 1.0


def test_sim_url_blocks_until_size_without_timeout(serial: ModuleType) -> None:
    with serial.serial_for_url("sim://kaifa?speed=50", baudrate=2400, parity="E") as port:
        port.timeout = None
        assert len(port.read(100)) == 100


@pytest.mark.parametrize(
    "url",
    ["sim://nobody", "sim://kaifa?phases=2", "sim://kaifa?bogus=1", "sim://kaifa?line=2400-9X1"],
)
def test_sim_url_rejects_bad_urls(serial: ModuleType, url: str) -> None:
    with pytest.raises(serial.SerialException):
        serial.serial_for_url(url)


def test_sim_url_line_override(serial: ModuleType) -> None:
    url = "sim://kamstrup?speed=50&line=9600-8N1&seed=4"
    with serial.serial_for_url(url, baudrate=9600, timeout=0.1) as port:
        dec = hanport.Decoder()
        deadline = time.monotonic() + 3
        while dec.stats.frames_ok < 2 and time.monotonic() < deadline:
            dec.feed(port.read(4096))
        assert dec.stats.frames_ok >= 2


# --------------------------------------------------------------------------------------------
# Files, the CLI
# --------------------------------------------------------------------------------------------


def test_write_file(tmp_path: Path) -> None:
    sim = Simulator("aidon", 1, seed=9, start=BEFORE_HOUR)
    path = tmp_path / "aidon.bin"
    n = write_file(sim, path, 120)
    data = path.read_bytes()
    assert len(data) == n
    _, telegrams = decode_all(data)
    assert len(telegrams) == sim.pushes == 49  # every 2.5 s from 0 to 120 s, both included


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hanport")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def test_cli_simulate_to_file(tmp_path: Path) -> None:
    path = tmp_path / "k.bin"
    argv = ["simulate", "--meter", "kamstrup", "--phases", "1", "-o", str(path)]
    assert _cli([*argv, "--duration", "60", "--seed", "1", "--start", BEFORE_HOUR.isoformat()]) == 0
    _, telegrams = decode_all(path.read_bytes())
    assert [tg.list_id for tg in telegrams] == ["Kamstrup_V0001"] * 7  # 0, 10, ..., 60 s
    assert len([tg for tg in telegrams if tg.meter_time is not None]) == 1


def test_cli_simulate_tcp_for_a_while(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--meter", "kaifa", "--tcp", "0", "--speed", "20", "--duration", "4"]
    assert _cli(argv) == 0
    assert capsys.readouterr().out.startswith("socket://127.0.0.1:")


def test_cli_read_sim_jsonl(serial: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    argv = ["read", "sim://kaifa?speed=20&seed=3", "--format", "jsonl", "--count", "3"]
    assert _cli([*argv, "--meter", "kaifa"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert len(lines) == 3
    assert all(d["manufacturer"] == "Kaifa" for d in lines)
    assert "2400 8E1 detected" in captured.err


def test_cli_read_table_detects(serial: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["read", "sim://kamstrup?speed=40&seed=3", "--count", "2", "--meter", "kaifa"]
    assert _cli(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.count("Kamstrup_V0001") == 2
    assert "2400 8N1 detected" in captured.err
    assert "frames ok 2" in captured.err or "frames ok 3" in captured.err


def test_live_demo(serial: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_live_demo(argparse.Namespace(per_file=3, speed=40.0)) == 0
    out = capsys.readouterr().out
    sections = [s for s in out.split("\n\n") if s.strip()]
    assert len(sections) == 3
    for maker, section in zip(("Aidon", "Kaifa", "Kamstrup"), sections, strict=True):
        # Aidon's list 1 names no maker ("?"): L&G's Embriq module sends the same frame
        makers = (f" {maker} ", " ? ") if maker == "Aidon" else (f" {maker} ",)
        rows = [line for line in section.splitlines() if any(m in line for m in makers)]
        assert len(rows) == 3
        assert any(f" {maker} " in line for line in rows)
        assert "0 damaged" in section
