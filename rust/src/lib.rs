//! # hanport
//!
//! A fast, panic-free decoder for what electricity smart meters push out of their customer port
//! (HAN): HDLC frames (IEC 62056-46) carrying DLMS/COSEM data-notifications.
//!
//! Layers, bottom up: [`crc`] (CRC-16/X.25), [`hdlc`] (zero-copy frame view and a resumable,
//! length-driven stream splitter), [`dlms`] (LLC, data-notification, A-XDR, COSEM date-time),
//! [`obis`] (the single OBIS table), [`meters`] (vendor mapping) and [`decode`] (the
//! [`decode_frame`] and [`Decoder`] façade). Every decoder returns a precise [`Error`] (layer, byte offset,
//! what was expected) instead of panicking, and bounds its work by the size of its input.
//!
//! ```
//! use hanport::hdlc::{Event, FrameSplitter};
//! let stream = [0x7E, 0xA0, 0x08, 0x01, 0x02, 0x01, 0x10, 0x37, 0x8D, 0x7E];
//! let mut splitter = FrameSplitter::new();
//! let mut frames = 0;
//! splitter.push(&stream, |ev| if let Event::Frame(_) = ev { frames += 1 });
//! splitter.finish(|_| {});
//! assert_eq!(frames, 1);
//! ```
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

#[cfg(not(feature = "std"))]
extern crate alloc;

#[cfg(feature = "std")]
pub mod batch;
pub mod crc;
pub mod cursor;
pub mod decode;
pub mod dlms;
pub mod error;
pub mod hdlc;
#[cfg(feature = "std")]
pub mod input;
pub mod mbus;
pub mod meters;
pub mod obis;
pub mod p1;
pub mod quality;
pub mod telegram;

#[cfg(feature = "python")]
mod python;

pub use decode::{decode_frame, decode_frame_with, Decoder, DecoderEvent, Limits, Stats};
pub use error::{CheckField, Error, ErrorKind, Layer, Result};
pub use obis::{Obis, Quantity};
pub use telegram::{CosemObject, Data, Manufacturer, ScalerSource, Telegram};
