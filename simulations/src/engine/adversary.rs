//! Misbehaving peers. An adversary node is not a `mesh-node` node: it is
//! a bare libp2p swarm (gossipsub and the mesh's request-response
//! protocol, over the same simulated links and noise/yamux) that speaks
//! the wire format with intent to harm:
//!
//! - `spam_gossip`: random bytes on the catalog topic at `rate` per second;
//! - `forge_descriptors`: descriptors with broken signatures, and
//!   descriptors of other domains signed with its own key;
//! - `replay_stale`: re-sends older versions of its own product (and of
//!   others' products under its own binding) at `rate` per second, while
//!   publishing newer versions;
//! - `corrupt_chunks`: answers fetch probes with the right manifest (it
//!   "holds" every product) and then serves chunks of which `fraction` are
//!   corrupted;
//! - `equivocate_votes`: as a federation member, approves every proposal
//!   it hears (which the rules allow: approvals bind nobody), and in every
//!   consensus round it hears of signs two different prevotes and two
//!   different precommits (the round's value and nil) and gossips all of
//!   them: Tendermint's equivocation, which honest nodes must catch as
//!   evidence and which must never make two certificates for one slot.
//!
//! Honest nodes must refuse all of it; the run's expectations say whether
//! they did.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, StreamProtocol, gossipsub, request_response};
use mesh_node::network::codec::MeshCodec;
use mesh_node::network::gossip;
use mesh_protocol::bytes::ByteBuf;
use mesh_protocol::descriptor::{Content, Descriptor, Format, Owner, Quality, Schema};
use mesh_protocol::governance::{
    FederationId, Proposal, ProposalId, RoundMessage, RoundVote, Vote, VoteKind,
};
use mesh_protocol::wire::{self, DATA_PROTOCOL, ErrorCode, GossipMessage, Request, Response};
use mesh_protocol::{
    CatalogItem, DomainKeypair, Hash, Manifest, NodeBinding, PROTOCOL_VERSION, ProductId, Signed,
    Timestamp,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::time::Instant;

use super::fleet::{self, Shared};
use crate::scenario::{Behaviour, NodeIndex};
use crate::transport::Net;

/// Products every adversary can "serve": manifest hash to manifest and
/// bytes, filled in by the engine as products are published.
pub(crate) type Registry = Arc<Mutex<HashMap<Hash, (Manifest, Arc<Vec<u8>>)>>>;

/// One misbehaviour and when it is active (since the run started).
#[derive(Clone, Debug)]
pub(crate) struct Active {
    pub(crate) behaviour: Behaviour,
    pub(crate) from: Duration,
    pub(crate) until: Option<Duration>,
}

/// What an adversary node needs to run.
pub(crate) struct Plan {
    pub(crate) index: NodeIndex,
    pub(crate) domain: DomainKeypair,
    pub(crate) node_key: libp2p::identity::Keypair,
    pub(crate) listen: Multiaddr,
    pub(crate) bootstrap: Vec<Multiaddr>,
    pub(crate) active: Vec<Active>,
    pub(crate) network_id: String,
    pub(crate) federation: Option<FederationId>,
    pub(crate) seed: u64,
}

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Attack {
    gossipsub: gossipsub::Behaviour,
    rr: request_response::Behaviour<MeshCodec>,
}

/// How often the adversary acts.
const TICK: Duration = Duration::from_millis(10);

struct State {
    plan: Plan,
    swarm: libp2p::Swarm<Attack>,
    catalog: gossipsub::IdentTopic,
    governance: Option<gossipsub::IdentTopic>,
    rng: StdRng,
    registry: Registry,
    epoch: Instant,
    /// Items heard from others, per product, oldest first.
    heard: HashMap<ProductId, Vec<CatalogItem>>,
    /// Own product's versions sent so far.
    own: Vec<CatalogItem>,
    credit: Vec<f64>,
    sent: u64,
    /// Proposals it approved, with their slots.
    approved: HashMap<ProposalId, u64>,
    /// Round votes it signed: slot, round, kind and value.
    signed: HashSet<(u64, u32, VoteKind, Option<ProposalId>)>,
    /// Where its approvals are recorded for the report.
    observed: Shared,
}

fn build_swarm(plan: &Plan, net: &Net) -> Option<libp2p::Swarm<Attack>> {
    let transport = net.transport(plan.index);
    let key = plan.node_key.clone();
    let config = gossipsub::ConfigBuilder::default()
        .max_transmit_size(1024 * 1024)
        .message_id_fn(mesh_node::network::gossip::message_id)
        .build()
        .ok()?;
    let gossipsub =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
            .ok()?;
    let rr = request_response::Behaviour::with_codec(
        MeshCodec,
        [(
            StreamProtocol::new(DATA_PROTOCOL),
            request_response::ProtocolSupport::Full,
        )],
        request_response::Config::default(),
    );
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|k| crate::transport::authenticated(transport, k))
        .ok()?
        .with_behaviour(|_| Attack { gossipsub, rr })
        .ok()?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Some(swarm)
}

