//! The data product descriptor: what a domain promises about one product.
//!
//! A descriptor is the unit the catalog holds and gossip carries. It is
//! signed by the owning domain as a whole ([`SignedDescriptor`]); every field
//! is covered by the signature. [`Descriptor::validate`] enforces the
//! structural rules every node applies before it stores or forwards one:
//! required fields, length and count limits, name patterns and sane sizes.
//! Federation policies (see [`crate::policy`]) are a separate, later check.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Hash;
use crate::contract::{ConstraintError, Constraints, CsvDialect, DialectError};
use crate::derivation::{Derivation, DerivationError};
use crate::identity::DomainId;
use crate::manifest::{MAX_CHUNK_SIZE, MAX_CHUNKS, MIN_CHUNK_SIZE};
use crate::profile::{Profile, ProfileError};
use crate::signed::{Signable, Signed};
use crate::time::Timestamp;

/// Longest product, field or tag name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest title.
pub const MAX_TITLE_LEN: usize = 200;
/// Longest description or reason text.
pub const MAX_TEXT_LEN: usize = 4096;
/// Most schema fields, nested ones included.
pub const MAX_FIELDS: usize = 1024;
/// Deepest nesting of object and array fields.
pub const MAX_FIELD_DEPTH: usize = 8;
/// Most tags.
pub const MAX_TAGS: usize = 32;
/// Most lineage inputs.
pub const MAX_LINEAGE: usize = 64;
/// Most domains in an access list.
pub const MAX_ACCESS_DOMAINS: usize = 256;

/// A signed descriptor, as stored and gossiped.
pub type SignedDescriptor = Signed<Descriptor>;

/// The identity of a product: its domain and its name within the domain.
/// Written `DOMAINID/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProductId {
    /// The owning domain.
    pub domain: DomainId,
    /// The product's name, unique within the domain.
    pub name: String,
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.name)
    }
}

/// Why a product id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductIdError {
    /// There is no `/` separating domain and name.
    #[error("product id must be DOMAIN/NAME")]
    MissingSlash,
    /// The domain part is not a domain id.
    #[error("invalid domain id: {0}")]
    Domain(#[from] crate::bytes::HexError),
    /// The name part does not match the name pattern.
    #[error("invalid product name: {0}")]
    Name(#[from] NameError),
}

impl FromStr for ProductId {
    type Err = ProductIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (domain, name) = s.split_once('/').ok_or(ProductIdError::MissingSlash)?;
        check_name(name)?;
        Ok(Self {
            domain: domain.parse()?,
            name: name.to_owned(),
        })
    }
}

/// Why a name does not match the mesh's name pattern `[a-z][a-z0-9_-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty name.
    #[error("name is empty")]
    Empty,
    /// Longer than [`MAX_NAME_LEN`].
    #[error("name has {0} characters; at most {MAX_NAME_LEN} allowed")]
    TooLong(usize),
    /// Starts with something other than a lowercase letter.
    #[error("name {0:?} must start with a lowercase letter")]
    BadStart(String),
    /// Contains a character outside `a-z 0-9 _ -`.
    #[error("name {0:?} may only contain a-z, 0-9, '_' and '-'")]
    BadChar(String),
    /// A field name starts with something other than a letter or `_`.
    #[error("field name {0:?} must start with a letter or '_'")]
    BadFieldStart(String),
    /// A field name contains a character outside `A-Z a-z 0-9 _ -`.
    #[error("field name {0:?} may only contain letters, digits, '_' and '-'")]
    BadFieldChar(String),
}

/// Checks a product, field or tag name against `[a-z][a-z0-9_-]{0,63}`.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let first = name.chars().next().ok_or(NameError::Empty)?;
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(name.chars().count()));
    }
    if !first.is_ascii_lowercase() {
        return Err(NameError::BadStart(name.to_owned()));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(NameError::BadChar(name.to_owned()));
    }
    Ok(())
}

/// Checks a schema field name: `[A-Za-z_][A-Za-z0-9_-]{0,63}`, the names
/// real tables have (camelCase, upper case, digits), which product and tag
/// names do not allow.
pub fn check_field_name(name: &str) -> Result<(), NameError> {
    let first = name.chars().next().ok_or(NameError::Empty)?;
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(name.chars().count()));
    }
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Err(NameError::BadFieldStart(name.to_owned()));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(NameError::BadFieldChar(name.to_owned()));
    }
    Ok(())
}

