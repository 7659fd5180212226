//! The `mesh` CLI end to end: real `meshd` processes and the real `mesh`
//! binary on loopback, as a newcomer would use them.
#![allow(
    clippy::unwrap_used,
    reason = "end-to-end tests: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::process::Command;

use mesh_tests::cli::{create_federation, fails, mesh, stdout_json, wait_json, write};
use mesh_tests::daemon::{Daemon, start};
use mesh_tests::mesh_binary;
use serde_json::Value;

#[test]
fn publish_on_a_list_on_b_fetch_on_c() {
    let a = start("sales", None);
    let b = start("logistics", Some(&a.addr));
    let c = start("finance", Some(&a.addr));
    let work = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = work.path().join("orders.csv");
    std::fs::write(&file, &data).unwrap();
    let descriptor = write(
        work.path(),
        "orders.yaml",
        "title: Daily orders\nowner: {name: Sales data, email: data@sales.example}\n\
         schema: {fields: [{name: id, type: int64, nullable: false}, {name: email, type: string, classification: pii}]}\n\
         quality: {freshness_secs: 86400}\n",
    );

    let published = stdout_json(&mesh(
        Some(&a),
        &[
            "publish",
            file.to_str().unwrap(),
            "--name",
            "orders",
            "--descriptor",
            &descriptor,
            "--tag",
            "daily",
            "--json",
        ],
    ));
    assert_eq!(published["version"], 1);
    assert_eq!(published["name"], "orders");
    assert_eq!(published["domain_name"], "sales");
    assert_eq!(published["size"], 3_000_000);
    assert_eq!(published["manifest_hash"].as_str().unwrap().len(), 64);
    let product = published["product"].as_str().unwrap().to_owned();

    // B finds it by tag, by classification and by text, with the documented fields.
    let listed = wait_json(&b, &["list", "--tag", "daily", "--json"], |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    });
    let item = &listed[0];
    for field in [
        "product",
        "domain_id",
        "domain_name",
        "name",
        "version",
        "title",
        "format",
        "size",
        "tags",
        "deprecated",
        "manifest_hash",
    ] {
        assert!(!item[field].is_null(), "list --json lacks {field}");
    }
    assert_eq!(item["product"], product.as_str());
    assert_eq!(item["title"], "Daily orders");
    assert_eq!(item["format"], "csv");
    let pii = stdout_json(&mesh(
        Some(&b),
        &["list", "--classification", "pii", "--json"],
    ));
    assert_eq!(pii.as_array().unwrap().len(), 1);
    let none = stdout_json(&mesh(
        Some(&b),
        &["list", "--text", "no such words", "--json"],
    ));
    assert_eq!(none, serde_json::json!([]));
    let table = mesh(Some(&b), &["list"]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("PRODUCT"), "{table}");
    assert!(table.contains("sales/orders"), "{table}");

    // show: by domain name, signature checked, providers found.
    let shown = stdout_json(&mesh(Some(&b), &["show", "sales/orders", "--json"]));
    assert_eq!(shown["product"], product.as_str());
    assert_eq!(shown["signature_valid"], true);
    assert_eq!(shown["versions"], serde_json::json!([1]));
    assert_eq!(shown["providers"], serde_json::json!([a.peer_id]));
    let text = String::from_utf8(mesh(Some(&b), &["show", "sales/orders"]).stdout).unwrap();
    assert!(
        text.contains("signature") && text.contains("valid"),
        "{text}"
    );
    assert!(text.contains("email string [pii]"), "{text}");

    // C fetches and the bytes are the original's.
    wait_json(&c, &["list", "--json"], |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    });
    let out = work.path().join("fetched.csv");
    let fetched = stdout_json(&mesh(
        Some(&c),
        &[
            "fetch",
            "sales/orders",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(fetched["verified"], true);
    assert_eq!(fetched["size"], 3_000_000);
    assert_eq!(fetched["manifest_hash"], published["manifest_hash"]);
    assert_eq!(std::fs::read(&out).unwrap(), data);
}

#[test]
fn connection_failures_exit_1_with_one_line_saying_what_to_do() {
    let a = start("sales", None);

    // No daemon at the data directory: say how to start one.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(mesh_binary())
        .args(["--data-dir", empty.path().to_str().unwrap(), "status"])
        .env_remove("MESH_API")
        .env_remove("MESH_TOKEN")
        .output()
        .unwrap();
    fails(&out, 1, "meshd run");
    // No daemon at MESH_API.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = Command::new(mesh_binary())
        .arg("status")
        .env("MESH_API", format!("127.0.0.1:{port}"))
        .env("MESH_TOKEN", "x")
        .output()
        .unwrap();
    fails(&out, 1, "no meshd API answers");
    // Wrong token.
    fails(
        &mesh(Some(&a), &["--token", "wrong", "status"]),
        1,
        "refused the API token",
    );
    // MESH_API and MESH_TOKEN work without a data directory.
    let out = Command::new(mesh_binary())
        .args(["status", "--json"])
        .env("MESH_API", a.api.to_string())
        .env("MESH_TOKEN", &a.token)
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out)["domain_name"], "sales");
}

