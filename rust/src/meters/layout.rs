//! Learned layouts: the stream decoder's memo of how each list it has seen was mapped.
//!
//! A meter pushes the same few lists over and over: the same A-XDR types, lengths, OBIS codes,
//! scaler-units and identifiers, with only the numbers and clocks changing. After a body has
//! been decoded and mapped the full way, a [`Layout`] remembers its bytes with the *value bytes*
//! of its objects masked out (the contents of what the full path read as numbers, booleans and
//! date-times: fixed-size leaves, and 12-byte octet-strings read as date-times), with where each
//! object's value sits and the object's finished mapping (OBIS code, quantity, scaler, unit,
//! scaler source) and the manufacturer.
//!
//! A later body is decoded by a layout only when its length, its link hints (HDLC addresses,
//! system title), its notification date-time form and **every byte outside the masked value
//! bytes** equal the layout's. Everything the full path decides from — tags, lengths, element
//! counts, OBIS codes, scaler-units, list ids and other strings — lies outside the mask, and
//! masked bytes only ever fill fixed-size contents, so the full path would walk the same nodes
//! and take the same decisions: the result is the full path's, built from this frame's own
//! bytes (each value is decoded from the frame and converted by the same `data_of`; the
//! identifier and clock checks run again). Nothing about a frame is ever taken from an earlier
//! frame but the structure it was checked to share. Frames that match no layout take the full
//! path, which then learns theirs; a check that fails on the fast path (a damaged clock, say)
//! hands the frame to the full path too, so errors are the full path's.
//!
//! Memory is bounded: at most [`MAX_LAYOUTS`] layouts of bodies up to [`MAX_BODY`] bytes, the
//! least recently used one replaced, but not more often than once every [`REPLACE_EVERY`]
//! lookups ([`Slots`]).

#[cfg(not(feature = "std"))]
use alloc::{string::String, vec::Vec};

use super::{data_of, meter_clock, LinkHints};
use crate::dlms::apdu::{DataNotification, DateTimeForm};
use crate::dlms::axdr::{fixed_contents_len, integer_tag, value_at, Node};
use crate::obis::{Obis, Quantity};
use crate::telegram::{DataRef, Manufacturer, ObjectRef, ScalerSource, TelegramRef};

/// Most layouts remembered per stream (a stream carries one meter's two or three lists; a
/// mixed capture, or a concentrator's, a few dozen meters'). Lookups scan a compact array of
/// tags, so a miss costs a few nanoseconds even when every place is taken.
pub const MAX_LAYOUTS: usize = 64;

/// Fewest lookups between two replacements of a kept layout: a stream that cycles through
/// more lists than are kept (many meters interleaved) pays for learning on few of its misses.
pub const REPLACE_EVERY: u64 = 64;

/// Longest body learned, in bytes (real lists are under 400).
pub const MAX_BODY: usize = 2048;

/// What besides the body's bytes the mapping depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    len: u32,
    /// The address bytes as little-endian words (the first byte lowest).
    dest: u32,
    src: u32,
    /// `dest` and `src` lengths.
    addr_lens: (u8, u8),
    system_title: Option<[u8; 8]>,
    form: DateTimeForm,
}

/// An address of up to 4 bytes as a little-endian [`word`], `None` if longer.
#[inline]
fn address_word(bytes: &[u8]) -> Option<u32> {
    if bytes.len() > 4 {
        return None;
    }
    u32::try_from(word(bytes)).ok()
}

impl Key {
    /// The [`Slots`] tag: the body length and the first address bytes.
    fn tag(&self) -> u64 {
        u64::from(self.len) | u64::from(self.dest & 0xFF) << 32 | u64::from(self.src & 0xFF) << 40
    }

    #[inline]
    fn of(n: &DataNotification<'_>, hints: &LinkHints<'_>) -> Option<Key> {
        Some(Key {
            len: u32::try_from(n.body.len()).ok()?,
            dest: address_word(hints.dest)?,
            src: address_word(hints.src)?,
            addr_lens: (
                u8::try_from(hints.dest.len()).ok()?,
                u8::try_from(hints.src.len()).ok()?,
            ),
            system_title: hints.system_title,
            form: n.datetime_form,
        })
    }
}

/// One object of a layout: where its value is (`slot`) and how it was mapped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned<S> {
    pub(crate) slot: S,
    obis: Obis,
    scaler: i8,
    unit: Option<u8>,
    scaler_source: ScalerSource,
    quantity: Option<Quantity>,
}

