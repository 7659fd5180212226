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

fn contract_fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/contracts")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// A draft as the node would sign it, for the exporters.
fn publish(parts: DraftParts, extras: &Extras) -> SignedDescriptor {
    let mut draft = parts.into_draft(&PathBuf::from("orders.csv")).unwrap();
    extras.apply(&mut draft);
    let key = DomainKeypair::from_secret([9; 32]);
    let release = mesh_node::draft::Release {
        version: 1,
        content: Content {
            size: 10,
            chunk_size: 65_536,
            manifest_hash: Hash([5; 32]),
        },
        created_at: Timestamp(1_795_608_000_123),
        deprecation: None,
        profile: None,
    };
    let d = draft.into_descriptor(key.domain_id(), "sales", release);
    d.validate().unwrap();
    signed(d)
}

fn mesh_yaml_draft(text: &str) -> (mesh_node::draft::ProductDraft, Extras) {
    let mut parts = DraftParts::default();
    let mut extras = Extras::default();
    mesh_yaml::import_with(text, "f.yaml", &mut parts, &mut extras).unwrap();
    let mut draft = parts.into_draft(&PathBuf::from("orders.csv")).unwrap();
    extras.apply(&mut draft);
    (draft, extras)
}

#[test]
fn mesh_yaml_says_every_promise_and_round_trips() {
    let (draft, _) = mesh_yaml_draft(&contract_fixture("orders.mesh.yaml"));
    let f = &draft.schema.fields;
    assert!(f[0].constraints.unique);
    assert_eq!(f[0].constraints.min.as_deref(), Some("1"));
    assert_eq!(f[1].constraints.pattern.as_deref(), Some("[^@]+@[^@]+"));
    assert_eq!(f[1].constraints.max_null_percent, Some(5));
    assert_eq!(f[2].constraints.allowed_values, ["new", "paid", "yes"]);
    assert_eq!(f[3].constraints.max.as_deref(), Some("10000.50"));
    assert_eq!(f[5].children[1].children[0].name, "phone");
    assert_eq!(f[6].children[0].children[1].data_type, DataType::Int32);
    assert_eq!(draft.quality.min_rows, Some(1));
    assert_eq!(draft.quality.max_rows, Some(1_000_000));
    assert_eq!(draft.quality.event_time_field.as_deref(), Some("orderedAt"));
    let csv = draft.csv.clone().unwrap();
    assert_eq!((csv.delimiter, csv.quote), (b';', b'\''));
    assert_eq!(csv.null, "NULL");
    assert!(csv.empty_is_value);
    let text = mesh_yaml::export(&draft);
    let (back, _) = mesh_yaml_draft(&text);
    assert_eq!(back, draft, "{text}");
    // The plain importer refuses what the draft cannot carry yet, by name.
    let e = mesh_yaml::import(&text, "f.yaml", &mut DraftParts::default()).unwrap_err();
    assert!(
        e.to_string().contains("quality.min_rows") && e.to_string().contains("csv"),
        "{e}"
    );
}

#[test]
fn mesh_yaml_names_unknown_keys_and_bad_values() {
    for (text, named) in [
        ("name: x\ntitel: typo\n", "titel"),
        ("schema: {fields: [{name: a, type: nope}]}\n", "nope"),
        ("access: everyone\n", "everyone"),
        (
            "schema: {fields: [{name: a, type: int64, constraints: {uniq: true}}]}\n",
            "uniq",
        ),
        (
            "schema: {fields: [{name: a, type: string, constraints: {pattern: \"(\"}}]}\n",
            "pattern",
        ),
        (
            "schema: {fields: [{name: a, type: string, items: [{name: b, type: string}]}]}\n",
            "items",
        ),
        ("quality: {min_row: 3}\n", "min_row"),
        ("csv: {delimiter: \";;\"}\n", "delimiter"),
        ("csv: {delimiter: \",\", quote: \",\"}\n", "csv"),
        ("csv: {seperator: \",\"}\n", "seperator"),
    ] {
        let mut parts = DraftParts::default();
        let mut extras = Extras::default();
        let e = mesh_yaml::import_with(text, "f.yaml", &mut parts, &mut extras).unwrap_err();
        assert!(e.to_string().contains(named), "{text}: {e}");
        assert!(matches!(e, CliError::Usage(_)));
    }
    let mut parts = DraftParts::default();
    let text = "schema: {major: 2, fields: [{name: id, type: int64, nullable: false}]}\naccess: owner-granted\n";
    mesh_yaml::import(text, "f.yaml", &mut parts).unwrap();
    assert_eq!(parts.schema.unwrap().major, 2);
    assert_eq!(parts.access.unwrap().mode, AccessMode::OwnerGranted);
}

