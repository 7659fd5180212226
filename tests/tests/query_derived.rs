//! Derived products and cancellation against real `meshd` processes:
//! `mesh query --publish` fills in lineage, classification and the query
//! from the plan, `pii-never-public` refuses a public derived pii column,
//! `mesh lineage` draws the graph across domains, and a cancelled query
//! (Ctrl-C in `mesh query`, `DELETE /v1/queries/{id}`) stops and leaves no
//! temporary file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use mesh_node::api::client::call;
use mesh_protocol::Timestamp;
use mesh_protocol::governance::{Genesis, Member, Quorum};
use mesh_protocol::policy::PolicyRule;
use mesh_tests::cli::{fails, mesh, stdout_json, wait_json, write};
use mesh_tests::daemon::{Daemon, init, run};
use mesh_tests::mesh_binary;
use mesh_tests::query::{files, publish, running, small_budget_node, wait};
use serde_json::{Value, json};

/// Two member domains whose federation was founded with
/// `pii-never-public`.
fn federation() -> (Daemon, Daemon) {
    let dirs: Vec<_> = ["sales", "crm"].iter().map(|d| init(d, &[])).collect();
    let members = ["sales", "crm"]
        .iter()
        .zip(&dirs)
        .map(|(name, dir)| Member {
            name: (*name).to_owned(),
            key: mesh_node::identity::load(dir.path())
                .unwrap()
                .domain
                .public(),
        })
        .collect();
    let genesis = Genesis::new(
        "acme",
        members,
        Quorum::TWO_THIRDS,
        BTreeSet::from([PolicyRule::PiiNeverPublic]),
        Timestamp(1),
    )
    .unwrap();
    for dir in &dirs {
        mesh_tests::federation::install(dir, &genesis);
    }
    let mut dirs = dirs.into_iter();
    let sales = run(dirs.next().unwrap(), None, &[]);
    let crm = run(dirs.next().unwrap(), Some(&sales.addr), &[]);
    (sales, crm)
}

fn descriptor(shown: &Value) -> &Value {
    &shown["item"]["Descriptor"]["value"]
}

fn field<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {d}"))
}

