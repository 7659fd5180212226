//! Route handlers: HTTP in, [`NodeHandle`](crate::NodeHandle) calls, JSON out.
//!
//! Each handler carries its OpenAPI description (`#[utoipa::path]`); the
//! router registers handlers only through `utoipa_axum::routes!`, so the
//! document at `/openapi.json` lists exactly the routes the server answers.

use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use mesh_protocol::catalog::Query as CatalogQuery;
use mesh_protocol::{CatalogItem, ProductId, SignedDescriptor};
use serde::{Deserialize, Serialize};

use super::extract::{JsonPath, JsonQuery};
use super::{ApiError, ApiState, MAX_TRACKED_FETCHES};
use crate::fetch::{FetchProgress, FetchState};
use crate::node::Status;
use crate::peers::PeerInfo;
use crate::schemas::{CatalogItemDoc, ErrorDoc, SignedDescriptorDoc};

/// Liveness, and whether the node can write.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    /// `true` when the node is up and its store writes.
    ok: bool,
    /// `ok`, or `degraded` while the store cannot write.
    status: &'static str,
    /// Why the node is degraded, e.g. "no space left on device while
    /// writing the catalog".
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[utoipa::path(get, path = "/health", tag = "node", security(()),
    responses((status = 200, description = "The node is up and its store writes; no token needed", body = Health),
        (status = 503, description = "Degraded: the store cannot write (reason given); reads and serving go on", body = Health)))]
pub(super) async fn health(State(s): State<ApiState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    // Checking may reopen a degraded store: a blocking job.
    let handle = s.handle.clone();
    let reason = tokio::task::spawn_blocking(move || handle.store_degraded())
        .await
        .unwrap_or_else(|e| Some(format!("the health check failed: {e}")));
    let (code, status) = match reason {
        None => (axum::http::StatusCode::OK, "ok"),
        Some(_) => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "degraded"),
    };
    let ok = reason.is_none();
    (code, Json(Health { ok, status, reason })).into_response()
}

#[utoipa::path(get, path = "/openapi.json", tag = "node",
    responses((status = 200, description = "This document", content_type = "application/json"),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn openapi(State(s): State<ApiState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let doc = s.openapi.get().cloned().unwrap_or_default();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc,
    )
        .into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, description = "Prometheus text format: meshd_* and libp2p_* metrics",
        content_type = "application/openmetrics-text"), (status = 401, body = ErrorDoc)))]
pub(super) async fn metrics(State(s): State<ApiState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    // Reading the store's state may reopen a degraded store: a blocking job.
    let handle = s.handle.clone();
    let text = tokio::task::spawn_blocking(move || handle.metrics().encode())
        .await
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

pub(super) type ApiResult<T> = Result<Json<T>, ApiError>;

pub(super) fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    json.map(|Json(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

#[utoipa::path(get, path = "/v1/status", tag = "node",
    responses((status = 200, body = Status), (status = 401, body = ErrorDoc)))]
pub(super) async fn status(State(s): State<ApiState>) -> ApiResult<Status> {
    Ok(Json(s.handle.status().await?))
}

#[utoipa::path(get, path = "/v1/peers", tag = "node",
    responses((status = 200, description = "Connected peers", body = Vec<PeerInfo>),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn peers(State(s): State<ApiState>) -> ApiResult<Vec<PeerInfo>> {
    Ok(Json(s.handle.peers().await?))
}

/// Product search filters; all optional, all must match.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ProductQuery {
    /// Owning domain id (32 hex digits).
    domain: Option<String>,
    /// Owning domain name.
    domain_name: Option<String>,
    /// A tag the product carries.
    tag: Option<String>,
    /// A field classification the schema contains (public, internal,
    /// confidential, pii).
    classification: Option<String>,
    /// Words that must all appear in name, title, description or tags.
    text: Option<String>,
    /// Include deprecated products.
    #[serde(default)]
    include_deprecated: bool,
}

#[utoipa::path(get, path = "/v1/products", tag = "products", params(ProductQuery),
    responses((status = 200, description = "Matching products, current versions",
        body = Vec<SignedDescriptorDoc>), (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn products(
    State(s): State<ApiState>,
    JsonQuery(q): JsonQuery<ProductQuery>,
) -> ApiResult<Vec<SignedDescriptor>> {
    // `?tag=` means "any tag", not "the empty tag".
    let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let q = ProductQuery {
        domain: given(q.domain),
        domain_name: given(q.domain_name),
        tag: given(q.tag),
        classification: given(q.classification),
        text: given(q.text),
        include_deprecated: q.include_deprecated,
    };
    let query = CatalogQuery {
        domain: q
            .domain
            .map(|d| d.parse())
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("domain: {e}")))?,
        domain_name: q.domain_name,
        tag: q.tag,
        classification: q
            .classification
            .map(|c| c.parse())
            .transpose()
            .map_err(ApiError::bad_request)?,
        text: q.text,
        include_deprecated: q.include_deprecated,
    };
    Ok(Json(s.handle.query(query).await?))
}

pub(super) fn product_id(domain: &str, name: &str) -> Result<ProductId, ApiError> {
    format!("{domain}/{name}")
        .parse()
        .map_err(|e| ApiError::bad_request(format!("product id: {e}")))
}

pub(super) fn unknown_product(product: &ProductId) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "unknown_product",
        format!("unknown product {product}; list products with `mesh list`"),
    )
}

