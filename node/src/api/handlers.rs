//! Route handlers: HTTP in, [`NodeHandle`](crate::NodeHandle) calls, JSON out.

use std::path::PathBuf;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use futures::StreamExt;
use mesh_protocol::catalog::Query as CatalogQuery;
use mesh_protocol::{CatalogItem, ProductId, SignedDescriptor};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::{ApiError, ApiState, MAX_TRACKED_FETCHES};
use crate::draft::ProductDraft;
use crate::fetch::{FetchProgress, FetchState};
use crate::node::{PublishReceipt, Status};

type ApiResult<T> = Result<Json<T>, ApiError>;

fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    json.map(|Json(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

pub(super) async fn status(State(s): State<ApiState>) -> ApiResult<Status> {
    Ok(Json(s.handle.status().await?))
}

#[derive(Deserialize)]
pub(super) struct ProductQuery {
    domain: Option<String>,
    domain_name: Option<String>,
    tag: Option<String>,
    classification: Option<String>,
    text: Option<String>,
    #[serde(default)]
    include_deprecated: bool,
}

pub(super) async fn products(
    State(s): State<ApiState>,
    Query(q): Query<ProductQuery>,
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

pub(super) async fn product(
    State(s): State<ApiState>,
    Path((domain, name)): Path<(String, String)>,
) -> ApiResult<CatalogItem> {
    let product: ProductId = format!("{domain}/{name}")
        .parse()
        .map_err(|e| ApiError::bad_request(format!("product id: {e}")))?;
    match s.handle.get(product.clone()).await? {
        Some(item) => Ok(Json(item)),
        None => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "unknown_product",
            format!("unknown product {product}; list products with `mesh list`"),
        )),
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct Uploaded {
    upload_id: String,
    size: u64,
}

pub(super) async fn upload(State(s): State<ApiState>, body_in: Body) -> ApiResult<Uploaded> {
    let id = mesh_protocol::bytes::to_hex(&rand::random::<[u8; 16]>());
    let partial = s.uploads.join(format!("{id}.part"));
    let local = |e: std::io::Error| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "local",
            e.to_string(),
        )
    };
    let mut file = tokio::fs::File::create(&partial).await.map_err(local)?;
    let mut stream = body_in.into_data_stream();
    let mut size = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = match piece {
            Ok(p) => p,
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(ApiError::bad_request(format!("upload interrupted: {e}")));
            }
        };
        size += piece.len() as u64;
        file.write_all(&piece).await.map_err(local)?;
    }
    file.flush().await.map_err(local)?;
    tokio::fs::rename(&partial, s.uploads.join(&id))
        .await
        .map_err(local)?;
    Ok(Json(Uploaded {
        upload_id: id,
        size,
    }))
}

#[derive(Deserialize)]
pub(super) struct PublishRequest {
    upload_id: String,
    draft: ProductDraft,
}

pub(super) async fn publish(
    State(s): State<ApiState>,
    json: Result<Json<PublishRequest>, JsonRejection>,
) -> ApiResult<PublishReceipt> {
    let request = body(json)?;
    if request.upload_id.len() != 32 || !request.upload_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request("upload_id is not an upload id"));
    }
    let path: PathBuf = s.uploads.join(&request.upload_id);
    if !path.is_file() {
        return Err(ApiError::not_found(
            "no such upload; POST the bytes to /v1/uploads first",
        ));
    }
    let result = s.handle.publish(&path, request.draft).await;
    let _ = tokio::fs::remove_file(&path).await;
    Ok(Json(result?))
}

#[derive(Deserialize)]
pub(super) struct Reason {
    reason: String,
    successor: Option<String>,
}

#[derive(Serialize)]
pub(super) struct Version {
    version: u64,
}

pub(super) async fn withdraw(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    json: Result<Json<Reason>, JsonRejection>,
) -> ApiResult<Version> {
    let r = body(json)?;
    Ok(Json(Version {
        version: s.handle.withdraw(&name, &r.reason).await?,
    }))
}

pub(super) async fn deprecate(
    State(s): State<ApiState>,
    Path(name): Path<String>,
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

#[derive(Deserialize)]
pub(super) struct FetchRequest {
    product: String,
    version: Option<u64>,
    output: PathBuf,
}

pub(super) async fn start_fetch(
    State(s): State<ApiState>,
    json: Result<Json<FetchRequest>, JsonRejection>,
) -> ApiResult<FetchProgress> {
    let r = body(json)?;
    let product: ProductId = r
        .product
        .parse()
        .map_err(|e| ApiError::bad_request(format!("product id: {e}")))?;
    if !r.output.is_absolute() {
        return Err(ApiError::bad_request("output must be an absolute path"));
    }
    let handle = s.handle.fetch(product, r.version, &r.output).await?;
    let progress = handle.progress.borrow().clone();
    let mut fetches = s
        .fetches
        .lock()
        .map_err(|_| ApiError::bad_request("poisoned"))?;
    if fetches.len() >= MAX_TRACKED_FETCHES {
        fetches.retain(|_, f| {
            !matches!(
                f.progress.borrow().state,
                FetchState::Done | FetchState::Failed | FetchState::Cancelled
            )
        });
    }
    fetches.insert(handle.id, handle);
    Ok(Json(progress))
}

pub(super) async fn fetch_progress(
    State(s): State<ApiState>,
    Path(id): Path<u64>,
) -> ApiResult<FetchProgress> {
    let fetches = s
        .fetches
        .lock()
        .map_err(|_| ApiError::bad_request("poisoned"))?;
    match fetches.get(&id) {
        Some(f) => Ok(Json(f.progress.borrow().clone())),
        None => Err(ApiError::not_found(format!("no fetch {id}"))),
    }
}

pub(super) async fn cancel_fetch(
    State(s): State<ApiState>,
    Path(id): Path<u64>,
) -> ApiResult<FetchProgress> {
    let commands = {
        let fetches = s
            .fetches
            .lock()
            .map_err(|_| ApiError::bad_request("poisoned"))?;
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
