//! Swarm events as they come: listen addresses, connections (catch-up on
//! connect, only dialed addresses into Kademlia), and each behaviour's
//! events routed to the file that handles them.

use super::{
    EventLoop, MeshBehaviourEvent, NodeEvent, Recorder, SwarmEvent, debug, gossipsub, identify,
    info, mdns, now, ping,
};

/// What a swarm event is, for the turn-time log.
pub(super) fn swarm_event_kind(event: &SwarmEvent<MeshBehaviourEvent>) -> &'static str {
    match event {
        SwarmEvent::Behaviour(MeshBehaviourEvent::Gossipsub(_)) => "gossipsub",
        SwarmEvent::Behaviour(MeshBehaviourEvent::Kad(_)) => "kademlia",
        SwarmEvent::Behaviour(MeshBehaviourEvent::Rr(_)) => "request_response",
        SwarmEvent::Behaviour(MeshBehaviourEvent::Identify(_)) => "identify",
        SwarmEvent::Behaviour(_) => "behaviour",
        SwarmEvent::ConnectionEstablished { .. } | SwarmEvent::ConnectionClosed { .. } => {
            "connection"
        }
        _ => "swarm",
    }
}

impl EventLoop {
    pub(super) fn handle_swarm_event(&mut self, event: SwarmEvent<MeshBehaviourEvent>) {
        self.p2p_metrics.record(&event);
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.listen_addrs.push(address.clone());
                self.write_node_info();
                self.emit(NodeEvent::Listening(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                if endpoint.is_dialer() {
                    self.bootstrap_connected(peer_id, endpoint.get_remote_address());
                }
                self.peers.connected(
                    peer_id,
                    endpoint.get_remote_address().clone(),
                    endpoint.is_dialer(),
                    now(),
                );
                if num_established.get() > 1 {
                    return;
                }
                debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
                // Only an address this node dialed is one the peer listens
                // on; an inbound connection's is an ephemeral port nobody
                // can dial, so it stays out of the DHT (identify tells the
                // peer's listen addresses).
                if endpoint.is_dialer() {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, endpoint.get_remote_address().clone());
                }
                if self.catch_up_on_connect(&peer_id) {
                    self.start_sync(peer_id);
                    self.start_gov_catch_up(peer_id);
                    if !self.config.network.catalog_sync {
                        self.start_access_catch_up(peer_id);
                    }
                }
                self.emit(NodeEvent::PeerConnected(peer_id));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                self.peers.closed(&peer_id, num_established);
                if num_established == 0 {
                    self.emit(NodeEvent::PeerDisconnected(peer_id));
                }
            }
            SwarmEvent::Behaviour(event) => self.handle_behaviour_event(event),
            _ => {}
        }
    }

    pub(super) fn handle_behaviour_event(&mut self, event: MeshBehaviourEvent) {
        match &event {
            MeshBehaviourEvent::Gossipsub(e) => self.p2p_metrics.record(e),
            MeshBehaviourEvent::Kad(e) => self.p2p_metrics.record(e),
            MeshBehaviourEvent::Identify(e) => self.p2p_metrics.record(e),
            MeshBehaviourEvent::Ping(e) => self.p2p_metrics.record(e),
            _ => {}
        }
        match event {
            MeshBehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.peers.used(&propagation_source);
                let verdict = self.handle_gossip(propagation_source, &message);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, verdict);
            }
            MeshBehaviourEvent::Mdns(mdns::Event::Discovered(peers)) => {
                for (peer, addr) in peers {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            MeshBehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.peers.identified(&peer_id, &info.agent_version);
                for addr in info.listen_addrs.into_iter().take(16) {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            MeshBehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => self.peers.pinged(&peer, rtt),
            MeshBehaviourEvent::Kad(event) => self.handle_kad(event),
            MeshBehaviourEvent::Rr(event) => self.handle_rr(event),
            _ => {}
        }
    }
}
