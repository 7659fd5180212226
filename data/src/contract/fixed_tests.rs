//! The fast path against the general one: every column state the profile
//! and the verdict read must come out the same.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array,
    Int32Array, Int64Array, TimestampMicrosecondArray, TimestampNanosecondArray, UInt32Array,
};
use mesh_protocol::contract::Constraints;
use mesh_protocol::descriptor::{DataType, Field};

use super::super::arrow_cells;
use super::super::column::{Column, Declared};
use super::check;

fn field(data_type: DataType, nullable: bool, min: Option<&str>, max: Option<&str>) -> Field {
    let mut f = Field::new("x", data_type, nullable);
    f.constraints = Constraints {
        min: min.map(str::to_owned),
        max: max.map(str::to_owned),
        unique: true,
        ..Constraints::default()
    };
    f
}

/// Runs `batches` through the fast path and the general one; asserts the
/// fast path took them and that both columns end the same.
fn same(field: Option<&Field>, stored: DataType, batches: &[ArrayRef]) {
    let scratch = tempfile::tempdir().unwrap();
    let new = || {
        let mut c = Column::new("x".into(), field.map(Declared::new), scratch.path());
        c.stored_as = Some(stored);
        c
    };
    let (mut fast, mut general) = (new(), new());
    let mut row = 1;
    for array in batches {
        assert!(check(&mut fast, array, row), "{:?}", array.data_type());
        arrow_cells::for_each(array, &mut |r, cell| {
            general.typed_cell(None, row + r as u64, cell);
        });
        row += array.len() as u64;
    }
    let rows = row - 1;
    fast.finish_unique().unwrap();
    general.finish_unique().unwrap();
    assert_eq!(fast.profile(rows), general.profile(rows));
    assert_eq!(fast.violations(rows), general.violations(rows));
    assert_eq!(fast.values, general.values);
}

#[test]
fn integers_with_nulls_bounds_repeats_and_many_distinct_values() {
    let f = field(DataType::Int64, false, Some("-5"), Some("9000"));
    let first: ArrayRef = Arc::new(
        (0..10_000)
            .map(|i| (i % 97 != 3).then_some(i * 7 % 10_007 - 20))
            .collect::<Int64Array>(),
    );
    let second: ArrayRef = Arc::new(Int64Array::from_iter_values((0..5_000).map(|i| -i)));
    same(Some(&f), DataType::Int64, &[first.clone(), second.clone()]);
    same(None, DataType::Int64, &[first, second]);
    // Narrow and unsigned integers widen to int64.
    let narrow: ArrayRef = Arc::new(Int8Array::from_iter_values(
        (0..300).map(|i| (i % 200) as i8),
    ));
    let unsigned: ArrayRef = Arc::new(UInt32Array::from_iter_values([0, u32::MAX, 5, 5]));
    let f32 = field(DataType::Int32, true, Some("0"), Some("100"));
    same(Some(&f32), DataType::Int32, &[narrow]);
    same(Some(&f), DataType::Int64, &[unsigned]);
    // An integer column declared float, with a float bound: the general
    // comparison, through the fast path.
    let wide = field(DataType::Float64, false, Some("0.5"), Some("100.25"));
    let ints: ArrayRef = Arc::new(Int32Array::from_iter_values(-3..200));
    same(Some(&wide), DataType::Int32, &[ints]);
}

#[test]
fn floats_with_nan_signed_zeros_and_integer_bounds() {
    let f = field(DataType::Float64, true, Some("-1"), Some("10"));
    let a: ArrayRef = Arc::new(Float64Array::from(vec![
        Some(0.0),
        Some(-0.0),
        Some(f64::NAN),
        None,
        Some(-3.5),
        Some(12.0),
        Some(f64::INFINITY),
        Some(-0.0),
        Some(2.25),
    ]));
    let b: ArrayRef = Arc::new(Float64Array::from_iter_values(
        (0..20_000).map(|i| f64::from(i) / 3.0 - 2.0),
    ));
    same(Some(&f), DataType::Float64, &[a.clone(), b.clone()]);
    same(None, DataType::Float64, &[a, b]);
    let only_nan: ArrayRef = Arc::new(Float32Array::from_iter_values([f32::NAN, f32::NAN]));
    same(Some(&f), DataType::Float32, &[only_nan]);
}

