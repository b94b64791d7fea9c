"""The hanport exception hierarchy.

Everything hanport raises for bad input is a :class:`DecodeError`, which is also a
:class:`ValueError`. Each error carries the byte ``offset`` where the problem was found, the
protocol ``layer`` that rejected the input (``"hdlc"``, ``"llc"``, ``"apdu"``, ``"axdr"``, ...)
and a short ``kind`` (``"bad_fcs"``, ``"truncated"``, ...). This module never imports the
extension, so it can be used (and the errors pickled) anywhere.
"""

from __future__ import annotations

__all__ = [
    "ApduError",
    "AxdrError",
    "ChecksumError",
    "DecodeError",
    "DecryptionError",
    "FrameError",
    "HanError",
    "MappingError",
    "UnsupportedError",
]


class HanError(Exception):
    """Base class of every exception hanport raises on purpose."""


class DecodeError(HanError, ValueError):
    """Input that cannot be decoded.

    Attributes:
        message: what went wrong and what was expected.
        offset: byte offset of the problem in the input given to the call.
        layer: the protocol layer that rejected the input.
        kind: a short stable identifier of the problem.
    """

    def __init__(self, message: str, offset: int = 0, layer: str = "", kind: str = "") -> None:
        super().__init__(message, offset, layer, kind)
        self.message = message
        self.offset = offset
        self.layer = layer
        self.kind = kind

    def __str__(self) -> str:
        return self.message


class FrameError(DecodeError):
    """The link frame (HDLC) is malformed: format, length, address, flags or truncation."""


class ChecksumError(FrameError):
    """A header or frame check sequence (HCS/FCS) does not match."""


class ApduError(DecodeError):
    """The LLC header or the DLMS APDU is malformed."""


class AxdrError(DecodeError):
    """The A-XDR encoded COSEM data is malformed, too deep or larger than the input."""


class UnsupportedError(DecodeError):
    """The input uses a feature or tag this version does not decode."""


class DecryptionError(DecodeError):
    """An encrypted APDU could not be decrypted or authenticated (never shows key material)."""


class MappingError(DecodeError):
    """Decoded COSEM objects do not fit the list layout they claim."""
