//! Access to owner-granted products: who asked, what the owner decided, and
//! whether a domain may read right now.
//!
//! A product whose access mode is
//! [`OwnerGranted`](crate::descriptor::AccessMode::OwnerGranted) is read only
//! by domains the owner has granted. The life cycle is two kinds of signed
//! record per `(product, domain)` pair:
//!
//! - an [`AccessRequest`], signed by the asking domain, with its reason;
//! - an [`AccessDecision`], signed by the owning domain: granted (with an
//!   optional expiry), denied (with a reason) or revoked.
//!
//! Both travel by gossip and catch-up, so the owner, the requester and every
//! node that re-serves the product hold the same records. The newest record
//! of each kind wins (by its `at` time, ties broken by hash), so the
//! [`AccessBook`] converges whatever order records arrive in. Whether a
//! domain may read is decided by the newest decision alone: a later request
//! never takes away a grant that is still in force.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::descriptor::{NameError, ProductId, check_name};
use crate::identity::DomainId;
use crate::signed::{Signable, SignatureError, Signed};
use crate::{Hash, Timestamp};

/// Longest reason a request or a denial may carry, in bytes.
pub const MAX_REASON_BYTES: usize = 512;
/// How far in the future a record's time may be (clock skew allowance).
pub const MAX_SKEW_MS: u64 = 5 * 60 * 1000;
/// Most records one asking domain may have in a book: a domain key is free
/// to make, so one must not fill a node's memory with requests.
pub const MAX_PER_REQUESTER: usize = 1024;
/// Most `(product, domain)` pairs in a book.
pub const MAX_ENTRIES: usize = 200_000;

/// A domain asks an owner to read a product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    /// The product.
    pub product: ProductId,
    /// The asking domain (must be the signer).
    pub requester: DomainId,
    /// The asking domain's own name, as it calls itself.
    pub requester_name: String,
    /// Why it needs the data.
    pub reason: String,
    /// When it asked.
    pub at: Timestamp,
}

impl Signable for AccessRequest {
    const TAG: &'static str = "meshd/v1/access-request";
}

/// What the owner decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The domain may read, until `expires` if set.
    Granted {
        /// When the grant ends.
        expires: Option<Timestamp>,
    },
    /// The request was turned down.
    Denied {
        /// Why.
        reason: String,
    },
    /// An earlier grant is withdrawn.
    Revoked,
}

/// The owner's decision about one domain's access to one product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessDecision {
    /// The product (its domain must be the signer).
    pub product: ProductId,
    /// The domain the decision is about.
    pub grantee: DomainId,
    /// The decision.
    pub verdict: Verdict,
    /// When it was made.
    pub at: Timestamp,
}

impl Signable for AccessDecision {
    const TAG: &'static str = "meshd/v1/access-decision";
}

/// Why an access record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// Bad signature.
    #[error("access record signature: {0}")]
    Signature(#[from] SignatureError),
    /// A request not signed by the domain it speaks for.
    #[error("request for domain {claimed} is signed by domain {signer}")]
    NotRequester {
        /// The domain named in the request.
        claimed: DomainId,
        /// The signer.
        signer: DomainId,
    },
    /// A decision not signed by the product's owner.
    #[error("decision on {product} is signed by domain {signer}, not by its owner")]
    NotOwner {
        /// The product.
        product: ProductId,
        /// The signer.
        signer: DomainId,
    },
    /// A domain asking about its own product, or granting itself.
    #[error("a domain always reads its own products")]
    OwnProduct,
    /// Reason over [`MAX_REASON_BYTES`].
    #[error("reason is {0} bytes; the most is {MAX_REASON_BYTES}")]
    ReasonTooLong(usize),
    /// Bad requester name.
    #[error("requester name: {0}")]
    Name(#[from] NameError),
    /// Time beyond the skew allowance.
    #[error("record is dated {at}, in the future")]
    FromFuture {
        /// The record's time.
        at: Timestamp,
    },
    /// A grant that has already expired when made.
    #[error("grant expires at {expires}, before it was made at {at}")]
    ExpiredGrant {
        /// Expiry.
        expires: Timestamp,
        /// When it was made.
        at: Timestamp,
    },
    /// The book or the domain's share of it is full.
    #[error("access book is full for domain {0}")]
    Full(DomainId),
}

/// Where one domain stands with one product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessState {
    /// Asked, and not yet answered (or asked again after an answer).
    Requested,
    /// May read.
    Granted {
        /// When the grant ends.
        expires: Option<Timestamp>,
    },
    /// The grant ran out.
    Expired {
        /// When.
        at: Timestamp,
    },
    /// Turned down.
    Denied {
        /// Why.
        reason: String,
    },
    /// Granted, then withdrawn.
    Revoked,
}

