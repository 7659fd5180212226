//! Proposals and votes.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::genesis::{FederationId, Member, Quorum};
use crate::Hash;
use crate::descriptor::MAX_TEXT_LEN;
use crate::encoding;
use crate::identity::DomainId;
use crate::policy::PolicyRule;
use crate::signed::{Signable, Signed};
use crate::time::Timestamp;

/// One change to the federation state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Put a policy rule in force.
    AddPolicy(PolicyRule),
    /// Take a policy rule out of force.
    RemovePolicy(PolicyRule),
    /// Admit a member domain.
    AddMember(Member),
    /// Remove a member domain.
    RemoveMember(DomainId),
    /// Change the quorum rule.
    SetQuorum(Quorum),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AddPolicy(r) => write!(f, "add policy {r}"),
            Self::RemovePolicy(r) => write!(f, "remove policy {r}"),
            Self::AddMember(m) => write!(f, "add member {} ({})", m.name, m.domain()),
            Self::RemoveMember(d) => write!(f, "remove member {d}"),
            Self::SetQuorum(q) => write!(f, "set quorum {q}"),
        }
    }
}

/// A proposed change, built on one state version (its slot).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The federation it belongs to.
    pub federation: FederationId,
    /// The state version it builds on; the certificate that applies it
    /// produces version `base_version + 1`.
    pub base_version: u64,
    /// What it changes.
    pub change: Change,
    /// Why.
    pub reason: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// Votes cast after this instant do not count.
    pub expires_at: Timestamp,
}

impl Signable for Proposal {
    const TAG: &'static str = "meshd/v1/proposal";
}

/// The identity of a proposal: the hash of its content.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProposalId(pub Hash);

impl fmt::Display for ProposalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for ProposalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProposalId({})", &self.0.to_string()[..12])
    }
}

impl std::str::FromStr for ProposalId {
    type Err = crate::bytes::HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hash::from_hex(s).map(Self)
    }
}

impl Proposal {
    /// The proposal's id.
    pub fn id(&self) -> ProposalId {
        ProposalId(encoding::tagged_hash(Self::TAG, self))
    }
}

/// Longest reason a vote may carry, in bytes.
pub const MAX_VOTE_REASON: usize = 1024;

/// A member's signed approval or rejection of a proposal, made by a person
/// (`mesh vote`), with a reason. It does not bind the member to the
/// proposal: a quorum of approvals makes a proposal *eligible* for its slot,
/// and the slot's consensus rounds ([`super::tendermint`]) pick which
/// eligible proposal takes it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Vote {
    /// The federation.
    pub federation: FederationId,
    /// The proposal voted on.
    pub proposal: ProposalId,
    /// The proposal's slot (its base version).
    pub base_version: u64,
    /// Yes or no.
    pub approve: bool,
    /// When the vote was cast.
    pub cast_at: Timestamp,
    /// Why (at most [`MAX_VOTE_REASON`] bytes).
    pub reason: String,
}

impl Signable for Vote {
    const TAG: &'static str = "meshd/v2/vote";
}

/// Why a proposal is not acceptable in the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// Signature invalid.
    #[error("proposal signature invalid: {0}")]
    Signature(#[from] crate::signed::SignatureError),
    /// For another federation.
    #[error("proposal belongs to another federation")]
    WrongFederation,
    /// Proposer is not a member of the base state.
    #[error("proposer {0} is not a member")]
    NotMember(DomainId),
    /// The proposal builds on an older state that was already decided.
    #[error("proposal builds on version {got}, but the federation is at version {current}")]
    Outdated {
        /// Proposal's base version.
        got: u64,
        /// Current version.
        current: u64,
    },
    /// The proposal builds on a state this node does not have yet.
    #[error("proposal builds on version {got}, ahead of this node's version {current}")]
    Ahead {
        /// Proposal's base version.
        got: u64,
        /// Current version.
        current: u64,
    },
    /// Voting has closed.
    #[error("proposal expired at {0}")]
    Expired(Timestamp),
    /// The reason is too long.
    #[error("reason longer than {MAX_TEXT_LEN} bytes")]
    ReasonTooLong,
    /// The change cannot be applied to the state.
    #[error("change cannot apply: {0}")]
    Change(String),
}

/// Why a vote is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    /// Signature invalid.
    #[error("vote signature invalid: {0}")]
    Signature(#[from] crate::signed::SignatureError),
    /// For another federation.
    #[error("vote belongs to another federation")]
    WrongFederation,
    /// Voter is not a member of the proposal's base state.
    #[error("voter {0} is not a member")]
    NotMember(DomainId),
    /// The vote names a slot other than its proposal's.
    #[error("vote slot {vote} does not match proposal slot {proposal}")]
    WrongSlot {
        /// The vote's slot.
        vote: u64,
        /// The proposal's slot.
        proposal: u64,
    },
    /// Cast after the proposal expired.
    #[error("vote cast at {cast_at} after the proposal expired at {expires_at}")]
    AfterExpiry {
        /// When cast.
        cast_at: Timestamp,
        /// Expiry.
        expires_at: Timestamp,
    },
    /// The proposal is unknown.
    #[error("vote for unknown proposal {0}")]
    UnknownProposal(ProposalId),
    /// The reason is too long.
    #[error("vote reason longer than {MAX_VOTE_REASON} bytes")]
    ReasonTooLong,
}

/// Checks a vote against its proposal and the members of the proposal's
/// base state; returns the voter's domain.
pub(crate) fn check_vote(
    vote: &Signed<Vote>,
    proposal: &Proposal,
    proposal_id: ProposalId,
    is_member: impl Fn(&DomainId) -> bool,
    verify_signature: bool,
) -> Result<DomainId, VoteError> {
    let v = if verify_signature {
        vote.verify()?
    } else {
        &vote.value
    };
    let voter = vote.signer_domain();
    if v.federation != proposal.federation {
        return Err(VoteError::WrongFederation);
    }
    if v.proposal != proposal_id {
        return Err(VoteError::UnknownProposal(v.proposal));
    }
    if v.base_version != proposal.base_version {
        return Err(VoteError::WrongSlot {
            vote: v.base_version,
            proposal: proposal.base_version,
        });
    }
    if v.reason.len() > MAX_VOTE_REASON {
        return Err(VoteError::ReasonTooLong);
    }
    if v.cast_at > proposal.expires_at {
        return Err(VoteError::AfterExpiry {
            cast_at: v.cast_at,
            expires_at: proposal.expires_at,
        });
    }
    if !is_member(&voter) {
        return Err(VoteError::NotMember(voter));
    }
    Ok(voter)
}
