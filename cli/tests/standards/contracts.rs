//! The contract side of the mapping: mesh YAML and ODCS constraints,
//! nested fields, quality rules, tables, owners and versions, and YAML that
//! other readers type the same way.

use super::*;

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
        derivation: None,
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
