//! Certificates: a proposal and a quorum of yes votes, checkable offline.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::proposal::{Proposal, ProposalError, ProposalId, Vote, check_vote};
use crate::Hash;
use crate::encoding;
use crate::identity::DomainId;
use crate::signed::{Signed, verify_batch};

/// A ratified proposal: the signed proposal and the yes votes that passed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The proposal.
    pub proposal: Signed<Proposal>,
    /// Yes votes from members of the proposal's base state.
    pub votes: Vec<Signed<Vote>>,
}

/// Why a certificate does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The proposal itself is invalid for this state.
    #[error("{0}")]
    Proposal(#[from] ProposalError),
    /// Not enough valid yes votes from members.
    #[error("{yes} valid yes votes from members; {needed} needed")]
    NoQuorum {
        /// Valid, distinct member yes votes.
        yes: usize,
        /// Votes needed.
        needed: usize,
    },
    /// Too many votes attached (more than twice the members).
    #[error("{0} votes attached; a certificate carries at most two per member")]
    TooManyVotes(usize),
}

impl Certificate {
    /// The proposal's id.
    pub fn proposal_id(&self) -> ProposalId {
        self.proposal.value.id()
    }

    /// The certificate's hash (its exact bytes, votes included).
    pub fn hash(&self) -> Hash {
        encoding::tagged_hash("meshd/v1/certificate", self)
    }

    /// The head of the chain after this certificate, from the head before
    /// it: the decision (which proposal, after which history), not the
    /// particular quorum of votes a node happened to assemble, so every
    /// node that applies the same decisions holds the same head.
    pub fn decision_head(&self, previous: &Hash) -> Hash {
        encoding::tagged_hash("meshd/v1/decision", &(previous, self.proposal_id()))
    }

    /// The distinct member domains whose valid yes votes this certificate
    /// carries. Invalid, duplicate, non-member, no and off-proposal votes are
    /// ignored rather than rejected, so junk cannot veto a real quorum.
    pub(crate) fn valid_yes_voters(
        &self,
        is_member: impl Fn(&DomainId) -> bool,
    ) -> BTreeSet<DomainId> {
        let id = self.proposal_id();
        let proposal = &self.proposal.value;
        // Structural checks first; signatures after, in one batch.
        let mut candidates: Vec<(DomainId, &Signed<Vote>)> = Vec::new();
        let mut seen = BTreeSet::new();
        for vote in &self.votes {
            if !vote.value.approve {
                continue;
            }
            if let Ok(voter) = check_vote(vote, proposal, id, &is_member, false)
                && seen.insert(voter)
            {
                candidates.push((voter, vote));
            }
        }
        let refs: Vec<&Signed<Vote>> = candidates.iter().map(|(_, v)| *v).collect();
        if verify_batch(&refs) {
            return candidates.into_iter().map(|(d, _)| d).collect();
        }
        // Some signature is bad: find the good ones one by one. A member whose
        // first yes vote is forged may still have a valid duplicate.
        let mut good = BTreeSet::new();
        for vote in &self.votes {
            if vote.value.approve
                && let Ok(voter) = check_vote(vote, proposal, id, &is_member, true)
            {
                good.insert(voter);
            }
        }
        good
    }
}
