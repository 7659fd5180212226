//! Publishing from the browser: a file and what its owner says about it.
//!
//! The page's script streams the chosen file to `POST /ui/uploads` (the
//! API's upload, with the session's anti-CSRF token in a header, so the
//! bytes are never buffered whole) and then submits the form with the
//! upload's id and size; `POST /publish` checks the upload is that size and
//! publishes it as the API's `/v1/publish` does (policies, contract check,
//! signed profile). The schema is typed one field per line
//! (`name type [required] [classification]`), the shape `mesh schema
//! infer` prints as a start.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use mesh_protocol::descriptor::{
    AccessMode, AccessPolicy, Classification, DataType, Field, Format, Owner, Schema,
};
use serde::Deserialize;

use super::Page;
use super::layout::{self, Nav};
use super::session::Session;
use crate::api::uploads::{PublishRequest, publish_upload, upload};
use crate::api::{ApiError, ApiState};
use crate::draft::ProductDraft;

/// `GET /publish`.
pub(super) async fn page(Extension(session): Extension<Session>) -> Page {
    let body = html! {
        h1 { "Publish a data product" }
        p.hint { "The node reads the file, checks it against the schema you give, signs the descriptor and its profile, and announces it to the mesh." }
        form id="publish-form" method="post" action="/publish" data-csrf=(session.csrf) {
            (layout::csrf(&session))
            input type="hidden" name="upload_id" id="upload-id";
            input type="hidden" name="size" id="upload-size";
            label for="publish-file" { "File" }
            input id="publish-file" type="file" required;
            noscript { p.error { "Choosing a file needs JavaScript; without it use " code { "mesh publish FILE" } "." } }
            div.grid {
                div {
                    label for="name" { "Name (lower case letters, digits, - and _)" }
                    input id="name" name="name" type="text" required pattern="[a-z][a-z0-9_\\-]*" maxlength="64";
                    label for="title" { "Title" }
                    input id="title" name="title" type="text" required maxlength="200";
                    label for="format" { "Format" }
                    select id="format" name="format" {
                        @for f in ["csv", "jsonl", "parquet", "arrow", "json", "avro"] { option value=(f) { (f) } }
                    }
                    label for="tags" { "Tags (comma separated)" }
                    input id="tags" name="tags" type="text";
                }
                div {
                    label for="owner-name" { "Owner (team)" }
                    input id="owner-name" name="owner_name" type="text";
                    label for="owner-email" { "Owner email" }
                    input id="owner-email" name="owner_email" type="text";
                    label for="access" { "Access" }
                    select id="access" name="access" {
                        option value="public" { "public: any domain may fetch" }
                        option value="owner-granted" { "owner-granted: domains ask, you grant" }
                    }
                }
            }
            label for="description" { "Description" }
            textarea id="description" name="description" rows="2" maxlength="4000" {}
            label for="schema-text" { "Schema: one field per line, " code { "name type [required] [public|internal|confidential|pii]" } }
            textarea id="schema-text" name="schema" rows="5" placeholder="id int64 required\nemail string pii" {}
            p id="publish-status" aria-live="polite" {}
            button type="submit" id="publish-button" { "Publish" }
        }
    };
    Ok(layout::page("Publish", Nav::Publish, &session, &body))
}

/// `POST /ui/uploads`: the API's upload behind the session (and the
/// anti-CSRF header the guard checked).
pub(super) async fn upload_bytes(State(s): State<ApiState>, body: Body) -> Response {
    upload(State(s), body).await.into_response()
}

/// Parses the schema lines.
fn schema(text: &str) -> Result<Schema, String> {
    let mut fields = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((name, rest)) = words.split_first() else {
            continue;
        };
        let Some((kind, flags)) = rest.split_first() else {
            return Err(format!("schema line {}: give a type after {name:?}", n + 1));
        };
        let data_type: DataType = kind
            .parse()
            .map_err(|e| format!("schema line {}: {e}", n + 1))?;
        let mut field = Field::new(*name, data_type, true);
        for flag in flags {
            if flag.eq_ignore_ascii_case("required") {
                field.nullable = false;
            } else {
                let c: Classification = flag
                    .parse()
                    .map_err(|e| format!("schema line {}: {e}", n + 1))?;
                field.classification = Some(c);
            }
        }
        fields.push(field);
    }
    Ok(Schema { major: 1, fields })
}

/// The publish form.
#[derive(Deserialize)]
pub(super) struct PublishForm {
    upload_id: String,
    size: String,
    name: String,
    title: String,
    format: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    owner_name: String,
    #[serde(default)]
    owner_email: String,
    #[serde(default)]
    access: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    schema: String,
}

/// `POST /publish`.
pub(super) async fn publish(State(s): State<ApiState>, Form(form): Form<PublishForm>) -> Page {
    let bad = |e: String| ApiError::bad_request(e);
    let format: Format = form
        .format
        .parse()
        .map_err(|e| bad(format!("format: {e}")))?;
    let size = form
        .size
        .trim()
        .parse::<u64>()
        .map_err(|_| bad("The upload's size is missing: choose the file again.".to_owned()))?;
    let draft = ProductDraft {
        name: form.name.trim().to_owned(),
        title: form.title.trim().to_owned(),
        description: form.description.trim().to_owned(),
        owner: Owner {
            name: form.owner_name.trim().to_owned(),
            email: form.owner_email.trim().to_owned(),
        },
        schema: schema(&form.schema).map_err(bad)?,
        format,
        tags: form
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect::<BTreeSet<_>>(),
        quality: mesh_protocol::descriptor::Quality::default(),
        lineage: Vec::new(),
        access: AccessPolicy {
            mode: if form.access == "owner-granted" {
                AccessMode::OwnerGranted
            } else {
                AccessMode::Public
            },
            reshare: form.access != "owner-granted",
        },
        retention_days: None,
        chunk_size: None,
        csv: None,
    };
    let receipt = publish_upload(
        &s,
        PublishRequest {
            upload_id: form.upload_id,
            draft,
            size: Some(size),
            blake3: None,
        },
    )
    .await?;
    Ok(Redirect::to(&layout::product_href(&receipt.product.to_string())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_lines_parse_and_bad_ones_say_where() {
        let s = schema("id int64 required\n\n  email string pii\n").unwrap();
        assert_eq!(s.fields.len(), 2);
        assert!(!s.fields[0].nullable);
        assert_eq!(s.fields[1].classification, Some(Classification::Pii));
        assert!(s.fields[1].nullable);
        assert!(schema("id").unwrap_err().contains("line 1"));
        assert!(
            schema("a int64\nb nonsense")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(schema("a int64 secretive").unwrap_err().contains("line 1"));
    }
}
