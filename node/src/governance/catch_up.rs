//! Catch-up between members: what this node answers a peer that is behind
//! (certificates from a version on, open proposals and votes, the current
//! round's messages, within a byte budget), and how it takes such an answer
//! in, keeping only proposals a quorum of valid votes carried.

use mesh_protocol::governance::{
    BallotError, Certificate, Proposal, ProposalError, RoundMessage, Vote,
};
use mesh_protocol::{Signed, Timestamp, encoding};

use super::{Governance, VoteTaken};

/// A governance catch-up answer.
#[derive(Default)]
pub(crate) struct CatchUp {
    pub(crate) certificates: Vec<Certificate>,
    pub(crate) proposals: Vec<Signed<Proposal>>,
    pub(crate) votes: Vec<Signed<Vote>>,
    pub(crate) rounds: Vec<RoundMessage>,
}

impl Governance {
    /// Takes in catch-up: a proposal whose time ran out is still taken when
    /// the same answer carries a quorum of approvals cast before it expired
    /// (the slot may yet decide it), never otherwise.
    pub(crate) fn take_caught_up(
        &mut self,
        proposals: Vec<Signed<Proposal>>,
        votes: &[Signed<Vote>],
        now: Timestamp,
    ) -> usize {
        let mut taken = 0;
        for p in proposals {
            let id = p.value.id();
            let result = match self.fed.check_proposal(&p, now) {
                Ok(()) => self.admit_proposal(p),
                Err(ProposalError::Expired(_)) if self.approved_in(&p, votes) => {
                    self.admit_proposal(p)
                }
                Err(e) => Err(BallotError::from(e).into()),
            };
            if let Err(e) = result {
                tracing::debug!(proposal = %id, error = %e, "catch-up proposal not taken");
            }
        }
        for v in votes {
            if matches!(self.take_vote(v), Ok(VoteTaken::New)) {
                taken += 1;
            }
        }
        taken
    }

    /// What a peer at `from_version` is missing: certificates (within a
    /// byte budget), then open proposals and their votes, then the current
    /// slot's round messages.
    pub(crate) fn catch_up(&self, from_version: u64, budget: usize) -> CatchUp {
        let mut used = 0;
        let mut out = CatchUp::default();
        let start = usize::try_from(from_version).unwrap_or(usize::MAX);
        for cert in self.fed.chain().iter().skip(start) {
            used += encoding::to_bytes(cert).len();
            if used > budget && !out.certificates.is_empty() {
                return out;
            }
            out.certificates.push(cert.clone());
        }
        for p in self.ballots.proposals() {
            used += encoding::to_bytes(p).len();
            if used > budget {
                return out;
            }
            out.proposals.push(p.clone());
            for v in self.ballots.votes(&p.value.id()) {
                used += 200 + v.value.reason.len();
                out.votes.push(v.clone());
            }
        }
        // The newest rounds first: they are the ones that matter.
        let mut rounds: Vec<RoundMessage> = self.consensus.messages().collect();
        rounds.reverse();
        for m in rounds {
            used += 200;
            if used > budget {
                break;
            }
            out.rounds.push(m);
        }
        out
    }
}
