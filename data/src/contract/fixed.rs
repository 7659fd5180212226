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
    Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampNanosecondType, UInt8Type, UInt16Type, UInt32Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType as ArrowType, TimeUnit};
use mesh_protocol::descriptor::DataType;
use mesh_protocol::profile::Check;

use super::column::Column;
use super::value::{Value, ValueRef};

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
    if !column.nested.is_empty() {
        return false;
    }
    if let Some(d) = &column.declared
        && (d.has_text_checks() || d.data_type == DataType::Decimal)
    {
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

#[cfg(test)]
#[path = "fixed_tests.rs"]
mod tests;
