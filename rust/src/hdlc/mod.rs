//! HDLC frame format type 3 (IEC 62056-46) as pushed by meters: the frame view and the
//! length-driven stream splitter.

pub mod frame;
pub mod segments;
pub mod splitter;

pub use frame::{Address as HdlcAddress, Frame as HdlcFrame, Header as HdlcHeader};
pub use splitter::{
    ErrorRecord, Event, FrameSpan, FrameSplitter, LinkKind, LinkSpan, Protocols, Stats,
};
