//! The columns of a `hanport.Batch` and their zero-copy hand-over to NumPy and Arrow.
//!
//! When a `hanport.Batch` is made, each decoded [`Batch`] is split in two: what the methods
//! other than the Arrow export need (row count, counters, error records, where each row's
//! frame is) stays in Rust for good ([`PartInfo`]); the column `Vec`s wait in a mutex. The
//! first `_arrow_columns()` call (made by `to_arrow()`) takes them out, resolves the two time
//! columns in place, and moves every `Vec` into a read-only NumPy array without copying
//! (`PyArray1::from_vec`). The arrays are kept, so later calls return the same ones, which
//! `hanport/_arrow.py` wraps with `pyarrow.py_buffer` (no copy either).
//!
//! Lazy rather than at construction, on purpose: NumPy is needed only by the Arrow export
//! (it comes with the `arrow` and `dask` extras), so `decode_bytes(...)`, `telegrams()` and
//! the counters work without it, and a batch that is never exported never pays for resolving
//! its time columns. The hand-over costs the same either way (a few microseconds per column
//! plus one in-place pass over each time column: about 5 ns a row on a 30 MB Norwegian mix,
//! against 70-130 ns for the copies into `bytes` it replaces), so doing it at construction
//! would gain nothing.

use std::sync::{Mutex, PoisonError};