/// Which version of a product.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct VersionQuery {
    /// A version this node still keeps (default: the current one).
    version: Option<u64>,
}

#[utoipa::path(get, path = "/v1/products/{domain}/{name}", tag = "products",
    params(("domain" = String, Path, description = "Owning domain id"),
        ("name" = String, Path, description = "Product name"), VersionQuery),
    responses((status = 200, description = "The product's catalog item", body = CatalogItemDoc),
        (status = 404, description = "unknown_product or unknown_version", body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn product(
    State(s): State<ApiState>,
    JsonPath((domain, name)): JsonPath<(String, String)>,
    JsonQuery(q): JsonQuery<VersionQuery>,
) -> ApiResult<CatalogItem> {
    let product = product_id(&domain, &name)?;
    let Some(current) = s.handle.get(product.clone()).await? else {
        return Err(unknown_product(&product));
    };
    match q.version {
        None => Ok(Json(current)),
        Some(v) if v == current.version() => Ok(Json(current)),
        Some(v) => s
            .handle
            .versions(product.clone())
            .await?
            .into_iter()
            .find(|i| i.version() == v)
            .map(Json)
            .ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "unknown_version",
                    format!(
                        "{product} has no version {v} here (current: {}); see `mesh show {product}`",
                        current.version()
                    ),
                )
            }),
    }
}

