//! Typed Arrow columns (from Parquet and Arrow IPC files) as [`Value`]s.
//!
//! The column's type is matched once per batch, then its rows are walked;
//! a type with no scalar reading here (structs, lists, maps, unions) is
//! passed on as opaque: present or null, but not compared or counted.

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray};
use arrow_schema::{DataType as ArrowType, TimeUnit};

use super::value::{Value, ValueRef, normalize_decimal_into};

/// One cell of a typed column, borrowed from its array (or from a buffer
/// reused over the column's rows).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cell<'a> {
    /// A scalar value.
    Value(ValueRef<'a>),
    /// A nested value read as a whole.
    Opaque,
}

/// What [`for_each`] calls for every row: its index and its cell (`None`:
/// null).
pub(crate) type Visit<'f> = dyn FnMut(usize, Option<Cell<'_>>) + 'f;

/// Calls `f` on every row of `array`, reading a non-null row with `read`.
fn each<'a>(array: &'a ArrayRef, f: &mut Visit<'_>, read: impl Fn(usize) -> Cell<'a>) {
    let nulls = array.nulls();
    for i in 0..array.len() {
        if nulls.is_some_and(|n| n.is_null(i)) {
            f(i, None);
        } else {
            f(i, Some(read(i)));
        }
    }
}

/// [`each`] for cells written into a buffer reused over the rows (`write`
/// returns `false` for a value it cannot write, passed on as opaque).
fn each_written(array: &ArrayRef, f: &mut Visit<'_>, write: impl Fn(usize, &mut String) -> bool) {
    let nulls = array.nulls();
    let mut buf = String::new();
    for i in 0..array.len() {
        if nulls.is_some_and(|n| n.is_null(i)) {
            f(i, None);
        } else if write(i, &mut buf) {
            f(i, Some(Cell::Value(ValueRef::Decimal(&buf))));
        } else {
            f(i, Some(Cell::Opaque));
        }
    }
}