use numpy::{Element, PyArray1, PyArrayMethods};
use pyo3::exceptions::{PyImportError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::{MutexExt, PyOnceLock};
use pyo3::types::PyTuple;

use crate::batch::{number_fields, Batch, Bitmap, DictColumn, NumColumn, TimeColumn};
use crate::decode::Stats;
use crate::hdlc::ErrorRecord;

/// What stays in Rust of one part.
pub(super) struct PartInfo {
    /// Number of rows.
    pub(super) len: usize,
    /// Decoder counters.
    pub(super) stats: Stats,
    /// Error records, in stream order.
    pub(super) errors: Vec<ErrorRecord>,
    /// The decoded batch less its columns and errors: where each row's frame bytes are.
    frames: Batch,
}

/// The columns of one part, until they are moved to NumPy.
struct PartColumns {
    offset: Vec<u64>,
    strings: [(&'static str, DictColumn); 4],
    times: [(&'static str, TimeColumn); 2],
    flags: Vec<u32>,
    /// Indexed like `TABLE`.
    numbers: Vec<Option<NumColumn>>,
}

/// A part's `offset` and `flags` arrays.
type RowArrays = (Py<PyArray1<u64>>, Py<PyArray1<u32>>);

/// The columns once they are NumPy arrays.
struct Exported {
    /// What `_arrow_columns()` returns.
    columns: Py<PyTuple>,
    /// Each part's `offset` and `flags` arrays (read by `telegrams()`).
    rows: Vec<RowArrays>,
}

/// The consecutive parts of a `hanport.Batch` (several when decoded on several cores).
pub(super) struct Parts {
    info: Vec<PartInfo>,
    /// Number columns some part has: (index in `TABLE`, field), in table order.
    fields: Vec<(usize, &'static str)>,
    /// The columns, until the first export takes them.
    columns: Mutex<Option<Vec<PartColumns>>>,
    /// The columns after it.
    exported: PyOnceLock<Exported>,
}

impl Parts {
    /// Splits decoded batches (no column is copied).
    pub(super) fn new(parts: Vec<Batch>) -> Self {
        let fields = number_fields()
            .filter(|(i, _)| {
                parts
                    .iter()
                    .any(|p| p.numbers.get(*i).is_some_and(Option::is_some))
            })
            .collect();
        let mut info = Vec::with_capacity(parts.len());
        let mut columns = Vec::with_capacity(parts.len());
        for mut b in parts {
            use std::mem::take;
            let len = b.len();
            columns.push(PartColumns {
                offset: take(&mut b.offset),
                strings: [
                    ("manufacturer", take(&mut b.manufacturer)),
                    ("list_id", take(&mut b.list_id)),
                    ("meter_id", take(&mut b.meter_id)),
                    ("meter_type", take(&mut b.meter_type)),
                ],
                times: [
                    ("meter_time", take(&mut b.meter_time)),
                    ("notification_time", take(&mut b.notification_time)),
                ],
                flags: take(&mut b.flags),
                numbers: take(&mut b.numbers),
            });
            info.push(PartInfo {
                len,
                stats: b.stats,
                errors: take(&mut b.errors),
                frames: b,
            });
        }
        Parts {
            info,
            fields,
            columns: Mutex::new(Some(columns)),
            exported: PyOnceLock::new(),
        }
    }

    /// The parts, in stream order.
    pub(super) fn info(&self) -> &[PartInfo] {
        &self.info
    }

    /// Number of rows.
    pub(super) fn len(&self) -> usize {
        self.info.iter().map(|p| p.len).sum()
    }

    /// The fields of the number columns, in table order.
    pub(super) fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|&(_, f)| f)
    }

    /// Each part with its `offset` and `flags` columns and its frame locations, for
    /// [`Batch::raw_frame`] (the columns are copies: a small part of what `telegrams()` makes
    /// per row).
    pub(super) fn frames(&self, py: Python<'_>) -> PyResult<Vec<Batch>> {
        let rows = self.rows(py)?;
        Ok(self
            .info
            .iter()
            .zip(rows)
            .map(|(p, (offset, flags))| {
                let mut b = p.frames.clone();
                b.offset = offset;
                b.flags = flags;
                b
            })
            .collect())
    }

    /// Each part's `offset` and `flags` columns, copied.
    fn rows(&self, py: Python<'_>) -> PyResult<Vec<(Vec<u64>, Vec<u32>)>> {
        {
            let guard = self
                .columns
                .lock_py_attached(py)
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(parts) = guard.as_ref() {
                return Ok(parts
                    .iter()
                    .map(|p| (p.offset.clone(), p.flags.clone()))
                    .collect());
            }
        }
        // exported, or being exported by another thread (this waits for it)
        let ex = self.exported.get_or_try_init(py, || Err(lost()))?;
        ex.rows
            .iter()
            .map(|(o, f)| {
                let o = o.bind(py).try_readonly()?;
                let f = f.bind(py).try_readonly()?;
                Ok((o.as_slice()?.to_vec(), f.as_slice()?.to_vec()))
            })
            .collect()
    }

    /// Per part, per column: (name, type, length, null count, validity, data, offsets), NumPy
    /// arrays or None; type `"null_float64"` is an all-null column (no data). Made on the
    /// first call (`zone` places the rows in local time), the same objects afterwards.
    pub(super) fn arrow_columns<'py>(
        &self,
        py: Python<'py>,
        zone: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let ex = self
            .exported
            .get_or_try_init(py, || self.export(py, zone))?;
        Ok(ex.columns.bind(py).clone())
    }

    /// Moves the columns into NumPy arrays. Without numpy, or when a zone lookup fails, the
    /// columns stay where they are (consistent: see [`TimeColumn::resolve_in_place`]) and a
    /// later call tries again.
    fn export(&self, py: Python<'_>, zone: &Bound<'_, PyAny>) -> PyResult<Exported> {
        // rust-numpy reaches NumPy's C API through `import numpy` and panics without it
        py.import("numpy").map_err(|e| {
            let err = PyImportError::new_err(
                "Batch.to_arrow() needs numpy: pip install 'hanport[arrow]' (or pip install numpy)",
            );
            err.set_cause(py, Some(e));
            err
        })?;
        let parts = {
            let mut guard = self
                .columns
                .lock_py_attached(py)
                .unwrap_or_else(PoisonError::into_inner);
            // a failed zone lookup leaves the columns here, consistent, for the next call
            resolve_times(py, zone, guard.as_mut().ok_or_else(lost)?)?;
            guard.take().ok_or_else(lost)?
        };
        // from here on only allocating a Python object can fail
        let mut columns = Vec::with_capacity(parts.len());
        let mut rows = Vec::with_capacity(parts.len());
        for (p, info) in parts.into_iter().zip(&self.info) {
            let (cols, row_arrays) = part_columns(py, p, info.len, &self.fields);
            columns.push(PyTuple::new(py, cols)?);
            rows.push(row_arrays);
        }
        Ok(Exported {
            columns: PyTuple::new(py, columns)?.unbind(),
            rows,
        })
    }
}

/// Places every part's local-time rows on the time line (see [`ZoneCache`]).
fn resolve_times(
    py: Python<'_>,
    zone: &Bound<'_, PyAny>,
    parts: &mut [PartColumns],
) -> PyResult<()> {
    let lookup = py.import("hanport._arrow")?.getattr("zone_offset")?;
    let mut cache = ZoneCache::new();
    for p in parts {
        for (_, t) in &mut p.times {
            t.resolve_in_place(|hour, fold| {
                cache
                    .get(hour, fold, || lookup.call1((zone, hour, fold))?.extract())
                    .map(Some)
            })?;
        }
    }
    Ok(())
}

/// The zone's UTC offset (µs) at each (wall-clock hour since the epoch, fold) pair met,
/// looked up in Python (`zoneinfo`) once per pair. Meters interleaved in one capture change
/// the pair nearly every row, so finding a pair again must be cheap: an open-addressing table
/// (multiplicative hash, linear probing, at most half full) rather than a SipHash map.
struct ZoneCache {
    /// `2^bits` slots.
    slots: Vec<Option<((i64, u8), i64)>>,
    bits: u32,
    used: usize,
}

impl ZoneCache {
    fn new() -> Self {
        let bits = 6;
        ZoneCache {
            slots: vec![None; 1 << bits],
            bits,
            used: 0,
        }
    }

    /// Where probing for `key` starts.
    fn home(&self, key: (i64, u8)) -> usize {
        // 2 * hour + fold, wrapping: any hour has a place
        let k = key.0.wrapping_mul(2).wrapping_add(i64::from(key.1)) as u64;
        usize::try_from(k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.bits)).unwrap_or(0)
    }

    /// The slot holding `key`, or the empty slot where it goes.
    fn find(&self, key: (i64, u8)) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        // at most half full: an empty slot is always met
        while let Some(Some((k, _))) = self.slots.get(i) {
            if *k == key {
                break;
            }
            i = (i + 1) & mask;
        }
        i
    }

    fn get(
        &mut self,
        hour: i64,
        fold: u8,
        lookup: impl FnOnce() -> PyResult<i64>,
    ) -> PyResult<i64> {
        let key = (hour, fold);
        let i = self.find(key);
        if let Some(Some((_, us))) = self.slots.get(i) {
            return Ok(*us);
        }
        let us = lookup()?;
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Some((key, us));
            self.used += 1;
        }
        if self.used * 2 > self.slots.len() {
            self.grow();
        }
        Ok(us)
    }

    fn grow(&mut self) {
        self.bits += 1;
        let old = std::mem::replace(&mut self.slots, vec![None; 1 << self.bits]);
        for (key, us) in old.into_iter().flatten() {
            let i = self.find(key);
            if let Some(slot) = self.slots.get_mut(i) {
                *slot = Some((key, us));
            }
        }
    }
}