#[test]
fn bad_input_exits_with_documented_codes_and_changes_nothing() {
    let a = start("sales", None);
    let work = tempfile::tempdir().unwrap();
    // Unknown product: say how to list.
    fails(&mesh(Some(&a), &["show", "sales/nothing"]), 1, "mesh list");
    fails(
        &mesh(Some(&a), &["fetch", "sales/nothing", "-o", "/tmp/x"]),
        1,
        "mesh list",
    );

    // Missing file and invalid descriptor files change nothing.
    fails(
        &mesh(
            Some(&a),
            &["publish", "/nonexistent/file.csv", "--name", "x"],
        ),
        2,
        "/nonexistent/file.csv",
    );
    let file = write(work.path(), "data.csv", "a,b\n1,2\n");
    let typo = write(work.path(), "typo.yaml", "name: x\ntitel: oops\n");
    fails(
        &mesh(Some(&a), &["publish", &file, "--descriptor", &typo]),
        2,
        "titel",
    );
    let odps = write(
        work.path(),
        "bad.odps.yaml",
        "apiVersion: v1.0.0\nkind: DataProduct\nstatus: active\n",
    );
    fails(
        &mesh(
            Some(&a),
            &["publish", &file, "--name", "x", "--descriptor", &odps],
        ),
        2,
        "`id` is required",
    );
    let bad_type = write(
        work.path(),
        "bad.odcs.yaml",
        "apiVersion: v3.1.0\nkind: DataContract\nid: c\nversion: 1.0.0\nstatus: active\n\
         schema: [{name: t, properties: [{name: a, logicalType: nonsense}]}]\n",
    );
    fails(
        &mesh(
            Some(&a),
            &["publish", &file, "--name", "x", "--contract", &bad_type],
        ),
        2,
        "nonsense",
    );
    fails(
        &mesh(Some(&a), &["publish", &file, "--name", "Bad Name!"]),
        2,
        "invalid descriptor",
    );
    let status = stdout_json(&mesh(Some(&a), &["status", "--json"]));
    assert_eq!(status["catalog_size"], 0, "nothing was published");

    // Bad arguments: exit 2.
    for args in [
        &["frobnicate"][..],
        &["fetch", "sales/orders"],
        &["show", "no-slash"],
        &["list", "--limit", "3"],
        &["completions", "tcsh"],
    ] {
        fails(&mesh(Some(&a), args), 2, "see `mesh --help`");
    }
    // Help and completions succeed.
    assert!(mesh(None, &["--help"]).status.success());
    let bash = mesh(None, &["completions", "bash"]);
    assert!(bash.status.success());
    assert!(String::from_utf8_lossy(&bash.stdout).contains("_mesh"));
}

#[test]
fn status_peers_deprecate_and_withdraw() {
    let a = start("sales", None);
    let b = start("logistics", Some(&a.addr));
    let c = start("finance", Some(&a.addr));
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "orders.csv", "id\n1\n");
    stdout_json(&mesh(
        Some(&a),
        &["publish", &file, "--name", "orders", "--json"],
    ));
    wait_json(&c, &["list", "--json"], |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    });
    wait_json(&b, &["list", "--json"], |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    });

    // status and peers, as JSON with the documented fields.
    let status = stdout_json(&mesh(Some(&c), &["status", "--json"]));
    assert_eq!(status["domain_name"], "finance");
    assert!(status["peers"].as_u64().unwrap() >= 1);
    assert_eq!(status["catalog_size"], 1);
    let peers = stdout_json(&mesh(Some(&a), &["peers", "--json"]));
    let ids: Vec<&str> = peers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["peer_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&b.peer_id.as_str()) && ids.contains(&c.peer_id.as_str()));

    // The owner deprecates, then withdraws; B sees both.
    let dep = stdout_json(&mesh(
        Some(&a),
        &[
            "deprecate",
            "sales/orders",
            "--reason",
            "use orders-v2",
            "--json",
        ],
    ));
    assert_eq!(dep["version"], 2);
    wait_json(&b, &["list", "--all", "--json"], |v| {
        v[0]["deprecated"] == true
    });
    let wd = stdout_json(&mesh(Some(&a), &["withdraw", "orders", "--json"]));
    assert_eq!(wd["version"], 3);
    wait_json(&b, &["list", "--all", "--json"], |v| {
        v == &serde_json::json!([])
    });
    // A withdrawn product is still found by its domain's name.
    let shown = stdout_json(&mesh(Some(&b), &["show", "sales/orders", "--json"]));
    assert_eq!(shown["withdrawn"], true);
    assert_eq!(shown["versions"], serde_json::json!([3, 2, 1]));
    fails(
        &mesh(Some(&b), &["fetch", "sales/orders", "-o", "/tmp/never"]),
        1,
        "withdrawn",
    );
    // Only the owner can withdraw.
    fails(
        &mesh(Some(&b), &["withdraw", "sales/orders"]),
        2,
        "only a product's owner",
    );
}

