//! The event loop's governance work: proposals, votes, round messages and
//! certificates in from gossip and catch-up, out from this node's commands;
//! the slot's consensus driven by them and by its round timers (whose
//! messages leave only after the node's governance synced its state); the
//! catalog re-checked against the policies whenever the federation moves.
//!
//! Gossip verdicts follow the catalog's: `Accept` for verified news,
//! `Ignore` for stale, duplicate or not-yet-applicable messages (which
//! trigger a catch-up with the sender), `Reject` for forged or invalid ones.

use libp2p::PeerId;
use libp2p::gossipsub::IdentTopic;
use mesh_protocol::governance::{
    BallotError, Certificate, CertificateError, Change, Proposal, ProposalError, ProposalId,
    RoundError, RoundMessage, Timeout, Vote, VoteError,
};
use mesh_protocol::wire::{self, ErrorCode, GossipMessage, Request, Response};
use mesh_protocol::{CatalogItem, ProductId, Signed};
use tracing::{debug, info, warn};

use super::{EventLoop, Pending};
use crate::clock::now;
use crate::command::Command;
use crate::error::NodeError;
use crate::events::NodeEvent;
use crate::governance::VoteReceipt;
use crate::governance::{Compliance, Effects, GovernanceError, ProposalView};

/// Bytes of certificates, proposals and votes in one catch-up answer.
const CATCH_UP_BUDGET: usize = 8 * 1024 * 1024;

/// Most round timers armed at once (a round arms at most three).
const MAX_ROUND_TIMERS: usize = 64;

/// Sleeps until `at`, or forever when no timer is armed.
pub(super) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Opens the federation from the store and subscribes to its topic.
pub(super) fn open(
    genesis: mesh_protocol::governance::Genesis,
    store: &std::sync::Arc<dyn crate::store::Store>,
    key: &std::sync::Arc<mesh_protocol::DomainKeypair>,
    swarm: &mut libp2p::Swarm<crate::network::MeshBehaviour>,
    config: &crate::config::Config,
) -> Result<(crate::governance::Governance, IdentTopic), NodeError> {
    let gov = crate::governance::Governance::open(
        genesis,
        store.clone(),
        key.clone(),
        mesh_protocol::governance::RoundTimes::default(),
    )?;
    let topic = governance_topic(&config.network.network_id, &gov.id().to_string());
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&topic)
        .map_err(|e| NodeError::Network(e.to_string()))?;
    // Rejected governance messages cost their sender peer score, as on the
    // catalog topic.
    swarm
        .behaviour_mut()
        .gossipsub
        .set_topic_params(
            topic.clone(),
            crate::network::behaviour::rejection_penalty(),
        )
        .map_err(|e| NodeError::Network(e.to_owned()))?;
    info!(federation = %gov.id(), version = gov.version(), "federation loaded");
    Ok((gov, topic))
}

/// The gossip topic of one federation in one network.
pub(crate) fn governance_topic(network_id: &str, federation: &str) -> IdentTopic {
    IdentTopic::new(wire::topic(network_id, &format!("gov/{federation}")))
}

fn gov_err(e: impl Into<GovernanceError>) -> NodeError {
    NodeError::Governance(e.into())
}

impl EventLoop {
    /// Gossips this node's proposal, vote or certificate on the
    /// federation's topic (deferred while no peer is subscribed).
    fn gov_gossip(&mut self, message: GossipMessage) {
        if let Some(topic) = self.gov_topic.clone() {
            self.gossip_or_defer(topic, message);
        }
    }

    // ---- commands -------------------------------------------------------

    pub(super) fn handle_governance_command(&mut self, command: Command) {
        match command {
            Command::Federation { reply } => {
                let me = self.domain.domain_id();
                let view = self
                    .gov
                    .as_ref()
                    .map(|g| g.view(me))
                    .ok_or(NodeError::Governance(
                        crate::governance::GovernanceError::NoFederation,
                    ));
                let _ = reply.send(view);
            }
            Command::Proposals { reply } => {
                let me = self.domain.domain_id();
                let list =
                    self.gov
                        .as_ref()
                        .map(|g| g.proposals(me, now()))
                        .ok_or(NodeError::Governance(
                            crate::governance::GovernanceError::NoFederation,
                        ));
                let _ = reply.send(list);
            }
            Command::Propose {
                change,
                reason,
                ttl_ms,
                reply,
            } => {
                let _ = reply.send(self.propose(change, reason, ttl_ms));
            }
            Command::Vote {
                proposal,
                approve,
                reason,
                reply,
            } => {
                let _ = reply.send(self.vote(&proposal, approve, reason));
            }
            Command::Compliance { products, reply } => {
                let _ = reply.send(self.compliance(products.as_deref()));
            }
            _ => {}
        }
    }

