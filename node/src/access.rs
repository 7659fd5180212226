//! The node's access book: every access request and owner decision it has
//! seen, kept in RocksDB so grants survive restarts, and the views the API
//! shows of them.
//!
//! The rules (who may sign what, which record is newest, when a grant runs
//! out) are mesh-protocol's [`AccessBook`]; this module only makes it
//! durable. A record is written (synced) before it enters the book, so a
//! record this node acted on or forwarded is never lost to a crash.

use std::sync::Arc;

use mesh_protocol::access::{
    AccessBook, AccessDecision, AccessEntry, AccessError, AccessRequest, AccessState,
};
use mesh_protocol::{DomainId, ProductId, Signed, Timestamp, encoding};
use tracing::warn;

use crate::store::{Store, StoreError, Table};

const PREFIX_REQUEST: &[u8] = b"req/";
const PREFIX_DECISION: &[u8] = b"dec/";

/// Why an access record was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AccessBookError {
    /// The record is invalid.
    #[error(transparent)]
    Record(#[from] AccessError),
    /// It could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an access command was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessCommandError {
    /// The product is readable without a grant.
    #[error("{product} is {mode}; no grant is needed to read it")]
    NoGrantNeeded {
        /// The product.
        product: String,
        /// How it is readable.
        mode: &'static str,
    },
    /// The product belongs to this node's domain.
    #[error("{0} belongs to this domain; a domain always reads its own products")]
    OwnProduct(String),
    /// No domain by that name or id is known.
    #[error(
        "unknown domain {0:?}; give a domain id, or the name of a domain that asked for access, is a federation member or publishes products"
    )]
    UnknownDomain(String),
    /// Two domains answer to the name.
    #[error("domain name {name:?} is used by several domains ({ids}); give the domain id")]
    AmbiguousDomain {
        /// The name.
        name: String,
        /// The ids.
        ids: String,
    },
    /// A revocation with no grant to revoke.
    #[error("{domain} holds no grant for {product} to revoke")]
    NotGranted {
        /// The product.
        product: String,
        /// The domain.
        domain: String,
    },
    /// The grant's expiry is not in the future.
    #[error("the grant would expire at {0}, which is not in the future")]
    ExpiryPast(Timestamp),
    /// The record was refused.
    #[error(transparent)]
    Book(#[from] AccessBookError),
}

/// Which side of a record this node's domain is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Someone asks about one of this domain's products.
    Incoming,
    /// This domain asks about someone else's product.
    Outgoing,
    /// Between two other domains (this node may re-serve the product).
    Other,
}

/// One `(product, domain)` pair as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AccessView {
    /// Product id, `DOMAINID/name`.
    pub product: String,
    /// Product name.
    pub product_name: String,
    /// Owning domain id.
    pub owner: String,
    /// Owning domain's name, from its descriptor, if known.
    pub owner_name: Option<String>,
    /// The asking or granted domain's id.
    pub domain: String,
    /// Its name as it calls itself in its request, if it asked.
    pub domain_name: Option<String>,
    /// Which side this node is on.
    pub direction: Direction,
    /// requested, granted, expired, denied or revoked.
    pub state: String,
    /// Whether the domain may read now.
    pub can_read: bool,
    /// Why the domain asked.
    pub reason: Option<String>,
    /// Why the owner said no.
    pub denial_reason: Option<String>,
    /// When it last asked (ms since the epoch).
    pub requested_at_ms: Option<u64>,
    /// When the owner last decided (ms since the epoch).
    pub decided_at_ms: Option<u64>,
    /// When the grant ends (ms since the epoch).
    pub expires_at_ms: Option<u64>,
}

fn key(prefix: &[u8], product: &ProductId, domain: &DomainId) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&encoding::to_bytes(&(product, domain)));
    key
}

/// The persisted access book.
pub struct Access {
    book: AccessBook,
    store: Arc<dyn Store>,
}

impl Access {
    /// Loads the book from the store. Records that no longer verify (they
    /// were verified before being written, so only a damaged store has
    /// them) are logged and skipped.
    pub fn open(store: Arc<dyn Store>, now: Timestamp) -> Result<Self, StoreError> {
        let mut book = AccessBook::new();
        for (_, bytes) in store.scan(Table::Access, PREFIX_REQUEST)? {
            let taken = encoding::from_canonical_bytes::<Signed<AccessRequest>>(&bytes, 1 << 16)
                .map_err(|e| e.to_string())
                .and_then(|r| book.insert_request(r, now).map_err(|e| e.to_string()));
            if let Err(e) = taken {
                warn!(error = %e, "stored access request not loaded");
            }
        }
        for (_, bytes) in store.scan(Table::Access, PREFIX_DECISION)? {
            let taken = encoding::from_canonical_bytes::<Signed<AccessDecision>>(&bytes, 1 << 16)
                .map_err(|e| e.to_string())
                .and_then(|d| book.insert_decision(d, now).map_err(|e| e.to_string()));
            if let Err(e) = taken {
                warn!(error = %e, "stored access decision not loaded");
            }
        }
        Ok(Self { book, store })
    }

    /// The book.
    pub fn book(&self) -> &AccessBook {
        &self.book
    }

    /// Takes a request: `Ok(true)` when it was news and is now durable.
    pub fn take_request(
        &mut self,
        request: Signed<AccessRequest>,
        now: Timestamp,
    ) -> Result<bool, AccessBookError> {
        if !self.book.preview_request(&request, now)? {
            return Ok(false);
        }
        let k = key(
            PREFIX_REQUEST,
            &request.value.product,
            &request.value.requester,
        );
        self.store
            .write(Table::Access, &[(k, Some(encoding::to_bytes(&request)))])?;
        Ok(self.book.insert_request(request, now)?)
    }

