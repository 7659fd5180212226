//! Serving the API to whatever connects, hostile local processes included.
//!
//! The API listens on loopback, but every local user can reach it, token
//! or not. `axum::serve` reads headers without a deadline and accepts
//! without a cap, so a few processes holding half-sent requests once drove
//! a node to its open-file limit, after which it could not open the blob
//! files it serves to peers. The API therefore runs its own accept loop
//! over hyper, with [`ApiLimits`]:
//!
//! - **header read timeout** (hyper's): a request's line and headers must
//!   arrive within it, and a keep-alive connection idle between requests
//!   is closed after it;
//! - **body timeout**: every piece of a request body must arrive within it
//!   (a stalled upload fails and its partial file is removed);
//! - **idle timeout**: a connection with no request being handled and no
//!   byte moved either way for that long (a client that does not read its
//!   answer) is closed;
//! - **connection cap**: at most that many connections are served at
//!   once, fewer if the open-file limit is low (see
//!   [`crate::rlimit::api_connection_cap`]); beyond it, new connections
//!   wait in the kernel's backlog, costing the node no descriptor.

use std::num::{NonZeroU64, NonZeroUsize};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use futures::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// How long connections may take and how many there may be; `[api.limits]`
/// in `meshd.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiLimits {
    /// Seconds for a request's line and headers to arrive; also how long a
    /// keep-alive connection may idle between requests.
    #[serde(default = "default_header_timeout")]
    pub header_read_timeout_secs: NonZeroU64,
    /// Seconds within which each piece of a request body must arrive.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_secs: NonZeroU64,
    /// Seconds a connection may sit with no request being handled and no
    /// byte moving before it is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: NonZeroU64,
    /// Most connections served at once (lowered to leave the node its
    /// reserve of file descriptors).
    #[serde(default = "default_max_connections")]
    pub max_connections: NonZeroUsize,
}

fn default_header_timeout() -> NonZeroU64 {
    NonZeroU64::MIN.saturating_add(9)
}
fn default_body_timeout() -> NonZeroU64 {
    NonZeroU64::MIN.saturating_add(29)
}
fn default_idle_timeout() -> NonZeroU64 {
    NonZeroU64::MIN.saturating_add(59)
}
fn default_max_connections() -> NonZeroUsize {
    NonZeroUsize::MIN.saturating_add(1023)
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: default_header_timeout(),
            body_timeout_secs: default_body_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

/// How long connections still get to finish their requests once the API
/// is told to stop.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` under `limits` until `shutdown` resolves,
/// then lets open requests finish (for at most a few seconds).
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ApiLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cap = crate::rlimit::api_connection_cap(
        limits.max_connections.get(),
        crate::rlimit::nofile_limit(),
    );
    let slots = Arc::new(Semaphore::new(cap));
    let (stop_tx, stop_rx) = watch::channel(false);
    let conn = Conn {
        router,
        header_timeout: Duration::from_secs(limits.header_read_timeout_secs.get()),
        body_timeout: Duration::from_secs(limits.body_timeout_secs.get()),
        idle_timeout: Duration::from_secs(limits.idle_timeout_secs.get()),
    };
    tracing::debug!(cap, ?limits, "serving the API");
    tokio::pin!(shutdown);
    loop {
        // A slot first: beyond the cap, connections wait in the backlog.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (EMFILE) or a connection reset
                    // before accept: wait a moment, never spin.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let conn = conn.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            conn.run(stream, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(DRAIN + Duration::from_secs(1), slots.acquire_many(all)).await;
    Ok(())
}

/// What serving one connection needs.
#[derive(Clone)]
struct Conn {
    router: Router,
    header_timeout: Duration,
    body_timeout: Duration,
    idle_timeout: Duration,
}

impl Conn {
    async fn run(self, stream: TcpStream, mut stop: watch::Receiver<bool>) {
        let started = Instant::now();
        let moved = Arc::new(AtomicU64::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let io = TokioIo::new(Tracked {
            inner: stream,
            started,
            moved: moved.clone(),
        });
        let router = self.router.clone();
        let body_timeout = self.body_timeout;
        let busy = in_flight.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let request = request.map(|body| timed(Body::new(body), body_timeout));
            let guard = InFlight::enter(&busy);
            let mut router = router.clone();
            async move {
                let response =
                    tower_service::Service::<axum::extract::Request>::call(&mut router, request)
                        .await;
                drop(guard);
                response
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut draining: Option<Instant> = None;
        loop {
            let last = started + Duration::from_millis(moved.load(Ordering::Relaxed));
            let wake = match draining {
                Some(deadline) => deadline,
                None => last.max(Instant::now()) + self.idle_timeout.min(Duration::from_secs(1)),
            };
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "API connection ended");
                    }
                    return;
                }
                changed = stop.changed(), if draining.is_none() => {
                    if changed.is_err() || *stop.borrow() {
                        connection.as_mut().graceful_shutdown();
                        draining = Some(Instant::now() + DRAIN);
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    if draining.is_some() {
                        return;
                    }
                    let quiet = Instant::now().saturating_duration_since(last);
                    if in_flight.load(Ordering::Relaxed) == 0 && quiet >= self.idle_timeout {
                        tracing::debug!("closing an idle API connection");
                        return;
                    }
                }
            }
        }
    }
}

/// Counts a request being handled on its connection while alive.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a request body was cut.
#[derive(Debug, thiserror::Error)]
#[error("no byte of the request body for {0:?}")]
struct BodyStalled(Duration);

/// `body`, failing once no piece of it arrives for `limit`.
fn timed(body: Body, limit: Duration) -> Body {
    let stream = body.into_data_stream();
    Body::from_stream(futures::stream::unfold(
        Some(stream),
        move |state| async move {
            let mut stream = state?;
            match tokio::time::timeout(limit, stream.next()).await {
                Ok(Some(piece)) => Some((piece, Some(stream))),
                Ok(None) => None,
                Err(_) => Some((Err(axum::Error::new(BodyStalled(limit))), None)),
            }
        },
    ))
}

/// A socket that notes when a byte last moved (milliseconds since
/// `started`).
struct Tracked {
    inner: TcpStream,
    started: Instant,
    moved: Arc<AtomicU64>,
}

impl Tracked {
    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.moved.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
