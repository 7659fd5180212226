//! What a product's page does: the actions its forms post (fetch, request
//! access, deprecate) and the JSON its script loads after the page (a
//! fetch's progress, the providers, the preview).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use mesh_protocol::ProductId;
use serde::Deserialize;

use super::Page;
use super::layout;
use super::product::{PREVIEW_ROWS, product_id};
use crate::api::handlers::track;
use crate::api::{ApiError, ApiState};

/// The fetch form.
#[derive(Deserialize)]
pub(super) struct FetchForm {
    #[serde(default)]
    output: String,
}

/// `POST /products/{domain}/{name}/fetch`: starts a fetch, back to the
/// page, where its progress moves.
pub(super) async fn fetch(
    State(s): State<ApiState>,
    Path((domain, name)): Path<(String, String)>,
    Form(form): Form<FetchForm>,
) -> Page {
    let id = product_id(&domain, &name)?;
    let output = std::path::PathBuf::from(form.output.trim());
    if !output.as_os_str().is_empty() && !output.is_absolute() {
        return Err(ApiError::bad_request(
            "The copy's path must be absolute (it is a path on the node's machine).",
        )
        .into());
    }
    let job = s.handle.fetch(id.clone(), None, &output).await?;
    let progress = track(&s, job)?;
    Ok(Redirect::to(&format!("/products/{id}#fetch-{}", progress.id)).into_response())
}

/// The access request form.
#[derive(Deserialize)]
pub(super) struct RequestForm {
    reason: String,
}

/// `POST /products/{domain}/{name}/request`.
pub(super) async fn request(
    State(s): State<ApiState>,
    Path((domain, name)): Path<(String, String)>,
    Form(form): Form<RequestForm>,
) -> Page {
    let id = product_id(&domain, &name)?;
    s.handle.request_access(id, form.reason).await?;
    Ok(Redirect::to("/access#outgoing").into_response())
}

/// The deprecation form.
#[derive(Deserialize)]
pub(super) struct DeprecateForm {
    reason: String,
    #[serde(default)]
    successor: String,
}

/// `POST /products/{domain}/{name}/deprecate` (this domain's products).
pub(super) async fn deprecate(
    State(s): State<ApiState>,
    Path((domain, name)): Path<(String, String)>,
    Form(form): Form<DeprecateForm>,
) -> Page {
    let id = product_id(&domain, &name)?;
    if id.domain != s.handle.domain() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_owner",
            "Only the owning domain's node can deprecate a product.",
        )
        .into());
    }
    let successor = Some(form.successor.trim())
        .filter(|t| !t.is_empty())
        .map(str::parse::<ProductId>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("successor: {e}")))?;
    s.handle
        .deprecate(&id.name, &form.reason, successor)
        .await?;
    Ok(Redirect::to(&layout::product_href(&id.to_string())).into_response())
}

/// `GET /ui/fetches/{id}`: a fetch's progress, for the page's script.
pub(super) async fn progress(State(s): State<ApiState>, Path(id): Path<u64>) -> Response {
    let found = s
        .fetches
        .lock()
        .ok()
        .and_then(|f| f.get(&id).map(|f| f.progress.borrow().clone()));
    match found {
        Some(p) => Json(p).into_response(),
        None => (StatusCode::NOT_FOUND, "no such fetch").into_response(),
    }
}

/// `GET /ui/products/{domain}/{name}/providers`.
pub(super) async fn providers(
    State(s): State<ApiState>,
    Path((domain, name)): Path<(String, String)>,
) -> Response {
    let Ok(id) = product_id(&domain, &name) else {
        return (StatusCode::NOT_FOUND, "unknown product").into_response();
    };
    match s.handle.providers(id).await {
        Ok(list) => Json(serde_json::json!({ "providers": list })).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `GET /ui/products/{domain}/{name}/preview`: the first rows as JSON, or
/// `{error}` with the API's status.
pub(super) async fn preview(
    State(s): State<ApiState>,
    Path((domain, name)): Path<(String, String)>,
) -> Response {
    let Ok(id) = product_id(&domain, &name) else {
        return (StatusCode::NOT_FOUND, "unknown product").into_response();
    };
    match s.handle.preview(id, None, PREVIEW_ROWS).await {
        Ok(shown) => Json(serde_json::json!({
            "version": shown.version,
            "columns": shown.preview.columns,
            "rows": shown.preview.rows,
            "held": shown.held,
            "chunks_held": shown.chunks_held,
            "chunks_total": shown.chunks_total,
        }))
        .into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            (
                e.status(),
                Json(serde_json::json!({ "error": e.message() })),
            )
                .into_response()
        }
    }
}
