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


@st.composite
def addresses(draw: st.DrawFn) -> bytes:
    """A 1-, 2- or 4-byte address: bit 0 clear in every byte but the last, set in the last."""
    size = draw(st.sampled_from([1, 2, 4]))
    groups = draw(st.lists(st.integers(0, 0x7F), min_size=size, max_size=size))
    out = [g << 1 for g in groups]
    out[-1] |= 1
    return bytes(out)


@st.composite
def informations(draw: st.DrawFn, max_size: int = MAX_INFO) -> bytes:
    """An information field of 0..max_size bytes, often holding 0x7E and 0x7D."""
    size = draw(st.one_of(st.integers(0, min(32, max_size)), st.integers(0, max_size)))
    data = bytearray(draw(st.binary(min_size=size, max_size=size)))
    if data:
        specials = draw(
            st.lists(
                st.tuples(st.integers(0, len(data) - 1), st.sampled_from([FLAG, ESCAPE])),
                max_size=min(len(data), 24),
            )
        )
        for at, byte in specials:
            data[at] = byte
    return bytes(data)


@st.composite
def encoded_frames(draw: st.DrawFn, max_info: int = MAX_INFO) -> EncodedFrame:
    """A valid frame with the fields it was built from."""
    return encode_frame(
        dest=draw(addresses()),
        src=draw(addresses()),
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
GARBAGE_BYTE = st.integers(0, 0xFF).filter(lambda b: b != FLAG)
#: The first byte of a gap follows a closing flag, which the splitter may take as an opening
#: flag: it must not look like a format field (high nibble 0xA), or garbage plus the next
#: frame could (with a 2^-32 chance) pass as a frame.
GAP_START_BYTE = st.integers(0, 0xFF).filter(lambda b: b != FLAG and b >> 4 != 0xA)


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
    dest = draw(addresses())
    src = draw(addresses())
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
            out += bytes([first, *draw(st.lists(GARBAGE_BYTE, max_size=max_size - 1))])
        elif piece == "false_start":
            header, kind = draw(rejected_headers())
            rejections.append((len(out), kind))
            out += bytes([FLAG]) + header
        else:
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
INTERESTING_BYTE = st.one_of(
    st.sampled_from([FLAG, ESCAPE, 0xA0, 0xA8, 0xA1, 0xA7, 0xFF, 0x00, 0x01, 0x03, 0x13]),
    st.integers(0, 0xFF),
)


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
            dest = draw(addresses())
            src = draw(addresses())
            length = draw(st.integers(2 + len(dest) + len(src) + 5, MAX_LENGTH))
            head = bytearray([0xA0 | length >> 8, length & 0xFF, *dest, *src, 0x13])
            head += _le16(crc16_x25_bitwise(head))
            out += bytes([FLAG]) + head
        else:
            out += bytes(draw(st.lists(INTERESTING_BYTE, min_size=1, max_size=64)))
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
