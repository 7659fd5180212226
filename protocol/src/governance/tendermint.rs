//! Deciding one slot: Tendermint's rounds, as a pure state machine.
//!
//! The algorithm is Algorithm 1 of Buchman, Kwon and Milosevic, "The latest
//! gossip on BFT consensus" (2018), one instance per slot (the paper's
//! height). Members' *approvals* (signed by people with `mesh vote`) decide
//! which proposals are acceptable; these rounds, run by the members' nodes,
//! only decide which acceptable proposal takes the slot. A value is
//! `valid(v)` once its proposal and a quorum of member approvals cast before
//! its expiry are known ([`Values::is_valid`]); approvals never expire once
//! cast, so validity, once reached, is the same at every node.
//!
//! ## Driving it
//!
//! Inputs: [`Consensus::start`] (or [`Consensus::resume`] after a restart),
//! [`Consensus::handle_message`], [`Consensus::handle_timeout`] and
//! [`Consensus::values_changed`]. Each returns [`Output`]s, to be carried out
//! in order. Before any [`Output::Broadcast`] of a batch leaves the node, the
//! caller persists [`Consensus::durable`] and syncs it: that is what keeps a
//! member that crashes and restarts from signing twice in one step.
//!
//! ## Which code keeps which rule
//!
//! | paper | rule | here |
//! | --- | --- | --- |
//! | lines 11-21 | `StartRound`: the proposer proposes `validValue` if set, else a new value; everyone arms `timeoutPropose` | [`Consensus::start_round`] |
//! | lines 22-27 | prevote `v` only if `valid(v)` and not locked on another value | `rule_prevote` |
//! | lines 28-33 | a re-proposal with a polka at `vr` may be prevoted if `lockedRound <= vr` or locked on it | `rule_prevote` |
//! | lines 34-35 | `2f+1` prevotes of any kind arm `timeoutPrevote` | `rule_timers` |
//! | lines 36-43 | a polka for `v` in this round: lock on `v`, precommit it, remember it as `validValue` | `rule_polka` |
//! | lines 44-46 | `2f+1` nil prevotes: precommit nil | `rule_nil_polka` |
//! | lines 47-48 | `2f+1` precommits of any kind arm `timeoutPrecommit` | `rule_timers` |
//! | lines 49-54 | `2f+1` precommits for a valid `v` in any round: decide `v` | `rule_decide` |
//! | lines 55-56 | `f+1` members in a higher round: skip to it | `rule_skip` |
//! | lines 57-67 | the three timeouts | [`Consensus::handle_timeout`] |
//! | "a correct process sends at most one prevote and one precommit per round" | steps only move forward in a round and rounds only grow; both are in [`Durable`], synced before a message leaves | `prevote`, `precommit` |
//!
//! `2f+1` is the federation's quorum `Q` (by default more than two thirds
//! of members) and `f+1` is `n - Q + 1`, the fewest members that meet every
//! quorum. Safety (no two certificates for one slot) holds with any message
//! delays, losses and partitions while fewer than `2Q - n` members are
//! faulty; a decision follows once messages flow and `Q` correct members are
//! connected. Deciding needs the round's precommits only, not the round
//! proposer's message: a quorum of precommits is the certificate.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::genesis::FederationId;
use super::proposal::ProposalId;
use super::round::{Equivocation, RoundMessage, RoundProposal, RoundVote, VoteKind};
use super::round_log::{Added, RoundLog};
use crate::identity::{DomainId, DomainKeypair};
use crate::signed::{SignatureError, Signed};

/// Messages for rounds further ahead of the current one are ignored, so a
/// faulty member cannot fill the log with far-future rounds.
pub const MAX_ROUND_AHEAD: u32 = 16;

/// Where a member is within its current round.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Step {
    /// Waiting for the round proposer's value.
    #[default]
    Propose,
    /// Prevoted; waiting for a quorum of prevotes.
    Prevote,
    /// Precommitted; waiting for a quorum of precommits.
    Precommit,
}

/// A timer the driver arms for the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timeout {
    /// The slot.
    pub slot: u64,
    /// The round.
    pub round: u32,
    /// The step it ends.
    pub step: Step,
}

/// Round timeouts: `base + round * growth`, capped. Growing timeouts are
/// what lets rounds eventually outlast any message delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundTimes {
    /// Timeout of round 0, in milliseconds.
    pub base_ms: u64,
    /// Added per round.
    pub growth_ms: u64,
    /// Largest timeout.
    pub max_ms: u64,
}

