//! The engine's limits and hostile bytes, against a real `meshd` with a
//! 16 MiB query budget: an aggregate over far more groups than the budget
//! holds completes exactly (it spills), a join whose build side cannot fit
//! fails with "out of memory budget" and the node goes on; results stream
//! as CSV, JSON Lines and Arrow IPC; a copy whose bytes were damaged on
//! disk fails its query with one line naming the product, and the node
//! goes on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use mesh_tests::cli::{fails, mesh, stdout_json};
use mesh_tests::query::{files, small_budget_node, wait};
use serde_json::{Value, json};

#[test]
fn beyond_the_budget_an_aggregate_spills_and_a_join_fails_cleanly() {
    let node = small_budget_node(3000);
    let spill = node.dir.path().join("query-spill");
    // 9 million rows, 2,000,003 groups: far beyond 16 MiB of hash table.
    let groups = "SELECT count(*) AS groups, sum(n) AS total FROM (\
                  SELECT (a.id * 3000 + b.id) % 2000003 AS k, count(*) AS n \
                  FROM lab.t a CROSS JOIN lab.t b GROUP BY k) g";
    let answer = stdout_json(&mesh(Some(&node), &["query", groups, "--json"]));
    assert_eq!(answer["rows"], json!([[2_000_003, 9_000_000]]), "{answer}");
    wait("its spill files are removed", || files(&spill) == 0);

    // A hash join builds its whole left side in memory: 9 million keys do
    // not fit, and the query says so instead of the node being killed.
    let join = "SELECT count(*) FROM \
                (SELECT a.id * 3000 + b.id AS k FROM lab.t a CROSS JOIN lab.t b) x \
                JOIN (SELECT a.id * 3000 + b.id AS k FROM lab.t a CROSS JOIN lab.t b) y \
                ON x.k = y.k";
    let line = fails(
        &mesh(Some(&node), &["query", join]),
        1,
        "out of memory budget",
    );
    assert!(line.contains("memory_limit_mib"), "{line}");
    let status = node.get("/v1/status");
    assert_eq!(status.status, 200, "the node goes on");
    wait("its spill files are removed", || files(&spill) == 0);
}

#[test]
fn results_stream_in_every_format_and_a_damaged_copy_fails_its_query() {
    let node = small_budget_node(1000);
    let sql = "SELECT id, id * 2 AS twice FROM lab.t WHERE id < 3 ORDER BY id";
    let body = |format: &str| {
        let answer = node.post("/v1/query", &json!({ "sql": sql, "format": format }));
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        answer.body
    };
    assert_eq!(
        String::from_utf8(body("csv")).unwrap(),
        "id,twice\n0,0\n1,2\n2,4\n"
    );
    let lines: Vec<Value> = String::from_utf8(body("jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"id": 0, "twice": 0}),
            json!({"id": 1, "twice": 2}),
            json!({"id": 2, "twice": 4})
        ]
    );
    // Arrow IPC stream: messages behind the continuation marker, and the
    // end-of-stream marker last.
    let arrow = body("arrow");
    assert_eq!(arrow[..4], [0xff; 4]);
    assert_eq!(
        arrow[arrow.len() - 8..],
        [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
    );

    // A Parquet product made by the node itself (-o), published, queried.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("evens.parquet");
    let wrote = mesh(
        Some(&node),
        &[
            "query",
            "SELECT id FROM lab.t WHERE id % 2 = 0",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        wrote.status.success(),
        "{}",
        String::from_utf8_lossy(&wrote.stderr)
    );
    let published = stdout_json(&mesh(
        Some(&node),
        &[
            "publish",
            file.to_str().unwrap(),
            "--name",
            "evens",
            "--json",
        ],
    ));
    let count = |sql: &str| stdout_json(&mesh(Some(&node), &["query", sql, "--json"]));
    assert_eq!(
        count("SELECT count(*) AS n FROM lab.evens")["rows"],
        json!([[500]])
    );

    // Its verified copy damaged on disk (a bad sector, a hostile
    // neighbour): the query fails in one line naming the product.
    let blob = node
        .dir
        .path()
        .join("blobs")
        .join(published["manifest_hash"].as_str().unwrap());
    let len = std::fs::metadata(&blob).unwrap().len();
    std::fs::write(&blob, vec![0xA5; usize::try_from(len).unwrap()]).unwrap();
    fails(
        &mesh(Some(&node), &["query", "SELECT count(*) FROM lab.evens"]),
        1,
        "lab.evens@1",
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM lab.t")["rows"],
        json!([[1000]])
    );
}