impl AccessState {
    /// Short lowercase name: requested, granted, expired, denied, revoked.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Granted { .. } => "granted",
            Self::Expired { .. } => "expired",
            Self::Denied { .. } => "denied",
            Self::Revoked => "revoked",
        }
    }
}

/// The newest request and decision for one `(product, domain)` pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessEntry {
    /// The newest request.
    pub request: Option<Signed<AccessRequest>>,
    /// The newest decision.
    pub decision: Option<Signed<AccessDecision>>,
}

impl AccessEntry {
    /// Whether the domain may read at `now`.
    pub fn allows(&self, now: Timestamp) -> bool {
        matches!(
            self.decision.as_ref().map(|d| &d.value.verdict),
            Some(Verdict::Granted { expires }) if expires.is_none_or(|e| now < e)
        )
    }

    /// Whether the newest request has no answer yet.
    pub fn pending(&self) -> bool {
        match (&self.request, &self.decision) {
            (Some(r), Some(d)) => r.value.at > d.value.at,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Where the pair stands at `now`; `None` for an empty entry.
    pub fn state(&self, now: Timestamp) -> Option<AccessState> {
        if self.pending() {
            return Some(AccessState::Requested);
        }
        let decision = &self.decision.as_ref()?.value;
        Some(match &decision.verdict {
            Verdict::Granted {
                expires: Some(expires),
            } if now >= *expires => AccessState::Expired { at: *expires },
            Verdict::Granted { expires } => AccessState::Granted { expires: *expires },
            Verdict::Denied { reason } => AccessState::Denied {
                reason: reason.clone(),
            },
            Verdict::Revoked => AccessState::Revoked,
        })
    }
}

/// Every access record a node knows, newest per pair, with an
/// order-independent digest so two nodes can tell cheaply whether they
/// hold the same records.
#[derive(Clone, Debug, Default)]
pub struct AccessBook {
    entries: BTreeMap<(ProductId, DomainId), AccessEntry>,
    per_requester: BTreeMap<DomainId, usize>,
    digest: [u8; 32],
}

/// Checks that a record is not dated beyond the skew allowance.
fn not_from_future(at: Timestamp, now: Timestamp) -> Result<(), AccessError> {
    if at > now.plus_millis(MAX_SKEW_MS) {
        return Err(AccessError::FromFuture { at });
    }
    Ok(())
}

fn check_reason(reason: &str) -> Result<(), AccessError> {
    if reason.len() > MAX_REASON_BYTES {
        return Err(AccessError::ReasonTooLong(reason.len()));
    }
    Ok(())
}

/// Checks a request on its own: signature, signer, fields, time.
pub fn check_request(request: &Signed<AccessRequest>, now: Timestamp) -> Result<(), AccessError> {
    let value = request.verify()?;
    let signer = request.signer_domain();
    if signer != value.requester {
        return Err(AccessError::NotRequester {
            claimed: value.requester,
            signer,
        });
    }
    if value.product.domain == value.requester {
        return Err(AccessError::OwnProduct);
    }
    check_reason(&value.reason)?;
    check_name(&value.requester_name)?;
    not_from_future(value.at, now)
}

/// Checks a decision on its own: signature, owner, fields, time.
pub fn check_decision(
    decision: &Signed<AccessDecision>,
    now: Timestamp,
) -> Result<(), AccessError> {
    let value = decision.verify()?;
    let signer = decision.signer_domain();
    if signer != value.product.domain {
        return Err(AccessError::NotOwner {
            product: value.product.clone(),
            signer,
        });
    }
    if value.grantee == value.product.domain {
        return Err(AccessError::OwnProduct);
    }
    match &value.verdict {
        Verdict::Denied { reason } => check_reason(reason)?,
        Verdict::Granted {
            expires: Some(expires),
        } if *expires <= value.at => {
            return Err(AccessError::ExpiredGrant {
                expires: *expires,
                at: value.at,
            });
        }
        Verdict::Granted { .. } | Verdict::Revoked => {}
    }
    not_from_future(value.at, now)
}

/// Whether `new` (dated `new_at`) replaces `old` (dated `old_at`): newer
/// wins, equal times are broken by the smaller hash so every node agrees.
fn newer<T: Signable>(
    new: &Signed<T>,
    new_at: Timestamp,
    old: &Signed<T>,
    old_at: Timestamp,
) -> bool {
    (new_at, std::cmp::Reverse(new.hash())) > (old_at, std::cmp::Reverse(old.hash()))
}

fn xor_into(digest: &mut [u8; 32], hash: Hash) {
    for (d, h) in digest.iter_mut().zip(hash.0) {
        *d ^= h;
    }
}

impl AccessBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry of one pair.
    pub fn get(&self, product: &ProductId, domain: &DomainId) -> Option<&AccessEntry> {
        self.entries.get(&(product.clone(), *domain))
    }

    /// Whether `domain` may read `product` at `now` by a grant.
    pub fn allows(&self, product: &ProductId, domain: &DomainId, now: Timestamp) -> bool {
        self.get(product, domain).is_some_and(|e| e.allows(now))
    }

    /// Every pair, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&(ProductId, DomainId), &AccessEntry)> {
        self.entries.iter()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// XOR of the hashes of every record held: equal books have equal
    /// digests whatever order their records arrived in.
    pub fn digest(&self) -> Hash {
        Hash(self.digest)
    }

    fn room_for(&self, key: &(ProductId, DomainId)) -> Result<(), AccessError> {
        if self.entries.contains_key(key) {
            return Ok(());
        }
        let mine = self.per_requester.get(&key.1).copied().unwrap_or(0);
        if self.entries.len() >= MAX_ENTRIES || mine >= MAX_PER_REQUESTER {
            return Err(AccessError::Full(key.1));
        }
        Ok(())
    }

    /// Whether a request would change the book: `Ok(false)` for a stale or
    /// duplicate one. Checks everything; changes nothing.
    pub fn preview_request(
        &self,
        request: &Signed<AccessRequest>,
        now: Timestamp,
    ) -> Result<bool, AccessError> {
        check_request(request, now)?;
        let key = (request.value.product.clone(), request.value.requester);
        self.room_for(&key)?;
        Ok(
            match self.entries.get(&key).and_then(|e| e.request.as_ref()) {
                Some(old) => newer(request, request.value.at, old, old.value.at),
                None => true,
            },
        )
    }

    /// Whether a decision would change the book: `Ok(false)` for a stale or
    /// duplicate one. Checks everything; changes nothing.
    pub fn preview_decision(
        &self,
        decision: &Signed<AccessDecision>,
        now: Timestamp,
    ) -> Result<bool, AccessError> {
        check_decision(decision, now)?;
        let key = (decision.value.product.clone(), decision.value.grantee);
        self.room_for(&key)?;
        Ok(
            match self.entries.get(&key).and_then(|e| e.decision.as_ref()) {
                Some(old) => newer(decision, decision.value.at, old, old.value.at),
                None => true,
            },
        )
    }

    fn entry_mut(&mut self, key: (ProductId, DomainId)) -> &mut AccessEntry {
        let requester = key.1;
        self.entries.entry(key).or_insert_with(|| {
            *self.per_requester.entry(requester).or_insert(0) += 1;
            AccessEntry::default()
        })
    }

    /// Takes a request: `Ok(true)` if it is news and now in the book.
    pub fn insert_request(
        &mut self,
        request: Signed<AccessRequest>,
        now: Timestamp,
    ) -> Result<bool, AccessError> {
        if !self.preview_request(&request, now)? {
            return Ok(false);
        }
        let key = (request.value.product.clone(), request.value.requester);
        let mut digest = self.digest;
        xor_into(&mut digest, request.hash());
        let entry = self.entry_mut(key);
        if let Some(old) = entry.request.replace(request) {
            xor_into(&mut digest, old.hash());
        }
        self.digest = digest;
        Ok(true)
    }

    /// Takes a decision: `Ok(true)` if it is news and now in the book.
    pub fn insert_decision(
        &mut self,
        decision: Signed<AccessDecision>,
        now: Timestamp,
    ) -> Result<bool, AccessError> {
        if !self.preview_decision(&decision, now)? {
            return Ok(false);
        }
        let key = (decision.value.product.clone(), decision.value.grantee);
        let mut digest = self.digest;
        xor_into(&mut digest, decision.hash());
        let entry = self.entry_mut(key);
        if let Some(old) = entry.decision.replace(decision) {
            xor_into(&mut digest, old.hash());
        }
        self.digest = digest;
        Ok(true)
    }

    /// Every record held, requests then decisions.
    pub fn records(&self) -> (Vec<&Signed<AccessRequest>>, Vec<&Signed<AccessDecision>>) {
        let requests = self.entries.values().filter_map(|e| e.request.as_ref());
        let decisions = self.entries.values().filter_map(|e| e.decision.as_ref());
        (requests.collect(), decisions.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::DomainKeypair;
    use crate::identity::tests::keypair;

    fn product(owner: &DomainKeypair) -> ProductId {
        ProductId {
            domain: owner.domain_id(),
            name: "orders".into(),
        }
    }

    fn request(who: &DomainKeypair, owner: &DomainKeypair, at: u64) -> Signed<AccessRequest> {
        Signed::sign(
            AccessRequest {
                product: product(owner),
                requester: who.domain_id(),
                requester_name: "finance".into(),
                reason: "quarterly report".into(),
                at: Timestamp(at),
            },
            who,
        )
    }

    fn decide(
        owner: &DomainKeypair,
        who: &DomainKeypair,
        verdict: Verdict,
        at: u64,
    ) -> Signed<AccessDecision> {
        Signed::sign(
            AccessDecision {
                product: product(owner),
                grantee: who.domain_id(),
                verdict,
                at: Timestamp(at),
            },
            owner,
        )
    }

    const NOW: Timestamp = Timestamp(1_000_000);

    #[test]
    fn life_cycle_requested_granted_revoked() {
        let (owner, reader) = (keypair(1), keypair(2));
        let p = product(&owner);
        let mut book = AccessBook::new();
        assert!(
            book.insert_request(request(&reader, &owner, 10), NOW)
                .unwrap()
        );
        let entry = book.get(&p, &reader.domain_id()).unwrap();
        assert_eq!(entry.state(NOW), Some(AccessState::Requested));
        assert!(!book.allows(&p, &reader.domain_id(), NOW));

        let grant = decide(&owner, &reader, Verdict::Granted { expires: None }, 20);
        assert!(book.insert_decision(grant, NOW).unwrap());
        assert!(book.allows(&p, &reader.domain_id(), NOW));
        let entry = book.get(&p, &reader.domain_id()).unwrap();
        assert_eq!(
            entry.state(NOW),
            Some(AccessState::Granted { expires: None })
        );

        assert!(
            book.insert_decision(decide(&owner, &reader, Verdict::Revoked, 30), NOW)
                .unwrap()
        );
        assert!(!book.allows(&p, &reader.domain_id(), NOW));
        let entry = book.get(&p, &reader.domain_id()).unwrap();
        assert_eq!(entry.state(NOW), Some(AccessState::Revoked));
        // Asking again makes it pending again.
        assert!(
            book.insert_request(request(&reader, &owner, 40), NOW)
                .unwrap()
        );
        let entry = book.get(&p, &reader.domain_id()).unwrap();
        assert_eq!(entry.state(NOW), Some(AccessState::Requested));
    }

    #[test]
    fn grant_expires() {
        let (owner, reader) = (keypair(1), keypair(2));
        let p = product(&owner);
        let mut book = AccessBook::new();
        let grant = decide(
            &owner,
            &reader,
            Verdict::Granted {
                expires: Some(Timestamp(100)),
            },
            20,
        );
        assert!(book.insert_decision(grant, NOW).unwrap());
        assert!(book.allows(&p, &reader.domain_id(), Timestamp(99)));
        assert!(!book.allows(&p, &reader.domain_id(), Timestamp(100)));
        let entry = book.get(&p, &reader.domain_id()).unwrap();
        assert_eq!(
            entry.state(Timestamp(100)),
            Some(AccessState::Expired { at: Timestamp(100) })
        );
        // A grant already over when made is refused.
        let stale = decide(
            &owner,
            &reader,
            Verdict::Granted {
                expires: Some(Timestamp(5)),
            },
            20,
        );
        assert!(matches!(
            book.insert_decision(stale, NOW),
            Err(AccessError::ExpiredGrant { .. })
        ));
    }

    #[test]
    fn only_the_owner_decides_and_only_the_requester_asks() {
        let (owner, reader, other) = (keypair(1), keypair(2), keypair(3));
        let mut book = AccessBook::new();
        // The reader signs a grant to itself for the owner's product.
        let mut forged = decide(&owner, &reader, Verdict::Granted { expires: None }, 20);
        forged = Signed::sign(forged.value, &reader);
        assert!(matches!(
            book.insert_decision(forged, NOW),
            Err(AccessError::NotOwner { .. })
        ));
        // A third domain asks in the reader's name.
        let mut asked = request(&reader, &owner, 10);
        asked = Signed::sign(asked.value, &other);
        assert!(matches!(
            book.insert_request(asked, NOW),
            Err(AccessError::NotRequester { .. })
        ));
        // A changed grant no longer verifies.
        let mut tampered = decide(&owner, &reader, Verdict::Revoked, 20);
        tampered.value.verdict = Verdict::Granted { expires: None };
        assert!(matches!(
            book.insert_decision(tampered, NOW),
            Err(AccessError::Signature(_))
        ));
        // The owner cannot ask for or grant its own product.
        let own = decide(&owner, &owner, Verdict::Granted { expires: None }, 20);
        assert_eq!(book.insert_decision(own, NOW), Err(AccessError::OwnProduct));
        assert!(book.is_empty());
    }

    #[test]
    fn bad_fields_are_refused() {
        let (owner, reader) = (keypair(1), keypair(2));
        let mut book = AccessBook::new();
        let mut long = request(&reader, &owner, 10).value;
        long.reason = "x".repeat(MAX_REASON_BYTES + 1);
        assert_eq!(
            book.insert_request(Signed::sign(long, &reader), NOW),
            Err(AccessError::ReasonTooLong(MAX_REASON_BYTES + 1))
        );
        let future = request(&reader, &owner, NOW.0 + MAX_SKEW_MS + 1);
        assert!(matches!(
            book.insert_request(future, NOW),
            Err(AccessError::FromFuture { .. })
        ));
        let mut bad_name = request(&reader, &owner, 10).value;
        bad_name.requester_name = "Not A Name".into();
        assert!(matches!(
            book.insert_request(Signed::sign(bad_name, &reader), NOW),
            Err(AccessError::Name(_))
        ));
        assert!(book.is_empty());
    }

    #[test]
    fn stale_records_do_not_replace_newer_and_order_does_not_matter() {
        let (owner, reader) = (keypair(1), keypair(2));
        let p = product(&owner);
        let grant = decide(&owner, &reader, Verdict::Granted { expires: None }, 20);
        let revoke = decide(&owner, &reader, Verdict::Revoked, 30);
        let ask = request(&reader, &owner, 10);

        let mut a = AccessBook::new();
        a.insert_request(ask.clone(), NOW).unwrap();
        a.insert_decision(grant.clone(), NOW).unwrap();
        a.insert_decision(revoke.clone(), NOW).unwrap();

        let mut b = AccessBook::new();
        b.insert_decision(revoke.clone(), NOW).unwrap();
        // The older grant replayed after the revocation changes nothing.
        assert!(!b.insert_decision(grant.clone(), NOW).unwrap());
        b.insert_request(ask.clone(), NOW).unwrap();
        assert!(!b.insert_request(ask, NOW).unwrap());

        assert_eq!(a.digest(), b.digest());
        assert!(!b.allows(&p, &reader.domain_id(), NOW));
        assert_eq!(
            a.get(&p, &reader.domain_id()),
            b.get(&p, &reader.domain_id())
        );
        assert_ne!(a.digest(), AccessBook::new().digest());
    }

    #[test]
    fn equal_times_break_ties_the_same_way_everywhere() {
        let (owner, reader) = (keypair(1), keypair(2));
        let id = product(&owner);
        let grant = decide(&owner, &reader, Verdict::Granted { expires: None }, 20);
        let revoke = decide(&owner, &reader, Verdict::Revoked, 20);
        let mut first = AccessBook::new();
        first.insert_decision(grant.clone(), NOW).unwrap();
        first.insert_decision(revoke.clone(), NOW).unwrap();
        let mut second = AccessBook::new();
        second.insert_decision(revoke, NOW).unwrap();
        second.insert_decision(grant, NOW).unwrap();
        assert_eq!(first.digest(), second.digest());
        assert_eq!(
            first.get(&id, &reader.domain_id()),
            second.get(&id, &reader.domain_id())
        );
    }

    #[test]
    fn one_requester_cannot_fill_the_book() {
        let (reader, owner) = (keypair(2), keypair(1));
        let mut book = AccessBook::new();
        for i in 0..MAX_PER_REQUESTER {
            let mut r = request(&reader, &owner, 10).value;
            r.product.name = format!("p{i}");
            assert!(book.insert_request(Signed::sign(r, &reader), NOW).unwrap());
        }
        let mut r = request(&reader, &owner, 10).value;
        r.product.name = "one-more".into();
        assert_eq!(
            book.insert_request(Signed::sign(r, &reader), NOW),
            Err(AccessError::Full(reader.domain_id()))
        );
        // Another domain still has room.
        let other = keypair(3);
        assert!(
            book.insert_request(request(&other, &owner, 10), NOW)
                .unwrap()
        );
    }
}
