//! Typed Arrow columns (from Parquet and Arrow IPC files) as [`Value`]s.
//!
//! The column's type is matched once per batch, then its rows are walked;
//! a type with no scalar reading here (structs, lists, maps, unions) is
//! passed on as opaque: present or null, but not compared or counted.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray};
use arrow_schema::{DataType as ArrowType, TimeUnit};

use super::value::{Value, normalize_decimal};

/// One cell of a typed column.
pub(crate) enum Cell {
    /// A scalar value.
    Value(Value),
    /// A nested value read as a whole.
    Opaque,
}

/// The row walk of one column, given how to read a row.
type Each<'a> = dyn FnMut(&dyn Fn(usize) -> Cell) + 'a;

/// Calls `f(index, cell)` for every row of `array`; `None` for null.
#[allow(
    clippy::too_many_lines,
    reason = "one arm per Arrow type, read as a table"
)]
pub(crate) fn for_each(array: &ArrayRef, f: &mut dyn FnMut(usize, Option<Cell>)) {
    let len = array.len();
    let mut each = |read: &dyn Fn(usize) -> Cell| {
        for i in 0..len {
            if array.is_null(i) {
                f(i, None);
            } else {
                f(i, Some(read(i)));
            }
        }
    };
    match array.data_type() {
        ArrowType::Boolean => {
            let a = array.as_boolean();
            each(&|i| Cell::Value(Value::Bool(a.value(i))));
        }
        ArrowType::Int8 => ints::<Int8Type>(array, &mut each),
        ArrowType::Int16 => ints::<Int16Type>(array, &mut each),
        ArrowType::Int32 => ints::<Int32Type>(array, &mut each),
        ArrowType::Int64 => ints::<Int64Type>(array, &mut each),
        ArrowType::UInt8 => ints::<UInt8Type>(array, &mut each),
        ArrowType::UInt16 => ints::<UInt16Type>(array, &mut each),
        ArrowType::UInt32 => ints::<UInt32Type>(array, &mut each),
        ArrowType::UInt64 => {
            let a = array.as_primitive::<UInt64Type>();
            each(&|i| {
                let v = a.value(i);
                Cell::Value(
                    i64::try_from(v).map_or_else(|_| Value::Decimal(v.to_string()), Value::Int),
                )
            });
        }
        ArrowType::Float16 => {
            let a = array.as_primitive::<Float16Type>();
            each(&|i| Cell::Value(Value::Float(f64::from(a.value(i)))));
        }
        ArrowType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            each(&|i| Cell::Value(Value::Float(f64::from(a.value(i)))));
        }
        ArrowType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            each(&|i| Cell::Value(Value::Float(a.value(i))));
        }
        ArrowType::Decimal128(_, scale) => {
            let a = array.as_primitive::<arrow_array::types::Decimal128Type>();
            let scale = *scale;
            each(&|i| decimal128(a.value(i), scale));
        }
        ArrowType::Decimal256(_, scale) => {
            let a = array.as_primitive::<arrow_array::types::Decimal256Type>();
            let scale = *scale;
            each(&|i| decimal(&a.value(i).to_string(), scale));
        }
        ArrowType::Utf8 => {
            let a = array.as_string::<i32>();
            each(&|i| Cell::Value(Value::Text(a.value(i).to_owned())));
        }
        ArrowType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            each(&|i| Cell::Value(Value::Text(a.value(i).to_owned())));
        }
        ArrowType::Utf8View => {
            let a = array.as_string_view();
            each(&|i| Cell::Value(Value::Text(a.value(i).to_owned())));
        }
        ArrowType::Binary => {
            let a = array.as_binary::<i32>();
            each(&|i| Cell::Value(Value::Bytes(a.value(i).to_vec())));
        }
        ArrowType::LargeBinary => {
            let a = array.as_binary::<i64>();
            each(&|i| Cell::Value(Value::Bytes(a.value(i).to_vec())));
        }
        ArrowType::BinaryView => {
            let a = array.as_binary_view();
            each(&|i| Cell::Value(Value::Bytes(a.value(i).to_vec())));
        }
        ArrowType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            each(&|i| Cell::Value(Value::Bytes(a.value(i).to_vec())));
        }
        ArrowType::Date32 => {
            let a = array.as_primitive::<Date32Type>();
            each(&|i| Cell::Value(Value::Date(a.value(i))));
        }
        ArrowType::Date64 => {
            let a = array.as_primitive::<Date64Type>();
            each(&|i| {
                let days = a.value(i).div_euclid(86_400_000);
                Cell::Value(i32::try_from(days).map_or(Value::Int(days), Value::Date))
            });
        }
        ArrowType::Timestamp(unit, _) => timestamps(array, *unit, &mut each),
        ArrowType::Dictionary(_, _) => {
            if let Some(dict) = array.as_any_dictionary_opt() {
                let keys = dict.normalized_keys();
                let values = dict.values().clone();
                // Read the dictionary's values once, then look them up.
                let mut table: Vec<Option<Cell>> = Vec::with_capacity(values.len());
                for_each(&values, &mut |_, cell| table.push(cell));
                for (i, key) in keys.iter().enumerate().take(len) {
                    if array.is_null(i) {
                        f(i, None);
                        continue;
                    }
                    let cell = match table.get(*key) {
                        Some(Some(Cell::Value(v))) => Some(Cell::Value(v.clone())),
                        Some(Some(Cell::Opaque)) => Some(Cell::Opaque),
                        _ => None,
                    };
                    f(i, cell);
                }
            } else {
                each(&|_| Cell::Opaque);
            }
        }
        _ => each(&|_| Cell::Opaque),
    }
}

