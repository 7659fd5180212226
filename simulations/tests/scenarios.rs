//! The simulator end to end: a small version of every shipped scenario
//! (tests/scenarios/, tens of nodes) runs with real nodes and meets its
//! expectations; equivocating members are caught and a split vote does not
//! wedge its slot; a partition really holds a product back until the heal;
//! a seed reproduces a run's outcome; a failed expectation fails the run
//! and the binary's exit code; runs on two threads meet the same
//! expectations, partitions included.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};

use mesh_sim::engine::RunOptions;
use mesh_sim::{Report, Scenario, engine};

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn run_small(name: &str) -> Report {
    let scenario = Scenario::load(&dir("tests/scenarios").join(format!("{name}.toml"))).unwrap();
    let report = engine::run(&scenario).unwrap();
    assert!(
        report.passed(),
        "{name} failed its expectations:\n{}",
        report.summary()
    );
    assert!(!report.expectations.is_empty());
    report
}

/// Runs a scenario given inline and checks it met its expectations.
fn run_inline(text: &str, name: &str) -> Report {
    let scenario = Scenario::from_toml(text, name).unwrap();
    let report = engine::run(&scenario).unwrap();
    assert!(report.passed(), "{}", report.summary());
    report
}

#[test]
fn every_shipped_scenario_has_a_small_version_that_runs() {
    let names = |d: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir(d))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let shipped = names("scenarios");
    assert_eq!(shipped, names("tests/scenarios"));
    for name in &shipped {
        let scenario = Scenario::load(&dir("scenarios").join(format!("{name}.toml"))).unwrap();
        assert!(
            engine::unsupported(&scenario).is_empty(),
            "{name} needs what the engine cannot run"
        );
    }
}

#[test]
fn small_baseline_100() {
    let report = run_small("baseline-100");
    assert_eq!(report.fetches.completed, report.fetches.started);
}

#[test]
fn small_baseline_1000() {
    let report = run_small("baseline-1000");
    assert!(report.propagation.iter().all(|p| p.reached == p.population));
}

#[test]
fn small_churn_30() {
    run_small("churn-30");
}

#[test]
fn small_corrupted_providers() {
    let report = run_small("corrupted-providers");
    assert!(report.fetches.completed > 0);
}

#[test]
fn small_gossip_spam() {
    let report = run_small("gossip-spam");
    // The spam was sent: adversaries put far more bytes on the wire than
    // the quietest honest node.
    assert!(report.traffic.bytes_sent.max > 10 * report.traffic.bytes_sent.min);
}

#[test]
fn small_partition_heal() {
    let report = run_small("partition-heal");
    assert!(report.convergence.is_some());
    // The two-faced member signed conflicting round votes, and the honest
    // nodes that saw them kept the evidence; one certificate all the same.
    let f = report.federation.unwrap();
    assert_eq!(f.conflicting_versions, 0, "{f:?}");
    assert_eq!(f.versions_decided, 1, "{f:?}");
    assert_eq!(f.equivocating_members, 1, "{f:?}");
    assert!(f.equivocations >= 2, "{f:?}");
    assert!(f.nodes_with_evidence > 0, "{f:?}");
}

#[test]
fn small_split_vote() {
    let report = run_small("split-vote");
    let proposal = |label: &str| {
        report
            .ratification
            .iter()
            .find(|r| r.proposal == label)
            .unwrap_or_else(|| panic!("no {label} in {:?}", report.ratification))
    };
    // Each split proposal: 10 honest approvals and the two-faced one, 10
    // rejections: more than 21 - 15, so rejected, and never decided.
    for split in ["owners", "no-public-pii"] {
        let r = proposal(split);
        assert_eq!((r.approvals, r.rejections, r.needed), (11, 10, 15), "{r:?}");
        assert_eq!(r.deciding_vote_at_ms, None, "{r:?}");
        assert_eq!(r.round, None, "{r:?}");
        assert_eq!(r.vote_to_certificate_ms, None, "{r:?}");
        assert_eq!(
            r.outcome, "rejected; slot 0 went to `classification`",
            "{r:?}"
        );
    }
    // The third proposal took the slot. Right approved at 42 s, left at
    // 44 s: the deciding vote (the 15th approval) was left's, and the time
    // to the decision runs from it, not from the first vote.
    let c = proposal("classification");
    assert_eq!((c.approvals, c.rejections, c.needed), (21, 0, 15), "{c:?}");
    assert_eq!(
        c.first_vote_at_ms.map(|ms| (ms / 1000.0).floor()),
        Some(42.0)
    );
    assert_eq!(
        c.deciding_vote_at_ms.map(|ms| (ms / 1000.0).floor()),
        Some(44.0)
    );
    assert!(c.round.is_some(), "{c:?}");
    let to_certificate = c.vote_to_certificate_ms.unwrap();
    let everywhere = c.vote_to_everywhere_ms.unwrap();
    assert!(
        to_certificate > 0.0 && to_certificate <= everywhere && everywhere < 10_000.0,
        "{c:?}"
    );
    let summary = report.summary();
    assert!(
        summary.contains("vote to decision (from the deciding vote"),
        "{summary}"
    );
    assert!(summary.contains("classification: "), "{summary}");
    // One decision everywhere, and the equivocating member caught.
    let f = report.federation.unwrap();
    assert_eq!(
        (f.nodes, f.versions_decided, f.conflicting_versions),
        (20, 1, 0),
        "{f:?}"
    );
    assert_eq!(f.equivocating_members, 1, "{f:?}");
    assert!(f.nodes_with_evidence > 0, "{f:?}");
}

