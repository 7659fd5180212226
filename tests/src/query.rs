//! Nodes for the query tests: a small memory budget, a product of
//! integers, the running queries, and the files a query left behind.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test harness: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use crate::TIMEOUT;
use crate::cli::{mesh, stdout_json, write};
use crate::daemon::{Daemon, init, run};

/// `mesh publish FILE --name NAME --descriptor YAML --json` on `node`;
/// asserts a version came back and returns the receipt.
pub fn publish(node: &Daemon, file: &str, name: &str, descriptor: &str) -> serde_json::Value {
    let out = stdout_json(&mesh(
        Some(node),
        &[
            "publish",
            file,
            "--name",
            name,
            "--descriptor",
            descriptor,
            "--json",
        ],
    ));
    assert!(out["version"].is_number(), "{out}");
    out
}

/// A node whose engine may hold 16 MiB, with one product of `rows`
/// integers.
pub fn small_budget_node(rows: u32) -> Daemon {
    let dir = init("lab", &[]);
    let config = dir.path().join("meshd.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("\nmemory_limit_mib = 1024\n"), "{text}");
    let text = text.replace("\nmemory_limit_mib = 1024\n", "\nmemory_limit_mib = 16\n");
    std::fs::write(&config, text).unwrap();
    let node = run(dir, None, &[]);
    let csv: String = std::iter::once("id".to_owned())
        .chain((0..rows).map(|i| i.to_string()))
        .map(|line| line + "\n")
        .collect();
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "t.csv", &csv);
    let yaml = write(
        work.path(),
        "t.yaml",
        "title: T\nschema: {fields: [{name: id, type: int64, nullable: false}]}\n",
    );
    publish(&node, &file, "t", &yaml);
    node
}

/// Files under `dir`, recursively.
pub fn files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() { files(&path) } else { 1 }
        })
        .sum()
}

/// Polls `check` (bounded by [`TIMEOUT`]) until it holds.
pub fn wait(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ids of the queries running on `node`.
pub fn running(node: &Daemon) -> Vec<String> {
    node.get("/v1/queries").json().unwrap()["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap().to_owned())
        .collect()
}
