//! What a column remembers about the values it saw last, so that a value
//! that comes again (the `status`, `country` or `day` of most tables) is not
//! hashed, looked up in the distinct sketch or matched against a pattern
//! again.
//!
//! A direct-mapped table of [`SLOTS`] entries, keyed by the value's kind
//! and bytes (values of at most [`MAX_KEY_BYTES`] bytes: fixed-width
//! values and short texts). An entry holds what is a function of the value
//! alone: its identity, and whether it matches the field's pattern and
//! allowed values. A hit means the value was seen before, so it is already
//! in the distinct sketch (adding an identity twice changes nothing there).
//! Two values that share a slot evict each other; the table never grows
//! (64 KiB per column: 1,024 entries of 64 bytes, allocated at a column's
//! first value). A column whose values rarely repeat (an id, a timestamp)
//! gains nothing and pays for the lookups, so after [`TRIAL`] lookups a
//! column that hit less than half the time stops using the table and frees
//! it. The profile does not depend on the table: a miss
//! computes what a hit would have given.

use super::value::ValueRef;

/// Entries per column (direct-mapped).
const SLOTS: usize = 1024;

/// Lookups after which a column that hit less than half the time stops
/// remembering.
const TRIAL: u32 = 1 << 16;

/// The longest value remembered, in bytes.
const MAX_KEY_BYTES: usize = 16;

/// A value as the table knows it: its kind and its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    kind: u8,
    len: u8,
    bytes: [u8; MAX_KEY_BYTES],
}

impl Key {
    /// The key of `value`; `None` for a value too long to remember.
    #[allow(clippy::cast_possible_truncation, reason = "len is at most 16")]
    pub(crate) fn of(value: ValueRef<'_>) -> Option<Self> {
        let (kind, raw): (u8, &[u8]) = match value {
            ValueRef::Bool(b) => return Some(Self::fixed(0, u64::from(b))),
            ValueRef::Int(i) => return Some(Self::fixed(1, i.cast_unsigned())),
            ValueRef::Float(f) => return Some(Self::fixed(2, f.to_bits())),
            ValueRef::Date(d) => return Some(Self::fixed(3, u64::from(d.cast_unsigned()))),
            ValueRef::Timestamp(t) => return Some(Self::fixed(4, t.cast_unsigned())),
            ValueRef::Decimal(d) => (5, d.as_bytes()),
            ValueRef::Text(t) => (6, t.as_bytes()),
            ValueRef::Bytes(b) => (7, b),
            ValueRef::Nested(n) => (8, n.as_bytes()),
        };
        if raw.len() > MAX_KEY_BYTES {
            return None;
        }
        let mut bytes = [0u8; MAX_KEY_BYTES];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Self {
            kind,
            len: raw.len() as u8,
            bytes,
        })
    }

    fn fixed(kind: u8, bits: u64) -> Self {
        let mut bytes = [0u8; MAX_KEY_BYTES];
        bytes[..8].copy_from_slice(&bits.to_le_bytes());
        Self {
            kind,
            len: 8,
            bytes,
        }
    }

    /// The slot: the key's bytes folded and mixed (a multiply by the
    /// 64-bit golden ratio, top bits).
    #[allow(clippy::cast_possible_truncation, reason = "top 10 bits")]
    fn slot(&self) -> usize {
        let (a, b) = self.bytes.split_at(8);
        let word = |s: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(s);
            u64::from_le_bytes(w)
        };
        let folded =
            word(a) ^ word(b).rotate_left(29) ^ (u64::from(self.kind) << 56) ^ u64::from(self.len);
        (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOTS.trailing_zeros())) as usize
    }
}

/// What is remembered of a value: a function of the value alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The value's identity.
    pub(crate) identity: u128,
    /// It matches the field's pattern (true when there is none).
    pub(crate) pattern_ok: bool,
    /// It is one of the field's allowed values (true when any is).
    pub(crate) allowed_ok: bool,
}

