//! Commands from the node's handle, each answered on its reply channel:
//! publish, query, fetch, governance, access and status.

use super::{CatalogItem, Command, EventLoop, NodeError, ProductId, Status, record_key};

impl EventLoop {
    pub(super) fn handle_command(&mut self, command: Command) {
        match command {
            Command::Publish { publication, reply } => {
                let result = self.publish(*publication);
                let _ = reply.send(result);
            }
            Command::Withdraw {
                name,
                reason,
                reply,
            } => {
                let _ = reply.send(self.withdraw(&name, reason));
            }
            Command::Deprecate {
                name,
                reason,
                successor,
                reply,
            } => {
                let _ = reply.send(self.deprecate(&name, reason, successor));
            }
            Command::Query { query, reply } => {
                let _ = reply.send(self.catalog.query(&query).cloned().collect());
            }
            Command::Get { product, reply } => {
                let _ = reply.send(self.catalog.get(&product).cloned());
            }
            Command::Lookup { product, reply } => {
                if let Some(item) = self.catalog.get(&product) {
                    let _ = reply.send(Some(item.clone()));
                } else {
                    let id = self
                        .swarm
                        .behaviour_mut()
                        .kad
                        .get_record(record_key(&product));
                    self.lookups.insert(id, (product, reply));
                }
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peers.snapshot());
            }
            Command::Versions { product, reply } => {
                let _ = reply.send(self.store.versions(&product).map_err(NodeError::from));
            }
            Command::Providers { product, reply } => self.lookup_providers(&product, reply),
            command @ (Command::Federation { .. }
            | Command::Proposals { .. }
            | Command::Propose { .. }
            | Command::Vote { .. }
            | Command::Compliance { .. }) => self.handle_governance_command(command),
            command @ (Command::AccessList { .. }
            | Command::RequestAccess { .. }
            | Command::DecideAccess { .. }) => self.handle_access_command(command),
            Command::Resolve {
                domain_name,
                name,
                reply,
            } => {
                let _ = reply.send(self.resolve(&domain_name, &name));
            }
            Command::Dial { addr, reply } => {
                let result = self
                    .swarm
                    .dial(addr)
                    .map_err(|e| NodeError::Network(e.to_string()));
                let _ = reply.send(result);
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Fetch {
                product,
                version,
                output,
                reply,
            } => {
                let _ = reply.send(self.start_fetch(&product, version, output));
            }
            Command::FetchChunks {
                product,
                version,
                chunks,
                reply,
            } => self.fetch_chunks(&product, version, chunks, reply),
            Command::CancelFetch { id } => self.cancel_fetch(id),
            Command::RunningFetches { reply } => {
                let _ = reply.send(self.running_fetches());
            }
            Command::CollectGarbage { reply } => self.request_collection(reply),
            Command::ProfileChecked(checked) => {
                self.record_profile_check(*checked);
            }
            Command::Shutdown => {}
        }
    }

    pub(super) fn status(&self) -> Status {
        Status {
            domain_name: self.domain_name.clone(),
            domain_id: self.domain.domain_id().to_string(),
            domain_key: self.domain.public().to_string(),
            federation: self
                .gov
                .as_ref()
                .map(|g| format!("{} v{}", g.id(), g.version())),
            member: self
                .gov
                .as_ref()
                .is_some_and(|g| g.is_member(&self.domain.domain_id())),
            peer_id: self.swarm.local_peer_id().to_string(),
            listen_addrs: self.listen_addrs.iter().map(ToString::to_string).collect(),
            peers: self.swarm.connected_peers().count(),
            catalog_size: self.catalog.len(),
            counters: self.metrics.counters(),
            // Measured by the handle, off the loop.
            blob_bytes: 0,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Products named `name` of domains named `domain_name`. A withdrawn
    /// product's domain name comes from the versions kept before it.
    pub(super) fn resolve(&self, domain_name: &str, name: &str) -> Vec<ProductId> {
        let mut out: Vec<ProductId> = self
            .catalog
            .items()
            .filter(|item| item.product().name == name)
            .filter(|item| match item {
                CatalogItem::Descriptor(d) => d.value.domain_name == domain_name,
                CatalogItem::Withdrawal(_) => self
                    .store
                    .versions(item.product())
                    .ok()
                    .and_then(|v| v.iter().find_map(|i| i.descriptor().cloned()))
                    .is_some_and(|d| d.domain_name == domain_name),
            })
            .map(|item| item.product().clone())
            .collect();
        out.sort();
        out
    }
}
