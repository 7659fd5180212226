//! What a user says about a product before the node fills in the rest.
//!
//! A [`ProductDraft`] is a descriptor without the fields the node decides:
//! the domain (from its key), the version (one above the current one), the
//! content (from the file it reads) and the creation time.

use std::collections::BTreeSet;

use mesh_protocol::contract::CsvDialect;
use mesh_protocol::derivation::Derivation;
use mesh_protocol::descriptor::{
    AccessPolicy, Content, Deprecation, Descriptor, Format, Owner, Quality, Schema,
};
use mesh_protocol::profile::Profile;
use mesh_protocol::{DomainId, ProductId, Timestamp};
use serde::{Deserialize, Serialize};

/// A descriptor as a publisher writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDraft {
    /// Product name within the domain.
    pub name: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Owner.
    #[serde(default)]
    pub owner: Owner,
    /// Schema.
    #[serde(default)]
    pub schema: Schema,
    /// Format.
    pub format: Format,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// Quality promises.
    #[serde(default)]
    pub quality: Quality,
    /// Inputs.
    #[serde(default)]
    pub lineage: Vec<ProductId>,
    /// Access policy.
    #[serde(default)]
    pub access: AccessPolicy,
    /// Retention in days.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Chunk size (default 1 MiB).
    #[serde(default)]
    pub chunk_size: Option<u32>,
    /// How a CSV file spells its cells (default: `,`, `"`, empty is null).
    #[serde(default)]
    pub csv: Option<CsvDialect>,
}

/// What the node adds to a draft when it publishes a version of it.
#[derive(Clone, Debug)]
pub struct Release {
    /// The version number this descriptor gets.
    pub version: u64,
    /// The file's size, chunking and manifest hash.
    pub content: Content,
    /// When the version was published.
    pub created_at: Timestamp,
    /// Set when the version is published as deprecated.
    pub deprecation: Option<Deprecation>,
    /// The data profile computed from the file, if its format is read.
    pub profile: Option<Profile>,
    /// How the node computed the data, for a product published from a
    /// query; its inputs replace the draft's lineage.
    pub derivation: Option<Derivation>,
}

impl ProductDraft {
    /// A minimal draft: name, title and format.
    pub fn new(name: impl Into<String>, title: impl Into<String>, format: Format) -> Self {
        Self {
            name: name.into(),
            title: title.into(),
            description: String::new(),
            owner: Owner::default(),
            schema: Schema::default(),
            format,
            tags: BTreeSet::new(),
            quality: Quality::default(),
            lineage: Vec::new(),
            access: AccessPolicy::default(),
            retention_days: None,
            chunk_size: None,
            csv: None,
        }
    }

    /// The full descriptor once the node knows domain, version and content.
    pub fn into_descriptor(
        self,
        domain: DomainId,
        domain_name: &str,
        release: Release,
    ) -> Descriptor {
        let Release {
            version,
            content,
            created_at,
            deprecation,
            profile,
            derivation,
        } = release;
        let lineage = derivation
            .as_ref()
            .map_or(self.lineage, Derivation::lineage);
        Descriptor {
            id: ProductId {
                domain,
                name: self.name,
            },
            domain_name: domain_name.to_owned(),
            version,
            title: self.title,
            description: self.description,
            owner: self.owner,
            schema: self.schema,
            format: self.format,
            content,
            tags: self.tags,
            quality: self.quality,
            lineage,
            access: self.access,
            retention_days: self.retention_days,
            created_at,
            deprecation,
            csv: self.csv,
            profile,
            derivation,
        }
    }
}
