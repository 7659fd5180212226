//! What the check keeps for one column while the data streams past: counts,
//! bounds, the distinct-value sketch, the uniqueness set, and the tally of
//! every violation with its first rows.
//!
//! Memory per column is bounded: the sketch holds at most
//! [`DISTINCT_EXACT_LIMIT`] identities, and the uniqueness check (only for
//! a field declared `unique`) spills to the scratch directory beyond its
//! buffer ([`super::unique`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::OnceLock;

use mesh_protocol::descriptor::{DataType, Field};
use mesh_protocol::profile::{
    Check, DISTINCT_EXACT_LIMIT, FieldProfile, MAX_DETAIL_LEN, MAX_EXAMPLE_ROWS,
    MAX_PROFILE_VALUE_LEN, Violation, truncate_text,
};

use super::arrow_cells::Cell;
use super::memo::{Key, Memo, Seen};
use super::unique::UniqueCheck;
use super::value::{Value, ValueRef, parse_bound};

/// A set of value identities. An identity is already a uniform 128-bit
/// hash (see `value`), so the set folds it to 64 bits and mixes in a per-process
/// random key instead of running SipHash over it again: that hash cost
/// more than the lookup. The key keeps bucket positions unpredictable to
/// whoever wrote the file.
pub(crate) type IdSet = HashSet<u128, IdHash>;

/// The [`IdSet`]'s hasher: the identity folded, times a random odd key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdHash(u64);

impl Default for IdHash {
    fn default() -> Self {
        static KEY: OnceLock<u64> = OnceLock::new();
        Self(*KEY.get_or_init(|| std::hash::RandomState::new().hash_one(0u64) | 1))
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            key: self.0,
            state: 0,
        }
    }
}

/// See [`IdHash`].
pub(crate) struct IdHasher {
    key: u64,
    state: u64,
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.state
    }

    /// Not used by an [`IdSet`] (which hashes `u128`s); kept correct for
    /// any other input.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state = (self.state.rotate_left(8) ^ u64::from(b)).wrapping_mul(self.key);
        }
    }

    #[allow(clippy::cast_possible_truncation, reason = "folding 128 bits to 64")]
    fn write_u128(&mut self, id: u128) {
        let folded = (id as u64) ^ ((id >> 64) as u64);
        self.state = (folded ^ self.state).wrapping_mul(self.key);
    }
}

/// A violation's running count and first rows.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) count: u64,
    pub(crate) rows: Vec<u64>,
    pub(crate) detail: String,
}

impl Tally {
    pub(crate) fn add(&mut self, row: u64) {
        self.count += 1;
        if self.rows.len() < MAX_EXAMPLE_ROWS {
            self.rows.push(row);
        }
    }
}

/// The k-minimum-values sketch: the [`DISTINCT_EXACT_LIMIT`] smallest
/// identities seen. Below the limit it is the exact set of distinct values;
/// above it, `(k - 1) * 2^128 / kth_smallest` estimates their number
/// (Bar-Yossef et al., "Counting distinct elements in a data stream", 2002).
/// Both depend only on the set of values, never on their order.
///
/// Until the sketch is full the identities live in a hash set (a column of
/// few distinct values never needs their order); the ordered set is built
/// once, when the hash set reaches the limit.
#[derive(Debug, Default)]
pub(crate) struct Distinct {
    /// Every identity seen, while fewer than the limit.
    exact: IdSet,
    /// The smallest identities, once the limit was reached.
    smallest: BTreeSet<u128>,
    overflowed: bool,
    /// The largest identity kept, once the sketch is full: most values of a
    /// large column are above it and are turned away without a search.
    ceiling: Option<u128>,
}

impl Distinct {
    #[inline]
    pub(crate) fn add(&mut self, id: u128) {
        if let Some(ceiling) = self.ceiling {
            if id > ceiling {
                self.overflowed = true;
            } else if id < ceiling && self.smallest.insert(id) {
                self.smallest.pop_last();
                self.overflowed = true;
                self.ceiling = self.smallest.last().copied();
            }
            return;
        }
        let k = usize::try_from(DISTINCT_EXACT_LIMIT).unwrap_or(usize::MAX);
        if self.exact.insert(id) && self.exact.len() >= k {
            self.smallest = std::mem::take(&mut self.exact).into_iter().collect();
            self.ceiling = self.smallest.last().copied();
        }
    }

    /// (count, exact).
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    #[allow(clippy::cast_sign_loss)]
    pub(crate) fn count(&self) -> (u64, bool) {
        if self.ceiling.is_none() {
            return (self.exact.len() as u64, true);
        }
        let n = self.smallest.len() as u64;
        if !self.overflowed {
            return (n, true);
        }
        let Some(&kth) = self.smallest.last() else {
            return (0, false);
        };
        let fraction = kth as f64 / 2f64.powi(128);
        if fraction <= 0.0 {
            return (u64::MAX, false);
        }
        let estimate = ((n - 1) as f64 / fraction).round();
        (estimate.min(u64::MAX as f64) as u64, false)
    }
}

