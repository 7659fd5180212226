//! A bare client of the data protocol (`/meshd/data/1`): what a peer
//! outside the node sends, for tests that check a node's answers to single
//! requests rather than a whole fetch.

use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol, Swarm};
use mesh_node::network::codec::MeshCodec;
use mesh_protocol::PROTOCOL_VERSION;
use mesh_protocol::wire::{DATA_PROTOCOL, Request, RequestFrame, Response};

/// A request-response swarm speaking the data protocol over TCP.
pub type DataClient = Swarm<request_response::Behaviour<MeshCodec>>;

/// A new client with a fresh identity.
pub fn data_client() -> DataClient {
    crate::tcp_swarm(libp2p::identity::Keypair::generate_ed25519(), |_| {
        request_response::Behaviour::with_codec(
            MeshCodec,
            [(StreamProtocol::new(DATA_PROTOCOL), ProtocolSupport::Full)],
            request_response::Config::default(),
        )
    })
}

/// Sends `request` (no requester binding) to the node at `addr`, which
/// ends with its peer id, and waits up to [`crate::TIMEOUT`] for the answer.
///
/// # Panics
/// If `addr` names no peer, or no answer comes in time: a failed test.
pub async fn ask(client: &mut DataClient, addr: &Multiaddr, request: Request) -> Response {
    let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() else {
        panic!("address without a peer id: {addr}")
    };
    client.add_peer_address(peer, addr.clone());
    client.behaviour_mut().send_request(
        &peer,
        RequestFrame {
            version: PROTOCOL_VERSION,
            requester: None,
            request,
        },
    );
    let wait = async {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            }) = client.select_next_some().await
            {
                return response;
            }
        }
    };
    tokio::time::timeout(crate::TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| panic!("no answer from {addr} in time"))
}
