//! The simulated network: an in-process libp2p transport whose
//! connections carry bytes through the [`LinkModel`], in tokio time.
//!
//! Every node gets a [`SimTransport`] bound to one shared [`Net`]. A dial
//! to `/memory/PORT` reaches the node listening there (after one link
//! latency, like a handshake's first flight), unless the two are on
//! different sides of a partition. A connection is a pair of [`SimStream`]s;
//! each write becomes one packet that is delivered after the link's
//! serialisation delay (queued behind earlier packets in the same direction)
//! plus a sampled latency. The stream is reliable and ordered like TCP, so
//! a lost packet is not dropped: it arrives one retransmission timeout
//! later, as on a real lossy link. yamux runs on top as over TCP in the
//! daemon; plaintext replaces noise (see [`authenticated`]).
//!
//! A partition cuts every open connection between its sides (both ends
//! fail with `BrokenPipe`) and refuses new dials across it; a node that
//! crashes drops its transport, which closes its listener and its
//! connections. Bytes and writes are counted per node for the report.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{AsyncRead, AsyncWrite, FutureExt, SinkExt, StreamExt};
use libp2p::core::multiaddr::Protocol;
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::{Multiaddr, Transport};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::time::{Instant, Sleep};

use crate::link::{LinkModel, Partition, RegionId};
use crate::scenario::NodeIndex;

/// Packets in flight per direction of one connection before the writer
/// waits (the link's send window).
const WINDOW: usize = 256;
/// Extra delay for a lost packet: the retransmission timeout.
const RTO: Duration = Duration::from_millis(200);
/// At most this many losses in a row are simulated for one packet.
const MAX_RETRANSMITS: u32 = 8;
/// Ports of the dialing side of connections start here, far above any
/// listening port.
const EPHEMERAL: u64 = 1 << 48;

/// What a node sent and received over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeTraffic {
    /// Writes (packets) sent.
    pub messages_sent: u64,
    /// Packets received.
    pub messages_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Connections open at the time of reading.
    pub connections: u64,
    /// The most connections the node had open at once.
    pub peak_connections: u64,
    /// Connections the node took part in over the run.
    pub connections_opened: u64,
}

/// One node's connection counts, kept outside the state lock so that a
/// connection's last end can count itself out when it is dropped.
#[derive(Default)]
struct NodeConns {
    open: AtomicU64,
    peak: AtomicU64,
    opened: AtomicU64,
}

/// Connection counts of every node.
struct Conns(Vec<NodeConns>);

impl Conns {
    fn new(nodes: usize) -> Self {
        Self((0..nodes).map(|_| NodeConns::default()).collect())
    }

