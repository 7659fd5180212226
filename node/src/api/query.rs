//! `POST /v1/query`: SQL over the products this node may read, answered as
//! JSON rows (with a row limit), streamed as CSV, JSON Lines or Arrow IPC,
//! written to a file, or published as a derived product;
//! `POST /v1/query/inputs`, the products a statement reads and whether
//! this node holds them; `GET /v1/queries` and `DELETE /v1/queries/{id}`,
//! the running queries and cancelling one.
//!
//! A client that goes away cancels its query: the response body owns the
//! running query, and dropping it stops the engine and removes its spill
//! files. A client that names its query (`id`) can also cancel it from
//! elsewhere, which is what `mesh query` does on Ctrl-C.

use std::path::PathBuf;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mesh_query::{Encoder, QueryError, ResultFormat, json_rows};
use serde::{Deserialize, Serialize};

use super::extract::JsonPath;
use super::handlers::body;
use super::{ApiError, ApiState};
use crate::draft::ProductDraft;
use crate::node::PublishReceipt;
use crate::querying::{RunningQuery, SqlError, SqlInput, SqlRows};
use crate::schemas::{ErrorDoc, ProductDraftDoc};

/// Rows a JSON answer holds when the request names no limit.
const DEFAULT_JSON_ROWS: u64 = 1_000;
/// The most rows a JSON answer holds.
const MAX_JSON_ROWS: u64 = 100_000;

/// A query.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct QueryRequest {
    /// One SQL statement; tables are `domain.product` or
    /// `domain.product@VERSION`.
    sql: String,
    /// `json` (rows in the answer, the default), `csv`, `jsonl` or `arrow`
    /// (the result streamed as the body).
    format: Option<String>,
    /// At most this many rows (JSON: default 1000, at most 100000).
    limit: Option<u64>,
    /// An absolute path to write the result to (`.parquet`, `.csv`,
    /// `.jsonl`, `.arrow`) instead of answering it.
    #[schema(value_type = Option<String>)]
    output: Option<PathBuf>,
    /// Answer the plan and the products it reads instead of running it.
    #[serde(default)]
    explain: bool,
    /// Fetch the inputs this node does not hold (default true); when
    /// false, such a query is refused with `not_held`.
    fetch: Option<bool>,
    /// The id to run under (1 to 64 letters, digits, `-`, `_`), so the
    /// client can cancel it with `DELETE /v1/queries/{id}`; default: one
    /// the node picks.
    id: Option<String>,
    /// Publish the result as a new version of this product of this
    /// domain (format parquet or arrow). Its schema, classifications,
    /// lineage and the query text come from the plan: a draft that types
    /// a schema or a lineage is refused.
    #[schema(value_type = Option<ProductDraftDoc>)]
    publish: Option<ProductDraft>,
}

/// One column of a result.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ColumnView {
    /// Its name.
    pub name: String,
    /// Its Arrow type.
    pub data_type: String,
    /// The strictest classification of the input columns it is computed
    /// from.
    pub classification: Option<String>,
    /// Those input columns, `domain.product@version.column`.
    pub sources: Vec<String>,
}

/// A query's answer.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueryAnswer {
    /// The result's columns.
    pub columns: Vec<ColumnView>,
    /// Rows, each an array of values in column order.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Whether the result had more rows than `limit`.
    pub truncated: bool,
    /// Rows written to `output`, when one was named.
    pub rows_written: Option<u64>,
    /// The products read.
    pub inputs: Vec<SqlInput>,
    /// What a reader of the result should know (inputs that break their
    /// contract).
    pub notes: Vec<String>,
    /// The plan (`explain` only).
    pub plan: Option<String>,
    /// The product version published from the result (`publish` only).
    pub published: Option<PublishReceipt>,
}

/// A statement.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct InputsRequest {
    sql: String,
}

/// The products a statement reads.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct InputsAnswer {
    /// One per table.
    pub inputs: Vec<SqlInput>,
}

impl From<SqlError> for ApiError {
    fn from(e: SqlError) -> Self {
        let message = e.to_string();
        match e {
            SqlError::Query(QueryError::User(_)) => {
                Self::new(StatusCode::BAD_REQUEST, "bad_query", message)
            }
            SqlError::Query(QueryError::OutOfMemory(_)) => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "out_of_memory_budget",
                message,
            ),
            SqlError::Query(QueryError::Cancelled) => Self::new(
                StatusCode::CONFLICT,
                "cancelled",
                "the query was cancelled; its temporary files are removed",
            ),
            SqlError::Query(QueryError::Failed(_)) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "query_failed", message)
            }
            SqlError::UnknownTable { .. } => {
                Self::new(StatusCode::NOT_FOUND, "unknown_table", message)
            }
            SqlError::Ambiguous { .. } => {
                Self::new(StatusCode::CONFLICT, "ambiguous_domain", message)
            }
            SqlError::Fetch(f) => f.into(),
            SqlError::Node(n) => n.into(),
        }
    }
}

