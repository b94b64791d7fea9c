//! Bulk decoding into columns: one row per telegram, Arrow-shaped buffers (values + validity
//! bitmaps, string offsets), ready to be handed to Python/Arrow without a per-value object.
//!
//! Columns: `offset` (u64), `manufacturer`, `list_id`, `meter_id`, `meter_type` (nullable
//! dictionary-encoded strings, [`DictColumn`]), `meter_time` and `notification_time`
//! (nullable [`TimeColumn`]s), `flags` (u32) and one f64 column per [`FieldKind::Number`] row
//! of [`TABLE`], created the first time a telegram carries the field (as zeroed memory: the
//! rows without it are nulls that are never written), so a batch of list-1 telegrams only
//! pays for the few fields list 1 has.
//!
//! ```
//! let batch = hanport::batch::decode_all(&[]);
//! assert_eq!(batch.len(), 0);
//! ```

use crate::decode::{Decoder, DecoderEvent, Stats};
use crate::dlms::datetime::{CosemDateTime, TimeBasis};
use crate::hdlc::ErrorRecord;
use crate::meters::layout::word;
use crate::obis::{FieldKind, TABLE};
use crate::telegram::{Manufacturer, TelegramRef};

/// An Arrow-style validity bitmap (bit set = valid, least significant bit first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bitmap {
    bytes: Vec<u8>,
    len: usize,
    nulls: usize,
}

impl Bitmap {
    /// Appends one bit.
    #[inline]
    pub fn push(&mut self, valid: bool) {
        let bit = self.len % 8;
        if bit == 0 {
            self.bytes.push(u8::from(valid));
        } else if let Some(last) = self.bytes.last_mut() {
            *last |= u8::from(valid) << bit;
        }
        self.nulls += usize::from(!valid);
        self.len += 1;
    }

    /// Appends `n` null bits.
    pub fn push_nulls(&mut self, n: usize) {
        let new_len = self.len + n;
        self.bytes.resize(new_len.div_ceil(8), 0);
        self.len = new_len;
        self.nulls += n;
    }

    /// Appends every bit of `other`.
    pub fn extend(&mut self, other: &Bitmap) {
        if self.len.is_multiple_of(8) {
            self.bytes.truncate(self.len / 8);
            self.bytes.extend_from_slice(&other.bytes);
            self.len += other.len;
            self.nulls += other.nulls;
            return;
        }
        // unaligned: shift each source byte across two destination bytes
        let shift = self.len % 8;
        let new_len = self.len + other.len;
        for &byte in &other.bytes {
            if let Some(last) = self.bytes.last_mut() {
                *last |= byte << shift;
            }
            self.bytes.push(byte >> (8 - shift));
        }
        self.bytes.truncate(new_len.div_ceil(8));
        // clear the bits past the end (they came from `other`'s zero padding anyway)
        self.len = new_len;
        self.nulls += other.nulls;
    }

    /// Whether bit `i` is set.
    pub fn get(&self, i: usize) -> bool {
        i < self.len
            && self
                .bytes
                .get(i / 8)
                .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// The packed bits.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The packed bits, moved out (`len().div_ceil(8)` bytes).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of clear bits.
    pub fn null_count(&self) -> usize {
        self.nulls
    }
}

/// A nullable f64 column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumColumn {
    /// Values (0.0 where null).
    pub values: Vec<f64>,
    /// Validity.
    pub validity: Bitmap,
}

impl NumColumn {
    /// An empty column whose first `rows` rows are zeroed, null and not yet counted (see
    /// [`NumColumn::put`]): a zeroed allocation of that size needs no writes (fresh pages
    /// come zeroed; glibc's `calloc` clears only memory it reuses), so rows that stay null
    /// cost nothing until [`NumColumn::finish`], and pages no row writes are never touched.
    fn zeroed(rows: usize) -> Self {
        NumColumn {
            values: vec![0.0; rows],
            validity: Bitmap {
                bytes: vec![0; rows.div_ceil(8)],
                len: 0,
                nulls: 0,
            },
        }
    }

    /// Sets row `row` to `v` unless it already holds a value (the first object of a
    /// quantity wins, like `Telegram.values`); grows the zeroed rows when `row` is past them.
    /// While rows are put, `values.len()` is the zeroed room, not the row count.
    #[inline]
    fn put(&mut self, row: usize, v: f64) {
        if row >= self.values.len() {
            let rows = (row + 1).max(self.values.len() * 2).max(64);
            self.values.resize(rows, 0.0);
            self.validity.bytes.resize(rows.div_ceil(8), 0);
        }
        let bit = 1u8 << (row % 8);
        if let (Some(byte), Some(slot)) = (
            self.validity.bytes.get_mut(row / 8),
            self.values.get_mut(row),
        ) {
            if *byte & bit == 0 {
                *byte |= bit;
                *slot = v;
            }
        }
    }

    /// Pads a finished column with nulls to `rows`.
    fn pad_to(&mut self, rows: usize) {
        let n = rows.saturating_sub(self.values.len());
        if n > 0 {
            self.values.resize(rows, 0.0);
            self.validity.push_nulls(n);
        }
    }

