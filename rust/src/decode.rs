//! The façade: [`decode_frame`] (strict, one frame) and [`Decoder`] (lax, a byte stream).
//!
//! ```text
//! bytes ─ FrameSplitter ─ HDLC frame ─ LLC ─ data-notification ─ A-XDR nodes ─ meters::map ─ Telegram
//! ```

#[cfg(not(feature = "std"))]
use alloc::vec::Vec;

use crate::dlms::apdu::{strip_llc, DataNotification};
use crate::dlms::axdr::{decode_into_limited, Node, MAX_DEPTH};
use crate::dlms::security::{CipheredApdu, CounterCheck, CounterTracker, Decrypted, KeyRing};
use crate::error::{Error, ErrorKind, Layer, Result};
use crate::hdlc::{ErrorRecord, Event, FrameSplitter, HdlcFrame, Stats as SplitStats};
use crate::meters::{map, LinkHints};
use crate::telegram::{recycle, ObjectRef, Telegram, TelegramRef};

/// Resource limits of the decoders (memory and work stay bounded by these and the input size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest A-XDR nesting accepted (1..=16; real pushes nest 3 deep).
    pub max_depth: u8,
    /// Longest HDLC frame accepted, bytes between the flags (7..=2047).
    pub max_frame_length: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: MAX_DEPTH,
            max_frame_length: crate::hdlc::frame::MAX_FRAME_LEN,
        }
    }
}

/// Decodes an information field (LLC + APDU, or a bare APDU) into `tg` (empty, its object
/// list reused), stateless quality flags included; a ciphered APDU is decrypted into `plain`
/// with `keys`. Error offsets are relative to `info`.
fn decode_information<'a>(
    info: &'a [u8],
    hints: LinkHints<'_>,
    nodes: &mut Vec<Node<'a>>,
    tg: &mut TelegramRef<'a>,
    max_depth: u8,
    keys: &KeyRing,
    plain: &'a mut Vec<u8>,
) -> Result<Option<Decrypted>> {
    let (apdu, llc_len) = strip_llc(info)?;
    decode_apdu(apdu, hints, nodes, tg, max_depth, keys, plain).map_err(|e| e.add_offset(llc_len))
}

/// Decodes one complete APDU: a data-notification, or a ciphered APDU (general-glo- or
/// general-ded-ciphering) around one, decrypted into `plain`. Offsets of errors in the
/// plaintext are those of the matching ciphertext bytes (AES-GCM/CTR keep positions).
fn decode_apdu<'a>(
    apdu: &'a [u8],
    hints: LinkHints<'_>,
    nodes: &mut Vec<Node<'a>>,
    tg: &mut TelegramRef<'a>,
    max_depth: u8,
    keys: &KeyRing,
    plain: &'a mut Vec<u8>,
) -> Result<Option<Decrypted>> {
    match apdu.first() {
        Some(&(0xDB | 0xDC)) => {
            let (c, used) = CipheredApdu::parse(apdu)?;
            if used != apdu.len() {
                return Err(Error::new(
                    Layer::Security,
                    used,
                    ErrorKind::Malformed("bytes after the ciphered APDU"),
                ));
            }
            let d = c.decrypt(keys, plain)?;
            let at = c.ciphertext_offset;
            let plain: &'a [u8] = plain;
            let hints = LinkHints {
                system_title: Some(d.system_title),
                ..hints
            };
            decode_notification(plain, hints, nodes, tg, max_depth)
                .map_err(|e| e.add_offset(at))?;
            tg.system_title = Some(d.system_title);
            tg.invocation_counter = Some(d.invocation_counter);
            if !d.authenticated {
                tg.flags.set(crate::quality::UNAUTHENTICATED);
            }
            Ok(Some(d))
        }
        _ => decode_notification(apdu, hints, nodes, tg, max_depth).map(|()| None),
    }
}

/// Decodes a data-notification APDU (errors relative to `apdu`).
fn decode_notification<'a>(
    apdu: &'a [u8],
    hints: LinkHints<'_>,
    nodes: &mut Vec<Node<'a>>,
    tg: &mut TelegramRef<'a>,
    max_depth: u8,
) -> Result<()> {
    let n = DataNotification::parse(apdu)?;
    let body_at = n.body_offset;
    nodes.clear();
    let used = decode_into_limited(n.body, nodes, max_depth).map_err(|e| e.add_offset(body_at))?;
    if used != n.body.len() {
        return Err(Error::new(
            Layer::Axdr,
            body_at + used,
            ErrorKind::Malformed("bytes after the notification body"),
        ));
    }
    map(&n, nodes, hints, tg).map_err(|e| e.add_offset(body_at))?;
    tg.flags = crate::quality::stateless(tg);
    Ok(())
}

/// Decodes one complete link frame, strictly: an HDLC frame with flags (`7E … 7E`) or without
/// them (`A0 …`), or a bare LLC PDU (`E6 E7 00 …`) or APDU (`0F …`).
///
/// # Errors
/// The first problem found, at any layer, with its offset in `data`.
pub fn decode_frame(data: &[u8]) -> Result<Telegram> {
    decode_frame_with(data, &Limits::default())
}