/// Who answers for a product.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Team or person responsible.
    pub name: String,
    /// Contact address.
    pub email: String,
}

/// How sensitive a field's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Classification {
    /// May be shown to anyone.
    Public,
    /// For the organisation only.
    Internal,
    /// Business secret.
    Confidential,
    /// Personally identifiable information.
    Pii,
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Confidential => "confidential",
            Self::Pii => "pii",
        })
    }
}

impl FromStr for Classification {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "public" => Ok(Self::Public),
            "internal" => Ok(Self::Internal),
            "confidential" | "restricted" => Ok(Self::Confidential),
            "pii" | "sensitive" => Ok(Self::Pii),
            other => Err(format!(
                "unknown classification {other:?}; use public, internal, confidential or pii"
            )),
        }
    }
}

/// The logical type of a schema field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DataType {
    /// true/false.
    Boolean,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 32-bit float.
    Float32,
    /// 64-bit float.
    Float64,
    /// Exact decimal number.
    Decimal,
    /// Text.
    String,
    /// Raw bytes.
    Binary,
    /// Calendar date.
    Date,
    /// Date and time.
    Timestamp,
    /// Nested object.
    Object,
    /// List of values.
    Array,
}

impl DataType {
    /// Whether every value of `self` is also a value of `to`: changing a
    /// field from `self` to `to` does not break readers.
    pub fn widens_to(self, to: DataType) -> bool {
        use DataType::{Date, Decimal, Float32, Float64, Int32, Int64, String, Timestamp};
        self == to
            || matches!(
                (self, to),
                (Int32, Int64 | Float64 | Decimal)
                    | (Int64 | Float32, Decimal)
                    | (Float32, Float64)
                    | (Date, Timestamp)
                    | (Int32 | Int64 | Decimal | Date | Timestamp, String)
            )
    }
}

impl FromStr for DataType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "boolean" | "bool" => Self::Boolean,
            "int32" | "int" | "integer" => Self::Int32,
            "int64" | "long" | "bigint" => Self::Int64,
            "float32" | "float" => Self::Float32,
            "float64" | "double" | "number" => Self::Float64,
            "decimal" => Self::Decimal,
            "string" | "text" => Self::String,
            "binary" | "bytes" => Self::Binary,
            "date" => Self::Date,
            "timestamp" | "datetime" => Self::Timestamp,
            "object" | "struct" => Self::Object,
            "array" | "list" => Self::Array,
            other => return Err(format!("unknown data type {other:?}")),
        })
    }
}

/// One column or attribute of the product's schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Field name, unique within the schema.
    pub name: String,
    /// Logical type.
    pub data_type: DataType,
    /// Whether the value may be missing.
    pub nullable: bool,
    /// Sensitivity; `None` means not yet classified.
    pub classification: Option<Classification>,
    /// What the field means.
    pub description: String,
    /// Promises about the field's values.
    #[serde(default)]
    pub constraints: Constraints,
    /// Inner fields: an object's properties, or an array's single element
    /// field (named `items`). Empty for scalar types.
    #[serde(default)]
    pub children: Vec<Field>,
}

impl Field {
    /// A field with no constraints and no inner fields.
    pub fn new(name: impl Into<String>, data_type: DataType, nullable: bool) -> Self {
        Self {
            name: name.into(),
            data_type,
            nullable,
            classification: None,
            description: String::new(),
            constraints: Constraints::default(),
            children: Vec::new(),
        }
    }

    /// This field and every field nested in it, depth first.
    pub fn walk(&self) -> Vec<&Field> {
        let mut out = vec![self];
        for child in &self.children {
            out.extend(child.walk());
        }
        out
    }

    /// The strictest classification of this field or any field nested in
    /// it (pii > confidential > internal > public).
    pub fn strictest_classification(&self) -> Option<Classification> {
        self.walk().iter().filter_map(|f| f.classification).max()
    }
}

/// The product's schema.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The schema's major version: raised on every breaking change.
    pub major: u32,
    /// Fields, in order.
    pub fields: Vec<Field>,
}