impl<S> Planned<S> {
    /// The plan of an object the full path mapped, its value at `slot`.
    pub(crate) fn of(slot: S, o: &ObjectRef<'_>) -> Self {
        Planned {
            slot,
            obis: o.obis,
            scaler: o.scaler,
            unit: o.unit,
            scaler_source: o.scaler_source,
            quantity: o.quantity,
        }
    }

    /// The quantity the object was mapped to.
    #[inline]
    pub(crate) fn quantity(&self) -> Option<Quantity> {
        self.quantity
    }

    /// The object, with the value `raw` read from a later frame.
    #[inline]
    pub(crate) fn object<'a>(&self, raw: DataRef<'a>) -> ObjectRef<'a> {
        ObjectRef {
            obis: self.obis,
            raw,
            scaler: self.scaler,
            unit: self.unit,
            scaler_source: self.scaler_source,
            quantity: self.quantity,
        }
    }
}

/// A learned list layout (see the module documentation).
#[derive(Debug, Clone)]
struct Layout {
    key: Key,
    /// The body's bytes outside the value bytes.
    template: Template,
    /// Each object, with the offset of its value's tag in the body.
    objects: Vec<Planned<u32>>,
    /// How each object's value is read (side by side with `objects`).
    reads: Vec<Read>,
    manufacturer: Option<Manufacturer>,
    /// The list id, meter id and meter type the full path found. Their bytes lie outside the
    /// mask, so a matching frame carries the same, already checked (copies here spare each
    /// frame the UTF-8 validation of a `&str` into it).
    idents: [Option<String>; 3],
    /// The objects holding the meter clock (checked again for every frame: they are values).
    clocks: Vec<u32>,
}

/// How the fast path reads a value whose tag the template fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// A fixed-size integer (or enum) of `width` bytes after the tag: read without
    /// dispatching on the tag again, into the `DataRef` the full path's `data_of` gives.
    Int { width: u8, signed: bool },
    /// Anything else: `value_at` and `data_of`, as the full path does.
    Any,
}

impl Read {
    /// The read for a value with A-XDR tag `tag`.
    fn of(tag: u8) -> Read {
        match integer_tag(tag) {
            Some((width, signed)) => Read::Int { width, signed },
            None => Read::Any,
        }
    }
}

/// The big-endian integer of `width` (1–8) bytes at `at` in `body`, as `data_of` converts
/// it: the 8 bytes ending with it loaded as one word and the rest shifted out.
#[inline]
fn int_at(body: &[u8], at: usize, width: u8, signed: bool) -> Option<DataRef<'_>> {
    let end = at.checked_add(usize::from(width))?;
    let word = match end.checked_sub(8).and_then(|start| body.get(start..end)) {
        Some(b) => u64::from_be_bytes(<[u8; 8]>::try_from(b).ok()?),
        // a body shorter than 8 bytes up to the value's end
        None => (body.get(at..end)?)
            .iter()
            .fold(0, |w, &b| (w << 8) | u64::from(b)),
    };
    let shift = 64 - 8 * u32::from(width);
    let high = word << shift;
    Some(if signed {
        DataRef::Int((high as i64) >> shift)
    } else {
        DataRef::UInt(high >> shift)
    })
}

/// A little-endian word of up to 8 bytes, zero-padded (built in a register: copying the bytes
/// to memory and loading the word would stall the load on the stores).
#[inline]
pub(crate) fn word(bytes: &[u8]) -> u64 {
    match <[u8; 8]>::try_from(bytes) {
        Ok(w) => u64::from_le_bytes(w),
        Err(_) => bytes
            .iter()
            .take(8)
            .rev()
            .fold(0, |w, &b| (w << 8) | u64::from(b)),
    }
}

/// Bytes with some of them masked out ("value bytes"), for comparing later bytes of the same
/// length against, eight at a time.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    /// The bytes with the value bytes zeroed, in little-endian words of 8 (the last one
    /// zero-padded).
    words: Vec<u64>,
    /// Per word: `0xFF` for each byte that must match, `0x00` for value bytes.
    masks: Vec<u64>,
}

impl Template {
    /// `bytes` with the bytes where `mask` is 0 masked out (`mask` as long as `bytes`).
    pub(crate) fn new(bytes: &[u8], mask: &[u8]) -> Template {
        let masks: Vec<u64> = mask.chunks(8).map(word).collect();
        let words = bytes
            .chunks(8)
            .zip(&masks)
            .map(|(c, m)| word(c) & m)
            .collect();
        Template { words, masks }
    }

