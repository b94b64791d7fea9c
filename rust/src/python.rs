//! The only PyO3 file: the `hanport._core` extension module.
//!
//! Python objects are built here and nowhere else; the core never sees Python. Every core error
//! is turned into a Python exception by [`to_py_err`] alone, using the classes defined in
//! `hanport/errors.py`. No function here can panic on input: no `unwrap`, no indexing.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList};

use crate::decode::{Decoder as CoreDecoder, DecoderEvent};
use crate::dlms::datetime::{CosemDateTime, TimeBasis};
use crate::error::{Error, ErrorKind, Layer};
use crate::hdlc::{ErrorRecord as CoreRecord, Event, FrameSplitter, HdlcFrame, HdlcHeader};
use crate::obis::{FieldKind, Quantity, TABLE};
use crate::telegram::{CosemObject, Data, Manufacturer, Telegram};

pyo3::import_exception!(hanport.errors, FrameError);
pyo3::import_exception!(hanport.errors, ChecksumError);
pyo3::import_exception!(hanport.errors, ApduError);
pyo3::import_exception!(hanport.errors, AxdrError);
pyo3::import_exception!(hanport.errors, MappingError);
pyo3::import_exception!(hanport.errors, UnsupportedError);
pyo3::import_exception!(hanport.errors, DecryptionError);

/// Checks the resource-limit arguments and builds the core's [`crate::Limits`].
fn limits(max_depth: u32, max_frame_length: u32) -> PyResult<crate::Limits> {
    let bad = |what: &str| pyo3::exceptions::PyValueError::new_err(what.to_owned());
    let max_depth = u8::try_from(max_depth)
        .ok()
        .filter(|d| (1..=crate::dlms::axdr::MAX_DEPTH).contains(d))
        .ok_or_else(|| bad("max_depth must be within 1..=16"))?;
    let max_frame_length = u16::try_from(max_frame_length)
        .ok()
        .filter(|n| (7..=2047).contains(n))
        .ok_or_else(|| bad("max_frame_length must be within 7..=2047"))?;
    Ok(crate::Limits {
        max_depth,
        max_frame_length,
    })
}

fn max_errors_arg(max_errors: u64) -> PyResult<usize> {
    usize::try_from(max_errors)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("max_errors must be at least 1"))
}

/// The error records a stream decoder keeps between two `drain_errors()` calls: at most `max`,
/// the oldest dropped first (the counters in `stats` still count them).
struct ErrorLog {
    records: std::collections::VecDeque<PyErrorRecord>,
    max: usize,
}

impl ErrorLog {
    fn new(max: usize) -> Self {
        ErrorLog {
            records: std::collections::VecDeque::new(),
            max,
        }
    }

    fn push(&mut self, r: &CoreRecord) {
        while self.records.len() >= self.max {
            self.records.pop_front();
        }
        self.records.push_back(PyErrorRecord::from(r));
    }

    fn snapshot(&self) -> Vec<PyErrorRecord> {
        self.records.iter().cloned().collect()
    }

    fn drain(&mut self) -> Vec<PyErrorRecord> {
        self.records.drain(..).collect()
    }
}

/// 16 bytes of key material from `bytes` or a hex string (whitespace ignored); `None` for
/// anything else. The value is never echoed in an error.
fn key16(v: &Bound<'_, PyAny>) -> Option<[u8; 16]> {
    fixed_bytes::<16>(v)
}

fn fixed_bytes<const N: usize>(v: &Bound<'_, PyAny>) -> Option<[u8; N]> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return <[u8; N]>::try_from(b.as_bytes()).ok();
    }
    let s: String = v.extract().ok()?;
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = char::from(*pair.first()?).to_digit(16)?;
        let lo = char::from(*pair.get(1)?).to_digit(16)?;
        *slot = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// The `keys=` argument as a key ring: None; a mapping from system title (16 hex digits or 8
/// bytes; `"*"` for any meter) to an encryption key (32 hex digits or 16 bytes) or to a mapping
/// `{"ek": ..., "ak": ...}`; or the path of a JSON (or TOML) key file holding such a mapping.
/// Errors name the system title, never a key.
fn key_ring(
    py: Python<'_>,
    keys: Option<&Bound<'_, PyAny>>,
) -> PyResult<crate::dlms::security::KeyRing> {
    use crate::dlms::security::{KeyRing, Keys, TitleMatch};
    let mut ring = KeyRing::new();
    let Some(keys) = keys else {
        return Ok(ring);
    };
    if keys.is_none() {
        return Ok(ring);
    }
    let os = py.import("os")?;
    let is_path = keys.is_instance_of::<pyo3::types::PyString>()
        || keys.is_instance(&os.getattr("PathLike")?)?;
    let mapping = if is_path {
        let path = os.getattr("fspath")?.call1((keys,))?;
        let text: String = py
            .import("pathlib")?
            .getattr("Path")?
            .call1((&path,))?
            .call_method0("read_text")?
            .extract()?;
        match py.import("json")?.getattr("loads")?.call1((&text,)) {
            Ok(m) => m,
            Err(_) => match py.import("tomllib") {
                Ok(toml) => toml.getattr("loads")?.call1((&text,)).map_err(|_| {
                    PyValueError::new_err(format!(
                        "key file {}: neither JSON nor TOML",
                        path.str().map(|s| s.to_string()).unwrap_or_default()
                    ))
                })?,
                Err(_) => {
                    return Err(PyValueError::new_err(format!(
                        "key file {}: not JSON (TOML needs Python 3.11)",
                        path.str().map(|s| s.to_string()).unwrap_or_default()
                    )))
                }
            },
        }
    } else {
        keys.clone()
    };
    let items = mapping
        .call_method0("items")
        .map_err(|_| PyTypeError::new_err("keys must be a mapping or the path of a key file"))?;
    for item in items.try_iter()? {
        let (title, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
        let title_text = title
            .extract::<String>()
            .unwrap_or_else(|_| "<bytes>".to_owned());
        let which = if title_text.trim() == "*" {
            TitleMatch::Any
        } else {
            match fixed_bytes::<8>(&title) {
                Some(t) => TitleMatch::Exact(t),
                None => {
                    return Err(PyValueError::new_err(format!(
                        "keys: system title {title_text:?} must be 16 hex digits, 8 bytes or \"*\""
                    )))
                }
            }
        };
        let bad = |what: &str| {
            PyValueError::new_err(format!(
                "keys: the {what} for system title {title_text} must be 32 hex digits or 16 bytes"
            ))
        };
        let entry = if value.is_instance_of::<PyDict>()
            || value.hasattr("keys")? && !value.is_instance_of::<pyo3::types::PyString>()
        {
            let get = |k: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
                match value.get_item(k) {
                    Ok(v) if !v.is_none() => Ok(Some(v)),
                    _ => Ok(None),
                }
            };
            let ek = get("ek")?.ok_or_else(|| bad("encryption key (\"ek\")"))?;
            let ek = key16(&ek).ok_or_else(|| bad("encryption key (\"ek\")"))?;
            let ak = match get("ak")? {
                Some(a) => Some(key16(&a).ok_or_else(|| bad("authentication key (\"ak\")"))?),
                None => None,
            };
            Keys { ek, ak }
        } else {
            Keys {
                ek: key16(&value).ok_or_else(|| bad("encryption key"))?,
                ak: None,
            }
        };
        ring.insert(which, entry);
    }
    Ok(ring)
}