fn lost() -> PyErr {
    PyRuntimeError::new_err("the batch's columns were lost in an earlier failure")
}

/// A read-only NumPy array that owns `v` (no copy). Read-only because every table made from
/// the batch shares it.
fn array<T: Element>(py: Python<'_>, v: Vec<T>) -> Bound<'_, PyArray1<T>> {
    let a = PyArray1::from_vec(py, v);
    if let Ok(rw) = a.try_readwrite() {
        drop(rw.make_nonwriteable());
    }
    a
}

/// The validity bitmap as a uint8 array, or None when every row is valid.
fn validity(py: Python<'_>, b: Bitmap) -> (usize, Option<Bound<'_, PyAny>>) {
    let nulls = b.null_count();
    (
        nulls,
        (nulls > 0).then(|| array(py, b.into_bytes()).into_any()),
    )
}

type Column<'py> = (
    &'static str,
    &'static str,
    usize,
    usize,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
);

/// One part's columns as NumPy arrays, and its `offset` and `flags` arrays.
fn part_columns<'py>(
    py: Python<'py>,
    p: PartColumns,
    n: usize,
    fields: &[(usize, &'static str)],
) -> (Vec<Column<'py>>, RowArrays) {
    let PartColumns {
        offset,
        strings,
        times,
        flags,
        mut numbers,
    } = p;
    let mut cols: Vec<Column<'py>> = Vec::with_capacity(8 + fields.len());
    let offset = array(py, offset);
    cols.push((
        "offset",
        "uint64",
        n,
        0,
        None,
        Some(offset.clone().into_any()),
        None,
    ));
    for (name, c) in strings {
        // keys as the data, the dictionary (its length, offsets and bytes) in the last slot
        let (nulls, valid) = validity(py, c.validity);
        let keys = array(py, c.keys).into_any();
        let values = c.values;
        let dict = (
            values.len(),
            array(py, values.offsets),
            array(py, values.data),
        )
            .into_pyobject(py)
            .ok()
            .map(Bound::into_any);
        cols.push((name, "dictionary", n, nulls, valid, Some(keys), dict));
    }
    for (name, c) in times {
        // resolved by `resolve_times`: the zone codes are all RESOLVED now
        let (nulls, valid) = validity(py, c.validity);
        let data = array(py, c.utc_us).into_any();
        cols.push((name, "timestamp", n, nulls, valid, Some(data), None));
    }
    let flags = array(py, flags);
    cols.push((
        "flags",
        "uint32",
        n,
        0,
        None,
        Some(flags.clone().into_any()),
        None,
    ));
    for &(i, field) in fields {
        match numbers.get_mut(i).and_then(Option::take) {
            Some(c) => {
                let (nulls, valid) = validity(py, c.validity);
                let data = array(py, c.values).into_any();
                cols.push((field, "float64", n, nulls, valid, Some(data), None));
            }
            None => cols.push((field, "null_float64", n, n, None, None, None)),
        }
    }
    (cols, (offset.unbind(), flags.unbind()))
}
