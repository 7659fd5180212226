//! A node's part in federated governance: the federation state machine,
//! the ballot box and the current slot's consensus rounds from
//! mesh-protocol, kept durable in the store's `governance` column family.
//!
//! **Invariants:**
//! - the consensus state of this member (round, step, lock, valid value,
//!   its own round messages) is synced before any round message of its
//!   leaves the node ([`Governance::carry`]), so a member that crashes and
//!   restarts never signs two different votes in one step;
//! - a certificate is verified against the current state, then written in
//!   one synced batch (with the settled proposals and votes removed) before
//!   the in-memory state moves, so the state on disk is always a verified
//!   prefix of the chain;
//! - everything here is bounded: the ballot box holds at most
//!   [`MAX_PROPOSALS`](mesh_protocol::governance::MAX_PROPOSALS) proposals,
//!   each with at most two votes per member, and the round log
//!   [`MAX_ROUNDS_KEPT`](mesh_protocol::governance::MAX_ROUNDS_KEPT) rounds.

mod view;

use std::path::Path;
use std::sync::Arc;

use mesh_protocol::descriptor::Descriptor;
use mesh_protocol::governance::{
    BallotError, Ballots, Certificate, CertificateError, ChainError, Change, Consensus, Durable,
    Equivocation, Federation, FederationId, Genesis, GenesisError, MAX_PROPOSALS, Output, Proposal,
    ProposalError, ProposalId, ProposalStatus, RoundError, RoundMessage, RoundTimes, Timeout,
    Values, Vote, VoteOutcome,
};
use mesh_protocol::policy;
use mesh_protocol::{DomainId, DomainKeypair, Signed, Timestamp, encoding};

use crate::store::{Store, StoreError, Table};

pub use view::{
    Compliance, DecisionView, EquivocationView, FederationView, Issue, MemberRoundView, MemberView,
    MemberVoteView, ProposalView, SlotView,
};

/// The genesis file in a data directory; its presence makes the node a
/// participant (member or observer) of that federation.
pub const GENESIS_FILE: &str = "genesis.json";

/// Largest stored governance record.
const MAX_RECORD: usize = 16 * 1024 * 1024;

/// Most proposals one member may have open or approved in one slot: a
/// member cannot fill the ballot box and block everyone else's proposals.
/// Rejected and expired ones do not count, so a failed proposal never stops
/// its proposer from trying again.
const MAX_PROPOSALS_PER_MEMBER: usize = 8;

// Keys of the round-based governance (protocol version 2). A store written
// by version 1 keeps its old keys, which are ignored: its certificates do
// not verify under the new rules, so such a federation starts again from
// its genesis.
const KEY_GENESIS: &[u8] = b"genesis";
const KEY_CONSENSUS: &[u8] = b"v2/consensus";
const PREFIX_CERT: &[u8] = b"v2/cert/";
const PREFIX_PROPOSAL: &[u8] = b"v2/prop/";
const PREFIX_VOTE: &[u8] = b"v2/vote/";
const PREFIX_EVIDENCE: &[u8] = b"v2/evidence/";

/// Why a governance operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    /// The genesis file is unusable.
    #[error("genesis: {0}")]
    Genesis(String),
    /// The data directory already belongs to another federation.
    #[error(
        "this data directory belongs to federation {stored}, not {given}; use a new data directory for another federation"
    )]
    OtherFederation {
        /// The federation in the store.
        stored: FederationId,
        /// The one the genesis file names.
        given: FederationId,
    },
    /// The stored chain does not verify.
    #[error("stored certificate chain: {0}")]
    Chain(#[from] ChainError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This node runs no federation.
    #[error("this node runs no federation; start it with `meshd run --genesis FILE`")]
    NoFederation,
    /// This node's domain is not a member.
    #[error("domain {0} is not a member of the federation; it can only observe")]
    NotMember(DomainId),
    /// No such proposal.
    #[error("unknown proposal {0}; list them with `mesh proposals`")]
    UnknownProposal(String),
    /// The proposal's voting time is over.
    #[error("proposal {0} expired; votes on it no longer count")]
    Expired(String),
    /// This member already voted on the proposal.
    #[error("this domain already {verb} proposal {id}; a vote cannot be changed")]
    AlreadyVoted {
        /// The proposal.
        id: String,
        /// `approved` or `rejected`.
        verb: &'static str,
    },
    /// A member has too many open proposals.
    #[error("domain {0} already has {MAX_PROPOSALS_PER_MEMBER} open proposals in this slot")]
    TooManyProposals(DomainId),
    /// The ballot box refused.
    #[error("{0}")]
    Ballot(#[from] BallotError),
    /// A certificate does not verify.
    #[error("{0}")]
    Certificate(#[from] CertificateError),
    /// A consensus round message was refused.
    #[error("{0}")]
    Round(#[from] RoundError),
}

/// Reads a genesis file (JSON).
pub fn read_genesis(path: &Path) -> Result<Genesis, GovernanceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| GovernanceError::Genesis(format!("{}: {e}", path.display())))?;
    let genesis: Genesis = serde_json::from_str(&text)
        .map_err(|e| GovernanceError::Genesis(format!("{}: {e}", path.display())))?;
    genesis
        .validate()
        .map_err(|e: GenesisError| GovernanceError::Genesis(format!("{}: {e}", path.display())))?;
    Ok(genesis)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    encoding::from_bytes(bytes, MAX_RECORD).map_err(|e| StoreError::Corrupt {
        table: "governance",
        reason: e.to_string(),
    })
}

fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn proposal_key(p: &Proposal) -> Vec<u8> {
    key(
        PREFIX_PROPOSAL,
        &[&p.base_version.to_be_bytes(), &p.id().0.0],
    )
}

fn vote_key(v: &Signed<Vote>) -> Vec<u8> {
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
struct Eligible<'a> {
    fed: &'a Federation,
    ballots: &'a Ballots,
}

impl Values for Eligible<'_> {
    fn is_valid(&self, value: &ProposalId) -> bool {
        self.ballots.is_approved(self.fed, value)
    }
    fn candidate(&self) -> Option<ProposalId> {
        self.ballots.candidate(self.fed)
    }
}

