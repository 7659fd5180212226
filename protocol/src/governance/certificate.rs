//! Certificates: a decided proposal with the votes that decided it,
//! checkable offline by any node from the genesis and the earlier chain.
//!
//! A certificate carries two quorums from the members of the slot's base
//! state: the people's *approvals* (signed yes votes cast before the
//! proposal expired), which make the proposal eligible, and the *precommits*
//! of one consensus round for it, which decide the slot (Tendermint's
//! decision rule, lines 49-54; see [`super::tendermint`]). Checking it costs
//! one signature check per vote carried, done as two batches.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::proposal::{Proposal, ProposalError, ProposalId, Vote, check_vote};
use super::round::{RoundVote, VoteKind};
use crate::Hash;
use crate::encoding;
use crate::identity::DomainId;
use crate::signed::{Signable, Signed, verify_batch};

/// A decided proposal: the signed proposal, the approvals that made it
/// eligible and the precommits of the round that decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The proposal.
    pub proposal: Signed<Proposal>,
    /// Yes votes from members of the proposal's base state.
    pub approvals: Vec<Signed<Vote>>,
    /// The consensus round that decided it.
    pub round: u32,
    /// Precommits for the proposal in `round` from members of the base state.
    pub precommits: Vec<Signed<RoundVote>>,
}

/// Why a certificate does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The proposal itself is invalid for this state.
    #[error("{0}")]
    Proposal(#[from] ProposalError),
    /// Not enough valid approvals from members.
    #[error("{yes} valid approvals from members; {needed} needed")]
    NoQuorum {
        /// Valid, distinct member approvals.
        yes: usize,
        /// Approvals needed.
        needed: usize,
    },
    /// Not enough valid precommits from members for the proposal in the
    /// certificate's round.
    #[error("{precommits} valid precommits from members in round {round}; {needed} needed")]
    NoDecision {
        /// The round.
        round: u32,
        /// Valid, distinct member precommits.
        precommits: usize,
        /// Precommits needed.
        needed: usize,
    },
    /// Too many votes attached (more than two per member of either kind).
    #[error("{0} votes attached; a certificate carries at most two per member of each kind")]
    TooManyVotes(usize),
}

impl Certificate {
    /// The proposal's id.
    pub fn proposal_id(&self) -> ProposalId {
        self.proposal.value.id()
    }

    /// The certificate's hash (its exact bytes, votes included).
    pub fn hash(&self) -> Hash {
        encoding::tagged_hash("meshd/v2/certificate", self)
    }

    /// The head of the chain after this certificate, from the head before
    /// it: the decision (which proposal, after which history), not the
    /// particular quorum of votes a node happened to assemble, so every
    /// node that applies the same decisions holds the same head.
    pub fn decision_head(&self, previous: &Hash) -> Hash {
        encoding::tagged_hash("meshd/v1/decision", &(previous, self.proposal_id()))
    }

    /// The distinct member domains whose valid approvals this certificate
    /// carries. Invalid, duplicate, non-member, no and off-proposal votes are
    /// ignored rather than rejected, so junk cannot veto a real quorum.
    pub(crate) fn valid_approvers(&self, is_member: impl Fn(&DomainId) -> bool) -> usize {
        let id = self.proposal_id();
        let proposal = &self.proposal.value;
        let check = |v: &Signed<Vote>, sig: bool| {
            if !v.value.approve {
                return None;
            }
            check_vote(v, proposal, id, &is_member, sig).ok()
        };
        distinct_valid(&self.approvals, check)
    }

    /// The distinct member domains whose valid precommits for this
    /// certificate's proposal, slot and round it carries.
    pub(crate) fn valid_precommitters(&self, is_member: impl Fn(&DomainId) -> bool) -> usize {
        let id = self.proposal_id();
        let p = &self.proposal.value;
        let check = |v: &Signed<RoundVote>, sig: bool| {
            let r = &v.value;
            let shape = r.federation == p.federation
                && r.slot == p.base_version
                && r.round == self.round
                && r.kind == VoteKind::Precommit
                && r.value == Some(id);
            let signer = v.signer_domain();
            (shape && is_member(&signer) && (!sig || v.verify().is_ok())).then_some(signer)
        };
        distinct_valid(&self.precommits, check)
    }
}

/// Counts the distinct signers of `items` that pass `check`: structure
/// first, then every signature in one batch, and only if the batch fails,
/// one by one (a member whose first copy is forged may have a good one).
fn distinct_valid<T: Signable>(
    items: &[Signed<T>],
    check: impl Fn(&Signed<T>, bool) -> Option<DomainId>,
) -> usize {
    let mut seen = BTreeSet::new();
    let mut candidates: Vec<&Signed<T>> = Vec::new();
    for item in items {
        if let Some(d) = check(item, false)
            && seen.insert(d)
        {
            candidates.push(item);
        }
    }
    if verify_batch(&candidates) {
        return candidates.len();
    }
    items
        .iter()
        .filter_map(|i| check(i, true))
        .collect::<BTreeSet<_>>()
        .len()
}
