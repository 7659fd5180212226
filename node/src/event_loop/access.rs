//! The event loop's access work: this domain's requests and decisions out
//! (signed, stored, gossiped on the catalog topic), other domains' records
//! in from gossip and catch-up, and the grant check the server makes on
//! every manifest and chunk request.
//!
//! Access records ride the catalog topic because they concern catalog
//! products and every node, federated or not, may have to serve them.

use libp2p::PeerId;
use mesh_protocol::access::{AccessDecision, AccessRequest, Verdict};
use mesh_protocol::descriptor::AccessMode;
use mesh_protocol::wire::{GossipMessage, Request, Response};
use mesh_protocol::{CatalogItem, DomainId, Hash, ProductId, Signed};
use tracing::{debug, info, warn};

use super::{EventLoop, Pending};
use crate::access::{Access, AccessBookError, AccessCommandError, AccessView};
use crate::clock::now;
use crate::command::Command;
use crate::error::NodeError;

/// Bytes of access records in one catch-up answer.
const CATCH_UP_BUDGET: usize = 4 * 1024 * 1024;

fn refused(e: impl Into<AccessCommandError>) -> NodeError {
    NodeError::Access(e.into())
}

impl EventLoop {
    // ---- commands -------------------------------------------------------

    pub(super) fn handle_access_command(&mut self, command: Command) {
        match command {
            Command::AccessList { reply } => {
                let _ = reply.send(self.access_views());
            }
            Command::RequestAccess {
                product,
                reason,
                reply,
            } => {
                let _ = reply.send(self.request_access(&product, reason));
            }
            Command::DecideAccess {
                name,
                domain,
                verdict,
                reply,
            } => {
                let _ = reply.send(self.decide_access(&name, &domain, verdict));
            }
            _ => {}
        }
    }

    fn owner_name(&self, product: &ProductId) -> Option<String> {
        self.catalog
            .get(product)
            .and_then(CatalogItem::descriptor)
            .map(|d| d.domain_name.clone())
    }

    fn view_of(&self, product: &ProductId, domain: &DomainId) -> Option<AccessView> {
        let entry = self.access.book().get(product, domain)?;
        Access::view(
            self.domain.domain_id(),
            product,
            domain,
            entry,
            self.owner_name(product),
            now(),
        )
    }

    fn access_views(&self) -> Vec<AccessView> {
        let (me, at) = (self.domain.domain_id(), now());
        self.access
            .book()
            .iter()
            .filter_map(|((product, domain), entry)| {
                Access::view(me, product, domain, entry, self.owner_name(product), at)
            })
            .collect()
    }

    fn request_access(
        &mut self,
        product: &ProductId,
        reason: String,
    ) -> Result<AccessView, NodeError> {
        let me = self.domain.domain_id();
        let Some(descriptor) = self.catalog.get(product).and_then(CatalogItem::descriptor) else {
            return Err(NodeError::UnknownProduct(product.to_string()));
        };
        if product.domain == me {
            return Err(refused(AccessCommandError::OwnProduct(product.to_string())));
        }
        match &descriptor.access.mode {
            AccessMode::Public => {
                return Err(refused(AccessCommandError::NoGrantNeeded {
                    product: product.to_string(),
                    mode: "public",
                }));
            }
            AccessMode::Domains(domains) if domains.contains(&me) => {
                return Err(refused(AccessCommandError::NoGrantNeeded {
                    product: product.to_string(),
                    mode: "readable by a list of domains that includes this one",
                }));
            }
            AccessMode::Domains(_) | AccessMode::OwnerGranted => {}
        }
        let at = self.access.next_time(product, &me, now());
        let request = Signed::sign(
            AccessRequest {
                product: product.clone(),
                requester: me,
                requester_name: self.domain_name.clone(),
                reason,
                at,
            },
            &self.domain,
        );
        self.access
            .take_request(request.clone(), now())
            .map_err(refused)?;
        info!(%product, "access requested");
        self.gossip_or_defer(self.topic.clone(), GossipMessage::AccessRequest(request));
        self.view_of(product, &me)
            .ok_or_else(|| NodeError::UnknownProduct(product.to_string()))
    }

