"""An independent HDLC encoder and Hypothesis strategies for the property tests.

Everything here is written from the frame description (IEC 62056-46 frame format type 3 as
meters send it, without byte stuffing), not from the Rust code, so that the tests compare two
implementations:

    7E | format(2) | dest(1..4) | src(1..4) | control | [HCS(2) | information] | FCS(2) | 7E

The format field is ``0xA`` in the high nibble, the segmentation bit (bit 11) and an 11-bit
length counting every byte between the flags. HCS and FCS are CRC-16/X.25, little-endian.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st

FLAG = 0x7E
ESCAPE = 0x7D
MAX_LENGTH = 0x7FF
MAX_INFO = 600

# --------------------------------------------------------------------------------------------
# CRC-16/X.25 and the encoder
# --------------------------------------------------------------------------------------------


def crc16_x25_bitwise(data: bytes | bytearray) -> int:
    """CRC-16/X.25 one bit at a time: reflected poly 0x8408, init 0xFFFF, xorout 0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0x8408
            else:
                crc >>= 1
    return crc ^ 0xFFFF


def _le16(value: int) -> bytes:
    return bytes((value & 0xFF, value >> 8))


@dataclass(frozen=True)
class EncodedFrame:
    """The fields a frame was built from, and the resulting bytes (both flags included)."""

    dest: bytes
    src: bytes
    control: int
    segmented: bool
    information: bytes
    raw: bytes

    @property
    def length(self) -> int:
        """The length field: bytes between the flags."""
        return len(self.raw) - 2

    @property
    def header_len(self) -> int:
        """Bytes from the format field through the control byte."""
        return 2 + len(self.dest) + len(self.src) + 1


def is_address(addr: bytes) -> bool:
    """True for a well-formed 1-, 2- or 4-byte HDLC address (only the last byte has bit 0 set)."""
    return len(addr) in (1, 2, 4) and addr[-1] & 1 == 1 and all(b & 1 == 0 for b in addr[:-1])


def encode_frame(
    dest: bytes, src: bytes, control: int, segmented: bool, information: bytes
) -> EncodedFrame:
    """Build one frame with correct HCS (if there is information) and FCS."""
    if not (is_address(dest) and is_address(src)):
        raise ValueError(f"bad address {dest.hex()} / {src.hex()}")
    if not 0 <= control <= 0xFF:
        raise ValueError(f"bad control {control}")
    header_len = 2 + len(dest) + len(src) + 1
    length = header_len + (2 + len(information) if information else 0) + 2
    if length > MAX_LENGTH:
        raise ValueError(f"frame too long: {length}")
    fmt = 0xA000 | (0x0800 if segmented else 0) | length
    body = bytearray(fmt.to_bytes(2, "big"))
    body += dest
    body += src
    body.append(control)
    if information:
        body += _le16(crc16_x25_bitwise(body))
        body += information
    body += _le16(crc16_x25_bitwise(body))
    assert len(body) == length
    raw = bytes([FLAG]) + bytes(body) + bytes([FLAG])
    return EncodedFrame(dest, src, control, segmented, information, raw)


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def _address(size: int, raw: bytes) -> bytes:
    out = [b & 0xFE for b in raw[:size]]
    out[-1] |= 1
    return bytes(out)


_ADDRESSES = st.builds(_address, st.sampled_from([1, 2, 4]), st.binary(min_size=4, max_size=4))


def addresses() -> st.SearchStrategy[bytes]:
    """A 1-, 2- or 4-byte address: bit 0 clear in every byte but the last, set in the last."""
    return _ADDRESSES


def sprinkle(data: bytes, count: int, seed: int, choices: Sequence[int]) -> bytes:
    """``data`` with ``count`` bytes, at places picked by ``seed``, replaced from ``choices``.

    One drawn seed instead of one draw per byte keeps generation fast; a count of 0 (what
    Hypothesis shrinks towards) leaves ``data`` alone.
    """
    out = bytearray(data)
    if out:
        for _ in range(count):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            out[seed % len(out)] = choices[(seed >> 16) % len(choices)]
    return bytes(out)