/// Calls `f(index, cell)` for every row of `array`; `None` for null.
#[allow(
    clippy::too_many_lines,
    reason = "one arm per Arrow type, read as a table"
)]
pub(crate) fn for_each(array: &ArrayRef, f: &mut Visit<'_>) {
    match array.data_type() {
        ArrowType::Boolean => {
            let a = array.as_boolean();
            each(array, f, |i| Cell::Value(ValueRef::Bool(a.value(i))));
        }
        ArrowType::Int8 => ints::<Int8Type>(array, f),
        ArrowType::Int16 => ints::<Int16Type>(array, f),
        ArrowType::Int32 => ints::<Int32Type>(array, f),
        ArrowType::Int64 => ints::<Int64Type>(array, f),
        ArrowType::UInt8 => ints::<UInt8Type>(array, f),
        ArrowType::UInt16 => ints::<UInt16Type>(array, f),
        ArrowType::UInt32 => ints::<UInt32Type>(array, f),
        ArrowType::UInt64 => {
            let a = array.as_primitive::<UInt64Type>();
            let nulls = array.nulls();
            let mut buf = String::new();
            for i in 0..array.len() {
                if nulls.is_some_and(|n| n.is_null(i)) {
                    f(i, None);
                    continue;
                }
                let v = a.value(i);
                if let Ok(v) = i64::try_from(v) {
                    f(i, Some(Cell::Value(ValueRef::Int(v))));
                } else {
                    buf.clear();
                    let _ = write!(buf, "{v}");
                    f(i, Some(Cell::Value(ValueRef::Decimal(&buf))));
                }
            }
        }
        ArrowType::Float16 => {
            let a = array.as_primitive::<Float16Type>();
            each(array, f, |i| {
                Cell::Value(ValueRef::Float(f64::from(a.value(i))))
            });
        }
        ArrowType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            each(array, f, |i| {
                Cell::Value(ValueRef::Float(f64::from(a.value(i))))
            });
        }
        ArrowType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            each(array, f, |i| Cell::Value(ValueRef::Float(a.value(i))));
        }
        ArrowType::Decimal128(_, scale) => {
            let a = array.as_primitive::<arrow_array::types::Decimal128Type>();
            let scale = *scale;
            each_written(array, f, |i, buf| decimal128(a.value(i), scale, buf));
        }
        ArrowType::Decimal256(_, scale) => {
            let a = array.as_primitive::<arrow_array::types::Decimal256Type>();
            let scale = *scale;
            each_written(array, f, |i, buf| {
                decimal(&a.value(i).to_string(), scale, buf)
            });
        }
        ArrowType::Utf8 => {
            let a = array.as_string::<i32>();
            each(array, f, |i| Cell::Value(ValueRef::Text(a.value(i))));
        }
        ArrowType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            each(array, f, |i| Cell::Value(ValueRef::Text(a.value(i))));
        }
        ArrowType::Utf8View => {
            let a = array.as_string_view();
            each(array, f, |i| Cell::Value(ValueRef::Text(a.value(i))));
        }
        ArrowType::Binary => {
            let a = array.as_binary::<i32>();
            each(array, f, |i| Cell::Value(ValueRef::Bytes(a.value(i))));
        }
        ArrowType::LargeBinary => {
            let a = array.as_binary::<i64>();
            each(array, f, |i| Cell::Value(ValueRef::Bytes(a.value(i))));
        }
        ArrowType::BinaryView => {
            let a = array.as_binary_view();
            each(array, f, |i| Cell::Value(ValueRef::Bytes(a.value(i))));
        }
        ArrowType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            each(array, f, |i| Cell::Value(ValueRef::Bytes(a.value(i))));
        }
        ArrowType::Date32 => {
            let a = array.as_primitive::<Date32Type>();
            each(array, f, |i| Cell::Value(ValueRef::Date(a.value(i))));
        }
        ArrowType::Date64 => {
            let a = array.as_primitive::<Date64Type>();
            each(array, f, |i| {
                let days = a.value(i).div_euclid(86_400_000);
                Cell::Value(i32::try_from(days).map_or(ValueRef::Int(days), ValueRef::Date))
            });
        }
        ArrowType::Timestamp(unit, _) => timestamps(array, *unit, f),
        ArrowType::Dictionary(_, _) => {
            if let Some(dict) = array.as_any_dictionary_opt() {
                let keys = dict.normalized_keys();
                let values = dict.values().clone();
                // Read the dictionary's values once, then look them up.
                let mut table: Vec<Option<Option<Value>>> = Vec::with_capacity(values.len());
                for_each(&values, &mut |_, cell| {
                    table.push(cell.map(|c| match c {
                        Cell::Value(v) => Some(v.to_value()),
                        Cell::Opaque => None,
                    }));
                });
                let nulls = array.nulls();
                for (i, key) in keys.iter().enumerate().take(array.len()) {
                    if nulls.is_some_and(|n| n.is_null(i)) {
                        f(i, None);
                        continue;
                    }
                    let cell = match table.get(*key) {
                        Some(Some(Some(v))) => Some(Cell::Value(v.as_ref())),
                        Some(Some(None)) => Some(Cell::Opaque),
                        _ => None,
                    };
                    f(i, cell);
                }
            } else {
                each(array, f, |_| Cell::Opaque);
            }
        }
        _ => each(array, f, |_| Cell::Opaque),
    }
}

fn ints<T>(array: &ArrayRef, f: &mut Visit<'_>)
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let a: &PrimitiveArray<T> = array.as_primitive::<T>();
    each(array, f, |i| Cell::Value(ValueRef::Int(a.value(i).into())));
}

fn timestamps(array: &ArrayRef, unit: TimeUnit, f: &mut Visit<'_>) {
    match unit {
        TimeUnit::Second => {
            let a = array.as_primitive::<TimestampSecondType>();
            each(array, f, |i| micros(a.value(i).checked_mul(1_000_000)));
        }
        TimeUnit::Millisecond => {
            let a = array.as_primitive::<TimestampMillisecondType>();
            each(array, f, |i| micros(a.value(i).checked_mul(1_000)));
        }
        TimeUnit::Microsecond => {
            let a = array.as_primitive::<TimestampMicrosecondType>();
            each(array, f, |i| micros(Some(a.value(i))));
        }
        TimeUnit::Nanosecond => {
            let a = array.as_primitive::<TimestampNanosecondType>();
            each(array, f, |i| micros(Some(a.value(i).div_euclid(1_000))));
        }
    }
}