    /// Whether `bytes` (of the template's length) equal it outside the value bytes.
    #[inline]
    pub(crate) fn matches(&self, bytes: &[u8]) -> bool {
        let mut chunks = bytes.chunks_exact(8);
        let mut diff = 0u64;
        let mut k = 0;
        for ((c, t), m) in chunks.by_ref().zip(&self.words).zip(&self.masks) {
            diff |= (word(c) & m) ^ t;
            k += 1;
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            match (self.words.get(k), self.masks.get(k)) {
                (Some(t), Some(m)) => diff |= (word(rest) & m) ^ t,
                _ => return false,
            }
        }
        diff == 0 && k + usize::from(!rest.is_empty()) == self.words.len()
    }
}

/// The layouts one decoder keeps: at most [`MAX_LAYOUTS`], the least recently used one
/// replaced by a new one, but not more often than once every [`REPLACE_EVERY`] lookups.
#[derive(Debug, Clone)]
pub(crate) struct Slots<T> {
    /// Each layout with the lookup count when it last matched.
    slots: Vec<(T, u64)>,
    /// Each layout's tag (a digest of its key, see [`Slots::find`]), side by side: a lookup
    /// reads these and touches a layout only where its tag is the one sought.
    tags: Vec<u64>,
    /// By a hash of a tag: the layout (index + 1, 0 for none) that last matched or was learned
    /// with a tag of that hash. Tried first, so a lookup in a stream of meters taking turns
    /// does not end its scan at a different place each time (a mispredicted loop exit); only
    /// a hint whose tag and bytes match is taken, so a stale or colliding one costs a scan.
    hint: [u8; HINTS],
    /// Lookups so far.
    clock: u64,
    /// The lookup count at the last replacement.
    replaced: u64,
    /// Lookups that matched.
    pub(crate) hits: u64,
}

/// Entries of [`Slots::hint`].
const HINTS: usize = 128;

/// The [`Slots::hint`] entry of `tag`.
#[inline]
fn hint_of(tag: u64) -> usize {
    // Fibonacci hashing: the top 7 bits of the product
    (tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as usize
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            slots: Vec::new(),
            tags: Vec::new(),
            hint: [0; HINTS],
            clock: 0,
            replaced: 0,
            hits: 0,
        }
    }
}

impl<T> Slots<T> {
    /// A layout with tag `tag` that `matches` accepts (marked as used and counted): the
    /// hinted one if it does, else the first that does. Every call counts as a lookup. The tag
    /// only narrows the search (layouts with equal tags may differ): `matches` decides.
    #[inline]
    pub(crate) fn find(&mut self, tag: u64, matches: impl Fn(&T) -> bool) -> Option<usize> {
        self.clock += 1;
        let h = hint_of(tag);
        let hinted = self
            .hint
            .get(h)
            .and_then(|&k| usize::from(k).checked_sub(1))
            .filter(|&i| {
                self.tags.get(i) == Some(&tag) && self.slots.get(i).is_some_and(|s| matches(&s.0))
            });
        let i = match hinted {
            Some(i) => i,
            None => {
                let i = self
                    .tags
                    .iter()
                    .zip(&self.slots)
                    .position(|(&g, (t, _))| g == tag && matches(t))?;
                self.set_hint(h, i);
                i
            }
        };
        self.hits += 1;
        if let Some(s) = self.slots.get_mut(i) {
            s.1 = self.clock;
        }
        Some(i)
    }

    /// Points hint `h` at layout `i`.
    fn set_hint(&mut self, h: usize, i: usize) {
        if let (Some(e), Ok(k)) = (self.hint.get_mut(h), u8::try_from(i + 1)) {
            *e = k;
        }
    }

    /// Layout `i`.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.slots.get(i).map(|(t, _)| t)
    }

    /// Whether a layout learned now would be kept.
    #[inline]
    pub(crate) fn room(&self) -> bool {
        self.slots.len() < MAX_LAYOUTS || self.clock - self.replaced >= REPLACE_EVERY
    }

    /// Keeps `t` (tagged `tag`) if there is [`room`](Self::room), in place of the least
    /// recently used layout when all places are taken.
    pub(crate) fn insert(&mut self, tag: u64, t: T) {
        if self.slots.len() < MAX_LAYOUTS {
            self.slots.push((t, self.clock));
            self.tags.push(tag);
            self.set_hint(hint_of(tag), self.slots.len() - 1);
        } else if self.room() {
            let oldest = (self.slots.iter().enumerate()).min_by_key(|(_, (_, used))| *used);
            if let Some(k) = oldest.map(|(k, _)| k) {
                if let (Some(old), Some(g)) = (self.slots.get_mut(k), self.tags.get_mut(k)) {
                    *old = (t, self.clock);
                    *g = tag;
                    self.replaced = self.clock;
                    self.set_hint(hint_of(tag), k);
                }
            }
        }
    }
}

