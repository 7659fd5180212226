//! A node's part in federated governance: the federation state machine,
//! the ballot box and the honest-voter record from mesh-protocol, kept
//! durable in the store's `governance` column family.
//!
//! **Invariants:**
//! - the voter record is synced before a vote is signed away, so a node
//!   that crashes and restarts still never approves two proposals for one
//!   slot;
//! - a certificate is verified against the current state, then written in
//!   one synced batch (with the settled proposals and votes removed) before
//!   the in-memory state moves, so the state on disk is always a verified
//!   prefix of the chain;
//! - everything here is bounded: the ballot box holds at most
//!   [`MAX_PROPOSALS`](mesh_protocol::governance::MAX_PROPOSALS) open
//!   proposals, each with at most two votes per member.

use std::path::Path;
use std::sync::Arc;

use mesh_protocol::descriptor::Descriptor;
use mesh_protocol::governance::{
    BallotError, Ballots, Certificate, CertificateError, ChainError, Change, Equivocation,
    Federation, FederationId, Genesis, GenesisError, MAX_PROPOSALS, Proposal, ProposalId, Vote,
    VoteOutcome, VoteRefused, Voter,
};
use mesh_protocol::policy;
use mesh_protocol::{DomainId, DomainKeypair, Signed, Timestamp, encoding};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, Table};

/// The genesis file in a data directory; its presence makes the node a
/// participant (member or observer) of that federation.
pub const GENESIS_FILE: &str = "genesis.json";

/// Largest stored governance record.
const MAX_RECORD: usize = 16 * 1024 * 1024;

/// Most open proposals one member may have in one slot: a member cannot
/// fill the ballot box and block everyone else's proposals.
const MAX_PROPOSALS_PER_MEMBER: usize = 8;

