"""An independent pure-Python encoder for the continental transports of DLMS push telegrams.

Written from the format description (PROTOCOL.md §2.6 HDLC segmentation, §2.7 General Block
Transfer, §3 wired M-Bus long frames with the DLMS transport header, §4.3 general-glo-ciphering
and Appendix B.2/B.4), not from the Rust decoder, so that the round-trip tests compare two
independent implementations. The A-XDR bodies, the data-notification APDU and HDLC frames
come from :mod:`encoder`; the cipher is the ``cryptography`` package's AES.

Layers this module adds, outermost first::

    M-Bus   68 | L | L | 68 | C | A | CI | STSAP | DTSAP | segment | CS | 16
            (L = bytes C..last segment byte, mod 256 above 255; CS = their sum mod 256;
             CI 0x00..0x0F = segment number, 0x10 | n = the last segment)
    HDLC S  first frame: LLC + first part, S=1; continuation frames: raw APDU bytes; the last
            frame has S=0
    GBT     E0 | control (80 last, 40 streaming, 3F window) | block number (2) | ack (2)
            | A-XDR length + block data; numbered from 1; one block per HDLC frame, LLC only
            before the first
    cipher  DB | 08 | system title (8) | A-XDR length | SC | IC (4, BE) | ciphertext | [tag 12]
            IV = system title || IC; SC bit 4 (A): 12-byte GCM tag, AAD = SC || AK (|| the
            plaintext when not encrypted); SC bit 5 (E) without A: AES-CTR from IV || 00000002
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from encoder import LLC, LengthForm, encode_length, hdlc_frame

# --------------------------------------------------------------------------------------------
# Cutting an APDU into parts
# --------------------------------------------------------------------------------------------


def cut(data: bytes, points: Sequence[int]) -> list[bytes]:
    """``data`` cut at the given offsets (strictly increasing, each in 1..len-1): the parts in
    order, none empty, together exactly ``data``."""
    bounds = [0, *points, len(data)]
    if any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"cut points {list(points)} do not split {len(data)} bytes")
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def even_parts(data: bytes, size: int) -> list[bytes]:
    """``data`` in parts of ``size`` bytes (the last one shorter)."""
    if size < 1:
        raise ValueError("part size must be positive")
    return [data[i : i + size] for i in range(0, len(data), size)]


# --------------------------------------------------------------------------------------------
# Wired M-Bus long frames (EN 13757-2) with the DLMS transport header (§3, Appendix B.2)
# --------------------------------------------------------------------------------------------

MBUS_START = 0x68
MBUS_STOP = 0x16
#: C field: SND_UD (master to slave), as the Austrian and Polish meters send it; 0x73 is the
#: same with the frame-count bit set.
SND_UD = 0x53
SND_UD_FCB = 0x73
#: A field: broadcast.
BROADCAST = 0xFF
#: STSAP: the meter's management logical device; DTSAP: the consumer-information push client.
STSAP_MANAGEMENT = 0x01
DTSAP_PUSH_CLIENT = 0x67
#: CI bit 4: the last (or only) segment of a message; bits 3..0: the segment number.
CI_FIN = 0x10
MBUS_MAX_SEGMENTS = 16
#: Bytes of C, A, CI, STSAP and DTSAP: L = this + the segment's length.
MBUS_SEGMENT_OVERHEAD = 5
#: The nominal largest L, and the largest true length in the Sagemcom form (L + 256).
MBUS_MAX_L = 0xFF
SAGEMCOM_MAX_L = 0xFF + 0x100


def mbus_checksum(data: bytes) -> int:
    """The arithmetic sum of the bytes, mod 256."""
    return sum(data) & 0xFF


def mbus_long_frame(
    ci: int, user_data: bytes, *, control: int = SND_UD, address: int = BROADCAST
) -> bytes:
    """``68 L L 68 C A CI <user data> CS 16``.

    ``L`` counts C through the last user-data byte; a true length above 255 (the Sagemcom
    T210-D form, up to 511) is written as its value mod 256.
    """
    body = bytes([control, address, ci]) + user_data
    if len(body) > SAGEMCOM_MAX_L:
        raise ValueError(f"M-Bus frame too long: L = {len(body)}")
    length = len(body) & 0xFF
    return (
        bytes([MBUS_START, length, length, MBUS_START])
        + body
        + bytes([mbus_checksum(body), MBUS_STOP])
    )


def mbus_ci(number: int, last: bool) -> int:
    """The CI field of segment ``number`` (0..15) of a message."""
    if not 0 <= number < MBUS_MAX_SEGMENTS:
        raise ValueError(f"segment number {number} out of range")
    return (CI_FIN if last else 0) | number


def mbus_frames(
    parts: Sequence[bytes],
    *,
    control: int = SND_UD,
    address: int = BROADCAST,
    stsap: int = STSAP_MANAGEMENT,
    dtsap: int = DTSAP_PUSH_CLIENT,
) -> list[bytes]:
    """One long frame per part of an APDU: CI = segment number (FIN on the last), then the
    DLMS transport header ``STSAP DTSAP`` and the part."""
    if not 1 <= len(parts) <= MBUS_MAX_SEGMENTS:
        raise ValueError(f"{len(parts)} segments: an M-Bus message has 1..16")
    return [
        mbus_long_frame(
            mbus_ci(n, n == len(parts) - 1),
            bytes([stsap, dtsap]) + part,
            control=control,
            address=address,
        )
        for n, part in enumerate(parts)
    ]


def mbus_true_length(frame: bytes) -> int:
    """The number of bytes from C through the last user-data byte of a built frame."""
    return len(frame) - 6


def mbus_short_reading_fits(frame: bytes) -> bool:
    """For a frame in the Sagemcom form (true length above 255): whether reading ``L`` as the
    true length would also find a matching checksum and stop byte. Appendix B.2 tries ``L``
    first, so such a frame (a 2^-16 coincidence) is read short: the form is ambiguous there.
    """
    true_len = mbus_true_length(frame)
    if true_len <= MBUS_MAX_L:
        return False
    short = frame[1]
    if short < 3:  # shorter than C, A, CI: no frame
        return False
    body = frame[4 : 4 + short]
    return frame[4 + short] == mbus_checksum(body) and frame[5 + short] == MBUS_STOP


# --------------------------------------------------------------------------------------------
# HDLC segmentation, the S bit (§2.6)
# --------------------------------------------------------------------------------------------


def looks_like_llc(part: bytes) -> bool:
    """Whether a continuation segment starts like an LLC header (destination E6/FF, source
    E6/E7, quality 00). UI frames carry no segment numbers, so a receiver takes such a segment
    for the first one of a new message (amsreader skips an LLC header where one appears,
    §2.6): a message whose APDU has these bytes at a segment border cannot be sent that way.
    """
    return len(part) >= 3 and part[0] in (0xE6, 0xFF) and part[1] in (0xE6, 0xE7) and part[2] == 0


def hdlc_segments(
    parts: Sequence[bytes],
    *,
    dest: bytes,
    src: bytes,
    control: int = 0x13,
    control_more: int | None = None,
) -> list[bytes]:
    """One HDLC frame per part of an APDU: the first carries the LLC header and the first part,
    continuation frames carry raw APDU bytes; S=1 on every frame but the last.

    ``control_more`` is the control byte of the frames with S=1 (Iskra sends 0x03 there and
    0x13 on the last); by default the same as ``control``.
    """
    if not parts or any(not p for p in parts):
        raise ValueError("every segment carries at least one byte")
    more = control if control_more is None else control_more
    out = []
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        info = LLC + part if n == 0 else part
        out.append(hdlc_frame(dest, src, control if last else more, info, segmented=not last))
    return out


# --------------------------------------------------------------------------------------------
# General Block Transfer (§2.7)
# --------------------------------------------------------------------------------------------

GBT_TAG = 0xE0
GBT_LAST = 0x80
GBT_STREAMING = 0x40
GBT_WINDOW = 0x3F


def gbt_block(
    number: int,
    data: bytes,
    *,
    last: bool,
    streaming: bool = True,
    window: int = 0,
    ack: int = 0,
    form: LengthForm = 0,
) -> bytes:
    """``E0 | control | block number | acknowledged block | A-XDR length + block data``."""
    if not 0 <= number <= 0xFFFF or not 0 <= ack <= 0xFFFF:
        raise ValueError("block numbers are 16-bit")
    if not 0 <= window <= GBT_WINDOW:
        raise ValueError(f"window {window} does not fit 6 bits")
    control = (GBT_LAST if last else 0) | (GBT_STREAMING if streaming else 0) | window
    return (
        bytes([GBT_TAG, control])
        + number.to_bytes(2, "big")
        + ack.to_bytes(2, "big")
        + encode_length(len(data), form)
        + data
    )


def gbt_blocks(
    parts: Sequence[bytes],
    *,
    streaming: bool = True,
    window: int = 0,
    form: LengthForm = 0,
    first_number: int = 1,
) -> list[bytes]:
    """The General Block Transfer APDUs of an APDU cut into ``parts``: numbered from
    ``first_number`` (1 on the wire), the last one flagged, no block acknowledged."""
    return [
        gbt_block(
            first_number + n,
            part,
            last=n == len(parts) - 1,
            streaming=streaming,
            window=window,
            form=form,
        )
        for n, part in enumerate(parts)
    ]


def gbt_hdlc_frames(
    blocks: Sequence[bytes], *, dest: bytes, src: bytes, control: int = 0x13
) -> list[bytes]:
    """One HDLC frame (S=0) per block; the LLC header only before the first block."""
    return [
        hdlc_frame(dest, src, control, LLC + block if n == 0 else block)
        for n, block in enumerate(blocks)
    ]


# --------------------------------------------------------------------------------------------
# general-glo-ciphering (§4.3, Appendix B.4)
# --------------------------------------------------------------------------------------------

GLO_CIPHERING = 0xDB
SC_AUTHENTICATED = 0x10
SC_ENCRYPTED = 0x20
SC_SUITE = 0x0F
#: The truncated GCM tag DLMS sends.
TAG_LEN = 12
#: The published authentication key of the Luxembourg Smarty meters (§4.3).
LUXEMBOURG_AK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")


def gcm_iv(system_title: bytes, invocation_counter: int) -> bytes:
    """The 12-byte IV: system title (8) || invocation counter (4, BE)."""
    if len(system_title) != 8:
        raise ValueError("a system title is 8 bytes")
    return system_title + invocation_counter.to_bytes(4, "big")


def ctr_keystream_apply(ek: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CTR from the counter block IV || 00000002 (GCM's first data block): encrypts
    and decrypts alike."""
    enc = Cipher(algorithms.AES(ek), modes.CTR(iv + b"\x00\x00\x00\x02")).encryptor()
    return enc.update(data) + enc.finalize()


