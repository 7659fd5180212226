//! `mesh query` and `POST /v1/query` against real `meshd` processes over
//! TCP: two domains' products joined with exact results, a product the
//! querying node lacks fetched first, a version pin, a denied input, the
//! user's mistakes with exit 2, and the CLI and the API agreeing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use mesh_tests::cli::{fails, mesh, stdout_json, wait_json, write};
use mesh_tests::daemon::{Daemon, start};
use mesh_tests::query::publish;
use serde_json::{Value, json};

fn held(node: &Daemon, sql: &str) -> Vec<(String, bool)> {
    let answer = node.post("/v1/query/inputs", &json!({ "sql": sql }));
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let v: Value = serde_json::from_slice(&answer.body).unwrap();
    let mut inputs: Vec<(String, bool)> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["table"].as_str().unwrap().to_owned(),
                i["held"].as_bool().unwrap(),
            )
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
#[allow(clippy::too_many_lines, reason = "one end-to-end story, step by step")]
fn a_join_across_two_domains_fetches_what_it_lacks_and_answers_exactly() {
    let sales = start("sales", None);
    let crm = start("crm", Some(&sales.addr));
    let work = tempfile::tempdir().unwrap();
    let orders = "id,customer,amount\n1,10,5.5\n2,20,10\n3,10,4.5\n";
    let orders_file = write(work.path(), "orders.csv", orders);
    let orders_yaml = write(
        work.path(),
        "orders.yaml",
        "title: Orders\nschema: {fields: [{name: id, type: int64, nullable: false}, \
         {name: customer, type: int64}, {name: amount, type: decimal}]}\n",
    );
    publish(&sales, &orders_file, "orders", &orders_yaml);
    let secret_yaml = write(
        work.path(),
        "secret.yaml",
        "title: Secret\naccess: owner-granted\nschema: {fields: [{name: id, type: int64}, \
         {name: customer, type: int64}, {name: amount, type: decimal}]}\n",
    );
    // Other bytes than orders: a copy of the same bytes would be held.
    let secret_file = write(work.path(), "secret.csv", "id,customer,amount\n9,9,9\n");
    publish(&sales, &secret_file, "secret", &secret_yaml);
    let customers = "{\"id\":10,\"email\":\"ann@x.org\"}\n{\"id\":20,\"email\":\"bob@x.org\"}\n";
    let customers_file = write(work.path(), "customers.jsonl", customers);
    let customers_yaml = write(
        work.path(),
        "customers.yaml",
        "title: Customers\nformat: jsonl\nschema: {fields: [{name: id, type: int64}, \
         {name: email, type: string, classification: pii}]}\n",
    );
    publish(&crm, &customers_file, "customers", &customers_yaml);
    wait_json(&crm, &["list", "--json"], |v| {
        v.as_array().is_some_and(|l| l.len() == 3)
    });

    let join = "SELECT c.email, sum(o.amount) AS spent, count(*) AS orders \
                FROM sales.orders o JOIN crm.customers c ON o.customer = c.id \
                GROUP BY c.email ORDER BY c.email";
    assert_eq!(
        held(&crm, join),
        [
            ("crm.customers".to_owned(), true),
            ("sales.orders".to_owned(), false)
        ]
    );
    let answer = stdout_json(&mesh(Some(&crm), &["query", join, "--json"]));
    assert_eq!(
        answer["rows"],
        json!([["ann@x.org", 10.0, 2], ["bob@x.org", 10.0, 1]]),
        "{answer}"
    );
    assert_eq!(answer["columns"][0]["classification"], "pii");
    assert_eq!(
        answer["columns"][0]["sources"],
        json!(["crm.customers@1.email"])
    );
    assert_eq!(answer["inputs"].as_array().unwrap().len(), 2);
    // Fetched once, then held: the next query reads the same copy.
    assert_eq!(
        held(&crm, join),
        [
            ("crm.customers".to_owned(), true),
            ("sales.orders".to_owned(), true)
        ]
    );

    // The API answers what the CLI printed.
    let api = crm.post("/v1/query", &json!({ "sql": join }));
    assert_eq!(api.status, 200);
    let api: Value = serde_json::from_slice(&api.body).unwrap();
    assert_eq!(api["rows"], answer["rows"]);

    // A grouping CTE named twice (computed once by the engine): the
    // same answer as inlined, and lineage still reaches through it.
    let cte = "WITH spend AS (SELECT o.customer, sum(o.amount) AS spent FROM sales.orders o \
               GROUP BY o.customer) \
               SELECT c.email, s.spent FROM spend s JOIN crm.customers c ON s.customer = c.id \
               WHERE s.spent = (SELECT max(spent) FROM spend) ORDER BY c.email";
    let shared = stdout_json(&mesh(Some(&crm), &["query", cte, "--json"]));
    assert_eq!(
        shared["rows"],
        json!([["ann@x.org", 10.0], ["bob@x.org", 10.0]]),
        "{shared}"
    );
    assert_eq!(shared["columns"][0]["classification"], "pii");
    assert_eq!(
        shared["columns"][1]["sources"],
        json!(["sales.orders@1.amount"])
    );
    assert_eq!(shared["inputs"].as_array().unwrap().len(), 2);
    let plan = String::from_utf8(mesh(Some(&crm), &["query", cte, "--explain"]).stdout).unwrap();
    assert_eq!(plan.matches("SharedExec").count(), 2, "{plan}");
    assert!(plan.contains("sales.orders"), "{plan}");

    // A table, CSV, a file, a limit, the plan.
    let table = String::from_utf8(mesh(Some(&crm), &["query", join]).stdout).unwrap();
    assert!(
        table.contains("ann@x.org") && table.contains("(2 rows)"),
        "{table}"
    );
    let csv = mesh(Some(&crm), &["query", join, "--csv"]);
    assert_eq!(
        String::from_utf8(csv.stdout).unwrap(),
        "email,spent,orders\nann@x.org,10.0000000000,2\nbob@x.org,10.0000000000,1\n"
    );
    let out = work.path().join("result.jsonl");
    let wrote = mesh(Some(&crm), &["query", join, "-o", out.to_str().unwrap()]);
    assert!(
        wrote.status.success(),
        "{}",
        String::from_utf8_lossy(&wrote.stderr)
    );
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(lines.contains("\"email\":\"ann@x.org\""), "{lines}");
    let limited = stdout_json(&mesh(
        Some(&crm),
        &["query", join, "--limit", "1", "--json"],
    ));
    assert_eq!(limited["rows"].as_array().unwrap().len(), 1);
    assert_eq!(limited["truncated"], true);
    let plan = String::from_utf8(mesh(Some(&crm), &["query", join, "--explain"]).stdout).unwrap();
    assert!(
        plan.contains("sales.orders@1") && plan.contains("crm.customers@1"),
        "{plan}"
    );

    // A new version; a pin reads the old one.
    let v2 = write(work.path(), "orders2.csv", &format!("{orders}4,20,1\n"));
    publish(&sales, &v2, "orders", &orders_yaml);
    wait_json(&crm, &["show", "sales/orders", "--json"], |v| {
        v["version"] == 2
    });
    let count =
        |sql: &str| stdout_json(&mesh(Some(&crm), &["query", sql, "--json"]))["rows"][0][0].clone();
    assert_eq!(count("SELECT count(*) FROM sales.orders@1"), 3);
    assert_eq!(count("SELECT count(*) FROM sales.orders"), 4);

    // A denied input: refused with the way to ask, nothing fetched.
    let denied = fails(
        &mesh(Some(&crm), &["query", "SELECT * FROM sales.secret"]),
        1,
        "denied",
    );
    assert!(denied.contains("mesh request"), "{denied}");
    assert_eq!(
        held(&crm, "SELECT * FROM sales.secret"),
        [("sales.secret".to_owned(), false)]
    );

    // The user's mistakes: exit 2, one line each.
    fails(&mesh(Some(&crm), &["query", "SELEC 1"]), 2, "syntax");
    fails(
        &mesh(Some(&crm), &["query", "SELECT * FROM sales.ordres"]),
        2,
        "did you mean sales.orders",
    );
    fails(
        &mesh(Some(&crm), &["query", "SELECT nope FROM sales.orders"]),
        2,
        "nope",
    );
    fails(
        &mesh(Some(&crm), &["query", "SELECT * FROM sales.orders@9"]),
        2,
        "version 9",
    );
    fails(
        &mesh(Some(&crm), &["query", "DROP TABLE sales.orders"]),
        2,
        "only queries",
    );
    fails(
        &mesh(Some(&crm), &["query", join, "-o", "x.txt"]),
        2,
        ".parquet",
    );
    let bad = crm.post(
        "/v1/query",
        &json!({ "sql": "SELECT * FROM nowhere.nothing" }),
    );
    assert_eq!(bad.status, 404, "{}", String::from_utf8_lossy(&bad.body));
}
