//! The genesis document: who founded the federation and how it decides.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Hash;
use crate::descriptor::{NameError, check_name};
use crate::encoding;
use crate::identity::{DomainId, DomainPublicKey};
use crate::policy::{PolicyRule, RuleError};
use crate::time::Timestamp;

/// Most members a federation may have.
pub const MAX_MEMBERS: usize = 4096;

/// A member domain: its human name bound to its key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Member {
    /// Human name, unique in the federation (e.g. `sales`).
    pub name: String,
    /// The domain's public key.
    pub key: DomainPublicKey,
}

impl Member {
    /// The member's domain id.
    pub fn domain(&self) -> DomainId {
        self.key.domain_id()
    }
}

/// A quorum rule: a proposal passes when `yes * denominator > members *
/// numerator`, i.e. strictly more than `numerator/denominator` of members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Quorum {
    /// Numerator of the fraction.
    pub numerator: u32,
    /// Denominator of the fraction.
    pub denominator: u32,
}

impl Quorum {
    /// More than two thirds: the default, safe with fewer than a third faulty.
    pub const TWO_THIRDS: Quorum = Quorum {
        numerator: 2,
        denominator: 3,
    };

    /// The fewest yes votes that pass among `members` members.
    pub fn threshold(self, members: usize) -> usize {
        let members = members as u128;
        let (n, d) = (u128::from(self.numerator), u128::from(self.denominator));
        // Smallest y with y*d > members*n.
        usize::try_from(members * n / d + 1).unwrap_or(usize::MAX)
    }

    /// Whether `yes` votes among `members` members pass.
    pub fn reached(self, yes: usize, members: usize) -> bool {
        yes >= self.threshold(members)
    }

    /// Checks that the rule is a fraction in `[1/2, 1)`: below one half, two
    /// disjoint halves of a partition could each decide.
    pub fn validate(self) -> Result<(), GenesisError> {
        let ok = self.denominator > 0
            && self.numerator < self.denominator
            && u64::from(self.numerator) * 2 >= u64::from(self.denominator);
        if ok {
            Ok(())
        } else {
            Err(GenesisError::Quorum(self))
        }
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ">{}/{}", self.numerator, self.denominator)
    }
}

impl std::str::FromStr for Quorum {
    type Err = GenesisError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || GenesisError::QuorumText(s.to_owned());
        let (n, d) = s
            .trim()
            .trim_start_matches('>')
            .split_once('/')
            .ok_or_else(bad)?;
        let q = Quorum {
            numerator: n.trim().parse().map_err(|_| bad())?,
            denominator: d.trim().parse().map_err(|_| bad())?,
        };
        q.validate()?;
        Ok(q)
    }
}

/// The identity of a federation: the hash of its genesis.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FederationId(pub Hash);

impl fmt::Display for FederationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for FederationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FederationId({})", &self.0.to_string()[..16])
    }
}

/// The founding document of a federation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Federation name.
    pub name: String,
    /// Founding members, sorted by domain id.
    pub members: Vec<Member>,
    /// Quorum rule.
    pub quorum: Quorum,
    /// Policies in force from the start.
    pub policies: BTreeSet<PolicyRule>,
    /// When it was written.
    pub created_at: Timestamp,
}

/// Why a genesis (or a membership or quorum change) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// No founding members.
    #[error("a federation needs at least one member")]
    NoMembers,
    /// Too many members.
    #[error("{0} members; at most {MAX_MEMBERS} allowed")]
    TooManyMembers(usize),
    /// Two members share a key.
    #[error("domain {0} is listed twice")]
    DuplicateKey(DomainId),
    /// Two members share a name.
    #[error("member name {0:?} is listed twice")]
    DuplicateName(String),
    /// A key is not a usable ed25519 key.
    #[error("member {0:?} has an invalid public key")]
    WeakKey(String),
    /// A name is invalid.
    #[error("member name: {0}")]
    Name(NameError),
    /// Members are not sorted by domain id.
    #[error("members must be sorted by domain id")]
    Unsorted,
    /// The quorum rule is unsafe or malformed.
    #[error("quorum {0} must be a fraction from 1/2 up to (not including) 1")]
    Quorum(Quorum),
    /// Quorum text could not be parsed.
    #[error("quorum {0:?} must look like 2/3")]
    QuorumText(String),
    /// A founding policy is unusable.
    #[error("policy: {0}")]
    Policy(RuleError),
}

impl Genesis {
    /// A genesis with members sorted into canonical order.
    pub fn new(
        name: impl Into<String>,
        mut members: Vec<Member>,
        quorum: Quorum,
        policies: BTreeSet<PolicyRule>,
        created_at: Timestamp,
    ) -> Result<Self, GenesisError> {
        members.sort_by_key(Member::domain);
        let genesis = Self {
            name: name.into(),
            members,
            quorum,
            policies,
            created_at,
        };
        genesis.validate()?;
        Ok(genesis)
    }

    /// The federation id.
    pub fn id(&self) -> FederationId {
        FederationId(encoding::tagged_hash("meshd/v1/genesis", self))
    }

    /// Checks members, names, keys, order, quorum and policies.
    pub fn validate(&self) -> Result<(), GenesisError> {
        check_name(&self.name).map_err(GenesisError::Name)?;
        check_members(&self.members)?;
        if !self
            .members
            .windows(2)
            .all(|w| w[0].domain() < w[1].domain())
        {
            return Err(GenesisError::Unsorted);
        }
        self.quorum.validate()?;
        for rule in &self.policies {
            rule.validate().map_err(GenesisError::Policy)?;
        }
        Ok(())
    }
}

/// Checks a member list: count, names, keys and uniqueness.
pub(crate) fn check_members<'a>(
    members: impl IntoIterator<Item = &'a Member>,
) -> Result<(), GenesisError> {
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut count = 0;
    for m in members {
        count += 1;
        check_name(&m.name).map_err(GenesisError::Name)?;
        if !m.key.is_valid() {
            return Err(GenesisError::WeakKey(m.name.clone()));
        }
        if !names.insert(m.name.clone()) {
            return Err(GenesisError::DuplicateName(m.name.clone()));
        }
        if !keys.insert(m.domain()) {
            return Err(GenesisError::DuplicateKey(m.domain()));
        }
    }
    if count == 0 {
        return Err(GenesisError::NoMembers);
    }
    if count > MAX_MEMBERS {
        return Err(GenesisError::TooManyMembers(count));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_math() {
        let q = Quorum::TWO_THIRDS;
        assert_eq!(q.threshold(3), 3);
        assert_eq!(q.threshold(4), 3);
        assert_eq!(q.threshold(5), 4);
        assert_eq!(q.threshold(6), 5);
        assert_eq!(q.threshold(30), 21);
        assert!(q.reached(21, 30));
        assert!(!q.reached(20, 30));
        let half = Quorum {
            numerator: 1,
            denominator: 2,
        };
        assert_eq!(half.threshold(4), 3);
        assert_eq!(half.threshold(5), 3);
        assert!(
            Quorum {
                numerator: 1,
                denominator: 3
            }
            .validate()
            .is_err()
        );
        assert!(
            Quorum {
                numerator: 3,
                denominator: 3
            }
            .validate()
            .is_err()
        );
        assert!(
            Quorum {
                numerator: 1,
                denominator: 0
            }
            .validate()
            .is_err()
        );
        assert_eq!("2/3".parse::<Quorum>(), Ok(Quorum::TWO_THIRDS));
        assert!("2:3".parse::<Quorum>().is_err());
    }
}