/// The declared promises of a field, compiled once.
pub(crate) struct Declared {
    pub(crate) data_type: DataType,
    pub(crate) nullable: bool,
    pub(crate) unique: bool,
    pattern: Option<regex::Regex>,
    allowed: Option<BTreeSet<String>>,
    pub(crate) min: Option<Value>,
    pub(crate) max: Option<Value>,
    pub(crate) max_null_percent: Option<u8>,
    /// Bounds or patterns that cannot be used, reported as violations.
    pub(crate) unusable: Vec<(Check, String)>,
}

impl Declared {
    pub(crate) fn new(field: &Field) -> Self {
        let c = &field.constraints;
        let mut unusable = Vec::new();
        let pattern = c.pattern.as_ref().and_then(|p| {
            mesh_protocol::contract::compile_value_pattern(p)
                .map_err(|e| unusable.push((Check::Pattern, format!("unusable pattern: {e}"))))
                .ok()
        });
        let mut bound = |text: &Option<String>, check: Check| {
            text.as_ref().and_then(|t| {
                let value = parse_bound(t, field.data_type);
                if value.is_none() {
                    unusable.push((
                        check,
                        format!("bound {t:?} is not a value of type {:?}", field.data_type),
                    ));
                }
                value
            })
        };
        let min = bound(&c.min, Check::Min);
        let max = bound(&c.max, Check::Max);
        Self {
            data_type: field.data_type,
            nullable: field.nullable,
            unique: c.unique,
            pattern,
            allowed: (!c.allowed_values.is_empty())
                .then(|| c.allowed_values.iter().cloned().collect()),
            min,
            max,
            max_null_percent: c.max_null_percent,
            unusable,
        }
    }

    /// Whether a value's text form is checked (a pattern or allowed values).
    pub(crate) fn has_text_checks(&self) -> bool {
        self.pattern.is_some() || self.allowed.is_some()
    }

    /// The stored and declared types when a typed column's stored type
    /// does not widen to the declared one (every value is then a `type`
    /// violation).
    pub(crate) fn mismatch(&self, stored: Option<DataType>) -> Option<(DataType, DataType)> {
        stored
            .filter(|s| !s.widens_to(self.data_type))
            .map(|s| (s, self.data_type))
    }
}

/// Everything kept about one column.
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) declared: Option<Declared>,
    pub(crate) stored_as: Option<DataType>,
    /// Non-null cells holding a value of the declared type.
    pub(crate) values: u64,
    /// Non-null cells that are not a value of the declared type.
    pub(crate) invalid: u64,
    /// Cells seen as null (a JSON Lines key missing from a row is null too:
    /// nulls are `rows - values - invalid` at the end).
    min: Option<Value>,
    max: Option<Value>,
    pub(crate) distinct: Distinct,
    /// Nested values read as opaque (Parquet/Arrow structs and lists): not
    /// counted in the distinct sketch.
    opaque: bool,
    pub(crate) unique: Option<UniqueCheck>,
    pub(crate) tallies: BTreeMap<Check, Tally>,
    /// The column is in the data. A file with a header (CSV, Parquet,
    /// Arrow) names its columns up front; a JSON Lines field is present
    /// once some row has its key (even with a null), so a declared field
    /// no row mentions is missing, not null on every row.
    pub(crate) present: bool,
    /// Declared inner fields ([`super::nested`]).
    pub(crate) nested: Vec<super::nested::Nested>,
    /// The values seen last ([`super::memo`]).
    memo: Memo,
}

impl Column {
    pub(crate) fn new(name: String, declared: Option<Declared>, scratch: &Path) -> Self {
        let unique = declared
            .as_ref()
            .filter(|d| d.unique)
            .map(|_| UniqueCheck::new(scratch.to_path_buf()));
        Self {
            name,
            declared,
            stored_as: None,
            values: 0,
            invalid: 0,
            min: None,
            max: None,
            distinct: Distinct::default(),
            opaque: false,
            unique,
            tallies: BTreeMap::new(),
            present: true,
            nested: Vec::new(),
            memo: Memo::default(),
        }
    }

    pub(crate) fn tally(&mut self, check: Check, row: u64, detail: impl FnOnce() -> String) {
        let tally = self.tallies.entry(check).or_default();
        if tally.detail.is_empty() {
            tally.detail = detail();
        }
        tally.add(row);
    }

    /// Gives the column search caches of its own, for the thread that
    /// checks it from now on. A compiled pattern keeps its caches in a pool
    /// owned by the first thread that searched with it, and every other
    /// thread takes the pool's locked path on every cell; a clone starts a
    /// pool of its own.
    pub(crate) fn rehome(&mut self) {
        if let Some(d) = &mut self.declared {
            d.pattern = d.pattern.clone();
        }
        self.nested
            .iter_mut()
            .for_each(super::nested::Nested::rehome);
    }

