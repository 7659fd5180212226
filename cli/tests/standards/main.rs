//! ODPS and ODCS import and export against the official Bitol JSON Schemas
//! (vendored in `tests/fixtures/schemas` with their licence).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use mesh_cli::draft_parts::DraftParts;
use mesh_cli::error::CliError;
use mesh_cli::mesh_yaml;
use mesh_cli::standards::{self, Extras, odcs, odps};
use mesh_protocol::descriptor::{
    AccessMode, AccessPolicy, Classification, Content, DataType, Deprecation, Descriptor, Field,
    Format, Owner, Quality, Schema,
};
use mesh_protocol::{DomainKeypair, Hash, ProductId, Signed, SignedDescriptor, Timestamp};
use serde_json::Value;

mod contracts;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/schemas")
        .join(name)
}

fn validator(schema: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(fixture(schema)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft201909::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

fn odps_schema() -> jsonschema::Validator {
    validator("odps-json-schema-v1.0.0.json")
}

fn odcs_schema() -> jsonschema::Validator {
    validator("odcs-json-schema-v3.1.0.json")
}

fn signed(descriptor: Descriptor) -> SignedDescriptor {
    Signed::sign(descriptor, &DomainKeypair::from_secret([9; 32]))
}

/// A descriptor that uses every field.
fn full() -> SignedDescriptor {
    let key = DomainKeypair::from_secret([9; 32]);
    let other = DomainKeypair::from_secret([8; 32]).domain_id();
    signed(Descriptor {
        id: ProductId {
            domain: key.domain_id(),
            name: "orders".into(),
        },
        domain_name: "sales".into(),
        version: 7,
        title: "Daily orders".into(),
        description: "Every order, one line each.".into(),
        owner: Owner {
            name: "Sales data".into(),
            email: "data@sales.example".into(),
        },
        schema: Schema {
            major: 3,
            fields: vec![
                field("id", DataType::Int64, false, Some(Classification::Internal)),
                field("small", DataType::Int32, true, None),
                field("ratio", DataType::Float32, true, None),
                field("amount", DataType::Decimal, true, None),
                field("score", DataType::Float64, true, None),
                field("email", DataType::String, true, Some(Classification::Pii)),
                field(
                    "blob",
                    DataType::Binary,
                    true,
                    Some(Classification::Confidential),
                ),
                field("day", DataType::Date, false, Some(Classification::Public)),
                field("at", DataType::Timestamp, false, None),
                field("flag", DataType::Boolean, false, None),
                field("meta", DataType::Object, true, None),
                field("items", DataType::Array, true, None),
            ],
        },
        format: Format::Parquet,
        content: Content {
            size: 123_456,
            chunk_size: 65_536,
            manifest_hash: Hash([5; 32]),
        },
        tags: BTreeSet::from(["daily".to_owned(), "orders".to_owned()]),
        quality: Quality {
            freshness_secs: Some(3600),
            completeness_percent: Some(98),
            min_rows: None,
            max_rows: None,
            event_time_field: None,
        },
        lineage: vec![ProductId {
            domain: other,
            name: "customers".into(),
        }],
        access: AccessPolicy {
            mode: AccessMode::Domains(BTreeSet::from([other])),
            reshare: false,
        },
        retention_days: Some(365),
        created_at: Timestamp(1_795_608_000_123),
        deprecation: Some(Deprecation {
            reason: "use orders-v2".into(),
            successor: None,
        }),
        csv: None,
        profile: None,
        derivation: None,
    })
}

fn field(name: &str, t: DataType, nullable: bool, c: Option<Classification>) -> Field {
    Field {
        name: name.into(),
        data_type: t,
        nullable,
        classification: c,
        description: format!("the {name}"),
        constraints: mesh_protocol::contract::Constraints::default(),
        children: Vec::new(),
    }
}

#[test]
fn exports_validate_against_the_official_schemas() {
    let d = full();
    assert_valid(&odps_schema(), &odps::export(&d, true));
    assert_valid(&odps_schema(), &odps::export(&d, false));
    assert_valid(&odcs_schema(), &odcs::export(&d));
    // A bare descriptor too (no owner, schema, tags, quality).
    let mut bare = d.value.clone();
    bare.owner = Owner::default();
    bare.schema = Schema::default();
    bare.tags.clear();
    bare.quality = Quality::default();
    bare.lineage.clear();
    bare.retention_days = None;
    bare.description.clear();
    bare.deprecation = None;
    let bare = signed(bare);
    assert_valid(&odps_schema(), &odps::export(&bare, false));
    assert_valid(&odcs_schema(), &odcs::export(&bare));
    // Both written formats parse back to the same document.
    let doc = odps::export(&d, true);
    for ext in ["yaml", "json"] {
        let text = standards::render(&doc, &PathBuf::from(format!("x.{ext}"))).unwrap();
        assert_eq!(standards::parse(&text, "x").unwrap(), doc);
    }
}

#[test]
fn the_validator_really_rejects_what_the_standards_forbid() {
    let mut doc = odps::export(&full(), true);
    doc["extra"] = Value::from(1);
    assert!(
        !odps_schema().is_valid(&doc),
        "extra top-level key accepted"
    );
    let mut contract = odcs::export(&full());
    contract["schema"][0]["properties"][0]["logicalType"] = Value::from("int64");
    assert!(
        !odcs_schema().is_valid(&contract),
        "bad logicalType accepted"
    );
}

#[test]
fn export_then_import_gives_back_the_draft_noting_only_deprecation() {
    let d = full();
    let mut parts = DraftParts::default();
    let mut notes = Vec::new();
    odps::import(&odps::export(&d, true), "odps", &mut parts, &mut notes).unwrap();
    odcs::import(&odcs::export(&d), "odcs", None, &mut parts, &mut notes).unwrap();
    let v = &d.value;
    // Deprecation is set with `mesh deprecate`, not by publishing: the only
    // notes are about it.
    let fields: BTreeSet<&str> = notes.iter().map(|n| n.field.as_str()).collect();
    assert_eq!(
        fields,
        BTreeSet::from(["status", "customProperties.meshDeprecationReason"]),
        "{notes:#?}"
    );
    parts.name = Some(v.id.name.clone());
    assert_eq!(parts.claimed_domain.as_deref(), Some("sales"));
    let draft = parts.into_draft(&PathBuf::from("orders.parquet")).unwrap();
    assert_eq!(draft.title, v.title);
    assert_eq!(draft.description, v.description);
    assert_eq!(draft.owner, v.owner);
    assert_eq!(draft.schema, v.schema);
    assert_eq!(draft.format, v.format);
    assert_eq!(draft.tags, v.tags);
    assert_eq!(draft.quality, v.quality);
    assert_eq!(draft.lineage, v.lineage);
    assert_eq!(draft.access, v.access);
    assert_eq!(draft.retention_days, v.retention_days);
}

#[test]
fn the_upstream_examples_import_with_every_unmapped_field_reported() {
    let text = std::fs::read_to_string(fixture("odps-example.yaml")).unwrap();
    let doc = standards::parse(&text, "odps-example.yaml").unwrap();
    assert_valid(&odps_schema(), &doc);
    let mut parts = DraftParts::default();
    let mut notes = Vec::new();
    odps::import(&doc, "odps-example.yaml", &mut parts, &mut notes).unwrap();
    assert_eq!(parts.title.as_deref(), Some("Customer Data Product"));
    assert_eq!(
        parts.description.as_deref(),
        Some("Enterprise view of a customer.")
    );
    assert!(parts.tags.contains("customer"));
    assert_eq!(parts.claimed_domain.as_deref(), Some("seller"));
    let fields: Vec<&str> = notes.iter().map(|n| n.field.as_str()).collect();
    for expected in [
        "id",
        "tenant",
        "description.limitations",
        "description.usage",
        "inputPorts[0]",
        "outputPorts[1]",
        "managementPorts",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} not reported: {fields:?}"
        );
    }

    let text = std::fs::read_to_string(fixture("odcs-example.yaml")).unwrap();
    let doc = standards::parse(&text, "odcs-example.yaml").unwrap();
    assert_valid(&odcs_schema(), &doc);
    let mut notes = Vec::new();
    odcs::import(
        &doc,
        "odcs-example.yaml",
        Some("tbl"),
        &mut parts,
        &mut notes,
    )
    .unwrap();
    let schema = parts.schema.clone().unwrap();
    assert!(!schema.fields.is_empty());
    let first = &doc["schema"][0]["properties"][0];
    assert_eq!(schema.fields[0].name, first["name"].as_str().unwrap());
    let fields: Vec<&str> = notes.iter().map(|n| n.field.as_str()).collect();
    for expected in ["servers", "team", "roles", "price"] {
        assert!(
            fields.iter().any(|f| f.starts_with(expected)),
            "{expected} not reported: {fields:?}"
        );
    }
    // Every note names its standard and a reason.
    assert!(
        notes
            .iter()
            .all(|n| n.standard == "ODCS" && !n.reason.is_empty())
    );
}
