//! The check's fast path for typed columns of fixed-width values (integers,
//! floats, booleans, dates, timestamps from Parquet and Arrow files).
//!
//! The general path turns every cell into a [`ValueRef`] and runs it
//! through [`Column::value`]: a memo lookup, an enum comparison for each of
//! min, max and the declared bounds, and so on, about 40 ns a cell. For a
//! column of fixed-width values whose contract needs no text form (no
//! pattern, no allowed values) the same bookkeeping is done here on the
//! native values, with the declared bounds turned into native ones once
//! per batch: the same counts, bounds, distinct sketch, `unique` keys and
//! violations (with the same rows and details) as the general path, which
//! the tests in `fixed_tests.rs` compare column by column.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType, TimestampNanosecondType, UInt8Type, UInt16Type,
    UInt32Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType as ArrowType, TimeUnit};
use mesh_protocol::descriptor::DataType;
use mesh_protocol::profile::Check;

use super::column::{Column, Declared};
use super::value::{Value, ValueRef, decimal_identity, decimal_parts};

/// A native value of a fixed-width kind.
trait Fixed: Copy {
    /// The value as the general path sees it.
    fn value(self) -> ValueRef<'static>;

    /// `bound` as a native value of this kind, when comparing natively
    /// orders as [`ValueRef::compare`] does against it.
    fn native(bound: &Value) -> Option<Self>;

    /// `self < other` as [`ValueRef::compare`] orders them (`false` when
    /// they have no order).
    fn lt(self, other: Self) -> bool;
}

#[derive(Clone, Copy)]
struct Int(i64);
#[derive(Clone, Copy)]
struct Day(i32);
#[derive(Clone, Copy)]
struct Micros(i64);
#[derive(Clone, Copy)]
struct Float(f64);
#[derive(Clone, Copy)]
struct Flag(bool);

impl Fixed for Int {
    fn value(self) -> ValueRef<'static> {
        ValueRef::Int(self.0)
    }
    fn native(bound: &Value) -> Option<Self> {
        match bound {
            Value::Int(b) => Some(Self(*b)),
            _ => None,
        }
    }
    fn lt(self, other: Self) -> bool {
        self.0 < other.0
    }
}

impl Fixed for Day {
    fn value(self) -> ValueRef<'static> {
        ValueRef::Date(self.0)
    }
    fn native(bound: &Value) -> Option<Self> {
        match bound {
            Value::Date(b) => Some(Self(*b)),
            _ => None,
        }
    }
    fn lt(self, other: Self) -> bool {
        self.0 < other.0
    }
}

impl Fixed for Micros {
    fn value(self) -> ValueRef<'static> {
        ValueRef::Timestamp(self.0)
    }
    fn native(bound: &Value) -> Option<Self> {
        match bound {
            Value::Timestamp(b) => Some(Self(*b)),
            _ => None,
        }
    }
    fn lt(self, other: Self) -> bool {
        self.0 < other.0
    }
}

impl Fixed for Float {
    fn value(self) -> ValueRef<'static> {
        ValueRef::Float(self.0)
    }
    #[allow(clippy::cast_precision_loss, reason = "compare meets them as floats")]
    fn native(bound: &Value) -> Option<Self> {
        match bound {
            Value::Float(b) => Some(Self(*b)),
            // `compare` meets an integer and a float as floats.
            Value::Int(b) => Some(Self(*b as f64)),
            _ => None,
        }
    }
    fn lt(self, other: Self) -> bool {
        self.0 < other.0
    }
}

impl Fixed for Flag {
    fn value(self) -> ValueRef<'static> {
        ValueRef::Bool(self.0)
    }
    fn native(bound: &Value) -> Option<Self> {
        match bound {
            Value::Bool(b) => Some(Self(*b)),
            _ => None,
        }
    }
    fn lt(self, other: Self) -> bool {
        !self.0 & other.0
    }
}

/// A declared bound, native where it can be.
enum Bound<T> {
    None,
    Native(T, String),
    General(Value, String),
}

impl<T: Fixed> Bound<T> {
    fn new(bound: Option<&Value>) -> Self {
        match bound {
            None => Self::None,
            Some(b) => {
                let text = b.text();
                match T::native(b) {
                    Some(n) => Self::Native(n, text),
                    None => Self::General(b.clone(), text),
                }
            }
        }
    }

    /// Whether `v` is beyond the bound: below it for a minimum (`below`),
    /// above it for a maximum.
    fn broken(&self, v: T, below: bool) -> bool {
        match self {
            Self::None => false,
            Self::Native(b, _) => {
                if below {
                    v.lt(*b)
                } else {
                    b.lt(v)
                }
            }
            Self::General(b, _) => v
                .value()
                .compare(b.as_ref())
                .is_some_and(|o| if below { o.is_lt() } else { o.is_gt() }),
        }
    }

    fn text(&self) -> &str {
        match self {
            Self::None => "",
            Self::Native(_, t) | Self::General(_, t) => t,
        }
    }
}