    /// Makes the column `rows` long (rows never put are null) and counts its nulls.
    fn finish(&mut self, rows: usize) {
        self.values.resize(rows, 0.0);
        let b = &mut self.validity;
        b.bytes.resize(rows.div_ceil(8), 0);
        if let Some(last) = b.bytes.last_mut() {
            if !rows.is_multiple_of(8) {
                *last &= (1u8 << (rows % 8)) - 1;
            }
        }
        b.len = rows;
        let valid: usize = b.bytes.iter().map(|x| x.count_ones() as usize).sum();
        b.nulls = rows - valid;
    }

    /// The value of row `i`, if valid.
    pub fn get(&self, i: usize) -> Option<f64> {
        if self.validity.get(i) {
            self.values.get(i).copied()
        } else {
            None
        }
    }
}

/// A nullable UTF-8 column in Arrow layout (i32 offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrColumn {
    /// `len + 1` offsets into `data`.
    pub offsets: Vec<i32>,
    /// The bytes of every value.
    pub data: Vec<u8>,
    /// Validity.
    pub validity: Bitmap,
}

impl Default for StrColumn {
    fn default() -> Self {
        StrColumn {
            offsets: vec![0],
            data: Vec::new(),
            validity: Bitmap::default(),
        }
    }
}

impl StrColumn {
    #[inline]
    fn push(&mut self, v: Option<&str>) {
        if let Some(s) = v {
            self.data.extend_from_slice(s.as_bytes());
        }
        // batches are far below 2 GiB of text (the input is chunked); saturate rather than wrap
        let end = i32::try_from(self.data.len()).unwrap_or(i32::MAX);
        self.offsets.push(end);
        self.validity.push(v.is_some());
    }

    /// The value of row `i`, if valid.
    pub fn get(&self, i: usize) -> Option<&str> {
        if !self.validity.get(i) {
            return None;
        }
        core::str::from_utf8(self.bytes(i)?).ok()
    }

    /// The bytes of row `i` (empty where null).
    fn bytes(&self, i: usize) -> Option<&[u8]> {
        let a = usize::try_from(*self.offsets.get(i)?).ok()?;
        let b = usize::try_from(*self.offsets.get(i + 1)?).ok()?;
        self.data.get(a..b)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.validity.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.validity.is_empty()
    }
}

/// The words that identify a string for [`DictColumn`]'s lookup: its length and its first and
/// last (up to) 8 bytes, so that strings of at most 16 bytes are equal exactly when their
/// words are (longer ones are compared byte by byte as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Words {
    len: usize,
    head: u64,
    tail: u64,
}

impl Words {
    #[inline]
    fn of(s: &[u8]) -> Words {
        let n = s.len();
        let tail = if n > 8 { s.get(n - 8..) } else { None };
        Words {
            len: n,
            head: word(s.get(..8).unwrap_or(s)),
            tail: tail.map_or(0, word),
        }
    }
}

/// Dictionaries above this size are searched through a hash map, below it by a scan of
/// their [`Words`].
const DICT_SCAN: usize = 32;

/// A nullable UTF-8 column, dictionary-encoded as Arrow's `dictionary<int32, utf8>`: each row
/// holds the key of its value in `values` (the distinct values, in the order they first
/// came). Meter identifiers, list identifiers, meter types and manufacturers take a handful
/// of values over millions of rows, so a row costs 4 bytes and no copy of its text.
#[derive(Debug, Clone, Default)]
pub struct DictColumn {
    /// Each row's key into `values` (0 where null).
    pub keys: Vec<i32>,
    /// Validity.
    pub validity: Bitmap,
    /// The distinct values (all valid).
    pub values: StrColumn,
    /// The [`Words`] of each value.
    words: Vec<Words>,
    /// The key of the last valid row.
    last: Option<i32>,
    /// Value -> key, once there are more than [`DICT_SCAN`] values.
    index: std::collections::HashMap<Box<[u8]>, i32>,
}

impl PartialEq for DictColumn {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys && self.validity == other.validity && self.values == other.values
    }
}

impl DictColumn {
    /// The key of `s`, added to the dictionary if new.
    #[inline]
    fn key(&mut self, text: &str) -> i32 {
        let s = text.as_bytes();
        let w = Words::of(s);
        let same = |k: usize, this: &Self| {
            this.words.get(k) == Some(&w) && (w.len <= 16 || this.values.bytes(k) == Some(s))
        };
        if let Some(k) = self.last {
            if same(k as usize, self) {
                return k;
            }
        }
        let found = if self.words.len() <= DICT_SCAN {
            (0..self.words.len()).find(|&k| same(k, self))
        } else {
            self.index.get(s).map(|&k| k as usize)
        };
        // the number of distinct values is at most the number of rows (far below 2^31)
        let k = match found {
            Some(k) => k,
            None => {
                let k = self.words.len();
                self.values.push(Some(text));
                self.words.push(w);
                if k + 1 > DICT_SCAN {
                    if self.index.is_empty() {
                        for j in 0..k {
                            if let Some(b) = self.values.bytes(j) {
                                self.index.insert(b.into(), j as i32);
                            }
                        }
                    }
                    self.index.insert(s.into(), k as i32);
                }
                k
            }
        };
        let k = i32::try_from(k).unwrap_or(i32::MAX);
        self.last = Some(k);
        k
    }

    #[inline]
    fn push(&mut self, v: Option<&str>) {
        let k = match v {
            Some(s) => self.key(s),
            None => 0,
        };
        self.keys.push(k);
        self.validity.push(v.is_some());
    }

