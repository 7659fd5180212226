//! Governance routes: the federation, proposals, votes and compliance.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use mesh_protocol::governance::{Change, Member, ProposalId};
use mesh_protocol::{DomainPublicKey, ProductId};
use serde::Deserialize;

use super::extract::{JsonPath, JsonQuery};
use super::handlers::{ApiResult, body};
use super::{ApiError, ApiState};
use crate::governance::VoteReceipt;
use crate::governance::{Compliance, FederationView, ProposalView};
use crate::schemas::ErrorDoc;

/// How long a proposal stays open by default: seven days.
const DEFAULT_TTL_SECS: u64 = 7 * 24 * 3600;

#[utoipa::path(get, path = "/v1/federation", tag = "governance",
    responses((status = 200, body = FederationView),
        (status = 409, description = "no_federation", body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn federation(State(s): State<ApiState>) -> ApiResult<FederationView> {
    Ok(Json(s.handle.federation().await?))
}

#[utoipa::path(get, path = "/v1/proposals", tag = "governance",
    responses((status = 200, description = "Open proposals with tallies", body = Vec<ProposalView>),
        (status = 409, description = "no_federation", body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn proposals(State(s): State<ApiState>) -> ApiResult<Vec<ProposalView>> {
    Ok(Json(s.handle.proposals().await?))
}

/// One change to propose.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum ChangeSpec {
    /// A policy rule, e.g. `require-owner` or `max-retention-days=365`.
    AddPolicy(String),
    /// A policy rule in force.
    RemovePolicy(String),
    /// A domain to admit.
    AddMember {
        /// Its name.
        name: String,
        /// Its public key (hex, from its `domain.json` or `mesh status`).
        key: String,
    },
    /// A member to remove: its domain id or name.
    RemoveMember(String),
    /// A quorum rule, e.g. `2/3` (more than two thirds).
    SetQuorum(String),
}

/// A proposal to make.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ProposeRequest {
    /// The change.
    change: ChangeSpec,
    /// Why (shown to voters).
    reason: String,
    /// Seconds until votes stop counting (default seven days).
    expires_in_secs: Option<u64>,
}

async fn change(s: &ApiState, spec: ChangeSpec) -> Result<Change, ApiError> {
    let bad = |e: String| ApiError::bad_request(e);
    Ok(match spec {
        ChangeSpec::AddPolicy(rule) => {
            Change::AddPolicy(rule.parse().map_err(|e| bad(format!("{e}")))?)
        }
        ChangeSpec::RemovePolicy(rule) => {
            Change::RemovePolicy(rule.parse().map_err(|e| bad(format!("{e}")))?)
        }
        ChangeSpec::AddMember { name, key } => Change::AddMember(Member {
            name,
            key: key
                .parse::<DomainPublicKey>()
                .map_err(|e| bad(format!("key: {e}")))?,
        }),
        ChangeSpec::RemoveMember(who) => {
            let view = s.handle.federation().await?;
            let member = view
                .members
                .iter()
                .find(|m| m.domain_id == who || m.name == who)
                .ok_or_else(|| bad(format!("{who} is not a member; see `mesh federation show`")))?;
            Change::RemoveMember(
                member
                    .domain_id
                    .parse()
                    .map_err(|e| bad(format!("member id: {e}")))?,
            )
        }
        ChangeSpec::SetQuorum(q) => Change::SetQuorum(q.parse().map_err(|e| bad(format!("{e}")))?),
    })
}

#[utoipa::path(post, path = "/v1/proposals", tag = "governance", request_body = ProposeRequest,
    responses((status = 200, body = ProposalView),
        (status = 400, description = "bad_request or invalid_proposal", body = ErrorDoc),
        (status = 403, description = "not_member", body = ErrorDoc),
        (status = 409, description = "no_federation", body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn propose(
    State(s): State<ApiState>,
    json: Result<Json<ProposeRequest>, JsonRejection>,
) -> ApiResult<ProposalView> {
    let r = body(json)?;
    let change = change(&s, r.change).await?;
    let ttl = r.expires_in_secs.unwrap_or(DEFAULT_TTL_SECS);
    let ttl_ms = ttl.saturating_mul(1000);
    Ok(Json(s.handle.propose(change, r.reason, ttl_ms).await?))
}

/// A vote: a member's approval or rejection, with its reason.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct VoteRequest {
    /// Approve (true) or reject (false).
    approve: bool,
    /// Why (at most 1024 bytes; shown to every member).
    #[serde(default)]
    reason: String,
}

#[utoipa::path(post, path = "/v1/proposals/{id}/votes", tag = "governance",
    params(("id" = String, Path, description = "Proposal id (64 hex digits)")),
    request_body = VoteRequest,
    responses((status = 200, body = VoteReceipt),
        (status = 404, description = "unknown_proposal", body = ErrorDoc),
        (status = 403, description = "not_member", body = ErrorDoc),
        (status = 409, description = "vote_refused: this domain already voted on the proposal; expired: its voting time is over", body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn vote(
    State(s): State<ApiState>,
    JsonPath(id): JsonPath<String>,
    json: Result<Json<VoteRequest>, JsonRejection>,
) -> ApiResult<VoteReceipt> {
    let r = body(json)?;
    let id: ProposalId = id
        .parse()
        .map_err(|e| ApiError::bad_request(format!("proposal id: {e}")))?;
    if r.reason.len() > mesh_protocol::governance::MAX_VOTE_REASON {
        return Err(ApiError::bad_request(format!(
            "reason longer than {} bytes",
            mesh_protocol::governance::MAX_VOTE_REASON
        )));
    }
    Ok(Json(s.handle.vote(id, r.approve, r.reason).await?))
}

/// Which products to check.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ComplianceQuery {
    /// One product (`DOMAINID/name`); every product when absent.
    product: Option<String>,
}

#[utoipa::path(get, path = "/v1/compliance", tag = "governance", params(ComplianceQuery),
    responses((status = 200, description = "Each product's standing against the federation's rules", body = Vec<Compliance>),
        (status = 409, description = "no_federation", body = ErrorDoc),
        (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc)))]
pub(super) async fn compliance(
    State(s): State<ApiState>,
    JsonQuery(q): JsonQuery<ComplianceQuery>,
) -> ApiResult<Vec<Compliance>> {
    let products = q
        .product
        .map(|p| p.parse::<ProductId>())
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("product: {e}")))?
        .map(|p| vec![p]);
    Ok(Json(s.handle.compliance(products).await?))
}