const KEY_GENESIS: &[u8] = b"genesis";
const KEY_VOTER: &[u8] = b"voter";
const PREFIX_CERT: &[u8] = b"cert/";
const PREFIX_PROPOSAL: &[u8] = b"prop/";
const PREFIX_VOTE: &[u8] = b"vote/";
const PREFIX_EVIDENCE: &[u8] = b"evidence/";

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
    /// A member has too many open proposals.
    #[error("domain {0} already has {MAX_PROPOSALS_PER_MEMBER} open proposals in this slot")]
    TooManyProposals(DomainId),
    /// The honest-voter rule refused.
    #[error("{0}")]
    Refused(#[from] VoteRefused),
    /// The ballot box refused.
    #[error("{0}")]
    Ballot(#[from] BallotError),
    /// A certificate does not verify.
    #[error("{0}")]
    Certificate(#[from] CertificateError),
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
    /// New, persisted; `Some` if it also proves an equivocation.
    New(Option<Box<Equivocation>>),
}

/// The federation as this node holds it.
pub(crate) struct Governance {
    fed: Federation,
    ballots: Ballots,
    voter: Voter,
    /// Equivocation evidence, kept for good (the ballots forget decided
    /// slots).
    evidence: Vec<Equivocation>,
    store: Arc<dyn Store>,
}

/// Most equivocation records kept (each is two signed votes).
const MAX_EVIDENCE: usize = 4096;

impl Governance {
    /// Opens the federation of `genesis` from the store: the stored chain is
    /// replayed (every certificate verified again), then open proposals and
    /// votes are taken back in.
    pub(crate) fn open(genesis: Genesis, store: Arc<dyn Store>) -> Result<Self, GovernanceError> {
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
        let voter = match store.scan(Table::Governance, KEY_VOTER)?.into_iter().next() {
            Some((_, bytes)) => decode(&bytes)?,
            None => Voter::default(),
        };
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
        Ok(Self {
            fed,
            ballots,
            voter,
            evidence,
            store,
        })
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
        key: &DomainKeypair,
        change: Change,
        reason: String,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Signed<Proposal>, GovernanceError> {
        let domain = key.domain_id();
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
            key,
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
        if self.ballots.proposal(&proposal.value.id()).is_some() {
            return Ok(false);
        }
        if self.ballots.proposals().count() >= MAX_PROPOSALS {
            return Err(BallotError::Full.into());
        }
        let proposer = proposal.signer_domain();
        let open = self
            .ballots
            .proposals()
            .filter(|p| p.signer_domain() == proposer)
            .count();
        if open >= MAX_PROPOSALS_PER_MEMBER {
            return Err(GovernanceError::TooManyProposals(proposer));
        }
        // Check first, persist, then hold it in memory.
        self.fed
            .check_proposal(&proposal, now)
            .map_err(BallotError::from)?;
        self.store.write(
            Table::Governance,
            &[(
                proposal_key(&proposal.value),
                Some(encoding::to_bytes(&proposal)),
            )],
        )?;
        Ok(self.ballots.add_proposal(&self.fed, proposal, now)?)
    }

    /// Signs this node's vote. The voter record is synced before the vote
    /// exists anywhere but here.
    pub(crate) fn vote(
        &mut self,
        key: &DomainKeypair,
        id: &ProposalId,
        approve: bool,
        now: Timestamp,
    ) -> Result<Signed<Vote>, GovernanceError> {
        let domain = key.domain_id();
        if !self.is_member(&domain) {
            return Err(GovernanceError::NotMember(domain));
        }
        let proposal = self
            .ballots
            .proposal(id)
            .ok_or_else(|| GovernanceError::UnknownProposal(id.to_string()))?
            .value
            .clone();
        // Refused before the voter record is touched: an expired or
        // otherwise unusable vote must not use up this member's slot.
        if now > proposal.expires_at {
            return Err(GovernanceError::Expired(id.to_string()));
        }
        let mut voter = self.voter.clone();
        let vote = voter.vote(key, &proposal, approve, now)?;
        self.ballots.check_vote(&self.fed, &vote)?;
        voter.forget_before(self.fed.id(), self.version());
        self.store.write(
            Table::Governance,
            &[(KEY_VOTER.to_vec(), Some(encoding::to_bytes(&voter)))],
        )?;
        self.voter = voter;
        self.take_vote(&vote)?;
        Ok(vote)
    }

    /// Takes in a vote; persists it if new. Other members' votes are
    /// signed and gossiped, so one lost to a failed write is caught up
    /// again; only this node's own voter record must be durable first.
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
        let outcome = self.ballots.add_vote(&self.fed, vote.clone())?;
        let mut writes = Vec::new();
        if let VoteOutcome::Equivocation(e) = &outcome
            && self.evidence.len() < MAX_EVIDENCE
        {
            self.evidence.push(e.as_ref().clone());
            let id = encoding::tagged_hash("meshd/v1/evidence", e.as_ref());
            writes.push((
                key(PREFIX_EVIDENCE, &[&id.0]),
                Some(encoding::to_bytes(e.as_ref())),
            ));
        }
        if !writes.is_empty() {
            self.store.write(Table::Governance, &writes)?;
        }
        Ok(match outcome {
            VoteOutcome::Equivocation(e) => VoteTaken::New(Some(e)),
            _ => VoteTaken::New(None),
        })
    }

    /// The certificate for a proposal if its votes reached quorum; applied
    /// before it is returned.
    pub(crate) fn try_certify(&mut self, id: &ProposalId) -> Option<Certificate> {
        // Counting is cheap; verifying every signature is not: only when a
        // quorum may be in.
        let tally = self.ballots.tally(&self.fed, id);
        if tally.yes < tally.needed {
            return None;
        }
        let cert = self.ballots.certificate(&self.fed, id)?;
        match self.apply(cert.clone()) {
            Ok(true) => Some(cert),
            _ => None,
        }
    }

    /// Verifies and applies a certificate for the current version. `false`
    /// for one already applied.
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
        Ok(true)
    }

    /// What a peer at `from_version` is missing: certificates (within a
    /// byte budget), then open proposals and their votes.
    pub(crate) fn catch_up(
        &self,
        from_version: u64,
        budget: usize,
    ) -> (Vec<Certificate>, Vec<Signed<Proposal>>, Vec<Signed<Vote>>) {
        let mut used = 0;
        let mut certs = Vec::new();
        let start = usize::try_from(from_version).unwrap_or(usize::MAX);
        for cert in self.fed.chain().iter().skip(start) {
            used += encoding::to_bytes(cert).len();
            if used > budget && !certs.is_empty() {
                return (certs, Vec::new(), Vec::new());
            }
            certs.push(cert.clone());
        }
        let mut proposals = Vec::new();
        let mut votes = Vec::new();
        for p in self.ballots.proposals() {
            used += encoding::to_bytes(p).len();
            if used > budget {
                break;
            }
            proposals.push(p.clone());
            for v in self.ballots.votes(&p.value.id()) {
                used += 200;
                votes.push(v.clone());
            }
        }
        (certs, proposals, votes)
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

    /// The federation as the API shows it.
    pub(crate) fn view(&self, me: DomainId) -> FederationView {
        let s = self.fed.state();
        FederationView {
            id: s.id.to_string(),
            name: s.name.clone(),
            version: s.version,
            head: s.head.to_string(),
            quorum: s.quorum.to_string(),
            members: s
                .members
                .values()
                .map(|m| MemberView {
                    name: m.name.clone(),
                    domain_id: m.domain().to_string(),
                    key: m.key.to_string(),
                })
                .collect(),
            policies: s.policies.iter().map(ToString::to_string).collect(),
            member: s.is_member(&me),
            equivocations: self
                .evidence
                .iter()
                .map(|e| EquivocationView {
                    member: e.member.to_string(),
                    slot: e.slot,
                    proposals: [
                        e.votes.0.value.proposal.to_string(),
                        e.votes.1.value.proposal.to_string(),
                    ],
                })
                .collect(),
            decisions: self
                .fed
                .chain()
                .iter()
                .zip(1..)
                .map(|(c, version)| DecisionView {
                    version,
                    proposal: c.proposal.value.id().to_string(),
                    change: c.proposal.value.change.to_string(),
                    votes: c.votes.len(),
                })
                .collect(),
        }
    }

    /// Open proposals with their tallies and this node's vote; `expired`
    /// by this node's clock `now`.
    pub(crate) fn proposals(&self, me: DomainId, now: Timestamp) -> Vec<ProposalView> {
        self.ballots
            .proposals()
            .map(|p| {
                let id = p.value.id();
                let tally = self.ballots.tally(&self.fed, &id);
                let mine = self
                    .ballots
                    .votes(&id)
                    .filter(|v| v.signer_domain() == me)
                    .map(|v| v.value.approve)
                    .last();
                ProposalView {
                    id: id.to_string(),
                    base_version: p.value.base_version,
                    change: p.value.change.to_string(),
                    reason: p.value.reason.clone(),
                    proposer: p.signer_domain().to_string(),
                    created_at_ms: p.value.created_at.0,
                    expires_at_ms: p.value.expires_at.0,
                    yes: tally.yes,
                    no: tally.no,
                    needed: tally.needed,
                    members: tally.members,
                    my_vote: mine,
                    expired: now > p.value.expires_at,
                }
            })
            .collect()
    }
}

/// One way a product breaks the federation's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Issue {
    /// The rule (`membership` or a policy such as `require-owner`).
    pub rule: String,
    /// What is wrong and what would fix it.
    pub reason: String,
}

/// A product's standing against the federation's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Compliance {
    /// `DOMAINID/name`.
    pub product: String,
    /// Whether it meets every rule.
    pub compliant: bool,
    /// Every rule it breaks.
    pub issues: Vec<Issue>,
}