#[test]
fn small_two_regions() {
    run_small("two-regions");
}

const PARTITIONED: &str = r#"
[network]
name = "held-back"
seed = 3
run_for = "50s"
bootstrap = "full"

[link]
latency = "20ms"

[[groups]]
name = "a"
count = 3

[[groups]]
name = "b"
count = 3

[[events]]
at = "2s"
action = "partition"
sides = [["a"], ["b"]]

[[events]]
at = "5s"
action = "publish"
node = "a/0"
product = "x"
size = "4KiB"

[[events]]
at = "20s"
action = "heal"

[[expect]]
kind = "reach"
product = "x"
nodes = "a"
within = "1s"

[[expect]]
kind = "reach"
product = "x"
within = "40s"
"#;

#[test]
fn a_partition_holds_a_product_back_until_the_heal() {
    let report = run_inline(PARTITIONED, "held-back");
    let x = &report.propagation[0];
    assert_eq!(x.reached, 6);
    // Side a had it at once (20 ms links); side b only after the heal,
    // 15 s after the publish.
    let fast = x.samples_ms.iter().filter(|&&ms| ms < 1000.0).count();
    let late = x.samples_ms.iter().filter(|&&ms| ms >= 15_000.0).count();
    assert_eq!((fast, late), (3, 3), "{:?}", x.samples_ms);
}

/// 30 nodes whose DHT lookups connect them to most others; every node
/// publishes once.
const CROWDED: &str = r#"
[network]
name = "crowded"
seed = 5
run_for = "40s"
nodes = 30
bootstrap = "random:4"

[link]
latency = "20ms"

[[events]]
at = "3s"
action = "publish"
node = "nodes/0"
product = "x"
size = "4KiB"

[[expect]]
kind = "reach"
product = "x"
within = "5s"
"#;

#[test]
fn nodes_trim_connections_to_the_water_marks_and_still_gossip() {
    let open = |settings: &str| run_inline(&format!("{CROWDED}\n{settings}"), "crowded").traffic;
    // The daemon's defaults (48 peers) never trim a 30-node mesh.
    let untrimmed = open("");
    let trimmed = open("[node]\npeers_low = 6\npeers_high = 8\n");
    // Without trimming no connection closes: the DHT lookups leave each
    // node connected to most of the mesh.
    assert_eq!(
        untrimmed.connections_at_end.total,
        untrimmed.connections_opened.total
    );
    assert!(untrimmed.connections_at_end.mean > 15.0, "{untrimmed:?}");
    // With trimming, connections the nodes opened beyond their needs are
    // closed again, and the product still reached every node.
    assert!(
        trimmed.connections_at_end.mean < untrimmed.connections_at_end.mean * 0.8,
        "trimmed {trimmed:?} untrimmed {untrimmed:?}"
    );
    assert!(trimmed.connections_at_end.total < trimmed.connections_opened.total);
}

#[test]
fn node_settings_meshd_refuses_are_a_scenario_error() {
    let err = Scenario::from_toml(
        &format!("{CROWDED}\n[node]\npeers_low = 9\npeers_high = 8\n"),
        "bad",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("peers_low"), "{err}");
    assert!(Scenario::from_toml(&format!("{CROWDED}\n[node]\npeers = 3\n"), "bad").is_err());
}

/// Eight nodes started one after another over 8 s; node 0 publishes at
/// 1 s, while most of the mesh is not up yet.
const ROLLING: &str = r#"
[network]
name = "rolling"
seed = 2
run_for = "20s"
nodes = 8
bootstrap = "star"
start_over = "8s"

[link]
latency = "20ms"

[[events]]
at = "1s"
action = "publish"
node = "nodes/0"
product = "x"
size = "4KiB"

[[expect]]
kind = "reach"
product = "x"
within = "15s"
"#;

#[test]
fn a_rolling_start_starts_each_node_at_its_turn() {
    let report = run_inline(ROLLING, "rolling");
    let x = &report.propagation[0];
    assert_eq!(x.reached, 8);
    // Node k starts at k seconds and can hold the product only after that:
    // 1 s after the publish at the earliest for node 2, 6 s for node 7.
    // Started all at once, every node would have it within a second.
    let samples = &x.samples_ms;
    assert_eq!(samples.len(), 8, "{samples:?}");
    for (k, ms) in (0u32..).zip(samples).skip(2) {
        let earliest = f64::from(k - 1) * 1000.0;
        assert!(*ms >= earliest, "the {k}th arrival at {ms} ms: {samples:?}");
    }
    assert!(samples[7] < 10_000.0, "{samples:?}");
}