    /// The value of row `i`, if valid.
    pub fn get(&self, i: usize) -> Option<&str> {
        if !self.validity.get(i) {
            return None;
        }
        self.values.get(usize::try_from(*self.keys.get(i)?).ok()?)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Appends the rows of `other`, re-keyed into this dictionary.
    fn extend(&mut self, other: &DictColumn) {
        let map: Vec<i32> = (0..other.values.len())
            .map(|k| self.key(other.values.get(k).unwrap_or_default()))
            .collect();
        self.keys
            .extend(other.keys.iter().enumerate().map(|(i, &k)| {
                if other.validity.get(i) {
                    map.get(k as usize).copied().unwrap_or(0)
                } else {
                    0
                }
            }));
        self.validity.extend(&other.validity);
    }
}

/// How a time row still has to be placed on the time line.
pub mod zone_code {
    /// Resolved: `utc_us` is the instant.
    pub const RESOLVED: u8 = 0;
    /// Wall-clock time in the configured zone, first occurrence (fold 0).
    pub const LOCAL_FOLD0: u8 = 1;
    /// Wall-clock time in the configured zone, second occurrence (fold 1).
    pub const LOCAL_FOLD1: u8 = 2;
}

/// A nullable date-time column under the crate's time policy
/// ([`crate::dlms::datetime`]). Rows with a trusted deviation are resolved here; rows in
/// local wall-clock time keep the wall clock in `utc_us` (as if it were UTC) and a
/// [`zone_code`] telling the caller to subtract the zone's offset (see [`TimeColumn::resolve`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeColumn {
    /// Microseconds since 1970-01-01 (UTC, or wall clock where `zone` says so).
    pub utc_us: Vec<i64>,
    /// A [`zone_code`] per row.
    pub zone: Vec<u8>,
    /// Validity (null: no time, or fields that form no date).
    pub validity: Bitmap,
}

const US_PER_HOUR: i64 = 3_600_000_000;

impl TimeColumn {
    fn push(&mut self, t: Option<&CosemDateTime>, aidon: bool) {
        let v = t.and_then(|t| {
            let (y, mo, d, h, mi, s, us) = t.fields()?;
            let days = days_from_civil(i64::from(y), i64::from(mo), i64::from(d));
            let wall = ((days * 24 + i64::from(h)) * 60 + i64::from(mi)) * 60 + i64::from(s);
            let wall_us = wall * 1_000_000 + i64::from(us);
            Some(match t.basis(aidon) {
                TimeBasis::FixedOffset { utc_offset_minutes } => (
                    wall_us - i64::from(utc_offset_minutes) * 60_000_000,
                    zone_code::RESOLVED,
                ),
                TimeBasis::LocalZone { dst } => (
                    wall_us,
                    if dst == Some(false) {
                        zone_code::LOCAL_FOLD1
                    } else {
                        zone_code::LOCAL_FOLD0
                    },
                ),
            })
        });
        let (us, code) = v.unwrap_or((0, zone_code::RESOLVED));
        self.utc_us.push(us);
        self.zone.push(code);
        self.validity.push(v.is_some());
    }

    /// The distinct (wall-clock hour since the epoch, fold) pairs that need the zone's offset.
    /// Consecutive rows mostly share an hour, so a row only reaches the set when its pair
    /// differs from the previous local row's.
    pub fn local_hours(&self, out: &mut std::collections::BTreeSet<(i64, u8)>) {
        let mut prev = None;
        for (i, (&us, &z)) in self.utc_us.iter().zip(&self.zone).enumerate() {
            if z != zone_code::RESOLVED && self.validity.get(i) {
                let key = (us.div_euclid(US_PER_HOUR), z - 1);
                if prev != Some(key) {
                    prev = Some(key);
                    out.insert(key);
                }
            }
        }
    }

    /// UTC microseconds of every row: `offset_us(wall hour, fold)` gives the zone's UTC offset
    /// (µs) for local rows; `None` leaves the row as it is.
    pub fn resolve<F: FnMut(i64, u8) -> Option<i64>>(&self, mut offset_us: F) -> Vec<i64> {
        self.utc_us
            .iter()
            .zip(&self.zone)
            .map(|(&us, &z)| {
                if z == zone_code::RESOLVED {
                    us
                } else {
                    offset_us(us.div_euclid(US_PER_HOUR), z - 1).map_or(us, |o| us - o)
                }
            })
            .collect()
    }

