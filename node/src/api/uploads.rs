//! Uploads: a file's bytes streamed to the node, then published.
//!
//! The CLI and the node need not share a filesystem, so `mesh publish`
//! sends the bytes to `POST /v1/uploads` and names the upload in
//! `POST /v1/publish`. A source that changes while it is read must be
//! refused, never hang and never leak, so:
//!
//! - the body is read to its end, chunked or with a length, each piece
//!   within the API's body timeout (see `serve`);
//! - the node counts and hashes (BLAKE3) what it receives; the client
//!   says in the publish request what it read, and a difference (or an
//!   upload file whose size changed on the node) is refused
//!   (`409 upload_mismatch`) before anything is ingested;
//! - a partial upload is removed on every failure (including a client
//!   that goes away), `uploads/` is emptied at start, and an upload not
//!   published within [`UPLOAD_TTL`] is removed;
//! - a full disk is named as such: the rest of the body is read and
//!   dropped (for a bounded time) so the client hears "no space left on
//!   device on the node while receiving the upload", not a broken pipe.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::handlers::{ApiResult, body};
use super::{ApiError, ApiState};
use crate::draft::ProductDraft;
use crate::node::PublishReceipt;
use crate::schemas::{BinaryDoc, ErrorDoc, ProductDraftDoc};

/// Largest upload: the most chunks of the largest size a manifest allows.
const MAX_UPLOAD: u64 =
    mesh_protocol::manifest::MAX_CHUNKS as u64 * mesh_protocol::manifest::MAX_CHUNK_SIZE as u64;

/// How long a finished upload waits for its publish before it is removed.
pub(super) const UPLOAD_TTL: Duration = Duration::from_secs(3600);

/// How long the rest of a refused upload's body is read (and dropped) so
/// that the client hears why, rather than a broken pipe.
const DRAIN_FOR: Duration = Duration::from_secs(10);

/// What the node received of one finished upload.
struct Received {
    size: u64,
    blake3: blake3::Hash,
    at: Instant,
}

/// The upload directory and what was received into it.
pub(super) struct Uploads {
    dir: PathBuf,
    received: Mutex<HashMap<String, Received>>,
}

impl Uploads {
    /// `data_dir/uploads`, emptied: uploads not published before a
    /// restart (finished or partial) are dropped.
    pub(super) fn open(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join("uploads");
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            received: Mutex::new(HashMap::new()),
        })
    }

    /// Removes finished uploads older than [`UPLOAD_TTL`].
    fn expire(&self) {
        let Ok(mut received) = self.received.lock() else {
            return;
        };
        received.retain(|id, r| {
            let keep = r.at.elapsed() < UPLOAD_TTL;
            if !keep {
                let _ = std::fs::remove_file(self.dir.join(id));
            }
            keep
        });
    }

    fn take(&self, id: &str) -> Option<Received> {
        self.received.lock().ok()?.remove(id)
    }
}

/// An upload's partial file, removed when dropped unless kept.
struct PartialUpload(Option<PathBuf>);

impl PartialUpload {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for PartialUpload {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A stored upload.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub(super) struct Uploaded {
    /// Pass this to `/v1/publish`.
    upload_id: String,
    /// Bytes received.
    size: u64,
    /// BLAKE3 of the bytes received (64 hex digits).
    blake3: String,
}

/// The answer to a failed write of an upload.
fn write_failed(e: &std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "no_space",
            "no space left on device on the node while receiving the upload; free space on the node's disk and publish again",
        )
    } else {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "local",
            format!("the node cannot write the upload: {e}"),
        )
    }
}

/// Reads and drops what is left of a body, for at most [`DRAIN_FOR`].
async fn drain(stream: &mut axum::body::BodyDataStream) {
    let deadline = tokio::time::Instant::now() + DRAIN_FOR;
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, stream.next()).await {}
}

