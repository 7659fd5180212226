//! The current slot's consensus rounds (Tendermint, driven by
//! mesh-protocol's `Consensus`): round messages and timeouts in, and what
//! the consensus outputs carried out: its state synced before any message
//! of this member leaves, a decision assembled into a certificate and
//! applied, equivocation evidence kept.

use std::sync::Arc;

use mesh_protocol::governance::{
    Ballots, Certificate, Consensus, Equivocation, Federation, Output, ProposalId, RoundMessage,
    RoundTimes, Timeout, Values,
};
use mesh_protocol::{DomainKeypair, encoding};

use super::{Governance, GovernanceError, KEY_CONSENSUS, PREFIX_EVIDENCE, key};
use crate::store::Table;

/// What the event loop must do after the consensus moved: gossip these
/// round messages (already persisted), arm these timers, and gossip the
/// certificate if the slot was decided and applied here.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) messages: Vec<RoundMessage>,
    pub(crate) timers: Vec<(Timeout, u64)>,
    pub(crate) certificate: Option<Certificate>,
    pub(crate) equivocations: Vec<Equivocation>,
}

/// The eligible proposals, as the consensus asks for them: `valid(v)` is
/// "a quorum of members approved `v`".
pub(super) struct Eligible<'a> {
    pub(super) fed: &'a Federation,
    pub(super) ballots: &'a Ballots,
}

impl Values for Eligible<'_> {
    fn is_valid(&self, value: &ProposalId) -> bool {
        self.ballots.is_approved(self.fed, value)
    }
    fn candidate(&self) -> Option<ProposalId> {
        self.ballots.candidate(self.fed)
    }
}

/// Most equivocation records kept (each is two signed votes).
pub(super) const MAX_EVIDENCE: usize = 4096;

/// The consensus of the federation's current slot, with this node's key
/// (it signs only if its domain is a member).
pub(super) fn new_consensus(
    fed: &Federation,
    key: &Arc<DomainKeypair>,
    times: RoundTimes,
) -> Consensus {
    let state = fed.state();
    Consensus::new(
        fed.id(),
        state.version,
        state.members.keys().copied(),
        fed.threshold(),
        Some(key.clone()),
        times,
    )
}

impl Governance {
    /// Starts the slot's rounds after a new slot began or a proposal became
    /// eligible (both are no-ops when nothing changed).
    pub(crate) fn values_changed(&mut self) -> Result<Effects, GovernanceError> {
        let values = Eligible {
            fed: &self.fed,
            ballots: &self.ballots,
        };
        let outputs = self.consensus.values_changed(&values);
        self.carry(outputs)
    }

    /// A round message from a member; `Ok((true, ..))` if it was news.
    pub(crate) fn on_round(
        &mut self,
        message: RoundMessage,
    ) -> Result<(bool, Effects), GovernanceError> {
        let values = Eligible {
            fed: &self.fed,
            ballots: &self.ballots,
        };
        let (news, outputs) = self.consensus.handle_message(message, &values)?;
        Ok((news, self.carry(outputs)?))
    }

    /// A round timer fired.
    pub(crate) fn on_timeout(&mut self, timeout: Timeout) -> Result<Effects, GovernanceError> {
        let values = Eligible {
            fed: &self.fed,
            ballots: &self.ballots,
        };
        let outputs = self.consensus.handle_timeout(timeout, &values);
        self.carry(outputs)
    }

    /// Carries out the consensus's outputs: its state is synced before any
    /// message of this member is handed back for gossip; a decision is
    /// assembled into a certificate, applied and handed back; evidence is
    /// kept. Applying a certificate starts the next slot, whose outputs are
    /// carried out too.
    pub(super) fn carry(&mut self, outputs: Vec<Output>) -> Result<Effects, GovernanceError> {
        let mut effects = Effects::default();
        let mut pending = outputs;
        while !pending.is_empty() {
            if pending.iter().any(|o| matches!(o, Output::Broadcast(_))) {
                self.store.write(
                    Table::Governance,
                    &[(
                        KEY_CONSENSUS.to_vec(),
                        Some(encoding::to_bytes(self.consensus.durable())),
                    )],
                )?;
            }
            let mut next = Vec::new();
            for output in std::mem::take(&mut pending) {
                match output {
                    Output::Broadcast(m) => effects.messages.push(m),
                    Output::Schedule { timeout, after_ms } => {
                        effects.timers.push((timeout, after_ms));
                    }
                    Output::Equivocation(e) => {
                        self.keep_evidence(&e)?;
                        effects.equivocations.push(*e);
                    }
                    Output::Decided {
                        value,
                        round,
                        precommits,
                    } => {
                        let Some(cert) = self
                            .ballots
                            .certificate(&self.fed, &value, round, precommits)
                        else {
                            tracing::warn!(proposal = %value, round, "decided, but the certificate does not verify");
                            continue;
                        };
                        if self.apply(cert.clone())? {
                            effects.certificate = Some(cert);
                            let values = Eligible {
                                fed: &self.fed,
                                ballots: &self.ballots,
                            };
                            next.extend(self.consensus.start(&values));
                        }
                    }
                }
            }
            pending = next;
        }
        Ok(effects)
    }

    pub(super) fn keep_evidence(&mut self, e: &Equivocation) -> Result<(), GovernanceError> {
        if self.evidence.len() >= MAX_EVIDENCE || self.evidence.contains(e) {
            return Ok(());
        }
        let id = encoding::tagged_hash("meshd/v2/evidence", e);
        self.store.write(
            Table::Governance,
            &[(key(PREFIX_EVIDENCE, &[&id.0]), Some(encoding::to_bytes(e)))],
        )?;
        self.evidence.push(e.clone());
        Ok(())
    }
}
