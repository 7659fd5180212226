//! Products published from a query (`mesh query --publish`, `POST
//! /v1/query` with `publish`).
//!
//! The node runs the query, writes the result as Parquet or Arrow IPC
//! under its private spill directory, and publishes that file like any
//! other (ingested, profiled against its contract, signed, announced).
//! What a publisher would otherwise type, and could get wrong, is taken
//! from the plan instead:
//!
//! - the schema: each result column's type and nullability, and its
//!   classification, the strictest of the input columns it is computed
//!   from ([`mesh_query::OutputColumn`]), so a `pii` input stays `pii` and
//!   the federation's `pii-never-public` rule applies without anyone
//!   remembering it;
//! - the lineage: every input at the exact version read, with its
//!   descriptor hash, and the input columns of every output column
//!   ([`mesh_protocol::derivation::Derivation`]);
//! - the query text itself, so a consumer sees how the product was made.
//!
//! A draft that types a schema, a lineage or a CSV dialect is refused
//! rather than overridden in silence.

use std::collections::BTreeMap;

use mesh_protocol::derivation::{ColumnSource, Derivation, DerivedColumn, DerivedInput};
use mesh_protocol::descriptor::{Content, Field, Format, MAX_TEXT_LEN};
use mesh_query::QueryError;

use super::{SqlError, SqlQuery};
use crate::draft::{ProductDraft, Release};
use crate::node::{NodeHandle, PublishReceipt};

/// What publishing a query's result produced.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DerivedAnswer {
    /// The new version.
    pub receipt: PublishReceipt,
    /// Rows in the product.
    pub rows: u64,
}

fn refuse(message: impl Into<String>) -> SqlError {
    SqlError::Query(QueryError::User(message.into()))
}

/// The file extension a derived product of `format` is written with.
fn extension(format: &Format) -> Result<&'static str, SqlError> {
    match format {
        Format::Parquet => Ok("parquet"),
        Format::Arrow => Ok("arrow"),
        other => Err(refuse(format!(
            "a query's result is published as parquet or arrow (typed formats that keep the result's types), not {other}"
        ))),
    }
}

/// Refuses what the plan decides instead of the publisher.
fn check_draft(draft: &ProductDraft) -> Result<&'static str, SqlError> {
    if !draft.schema.fields.is_empty() {
        return Err(refuse(
            "a derived product's schema comes from the query; leave it out of the descriptor",
        ));
    }
    if !draft.lineage.is_empty() {
        return Err(refuse(
            "a derived product's lineage comes from the query; leave it out of the descriptor",
        ));
    }
    if draft.csv.is_some() {
        return Err(refuse(
            "a derived product is not CSV; leave out the dialect",
        ));
    }
    extension(&draft.format)
}

/// The schema fields and derivation of `planned`'s result.
fn derive(planned: &SqlQuery) -> Result<(Vec<Field>, Derivation), SqlError> {
    let query = planned.query();
    let all = query.inputs_all();
    let columns = query.columns()?;
    let scanned = query.inputs()?;
    // Inputs the plan reads or a column comes from, each product version
    // once, in the engine's order of the statement's tables.
    let mut used: Vec<usize> = (0..all.len())
        .filter(|i| {
            scanned.iter().any(|s| std::ptr::eq(*s, &raw const all[*i]))
                || columns
                    .iter()
                    .any(|c| c.sources.iter().any(|(j, _)| j == i))
        })
        .collect();
    used.sort_unstable();
    let mut inputs: Vec<DerivedInput> = Vec::new();
    let mut index: BTreeMap<usize, u32> = BTreeMap::new();
    for i in used {
        let Some(signed) = planned.descriptors.get(i) else {
            continue;
        };
        let d = &signed.value;
        let position = inputs
            .iter()
            .position(|x| x.product == d.id && x.version == d.version)
            .unwrap_or_else(|| {
                inputs.push(DerivedInput {
                    product: d.id.clone(),
                    version: d.version,
                    descriptor: d.hash(),
                });
                inputs.len() - 1
            });
        index.insert(i, u32::try_from(position).unwrap_or(u32::MAX));
    }
    let schema = query.schema();
    let mut fields = Vec::with_capacity(columns.len());
    let mut derived = Vec::with_capacity(columns.len());
    for (column, arrow) in columns.into_iter().zip(schema.fields()) {
        let mut field = mesh_data::declared_field(arrow);
        field.classification = column.classification;
        let named: Vec<String> = column
            .sources
            .iter()
            .filter_map(|(i, c)| all.get(*i).map(|input| format!("{}.{c}", input.exact())))
            .collect();
        field.description = describe(&named);
        derived.push(DerivedColumn {
            name: field.name.clone(),
            sources: column
                .sources
                .iter()
                .filter_map(|(i, c)| {
                    index.get(i).map(|input| ColumnSource {
                        input: *input,
                        column: c.clone(),
                    })
                })
                .collect(),
        });
        fields.push(field);
    }
    Ok((
        fields,
        Derivation {
            query: planned.sql.clone(),
            inputs,
            columns: derived,
        },
    ))
}

