//! The ballot box as this node keeps it: proposals and votes taken in
//! (from this member, from gossip, from a catch-up), checked against the
//! federation, bounded per member, and persisted before they count.

use mesh_protocol::governance::{
    BallotError, Ballots, Change, MAX_PROPOSALS, Proposal, ProposalId, ProposalStatus, Vote,
    VoteOutcome,
};
use mesh_protocol::{Signed, Timestamp, encoding};

use super::{
    Governance, GovernanceError, MAX_PROPOSALS_PER_MEMBER, PREFIX_PROPOSAL, PREFIX_VOTE, key,
};
use crate::store::Table;

pub(super) fn proposal_key(p: &Proposal) -> Vec<u8> {
    key(
        PREFIX_PROPOSAL,
        &[&p.base_version.to_be_bytes(), &p.id().0.0],
    )
}

pub(super) fn vote_key(v: &Signed<Vote>) -> Vec<u8> {
    key(
        PREFIX_VOTE,
        &[
            &v.value.base_version.to_be_bytes(),
            &v.value.proposal.0.0,
            &v.signer_domain().0,
            &[u8::from(v.value.approve)],
        ],
    )
}

/// What taking in a vote did.
pub(crate) enum VoteTaken {
    /// Already known.
    Duplicate,
    /// New and persisted.
    New,
}

impl Governance {
    /// Signs and records a proposal of this node's domain on the current
    /// version.
    pub(crate) fn propose(
        &mut self,
        change: Change,
        reason: String,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Signed<Proposal>, GovernanceError> {
        let domain = self.key.domain_id();
        if !self.is_member(&domain) {
            return Err(GovernanceError::NotMember(domain));
        }
        let proposal = Signed::sign(
            Proposal {
                federation: self.fed.id(),
                base_version: self.version(),
                change,
                reason,
                created_at: now,
                expires_at,
            },
            &self.key,
        );
        self.take_proposal(proposal.clone(), now)?;
        Ok(proposal)
    }

    /// Takes in a proposal (from this node or the network); `true` if new.
    pub(crate) fn take_proposal(
        &mut self,
        proposal: Signed<Proposal>,
        now: Timestamp,
    ) -> Result<bool, GovernanceError> {
        self.fed
            .check_proposal(&proposal, now)
            .map_err(BallotError::from)?;
        self.admit_proposal(proposal)
    }

    /// Takes in a proposal whose shape was checked (its expiry may be past,
    /// when it arrives with a quorum of approvals cast in time).
    pub(super) fn admit_proposal(
        &mut self,
        proposal: Signed<Proposal>,
    ) -> Result<bool, GovernanceError> {
        if self.ballots.proposal(&proposal.value.id()).is_some() {
            return Ok(false);
        }
        if self.ballots.proposals().count() >= MAX_PROPOSALS {
            return Err(BallotError::Full.into());
        }
        let proposer = proposal.signer_domain();
        let at = proposal.value.created_at;
        let open = self
            .ballots
            .proposals()
            .filter(|p| p.signer_domain() == proposer)
            .filter(|p| {
                matches!(
                    self.ballots.status(&self.fed, &p.value.id(), at),
                    ProposalStatus::Open | ProposalStatus::Approved
                )
            })
            .count();
        if open >= MAX_PROPOSALS_PER_MEMBER {
            return Err(GovernanceError::TooManyProposals(proposer));
        }
        // Persist, then hold it in memory.
        self.store.write(
            Table::Governance,
            &[(
                proposal_key(&proposal.value),
                Some(encoding::to_bytes(&proposal)),
            )],
        )?;
        Ok(self.ballots.add_proposal(&self.fed, proposal, at)?)
    }

    /// Signs this member's approval or rejection of a proposal, with a
    /// reason. A vote binds nobody to anything but itself: it cannot be
    /// changed, and a member may approve several proposals of one slot.
    pub(crate) fn vote(
        &mut self,
        id: &ProposalId,
        approve: bool,
        reason: String,
        now: Timestamp,
    ) -> Result<Signed<Vote>, GovernanceError> {
        let domain = self.key.domain_id();
        if !self.is_member(&domain) {
            return Err(GovernanceError::NotMember(domain));
        }
        let proposal = self
            .ballots
            .proposal(id)
            .ok_or_else(|| GovernanceError::UnknownProposal(id.to_string()))?
            .value
            .clone();
        if now > proposal.expires_at {
            return Err(GovernanceError::Expired(id.to_string()));
        }
        if let Some(earlier) = self.ballots.votes(id).find(|v| v.signer_domain() == domain) {
            return Err(GovernanceError::AlreadyVoted {
                id: id.to_string(),
                verb: if earlier.value.approve {
                    "approved"
                } else {
                    "rejected"
                },
            });
        }
        let vote = Signed::sign(
            Vote {
                federation: proposal.federation,
                proposal: *id,
                base_version: proposal.base_version,
                approve,
                cast_at: now,
                reason,
            },
            &self.key,
        );
        self.take_vote(&vote)?;
        Ok(vote)
    }

    /// Takes in a vote; persists it if new.
    pub(crate) fn take_vote(&mut self, vote: &Signed<Vote>) -> Result<VoteTaken, GovernanceError> {
        // Check, persist, then hold in memory.
        let voter = self.ballots.check_vote(&self.fed, vote)?;
        let known = self
            .ballots
            .votes(&vote.value.proposal)
            .any(|v| v.signer_domain() == voter && v.value.approve == vote.value.approve);
        if known {
            return Ok(VoteTaken::Duplicate);
        }
        self.store.write(
            Table::Governance,
            &[(vote_key(vote), Some(encoding::to_bytes(vote)))],
        )?;
        match self.ballots.add_vote(&self.fed, vote.clone())? {
            VoteOutcome::Duplicate => Ok(VoteTaken::Duplicate),
            VoteOutcome::Recorded => Ok(VoteTaken::New),
        }
    }

    /// Whether `votes` hold a quorum of valid member approvals of `p` cast
    /// before it expired.
    pub(super) fn approved_in(&self, p: &Signed<Proposal>, votes: &[Signed<Vote>]) -> bool {
        if self.fed.check_proposal_shape(p).is_err() {
            return false;
        }
        let mut probe = Ballots::default();
        if probe
            .add_proposal(&self.fed, p.clone(), p.value.created_at)
            .is_err()
        {
            return false;
        }
        let id = p.value.id();
        for v in votes.iter().filter(|v| v.value.proposal == id) {
            let _ = probe.add_vote(&self.fed, v.clone());
        }
        probe.is_approved(&self.fed, &id)
    }
}
