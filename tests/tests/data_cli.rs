//! The data commands of the real `mesh` binary against a real `meshd`:
//! `schema infer` drafts a schema from a file, `publish` signs the profile
//! and says whether the data keeps its contract, `show`/`list` show it, and
//! `check` re-runs it with the documented exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::fmt::Write as _;

use mesh_tests::cli::{fails, mesh, stdout_json, wait_json, write};
use mesh_tests::daemon::start;

const ORDERS: &str = "id,customerEmail,amount,placed\n\
1,a@x.org,10.5,2026-01-02\n\
2,,20,2026-01-03\n\
3,c@x.org,30,2026-01-04\n";

#[test]
fn schema_infer_drafts_types_and_nulls_from_the_data() {
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "orders.csv", ORDERS);
    let out = mesh(None, &["schema", "infer", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains("- name: id\n      type: int32\n      nullable: false"),
        "{yaml}"
    );
    assert!(
        yaml.contains("- name: customerEmail\n      type: string\n      nullable: true"),
        "{yaml}"
    );
    assert!(
        yaml.contains("- name: amount\n      type: float64"),
        "{yaml}"
    );
    assert!(yaml.contains("- name: placed\n      type: date"), "{yaml}");
    assert!(
        yaml.contains("classification: null"),
        "classification is left open: {yaml}"
    );

    let json = stdout_json(&mesh(None, &["schema", "infer", &file, "--json"]));
    assert_eq!(json["rows"], 3);
    assert_eq!(json["fields"].as_array().unwrap().len(), 4);

    let odcs = mesh(None, &["schema", "infer", &file, "--odcs"]);
    assert!(
        odcs.status.success(),
        "{}",
        String::from_utf8_lossy(&odcs.stderr)
    );
    let odcs = String::from_utf8(odcs.stdout).unwrap();
    assert!(
        odcs.contains("properties:") && odcs.contains("customerEmail"),
        "{odcs}"
    );

    // Column names a YAML 1.1 reader would retype (a boolean, a date) are
    // quoted in both forms, so the draft reads back as the same names.
    let odd = write(work.path(), "odd.csv", "yes,2026-01-01,plain\n1,2,3\n");
    for extra in [None, Some("--odcs")] {
        let mut args = vec!["schema", "infer", odd.as_str()];
        args.extend(extra);
        let out = String::from_utf8(mesh(None, &args).stdout).unwrap();
        assert!(out.contains("name: \"yes\""), "{extra:?}: {out}");
        assert!(out.contains("name: \"2026-01-01\""), "{extra:?}: {out}");
        assert!(out.contains("name: plain"), "{extra:?}: {out}");
    }

    fails(
        &mesh(None, &["schema", "infer", "/nonexistent.csv"]),
        2,
        "not a readable file",
    );
    fails(
        &mesh(None, &["schema", "infer", &file, "--format", "avro"]),
        2,
        "meshd reads csv, jsonl, parquet and arrow",
    );
    let ragged = write(work.path(), "ragged.csv", "a,b\n1,2\n3\n");
    fails(&mesh(None, &["schema", "infer", &ragged]), 1, "row 2");
}