    /// A null cell at `row`.
    pub(crate) fn null(&mut self, row: u64) {
        if let Some(d) = &self.declared
            && !d.nullable
        {
            self.tally(Check::NotNull, row, || {
                "null in a field declared not nullable".to_owned()
            });
        }
    }

    /// A cell that is not a value of the declared type.
    pub(crate) fn invalid(&mut self, row: u64, expected: DataType, found: &str) {
        self.invalid += 1;
        let found = truncate_text(found, 40).to_owned();
        self.tally(Check::Type, row, || {
            format!("expected a value of type {expected:?}, found {found:?}")
        });
    }

    /// A nested value whose parts are not read (typed nested columns).
    pub(crate) fn opaque(&mut self) {
        self.values += 1;
        self.opaque = true;
    }

    /// A value at `row`.
    pub(crate) fn value(&mut self, row: u64, value: ValueRef<'_>) {
        self.values += 1;
        let key = if self.memo.on() { Key::of(value) } else { None };
        let seen = if let Some(seen) = key.as_ref().and_then(|k| self.memo.get(k)) {
            seen
        } else {
            let seen = self.judge(value);
            self.distinct.add(seen.identity);
            if let Some(key) = key {
                self.memo.put(key, seen);
            }
            seen
        };
        if value.orderable() {
            self.keep_min(value);
            self.keep_max(value);
        }
        if let Some(unique) = &mut self.unique {
            unique.add(super::unique::key(value, seen.identity), row);
        }
        self.check_constraints(row, value, seen);
    }

    /// Keeps `value` as the minimum if it is below it (or the first).
    pub(crate) fn keep_min(&mut self, value: ValueRef<'_>) {
        if self.min.as_ref().is_none_or(|m| {
            value
                .compare(m.as_ref())
                .is_some_and(std::cmp::Ordering::is_lt)
        }) {
            self.min = Some(value.to_value());
        }
    }

    /// Keeps `value` as the maximum if it is above it (or the first).
    pub(crate) fn keep_max(&mut self, value: ValueRef<'_>) {
        if self.max.as_ref().is_none_or(|m| {
            value
                .compare(m.as_ref())
                .is_some_and(std::cmp::Ordering::is_gt)
        }) {
            self.max = Some(value.to_value());
        }
    }

    /// What is a function of `value` alone ([`Seen`]): its identity and
    /// whether it matches the pattern and the allowed values.
    fn judge(&self, value: ValueRef<'_>) -> Seen {
        let mut seen = Seen {
            identity: value.identity(),
            pattern_ok: true,
            allowed_ok: true,
        };
        if let Some(d) = &self.declared
            && (d.pattern.is_some() || d.allowed.is_some())
        {
            let text = value.text_ref();
            seen.pattern_ok = d.pattern.as_ref().is_none_or(|re| re.is_match(&text));
            seen.allowed_ok = d
                .allowed
                .as_ref()
                .is_none_or(|allowed| allowed.contains(text.as_ref()));
        }
        seen
    }

    fn check_constraints(&mut self, row: u64, value: ValueRef<'_>, seen: Seen) {
        let Some(d) = &self.declared else { return };
        let mut broken: Vec<(Check, String)> = Vec::new();
        if !seen.pattern_ok {
            let text = value.text_ref();
            broken.push((
                Check::Pattern,
                format!("{text:?} does not match the pattern"),
            ));
        }
        if !seen.allowed_ok {
            let text = value.text_ref();
            broken.push((
                Check::AllowedValues,
                format!("{text:?} is not an allowed value"),
            ));
        }
        if let Some(min) = &d.min
            && value
                .compare(min.as_ref())
                .is_some_and(std::cmp::Ordering::is_lt)
        {
            broken.push((Check::Min, format!("below the minimum {}", min.text())));
        }
        if let Some(max) = &d.max
            && value
                .compare(max.as_ref())
                .is_some_and(std::cmp::Ordering::is_gt)
        {
            broken.push((Check::Max, format!("above the maximum {}", max.text())));
        }
        for (check, detail) in broken {
            self.tally(check, row, || detail);
        }
    }

    /// Ends the `unique` check: its repeats become the column's `unique`
    /// violation. Fails only when the scratch directory does.
    pub(crate) fn finish_unique(&mut self) -> std::io::Result<()> {
        self.nested
            .iter_mut()
            .try_for_each(super::nested::Nested::finish_unique)?;
        let Some(unique) = self.unique.take() else {
            return Ok(());
        };
        let repeats = unique.finish()?;
        if repeats.count > 0 {
            self.tallies.insert(
                Check::Unique,
                Tally {
                    count: repeats.count,
                    rows: repeats.first_rows,
                    detail: "a value repeats in a field declared unique".to_owned(),
                },
            );
        }
        Ok(())
    }

