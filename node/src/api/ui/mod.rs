//! The web UI: the mesh as a node sees it, in a browser, served at `/` of
//! the API's (loopback) address.
//!
//! A mesh has no centre to run a catalog web application from, so every
//! node serves its own view of the whole mesh: the catalog, each product
//! (descriptor, schema, profile, preview, versions, providers, compliance,
//! a fetch with live progress, a request for access), its lineage drawn as
//! SVG, the federation's governance with vote buttons, this domain's access
//! requests and grants, publishing a file, and the node itself.
//!
//! Pages are rendered on the server from the same `NodeHandle` calls the
//! JSON API makes (no second source of truth), with maud templates that
//! escape everything they interpolate; one small script (`assets/app.js`)
//! adds the live parts (fetch progress, providers, preview) and the pages
//! work without it. Assets are compiled into the binary: nothing to
//! install, no CDN, no build step.
//!
//! Sign-in, sessions and the cross-site request checks are in
//! [`session`]; every route here sits behind its guard. The JSON API's
//! bearer-token routes are unchanged beside it.

mod access;
mod catalog;
mod governance;
mod layout;
mod lineage;
mod node_page;
mod product;
mod product_actions;
mod publish;
pub(crate) mod session;

use axum::Router;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{ApiError, ApiState};
use crate::node::NodeError;

/// What the UI sends with every answer: scripts and styles only from this
/// node, no framing, no sniffing, no referrer to other sites, nothing
/// cached.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The UI's routes, each behind the session guard.
pub(super) fn router(state: ApiState) -> Router<ApiState> {
    let guard = middleware::from_fn_with_state(state, session::guard);
    Router::new()
        .route("/", get(catalog::page))
        .route("/signin", get(session::signin_page).post(session::signin))
        .route("/signout", post(session::signout))
        .route("/products/{domain}/{name}", get(product::page))
        .route("/products/{domain}/{name}/lineage", get(lineage::page))
        .route(
            "/products/{domain}/{name}/fetch",
            post(product_actions::fetch),
        )
        .route(
            "/products/{domain}/{name}/request",
            post(product_actions::request),
        )
        .route(
            "/products/{domain}/{name}/deprecate",
            post(product_actions::deprecate),
        )
        .route("/ui/fetches/{id}", get(product_actions::progress))
        .route(
            "/ui/products/{domain}/{name}/providers",
            get(product_actions::providers),
        )
        .route(
            "/ui/products/{domain}/{name}/preview",
            get(product_actions::preview),
        )
        .route("/governance", get(governance::page))
        .route("/governance/proposals", post(governance::propose))
        .route("/governance/proposals/{id}/vote", post(governance::vote))
        .route("/access", get(access::page))
        .route("/access/{name}/decide", post(access::decide))
        .route("/node", get(node_page::page))
        .route("/publish", get(publish::page).post(publish::publish))
        .route("/ui/uploads", post(publish::upload_bytes))
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
        .route_layer(guard)
        .layer(middleware::from_fn(headers))
}

/// Whether a path is the UI's rather than the JSON API's (for the shared
/// fallback: an unknown UI path gets a page, an unknown API path JSON).
pub(super) fn is_ui_path(path: &str) -> bool {
    !(path.starts_with("/v1/")
        || path == "/v1"
        || path == "/health"
        || path == "/metrics"
        || path == "/openapi.json")
}

/// The answer to an unknown UI path: the sign-in page for a stranger, a
/// 404 page for a signed-in user.
pub(super) fn not_found(s: &ApiState, request: &Request) -> Response {
    let signed_in = session::current(s, request.headers()).is_some();
    let response = if signed_in {
        layout::error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such page on this node.",
        )
    } else {
        layout::signin("/", None, StatusCode::UNAUTHORIZED)
    };
    with_headers(response)
}

async fn headers(request: Request, next: Next) -> Response {
    with_headers(next.run(request).await)
}

fn with_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // Not `no-referrer`: under it browsers send `Origin: null` on every
    // POST, even the node's own forms, and the origin check needs it.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn css() -> Response {
    asset(include_str!("assets/app.css"), "text/css; charset=utf-8")
}

async fn js() -> Response {
    asset(
        include_str!("assets/app.js"),
        "text/javascript; charset=utf-8",
    )
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [(CONTENT_TYPE, kind), (CACHE_CONTROL, "public, max-age=300")],
        body,
    )
        .into_response()
}

/// An error shown as a page: the status and message of the API's error
/// for the same failure.
pub(super) struct UiError(ApiError);

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<NodeError> for UiError {
    fn from(e: NodeError) -> Self {
        Self(e.into())
    }
}

impl From<crate::fetch::FetchError> for UiError {
    fn from(e: crate::fetch::FetchError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            s if s.is_client_error() => "Cannot do that",
            _ => "Something failed",
        };
        layout::error_page(status, title, self.0.message())
    }
}

/// A page's result.
pub(super) type Page = Result<Response, UiError>;

/// A federation-less node answers governance calls with this error; pages
/// show it as "no federation" rather than failing.
pub(super) fn no_federation(e: &NodeError) -> bool {
    matches!(
        e,
        NodeError::Governance(crate::governance::GovernanceError::NoFederation)
    )
}
