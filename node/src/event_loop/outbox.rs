//! Gossip this node originates that must not be lost to an empty mesh:
//! catalog items, governance messages and access records are published at
//! once when a peer is subscribed, and otherwise kept and retried on every
//! upkeep tick for [`RETRY_FOR`] (sync and catch-up cover anything older).

use std::collections::VecDeque;
use std::time::Duration;

use libp2p::gossipsub::{IdentTopic, PublishError};
use mesh_protocol::wire::GossipMessage;
use tokio::time::Instant;
use tracing::debug;

use super::EventLoop;
use crate::network::gossip;

/// How long deferred gossip is retried.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// Most deferred messages kept.
const MAX_OUTBOX: usize = 256;

/// Deferred gossip, oldest first.
#[derive(Default)]
pub(super) struct Outbox {
    queue: VecDeque<(Instant, IdentTopic, GossipMessage)>,
}

impl EventLoop {
    /// Gossips a message this node originates on `topic`, or keeps it for
    /// retry if no peer is subscribed yet (just started, or alone).
    pub(super) fn gossip_or_defer(&mut self, topic: IdentTopic, message: GossipMessage) {
        if !self.publish_on(&topic, &message) && self.outbox.queue.len() < MAX_OUTBOX {
            self.outbox
                .queue
                .push_back((Instant::now(), topic, message));
        }
    }

    /// `true` when the message is out (or already was).
    fn publish_on(&mut self, topic: &IdentTopic, message: &GossipMessage) -> bool {
        let bytes = gossip::seal(&self.node_key, &self.binding, message.clone());
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic.clone(), bytes)
        {
            // A duplicate was already published: nothing left to do.
            Ok(_) | Err(PublishError::Duplicate) => true,
            Err(e) => {
                debug!(%topic, error = %e, "gossip deferred");
                false
            }
        }
    }

    /// Retries deferred gossip (called on upkeep ticks).
    pub(super) fn retry_deferred_gossip(&mut self) {
        let now = Instant::now();
        let pending = std::mem::take(&mut self.outbox.queue);
        for (since, topic, message) in pending {
            if now.duration_since(since) < RETRY_FOR && !self.publish_on(&topic, &message) {
                self.outbox.queue.push_back((since, topic, message));
            }
        }
    }
}