fn import_orders_contract(table: Option<&str>) -> (DraftParts, Extras, Vec<standards::Note>) {
    let doc = standards::parse(&contract_fixture("orders.odcs.yaml"), "c").unwrap();
    assert_valid(&odcs_schema(), &doc);
    let (mut parts, mut extras, mut notes) = (DraftParts::default(), Extras::default(), Vec::new());
    odcs::import_with(&doc, "c", table, &mut parts, &mut extras, &mut notes).unwrap();
    parts.name = Some("orders".into());
    (parts, extras, notes)
}

#[test]
fn odcs_constraints_nested_fields_and_rules_import_and_come_back() {
    let (parts, extras, notes) = import_orders_contract(Some("orders"));
    let schema = parts.schema.clone().unwrap();
    let f = &schema.fields;
    assert!(f[0].constraints.unique && !f[0].nullable);
    assert_eq!(f[0].constraints.min.as_deref(), Some("1"));
    assert_eq!(f[0].constraints.max.as_deref(), Some("999999"));
    assert_eq!(f[1].constraints.pattern.as_deref(), Some("[^@]+@[^@]+"));
    assert_eq!(f[1].constraints.max_null_percent, Some(5));
    assert_eq!(f[2].constraints.allowed_values, ["new", "paid"]);
    assert!(f[2].constraints.unique);
    assert_eq!(f[3].constraints.max_null_percent, Some(0));
    assert_eq!(
        f[3].constraints.min.as_deref(),
        Some("2020-01-01T00:00:00Z")
    );
    let phone = &f[4].children[1].children[0];
    assert_eq!(
        (phone.name.as_str(), phone.classification),
        ("phone", Some(Classification::Pii))
    );
    let item = &f[5].children[0];
    assert_eq!(
        (item.name.as_str(), item.data_type),
        ("items", DataType::Object)
    );
    assert_eq!(
        item.children[0].classification,
        Some(Classification::Confidential)
    );
    assert!(!item.children[0].nullable);
    assert_eq!((extras.min_rows, extras.max_rows), (Some(10), Some(5000)));
    assert_eq!(extras.event_time_field.as_deref(), Some("orderedAt"));
    assert_eq!(parts.completeness_percent, Some(98));
    // What does not map is noted, never dropped silently.
    let fields_noted: BTreeSet<&str> = notes.iter().map(|n| n.field.as_str()).collect();
    for expected in [
        "schema[0].quality[2]",
        "schema[0].properties[1].logicalTypeOptions.maxLength",
        "schema[0].properties[2].quality[2]",
        "schema[1]",
        "team.members[1]",
    ] {
        assert!(
            fields_noted.contains(expected),
            "{expected} not noted: {fields_noted:?}"
        );
    }
    // The nested pii is seen by the protocol, and everything comes back.
    let d = publish(parts.clone(), &extras);
    assert!(d.value.has_pii());
    let contract = odcs::export(&d);
    assert_valid(&odcs_schema(), &contract);
    let p = &contract["schema"][0]["properties"];
    assert_eq!(p[0]["unique"], true);
    assert_eq!(p[0]["logicalTypeOptions"]["minimum"], 1);
    assert_eq!(p[1]["logicalTypeOptions"]["pattern"], "[^@]+@[^@]+");
    assert_eq!(
        p[4]["properties"][1]["properties"][0]["classification"],
        "pii"
    );
    assert_eq!(
        p[5]["items"]["properties"][0]["classification"],
        "confidential"
    );
    let (mut parts2, mut extras2, mut notes2) =
        (DraftParts::default(), Extras::default(), Vec::new());
    odcs::import_with(&contract, "e", None, &mut parts2, &mut extras2, &mut notes2).unwrap();
    assert!(notes2.is_empty(), "{notes2:#?}");
    assert_eq!(parts2.schema, parts.schema);
    assert_eq!(extras2, extras);
    assert_eq!(parts2.completeness_percent, parts.completeness_percent);
    assert_eq!(
        (parts2.owner_name, parts2.owner_email),
        (parts.owner_name, parts.owner_email)
    );
    // The plain importer notes what the draft cannot carry yet.
    let mut notes3 = Vec::new();
    odcs::import(
        &contract,
        "e",
        None,
        &mut DraftParts::default(),
        &mut notes3,
    )
    .unwrap();
    let later: BTreeSet<&str> = notes3.iter().map(|n| n.field.as_str()).collect();
    assert!(
        later.contains("quality.min_rows") && later.contains("quality.event_time_field"),
        "{later:?}"
    );
}