/// The federation as this node holds it.
pub(crate) struct Governance {
    fed: Federation,
    ballots: Ballots,
    consensus: Consensus,
    key: Arc<DomainKeypair>,
    times: RoundTimes,
    /// Equivocation evidence, kept for good.
    evidence: Vec<Equivocation>,
    store: Arc<dyn Store>,
}

/// Most equivocation records kept (each is two signed votes).
const MAX_EVIDENCE: usize = 4096;

impl Governance {
    /// Opens the federation of `genesis` from the store: the stored chain is
    /// replayed (every certificate verified again), then open proposals,
    /// votes and this member's consensus state are taken back in. Call
    /// [`boot`](Self::boot) next and carry out what it returns.
    pub(crate) fn open(
        genesis: Genesis,
        store: Arc<dyn Store>,
        key: Arc<DomainKeypair>,
        times: RoundTimes,
    ) -> Result<Self, GovernanceError> {
        let given = genesis.id();
        match store
            .scan(Table::Governance, KEY_GENESIS)?
            .into_iter()
            .next()
        {
            Some((_, bytes)) => {
                let stored: Genesis = decode(&bytes)?;
                if stored.id() != given {
                    return Err(GovernanceError::OtherFederation {
                        stored: stored.id(),
                        given,
                    });
                }
            }
            None => store.write(
                Table::Governance,
                &[(KEY_GENESIS.to_vec(), Some(encoding::to_bytes(&genesis)))],
            )?,
        }
        let chain: Vec<Certificate> = store
            .scan(Table::Governance, PREFIX_CERT)?
            .iter()
            .map(|(_, v)| decode(v))
            .collect::<Result<_, _>>()?;
        let fed = Federation::replay(genesis, chain)?;
        let mut ballots = Ballots::default();
        for (_, bytes) in store.scan(Table::Governance, PREFIX_PROPOSAL)? {
            let p: Signed<Proposal> = decode(&bytes)?;
            // Proposals check their expiry against their own creation time
            // here: votes cast before expiry still count after a restart.
            let _ = ballots.add_proposal(&fed, p.clone(), p.value.created_at);
        }
        for (_, bytes) in store.scan(Table::Governance, PREFIX_VOTE)? {
            let v: Signed<Vote> = decode(&bytes)?;
            let _ = ballots.add_vote(&fed, v);
        }
        let evidence = store
            .scan(Table::Governance, PREFIX_EVIDENCE)?
            .iter()
            .map(|(_, v)| decode(v))
            .collect::<Result<_, _>>()?;
        let consensus = new_consensus(&fed, &key, times);
        Ok(Self {
            fed,
            ballots,
            consensus,
            key,
            times,
            evidence,
            store,
        })
    }

    /// Resumes this member's rounds from what it persisted (or starts the
    /// slot if it persisted nothing for it).
    pub(crate) fn boot(&mut self) -> Result<Effects, GovernanceError> {
        let durable: Option<Durable> = self
            .store
            .scan(Table::Governance, KEY_CONSENSUS)?
            .into_iter()
            .next()
            .map(|(_, bytes)| decode(&bytes))
            .transpose()?;
        let values = Eligible {
            fed: &self.fed,
            ballots: &self.ballots,
        };
        let outputs = match durable {
            Some(d) if d.slot == self.fed.state().version => self.consensus.resume(d, &values),
            _ => self.consensus.start(&values),
        };
        self.carry(outputs)
    }

