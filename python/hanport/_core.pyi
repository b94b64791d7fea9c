"""Type stubs for the Rust extension ``hanport._core`` (checked by mypy.stubtest)."""

from typing import final

from typing_extensions import Buffer

__version__: str

def crc16_x25(data: Buffer, /) -> int:
    """CRC-16/X.25 (the HDLC HCS/FCS) of ``data``; ``b"123456789"`` gives ``0x906E``."""

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
        """Protocol layer: ``"hdlc"`` or ``"stream"``."""
    @property
    def kind(self) -> str:
        """``"bad_hcs"``, ``"bad_fcs"``, ``"bad_length"``, ``"bad_address"``,
        ``"missing_closing_flag"``, ``"truncated"`` or ``"garbage"``."""
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
    def to_dict(self) -> dict[str, int]:
        """The counters as a dict."""

class Decoder:
    """Sans-IO stream decoder. Lax: it never raises for bad input.

    Feed chunks of any size, split anywhere; every valid frame comes back once, in stream order,
    and everything skipped is counted in :attr:`stats` and recorded in :attr:`errors`.
    """

    def __init__(self) -> None: ...
    def feed(self, chunk: Buffer, /) -> list[HdlcFrame]:
        """Feed bytes; return the frames they complete."""
    def flush(self) -> list[HdlcFrame]:
        """End of stream: resolve buffered bytes and return any frames they complete."""
    @property
    def stats(self) -> Stats:
        """Counters so far."""
    @property
    def errors(self) -> list[ErrorRecord]:
        """Error records since the last :meth:`drain_errors` (the newest 10 000 at most)."""
    def drain_errors(self) -> list[ErrorRecord]:
        """Return the error records and forget them."""
    @property
    def pending(self) -> int:
        """Bytes held back because they may start a frame."""