/// The single mapping from core errors to Python exceptions.
fn to_py_err(e: Error) -> PyErr {
    let args = (e.to_string(), e.offset, e.layer.name(), e.kind_name());
    match (e.layer, e.kind) {
        (_, ErrorKind::Checksum { .. }) => ChecksumError::new_err(args),
        (Layer::Hdlc | Layer::Stream, _) => FrameError::new_err(args),
        (Layer::Axdr, _) => AxdrError::new_err(args),
        (Layer::Llc | Layer::Apdu, ErrorKind::Unsupported { .. }) => {
            UnsupportedError::new_err(args)
        }
        (Layer::Llc | Layer::Apdu, _) => ApduError::new_err(args),
        (Layer::Mapping, _) => MappingError::new_err(args),
        (Layer::Security, _) => DecryptionError::new_err(args),
        (Layer::Mbus | Layer::P1, _) => FrameError::new_err(args),
    }
}

/// Borrows `bytes` without copying; copies `bytearray`/`memoryview`/other buffers once.
enum Input<'py> {
    Borrowed(Bound<'py, PyBytes>),
    Owned(Vec<u8>),
}

impl Input<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Input::Borrowed(b) => b.as_bytes(),
            Input::Owned(v) => v,
        }
    }
}

fn input<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Input<'py>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Input::Borrowed(b.clone()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Input::Owned(b.to_vec()));
    }
    if obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err(
            "expected bytes-like data, got str (use bytes.fromhex() for hex text)",
        ));
    }
    // memoryview and any other buffer (memoryview() raises TypeError for anything else)
    let builtins = obj.py().import("builtins")?;
    let view = builtins.getattr("memoryview")?.call1((obj,))?;
    let b = builtins.getattr("bytes")?.call1((view,))?;
    let b = b
        .cast_into::<PyBytes>()
        .map_err(|_| PyTypeError::new_err("expected a bytes-like object"))?;
    Ok(Input::Borrowed(b))
}

/// One valid HDLC frame (frame format type 3) found in a stream or parsed on its own.
#[pyclass(name = "HdlcFrame", module = "hanport._core", frozen)]
struct PyHdlcFrame {
    offset: u64,
    raw: Vec<u8>,
    header: HdlcHeader,
}

impl PyHdlcFrame {
    fn information_slice(&self) -> &[u8] {
        let inner = self
            .raw
            .get(1..self.raw.len().saturating_sub(1))
            .unwrap_or(&[]);
        inner
            .get(self.header.info_offset()..inner.len().saturating_sub(2))
            .unwrap_or(&[])
    }
}

#[pymethods]
impl PyHdlcFrame {
    /// Parses one complete frame given with its flags (`7E … 7E`). Strict.
    #[staticmethod]
    #[pyo3(signature = (data, /))]
    fn parse(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let data = input(data)?;
        let bytes = data.as_slice();
        let frame = HdlcFrame::from_flagged(bytes).map_err(to_py_err)?;
        Ok(PyHdlcFrame {
            offset: 0,
            raw: bytes.to_vec(),
            header: *frame.header(),
        })
    }

    /// Byte offset of the opening flag in the stream fed (0 for `parse`).
    #[getter]
    fn offset(&self) -> u64 {
        self.offset
    }

    /// The frame as received, both flags included.
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.raw)
    }

    /// The length field: bytes between the flags.
    #[getter]
    fn length(&self) -> u16 {
        self.header.length
    }

    /// The segmentation bit.
    #[getter]
    fn segmented(&self) -> bool {
        self.header.segmented
    }

    /// Destination address bytes as sent.
    #[getter]
    fn dest_address<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.header.dest.bytes())
    }

    /// Source address bytes as sent.
    #[getter]
    fn source_address<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.header.src.bytes())
    }

    /// Control byte.
    #[getter]
    fn control(&self) -> u8 {
        self.header.control
    }

    /// The information field (LLC header + APDU); empty if the frame has none.
    #[getter]
    fn information<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.information_slice())
    }

    fn __len__(&self) -> usize {
        self.raw.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "HdlcFrame(offset={}, length={}, segmented={}, control=0x{:02X})",
            self.offset,
            self.header.length,
            if self.header.segmented {
                "True"
            } else {
                "False"
            },
            self.header.control
        )
    }
}

/// What a stream decoder skipped, and why.
#[pyclass(name = "ErrorRecord", module = "hanport._core", frozen, eq)]
#[derive(PartialEq, Clone)]
struct PyErrorRecord {
    #[pyo3(get)]
    offset: u64,
    #[pyo3(get)]
    length: u64,
    #[pyo3(get)]
    layer: &'static str,
    #[pyo3(get)]
    kind: &'static str,
    #[pyo3(get)]
    message: String,
}

impl From<&CoreRecord> for PyErrorRecord {
    fn from(r: &CoreRecord) -> Self {
        PyErrorRecord {
            offset: r.offset,
            length: r.length,
            layer: r.layer(),
            kind: r.kind(),
            message: r.to_string(),
        }
    }
}

#[pymethods]
impl PyErrorRecord {
    fn __repr__(&self) -> String {
        format!(
            "ErrorRecord(offset={}, length={}, layer='{}', kind='{}')",
            self.offset, self.length, self.layer, self.kind
        )
    }
}

/// Counters of a stream decoder.
#[pyclass(name = "Stats", module = "hanport._core", frozen, eq)]
#[derive(PartialEq)]
struct PyStats {
    #[pyo3(get)]
    bytes_in: u64,
    #[pyo3(get)]
    frames_ok: u64,
    #[pyo3(get)]
    frames_bad_checksum: u64,
    #[pyo3(get)]
    frames_malformed: u64,
    #[pyo3(get)]
    bytes_skipped: u64,
    #[pyo3(get)]
    telegrams: u64,
    #[pyo3(get)]
    frames_undecodable: u64,
    #[pyo3(get)]
    frames_reassembled: u64,
}

