//! Systematic exploration of a slot's consensus ([`Consensus`], Tendermint's
//! rounds) over small federations: 4 or 5 members, 2-3 competing proposals
//! that become eligible at different members at different times, one
//! Byzantine member that equivocates (different prevotes, precommits and
//! round proposals to different members), and a network that drops, delays,
//! duplicates and reorders messages and is partitioned until a heal (GST).
//! Members also crash and restart from what they persisted, some of them
//! between persisting and sending.
//!
//! Every run checks:
//! - agreement: never two different decisions (certificates) for the slot;
//! - the one-vote-per-step rule: no correct member ever signs two different
//!   prevotes or precommits for one round, crashes included;
//! - validity: the decided proposal was eligible (approved) at some correct
//!   member;
//! - termination: once the network heals and at least a quorum of correct
//!   members are connected, every correct member decides within a bounded
//!   number of rounds after the heal.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;

use mesh_protocol::governance::{
    Consensus, Durable, FederationId, Output, ProposalId, RoundMessage, RoundProposal, RoundTimes,
    RoundVote, Timeout, Values, VoteKind,
};
use mesh_protocol::{DomainId, DomainKeypair, Hash, Signed};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// A small seeded generator (SplitMix64), so a failing case replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`lo` when empty).
    fn below(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next() % (hi - lo)
        }
    }

    fn pct(&mut self, pct: u32) -> bool {
        self.below(0, 100) < u64::from(pct)
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(0, len as u64)).unwrap_or(0)
    }
}

const TIMES: RoundTimes = RoundTimes {
    base_ms: 100,
    growth_ms: 50,
    max_ms: 3_000,
};
/// Largest delay of a message after the heal.
const DELTA_MS: u64 = 40;
/// Anti-entropy period after the heal (what catch-up does in the node).
const CATCH_UP_MS: u64 = 500;

struct Values_ {
    valid: BTreeSet<ProposalId>,
    order: Vec<ProposalId>,
}

impl Values for Values_ {
    fn is_valid(&self, value: &ProposalId) -> bool {
        self.valid.contains(value)
    }
    fn candidate(&self) -> Option<ProposalId> {
        self.order.iter().find(|v| self.valid.contains(v)).copied()
    }
}

enum Event {
    Deliver {
        to: usize,
        message: RoundMessage,
    },
    Timeout {
        node: usize,
        timeout: Timeout,
        epoch: u32,
    },
    Valid {
        node: usize,
        value: ProposalId,
    },
    Restart {
        node: usize,
    },
    CatchUp,
    Byzantine,
}

struct Member {
    consensus: Option<Consensus>,
    persisted: Option<Durable>,
    values: Values_,
    /// Bumped on every restart, so timers armed before a crash are void.
    epoch: u32,
    decided: Option<ProposalId>,
}

struct Run {
    keys: Vec<Arc<DomainKeypair>>,
    ids: Vec<DomainId>,
    federation: FederationId,
    quorum: usize,
    byzantine: Option<usize>,
    members: Vec<Member>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Event>>,
    seq: u64,
    now: u64,
    gst: u64,
    groups: Vec<usize>,
    drop_pct: u32,
    dup_pct: u32,
    crash_pct: u32,
    rng: Rng,
    signed: BTreeMap<(DomainId, u32, VoteKind), BTreeSet<Option<ProposalId>>>,
    ever_valid: BTreeSet<ProposalId>,
    round_at_gst: u32,
}

impl Run {
    fn push(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.events.push(Some(event));
        let index = self.events.len() - 1;
        self.queue.push(Reverse((at, self.seq, index)));
    }

    fn honest(&self, i: usize) -> bool {
        Some(i) != self.byzantine
    }