_SEEDS = st.integers(0, 2**31 - 1)


@st.composite
def informations(draw: st.DrawFn, max_size: int = MAX_INFO) -> bytes:
    """An information field of 0..max_size bytes, often holding 0x7E and 0x7D."""
    size = draw(st.one_of(st.integers(0, min(32, max_size)), st.integers(0, max_size)))
    data = draw(st.binary(min_size=size, max_size=size))
    return sprinkle(data, draw(st.integers(0, 24)), draw(_SEEDS), [FLAG, ESCAPE])


@st.composite
def encoded_frames(draw: st.DrawFn, max_info: int = MAX_INFO) -> EncodedFrame:
    """A valid frame with the fields it was built from."""
    return encode_frame(
        dest=draw(_ADDRESSES),
        src=draw(_ADDRESSES),
        control=draw(st.integers(0, 0xFF)),
        segmented=draw(st.booleans()),
        information=draw(informations(max_info)),
    )


@st.composite
def hdlc_frames(draw: st.DrawFn, max_info: int = MAX_INFO) -> bytes:
    """The bytes of a valid frame, both flags included."""
    return draw(encoded_frames(max_info)).raw


# --------------------------------------------------------------------------------------------
# Garbage that cannot hold, or help form, a valid frame
# --------------------------------------------------------------------------------------------

#: Garbage bytes: never a flag, so no candidate can start inside garbage.
GARBAGE_BYTE = st.integers(0, 0xFE).map(lambda b: b + (b >= FLAG))
#: The first byte of a gap follows a closing flag, which the splitter may take as an opening
#: flag: it must not look like a format field (high nibble 0xA), or garbage plus the next
#: frame could (with a 2^-32 chance) pass as a frame.
GAP_START_BYTE = st.sampled_from([b for b in range(256) if b != FLAG and b >> 4 != 0xA])


@st.composite
def rejected_headers(draw: st.DrawFn) -> tuple[bytes, str]:
    """Bytes that, after a flag, start a candidate rejected on its header alone, and the kind
    of the rejection.

    Whatever follows cannot change the verdict: a length below the minimum (``bad_length``),
    an address that does not end within 4 bytes (``bad_address``), or a complete header with
    a wrong HCS (``bad_hcs``). Contains no 0x7E.
    """
    kind = draw(st.sampled_from(["bad_length", "bad_address", "bad_hcs"]))
    seg = draw(st.sampled_from([0x00, 0x08]))
    fallback = (bytes([0xA0 | seg, 0x05]), "bad_length")
    if kind == "bad_length":
        length = draw(st.integers(0, 6))
        return bytes([0xA0 | seg, length]), kind
    if kind == "bad_address":
        length = draw(st.integers(7, MAX_LENGTH))
        groups = draw(st.lists(st.integers(0, 0x7F), min_size=4, max_size=4))
        out = bytes([0xA0 | seg | length >> 8, length & 0xFF, *(g << 1 for g in groups)])
        return (out, kind) if FLAG not in out else fallback
    dest = draw(_ADDRESSES)
    src = draw(_ADDRESSES)
    header_len = 2 + len(dest) + len(src) + 1
    length = draw(st.integers(header_len + 4, MAX_LENGTH))
    head = bytearray([0xA0 | seg | length >> 8, length & 0xFF, *dest, *src])
    head.append(draw(GARBAGE_BYTE))
    good = crc16_x25_bitwise(head)
    wrong = draw(
        st.integers(0, 0xFFFF).filter(lambda v: v != good and FLAG not in (v & 0xFF, v >> 8))
    )
    out = bytes(head) + _le16(wrong)
    return (out, kind) if FLAG not in out else fallback


@dataclass(frozen=True)
class Gap:
    """Bytes between frames, and the candidates a decoder must reject in them.

    ``rejections`` holds (offset of the candidate's opening flag relative to the gap, kind);
    offset -1 is the closing flag of the frame before the gap.
    """

    data: bytes = b""
    rejections: tuple[tuple[int, str], ...] = ()