#[test]
fn booleans_dates_and_timestamps() {
    let flags: ArrayRef = Arc::new(BooleanArray::from(vec![
        Some(true),
        None,
        Some(false),
        Some(true),
    ]));
    same(
        Some(&field(DataType::Boolean, false, None, None)),
        DataType::Boolean,
        &[flags],
    );
    let days: ArrayRef = Arc::new(Date32Array::from_iter_values(
        (0..9_000).map(|i| 18_000 + i % 5_000),
    ));
    let f = field(
        DataType::Date,
        false,
        Some("2020-01-01"),
        Some("2030-12-31"),
    );
    same(Some(&f), DataType::Date, &[days]);
    let micros: ArrayRef = Arc::new(TimestampMicrosecondArray::from_iter_values(
        (0..6_000).map(|i| 1_600_000_000_000_000 + i * 1_000_003),
    ));
    let nanos: ArrayRef = Arc::new(TimestampNanosecondArray::from_iter_values(
        (0..6_000).map(|i| -1_999 + i * 999_999_999),
    ));
    let f = field(
        DataType::Timestamp,
        false,
        Some("2020-09-13T12:26:40.000000Z"),
        None,
    );
    same(Some(&f), DataType::Timestamp, &[micros, nanos]);
}

fn decimals(scale: i8, values: impl IntoIterator<Item = Option<i128>>) -> ArrayRef {
    Arc::new(
        values
            .into_iter()
            .collect::<Decimal128Array>()
            .with_precision_and_scale(38, scale)
            .unwrap(),
    )
}

#[test]
fn decimals_of_every_scale_with_bounds_finer_and_coarser_than_the_column() {
    let edge = [
        Some(0),
        Some(-1),
        Some(1),
        None,
        Some(100),
        Some(-100),
        Some(999_999_999_999_999_999),
        Some(1_000_000_000_000_000_000),
        Some(-1_000_000_000_000_000_000),
        Some(10i128.pow(37) * 3),
        Some(-(10i128.pow(38) - 1)),
        Some(100),
    ];
    let many = |scale| decimals(scale, (0..8_000).map(|i| Some(i * 37 % 5_003 - 2_500)));
    for scale in [0i8, 2, 18, 20] {
        let arrays = [decimals(scale, edge), many(scale)];
        same(None, DataType::Decimal, &arrays);
        // Bounds with more fraction digits than the column, fewer, and
        // far past it; an integer bound.
        for (min, max) in [
            ("-0.005", "1.005"),
            ("-3", "24.9"),
            ("-0.00000000000000000000001", "0.00000000000000000000001"),
            ("-2500", "2400"),
        ] {
            let f = field(DataType::Decimal, true, Some(min), Some(max));
            same(Some(&f), DataType::Decimal, &arrays);
        }
        // Declared text: its bounds are text, compared the general way.
        let f = field(DataType::String, true, Some("-1"), Some("5"));
        same(Some(&f), DataType::Decimal, &arrays);
    }
}

#[test]
fn columns_that_need_text_or_decimals_take_the_general_path() {
    let scratch = tempfile::tempdir().unwrap();
    let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(0..10));
    let mut pattern = field(DataType::Int64, false, None, None);
    pattern.constraints.pattern = Some("[0-9]+".into());
    let mut allowed = field(DataType::Int64, false, None, None);
    allowed.constraints.allowed_values = vec!["1".into()];
    let decimal = field(DataType::Decimal, false, None, None);
    for f in [pattern, allowed, decimal] {
        let mut c = Column::new("x".into(), Some(Declared::new(&f)), scratch.path());
        assert!(!check(&mut c, &ints, 1));
        assert_eq!(c.values, 0, "nothing done");
    }
    let text: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["a"]));
    let mut c = Column::new("x".into(), None, scratch.path());
    assert!(!check(&mut c, &text, 1));
}
