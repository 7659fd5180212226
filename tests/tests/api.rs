//! The local HTTP API of real `meshd` processes.
#![allow(
    clippy::unwrap_used,
    reason = "helpers shared by tests: a failed unwrap is a failed test"
)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesh_node::api::client::{Answer, call, json_body};
use mesh_tests::meshd_binary;
use serde_json::{Value, json};

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    api: SocketAddr,
    token: String,
    addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(domain: &str, bootstrap: Option<&str>) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let ok = Command::new(meshd_binary())
        .args(["init", "--data-dir", &d, "--domain", domain])
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(ok.success());
    let mut args = vec![
        "run".to_owned(),
        "--data-dir".into(),
        d,
        "--no-mdns".into(),
        "--listen".into(),
        "/ip4/127.0.0.1/tcp/0".into(),
        "--api".into(),
        "127.0.0.1:0".into(),
    ];
    if let Some(b) = bootstrap {
        args.extend(["--bootstrap".into(), b.to_owned()]);
    }
    let mut child = Command::new(meshd_binary())
        .args(&args)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let info = mesh_tests::wait_node_info(dir.path(), &mut child);
    let token = std::fs::read_to_string(dir.path().join("api.token"))
        .unwrap()
        .trim()
        .to_owned();
    let addr = format!(
        "{}/p2p/{}",
        info["listen_addrs"][0].as_str().unwrap(),
        info["peer_id"].as_str().unwrap()
    );
    Daemon {
        child,
        api: info["api"].as_str().unwrap().parse().unwrap(),
        token,
        dir,
        addr,
    }
}

impl Daemon {
    fn get(&self, path: &str) -> Answer {
        call(self.api, "GET", path, Some(&self.token), None).unwrap()
    }

    fn post(&self, path: &str, body: &Value) -> Answer {
        let bytes = json_body(body);
        let mut reader = &bytes[..];
        call(
            self.api,
            "POST",
            path,
            Some(&self.token),
            Some((&mut reader, bytes.len() as u64, "application/json")),
        )
        .unwrap()
    }

    /// Uploads bytes; returns the upload id.
    fn upload(&self, data: &[u8]) -> Value {
        let mut reader = data;
        let up = call(
            self.api,
            "POST",
            "/v1/uploads",
            Some(&self.token),
            Some((&mut reader, data.len() as u64, "application/octet-stream")),
        )
        .unwrap();
        assert_eq!(up.status, 200, "{}", String::from_utf8_lossy(&up.body));
        up.json().unwrap()["upload_id"].clone()
    }

    fn publish(&self, name: &str, data: &[u8]) -> Value {
        let draft = json!({"name": name, "title": "Orders", "format": "Csv", "chunk_size": 65536});
        let answer = self.post(
            "/v1/publish",
            &json!({"upload_id": self.upload(data), "draft": draft}),
        );
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        answer.json().unwrap()
    }

    /// Polls (bounded) until `check` holds for the answer of `path`.
    fn wait_until(&self, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + mesh_tests::TIMEOUT;
        loop {
            let v = self.get(path).json().unwrap();
            if check(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{path} never satisfied: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
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
    let bad_name = a.publish_err("Bad Name");
    assert_eq!(
        (bad_name.status, code(&bad_name).as_str()),
        (400, "invalid_descriptor")
    );
    // Nothing was published by any of these.
    assert_eq!(a.get("/v1/status").json().unwrap()["catalog_size"], 0);
}

impl Daemon {
    fn publish_err(&self, name: &str) -> Answer {
        let upload_id = self.upload(b"a,b\n");
        self.post(
            "/v1/publish",
            &json!({"upload_id": upload_id, "draft": {"name": name, "title": "X", "format": "Csv"}}),
        )
    }
}

#[test]
fn publish_on_a_list_and_fetch_on_b_through_the_api() {
    let a = start("sales", None);
    let b = start("billing", Some(&a.addr));
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let receipt = a.publish("orders", &data);
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
    let withdrawn = a.post(
        "/v1/products/orders/withdraw",
        &json!({"reason": "retired"}),
    );
    assert_eq!(withdrawn.json().unwrap()["version"], 2);
    b.wait_until("/v1/products", |v| v.as_array().is_some_and(Vec::is_empty));
}
