//! The local HTTP API of real `meshd` processes.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use mesh_node::api::client::{Answer, call};
use mesh_tests::daemon::{Daemon, start};
use serde_json::{Value, json};

fn publish(d: &Daemon, name: &str, data: &[u8]) -> Value {
    d.publish_csv(name, data)
}

fn publish_err(d: &Daemon, name: &str) -> Answer {
    let upload_id = d.upload(b"a,b\n");
    d.post(
        "/v1/publish",
        &json!({"upload_id": upload_id, "draft": {"name": name, "title": "X", "format": "Csv"}}),
    )
}

fn code(answer: &Answer) -> String {
    answer.json().unwrap()["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn token_is_required_and_errors_are_json() {
    let a = start("sales", None);
    assert_eq!(
        call(a.api, "GET", "/health", None, None).unwrap().status,
        200
    );
    let none = call(a.api, "GET", "/v1/status", None, None).unwrap();
    assert_eq!((none.status, code(&none).as_str()), (401, "unauthorized"));
    let wrong = call(a.api, "GET", "/v1/status", Some(&"0".repeat(64)), None).unwrap();
    assert_eq!(wrong.status, 401);
    assert!(
        !String::from_utf8_lossy(&wrong.body).contains("peer_id"),
        "nothing else leaks"
    );

    let status = a.get("/v1/status").json().unwrap();
    assert_eq!(status["domain_name"], "sales");
    assert!(status["peer_id"].as_str().unwrap().starts_with("12D3"));

    let unknown = a.get(&format!("/v1/products/{}/nope", "ab".repeat(16)));
    assert_eq!(
        (unknown.status, code(&unknown).as_str()),
        (404, "unknown_product")
    );
    let bad_json = a.post("/v1/publish", &json!({"nonsense": 1}));
    assert_eq!(
        (bad_json.status, code(&bad_json).as_str()),
        (400, "bad_request")
    );
    let no_upload = a.post(
        "/v1/publish",
        &json!({"upload_id": "ab".repeat(16), "draft": {"name": "x", "title": "X", "format": "Csv"}}),
    );
    assert_eq!(no_upload.status, 404);
    let bad_name = publish_err(&a, "Bad Name");
    assert_eq!(
        (bad_name.status, code(&bad_name).as_str()),
        (400, "invalid_descriptor")
    );
    // Nothing was published by any of these.
    assert_eq!(a.get("/v1/status").json().unwrap()["catalog_size"], 0);
}

#[test]
fn publish_on_a_list_and_fetch_on_b_through_the_api() {
    let a = start("sales", None);
    let b = start("billing", Some(&a.addr));
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let receipt = publish(&a, "orders", &data);
    let product = receipt["product"]["domain"].as_str().unwrap().to_owned() + "/orders";
    assert_eq!(receipt["version"], 1);

    let listed = b.wait_until("/v1/products?tag=&text=orders", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(listed[0]["value"]["id"]["name"], "orders");
    assert_eq!(listed[0]["value"]["domain_name"], "sales");

    let out = b.dir.path().join("orders.csv");
    let started = b.post("/v1/fetches", &json!({"product": product, "output": out}));
    assert_eq!(
        started.status,
        200,
        "{}",
        String::from_utf8_lossy(&started.body)
    );
    let id = started.json().unwrap()["id"].as_u64().unwrap();
    let done = b.wait_until(&format!("/v1/fetches/{id}"), |p| p["state"] == "Done");
    assert_eq!(done["bytes_done"], 300_000);
    assert_eq!(std::fs::read(&out).unwrap(), data);

    let gone = b.get("/v1/fetches/999");
    assert_eq!(gone.status, 404);
    let withdrawn = a.post("/v1/own/orders/withdraw", &json!({"reason": "retired"}));
    assert_eq!(withdrawn.json().unwrap()["version"], 2);
    b.wait_until("/v1/products", |v| v.as_array().is_some_and(Vec::is_empty));
}

/// Fills a documented path's parameters with well-formed values.
fn concrete(path: &str) -> String {
    path.replace("{domain}", &"ab".repeat(16))
        .replace("{name}", "orders")
        .replace("{id}", "987654")
}

#[test]
fn openapi_document_lists_every_route_the_server_answers() {
    let a = start("sales", None);
    let doc = a.get("/openapi.json");
    assert_eq!(doc.status, 200);
    let doc = doc.json().unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "delete", "put", "patch"] {
            let answer = call(
                a.api,
                &method.to_uppercase(),
                &concrete(path),
                Some(&a.token),
                None,
            )
            .unwrap();
            let fallback = answer.status == 404
                && String::from_utf8_lossy(&answer.body).contains("no such route");
            if item.get(method).is_some() {
                // Documented: the server has the route (it may still refuse
                // the empty request, but not as an unknown route).
                assert!(
                    !fallback && answer.status != 405,
                    "{method} {path} is documented but not answered: {}",
                    answer.status
                );
                documented.push(format!("{} {path}", method.to_uppercase()));
            } else {
                // Not documented: the server must not answer it either.
                assert!(
                    fallback || answer.status == 405,
                    "{method} {path} is answered ({}) but not documented",
                    answer.status
                );
            }
        }
    }
    // The routes the CLI relies on are among them.
    for route in [
        "GET /health",
        "GET /openapi.json",
        "GET /metrics",
        "GET /v1/status",
        "GET /v1/peers",
        "GET /v1/products",
        "GET /v1/products/{domain}/{name}",
        "GET /v1/products/{domain}/{name}/versions",
        "GET /v1/products/{domain}/{name}/providers",
        "POST /v1/uploads",
        "POST /v1/publish",
        "POST /v1/own/{name}/withdraw",
        "POST /v1/own/{name}/deprecate",
        "GET /v1/resolve",
        "POST /v1/fetches",
        "GET /v1/fetches/{id}",
        "DELETE /v1/fetches/{id}",
    ] {
        assert!(documented.iter().any(|d| d == route), "{route} missing");
    }
    // Malformed parameters get JSON errors too, and a wrong method a JSON 405.
    for path in [
        "/v1/products?include_deprecated=maybe",
        "/v1/fetches/not-a-number",
        &format!("/v1/products/{}/orders?version=x", "ab".repeat(16)),
    ] {
        let answer = a.get(path);
        assert_eq!(
            (answer.status, code(&answer).as_str()),
            (400, "bad_request"),
            "{path}"
        );
    }
    let wrong = call(a.api, "PUT", "/v1/status", Some(&a.token), None).unwrap();
    assert_eq!(
        (wrong.status, code(&wrong).as_str()),
        (405, "method_not_allowed")
    );
    // Without a token, even an unknown route says only 401.
    let unknown = call(a.api, "GET", "/v1/unknown", None, None).unwrap();
    assert_eq!(unknown.status, 401);
    // Paths outside the document are not answered.
    for path in ["/v1/unknown", "/v2/status", "/v1/products/a/b/c/d"] {
        let answer = a.get(path);
        assert_eq!(answer.status, 404, "{path}");
    }
    // Every operation but /health declares the token; /health opts out.
    assert!(doc["components"]["securitySchemes"]["token"].is_object());
    assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([{}]));
}