/// Checks `array` (rows from `first_row`) through the fast path; `false`
/// (having done nothing) when the column or the array is not one for it.
pub(crate) fn check(column: &mut Column, array: &ArrayRef, first_row: u64) -> bool {
    if !column.nested.is_empty()
        || column
            .declared
            .as_ref()
            .is_some_and(Declared::has_text_checks)
    {
        return false;
    }
    if let ArrowType::Decimal128(_, scale) = array.data_type()
        && let Ok(scale) = u8::try_from(*scale)
    {
        decimals(column, array, first_row, scale);
        return true;
    }
    if column
        .declared
        .as_ref()
        .is_some_and(|d| d.data_type == DataType::Decimal)
    {
        // An integer column declared decimal is compared as decimals: the
        // general path.
        return false;
    }
    let nulls = array.nulls();
    match array.data_type() {
        ArrowType::Boolean => {
            let a = array.as_boolean();
            run(column, first_row, array.len(), nulls, |i| Flag(a.value(i)));
        }
        ArrowType::Int8 => ints::<Int8Type>(column, array, first_row),
        ArrowType::Int16 => ints::<Int16Type>(column, array, first_row),
        ArrowType::Int32 => ints::<Int32Type>(column, array, first_row),
        ArrowType::Int64 => ints::<Int64Type>(column, array, first_row),
        ArrowType::UInt8 => ints::<UInt8Type>(column, array, first_row),
        ArrowType::UInt16 => ints::<UInt16Type>(column, array, first_row),
        ArrowType::UInt32 => ints::<UInt32Type>(column, array, first_row),
        ArrowType::Float32 => {
            let v = array.as_primitive::<Float32Type>().values();
            run(column, first_row, array.len(), nulls, |i| {
                Float(f64::from(v[i]))
            });
        }
        ArrowType::Float64 => {
            let v = array.as_primitive::<Float64Type>().values();
            run(column, first_row, array.len(), nulls, |i| Float(v[i]));
        }
        ArrowType::Date32 => {
            let v = array.as_primitive::<Date32Type>().values();
            run(column, first_row, array.len(), nulls, |i| Day(v[i]));
        }
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => {
            let v = array.as_primitive::<TimestampMicrosecondType>().values();
            run(column, first_row, array.len(), nulls, |i| Micros(v[i]));
        }
        ArrowType::Timestamp(TimeUnit::Nanosecond, _) => {
            let v = array.as_primitive::<TimestampNanosecondType>().values();
            run(column, first_row, array.len(), nulls, |i| {
                Micros(v[i].div_euclid(1_000))
            });
        }
        _ => return false,
    }
    true
}

fn ints<T>(column: &mut Column, array: &ArrayRef, first_row: u64)
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let v = array.as_primitive::<T>().values();
    run(column, first_row, array.len(), array.nulls(), |i| {
        Int(v[i].into())
    });
}

/// What [`Column::value`] does for each of `len` cells (and
/// [`Column::null`] for each null), on native values.
fn run<T: Fixed>(
    column: &mut Column,
    first_row: u64,
    len: usize,
    nulls: Option<&NullBuffer>,
    get: impl Fn(usize) -> T,
) {
    let (lo, hi) = match &column.declared {
        Some(d) => (Bound::<T>::new(d.min.as_ref()), Bound::new(d.max.as_ref())),
        None => (Bound::None, Bound::None),
    };
    let mut least: Option<T> = None;
    let mut most: Option<T> = None;
    let mut values = 0u64;
    for i in 0..len {
        let row = first_row + i as u64;
        if nulls.is_some_and(|n| n.is_null(i)) {
            column.null(row);
            continue;
        }
        let v = get(i);
        values += 1;
        let value = v.value();
        let identity = value.identity();
        column.distinct.add(identity);
        if value.orderable() {
            if least.is_none_or(|m| v.lt(m)) {
                least = Some(v);
            }
            if most.is_none_or(|m| m.lt(v)) {
                most = Some(v);
            }
        }
        if let Some(unique) = &mut column.unique {
            unique.add(super::unique::key(value, identity), row);
        }
        if lo.broken(v, true) {
            let text = lo.text();
            column.tally(Check::Min, row, || format!("below the minimum {text}"));
        }
        if hi.broken(v, false) {
            let text = hi.text();
            column.tally(Check::Max, row, || format!("above the maximum {text}"));
        }
    }
    column.values += values;
    if let Some(m) = least {
        column.keep_min(m.value());
    }
    if let Some(m) = most {
        column.keep_max(m.value());
    }
}

/// A declared decimal bound as an unscaled integer at the column's scale,
/// rounded the way that keeps the comparison exact (up for a minimum:
/// `v < 1.005` is `v < 1.01` for cents; down for a maximum); or the value,
/// compared in text form, when it does not fit.
enum DecimalBound {
    None,
    Native(i128, String),
    General(Value, String),
}

