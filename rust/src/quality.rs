//! Data-quality flags: never silent fixes. A telegram keeps every value as decoded; these
//! flags say what looks wrong about it.
//!
//! Stateless checks (one telegram): implausible voltage (non-zero and outside 80–300 V; exactly
//! 0 V is how 3-wire IT meters report the phase they do not measure), implausible current
//! (|I| > 1 kA), active power inconsistent with the phases' U·I.
//! Stateful checks (per meter, in the stream decoder): a repeated hourly snapshot (same meter
//! clock as the previous one: Aidon re-sends the previous list 3) and a cumulative register
//! going backwards. The clock check (meter clock far from receive time) needs the receive time
//! and lives where that is known (the Python stream decoder).

#[cfg(not(feature = "std"))]
use alloc::{collections::BTreeMap, string::String};
#[cfg(feature = "std")]
use std::collections::BTreeMap;

use crate::dlms::datetime::CosemDateTime;
use crate::obis::Quantity;
use crate::telegram::{ObjectRef, TelegramRef};

/// A set of quality flags (bit set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u32);

/// One flag: its bit and its stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// The bit.
    pub bit: u32,
    /// Stable name used in Python and in outputs.
    pub name: &'static str,
}

/// A voltage that is not 0 and outside 80–300 V.
pub const IMPLAUSIBLE_VOLTAGE: Flag = Flag {
    bit: 1,
    name: "implausible_voltage",
};
/// A current above 1 kA in magnitude.
pub const IMPLAUSIBLE_CURRENT: Flag = Flag {
    bit: 2,
    name: "implausible_current",
};
/// Active power larger than the phases' voltage × current allows.
pub const POWER_INCONSISTENT: Flag = Flag {
    bit: 4,
    name: "power_inconsistent",
};
/// The same meter clock as the previous snapshot of this meter (a re-sent hourly list).
pub const REPEATED_SNAPSHOT: Flag = Flag {
    bit: 8,
    name: "repeated_snapshot",
};
/// A cumulative energy register lower than the last value seen from this meter.
pub const REGISTER_BACKWARDS: Flag = Flag {
    bit: 16,
    name: "register_backwards",
};
/// The meter clock is far from the time the telegram was received.
pub const CLOCK_DRIFT: Flag = Flag {
    bit: 32,
    name: "clock_drift",
};

/// An encrypted push that carries an authentication tag which could not be checked (no
/// authentication key configured): decrypted, its plaintext well-formed, but not proven
/// authentic. (Pushes sent without a tag, security control 0x20/0x21, are not flagged.)
pub const UNAUTHENTICATED: Flag = Flag {
    bit: 64,
    name: "unauthenticated",
};
/// An encrypted push whose invocation counter is not above the last one of its sender (a
/// replayed frame, or a meter that restarted its count).
pub const COUNTER_REPLAY: Flag = Flag {
    bit: 128,
    name: "counter_replay",
};
/// An encrypted push whose invocation counter skipped values (pushes were lost).
pub const COUNTER_GAP: Flag = Flag {
    bit: 256,
    name: "counter_gap",
};

/// A P1 telegram sent without a CRC (DSMR 2.2/3, some Iskra and L&G meters): accepted, but
/// nothing proved it intact.
pub const CRC_MISSING: Flag = Flag {
    bit: 512,
    name: "crc_missing",
};

/// Every flag, in bit order.
pub const ALL: [Flag; 10] = [
    IMPLAUSIBLE_VOLTAGE,
    IMPLAUSIBLE_CURRENT,
    POWER_INCONSISTENT,
    REPEATED_SNAPSHOT,
    REGISTER_BACKWARDS,
    CLOCK_DRIFT,
    UNAUTHENTICATED,
    COUNTER_REPLAY,
    COUNTER_GAP,
    CRC_MISSING,
];

impl Flags {
    /// Adds a flag.
    pub fn set(&mut self, f: Flag) {
        self.0 |= f.bit;
    }

    /// Whether a flag is set.
    pub fn has(self, f: Flag) -> bool {
        self.0 & f.bit != 0
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the set flags, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        ALL.into_iter()
            .filter(move |f| self.has(*f))
            .map(|f| f.name)
    }
}

/// How many quantities [`stateless`] looks at.
const CHECKED: usize = 8;

/// Where [`stateless`] keeps an object of each quantity (by discriminant): U1-3, I1-3, P+, P-,
/// [`CHECKED`] for any other. A table read, not a jump: the quantities of a push vary object
/// by object.
// indexing in a constant: out of bounds fails the build, never a run
#[allow(clippy::indexing_slicing)]
const CHECKED_SLOT: [u8; 256] = {
    use Quantity as Q;
    let mut t = [CHECKED as u8; 256];
    let order = [
        Q::VoltageL1,
        Q::VoltageL2,
        Q::VoltageL3,
        Q::CurrentL1,
        Q::CurrentL2,
        Q::CurrentL3,
        Q::ActivePowerImport,
        Q::ActivePowerExport,
    ];
    let mut k = 0;
    while k < order.len() {
        t[order[k] as usize] = k as u8;
        k += 1;
    }
    t
};

/// [`CHECKED_SLOT`] of `q`.
#[inline]
fn checked_slot(q: Option<Quantity>) -> usize {
    q.and_then(|q| CHECKED_SLOT.get(q as usize))
        .map_or(CHECKED, |&k| usize::from(k))
}

