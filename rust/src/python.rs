//! The only PyO3 file: the `hanport._core` extension module.
//!
//! Python objects are built here and nowhere else; the core never sees Python. Every core error
//! is turned into a Python exception by [`to_py_err`] alone, using the classes defined in
//! `hanport/errors.py`. No function here can panic on input: no `unwrap`, no indexing.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList};

use crate::error::{Error, ErrorKind};
use crate::hdlc::{ErrorRecord as CoreRecord, Event, FrameSplitter, HdlcFrame, HdlcHeader};

pyo3::import_exception!(hanport.errors, FrameError);
pyo3::import_exception!(hanport.errors, ChecksumError);
pyo3::import_exception!(hanport.errors, DecodeError);

/// Errors kept by a `Decoder` between two `drain_errors()` calls; older ones are dropped (the
/// counters in `stats` still count them).
const MAX_KEPT_ERRORS: usize = 10_000;

/// The single mapping from core errors to Python exceptions.
fn to_py_err(e: Error) -> PyErr {
    let args = (e.to_string(), e.offset, e.layer.name(), e.kind_name());
    match (e.layer, e.kind) {
        (_, ErrorKind::Checksum { .. }) => ChecksumError::new_err(args),
        (crate::Layer::Hdlc | crate::Layer::Stream, _) => FrameError::new_err(args),
        _ => DecodeError::new_err(args),
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
    // memoryview and any other buffer: bytes(obj)
    let builtins = obj.py().import("builtins")?;
    let b = builtins.getattr("bytes")?.call1((obj,))?;
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
#[derive(PartialEq)]
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
}

#[pymethods]
impl PyStats {
    fn __repr__(&self) -> String {
        format!(
            "Stats(bytes_in={}, frames_ok={}, frames_bad_checksum={}, frames_malformed={}, \
             bytes_skipped={})",
            self.bytes_in,
            self.frames_ok,
            self.frames_bad_checksum,
            self.frames_malformed,
            self.bytes_skipped
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
        ]
        .into_iter()
        .collect()
    }
}

/// Sans-IO stream decoder. Lax: never raises for bad input.
#[pyclass(name = "Decoder", module = "hanport._core")]
struct PyDecoder {
    splitter: FrameSplitter,
    errors: std::collections::VecDeque<PyErrorRecord>,
}

impl PyDecoder {
    fn collect(&mut self, chunk: Option<&[u8]>) -> Vec<PyHdlcFrame> {
        let mut frames = Vec::new();
        let errors = &mut self.errors;
        let mut sink = |ev: Event<'_>| match ev {
            Event::Frame(f) => frames.push(PyHdlcFrame {
                offset: f.offset,
                raw: f.bytes.to_vec(),
                header: f.header,
            }),
            Event::Error(r) => {
                if errors.len() >= MAX_KEPT_ERRORS {
                    errors.pop_front();
                }
                errors.push_back(PyErrorRecord::from(&r));
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
impl PyDecoder {
    #[new]
    fn new() -> Self {
        PyDecoder {
            splitter: FrameSplitter::new(),
            errors: std::collections::VecDeque::new(),
        }
    }

    /// Feeds a chunk of any size; returns the frames it completes, in stream order.
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
        }
    }

    /// Error records since the last `drain_errors()` (the newest 10 000 at most).
    #[getter]
    fn errors(&self) -> Vec<PyErrorRecord> {
        self.errors
            .iter()
            .map(|r| PyErrorRecord {
                offset: r.offset,
                length: r.length,
                layer: r.layer,
                kind: r.kind,
                message: r.message.clone(),
            })
            .collect()
    }

    /// Returns the error records and forgets them.
    fn drain_errors(&mut self) -> Vec<PyErrorRecord> {
        self.errors.drain(..).collect()
    }

    /// Bytes held back because they may start a frame.
    #[getter]
    fn pending(&self) -> usize {
        self.splitter.pending()
    }

    fn __repr__(&self) -> String {
        let s = self.splitter.stats();
        format!(
            "Decoder(bytes_in={}, frames_ok={}, pending={})",
            s.bytes_in,
            s.frames_ok,
            self.splitter.pending()
        )
    }
}

/// CRC-16/X.25 (the HDLC HCS/FCS) of `data`.
#[pyfunction]
fn crc16_x25(data: &Bound<'_, PyAny>) -> PyResult<u16> {
    Ok(crate::crc::fcs16(input(data)?.as_slice()))
}

/// The extension module.
#[pymodule(gil_used = false)]
mod _core {
    #[pymodule_export]
    use super::{crc16_x25, PyDecoder, PyErrorRecord, PyHdlcFrame, PyStats};

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