    /// Sends `message` from `from` to `to` through the network model.
    fn send(&mut self, from: usize, to: usize, message: &RoundMessage) {
        let healed = self.now >= self.gst;
        if !healed {
            if self.groups[from] != self.groups[to] {
                return;
            }
            if self.rng.pct(self.drop_pct) {
                return;
            }
        }
        let max_delay = if healed { DELTA_MS } else { 3 * DELTA_MS };
        let copies = if self.rng.pct(self.dup_pct) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.rng.below(1, max_delay + 1);
            self.push(
                self.now + delay,
                Event::Deliver {
                    to,
                    message: message.clone(),
                },
            );
        }
    }

    fn broadcast(&mut self, from: usize, message: &RoundMessage) {
        for to in 0..self.members.len() {
            if to != from {
                self.send(from, to, message);
            }
        }
    }

    /// Carries out a correct member's outputs: persist, then send; or, when
    /// it crashes in between, persist and lose the sends.
    fn carry_out(&mut self, node: usize, outputs: Vec<Output>) {
        let broadcasts = outputs.iter().any(|o| matches!(o, Output::Broadcast(_)));
        if broadcasts {
            let durable = self.members[node]
                .consensus
                .as_ref()
                .map(|c| c.durable().clone());
            self.members[node].persisted = durable;
        }
        let crash = broadcasts && self.now < self.gst && self.rng.pct(self.crash_pct);
        for output in outputs {
            match output {
                Output::Broadcast(message) => {
                    self.record(&message);
                    if !crash {
                        self.broadcast(node, &message);
                    }
                }
                Output::Schedule { timeout, after_ms } => {
                    let epoch = self.members[node].epoch;
                    self.push(
                        self.now + after_ms,
                        Event::Timeout {
                            node,
                            timeout,
                            epoch,
                        },
                    );
                }
                Output::Decided { value, .. } => {
                    let m = &mut self.members[node];
                    assert!(m.decided.is_none() || m.decided == Some(value));
                    m.decided = Some(value);
                }
                Output::Equivocation(e) => {
                    assert_eq!(Some(e.member), self.byzantine.map(|b| self.ids[b]));
                    assert!(e.verify(), "evidence must verify on its own");
                }
            }
        }
        if crash {
            let m = &mut self.members[node];
            m.consensus = None;
            m.epoch += 1;
            let at = self.now + self.rng.below(50, 500);
            self.push(
                at.min(self.gst.saturating_sub(1)).max(self.now + 1),
                Event::Restart { node },
            );
        }
    }

    /// Remembers what correct members signed, to check the one-vote rule.
    fn record(&mut self, message: &RoundMessage) {
        if let RoundMessage::Vote(v) = message {
            let set = self
                .signed
                .entry((v.signer_domain(), v.value.round, v.value.kind))
                .or_default();
            set.insert(v.value.value);
            assert!(
                set.len() == 1,
                "a correct member signed two {}s in round {}",
                v.value.kind,
                v.value.round
            );
        }
    }

    fn new_consensus(&self, node: usize) -> Consensus {
        Consensus::new(
            self.federation,
            0,
            self.ids.iter().copied(),
            self.quorum,
            Some(self.keys[node].clone()),
            TIMES,
        )
    }

    fn byzantine_step(&mut self, values: &[ProposalId]) {
        let Some(b) = self.byzantine else { return };
        let top = self
            .members
            .iter()
            .filter_map(|m| m.consensus.as_ref().map(Consensus::round))
            .max()
            .unwrap_or(0);
        for to in 0..self.members.len() {
            if to == b {
                continue;
            }
            for round in top.saturating_sub(1)..=top + 1 {
                for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                    // Mostly agree with what the receiver itself voted, so
                    // each correct member sees its own value reach quorum
                    // (the attack that splits a protocol without locks);
                    // otherwise anything.
                    let own = self
                        .signed
                        .get(&(self.ids[to], round, kind))
                        .and_then(|s| s.iter().next().copied());
                    let value = match own {
                        Some(v) if self.rng.pct(80) => v,
                        _ => values.get(self.rng.index(values.len() + 1)).copied(),
                    };
                    let vote = Signed::sign(
                        RoundVote {
                            federation: self.federation,
                            slot: 0,
                            round,
                            kind,
                            value,
                        },
                        &self.keys[b],
                    );
                    self.send(b, to, &RoundMessage::Vote(vote));
                }
                let probe = self.new_consensus(b);
                if probe.proposer(round) == Some(self.ids[b]) {
                    let pick = self.rng.index(values.len());
                    let p = Signed::sign(
                        RoundProposal {
                            federation: self.federation,
                            slot: 0,
                            round,
                            value: values[pick],
                            valid_round: None,
                        },
                        &self.keys[b],
                    );
                    self.send(b, to, &RoundMessage::Proposal(p));
                }
            }
        }
    }

    fn step(&mut self, values: &[ProposalId]) -> bool {
        let Some(Reverse((at, _, index))) = self.queue.pop() else {
            return false;
        };
        self.now = at;
        if self.now >= self.gst && self.round_at_gst == u32::MAX {
            self.round_at_gst = self
                .members
                .iter()
                .filter_map(|m| m.consensus.as_ref().map(Consensus::round))
                .max()
                .unwrap_or(0);
        }
        let Some(event) = self.events[index].take() else {
            return true;
        };
        match event {
            Event::Deliver { to, message } => {
                if !self.honest(to) {
                    return true;
                }
                let m = &mut self.members[to];
                let Some(c) = m.consensus.as_mut() else {
                    return true;
                };
                if let Ok((_, out)) = c.handle_message(message, &m.values) {
                    self.carry_out(to, out);
                }
            }
            Event::Timeout {
                node,
                timeout,
                epoch,
            } => {
                let m = &mut self.members[node];
                if m.epoch != epoch {
                    return true;
                }
                if let Some(c) = m.consensus.as_mut() {
                    let out = c.handle_timeout(timeout, &m.values);
                    self.carry_out(node, out);
                }
            }
            Event::Valid { node, value } => {
                self.ever_valid.insert(value);
                let m = &mut self.members[node];
                m.values.valid.insert(value);
                if let Some(c) = m.consensus.as_mut() {
                    let out = c.values_changed(&m.values);
                    self.carry_out(node, out);
                }
            }
            Event::Restart { node } => {
                let mut c = self.new_consensus(node);
                let m = &mut self.members[node];
                let out = match m.persisted.clone() {
                    Some(d) => c.resume(d, &m.values),
                    None => c.start(&m.values),
                };
                m.consensus = Some(c);
                self.carry_out(node, out);
            }
            Event::CatchUp => {
                for from in 0..self.members.len() {
                    if !self.honest(from) {
                        continue;
                    }
                    let held: Vec<RoundMessage> = self.members[from]
                        .consensus
                        .as_ref()
                        .map(|c| c.messages().collect())
                        .unwrap_or_default();
                    // Like the node's anti-entropy: one peer per period.
                    let to = self.rng.index(self.members.len());
                    if to != from {
                        for m in &held {
                            self.send(from, to, m);
                        }
                    }
                }
                if !self.all_decided() {
                    self.push(self.now + CATCH_UP_MS, Event::CatchUp);
                }
            }
            Event::Byzantine => {
                self.byzantine_step(values);
                if !self.all_decided() {
                    self.push(self.now + 60, Event::Byzantine);
                }
            }
        }
        true
    }

    fn all_decided(&self) -> bool {
        (0..self.members.len())
            .filter(|i| self.honest(*i))
            .all(|i| self.members[i].decided.is_some())
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    members: usize,
    proposals: usize,
    byzantine: bool,
    seed: u64,
    gst: u64,
    drop_pct: u32,
    dup_pct: u32,
    crash_pct: u32,
    partition: bool,
    /// Approvals reach members over this many ms.
    spread: u64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        4usize..=5,
        2usize..=3,
        any::<bool>(),
        any::<u64>(),
        0u64..4_000,
        0u32..40,
        0u32..20,
        0u32..10,
        any::<bool>(),
    )
        .prop_map(
            |(
                members,
                proposals,
                byzantine,
                seed,
                gst,
                drop_pct,
                dup_pct,
                crash_pct,
                partition,
            )| {
                Scenario {
                    members,
                    proposals,
                    byzantine,
                    seed,
                    gst,
                    drop_pct,
                    dup_pct,
                    crash_pct,
                    partition,
                    spread: gst + 1_000,
                }
            },
        )
}