#[utoipa::path(post, path = "/v1/uploads", tag = "publishing",
    request_body(content = BinaryDoc, content_type = "application/octet-stream",
        description = "The file's bytes, streamed (chunked transfer encoding or a length)"),
    responses((status = 200, body = Uploaded), (status = 400, body = ErrorDoc),
        (status = 507, description = "no_space: the node's disk is full", body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn upload(State(s): State<ApiState>, body_in: Body) -> ApiResult<Uploaded> {
    let uploads = &s.uploads;
    uploads.expire();
    let id = mesh_protocol::bytes::to_hex(&rand::random::<[u8; 16]>());
    let partial = uploads.dir.join(format!("{id}.part"));
    // Removes the partial file on every way out but success, including a
    // client that goes away mid-body (the future is dropped).
    let guard = PartialUpload(Some(partial.clone()));
    let mut stream = body_in.into_data_stream();
    let mut file = match tokio::fs::File::create(&partial).await {
        Ok(file) => file,
        Err(e) => {
            drain(&mut stream).await;
            return Err(write_failed(&e));
        }
    };
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| {
            ApiError::bad_request(format!("upload interrupted: {e}; nothing was kept"))
        })?;
        size += piece.len() as u64;
        if size > MAX_UPLOAD {
            return Err(ApiError::bad_request(format!(
                "upload larger than the largest product ({MAX_UPLOAD} bytes)"
            )));
        }
        hasher.update(&piece);
        if let Err(e) = file.write_all(&piece).await {
            drop(file);
            drop(guard);
            drain(&mut stream).await;
            return Err(write_failed(&e));
        }
    }
    if let Err(e) = file.flush().await {
        drop(file);
        return Err(write_failed(&e));
    }
    drop(file);
    tokio::fs::rename(&partial, uploads.dir.join(&id))
        .await
        .map_err(|e| write_failed(&e))?;
    guard.keep();
    let blake3 = hasher.finalize();
    if let Ok(mut received) = uploads.received.lock() {
        received.insert(
            id.clone(),
            Received {
                size,
                blake3,
                at: Instant::now(),
            },
        );
    }
    Ok(Json(Uploaded {
        upload_id: id,
        size,
        blake3: blake3.to_hex().to_string(),
    }))
}

/// Publish an upload.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PublishRequest {
    /// From `/v1/uploads`.
    pub(super) upload_id: String,
    /// What the publisher says about the product.
    #[schema(value_type = ProductDraftDoc)]
    pub(super) draft: ProductDraft,
    /// Bytes the client read from its source; refused if the node received
    /// a different number.
    #[serde(default)]
    pub(super) size: Option<u64>,
    /// BLAKE3 (64 hex digits) of what the client read; refused if the node
    /// received different bytes.
    #[serde(default)]
    pub(super) blake3: Option<String>,
}

/// Why the upload is not what the client read, if it is not.
fn mismatch(request: &PublishRequest, received: &Received) -> Option<String> {
    if let Some(size) = request.size
        && size != received.size
    {
        return Some(format!(
            "the client read {size} bytes but the node received {}",
            received.size
        ));
    }
    if let Some(hash) = &request.blake3
        && !hash.eq_ignore_ascii_case(received.blake3.to_hex().as_str())
    {
        return Some(format!(
            "the client read bytes with BLAKE3 {hash} but the node received {}",
            received.blake3.to_hex()
        ));
    }
    None
}

#[utoipa::path(post, path = "/v1/publish", tag = "publishing", request_body = PublishRequest,
    responses((status = 200, body = PublishReceipt),
        (status = 400, description = "bad_request or invalid_descriptor", body = ErrorDoc),
        (status = 422, description = "policy_violation: every broken rule in the message", body = ErrorDoc),
        (status = 404, description = "no such upload", body = ErrorDoc),
        (status = 409, description = "catalog_refused, or upload_mismatch: the upload is not what the client read", body = ErrorDoc),
        (status = 507, description = "no_space: the node's disk is full", body = ErrorDoc),
        (status = 401, body = ErrorDoc)))]
pub(super) async fn publish(
    State(s): State<ApiState>,
    json: Result<Json<PublishRequest>, JsonRejection>,
) -> ApiResult<PublishReceipt> {
    let request = body(json)?;
    Ok(Json(publish_upload(&s, request).await?))
}

/// Publishes a finished upload as `draft` (the API's and the web UI's
/// publish), after checking it is what the client read; the upload is
/// removed whatever happens.
pub(super) async fn publish_upload(
    s: &ApiState,
    request: PublishRequest,
) -> Result<PublishReceipt, ApiError> {
    let id = &request.upload_id;
    if id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request("upload_id is not an upload id"));
    }
    let path = s.uploads.dir.join(id);
    let Some(received) = s.uploads.take(id).filter(|_| path.is_file()) else {
        return Err(ApiError::not_found(
            "no such upload; POST the bytes to /v1/uploads first",
        ));
    };
    let on_disk = tokio::fs::metadata(&path).await.map_or(0, |m| m.len());
    let changed_here = (on_disk != received.size).then(|| {
        format!(
            "the node received {} bytes but its upload file now holds {on_disk}",
            received.size
        )
    });
    if let Some(why) = changed_here.or_else(|| mismatch(&request, &received)) {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "upload_mismatch",
            format!("the upload is not what was read: {why}; nothing was published"),
        ));
    }
    let result = s.handle.publish(&path, request.draft).await;
    let _ = tokio::fs::remove_file(&path).await;
    let receipt = result?;
    if receipt.size != received.size {
        // Only something writing into the node's private upload directory
        // can cause this; the product is published as ingested.
        tracing::error!(
            received = received.size,
            ingested = receipt.size,
            "an upload changed between its receipt and its ingest"
        );
    }
    Ok(receipt)
}