/// Runs an adversary node until its task is aborted.
pub(crate) async fn run(
    plan: Plan,
    net: Net,
    registry: Registry,
    observed: Shared,
    epoch: Instant,
) {
    let Some(mut swarm) = build_swarm(&plan, &net) else {
        tracing::error!(node = plan.index, "adversary swarm could not be built");
        return;
    };
    let catalog = gossipsub::IdentTopic::new(wire::topic(&plan.network_id, "catalog"));
    let governance = plan
        .federation
        .map(|f| gossipsub::IdentTopic::new(wire::topic(&plan.network_id, &format!("gov/{f}"))));
    let _ = swarm.behaviour_mut().gossipsub.subscribe(&catalog);
    if let Some(topic) = &governance {
        let _ = swarm.behaviour_mut().gossipsub.subscribe(topic);
    }
    let _ = swarm.listen_on(plan.listen.clone());
    for addr in &plan.bootstrap {
        let _ = swarm.dial(addr.clone());
    }
    let mut state = State {
        rng: StdRng::seed_from_u64(plan.seed),
        credit: vec![0.0; plan.active.len()],
        plan,
        swarm,
        catalog,
        governance,
        registry,
        epoch,
        heard: HashMap::new(),
        own: Vec::new(),
        sent: 0,
        approved: HashMap::new(),
        signed: HashSet::new(),
        observed,
    };
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            event = state.swarm.select_next_some() => state.on_event(event),
            _ = tick.tick() => state.act(),
        }
    }
}

impl State {
    /// A fresh binding per message makes every envelope's bytes (and so
    /// its gossip message id) new, so honest nodes judge each one.
    fn binding(&mut self) -> Signed<NodeBinding> {
        self.sent += 1;
        let at = Timestamp(protocol_now().0.saturating_sub(self.sent % 60_000));
        NodeBinding::issue(
            &self.plan.domain,
            self.swarm.local_peer_id().to_bytes(),
            at,
            3_600_000,
        )
    }