/// The checks that need only the telegram itself.
pub fn stateless(tg: &TelegramRef<'_>) -> Flags {
    let mut flags = Flags::default();
    // one pass over the objects (most pushes are list 1: a single power, nothing to check):
    // the first object holding a number for each of U1-3, I1-3, P+ and P-
    let mut first: [Option<&ObjectRef<'_>>; CHECKED] = [None; CHECKED];
    for o in &tg.objects {
        if let Some(slot) = first.get_mut(checked_slot(o.quantity)) {
            if slot.is_none() && o.raw.is_number() {
                *slot = Some(o);
            }
        }
    }
    let [u1, u2, u3, i1, i2, i3, p_in, p_out] = first;
    if [u1, u2, u3, i1, i2, i3].iter().all(Option::is_none) {
        return flags;
    }
    let number = |o: Option<&ObjectRef<'_>>| o.and_then(ObjectRef::number);
    let (u, i) = ([u1, u2, u3].map(number), [i1, i2, i3].map(number));
    let phases = [(u[0], i[0]), (u[1], i[1]), (u[2], i[2])];
    let mut ui = 0.0;
    let mut have_ui = false;
    for (u, i) in phases {
        if let Some(u) = u {
            if u != 0.0 && !(80.0..=300.0).contains(&u) {
                flags.set(IMPLAUSIBLE_VOLTAGE);
            }
        }
        if let Some(i) = i {
            if i.abs() > 1000.0 {
                flags.set(IMPLAUSIBLE_CURRENT);
            }
        }
        if let (Some(u), Some(i)) = (u, i) {
            ui += u * i.abs();
            have_ui = true;
        }
    }
    // A coarse check aimed at the ×10/×100/×1000 scaling errors users suffer: 3-wire meters
    // report line voltages and leave a phase out, and a list's values are not sampled at the
    // same instant (a Kaifa capture shows P = 2496 W next to the currents of a 600 W load
    // while a load switches on), so |P| may exceed ΣU·I by a wide margin before it is flagged.
    // the powers are converted only when there are voltages and currents to compare them with
    if have_ui {
        let p = number(p_in).unwrap_or(0.0) - number(p_out).unwrap_or(0.0);
        if p.abs() > 3.0 * 1.733 * ui + 500.0 {
            flags.set(POWER_INCONSISTENT);
        }
    }
    flags
}

/// What the stream decoder remembers about one meter.
#[derive(Debug, Clone, Default)]
struct MeterState {
    last_clock: Option<CosemDateTime>,
    registers: [Option<f64>; 4],
}

/// Per-meter state for the stateful checks. Bounded: at most `MAX_METERS` meters are tracked
/// (a stream carries one meter; archives a few), after which the oldest state is dropped. A
/// meter seen before costs one look-up by its id and no allocation.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    meters: BTreeMap<String, MeterState>,
}

const MAX_METERS: usize = 1024;

const REGISTERS: [Quantity; 4] = [
    Quantity::ActiveEnergyImport,
    Quantity::ActiveEnergyExport,
    Quantity::ReactiveEnergyImport,
    Quantity::ReactiveEnergyExport,
];

impl Tracker {
    /// Runs the stateful checks on the next telegram of a stream and remembers it.
    pub fn check(&mut self, tg: &TelegramRef<'_>) -> Flags {
        match tg.meter_id {
            Some(id) => self.check_key(id, &TrackKey::of(tg)),
            None => Flags::default(),
        }
    }

    /// [`Tracker::check`] on what it reads of a telegram (see [`TrackKey`]).
    pub fn check_key(&mut self, id: &str, key: &TrackKey) -> Flags {
        if let Some(state) = self.meters.get_mut(id) {
            return state.check(key);
        }
        if self.meters.len() >= MAX_METERS {
            self.meters.clear();
        }
        self.meters.entry(String::from(id)).or_default().check(key)
    }
}

impl MeterState {
    /// The stateful checks of one telegram of this meter, remembering it.
    fn check(&mut self, key: &TrackKey) -> Flags {
        let mut flags = Flags::default();
        let state = self;
        if let Some(t) = key.clock {
            if state.last_clock == Some(t) {
                flags.set(REPEATED_SNAPSHOT);
            }
            state.last_clock = Some(t);
        }
        for (slot, v) in state.registers.iter_mut().zip(key.registers) {
            if let Some(v) = v {
                if slot.is_some_and(|last| v < last) {
                    flags.set(REGISTER_BACKWARDS);
                }
                *slot = Some(v);
            }
        }
        flags
    }
}

/// What the stateful checks read of a telegram (besides its meter id): the meter clock and
/// the cumulative registers. Lets them be re-run without the telegram (bulk decoding in
/// parallel re-runs them in stream order over stored keys).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrackKey {
    /// The meter clock.
    pub clock: Option<CosemDateTime>,
    /// Active/reactive import/export energy, when present.
    pub registers: [Option<f64>; 4],
    /// The sender's system title and invocation counter, for an encrypted push.
    pub counter: Option<([u8; 8], u32)>,
}

impl TrackKey {
    /// The key of a telegram (the first object of each register quantity).
    pub fn of(tg: &TelegramRef<'_>) -> TrackKey {
        let mut registers = [None; 4];
        let mut seen = [false; 4];
        for o in &tg.objects {
            let Some(k) = REGISTERS.iter().position(|q| o.quantity == Some(*q)) else {
                continue;
            };
            if let (Some(slot), Some(done)) = (registers.get_mut(k), seen.get_mut(k)) {
                if !*done {
                    *done = true;
                    *slot = o.number();
                }
            }
        }
        TrackKey {
            clock: tg.meter_time,
            registers,
            counter: tg.system_title.zip(tg.invocation_counter),
        }
    }
}

/// The flags set by [`Tracker`] and the stream decoder's counter tracking (the rest are
/// stateless).
pub const STATEFUL: u32 =
    REPEATED_SNAPSHOT.bit | REGISTER_BACKWARDS.bit | COUNTER_REPLAY.bit | COUNTER_GAP.bit;
