//! The ballot box: every proposal and vote a node has seen for the current
//! slot, kept as a grow-only set so arrival order never changes a tally.
//!
//! When the yes votes for a proposal reach quorum, [`Ballots::certificate`]
//! assembles the certificate any node can then verify and apply. A member
//! that signs yes on two proposals of one slot is caught here and the two
//! votes are kept as [`Equivocation`] evidence.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::certificate::Certificate;
use super::federation::Federation;
use super::proposal::{Proposal, ProposalError, ProposalId, Vote, VoteError, check_vote};
use crate::identity::DomainId;
use crate::signed::Signed;
use crate::time::Timestamp;

/// Most proposals held at once.
pub const MAX_PROPOSALS: usize = 1024;

/// Proof that a member approved two different proposals for one slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocation {
    /// The member.
    pub member: DomainId,
    /// The slot.
    pub slot: u64,
    /// Two signed yes votes for different proposals.
    pub votes: (Signed<Vote>, Signed<Vote>),
}

/// What adding a vote did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoteOutcome {
    /// A new vote was recorded.
    Recorded,
    /// This exact vote was already known.
    Duplicate,
    /// A new vote, which also proves the voter equivocated.
    Equivocation(Box<Equivocation>),
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
    yes_by_slot: BTreeMap<(u64, DomainId), BTreeMap<ProposalId, Signed<Vote>>>,
    evidence: Vec<Equivocation>,
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
        by_voter.insert(key, vote.clone());
        if !vote.value.approve {
            return Ok(VoteOutcome::Recorded);
        }
        let slot = vote.value.base_version;
        let yes = self.yes_by_slot.entry((slot, voter)).or_default();
        let other = yes.iter().find(|(p, _)| **p != id).map(|(_, v)| v.clone());
        yes.insert(id, vote.clone());
        match other {
            Some(earlier) => {
                let evidence = Equivocation {
                    member: voter,
                    slot,
                    votes: (earlier, vote),
                };
                self.evidence.push(evidence.clone());
                Ok(VoteOutcome::Equivocation(Box::new(evidence)))
            }
            None => Ok(VoteOutcome::Recorded),
        }
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

    /// The certificate for a proposal, if its yes votes reach quorum and it
    /// verifies against the federation's current state.
    pub fn certificate(&self, fed: &Federation, id: &ProposalId) -> Option<Certificate> {
        let proposal = self.proposals.get(id)?.clone();
        let votes: Vec<Signed<Vote>> = self
            .votes
            .get(id)?
            .iter()
            .filter(|((_, approve), _)| *approve)
            .map(|(_, v)| v.clone())
            .collect();
        let cert = Certificate { proposal, votes };
        fed.verify(&cert).ok().map(|_| cert)
    }

    /// Equivocation evidence seen so far.
    pub fn evidence(&self) -> &[Equivocation] {
        &self.evidence
    }

    /// Drops proposals and votes of slots the federation has decided.
    /// Evidence is kept.
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
        self.yes_by_slot.retain(|(slot, _), _| *slot >= version);
    }
}