#[pymethods]
impl PyStats {
    fn __repr__(&self) -> String {
        format!(
            "Stats(bytes_in={}, frames_ok={}, frames_bad_checksum={}, frames_malformed={}, \
             bytes_skipped={}, telegrams={}, frames_undecodable={}, frames_reassembled={})",
            self.bytes_in,
            self.frames_ok,
            self.frames_bad_checksum,
            self.frames_malformed,
            self.bytes_skipped,
            self.telegrams,
            self.frames_undecodable,
            self.frames_reassembled
        )
    }

    /// The counters as a dict.
    fn to_dict(&self) -> std::collections::BTreeMap<&'static str, u64> {
        [
            ("bytes_in", self.bytes_in),
            ("frames_ok", self.frames_ok),
            ("frames_bad_checksum", self.frames_bad_checksum),
            ("frames_malformed", self.frames_malformed),
            ("bytes_skipped", self.bytes_skipped),
            ("telegrams", self.telegrams),
            ("frames_undecodable", self.frames_undecodable),
            ("frames_reassembled", self.frames_reassembled),
        ]
        .into_iter()
        .collect()
    }
}

/// Python's `datetime.datetime` for a COSEM date-time under the written-down policy
/// (see `rust/src/dlms/datetime.rs`), expressed in `zone`.
fn py_datetime<'py>(
    py: Python<'py>,
    t: &CosemDateTime,
    aidon: bool,
    zone: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some((y, mo, d, h, mi, s, us)) = t.fields() else {
        return Ok(None);
    };
    let dt_mod = py.import("datetime")?;
    let kwargs = PyDict::new(py);
    match t.basis(aidon) {
        TimeBasis::FixedOffset { utc_offset_minutes } => {
            let delta = dt_mod
                .getattr("timedelta")?
                .call((0, i64::from(utc_offset_minutes) * 60), None)?;
            let tz = dt_mod.getattr("timezone")?.call1((delta,))?;
            kwargs.set_item("tzinfo", tz)?;
            let v = dt_mod
                .getattr("datetime")?
                .call((y, mo, d, h, mi, s, us), Some(&kwargs))?;
            Ok(Some(v.call_method1("astimezone", (zone,))?))
        }
        TimeBasis::LocalZone { dst } => {
            kwargs.set_item("tzinfo", zone)?;
            // the repeated autumn hour: DST active -> first occurrence, DST clear -> second
            kwargs.set_item("fold", i32::from(dst == Some(false)))?;
            Ok(Some(
                dt_mod
                    .getattr("datetime")?
                    .call((y, mo, d, h, mi, s, us), Some(&kwargs))?,
            ))
        }
    }
}

fn py_data<'py>(
    py: Python<'py>,
    d: &Data,
    aidon: bool,
    zone: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match d {
        Data::Null => py.None().into_bound(py),
        Data::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Data::Int(v) => v.into_pyobject(py)?.into_any(),
        Data::UInt(v) => v.into_pyobject(py)?.into_any(),
        Data::Float(v) => v.into_pyobject(py)?.into_any(),
        Data::Text(s) => s.into_pyobject(py)?.into_any(),
        Data::Bytes(b) => PyBytes::new(py, b).into_any(),
        Data::DateTime(t) => match py_datetime(py, t, aidon, zone)? {
            Some(v) => v,
            None => py.None().into_bound(py),
        },
    })
}

fn json_ready<'py>(v: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if v.hasattr("isoformat")? {
        return v.call_method0("isoformat");
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(hex(b.as_bytes()).into_pyobject(v.py())?.into_any());
    }
    Ok(v)
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// One COSEM object of a telegram, in the order the meter sent it.
#[pyclass(name = "CosemObject", module = "hanport._core", frozen)]
struct PyCosemObject {
    inner: CosemObject,
    aidon: bool,
    zone: Py<PyAny>,
}

#[pymethods]
impl PyCosemObject {
    /// OBIS code, e.g. `"1-0:1.7.0.255"`.
    #[getter]
    fn obis(&self) -> String {
        self.inner.obis.to_string()
    }

    /// The value in SI base units (scaler applied).
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py_data(py, &self.inner.value(), self.aidon, self.zone.bind(py))
    }

    /// The value as sent (before scaling).
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py_data(py, &self.inner.raw, self.aidon, self.zone.bind(py))
    }

    /// Power of ten applied to `raw`.
    #[getter]
    fn scaler(&self) -> i8 {
        self.inner.scaler
    }

    /// Unit text (`"W"`, `"A"`, ...), or None.
    #[getter]
    fn unit(&self) -> Option<&'static str> {
        self.inner.unit_name()
    }

    /// Field name from the OBIS table, or None.
    #[getter]
    fn field(&self) -> Option<&'static str> {
        self.inner.quantity.map(Quantity::field)
    }

    /// `"payload"`, `"vendor"` or `"none"`.
    #[getter]
    fn scaler_source(&self) -> &'static str {
        self.inner.scaler_source.name()
    }

    /// JSON-ready dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("obis", self.obis())?;
        d.set_item("field", self.field())?;
        d.set_item("value", json_ready(self.value(py)?)?)?;
        d.set_item("raw", json_ready(self.raw(py)?)?)?;
        d.set_item("scaler", self.inner.scaler)?;
        d.set_item("unit", self.unit())?;
        d.set_item("scaler_source", self.scaler_source())?;
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "CosemObject(obis='{}', field={}, value={}, unit={})",
            self.obis(),
            self.field().map_or("None".to_owned(), |f| format!("'{f}'")),
            self.value(py)?.repr()?,
            self.unit().map_or("None".to_owned(), |u| format!("'{u}'")),
        ))
    }
}

/// One decoded push of a meter. Values are converted to Python lazily, on access.
#[pyclass(name = "Telegram", module = "hanport._core", frozen)]
struct PyTelegram {
    inner: Telegram,
    offset: u64,
    raw: Vec<u8>,
    zone: Py<PyAny>,
    /// Seconds since the epoch when the stream decoder received the frame's last byte.
    received_at: Option<f64>,
}

impl PyTelegram {
    fn aidon(&self) -> bool {
        self.inner.manufacturer == Some(Manufacturer::Aidon)
    }
}