    fn decide_access(
        &mut self,
        name: &str,
        domain: &str,
        verdict: Verdict,
    ) -> Result<AccessView, NodeError> {
        let me = self.domain.domain_id();
        let product = ProductId {
            domain: me,
            name: name.to_owned(),
        };
        let Some(descriptor) = self.catalog.get(&product).and_then(CatalogItem::descriptor) else {
            return Err(NodeError::UnknownProduct(product.to_string()));
        };
        if descriptor.access.mode == AccessMode::Public {
            return Err(refused(AccessCommandError::NoGrantNeeded {
                product: product.to_string(),
                mode: "public",
            }));
        }
        let grantee = self.resolve_domain(&product, domain).map_err(refused)?;
        if grantee == me {
            return Err(refused(AccessCommandError::OwnProduct(product.to_string())));
        }
        let now = now();
        match &verdict {
            Verdict::Revoked => {
                let has_grant = self
                    .access
                    .book()
                    .get(&product, &grantee)
                    .and_then(|e| e.decision.as_ref())
                    .is_some_and(|d| matches!(d.value.verdict, Verdict::Granted { .. }));
                if !has_grant {
                    return Err(refused(AccessCommandError::NotGranted {
                        product: product.to_string(),
                        domain: domain.to_owned(),
                    }));
                }
            }
            Verdict::Granted {
                expires: Some(expires),
            } if *expires <= now => {
                return Err(refused(AccessCommandError::ExpiryPast(*expires)));
            }
            Verdict::Granted { .. } | Verdict::Denied { .. } => {}
        }
        let at = self.access.next_time(&product, &grantee, now);
        let decision = Signed::sign(
            AccessDecision {
                product: product.clone(),
                grantee,
                verdict,
                at,
            },
            &self.domain,
        );
        self.access
            .take_decision(decision.clone(), now)
            .map_err(refused)?;
        info!(%product, %grantee, "access decided");
        self.gossip_or_defer(self.topic.clone(), GossipMessage::AccessDecision(decision));
        self.view_of(&product, &grantee)
            .ok_or_else(|| NodeError::UnknownProduct(product.to_string()))
    }

    /// A domain id, or the one domain known by that name: from its request
    /// for this product, the federation's member list, or its descriptors.
    fn resolve_domain(
        &self,
        product: &ProductId,
        text: &str,
    ) -> Result<DomainId, AccessCommandError> {
        if let Ok(id) = text.parse::<DomainId>() {
            return Ok(id);
        }
        let mut found = std::collections::BTreeSet::new();
        for ((p, d), entry) in self.access.book().iter() {
            if p == product
                && entry
                    .request
                    .as_ref()
                    .is_some_and(|r| r.value.requester_name == text)
            {
                found.insert(*d);
            }
        }
        if let Some(gov) = &self.gov {
            found.extend(gov.members_named(text));
        }
        found.extend(
            self.catalog
                .items()
                .filter_map(CatalogItem::descriptor)
                .filter(|d| d.domain_name == text)
                .map(|d| d.id.domain),
        );
        let mut ids = found.into_iter();
        match (ids.next(), ids.next()) {
            (Some(id), None) => Ok(id),
            (None, _) => Err(AccessCommandError::UnknownDomain(text.to_owned())),
            (Some(a), Some(b)) => {
                let rest: Vec<String> = ids.map(|d| d.to_string()).collect();
                let mut all = vec![a.to_string(), b.to_string()];
                all.extend(rest);
                Err(AccessCommandError::AmbiguousDomain {
                    name: text.to_owned(),
                    ids: all.join(", "),
                })
            }
        }
    }

    // ---- serving --------------------------------------------------------

    /// Whether `reader` holds a grant for `product` in force now.
    pub(super) fn granted(&self, product: &ProductId, reader: Option<DomainId>) -> bool {
        reader.is_some_and(|r| self.access.book().allows(product, &r, now()))
    }

    // ---- network --------------------------------------------------------