    pub(super) fn propose(
        &mut self,
        change: Change,
        reason: String,
        ttl_ms: u64,
    ) -> Result<ProposalView, NodeError> {
        let gov = self
            .gov
            .as_mut()
            .ok_or(gov_err(GovernanceError::NoFederation))?;
        let at = now();
        let expires = at.plus_millis(ttl_ms);
        let proposal = gov.propose(change, reason, expires, at).map_err(gov_err)?;
        let id = proposal.value.id();
        info!(proposal = %id, change = %proposal.value.change, "proposed");
        self.gov_gossip(GossipMessage::Proposal(proposal));
        let me = self.domain.domain_id();
        self.gov
            .as_ref()
            .and_then(|g| {
                g.proposals(me, now())
                    .into_iter()
                    .find(|p| p.id == id.to_string())
            })
            .ok_or(NodeError::Stopped)
    }

    pub(super) fn vote(
        &mut self,
        id: &ProposalId,
        approve: bool,
        reason: String,
    ) -> Result<VoteReceipt, NodeError> {
        let gov = self
            .gov
            .as_mut()
            .ok_or(gov_err(GovernanceError::NoFederation))?;
        let before = gov.version();
        let vote = gov.vote(id, approve, reason, now()).map_err(gov_err)?;
        info!(proposal = %id, approve, "voted");
        self.gov_gossip(GossipMessage::Vote(vote));
        self.consensus_moved(crate::governance::Governance::values_changed);
        let me = self.domain.domain_id();
        let (version, status) = self.gov.as_ref().map_or((0, String::new()), |g| {
            let status = g
                .proposals(me, now())
                .into_iter()
                .find(|p| p.id == id.to_string())
                .map_or_else(|| "decided".to_owned(), |p| p.status);
            (g.version(), status)
        });
        Ok(VoteReceipt {
            proposal: id.to_string(),
            approve,
            status,
            ratified: version > before,
            version,
        })
    }

    // ---- the slot's consensus -------------------------------------------

    /// Resumes this member's rounds after a start (its state was synced
    /// before it stopped).
    pub(super) fn boot_governance(&mut self) {
        self.consensus_moved(crate::governance::Governance::boot);
    }

    /// Runs one consensus step and carries out what it produced: round
    /// messages gossiped (the governance synced its state first), timers
    /// armed, a certificate gossiped and the catalog re-checked.
    fn consensus_moved(
        &mut self,
        step: impl FnOnce(&mut crate::governance::Governance) -> Result<Effects, GovernanceError>,
    ) {
        let Some(gov) = self.gov.as_mut() else {
            return;
        };
        match step(gov) {
            Ok(effects) => self.carry_out(effects),
            Err(e) => warn!(error = %e, "governance step failed; nothing was sent"),
        }
    }

    fn carry_out(&mut self, effects: Effects) {
        for e in &effects.equivocations {
            warn!(member = %e.member, slot = e.slot, round = e.votes.0.value.round, "equivocation: a member signed two different votes in one step");
        }
        for m in effects.messages {
            debug!(round = m.round(), "round message");
            self.gov_gossip(GossipMessage::Round(m));
        }
        let at = tokio::time::Instant::now();
        for (timeout, after_ms) in effects.timers {
            self.gov_timers
                .insert((at + std::time::Duration::from_millis(after_ms), timeout));
        }
        while self.gov_timers.len() > MAX_ROUND_TIMERS {
            self.gov_timers.pop_first();
        }
        if let Some(cert) = effects.certificate {
            info!(proposal = %cert.proposal_id(), round = cert.round, "slot decided; certificate assembled");
            self.gov_timers.clear();
            self.gov_gossip(GossipMessage::Certificate(Box::new(cert)));
            self.on_advanced();
        }
    }

    /// Fires every round timer that is due.
    pub(super) fn fire_round_timers(&mut self) {
        let at = tokio::time::Instant::now();
        while let Some((when, timeout)) = self.gov_timers.first().copied() {
            if when > at {
                break;
            }
            self.gov_timers.pop_first();
            self.on_round_timer(timeout);
        }
    }

    fn on_round_timer(&mut self, timeout: Timeout) {
        self.consensus_moved(|g| g.on_timeout(timeout));
    }