    fn opened(&self, node: NodeIndex) {
        if let Some(c) = self.0.get(node) {
            let now = c.open.fetch_add(1, Ordering::Relaxed) + 1;
            c.peak.fetch_max(now, Ordering::Relaxed);
            c.opened.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn closed(&self, node: NodeIndex) {
        if let Some(c) = self.0.get(node) {
            c.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// One connection's shared state: its ends, and whether it was cut.
struct Wire {
    id: u64,
    a: NodeIndex,
    b: NodeIndex,
    cut: AtomicBool,
    conns: Arc<Conns>,
}

impl Drop for Wire {
    /// Both ends are gone: the connection no longer counts for either node.
    fn drop(&mut self) {
        self.conns.closed(self.a);
        self.conns.closed(self.b);
    }
}

struct NetState {
    link: LinkModel,
    rng: StdRng,
    regions: Vec<RegionId>,
    listeners: HashMap<u64, (NodeIndex, mpsc::UnboundedSender<SimStream>)>,
    wires: Vec<std::sync::Weak<Wire>>,
    conns: Arc<Conns>,
    traffic: Vec<NodeTraffic>,
    next_port: u64,
    next_wire: u64,
}

/// The simulated network all nodes of a run share.
#[derive(Clone)]
pub struct Net {
    state: Arc<Mutex<NetState>>,
}

impl Net {
    /// A network of nodes in `regions` (one entry per node), with links
    /// from `link` and random choices from `seed`.
    pub fn new(link: LinkModel, regions: Vec<RegionId>, seed: u64) -> Self {
        let traffic = vec![NodeTraffic::default(); regions.len()];
        let conns = Arc::new(Conns::new(regions.len()));
        Self {
            state: Arc::new(Mutex::new(NetState {
                link,
                rng: StdRng::seed_from_u64(seed),
                regions,
                listeners: HashMap::new(),
                wires: Vec::new(),
                conns,
                traffic,
                next_port: 1,
                next_wire: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, NetState> {
        // A poisoned lock only means a panic elsewhere in the simulator;
        // the state itself is still consistent enough to report.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh listening address for a node.
    pub fn address(&self) -> Multiaddr {
        let mut state = self.lock();
        let port = state.next_port;
        state.next_port += 1;
        Multiaddr::empty().with(Protocol::Memory(port))
    }

    /// The transport of node `node`.
    pub fn transport(&self, node: NodeIndex) -> SimTransport {
        SimTransport {
            net: self.clone(),
            node,
            listener: None,
            events: VecDeque::new(),
            waker: None,
        }
    }

    /// Splits the network: connections between sides are cut, dials
    /// between them refused, until [`Net::heal`].
    pub fn partition(&self, partition: Partition) {
        let mut state = self.lock();
        state.wires.retain(|w| w.strong_count() > 0);
        for wire in state.wires.iter().filter_map(std::sync::Weak::upgrade) {
            if partition.blocks(wire.a, wire.b) {
                wire.cut.store(true, Ordering::SeqCst);
            }
        }
        state.link.set_partition(partition);
    }

    /// Ends the partition.
    pub fn heal(&self) {
        self.lock().link.heal();
    }

    /// Changes the link model (degradations and their end).
    pub fn with_link<T>(&self, f: impl FnOnce(&mut LinkModel) -> T) -> T {
        f(&mut self.lock().link)
    }

    /// Traffic per node so far.
    pub fn traffic(&self) -> Vec<NodeTraffic> {
        let state = self.lock();
        let mut traffic = state.traffic.clone();
        for (t, c) in traffic.iter_mut().zip(&state.conns.0) {
            t.connections = c.open.load(Ordering::Relaxed);
            t.peak_connections = c.peak.load(Ordering::Relaxed);
            t.connections_opened = c.opened.load(Ordering::Relaxed);
        }
        traffic
    }

    /// Connections open across the whole network now.
    pub fn open_connections(&self) -> u64 {
        let state = self.lock();
        let ends: u64 = state
            .conns
            .0
            .iter()
            .map(|c| c.open.load(Ordering::Relaxed))
            .sum();
        ends / 2
    }

    /// Whether `a` and `b` can reach each other now.
    pub fn reachable(&self, a: NodeIndex, b: NodeIndex) -> bool {
        !self.lock().link.partition().blocks(a, b)
    }

    /// When a packet of `size` bytes written now from `from` to `to`
    /// arrives, given the direction is busy until `busy_until`; updates it.
    fn schedule(
        &self,
        from: NodeIndex,
        to: NodeIndex,
        size: usize,
        busy_until: &mut Instant,
    ) -> Instant {
        let mut state = self.lock();
        let (ra, rb) = (state.regions[from], state.regions[to]);
        let params = state.link.params(ra, rb);
        let now = Instant::now();
        let start = (*busy_until).max(now);
        let sent = start + params.serialisation_delay(size as u64);
        *busy_until = sent;
        let mut extra = Duration::ZERO;
        let mut tries = 0;
        while params.loss > 0.0
            && tries < MAX_RETRANSMITS
            && state.rng.random::<f64>() < params.loss
        {
            extra += RTO.max(params.latency.sample(&mut state.rng) * 2);
            tries += 1;
        }
        let latency = params.latency.sample(&mut state.rng);
        let size = size as u64;
        state.traffic[from].messages_sent += 1;
        state.traffic[from].bytes_sent += size;
        state.traffic[to].messages_received += 1;
        state.traffic[to].bytes_received += size;
        sent + latency + extra
    }

    fn latency(&self, from: NodeIndex, to: NodeIndex) -> Duration {
        let mut state = self.lock();
        let (ra, rb) = (state.regions[from], state.regions[to]);
        let params = state.link.params(ra, rb);
        params.latency.sample(&mut state.rng)
    }

    /// A connected pair of streams between `a` (the dialer) and `b`.
    fn connect(&self, a: NodeIndex, b: NodeIndex) -> (SimStream, SimStream) {
        let mut state = self.lock();
        let wire = Arc::new(Wire {
            id: state.next_wire,
            a,
            b,
            cut: AtomicBool::new(false),
            conns: state.conns.clone(),
        });
        state.conns.opened(a);
        state.conns.opened(b);
        state.next_wire += 1;
        if state.wires.len() == state.wires.capacity() {
            // Forget closed connections before the list grows (amortised).
            state.wires.retain(|w| w.strong_count() > 0);
        }
        state.wires.push(Arc::downgrade(&wire));
        drop(state);
        let (a_tx, b_rx) = mpsc::channel(WINDOW);
        let (b_tx, a_rx) = mpsc::channel(WINDOW);
        let end = |me, peer, tx, rx| SimStream {
            net: self.clone(),
            id: wire.id,
            wire: wire.clone(),
            me,
            peer,
            tx,
            rx,
            busy_until: Instant::now(),
            last_arrival: Instant::now(),
            arriving: None,
            buf: Vec::new(),
            pos: 0,
            outgoing: Vec::new(),
        };
        (end(a, b, a_tx, a_rx), end(b, a, b_tx, b_rx))
    }
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Nobody listens there (the node is down).
    #[error("no node listens on {0}")]
    Unreachable(Multiaddr),
    /// A partition separates the two nodes.
    #[error("a partition separates this node from {0}")]
    Partitioned(Multiaddr),
}

/// One node's end of the simulated network.
pub struct SimTransport {
    net: Net,
    node: NodeIndex,
    listener: Option<(
        ListenerId,
        u64,
        Multiaddr,
        mpsc::UnboundedReceiver<SimStream>,
    )>,
    events: VecDeque<TransportEvent<futures::future::Ready<Result<SimStream, SimError>>, SimError>>,
    waker: Option<Waker>,
}

fn memory_port(addr: &Multiaddr) -> Option<u64> {
    match addr.iter().next() {
        Some(Protocol::Memory(port)) => Some(port),
        _ => None,
    }
}

impl Drop for SimTransport {
    fn drop(&mut self) {
        if let Some((_, port, _, _)) = &self.listener {
            self.net.lock().listeners.remove(port);
        }
    }
}

type DialFuture = Pin<Box<dyn std::future::Future<Output = Result<SimStream, SimError>> + Send>>;

impl Transport for SimTransport {
    type Output = SimStream;
    type Error = SimError;
    type ListenerUpgrade = futures::future::Ready<Result<SimStream, SimError>>;
    type Dial = DialFuture;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        let Some(port) = memory_port(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        if self.listener.is_some() {
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        let (tx, rx) = mpsc::unbounded();
        self.net.lock().listeners.insert(port, (self.node, tx));
        self.listener = Some((id, port, addr.clone(), rx));
        self.events.push_back(TransportEvent::NewAddress {
            listener_id: id,
            listen_addr: addr,
        });
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        match &self.listener {
            Some((lid, port, _, _)) if *lid == id => {
                self.net.lock().listeners.remove(port);
                self.listener = None;
                true
            }
            _ => false,
        }
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let Some(port) = memory_port(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let net = self.net.clone();
        let me = self.node;
        Ok(Box::pin(async move {
            let target = net
                .lock()
                .listeners
                .get(&port)
                .map(|(n, tx)| (*n, tx.clone()));
            let Some((peer, incoming)) = target else {
                return Err(SimError::Unreachable(addr));
            };
            if !net.reachable(me, peer) {
                return Err(SimError::Partitioned(addr));
            }
            // The first flight takes one latency.
            tokio::time::sleep(net.latency(me, peer)).await;
            if !net.reachable(me, peer) {
                return Err(SimError::Partitioned(addr));
            }
            let (mine, theirs) = net.connect(me, peer);
            incoming
                .unbounded_send(theirs)
                .map_err(|_| SimError::Unreachable(addr))?;
            Ok(mine)
        }))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(event);
        }
        if let Some((id, _, addr, rx)) = self.listener.as_mut()
            && let Poll::Ready(Some(stream)) = rx.poll_next_unpin(cx)
        {
            // Like a TCP peer's ephemeral port: unique, and not dialable
            // (no listener ever has a port this high).
            let send_back_addr = Multiaddr::empty().with(Protocol::Memory(EPHEMERAL | stream.id));
            return Poll::Ready(TransportEvent::Incoming {
                listener_id: *id,
                upgrade: futures::future::ready(Ok(stream)),
                local_addr: addr.clone(),
                send_back_addr,
            });
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// `transport` with libp2p's plaintext upgrade and yamux on top: what a
/// simulated node's swarm is built on.
///
/// The daemon runs noise over TCP. Here the links are in one process, so
/// encryption protects nothing; what it costs is CPU per byte and, per
/// connection, noise's frame buffers (up to 64 KiB each way, kept for the
/// connection's life), which at thousands of connections dominated the
/// simulator's memory. Peer identities are still exchanged and checked in
/// the plaintext handshake, so every PeerId-based rule of the node holds.
pub fn authenticated(
    transport: SimTransport,
    key: &libp2p::identity::Keypair,
) -> mesh_node::node::BoxedTransport {
    transport
        .upgrade(libp2p::core::upgrade::Version::V1)
        .authenticate(libp2p::plaintext::Config::new(key))
        .multiplex(libp2p::yamux::Config::default())
        .boxed()
}

/// A packet on its way.
struct Packet {
    arrives: Instant,
    data: Vec<u8>,
}

/// One end of a simulated connection.
pub struct SimStream {
    net: Net,
    id: u64,
    wire: Arc<Wire>,
    me: NodeIndex,
    peer: NodeIndex,
    tx: mpsc::Sender<Packet>,
    rx: mpsc::Receiver<Packet>,
    busy_until: Instant,
    last_arrival: Instant,
    arriving: Option<(Pin<Box<Sleep>>, Vec<u8>)>,
    buf: Vec<u8>,
    pos: usize,
    /// Bytes written since the last flush: they leave as one packet, as a
    /// TCP segment would carry a frame's header and body together.
    outgoing: Vec<u8>,
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "link cut by a partition")
}

/// Largest packet: writes beyond this leave without waiting for a flush.
const MAX_PACKET: usize = 64 * 1024;

impl SimStream {
    /// Sends the buffered bytes as one packet, once the window has room.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.outgoing.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if self.wire.cut.load(Ordering::SeqCst) {
            return Poll::Ready(Err(broken()));
        }
        match self.tx.poll_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            Poll::Ready(Ok(())) => {}
        }
        let data = std::mem::take(&mut self.outgoing);
        let arrives = self
            .net
            .schedule(self.me, self.peer, data.len(), &mut self.busy_until)
            .max(self.last_arrival);
        self.last_arrival = arrives;
        match self.tx.start_send(Packet { arrives, data }) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.wire.cut.load(Ordering::SeqCst) {
            return Poll::Ready(Err(broken()));
        }
        if self.outgoing.len() >= MAX_PACKET {
            match self.poll_send(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map(|r| r.map(|()| 0)),
            }
        }
        let n = buf.len().min(MAX_PACKET - self.outgoing.len());
        self.outgoing.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_send(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_send(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let _ = self.tx.poll_close_unpin(cx);
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.wire.cut.load(Ordering::SeqCst) {
                return Poll::Ready(Err(broken()));
            }
            if self.pos < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.pos);
                let start = self.pos;
                out[..n].copy_from_slice(&self.buf[start..start + n]);
                self.pos += n;
                if self.pos == self.buf.len() {
                    // Do not keep a delivered packet's memory around:
                    // thousands of idle connections would hold one each.
                    self.buf = Vec::new();
                    self.pos = 0;
                }
                return Poll::Ready(Ok(n));
            }
            if let Some((sleep, _)) = self.arriving.as_mut() {
                if sleep.poll_unpin(cx).is_pending() {
                    return Poll::Pending;
                }
                if let Some((_, data)) = self.arriving.take() {
                    self.buf = data;
                    self.pos = 0;
                }
                continue;
            }
            match self.rx.poll_next_unpin(cx) {
                Poll::Ready(Some(packet)) => {
                    self.arriving = Some((
                        Box::pin(tokio::time::sleep_until(packet.arrives)),
                        packet.data,
                    ));
                }
                // The other end is gone: end of stream.
                Poll::Ready(None) => return Poll::Ready(Ok(0)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::link::{Latency, LinkParams};
    use futures::{AsyncReadExt, AsyncWriteExt};
    use libp2p::core::Endpoint;
    use libp2p::core::transport::PortUse;

    fn net(latency_ms: u64, bandwidth: Option<u64>, loss: f64) -> Net {
        let params = LinkParams {
            latency: Latency::Fixed(Duration::from_millis(latency_ms)),
            bandwidth,
            loss,
        };
        Net::new(LinkModel::new(params), vec![RegionId(0); 3], 7)
    }

    fn dial_opts() -> DialOpts {
        DialOpts {
            role: Endpoint::Dialer,
            port_use: PortUse::New,
        }
    }

    async fn pair(net: &Net, a: NodeIndex, b: NodeIndex) -> (SimStream, SimStream, SimTransport) {
        let mut listener = net.transport(b);
        let addr = net.address();
        listener
            .listen_on(ListenerId::next(), addr.clone())
            .unwrap();
        let mut dialer = net.transport(a);
        let mine = dialer.dial(addr, dial_opts()).unwrap().await.unwrap();
        let mut listener_pinned = Pin::new(&mut listener);
        let theirs = loop {
            let event = futures::future::poll_fn(|cx| listener_pinned.as_mut().poll(cx)).await;
            if let TransportEvent::Incoming { upgrade, .. } = event {
                break upgrade.await.unwrap();
            }
        };
        (mine, theirs, listener)
    }

    #[tokio::test(start_paused = true)]
    async fn latency_and_bandwidth_are_applied_in_virtual_time() {
        // 50 ms links, 1 MB/s: 100 kB takes 100 ms to send plus 50 ms.
        let net = net(50, Some(1_000_000), 0.0);
        let (mut a, mut b, _l) = pair(&net, 0, 1).await;
        let start = Instant::now();
        let wall = std::time::Instant::now();
        a.write_all(&vec![7u8; 100_000]).await.unwrap();
        a.flush().await.unwrap();
        let mut got = vec![0u8; 100_000];
        b.read_exact(&mut got).await.unwrap();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(150), "{took:?}");
        assert!(took < Duration::from_millis(160), "{took:?}");
        assert!(got.iter().all(|&x| x == 7));
        // Virtual: the simulated 150 ms did not pass on the wall clock.
        assert!(wall.elapsed() < Duration::from_millis(100));
        let traffic = net.traffic();
        assert_eq!(traffic[0].bytes_sent, 100_000);
        // One flush: two packets (64 KiB and the rest).
        assert_eq!(traffic[0].messages_sent, 2);
        assert_eq!(traffic[1].bytes_received, 100_000);
    }

    #[tokio::test(start_paused = true)]
    async fn loss_delays_but_never_corrupts_or_reorders() {
        let net = net(10, None, 0.5);
        let (mut a, mut b, _l) = pair(&net, 0, 1).await;
        let start = Instant::now();
        for i in 0..100u8 {
            a.write_all(&[i]).await.unwrap();
            a.flush().await.unwrap();
        }
        let mut got = vec![0u8; 100];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got, (0..100u8).collect::<Vec<_>>());
        // Half the packets were lost at least once: the last arrives well
        // after one plain latency.
        assert!(start.elapsed() >= RTO, "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_partition_cuts_connections_and_refuses_dials_until_healed() {
        let net = net(5, None, 0.0);
        let (mut a, mut b, _l) = pair(&net, 0, 1).await;
        a.write_all(b"before").await.unwrap();
        a.flush().await.unwrap();
        let mut got = [0u8; 6];
        b.read_exact(&mut got).await.unwrap();
        net.partition(Partition::new(vec![vec![0], vec![1, 2]]).unwrap());
        assert_eq!(
            a.write_all(b"x").await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        assert!(b.read(&mut got).await.is_err());
        // A new dial across is refused; one within a side works.
        let mut listener = net.transport(1);
        let addr = net.address();
        listener
            .listen_on(ListenerId::next(), addr.clone())
            .unwrap();
        let mut from_a = net.transport(0);
        assert!(matches!(
            from_a.dial(addr.clone(), dial_opts()).unwrap().await,
            Err(SimError::Partitioned(_))
        ));
        let mut from_c = net.transport(2);
        assert!(
            from_c
                .dial(addr.clone(), dial_opts())
                .unwrap()
                .await
                .is_ok()
        );
        net.heal();
        assert!(from_a.dial(addr, dial_opts()).unwrap().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_node_is_unreachable() {
        let net = net(5, None, 0.0);
        let addr = net.address();
        {
            let mut listener = net.transport(1);
            listener
                .listen_on(ListenerId::next(), addr.clone())
                .unwrap();
        }
        let mut dialer = net.transport(0);
        assert!(matches!(
            dialer.dial(addr, dial_opts()).unwrap().await,
            Err(SimError::Unreachable(_))
        ));
    }
}