@st.composite
def gaps(draw: st.DrawFn, max_size: int = 40) -> Gap:
    """Bytes to put between whole frames: garbage and false starts, never a valid frame.

    A false start is a flag followed by a header rejected on its own (see
    :func:`rejected_headers`) or by a byte that is no format field. A rejected header may also
    follow the gap's preceding closing flag directly. Garbage holds no 0x7E, so the only flags
    in a gap are those of false starts, each followed by a non-flag byte (no idle flags).
    """
    out = bytearray()
    rejections: list[tuple[int, str]] = []
    if draw(st.booleans()):
        header, kind = draw(rejected_headers())
        rejections.append((-1, kind))
        out += header
    pieces = draw(st.lists(st.sampled_from(["garbage", "false_start", "not_a_frame"]), max_size=4))
    for piece in pieces:
        if piece == "garbage":
            first = draw(GAP_START_BYTE if not out else GARBAGE_BYTE)
            rest = draw(st.binary(max_size=max_size - 1)).replace(b"\x7e", b"\x7f")
            out += bytes([first]) + rest
        elif piece == "false_start":
            header, kind = draw(rejected_headers())
            rejections.append((len(out), kind))
            out += bytes([FLAG]) + header
        else:
            if not out:
                # a flag right after the closing flag would be an idle flag, not garbage
                out.append(draw(GAP_START_BYTE))
            out += bytes([FLAG, draw(GAP_START_BYTE)])
    return Gap(bytes(out), tuple(rejections))


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """A byte stream and what a correct decoder must find in it."""

    data: bytes
    #: (offset of the opening flag, frame bytes with both flags), in stream order
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    #: [start, end) of every run of bytes that belong to no frame
    gaps: list[tuple[int, int]] = field(default_factory=list)
    #: (offset of the opening flag, kind) of every candidate that must be rejected
    rejections: list[tuple[int, str]] = field(default_factory=list)

    @property
    def frame_bytes(self) -> int:
        """Bytes inside frames (each frame has its own two flags)."""
        return sum(len(raw) for _, raw in self.frames)


def assemble(frames: Sequence[bytes], between: Sequence[Gap]) -> Stream:
    """``between[0] + frames[0] + between[1] + ... + frames[-1] + between[-1]``.

    ``between`` has one more element than ``frames``. A rejection at the start of the first
    gap has no flag before it and is dropped (its bytes are plain garbage there).
    """
    assert len(between) == len(frames) + 1
    data = bytearray()
    found: list[tuple[int, bytes]] = []
    holes: list[tuple[int, int]] = []
    rejections: list[tuple[int, str]] = []
    for k, gap in enumerate(between):
        if gap.data:
            holes.append((len(data), len(data) + len(gap.data)))
        rejections += [(len(data) + at, kind) for at, kind in gap.rejections if k or at >= 0]
        data += gap.data
        if k < len(frames):
            found.append((len(data), frames[k]))
            data += frames[k]
    return Stream(bytes(data), found, holes, rejections)


@st.composite
def streams(draw: st.DrawFn, max_frames: int = 6, max_info: int = 300) -> Stream:
    """Valid frames, each with its own two flags, separated by gaps (garbage, false starts).

    A lone flag may end the stream after trailing garbage (it opens nothing).
    """
    frames = draw(st.lists(hdlc_frames(max_info), max_size=max_frames))
    between = draw(st.lists(gaps(), min_size=len(frames) + 1, max_size=len(frames) + 1))
    if between[-1].data and draw(st.booleans()):
        between[-1] = Gap(between[-1].data + bytes([FLAG]), between[-1].rejections)
    return assemble(frames, between)