    /// Compliance of the given products (all descriptors when `None`).
    pub(super) fn compliance(
        &self,
        products: Option<&[ProductId]>,
    ) -> Result<Vec<Compliance>, NodeError> {
        let gov = self
            .gov
            .as_ref()
            .ok_or(gov_err(GovernanceError::NoFederation))?;
        let items: Vec<&CatalogItem> = match products {
            Some(ids) => ids.iter().filter_map(|p| self.catalog.get(p)).collect(),
            None => self.catalog.items().collect(),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let CatalogItem::Descriptor(d) = item else {
                continue;
            };
            let previous = if gov.needs_previous() {
                self.previous_descriptor(&d.value.id, d.value.version)
            } else {
                None
            };
            let issues = gov.check(&d.value, previous.as_ref());
            out.push(Compliance {
                product: d.value.id.to_string(),
                compliant: issues.is_empty(),
                issues,
            });
        }
        Ok(out)
    }

    /// The version of a product before `version`, if this node kept it.
    pub(super) fn previous_descriptor(
        &self,
        product: &ProductId,
        version: u64,
    ) -> Option<mesh_protocol::Descriptor> {
        self.store
            .versions(product)
            .ok()?
            .into_iter()
            .filter(|i| i.version() < version)
            .find_map(|i| i.descriptor().cloned())
    }

    // ---- network --------------------------------------------------------

    /// A governance message from gossip: `Ok(true)` news (forward),
    /// `Ok(false)` harmless (drop), `Err` invalid (drop and penalise).
    pub(super) fn check_governance(
        &mut self,
        source: PeerId,
        message: GossipMessage,
    ) -> Result<bool, String> {
        if self.gov.is_none() {
            return Ok(false);
        }
        match message {
            GossipMessage::Proposal(p) => self.on_proposal(source, p),
            GossipMessage::Vote(v) => self.on_vote(source, &v),
            GossipMessage::Certificate(c) => self.on_certificate(source, *c),
            GossipMessage::Round(m) => self.on_round(source, m),
            GossipMessage::Catalog(_)
            | GossipMessage::AccessRequest(_)
            | GossipMessage::AccessDecision(_) => Ok(false),
        }
    }