    /// One cell of a typed column at `row` (`None`: null); `mismatch` from
    /// [`Declared::mismatch`].
    pub(crate) fn typed_cell(
        &mut self,
        mismatch: Option<(DataType, DataType)>,
        row: u64,
        cell: Option<Cell<'_>>,
    ) {
        match (cell, mismatch) {
            (None, _) => self.null(row),
            (Some(_), Some((stored, declared))) => {
                self.invalid(row, declared, &format!("a {stored:?} column"));
            }
            (Some(Cell::Opaque), None) => self.opaque(),
            (Some(Cell::Value(v)), None) => match (&self.declared, v) {
                // An integer column declared decimal compares as a
                // decimal.
                (Some(d), ValueRef::Int(i)) if d.data_type == DataType::Decimal => {
                    self.value(row, ValueRef::Decimal(&i.to_string()));
                }
                (_, v) => self.value(row, v),
            },
        }
    }

    /// Nulls among `rows` rows.
    pub(crate) fn nulls(&self, rows: u64) -> u64 {
        rows.saturating_sub(self.values + self.invalid)
    }

    /// The newest value, for the freshness check: microseconds since the
    /// epoch.
    pub(crate) fn newest_micros(&self) -> Option<i64> {
        match &self.max {
            Some(Value::Timestamp(t)) => Some(*t),
            Some(Value::Date(d)) => Some(i64::from(*d) * 86_400_000_000),
            _ => None,
        }
    }

    pub(crate) fn profile(&self, rows: u64) -> FieldProfile {
        let (distinct, exact) = if self.opaque {
            (0, false)
        } else {
            self.distinct.count()
        };
        let text = |v: &Option<Value>| {
            v.as_ref()
                .map(|v| truncate_text(&v.text(), MAX_PROFILE_VALUE_LEN).to_owned())
        };
        FieldProfile {
            name: truncate_text(&self.name, MAX_DETAIL_LEN).to_owned(),
            stored_as: self.stored_as,
            nulls: self.nulls(rows),
            min: text(&self.min),
            max: text(&self.max),
            distinct,
            distinct_exact: exact,
        }
    }

    /// This column's violations, in [`Check`] order.
    pub(crate) fn violations(&self, rows: u64) -> Vec<Violation> {
        let mut out = Vec::new();
        let field = Some(truncate_text(&self.name, MAX_DETAIL_LEN).to_owned());
        let mut tallies: BTreeMap<Check, Violation> = self
            .tallies
            .iter()
            .map(|(check, t)| {
                (
                    *check,
                    Violation {
                        field: field.clone(),
                        check: *check,
                        count: t.count,
                        first_rows: t.rows.clone(),
                        detail: truncate_text(&t.detail, MAX_DETAIL_LEN).to_owned(),
                    },
                )
            })
            .collect();
        if let Some(d) = &self.declared {
            for (check, detail) in &d.unusable {
                tallies.entry(*check).or_insert_with(|| Violation {
                    field: field.clone(),
                    check: *check,
                    count: 0,
                    first_rows: Vec::new(),
                    detail: truncate_text(detail, MAX_DETAIL_LEN).to_owned(),
                });
            }
            if let Some(max) = d.max_null_percent
                && rows > 0
            {
                let nulls = self.nulls(rows);
                if u128::from(nulls) * 100 > u128::from(max) * u128::from(rows) {
                    tallies.insert(
                        Check::NullShare,
                        Violation {
                            field: field.clone(),
                            check: Check::NullShare,
                            count: nulls,
                            first_rows: Vec::new(),
                            detail: format!(
                                "{nulls} of {rows} rows are null; at most {max}% may be"
                            ),
                        },
                    );
                }
            }
        }
        out.extend(tallies.into_values());
        for inner in &self.nested {
            inner.violations(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_is_exact_below_the_limit_and_close_above() {
        let mut d = Distinct::default();
        for i in 0..1000_i64 {
            d.add(Value::Int(i % 500).identity());
        }
        assert_eq!(d.count(), (500, true));
        let mut big = Distinct::default();
        for i in 0..100_000_i64 {
            big.add(Value::Int(i).identity());
        }
        let (n, exact) = big.count();
        assert!(!exact);
        assert!((90_000..110_000).contains(&n), "estimate {n}");
    }

    #[test]
    fn distinct_does_not_depend_on_order() {
        let mut a = Distinct::default();
        let mut b = Distinct::default();
        for i in 0..20_000_i64 {
            a.add(Value::Int(i).identity());
            b.add(Value::Int(19_999 - i).identity());
        }
        assert_eq!(a.count(), b.count());
    }
}
