//! The federation state machine: genesis plus a chain of certificates.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::certificate::{Certificate, CertificateError};
use super::genesis::{FederationId, Genesis, GenesisError, Member, Quorum, check_members};
use super::proposal::{Change, Proposal, ProposalError};
use crate::Hash;
use crate::descriptor::MAX_TEXT_LEN;
use crate::identity::DomainId;
use crate::policy::PolicyRule;
use crate::signed::Signed;
use crate::time::Timestamp;

/// The federation's state at one version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationState {
    /// Federation id (genesis hash).
    pub id: FederationId,
    /// Federation name.
    pub name: String,
    /// Number of certificates applied since genesis.
    pub version: u64,
    /// Current members by domain id.
    pub members: BTreeMap<DomainId, Member>,
    /// Current quorum rule.
    pub quorum: Quorum,
    /// Policies in force.
    pub policies: BTreeSet<PolicyRule>,
    /// Hash of the last certificate applied (the genesis id's hash at version 0).
    pub head: Hash,
}

impl FederationState {
    /// Whether `domain` is a member.
    pub fn is_member(&self, domain: &DomainId) -> bool {
        self.members.contains_key(domain)
    }

    /// The state after `change`, or why it cannot apply.
    pub fn after(&self, change: &Change) -> Result<FederationState, String> {
        let mut next = self.clone();
        match change {
            Change::AddPolicy(rule) => {
                rule.validate().map_err(|e| e.to_string())?;
                if !next.policies.insert(rule.clone()) {
                    return Err(format!("policy {rule} is already in force"));
                }
            }
            Change::RemovePolicy(rule) => {
                if !next.policies.remove(rule) {
                    return Err(format!("policy {rule} is not in force"));
                }
            }
            Change::AddMember(member) => {
                if next.members.contains_key(&member.domain()) {
                    return Err(format!("domain {} is already a member", member.domain()));
                }
                next.members.insert(member.domain(), member.clone());
                check_members(next.members.values()).map_err(|e| e.to_string())?;
            }
            Change::RemoveMember(domain) => {
                if next.members.remove(domain).is_none() {
                    return Err(format!("domain {domain} is not a member"));
                }
                if next.members.is_empty() {
                    return Err("cannot remove the last member".to_owned());
                }
            }
            Change::SetQuorum(q) => {
                q.validate().map_err(|e| e.to_string())?;
                next.quorum = *q;
            }
        }
        Ok(next)
    }

    /// The member with this human name.
    pub fn member_by_name(&self, name: &str) -> Option<&Member> {
        self.members.values().find(|m| m.name == name)
    }
}

/// A federation: genesis, the certificates applied in order, and the state
/// they lead to.
#[derive(Clone, Debug)]
pub struct Federation {
    genesis: Genesis,
    chain: Vec<Certificate>,
    state: FederationState,
}

/// Why a chain of certificates does not replay from genesis.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The genesis is invalid.
    #[error("genesis: {0}")]
    Genesis(#[from] GenesisError),
    /// A certificate in the chain does not verify.
    #[error("certificate {index}: {error}")]
    Certificate {
        /// Position in the chain (0-based).
        index: usize,
        /// What is wrong with it.
        error: CertificateError,
    },
}

impl Federation {
    /// A federation at version 0.
    pub fn new(genesis: Genesis) -> Result<Self, GenesisError> {
        genesis.validate()?;
        let id = genesis.id();
        let state = FederationState {
            id,
            name: genesis.name.clone(),
            version: 0,
            members: genesis
                .members
                .iter()
                .map(|m| (m.domain(), m.clone()))
                .collect(),
            quorum: genesis.quorum,
            policies: genesis.policies.clone(),
            head: id.0,
        };
        Ok(Self {
            genesis,
            chain: Vec::new(),
            state,
        })
    }

    /// Verifies a whole chain offline, from genesis.
    pub fn replay(genesis: Genesis, chain: Vec<Certificate>) -> Result<Self, ChainError> {
        let mut fed = Self::new(genesis)?;
        for (index, cert) in chain.into_iter().enumerate() {
            fed.apply(cert)
                .map_err(|error| ChainError::Certificate { index, error })?;
        }
        Ok(fed)
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The federation id.
    pub fn id(&self) -> FederationId {
        self.state.id
    }

    /// The current state.
    pub fn state(&self) -> &FederationState {
        &self.state
    }

    /// The fewest member votes of either kind that make a quorum now.
    pub fn threshold(&self) -> usize {
        self.state.quorum.threshold(self.state.members.len())
    }

    /// The certificates applied so far.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// Checks that a signed proposal may be voted on now.
    pub fn check_proposal(
        &self,
        proposal: &Signed<Proposal>,
        now: Timestamp,
    ) -> Result<(), ProposalError> {
        self.check_proposal_shape(proposal)?;
        if now > proposal.value.expires_at {
            return Err(ProposalError::Expired(proposal.value.expires_at));
        }
        Ok(())
    }

    /// Checks everything about a proposal but its expiry (which depends on
    /// when votes were cast, recorded in the votes themselves).
    pub fn check_proposal_shape(&self, proposal: &Signed<Proposal>) -> Result<(), ProposalError> {
        let p = proposal.verify()?;
        if p.federation != self.state.id {
            return Err(ProposalError::WrongFederation);
        }
        if p.base_version < self.state.version {
            return Err(ProposalError::Outdated {
                got: p.base_version,
                current: self.state.version,
            });
        }
        if p.base_version > self.state.version {
            return Err(ProposalError::Ahead {
                got: p.base_version,
                current: self.state.version,
            });
        }
        let proposer = proposal.signer_domain();
        if !self.state.is_member(&proposer) {
            return Err(ProposalError::NotMember(proposer));
        }
        if p.reason.len() > MAX_TEXT_LEN {
            return Err(ProposalError::ReasonTooLong);
        }
        self.state.after(&p.change).map_err(ProposalError::Change)?;
        Ok(())
    }

    /// Verifies a certificate against the current state without applying it.
    /// Returns the state it leads to. The cost is one signature check per
    /// vote carried: linear in the number of votes.
    pub fn verify(&self, cert: &Certificate) -> Result<FederationState, CertificateError> {
        self.check_proposal_shape(&cert.proposal)?;
        let members = self.state.members.len();
        let carried = cert.approvals.len().max(cert.precommits.len());
        if carried > members.saturating_mul(2) {
            return Err(CertificateError::TooManyVotes(carried));
        }
        let needed = self.state.quorum.threshold(members);
        let is_member = |d: &DomainId| self.state.is_member(d);
        let yes = cert.valid_approvers(is_member);
        if yes < needed {
            return Err(CertificateError::NoQuorum { yes, needed });
        }
        let precommits = cert.valid_precommitters(is_member);
        if precommits < needed {
            return Err(CertificateError::NoDecision {
                round: cert.round,
                precommits,
                needed,
            });
        }
        let mut next = self
            .state
            .after(&cert.proposal.value.change)
            .map_err(|e| CertificateError::Proposal(ProposalError::Change(e)))?;
        next.version += 1;
        next.head = cert.decision_head(&self.state.head);
        Ok(next)
    }

    /// Verifies and applies a certificate, advancing the version by one.
    pub fn apply(&mut self, cert: Certificate) -> Result<(), CertificateError> {
        let next = self.verify(&cert)?;
        self.state = next;
        self.chain.push(cert);
        Ok(())
    }
}
