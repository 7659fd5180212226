//! The access life cycle of an owner-granted product, end to end with the
//! real `meshd` and `mesh` binaries on loopback: requested, granted,
//! fetched, denied, revoked and expired, as both the owner and the asking
//! domains see it, and the server refusing every domain without a grant.
#![allow(
    clippy::unwrap_used,
    reason = "end-to-end tests: a failed unwrap is a failed test"
)]

use mesh_tests::cli::{fails, mesh, stdout_json, wait_json, write};
use mesh_tests::daemon::{Daemon, start};
use serde_json::Value;

/// Publishes `bytes` as owner-granted product `name` on `node`; returns
/// the product id.
fn publish_granted(node: &Daemon, dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let file = dir.join(format!("{name}.csv"));
    std::fs::write(&file, bytes).unwrap();
    let descriptor = write(
        dir,
        &format!("{name}.yaml"),
        "owner: {name: Payroll team, email: payroll@sales.example}\naccess: owner-granted\nreshare: false\n",
    );
    let published = stdout_json(&mesh(
        Some(node),
        &[
            "publish",
            file.to_str().unwrap(),
            "--name",
            name,
            "--descriptor",
            &descriptor,
            "--json",
        ],
    ));
    published["product"].as_str().unwrap().to_owned()
}

/// The one access entry about `product_name` and the domain called
/// `domain_name`, if listed.
fn entry<'a>(list: &'a Value, product_name: &str, domain_name: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|v| v["product_name"] == product_name && v["domain_name"] == domain_name)
}

fn has_state(list: &Value, product_name: &str, domain_name: &str, state: &str) -> bool {
    entry(list, product_name, domain_name).is_some_and(|v| v["state"] == state)
}

#[test]
fn request_grant_fetch_deny_revoke_and_expire() {
    let sales = start("sales", None);
    let finance = start("finance", Some(&sales.addr));
    let marketing = start("marketing", Some(&sales.addr));
    let work = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 241) as u8).collect();
    let product = publish_granted(&sales, work.path(), "payroll", &data);
    for node in [&finance, &marketing] {
        wait_json(node, &["list", "--json"], |v| {
            v.as_array().is_some_and(|a| a.len() == 1)
        });
    }
    let out = work.path().join("payroll.out");
    let out = out.to_str().unwrap();

    // Without a grant the owner's node refuses, and the error says what to do.
    let line = fails(
        &mesh(Some(&finance), &["fetch", "sales/payroll", "-o", out]),
        1,
        "denied",
    );
    assert!(line.contains("mesh request"), "{line}");
    assert!(!std::path::Path::new(out).exists());

    // finance asks; both sides see the pending request with its reason.
    let asked = stdout_json(&mesh(
        Some(&finance),
        &[
            "request",
            "sales/payroll",
            "--reason",
            "quarterly payroll audit",
            "--json",
        ],
    ));
    assert_eq!(asked["state"], "requested");
    assert_eq!(asked["direction"], "outgoing");
    assert_eq!(asked["can_read"], false);
    let pending = wait_json(&sales, &["requests", "--pending", "--json"], |v| {
        has_state(v, "payroll", "finance", "requested")
    });
    let request = entry(&pending, "payroll", "finance").unwrap();
    assert_eq!(request["direction"], "incoming");
    assert_eq!(request["reason"], "quarterly payroll audit");
    assert_eq!(request["product"], product.as_str());

    // The owner approves (by the requester's name); finance sees the grant
    // and fetches the exact bytes.
    let granted = stdout_json(&mesh(
        Some(&sales),
        &["approve", "payroll", "finance", "--json"],
    ));
    assert_eq!(granted["state"], "granted");
    assert_eq!(granted["can_read"], true);
    assert_eq!(granted["expires_at_ms"], Value::Null);
    wait_json(&finance, &["requests", "--outgoing", "--json"], |v| {
        has_state(v, "payroll", "finance", "granted")
    });
    let fetched = mesh(Some(&finance), &["fetch", "sales/payroll", "-o", out]);
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    assert_eq!(std::fs::read(out).unwrap(), data);
    // Nothing is pending any more.
    let pending = stdout_json(&mesh(Some(&sales), &["requests", "--pending", "--json"]));
    assert_eq!(pending.as_array().unwrap().len(), 0, "{pending}");

    let other = work.path().join("marketing.out");
    let other = other.to_str().unwrap();
    denied_without_asking_then_denied_on_asking(&sales, &marketing, other);
    revoked_then_refused_the_next_version(&sales, &finance, work.path(), &data);
    granted_for_a_while_then_expired(&sales, &marketing, other);
}

fn denied_without_asking_then_denied_on_asking(sales: &Daemon, marketing: &Daemon, other: &str) {
    // marketing never asked: it is refused.
    fails(
        &mesh(Some(marketing), &["fetch", "sales/payroll", "-o", other]),
        1,
        "denied",
    );

    // marketing asks and is turned down, with the owner's reason.
    stdout_json(&mesh(
        Some(marketing),
        &["request", "sales/payroll", "--reason", "campaign", "--json"],
    ));
    wait_json(sales, &["requests", "--json"], |v| {
        has_state(v, "payroll", "marketing", "requested")
    });
    let denied = stdout_json(&mesh(
        Some(sales),
        &[
            "deny",
            "payroll",
            "marketing",
            "--reason",
            "salaries are not for campaigns",
            "--json",
        ],
    ));
    assert_eq!(denied["state"], "denied");
    let seen = wait_json(marketing, &["requests", "--json"], |v| {
        has_state(v, "payroll", "marketing", "denied")
    });
    assert_eq!(
        entry(&seen, "payroll", "marketing").unwrap()["denial_reason"],
        "salaries are not for campaigns"
    );
}