impl Default for RoundTimes {
    fn default() -> Self {
        Self {
            base_ms: 2_000,
            growth_ms: 1_000,
            max_ms: 60_000,
        }
    }
}

impl RoundTimes {
    /// The timeout of `round`.
    pub fn timeout_ms(&self, round: u32) -> u64 {
        self.base_ms
            .saturating_add(self.growth_ms.saturating_mul(u64::from(round)))
            .min(self.max_ms)
    }
}

/// What the machine asks the driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this message to every member (persist [`Consensus::durable`]
    /// first).
    Broadcast(RoundMessage),
    /// Call [`Consensus::handle_timeout`] with this after `after_ms`.
    Schedule {
        /// The timer.
        timeout: Timeout,
        /// Delay in milliseconds.
        after_ms: u64,
    },
    /// The slot is decided: `value` with these precommits of `round`.
    Decided {
        /// The proposal that takes the slot.
        value: ProposalId,
        /// The round of the precommits.
        round: u32,
        /// A quorum of precommits for `value` in `round`.
        precommits: Vec<Signed<RoundVote>>,
    },
    /// A member signed two different votes in one step.
    Equivocation(Box<Equivocation>),
}

/// What the machine must find again after a crash: its position, lock and
/// valid value, and the messages it signed in its last two rounds (to send
/// them again). Synced before any message of its leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    /// The slot.
    pub slot: u64,
    /// Current round (`round_p`).
    pub round: u32,
    /// Step within the round (`step_p`).
    pub step: Step,
    /// `lockedValue` and `lockedRound`.
    pub locked: Option<(ProposalId, u32)>,
    /// `validValue` and `validRound`.
    pub valid: Option<(ProposalId, u32)>,
    /// Whether the rounds have begun.
    pub started: bool,
    /// This member's own messages of its current and previous round.
    pub sent: Vec<RoundMessage>,
}

/// What the machine needs to know of values.
pub trait Values {
    /// `valid(v)`: the proposal and a quorum of approvals are known.
    fn is_valid(&self, value: &ProposalId) -> bool;
    /// A valid value to propose when this member has no `validValue`
    /// (`getValue()`), e.g. the oldest approved proposal.
    fn candidate(&self) -> Option<ProposalId>;
}

/// Why a round message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoundError {
    /// Bad signature.
    #[error("round message signature invalid: {0}")]
    Signature(#[from] SignatureError),
    /// Another federation.
    #[error("round message belongs to another federation")]
    WrongFederation,
    /// Signed by a non-member.
    #[error("round message from {0}, which is not a member")]
    NotMember(DomainId),
    /// A proposal not signed by its round's proposer.
    #[error("round {round} proposal signed by {signer}, not the round's proposer")]
    NotProposer {
        /// The round.
        round: u32,
        /// Who signed it.
        signer: DomainId,
    },
    /// For a decided slot (harmless).
    #[error("round message for decided slot {0}")]
    OldSlot(u64),
    /// For a slot this node has not reached (catch up).
    #[error("round message for slot {got}, ahead of this node's slot {current}")]
    AheadSlot {
        /// The message's slot.
        got: u64,
        /// This node's slot.
        current: u64,
    },
    /// Too far ahead in rounds, or older than the rounds kept.
    #[error("round {0} is outside the rounds this node keeps")]
    OutOfWindow(u32),
}

/// One slot's consensus at one node.
#[derive(Clone, Debug)]
pub struct Consensus {
    federation: FederationId,
    members: Vec<DomainId>,
    quorum: usize,
    key: Option<Arc<DomainKeypair>>,
    times: RoundTimes,
    state: Durable,
    log: RoundLog,
    polka_seen: BTreeSet<u32>,
    prevote_timer: BTreeSet<u32>,
    precommit_timer: BTreeSet<u32>,
    decided: bool,
}

impl Consensus {
    /// The consensus of `slot` among `members` (any order) with quorum
    /// `quorum`. `key` is this member's domain key; `None` (or a key of a
    /// non-member) makes an observer that decides but never signs.
    pub fn new(
        federation: FederationId,
        slot: u64,
        members: impl IntoIterator<Item = DomainId>,
        quorum: usize,
        key: Option<Arc<DomainKeypair>>,
        times: RoundTimes,
    ) -> Self {
        let mut members: Vec<DomainId> = members.into_iter().collect();
        members.sort();
        members.dedup();
        let key = key.filter(|k| members.contains(&k.domain_id()));
        Self {
            federation,
            members,
            quorum: quorum.max(1),
            key,
            times,
            state: Durable {
                slot,
                ..Durable::default()
            },
            log: RoundLog::default(),
            polka_seen: BTreeSet::new(),
            prevote_timer: BTreeSet::new(),
            precommit_timer: BTreeSet::new(),
            decided: false,
        }
    }