#[test]
fn a_multi_table_contract_needs_table() {
    let doc = standards::parse(&contract_fixture("orders.odcs.yaml"), "c").unwrap();
    let mut notes = Vec::new();
    let e = odcs::import(&doc, "c", None, &mut DraftParts::default(), &mut notes).unwrap_err();
    assert!(matches!(e, CliError::Usage(_)), "{e}");
    assert!(
        e.to_string().contains("orders, receivers") && e.to_string().contains("--table"),
        "{e}"
    );
    let e = odcs::import(
        &doc,
        "c",
        Some("nope"),
        &mut DraftParts::default(),
        &mut notes,
    )
    .unwrap_err();
    assert!(e.to_string().contains("orders, receivers"), "{e}");
    let (parts, _, _) = import_orders_contract(Some("receivers"));
    let fields = parts.schema.unwrap().fields;
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].name, "id");
    // The command line: refused before any node is asked, exit 2.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("orders.csv");
    let contract = dir.path().join("c.yaml");
    std::fs::write(&data, "id\n1\n").unwrap();
    std::fs::write(&contract, contract_fixture("orders.odcs.yaml")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesh"))
        .args(["--api", "127.0.0.1:9", "--token", "t", "publish"])
        .arg(&data)
        .arg("--contract")
        .arg(&contract)
        .args(["--name", "orders"])
        .env_remove("MESH_TOKEN_FILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("orders, receivers"), "{stderr}");
}

#[test]
fn owner_status_and_version_round_trip_and_ports_stay() {
    let (parts, extras, _) = import_orders_contract(Some("orders"));
    assert_eq!(parts.owner_name.as_deref(), Some("Sales data"));
    assert_eq!(parts.owner_email.as_deref(), Some("data@sales.example"));
    let d = publish(parts, &extras);
    let contract = odcs::export(&d);
    assert_eq!(contract["status"], "draft");
    assert_eq!(contract["version"], "1.2.3");
    assert!(contract.get("tags").is_none(), "{contract:#}");
    let product = odps::export(&d, true);
    assert_eq!(product["status"], "draft");
    assert_valid(&odps_schema(), &product);
    // An ODPS owner wins over the contract's team, with a note.
    let mut parts = DraftParts {
        owner_name: Some("Other".into()),
        ..DraftParts::default()
    };
    let mut notes = Vec::new();
    odcs::import(&contract, "c", None, &mut parts, &mut notes).unwrap();
    assert_eq!(parts.owner_name.as_deref(), Some("Other"));
    assert!(notes.iter().any(|n| n.field == "team"), "{notes:#?}");
    // A version that cannot be kept is noted; the port is the product's own.
    let mut doc = contract.clone();
    doc["version"] = Value::from("2.0.0+Build.7");
    let mut notes = Vec::new();
    odcs::import(&doc, "c", None, &mut DraftParts::default(), &mut notes).unwrap();
    assert!(notes.iter().any(|n| n.field == "version"), "{notes:#?}");
    let plain = odps::export(&d, false);
    let mut linked = product["outputPorts"].clone();
    assert_eq!(
        linked[0]["contractId"],
        Value::from(odps::contract_id(&d.value.id))
    );
    linked[0].as_object_mut().unwrap().remove("contractId");
    assert_eq!(linked, plain["outputPorts"]);
}

#[test]
fn exported_yaml_reads_back_as_strings_in_pyyaml() {
    let mut d = full().value;
    d.title = "yes".into();
    d.description = "2026-11-25".into();
    d.tags = BTreeSet::from(["no".to_owned(), "on".to_owned(), "off".to_owned()]);
    let d = signed(d);
    for doc in [odps::export(&d, true), odcs::export(&d)] {
        let text = standards::render(&doc, &PathBuf::from("x.yaml")).unwrap();
        assert!(
            text.contains("\"2026-11-25T12:00:00.123Z\"") || doc["kind"] == "DataContract",
            "{text}"
        );
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(text.as_bytes())?;
                child.wait_with_output()
            })
            .expect("python3 with PyYAML (apt python3-yaml) is needed for this test");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "PyYAML could not read the export: {stderr}\n{text}"
        );
        let back: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(back, doc, "{text}");
    }
}
