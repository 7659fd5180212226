//! A product draft assembled from several sources: a descriptor file (mesh
//! YAML or ODPS), a contract file (ODCS) and command-line flags, in that
//! order, later sources overriding earlier ones.

use std::collections::BTreeSet;
use std::path::Path;

use mesh_node::draft::ProductDraft;
use mesh_protocol::ProductId;
use mesh_protocol::descriptor::{AccessPolicy, Format, Owner, Quality, Schema};

use crate::error::{CliError, CliResult};

/// What the sources said so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DraftParts {
    /// Product name.
    pub name: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Owner's name.
    pub owner_name: Option<String>,
    /// Owner's email.
    pub owner_email: Option<String>,
    /// Format.
    pub format: Option<Format>,
    /// Tags.
    pub tags: BTreeSet<String>,
    /// Schema.
    pub schema: Option<Schema>,
    /// Freshness promise.
    pub freshness_secs: Option<u64>,
    /// Completeness promise.
    pub completeness_percent: Option<u8>,
    /// Inputs.
    pub lineage: Vec<ProductId>,
    /// Access policy.
    pub access: Option<AccessPolicy>,
    /// Retention.
    pub retention_days: Option<u32>,
    /// Chunk size.
    pub chunk_size: Option<u32>,
    /// The domain name a standards file claims, checked against the node's.
    pub claimed_domain: Option<String>,
}

impl DraftParts {
    /// The draft to publish `file` with; format defaults to the file's
    /// extension and title to the name.
    pub fn into_draft(self, file: &Path) -> CliResult<ProductDraft> {
        let name = self.name.ok_or_else(|| {
            CliError::usage(
                "the product needs a name; give --name NAME or `name:` in the descriptor",
            )
        })?;
        let format = self
            .format
            .unwrap_or_else(|| mesh_node::node::guess_format(file));
        let mut draft = ProductDraft::new(name.clone(), self.title.unwrap_or(name), format);
        draft.description = self.description.unwrap_or_default();
        draft.owner = Owner {
            name: self.owner_name.unwrap_or_default(),
            email: self.owner_email.unwrap_or_default(),
        };
        draft.schema = self.schema.unwrap_or_default();
        draft.tags = self.tags;
        draft.quality = Quality {
            freshness_secs: self.freshness_secs,
            completeness_percent: self.completeness_percent,
            min_rows: None,
            max_rows: None,
            event_time_field: None,
        };
        draft.lineage = self.lineage;
        draft.access = self.access.unwrap_or_default();
        draft.retention_days = self.retention_days;
        draft.chunk_size = self.chunk_size;
        Ok(draft)
    }
}