    /// The slot.
    pub fn slot(&self) -> u64 {
        self.state.slot
    }

    /// Current round.
    pub fn round(&self) -> u32 {
        self.state.round
    }

    /// Current step.
    pub fn step(&self) -> Step {
        self.state.step
    }

    /// `lockedValue` and `lockedRound`.
    pub fn locked(&self) -> Option<(ProposalId, u32)> {
        self.state.locked
    }

    /// Whether this node decided the slot.
    pub fn is_decided(&self) -> bool {
        self.decided
    }

    /// Whether the rounds have begun.
    pub fn is_started(&self) -> bool {
        self.state.started
    }

    /// What to persist before a broadcast leaves.
    pub fn durable(&self) -> &Durable {
        &self.state
    }

    /// The round proposer of `round` (members in id order, rotating).
    pub fn proposer(&self, round: u32) -> Option<DomainId> {
        let n = self.members.len() as u64;
        if n == 0 {
            return None;
        }
        let i = (self.state.slot.wrapping_add(u64::from(round))) % n;
        self.members.get(usize::try_from(i).ok()?).copied()
    }

    /// `f+1`: the fewest members that meet every quorum.
    fn skip_threshold(&self) -> usize {
        (self.members.len() + 1).saturating_sub(self.quorum).max(1)
    }