#[test]
#[allow(clippy::too_many_lines, reason = "one end-to-end story, step by step")]
fn a_derived_product_carries_lineage_classification_and_its_query() {
    let (sales, crm) = federation();
    let work = tempfile::tempdir().unwrap();
    let orders = write(
        work.path(),
        "orders.csv",
        "id,customer,amount\n1,10,5.5\n2,20,10\n3,10,4.5\n",
    );
    let orders_yaml = write(
        work.path(),
        "orders.yaml",
        "title: Orders\nschema: {fields: [{name: id, type: int64, nullable: false, classification: internal}, \
         {name: customer, type: int64, classification: internal}, {name: amount, type: decimal, classification: internal}]}\n",
    );
    publish(&sales, &orders, "orders", &orders_yaml);
    let customers = write(
        work.path(),
        "customers.jsonl",
        "{\"id\":10,\"email\":\"ann@x.org\"}\n{\"id\":20,\"email\":\"bob@x.org\"}\n",
    );
    let customers_yaml = write(
        work.path(),
        "customers.yaml",
        "title: Customers\nformat: jsonl\naccess: owner-granted\nschema: {fields: [{name: id, type: int64, classification: internal}, \
         {name: email, type: string, classification: pii}]}\n",
    );
    publish(&crm, &customers, "customers", &customers_yaml);
    wait_json(&crm, &["list", "--json"], |v| {
        v.as_array().is_some_and(|l| l.len() == 2)
    });

    // Renamed, aggregated and joined: the pii column stays pii.
    let sql = "SELECT c.email AS contact, sum(o.amount) AS spent, count(DISTINCT c.email) AS people \
               FROM sales.orders o JOIN crm.customers c ON o.customer = c.id \
               GROUP BY c.email";
    // Public by default, so pii-never-public refuses it; nothing is published.
    let refused = fails(
        &mesh(Some(&crm), &["query", sql, "--publish", "spend"]),
        1,
        "pii",
    );
    assert!(refused.contains("public"), "{refused}");
    fails(
        &mesh(Some(&crm), &["show", "crm/spend"]),
        1,
        "unknown product",
    );
    // An unnamed computed column is the user's to name.
    fails(
        &mesh(
            Some(&crm),
            &[
                "query",
                "SELECT count(*) FROM sales.orders",
                "--publish",
                "n",
            ],
        ),
        2,
        "AS",
    );

    let granted = write(work.path(), "spend.yaml", "access: owner-granted\n");
    let published = stdout_json(&mesh(
        Some(&crm),
        &[
            "query",
            sql,
            "--publish",
            "spend",
            "--title",
            "Spend per customer",
            "--descriptor",
            &granted,
            "--json",
        ],
    ));
    assert_eq!(published["published"]["version"], 1, "{published}");
    assert_eq!(published["rows_written"], 2);
    assert_eq!(published["published"]["profile"]["rows"], 2);
    assert_eq!(published["published"]["profile"]["violations"], json!([]));

    let shown = stdout_json(&mesh(Some(&crm), &["show", "crm/spend", "--json"]));
    let d = descriptor(&shown);
    assert_eq!(d["format"], "Parquet");
    assert_eq!(d["title"], "Spend per customer");
    assert_eq!(field(d, "contact")["classification"], "Pii");
    assert_eq!(field(d, "people")["classification"], "Pii");
    assert_eq!(field(d, "spent")["classification"], "Internal");
    assert_eq!(field(d, "spent")["data_type"], "Decimal");
    let derivation = &d["derivation"];
    assert_eq!(derivation["query"], sql);
    let inputs: Vec<(String, u64)> = derivation["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["product"]["name"].as_str().unwrap().to_owned(),
                i["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        inputs,
        [("customers".to_owned(), 1), ("orders".to_owned(), 1)]
    );
    assert_eq!(d["lineage"].as_array().unwrap().len(), 2);
    // The descriptor hash of each input names the exact version read.
    let orders_shown = stdout_json(&mesh(Some(&crm), &["show", "sales/orders", "--json"]));
    assert_eq!(
        shown["inputs"],
        json!(["crm/customers@1", "sales/orders@1"]),
        "{shown}"
    );
    let contact = derivation["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "contact")
        .unwrap();
    assert_eq!(contact["sources"], json!([{"input": 0, "column": "email"}]));
    let text = String::from_utf8(mesh(Some(&crm), &["show", "crm/spend"]).stdout).unwrap();
    assert!(
        text.contains("crm/customers@1, sales/orders@1")
            && text.contains("count(DISTINCT c.email)"),
        "{text}"
    );
    assert!(text.contains("conforms to its contract, 2 rows"), "{text}");
    assert_ne!(orders_shown["item"], Value::Null);

    // The derived product is a table like any other.
    let rows = stdout_json(&mesh(
        Some(&crm),
        &[
            "query",
            "SELECT contact, spent FROM crm.spend ORDER BY contact",
            "--json",
        ],
    ));
    assert_eq!(
        rows["rows"],
        json!([["ann@x.org", 10.0], ["bob@x.org", 10.0]]),
        "{rows}"
    );

    // Derived from a derived product, as Arrow IPC, through the API: the
    // route answers what the CLI printed for the same columns.
    let top_sql = "SELECT contact FROM crm.spend WHERE spent >= 10";
    let api = crm.post(
        "/v1/query",
        &json!({ "sql": top_sql, "publish": {
            "name": "top", "title": "Top", "format": "Arrow",
            "access": {"mode": "OwnerGranted", "reshare": true}
        }}),
    );
    assert_eq!(api.status, 200, "{}", String::from_utf8_lossy(&api.body));
    let api: Value = serde_json::from_slice(&api.body).unwrap();
    assert_eq!(api["published"]["version"], 1);
    assert_eq!(api["columns"][0]["classification"], "pii");
    assert_eq!(api["columns"][0]["sources"], json!(["crm.spend@1.contact"]));
    let top = stdout_json(&mesh(Some(&crm), &["show", "crm/top", "--json"]));
    assert_eq!(field(descriptor(&top), "contact")["classification"], "Pii");
    assert_eq!(descriptor(&top)["format"], "Arrow");
    // A typed schema in the draft is refused, not overridden.
    let typed = crm.post(
        "/v1/query",
        &json!({ "sql": top_sql, "publish": {
            "name": "top", "title": "Top", "format": "Parquet",
            "schema": {"major": 1, "fields": [{"name": "contact", "data_type": "String", "nullable": true, "classification": "Public", "description": ""}]}
        }}),
    );
    assert_eq!(
        typed.status,
        400,
        "{}",
        String::from_utf8_lossy(&typed.body)
    );

    // The lineage across domains, from the source: a tree and DOT.
    let tree = String::from_utf8(mesh(Some(&crm), &["lineage", "sales/orders"]).stdout).unwrap();
    assert!(
        tree.contains("downstream (computed from it):\n  └─ crm/spend v1 (derived by a query) [read @1]\n     └─ crm/top v1 (derived by a query) [read @1]\n"),
        "{tree}"
    );
    assert!(tree.contains("(none: a source product)"), "{tree}");
    let up = String::from_utf8(mesh(Some(&crm), &["lineage", "crm/top"]).stdout).unwrap();
    assert!(
        up.contains("└─ crm/spend v1")
            && up.contains("sales/orders v1")
            && up.contains("crm/customers v1"),
        "{up}"
    );
    let dot =
        String::from_utf8(mesh(Some(&crm), &["lineage", "crm/spend", "--dot"]).stdout).unwrap();
    assert!(dot.starts_with("digraph lineage {"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 3, "{dot}");
    // The owner's node, over gossip, draws the same graph.
    wait_json(&sales, &["lineage", "sales/orders", "--json"], |g| {
        g["nodes"].as_array().is_some_and(|n| n.len() == 3)
    });
    fails(
        &mesh(Some(&crm), &["lineage", "crm/nothing"]),
        1,
        "unknown product",
    );
}

/// A query that must sort 9 million rows (144 MiB) under a 16 MiB budget:
/// it spills long before its first row.
const SPILLING: &str = "SELECT a.id AS x, b.id AS y FROM lab.t a CROSS JOIN lab.t b ORDER BY (a.id * 7919 + b.id) % 10007, x, y";

#[test]
fn ctrl_c_and_the_cancel_route_stop_a_spilling_query_and_remove_its_files() {
    let node = small_budget_node(3000);
    let spill = node.dir.path().join("query-spill");

    // Ctrl-C in `mesh query`.
    let child = Command::new(mesh_binary())
        .arg("--data-dir")
        .arg(node.dir.path())
        .args(["query", SPILLING, "--csv"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait("the query is listed", || running(&node).len() == 1);
    wait("the sort spills", || files(&spill) > 0);
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    wait("the query is gone", || running(&node).is_empty());
    wait("its spill files are removed", || files(&spill) == 0);

    // The API's cancel route.
    let (api, token) = (node.api, node.token.clone());
    let asking = std::thread::spawn(move || {
        let body =
            serde_json::to_vec(&json!({ "sql": SPILLING, "id": "big", "limit": 5 })).unwrap();
        let mut reader = &body[..];
        call(
            api,
            "POST",
            "/v1/query",
            Some(&token),
            Some((&mut reader, body.len() as u64, "application/json")),
        )
        .unwrap()
    });
    wait("the query is listed", || running(&node) == ["big"]);
    let in_use = node.post(
        "/v1/query",
        &json!({ "sql": "SELECT 1 AS one", "id": "big" }),
    );
    assert_eq!(in_use.status, 400, "an id in use is refused");
    wait("the sort spills", || files(&spill) > 0);
    let cancel = node.delete("/v1/queries/big");
    assert_eq!(cancel.status, 204);
    let answer = asking.join().unwrap();
    assert_eq!(
        answer.status,
        409,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json().unwrap()["code"], "cancelled");
    wait("its spill files are removed", || files(&spill) == 0);
    let again = node.delete("/v1/queries/big");
    assert_eq!(again.status, 404);
    assert!(running(&node).is_empty());
    // The node still answers queries.
    let one = node.post(
        "/v1/query",
        &json!({ "sql": "SELECT count(*) AS n FROM lab.t" }),
    );
    assert_eq!(one.json().unwrap()["rows"], json!([[3000]]));
}