/// How the bytes are laid out.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Format {
    /// Comma-separated values.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// A JSON document.
    Json,
    /// Apache Parquet.
    Parquet,
    /// Apache Avro.
    Avro,
    /// Apache Arrow IPC.
    Arrow,
    /// Any other format, named by a lowercase name.
    Other(String),
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
            Self::Json => "json",
            Self::Parquet => "parquet",
            Self::Avro => "avro",
            Self::Arrow => "arrow",
            Self::Other(name) => name,
        })
    }
}

impl FromStr for Format {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "csv" => Self::Csv,
            "jsonl" | "ndjson" => Self::Jsonl,
            "json" => Self::Json,
            "parquet" => Self::Parquet,
            "avro" => Self::Avro,
            "arrow" => Self::Arrow,
            other => {
                check_name(other)?;
                Self::Other(other.to_owned())
            }
        })
    }
}

/// The bytes of the product, by reference to their manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// Total size in bytes.
    pub size: u64,
    /// Chunk size in bytes (a power of two).
    pub chunk_size: u32,
    /// Hash of the manifest listing every chunk's BLAKE3 hash.
    pub manifest_hash: Hash,
}

/// Promises about the data's quality.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quality {
    /// The data is at most this many seconds old when published.
    pub freshness_secs: Option<u64>,
    /// Percentage (0..=100) of the declared fields' cells that hold a
    /// value (see `mesh-data`'s profile module for the exact rule).
    pub completeness_percent: Option<u8>,
    /// Fewest data rows allowed.
    pub min_rows: Option<u64>,
    /// Most data rows allowed.
    pub max_rows: Option<u64>,
    /// The date or timestamp field whose newest value `freshness_secs` is
    /// measured against the descriptor's `created_at`.
    pub event_time_field: Option<String>,
}

/// Who may read the product's bytes. The catalog entry itself is visible to
/// every member of the mesh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessMode {
    /// Anyone in the mesh.
    Public,
    /// These domains (and the owner).
    Domains(BTreeSet<DomainId>),
    /// Domains holding a valid grant signed by the owner.
    OwnerGranted,
}

/// The product's access policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPolicy {
    /// Who may read.
    pub mode: AccessMode,
    /// Whether a reader that holds a verified copy may serve it to others
    /// who are themselves allowed to read.
    pub reshare: bool,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self {
            mode: AccessMode::Public,
            reshare: true,
        }
    }
}

/// A product that should no longer be used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deprecation {
    /// Why, and what to do instead.
    pub reason: String,
    /// The product that replaces it, if any.
    pub successor: Option<ProductId>,
}

/// A data product descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Domain and name.
    pub id: ProductId,
    /// The domain's human name as the publisher states it (bound to the key
    /// by the federation's member list, not by this field).
    pub domain_name: String,
    /// Strictly increasing per product.
    pub version: u64,
    /// One-line title.
    pub title: String,
    /// What the product contains.
    pub description: String,
    /// Who answers for it.
    pub owner: Owner,
    /// The schema.
    pub schema: Schema,
    /// Byte format.
    pub format: Format,
    /// Size, chunking and manifest hash.
    pub content: Content,
    /// Search tags.
    pub tags: BTreeSet<String>,
    /// Quality promises.
    pub quality: Quality,
    /// Input products this one is derived from.
    pub lineage: Vec<ProductId>,
    /// Who may read it.
    pub access: AccessPolicy,
    /// How long consumers may keep copies, in days.
    pub retention_days: Option<u32>,
    /// When this version was created.
    pub created_at: Timestamp,
    /// Set when the product is deprecated.
    pub deprecation: Option<Deprecation>,
    /// How the CSV file spells its cells; `None` means the default dialect.
    pub csv: Option<CsvDialect>,
    /// What the data holds and whether it keeps the contract, computed by
    /// the publisher from the bytes; `None` means "not profiled".
    pub profile: Option<Profile>,
    /// How the product was computed, for a product published from a query
    /// (filled in by the node from the plan); `None` otherwise.
    pub derivation: Option<Derivation>,
}

impl Signable for Descriptor {
    const TAG: &'static str = "meshd/v4/descriptor";
}