    /// Takes a decision: `Ok(true)` when it was news and is now durable.
    pub fn take_decision(
        &mut self,
        decision: Signed<AccessDecision>,
        now: Timestamp,
    ) -> Result<bool, AccessBookError> {
        if !self.book.preview_decision(&decision, now)? {
            return Ok(false);
        }
        let k = key(
            PREFIX_DECISION,
            &decision.value.product,
            &decision.value.grantee,
        );
        self.store
            .write(Table::Access, &[(k, Some(encoding::to_bytes(&decision)))])?;
        Ok(self.book.insert_decision(decision, now)?)
    }

    /// A time for a new record about `(product, domain)` that sorts after
    /// every record already held for the pair, even if the clock stepped
    /// back or two commands came within one millisecond.
    pub fn next_time(&self, product: &ProductId, domain: &DomainId, now: Timestamp) -> Timestamp {
        let latest = self.book.get(product, domain).map_or(Timestamp(0), |e| {
            let r = e.request.as_ref().map_or(Timestamp(0), |r| r.value.at);
            let d = e.decision.as_ref().map_or(Timestamp(0), |d| d.value.at);
            r.max(d)
        });
        now.max(latest.plus_millis(1))
    }

    /// The view of one pair from `me`'s side; `owner_name` is looked up by
    /// the caller (it lives in the catalog).
    pub fn view(
        me: DomainId,
        product: &ProductId,
        domain: &DomainId,
        entry: &AccessEntry,
        owner_name: Option<String>,
        now: Timestamp,
    ) -> Option<AccessView> {
        let state = entry.state(now)?;
        let direction = if product.domain == me {
            Direction::Incoming
        } else if *domain == me {
            Direction::Outgoing
        } else {
            Direction::Other
        };
        let request = entry.request.as_ref().map(|r| &r.value);
        let decision = entry.decision.as_ref().map(|d| &d.value);
        let expires = match decision.map(|d| &d.verdict) {
            Some(mesh_protocol::access::Verdict::Granted { expires }) => *expires,
            _ => None,
        };
        Some(AccessView {
            product: product.to_string(),
            product_name: product.name.clone(),
            owner: product.domain.to_string(),
            owner_name,
            domain: domain.to_string(),
            domain_name: request.map(|r| r.requester_name.clone()),
            direction,
            can_read: entry.allows(now),
            reason: request.map(|r| r.reason.clone()),
            denial_reason: match &state {
                AccessState::Denied { reason } => Some(reason.clone()),
                _ => None,
            },
            state: state.name().to_owned(),
            requested_at_ms: request.map(|r| r.at.0),
            decided_at_ms: decision.map(|d| d.at.0),
            expires_at_ms: expires.map(|e| e.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RocksStore;
    use mesh_protocol::access::Verdict;
    use mesh_protocol::identity::DomainKeypair;

    fn key_of(seed: u8) -> DomainKeypair {
        DomainKeypair::from_secret([seed; 32])
    }

    #[test]
    fn grants_survive_reopening_and_bad_records_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (owner, reader) = (key_of(1), key_of(2));
        let product = ProductId {
            domain: owner.domain_id(),
            name: "orders".into(),
        };
        let now = Timestamp(1_000_000);
        {
            let store: Arc<dyn Store> = Arc::new(RocksStore::open(dir.path()).unwrap());
            let mut access = Access::open(store, now).unwrap();
            let request = Signed::sign(
                AccessRequest {
                    product: product.clone(),
                    requester: reader.domain_id(),
                    requester_name: "finance".into(),
                    reason: "reporting".into(),
                    at: Timestamp(10),
                },
                &reader,
            );
            assert!(access.take_request(request, now).unwrap());
            let at = access.next_time(&product, &reader.domain_id(), Timestamp(5));
            assert_eq!(at, Timestamp(11));
            let grant = Signed::sign(
                AccessDecision {
                    product: product.clone(),
                    grantee: reader.domain_id(),
                    verdict: Verdict::Granted { expires: None },
                    at,
                },
                &owner,
            );
            assert!(access.take_decision(grant.clone(), now).unwrap());
            assert!(!access.take_decision(grant, now).unwrap());
            // A grant signed by the reader itself is refused and not stored.
            let forged = Signed::sign(
                AccessDecision {
                    product: product.clone(),
                    grantee: reader.domain_id(),
                    verdict: Verdict::Granted { expires: None },
                    at: Timestamp(50),
                },
                &reader,
            );
            assert!(access.take_decision(forged, now).is_err());
        }
        let store: Arc<dyn Store> = Arc::new(RocksStore::open(dir.path()).unwrap());
        let access = Access::open(store, now).unwrap();
        assert!(access.book().allows(&product, &reader.domain_id(), now));
        let entry = access.book().get(&product, &reader.domain_id()).unwrap();
        assert_eq!(entry.decision.as_ref().unwrap().value.at, Timestamp(11));
        let view = Access::view(
            owner.domain_id(),
            &product,
            &reader.domain_id(),
            entry,
            Some("sales".into()),
            now,
        )
        .unwrap();
        assert_eq!(view.direction, Direction::Incoming);
        assert_eq!(view.state, "granted");
        assert_eq!(view.reason.as_deref(), Some("reporting"));
        assert!(view.can_read);
    }
}