#[pymethods]
impl PyTelegram {
    /// `"Aidon"`, `"Kaifa"`, `"Kamstrup"`, `"Landis+Gyr"`, or None.
    #[getter]
    fn manufacturer(&self) -> Option<&'static str> {
        self.inner.manufacturer.map(Manufacturer::name)
    }

    /// The list version identifier as sent, e.g. `"AIDON_V0001"`.
    #[getter]
    fn list_id(&self) -> Option<&str> {
        self.inner.list_id.as_deref()
    }

    /// Meter identifier.
    #[getter]
    fn meter_id(&self) -> Option<&str> {
        self.inner.meter_id.as_deref()
    }

    /// Meter type.
    #[getter]
    fn meter_type(&self) -> Option<&str> {
        self.inner.meter_type.as_deref()
    }

    /// The DLMS system title (16 hex digits) of an encrypted push's sender, or None.
    #[getter]
    fn system_title(&self) -> Option<String> {
        self.inner.system_title.map(|t| hex(&t).to_uppercase())
    }

    /// The invocation counter of an encrypted push, or None.
    #[getter]
    fn invocation_counter(&self) -> Option<u32> {
        self.inner.invocation_counter
    }

    /// The meter clock as a tz-aware datetime, or None.
    #[getter]
    fn meter_time<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match &self.inner.meter_time {
            Some(t) => py_datetime(py, t, self.aidon(), self.zone.bind(py)),
            None => Ok(None),
        }
    }

    /// The APDU header date-time as a tz-aware datetime, or None.
    #[getter]
    fn notification_time<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match &self.inner.notification_time {
            Some(t) => py_datetime(py, t, self.aidon(), self.zone.bind(py)),
            None => Ok(None),
        }
    }

    /// Field name -> value in SI base units, for every object the OBIS table names.
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let zone = self.zone.bind(py);
        let aidon = self.aidon();
        // identifiers as the telegram reports them (padding removed), not as raw objects
        for (key, v) in [
            ("list_id", &self.inner.list_id),
            ("meter_id", &self.inner.meter_id),
            ("meter_type", &self.inner.meter_type),
        ] {
            if let Some(s) = v {
                d.set_item(key, s)?;
            }
        }
        for o in &self.inner.objects {
            let Some(q) = o.quantity else { continue };
            let key = q.field();
            if d.contains(key)? {
                continue;
            }
            // only values of the field's kind (a bit-string under the clock code is not a time)
            let fits = matches!(
                (q.def().kind, &o.raw),
                (
                    FieldKind::Number,
                    Data::Int(_) | Data::UInt(_) | Data::Float(_)
                ) | (FieldKind::DateTime, Data::DateTime(_))
            );
            if !fits {
                continue;
            }
            let v = py_data(py, &o.value(), aidon, zone)?;
            if !v.is_none() {
                d.set_item(key, v)?;
            }
        }
        Ok(d)
    }

    /// The objects in the order the meter sent them.
    #[getter]
    fn objects(&self, py: Python<'_>) -> Vec<PyCosemObject> {
        let aidon = self.aidon();
        self.inner
            .objects
            .iter()
            .map(|o| PyCosemObject {
                inner: o.clone(),
                aidon,
                zone: self.zone.clone_ref(py),
            })
            .collect()
    }

    /// Byte offset of the frame's first byte in the stream fed (0 for `decode_frame`).
    #[getter]
    fn offset(&self) -> u64 {
        self.offset
    }

    /// The bytes this telegram was decoded from.
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.raw)
    }

    /// Data-quality flags, e.g. `["repeated_snapshot"]`; empty when nothing looks wrong.
    #[getter]
    fn flags(&self) -> Vec<&'static str> {
        self.inner.flags.names().collect()
    }

    /// When the stream decoder received the frame (tz-aware), or None for `decode_frame`.
    #[getter]
    fn received_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.received_at {
            Some(t) => Ok(Some(
                py.import("datetime")?
                    .getattr("datetime")?
                    .call_method1("fromtimestamp", (t, self.zone.bind(py)))?,
            )),
            None => Ok(None),
        }
    }

    /// JSON-ready dict of everything above (datetimes as ISO 8601 strings).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("offset", self.offset)?;
        d.set_item("manufacturer", self.manufacturer())?;
        d.set_item("list_id", self.list_id())?;
        d.set_item("meter_id", self.meter_id())?;
        d.set_item("meter_type", self.meter_type())?;
        let opt = |v: Option<Bound<'py, PyAny>>| -> PyResult<Bound<'py, PyAny>> {
            match v {
                Some(v) => json_ready(v),
                None => Ok(py.None().into_bound(py)),
            }
        };
        d.set_item("received_at", opt(self.received_at(py)?)?)?;
        d.set_item("meter_time", opt(self.meter_time(py)?)?)?;
        d.set_item("notification_time", opt(self.notification_time(py)?)?)?;
        let values = PyDict::new(py);
        for (k, v) in self.values(py)?.iter() {
            values.set_item(k, json_ready(v)?)?;
        }
        d.set_item("values", values)?;
        let objects = PyList::empty(py);
        for o in self.objects(py) {
            objects.append(o.to_dict(py)?)?;
        }
        d.set_item("objects", objects)?;
        d.set_item("flags", self.flags())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Telegram(offset={}, manufacturer={}, list_id={}, objects={})",
            self.offset,
            self.manufacturer()
                .map_or("None".to_owned(), |m| format!("'{m}'")),
            self.list_id()
                .map_or("None".to_owned(), |m| format!("'{m}'")),
            self.inner.objects.len()
        )
    }
}

fn zone_info<'py>(py: Python<'py>, tz: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("zoneinfo")?
        .getattr("ZoneInfo")?
        .call1((tz,))
        .map_err(|e| {
            // zoneinfo raises KeyError (ZoneInfoNotFoundError) or ValueError by name shape;
            // callers get one documented type
            let err = pyo3::exceptions::PyValueError::new_err(format!("unknown time zone {tz:?}"));
            err.set_cause(py, Some(e));
            err
        })
}

/// Seconds since the epoch as a float within the range of `datetime` (years 1..9999), so
/// every telegram's `received_at` can be shown. Anything else is a `ValueError`.
fn epoch_seconds(v: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    let bad = || pyo3::exceptions::PyValueError::new_err(format!("{what} out of range"));
    let t: f64 = v.extract().map_err(|e: PyErr| {
        if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(v.py()) {
            bad()
        } else {
            e
        }
    })?;
    // 0001-01-02 .. 9999-12-30 in UTC, a day of margin for any zone offset
    if !t.is_finite() || !(-62_135_510_400.0..=253_402_128_000.0).contains(&t) {
        return Err(bad());
    }
    Ok(t)
}