/// As [`decode_frame`], under the given [`Limits`] (the frame-length limit applies to HDLC
/// frames).
///
/// # Errors
/// As [`decode_frame`].
pub fn decode_frame_with(data: &[u8], limits: &Limits) -> Result<Telegram> {
    decode_frame_keyed(data, limits, &KeyRing::new())
}

/// As [`decode_frame_with`], decrypting ciphered APDUs with `keys`.
///
/// # Errors
/// As [`decode_frame`]; [`Layer::Security`] `NoKey`/`Decryption` for a ciphered APDU whose
/// sender has no key in `keys`, or whose key does not fit.
pub fn decode_frame_keyed(data: &[u8], limits: &Limits, keys: &KeyRing) -> Result<Telegram> {
    let max_depth = limits.max_depth;
    if data.first() == Some(&0x7E) || data.first().is_some_and(|b| b >> 4 == 0xA) {
        let inner = data.strip_prefix(&[0x7E]).unwrap_or(data);
        if let [hi, lo, ..] = inner {
            let length = (u16::from(hi & 0x07) << 8) | u16::from(*lo);
            if length > limits.max_frame_length {
                return Err(Error::new(
                    Layer::Hdlc,
                    data.len() - inner.len(),
                    ErrorKind::BadLength {
                        length,
                        minimum: crate::hdlc::frame::MIN_FRAME_LEN,
                    },
                ));
            }
        }
    }
    let mut nodes = Vec::new();
    let mut plain = Vec::new();
    let mut tg = TelegramRef::with_objects(Vec::new());
    decode_link_frame(data, &mut nodes, &mut tg, max_depth, keys, &mut plain)?;
    Ok(tg.to_owned())
}

/// The strict one-frame decode of [`decode_frame_with`], into borrowed scratch.
fn decode_link_frame<'a>(
    data: &'a [u8],
    nodes: &mut Vec<Node<'a>>,
    tg: &mut TelegramRef<'a>,
    max_depth: u8,
    keys: &KeyRing,
    plain: &'a mut Vec<u8>,
) -> Result<Option<Decrypted>> {
    match data.first() {
        Some(0x7E) => {
            let f = HdlcFrame::from_flagged(data)?;
            let (dest, src) = (f.dest_addr(), f.src_addr());
            if f.segmented() {
                return Err(Error::new(
                    Layer::Hdlc,
                    1,
                    ErrorKind::Malformed(
                        "segmented HDLC frames need reassembly (not yet supported)",
                    ),
                ));
            }
            let hints = LinkHints {
                dest: dest.bytes(),
                src: src.bytes(),
                system_title: None,
            };
            let info_at = 1 + f.header().info_offset();
            decode_information(
                f.information_slice(),
                hints,
                nodes,
                tg,
                max_depth,
                keys,
                plain,
            )
            .map_err(|e| e.add_offset(info_at))
        }
        Some(b) if b >> 4 == 0xA => {
            let f = HdlcFrame::new_checked(data)?;
            let (dest, src) = (f.dest_addr(), f.src_addr());
            let hints = LinkHints {
                dest: dest.bytes(),
                src: src.bytes(),
                system_title: None,
            };
            let info_at = f.header().info_offset();
            let info = data
                .get(info_at..data.len().saturating_sub(2))
                .unwrap_or(&[]);
            decode_information(info, hints, nodes, tg, max_depth, keys, plain)
                .map_err(|e| e.add_offset(info_at))
        }
        Some(_) => decode_information(
            data,
            LinkHints::default(),
            nodes,
            tg,
            max_depth,
            keys,
            plain,
        ),
        None => Err(Error::new(
            Layer::Hdlc,
            0,
            ErrorKind::Truncated {
                needed: 1,
                available: 0,
            },
        )),
    }
}

/// The invocation-counter flags of a decrypted push (and its counter remembered).
pub(crate) fn counter_flags(counters: &mut CounterTracker, tg: &TelegramRef<'_>) -> u32 {
    let (Some(title), Some(ic)) = (tg.system_title, tg.invocation_counter) else {
        return 0;
    };
    counter_bits(counters.check(title, ic))
}

/// The flag bits of a counter check.
pub(crate) fn counter_bits(c: CounterCheck) -> u32 {
    match c {
        CounterCheck::Replay => crate::quality::COUNTER_REPLAY.bit,
        CounterCheck::Gap { .. } => crate::quality::COUNTER_GAP.bit,
        _ => 0,
    }
}

/// Counters of a [`Decoder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Framing counters.
    pub split: SplitStats,
    /// Telegrams decoded.
    pub telegrams: u64,
    /// Valid frames whose content could not be decoded (each has an error record).
    pub frames_undecodable: u64,
}