/// The members, values and first events of a scenario.
fn setup(s: &Scenario) -> (Run, Vec<ProposalId>) {
    let keys: Vec<Arc<DomainKeypair>> = (0..s.members)
        .map(|i| {
            Arc::new(DomainKeypair::from_secret(
                [u8::try_from(i + 1).unwrap_or(1); 32],
            ))
        })
        .collect();
    let ids: Vec<DomainId> = keys.iter().map(|k| k.domain_id()).collect();
    // More than two thirds.
    let quorum = s.members * 2 / 3 + 1;
    let values: Vec<ProposalId> = (0..s.proposals)
        .map(|i| ProposalId(Hash([u8::try_from(i + 10).unwrap_or(0); 32])))
        .collect();
    let mut rng = Rng(s.seed);
    let groups: Vec<usize> = (0..s.members)
        .map(|_| if s.partition { rng.index(2) } else { 0 })
        .collect();
    let mut members = Vec::new();
    for i in 0..s.members {
        let mut order = values.clone();
        // Members pick candidates in different orders: competing values.
        order.rotate_left(i % values.len());
        members.push(Member {
            consensus: None,
            persisted: None,
            values: Values_ {
                valid: BTreeSet::new(),
                order,
            },
            epoch: 0,
            decided: None,
        });
    }
    let byzantine = s.byzantine.then_some(s.members - 1);
    let mut run = Run {
        keys,
        ids,
        federation: FederationId(Hash([1; 32])),
        quorum,
        byzantine,
        members,
        queue: BinaryHeap::new(),
        events: Vec::new(),
        seq: 0,
        now: 0,
        gst: s.gst,
        groups,
        drop_pct: s.drop_pct,
        dup_pct: s.dup_pct,
        crash_pct: s.crash_pct,
        rng,
        signed: BTreeMap::new(),
        ever_valid: BTreeSet::new(),
        round_at_gst: u32::MAX,
    };
    // Value 0 is approved; each other one is, or is not. An approved value
    // becomes valid at each correct member at its own time, some before the
    // heal and some after it (as approvals spread by gossip and catch-up);
    // an unapproved one never does.
    let approved: Vec<bool> = (0..values.len())
        .map(|k| k == 0 || run.rng.pct(50))
        .collect();
    for node in 0..s.members {
        if !run.honest(node) {
            continue;
        }
        for (k, value) in values.iter().enumerate() {
            if approved[k] {
                let at = run.rng.below(0, s.spread);
                run.push(
                    at,
                    Event::Valid {
                        node,
                        value: *value,
                    },
                );
            }
        }
        run.push(0, Event::Restart { node });
    }
    run.push(s.gst, Event::CatchUp);
    if byzantine.is_some() {
        run.push(0, Event::Byzantine);
    }
    (run, values)
}

