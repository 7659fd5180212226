//! The messages of a slot's consensus rounds: the round proposer's
//! `PROPOSAL`, and every member's `PREVOTE` and `PRECOMMIT`, as the
//! Tendermint paper names them (Buchman, Kwon, Milosevic, "The latest gossip
//! on BFT consensus", 2018, Algorithm 1).
//!
//! They are machine messages: a member's node signs them by itself, and only
//! for proposals the federation's members approved (see
//! [`super::tendermint`]). A member that signs two different prevotes (or
//! precommits) for one round is caught and the pair kept as
//! [`Equivocation`] evidence.

use serde::{Deserialize, Serialize};

use super::genesis::FederationId;
use super::proposal::ProposalId;
use crate::identity::DomainId;
use crate::signed::{Signable, Signed};

/// Which of the two voting steps a [`RoundVote`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VoteKind {
    /// First step: "this value is acceptable in this round".
    Prevote,
    /// Second step: "I saw a quorum of prevotes for this value; I lock on it".
    Precommit,
}

impl std::fmt::Display for VoteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Prevote => "prevote",
            Self::Precommit => "precommit",
        })
    }
}

/// The round proposer's pick of a value for its round (`PROPOSAL` in the
/// paper). The value is a proposal id; its content and approvals travel as
/// proposals and votes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoundProposal {
    /// The federation.
    pub federation: FederationId,
    /// The slot (the state version every competing proposal builds on).
    pub slot: u64,
    /// The round within the slot.
    pub round: u32,
    /// The proposal put forward.
    pub value: ProposalId,
    /// The round in which the proposer saw a quorum of prevotes for the value
    /// (`validRound`), if any.
    pub valid_round: Option<u32>,
}

impl Signable for RoundProposal {
    const TAG: &'static str = "meshd/v2/round-proposal";
}

/// A member's prevote or precommit in one round: for a value, or for none
/// (`nil`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoundVote {
    /// The federation.
    pub federation: FederationId,
    /// The slot.
    pub slot: u64,
    /// The round.
    pub round: u32,
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// The value voted for, or `None` for nil.
    pub value: Option<ProposalId>,
}

impl Signable for RoundVote {
    const TAG: &'static str = "meshd/v2/round-vote";
}

/// One consensus message as gossip and catch-up carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoundMessage {
    /// A round proposer's `PROPOSAL`.
    Proposal(Signed<RoundProposal>),
    /// A `PREVOTE` or `PRECOMMIT`.
    Vote(Signed<RoundVote>),
}

impl RoundMessage {
    /// The slot the message belongs to.
    pub fn slot(&self) -> u64 {
        match self {
            Self::Proposal(p) => p.value.slot,
            Self::Vote(v) => v.value.slot,
        }
    }

    /// The round the message belongs to.
    pub fn round(&self) -> u32 {
        match self {
            Self::Proposal(p) => p.value.round,
            Self::Vote(v) => v.value.round,
        }
    }

    /// The federation the message belongs to.
    pub fn federation(&self) -> FederationId {
        match self {
            Self::Proposal(p) => p.value.federation,
            Self::Vote(v) => v.value.federation,
        }
    }

    /// The member that signed it.
    pub fn signer(&self) -> DomainId {
        match self {
            Self::Proposal(p) => p.signer_domain(),
            Self::Vote(v) => v.signer_domain(),
        }
    }
}

/// Proof that a member signed two different prevotes or precommits in one
/// round: what Tendermint's safety argument assumes a correct member never
/// does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocation {
    /// The member.
    pub member: DomainId,
    /// The slot.
    pub slot: u64,
    /// Both signed votes (same slot, round and kind, different values).
    pub votes: (Signed<RoundVote>, Signed<RoundVote>),
}

impl Equivocation {
    /// Checks the evidence on its own: both signatures valid, one signer,
    /// same federation, slot, round and kind, different values.
    pub fn verify(&self) -> bool {
        let (a, b) = &self.votes;
        a.verify().is_ok()
            && b.verify().is_ok()
            && a.signer == b.signer
            && a.signer_domain() == self.member
            && a.value.federation == b.value.federation
            && a.value.slot == self.slot
            && b.value.slot == self.slot
            && a.value.round == b.value.round
            && a.value.kind == b.value.kind
            && a.value.value != b.value.value
    }
}