fn revoked_then_refused_the_next_version(
    sales: &Daemon,
    finance: &Daemon,
    work: &std::path::Path,
    data: &[u8],
) {
    // The owner revokes finance's grant. finance sees it, and is refused
    // the next version of the data.
    let revoked = stdout_json(&mesh(
        Some(sales),
        &["revoke", "payroll", "finance", "--json"],
    ));
    assert_eq!(revoked["state"], "revoked");
    wait_json(finance, &["requests", "--json"], |v| {
        has_state(v, "payroll", "finance", "revoked")
    });
    let newer: Vec<u8> = data.iter().map(|b| b.wrapping_add(1)).collect();
    publish_granted(sales, work, "payroll", &newer);
    wait_json(finance, &["show", "sales/payroll", "--json"], |v| {
        v["version"] == 2
    });
    let out2 = work.join("payroll-2.out");
    fails(
        &mesh(
            Some(finance),
            &["fetch", "sales/payroll", "-o", out2.to_str().unwrap()],
        ),
        1,
        "denied",
    );
    // A second revocation has nothing to revoke.
    fails(
        &mesh(Some(sales), &["revoke", "payroll", "finance"]),
        1,
        "no grant",
    );
}

fn granted_for_a_while_then_expired(sales: &Daemon, marketing: &Daemon, other: &str) {
    // A grant with an expiry: both sides see it run out, and then the
    // server refuses.
    let timed = stdout_json(&mesh(
        Some(sales),
        &["grant", "payroll", "marketing", "--expires", "2s", "--json"],
    ));
    assert_eq!(timed["state"], "granted");
    assert!(timed["expires_at_ms"].as_u64().is_some());
    wait_json(marketing, &["requests", "--json"], |v| {
        has_state(v, "payroll", "marketing", "expired")
    });
    wait_json(sales, &["requests", "--json"], |v| {
        has_state(v, "payroll", "marketing", "expired")
    });
    fails(
        &mesh(Some(marketing), &["fetch", "sales/payroll", "-o", other]),
        1,
        "denied",
    );
}

#[test]
fn bad_access_commands_fail_with_one_line_and_change_nothing() {
    let sales = start("sales", None);
    let finance = start("finance", Some(&sales.addr));
    let work = tempfile::tempdir().unwrap();
    publish_granted(&sales, work.path(), "payroll", b"id,amount\n1,10\n");
    let open = work.path().join("open.csv");
    std::fs::write(&open, b"a\n1\n").unwrap();
    stdout_json(&mesh(
        Some(&sales),
        &[
            "publish",
            open.to_str().unwrap(),
            "--name",
            "open",
            "--json",
        ],
    ));
    wait_json(&finance, &["list", "--json"], |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    });

    // A public product needs no grant.
    fails(
        &mesh(Some(&finance), &["request", "sales/open", "--reason", "x"]),
        1,
        "no grant is needed",
    );
    // A request needs a reason.
    fails(
        &mesh(
            Some(&finance),
            &["request", "sales/payroll", "--reason", " "],
        ),
        2,
        "--reason",
    );
    // Unknown product, unknown domain, own product, bad expiry.
    fails(
        &mesh(Some(&sales), &["grant", "nosuch", "finance"]),
        1,
        "unknown product",
    );
    fails(
        &mesh(Some(&sales), &["grant", "payroll", "nobody"]),
        1,
        "unknown domain",
    );
    fails(
        &mesh(Some(&sales), &["grant", "payroll", "sales"]),
        1,
        "always reads its own",
    );
    fails(
        &mesh(
            Some(&sales),
            &["grant", "payroll", "finance", "--expires", "5w"],
        ),
        2,
        "--expires",
    );
    // A product of another domain cannot be granted from here.
    fails(
        &mesh(Some(&finance), &["grant", "sales/payroll", "finance"]),
        2,
        "only a product's owner",
    );
    // By id, a domain that never asked or published is found, but there is
    // no grant to revoke.
    let status = stdout_json(&mesh(Some(&finance), &["status", "--json"]));
    let finance_id = status["domain_id"].as_str().unwrap();
    fails(
        &mesh(Some(&sales), &["revoke", "payroll", finance_id]),
        1,
        "no grant",
    );
    // None of it left a record on either side.
    for node in [&sales, &finance] {
        let all = stdout_json(&mesh(Some(node), &["requests", "--json"]));
        assert_eq!(all.as_array().unwrap().len(), 0, "{all}");
    }
    // The API refuses a bad direction and a bad action with JSON errors.
    let answer = sales.get("/v1/access?direction=sideways");
    assert_eq!(answer.status, 400);
    let answer = sales.post(
        "/v1/own/payroll/access",
        &serde_json::json!({"domain": "finance", "action": "maybe"}),
    );
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json().unwrap()["code"], "bad_request");
}