fn micros(value: Option<i64>) -> Cell<'static> {
    // A timestamp too far out to count in microseconds is still a value;
    // it is kept as an opaque one rather than a wrong one.
    value.map_or(Cell::Opaque, |m| Cell::Value(ValueRef::Timestamp(m)))
}

/// [`decimal`] for a 128-bit unscaled integer, written straight in the
/// normalised form (no trailing fraction zeros, no leading zeros, no `-0`)
/// instead of formatted and normalised again; a negative scale takes the
/// general path.
pub(crate) fn decimal128(unscaled: i128, declared_scale: i8, out: &mut String) -> bool {
    let Ok(mut scale) = u32::try_from(declared_scale) else {
        return decimal(&unscaled.to_string(), declared_scale, out);
    };
    out.clear();
    let sign = if unscaled < 0 { "-" } else { "" };
    let mut magnitude = unscaled.unsigned_abs();
    if magnitude == 0 {
        out.push('0');
        return true;
    }
    while scale > 0 && magnitude.is_multiple_of(10) {
        magnitude /= 10;
        scale -= 1;
    }
    // Most decimals fit 64 bits, whose formatting is several times faster
    // than 128-bit formatting.
    if let (Ok(small), Some(unit)) = (u64::try_from(magnitude), 10u64.checked_pow(scale)) {
        let width = scale as usize;
        let _ = if scale == 0 {
            write!(out, "{sign}{small}")
        } else {
            write!(out, "{sign}{}.{:0>width$}", small / unit, small % unit)
        };
        return true;
    }
    if scale == 0 {
        let _ = write!(out, "{sign}{magnitude}");
    } else {
        let Some(unit) = 10u128.checked_pow(scale) else {
            return decimal(&unscaled.to_string(), declared_scale, out);
        };
        let width = scale as usize;
        let _ = write!(
            out,
            "{sign}{}.{:0>width$}",
            magnitude / unit,
            magnitude % unit
        );
    }
    true
}

/// An unscaled decimal integer's text with `scale` fraction digits,
/// normalised into `out`; `false` if it is not a decimal.
fn decimal(unscaled: &str, scale: i8, out: &mut String) -> bool {
    let (sign, digits) = unscaled
        .strip_prefix('-')
        .map_or(("", unscaled), |d| ("-", d));
    let text = match usize::try_from(scale) {
        Ok(0) => unscaled.to_owned(),
        Ok(s) => {
            let padded = format!("{digits:0>width$}", width = s + 1);
            let (int, frac) = padded.split_at(padded.len() - s);
            format!("{sign}{int}.{frac}")
        }
        // A negative scale multiplies by a power of ten.
        Err(_) => format!(
            "{unscaled}{}",
            "0".repeat(usize::from(scale.unsigned_abs()))
        ),
    };
    normalize_decimal_into(&text, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_take_their_scale() {
        let text = |u: &str, s: i8| {
            let mut out = String::new();
            if decimal(u, s, &mut out) {
                out
            } else {
                "opaque".into()
            }
        };
        assert_eq!(text("12345", 2), "123.45");
        assert_eq!(text("-5", 3), "-0.005");
        assert_eq!(text("7", -2), "700");
        assert_eq!(text("100", 2), "1");
    }

    #[test]
    fn the_direct_decimal_form_is_the_normalised_one() {
        let direct = |v: i128, s: i8| {
            let mut out = String::new();
            decimal128(v, s, &mut out).then_some(out)
        };
        let general = |v: i128, s: i8| {
            let mut out = String::new();
            decimal(&v.to_string(), s, &mut out).then_some(out)
        };
        let values = [
            0_i128,
            1,
            -1,
            5,
            -5,
            10,
            -10,
            100,
            12_345,
            -12_340,
            1_000_000,
            7_050,
            i128::MAX,
            i128::MIN,
            i128::MAX - 9,
            10i128.pow(37),
            i128::from(u64::MAX),
            i128::from(u64::MAX) + 1,
            -i128::from(u64::MAX) - 7,
        ];
        for v in values {
            for scale in [0_i8, 1, 2, 3, 7, 18, 37, 38, -2] {
                assert_eq!(direct(v, scale), general(v, scale), "{v} at scale {scale}");
            }
        }
    }
}