/// The layouts one stream decoder has learned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layouts {
    slots: Slots<Layout>,
    /// Scratch: the node index of each mapped object's value (from `map_traced`).
    pub(crate) from: Vec<u32>,
    /// Scratch: the body's mask bytes while learning.
    mask: Vec<u8>,
    /// Off: every body takes the full path (for differential tests and benchmarks).
    pub(crate) disabled: bool,
}

impl Layouts {
    /// Bodies that matched a layout.
    pub(crate) fn hits(&self) -> u64 {
        self.slots.hits
    }

    /// The learned layout `n`'s body matches, if any (marked as used and counted).
    pub(crate) fn find(
        &mut self,
        n: &DataNotification<'_>,
        hints: &LinkHints<'_>,
    ) -> Option<usize> {
        if self.disabled {
            return None;
        }
        let key = Key::of(n, hints)?;
        let body = n.body;
        self.slots
            .find(key.tag(), |l| l.key == key && l.template.matches(body))
    }

    /// Maps `n`'s body by layout `i` (from [`Layouts::find`]) into `tg` (empty). Returns
    /// `false`, with `tg` left empty, when a check fails: the caller then takes the full path.
    /// The identifiers are the layout's copies of the frame's own (equal bytes: they lie
    /// outside the mask), so `tg` borrows from the layouts as well as from the frame.
    pub(crate) fn fill<'a>(
        &'a self,
        i: usize,
        n: &DataNotification<'a>,
        tg: &mut TelegramRef<'a>,
    ) -> bool {
        let Some(layout) = self.slots.get(i) else {
            return false;
        };
        let body = n.body;
        tg.notification_time = n.datetime;
        tg.invoke_id = n.invoke_id;
        tg.manufacturer = layout.manufacturer;
        for (p, &read) in layout.objects.iter().zip(&layout.reads) {
            let at = p.slot as usize;
            let raw = match read {
                Read::Int { width, signed } => int_at(body, at + 1, width, signed),
                Read::Any => value_at(body, at).ok().map(|v| data_of(&v, p.quantity())),
            };
            let Some(raw) = raw else {
                return reset(tg);
            };
            tg.objects.push(p.object(raw));
        }
        let mut clock = None;
        for &k in &layout.clocks {
            match tg.objects.get(k as usize) {
                Some(o) if meter_clock(o, &mut clock).is_ok() => {}
                _ => return reset(tg),
            }
        }
        tg.meter_time = clock;
        let [list, id, kind] = &layout.idents;
        tg.list_id = list.as_deref();
        tg.meter_id = id.as_deref();
        tg.meter_type = kind.as_deref();
        true
    }

    /// Learns the layout of a body the full path just mapped into `tg`: `nodes` are its A-XDR
    /// nodes, `self.from` the node of each object's value.
    pub(crate) fn learn(
        &mut self,
        n: &DataNotification<'_>,
        hints: &LinkHints<'_>,
        nodes: &[Node<'_>],
        tg: &TelegramRef<'_>,
    ) {
        let body = n.body;
        if self.disabled
            || !self.slots.room()
            || body.len() > MAX_BODY
            || self.from.len() != tg.objects.len()
        {
            return;
        }
        let Some(key) = Key::of(n, hints) else {
            return;
        };
        let idents = [tg.list_id, tg.meter_id, tg.meter_type].map(|s| s.map(String::from));
        let mut clocks = Vec::new();
        // the value bytes: masked out
        self.mask.clear();
        self.mask.resize(body.len(), 0xFF);
        let mut objects = Vec::with_capacity(tg.objects.len());
        let mut reads = Vec::with_capacity(tg.objects.len());
        for (o, &i) in tg.objects.iter().zip(&self.from) {
            let Some(node) = nodes.get(i as usize) else {
                return;
            };
            let at = node.offset as usize;
            let Some(&tag) = body.get(at) else {
                return;
            };
            // masked: the contents of what the full path read as a value (a number, a boolean, a
            // date-time); everything it matched on (strings, codes, lengths) stays
            let value = matches!(
                o.raw,
                DataRef::Bool(_)
                    | DataRef::Int(_)
                    | DataRef::UInt(_)
                    | DataRef::Float(_)
                    | DataRef::DateTime(_)
            );
            let contents = match fixed_contents_len(tag) {
                Some(len) if value => Some((at + 1, len)),
                // an octet-string read as a date-time (Aidon, Kamstrup clocks): 09 0C + 12 (a
                // long-form length stays unmasked, and so does the rest)
                None if matches!(o.raw, DataRef::DateTime(_)) && body.get(at + 1) == Some(&12) => {
                    Some((at + 2, 12))
                }
                _ => None,
            };
            if let Some((start, len)) = contents {
                match self.mask.get_mut(start..start + len) {
                    Some(m) => m.fill(0),
                    None => return,
                }
            }
            if o.quantity == Some(Quantity::MeterTime) {
                clocks.push(u32::try_from(objects.len()).unwrap_or(u32::MAX));
            }
            objects.push(Planned::of(node.offset, o));
            // the tag lies outside the mask: a matching body has the same one here
            reads.push(match o.raw {
                DataRef::Int(_) | DataRef::UInt(_) => Read::of(tag),
                _ => Read::Any,
            });
        }
        self.slots.insert(
            key.tag(),
            Layout {
                key,
                template: Template::new(body, &self.mask),
                objects,
                reads,
                manufacturer: tg.manufacturer,
                idents,
                clocks,
            },
        );
    }
}