    /// [`TimeColumn::resolve`] in place, in one pass: `offset_us(wall hour, fold)` is called
    /// once per run of consecutive local rows that share the pair. Each row done is marked
    /// [`zone_code::RESOLVED`], so when `offset_us` fails the column stays consistent (resolved
    /// rows, then rows still in local time) and a later call goes on where this one stopped.
    pub fn resolve_in_place<E, F>(&mut self, mut offset_us: F) -> Result<(), E>
    where
        F: FnMut(i64, u8) -> Result<Option<i64>, E>,
    {
        let mut prev: Option<((i64, u8), Option<i64>)> = None;
        for (us, z) in self.utc_us.iter_mut().zip(self.zone.iter_mut()) {
            if *z == zone_code::RESOLVED {
                continue;
            }
            let key = (us.div_euclid(US_PER_HOUR), *z - 1);
            let off = match prev {
                Some((k, o)) if k == key => o,
                _ => {
                    let o = offset_us(key.0, key.1)?;
                    prev = Some((key, o));
                    o
                }
            };
            if let Some(o) = off {
                *us -= o;
            }
            *z = zone_code::RESOLVED;
        }
        Ok(())
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Number-kind rows of [`TABLE`]: `(index in TABLE, field name)`.
pub fn number_fields() -> impl Iterator<Item = (usize, &'static str)> {
    TABLE
        .iter()
        .enumerate()
        .filter(|(_, d)| d.kind == FieldKind::Number)
        .map(|(i, d)| (i, d.field))
}

/// Columns of decoded telegrams, plus what was skipped.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Stream offset of each telegram's frame.
    pub offset: Vec<u64>,
    /// Manufacturer name.
    pub manufacturer: DictColumn,
    /// List identifier as sent.
    pub list_id: DictColumn,
    /// Meter identifier.
    pub meter_id: DictColumn,
    /// Meter type.
    pub meter_type: DictColumn,
    /// Meter clock.
    pub meter_time: TimeColumn,
    /// Data-notification date-time.
    pub notification_time: TimeColumn,
    /// Quality flags ([`crate::quality::Flags`] bits).
    pub flags: Vec<u32>,
    /// Per-field columns, indexed like [`TABLE`]; `None` until a telegram has the field.
    pub numbers: Vec<Option<NumColumn>>,
    /// Each telegram's frame bytes.
    pub raw: RawFrames,
    /// Rows whose frames are not one span of the input (`RawFrames::Spans` only): (row, bytes).
    pub raw_copies: Vec<(usize, Vec<u8>)>,
    /// Error records, in stream order.
    pub errors: Vec<ErrorRecord>,
    /// Decoder counters.
    pub stats: Stats,
    /// Rows expected (capacity of columns created later).
    rows_hint: usize,
    /// What the stateful checks read of each row with a meter id (row, key), kept while
    /// decoding in parallel.
    track: Option<Vec<(usize, crate::quality::TrackKey)>>,
}

/// Where a batch keeps each row's frame bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawFrames {
    /// Not copied: row `i`'s bytes are `input[offset[i] .. offset[i] + len[i]]` of the input
    /// the batch was decoded from ([`decode_all`], [`decode_parts`]).
    Spans(Vec<u32>),
    /// Copied: row `i`'s bytes are `bytes[ends[i - 1] .. ends[i]]` (for input that is not kept,
    /// such as the chunks of a file read piece by piece).
    Copied {
        /// Every frame, concatenated.
        bytes: Vec<u8>,
        /// End of each row's bytes in `bytes`.
        ends: Vec<usize>,
    },
}

impl Default for RawFrames {
    fn default() -> Self {
        RawFrames::Spans(Vec::new())
    }
}

impl RawFrames {
    fn push(&mut self, raw: &[u8]) {
        match self {
            // frames are at most 2049 bytes (HDLC), far below u32::MAX
            RawFrames::Spans(lens) => lens.push(u32::try_from(raw.len()).unwrap_or(u32::MAX)),
            RawFrames::Copied { bytes, ends } => {
                bytes.extend_from_slice(raw);
                ends.push(bytes.len());
            }
        }
    }

    fn append(&mut self, other: RawFrames) {
        match (self, other) {
            (RawFrames::Spans(a), RawFrames::Spans(b)) => a.extend(b),
            (
                RawFrames::Copied { bytes, ends },
                RawFrames::Copied {
                    bytes: b2,
                    ends: e2,
                },
            ) => {
                let base = bytes.len();
                bytes.extend_from_slice(&b2);
                ends.extend(e2.iter().map(|e| e + base));
            }
            // mixing the two kinds cannot locate the rows any more: keep them unlocatable
            (me, _) => *me = RawFrames::Spans(Vec::new()),
        }
    }
}