/// Decodes one complete link frame (HDLC with or without flags, or a bare LLC/APDU). Strict.
#[pyfunction]
#[pyo3(signature = (data, /, *, keys = None, tz = "Europe/Oslo", max_depth = 16, max_frame_length = 2047))]
fn decode_frame(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    keys: Option<&Bound<'_, PyAny>>,
    tz: &str,
    max_depth: u32,
    max_frame_length: u32,
) -> PyResult<PyTelegram> {
    let ring = key_ring(py, keys)?;
    let limits = limits(max_depth, max_frame_length)?;
    let zone = zone_info(py, tz)?.unbind();
    let data = input(data)?;
    let bytes = data.as_slice();
    let inner = crate::decode::decode_frame_keyed(bytes, &limits, &ring).map_err(to_py_err)?;
    Ok(PyTelegram {
        inner,
        offset: 0,
        raw: bytes.to_vec(),
        zone,
        received_at: None,
    })
}

/// Sans-IO stream decoder. Lax: never raises for bad input.
#[pyclass(name = "Decoder", module = "hanport._core")]
struct PyDecoder {
    core: CoreDecoder,
    errors: ErrorLog,
    zone: Py<PyAny>,
    max_clock_drift: Option<f64>,
}

/// Seconds since the epoch, from Python's clock.
fn now(py: Python<'_>) -> PyResult<f64> {
    py.import("time")?.getattr("time")?.call0()?.extract()
}

impl PyDecoder {
    fn collect(
        &mut self,
        py: Python<'_>,
        chunk: Option<&[u8]>,
        received_at: f64,
    ) -> PyResult<Vec<PyTelegram>> {
        let mut out = Vec::new();
        let errors = &mut self.errors;
        let zone = &self.zone;
        let mut sink = |ev: DecoderEvent<'_>| match ev {
            DecoderEvent::Telegram {
                telegram,
                offset,
                raw,
                ..
            } => out.push(PyTelegram {
                inner: telegram.to_owned(),
                offset,
                raw: raw.to_vec(),
                zone: zone.clone_ref(py),
                received_at: Some(received_at),
            }),
            DecoderEvent::Error(r) => {
                errors.push(&r);
            }
        };
        match chunk {
            Some(c) => self.core.push(c, &mut sink),
            None => self.core.finish(&mut sink),
        }
        if let Some(limit) = self.max_clock_drift {
            for tg in &mut out {
                let t = match (&tg.inner.meter_time, &tg.inner.notification_time) {
                    (Some(t), _) | (None, Some(t)) => *t,
                    _ => continue,
                };
                let aidon = tg.aidon();
                if let Some(dt) = py_datetime(py, &t, aidon, self.zone.bind(py))? {
                    let meter: f64 = dt.call_method0("timestamp")?.extract()?;
                    if (meter - received_at).abs() > limit {
                        tg.inner.flags.set(crate::quality::CLOCK_DRIFT);
                    }
                }
            }
        }
        Ok(out)
    }
}

#[pymethods]
impl PyDecoder {
    #[new]
    #[pyo3(signature = (
        *,
        keys = None,
        tz = "Europe/Oslo",
        max_clock_drift = None,
        max_depth = 16,
        max_frame_length = 2047,
        max_errors = 10_000,
    ))]
    fn new(
        py: Python<'_>,
        keys: Option<&Bound<'_, PyAny>>,
        tz: &str,
        max_clock_drift: Option<&Bound<'_, PyAny>>,
        max_depth: u32,
        max_frame_length: u32,
        max_errors: u64,
    ) -> PyResult<Self> {
        let limits = limits(max_depth, max_frame_length)?;
        let max_errors = max_errors_arg(max_errors)?;
        let max_clock_drift = match max_clock_drift {
            Some(v) => {
                let d = epoch_seconds(v, "max_clock_drift")?;
                if d < 0.0 {
                    return Err(pyo3::exceptions::PyValueError::new_err(
                        "max_clock_drift must not be negative",
                    ));
                }
                Some(d)
            }
            None => None,
        };
        let ring = key_ring(py, keys)?;
        Ok(PyDecoder {
            core: CoreDecoder::with_keys(limits, ring),
            errors: ErrorLog::new(max_errors),
            zone: zone_info(py, tz)?.unbind(),
            max_clock_drift,
        })
    }

    /// Feeds a chunk of any size; returns the telegrams it completes, in stream order.
    /// `received_at` (seconds since the epoch) defaults to now.
    #[pyo3(signature = (chunk, /, *, received_at = None))]
    fn feed<'py>(
        slf: &Bound<'py, Self>,
        chunk: &Bound<'py, PyAny>,
        received_at: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = slf.py();
        // arguments are converted before the decoder is borrowed, so Python code they run
        // (a __float__, a buffer export) may look at the decoder
        let data = input(chunk)?;
        let at = match received_at {
            Some(t) => epoch_seconds(t, "received_at")?,
            None => now(py)?,
        };
        let out = slf.borrow_mut().collect(py, Some(data.as_slice()), at)?;
        PyList::new(py, out)
    }

    /// Ends the stream: resolves buffered bytes and returns any telegrams they complete.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let at = now(py)?;
        let out = self.collect(py, None, at)?;
        PyList::new(py, out)
    }

    /// Counters so far.
    #[getter]
    fn stats(&self) -> PyStats {
        let s = self.core.stats();
        PyStats {
            bytes_in: s.split.bytes_in,
            frames_ok: s.split.frames_ok,
            frames_bad_checksum: s.split.frames_bad_checksum,
            frames_malformed: s.split.frames_malformed,
            bytes_skipped: s.split.bytes_skipped,
            telegrams: s.telegrams,
            frames_undecodable: s.frames_undecodable,
            frames_reassembled: s.frames_reassembled,
        }
    }

    /// Error records since the last `drain_errors()` (the newest `max_errors` at most).
    #[getter]
    fn errors(&self) -> Vec<PyErrorRecord> {
        self.errors.snapshot()
    }

    /// Returns the error records and forgets them.
    fn drain_errors(&mut self) -> Vec<PyErrorRecord> {
        self.errors.drain()
    }

    /// Bytes held back because they may start a frame.
    #[getter]
    fn pending(&self) -> usize {
        self.core.pending()
    }

    fn __repr__(&self) -> String {
        let s = self.core.stats();
        format!(
            "Decoder(bytes_in={}, telegrams={}, pending={})",
            s.split.bytes_in,
            s.telegrams,
            self.core.pending()
        )
    }
}

