"""hanport: a fast, panic-free decoder for smart-meter customer ports (HAN).

The heavy lifting is done by the Rust extension ``hanport._core``; this package re-exports it
together with the exception hierarchy in :mod:`hanport.errors`.
"""

from hanport._core import (
    Decoder,
    ErrorRecord,
    HdlcFrame,
    Stats,
    __version__,
    crc16_x25,
)
from hanport.errors import (
    ApduError,
    AxdrError,
    ChecksumError,
    DecodeError,
    DecryptionError,
    FrameError,
    HanError,
    MappingError,
    UnsupportedError,
)

__all__ = [
    "ApduError",
    "AxdrError",
    "ChecksumError",
    "DecodeError",
    "Decoder",
    "DecryptionError",
    "ErrorRecord",
    "FrameError",
    "HanError",
    "HdlcFrame",
    "MappingError",
    "Stats",
    "UnsupportedError",
    "__version__",
    "crc16_x25",
]