    fn send(&mut self, topic: &gossipsub::IdentTopic, message: GossipMessage) {
        let binding = self.binding();
        let bytes = gossip::seal(&self.plan.node_key, &binding, message);
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic.clone(), bytes);
    }

    fn on_event(&mut self, event: SwarmEvent<AttackEvent>) {
        match event {
            SwarmEvent::Behaviour(AttackEvent::Gossipsub(gossipsub::Event::Message {
                message,
                ..
            })) => self.on_gossip(&message.data),
            SwarmEvent::Behaviour(AttackEvent::Rr(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            })) => {
                let response = self.answer(&request.request);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_response(channel, response);
            }
            SwarmEvent::Behaviour(AttackEvent::Rr(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        response:
                            Response::Governance {
                                proposals, rounds, ..
                            },
                        ..
                    },
                ..
            })) => {
                for p in proposals {
                    self.approve(&p);
                }
                for m in &rounds {
                    self.equivocate(m);
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => self.catch_up(peer_id),
            _ => {}
        }
    }

    fn on_gossip(&mut self, data: &[u8]) {
        let Ok(envelope) = wire::decode_gossip(data) else {
            return;
        };
        match envelope.message {
            GossipMessage::Catalog(item) => {
                let heard = self.heard.entry(item.product().clone()).or_default();
                if heard.len() < 8 {
                    heard.push(item);
                }
            }
            GossipMessage::Proposal(p) => self.approve(&p),
            GossipMessage::Round(m) => self.equivocate(&m),
            _ => {}
        }
    }

    /// Approves `p` (whatever else it approved in the slot) and gossips
    /// the approval, once per proposal, when equivocating. The approval
    /// time goes to the report, which counts it towards the quorum that
    /// made the proposal eligible.
    fn approve(&mut self, p: &Signed<Proposal>) {
        let id = p.value.id();
        if !self.equivocates() || self.approved.contains_key(&id) {
            return;
        }
        self.approved.insert(id, p.value.base_version);
        let vote = Vote {
            federation: p.value.federation,
            proposal: id,
            base_version: p.value.base_version,
            approve: true,
            cast_at: protocol_now(),
            reason: "approves everything".into(),
        };
        let vote = Signed::sign(vote, &self.plan.domain);
        if let Some(topic) = self.governance.clone() {
            self.send(&topic, GossipMessage::Vote(vote));
        }
        fleet::lock(&self.observed)
            .adversary_approvals
            .push((id.to_string(), self.epoch.elapsed()));
    }

    /// Upon a round message of its federation, signs a prevote and a
    /// precommit for the value it heard and for another one (nil for a
    /// value; for nil, a proposal of the slot it approved) in that round,
    /// once per slot, round, kind and value, and gossips them all: two
    /// different votes of one kind in one round, the evidence honest nodes
    /// must keep.
    fn equivocate(&mut self, m: &RoundMessage) {
        if !self.equivocates() || Some(m.federation()) != self.plan.federation {
            return;
        }
        let (slot, round) = (m.slot(), m.round());
        let heard = match m {
            RoundMessage::Proposal(p) => Some(p.value.value),
            RoundMessage::Vote(v) => v.value.value,
        };
        let other = match heard {
            Some(_) => None,
            None => self
                .approved
                .iter()
                .filter(|(_, s)| **s == slot)
                .map(|(id, _)| *id)
                .min(),
        };
        if heard == other {
            return;
        }
        // Older slots are decided: forget what was signed for them.
        self.signed.retain(|(s, ..)| *s >= slot);
        let Some(topic) = self.governance.clone() else {
            return;
        };
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            for value in [heard, other] {
                if !self.signed.insert((slot, round, kind, value)) {
                    continue;
                }
                let vote = RoundVote {
                    federation: m.federation(),
                    slot,
                    round,
                    kind,
                    value,
                };
                let vote = Signed::sign(vote, &self.plan.domain);
                self.send(&topic, GossipMessage::Round(RoundMessage::Vote(vote)));
            }
        }
    }

    /// Asks a peer for the open proposals (to vote on all of them).
    fn catch_up(&mut self, peer: libp2p::PeerId) {
        let Some(federation) = self.plan.federation else {
            return;
        };
        if !self.equivocates() {
            return;
        }
        let frame = wire::RequestFrame {
            version: PROTOCOL_VERSION,
            requester: Some(self.binding()),
            request: Request::GovernanceCatchUp {
                federation,
                from_version: 0,
            },
        };
        self.swarm.behaviour_mut().rr.send_request(&peer, frame);
    }

    fn equivocates(&self) -> bool {
        let now = self.epoch.elapsed();
        self.plan
            .active
            .iter()
            .any(|a| matches!(a.behaviour, Behaviour::EquivocateVotes {}) && is_on(a, now))
    }

    fn corruption(&self) -> Option<f64> {
        let now = self.epoch.elapsed();
        self.plan.active.iter().find_map(|a| match a.behaviour {
            Behaviour::CorruptChunks { fraction } if is_on(a, now) => Some(fraction),
            _ => None,
        })
    }

    fn answer(&mut self, request: &Request) -> Response {
        let Some(fraction) = self.corruption() else {
            return Response::error(ErrorCode::NotHeld, "not held");
        };
        let registry = fleet::lock(&self.registry);
        match request {
            Request::GetManifest { manifest, .. } => match registry.get(manifest) {
                Some((m, _)) => Response::Manifest(m.clone()),
                None => Response::error(ErrorCode::NotHeld, "not held"),
            },
            Request::GetChunk {
                manifest, index, ..
            } => {
                let Some((m, data)) = registry.get(manifest) else {
                    return Response::error(ErrorCode::NotHeld, "not held");
                };
                let chunk = usize::try_from(m.chunk_size).unwrap_or(usize::MAX);
                let start = usize::try_from(*index)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(chunk);
                let end = start.saturating_add(chunk).min(data.len());
                let mut bytes = data.get(start..end).map(<[u8]>::to_vec).unwrap_or_default();
                if self.rng.random::<f64>() < fraction {
                    for b in &mut bytes {
                        *b ^= 0x5a;
                    }
                }
                Response::Chunk(ByteBuf(bytes))
            }
            _ => Response::error(ErrorCode::BadRequest, "not served here"),
        }
    }

    /// Does what the active misbehaviours do in one tick.
    fn act(&mut self) {
        let now = self.epoch.elapsed();
        #[allow(clippy::cast_precision_loss, reason = "a tick is milliseconds")]
        let dt = TICK.as_millis() as f64 / 1000.0;
        for k in 0..self.plan.active.len() {
            let active = self.plan.active[k].clone();
            if !is_on(&active, now) {
                continue;
            }
            let (Behaviour::SpamGossip { rate, .. }
            | Behaviour::ForgeDescriptors { rate }
            | Behaviour::ReplayStale { rate }) = active.behaviour
            else {
                continue;
            };
            self.credit[k] += rate * dt;
            while self.credit[k] >= 1.0 {
                self.credit[k] -= 1.0;
                match active.behaviour {
                    Behaviour::SpamGossip { size, .. } => self.spam(size),
                    Behaviour::ForgeDescriptors { .. } => self.forge(),
                    Behaviour::ReplayStale { .. } => self.replay(),
                    _ => {}
                }
            }
        }
    }

    fn spam(&mut self, size: u64) {
        let size = usize::try_from(size).unwrap_or(4096).min(1024 * 1024);
        let mut junk = vec![0u8; size];
        self.rng.fill(&mut junk[..]);
        let topic = self.catalog.clone();
        let _ = self.swarm.behaviour_mut().gossipsub.publish(topic, junk);
    }

    fn descriptor(domain: mesh_protocol::DomainId, name: String, version: u64) -> Descriptor {
        Descriptor {
            id: ProductId { domain, name },
            domain_name: "mallory".into(),
            version,
            title: "forged".into(),
            description: String::new(),
            owner: Owner::default(),
            schema: Schema::default(),
            format: Format::Csv,
            content: Content {
                size: 10,
                chunk_size: 1 << 20,
                manifest_hash: Hash::of(b"forged"),
            },
            tags: std::collections::BTreeSet::default(),
            quality: Quality::default(),
            lineage: vec![],
            access: mesh_protocol::descriptor::AccessPolicy::default(),
            retention_days: None,
            created_at: protocol_now(),
            deprecation: None,
            csv: None,
            profile: None,
            derivation: None,
        }
    }

    fn forge(&mut self) {
        let version = self.rng.random_range(1..1_000_000);
        let item = if self.rng.random::<bool>() {
            // A tampered signature on its own descriptor.
            let d = Self::descriptor(self.plan.domain.domain_id(), "forged".into(), version);
            let mut signed = Signed::sign(d, &self.plan.domain);
            signed.signature[7] ^= 1;
            CatalogItem::Descriptor(signed)
        } else {
            // Another domain's product, signed with its own key.
            let victim = self.heard.keys().next().map_or_else(
                || DomainKeypair::from_secret([9; 32]).domain_id(),
                |p| p.domain,
            );
            let d = Self::descriptor(victim, "hijacked".into(), version);
            CatalogItem::Descriptor(Signed::sign(d, &self.plan.domain))
        };
        let topic = self.catalog.clone();
        self.send(&topic, GossipMessage::Catalog(item));
    }

    fn replay(&mut self) {
        // A newer version of its own product now and then, so there is
        // something stale to replay.
        if self.own.len() < 2 || self.rng.random_range(0..10) == 0 {
            let version = self.own.len() as u64 + 1;
            let name = format!("replayed-{}", self.plan.index);
            let d = Self::descriptor(self.plan.domain.domain_id(), name, version);
            let item = CatalogItem::Descriptor(Signed::sign(d, &self.plan.domain));
            self.own.push(item.clone());
            let topic = self.catalog.clone();
            self.send(&topic, GossipMessage::Catalog(item));
            return;
        }
        let topic = self.catalog.clone();
        if self.rng.random::<bool>() {
            let old = self.rng.random_range(0..self.own.len() - 1);
            let item = self.own[old].clone();
            self.send(&topic, GossipMessage::Catalog(item));
        } else if let Some(items) = self.heard.values().find(|v| !v.is_empty()) {
            let item = items[0].clone();
            self.send(&topic, GossipMessage::Catalog(item));
        }
    }
}

/// Protocol time (what honest nodes read from their clocks).
fn protocol_now() -> Timestamp {
    mesh_node::clock::now()
}

fn is_on(active: &Active, now: Duration) -> bool {
    now >= active.from && active.until.is_none_or(|u| now < u)
}
