//! The node's governance over a real store: votes and proposals checked,
//! persisted and taken back after a restart; the slot's rounds resumed from
//! what a member synced; evidence kept.

use std::collections::BTreeSet;

use mesh_protocol::Timestamp;
use mesh_protocol::governance::{
    Change, Member, ProposalError, ProposalId, Quorum, RoundMessage, RoundVote, Step, Timeout,
    VoteError, VoteKind,
};
use mesh_protocol::policy::PolicyRule;

use super::*;
use crate::store::{MemoryStore, RocksStore};

fn keys(n: u8) -> Vec<Arc<DomainKeypair>> {
    (1..=n)
        .map(|i| Arc::new(DomainKeypair::from_secret([i; 32])))
        .collect()
}

fn genesis(keys: &[Arc<DomainKeypair>]) -> Genesis {
    let members = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Member {
            name: format!("d{i}"),
            key: k.public(),
        })
        .collect();
    Genesis::new(
        "test",
        members,
        Quorum::TWO_THIRDS,
        BTreeSet::new(),
        Timestamp(1),
    )
    .unwrap()
}

const T: Timestamp = Timestamp(1_000);
const LATER: Timestamp = Timestamp(100_000);

fn open(keys: &[Arc<DomainKeypair>], me: usize, store: Arc<dyn Store>) -> Governance {
    Governance::open(
        genesis(keys),
        store,
        keys[me].clone(),
        RoundTimes::default(),
    )
    .unwrap()
}

/// Proposes `require-owner` from this node, open until `LATER`.
fn propose_owner(gov: &mut Governance) -> Signed<Proposal> {
    gov.propose(
        Change::AddPolicy(PolicyRule::RequireOwner),
        String::new(),
        LATER,
        T,
    )
    .unwrap()
}

fn vote(gov: &Governance, key: &DomainKeypair, id: ProposalId, approve: bool) -> Signed<Vote> {
    Signed::sign(
        Vote {
            federation: gov.id(),
            proposal: id,
            base_version: gov.version(),
            approve,
            cast_at: T,
            reason: "because".into(),
        },
        key,
    )
}

fn round_vote(
    gov: &Governance,
    key: &DomainKeypair,
    kind: VoteKind,
    value: Option<ProposalId>,
) -> RoundMessage {
    RoundMessage::Vote(Signed::sign(
        RoundVote {
            federation: gov.id(),
            slot: gov.version(),
            round: 0,
            kind,
            value,
        },
        key,
    ))
}

#[test]
fn non_members_forgers_and_late_voters_do_not_count() {
    let keys = keys(3);
    let outsider = Arc::new(DomainKeypair::from_secret([9; 32]));
    let mut gov = open(&keys, 0, Arc::new(MemoryStore::default()));
    let p = propose_owner(&mut gov);
    let id = p.value.id();
    let outsider_vote = vote(&gov, &outsider, id, true);
    let mut forged = vote(&gov, &keys[1], id, true);
    forged.signature[0] ^= 1;
    let mut late = vote(&gov, &keys[2], id, true);
    late.value.cast_at = Timestamp(LATER.0 + 1);
    let late = Signed::sign(late.value, &keys[2]);
    assert!(matches!(
        gov.take_vote(&outsider_vote),
        Err(GovernanceError::Ballot(BallotError::Vote(
            VoteError::NotMember(_)
        )))
    ));
    assert!(matches!(
        gov.take_vote(&forged),
        Err(GovernanceError::Ballot(BallotError::Vote(
            VoteError::Signature(_)
        )))
    ));
    assert!(matches!(
        gov.take_vote(&late),
        Err(GovernanceError::Ballot(BallotError::Vote(
            VoteError::AfterExpiry { .. }
        )))
    ));
    assert_eq!(gov.proposals(keys[0].domain_id(), T)[0].yes, 0);
    // An outsider's node observes: it cannot propose or vote.
    let mut observer = Governance::open(
        genesis(&keys),
        Arc::new(MemoryStore::default()),
        outsider,
        RoundTimes::default(),
    )
    .unwrap();
    assert!(matches!(
        observer.propose(
            Change::AddPolicy(PolicyRule::RequireOwner),
            String::new(),
            LATER,
            T
        ),
        Err(GovernanceError::NotMember(_))
    ));
    // An expired proposal is not taken in from gossip.
    let stale = Signed::sign(
        Proposal {
            federation: gov.id(),
            base_version: 0,
            change: Change::AddPolicy(PolicyRule::PiiNeverPublic),
            reason: String::new(),
            created_at: T,
            expires_at: T,
        },
        &keys[1],
    );
    assert!(matches!(
        gov.take_proposal(stale, LATER),
        Err(GovernanceError::Ballot(BallotError::Proposal(
            ProposalError::Expired(_)
        )))
    ));
}