/// A member as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberView {
    /// Domain name.
    pub name: String,
    /// Domain id.
    pub domain_id: String,
    /// Domain public key (hex).
    pub key: String,
}

/// Proof that a member approved two proposals for one slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EquivocationView {
    /// The member's domain id.
    pub member: String,
    /// The slot (state version) it equivocated in.
    pub slot: u64,
    /// The two proposals it approved.
    pub proposals: [String; 2],
}

/// The federation's current state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FederationView {
    /// Federation id (genesis hash).
    pub id: String,
    /// Name.
    pub name: String,
    /// Certificates applied since genesis.
    pub version: u64,
    /// Hash of the last certificate.
    pub head: String,
    /// Quorum rule, e.g. `2/3` (more than two thirds).
    pub quorum: String,
    /// Members.
    pub members: Vec<MemberView>,
    /// Policies in force.
    pub policies: Vec<String>,
    /// Whether this node's domain is a member (otherwise it observes).
    pub member: bool,
    /// Equivocation evidence seen.
    pub equivocations: Vec<EquivocationView>,
    /// Every decision since genesis, oldest first.
    pub decisions: Vec<DecisionView>,
}

/// One ratified change: the certificate that took the federation to
/// `version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionView {
    /// The version it made.
    pub version: u64,
    /// The proposal's id.
    pub proposal: String,
    /// What changed.
    pub change: String,
    /// Yes votes in the certificate.
    pub votes: usize,
}

