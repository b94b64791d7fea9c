//! DLMS/COSEM application layer: LLC, the data-notification APDU, A-XDR data and the COSEM
//! date-time.

pub mod apdu;
pub mod axdr;
pub mod datetime;
pub mod gbt;
pub mod security;
pub mod wrapper;

pub use apdu::{strip_llc, DataNotification, DateTimeForm};
pub use axdr::{Node, Value};
pub use datetime::{CosemDateTime, TimeBasis};