/// The OBIS table as a tuple of dicts (field, unit, kind, codes).
fn obis_table(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyTuple>> {
    let rows = TABLE
        .iter()
        .map(|d| {
            let row = PyDict::new(py);
            row.set_item("field", d.field)?;
            row.set_item("unit", d.unit)?;
            row.set_item(
                "kind",
                match d.kind {
                    FieldKind::Number => "number",
                    FieldKind::Text => "text",
                    FieldKind::DateTime => "datetime",
                },
            )?;
            let codes: Vec<String> = d
                .codes
                .iter()
                .map(|(a, c, dd, e)| format!("{a}-*:{c}.{dd}.{e}"))
                .collect();
            row.set_item("codes", codes)?;
            Ok(row)
        })
        .collect::<PyResult<Vec<_>>>()?;
    pyo3::types::PyTuple::new(py, rows)
}

/// Sans-IO HDLC frame splitter: the framing layer of `Decoder` on its own. Lax.
#[pyclass(name = "FrameSplitter", module = "hanport._core")]
struct PyFrameSplitter {
    splitter: FrameSplitter,
    errors: ErrorLog,
}

impl PyFrameSplitter {
    fn collect(&mut self, chunk: Option<&[u8]>) -> Vec<PyHdlcFrame> {
        let mut frames = Vec::new();
        let errors = &mut self.errors;
        let mut sink = |ev: Event<'_>| match ev {
            Event::Frame(f) => frames.push(PyHdlcFrame {
                offset: f.offset,
                raw: f.bytes.to_vec(),
                header: f.header,
            }),
            // an HDLC-only splitter finds no other link frames
            Event::Link(_) => {}
            Event::Error(r) => {
                errors.push(&r);
            }
        };
        match chunk {
            Some(c) => self.splitter.push(c, &mut sink),
            None => self.splitter.finish(&mut sink),
        }
        frames
    }
}

#[pymethods]
impl PyFrameSplitter {
    #[new]
    #[pyo3(signature = (*, max_frame_length = 2047, max_errors = 10_000))]
    fn new(max_frame_length: u32, max_errors: u64) -> PyResult<Self> {
        let limits = limits(16, max_frame_length)?;
        Ok(PyFrameSplitter {
            splitter: FrameSplitter::with_max_frame_length(limits.max_frame_length),
            errors: ErrorLog::new(max_errors_arg(max_errors)?),
        })
    }

    /// Feeds a chunk of any size; returns the frames it completes, in stream order.
    #[pyo3(signature = (chunk, /))]
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        chunk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let data = input(chunk)?;
        let frames = self.collect(Some(data.as_slice()));
        PyList::new(py, frames)
    }

    /// Ends the stream: resolves buffered bytes and returns any frames they complete.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let frames = self.collect(None);
        PyList::new(py, frames)
    }

    /// Counters so far.
    #[getter]
    fn stats(&self) -> PyStats {
        let s = self.splitter.stats();
        PyStats {
            bytes_in: s.bytes_in,
            frames_ok: s.frames_ok,
            frames_bad_checksum: s.frames_bad_checksum,
            frames_malformed: s.frames_malformed,
            bytes_skipped: s.bytes_skipped,
            telegrams: 0,
            frames_undecodable: 0,
            frames_reassembled: 0,
        }
    }

    /// Error records since the last `drain_errors()` (the newest `max_errors` at most).
    #[getter]
    fn errors(&self) -> Vec<PyErrorRecord> {
        self.errors.snapshot()
    }

    /// Returns the error records and forgets them.
    fn drain_errors(&mut self) -> Vec<PyErrorRecord> {
        self.errors.drain()
    }

    /// Bytes held back because they may start a frame.
    #[getter]
    fn pending(&self) -> usize {
        self.splitter.pending()
    }

    fn __repr__(&self) -> String {
        let s = self.splitter.stats();
        format!(
            "FrameSplitter(bytes_in={}, frames_ok={}, pending={})",
            s.bytes_in,
            s.frames_ok,
            self.splitter.pending()
        )
    }
}

/// CRC-16/X.25 (the HDLC HCS/FCS) of `data`.
#[pyfunction]
#[pyo3(signature = (data, /))]
fn crc16_x25(data: &Bound<'_, PyAny>) -> PyResult<u16> {
    Ok(crate::crc::fcs16(input(data)?.as_slice()))
}

/// The manufacturer a DLMS system title (or FLAG id) names by its first three letters, as
/// the decoder reads it (`None` when it names none); for `hanport explain`.
#[pyfunction]
#[pyo3(signature = (title, /))]
fn flag_manufacturer(title: &Bound<'_, PyAny>) -> PyResult<Option<&'static str>> {
    Ok(Manufacturer::from_flag_id(input(title)?.as_slice()).map(Manufacturer::name))
}

/// The extension module.
#[pymodule(gil_used = false)]
mod _core {
    #[pymodule_export]
    use super::{
        crc16_x25, decode_bytes, decode_file, decode_files, decode_frame, flag_manufacturer,
        iter_file, PyBatch, PyBatchIterator, PyCosemObject, PyDecoder, PyErrorRecord,
        PyFrameSplitter, PyHdlcFrame, PyStats, PyTelegram,
    };

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("OBIS_TABLE", super::obis_table(m.py())?)
    }
}

// ---------------------------------------------------------------------------------------------
// Bulk decoding into columns (`hanport.decode_bytes`, `decode_file`, `iter_file`).

#[path = "python_arrow.rs"]
mod python_arrow;

fn stats_of(s: &crate::decode::Stats) -> PyStats {
    PyStats {
        bytes_in: s.split.bytes_in,
        frames_ok: s.split.frames_ok,
        frames_bad_checksum: s.split.frames_bad_checksum,
        frames_malformed: s.split.frames_malformed,
        bytes_skipped: s.split.bytes_skipped,
        telegrams: s.telegrams,
        frames_undecodable: s.frames_undecodable,
        frames_reassembled: s.frames_reassembled,
    }
}

/// `a - b`, counter by counter.
fn stats_delta(a: &crate::decode::Stats, b: &crate::decode::Stats) -> crate::decode::Stats {
    let mut d = *a;
    d.split.bytes_in -= b.split.bytes_in.min(d.split.bytes_in);
    d.split.frames_ok -= b.split.frames_ok.min(d.split.frames_ok);
    d.split.frames_bad_checksum -= b.split.frames_bad_checksum.min(d.split.frames_bad_checksum);
    d.split.frames_malformed -= b.split.frames_malformed.min(d.split.frames_malformed);
    d.split.bytes_skipped -= b.split.bytes_skipped.min(d.split.bytes_skipped);
    d.telegrams -= b.telegrams.min(d.telegrams);
    d.frames_undecodable -= b.frames_undecodable.min(d.frames_undecodable);
    d.frames_reassembled -= b.frames_reassembled.min(d.frames_reassembled);
    d
}

