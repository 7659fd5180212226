//! Access routes: requests for owner-granted products, and the owner's
//! grants, denials and revocations.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use mesh_protocol::access::Verdict;
use mesh_protocol::{ProductId, Timestamp};
use serde::Deserialize;

use super::extract::{JsonPath, JsonQuery};
use super::handlers::{ApiResult, body};
use super::{ApiError, ApiState};
use crate::access::{AccessView, Direction};
use crate::schemas::ErrorDoc;

/// Which records to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AccessQuery {
    /// `incoming` (about this domain's products), `outgoing` (this
    /// domain's requests and grants), or both when absent.
    direction: Option<String>,
    /// Only requests still waiting for an answer.
    #[serde(default)]
    pending: bool,
}

#[utoipa::path(get, path = "/v1/access", tag = "access", params(AccessQuery),
    responses((status = 200, description = "Access requests and decisions this domain is part of", body = Vec<AccessView>),
        (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn list(
    State(s): State<ApiState>,
    JsonQuery(q): JsonQuery<AccessQuery>,
) -> ApiResult<Vec<AccessView>> {
    let wanted: &[Direction] = match q.direction.as_deref() {
        None => &[Direction::Incoming, Direction::Outgoing],
        Some("incoming") => &[Direction::Incoming],
        Some("outgoing") => &[Direction::Outgoing],
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "direction {other:?}: use incoming or outgoing"
            )));
        }
    };
    let views = s.handle.access().await?;
    Ok(Json(
        views
            .into_iter()
            .filter(|v| wanted.contains(&v.direction))
            .filter(|v| !q.pending || v.state == "requested")
            .collect(),
    ))
}

/// A request for access to another domain's product.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct AccessRequestBody {
    /// The product, `DOMAINID/name`.
    product: String,
    /// Why this domain needs it (shown to the owner; at most 512 bytes).
    reason: String,
}

#[utoipa::path(post, path = "/v1/access/requests", tag = "access", request_body = AccessRequestBody,
    responses((status = 200, description = "The request, signed and sent to the owner", body = AccessView),
        (status = 404, description = "unknown_product", body = ErrorDoc),
        (status = 409, description = "no_grant_needed", body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn request(
    State(s): State<ApiState>,
    json: Result<Json<AccessRequestBody>, JsonRejection>,
) -> ApiResult<AccessView> {
    let r = body(json)?;
    let product: ProductId = r
        .product
        .parse()
        .map_err(|e| ApiError::bad_request(format!("product: {e}")))?;
    Ok(Json(s.handle.request_access(product, r.reason).await?))
}

/// A decision on a domain's access to one of this domain's products.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct DecisionBody {
    /// The domain: its id, or its name.
    domain: String,
    /// `grant`, `deny` or `revoke`.
    action: String,
    /// For `grant`: when it ends (ms since the epoch); never when absent.
    expires_at_ms: Option<u64>,
    /// For `deny`: why (shown to the requester).
    reason: Option<String>,
}

#[utoipa::path(post, path = "/v1/own/{name}/access", tag = "access",
    params(("name" = String, Path, description = "This domain's product")),
    request_body = DecisionBody,
    responses((status = 200, description = "The decision, signed and gossiped", body = AccessView),
        (status = 404, description = "unknown_product or unknown_domain", body = ErrorDoc),
        (status = 409, description = "no_grant_needed, not_granted or ambiguous_domain", body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn decide(
    State(s): State<ApiState>,
    JsonPath(name): JsonPath<String>,
    json: Result<Json<DecisionBody>, JsonRejection>,
) -> ApiResult<AccessView> {
    let r = body(json)?;
    let verdict = match r.action.as_str() {
        "grant" => Verdict::Granted {
            expires: r.expires_at_ms.map(Timestamp),
        },
        "deny" => Verdict::Denied {
            reason: r.reason.unwrap_or_default(),
        },
        "revoke" => Verdict::Revoked,
        other => {
            return Err(ApiError::bad_request(format!(
                "action {other:?}: use grant, deny or revoke"
            )));
        }
    };
    Ok(Json(s.handle.decide_access(name, r.domain, verdict).await?))
}