    pub(crate) fn id(&self) -> FederationId {
        self.fed.id()
    }

    pub(crate) fn version(&self) -> u64 {
        self.fed.state().version
    }

    /// The members called `name` (at most one in a valid federation).
    pub(crate) fn members_named(&self, name: &str) -> Vec<DomainId> {
        self.fed
            .state()
            .members
            .iter()
            .filter(|(_, m)| m.name == name)
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn is_member(&self, domain: &DomainId) -> bool {
        self.fed.state().is_member(domain)
    }

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
    fn admit_proposal(&mut self, proposal: Signed<Proposal>) -> Result<bool, GovernanceError> {
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

    /// Whether `votes` hold a quorum of valid member approvals of `p` cast
    /// before it expired.
    fn approved_in(&self, p: &Signed<Proposal>, votes: &[Signed<Vote>]) -> bool {
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

    /// Verifies and applies a certificate for the current version, then
    /// starts the next slot's rounds. `false` for one already applied.
    pub(crate) fn apply(&mut self, cert: Certificate) -> Result<bool, GovernanceError> {
        let base = cert.proposal.value.base_version;
        if base < self.version() {
            // Decided already. Another quorum for the same decision is
            // harmless; a different decision for the slot is reported.
            let decided = usize::try_from(base)
                .ok()
                .and_then(|b| self.fed.chain().get(b))
                .map(Certificate::proposal_id);
            if decided != Some(cert.proposal_id()) {
                tracing::warn!(
                    slot = base,
                    decided = ?decided,
                    other = %cert.proposal_id(),
                    "a certificate for another proposal in a decided slot"
                );
            }
            return Ok(false);
        }
        let next = self.fed.verify(&cert)?;
        let mut writes = vec![(
            key(PREFIX_CERT, &[&next.version.to_be_bytes()]),
            Some(encoding::to_bytes(&cert)),
        )];
        for prefix in [PREFIX_PROPOSAL, PREFIX_VOTE] {
            for (k, _) in self.store.scan(Table::Governance, prefix)? {
                let settled = k
                    .get(prefix.len()..prefix.len() + 8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .is_none_or(|b| u64::from_be_bytes(b) < next.version);
                if settled {
                    writes.push((k, None));
                }
            }
        }
        self.store.write(Table::Governance, &writes)?;
        self.fed.apply(cert)?;
        self.ballots.prune(&self.fed);
        self.consensus = new_consensus(&self.fed, &self.key, self.times);
        Ok(true)
    }

    // ---- the slot's consensus ---------------------------------------------

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
    fn carry(&mut self, outputs: Vec<Output>) -> Result<Effects, GovernanceError> {
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

    fn keep_evidence(&mut self, e: &Equivocation) -> Result<(), GovernanceError> {
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

    /// Whether checking a descriptor needs its previous version.
    pub(crate) fn needs_previous(&self) -> bool {
        self.fed
            .state()
            .policies
            .contains(&policy::PolicyRule::SchemaCompatibility)
    }

    /// Every way `d` breaks the federation's rules: its domain must be a
    /// member, and it must meet every active policy.
    pub(crate) fn check(&self, d: &Descriptor, previous: Option<&Descriptor>) -> Vec<Issue> {
        let state = self.fed.state();
        let mut out = Vec::new();
        if !state.is_member(&d.id.domain) {
            out.push(Issue {
                rule: "membership".into(),
                reason: format!(
                    "domain {} ({}) is not a member of federation {}",
                    d.domain_name, d.id.domain, state.name
                ),
            });
        }
        out.extend(
            policy::evaluate(d, previous, &state.policies)
                .into_iter()
                .map(|v| Issue {
                    rule: v.rule.to_string(),
                    reason: v.reason,
                }),
        );
        out
    }
}

/// A governance catch-up answer.
#[derive(Default)]
pub(crate) struct CatchUp {
    pub(crate) certificates: Vec<Certificate>,
    pub(crate) proposals: Vec<Signed<Proposal>>,
    pub(crate) votes: Vec<Signed<Vote>>,
    pub(crate) rounds: Vec<RoundMessage>,
}

/// The consensus of the federation's current slot, with this node's key
/// (it signs only if its domain is a member).
fn new_consensus(fed: &Federation, key: &Arc<DomainKeypair>, times: RoundTimes) -> Consensus {
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

#[cfg(test)]
mod tests;