/// Why a descriptor is structurally invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    /// The product name does not match the name pattern.
    #[error("product name: {0}")]
    Name(NameError),
    /// Version 0 is reserved.
    #[error("version must be at least 1")]
    ZeroVersion,
    /// A required text field is empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A text field is too long.
    #[error("{field} has {len} bytes; at most {max} allowed")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A list has too many entries.
    #[error("{field} has {count} entries; at most {max} allowed")]
    TooMany {
        /// Which list.
        field: &'static str,
        /// Its length.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The owner email is not an address.
    #[error("owner email {0:?} is not an email address")]
    BadEmail(String),
    /// A field name is invalid.
    #[error("schema field name: {0}")]
    FieldName(NameError),
    /// Two fields share a name.
    #[error("schema field {0:?} appears twice")]
    DuplicateField(String),
    /// A tag is invalid.
    #[error("tag: {0}")]
    Tag(NameError),
    /// The chunk size is out of range or not a power of two.
    #[error("chunk size {0} must be a power of two between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE}")]
    ChunkSize(u32),
    /// The product is larger than the mesh can describe with its chunk size.
    #[error("size {size} needs more than {MAX_CHUNKS} chunks of {chunk_size} bytes")]
    TooBig {
        /// Bytes.
        size: u64,
        /// Chunk size.
        chunk_size: u32,
    },
    /// Completeness above 100%.
    #[error("completeness {0}% is above 100%")]
    Completeness(u8),
    /// The product lists itself as an input.
    #[error("product lists itself in its lineage")]
    SelfLineage,
    /// An access list without domains.
    #[error("access list names no domain")]
    EmptyAccessList,
    /// The domain name is invalid.
    #[error("domain name: {0}")]
    DomainName(NameError),
    /// A field's constraints are unusable.
    #[error("schema: {0}")]
    Constraint(#[from] ConstraintError),
    /// Inner fields on a scalar type, more than one array element field, or
    /// nesting deeper than [`MAX_FIELD_DEPTH`].
    #[error("schema field {field:?}: {reason}")]
    Nesting {
        /// The field.
        field: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The CSV dialect is unusable.
    #[error("{0}")]
    Dialect(#[from] DialectError),
    /// A quality rule is inconsistent or names no usable field.
    #[error("quality: {0}")]
    QualityRule(String),
    /// The profile is over its limits.
    #[error("{0}")]
    Profile(#[from] ProfileError),
    /// The derivation is inconsistent or over its limits.
    #[error("{0}")]
    Derivation(#[from] DerivationError),
}

fn check_len(field: &'static str, text: &str, max: usize) -> Result<(), DescriptorError> {
    if text.len() > max {
        return Err(DescriptorError::TooLong {
            field,
            len: text.len(),
            max,
        });
    }
    Ok(())
}

fn check_count(field: &'static str, count: usize, max: usize) -> Result<(), DescriptorError> {
    if count > max {
        return Err(DescriptorError::TooMany { field, count, max });
    }
    Ok(())
}

fn check_required(field: &'static str, text: &str, max: usize) -> Result<(), DescriptorError> {
    if text.trim().is_empty() {
        return Err(DescriptorError::Missing(field));
    }
    check_len(field, text, max)
}

impl Descriptor {
    /// Checks every structural rule; returns the first failure.
    pub fn validate(&self) -> Result<(), DescriptorError> {
        check_name(&self.id.name).map_err(DescriptorError::Name)?;
        check_name(&self.domain_name).map_err(DescriptorError::DomainName)?;
        if self.version == 0 {
            return Err(DescriptorError::ZeroVersion);
        }
        check_required("title", &self.title, MAX_TITLE_LEN)?;
        check_len("description", &self.description, MAX_TEXT_LEN)?;
        check_len("owner name", &self.owner.name, MAX_TITLE_LEN)?;
        check_len("owner email", &self.owner.email, 254)?;
        if !self.owner.email.is_empty() && !is_email(&self.owner.email) {
            return Err(DescriptorError::BadEmail(self.owner.email.clone()));
        }
        self.validate_schema()?;
        check_count("tags", self.tags.len(), MAX_TAGS)?;
        for tag in &self.tags {
            check_name(tag).map_err(DescriptorError::Tag)?;
        }
        self.validate_content()?;
        if let Some(c) = self.quality.completeness_percent
            && c > 100
        {
            return Err(DescriptorError::Completeness(c));
        }
        check_count("lineage", self.lineage.len(), MAX_LINEAGE)?;
        if self.lineage.contains(&self.id) {
            return Err(DescriptorError::SelfLineage);
        }
        if let Some(derivation) = &self.derivation {
            let fields = self.schema.fields.iter().map(|f| f.name.as_str());
            derivation.validate(&self.lineage, fields)?;
        }
        if let AccessMode::Domains(domains) = &self.access.mode {
            if domains.is_empty() {
                return Err(DescriptorError::EmptyAccessList);
            }
            check_count("access domains", domains.len(), MAX_ACCESS_DOMAINS)?;
        }
        if let Some(dep) = &self.deprecation {
            check_required("deprecation reason", &dep.reason, MAX_TEXT_LEN)?;
        }
        if let Format::Other(name) = &self.format {
            check_name(name).map_err(DescriptorError::Name)?;
        }
        Ok(())
    }

    fn validate_schema(&self) -> Result<(), DescriptorError> {
        let total: usize = self.schema.fields.iter().map(|f| f.walk().len()).sum();
        check_count("schema fields", total, MAX_FIELDS)?;
        validate_fields(&self.schema.fields, 1)?;
        if let Some(dialect) = &self.csv {
            dialect.validate()?;
        }
        let quality = &self.quality;
        if let (Some(min), Some(max)) = (quality.min_rows, quality.max_rows)
            && min > max
        {
            return Err(DescriptorError::QualityRule(format!(
                "min_rows {min} is above max_rows {max}"
            )));
        }
        if let Some(name) = &quality.event_time_field {
            let field = self.schema.fields.iter().find(|f| &f.name == name);
            if !field.is_some_and(|f| matches!(f.data_type, DataType::Date | DataType::Timestamp)) {
                return Err(DescriptorError::QualityRule(format!(
                    "event_time_field {name:?} must name a top-level date or timestamp field"
                )));
            }
        }
        if let Some(profile) = &self.profile {
            profile.validate()?;
        }
        Ok(())
    }

    fn validate_content(&self) -> Result<(), DescriptorError> {
        let chunk_size = self.content.chunk_size;
        if !chunk_size.is_power_of_two() || !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size)
        {
            return Err(DescriptorError::ChunkSize(chunk_size));
        }
        if self.content.size.div_ceil(u64::from(chunk_size)) > MAX_CHUNKS as u64 {
            return Err(DescriptorError::TooBig {
                size: self.content.size,
                chunk_size,
            });
        }
        Ok(())
    }

    /// The descriptor's identity: hash of its canonical bytes.
    pub fn hash(&self) -> Hash {
        crate::encoding::tagged_hash(Self::TAG, self)
    }

    /// Whether any field is classified as personal data.
    pub fn has_pii(&self) -> bool {
        self.schema
            .fields
            .iter()
            .any(|f| f.strictest_classification() == Some(Classification::Pii))
    }
}

fn validate_fields(fields: &[Field], depth: usize) -> Result<(), DescriptorError> {
    let mut names = BTreeSet::new();
    for field in fields {
        check_field_name(&field.name).map_err(DescriptorError::FieldName)?;
        check_len("field description", &field.description, MAX_TEXT_LEN)?;
        if !names.insert(field.name.as_str()) {
            return Err(DescriptorError::DuplicateField(field.name.clone()));
        }
        field.constraints.validate(&field.name)?;
        let nesting = |reason| DescriptorError::Nesting {
            field: field.name.clone(),
            reason,
        };
        match field.data_type {
            DataType::Array if field.children.len() > 1 => {
                return Err(nesting("an array has one element field (items)"));
            }
            DataType::Object | DataType::Array => {}
            _ if !field.children.is_empty() => {
                return Err(nesting("only object and array fields have inner fields"));
            }
            _ => {}
        }
        if !field.children.is_empty() {
            if depth >= MAX_FIELD_DEPTH {
                return Err(nesting("nested deeper than 8 levels"));
            }
            validate_fields(&field.children, depth + 1)?;
        }
    }
    Ok(())
}

fn is_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, host)) => {
            !local.is_empty()
                && host.contains('.')
                && !host.starts_with('.')
                && !host.ends_with('.')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// A signed statement that a product is no longer offered. It takes a
/// version number like a descriptor and supersedes every lower version; a
/// later descriptor with a higher version publishes the product again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// The withdrawn product.
    pub product: ProductId,
    /// Higher than every version it withdraws.
    pub version: u64,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

impl Signable for Withdrawal {
    const TAG: &'static str = "meshd/v1/withdrawal";
}

impl Withdrawal {
    /// Structural checks, as for descriptors.
    pub fn validate(&self) -> Result<(), DescriptorError> {
        check_name(&self.product.name).map_err(DescriptorError::Name)?;
        if self.version == 0 {
            return Err(DescriptorError::ZeroVersion);
        }
        check_len("reason", &self.reason, MAX_TEXT_LEN)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::identity::DomainKeypair;

    /// A valid descriptor for tests, owned by `key`.
    pub(crate) fn sample(key: &DomainKeypair, name: &str, version: u64) -> Descriptor {
        Descriptor {
            id: ProductId {
                domain: key.domain_id(),
                name: name.into(),
            },
            domain_name: "sales".into(),
            version,
            title: "Orders".into(),
            description: "Every order placed".into(),
            owner: Owner {
                name: "Sales data team".into(),
                email: "data@sales.example".into(),
            },
            schema: Schema {
                major: 1,
                fields: vec![
                    Field {
                        name: "order_id".into(),
                        data_type: DataType::Int64,
                        nullable: false,
                        classification: Some(Classification::Internal),
                        description: "Order number".into(),
                        constraints: Constraints::default(),
                        children: Vec::new(),
                    },
                    Field {
                        name: "email".into(),
                        data_type: DataType::String,
                        nullable: true,
                        classification: Some(Classification::Pii),
                        description: "Customer email".into(),
                        constraints: Constraints::default(),
                        children: Vec::new(),
                    },
                ],
            },
            format: Format::Csv,
            content: Content {
                size: 3 * 1024 * 1024 + 5,
                chunk_size: 1024 * 1024,
                manifest_hash: Hash::of(b"manifest"),
            },
            tags: ["orders".to_string(), "sales".to_string()].into(),
            quality: Quality {
                freshness_secs: Some(3600),
                completeness_percent: Some(99),
                min_rows: None,
                max_rows: None,
                event_time_field: None,
            },
            lineage: vec![],
            access: AccessPolicy {
                mode: AccessMode::Domains(
                    [DomainKeypair::from_secret([42; 32]).domain_id()].into(),
                ),
                reshare: true,
            },
            retention_days: Some(30),
            created_at: Timestamp(1_700_000_000_000),
            deprecation: None,
            csv: None,
            profile: None,
            derivation: None,
        }
    }

    #[test]
    fn real_table_field_names_are_accepted() {
        for name in ["customerId", "ORDER_ID", "line2", "_meta", "a-b"] {
            assert_eq!(check_field_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn nested_pii_makes_the_product_contain_pii() {
        let key = DomainKeypair::from_secret([1; 32]);
        let mut d = sample(&key, "orders", 1);
        d.schema
            .fields
            .retain(|f| f.classification != Some(Classification::Pii));
        assert!(!d.has_pii());
        let mut contact = Field::new("email", DataType::String, true);
        contact.classification = Some(Classification::Pii);
        let mut customer = Field::new("customer", DataType::Object, true);
        customer.children.push(contact);
        let mut list = Field::new("customers", DataType::Array, true);
        list.children.push({
            let mut items = customer.clone();
            items.name = "items".into();
            items
        });
        d.schema.fields.push(list);
        assert_eq!(d.validate(), Ok(()));
        assert!(d.has_pii());
    }

    #[test]
    fn sample_is_valid() {
        let key = DomainKeypair::from_secret([1; 32]);
        assert_eq!(sample(&key, "orders", 1).validate(), Ok(()));
    }

    /// A change to a valid descriptor and the error it must cause.
    type Case = (Box<dyn Fn(&mut Descriptor)>, DescriptorError);

    #[test]
    #[allow(clippy::too_many_lines, reason = "one case per rule, read as a table")]
    fn each_structural_rule_fails_with_its_own_error() {
        let key = DomainKeypair::from_secret([1; 32]);
        let base = sample(&key, "orders", 1);
        let cases: Vec<Case> = vec![
            (
                Box::new(|d| d.id.name = "Orders".into()),
                DescriptorError::Name(NameError::BadStart("Orders".into())),
            ),
            (Box::new(|d| d.version = 0), DescriptorError::ZeroVersion),
            (
                Box::new(|d| d.title = "  ".into()),
                DescriptorError::Missing("title"),
            ),
            (
                Box::new(|d| d.description = "x".repeat(MAX_TEXT_LEN + 1)),
                DescriptorError::TooLong {
                    field: "description",
                    len: MAX_TEXT_LEN + 1,
                    max: MAX_TEXT_LEN,
                },
            ),
            (
                Box::new(|d| d.owner.email = "nobody".into()),
                DescriptorError::BadEmail("nobody".into()),
            ),
            (
                Box::new(|d| {
                    let f = d.schema.fields[0].clone();
                    d.schema.fields.push(f);
                }),
                DescriptorError::DuplicateField("order_id".into()),
            ),
            (
                Box::new(|d| d.schema.fields[0].name = "a b".into()),
                DescriptorError::FieldName(NameError::BadFieldChar("a b".into())),
            ),
            (
                Box::new(|d| d.schema.fields[0].name = "1st".into()),
                DescriptorError::FieldName(NameError::BadFieldStart("1st".into())),
            ),
            (
                Box::new(|d| {
                    d.schema.fields[0]
                        .children
                        .push(Field::new("x", DataType::Int32, true));
                }),
                DescriptorError::Nesting {
                    field: "order_id".into(),
                    reason: "only object and array fields have inner fields",
                },
            ),
            (
                Box::new(|d| {
                    d.quality.min_rows = Some(5);
                    d.quality.max_rows = Some(4);
                }),
                DescriptorError::QualityRule("min_rows 5 is above max_rows 4".into()),
            ),
            (
                Box::new(|d| d.quality.event_time_field = Some("email".into())),
                DescriptorError::QualityRule(
                    "event_time_field \"email\" must name a top-level date or timestamp field"
                        .into(),
                ),
            ),
            (
                Box::new(|d| {
                    d.csv = Some(crate::contract::CsvDialect {
                        quote: b',',
                        ..Default::default()
                    });
                }),
                DescriptorError::Dialect(crate::contract::DialectError::Bytes),
            ),
            (
                Box::new(|d| {
                    d.tags.insert("Bad Tag".into());
                }),
                DescriptorError::Tag(NameError::BadStart("Bad Tag".into())),
            ),
            (
                Box::new(|d| d.content.chunk_size = 1000),
                DescriptorError::ChunkSize(1000),
            ),
            (
                Box::new(|d| d.content.size = u64::MAX),
                DescriptorError::TooBig {
                    size: u64::MAX,
                    chunk_size: 1024 * 1024,
                },
            ),
            (
                Box::new(|d| d.quality.completeness_percent = Some(101)),
                DescriptorError::Completeness(101),
            ),
            (
                Box::new(|d| d.lineage.push(d.id.clone())),
                DescriptorError::SelfLineage,
            ),
            (
                Box::new(|d| d.access.mode = AccessMode::Domains(BTreeSet::new())),
                DescriptorError::EmptyAccessList,
            ),
            (
                Box::new(|d| {
                    d.tags = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
                }),
                DescriptorError::TooMany {
                    field: "tags",
                    count: MAX_TAGS + 1,
                    max: MAX_TAGS,
                },
            ),
            (
                Box::new(|d| {
                    d.deprecation = Some(Deprecation {
                        reason: String::new(),
                        successor: None,
                    });
                }),
                DescriptorError::Missing("deprecation reason"),
            ),
        ];
        for (mutate, expected) in cases {
            let mut d = base.clone();
            mutate(&mut d);
            assert_eq!(d.validate(), Err(expected.clone()), "expected {expected}");
        }
    }

    #[test]
    fn product_id_text_roundtrip() {
        let key = DomainKeypair::from_secret([1; 32]);
        let id = sample(&key, "orders", 1).id;
        assert_eq!(id.to_string().parse::<ProductId>(), Ok(id));
        assert_eq!(
            "nodomain".parse::<ProductId>(),
            Err(ProductIdError::MissingSlash)
        );
        assert!("abc/orders".parse::<ProductId>().is_err());
    }

    #[test]
    fn widening_rules() {
        assert!(DataType::Int32.widens_to(DataType::Int64));
        assert!(!DataType::Int64.widens_to(DataType::Int32));
        assert!(DataType::Float32.widens_to(DataType::Float64));
        assert!(!DataType::String.widens_to(DataType::Int64));
        assert!(DataType::Boolean.widens_to(DataType::Boolean));
    }
}