#[test]
fn a_vote_cannot_be_changed_and_failed_proposals_free_their_proposer() {
    let keys = keys(3);
    let mut gov = open(&keys, 0, Arc::new(MemoryStore::default()));
    let p = propose_owner(&mut gov);
    let id = p.value.id();
    gov.vote(&id, false, "not yet".into(), T).unwrap();
    assert!(matches!(
        gov.vote(&id, true, String::new(), T),
        Err(GovernanceError::AlreadyVoted {
            verb: "rejected",
            ..
        })
    ));
    // Two of three reject: it can no longer pass, and says why.
    gov.take_vote(&vote(&gov, &keys[1], id, false)).unwrap();
    let shown = &gov.proposals(keys[0].domain_id(), T)[0];
    assert_eq!(shown.status, "rejected");
    assert!(
        shown.status_reason.contains("2 of 3 members rejected it"),
        "{}",
        shown.status_reason
    );
    assert_eq!(shown.votes.len(), 2);
    assert!(
        shown
            .votes
            .iter()
            .any(|v| v.reason == "not yet" && !v.approve)
    );
    // Failed proposals do not count against the proposer's open ones.
    for days in 1..=8u32 {
        let change = Change::AddPolicy(PolicyRule::MaxRetentionDays(days));
        let q = gov.propose(change, String::new(), LATER, T).unwrap();
        if days <= 7 {
            gov.take_vote(&vote(&gov, &keys[1], q.value.id(), false))
                .unwrap();
            gov.take_vote(&vote(&gov, &keys[2], q.value.id(), false))
                .unwrap();
        }
    }
    // Eight failed and one open: room for seven more open ones.
    let mut refused = None;
    for days in 9..=20u32 {
        let change = Change::AddPolicy(PolicyRule::MaxRetentionDays(days));
        if let Err(e) = gov.propose(change, String::new(), LATER, T) {
            refused = Some((days, e));
            break;
        }
    }
    assert!(matches!(
        refused,
        Some((16, GovernanceError::TooManyProposals(_)))
    ));
}

#[test]
fn a_lone_member_decides_through_the_rounds_and_every_node_applies_the_certificate() {
    let keys = keys(1);
    let mut gov = open(&keys, 0, Arc::new(MemoryStore::default()));
    let p = propose_owner(&mut gov);
    gov.vote(&p.value.id(), true, "yes".into(), T).unwrap();
    let effects = gov.values_changed().unwrap();
    // Proposal, prevote and precommit of round 0, then the decision.
    assert_eq!(effects.messages.len(), 3);
    let cert = effects.certificate.expect("decided");
    assert_eq!(gov.version(), 1);
    assert_eq!(gov.view(keys[0].domain_id()).policies, ["require-owner"]);
    assert_eq!(gov.slot_view().slot, 1);
    // An observer applies the same certificate.
    let mut observer = Governance::open(
        genesis(&keys),
        Arc::new(MemoryStore::default()),
        Arc::new(DomainKeypair::from_secret([9; 32])),
        RoundTimes::default(),
    )
    .unwrap();
    assert!(observer.apply(cert.clone()).unwrap());
    assert!(!observer.apply(cert).unwrap(), "applied once");
    assert_eq!(observer.version(), 1);
}

