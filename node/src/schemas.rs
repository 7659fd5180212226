//! OpenAPI schemas for types the API sends but does not own.
//!
//! Below the API and the node (both name product ids in their documented
//! types). mesh-protocol stays free of HTTP concerns, so its types (descriptors,
//! catalog items, product ids) are described here as documented objects
//! instead of deriving schemas in the protocol crate.

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{RefOr, SecurityRequirement};
use utoipa::{Modify, PartialSchema, ToSchema};

fn object(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .into()
}

macro_rules! opaque {
    ($name:ident, $shown:literal, $description:literal) => {
        #[doc = $description]
        pub(crate) struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                object($description)
            }
        }
        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($shown)
            }
        }
    };
}

opaque!(
    SignedDescriptorDoc,
    "SignedDescriptor",
    "A descriptor and its domain's signature: `{value: Descriptor, signer, signature}`. The descriptor has `id {domain, name}`, `domain_name`, `version`, `title`, `description`, `owner`, `schema {major, fields}`, `format`, `content {size, chunk_size, manifest_hash}`, `tags`, `quality`, `lineage`, `access`, `retention_days`, `created_at`, `deprecation`, `csv`, `profile`, and for a product published from a query `derivation {query, inputs: [{product, version, descriptor}], columns: [{name, sources: [{input, column}]}]}`."
);
opaque!(
    CatalogItemDoc,
    "CatalogItem",
    "A catalog entry: `{\"Descriptor\": SignedDescriptor}` for a published version or `{\"Withdrawal\": {value, signer, signature}}` for a withdrawn product."
);
opaque!(
    ProductDraftDoc,
    "ProductDraft",
    "What a publisher says about a product: `name`, `title`, `format` (required), `description`, `owner {name, email}`, `schema {major, fields: [{name, data_type, nullable, classification, description}]}`, `tags`, `quality {freshness_secs, completeness_percent}`, `lineage`, `access {mode, reshare}`, `retention_days`, `chunk_size`."
);
opaque!(
    ProductIdDoc,
    "ProductId",
    "A product id: `{domain: 32 hex digits, name}`; written `DOMAIN/name`."
);

/// A request body of raw bytes.
pub(crate) struct BinaryDoc;

impl PartialSchema for BinaryDoc {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for BinaryDoc {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Binary")
    }
}

/// The error body every failing route answers.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorDoc {
    /// Stable machine code, e.g. `unauthorized`, `unknown_product`.
    code: String,
    /// What went wrong and what to do, for a person.
    message: String,
}

/// Declares the bearer token scheme and requires it on every operation
/// that is not marked public.
pub(crate) struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the token in DATA_DIR/api.token"))
                    .build(),
            ),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "token",
            Vec::<String>::new(),
        )]);
    }
}