#[test]
#[allow(clippy::too_many_lines, reason = "one end-to-end story, step by step")]
fn publish_show_list_and_check_carry_the_contract_verdict() {
    let a = start("sales", None);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "orders.csv", ORDERS);
    // customerEmail is declared required; row 2 has none.
    let descriptor = write(
        work.path(),
        "orders.yaml",
        "title: Orders\nschema: {fields: [{name: id, type: int64, nullable: false}, \
         {name: customerEmail, type: string, nullable: false}, {name: amount, type: decimal}, \
         {name: placed, type: date}]}\n",
    );
    let published = stdout_json(&mesh(
        Some(&a),
        &[
            "publish",
            &file,
            "--name",
            "orders",
            "--descriptor",
            &descriptor,
            "--json",
        ],
    ));
    assert_eq!(published["data"], "contract-broken");
    assert_eq!(published["profile"]["rows"], 3);
    let violations = published["profile"]["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0]["field"], "customerEmail");
    assert_eq!(violations[0]["check"], "not-null");
    assert_eq!(violations[0]["first_rows"], serde_json::json!([2]));

    let listed = wait_json(&a, &["list", "--json"], |v| {
        v.as_array().is_some_and(|l| l.len() == 1)
    });
    assert_eq!(listed[0]["data"], "contract-broken");
    assert_eq!(listed[0]["violations"], 1);
    let table = String::from_utf8(mesh(Some(&a), &["list"]).stdout).unwrap();
    assert!(table.contains("CONTRACT BROKEN (1)"), "{table}");
    let shown = String::from_utf8(mesh(Some(&a), &["show", "sales/orders"]).stdout).unwrap();
    assert!(shown.contains("CONTRACT BROKEN (1) over 3 rows"), "{shown}");
    assert!(shown.contains("customerEmail: not-null"), "{shown}");

    // `mesh check`: exit 1 with every violation, --json with the verdict.
    let check = mesh(Some(&a), &["check", "sales/orders"]);
    assert_eq!(check.status.code(), Some(1));
    let text = String::from_utf8(check.stdout).unwrap();
    assert!(text.contains("CONTRACT BROKEN (1)"), "{text}");
    assert!(text.contains("signed profile: matches"), "{text}");
    let check = mesh(Some(&a), &["check", "sales/orders", "--json"]);
    assert_eq!(check.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(report["conforms"], false);
    assert_eq!(report["signed"], "matches");

    // A clean version: exit 0.
    let clean = write(
        work.path(),
        "clean.csv",
        &ORDERS.replace(",,20", ",b@x.org,20"),
    );
    let published = stdout_json(&mesh(
        Some(&a),
        &[
            "publish",
            &clean,
            "--name",
            "orders",
            "--descriptor",
            &descriptor,
            "--json",
        ],
    ));
    assert_eq!(published["data"], "conforms");
    let check = mesh(Some(&a), &["check", "sales/orders"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // `mesh preview`: the first rows, as a table or JSON.
    let shown = stdout_json(&mesh(
        Some(&a),
        &["preview", "sales/orders", "--rows", "2", "--json"],
    ));
    assert_eq!(
        shown["columns"],
        serde_json::json!(["id", "customerEmail", "amount", "placed"])
    );
    assert_eq!(
        shown["rows"],
        serde_json::json!([
            ["1", "a@x.org", "10.5", "2026-01-02"],
            ["2", "b@x.org", "20", "2026-01-03"]
        ])
    );
    let table = String::from_utf8(mesh(Some(&a), &["preview", "sales/orders"]).stdout).unwrap();
    assert!(
        table.contains("c@x.org") && table.contains("(3 rows of sales/orders version 2)"),
        "{table}"
    );
    fails(
        &mesh(Some(&a), &["preview", "sales/orders", "--rows", "0"]),
        2,
        "--rows",
    );

    fails(&mesh(Some(&a), &["check", "sales/nothing"]), 1, "nothing");
    fails(&mesh(Some(&a), &["check"]), 2, "required arguments");
}

/// A consumer previews a product it does not hold: only the chunks the
/// rows need are fetched (asserted on the node's counters), the product is
/// not recorded as held, and a later full fetch resumes from them. A
/// product the consumer may not read is refused like a fetch.
#[test]
#[allow(clippy::too_many_lines, reason = "one end-to-end story, step by step")]
fn remote_preview_fetches_only_the_chunks_it_needs() {
    let a = start("sales", None);
    let b = start("marketing", Some(&a.addr));
    let work = tempfile::tempdir().unwrap();
    // About 200 KiB of rows in 4 KiB chunks: some 50 chunks.
    let mut csv = String::from("id,label\n");
    for i in 0..8000 {
        let _ = writeln!(csv, "{i},row-{i:08}-xxxxxxxx");
    }
    let file = write(work.path(), "events.csv", &csv);
    let descriptor = write(
        work.path(),
        "events.yaml",
        "title: Events\nchunk_size: 4096\nschema: {fields: [{name: id, type: int64, nullable: false}, \
         {name: label, type: string}]}\n",
    );
    let published = stdout_json(&mesh(
        Some(&a),
        &[
            "publish",
            &file,
            "--name",
            "events",
            "--descriptor",
            &descriptor,
            "--json",
        ],
    ));
    assert_eq!(published["data"], "conforms", "{published}");
    let secret = write(
        work.path(),
        "secret.yaml",
        "title: Secret\naccess: owner-granted\nschema: {fields: [{name: id, type: int64}, \
         {name: label, type: string}]}\n",
    );
    mesh(
        Some(&a),
        &[
            "publish",
            &file,
            "--name",
            "secret",
            "--descriptor",
            &secret,
            "--json",
        ],
    );
    wait_json(&b, &["list", "--json"], |v| {
        v.as_array().is_some_and(|l| l.len() == 2)
    });

    let shown = stdout_json(&mesh(
        Some(&b),
        &["preview", "sales/events", "--rows", "3", "--json"],
    ));
    assert_eq!(shown["columns"], serde_json::json!(["id", "label"]));
    assert_eq!(
        shown["rows"],
        serde_json::json!([
            ["0", "row-00000000-xxxxxxxx"],
            ["1", "row-00000001-xxxxxxxx"],
            ["2", "row-00000002-xxxxxxxx"]
        ])
    );
    assert_eq!(shown["held"], false);
    let total = shown["chunks_total"].as_u64().unwrap();
    let held = shown["chunks_held"].as_u64().unwrap();
    assert!(total >= 40, "{shown}");
    assert!((1..=2).contains(&held), "fetched {held} of {total} chunks");
    let text = String::from_utf8(mesh(Some(&b), &["preview", "sales/events"]).stdout).unwrap();
    assert!(
        text.contains("row-00000009") && text.contains(&format!("of its {total} chunks")),
        "{text}"
    );
    // Not held: a check still has to fetch it, and the node's fetch
    // counter moved by the preview's chunks only.
    let metrics = String::from_utf8(b.get("/metrics").body).unwrap();
    let fetched: f64 = metrics
        .lines()
        .find(|l| l.starts_with("meshd_fetched_bytes_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(
        fetched > 0.0 && fetched <= 3.0 * 4096.0,
        "fetched {fetched} bytes for a preview"
    );
    // A full fetch resumes from the previewed chunks.
    let out = work.path().join("events-copy.csv");
    let fetch = stdout_json(&mesh(
        Some(&b),
        &[
            "fetch",
            "sales/events",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(fetch["verified"], true, "{fetch}");
    assert_eq!(fetch["chunks_resumed"].as_u64(), Some(held), "{fetch}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), csv);

    // Access is checked as for a fetch.
    fails(
        &mesh(Some(&b), &["preview", "sales/secret"]),
        1,
        "mesh request",
    );
}
