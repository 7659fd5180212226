//! The honest-member rule: a member never votes yes on two different
//! proposals for the same slot. This is what makes conflicting certificates
//! impossible while fewer than a third of members are faulty, so the record
//! of yes votes must be persisted before a vote leaves the node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::genesis::FederationId;
use super::proposal::{Proposal, ProposalId, Vote};
use crate::identity::DomainKeypair;
use crate::signed::Signed;
use crate::time::Timestamp;

/// A member's memory of its own yes votes, one per slot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voter {
    yes: BTreeMap<(FederationId, u64), ProposalId>,
}

/// Why the voter refuses to sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteRefused {
    /// A yes vote for another proposal in this slot was already signed.
    #[error(
        "already voted yes on proposal {earlier} for slot {slot}; an honest member never approves two proposals for one slot"
    )]
    SlotTaken {
        /// The slot (base version).
        slot: u64,
        /// The proposal already approved.
        earlier: ProposalId,
    },
}

impl Voter {
    /// Signs a vote on `proposal`, refusing a second yes in one slot.
    /// The caller must persist `self` before sending the vote.
    pub fn vote(
        &mut self,
        key: &DomainKeypair,
        proposal: &Proposal,
        approve: bool,
        now: Timestamp,
    ) -> Result<Signed<Vote>, VoteRefused> {
        let id = proposal.id();
        let slot = (proposal.federation, proposal.base_version);
        if approve {
            match self.yes.get(&slot) {
                Some(earlier) if *earlier != id => {
                    return Err(VoteRefused::SlotTaken {
                        slot: proposal.base_version,
                        earlier: *earlier,
                    });
                }
                _ => {
                    self.yes.insert(slot, id);
                }
            }
        }
        Ok(Signed::sign(
            Vote {
                federation: proposal.federation,
                proposal: id,
                base_version: proposal.base_version,
                approve,
                cast_at: now,
            },
            key,
        ))
    }

    /// Forgets the slots of `federation` below `version`: they are decided,
    /// so the record of them protects nothing any more.
    pub fn forget_before(&mut self, federation: FederationId, version: u64) {
        self.yes
            .retain(|(fed, slot), _| *fed != federation || *slot >= version);
    }

    /// The proposal this member approved in a slot, if any.
    pub fn approved(&self, federation: FederationId, slot: u64) -> Option<ProposalId> {
        self.yes.get(&(federation, slot)).copied()
    }
}