/// The table of one column.
#[derive(Default)]
pub(crate) struct Memo {
    /// Allocated at the first value.
    slots: Vec<Option<(Key, Seen)>>,
    lookups: u32,
    hits: u32,
    /// The trial found the column's values rarely repeat.
    off: bool,
}

impl Memo {
    /// Whether the column still uses the table.
    pub(crate) fn on(&self) -> bool {
        !self.off
    }

    /// What was remembered of the value with `key`.
    pub(crate) fn get(&mut self, key: &Key) -> Option<Seen> {
        let found = match self.slots.get(key.slot()) {
            Some(Some((k, seen))) if k == key => Some(*seen),
            _ => None,
        };
        if self.lookups < TRIAL {
            self.lookups += 1;
            self.hits += u32::from(found.is_some());
            if self.lookups == TRIAL && self.hits < TRIAL / 2 {
                self.off = true;
                self.slots = Vec::new();
            }
        }
        found
    }

    /// Remembers `seen` for the value with `key`, in place of whatever
    /// shared its slot.
    pub(crate) fn put(&mut self, key: Key, seen: Seen) {
        if self.off {
            return;
        }
        if self.slots.is_empty() {
            self.slots = vec![None; SLOTS];
        }
        if let Some(slot) = self.slots.get_mut(key.slot()) {
            *slot = Some((key, seen));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(identity: u128) -> Seen {
        Seen {
            identity,
            pattern_ok: true,
            allowed_ok: identity.is_multiple_of(2),
        }
    }

    #[test]
    fn a_value_is_remembered_under_its_own_key_only() {
        let mut memo = Memo::default();
        let paid = Key::of(ValueRef::Text("paid")).unwrap();
        assert_eq!(memo.get(&paid), None);
        memo.put(paid, seen(4));
        assert_eq!(memo.get(&paid), Some(seen(4)));
        // Same bytes, another kind; a prefix; -0 and 0: other keys.
        assert_ne!(Key::of(ValueRef::Decimal("paid")), Some(paid));
        assert_ne!(Key::of(ValueRef::Text("pai")), Some(paid));
        assert_ne!(
            Key::of(ValueRef::Float(0.0)),
            Key::of(ValueRef::Float(-0.0))
        );
        assert_ne!(Key::of(ValueRef::Int(5)), Key::of(ValueRef::Date(5)));
        // Too long to remember.
        assert_eq!(Key::of(ValueRef::Text("seventeen bytes!!")), None);
    }

    #[test]
    fn values_sharing_a_slot_evict_each_other_and_never_answer_for_each_other() {
        let mut memo = Memo::default();
        let keys: Vec<Key> = (0..5_000i64)
            .filter_map(|i| Key::of(ValueRef::Int(i)))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            memo.put(*k, seen(i as u128));
        }
        // Every answer is the one stored under that very key.
        let mut hits = 0;
        for (i, k) in keys.iter().enumerate() {
            if let Some(s) = memo.get(k) {
                assert_eq!(s, seen(i as u128));
                hits += 1;
            }
        }
        assert!(hits > 0 && hits <= SLOTS, "{hits}");
    }

    #[test]
    fn a_table_is_at_most_64_kib() {
        assert!(std::mem::size_of::<Option<(Key, Seen)>>() * SLOTS <= 64 << 10);
    }

    #[test]
    fn a_column_whose_values_rarely_repeat_stops_remembering() {
        let mut rare = Memo::default();
        let mut often = Memo::default();
        for i in 0..i64::from(TRIAL) {
            for (memo, v) in [(&mut rare, i), (&mut often, i % 10)] {
                let key = Key::of(ValueRef::Int(v)).unwrap();
                if memo.get(&key).is_none() {
                    memo.put(key, seen(0));
                }
            }
        }
        assert!(!rare.on());
        assert!(often.on());
        let key = Key::of(ValueRef::Int(3)).unwrap();
        assert_eq!(often.get(&key), Some(seen(0)));
    }
}
