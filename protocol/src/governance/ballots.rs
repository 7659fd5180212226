//! The ballot box: every proposal and every member's approval or rejection
//! a node has seen for the current slot, kept as a grow-only set so arrival
//! order never changes a tally.
//!
//! A proposal whose approvals reach quorum is *approved*: eligible for its
//! slot, `valid(v)` in the slot's consensus ([`super::tendermint`]). A
//! proposal whose rejections leave too few members to approve it is
//! *rejected*, and one whose time ran out first is *expired*; neither holds
//! the slot, so the next proposal needs nothing special. Once the consensus
//! decides, [`Ballots::certificate`] assembles the certificate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::certificate::Certificate;
use super::federation::Federation;
use super::proposal::{Proposal, ProposalError, ProposalId, Vote, VoteError, check_vote};
use super::round::RoundVote;
use crate::identity::DomainId;
use crate::signed::Signed;
use crate::time::Timestamp;

/// Most proposals held at once.
pub const MAX_PROPOSALS: usize = 1024;

/// What adding a vote did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoteOutcome {
    /// A new vote was recorded.
    Recorded,
    /// This exact vote was already known.
    Duplicate,
}

/// Where a proposal stands in its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProposalStatus {
    /// Members are still voting.
    Open,
    /// A quorum approved it: it is eligible for the slot, which the
    /// consensus rounds decide.
    Approved,
    /// So many members rejected it that the rest cannot reach quorum.
    Rejected,
    /// Its voting time ended before a quorum approved it.
    Expired,
}

impl std::fmt::Display for ProposalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Open => "open",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        })
    }
}

/// Why a proposal or vote was not taken into the ballot box.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BallotError {
    /// The proposal is not valid now.
    #[error(transparent)]
    Proposal(#[from] ProposalError),
    /// The vote is not valid.
    #[error(transparent)]
    Vote(#[from] VoteError),
    /// The ballot box holds as many proposals as it may.
    #[error("too many open proposals ({MAX_PROPOSALS})")]
    Full,
}

/// Votes on one proposal, by voter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Distinct members voting yes.
    pub yes: usize,
    /// Distinct members voting no.
    pub no: usize,
    /// Yes votes needed to pass.
    pub needed: usize,
    /// Members of the base state.
    pub members: usize,
}

/// The grow-only pool of proposals and votes.
#[derive(Clone, Debug, Default)]
pub struct Ballots {
    proposals: BTreeMap<ProposalId, Signed<Proposal>>,
    votes: BTreeMap<ProposalId, BTreeMap<(DomainId, bool), Signed<Vote>>>,
}

impl Ballots {
    /// Takes in a proposal for the federation's current slot. Returns
    /// `true` if it was new.
    pub fn add_proposal(
        &mut self,
        fed: &Federation,
        proposal: Signed<Proposal>,
        now: Timestamp,
    ) -> Result<bool, BallotError> {
        let id = proposal.value.id();
        if self.proposals.contains_key(&id) {
            return Ok(false);
        }
        fed.check_proposal(&proposal, now)?;
        if self.proposals.len() >= MAX_PROPOSALS {
            return Err(BallotError::Full);
        }
        self.proposals.insert(id, proposal);
        Ok(true)
    }

    /// Checks a vote as [`add_vote`](Self::add_vote) would, without taking
    /// it in; returns the voter. The signature and membership are checked
    /// before the proposal is looked up, so a forged vote is told apart
    /// from one whose proposal has not arrived yet.
    pub fn check_vote(
        &self,
        fed: &Federation,
        vote: &Signed<Vote>,
    ) -> Result<DomainId, BallotError> {
        let state = fed.state();
        vote.verify().map_err(VoteError::from)?;
        let signer = vote.signer_domain();
        if vote.value.federation != state.id {
            return Err(VoteError::WrongFederation.into());
        }
        if vote.value.base_version == state.version && !state.is_member(&signer) {
            return Err(VoteError::NotMember(signer).into());
        }
        let id = vote.value.proposal;
        let proposal = self
            .proposals
            .get(&id)
            .ok_or(VoteError::UnknownProposal(id))?;
        if proposal.value.base_version != state.version {
            return Err(ProposalError::Outdated {
                got: proposal.value.base_version,
                current: state.version,
            }
            .into());
        }
        Ok(check_vote(
            vote,
            &proposal.value,
            id,
            |d| state.is_member(d),
            false,
        )?)
    }