#[utoipa::path(get, path = "/v1/products/{domain}/{name}/versions", tag = "products",
    params(("domain" = String, Path, description = "Owning domain id"),
        ("name" = String, Path, description = "Product name")),
    responses((status = 200, description = "Versions this node keeps, newest first", body = Vec<CatalogItemDoc>),
        (status = 404, body = ErrorDoc), (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn versions(
    State(s): State<ApiState>,
    JsonPath((domain, name)): JsonPath<(String, String)>,
) -> ApiResult<Vec<CatalogItem>> {
    let product = product_id(&domain, &name)?;
    let mut versions = s.handle.versions(product.clone()).await?;
    if versions.is_empty() {
        // Items taken in before history was kept still have a current one.
        match s.handle.get(product.clone()).await? {
            Some(current) => versions.push(current),
            None => return Err(unknown_product(&product)),
        }
    }
    Ok(Json(versions))
}

/// Who holds a product's bytes.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub(super) struct Providers {
    /// PeerIds announcing a verified copy of the current version.
    providers: Vec<String>,
}

#[utoipa::path(get, path = "/v1/products/{domain}/{name}/providers", tag = "products",
    params(("domain" = String, Path, description = "Owning domain id"),
        ("name" = String, Path, description = "Product name")),
    responses((status = 200, description = "Providers found in the DHT within a few seconds", body = Providers),
        (status = 404, body = ErrorDoc), (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn providers(
    State(s): State<ApiState>,
    JsonPath((domain, name)): JsonPath<(String, String)>,
) -> ApiResult<Providers> {
    let product = product_id(&domain, &name)?;
    if s.handle.get(product.clone()).await?.is_none() {
        return Err(unknown_product(&product));
    }
    Ok(Json(Providers {
        providers: s.handle.providers(product).await?,
    }))
}

/// A product written `DOMAINNAME/name`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ResolveQuery {
    /// The owning domain's name.
    domain_name: String,
    /// The product's name.
    name: String,
}

/// The products a `DOMAINNAME/name` may mean.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub(super) struct Resolved {
    /// `DOMAINID/name` of every known product (live, deprecated or
    /// withdrawn) with that name whose domain bears that name.
    products: Vec<String>,
}

#[utoipa::path(get, path = "/v1/resolve", tag = "products", params(ResolveQuery),
    responses((status = 200, body = Resolved), (status = 400, body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn resolve(
    State(s): State<ApiState>,
    JsonQuery(q): JsonQuery<ResolveQuery>,
) -> ApiResult<Resolved> {
    let products = s.handle.resolve(q.domain_name, q.name).await?;
    Ok(Json(Resolved {
        products: products.iter().map(ToString::to_string).collect(),
    }))
}

/// Why a product is withdrawn or deprecated.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct Reason {
    /// Shown to consumers.
    reason: String,
    /// Deprecation only: the product to use instead (`DOMAIN/name`).
    successor: Option<String>,
}

/// The version a change produced.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub(super) struct Version {
    /// The new version.
    version: u64,
}

#[utoipa::path(post, path = "/v1/own/{name}/withdraw", tag = "publishing",
    params(("name" = String, Path, description = "One of this node's products")),
    request_body = Reason,
    responses((status = 200, body = Version), (status = 404, body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 409, description = "catalog_refused", body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn withdraw(
    State(s): State<ApiState>,
    JsonPath(name): JsonPath<String>,
    json: Result<Json<Reason>, JsonRejection>,
) -> ApiResult<Version> {
    let r = body(json)?;
    Ok(Json(Version {
        version: s.handle.withdraw(&name, &r.reason).await?,
    }))
}

#[utoipa::path(post, path = "/v1/own/{name}/deprecate", tag = "publishing",
    params(("name" = String, Path, description = "One of this node's products")),
    request_body = Reason,
    responses((status = 200, body = Version), (status = 404, body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 409, description = "catalog_refused", body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn deprecate(
    State(s): State<ApiState>,
    JsonPath(name): JsonPath<String>,
    json: Result<Json<Reason>, JsonRejection>,
) -> ApiResult<Version> {
    let r = body(json)?;
    let successor = r
        .successor
        .map(|p| p.parse::<ProductId>())
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("successor: {e}")))?;
    Ok(Json(Version {
        version: s.handle.deprecate(&name, &r.reason, successor).await?,
    }))
}

/// Start a fetch.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct FetchRequest {
    /// `DOMAIN/name`.
    product: String,
    /// Must be the current version when given.
    version: Option<u64>,
    /// Absolute path on the node's machine for the verified file; without
    /// one the bytes go into the node's store only (for `mesh check` and
    /// later exports).
    #[schema(value_type = Option<String>)]
    output: Option<PathBuf>,
}

#[utoipa::path(post, path = "/v1/fetches", tag = "fetching", request_body = FetchRequest,
    responses((status = 200, description = "The job, already running", body = FetchProgress),
        (status = 404, description = "unknown_product or unknown_version", body = ErrorDoc),
        (status = 403, description = "denied", body = ErrorDoc),
        (status = 410, description = "withdrawn", body = ErrorDoc),
        (status = 502, description = "no_providers", body = ErrorDoc),
        (status = 503, description = "busy: too many fetches running", body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn start_fetch(
    State(s): State<ApiState>,
    json: Result<Json<FetchRequest>, JsonRejection>,
) -> ApiResult<FetchProgress> {
    let r = body(json)?;
    let product: ProductId = r
        .product
        .parse()
        .map_err(|e| ApiError::bad_request(format!("product id: {e}")))?;
    let output = r.output.unwrap_or_default();
    if !output.as_os_str().is_empty() && !output.is_absolute() {
        return Err(ApiError::bad_request("output must be an absolute path"));
    }
    let handle = s.handle.fetch(product, r.version, &output).await?;
    Ok(Json(track(&s, handle)?))
}

/// Remembers a fetch the API (or the UI) started, so its progress can be
/// asked for; returns its first progress.
pub(super) fn track(
    s: &ApiState,
    handle: crate::node::FetchHandle,
) -> Result<FetchProgress, ApiError> {
    let progress = handle.progress.borrow().clone();
    let mut fetches = s
        .fetches
        .lock()
        .map_err(|_| ApiError::internal("fetch table lock poisoned"))?;
    if fetches.len() >= MAX_TRACKED_FETCHES {
        // Forget the oldest finished jobs (a client still polling is most
        // likely watching a recent one).
        let mut finished: Vec<u64> = fetches
            .iter()
            .filter(|(_, f)| {
                matches!(
                    f.progress.borrow().state,
                    FetchState::Done | FetchState::Failed | FetchState::Cancelled
                )
            })
            .map(|(id, _)| *id)
            .collect();
        finished.sort_unstable();
        let excess = fetches.len() + 1 - MAX_TRACKED_FETCHES;
        for id in finished.into_iter().take(excess) {
            fetches.remove(&id);
        }
        if fetches.len() >= MAX_TRACKED_FETCHES {
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("{MAX_TRACKED_FETCHES} fetches are running; wait for one to end"),
            ));
        }
    }
    fetches.insert(handle.id, handle);
    Ok(progress)
}

#[utoipa::path(get, path = "/v1/fetches", tag = "fetching",
    responses((status = 200, description = "Fetch jobs this API started", body = Vec<FetchProgress>),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn list_fetches(State(s): State<ApiState>) -> ApiResult<Vec<FetchProgress>> {
    let fetches = s
        .fetches
        .lock()
        .map_err(|_| ApiError::internal("fetch table lock poisoned"))?;
    let mut all: Vec<FetchProgress> = fetches
        .values()
        .map(|f| f.progress.borrow().clone())
        .collect();
    all.sort_by_key(|p| p.id);
    Ok(Json(all))
}

#[utoipa::path(get, path = "/v1/fetches/{id}", tag = "fetching",
    params(("id" = u64, Path, description = "Fetch job id")),
    responses((status = 200, body = FetchProgress), (status = 404, body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn fetch_progress(
    State(s): State<ApiState>,
    JsonPath(id): JsonPath<u64>,
) -> ApiResult<FetchProgress> {
    let fetches = s
        .fetches
        .lock()
        .map_err(|_| ApiError::internal("fetch table lock poisoned"))?;
    match fetches.get(&id) {
        Some(f) => Ok(Json(f.progress.borrow().clone())),
        None => Err(ApiError::not_found(format!("no fetch {id}"))),
    }
}

#[utoipa::path(delete, path = "/v1/fetches/{id}", tag = "fetching",
    params(("id" = u64, Path, description = "Fetch job id")),
    responses((status = 200, description = "The job's last progress", body = FetchProgress),
        (status = 404, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn cancel_fetch(
    State(s): State<ApiState>,
    JsonPath(id): JsonPath<u64>,
) -> ApiResult<FetchProgress> {
    let commands = {
        let fetches = s
            .fetches
            .lock()
            .map_err(|_| ApiError::internal("fetch table lock poisoned"))?;
        match fetches.get(&id) {
            Some(f) => (f.canceller(), f.progress.clone()),
            None => return Err(ApiError::not_found(format!("no fetch {id}"))),
        }
    };
    let (cancel, mut progress) = commands;
    cancel.await;
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        progress.wait_for(|p| p.state != FetchState::Fetching && p.state != FetchState::Finding),
    )
    .await;
    let last = progress.borrow().clone();
    Ok(Json(last))
}
