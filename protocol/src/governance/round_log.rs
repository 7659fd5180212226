//! The messages a node holds for the rounds of its current slot, and the
//! counts Tendermint's `upon` rules ask for ("2f+1 PREVOTE for v in round
//! r", "f+1 messages of round r' > r").
//!
//! Bounded: one proposal per round (the round proposer's first), one prevote
//! and one precommit per member per round (a second, different one is kept
//! only as evidence), and at most [`MAX_ROUNDS_KEPT`] rounds.

use std::collections::{BTreeMap, BTreeSet};

use super::proposal::ProposalId;
use super::round::{Equivocation, RoundMessage, RoundProposal, RoundVote, VoteKind};
use crate::identity::DomainId;
use crate::signed::Signed;

/// Most rounds whose messages are held; the lowest go first.
pub const MAX_ROUNDS_KEPT: usize = 64;

/// One round's messages.
#[derive(Clone, Debug, Default)]
pub(crate) struct Round {
    pub(crate) proposal: Option<Signed<RoundProposal>>,
    /// Each member's first vote of each kind: what it did, for display and
    /// for "any 2f+1 votes" counts.
    first: BTreeMap<(VoteKind, DomainId), Option<ProposalId>>,
    /// Every vote held, by kind, member and value: the first of each member
    /// and, from a member that equivocated, its other votes for nil or for
    /// values valid here. Counting "2f+1 for v" needs those: a correct
    /// member may have seen a polka that includes a faulty member's vote
    /// this node first saw for another value.
    votes: BTreeMap<(VoteKind, DomainId, Option<ProposalId>), Signed<RoundVote>>,
}

impl Round {
    /// Members with a vote of `kind` for exactly `value` (`None` = nil).
    pub(crate) fn count(&self, kind: VoteKind, value: Option<&ProposalId>) -> usize {
        self.votes
            .keys()
            .filter(|(k, _, v)| *k == kind && v.as_ref() == value)
            .count()
    }

    /// Members with any vote of `kind`.
    pub(crate) fn count_any(&self, kind: VoteKind) -> usize {
        self.first.keys().filter(|(k, _)| *k == kind).count()
    }

    /// What `member` first voted in this round, by kind: `None` if nothing,
    /// `Some(None)` for nil.
    #[allow(clippy::option_option, reason = "no vote and a nil vote differ")]
    pub(crate) fn first_vote(
        &self,
        kind: VoteKind,
        member: &DomainId,
    ) -> Option<Option<ProposalId>> {
        self.first.get(&(kind, *member)).copied()
    }

    /// The value (if any) that has at least `threshold` votes of `kind`.
    pub(crate) fn quorum_value(&self, kind: VoteKind, threshold: usize) -> Option<ProposalId> {
        let mut counts: BTreeMap<ProposalId, usize> = BTreeMap::new();
        for (k, _, v) in self.votes.keys() {
            if *k == kind
                && let Some(id) = v
            {
                *counts.entry(*id).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .find(|(_, n)| *n >= threshold)
            .map(|(id, _)| id)
    }

    /// Distinct members that sent anything in this round.
    fn senders(&self) -> BTreeSet<DomainId> {
        let mut s: BTreeSet<DomainId> = self.first.keys().map(|(_, m)| *m).collect();
        if let Some(p) = &self.proposal {
            s.insert(p.signer_domain());
        }
        s
    }
}

/// What adding a message did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// New and kept.
    New,
    /// Already held (or a second proposal for the round, ignored).
    Known,
    /// A second, different vote from one member for one round and kind:
    /// the first is kept, the pair returned as evidence.
    Equivocation(Box<Equivocation>),
    /// Older than every round kept.
    TooOld,
}

/// Every round's messages for one slot.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoundLog {
    rounds: BTreeMap<u32, Round>,
}

impl RoundLog {
    pub(crate) fn round(&self, r: u32) -> Option<&Round> {
        self.rounds.get(&r)
    }

    /// Adds a message whose signature, slot, membership and (for a
    /// proposal) proposer were already checked. A second vote of a member
    /// for another value is kept only if `keep` says its value matters here
    /// (nil, or a value valid here), so a faulty member cannot fill memory.
    pub(crate) fn add(
        &mut self,
        message: RoundMessage,
        keep: impl Fn(&ProposalId) -> bool,
    ) -> Added {
        let r = message.round();
        if self.rounds.len() >= MAX_ROUNDS_KEPT
            && !self.rounds.contains_key(&r)
            && self.rounds.keys().next().is_some_and(|low| r < *low)
        {
            return Added::TooOld;
        }
        let round = self.rounds.entry(r).or_default();
        let added = match message {
            RoundMessage::Proposal(p) => {
                if round.proposal.is_some() {
                    Added::Known
                } else {
                    round.proposal = Some(p);
                    Added::New
                }
            }
            RoundMessage::Vote(v) => {
                let member = v.signer_domain();
                let (kind, value) = (v.value.kind, v.value.value);
                let key = (kind, member, value);
                match round.first.get(&(kind, member)) {
                    None => {
                        round.first.insert((kind, member), value);
                        round.votes.insert(key, v);
                        Added::New
                    }
                    Some(_) if round.votes.contains_key(&key) => Added::Known,
                    Some(first) => {
                        let held = round.votes.get(&(kind, member, *first)).cloned();
                        if value.as_ref().is_none_or(&keep) {
                            round.votes.insert(key, v.clone());
                        }
                        match held {
                            Some(held) => Added::Equivocation(Box::new(Equivocation {
                                member,
                                slot: v.value.slot,
                                votes: (held, v),
                            })),
                            None => Added::Known,
                        }
                    }
                }
            }
        };
        while self.rounds.len() > MAX_ROUNDS_KEPT {
            self.rounds.pop_first();
        }
        added
    }

    /// Rounds above `current` in which at least `threshold` distinct
    /// members sent something; the highest first.
    pub(crate) fn highest_round_above(&self, current: u32, threshold: usize) -> Option<u32> {
        self.rounds
            .range(current.saturating_add(1)..)
            .rev()
            .find(|(_, round)| round.senders().len() >= threshold)
            .map(|(r, _)| *r)
    }

    /// A round and value with at least `threshold` precommits for it.
    pub(crate) fn decision(&self, threshold: usize) -> Option<(u32, ProposalId)> {
        self.rounds.iter().find_map(|(r, round)| {
            round
                .quorum_value(VoteKind::Precommit, threshold)
                .map(|v| (*r, v))
        })
    }

    /// The precommits for `value` in round `r`.
    pub(crate) fn precommits_for(&self, r: u32, value: &ProposalId) -> Vec<Signed<RoundVote>> {
        self.rounds
            .get(&r)
            .map(|round| {
                round
                    .votes
                    .iter()
                    .filter(|((k, _, v), _)| *k == VoteKind::Precommit && v.as_ref() == Some(value))
                    .map(|(_, vote)| vote.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every message held, lowest round first.
    pub(crate) fn messages(&self) -> impl Iterator<Item = RoundMessage> + '_ {
        self.rounds.values().flat_map(|round| {
            round
                .proposal
                .iter()
                .cloned()
                .map(RoundMessage::Proposal)
                .chain(round.votes.values().cloned().map(RoundMessage::Vote))
        })
    }
}