/// Telegrams decoded in bulk, as columns. `to_arrow()` (needs pyarrow) gives a `pyarrow.Table`.
/// What a batch was decoded from, kept so rows can point into it instead of copying their
/// frames.
enum BatchInput {
    /// Rows copy their frames (`RawFrames::Copied`).
    None,
    /// The `bytes` object passed to `decode_bytes`.
    Bytes(Py<PyBytes>),
    /// A buffer read or copied by hanport.
    Owned(Vec<u8>),
}

impl BatchInput {
    fn of(input: Input<'_>) -> Self {
        match input {
            Input::Borrowed(b) => BatchInput::Bytes(b.unbind()),
            Input::Owned(v) => BatchInput::Owned(v),
        }
    }

    fn bytes<'a>(&'a self, py: Python<'a>) -> &'a [u8] {
        match self {
            BatchInput::None => &[],
            BatchInput::Bytes(b) => b.bind(py).as_bytes(),
            BatchInput::Owned(v) => v,
        }
    }
}

#[pyclass(name = "Batch", module = "hanport._core", frozen)]
struct PyBatch {
    /// Consecutive parts (several when decoded on several cores), never empty; their columns
    /// go to NumPy on the first `to_arrow()` (see `python_arrow`).
    parts: python_arrow::Parts,
    /// The input the parts' spans point into.
    input: BatchInput,
    tz: String,
    zone: Py<PyAny>,
    source: Option<String>,
    detected: Option<String>,
    input_error: Option<String>,
}

#[pymethods]
impl PyBatch {
    fn __len__(&self) -> usize {
        self.parts.len()
    }

    /// Decoder counters for the bytes of this batch.
    #[getter]
    fn stats(&self) -> PyStats {
        let mut total = crate::decode::Stats::default();
        for p in self.parts.info() {
            let s = &p.stats;
            total.split.bytes_in += s.split.bytes_in;
            total.split.frames_ok += s.split.frames_ok;
            total.split.frames_bad_checksum += s.split.frames_bad_checksum;
            total.split.frames_malformed += s.split.frames_malformed;
            total.split.bytes_skipped += s.split.bytes_skipped;
            total.telegrams += s.telegrams;
            total.frames_undecodable += s.frames_undecodable;
            total.frames_reassembled += s.frames_reassembled;
        }
        stats_of(&total)
    }

    /// What was skipped, and why, in stream order.
    #[getter]
    fn errors(&self) -> Vec<PyErrorRecord> {
        self.parts
            .info()
            .iter()
            .flat_map(|p| p.errors.iter().map(PyErrorRecord::from))
            .collect()
    }

    /// The time zone of the timestamps.
    #[getter]
    fn tz(&self) -> &str {
        &self.tz
    }

    /// The file this batch came from (None for `decode_bytes`).
    #[getter]
    fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The input format found, e.g. `"binary"`, `"hex"`, `"gzip+hex"` (None for `decode_bytes`).
    #[getter]
    fn format(&self) -> Option<&str> {
        self.detected.as_deref()
    }

    /// Why the input ended early (a damaged compressed file, a read error), or None.
    #[getter]
    fn input_error(&self) -> Option<&str> {
        self.input_error.as_deref()
    }

    /// Column names, in table order (number columns only where some row has the field).
    fn column_names(&self) -> Vec<&'static str> {
        let mut v = vec![
            "offset",
            "manufacturer",
            "list_id",
            "meter_id",
            "meter_type",
            "meter_time",
            "notification_time",
            "flags",
        ];
        v.extend(self.parts.fields());
        v
    }

    /// The rows as `Telegram` objects (each frame decoded again; flags as in the batch).
    fn telegrams(&self, py: Python<'_>) -> PyResult<Vec<PyTelegram>> {
        let mut out = Vec::with_capacity(self.__len__());
        let input = self.input.bytes(py);
        for part in self.parts.frames(py)? {
            for (i, (&offset, &flags)) in part.offset.iter().zip(&part.flags).enumerate() {
                let raw = part.raw_frame(i, input).unwrap_or(&[]);
                let mut inner = crate::decode::decode_frame(raw).map_err(to_py_err)?;
                inner.flags.0 = flags;
                out.push(PyTelegram {
                    inner,
                    offset,
                    raw: raw.to_vec(),
                    zone: self.zone.clone_ref(py),
                    received_at: None,
                });
            }
        }
        Ok(out)
    }

    /// Arrow buffers per part and column, as read-only NumPy arrays that own the decoded
    /// columns (made once, no copy): (name, type, length, null count, validity, data,
    /// offsets); type `"null_float64"` is an all-null column. Needs numpy.
    fn _arrow_columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        self.parts.arrow_columns(py, self.zone.bind(py))
    }

    /// The batch as a `pyarrow.Table` (needs `pip install hanport[arrow]`).
    fn to_arrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py()
            .import("hanport._arrow")?
            .call_method1("batch_to_table", (slf,))
    }

    /// Arrow PyCapsule stream interface (delegates to the `pyarrow.Table`).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        slf: &Bound<'py, Self>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::to_arrow(slf)?.call_method1("__arrow_c_stream__", (requested_schema,))
    }

    fn __repr__(&self) -> String {
        format!(
            "Batch(rows={}, errors={}, bytes_in={})",
            self.__len__(),
            self.parts
                .info()
                .iter()
                .map(|p| p.errors.len())
                .sum::<usize>(),
            self.stats().bytes_in
        )
    }
}

fn parse_format(format: &str) -> PyResult<crate::input::Format> {
    crate::input::Format::parse(format).ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "unknown format {format:?} (auto, binary, hex, gzip, zstd)"
        ))
    })
}

/// Decodes a whole capture held in memory into columns. Lax, like `Decoder`; the GIL is
/// released while decoding.
#[pyfunction]
#[pyo3(signature = (data, /, *, keys = None, tz = "Europe/Oslo", jobs = 0))]
fn decode_bytes(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    keys: Option<&Bound<'_, PyAny>>,
    tz: &str,
    jobs: usize,
) -> PyResult<PyBatch> {
    let ring = key_ring(py, keys)?;
    let zone = zone_info(py, tz)?.unbind();
    let data = input(data)?;
    let bytes = data.as_slice();
    let parts = py.detach(|| crate::batch::decode_parts_keyed(bytes, jobs, &ring));
    Ok(PyBatch {
        parts: python_arrow::Parts::new(parts),
        input: BatchInput::of(data),
        tz: tz.to_owned(),
        zone,
        source: None,
        detected: None,
        input_error: None,
    })
}

