//! Declared inner fields (object properties, array `items`) are held to
//! their own declarations in every format that nests: JSON Lines objects
//! and arrays, Parquet and Arrow structs and lists. Each test states the
//! exact violations, named by path, with their counts and first rows.

#![allow(
    clippy::expect_used,
    reason = "a file that cannot be written is a broken test: it should panic"
)]

mod common;

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Int32Array, ListArray, RecordBatch, StringArray, StructArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType as ArrowType, Field as ArrowField, Fields};
use common::{Dir, batch_of, ipc_stream_bytes, parquet_bytes};
use mesh_data::contract::{Contract, profile_file, profile_stream};
use mesh_protocol::Timestamp;
use mesh_protocol::contract::{Constraints, CsvDialect};
use mesh_protocol::descriptor::{DataType, Field, Format, Quality};
use mesh_protocol::profile::{Check, Profile};

type Found = (Option<String>, Check, u64, Vec<u64>);

fn declared(name: &str, data_type: DataType, nullable: bool, constraints: Constraints) -> Field {
    let mut f = Field::new(name, data_type, nullable);
    f.constraints = constraints;
    f
}

/// `address {zip int32 required, city string ~ [A-Z][a-z]+}`,
/// `tags [int64 required, unique, <= 100]`, `orders [{sku string required}]`.
fn nested_contract() -> Contract {
    let mut address = Field::new("address", DataType::Object, true);
    address.children = vec![
        declared("zip", DataType::Int32, false, Constraints::default()),
        declared(
            "city",
            DataType::String,
            true,
            Constraints {
                pattern: Some("[A-Z][a-z]+".into()),
                ..Constraints::default()
            },
        ),
    ];
    let mut tags = Field::new("tags", DataType::Array, true);
    tags.children = vec![declared(
        "items",
        DataType::Int64,
        false,
        Constraints {
            unique: true,
            max: Some("100".into()),
            ..Constraints::default()
        },
    )];
    let mut item = Field::new("items", DataType::Object, false);
    item.children = vec![declared(
        "sku",
        DataType::String,
        false,
        Constraints::default(),
    )];
    let mut orders = Field::new("orders", DataType::Array, true);
    orders.children = vec![item];
    Contract {
        fields: vec![address, tags, orders],
        quality: Quality::default(),
        csv: CsvDialect::default(),
        created_at: Timestamp(1_735_689_600_000),
        scratch: None,
    }
}

fn profile(dir: &Dir, label: &str, format: &Format, bytes: &[u8]) -> Profile {
    let path = dir.write(label, bytes);
    let c = nested_contract();
    let p = profile_file(&path, format, &c).expect("the scratch directory works");
    if *format != Format::Parquet {
        let streamed = profile_stream(Cursor::new(bytes.to_vec()), format, &c)
            .expect("the scratch directory works");
        assert_eq!(p, streamed, "{label}: file and stream disagree");
    }
    assert_eq!(p.validate(), Ok(()), "{label}");
    p
}

fn found(p: &Profile) -> Vec<Found> {
    p.violations
        .iter()
        .map(|v| (v.field.clone(), v.check, v.count, v.first_rows.clone()))
        .collect()
}

