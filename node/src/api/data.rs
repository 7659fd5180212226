//! Data routes: the contract check re-run on the node's verified copy, and
//! the profile disputes the node keeps evidence of.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use mesh_protocol::ProductId;
use serde::{Deserialize, Serialize};

use super::extract::JsonQuery;
use super::handlers::{ApiResult, body};
use super::{ApiError, ApiState};
use crate::profiling::CheckReport;
use crate::schemas::ErrorDoc;

/// A product to check.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct CheckRequest {
    /// `DOMAIN/name`.
    product: String,
    /// A version the node keeps (default: the newest).
    version: Option<u64>,
}

#[utoipa::path(post, path = "/v1/check", tag = "data", request_body = CheckRequest,
    responses((status = 200, description = "The verdict with every violation, and how the profile computed here compares with the signed one", body = CheckReport),
        (status = 404, description = "unknown_product", body = ErrorDoc),
        (status = 409, description = "not_held: fetch the product first", body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn check(
    State(s): State<ApiState>,
    json: Result<Json<CheckRequest>, JsonRejection>,
) -> ApiResult<CheckReport> {
    let r = body(json)?;
    let product: ProductId = r
        .product
        .parse()
        .map_err(|e| ApiError::bad_request(format!("product: {e}")))?;
    Ok(Json(s.handle.check(product, r.version).await?))
}

/// A product whose signed profile its bytes contradict.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct DisputeView {
    /// The product.
    #[schema(value_type = crate::api::ProductIdDoc)]
    pub product: ProductId,
    /// The version.
    pub version: u64,
    /// The profile the owner signed.
    #[schema(value_type = Object)]
    pub signed: Option<mesh_protocol::profile::Profile>,
    /// The profile the bytes give.
    #[schema(value_type = Object)]
    pub recomputed: mesh_protocol::profile::Profile,
    /// The signed descriptor, hex of its canonical encoding: anyone holding
    /// the bytes can re-derive the profile and verify the signature.
    pub evidence: String,
}

#[utoipa::path(get, path = "/v1/disputes", tag = "data",
    responses((status = 200, description = "Every profile dispute this node keeps evidence of", body = Vec<DisputeView>),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn disputes(State(s): State<ApiState>) -> ApiResult<Vec<DisputeView>> {
    let views = s
        .handle
        .profile_disputes()
        .into_iter()
        .map(|d| DisputeView {
            product: d.signed.value.id.clone(),
            version: d.signed.value.version,
            signed: d.signed.value.profile.clone(),
            recomputed: d.recomputed,
            evidence: mesh_protocol::bytes::to_hex(&mesh_protocol::encoding::to_bytes(&d.signed)),
        })
        .collect();
    Ok(Json(views))
}

/// Which rows to preview.
#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct PreviewQuery {
    /// `DOMAIN/name`.
    product: String,
    /// A version the node keeps (default: the newest).
    version: Option<u64>,
    /// How many rows (default 10, at most 1000).
    rows: Option<usize>,
}

/// The first rows of a product.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewView {
    /// The product.
    #[schema(value_type = crate::api::ProductIdDoc)]
    pub product: ProductId,
    /// The version read.
    pub version: u64,
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// Rows of cells as text (`null` for a null).
    pub rows: Vec<Vec<Option<String>>>,
    /// Whether the node holds the whole product; when not, the rows came
    /// from the few chunks fetched for them.
    pub held: bool,
    /// Chunks of the product the node holds (all when `held`).
    pub chunks_held: u32,
    /// Chunks the product has.
    pub chunks_total: u32,
}

#[utoipa::path(get, path = "/v1/preview", tag = "data", params(PreviewQuery),
    responses((status = 200, description = "The first rows: from the copy this node holds, or from only the chunks they need, fetched and verified", body = PreviewView),
        (status = 404, description = "unknown_product", body = ErrorDoc),
        (status = 403, description = "denied: the providers refuse access", body = ErrorDoc),
        (status = 413, description = "too_large: the rows need more chunks than a preview fetches", body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn preview(
    State(s): State<ApiState>,
    JsonQuery(q): JsonQuery<PreviewQuery>,
) -> ApiResult<PreviewView> {
    let product: ProductId = q
        .product
        .parse()
        .map_err(|e| ApiError::bad_request(format!("product: {e}")))?;
    let rows = q.rows.unwrap_or(10);
    if rows == 0 || rows > mesh_data::preview::MAX_PREVIEW_ROWS {
        return Err(ApiError::bad_request(format!(
            "rows must be between 1 and {}",
            mesh_data::preview::MAX_PREVIEW_ROWS
        )));
    }
    let shown = s.handle.preview(product.clone(), q.version, rows).await?;
    Ok(Json(PreviewView {
        product,
        version: shown.version,
        columns: shown.preview.columns,
        rows: shown.preview.rows,
        held: shown.held,
        chunks_held: shown.chunks_held,
        chunks_total: shown.chunks_total,
    }))
}
