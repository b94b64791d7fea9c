#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets from the real captures in tests/data.

    python3 fuzz/make_seeds.py  # (re)writes fuzz/corpus/{splitter,frame,axdr,apdu,pipeline}

Sources: every valid HDLC frame of tests/data/streams/*.bin (found with the same length-driven
rules as hanport's FrameSplitter: flag, format type 0xA, 11-bit length, closing flag, FCS) and
of the unencrypted records in tests/data/records/*.jsonl (HDLC, LLC-PDU and APDU forms).
Seeds are deduplicated, and frames are thinned to a few hundred per target (every distinct
length and address/list shape first), so the committed corpus stays well below 2 MB.

Stream targets (splitter, pipeline) take a chunking header first (see checks::chunk_plan):
`00` feeds the rest whole, `01 00` in 1-byte chunks, `02 06 C7` in 7- and 2048-byte chunks.
Files are named by the SHA-1 of their content, as libFuzzer names corpus entries.
The roundtrip target's inputs are Arbitrary-encoded models, not captures: it gets no seeds.
"""

import hashlib
import json
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MAX_PER_TARGET = 300
STREAM_WINDOW = 4096


def fcs16(data: bytes) -> int:
    """CRC-16/X.25 as used for HDLC HCS/FCS."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def frames_in(stream: bytes):
    """Yields (offset, flagged frame) for every valid frame, length-driven, no overlap."""
    i = 0
    n = len(stream)
    while i + 2 < n:
        if stream[i] != 0x7E or stream[i + 1] >> 4 != 0xA:
            i += 1
            continue
        length = ((stream[i + 1] & 0x07) << 8) | stream[i + 2]
        end = i + length + 1  # closing flag
        if length >= 7 and end < n and stream[end] == 0x7E:
            inner = stream[i + 1 : end]
            if fcs16(inner[:-2]) == int.from_bytes(inner[-2:], "little"):
                yield i, stream[i : end + 1]
                i = end  # the closing flag may open the next frame
                continue
        i += 1


def info_of(inner: bytes) -> bytes:
    """The information field of the bytes between the flags (b'' if none or bad addresses)."""
    p = 2
    for _ in range(2):  # dest, src
        for k in range(4):
            if p + k >= len(inner):
                return b""
            if inner[p + k] & 1:
                p += k + 1
                break
        else:
            return b""
    header_len = p + 1
    if len(inner) <= header_len + 2:
        return b""
    return inner[header_len + 2 : -2]


def apdu_of(info: bytes) -> bytes:
    if info[:1] in (b"\xe6", b"\xff") and info[2:3] == b"\x00":
        return info[3:]
    return info


def body_of(apdu: bytes) -> bytes:
    """The notification body after tag, invoke id and date-time (b'' if not a notification)."""
    if apdu[:1] != b"\x0f" or len(apdu) < 6:
        return b""
    dt = apdu[5:]
    if dt[:1] == b"\x00":
        return dt[1:]
    if dt[:1] in (b"\x0c", b"\x19"):
        return dt[13:]
    if dt[:2] == b"\x09\x0c":
        return dt[14:]
    if dt[:2] == b"\x09\x00":
        return dt[2:]
    return b""


def thin(items, key, limit, rng):
    """Keeps one item per key first, then a random fill, up to `limit`."""
    items = list(dict.fromkeys(items))
    firsts = {}
    for it in items:
        firsts.setdefault(key(it), it)
    keep = list(firsts.values())[:limit]
    rest = [it for it in items if it not in set(keep)]
    rng.shuffle(rest)
    keep += rest[: max(0, limit - len(keep))]
    return keep


def main():
    rng = random.Random(20240601)
    streams = {p.name: p.read_bytes() for p in sorted((ROOT / "tests/data/streams").glob("*.bin"))}
    frames = []
    for data in streams.values():
        frames += [f for _, f in frames_in(data)]
    loose_info = []  # LLC PDUs and APDUs from the records
    p1 = []  # P1 telegrams from the records
    for path in sorted((ROOT / "tests/data/records").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if rec.get("key") or rec.get("auth_key") or not rec.get("hex"):
                continue
            try:
                raw = bytes.fromhex(rec["hex"])
            except ValueError:
                continue
            fmt = rec.get("format")
            if fmt == "hdlc":
                found = [f for _, f in frames_in(raw)]
                if not found and raw[:1] != b"\x7e" and raw[:1] and raw[0] >> 4 == 0xA:
                    found = [f for _, f in frames_in(b"\x7e" + raw + b"\x7e")]
                frames += found
            elif fmt in ("llc-pdu", "apdu"):
                loose_info.append(raw)
            elif fmt == "raw-stream":
                frames += [f for _, f in frames_in(raw)]
            elif fmt == "p1":
                p1.append(raw)

    def shape(f: bytes):
        inner = f[1:-1]
        info = info_of(inner)
        body = body_of(apdu_of(info))
        return (len(f), inner[2:6], body[:3])

    frame_seeds = thin(frames, shape, MAX_PER_TARGET, rng)
    infos = [apdu_of(info_of(f[1:-1])) for f in frames] + [apdu_of(i) for i in loose_info]
    apdus = [a for a in infos if a[:1] == b"\x0f"]
    apdu_seeds = thin([a[1:] for a in apdus], lambda a: (len(a), a[4:6]), MAX_PER_TARGET, rng)
    bodies = [b for b in (body_of(a) for a in apdus) if b]
    axdr_seeds = thin(bodies, lambda b: (len(b), b[:4]), MAX_PER_TARGET, rng)

    stream_seeds = []
    plans = [b"\x00", b"\x01\x00", b"\x02\x06\xc7", b"\x03\xff\x10\x00"]
    for k, data in enumerate(streams.values()):
        windows = [data[:STREAM_WINDOW]]
        if len(data) > 2 * STREAM_WINDOW:
            mid = rng.randrange(STREAM_WINDOW, len(data) - STREAM_WINDOW)
            windows.append(data[mid : mid + STREAM_WINDOW])
        for j, w in enumerate(windows):
            stream_seeds.append(plans[(k + j) % len(plans)] + w)
    # a few frames back to back with garbage, idle flags and a truncated tail
    for _ in range(20):
        parts = rng.sample(frame_seeds, min(4, len(frame_seeds)))
        s = b"\x00\x7e\x7e" + b"\x00\x11".join(parts) + parts[0][: len(parts[0]) // 2]
        stream_seeds.append(rng.choice(plans) + s)
    frames_as_streams = [b"\x00" + f for f in frame_seeds[:60]]
    # P1 telegrams twice in a row (the second takes the learned-layout path), as sent and
    # without their CRC (a changed byte then still leaves a telegram to decode)
    for t in p1:
        bang = t.rfind(b"!")
        bare = t[: bang + 1] + b"\r\n" if bang >= 0 else t
        stream_seeds += [b"\x00" + t + t, b"\x00" + bare + bare]

    targets = {
        "splitter": stream_seeds + frames_as_streams,
        "pipeline": stream_seeds + frames_as_streams,
        "frame": frame_seeds + [f[1:-1] for f in frame_seeds[:40]],
        "apdu": apdu_seeds,
        "axdr": axdr_seeds,
    }
    for target, seeds in targets.items():
        d = CORPUS / target
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for s in dict.fromkeys(seeds):
            (d / hashlib.sha1(s).hexdigest()).write_bytes(s)
        size = sum(p.stat().st_size for p in d.iterdir())
        print(f"{target:9} {len(list(d.iterdir())):4} files {size / 1024:7.1f} KiB")


if __name__ == "__main__":
    main()
