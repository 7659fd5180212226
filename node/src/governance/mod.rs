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
//!
//! Here: opening from the store, applying certificates and the policies in
//! force; `ballot.rs` takes proposals and votes in, `rounds.rs` drives the
//! slot's consensus rounds, `catch_up.rs` answers and takes in catch-ups,
//! `view.rs` renders it all for the API.

mod ballot;
mod catch_up;
mod rounds;
mod view;

use std::path::Path;
use std::sync::Arc;

use mesh_protocol::descriptor::Descriptor;
use mesh_protocol::governance::{
    BallotError, Ballots, Certificate, CertificateError, ChainError, Consensus, Durable,
    Equivocation, Federation, FederationId, Genesis, GenesisError, Proposal, RoundError,
    RoundTimes, Vote,
};
use mesh_protocol::policy;
use mesh_protocol::{DomainId, DomainKeypair, Signed, encoding};

use crate::store::{Store, StoreError, Table};

pub(crate) use ballot::VoteTaken;
pub(crate) use rounds::Effects;
use rounds::{Eligible, new_consensus};
pub use view::{
    Compliance, DecisionView, EquivocationView, FederationView, Issue, MemberRoundView, MemberView,
    MemberVoteView, ProposalView, SlotView, VoteReceipt,
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
pub(super) const MAX_PROPOSALS_PER_MEMBER: usize = 8;

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

#[cfg(test)]
mod tests;