fn schema_validator(file: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cli/tests/fixtures/schemas")
        .join(file);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft201909::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

#[test]
#[allow(
    clippy::similar_names,
    reason = "odps and odcs are the standards' names"
)]
fn bitol_files_publish_and_export_through_the_cli() {
    let a = start("seller", None);
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "customers.csv", "id,name\n1,Ada\n");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/fixtures/schemas");
    let odps_in = fixtures.join("odps-example.yaml");
    let odcs_in = fixtures.join("odcs-example.yaml");
    let published = stdout_json(&mesh(
        Some(&a),
        &[
            "publish",
            &file,
            "--name",
            "customers",
            "--descriptor",
            odps_in.to_str().unwrap(),
            "--contract",
            odcs_in.to_str().unwrap(),
            "--table",
            "tbl",
            "--json",
        ],
    ));
    let notes: Vec<&str> = published["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["field"].as_str().unwrap())
        .collect();
    assert!(notes.contains(&"managementPorts"), "{notes:?}");
    assert!(notes.contains(&"servers"), "{notes:?}");
    // Without --json the same notes go to stderr, one per line.
    let again = mesh(
        Some(&a),
        &[
            "publish",
            &file,
            "--name",
            "customers",
            "--descriptor",
            odps_in.to_str().unwrap(),
        ],
    );
    assert!(again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("mesh: note: ODPS `managementPorts`")),
        "{stderr}"
    );

    let odps_out = work.path().join("out.odps.yaml");
    let odcs_out = work.path().join("out.odcs.json");
    let exported = stdout_json(&mesh(
        Some(&a),
        &[
            "export",
            "seller/customers",
            "--odps",
            odps_out.to_str().unwrap(),
            "--odcs",
            odcs_out.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(exported["version"], 2);
    let odps: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&odps_out).unwrap()).unwrap();
    let odcs: Value = serde_json::from_str(&std::fs::read_to_string(&odcs_out).unwrap()).unwrap();
    let odps_schema = schema_validator("odps-json-schema-v1.0.0.json");
    let odcs_schema = schema_validator("odcs-json-schema-v3.1.0.json");
    assert!(odps_schema.is_valid(&odps), "{odps:#}");
    assert!(odcs_schema.is_valid(&odcs), "{odcs:#}");
    assert_eq!(odps["name"], "Customer Data Product");
    assert_eq!(odps["version"], "2");
    assert_eq!(
        odps["outputPorts"][0]["contractId"], odcs["id"],
        "the product links its contract"
    );
    // The exported pair publishes again with no notes but the domain's.
    let republished = stdout_json(&mesh(
        Some(&a),
        &[
            "publish",
            &file,
            "--descriptor",
            odps_out.to_str().unwrap(),
            "--contract",
            odcs_out.to_str().unwrap(),
            "--name",
            "customers",
            "--json",
        ],
    ));
    assert_eq!(republished["version"], 3);
    assert_eq!(republished["notes"], serde_json::json!([]));
}

#[test]
fn demo_runs_three_nodes_and_cleans_up() {
    let out = mesh(None, &["demo", "--bytes", "300000", "--json"]);
    let report = stdout_json(&out);
    assert_eq!(report["ok"], true);
    assert!(report["result"]["size"].as_u64().unwrap() >= 300_000);
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert!(
        steps
            .iter()
            .any(|s| s.contains("appeared in finance's catalog")),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains("identical to the original")),
        "{steps:?}"
    );
    assert!(
        steps.last().unwrap().contains("removed their data"),
        "{steps:?}"
    );
    let dir = report["dir"].as_str().unwrap();
    assert!(!Path::new(dir).exists(), "{dir} left behind");
}

/// Waits (bounded) until `mesh ... --json` on every node satisfies `check`.
fn wait_all(nodes: &[&Daemon], args: &[&str], check: impl Fn(&Value) -> bool) {
    for node in nodes {
        wait_json(node, args, &check);
    }
}