/// An open proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProposalView {
    /// Proposal id.
    pub id: String,
    /// The state version it builds on (its slot).
    pub base_version: u64,
    /// The change, e.g. `add policy require-owner`.
    pub change: String,
    /// Why.
    pub reason: String,
    /// Proposer's domain id.
    pub proposer: String,
    /// Created (ms since the epoch).
    pub created_at_ms: u64,
    /// Votes after this instant do not count (ms since the epoch).
    pub expires_at_ms: u64,
    /// Member yes votes.
    pub yes: usize,
    /// Member no votes.
    pub no: usize,
    /// Yes votes needed.
    pub needed: usize,
    /// Members voting.
    pub members: usize,
    /// This node's vote, if any.
    pub my_vote: Option<bool>,
    /// Whether its voting time is over (by this node's clock); it stays
    /// listed until its slot is decided.
    pub expired: bool,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use mesh_protocol::governance::{ProposalError, Quorum, VoteError};
    use mesh_protocol::policy::PolicyRule;

    use super::*;
    use crate::store::{MemoryStore, RocksStore};

    fn keys() -> Vec<DomainKeypair> {
        (1..=3u8)
            .map(|i| DomainKeypair::from_secret([i; 32]))
            .collect()
    }

    fn genesis(keys: &[DomainKeypair]) -> Genesis {
        let members = keys
            .iter()
            .enumerate()
            .map(|(i, k)| mesh_protocol::governance::Member {
                name: format!("d{i}"),
                key: k.public(),
            })
            .collect();
        Genesis::new(
            "test",
            members,
            Quorum::TWO_THIRDS,
            BTreeSet::new(),
            Timestamp(1),
        )
        .unwrap()
    }

    const T: Timestamp = Timestamp(1_000);
    const LATER: Timestamp = Timestamp(100_000);

    /// Proposes `change` from key 0 and has every key in `yes` approve it.
    fn ratify(gov: &mut Governance, keys: &[DomainKeypair], change: Change, yes: &[usize]) {
        let p = gov
            .propose(&keys[0], change, "why".into(), LATER, T)
            .unwrap();
        let id = p.value.id();
        for &i in yes {
            gov.vote(&keys[i], &id, true, T).unwrap();
        }
        assert!(gov.try_certify(&id).is_some(), "no quorum");
    }

    #[test]
    fn non_members_forgers_and_late_voters_do_not_count() {
        let keys = keys();
        let outsider = DomainKeypair::from_secret([9; 32]);
        let mut gov = Governance::open(genesis(&keys), Arc::new(MemoryStore::default())).unwrap();
        // An outsider can neither propose nor vote.
        assert!(matches!(
            gov.propose(
                &outsider,
                Change::AddPolicy(PolicyRule::RequireOwner),
                String::new(),
                LATER,
                T
            ),
            Err(GovernanceError::NotMember(_))
        ));
        let p = gov
            .propose(
                &keys[0],
                Change::AddPolicy(PolicyRule::RequireOwner),
                String::new(),
                LATER,
                T,
            )
            .unwrap();
        let id = p.value.id();
        let vote = |key: &DomainKeypair, cast_at: Timestamp| {
            Signed::sign(
                Vote {
                    federation: gov.id(),
                    proposal: id,
                    base_version: 0,
                    approve: true,
                    cast_at,
                },
                key,
            )
        };
        let outsider_vote = vote(&outsider, T);
        let mut forged = vote(&keys[1], T);
        forged.signature[0] ^= 1;
        let late = vote(&keys[2], Timestamp(LATER.0 + 1));
        assert!(matches!(
            gov.take_vote(&outsider_vote),
            Err(GovernanceError::Ballot(BallotError::Vote(
                VoteError::NotMember(_)
            )))
        ));
        assert!(matches!(
            gov.take_vote(&forged),
            Err(GovernanceError::Ballot(BallotError::Vote(
                VoteError::Signature(_)
            )))
        ));
        assert!(matches!(
            gov.take_vote(&late),
            Err(GovernanceError::Ballot(BallotError::Vote(
                VoteError::AfterExpiry { .. }
            )))
        ));
        assert_eq!(gov.proposals(keys[0].domain_id(), T)[0].yes, 0);
        // An expired proposal is not taken in at all.
        let stale = Signed::sign(
            Proposal {
                federation: gov.id(),
                base_version: 0,
                change: Change::AddPolicy(PolicyRule::PiiNeverPublic),
                reason: String::new(),
                created_at: T,
                expires_at: T,
            },
            &keys[1],
        );
        assert!(matches!(
            gov.take_proposal(stale, LATER),
            Err(GovernanceError::Ballot(BallotError::Proposal(
                ProposalError::Expired(_)
            )))
        ));
    }

    #[test]
    fn equivocation_is_kept_as_evidence_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys();
        let open = || {
            let store = Arc::new(RocksStore::open(dir.path()).unwrap());
            Governance::open(genesis(&keys), store).unwrap()
        };
        let mut gov = open();
        let mut ids = Vec::new();
        for rule in [PolicyRule::RequireOwner, PolicyRule::PiiNeverPublic] {
            let p = gov
                .propose(&keys[0], Change::AddPolicy(rule), String::new(), LATER, T)
                .unwrap();
            ids.push(p.value.id());
        }
        // Key 1 signs yes on both, bypassing its honest-voter record.
        let yes = |id: ProposalId| {
            Signed::sign(
                Vote {
                    federation: gov.id(),
                    proposal: id,
                    base_version: 0,
                    approve: true,
                    cast_at: T,
                },
                &keys[1],
            )
        };
        let (first, second) = (yes(ids[0]), yes(ids[1]));
        assert!(matches!(gov.take_vote(&first), Ok(VoteTaken::New(None))));
        assert!(matches!(
            gov.take_vote(&second),
            Ok(VoteTaken::New(Some(_)))
        ));
        let shown = gov.view(keys[0].domain_id()).equivocations;
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].member, keys[1].domain_id().to_string());
        drop(gov);
        // Decide the slot, restart: the evidence is still shown.
        let mut gov = open();
        gov.vote(&keys[0], &ids[0], true, T).unwrap();
        gov.vote(&keys[2], &ids[0], true, T).unwrap();
        assert!(gov.try_certify(&ids[0]).is_some());
        drop(gov);
        assert_eq!(open().view(keys[0].domain_id()).equivocations, shown);
    }

    #[test]
    fn an_expired_proposal_does_not_use_up_the_slot_and_members_cannot_flood() {
        let keys = keys();
        let mut gov = Governance::open(genesis(&keys), Arc::new(MemoryStore::default())).unwrap();
        let short = gov
            .propose(
                &keys[0],
                Change::AddPolicy(PolicyRule::RequireOwner),
                String::new(),
                T,
                T,
            )
            .unwrap();
        assert!(matches!(
            gov.vote(&keys[1], &short.value.id(), true, LATER),
            Err(GovernanceError::Expired(_))
        ));
        assert!(gov.proposals(keys[1].domain_id(), LATER)[0].expired);
        let other = gov
            .propose(
                &keys[0],
                Change::AddPolicy(PolicyRule::PiiNeverPublic),
                String::new(),
                LATER,
                T,
            )
            .unwrap();
        gov.vote(&keys[1], &other.value.id(), true, T).unwrap();
        // One member holds at most a handful of open proposals.
        let mut refused = None;
        for days in 1..=20u32 {
            let change = Change::AddPolicy(PolicyRule::MaxRetentionDays(days));
            if let Err(e) = gov.propose(&keys[2], change, String::new(), LATER, T) {
                refused = Some((days, e));
                break;
            }
        }
        assert!(matches!(
            refused,
            Some((9, GovernanceError::TooManyProposals(_)))
        ));
    }

    #[test]
    fn heads_agree_whichever_quorum_a_node_assembled() {
        let keys: Vec<DomainKeypair> = (1..=4u8)
            .map(|i| DomainKeypair::from_secret([i; 32]))
            .collect();
        let g = genesis(&keys);
        let mut x = Governance::open(g.clone(), Arc::new(MemoryStore::default())).unwrap();
        let mut y = Governance::open(g, Arc::new(MemoryStore::default())).unwrap();
        let p = x
            .propose(
                &keys[0],
                Change::AddPolicy(PolicyRule::RequireOwner),
                String::new(),
                LATER,
                T,
            )
            .unwrap();
        y.take_proposal(p.clone(), T).unwrap();
        let id = p.value.id();
        // Three of four is the quorum; each node sees a different three.
        let votes: Vec<Signed<Vote>> = keys
            .iter()
            .map(|k| {
                Signed::sign(
                    Vote {
                        federation: x.id(),
                        proposal: id,
                        base_version: 0,
                        approve: true,
                        cast_at: T,
                    },
                    k,
                )
            })
            .collect();
        for v in &votes[..3] {
            x.take_vote(v).unwrap();
        }
        for v in [&votes[0], &votes[1], &votes[3]] {
            y.take_vote(v).unwrap();
        }
        let (cx, cy) = (x.try_certify(&id).unwrap(), y.try_certify(&id).unwrap());
        assert_ne!(cx.hash(), cy.hash(), "different quorums");
        assert_eq!(
            x.view(keys[0].domain_id()).head,
            y.view(keys[0].domain_id()).head
        );
        // Each takes the other's certificate as the same decision.
        assert!(!x.apply(cy).unwrap());
        assert!(!y.apply(cx).unwrap());
    }

    #[test]
    fn a_removed_members_vote_no_longer_counts() {
        let keys = keys();
        let mut gov = Governance::open(genesis(&keys), Arc::new(MemoryStore::default())).unwrap();
        ratify(
            &mut gov,
            &keys,
            Change::RemoveMember(keys[2].domain_id()),
            &[0, 1, 2],
        );
        assert_eq!(gov.version(), 1);
        assert!(!gov.is_member(&keys[2].domain_id()));
        let p = gov
            .propose(
                &keys[0],
                Change::AddPolicy(PolicyRule::RequireOwner),
                String::new(),
                LATER,
                T,
            )
            .unwrap();
        let id = p.value.id();
        assert!(matches!(
            gov.vote(&keys[2], &id, true, T),
            Err(GovernanceError::NotMember(_))
        ));
        gov.vote(&keys[0], &id, true, T).unwrap();
        // 1 of 2 members: no quorum yet, whatever the removed member says.
        assert!(gov.try_certify(&id).is_none());
        gov.vote(&keys[1], &id, true, T).unwrap();
        assert!(gov.try_certify(&id).is_some());
        assert_eq!(gov.view(keys[0].domain_id()).policies, ["require-owner"]);
    }

    #[test]
    fn state_and_the_voter_record_survive_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys();
        let pending = {
            let store = Arc::new(RocksStore::open(dir.path()).unwrap());
            let mut gov = Governance::open(genesis(&keys), store).unwrap();
            ratify(
                &mut gov,
                &keys,
                Change::AddPolicy(PolicyRule::RequireOwner),
                &[0, 1, 2],
            );
            let p = gov
                .propose(
                    &keys[1],
                    Change::AddPolicy(PolicyRule::PiiNeverPublic),
                    String::new(),
                    LATER,
                    T,
                )
                .unwrap();
            gov.vote(&keys[0], &p.value.id(), true, T).unwrap();
            // Dropped without any shutdown: only synced writes remain.
            p.value.id()
        };
        let store = Arc::new(RocksStore::open(dir.path()).unwrap());
        let mut gov = Governance::open(genesis(&keys), store).unwrap();
        assert_eq!(gov.version(), 1);
        let open = gov.proposals(keys[0].domain_id(), T);
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].id.clone(), open[0].yes, open[0].my_vote),
            (pending.to_string(), 1, Some(true))
        );
        // The voter record survived: key 0 will not approve a rival in the slot.
        let rival = gov
            .propose(
                &keys[2],
                Change::AddPolicy(PolicyRule::RequireQualityPromises),
                String::new(),
                LATER,
                T,
            )
            .unwrap();
        assert!(matches!(
            gov.vote(&keys[0], &rival.value.id(), true, T),
            Err(GovernanceError::Refused(_))
        ));
        // A store of another federation is refused.
        let other = Genesis::new(
            "other",
            vec![mesh_protocol::governance::Member {
                name: "x".into(),
                key: keys[0].public(),
            }],
            Quorum::TWO_THIRDS,
            BTreeSet::new(),
            Timestamp(2),
        )
        .unwrap();
        drop(gov);
        let store = Arc::new(RocksStore::open(dir.path()).unwrap());
        assert!(matches!(
            Governance::open(other, store),
            Err(GovernanceError::OtherFederation { .. })
        ));
    }
}