    /// Every message held for this slot (for catch-up answers).
    pub fn messages(&self) -> impl Iterator<Item = RoundMessage> + '_ {
        self.log.messages()
    }

    /// What each member did in a round: its prevote and precommit, if held
    /// (`Some(None)` is a nil vote).
    #[allow(
        clippy::type_complexity,
        clippy::option_option,
        reason = "no vote and a nil vote differ"
    )]
    pub fn round_votes(
        &self,
        round: u32,
    ) -> Vec<(
        DomainId,
        Option<Option<ProposalId>>,
        Option<Option<ProposalId>>,
    )> {
        let r = self.log.round(round);
        self.members
            .iter()
            .map(|m| {
                let pv = r.and_then(|r| r.first_vote(VoteKind::Prevote, m));
                let pc = r.and_then(|r| r.first_vote(VoteKind::Precommit, m));
                (*m, pv, pc)
            })
            .collect()
    }

    /// Resumes from what was persisted before a crash: position, lock and
    /// the messages it had signed, which are sent again. Call instead of
    /// [`start`](Self::start) when `durable.slot` is this slot.
    pub fn resume(&mut self, durable: Durable, values: &dyn Values) -> Vec<Output> {
        let mut out = Vec::new();
        if durable.slot != self.state.slot {
            return self.start(values);
        }
        self.state = durable;
        for m in self.state.sent.clone() {
            self.log.add(m.clone(), |_| true);
            out.push(Output::Broadcast(m));
        }
        if self.state.started && self.key.is_some() {
            out.push(self.schedule(self.state.step));
        }
        self.run_rules(values, &mut out);
        out
    }

    /// Begins round 0 if there is something to decide (a valid value known
    /// here); otherwise waits, quietly, for [`values_changed`](Self::values_changed)
    /// or a message from a member that has begun.
    pub fn start(&mut self, values: &dyn Values) -> Vec<Output> {
        let mut out = Vec::new();
        if !self.state.started && values.candidate().is_some() {
            self.begin(values, &mut out);
        }
        self.run_rules(values, &mut out);
        out
    }

    /// A value became valid (approvals or its proposal arrived).
    pub fn values_changed(&mut self, values: &dyn Values) -> Vec<Output> {
        self.start(values)
    }

    fn begin(&mut self, values: &dyn Values, out: &mut Vec<Output>) {
        if self.key.is_none() || self.state.started {
            return;
        }
        self.state.started = true;
        self.start_round(self.state.round, values, out);
    }

    /// Checks a round message's signature, federation, slot, signer and
    /// window, without taking it in.
    pub fn check(&self, message: &RoundMessage) -> Result<(), RoundError> {
        if message.federation() != self.federation {
            return Err(RoundError::WrongFederation);
        }
        let slot = message.slot();
        if slot < self.state.slot {
            return Err(RoundError::OldSlot(slot));
        }
        if slot > self.state.slot {
            return Err(RoundError::AheadSlot {
                got: slot,
                current: self.state.slot,
            });
        }
        let signer = message.signer();
        if self.members.binary_search(&signer).is_err() {
            return Err(RoundError::NotMember(signer));
        }
        let round = message.round();
        if round > self.state.round.saturating_add(MAX_ROUND_AHEAD) {
            return Err(RoundError::OutOfWindow(round));
        }
        match message {
            RoundMessage::Proposal(p) => {
                if self.proposer(round) != Some(signer) {
                    return Err(RoundError::NotProposer { round, signer });
                }
                p.verify()?;
            }
            RoundMessage::Vote(v) => {
                v.verify()?;
            }
        }
        Ok(())
    }

    /// Takes in a member's round message. `Ok(true)` if it was news.
    pub fn handle_message(
        &mut self,
        message: RoundMessage,
        values: &dyn Values,
    ) -> Result<(bool, Vec<Output>), RoundError> {
        self.check(&message)?;
        let round = message.round();
        let mut out = Vec::new();
        let news = match self.log.add(message, |v| values.is_valid(v)) {
            Added::New => true,
            Added::Known => false,
            Added::TooOld => return Err(RoundError::OutOfWindow(round)),
            Added::Equivocation(e) => {
                out.push(Output::Equivocation(e));
                true
            }
        };
        if news {
            // A member that has begun wakes one that was waiting.
            self.begin(values, &mut out);
            self.run_rules(values, &mut out);
        }
        Ok((news, out))
    }

    /// A timer armed by an earlier [`Output::Schedule`] fired (lines 57-67).
    pub fn handle_timeout(&mut self, timeout: Timeout, values: &dyn Values) -> Vec<Output> {
        let mut out = Vec::new();
        if timeout.slot != self.state.slot || timeout.round != self.state.round || self.decided {
            return out;
        }
        match (timeout.step, self.state.step) {
            (Step::Propose, Step::Propose) => self.prevote(None, &mut out),
            (Step::Prevote, Step::Prevote) => self.precommit(None, &mut out),
            (Step::Precommit, _) => {
                self.start_round(self.state.round.saturating_add(1), values, &mut out);
            }
            _ => {}
        }
        self.run_rules(values, &mut out);
        out
    }

    // ---- the rules --------------------------------------------------------

    /// `StartRound(round)`, lines 11-21.
    fn start_round(&mut self, round: u32, values: &dyn Values, out: &mut Vec<Output>) {
        if self.key.is_none() {
            return;
        }
        let previous = self.state.round;
        self.state.round = round;
        self.state.step = Step::Propose;
        self.state
            .sent
            .retain(|m| m.round() >= previous.min(round) && m.round() <= round);
        let me = self.key.as_ref().map(|k| k.domain_id());
        if self.proposer(round) == me {
            let (value, valid_round) = match self.state.valid {
                Some((v, r)) => (Some(v), Some(r)),
                None => (values.candidate(), None),
            };
            if let (Some(value), Some(key)) = (value, &self.key) {
                let p = RoundProposal {
                    federation: self.federation,
                    slot: self.state.slot,
                    round,
                    value,
                    valid_round,
                };
                let signed = Signed::sign(p, key);
                self.send(RoundMessage::Proposal(signed), out);
            }
        }
        out.push(self.schedule(Step::Propose));
    }

    fn schedule(&self, step: Step) -> Output {
        Output::Schedule {
            timeout: Timeout {
                slot: self.state.slot,
                round: self.state.round,
                step,
            },
            after_ms: self.times.timeout_ms(self.state.round),
        }
    }

    /// Applies every rule that holds until none does.
    fn run_rules(&mut self, values: &dyn Values, out: &mut Vec<Output>) {
        for _ in 0..64 {
            let fired = self.rule_decide(values, out)
                || self.rule_skip(values, out)
                || self.rule_prevote(values, out)
                || self.rule_polka(values, out)
                || self.rule_nil_polka(out)
                || self.rule_timers(out);
            if !fired || self.decided {
                return;
            }
        }
    }

    /// Lines 49-54: a quorum of precommits for a valid value decides.
    fn rule_decide(&mut self, values: &dyn Values, out: &mut Vec<Output>) -> bool {
        if self.decided {
            return false;
        }
        let Some((round, value)) = self.log.decision(self.quorum) else {
            return false;
        };
        if !values.is_valid(&value) {
            return false;
        }
        self.decided = true;
        out.push(Output::Decided {
            value,
            round,
            precommits: self.log.precommits_for(round, &value),
        });
        true
    }

    /// Lines 55-56: `f+1` members in a higher round pull this one there.
    fn rule_skip(&mut self, values: &dyn Values, out: &mut Vec<Output>) -> bool {
        if self.key.is_none() || !self.state.started {
            return false;
        }
        match self
            .log
            .highest_round_above(self.state.round, self.skip_threshold())
        {
            Some(r) => {
                self.start_round(r, values, out);
                true
            }
            None => false,
        }
    }

    /// Lines 22-33: prevote the round proposer's value, or nil.
    fn rule_prevote(&mut self, values: &dyn Values, out: &mut Vec<Output>) -> bool {
        if self.state.step != Step::Propose || !self.state.started {
            return false;
        }
        let round = self.state.round;
        let Some(p) = self.log.round(round).and_then(|r| r.proposal.clone()) else {
            return false;
        };
        let v = p.value.value;
        let vote = match p.value.valid_round {
            None => values.is_valid(&v) && self.state.locked.is_none_or(|(lv, _)| lv == v),
            Some(vr) if vr < round => {
                let polka = self
                    .log
                    .round(vr)
                    .is_some_and(|r| r.count(VoteKind::Prevote, Some(&v)) >= self.quorum);
                if !polka {
                    return false;
                }
                values.is_valid(&v) && self.state.locked.is_none_or(|(lv, lr)| lr <= vr || lv == v)
            }
            Some(_) => false,
        };
        self.prevote(vote.then_some(v), out);
        true
    }

    /// Lines 36-43: a polka for the round proposer's valid value.
    fn rule_polka(&mut self, values: &dyn Values, out: &mut Vec<Output>) -> bool {
        let round = self.state.round;
        if self.state.step == Step::Propose
            || !self.state.started
            || self.polka_seen.contains(&round)
        {
            return false;
        }
        let Some(r) = self.log.round(round) else {
            return false;
        };
        let Some(v) = r.proposal.as_ref().map(|p| p.value.value) else {
            return false;
        };
        if r.count(VoteKind::Prevote, Some(&v)) < self.quorum || !values.is_valid(&v) {
            return false;
        }
        self.polka_seen.insert(round);
        if self.state.step == Step::Prevote {
            self.state.locked = Some((v, round));
            self.precommit(Some(v), out);
        }
        self.state.valid = Some((v, round));
        true
    }

    /// Lines 44-46: a quorum of nil prevotes.
    fn rule_nil_polka(&mut self, out: &mut Vec<Output>) -> bool {
        if self.state.step != Step::Prevote {
            return false;
        }
        let nil = self
            .log
            .round(self.state.round)
            .map_or(0, |r| r.count(VoteKind::Prevote, None));
        if nil < self.quorum {
            return false;
        }
        self.precommit(None, out);
        true
    }

    /// Lines 34-35 and 47-48: arm the prevote and precommit timeouts.
    fn rule_timers(&mut self, out: &mut Vec<Output>) -> bool {
        if self.key.is_none() || !self.state.started {
            return false;
        }
        let round = self.state.round;
        let Some(r) = self.log.round(round) else {
            return false;
        };
        if self.state.step == Step::Prevote
            && r.count_any(VoteKind::Prevote) >= self.quorum
            && self.prevote_timer.insert(round)
        {
            out.push(self.schedule(Step::Prevote));
            return true;
        }
        if r.count_any(VoteKind::Precommit) >= self.quorum && self.precommit_timer.insert(round) {
            out.push(self.schedule(Step::Precommit));
            return true;
        }
        false
    }

    // ---- signing ------------------------------------------------------------

    fn prevote(&mut self, value: Option<ProposalId>, out: &mut Vec<Output>) {
        if self.state.step != Step::Propose {
            return;
        }
        self.state.step = Step::Prevote;
        self.vote(VoteKind::Prevote, value, out);
    }

    fn precommit(&mut self, value: Option<ProposalId>, out: &mut Vec<Output>) {
        if self.state.step != Step::Prevote {
            return;
        }
        self.state.step = Step::Precommit;
        self.vote(VoteKind::Precommit, value, out);
    }

    fn vote(&mut self, kind: VoteKind, value: Option<ProposalId>, out: &mut Vec<Output>) {
        let Some(key) = &self.key else {
            return;
        };
        let vote = Signed::sign(
            RoundVote {
                federation: self.federation,
                slot: self.state.slot,
                round: self.state.round,
                kind,
                value,
            },
            key,
        );
        self.send(RoundMessage::Vote(vote), out);
    }

    fn send(&mut self, message: RoundMessage, out: &mut Vec<Output>) {
        self.log.add(message.clone(), |_| true);
        self.state.sent.push(message.clone());
        out.push(Output::Broadcast(message));
    }
}