/// "Computed from a, b." within the description limit.
fn describe(sources: &[String]) -> String {
    if sources.is_empty() {
        return "Computed by the query from no input column.".to_owned();
    }
    let mut out = String::from("Computed from ");
    for (n, s) in sources.iter().enumerate() {
        let piece = if n == 0 { s.clone() } else { format!(", {s}") };
        if out.len() + piece.len() + 8 > MAX_TEXT_LEN {
            out.push_str(", …");
            break;
        }
        out.push_str(&piece);
    }
    out.push('.');
    out
}

impl NodeHandle {
    /// Runs `planned` (under `id`, see [`NodeHandle::cancel_query`]) and
    /// publishes its result as a new version of `draft`'s product, with
    /// the schema, classification and lineage the plan gives.
    pub async fn publish_query(
        &self,
        planned: SqlQuery,
        mut draft: ProductDraft,
        id: Option<String>,
    ) -> Result<DerivedAnswer, SqlError> {
        let extension = check_draft(&draft)?;
        let (fields, derivation) = derive(&planned)?;
        draft.schema.fields = fields;
        // Everything the descriptor checks is checked now, before the
        // query runs: an unusable column name (`count(*)`) is the user's
        // to fix with `AS`.
        let probe = draft.clone().into_descriptor(
            self.domain(),
            "probe",
            Release {
                version: 1,
                content: Content {
                    size: 0,
                    chunk_size: mesh_protocol::manifest::DEFAULT_CHUNK_SIZE,
                    manifest_hash: mesh_protocol::Hash([0; 32]),
                },
                created_at: mesh_protocol::Timestamp(0),
                deprecation: None,
                profile: None,
                derivation: Some(derivation.clone()),
            },
        );
        probe.validate().map_err(|e| {
            refuse(format!(
                "the result cannot be published: {e} (name computed columns with AS)"
            ))
        })?;
        let dir = planned.engine.scratch.clone();
        create_private_dir(&dir)?;
        let path = dir.join(format!("{:016x}.{extension}", rand::random::<u64>()));
        let mut rows = planned.run(id)?;
        let written = rows.write_file(&path, None).await;
        drop(rows);
        let rows = match written {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e.into());
            }
        };
        let published = self.publish_with(&path, draft, Some(derivation)).await;
        let _ = std::fs::remove_file(&path);
        Ok(DerivedAnswer {
            receipt: published?,
            rows,
        })
    }
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), SqlError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| {
        SqlError::Node(crate::node::NodeError::File {
            path: dir.to_owned(),
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_stay_within_the_limit() {
        assert_eq!(
            describe(&["a.b@1.x".into(), "c.d@2.y".into()]),
            "Computed from a.b@1.x, c.d@2.y."
        );
        let many: Vec<String> = (0..2000).map(|i| format!("s.p@1.col{i}")).collect();
        let text = describe(&many);
        assert!(text.len() <= MAX_TEXT_LEN, "{}", text.len());
        assert!(text.ends_with(", ….") || text.ends_with('.'));
    }

    #[test]
    fn only_typed_formats_and_no_typed_schema() {
        let mut draft = ProductDraft::new("x", "X", Format::Csv);
        assert!(check_draft(&draft).is_err());
        draft.format = Format::Parquet;
        assert_eq!(check_draft(&draft).ok(), Some("parquet"));
        draft.format = Format::Arrow;
        assert_eq!(check_draft(&draft).ok(), Some("arrow"));
        draft.schema.fields.push(Field::new(
            "a",
            mesh_protocol::descriptor::DataType::Int64,
            true,
        ));
        assert!(check_draft(&draft).is_err());
    }
}
