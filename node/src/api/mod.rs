//! The local HTTP API: JSON over HTTP/1.1 on loopback, for the `mesh` CLI,
//! scripts and benchmarks.
//!
//! Every route but `GET /health` needs `Authorization: Bearer TOKEN`, with
//! the token from `DATA_DIR/api.token`; anything else gets 401 and nothing
//! more. Errors are JSON `{"code": ..., "message": ...}` with stable codes.
//! Handlers only translate HTTP to [`NodeHandle`] calls; the node itself
//! stays the single owner of its state.
//!
//! The routes, their parameters and bodies are in the OpenAPI document the
//! server itself answers at `GET /openapi.json`. It is generated from the
//! handlers: a route exists only if it was registered with its description
//! (see [`router`]), so the document cannot drift from the server.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /health` | liveness and the store's state (503 `degraded` with a reason), no token |
//! | `GET /openapi.json` | the OpenAPI 3.1 document |
//! | `GET /metrics` | Prometheus text format (meshd and libp2p metrics) |
//! | `GET /v1/status` | node status |
//! | `GET /v1/peers` | connected peers |
//! | `GET /v1/products` | search: `domain`, `domain_name`, `tag`, `classification`, `text`, `include_deprecated` |
//! | `GET /v1/products/{domain}/{name}` | one product (`?version=V` for a kept older one) |
//! | `GET /v1/products/{domain}/{name}/versions` | the versions this node keeps |
//! | `GET /v1/products/{domain}/{name}/providers` | who holds its bytes (DHT) |
//! | `POST /v1/uploads` | stream a file's bytes to the node (chunked or with a length); returns an upload id, size and BLAKE3 |
//! | `POST /v1/publish` | `{upload_id, draft, size?, blake3?}`: publish an upload as a product (refused if it is not what the client read) |
//! | `GET /v1/resolve` | `domain_name`, `name`: the ids of a product written `DOMAINNAME/name` |
//! | `POST /v1/own/{name}/withdraw` | withdraw one of this node's products: `{reason}` |
//! | `POST /v1/own/{name}/deprecate` | `{reason, successor?}` |
//! | `POST /v1/fetches`, `GET /v1/fetches` | start a fetch `{product, version?, output}`; list them |
//! | `GET /v1/fetches/{id}`, `DELETE /v1/fetches/{id}` | a fetch's progress; cancel it |
//! | `GET /v1/federation` | the federation: members, quorum, policies, evidence |
//! | `GET /v1/proposals`, `POST /v1/proposals` | open proposals with tallies; propose a change |
//! | `POST /v1/proposals/{id}/votes` | `{approve}`: vote as this node's domain |
//! | `GET /v1/compliance` | products against the federation's rules (`?product=`) |
//! | `GET /v1/access` | access requests and decisions (`?direction=incoming\|outgoing`, `?pending=true`) |
//! | `POST /v1/access/requests` | `{product, reason}`: ask an owner for access |
//! | `POST /v1/own/{name}/access` | `{domain, action: grant\|deny\|revoke, expires_at_ms?, reason?}` |
//! | `POST /v1/check` | `{product, version?}`: re-run the contract check on the verified copy this node holds |
//! | `GET /v1/preview` | `product`, `version?`, `rows?`: the first rows of the verified copy this node holds |
//! | `POST /v1/query` | `{sql, format?, limit?, output?, explain?, fetch?, id?, publish?}`: SQL over products; JSON rows, or streamed CSV, JSON Lines, Arrow IPC, a file, or a derived product |
//! | `GET /v1/queries`, `DELETE /v1/queries/{id}` | the running queries; cancel one |
//! | `GET /v1/products/{domain}/{name}/lineage` | the product's upstream and downstream graph across domains |
//! | `POST /v1/query/inputs` | `{sql}`: the products a statement reads and whether this node holds them |
//! | `GET /v1/disputes` | products whose signed profile their bytes contradict, with the evidence |

mod access;
pub mod client;
pub mod data;
mod error;
mod extract;
mod governance;
mod handlers;
mod lineage;
pub mod query;
use crate::schemas;
mod serve;
pub mod token;
mod ui;
mod uploads;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
pub use error::ApiError;
pub(crate) use schemas::ProductIdDoc;
use schemas::TokenAuth;
pub use serve::ApiLimits;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::fetch::FetchId;
use crate::node::FetchHandle;
use crate::node::NodeHandle;

/// Most fetch jobs the API remembers; the oldest finished ones go first.
const MAX_TRACKED_FETCHES: usize = 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    handle: NodeHandle,
    token: Arc<String>,
    uploads: Arc<uploads::Uploads>,
    fetches: Arc<Mutex<HashMap<FetchId, FetchHandle>>>,
    openapi: Arc<OnceLock<String>>,
    sessions: Arc<ui::session::Sessions>,
}