    /// An access record from gossip, sent by a node of `origin`: `Ok(true)`
    /// news (forward), `Ok(false)` harmless (drop), `Err` invalid (drop and
    /// penalise).
    pub(super) fn check_access(
        &mut self,
        origin: DomainId,
        message: GossipMessage,
    ) -> Result<bool, String> {
        match message {
            GossipMessage::AccessRequest(r) => {
                if r.value.requester != origin {
                    return Err(format!(
                        "node of domain {origin} relayed a request of domain {}",
                        r.value.requester
                    ));
                }
                self.take_access_request(r)
            }
            GossipMessage::AccessDecision(d) => {
                if d.value.product.domain != origin {
                    return Err(format!(
                        "node of domain {origin} sent a decision on {}",
                        d.value.product
                    ));
                }
                self.take_access_decision(d)
            }
            _ => Ok(false),
        }
    }

    fn knows(&self, product: &ProductId) -> bool {
        self.catalog.get(product).is_some()
    }

    fn take_access_request(&mut self, r: Signed<AccessRequest>) -> Result<bool, String> {
        // Records about products not (yet) in the catalog wait for the
        // next catch-up rather than taking room in the book.
        if !self.knows(&r.value.product) {
            return Ok(false);
        }
        let product = r.value.product.clone();
        match self.access.take_request(r, now()) {
            Ok(news) => {
                if news && product.domain == self.domain.domain_id() {
                    info!(%product, "access request received");
                }
                Ok(news)
            }
            Err(AccessBookError::Store(e)) => {
                warn!(error = %e, "cannot store an access request");
                Ok(false)
            }
            Err(AccessBookError::Record(e)) => Err(e.to_string()),
        }
    }

    fn take_access_decision(&mut self, d: Signed<AccessDecision>) -> Result<bool, String> {
        if !self.knows(&d.value.product) {
            return Ok(false);
        }
        match self.access.take_decision(d, now()) {
            Ok(news) => Ok(news),
            Err(AccessBookError::Store(e)) => {
                warn!(error = %e, "cannot store an access decision");
                Ok(false)
            }
            Err(AccessBookError::Record(e)) => Err(e.to_string()),
        }
    }

    /// Asks `peer` for the access records this node lacks.
    pub(super) fn start_access_catch_up(&mut self, peer: PeerId) {
        let already = self
            .pending
            .values()
            .any(|(p, k)| *p == peer && matches!(k, Pending::AccessCatchUp));
        if already {
            return;
        }
        let frame = self.frame(Request::AccessCatchUp {
            digest: self.access.book().digest(),
        });
        let id = self.swarm.behaviour_mut().rr.send_request(&peer, frame);
        self.pending.insert(id, (peer, Pending::AccessCatchUp));
    }

    /// Every record, unless the asker already holds the same set.
    pub(super) fn answer_access_catch_up(&self, digest: Hash) -> Response {
        if digest == self.access.book().digest() {
            return Response::Access {
                requests: Vec::new(),
                decisions: Vec::new(),
            };
        }
        let (requests, decisions) = self.access.book().records();
        let mut budget = CATCH_UP_BUDGET;
        let mut fits = |size: usize| {
            let ok = size <= budget;
            budget = budget.saturating_sub(size);
            ok
        };
        // Decisions first: they are what serving depends on.
        let decisions: Vec<_> = decisions
            .into_iter()
            .filter(|d| fits(mesh_protocol::encoding::to_bytes(*d).len()))
            .cloned()
            .collect();
        let requests: Vec<_> = requests
            .into_iter()
            .filter(|r| fits(mesh_protocol::encoding::to_bytes(*r).len()))
            .cloned()
            .collect();
        Response::Access {
            requests,
            decisions,
        }
    }

    /// Takes the records of a catch-up answer; invalid ones are logged and
    /// skipped (they are not forwarded anywhere).
    pub(super) fn on_access_catch_up(
        &mut self,
        peer: PeerId,
        requests: Vec<Signed<AccessRequest>>,
        decisions: Vec<Signed<AccessDecision>>,
    ) {
        let mut taken = 0usize;
        for r in requests {
            match self.take_access_request(r) {
                Ok(true) => taken += 1,
                Ok(false) => {}
                Err(e) => debug!(%peer, error = %e, "access request from catch-up refused"),
            }
        }
        for d in decisions {
            match self.take_access_decision(d) {
                Ok(true) => taken += 1,
                Ok(false) => {}
                Err(e) => debug!(%peer, error = %e, "access decision from catch-up refused"),
            }
        }
        if taken > 0 {
            info!(%peer, taken, "access records caught up");
        }
    }
}