@st.composite
def shared_flag_streams(draw: st.DrawFn, max_frames: int = 6) -> Stream:
    """Valid frames where a closing flag may double as the next opening flag, and idle flags
    (runs of 0x7E) may precede or separate frames. No garbage, no trailing flags: every byte is
    a frame byte or an idle flag."""
    frames = draw(st.lists(hdlc_frames(200), min_size=1, max_size=max_frames))
    data = bytearray()
    found: list[tuple[int, bytes]] = []
    for frame in frames:
        if data and draw(st.booleans()):
            start = len(data) - 1  # share the previous closing flag
            data += frame[1:]
        else:
            data += bytes([FLAG]) * draw(st.integers(0, 3))
            start = len(data)
            data += frame
        found.append((start, frame))
    return Stream(bytes(data), found)


#: Bytes that make the splitter work: flags, format-field high nibbles, address terminators.
INTERESTING = [FLAG, ESCAPE, 0xA0, 0xA8, 0xA1, 0xA7, 0xFF, 0x00, 0x01, 0x03, 0x13]


@st.composite
def interesting_bytes(draw: st.DrawFn, min_size: int = 0, max_size: int = 64) -> bytes:
    """Random bytes with many flags, format-field bytes and address terminators sprinkled in."""
    data = draw(st.binary(min_size=min_size, max_size=max_size))
    return sprinkle(data, draw(st.integers(0, len(data))), draw(_SEEDS), INTERESTING)


@st.composite
def noisy_streams(draw: st.DrawFn, max_parts: int = 10) -> bytes:
    """Anything a real serial line may deliver: frames, corrupted or cut frames, frames that
    share flags, idle flags, false starts (some claiming up to 2047 bytes), random bytes."""
    out = bytearray()
    kinds = [
        "frame",
        "shared",
        "corrupt",
        "cut",
        "idle",
        "false_start",
        "long_false_start",
        "noise",
    ]
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=max_parts)):
        if kind in ("frame", "shared", "corrupt", "cut"):
            frame = bytearray(draw(hdlc_frames(300)))
            if kind == "shared" and out and out[-1] == FLAG:
                frame = frame[1:]
            elif kind == "corrupt":
                at = draw(st.integers(0, len(frame) - 1))
                frame[at] ^= 1 << draw(st.integers(0, 7))
            elif kind == "cut":
                frame = frame[: draw(st.integers(1, len(frame) - 1))]
            out += frame
        elif kind == "idle":
            out += bytes([FLAG]) * draw(st.integers(1, 4))
        elif kind == "false_start":
            out += bytes([FLAG]) + draw(rejected_headers())[0]
        elif kind == "long_false_start":
            # a credible header (good HCS) claiming a long frame that is not there
            dest = draw(_ADDRESSES)
            src = draw(_ADDRESSES)
            length = draw(st.integers(2 + len(dest) + len(src) + 5, MAX_LENGTH))
            head = bytearray([0xA0 | length >> 8, length & 0xFF, *dest, *src, 0x13])
            head += _le16(crc16_x25_bitwise(head))
            out += bytes([FLAG]) + head
        else:
            out += draw(interesting_bytes(min_size=1))
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Chunking
# --------------------------------------------------------------------------------------------


def chunk_sizes() -> st.SearchStrategy[list[int]]:
    """Sizes of the chunks a stream is fed in."""
    return st.lists(st.integers(1, 64))


def chunked(data: bytes, sizes: Sequence[int], *, cycle: bool = False) -> Iterator[bytes]:
    """Split ``data`` into chunks of ``sizes``; the rest comes in one chunk, or, with ``cycle``,
    in chunks of ``sizes`` repeated until the data is used up. Every byte comes exactly once."""
    pos = 0
    while pos < len(data):
        for size in sizes:
            if pos >= len(data):
                return
            yield data[pos : pos + size]
            pos += size
        if not (cycle and sizes):
            break
    if pos < len(data):
        yield data[pos:]


# --------------------------------------------------------------------------------------------
# DLMS-looking information fields (to fuzz the layers above HDLC)
# --------------------------------------------------------------------------------------------


def _ber_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return bytes([0x81, n])
    return bytes([0x82, n >> 8, n & 0xFF])