impl DecimalBound {
    fn new(bound: Option<&Value>, scale: u8, up: bool) -> Self {
        let Some(bound) = bound else {
            return Self::None;
        };
        let text = bound.text();
        let native = match bound {
            Value::Decimal(d) => decimal_parts(d).and_then(|(m, s)| at_scale(m, s, scale, up)),
            _ => None,
        };
        match native {
            Some(n) => Self::Native(n, text),
            None => Self::General(bound.clone(), text),
        }
    }

    fn text(&self) -> &str {
        match self {
            Self::None => "",
            Self::Native(_, t) | Self::General(_, t) => t,
        }
    }
}

/// `m` × 10^-`from` as an integer count of 10^-`to`, rounded up or down.
fn at_scale(m: i128, from: u8, to: u8, up: bool) -> Option<i128> {
    if from <= to {
        return m.checked_mul(10i128.checked_pow(u32::from(to - from))?);
    }
    let Some(d) = 10i128.checked_pow(u32::from(from - to)) else {
        // Below one unit of the column's scale.
        return Some(match m.signum() {
            1 if up => 1,
            -1 if !up => -1,
            _ => 0,
        });
    };
    let (q, r) = (m / d, m % d);
    Some(if up && r > 0 {
        q + 1
    } else if !up && r < 0 {
        q - 1
    } else {
        q
    })
}

/// Unscaled values below this (and scales up to 18) have a text form of
/// at most 36 digits, whose identity is the numeric one.
const SHORT: i128 = 1_000_000_000_000_000_000;

/// The identity of the decimal `raw` × 10^-`scale` ([`decimal_identity`]
/// of its normalised form), the text form written into `text` when the
/// value is too long for the numeric identity to be the text's.
fn decimal_id(raw: i128, scale: u8, text: &mut String) -> u128 {
    if (1 - SHORT..SHORT).contains(&raw) && scale <= 18 {
        let (mut m, mut s) = (i64::try_from(raw).unwrap_or_default(), scale);
        while s > 0 && m != 0 && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        if m == 0 {
            s = 0;
        }
        return decimal_identity(i128::from(m), s);
    }
    if super::arrow_cells::decimal128(raw, scale.cast_signed(), text) {
        ValueRef::Decimal(text).identity()
    } else {
        0
    }
}

/// [`run`] for a `Decimal128` column of non-negative `scale`: unscaled
/// values of one scale order as the numbers do.
fn decimals(column: &mut Column, array: &ArrayRef, first_row: u64, scale: u8) {
    let raw = array.as_primitive::<Decimal128Type>().values();
    let nulls = array.nulls();
    let (lo, hi) = match &column.declared {
        Some(d) => (
            DecimalBound::new(d.min.as_ref(), scale, true),
            DecimalBound::new(d.max.as_ref(), scale, false),
        ),
        None => (DecimalBound::None, DecimalBound::None),
    };
    let mut text = String::new();
    let broken = |v: i128, bound: &DecimalBound, below: bool, text: &mut String| match bound {
        DecimalBound::None => false,
        DecimalBound::Native(b, _) => {
            if below {
                v < *b
            } else {
                v > *b
            }
        }
        DecimalBound::General(b, _) => {
            super::arrow_cells::decimal128(v, scale.cast_signed(), text)
                && ValueRef::Decimal(text)
                    .compare(b.as_ref())
                    .is_some_and(|o| if below { o.is_lt() } else { o.is_gt() })
        }
    };
    let (mut least, mut most): (Option<i128>, Option<i128>) = (None, None);
    let mut values = 0u64;
    for (i, &v) in raw.iter().enumerate() {
        let row = first_row + i as u64;
        if nulls.is_some_and(|n| n.is_null(i)) {
            column.null(row);
            continue;
        }
        values += 1;
        let identity = decimal_id(v, scale, &mut text);
        column.distinct.add(identity);
        least = Some(least.map_or(v, |m| m.min(v)));
        most = Some(most.map_or(v, |m| m.max(v)));
        if let Some(unique) = &mut column.unique {
            unique.add(super::unique::key(ValueRef::Decimal(""), identity), row);
        }
        if broken(v, &lo, true, &mut text) {
            let bound = lo.text();
            column.tally(Check::Min, row, || format!("below the minimum {bound}"));
        }
        if broken(v, &hi, false, &mut text) {
            let bound = hi.text();
            column.tally(Check::Max, row, || format!("above the maximum {bound}"));
        }
    }
    column.values += values;
    for (m, keep_min) in [(least, true), (most, false)] {
        if let Some(m) = m
            && super::arrow_cells::decimal128(m, scale.cast_signed(), &mut text)
        {
            if keep_min {
                column.keep_min(ValueRef::Decimal(&text));
            } else {
                column.keep_max(ValueRef::Decimal(&text));
            }
        }
    }
}

#[cfg(test)]
#[path = "fixed_tests.rs"]
mod tests;