#[utoipa::path(post, path = "/v1/query/inputs", tag = "data", request_body = InputsRequest,
    responses((status = 200, description = "Each table of the statement, the product and version it reads, and whether this node holds it", body = InputsAnswer),
        (status = 400, description = "bad_query", body = ErrorDoc),
        (status = 404, description = "unknown_table (with the closest names)", body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn inputs(
    State(s): State<ApiState>,
    json: Result<Json<InputsRequest>, JsonRejection>,
) -> Result<Json<InputsAnswer>, ApiError> {
    let r = body(json)?;
    Ok(Json(InputsAnswer {
        inputs: s.handle.sql_inputs(&r.sql).await?,
    }))
}

#[utoipa::path(post, path = "/v1/query", tag = "data", request_body = QueryRequest,
    responses((status = 200, description = "JSON rows (`format` json), or the result streamed as text/csv, application/x-ndjson or application/vnd.apache.arrow.stream", body = QueryAnswer),
        (status = 400, description = "bad_query: a syntax error, an unknown column, a type error", body = ErrorDoc),
        (status = 404, description = "unknown_table (with the closest names), unknown_version", body = ErrorDoc),
        (status = 403, description = "denied: an input's providers refuse access", body = ErrorDoc),
        (status = 409, description = "not_held (with fetch false), ambiguous_domain", body = ErrorDoc),
        (status = 409, description = "cancelled (`DELETE /v1/queries/{id}`)", body = ErrorDoc),
        (status = 422, description = "policy_violation: the derived product breaks a federation rule (`publish`)", body = ErrorDoc),
        (status = 507, description = "out_of_memory_budget", body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn query(
    State(s): State<ApiState>,
    json: Result<Json<QueryRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let r = body(json)?;
    let format = match r.format.as_deref().unwrap_or("json") {
        "json" => None,
        "csv" => Some(ResultFormat::Csv),
        "jsonl" => Some(ResultFormat::Jsonl),
        "arrow" => Some(ResultFormat::Arrow),
        other => {
            return Err(ApiError::bad_request(format!(
                "format {other:?}: use json, csv, jsonl or arrow"
            )));
        }
    };
    if format.is_none() && r.limit.is_some_and(|l| l > MAX_JSON_ROWS) {
        return Err(ApiError::bad_request(format!(
            "limit: at most {MAX_JSON_ROWS} rows as JSON"
        )));
    }
    if let Some(output) = &r.output {
        ResultFormat::of_path(output).map_err(SqlError::from)?;
        if !output.is_absolute() {
            return Err(ApiError::bad_request("output must be an absolute path"));
        }
    }
    if let Some(draft) = r.publish {
        if r.explain || r.output.is_some() || r.format.is_some() || r.limit.is_some() {
            return Err(ApiError::bad_request(
                "publish goes with sql and id only (no format, limit, output or explain)",
            ));
        }
        let planned = s.handle.sql(&r.sql, r.fetch.unwrap_or(true)).await?;
        let columns = columns(&planned)?;
        let inputs = planned.inputs().to_vec();
        let notes = planned.query().notes().map_err(SqlError::from)?;
        let derived = s.handle.publish_query(planned, draft, r.id).await?;
        return Ok(Json(QueryAnswer {
            columns,
            rows: Vec::new(),
            truncated: false,
            rows_written: Some(derived.rows),
            inputs,
            notes,
            plan: None,
            published: Some(derived.receipt),
        })
        .into_response());
    }
    let planned = s.handle.sql(&r.sql, r.fetch.unwrap_or(true)).await?;
    let columns = columns(&planned)?;
    let inputs = planned.inputs().to_vec();
    let notes = planned.query().notes().map_err(SqlError::from)?;
    let answer = |rows, truncated, rows_written, plan| QueryAnswer {
        columns,
        rows,
        truncated,
        rows_written,
        inputs,
        notes,
        plan,
        published: None,
    };
    if r.explain {
        let plan = planned.query().explain().await.map_err(SqlError::from)?;
        return Ok(Json(answer(Vec::new(), false, None, Some(plan))).into_response());
    }
    let mut rows = planned.run(r.id)?;
    if let Some(output) = r.output {
        let written = rows
            .write_file(&output, r.limit)
            .await
            .map_err(SqlError::from)?;
        return Ok(Json(answer(Vec::new(), false, Some(written), None)).into_response());
    }
    match format {
        None => {
            let limit = r.limit.unwrap_or(DEFAULT_JSON_ROWS);
            let (values, truncated) = json_answer(&mut rows, limit).await?;
            Ok(Json(answer(values, truncated, None, None)).into_response())
        }
        Some(format) => stream(rows, format, r.limit),
    }
}

fn columns(planned: &crate::querying::SqlQuery) -> Result<Vec<ColumnView>, ApiError> {
    let query = planned.query();
    let inputs = query.inputs_all();
    let schema = query.schema();
    Ok(query
        .columns()
        .map_err(SqlError::from)?
        .into_iter()
        .zip(schema.fields())
        .map(|(c, f)| ColumnView {
            name: c.name,
            data_type: f.data_type().to_string(),
            classification: c.classification.map(|c| c.to_string()),
            sources: c
                .sources
                .iter()
                .filter_map(|(i, col)| {
                    inputs
                        .get(*i)
                        .map(|input| format!("{}.{col}", input.exact()))
                })
                .collect(),
        })
        .collect())
}

async fn json_answer(
    rows: &mut SqlRows,
    limit: u64,
) -> Result<(Vec<Vec<serde_json::Value>>, bool), ApiError> {
    let mut out = Vec::new();
    while let Some(batch) = rows.next().await {
        let batch = batch.map_err(SqlError::from)?;
        let room = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(out.len());
        if batch.num_rows() > room {
            out.extend(json_rows(&batch.slice(0, room)).map_err(SqlError::from)?);
            return Ok((out, true));
        }
        out.extend(json_rows(&batch).map_err(SqlError::from)?);
    }
    Ok((out, false))
}

/// The result as a streamed body; the body owns the query, so a client
/// that disconnects cancels it.
fn stream(rows: SqlRows, format: ResultFormat, limit: Option<u64>) -> Result<Response, ApiError> {
    let schema = rows.schema.clone();
    let encoder = Encoder::new(format, &schema).map_err(SqlError::from)?;
    let state = (rows, encoder, limit.unwrap_or(u64::MAX), false);
    let body = futures::stream::unfold(state, move |(mut rows, mut encoder, left, done)| {
        let schema = schema.clone();
        async move {
            if done {
                return None;
            }
            let next = if left == 0 { None } else { rows.next().await };
            let (bytes, left, done) = match next {
                Some(Ok(batch)) => {
                    let take = usize::try_from(left.min(batch.num_rows() as u64)).unwrap_or(0);
                    (
                        encoder.batch(&batch.slice(0, take)),
                        left - take as u64,
                        false,
                    )
                }
                Some(Err(e)) => (Err(e), 0, true),
                None => (encoder.finish(&schema), 0, true),
            };
            let item = bytes.map_err(|e| std::io::Error::other(e.to_string()));
            Some((item, (rows, encoder, left, done)))
        }
    });
    let content_type = match format {
        ResultFormat::Csv => "text/csv",
        ResultFormat::Jsonl => "application/x-ndjson",
        _ => "application/vnd.apache.arrow.stream",
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response())
}

/// The queries running on this node.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunningAnswer {
    /// Oldest first.
    pub queries: Vec<RunningQuery>,
}

#[utoipa::path(get, path = "/v1/queries", tag = "data",
    responses((status = 200, description = "The queries running now, oldest first", body = RunningAnswer),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn running(State(s): State<ApiState>) -> Json<RunningAnswer> {
    Json(RunningAnswer {
        queries: s.handle.running_queries(),
    })
}

#[utoipa::path(delete, path = "/v1/queries/{id}", tag = "data",
    params(("id" = String, Path, description = "The id the query runs under")),
    responses((status = 204, description = "Cancelled: the query stops, its client gets `cancelled`, its temporary files are removed"),
        (status = 404, description = "unknown_query: none runs under that id", body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn cancel(
    State(s): State<ApiState>,
    JsonPath(id): JsonPath<String>,
) -> Result<StatusCode, ApiError> {
    if s.handle.cancel_query(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_query",
            format!("no query runs under id {id:?}; see GET /v1/queries"),
        ))
    }
}