#: Years the date-time strategy uses, including ones no datetime can hold (0, >= 10000, and
#: 1 or 9999 once an offset is applied): they must come back as None, never raise.
YEARS = [0, 1, 0xFFFF, 1970, 2000, 2024, 2038, 2100, 9999, 10000, 65534]


def _datetime_bytes(fields: tuple[int, ...]) -> bytes:
    year, month, day, dow, hour, minute, second, hundredths, deviation, status = fields
    return bytes(
        [
            year >> 8,
            year & 0xFF,
            month,
            day,
            dow,
            hour,
            minute,
            second,
            hundredths,
            *(deviation & 0xFFFF).to_bytes(2, "big"),
            status,
        ]
    )


_PLAUSIBLE_DATETIMES = st.tuples(
    st.sampled_from(YEARS),
    st.sampled_from([1, 2, 3, 10, 12, 0, 13, 0xFD, 0xFE, 0xFF]),
    st.sampled_from([1, 28, 29, 30, 31, 0, 32, 0xFD, 0xFE, 0xFF]),
    st.sampled_from([1, 7, 0, 8, 0xFF]),
    st.sampled_from([0, 1, 2, 3, 23, 24, 0xFF]),
    st.sampled_from([0, 59, 60, 0xFF]),
    st.sampled_from([0, 59, 60, 0xFF]),
    st.sampled_from([0, 99, 100, 0xFF]),
    st.sampled_from([0, 60, -60, 120, -120, 720, -720, 841, -841, 0x8000]),
    st.sampled_from([0x00, 0x80, 0x01, 0xFF]),
).map(_datetime_bytes)
_RANDOM_DATETIMES = st.tuples(st.sampled_from(YEARS), st.binary(min_size=10, max_size=10)).map(
    lambda t: t[0].to_bytes(2, "big") + t[1]
)
#: 12 bytes of COSEM date-time: plausible, edge-case or random fields (but the year).
COSEM_DATETIMES = st.one_of(_PLAUSIBLE_DATETIMES, _RANDOM_DATETIMES)

OBIS_CODES = [
    bytes([1, 0, 1, 7, 0, 255]),
    bytes([1, 0, 2, 7, 0, 255]),
    bytes([1, 0, 31, 7, 0, 255]),
    bytes([1, 0, 32, 7, 0, 255]),
    bytes([1, 0, 1, 8, 0, 255]),
    bytes([0, 0, 1, 0, 0, 255]),
    bytes([1, 1, 0, 2, 129, 255]),
    bytes([0, 0, 96, 1, 0, 255]),
    bytes([0, 0, 96, 1, 7, 255]),
    bytes([0, 0, 96, 1, 1, 255]),
]
LIST_IDS = [b"AIDON_V0001", b"Kamstrup_V0001", b"KFM_001", b"ISK1030-1", b""]
_FIXED_SIZE = {0x03: 1, 0x05: 4, 0x06: 4, 0x0D: 1, 0x0F: 1, 0x10: 2, 0x11: 1, 0x12: 2}
_FIXED_SIZE |= {0x14: 8, 0x15: 8, 0x16: 1, 0x17: 4, 0x18: 8, 0x1A: 5, 0x1B: 4}

#: One A-XDR scalar: null, fixed-size numbers, date-times, strings, bit strings.
SCALARS = st.one_of(
    st.just(b"\x00"),
    st.tuples(st.sampled_from(sorted(_FIXED_SIZE)), st.binary(min_size=8, max_size=8)).map(
        lambda t: bytes([t[0]]) + t[1][: _FIXED_SIZE[t[0]]]
    ),
    COSEM_DATETIMES.map(lambda d: b"\x09\x0c" + d),
    COSEM_DATETIMES.map(lambda d: b"\x19" + d),
    st.tuples(
        st.sampled_from([0x09, 0x0A, 0x0C]),
        st.one_of(st.binary(max_size=20), st.sampled_from(LIST_IDS)),
    ).map(lambda t: bytes([t[0]]) + _ber_length(len(t[1])) + t[1]),
    st.binary(max_size=3).map(lambda b: b"\x04" + _ber_length(8 * len(b)) + b),
)