/// With `require-owner` in force, `mesh publish` on `c` without an owner
/// is refused in one line; with one it is published, and `a` lists it as
/// compliant.
fn enforced_everywhere(work: &Path, a: &Daemon, c: &Daemon) {
    // The policy is enforced: one line naming the broken rule, nothing published.
    let file = write(work, "data.csv", "a\n1\n");
    fails(
        &mesh(Some(c), &["publish", &file, "--name", "orders"]),
        1,
        "require-owner",
    );
    let descriptor = write(
        work,
        "owned.yaml",
        "owner: {name: HR data, email: data@hr.example}\n",
    );
    stdout_json(&mesh(
        Some(c),
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
    let listed = wait_json(a, &["list", "--json"], |v| {
        v.as_array().is_some_and(|l| l.len() == 1)
    });
    assert_eq!(listed[0]["compliant"], true);
}

#[test]
fn governance_from_the_cli_survives_a_kill_during_voting() {
    let work = tempfile::tempdir().unwrap();
    let dirs: Vec<tempfile::TempDir> = ["sales", "billing", "hr"]
        .iter()
        .map(|d| mesh_tests::daemon::init(d, &[]))
        .collect();
    let (genesis_arg, fed_id) = create_federation(work.path(), &dirs);
    let extra = ["--genesis", genesis_arg.as_str()];
    let mut dirs = dirs.into_iter();
    let a = mesh_tests::daemon::run(dirs.next().unwrap(), None, &extra);
    let b = mesh_tests::daemon::run(dirs.next().unwrap(), Some(&a.addr), &extra);
    let c = mesh_tests::daemon::run(dirs.next().unwrap(), Some(&a.addr), &extra);

    let shown = stdout_json(&mesh(Some(&a), &["federation", "show", "--json"]));
    assert_eq!(shown["id"], fed_id.as_str());
    assert_eq!(shown["version"], 0);
    assert_eq!(shown["member"], true);
    assert_eq!(shown["members"].as_array().unwrap().len(), 3);

    let proposed = stdout_json(&mesh(
        Some(&a),
        &[
            "propose",
            "policy",
            "add",
            "require-owner",
            "--reason",
            "owners matter",
            "--expires-in",
            "1h",
            "--json",
        ],
    ));
    let id = proposed["id"].as_str().unwrap().to_owned();
    let has = |v: &Value| {
        v["proposals"]
            .as_array()
            .is_some_and(|l| l.iter().any(|p| p["id"] == id.as_str()))
    };
    wait_all(&[&a, &b, &c], &["proposals", "--json"], has);

    let voted = stdout_json(&mesh(Some(&a), &["vote", &id[..10], "yes", "--json"]));
    assert_eq!(
        (voted["approve"].as_bool(), voted["ratified"].as_bool()),
        (Some(true), Some(false))
    );
    stdout_json(&mesh(Some(&b), &["vote", &id, "yes", "--json"]));

    // B dies with SIGKILL mid-vote and comes back: its vote is still its own.
    let b_dir = b.kill();
    let b = mesh_tests::daemon::run(b_dir, Some(&a.addr), &[]);
    let open = stdout_json(&mesh(Some(&b), &["proposals", "--json"]));
    let mine = open["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id.as_str())
        .unwrap();
    assert_eq!(mine["my_vote"], true);
    assert_eq!(mine["yes"], 2);
    // A vote cannot be cast twice, and a rejection needs a reason.
    fails(
        &mesh(Some(&b), &["vote", &id, "yes"]),
        1,
        "already approved",
    );
    fails(&mesh(Some(&c), &["vote", &id, "no"]), 2, "needs a reason");

    // The third approval makes the proposal eligible; the members' nodes
    // decide the slot in consensus rounds. B dies with SIGKILL while they
    // run, comes back, and the slot is still decided.
    let deciding = stdout_json(&mesh(Some(&c), &["vote", &id, "yes", "--json"]));
    assert!(
        deciding["status"] == "approved" || deciding["ratified"] == true,
        "{deciding}"
    );
    let b_dir = b.kill();
    let b = mesh_tests::daemon::run(b_dir, Some(&a.addr), &[]);
    wait_all(&[&a, &b, &c], &["federation", "show", "--json"], |v| {
        v["version"] == 1 && v["policies"] == serde_json::json!(["require-owner"])
    });

    enforced_everywhere(work.path(), &a, &c);
    // Nothing to vote on any more.
    fails(
        &mesh(Some(&a), &["vote", &id, "no", "--reason", "too late"]),
        1,
        "no open proposal",
    );
    // Outside a federation the governance commands say how to join one.
    let loner = start("solo", None);
    fails(&mesh(Some(&loner), &["federation", "show"]), 1, "--genesis");
}