fn ints<T>(array: &ArrayRef, each: &mut Each<'_>)
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let a: &PrimitiveArray<T> = array.as_primitive::<T>();
    each(&|i| Cell::Value(Value::Int(a.value(i).into())));
}

fn timestamps(array: &ArrayRef, unit: TimeUnit, each: &mut Each<'_>) {
    match unit {
        TimeUnit::Second => {
            let a = array.as_primitive::<TimestampSecondType>();
            each(&|i| micros(a.value(i).checked_mul(1_000_000)));
        }
        TimeUnit::Millisecond => {
            let a = array.as_primitive::<TimestampMillisecondType>();
            each(&|i| micros(a.value(i).checked_mul(1_000)));
        }
        TimeUnit::Microsecond => {
            let a = array.as_primitive::<TimestampMicrosecondType>();
            each(&|i| micros(Some(a.value(i))));
        }
        TimeUnit::Nanosecond => {
            let a = array.as_primitive::<TimestampNanosecondType>();
            each(&|i| micros(Some(a.value(i).div_euclid(1_000))));
        }
    }
}

fn micros(value: Option<i64>) -> Cell {
    // A timestamp too far out to count in microseconds is still a value;
    // it is kept as an opaque one rather than a wrong one.
    value.map_or(Cell::Opaque, |m| Cell::Value(Value::Timestamp(m)))
}

/// [`decimal`] for a 128-bit unscaled integer, written straight in the
/// normalised form (no trailing fraction zeros, no leading zeros, no `-0`)
/// instead of formatted and normalised again; a negative scale takes the
/// general path.
fn decimal128(unscaled: i128, declared_scale: i8) -> Cell {
    let Ok(mut scale) = u32::try_from(declared_scale) else {
        return decimal(&unscaled.to_string(), declared_scale);
    };
    let sign = if unscaled < 0 { "-" } else { "" };
    let mut magnitude = unscaled.unsigned_abs();
    if magnitude == 0 {
        return Cell::Value(Value::Decimal("0".to_owned()));
    }
    while scale > 0 && magnitude.is_multiple_of(10) {
        magnitude /= 10;
        scale -= 1;
    }
    let text = if scale == 0 {
        format!("{sign}{magnitude}")
    } else {
        let Some(unit) = 10u128.checked_pow(scale) else {
            return decimal(&unscaled.to_string(), declared_scale);
        };
        let width = scale as usize;
        format!("{sign}{}.{:0>width$}", magnitude / unit, magnitude % unit)
    };
    Cell::Value(Value::Decimal(text))
}

/// An unscaled decimal integer's text with `scale` fraction digits.
fn decimal(unscaled: &str, scale: i8) -> Cell {
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
    normalize_decimal(&text).map_or(Cell::Opaque, |d| Cell::Value(Value::Decimal(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_take_their_scale() {
        let text = |u: &str, s: i8| match decimal(u, s) {
            Cell::Value(v) => v.text(),
            Cell::Opaque => "opaque".into(),
        };
        assert_eq!(text("12345", 2), "123.45");
        assert_eq!(text("-5", 3), "-0.005");
        assert_eq!(text("7", -2), "700");
        assert_eq!(text("100", 2), "1");
    }

    #[test]
    fn the_direct_decimal_form_is_the_normalised_one() {
        let text = |cell: Cell| match cell {
            Cell::Value(v) => v.text(),
            Cell::Opaque => "opaque".into(),
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
        ];
        for v in values {
            for scale in [0_i8, 1, 2, 3, 7, 18, 37, 38, -2] {
                assert_eq!(
                    text(decimal128(v, scale)),
                    text(decimal(&v.to_string(), scale)),
                    "{v} at scale {scale}"
                );
            }
        }
    }
}