#[test]
fn metrics_peers_versions_and_providers() {
    let a = start("sales", None);
    let b = start("billing", Some(&a.addr));
    let peers = a.wait_until("/v1/peers", |v| v.as_array().is_some_and(|p| p.len() == 1));
    assert_eq!(peers[0]["peer_id"], b.peer_id.as_str());
    assert_eq!(peers[0]["direction"], "inbound");

    let data = vec![7u8; 100_000];
    publish(&a, "orders", &data);
    let second = publish(&a, "orders", &data[..50_000]);
    assert_eq!(second["version"], 2);
    let domain = second["product"]["domain"].as_str().unwrap().to_owned();
    let product = format!("/v1/products/{domain}/orders");
    let versions = b.wait_until(&format!("{product}/versions"), |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    });
    let numbers: Vec<u64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Descriptor"]["value"]["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
    let old = b.get(&format!("{product}?version=1")).json().unwrap();
    assert_eq!(old["Descriptor"]["value"]["content"]["size"], 100_000);
    let missing = b.get(&format!("{product}?version=9"));
    assert_eq!(
        (missing.status, code(&missing).as_str()),
        (404, "unknown_version")
    );

    let providers = b.get(&format!("{product}/providers")).json().unwrap();
    assert_eq!(providers["providers"], json!([a.peer_id]));

    let metrics = a.get("/metrics");
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(text.contains("meshd_publishes_total 2"), "{text}");
    assert!(text.contains("# TYPE meshd_catalog_products gauge"));
    // Every turn of the event loop is timed; this node has had many.
    let turns: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("meshd_loop_turn_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the loop's turn-time histogram");
    assert!(turns > 0, "{text}");
    assert!(
        text.contains("libp2p_swarm_connections_incoming_total"),
        "libp2p metrics missing"
    );
    assert!(text.trim_end().ends_with("# EOF"));
    let unauthorised = call(a.api, "GET", "/metrics", None, None).unwrap();
    assert_eq!(unauthorised.status, 401);
}
