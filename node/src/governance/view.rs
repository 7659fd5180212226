//! The federation, its open proposals and the current slot's rounds as the
//! API, the CLI and (later) the web UI show them: plain serialisable views,
//! built from the node's governance state.

use mesh_protocol::governance::{ProposalStatus, Step};
use mesh_protocol::{DomainId, Timestamp};
use serde::{Deserialize, Serialize};

use super::Governance;

/// One way a product breaks the federation's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Issue {
    /// The rule (`membership` or a policy such as `require-owner`).
    pub rule: String,
    /// What is wrong and what would fix it.
    pub reason: String,
}

/// A product's standing against the federation's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Compliance {
    /// `DOMAINID/name`.
    pub product: String,
    /// Whether it meets every rule.
    pub compliant: bool,
    /// Every rule it breaks.
    pub issues: Vec<Issue>,
}

/// A member as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberView {
    /// Domain name.
    pub name: String,
    /// Domain id.
    pub domain_id: String,
    /// Domain public key (hex).
    pub key: String,
}

/// Proof that a member signed two different votes in one step of a round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EquivocationView {
    /// The member's domain id.
    pub member: String,
    /// The slot (state version) it equivocated in.
    pub slot: u64,
    /// The round.
    pub round: u32,
    /// `prevote` or `precommit`.
    pub kind: String,
    /// The two values it voted for (a proposal id or `nil`).
    pub proposals: [String; 2],
}

/// The current slot's consensus as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlotView {
    /// The slot: the version every proposal in it builds on.
    pub slot: u64,
    /// `waiting` (no proposal approved yet: no rounds run), `deciding`
    /// (rounds running), or `locked` (this member precommitted a proposal
    /// and prevotes only it until a later round shows a quorum for another).
    pub state: String,
    /// The round this node is in.
    pub round: u32,
    /// Its step: `propose`, `prevote` or `precommit`.
    pub step: String,
    /// The proposal this member is locked on, if any.
    pub locked: Option<String>,
    /// The round it locked in.
    pub locked_round: Option<u32>,
    /// The round's proposer (domain name).
    pub proposer: Option<String>,
    /// What each member did in this round.
    pub members: Vec<MemberRoundView>,
}

/// One member's prevote and precommit in a round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberRoundView {
    /// Domain name.
    pub name: String,
    /// Domain id.
    pub domain_id: String,
    /// Its prevote: a proposal id, `nil`, or absent if none was seen.
    pub prevote: Option<String>,
    /// Its precommit, likewise.
    pub precommit: Option<String>,
}

/// One member's vote on a proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberVoteView {
    /// Domain name.
    pub name: String,
    /// Domain id.
    pub domain_id: String,
    /// Approve or reject.
    pub approve: bool,
    /// Why.
    pub reason: String,
    /// When (ms since the epoch).
    pub cast_at_ms: u64,
}

/// The federation's current state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FederationView {
    /// Federation id (genesis hash).
    pub id: String,
    /// Name.
    pub name: String,
    /// Certificates applied since genesis.
    pub version: u64,
    /// Hash of the last certificate.
    pub head: String,
    /// Quorum rule, e.g. `2/3` (more than two thirds).
    pub quorum: String,
    /// Members.
    pub members: Vec<MemberView>,
    /// Policies in force.
    pub policies: Vec<String>,
    /// Whether this node's domain is a member (otherwise it observes).
    pub member: bool,
    /// Equivocation evidence seen.
    pub equivocations: Vec<EquivocationView>,
    /// Every decision since genesis, oldest first.
    pub decisions: Vec<DecisionView>,
    /// The current slot's rounds.
    pub slot: SlotView,
}

/// One ratified change: the certificate that took the federation to
/// `version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionView {
    /// The version it made.
    pub version: u64,
    /// The proposal's id.
    pub proposal: String,
    /// What changed.
    pub change: String,
    /// Approvals in the certificate.
    pub votes: usize,
    /// The consensus round that decided it.
    pub round: u32,
    /// Precommits in the certificate.
    pub precommits: usize,
}

/// A proposal of the current slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProposalView {
    /// Proposal id.
    pub id: String,
    /// The state version it builds on (its slot).
    pub base_version: u64,
    /// The change, e.g. `add policy require-owner`.
    pub change: String,
    /// Why.
    pub reason: String,
    /// Proposer's domain id.
    pub proposer: String,
    /// Created (ms since the epoch).
    pub created_at_ms: u64,
    /// Votes after this instant do not count (ms since the epoch).
    pub expires_at_ms: u64,
    /// Member yes votes.
    pub yes: usize,
    /// Member no votes.
    pub no: usize,
    /// Yes votes needed.
    pub needed: usize,
    /// Members voting.
    pub members: usize,
    /// This node's vote, if any.
    pub my_vote: Option<bool>,
    /// `open`, `approved` (eligible; the rounds decide the slot),
    /// `rejected` or `expired` (both failed: they hold nothing).
    pub status: String,
    /// Why it stands where it does, in words.
    pub status_reason: String,
    /// Every member's vote with its reason.
    pub votes: Vec<MemberVoteView>,
    /// Whether its voting time is over (by this node's clock); it stays
    /// listed until its slot is decided.
    pub expired: bool,
}

fn value_name(v: Option<mesh_protocol::governance::ProposalId>) -> String {
    v.map_or_else(|| "nil".to_owned(), |id| id.to_string())
}

