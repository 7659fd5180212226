//! Tests of the scenario format: the shipped files, loading, the errors a
//! person sees, and node selection.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// A small valid scenario; tests append to it.
const BASE: &str = r#"
[network]
name = "t"
run_for = "1m"

[[regions]]
name = "eu"

[[regions]]
name = "us"

[[groups]]
name = "west"
count = 4
region = "eu"

[[groups]]
name = "bad"
count = 2
region = "us"
role = "adversary"

[[events]]
at = "1s"
action = "publish"
node = "west/0"
product = "orders"
"#;

fn load(extra: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_toml(&format!("{BASE}{extra}"), "t.toml")
}

fn problems(extra: &str) -> Vec<Problem> {
    match load(extra) {
        Err(ScenarioError::Invalid { problems, .. }) => problems,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

fn joined(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap()
}

#[test]
fn every_shipped_scenario_loads_and_validates() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(scenarios_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert_eq!(scenario.network.name, stem, "name and file name differ");
        assert!(!scenario.expectations.is_empty(), "{stem} expects nothing");
        // What is loaded writes back to the same scenario.
        let again = Scenario::from_toml(&scenario.to_toml().unwrap(), &stem).unwrap();
        assert_eq!(again, scenario, "{stem} does not round-trip");
        names.push(stem);
    }
    names.sort();
    for required in [
        "baseline-100",
        "baseline-1000",
        "churn-30",
        "corrupted-providers",
        "gossip-spam",
        "partition-heal",
        "split-vote",
        "two-regions",
    ] {
        assert!(names.iter().any(|n| n == required), "{required} missing");
    }
}

#[test]
fn shipped_scenarios_cover_every_adversary_and_fault() {
    let mut behaviours = BTreeSet::new();
    let mut actions = BTreeSet::new();
    let mut checks = BTreeSet::new();
    for entry in std::fs::read_dir(scenarios_dir()).unwrap() {
        let path = entry.unwrap().path();
        let scenario = Scenario::load(&path).unwrap();
        behaviours.extend(scenario.adversaries.iter().map(|a| a.behaviour.name()));
        actions.extend(scenario.events.iter().map(|e| e.action.name()));
        checks.extend(scenario.expectations.iter().map(|e| e.check.name()));
    }
    for kind in [
        "forge_descriptors",
        "replay_stale",
        "corrupt_chunks",
        "spam_gossip",
        "equivocate_votes",
    ] {
        assert!(behaviours.contains(kind), "no scenario uses {kind}");
    }
    for action in [
        "publish",
        "fetch",
        "propose",
        "vote",
        "partition",
        "heal",
        "churn",
        "join",
        "leave",
        "degrade",
    ] {
        assert!(actions.contains(action), "no scenario uses {action}");
    }
    assert!(checks.contains("no_conflicting_certificates"));
    assert!(checks.contains("converged_after_heal"));
    assert!(checks.contains("decided_after_heal"));
}

#[test]
fn split_vote_splits_the_members_so_neither_proposal_can_pass() {
    let s = Scenario::load(&scenarios_dir().join("split-vote.toml")).unwrap();
    let members = s.resolve(&s.federation.members).unwrap();
    assert!(members.len() >= 30, "{} members", members.len());
    // More than two thirds must approve; more than n - quorum rejections
    // reject.
    let needed = members.len() * 2 / 3 + 1;
    let mut yes: BTreeMap<&str, BTreeSet<NodeIndex>> = BTreeMap::new();
    let mut no: BTreeMap<&str, BTreeSet<NodeIndex>> = BTreeMap::new();
    let mut heal = None;
    for e in &s.events {
        match &e.action {
            Action::Vote {
                nodes,
                proposal,
                choice,
                reason,
            } => {
                assert!(reason.as_ref().is_some_and(|r| !r.is_empty()));
                let into = if *choice == Choice::Yes {
                    &mut yes
                } else {
                    &mut no
                };
                into.entry(proposal)
                    .or_default()
                    .extend(s.resolve(nodes).unwrap());
            }
            Action::Heal {} => heal = Some(e.at),
            _ => {}
        }
    }
    let heal = heal.unwrap();
    // The two adversaries approve everything too.
    let adversaries = s.resolve(&NodeSet::group("twofaced")).unwrap();
    for split in ["owners", "no-public-pii"] {
        assert!(yes[split].len() + adversaries.len() < needed, "{split}");
        assert!(no[split].len() > members.len() - needed, "{split}");
    }
    // The third proposal comes after the heal and every honest member
    // approves it.
    let third = s
        .events
        .iter()
        .find(|e| matches!(&e.action, Action::Propose { proposal, .. } if proposal == "classification"))
        .unwrap();
    assert!(third.at > heal);
    assert_eq!(yes["classification"], s.honest_nodes());
}

#[test]
fn a_vote_carries_a_reason_of_bounded_length() {
    let vote = |reason: &str| {
        format!(
            r#"
[[events]]
at = "2s"
action = "propose"
node = "west/0"
proposal = "p"
change = {{ add_policy = "require-owner" }}

[[events]]
at = "3s"
action = "vote"
nodes = "west/1..3"
proposal = "p"
choice = "no"
reason = "{reason}"
"#
        )
    };
    let s = load(&vote("owners are not the problem")).unwrap();
    let reasons: Vec<_> = s
        .events
        .iter()
        .filter_map(|e| match &e.action {
            Action::Vote { reason, choice, .. } => Some((reason.clone(), *choice)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [(Some("owners are not the problem".to_owned()), Choice::No)]
    );
    // It writes back as it was read.
    assert_eq!(Scenario::from_toml(&s.to_toml().unwrap(), "t").unwrap(), s);
    // Without one, the vote has none.
    let bare = load(&vote("x").replace("reason = \"x\"\n", "")).unwrap();
    assert!(
        bare.events
            .iter()
            .any(|e| matches!(&e.action, Action::Vote { reason: None, .. }))
    );
    // A reason longer than a node would sign is refused, at its line.
    let long = "r".repeat(mesh_protocol::governance::MAX_VOTE_REASON + 1);
    let text = vote(&long);
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{}", joined(&p));
    assert!(
        p[0].message
            .contains("the reason is 1025 bytes; a vote's reason is at most 1024"),
        "{}",
        joined(&p)
    );
    assert_eq!(p[0].field, "events[2].reason");
    assert_eq!(
        p[0].line,
        Some(line_of(&format!("{BASE}{text}"), "reason = "))
    );
    // At the limit it is fine.
    let longest = "r".repeat(mesh_protocol::governance::MAX_VOTE_REASON);
    assert!(load(&vote(&longest)).is_ok());
}

#[test]
fn decided_after_heal_needs_a_proposal_a_heal_and_a_deadline_in_the_run() {
    let timeline = r#"
[[events]]
at = "2s"
action = "propose"
node = "west/0"
proposal = "p"
change = { add_policy = "require-owner" }
"#;
    let expect = |proposal: &str, within: &str| {
        format!(
            r#"
[[expect]]
kind = "decided_after_heal"
proposal = "{proposal}"
within = "{within}"
"#
        )
    };
    let heal = "\n[[events]]\nat = \"40s\"\naction = \"heal\"\n";
    let ok = load(&format!("{timeline}{heal}{}", expect("p", "20s"))).unwrap();
    assert_eq!(ok.expectations[0].check.name(), "decided_after_heal");
    assert_eq!(
        ok.expectations[0].label(),
        "the slot of `p` decided at 100% of honest nodes within 20s of the heal"
    );
    let no_heal = joined(&problems(&format!("{timeline}{}", expect("p", "20s"))));
    assert!(
        no_heal.contains("no `heal` event to decide after"),
        "{no_heal}"
    );
    let unknown = joined(&problems(&format!(
        "{timeline}{heal}{}",
        expect("q", "20s")
    )));
    assert!(
        unknown.contains("names proposal `q`, which no event proposes"),
        "{unknown}"
    );
    let late = joined(&problems(&format!(
        "{timeline}{heal}{}",
        expect("p", "21s")
    )));
    assert!(
        late.contains(
            "the deadline 1m1s (last heal at 40s + 21s) is after the end of the run (1m)"
        ),
        "{late}"
    );
    let bad_fraction = joined(&problems(&format!(
        "{timeline}{heal}{}fraction = 0\n",
        expect("p", "20s")
    )));
    assert!(
        bad_fraction.contains("fraction 0 is not above 0"),
        "{bad_fraction}"
    );
}

#[test]
fn partition_heal_has_conflicting_proposals_on_both_sides() {
    let s = Scenario::load(&scenarios_dir().join("partition-heal.toml")).unwrap();
    let Some(Action::Partition { sides }) = s
        .events
        .iter()
        .map(|e| &e.action)
        .find(|a| matches!(a, Action::Partition { .. }))
    else {
        panic!("no partition");
    };
    let sides: Vec<_> = sides.iter().map(|side| s.resolve(side).unwrap()).collect();
    let proposers: Vec<NodeIndex> = s
        .events
        .iter()
        .filter_map(|e| match &e.action {
            Action::Propose { node, .. } => Some(s.node_index(node).unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(proposers.len(), 2);
    assert!(sides[0].contains(&proposers[0]) && sides[1].contains(&proposers[1]));
}

#[test]
fn node_count_shorthand_becomes_a_group() {
    let s = Scenario::from_toml(
        "[network]\nname = \"n\"\nrun_for = \"10s\"\nnodes = 5\n",
        "n.toml",
    )
    .unwrap();
    assert_eq!(s.network.nodes, None);
    assert_eq!(s.groups.len(), 1);
    assert_eq!(s.groups[0].name, DEFAULT_GROUP);
    assert_eq!(s.node_count(), 5);
    assert_eq!(s.network.bootstrap, Topology::Random { peers: 8 });
    assert_eq!(s.network.seed, 0);
}

#[test]
fn nodes_and_groups_together_are_refused() {
    assert!(load("").is_ok());
    let text = BASE.replace("run_for = \"1m\"", "run_for = \"1m\"\nnodes = 3");
    let Err(ScenarioError::Invalid { problems, .. }) = Scenario::from_toml(&text, "t.toml") else {
        panic!("accepted");
    };
    assert_eq!(problems[0].field, "network.nodes");
    assert!(problems[0].message.contains("not both"));
}

#[test]
fn unknown_group_is_named_with_time_field_and_line() {
    let extra = "\n[[events]]\nat = \"5s\"\naction = \"crash\"\nnodes = \"asia\"\n";
    let err = load(extra).unwrap_err();
    let ScenarioError::Invalid { problems, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(problems.len(), 1);
    let p = &problems[0];
    assert_eq!(p.field, "events[1].nodes");
    assert_eq!(p.message, "event at 5s names unknown node group `asia`");
    let text = format!("{BASE}{extra}");
    assert_eq!(p.line, Some(line_of(&text, "nodes = \"asia\"")));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("t.toml:{}: events[1].nodes: ", p.line.unwrap())),
        "{shown}"
    );
}

#[test]
fn misspelt_keys_and_bad_values_are_parse_errors_with_lines() {
    let err = load("\n[[events]]\nat = \"5s\"\naction = \"crash\"\nnodez = \"west\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `nodez`"), "{err}");
    assert!(err.contains("line"), "{err}");

    let extra = "\n[[events]]\nat = \"5 seconds\"\naction = \"heal\"\n";
    let err = load(extra).unwrap_err().to_string();
    assert!(err.contains("is not a duration"), "{err}");
    let line = line_of(&format!("{BASE}{extra}"), "5 seconds");
    assert!(err.contains(&format!("line {line}")), "{err}");

    let err = load("\n[[events]]\nat = \"5s\"\naction = \"explode\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `explode`"), "{err}");

    let err = Scenario::from_toml(
        "[network]\nname = \"x\"\nrun_for = \"1m\"\nseeds = 1\n",
        "x",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `seeds`"), "{err}");

    let err = load(
        "\n[[expect]]\nkind = \"reach\"\nproduct = \"orders\"\nwithin = \"5s\"\nfractoin = 1\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `fractoin`"), "{err}");

    let err = load("\n[[adversaries]]\nnodes = \"bad\"\nkind = \"spam_gossip\"\nrat = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `rat`"), "{err}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = problems(
        r#"
[[events]]
at = "2m"
action = "fetch"
nodes = "west/9"
product = "invoices"

[[events]]
at = "3s"
action = "vote"
nodes = "west"
proposal = "nope"

[[events]]
at = "4s"
action = "partition"
sides = [["west"], ["west/0", "bad"]]

[[adversaries]]
nodes = "west"
kind = "corrupt_chunks"

[[expect]]
kind = "reach"
product = "orders"
within = "2m"

[[expect]]
kind = "converged_after_heal"
within = "5s"
"#,
    );
    let messages: Vec<String> = p.iter().map(ToString::to_string).collect();
    let expect = [
        "event at 2m is after the end of the run (1m)",
        "event at 2m names node `west/9` does not exist: group `west` has 4 nodes",
        "fetches product `invoices`, which no event publishes",
        "votes on proposal `nope`, which no event proposes",
        "node `west/0` is on side 0 and side 1",
        "names group `west`, whose role is honest",
        "the deadline 2m1s (publish at 1s + 2m) is after the end of the run (1m)",
        "no `heal` event to converge after",
    ];
    for needle in expect {
        assert!(
            messages.iter().any(|m| m.contains(needle)),
            "no problem says {needle:?}: {messages:#?}"
        );
    }
    assert!(p.iter().all(|p| p.line.is_some()), "{p:#?}");
}

#[test]
fn regions_and_links_are_checked() {
    let text = BASE.replace("region = \"us\"", "region = \"asia\"")
        + "\n[[links]]\nbetween = [\"eu\", \"mars\"]\nloss = 2.0\n";
    let Err(ScenarioError::Invalid { problems, .. }) = Scenario::from_toml(&text, "t") else {
        panic!("accepted");
    };
    let all = joined(&problems);
    assert!(
        all.contains("group `bad` names unknown region `asia`"),
        "{all}"
    );
    assert!(all.contains("link names unknown region `mars`"), "{all}");
    assert!(
        all.contains("links[0].loss: loss 2 is not between 0 and 1"),
        "{all}"
    );
}

#[test]
fn fetch_before_publish_and_bad_fractions_are_refused() {
    let p = problems(
        "\n[[events]]\nat = \"0s\"\naction = \"fetch\"\nnodes = \"west\"\nproduct = \"orders\"\n\
         \n[[events]]\nat = \"2s\"\naction = \"churn\"\nfraction = 1.5\nperiod = \"0s\"\n",
    );
    let all = joined(&p);
    assert!(all.contains("before its first publish at 1s"), "{all}");
    assert!(all.contains("fraction 1.5 is not above 0"), "{all}");
    assert!(all.contains("period must be above zero"), "{all}");
}

#[test]
fn events_are_sorted_by_time_keeping_file_order() {
    let s = load(
        "\n[[events]]\nat = \"30s\"\naction = \"heal\"\n\
         \n[[events]]\nat = \"0s\"\naction = \"leave\"\nnodes = \"west/1\"\n\
         \n[[events]]\nat = \"30s\"\naction = \"restart\"\nnodes = \"west/1\"\n",
    )
    .unwrap();
    let order: Vec<&str> = s.events.iter().map(|e| e.action.name()).collect();
    assert_eq!(order, ["leave", "publish", "heal", "restart"]);
}

#[test]
fn selectors_resolve_to_node_indices() {
    let s = load("").unwrap();
    let set = |text: &str| -> NodeSet {
        toml::from_str::<toml::Table>(&format!("n = {text}"))
            .map(|t| t["n"].clone().try_into().unwrap())
            .unwrap()
    };
    let resolve = |text: &str| {
        s.resolve(&set(text))
            .map(|n| n.into_iter().collect::<Vec<_>>())
    };
    assert_eq!(resolve("\"all\""), Ok((0..6).collect()));
    assert_eq!(resolve("\"honest\""), Ok((0..4).collect()));
    assert_eq!(resolve("\"adversaries\""), Ok(vec![4, 5]));
    assert_eq!(resolve("\"bad/1\""), Ok(vec![5]));
    assert_eq!(resolve("[\"west/1..3\", \"bad/0\"]"), Ok(vec![1, 2, 4]));
    assert_eq!(
        resolve("\"west/2..9\""),
        Err(SelectError::NoSuchNode {
            group: "west".into(),
            index: 8,
            count: 4
        })
    );
    assert_eq!(
        resolve("\"east\""),
        Err(SelectError::UnknownGroup("east".into()))
    );
    assert_eq!(s.honest_nodes().len(), 4);
    let nodes = s.nodes();
    assert_eq!(nodes.len(), 6);
    assert_eq!(nodes[5].name.to_string(), "bad/1");
    assert_eq!(nodes[5].region, RegionId(1));
    assert_eq!(nodes[5].role, Role::Adversary);
    assert_eq!(s.region_id("us"), Some(RegionId(1)));
}

#[test]
fn reserved_words_cannot_name_groups() {
    let text = BASE.replace("name = \"bad\"", "name = \"honest\"");
    let Err(ScenarioError::Invalid { problems, .. }) = Scenario::from_toml(&text, "t") else {
        panic!("accepted");
    };
    assert!(problems[0].message.contains("cannot name a group"));
}

#[test]
fn baseline_is_valid_at_every_size() {
    for n in [1, 2, 100, 1000] {
        let s = Scenario::baseline(n).unwrap();
        assert_eq!(s.node_count(), n);
        assert_eq!(s.network.name, format!("baseline-{n}"));
        let again = Scenario::from_toml(&s.to_toml().unwrap(), "baseline").unwrap();
        assert_eq!(again, s);
    }
    assert!(Scenario::baseline(0).is_err());
}

#[test]
fn baseline_starts_ten_nodes_a_second_and_publishes_once_all_are_up() {
    let s = Scenario::baseline(300).unwrap();
    assert_eq!(s.network.start_over, Duration::from_secs(30));
    let last_start = s.start_times().last().unwrap().0;
    assert!(last_start < s.network.start_over);
    let first_publish = s.events.iter().map(|e| e.at).min().unwrap();
    assert_eq!(first_publish, Duration::from_secs(35));
    assert_eq!(s.network.run_for, Duration::from_secs(75));
}

#[test]
fn a_rolling_start_spreads_the_online_nodes_in_node_order() {
    let mut s = load("").unwrap();
    assert!(
        s.start_times().iter().all(|(at, _)| at.is_zero()),
        "without start_over all start at once"
    );
    s.groups[1].starts_online = false;
    s.network.start_over = Duration::from_secs(8);
    let times: Vec<(u64, NodeIndex)> = s
        .start_times()
        .into_iter()
        .map(|(at, i)| (at.as_secs(), i))
        .collect();
    // The 4 `west` nodes over 8 s; the offline `bad` group waits for a join.
    assert_eq!(times, vec![(0, 0), (2, 1), (4, 2), (6, 3)]);
}

#[test]
fn a_rolling_start_must_end_before_the_run() {
    let text = BASE.replace("run_for = \"1m\"", "run_for = \"1m\"\nstart_over = \"2m\"");
    let problems = match Scenario::from_toml(&text, "t.toml") {
        Err(ScenarioError::Invalid { problems, .. }) => problems,
        other => panic!("expected validation problems, got {other:?}"),
    };
    let text = joined(&problems);
    assert!(text.contains("network.start_over"), "{text}");
    assert!(text.contains("must end before the run"), "{text}");
}

#[test]
fn headline_describes_the_run() {
    let s = load("").unwrap();
    assert_eq!(
        s.headline(),
        "t: 6 nodes in 2 groups, 2 regions, 1 events, runs 1m"
    );
}

#[test]
fn the_readme_example_is_valid() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let start = readme.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let scenario = Scenario::from_toml(&readme[start..end], "README.md example")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.network.name, "small-split");
    assert_eq!(scenario.regions.len(), 2);
}