    fn on_proposal(&mut self, source: PeerId, p: Signed<Proposal>) -> Result<bool, String> {
        let Some(gov) = self.gov.as_mut() else {
            return Ok(false);
        };
        match gov.take_proposal(p, now()) {
            Ok(news) => {
                if news {
                    self.consensus_moved(crate::governance::Governance::values_changed);
                }
                Ok(news)
            }
            Err(GovernanceError::Ballot(BallotError::Proposal(ProposalError::Ahead {
                ..
            }))) => {
                self.start_gov_catch_up(source);
                Ok(false)
            }
            Err(
                GovernanceError::TooManyProposals(_)
                | GovernanceError::Ballot(
                    BallotError::Full
                    | BallotError::Proposal(
                        ProposalError::Outdated { .. } | ProposalError::Expired(_),
                    ),
                ),
            ) => Ok(false),
            Err(GovernanceError::Store(e)) => {
                warn!(error = %e, "cannot store a proposal");
                Ok(false)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn on_vote(&mut self, source: PeerId, v: &Signed<Vote>) -> Result<bool, String> {
        let Some(gov) = self.gov.as_mut() else {
            return Ok(false);
        };
        match gov.take_vote(v) {
            // Known already, or a late vote for a decided slot.
            Ok(crate::governance::VoteTaken::Duplicate)
            | Err(GovernanceError::Ballot(BallotError::Proposal(ProposalError::Outdated {
                ..
            }))) => Ok(false),
            Ok(crate::governance::VoteTaken::New) => {
                self.consensus_moved(crate::governance::Governance::values_changed);
                Ok(true)
            }
            // Signed by a member but its proposal has not arrived: catch
            // up with the peer that sent it, unless the slot is decided.
            Err(GovernanceError::Ballot(BallotError::Vote(VoteError::UnknownProposal(_)))) => {
                let current = self
                    .gov
                    .as_ref()
                    .map_or(0, crate::governance::Governance::version);
                if v.value.base_version >= current {
                    self.start_gov_catch_up(source);
                }
                Ok(false)
            }
            Err(GovernanceError::Store(e)) => {
                warn!(error = %e, "cannot store a vote");
                Ok(false)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn on_certificate(&mut self, source: PeerId, cert: Certificate) -> Result<bool, String> {
        let Some(gov) = self.gov.as_mut() else {
            return Ok(false);
        };
        match gov.apply(cert) {
            Ok(true) => {
                self.gov_timers.clear();
                self.on_advanced();
                self.consensus_moved(crate::governance::Governance::values_changed);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(GovernanceError::Certificate(CertificateError::Proposal(
                ProposalError::Ahead { .. },
            ))) => {
                self.start_gov_catch_up(source);
                Ok(false)
            }
            Err(GovernanceError::Store(e)) => {
                warn!(error = %e, "cannot store a certificate");
                Ok(false)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// A round message: `Ok(true)` news (forward), `Ok(false)` harmless,
    /// `Err` forged or not a member's (penalise).
    fn on_round(&mut self, source: PeerId, m: RoundMessage) -> Result<bool, String> {
        let Some(gov) = self.gov.as_mut() else {
            return Ok(false);
        };
        match gov.on_round(m) {
            Ok((news, effects)) => {
                self.carry_out(effects);
                Ok(news)
            }
            Err(GovernanceError::Round(RoundError::AheadSlot { .. })) => {
                self.start_gov_catch_up(source);
                Ok(false)
            }
            Err(GovernanceError::Round(RoundError::OldSlot(_) | RoundError::OutOfWindow(_))) => {
                Ok(false)
            }
            Err(GovernanceError::Store(e)) => {
                warn!(error = %e, "cannot store the consensus state");
                Ok(false)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The federation moved: report it and re-check the catalog.
    fn on_advanced(&mut self) {
        let Some(gov) = self.gov.as_ref() else {
            return;
        };
        let version = gov.version();
        let non_compliant = self
            .compliance(None)
            .map_or(0, |all| all.iter().filter(|c| !c.compliant).count());
        self.metrics.federation(version, non_compliant);
        info!(
            version,
            non_compliant, "federation advanced; catalog re-checked"
        );
        self.emit(NodeEvent::FederationAdvanced { version });
    }

    // ---- catch-up -------------------------------------------------------

    pub(super) fn start_gov_catch_up(&mut self, peer: PeerId) {
        let Some(gov) = self.gov.as_ref() else {
            return;
        };
        let already = self
            .pending
            .values()
            .any(|(p, k)| *p == peer && matches!(k, Pending::GovCatchUp));
        if already {
            return;
        }
        let request = Request::GovernanceCatchUp {
            federation: gov.id(),
            from_version: gov.version(),
        };
        let frame = self.frame(request);
        let id = self.swarm.behaviour_mut().rr.send_request(&peer, frame);
        self.pending.insert(id, (peer, Pending::GovCatchUp));
    }

    pub(super) fn answer_catch_up(
        &self,
        federation: mesh_protocol::governance::FederationId,
        from_version: u64,
    ) -> Response {
        match self.gov.as_ref() {
            Some(gov) if gov.id() == federation => {
                let c = gov.catch_up(from_version, CATCH_UP_BUDGET);
                Response::Governance {
                    certificates: c.certificates,
                    proposals: c.proposals,
                    votes: c.votes,
                    rounds: c.rounds,
                }
            }
            _ => Response::error(
                ErrorCode::UnknownFederation,
                "not a member of that federation",
            ),
        }
    }

    pub(super) fn on_catch_up(
        &mut self,
        peer: PeerId,
        certificates: Vec<Certificate>,
        proposals: Vec<Signed<Proposal>>,
        votes: &[Signed<Vote>],
        rounds: Vec<RoundMessage>,
    ) {
        let Some(gov) = self.gov.as_mut() else {
            return;
        };
        let mut applied = 0;
        for cert in certificates {
            match gov.apply(cert) {
                Ok(true) => applied += 1,
                Ok(false) => {}
                Err(e) => {
                    warn!(%peer, error = %e, "catch-up certificate refused");
                    break;
                }
            }
        }
        gov.take_caught_up(proposals, votes, now());
        if applied > 0 {
            debug!(%peer, applied, "governance caught up");
            self.gov_timers.clear();
            self.on_advanced();
            // More may follow beyond this answer's budget.
            self.start_gov_catch_up(peer);
        }
        self.consensus_moved(crate::governance::Governance::values_changed);
        for m in rounds {
            let Some(gov) = self.gov.as_mut() else {
                return;
            };
            match gov.on_round(m) {
                Ok((_, effects)) => self.carry_out(effects),
                Err(e) => debug!(%peer, error = %e, "catch-up round message not taken"),
            }
        }
    }
}