/// Reads and decodes a whole capture file (binary, hex text, gzip, zstd) into columns, with the
/// GIL released. Raises `OSError` only when the file cannot be opened.
#[pyfunction]
#[pyo3(signature = (path, /, *, keys = None, tz = "Europe/Oslo", format = "auto", jobs = 0))]
fn decode_file(
    py: Python<'_>,
    path: std::path::PathBuf,
    keys: Option<&Bound<'_, PyAny>>,
    tz: &str,
    format: &str,
    jobs: usize,
) -> PyResult<PyBatch> {
    let ring = key_ring(py, keys)?;
    let zone = zone_info(py, tz)?.unbind();
    let fmt = parse_format(format)?;
    let (parts, data, detected, input_error) = py.detach(|| -> std::io::Result<_> {
        let mut src = crate::input::Source::open(&path, fmt)?;
        let mut data = Vec::new();
        let err = src.read_all(&mut data).err().map(|e| e.to_string());
        Ok((
            crate::batch::decode_parts_keyed(&data, jobs, &ring),
            data,
            src.detected().to_owned(),
            err,
        ))
    })?;
    Ok(PyBatch {
        parts: python_arrow::Parts::new(parts),
        input: BatchInput::Owned(data),
        tz: tz.to_owned(),
        zone,
        source: Some(path.display().to_string()),
        detected: Some(detected),
        input_error,
    })
}

/// Decodes several files at once (rayon, `jobs` threads; 0: every core), each whole, GIL
/// released. Returns one `Batch` per path, in order; a path that cannot be opened raises.
#[pyfunction]
#[pyo3(signature = (paths, /, *, keys = None, tz = "Europe/Oslo", format = "auto", jobs = 0))]
fn decode_files(
    py: Python<'_>,
    paths: &Bound<'_, PyAny>,
    keys: Option<&Bound<'_, PyAny>>,
    tz: &str,
    format: &str,
    jobs: usize,
) -> PyResult<Vec<PyBatch>> {
    use rayon::prelude::*;
    // a sequence of paths; anything else (a str, a buffer, a number) is a TypeError, even when
    // iterating it would raise something else
    let not_paths = || PyTypeError::new_err("paths must be a sequence of str or os.PathLike");
    if paths.is_instance_of::<pyo3::types::PyString>()
        || paths.is_instance_of::<PyBytes>()
        || paths.is_instance_of::<PyByteArray>()
        || paths.is_instance_of::<pyo3::types::PyMemoryView>()
    {
        return Err(not_paths());
    }
    let paths: Vec<std::path::PathBuf> = paths.extract().map_err(|_| not_paths())?;
    let ring = key_ring(py, keys)?;
    let zone = zone_info(py, tz)?.unbind();
    let fmt = parse_format(format)?;
    let run = || -> std::io::Result<Vec<_>> {
        paths
            .par_iter()
            .map(|path| {
                let mut src = crate::input::Source::open(path, fmt)?;
                let mut data = Vec::new();
                let err = src.read_all(&mut data).err().map(|e| e.to_string());
                Ok((
                    crate::batch::decode_all_keyed(&data, &ring),
                    data,
                    path.display().to_string(),
                    src.detected().to_owned(),
                    err,
                ))
            })
            .collect()
    };
    let results = py.detach(|| -> PyResult<_> {
        if jobs == 0 {
            return Ok(run()?);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .build()
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        Ok(pool.install(run)?)
    })?;
    Ok(results
        .into_iter()
        .map(|(inner, data, source, detected, input_error)| PyBatch {
            parts: python_arrow::Parts::new(vec![inner]),
            input: BatchInput::Owned(data),
            tz: tz.to_owned(),
            zone: zone.clone_ref(py),
            source: Some(source),
            detected: Some(detected),
            input_error,
        })
        .collect())
}

/// Iterator of `Batch`es over a capture file, about `batch_bytes` of capture data each:
/// bounded memory whatever the file size. Frames across chunk borders are kept whole.
#[pyclass(name = "BatchIterator", module = "hanport._core")]
struct PyBatchIterator {
    source: Option<crate::input::Source>,
    decoder: CoreDecoder,
    last: crate::decode::Stats,
    batch_bytes: usize,
    tz: String,
    zone: Py<PyAny>,
    path: String,
    detected: String,
}

#[pymethods]
impl PyBatchIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> Option<PyBatch> {
        let mut src = self.source.take()?;
        let decoder = &mut self.decoder;
        let batch_bytes = self.batch_bytes;
        let (mut batch, err, done) = py.detach(|| {
            let mut data = Vec::new();
            let err = src
                .read_chunk(batch_bytes, &mut data)
                .err()
                .map(|e| e.to_string());
            let mut batch = crate::batch::Batch::copying();
            decoder.push(&data, |ev| batch.on_event(ev));
            let done = src.at_end();
            if done {
                decoder.finish(|ev| batch.on_event(ev));
            }
            batch.seal();
            (batch, err, done)
        });
        let now = self.decoder.stats();
        batch.stats = stats_delta(&now, &self.last);
        self.last = now;
        if !done {
            self.source = Some(src);
        }
        Some(PyBatch {
            parts: python_arrow::Parts::new(vec![batch]),
            input: BatchInput::None,
            tz: self.tz.clone(),
            zone: self.zone.clone_ref(py),
            source: Some(self.path.clone()),
            detected: Some(self.detected.clone()),
            input_error: err,
        })
    }
}

/// Opens a capture file and returns an iterator of `Batch`es (see `BatchIterator`).
#[pyfunction]
#[pyo3(signature = (path, /, *, keys = None, tz = "Europe/Oslo", format = "auto", batch_bytes = 8388608))]
fn iter_file(
    py: Python<'_>,
    path: std::path::PathBuf,
    keys: Option<&Bound<'_, PyAny>>,
    tz: &str,
    format: &str,
    batch_bytes: usize,
) -> PyResult<PyBatchIterator> {
    let ring = key_ring(py, keys)?;
    let zone = zone_info(py, tz)?.unbind();
    let fmt = parse_format(format)?;
    if batch_bytes == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "batch_bytes must be positive",
        ));
    }
    let source = py.detach(|| crate::input::Source::open(&path, fmt))?;
    Ok(PyBatchIterator {
        detected: source.detected().to_owned(),
        source: Some(source),
        decoder: CoreDecoder::with_keys(crate::decode::Limits::default(), ring),
        last: crate::decode::Stats::default(),
        batch_bytes,
        tz: tz.to_owned(),
        zone,
        path: path.display().to_string(),
    })
}
