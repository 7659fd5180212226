//! The mapping between Arrow data types and the mesh schema's
//! [`DataType`]s.
//!
//! A descriptor declares mesh types; files carry Arrow (or Parquet, read as
//! Arrow) types. [`mesh_type`] says which mesh type a file's column is, for
//! inference and for checking a file against its contract; [`arrow_type`]
//! says how a mesh type is stored when only the mesh type is known (a
//! declared schema turned into an Arrow schema, e.g. for the query
//! engine).

use std::sync::Arc;

use arrow_schema::{DataType as Arrow, Field, Fields, TimeUnit};
use mesh_protocol::descriptor::DataType;

/// The mesh type of values of Arrow type `t`, or `None` for types with no
/// mesh equivalent (`Null`, times of day, durations, intervals, unions).
///
/// Unsigned integers map to the smallest signed type holding all their
/// values (`UInt64` needs `Decimal`); `Float16` widens to `Float32`;
/// dictionary and run-end encoded columns map by their values.
pub fn mesh_type(t: &Arrow) -> Option<DataType> {
    Some(match t {
        Arrow::Boolean => DataType::Boolean,
        Arrow::Int8 | Arrow::Int16 | Arrow::Int32 | Arrow::UInt8 | Arrow::UInt16 => DataType::Int32,
        Arrow::Int64 | Arrow::UInt32 => DataType::Int64,
        Arrow::UInt64
        | Arrow::Decimal32(..)
        | Arrow::Decimal64(..)
        | Arrow::Decimal128(..)
        | Arrow::Decimal256(..) => DataType::Decimal,
        Arrow::Float16 | Arrow::Float32 => DataType::Float32,
        Arrow::Float64 => DataType::Float64,
        Arrow::Utf8 | Arrow::LargeUtf8 | Arrow::Utf8View => DataType::String,
        Arrow::Binary | Arrow::LargeBinary | Arrow::BinaryView | Arrow::FixedSizeBinary(_) => {
            DataType::Binary
        }
        Arrow::Date32 | Arrow::Date64 => DataType::Date,
        Arrow::Timestamp(..) => DataType::Timestamp,
        Arrow::Struct(_) | Arrow::Map(..) => DataType::Object,
        Arrow::List(_)
        | Arrow::LargeList(_)
        | Arrow::FixedSizeList(..)
        | Arrow::ListView(_)
        | Arrow::LargeListView(_) => DataType::Array,
        Arrow::Dictionary(_, values) => return mesh_type(values),
        Arrow::RunEndEncoded(_, values) => return mesh_type(values.data_type()),
        _ => return None,
    })
}

/// The Arrow type a value of mesh type `t` is stored as when nothing more
/// than `t` is known.
///
/// - `Decimal` is `Decimal128(38, 10)`: the widest 128-bit precision with
///   room for ten fractional digits.
/// - `Timestamp` is microseconds in UTC, written as the offset `+00:00`
///   rather than the name `UTC`: arrow resolves zone names only with its
///   `chrono-tz` feature (off here), and an offset means the same instants.
/// - `Date` is `Date32` (days).
/// - `Object` is a struct with no fields and `Array` a list of nullable
///   `Utf8` items named `item`: a mesh type says nothing about the
///   children, so these are placeholders. Where the children are known
///   (an inferred schema), [`crate::InferredField::arrow_field`] builds the
///   full nested type instead.
pub fn arrow_type(t: DataType) -> Arrow {
    match t {
        DataType::Boolean => Arrow::Boolean,
        DataType::Int32 => Arrow::Int32,
        DataType::Int64 => Arrow::Int64,
        DataType::Float32 => Arrow::Float32,
        DataType::Float64 => Arrow::Float64,
        DataType::Decimal => Arrow::Decimal128(38, 10),
        DataType::String => Arrow::Utf8,
        DataType::Binary => Arrow::Binary,
        DataType::Date => Arrow::Date32,
        DataType::Timestamp => Arrow::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        DataType::Object => Arrow::Struct(Fields::empty()),
        DataType::Array => Arrow::List(Arc::new(Field::new("item", Arrow::Utf8, true))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mesh_type_round_trips() {
        use DataType::*;
        for t in [
            Boolean, Int32, Int64, Float32, Float64, Decimal, String, Binary, Date, Timestamp,
            Object, Array,
        ] {
            assert_eq!(mesh_type(&arrow_type(t)), Some(t), "{t:?}");
        }
    }

    #[test]
    fn arrow_types_map_as_documented() {
        let item = Arc::new(Field::new("item", Arrow::Int8, true));
        let cases = [
            (Arrow::UInt16, Some(DataType::Int32)),
            (Arrow::UInt32, Some(DataType::Int64)),
            (Arrow::UInt64, Some(DataType::Decimal)),
            (Arrow::Float16, Some(DataType::Float32)),
            (Arrow::Decimal256(76, 2), Some(DataType::Decimal)),
            (Arrow::Utf8View, Some(DataType::String)),
            (Arrow::FixedSizeBinary(16), Some(DataType::Binary)),
            (Arrow::Date64, Some(DataType::Date)),
            (
                Arrow::Timestamp(TimeUnit::Second, None),
                Some(DataType::Timestamp),
            ),
            (Arrow::FixedSizeList(item.clone(), 3), Some(DataType::Array)),
            (Arrow::LargeListView(item), Some(DataType::Array)),
            (
                Arrow::Dictionary(Box::new(Arrow::Int32), Box::new(Arrow::LargeUtf8)),
                Some(DataType::String),
            ),
            (Arrow::Null, None),
            (Arrow::Time32(TimeUnit::Second), None),
            (Arrow::Duration(TimeUnit::Second), None),
        ];
        for (arrow, mesh) in cases {
            assert_eq!(mesh_type(&arrow), mesh, "{arrow}");
        }
    }
}