def _obis_entry(t: tuple[bytes, bytes, bool, int, int]) -> bytes:
    code, value, scaled, scaler, unit = t
    obis = b"\x09\x06" + code
    if scaled:
        return b"\x02\x03" + obis + value + bytes([0x02, 0x02, 0x0F, scaler & 0xFF, 0x16, unit])
    return b"\x02\x02" + obis + value


#: structure { OBIS, value [, structure { scaler, unit }] }
OBIS_ENTRIES = st.tuples(
    st.sampled_from(OBIS_CODES),
    SCALARS,
    st.booleans(),
    st.integers(-128, 127),
    st.sampled_from([27, 30, 32, 33, 35, 29, 31, 0, 255]),
).map(_obis_entry)

#: A-XDR data: scalars, OBIS-coded entries, arrays and structures, nested.
AXDR_VALUES = st.recursive(
    st.one_of(SCALARS, OBIS_ENTRIES),
    lambda inner: st.tuples(st.sampled_from([0x01, 0x02]), st.lists(inner, max_size=6)).map(
        lambda t: bytes([t[0]]) + _ber_length(len(t[1])) + b"".join(t[1])
    ),
    max_leaves=16,
)
_OBIS_LISTS = st.tuples(st.sampled_from([0x01, 0x02]), st.lists(OBIS_ENTRIES, max_size=14)).map(
    lambda t: bytes([t[0]]) + _ber_length(len(t[1])) + b"".join(t[1])
)
_POSITIONAL = st.tuples(
    st.sampled_from(LIST_IDS), st.sampled_from([0x09, 0x0A]), st.lists(SCALARS, max_size=16)
).map(
    lambda t: (
        b"\x02" + _ber_length(1 + len(t[2])) + bytes([t[1], len(t[0])]) + t[0] + b"".join(t[2])
    )
)
#: A notification body: like the lists meters send (OBIS-coded or positional), or anything.
BODIES = st.one_of(_OBIS_LISTS, _POSITIONAL, AXDR_VALUES)
# well-formed first: Hypothesis shrinks towards 0
_LLC = st.integers(0, 7).map(lambda k: [b"\xe6\xe6\x00", b""][k - 6] if k >= 6 else b"\xe6\xe7\x00")
_APDU_TAG = st.integers(0, 11).map(lambda k: [0xDB, 0xE0, 0x00, 0x0E][k - 8] if k >= 8 else 0x0F)
_WHEN = st.one_of(
    st.just(b"\x00"),
    COSEM_DATETIMES.map(lambda d: b"\x0c" + d),
    COSEM_DATETIMES.map(lambda d: b"\x09\x0c" + d),
)


@st.composite
def dlms_informations(draw: st.DrawFn) -> bytes:
    """LLC header + data-notification APDU with random, often well-formed, content; sometimes
    cut short or with a byte changed."""
    head = draw(_LLC) + bytes([draw(_APDU_TAG)]) + draw(st.binary(min_size=4, max_size=4))
    info = bytearray(head + draw(_WHEN) + draw(BODIES))
    mutation = draw(st.integers(0, 7))
    if mutation == 6:
        info = info[: draw(st.integers(0, len(info) - 1))]
    elif mutation == 7:
        info[draw(st.integers(0, len(info) - 1))] = draw(st.integers(0, 255))
    return bytes(info[:1900])


_DLMS_INFORMATIONS = dlms_informations()


@st.composite
def dlms_frames(draw: st.DrawFn) -> EncodedFrame:
    """A valid HDLC frame carrying a DLMS-looking information field."""
    return encode_frame(
        dest=draw(_ADDRESSES),
        src=draw(_ADDRESSES),
        control=draw(st.sampled_from([0x13, 0x10, 0x03])),
        segmented=draw(st.integers(0, 15)) == 0,
        information=draw(_DLMS_INFORMATIONS),
    )