#[test]
fn a_member_resumes_its_round_after_a_crash_and_never_votes_twice() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(4);
    let store = || -> Arc<dyn Store> { Arc::new(RocksStore::open(dir.path()).unwrap()) };
    let (me, p_id) = {
        let mut gov = open(&keys, 0, store());
        let p = gov
            .propose(
                Change::AddPolicy(PolicyRule::RequireOwner),
                String::new(),
                LATER,
                T,
            )
            .unwrap();
        let id = p.value.id();
        for k in &keys[..3] {
            gov.take_vote(&vote(&gov, k, id, true)).unwrap();
        }
        let started = gov.values_changed().unwrap();
        assert!(!started.timers.is_empty(), "the rounds begin");
        // Let round 0's propose step run out: this member prevotes (its
        // value if it proposed, else nil).
        let timeout = Timeout {
            slot: 0,
            round: 0,
            step: Step::Propose,
        };
        let effects = gov.on_timeout(timeout).unwrap();
        let sent: Vec<RoundMessage> = started
            .messages
            .into_iter()
            .chain(effects.messages)
            .collect();
        assert!(
            sent.iter()
                .any(|m| matches!(m, RoundMessage::Vote(v) if v.value.kind == VoteKind::Prevote))
        );
        // Dropped without any shutdown: only synced writes remain.
        (sent, id)
    };
    let mut gov = open(&keys, 0, store());
    let resumed = gov.boot().unwrap();
    // Its messages go out again, unchanged, and it is still in the prevote step.
    for m in &me {
        assert!(resumed.messages.contains(m), "{m:?} not resent");
    }
    assert_eq!(gov.slot_view().step, "prevote");
    // A proposal for round 0 arriving now does not make it prevote again.
    let proposer = gov.consensus.proposer(0).unwrap();
    let k = keys.iter().find(|k| k.domain_id() == proposer).unwrap();
    let late = RoundMessage::Proposal(Signed::sign(
        mesh_protocol::governance::RoundProposal {
            federation: gov.id(),
            slot: 0,
            round: 0,
            value: p_id,
            valid_round: None,
        },
        k,
    ));
    if let Ok((_, effects)) = gov.on_round(late) {
        assert!(
            !effects
                .messages
                .iter()
                .any(|m| matches!(m, RoundMessage::Vote(v) if v.value.kind == VoteKind::Prevote)),
            "a second prevote in round 0"
        );
    }
    // The approvals survived too: the proposal is still eligible.
    assert_eq!(gov.proposals(keys[0].domain_id(), T)[0].status, "approved");
}

#[test]
fn equivocation_in_a_round_is_kept_as_evidence_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(4);
    let store = || -> Arc<dyn Store> { Arc::new(RocksStore::open(dir.path()).unwrap()) };
    let shown = {
        let mut gov = open(&keys, 0, store());
        let a = ProposalId(mesh_protocol::Hash([1; 32]));
        let b = ProposalId(mesh_protocol::Hash([2; 32]));
        let first = round_vote(&gov, &keys[1], VoteKind::Prevote, Some(a));
        let second = round_vote(&gov, &keys[1], VoteKind::Prevote, Some(b));
        assert!(gov.on_round(first).unwrap().1.equivocations.is_empty());
        let (_, effects) = gov.on_round(second).unwrap();
        assert_eq!(effects.equivocations.len(), 1);
        let shown = gov.view(keys[0].domain_id()).equivocations;
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].member, keys[1].domain_id().to_string());
        assert_eq!(shown[0].kind, "prevote");
        shown
    };
    assert_eq!(
        open(&keys, 0, store())
            .view(keys[0].domain_id())
            .equivocations,
        shown
    );
    // A store of another federation is refused.
    let other = Genesis::new(
        "other",
        vec![Member {
            name: "x".into(),
            key: keys[0].public(),
        }],
        Quorum::TWO_THIRDS,
        BTreeSet::new(),
        Timestamp(2),
    )
    .unwrap();
    assert!(matches!(
        Governance::open(other, store(), keys[0].clone(), RoundTimes::default()),
        Err(GovernanceError::OtherFederation { .. })
    ));
}

#[test]
fn an_expired_proposal_is_caught_up_only_with_its_approvals() {
    let keys = keys(3);
    let mut source = open(&keys, 0, Arc::new(MemoryStore::default()));
    let p = source
        .propose(
            Change::AddPolicy(PolicyRule::RequireOwner),
            String::new(),
            Timestamp(2_000),
            T,
        )
        .unwrap();
    let id = p.value.id();
    let votes: Vec<Signed<Vote>> = keys.iter().map(|k| vote(&source, k, id, true)).collect();
    let mut late = open(&keys, 2, Arc::new(MemoryStore::default()));
    // Past its expiry, with too few approvals: refused.
    late.take_caught_up(vec![p.clone()], &votes[..2], LATER);
    assert!(late.proposals(keys[2].domain_id(), LATER).is_empty());
    // With a quorum of approvals cast in time: taken, and eligible.
    late.take_caught_up(vec![p], &votes, LATER);
    let shown = late.proposals(keys[2].domain_id(), LATER);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].status, "approved");
    let _ = &mut source;
}