/// Empties `tg` after a failed fast path; `false`.
pub(crate) fn reset(tg: &mut TelegramRef<'_>) -> bool {
    let objects = core::mem::take(&mut tg.objects);
    *tg = TelegramRef::with_objects(objects);
    false
}

#[cfg(test)]
mod tests {
    use super::{int_at, Read, Slots, Template, MAX_LAYOUTS};
    use crate::dlms::axdr::value_at;

    #[test]
    fn hinted_lookups_find_what_a_scan_finds() {
        // values with few tags (many equal tags, hints that collide and go stale as slots are
        // replaced): a lookup finds a slot holding the value sought exactly when one exists
        let mut slots: Slots<u32> = Slots::default();
        let mut state = 0x1234_5678_u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) as u32
        };
        for _ in 0..200_000 {
            let v = next() % 300;
            let tag = u64::from(v % 37);
            let held = |slots: &Slots<u32>| (0..MAX_LAYOUTS).any(|i| slots.get(i) == Some(&v));
            let expect = held(&slots);
            match slots.find(tag, |&t| t == v) {
                Some(i) => assert_eq!(slots.get(i), Some(&v)),
                None => {
                    assert!(!expect, "{v} held but not found");
                    if slots.room() {
                        slots.insert(tag, v);
                    }
                }
            }
        }
    }

    #[test]
    fn integer_reads_equal_the_full_paths_at_every_position() {
        // every fixed-size integer tag, at every position of bodies of every short length and
        // with sign bits set and clear: the fast read gives what value_at + data_of give
        for tag in 0..=0xFFu8 {
            let Read::Int { width, signed } = Read::of(tag) else {
                continue;
            };
            let w = usize::from(width);
            for len in w + 1..w + 12 {
                for at in 0..len - w {
                    for seed in [0x00u8, 0x5A, 0x80, 0xFF] {
                        let mut body: Vec<u8> = (0..len)
                            .map(|i| (i as u8).wrapping_mul(29) ^ seed)
                            .collect();
                        body[at] = tag;
                        let full = value_at(&body, at).unwrap();
                        let expected = super::data_of(&full, None);
                        let fast = int_at(&body, at + 1, width, signed);
                        assert_eq!(fast, Some(expected), "tag {tag:02x} len {len} at {at}");
                    }
                }
                assert_eq!(int_at(&[tag], 1, width, signed), None, "past the end");
            }
        }
    }

    #[test]
    fn template_compares_every_unmasked_byte_at_every_length() {
        for n in 0..40usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
            let mask: Vec<u8> = (0..n).map(|i| if i % 3 == 1 { 0 } else { 0xFF }).collect();
            let t = Template::new(&bytes, &mask);
            assert!(t.matches(&bytes), "len {n}");
            for i in 0..n {
                let mut other = bytes.clone();
                other[i] ^= 0x10;
                assert_eq!(t.matches(&other), mask[i] == 0, "len {n}, byte {i}");
            }
        }
    }
}