impl ApiState {
    /// State for a node with its data directory (token and upload space).
    pub fn new(handle: NodeHandle, data_dir: &Path) -> std::io::Result<Self> {
        let token = token::ensure(data_dir)?;
        let uploads = uploads::Uploads::open(data_dir)?;
        Ok(Self {
            handle,
            token: Arc::new(token),
            uploads: Arc::new(uploads),
            fetches: Arc::new(Mutex::new(HashMap::new())),
            openapi: Arc::new(OnceLock::new()),
            sessions: Arc::new(ui::session::Sessions::default()),
        })
    }

    /// Lists a fetch the API did not start (one resumed at start).
    pub fn track_fetch(&self, fetch: FetchHandle) {
        if let Ok(mut fetches) = self.fetches.lock() {
            fetches.insert(fetch.id, fetch);
        }
    }
}

/// The document's fixed parts; the paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "meshd local API",
        description = "The local API of a meshd node: status, products, publishing and fetching. Loopback only; every route but /health needs `Authorization: Bearer TOKEN` with the token from DATA_DIR/api.token. Errors are JSON `{code, message}`."
    ),
    modifiers(&TokenAuth),
    tags(
        (name = "node", description = "The node itself"),
        (name = "products", description = "The catalog"),
        (name = "publishing", description = "This domain's products"),
        (name = "fetching", description = "Fetch jobs"),
        (name = "governance", description = "The federation: proposals, votes, policies"),
        (name = "access", description = "Requests and grants for owner-granted products")
    )
)]
struct ApiDoc;

/// The API's routes and their OpenAPI document, built together.
pub fn routes() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    let guarded = OpenApiRouter::<ApiState>::new()
        .routes(routes!(handlers::openapi))
        .routes(routes!(handlers::metrics))
        .routes(routes!(handlers::status))
        .routes(routes!(handlers::peers))
        .routes(routes!(handlers::products))
        .routes(routes!(handlers::product))
        .routes(routes!(handlers::versions))
        .routes(routes!(handlers::providers))
        .routes(routes!(handlers::resolve))
        .routes(routes!(governance::federation))
        .routes(routes!(governance::proposals, governance::propose))
        .routes(routes!(governance::vote))
        .routes(routes!(governance::compliance))
        .routes(routes!(access::list))
        .routes(routes!(access::request))
        .routes(routes!(access::decide))
        .routes(routes!(uploads::upload))
        .routes(routes!(uploads::publish))
        .routes(routes!(handlers::withdraw))
        .routes(routes!(handlers::deprecate))
        .routes(routes!(handlers::start_fetch, handlers::list_fetches))
        .routes(routes!(handlers::fetch_progress, handlers::cancel_fetch))
        .routes(routes!(data::check))
        .routes(routes!(data::disputes))
        .routes(routes!(data::preview))
        .routes(routes!(query::query))
        .routes(routes!(query::inputs))
        .routes(routes!(query::running))
        .routes(routes!(query::cancel))
        .routes(routes!(lineage::lineage));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handlers::health))
        .merge(guarded)
        .split_for_parts()
}

/// The API's routes, with the token check on all but `/health`.
pub fn router(state: ApiState) -> Router {
    let (routes, doc) = routes();
    let _ = state.openapi.set(doc.to_json().unwrap_or_default());
    let guard = middleware::from_fn_with_state(state.clone(), require_token);
    routes
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; see /openapi.json",
            )
        })
        .route_layer(guard)
        .merge(ui::router(state.clone()))
        .fallback(fallback)
        .with_state(state)
}

/// An unknown path: the API's JSON 404 for a client with the token, a
/// page for a browser on the UI's paths, else the API's 401.
async fn fallback(State(state): State<ApiState>, request: Request) -> Response {
    if bearer_ok(&state, &request) {
        return ApiError::not_found("no such route").into_response();
    }
    if ui::is_ui_path(request.uri().path()) {
        return ui::not_found(&state, &request);
    }
    unauthorized()
}

async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/health" || bearer_ok(&state, &request) {
        next.run(request).await
    } else {
        unauthorized()
    }
}

fn bearer_ok(state: &ApiState, request: &Request) -> bool {
    request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token::matches(&state.token, token.trim()))
}

fn unauthorized() -> Response {
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or wrong API token; it is in DATA_DIR/api.token",
    )
    .into_response()
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

/// Serves the API until `shutdown` resolves, under `limits` (timeouts and
/// a connection cap; see [`ApiLimits`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    limits: ApiLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve(listener, router(state), &limits, shutdown).await
}