def gcm_encrypt(ek: bytes, iv: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """AES-128-GCM: (ciphertext, tag truncated to 12 bytes)."""
    out = AESGCM(ek).encrypt(iv, plaintext, aad)
    return out[:-16], out[-16:][:TAG_LEN]


@dataclass(frozen=True)
class Ciphered:
    """A built general-glo-ciphering APDU and its parts."""

    apdu: bytes
    system_title: bytes
    security_control: int
    invocation_counter: int
    #: the ciphertext (the plaintext itself when only authenticated)
    ciphertext: bytes
    tag: bytes | None

    @property
    def ciphertext_offset(self) -> int:
        """Offset of the first ciphertext byte in :attr:`apdu`."""
        return len(self.apdu) - len(self.ciphertext) - (len(self.tag) if self.tag else 0)


def glo_ciphering(
    plaintext: bytes,
    *,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes | None = None,
    security_control: int = 0x30,
    form: LengthForm = 0,
) -> Ciphered:
    """``DB 08 <system title> <length> <SC> <IC> <ciphertext> [<tag>]`` around ``plaintext``.

    SC bit 5 (E) encrypts, bit 4 (A) authenticates with a 12-byte tag; the AAD is SC || AK
    when encrypting, SC || AK || plaintext when only authenticating. E without A is AES-CTR,
    no tag. The length counts SC, IC, ciphertext and tag, written in length form ``form``.
    """
    if len(ek) != 16 or (ak is not None and len(ak) != 16):
        raise ValueError("AES-128 keys are 16 bytes")
    if not 0 <= invocation_counter <= 0xFFFF_FFFF:
        raise ValueError("the invocation counter is 32-bit")
    sc = security_control
    authenticated = bool(sc & SC_AUTHENTICATED)
    encrypted = bool(sc & SC_ENCRYPTED)
    if authenticated and ak is None:
        raise ValueError("an authenticated APDU needs an authentication key")
    iv = gcm_iv(system_title, invocation_counter)
    tag: bytes | None = None
    if authenticated and encrypted:
        assert ak is not None
        ciphertext, tag = gcm_encrypt(ek, iv, plaintext, bytes([sc]) + ak)
    elif encrypted:
        ciphertext = ctr_keystream_apply(ek, iv, plaintext)
    elif authenticated:
        assert ak is not None
        _, tag = gcm_encrypt(ek, iv, b"", bytes([sc]) + ak + plaintext)
        ciphertext = plaintext
    else:
        raise ValueError(f"security control {sc:#04x} neither encrypts nor authenticates")
    inner = bytes([sc]) + invocation_counter.to_bytes(4, "big") + ciphertext + (tag or b"")
    apdu = bytes([GLO_CIPHERING, 8]) + system_title + encode_length(len(inner), form) + inner
    return Ciphered(apdu, system_title, sc, invocation_counter, ciphertext, tag)


def keys_argument(
    system_title: bytes | None, ek: bytes, ak: bytes | None = None
) -> dict[str, object]:
    """The ``keys=`` mapping of hanport for one meter (``None``: any system title, ``"*"``)."""
    title = "*" if system_title is None else system_title.hex().upper()
    if ak is None:
        return {title: ek.hex().upper()}
    return {title: {"ek": ek.hex(), "ak": ak.hex()}}