/// The smallest frame worth reserving a row for (real list-1 frames are 40+ bytes).
const MIN_FRAME: usize = 32;

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch {
            numbers: vec![None; TABLE.len()],
            ..Default::default()
        }
    }

    /// An empty batch that copies each row's frame bytes (for input that is not kept).
    pub fn copying() -> Self {
        Batch {
            raw: RawFrames::Copied {
                bytes: Vec::new(),
                ends: Vec::new(),
            },
            ..Batch::new()
        }
    }

    /// An empty batch with room for what `bytes` of capture can hold (no reallocation while
    /// filling; untouched capacity costs address space only).
    pub fn with_capacity(bytes: usize) -> Self {
        let rows = bytes / MIN_FRAME + 1;
        let mut b = Batch::new();
        b.rows_hint = rows;
        b.offset.reserve(rows);
        b.flags.reserve(rows);
        b.raw = RawFrames::Spans(Vec::with_capacity(rows));
        for c in [
            &mut b.manufacturer,
            &mut b.list_id,
            &mut b.meter_id,
            &mut b.meter_type,
        ] {
            c.keys.reserve(rows);
        }
        for t in [&mut b.meter_time, &mut b.notification_time] {
            t.utc_us.reserve(rows);
            t.zone.reserve(rows);
        }
        b
    }

    /// Number of rows (telegrams).
    pub fn len(&self) -> usize {
        self.offset.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.offset.is_empty()
    }

    /// The frame bytes of row `i`; `input` is what the batch was decoded from (used when the
    /// batch holds spans, see [`RawFrames`]).
    pub fn raw_frame<'s>(&'s self, i: usize, input: &'s [u8]) -> Option<&'s [u8]> {
        if let Ok(k) = self.raw_copies.binary_search_by_key(&i, |(row, _)| *row) {
            return self.raw_copies.get(k).map(|(_, b)| b.as_slice());
        }
        match &self.raw {
            RawFrames::Spans(lens) => {
                let a = usize::try_from(*self.offset.get(i)?).ok()?;
                let n = usize::try_from(*lens.get(i)?).ok()?;
                input.get(a..a.checked_add(n)?)
            }
            RawFrames::Copied { bytes, ends } => {
                let a = match i.checked_sub(1) {
                    Some(p) => *ends.get(p)?,
                    None => 0,
                };
                bytes.get(a..*ends.get(i)?)
            }
        }
    }

    /// The number column of a field, if any row has it.
    pub fn number(&self, field: &str) -> Option<&NumColumn> {
        let i = TABLE.iter().position(|d| d.field == field)?;
        self.numbers.get(i)?.as_ref()
    }

    /// Appends one telegram as a row.
    pub fn push(&mut self, tg: &TelegramRef<'_>, offset: u64, raw: &[u8]) {
        let row = self.offset.len();
        self.offset.push(offset);
        self.manufacturer
            .push(tg.manufacturer.map(Manufacturer::name));
        self.list_id.push(tg.list_id);
        self.meter_id.push(tg.meter_id);
        self.meter_type.push(tg.meter_type);
        let aidon = tg.manufacturer == Some(Manufacturer::Aidon);
        self.meter_time.push(tg.meter_time.as_ref(), aidon);
        self.notification_time
            .push(tg.notification_time.as_ref(), aidon);
        self.flags.push(tg.flags.0);
        if let Some(t) = &mut self.track {
            if tg.meter_id.is_some() || tg.system_title.is_some() {
                t.push((row, crate::quality::TrackKey::of(tg)));
            }
        }
        self.raw.push(raw);
        for o in &tg.objects {
            let Some(q) = o.quantity else { continue };
            if q.def().kind != FieldKind::Number {
                continue;
            }
            let Some(v) = o.number() else { continue };
            let Some(slot) = self.numbers.get_mut(q as usize) else {
                continue;
            };
            let hint = self.rows_hint;
            slot.get_or_insert_with(|| NumColumn::zeroed(hint))
                .put(row, v);
        }
    }

    /// Pads every number column to the row count (call after the last `push`).
    pub fn seal(&mut self) {
        let rows = self.len();
        for col in self.numbers.iter_mut().flatten() {
            col.finish(rows);
        }
    }

    /// Takes one decoder event.
    pub fn on_event(&mut self, ev: DecoderEvent<'_>) {
        match ev {
            DecoderEvent::Telegram {
                telegram,
                offset,
                raw,
                end,
            } => {
                if end.checked_sub(offset) == Some(raw.len() as u64) {
                    self.push(telegram, offset, raw);
                } else {
                    // a reassembled message with other bytes between its frames: its bytes
                    // are not one span of the input
                    if matches!(self.raw, RawFrames::Spans(_)) {
                        self.raw_copies.push((self.len(), raw.to_vec()));
                    }
                    self.push(telegram, offset, raw);
                }
            }
            DecoderEvent::Error(r) => self.errors.push(r),
        }
    }
}

impl TimeColumn {
    fn extend(&mut self, other: &TimeColumn) {
        self.utc_us.extend_from_slice(&other.utc_us);
        self.zone.extend_from_slice(&other.zone);
        self.validity.extend(&other.validity);
    }
}

impl Batch {
    /// Appends the rows, errors and counters of a batch that follows this one in the stream,
    /// starting at stream offset `base` (`other`'s offsets are relative to it).
    pub fn append(&mut self, other: Batch, base: u64) {
        let rows = self.len();
        self.offset.extend(other.offset.iter().map(|o| o + base));
        self.manufacturer.extend(&other.manufacturer);
        self.list_id.extend(&other.list_id);
        self.meter_id.extend(&other.meter_id);
        self.meter_type.extend(&other.meter_type);
        self.meter_time.extend(&other.meter_time);
        self.notification_time.extend(&other.notification_time);
        self.flags.extend_from_slice(&other.flags);
        for (mine, theirs) in self.numbers.iter_mut().zip(other.numbers) {
            match (mine.as_mut(), theirs) {
                (Some(m), Some(t)) => {
                    m.pad_to(rows);
                    m.values.extend_from_slice(&t.values);
                    m.validity.extend(&t.validity);
                }
                (None, Some(t)) => {
                    let mut m = NumColumn::default();
                    m.pad_to(rows);
                    m.values.extend_from_slice(&t.values);
                    m.validity.extend(&t.validity);
                    *mine = Some(m);
                }
                (Some(m), None) => m.pad_to(rows),
                (None, None) => {}
            }
        }
        self.raw_copies
            .extend(other.raw_copies.into_iter().map(|(r, b)| (r + rows, b)));
        self.raw.append(other.raw);
        self.errors.extend(other.errors.into_iter().map(|mut r| {
            r.offset += base;
            r
        }));
        let (s, o) = (&mut self.stats, other.stats);
        s.split.bytes_in += o.split.bytes_in;
        s.split.frames_ok += o.split.frames_ok;
        s.split.frames_bad_checksum += o.split.frames_bad_checksum;
        s.split.frames_malformed += o.split.frames_malformed;
        s.split.bytes_skipped += o.split.bytes_skipped;
        s.telegrams += o.telegrams;
        s.frames_undecodable += o.frames_undecodable;
        s.frames_reassembled += o.frames_reassembled;
        self.seal();
    }
}