#[allow(clippy::unnecessary_wraps, reason = "a violation's field is optional")]
fn path(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn jsonl_inner_fields_are_held_to_their_declarations() {
    let dir = Dir::new();
    let lines = [
        r#"{"address":{"zip":1000,"city":"Oslo"},"tags":[1,2],"orders":[{"sku":"a"}]}"#,
        // zip absent (null in a required field), city breaks the pattern
        r#"{"address":{"city":"bergen"},"tags":[3,200],"orders":[{"sku":null},{"sku":"b"}]}"#,
        // zip is not an int32; tag 2 repeats; an order is not an object
        r#"{"address":{"zip":"x","city":null},"tags":[2,null],"orders":[7]}"#,
        // a null or mistyped parent is the parent's violation only
        r#"{"address":null,"tags":"none","orders":null}"#,
    ]
    .join("\n");
    let p = profile(&dir, "nested.jsonl", &Format::Jsonl, lines.as_bytes());
    assert_eq!(
        found(&p),
        vec![
            (path("address.zip"), Check::Type, 1, vec![3]),
            (path("address.zip"), Check::NotNull, 1, vec![2]),
            (path("address.city"), Check::Pattern, 1, vec![2]),
            (path("tags"), Check::Type, 1, vec![4]),
            (path("tags.items"), Check::NotNull, 1, vec![3]),
            (path("tags.items"), Check::Unique, 1, vec![3]),
            (path("tags.items"), Check::Max, 1, vec![2]),
            (path("orders.items"), Check::Type, 1, vec![3]),
            (path("orders.items.sku"), Check::NotNull, 1, vec![2]),
        ]
    );
    assert_eq!(p.fields.len(), 3, "inner fields are not top-level columns");
}

/// The same table typed: a struct, a list of int64, a list of structs
/// whose `sku` is stored as boolean (declared string).
fn typed_batch() -> RecordBatch {
    let zip = Int32Array::from(vec![Some(1000), None, None, Some(9)]);
    let city = StringArray::from(vec![Some("Oslo"), Some("bergen"), None, Some("x")]);
    let address_fields = Fields::from(vec![
        ArrowField::new("zip", ArrowType::Int32, true),
        ArrowField::new("city", ArrowType::Utf8, true),
    ]);
    // Row 4's struct is null: its children (zip 9, city "x") are not read.
    let address = StructArray::new(
        address_fields,
        vec![Arc::new(zip) as ArrayRef, Arc::new(city)],
        Some(NullBuffer::from(vec![true, true, true, false])),
    );
    let mut tags = ListBuilder::new(Int64Builder::new());
    for row in [
        Some(vec![Some(1), Some(2)]),
        Some(vec![Some(3), Some(200)]),
        Some(vec![Some(2), None]),
        None,
    ] {
        match row {
            Some(items) => {
                for item in items {
                    tags.values().append_option(item);
                }
                tags.append(true);
            }
            None => tags.append(false),
        }
    }
    let sku_fields = Fields::from(vec![ArrowField::new("sku", ArrowType::Boolean, true)]);
    let orders_items = StructArray::new(
        sku_fields.clone(),
        vec![Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])) as ArrayRef],
        None,
    );
    let orders = ListArray::new(
        Arc::new(ArrowField::new("item", ArrowType::Struct(sku_fields), true)),
        OffsetBuffer::from_lengths([1, 2, 0, 0]),
        Arc::new(orders_items),
        Some(NullBuffer::from(vec![true, true, true, false])),
    );
    batch_of(vec![
        ("address", Arc::new(address)),
        ("tags", Arc::new(tags.finish())),
        ("orders", Arc::new(orders)),
    ])
}

#[test]
fn parquet_and_arrow_structs_and_lists_are_held_to_their_declarations() {
    let dir = Dir::new();
    let batch = typed_batch();
    let expected = vec![
        (path("address.zip"), Check::NotNull, 2, vec![2, 3]),
        (path("address.city"), Check::Pattern, 1, vec![2]),
        (path("tags.items"), Check::NotNull, 1, vec![3]),
        (path("tags.items"), Check::Unique, 1, vec![3]),
        (path("tags.items"), Check::Max, 1, vec![2]),
        // boolean does not widen to string: one violation per stored value.
        (path("orders.items.sku"), Check::Type, 2, vec![1, 2]),
        (path("orders.items.sku"), Check::NotNull, 1, vec![2]),
    ];
    // Two row groups / batches, so a list's elements cross a boundary.
    for (label, format, bytes) in [
        ("nested.parquet", Format::Parquet, parquet_bytes(&batch, 2)),
        (
            "nested.arrow",
            Format::Arrow,
            ipc_stream_bytes(&[batch.slice(0, 2), batch.slice(2, 2)]),
        ),
    ] {
        let p = profile(&dir, label, &format, &bytes);
        assert_eq!(found(&p), expected, "{label}");
    }
}

#[test]
fn truncated_and_scrambled_nested_files_never_panic() {
    // Every prefix of each nested file, and each with bytes flipped, is
    // profiled against the nested contract: an error inside the file is an
    // `unreadable` violation, never a panic, and never a CheckError.
    let dir = Dir::new();
    let batch = typed_batch();
    let jsonl =
        br#"{"address":{"zip":1,"city":"Oslo"},"tags":[1,[2]],"orders":[{"sku":{"a":[]}}]}"#;
    let c = nested_contract();
    for (label, format, bytes) in [
        ("t.parquet", Format::Parquet, parquet_bytes(&batch, 2)),
        (
            "t.arrow",
            Format::Arrow,
            ipc_stream_bytes(std::slice::from_ref(&batch)),
        ),
        ("t.jsonl", Format::Jsonl, jsonl.to_vec()),
    ] {
        let step = (bytes.len() / 200).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let mut variants = vec![bytes[..cut].to_vec()];
            let mut flipped = bytes.clone();
            flipped[cut] ^= 0x5a;
            variants.push(flipped);
            for (i, variant) in variants.iter().enumerate() {
                let path = dir.write(&format!("{cut}-{i}-{label}"), variant);
                let p = profile_file(&path, &format, &c);
                assert!(p.is_ok(), "{label} cut {cut}: {p:?}");
            }
        }
    }
}