/// Forty nodes joining one after another: each joiner's first Kademlia
/// bootstrap fills its routing table from empty, which makes libp2p queue a
/// second one, and every node already up sees newcomers join.
const JOINING: &str = r#"
[network]
name = "joining"
seed = 9
run_for = "40s"
nodes = 40
bootstrap = "random:2"
start_over = "10s"

[link]
latency = "20ms"

[[events]]
at = "12s"
action = "publish"
node = "nodes/0"
product = "x"
size = "64KiB"

[[events]]
at = "20s"
action = "fetch"
nodes = "nodes/30..40"
product = "x"

[[expect]]
kind = "reach"
product = "x"
within = "5s"

[[expect]]
kind = "fetch_completes"
within = "15s"
"#;

#[test]
fn a_joining_node_runs_one_full_dht_bootstrap() {
    let report = run_inline(JOINING, "joining");
    let t = &report.traffic;
    // Every node ran exactly one full bootstrap: the repeats libp2p starts
    // were cut to their own-id lookup (and there were some to cut).
    assert_eq!(t.dht_bootstraps_full.min, 1, "{t:?}");
    assert_eq!(t.dht_bootstraps_full.max, 1, "{t:?}");
    assert_eq!(t.dht_bootstraps_full.total, 40, "{t:?}");
    assert!(t.dht_bootstraps_shortened.total >= 20, "{t:?}");
    // The DHT still works: the late joiners found a provider and fetched.
    assert_eq!(report.fetches.completed, 10, "{:?}", report.fetches);
}

/// What a run decided, without the timings libp2p's own randomness moves
/// by a few milliseconds.
fn outcome(report: &Report) -> (Vec<(String, usize)>, usize, Vec<bool>, u64) {
    (
        report
            .propagation
            .iter()
            .map(|p| (p.product.clone(), p.reached))
            .collect(),
        report.fetches.completed,
        report.expectations.iter().map(|e| e.pass).collect(),
        report.simulated_time_ms.round() as u64,
    )
}

#[test]
fn a_seed_reproduces_the_outcome() {
    let scenario = Scenario::load(&dir("tests/scenarios/baseline-100.toml")).unwrap();
    let first = engine::run(&scenario).unwrap();
    let second = engine::run(&scenario).unwrap();
    assert_eq!(outcome(&first), outcome(&second));
    assert_eq!(first.seed, second.seed);
}

#[test]
fn a_failed_expectation_fails_the_binary() {
    let out = tempfile::tempdir().unwrap();
    let scenario = out.path().join("impossible.toml");
    std::fs::write(
        &scenario,
        PARTITIONED.replace("within = \"40s\"", "within = \"10s\""),
    )
    .unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_mesh-sim"))
        .args(["run", scenario.to_str().unwrap(), "--out"])
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["expectations"][1]["pass"], false);
    assert!(out.path().join("report.svg").exists());
}

fn on_two_threads(scenario: &Scenario) -> Report {
    let report = engine::run_with(scenario, RunOptions { threads: 2 }).unwrap();
    assert!(report.passed(), "{}", report.summary());
    report
}

#[test]
fn two_threads_meet_the_shipped_expectations() {
    // Links of 5 to 25 ms: a 5 ms lockstep window.
    let scenario = Scenario::load(&dir("tests/scenarios/baseline-100.toml")).unwrap();
    let report = on_two_threads(&scenario);
    let p = &report.parallelism;
    assert_eq!(p.threads, 2, "{p:?}");
    assert!((p.window_ms - 5.0).abs() < 1e-9, "{p:?}");
    assert_eq!(p.waited_ms.len(), 2);
    assert_eq!(report.fetches.completed, report.fetches.started);
    assert!(report.propagation.iter().all(|p| p.reached == p.population));
    assert!(report.summary().contains("on 2 threads in 5ms windows"));
}

#[test]
fn a_partition_holds_across_threads_until_the_heal() {
    // Nodes 0, 2, 4 run on one thread and 1, 3, 5 on the other, so both
    // sides of the partition span both threads.
    let scenario = Scenario::from_toml(PARTITIONED, "held-back").unwrap();
    let report = on_two_threads(&scenario);
    assert_eq!(report.parallelism.threads, 2);
    let x = &report.propagation[0];
    assert_eq!(x.reached, 6);
    let fast = x.samples_ms.iter().filter(|&&ms| ms < 1000.0).count();
    let late = x.samples_ms.iter().filter(|&&ms| ms >= 15_000.0).count();
    assert_eq!((fast, late), (3, 3), "{:?}", x.samples_ms);
}

#[test]
fn links_that_can_take_no_time_leave_one_thread() {
    // A normal latency can draw 0 ms: no lookahead for a second thread.
    let text = PARTITIONED.replace(
        "latency = \"20ms\"",
        "latency = { mean = \"20ms\", stddev = \"5ms\" }",
    );
    let scenario = Scenario::from_toml(&text, "normal").unwrap();
    assert_eq!(scenario.min_latency(), std::time::Duration::ZERO);
    let report = on_two_threads(&scenario);
    assert_eq!(report.parallelism.threads, 1);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("ran on one thread, not 2")),
        "{:?}",
        report.notes
    );
}