/// Where to cut `data` into about `parts` pieces: each cut is the start of a frame the splitter
/// accepts that begins a message (an HDLC frame with an LLC header and a complete or first
/// APDU, the first M-Bus segment, a P1 telegram, a raw ciphered APDU), so no frame and no
/// reassembled message is split; found by scanning up to 1 MiB after the even cut point.
pub fn frame_cuts(data: &[u8], parts: usize) -> Vec<usize> {
    const WINDOW: usize = 1 << 20;
    let mut cuts = vec![0];
    for k in 1..parts.max(1) {
        let p = data.len() / parts * k;
        let Some(window) = data.get(p..data.len().min(p + WINDOW)) else {
            continue;
        };
        let mut first = None;
        let mut splitter = crate::hdlc::FrameSplitter::with_protocols(
            crate::hdlc::frame::MAX_FRAME_LEN,
            crate::hdlc::Protocols::ALL,
        );
        splitter.push(window, |ev| {
            if first.is_some() {
                return;
            }
            let starts = match ev {
                crate::hdlc::Event::Frame(f) => matches!(
                    crate::dlms::apdu::strip_llc(f.information()),
                    Ok(([0x0F | 0xDB | 0xDC, ..], 3))
                ),
                crate::hdlc::Event::Link(l) => match l.kind {
                    // CI 0x00..=0x1F: segment number 0 starts a message
                    crate::hdlc::LinkKind::Mbus => l
                        .bytes
                        .get(6)
                        .is_some_and(|ci| *ci <= 0x1F && ci & 0x0F == 0),
                    _ => true,
                },
                crate::hdlc::Event::Error(_) => false,
            };
            if starts {
                first = Some(match ev {
                    crate::hdlc::Event::Frame(f) => f.offset,
                    crate::hdlc::Event::Link(l) => l.offset,
                    crate::hdlc::Event::Error(r) => r.offset,
                });
            }
        });
        if let Some(off) = first {
            let cut = p + usize::try_from(off).unwrap_or(usize::MAX - p);
            if cut > cuts.last().copied().unwrap_or(0) && cut < data.len() {
                cuts.push(cut);
            }
        }
    }
    cuts
}

/// [`decode_all`] on `threads` cores (0: all of them), as consecutive parts: the stream is cut
/// at frame starts ([`frame_cuts`]), the pieces are decoded in parallel, their offsets made
/// absolute, and the stateful quality checks re-run over all rows in stream order. Together
/// the parts hold the rows of [`decode_all`] (a piece boundary can only change how a damaged
/// region right next to it is counted).
pub fn decode_parts(data: &[u8], threads: usize) -> Vec<Batch> {
    decode_parts_keyed(data, threads, &crate::dlms::security::KeyRing::new())
}

/// [`decode_parts`], decrypting ciphered APDUs with `keys`.
pub fn decode_parts_keyed(
    data: &[u8],
    threads: usize,
    keys: &crate::dlms::security::KeyRing,
) -> Vec<Batch> {
    use rayon::prelude::*;
    let threads = if threads == 0 {
        rayon::current_num_threads()
    } else {
        threads
    };
    // pieces below 1 MiB are not worth a thread
    let parts = threads.min(data.len() / (1 << 20)).max(1);
    if parts == 1 {
        return vec![decode_all_keyed(data, keys)];
    }
    let cuts = frame_cuts(data, parts);
    let ranges: Vec<(usize, usize)> = cuts
        .iter()
        .zip(cuts.iter().skip(1).chain([&data.len()]))
        .map(|(&a, &b)| (a, b))
        .collect();
    let mut batches: Vec<Batch> = ranges
        .par_iter()
        .map(|&(a, b)| {
            let piece = data.get(a..b).unwrap_or(&[]);
            let mut dec = Decoder::with_keys(crate::decode::Limits::default(), keys.clone());
            let mut batch = Batch::with_capacity(piece.len());
            batch.track = Some(Vec::new());
            dec.push(piece, |ev| batch.on_event(ev));
            dec.finish(|ev| batch.on_event(ev));
            batch.stats = dec.stats();
            batch.seal();
            let base = a as u64;
            for o in &mut batch.offset {
                *o += base;
            }
            for r in &mut batch.errors {
                r.offset += base;
            }
            batch
        })
        .collect();
    retrack(&mut batches);
    batches
}

/// Re-runs the stateful quality checks over consecutive parts in row order, then forgets the
/// keys.
fn retrack(parts: &mut [Batch]) {
    let mut tracker = crate::quality::Tracker::default();
    let mut counters = crate::dlms::security::CounterTracker::new();
    for part in parts {
        let Some(keys) = part.track.take() else {
            continue;
        };
        for (row, key) in &keys {
            let mut stateful = match part.meter_id.get(*row) {
                Some(id) => tracker.check_key(id, key).0,
                None => 0,
            };
            if let Some((title, ic)) = key.counter {
                stateful |= crate::decode::counter_bits(counters.check(title, ic));
            }
            if let Some(flags) = part.flags.get_mut(*row) {
                *flags = (*flags & !crate::quality::STATEFUL) | stateful;
            }
        }
    }
}

