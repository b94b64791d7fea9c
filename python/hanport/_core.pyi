"""Type stubs for the Rust extension ``hanport._core`` (checked by mypy.stubtest)."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from os import PathLike
from typing import Any, final

from typing_extensions import Buffer

__version__: str

OBIS_TABLE: tuple[dict[str, Any], ...]
"""The OBIS table, the single source of truth for field names: one dict per quantity with
``field``, ``unit`` (SI, ``""`` when dimensionless), ``kind`` (``"number"``, ``"text"``,
``"datetime"``) and ``codes`` (``"A-*:C.D.E"``, B and F are not matched)."""

_Value = int | float | str | bytes | datetime | bool | None

#: ``keys=``: a mapping from system title (16 hex digits or 8 bytes; ``"*"`` for any meter) to
#: an encryption key (32 hex digits or 16 bytes) or to ``{"ek": ..., "ak": ...}``; or the path
#: of a JSON (or, on Python 3.11+, TOML) key file holding such a mapping. Keys are never shown.
_Keys = Mapping[str, Any] | Mapping[bytes, Any] | str | PathLike[str] | None

def decode_frame(
    data: Buffer,
    /,
    *,
    keys: _Keys = None,
    tz: str = "Europe/Oslo",
    max_depth: int = 16,
    max_frame_length: int = 2047,
) -> Telegram:
    """Decode one complete link frame (or the frames of one message), strictly.

    ``data`` is an HDLC frame with flags (``7E ... 7E``) or without them (``A0 ...``), the HDLC
    frames of one segmented or block-transferred message, the M-Bus long frames of one message
    (``68 L L 68 ...``), a raw ciphered APDU (``DB 08 ...``), or a bare LLC PDU (``E6 E7 00
    ...``) or APDU (``0F ...``). Ciphered APDUs are decrypted with ``keys``. Date-times are
    returned in ``tz``. ``max_depth`` (1..16) bounds A-XDR nesting, ``max_frame_length``
    (7..2047) the HDLC length.

    Raises:
        ChecksumError, FrameError: the link layer (HDLC, M-Bus) is damaged.
        ApduError: the LLC header or the APDU is malformed.
        UnsupportedError: an APDU this version does not decode.
        DecryptionError: no key for the sender's system title, or a key that does not fit.
        AxdrError: the A-XDR data is malformed, too deep, or larger than the input.
        MappingError: the body is neither OBIS-coded nor a known positional list.
        OSError: ``keys`` names a key file that cannot be read.
    """

@final
class CosemObject:
    """One COSEM object of a telegram, in the order the meter sent it."""

    @property
    def obis(self) -> str:
        """OBIS code, e.g. ``"1-0:1.7.0.255"``."""
    @property
    def value(self) -> _Value:
        """The value in SI base units (scaler applied)."""
    @property
    def raw(self) -> _Value:
        """The value as sent, before scaling."""
    @property
    def scaler(self) -> int:
        """The power of ten applied to ``raw``."""
    @property
    def unit(self) -> str | None:
        """Unit text (``"W"``, ``"A"``, ...) or None."""
    @property
    def field(self) -> str | None:
        """Field name from the OBIS table, or None for codes the table does not name."""
    @property
    def scaler_source(self) -> str:
        """``"payload"`` (sent in the frame), ``"vendor"`` (the vendor's implicit scaling) or
        ``"none"`` (unscaled)."""
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""

@final
class Telegram:
    """One decoded push of a meter. Values are converted to Python lazily, on access."""

    @property
    def manufacturer(self) -> str | None:
        """``"Aidon"``, ``"Kaifa"``, ``"Kamstrup"``, ``"Landis+Gyr"``, or None."""
    @property
    def list_id(self) -> str | None:
        """The list version identifier the meter sends, e.g. ``"AIDON_V0001"``."""
    @property
    def meter_id(self) -> str | None:
        """Meter identifier."""
    @property
    def meter_type(self) -> str | None:
        """Meter type."""
    @property
    def system_title(self) -> str | None:
        """The DLMS system title (16 hex digits) of an encrypted push's sender, or None."""
    @property
    def invocation_counter(self) -> int | None:
        """The invocation counter of an encrypted push, or None."""
    @property
    def meter_time(self) -> datetime | None:
        """The meter clock object as a tz-aware datetime."""
    @property
    def notification_time(self) -> datetime | None:
        """The APDU header date-time as a tz-aware datetime."""
    @property
    def values(self) -> dict[str, _Value]:
        """Field name -> value in SI base units, for every object the OBIS table names."""
    @property
    def objects(self) -> list[CosemObject]:
        """The objects in the order the meter sent them."""
    @property
    def offset(self) -> int:
        """Byte offset of the frame's first byte in the stream fed (0 for ``decode_frame``)."""
    @property
    def raw(self) -> bytes:
        """The bytes this telegram was decoded from."""
    @property
    def flags(self) -> list[str]:
        """Data-quality flags, never silent fixes: ``"implausible_voltage"``,
        ``"implausible_current"``, ``"power_inconsistent"``, ``"repeated_snapshot"``,
        ``"register_backwards"``, ``"clock_drift"``; empty when nothing looks wrong."""
    @property
    def received_at(self) -> datetime | None:
        """When the stream decoder received the frame, or None for :func:`decode_frame`."""
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO 8601 strings, bytes as hex)."""

def crc16_x25(data: Buffer, /) -> int:
    """CRC-16/X.25 (the HDLC HCS/FCS) of ``data``; ``b"123456789"`` gives ``0x906E``."""

def flag_manufacturer(title: Buffer, /) -> str | None:
    """The manufacturer a DLMS system title (or FLAG id) names by its first three letters, as
    the decoder reads it (``"Kaifa"`` for ``KFM``...), or None."""

@final
class HdlcFrame:
    """One valid HDLC frame (frame format type 3), found in a stream or parsed on its own."""

    @staticmethod
    def parse(data: Buffer, /) -> HdlcFrame:
        """Parse one complete frame given with its flags (``7E ... 7E``).

        Raises:
            ChecksumError: the HCS or FCS does not match.
            FrameError: bad format type, length, address, a missing flag, or truncation.
        """
    @property
    def offset(self) -> int:
        """Byte offset of the opening flag in the stream fed (0 for :meth:`parse`)."""
    @property
    def raw(self) -> bytes:
        """The frame as received, both flags included."""
    @property
    def length(self) -> int:
        """The 11-bit length field: bytes between the flags."""
    @property
    def segmented(self) -> bool:
        """The segmentation (S) bit: more segments of the same APDU follow."""
    @property
    def dest_address(self) -> bytes:
        """Destination (client) address bytes as sent."""
    @property
    def source_address(self) -> bytes:
        """Source (server) address bytes as sent."""
    @property
    def control(self) -> int:
        """The control byte."""
    @property
    def information(self) -> bytes:
        """The information field (LLC header + APDU); empty if the frame has none."""
    def __len__(self) -> int: ...

@final
class ErrorRecord:
    """What a stream decoder skipped, and why."""

    @property
    def offset(self) -> int:
        """Stream offset of the first byte concerned (a candidate's opening flag)."""
    @property
    def length(self) -> int:
        """Bytes concerned: a rejected candidate's claimed size, or a garbage run's length."""
    @property
    def layer(self) -> str:
        """Protocol layer: ``"stream"``, ``"hdlc"``, ``"llc"``, ``"apdu"``, ``"axdr"`` or
        ``"mapping"``."""
    @property
    def kind(self) -> str:
        """``"bad_hcs"``, ``"bad_fcs"``, ``"bad_length"``, ``"bad_address"``,
        ``"missing_closing_flag"``, ``"truncated"``, ``"garbage"``, ``"malformed"``,
        ``"unsupported"`` or ``"too_deep"``."""
    @property
    def message(self) -> str:
        """Human-readable explanation with the absolute byte offset."""

@final
class Stats:
    """Counters of a stream decoder."""

    @property
    def bytes_in(self) -> int:
        """Bytes fed."""
    @property
    def frames_ok(self) -> int:
        """Frames accepted."""
    @property
    def frames_bad_checksum(self) -> int:
        """Candidates rejected for a bad HCS or FCS."""
    @property
    def frames_malformed(self) -> int:
        """Candidates rejected for length, address, missing closing flag or truncation."""
    @property
    def bytes_skipped(self) -> int:
        """Bytes that belong to no accepted frame (idle flags excluded)."""
    @property
    def telegrams(self) -> int:
        """Telegrams decoded."""
    @property
    def frames_undecodable(self) -> int:
        """Valid frames (or reassembled messages) whose content could not be decoded (each has
        an error record)."""
    @property
    def frames_reassembled(self) -> int:
        """Frames taken into messages of several frames (HDLC segments, block transfer, M-Bus
        segments) beyond the one their telegram or error accounts for, plus frames of messages
        still incomplete: ``frames_ok == telegrams + frames_undecodable + frames_reassembled``."""
    def to_dict(self) -> dict[str, int]:
        """The counters as a dict."""

@final
class FrameSplitter:
    """Sans-IO HDLC frame splitter: the framing layer of :class:`Decoder` on its own. Lax.

    Feed chunks of any size, split anywhere; every valid frame comes back once, in stream order,
    and everything skipped is counted in :attr:`stats` and recorded in :attr:`errors`.
    """

    def __new__(cls, *, max_frame_length: int = 2047, max_errors: int = 10000) -> FrameSplitter:
        """``max_frame_length`` (7..2047): longer candidates are rejected as ``bad_length`` as soon
        as their format field arrives, so no more than that is ever buffered; ``max_errors``:
        error records kept between :meth:`drain_errors` calls (the oldest are dropped)."""
    def feed(self, chunk: Buffer, /) -> list[HdlcFrame]:
        """Feed bytes; return the frames they complete."""
    def flush(self) -> list[HdlcFrame]:
        """End of stream: resolve buffered bytes and return any frames they complete."""
    @property
    def stats(self) -> Stats:
        """Counters so far."""
    @property
    def errors(self) -> list[ErrorRecord]:
        """Error records since the last :meth:`drain_errors` (the newest ``max_errors`` at most)."""
    def drain_errors(self) -> list[ErrorRecord]:
        """Return the error records and forget them."""
    @property
    def pending(self) -> int:
        """Bytes held back because they may start a frame."""

@final
class Decoder:
    """Sans-IO stream decoder. Lax: it never raises for bad input.

    Feed chunks of any size, split anywhere; every good telegram comes back once, in stream
    order; everything skipped or undecodable is counted in :attr:`stats` and recorded in
    :attr:`errors`. Date-times are returned in ``tz``.
    """

    def __new__(
        cls,
        *,
        keys: _Keys = None,
        tz: str = "Europe/Oslo",
        max_clock_drift: float | None = None,
        max_depth: int = 16,
        max_frame_length: int = 2047,
        max_errors: int = 10000,
    ) -> Decoder:
        """``max_clock_drift`` (seconds, 0 to 253 402 128 000, the span a datetime can show;
        anything else is a ValueError): flag telegrams whose meter clock is further than this
        from their receive time (``"clock_drift"``); None (the default) checks nothing.
        Resource limits: ``max_depth`` (1..16) A-XDR nesting, ``max_frame_length`` (7..2047)
        bytes of an HDLC frame (longer candidates are rejected early, never buffered), and
        ``max_errors`` error records kept between :meth:`drain_errors` calls."""
    def feed(self, chunk: Buffer, /, *, received_at: float | None = None) -> list[Telegram]:
        """Feed bytes; return the telegrams they complete. ``received_at`` (seconds since the
        epoch, default now) is recorded on each telegram."""
    def flush(self) -> list[Telegram]:
        """End of stream: resolve buffered bytes and return any telegrams they complete."""
    @property
    def stats(self) -> Stats:
        """Counters so far."""
    @property
    def errors(self) -> list[ErrorRecord]:
        """Error records since the last :meth:`drain_errors` (the newest ``max_errors`` at most)."""
    def drain_errors(self) -> list[ErrorRecord]:
        """Return the error records and forget them."""
    @property
    def pending(self) -> int:
        """Bytes held back because they may start a frame."""

def decode_bytes(
    data: Buffer, /, *, keys: _Keys = None, tz: str = "Europe/Oslo", jobs: int = 0
) -> Batch:
    """Decode a whole capture held in memory into columns (GIL released). Lax, like
    :class:`Decoder`. Large inputs are cut at frame starts and decoded on ``jobs`` cores
    (0: all); the rows are the same as on one core."""

def decode_file(
    path: str | PathLike[str],
    /,
    *,
    keys: _Keys = None,
    tz: str = "Europe/Oslo",
    format: str = "auto",
    jobs: int = 0,
) -> Batch:
    """Read and decode a whole capture file into columns (GIL released).

    ``format``: ``"auto"`` (compression by magic, then hex text or binary by content),
    ``"binary"``, ``"hex"``, ``"gzip"`` or ``"zstd"``. Raises OSError only when the file cannot be
    opened; a damaged compressed file keeps what was readable (see :attr:`Batch.input_error`).
    """

def decode_files(
    paths: Sequence[str | PathLike[str]],
    /,
    *,
    keys: _Keys = None,
    tz: str = "Europe/Oslo",
    format: str = "auto",
    jobs: int = 0,
) -> list[Batch]:
    """Decode several files in parallel (``jobs`` threads, 0: every core), one :class:`Batch`
    per path, in order. Raises OSError for a path that cannot be opened."""

def iter_file(
    path: str | PathLike[str],
    /,
    *,
    keys: _Keys = None,
    tz: str = "Europe/Oslo",
    format: str = "auto",
    batch_bytes: int = 8388608,
) -> BatchIterator:
    """Decode a capture file in bounded memory: an iterator of :class:`Batch`, each from about
    ``batch_bytes`` of capture data. Frames across chunk borders are kept whole."""

@final
class Batch:
    """Telegrams decoded in bulk, as columns: one row per telegram."""

    def __len__(self) -> int: ...
    @property
    def stats(self) -> Stats:
        """Decoder counters for the bytes of this batch."""
    @property
    def errors(self) -> list[ErrorRecord]:
        """What was skipped, and why, in stream order."""
    @property
    def tz(self) -> str:
        """The time zone of the timestamps."""
    @property
    def source(self) -> str | None:
        """The file this batch came from (None for :func:`decode_bytes`)."""
    @property
    def format(self) -> str | None:
        """The input format found, e.g. ``"binary"``, ``"gzip+hex"``."""
    @property
    def input_error(self) -> str | None:
        """Why the input ended early (damaged compressed data, a read error), or None."""
    def column_names(self) -> list[str]:
        """Column names in table order."""
    def telegrams(self) -> list[Telegram]:
        """The rows as :class:`Telegram` objects."""
    def to_arrow(self) -> Any:
        """The batch as a ``pyarrow.Table`` (needs ``hanport[arrow]``), without copying the
        columns. ``manufacturer``, ``list_id``, ``meter_id`` and ``meter_type`` are
        ``dictionary<int32, string>`` (pandas and polars see categoricals; values compare as
        strings); the times are ``timestamp("us", tz)`` UTC instants; numbers ``float64``."""
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """Arrow PyCapsule stream interface."""
    def _arrow_columns(
        self,
    ) -> tuple[tuple[tuple[str, str, int, int, Any, Any, Any], ...], ...]:
        """Arrow buffers per part and column as read-only NumPy arrays (needs numpy): name,
        kind, length, null count, validity, data, offsets (None where the kind has none; for
        ``"dictionary"`` the data are the int32 keys and the last item is the dictionary's
        size, offsets and bytes)."""

@final
class BatchIterator:
    """Iterator of :class:`Batch` over a capture file (see :func:`iter_file`)."""

    def __iter__(self) -> BatchIterator: ...
    def __next__(self) -> Batch: ...
