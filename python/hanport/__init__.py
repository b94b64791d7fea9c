"""hanport: a fast, panic-free decoder for smart-meter customer ports (HAN).

The heavy lifting is done by the Rust extension ``hanport._core``; this package re-exports it
together with the exception hierarchy in :mod:`hanport.errors`.
"""

from hanport._core import (
    OBIS_TABLE,
    Batch,
    BatchIterator,
    CosemObject,
    Decoder,
    ErrorRecord,
    FrameSplitter,
    HdlcFrame,
    Stats,
    Telegram,
    __version__,
    crc16_x25,
    decode_bytes,
    decode_file,
    decode_files,
    decode_frame,
    iter_file,
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
    "OBIS_TABLE",
    "ApduError",
    "AxdrError",
    "Batch",
    "BatchIterator",
    "ChecksumError",
    "CosemObject",
    "DecodeError",
    "Decoder",
    "DecryptionError",
    "ErrorRecord",
    "FrameError",
    "FrameSplitter",
    "HanError",
    "HdlcFrame",
    "MappingError",
    "Stats",
    "Telegram",
    "UnsupportedError",
    "__version__",
    "crc16_x25",
    "decode_bytes",
    "decode_file",
    "decode_files",
    "decode_frame",
    "iter_file",
]