/// [`decode_parts`] appended into one batch (copies every column once more).
pub fn decode_all_parallel(data: &[u8], threads: usize) -> Batch {
    let mut parts = decode_parts(data, threads).into_iter();
    let mut out = parts.next().unwrap_or_default();
    for b in parts {
        out.append(b, 0);
    }
    if out.numbers.is_empty() {
        out = Batch::new();
    }
    out
}

/// Decodes a whole stream into one batch.
pub fn decode_all(data: &[u8]) -> Batch {
    decode_all_keyed(data, &crate::dlms::security::KeyRing::new())
}

/// [`decode_all`], decrypting ciphered APDUs with `keys`.
pub fn decode_all_keyed(data: &[u8], keys: &crate::dlms::security::KeyRing) -> Batch {
    let mut dec = Decoder::with_keys(crate::decode::Limits::default(), keys.clone());
    let mut batch = Batch::with_capacity(data.len());
    dec.push(data, |ev| batch.on_event(ev));
    dec.finish(|ev| batch.on_event(ev));
    batch.stats = dec.stats();
    batch.seal();
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::Data;

    #[test]
    fn parallel_equals_sequential() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/streams");
        let mut data = Vec::new();
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .collect();
        names.sort();
        while data.len() < 5 << 20 {
            for p in &names {
                data.extend(std::fs::read(p).unwrap());
            }
        }
        let seq = decode_all(&data);
        for threads in [2, 3, 7] {
            let par = decode_all_parallel(&data, threads);
            assert_eq!(par.len(), seq.len());
            assert_eq!(par.offset, seq.offset);
            assert_eq!(par.flags, seq.flags);
            assert_eq!(par.meter_id, seq.meter_id);
            assert_eq!(par.list_id, seq.list_id);
            assert_eq!(par.meter_time, seq.meter_time);
            assert_eq!(par.notification_time, seq.notification_time);
            assert_eq!(par.numbers, seq.numbers);
            assert_eq!(par.raw, seq.raw);
            for i in 0..seq.len() {
                assert_eq!(par.raw_frame(i, &data), seq.raw_frame(i, &data));
                assert!(seq
                    .raw_frame(i, &data)
                    .is_some_and(|f| f.first() == Some(&0x7E)));
            }
            assert_eq!(par.stats.telegrams, seq.stats.telegrams);
            assert_eq!(par.stats.split.bytes_in, seq.stats.split.bytes_in);
        }
    }

    #[test]
    fn bitmap_and_civil() {
        let mut b = Bitmap::default();
        b.push(true);
        b.push_nulls(9);
        b.push(true);
        assert_eq!(b.len(), 11);
        assert_eq!(b.null_count(), 9);
        assert!(b.get(0) && !b.get(1) && b.get(10) && !b.get(11));
        assert_eq!(b.as_bytes(), &[1, 4]);
        let mut c = Bitmap::default();
        c.push(false);
        c.push(true);
        c.push_nulls(3);
        let mut want = b.clone();
        for i in 0..c.len() {
            want.push(c.get(i));
        }
        b.extend(&c);
        assert_eq!(b, want);
        b.extend(&want.clone());
        assert_eq!(b.len(), 32);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn dict_column_matches_a_model() {
        // short and long values, long ones that share their first and last 8 bytes, empty
        // ones, nulls; more distinct values than the scan handles; then appended to another
        let mut names: Vec<String> = vec![String::new(), "Aidon".into(), "ab".into()];
        for i in 0..50 {
            names.push(format!("73599928{i:04}0000")); // 16 bytes, differ in the middle
            names.push(format!("HEAD1234{i:03}TAIL5678")); // 19 bytes, same head and tail
        }
        let mut x = 99u64;
        let mut rows = |n: usize| -> Vec<Option<String>> {
            (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let k = (x >> 33) as usize;
                    // runs of one value, as meters send them, and now and then a null
                    (!k.is_multiple_of(7)).then(|| names[(k / 7) % names.len()].clone())
                })
                .collect()
        };
        let (a, b) = (rows(700), rows(900));
        let build = |rows: &[Option<String>]| {
            let mut c = DictColumn::default();
            for r in rows {
                c.push(r.as_deref());
            }
            c
        };
        let (mut ca, cb) = (build(&a), build(&b));
        for (c, model) in [(&ca, &a), (&cb, &b)] {
            assert_eq!(c.len(), model.len());
            for (i, want) in model.iter().enumerate() {
                assert_eq!(c.get(i), want.as_deref(), "row {i}");
            }
            let distinct: std::collections::BTreeSet<_> = model.iter().flatten().collect();
            assert_eq!(c.values.len(), distinct.len());
        }
        ca.extend(&cb);
        let all: Vec<_> = a.iter().chain(&b).cloned().collect();
        assert_eq!(ca, build(&all)); // the same keys as one column built in one go
        for (i, want) in all.iter().enumerate() {
            assert_eq!(ca.get(i), want.as_deref(), "row {i}");
        }
    }

    #[test]
    fn num_column_put_matches_a_model() {
        // rows put in order with gaps and repeats, past the zeroed room, finished, then put
        // again after the finish (a batch sealed and filled on)
        for room in [0, 1, 7, 8, 9, 100] {
            let mut c = NumColumn::zeroed(room);
            let mut model: Vec<Option<f64>> = Vec::new();
            let mut rows = 0;
            let mut x = 12_345u64;
            for round in 0..2 {
                for _ in 0..300 {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    rows += (x >> 61) as usize; // 0..=7 rows on
                    let v = (x >> 20) as f64;
                    c.put(rows, v);
                    model.resize(model.len().max(rows + 1), None);
                    model[rows].get_or_insert(v); // the first value of a row wins
                }
                let len = rows + 1 + round * 5; // trailing nulls after the last put
                c.finish(len);
                model.resize(len, None);
                assert_eq!(c.values.len(), len);
                assert_eq!(c.validity.len(), len);
                let nulls = model.iter().filter(|v| v.is_none()).count();
                assert_eq!(c.validity.null_count(), nulls);
                for (i, want) in model.iter().enumerate() {
                    assert_eq!(c.get(i), *want, "room {room} row {i}");
                    if want.is_none() {
                        assert_eq!(c.values[i], 0.0);
                    }
                }
                assert!(!c.validity.get(len));
                rows = len;
            }
        }
    }

    #[test]
    fn resolve_in_place_matches_resolve_and_resumes() {
        let h = US_PER_HOUR;
        let mut t = TimeColumn::default();
        for (us, z, valid) in [
            (5 * h + 7, zone_code::LOCAL_FOLD0, true),
            (5 * h + 9, zone_code::LOCAL_FOLD0, true),
            (9 * h, zone_code::RESOLVED, true),
            (5 * h + 1, zone_code::LOCAL_FOLD1, true),
            (0, zone_code::RESOLVED, false),
            (-3 * h + 2, zone_code::LOCAL_FOLD0, true),
            (5 * h, zone_code::LOCAL_FOLD0, true),
        ] {
            t.utc_us.push(us);
            t.zone.push(z);
            t.validity.push(valid);
        }
        let mut hours = std::collections::BTreeSet::new();
        t.local_hours(&mut hours);
        assert_eq!(
            hours.into_iter().collect::<Vec<_>>(),
            [(-3, 0), (5, 0), (5, 1)]
        );
        let offset = |hour: i64, fold: u8| (hour != -3).then_some(hour * 1000 + i64::from(fold));
        let want = t.resolve(offset);
        // fails on the second lookup, then goes on
        let mut calls = 0;
        let mut u = t.clone();
        let r = u.resolve_in_place(|hour, fold| {
            calls += 1;
            if calls == 2 {
                Err(())
            } else {
                Ok(offset(hour, fold))
            }
        });
        assert_eq!(r, Err(()));
        assert_eq!(calls, 2);
        let mut calls = 0;
        u.resolve_in_place(|hour, fold| {
            calls += 1;
            Ok::<_, ()>(offset(hour, fold))
        })
        .unwrap();
        assert_eq!(calls, 3); // (5, 1), (-3, 0), (5, 0): once per run, not per row
        assert_eq!(u.utc_us, want);
        assert!(u.zone.iter().all(|&z| z == zone_code::RESOLVED));
        assert_eq!(u.validity, t.validity);
    }

    #[test]
    fn streams_match_decoder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/streams");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|x| x != "bin") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let batch = decode_all(&data);
            let mut tgs = Vec::new();
            let mut dec = Decoder::new();
            let mut sink = |ev: DecoderEvent<'_>| {
                if let DecoderEvent::Telegram {
                    telegram, offset, ..
                } = ev
                {
                    tgs.push((telegram.to_owned(), offset));
                }
            };
            dec.push(&data, &mut sink);
            dec.finish(&mut sink);
            assert_eq!(batch.len(), tgs.len(), "{}", path.display());
            assert_eq!(batch.stats, dec.stats());
            for (i, (tg, off)) in tgs.iter().enumerate() {
                assert_eq!(batch.offset[i], *off);
                assert_eq!(batch.list_id.get(i), tg.list_id.as_deref());
                assert_eq!(batch.meter_id.get(i), tg.meter_id.as_deref());
                assert_eq!(batch.flags[i], tg.flags.0);
                for (qi, field) in number_fields() {
                    let want = tg
                        .objects
                        .iter()
                        .filter(|o| o.quantity.is_some_and(|q| q as usize == qi))
                        .find_map(|o| match (&o.raw, o.value()) {
                            (Data::Int(_) | Data::UInt(_) | Data::Float(_), Data::Int(v)) => {
                                Some(v as f64)
                            }
                            (Data::Int(_) | Data::UInt(_) | Data::Float(_), Data::UInt(v)) => {
                                Some(v as f64)
                            }
                            (Data::Int(_) | Data::UInt(_) | Data::Float(_), Data::Float(v)) => {
                                Some(v)
                            }
                            _ => None,
                        });
                    let got = batch.number(field).and_then(|c| c.get(i));
                    assert_eq!(got, want, "{} row {i} {field}", path.display());
                }
            }
            for col in batch.numbers.iter().flatten() {
                assert_eq!(col.values.len(), batch.len());
                assert_eq!(col.validity.len(), batch.len());
            }
        }
    }
}