/// An event of the stream decoder, in stream order.
#[derive(Debug)]
pub enum DecoderEvent<'a> {
    /// A decoded telegram (borrowing the frame; [`TelegramRef::to_owned`] keeps it), with the
    /// frame's stream offset and bytes (flags included).
    Telegram {
        /// The telegram.
        telegram: &'a TelegramRef<'a>,
        /// Stream offset of the frame's opening flag.
        offset: u64,
        /// The frame bytes.
        raw: &'a [u8],
    },
    /// Something skipped or undecodable.
    Error(ErrorRecord),
}

/// Sans-IO stream decoder: push bytes, get telegrams and error records. Lax: bad input is
/// skipped, counted and recorded; every good frame around it is kept.
#[derive(Debug)]
pub struct Decoder {
    splitter: FrameSplitter,
    max_depth: u8,
    scratch: Vec<Node<'static>>,
    objects: Vec<ObjectRef<'static>>,
    tracker: crate::quality::Tracker,
    keys: KeyRing,
    plain: Vec<u8>,
    counters: CounterTracker,
    telegrams: u64,
    undecodable: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder at stream offset 0.
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// A decoder under the given [`Limits`].
    pub fn with_limits(limits: Limits) -> Self {
        Decoder {
            splitter: FrameSplitter::with_max_frame_length(limits.max_frame_length),
            max_depth: limits.max_depth,
            scratch: Vec::new(),
            objects: Vec::new(),
            tracker: crate::quality::Tracker::default(),
            keys: KeyRing::new(),
            plain: Vec::new(),
            counters: CounterTracker::new(),
            telegrams: 0,
            undecodable: 0,
        }
    }

    /// A decoder under the given [`Limits`] that decrypts ciphered APDUs with `keys`.
    pub fn with_keys(limits: Limits, keys: KeyRing) -> Self {
        Decoder {
            keys,
            ..Self::with_limits(limits)
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        Stats {
            split: self.splitter.stats(),
            telegrams: self.telegrams,
            frames_undecodable: self.undecodable,
        }
    }

    /// Bytes held back because they may start a frame.
    pub fn pending(&self) -> usize {
        self.splitter.pending()
    }

    /// Feeds a chunk of any size; `sink` receives telegrams and error records in stream order.
    pub fn push<F: FnMut(DecoderEvent<'_>)>(&mut self, chunk: &[u8], sink: F) {
        self.run(Some(chunk), sink);
    }

    /// Ends the stream (see [`FrameSplitter::finish`]).
    pub fn finish<F: FnMut(DecoderEvent<'_>)>(&mut self, sink: F) {
        self.run(None, sink);
    }

    fn run<F: FnMut(DecoderEvent<'_>)>(&mut self, chunk: Option<&[u8]>, mut sink: F) {
        let mut scratch: Vec<Node<'_>> = recycle(core::mem::take(&mut self.scratch));
        let mut objects: Vec<ObjectRef<'_>> = recycle(core::mem::take(&mut self.objects));
        let mut telegrams = 0u64;
        let mut undecodable = 0u64;
        let tracker = &mut self.tracker;
        let counters = &mut self.counters;
        let keys = &self.keys;
        let plain = &mut self.plain;
        let max_depth = self.max_depth;
        let mut on_event = |ev: Event<'_>| match ev {
            Event::Frame(f) => {
                let mut nodes: Vec<Node<'_>> = recycle(core::mem::take(&mut scratch));
                let mut tg = TelegramRef::with_objects(recycle(core::mem::take(&mut objects)));
                let hints = LinkHints {
                    dest: f.header.dest.bytes(),
                    src: f.header.src.bytes(),
                    system_title: None,
                };
                let info_at = 1 + f.header.info_offset();
                let result = if f.header.segmented {
                    Err(Error::new(
                        Layer::Hdlc,
                        1,
                        ErrorKind::Malformed(
                            "segmented HDLC frames need reassembly (not yet supported)",
                        ),
                    ))
                } else {
                    decode_information(
                        f.information(),
                        hints,
                        &mut nodes,
                        &mut tg,
                        max_depth,
                        keys,
                        plain,
                    )
                    .map_err(|e| e.add_offset(info_at))
                };
                scratch = recycle(nodes);
                match result {
                    Ok(_) => {
                        let stateful = tracker.check(&tg);
                        tg.flags.0 |= stateful.0 | counter_flags(counters, &tg);
                        telegrams += 1;
                        sink(DecoderEvent::Telegram {
                            telegram: &tg,
                            offset: f.offset,
                            raw: f.bytes,
                        });
                    }
                    Err(error) => {
                        undecodable += 1;
                        sink(DecoderEvent::Error(ErrorRecord {
                            offset: f.offset,
                            length: f.bytes.len() as u64,
                            error,
                        }));
                    }
                }
                objects = recycle(tg.objects);
            }
            Event::Error(r) => sink(DecoderEvent::Error(r)),
        };
        match chunk {
            Some(c) => self.splitter.push(c, &mut on_event),
            None => self.splitter.finish(&mut on_event),
        }
        self.telegrams += telegrams;
        self.undecodable += undecodable;
        self.scratch = recycle(scratch);
        self.objects = recycle(objects);
    }
}
