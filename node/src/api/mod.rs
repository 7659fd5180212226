//! The local HTTP API: JSON over HTTP/1.1 on loopback, for the `mesh` CLI,
//! scripts and benchmarks.
//!
//! Every route but `GET /health` needs `Authorization: Bearer TOKEN`, with
//! the token from `DATA_DIR/api.token`; anything else gets 401 and nothing
//! more. Errors are JSON `{"code": ..., "message": ...}` with stable codes.
//! Handlers only translate HTTP to [`NodeHandle`] calls; the node itself
//! stays the single owner of its state.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /health` | liveness, no token |
//! | `GET /v1/status` | node status |
//! | `GET /v1/products` | search: `domain`, `domain_name`, `tag`, `classification`, `text`, `include_deprecated` |
//! | `GET /v1/products/{domain}/{name}` | one product's current catalog item |
//! | `POST /v1/uploads` | stream a file's bytes to the node; returns an upload id |
//! | `POST /v1/publish` | `{upload_id, draft}`: publish an upload as a product |
//! | `POST /v1/products/{name}/withdraw` | `{reason}` |
//! | `POST /v1/products/{name}/deprecate` | `{reason, successor?}` |
//! | `POST /v1/fetches` | `{product, version?, output}`: start a fetch |
//! | `GET /v1/fetches/{id}` | a fetch's progress |
//! | `DELETE /v1/fetches/{id}` | cancel a fetch |

pub mod client;
mod error;
mod handlers;
pub mod token;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
pub use error::ApiError;

use crate::fetch::{FetchHandle, FetchId};
use crate::node::NodeHandle;

/// Most fetch jobs the API remembers; the oldest finished ones go first.
const MAX_TRACKED_FETCHES: usize = 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    handle: NodeHandle,
    token: Arc<String>,
    uploads: PathBuf,
    fetches: Arc<Mutex<HashMap<FetchId, FetchHandle>>>,
}

impl ApiState {
    /// State for a node with its data directory (token and upload space).
    pub fn new(handle: NodeHandle, data_dir: &Path) -> std::io::Result<Self> {
        let token = token::ensure(data_dir)?;
        let uploads = data_dir.join("uploads");
        // Uploads never published before a restart are dropped.
        let _ = std::fs::remove_dir_all(&uploads);
        std::fs::create_dir_all(&uploads)?;
        Ok(Self {
            handle,
            token: Arc::new(token),
            uploads,
            fetches: Arc::new(Mutex::new(HashMap::new())),
        })
    }
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/v1/status", get(handlers::status))
        .route("/v1/products", get(handlers::products))
        .route("/v1/products/{domain}/{name}", get(handlers::product))
        .route("/v1/uploads", post(handlers::upload))
        .route("/v1/publish", post(handlers::publish))
        .route("/v1/products/{name}/withdraw", post(handlers::withdraw))
        .route("/v1/products/{name}/deprecate", post(handlers::deprecate))
        .route("/v1/fetches", post(handlers::start_fetch))
        .route(
            "/v1/fetches/{id}",
            get(handlers::fetch_progress).delete(handlers::cancel_fetch),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
        )
        .merge(v1)
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if token::matches(&state.token, token.trim()) => next.run(request).await,
        _ => ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API token; it is in DATA_DIR/api.token",
        )
        .into_response(),
    }
}

/// Binds the API's listener; refuses non-loopback addresses.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("API address {addr} is not loopback"),
        ));
    }
    tokio::net::TcpListener::bind(addr).await
}

/// Serves the API until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