    /// Takes in a vote on a known proposal.
    pub fn add_vote(
        &mut self,
        fed: &Federation,
        vote: Signed<Vote>,
    ) -> Result<VoteOutcome, BallotError> {
        let voter = self.check_vote(fed, &vote)?;
        let id = vote.value.proposal;
        let by_voter = self.votes.entry(id).or_default();
        let key = (voter, vote.value.approve);
        if by_voter.contains_key(&key) {
            return Ok(VoteOutcome::Duplicate);
        }
        by_voter.insert(key, vote);
        Ok(VoteOutcome::Recorded)
    }

    /// A known proposal.
    pub fn proposal(&self, id: &ProposalId) -> Option<&Signed<Proposal>> {
        self.proposals.get(id)
    }

    /// Every proposal held, newest slot last.
    pub fn proposals(&self) -> impl Iterator<Item = &Signed<Proposal>> {
        self.proposals.values()
    }

    /// Every vote held on a proposal.
    pub fn votes(&self, id: &ProposalId) -> impl Iterator<Item = &Signed<Vote>> {
        self.votes.get(id).into_iter().flat_map(BTreeMap::values)
    }

    /// Counts of distinct member yes and no votes on a proposal.
    pub fn tally(&self, fed: &Federation, id: &ProposalId) -> Tally {
        let state = fed.state();
        let mut yes = 0;
        let mut no = 0;
        for (voter, approve) in self.votes.get(id).into_iter().flat_map(BTreeMap::keys) {
            if state.is_member(voter) {
                if *approve {
                    yes += 1;
                } else {
                    no += 1;
                }
            }
        }
        Tally {
            yes,
            no,
            needed: state.quorum.threshold(state.members.len()),
            members: state.members.len(),
        }
    }

    /// Where a proposal stands at `now`.
    pub fn status(&self, fed: &Federation, id: &ProposalId, now: Timestamp) -> ProposalStatus {
        let tally = self.tally(fed, id);
        if tally.yes >= tally.needed {
            ProposalStatus::Approved
        } else if tally.no > tally.members.saturating_sub(tally.needed) {
            ProposalStatus::Rejected
        } else if self
            .proposals
            .get(id)
            .is_none_or(|p| now > p.value.expires_at)
        {
            ProposalStatus::Expired
        } else {
            ProposalStatus::Open
        }
    }

    /// Whether a quorum of members approved the proposal (`valid(v)`).
    pub fn is_approved(&self, fed: &Federation, id: &ProposalId) -> bool {
        let tally = self.tally(fed, id);
        self.proposals.contains_key(id) && tally.yes >= tally.needed
    }

    /// The approved proposal to put forward when a node has none yet: the
    /// oldest (by creation time, then id), so nodes tend to pick the same.
    pub fn candidate(&self, fed: &Federation) -> Option<ProposalId> {
        self.proposals
            .iter()
            .filter(|(id, _)| self.is_approved(fed, id))
            .min_by_key(|(id, p)| (p.value.created_at, **id))
            .map(|(id, _)| *id)
    }

    /// The members' approvals of a proposal.
    pub fn approvals(&self, fed: &Federation, id: &ProposalId) -> Vec<Signed<Vote>> {
        let state = fed.state();
        self.votes
            .get(id)
            .into_iter()
            .flat_map(BTreeMap::iter)
            .filter(|((voter, approve), _)| *approve && state.is_member(voter))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The certificate for a proposal the consensus decided in `round` with
    /// `precommits`, if it verifies against the federation's current state.
    pub fn certificate(
        &self,
        fed: &Federation,
        id: &ProposalId,
        round: u32,
        precommits: Vec<Signed<RoundVote>>,
    ) -> Option<Certificate> {
        let cert = Certificate {
            proposal: self.proposals.get(id)?.clone(),
            approvals: self.approvals(fed, id),
            round,
            precommits,
        };
        fed.verify(&cert).ok().map(|_| cert)
    }

    /// Drops proposals and votes of slots the federation has decided.
    pub fn prune(&mut self, fed: &Federation) {
        let version = fed.state().version;
        let settled: Vec<ProposalId> = self
            .proposals
            .iter()
            .filter(|(_, p)| p.value.base_version < version)
            .map(|(id, _)| *id)
            .collect();
        for id in settled {
            self.proposals.remove(&id);
            self.votes.remove(&id);
        }
    }
}