/// Runs one scenario; returns the decision and the rounds used after GST.
fn run(s: &Scenario) -> (ProposalId, u32) {
    let (mut run, values) = setup(s);
    let deadline = s.gst + 120_000;
    while run.now <= deadline && !run.all_decided() {
        if !run.step(&values) {
            break;
        }
    }
    assert!(
        run.all_decided(),
        "no decision by {} ms after the heal; rounds: {:?}",
        deadline - s.gst,
        run.members
            .iter()
            .map(|m| m.consensus.as_ref().map(Consensus::round))
            .collect::<Vec<_>>()
    );
    let decisions: BTreeSet<ProposalId> = run.members.iter().filter_map(|m| m.decided).collect();
    assert_eq!(decisions.len(), 1, "two different decisions for one slot");
    let decided = *decisions.iter().next().unwrap_or(&values[0]);
    assert!(
        run.ever_valid.contains(&decided),
        "decided an unapproved value"
    );
    let top = run
        .members
        .iter()
        .filter_map(|m| m.consensus.as_ref().map(Consensus::round))
        .max()
        .unwrap_or(0);
    let at_gst = if run.round_at_gst == u32::MAX {
        0
    } else {
        run.round_at_gst
    };
    (decided, top.saturating_sub(at_gst))
}

proptest! {
    #![proptest_config(Config { cases: 192, ..Config::default() })]

    #[test]
    fn a_slot_decides_once_and_after_the_heal(s in scenario()) {
        let (_, rounds_after_heal) = run(&s);
        // An honest proposer comes round within `members` rounds, and the
        // timeouts outgrow the heal's delays within a few more.
        prop_assert!(
            rounds_after_heal <= u32::try_from(s.members).unwrap_or(8) + 4,
            "{} rounds after the heal", rounds_after_heal
        );
    }
}

#[test]
fn a_clean_network_decides_in_the_first_round() {
    let s = Scenario {
        members: 4,
        proposals: 2,
        byzantine: false,
        seed: 1,
        gst: 0,
        drop_pct: 0,
        dup_pct: 0,
        crash_pct: 0,
        partition: false,
        spread: 0,
    };
    let (_, rounds) = run(&s);
    assert_eq!(rounds, 0, "{rounds} rounds");
}