impl Governance {
    fn member_name(&self, d: &DomainId) -> String {
        self.fed
            .state()
            .members
            .get(d)
            .map_or_else(|| d.to_string(), |m| m.name.clone())
    }

    /// The federation as the API shows it.
    pub(crate) fn view(&self, me: DomainId) -> FederationView {
        let s = self.fed.state();
        FederationView {
            id: s.id.to_string(),
            name: s.name.clone(),
            version: s.version,
            head: s.head.to_string(),
            quorum: s.quorum.to_string(),
            members: s
                .members
                .values()
                .map(|m| MemberView {
                    name: m.name.clone(),
                    domain_id: m.domain().to_string(),
                    key: m.key.to_string(),
                })
                .collect(),
            policies: s.policies.iter().map(ToString::to_string).collect(),
            member: s.is_member(&me),
            equivocations: self
                .evidence
                .iter()
                .map(|e| EquivocationView {
                    member: e.member.to_string(),
                    slot: e.slot,
                    round: e.votes.0.value.round,
                    kind: e.votes.0.value.kind.to_string(),
                    proposals: [
                        value_name(e.votes.0.value.value),
                        value_name(e.votes.1.value.value),
                    ],
                })
                .collect(),
            decisions: self
                .fed
                .chain()
                .iter()
                .zip(1..)
                .map(|(c, version)| DecisionView {
                    version,
                    proposal: c.proposal.value.id().to_string(),
                    change: c.proposal.value.change.to_string(),
                    votes: c.approvals.len(),
                    round: c.round,
                    precommits: c.precommits.len(),
                })
                .collect(),
            slot: self.slot_view(),
        }
    }

    /// The current slot's rounds.
    pub(crate) fn slot_view(&self) -> SlotView {
        let c = &self.consensus;
        let state = if c.locked().is_some() {
            "locked"
        } else if c.is_started() {
            "deciding"
        } else {
            "waiting"
        };
        SlotView {
            slot: c.slot(),
            state: state.to_owned(),
            round: c.round(),
            step: match c.step() {
                Step::Propose => "propose",
                Step::Prevote => "prevote",
                Step::Precommit => "precommit",
            }
            .to_owned(),
            locked: c.locked().map(|(v, _)| v.to_string()),
            locked_round: c.locked().map(|(_, r)| r),
            proposer: c.proposer(c.round()).map(|d| self.member_name(&d)),
            members: c
                .round_votes(c.round())
                .into_iter()
                .map(|(d, prevote, precommit)| MemberRoundView {
                    name: self.member_name(&d),
                    domain_id: d.to_string(),
                    prevote: prevote.map(value_name),
                    precommit: precommit.map(value_name),
                })
                .collect(),
        }
    }

    /// The slot's proposals with their tallies, status, every member's vote
    /// and this node's; statuses by this node's clock `now`.
    pub(crate) fn proposals(&self, me: DomainId, now: Timestamp) -> Vec<ProposalView> {
        self.ballots
            .proposals()
            .map(|p| {
                let id = p.value.id();
                let tally = self.ballots.tally(&self.fed, &id);
                let mine = self
                    .ballots
                    .votes(&id)
                    .filter(|v| v.signer_domain() == me)
                    .map(|v| v.value.approve)
                    .last();
                let status = self.ballots.status(&self.fed, &id, now);
                let status_reason = match status {
                    ProposalStatus::Open => format!(
                        "{} of {} approvals so far; voting until {} ms",
                        tally.yes, tally.needed, p.value.expires_at.0
                    ),
                    ProposalStatus::Approved => format!(
                        "approved by {} of {} members; the slot's rounds decide it",
                        tally.yes, tally.members
                    ),
                    ProposalStatus::Rejected => format!(
                        "{} of {} members rejected it, so it cannot reach {} approvals; the slot is free",
                        tally.no, tally.members, tally.needed
                    ),
                    ProposalStatus::Expired => format!(
                        "expired with {} of {} approvals; the slot is free",
                        tally.yes, tally.needed
                    ),
                };
                ProposalView {
                    id: id.to_string(),
                    base_version: p.value.base_version,
                    change: p.value.change.to_string(),
                    reason: p.value.reason.clone(),
                    proposer: p.signer_domain().to_string(),
                    created_at_ms: p.value.created_at.0,
                    expires_at_ms: p.value.expires_at.0,
                    yes: tally.yes,
                    no: tally.no,
                    needed: tally.needed,
                    members: tally.members,
                    my_vote: mine,
                    expired: now > p.value.expires_at,
                    status: status.to_string(),
                    status_reason,
                    votes: self
                        .ballots
                        .votes(&id)
                        .map(|v| MemberVoteView {
                            name: self.member_name(&v.signer_domain()),
                            domain_id: v.signer_domain().to_string(),
                            approve: v.value.approve,
                            reason: v.value.reason.clone(),
                            cast_at_ms: v.value.cast_at.0,
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// What a vote command produced.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct VoteReceipt {
    /// The proposal.
    pub proposal: String,
    /// The vote.
    pub approve: bool,
    /// Where the proposal stands after the vote: `open`, `approved` (a
    /// quorum approved it; the slot's rounds decide it), `rejected` or
    /// `expired`.
    pub status: String,
    /// Whether the change is already in force (the slot was decided while
    /// the vote was taken).
    pub ratified: bool,
    /// The federation's version after the vote.
    pub version: u64,
}
