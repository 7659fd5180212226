//! One product as a table: its verified copy, read as its descriptor's
//! schema says.
//!
//! Parquet, Arrow IPC and JSON Lines are read by DataFusion's own readers
//! with the declared schema as the table's: a stored type that widens to
//! the declared one is cast, a declared field the file lacks reads as
//! null. A CSV is never typed by inference: its cells are read as text
//! (null spelling from the descriptor) and each declared field is a
//! `TRY_CAST` of its column, so a cell that is not of its declared type
//! reads as null instead of failing the query; the product's profile
//! already says it breaks its contract, and the query's notes say so.
//!
//! The file's own header or footer is read first by `mesh-data`, whose
//! readers bound every claimed size, so a hostile footer is refused before
//! the engine sees it.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType as Arrow, Field as ArrowField, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::{Column, ScalarValue, TableReference};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::arrow::ArrowFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, try_cast};
use datafusion::prelude::SessionContext;
use mesh_protocol::contract::CsvDialect;
use mesh_protocol::descriptor::{DataType, Field, Format};

use crate::{ProductRef, QueryError};

/// The schema the engine keeps a CSV's text columns under, out of the
/// users' reach (no product's domain is named so).
pub(crate) const FILES_SCHEMA: &str = "__mesh_files";

/// A product resolved to a copy this node holds and may read.
#[derive(Clone, Debug)]
pub struct Input {
    /// The table as the query named it.
    pub named: ProductRef,
    /// The owner domain's name.
    pub domain: String,
    /// The product's name.
    pub product: String,
    /// The version read.
    pub version: u64,
    /// The verified copy.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// The CSV dialect (CSV only).
    pub csv: CsvDialect,
    /// The signed schema's fields.
    pub fields: Vec<Field>,
    /// Whether the data conforms to its contract, from its profile; `None`
    /// when the product has no profile.
    pub conforms: Option<bool>,
}

impl Input {
    /// `domain.product@version`, the exact input.
    pub fn exact(&self) -> String {
        format!("{}.{}@{}", self.domain, self.product, self.version)
    }
}

/// Registers `input`'s table (index `index` of the query's inputs); returns
/// the name its file is scanned under, which lineage maps back to it.
pub(crate) async fn register(
    ctx: &SessionContext,
    input: &Input,
    index: usize,
) -> Result<TableReference, QueryError> {
    let failed = |e: &dyn std::fmt::Display| QueryError::Failed(format!("{}: {e}", input.exact()));
    let path = input
        .path
        .to_str()
        .ok_or_else(|| failed(&"the copy's path is not UTF-8"))?;
    let url = ListingTableUrl::parse(path).map_err(|e| failed(&e))?;
    let table = input.named.table_reference();
    match &input.format {
        Format::Csv => {
            let header = file_schema(input)?;
            let text = Arc::new(Schema::new(
                header
                    .fields()
                    .iter()
                    .map(|f| ArrowField::new(f.name(), Arrow::Utf8, true))
                    .collect::<Vec<_>>(),
            ));
            let format = CsvFormat::default()
                .with_has_header(true)
                .with_delimiter(input.csv.delimiter)
                .with_quote(input.csv.quote)
                .with_escape(None)
                .with_null_regex(Some(null_regex(&input.csv)))
                .with_newlines_in_values(true);
            let files = TableReference::partial(FILES_SCHEMA, format!("t{index}"));
            ctx.register_table(files.clone(), listing(url, Arc::new(format), text)?)?;
            let scan = ctx.table(files.clone()).await?.into_unoptimized_plan();
            let columns = input.fields.iter().map(|f| {
                let name = f.name.as_str();
                let to = csv_type(f.data_type);
                let value = if header.field_with_name(name).is_ok() {
                    if to == Arrow::Utf8 {
                        Expr::Column(Column::from_name(name))
                    } else {
                        try_cast(Expr::Column(Column::from_name(name)), to)
                    }
                } else {
                    let null = ScalarValue::try_from(&to)?;
                    Expr::Literal(null, None)
                };
                Ok::<_, QueryError>(value.alias(name))
            });
            let plan = LogicalPlanBuilder::from(scan)
                .project(columns.collect::<Result<Vec<_>, _>>()?)?
                .build()?;
            ctx.register_table(table, Arc::new(ViewTable::new(plan, None)))?;
            Ok(files)
        }
        Format::Parquet | Format::Arrow | Format::Jsonl => {
            let stored = match input.format {
                Format::Jsonl => None,
                _ => Some(file_schema(input)?),
            };
            let mut schema = declared_schema(&input.fields, stored.as_ref());
            if input.format == Format::Parquet {
                schema = string_views(&schema);
            }
            let format: Arc<dyn FileFormat> = match input.format {
                Format::Parquet => Arc::new(ParquetFormat::default()),
                Format::Arrow => Arc::new(ArrowFormat),
                _ => Arc::new(JsonFormat::default().with_newline_delimited(true)),
            };
            ctx.register_table(table.clone(), listing(url, format, schema)?)?;
            Ok(table)
        }
        other => Err(QueryError::User(format!(
            "{} is {other}, which the query engine does not read (CSV, JSON Lines, Parquet and Arrow IPC are)",
            input.exact()
        ))),
    }
}

fn listing(
    url: ListingTableUrl,
    format: Arc<dyn FileFormat>,
    schema: SchemaRef,
) -> Result<Arc<dyn TableProvider>, QueryError> {
    // A blob file has no extension: match every file name.
    let options = ListingOptions::new(format).with_file_extension("");
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// The file's own columns, read by `mesh-data` (header or footer only),
/// whose limits refuse a hostile footer before the engine reads it.
fn file_schema(input: &Input) -> Result<SchemaRef, QueryError> {
    let mut options = mesh_data::ReadOptions::new(input.format.clone());
    options.csv = mesh_data::CsvDialect {
        delimiter: input.csv.delimiter,
        quote: input.csv.quote,
    };
    mesh_data::open(&input.path, &options)
        .map(|batches| batches.schema())
        .map_err(|e| QueryError::Failed(format!("{}: {e}", input.exact())))
}

/// The table's schema: every declared field as its declared type. Where
/// the file already stores a value of that type, its own Arrow type is
/// kept (a `decimal` stored as `Decimal128(15, 2)` keeps its precision and
/// scale, a string stored as `Utf8View` is not copied to `Utf8`); where it
/// stores another type, the column is cast to the declared one. An object
/// or array is always as the file stores it (its children are the file's).
fn declared_schema(fields: &[Field], stored: Option<&SchemaRef>) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|f| {
                let nested = matches!(f.data_type, DataType::Object | DataType::Array);
                let t = stored
                    .and_then(|s| s.field_with_name(&f.name).ok())
                    .filter(|s| {
                        nested || mesh_data::types::mesh_type(s.data_type()) == Some(f.data_type)
                    })
                    .map_or_else(
                        || mesh_data::types::arrow_type(f.data_type),
                        |s| s.data_type().clone(),
                    );
                ArrowField::new(&f.name, t, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// Parquet strings read as `Utf8View`: the reader decodes them into views
/// of its pages without copying, and DataFusion's string kernels
/// (comparisons, LIKE, grouping) are fastest on them.
fn string_views(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                Arrow::Utf8 | Arrow::LargeUtf8 => {
                    ArrowField::new(f.name(), Arrow::Utf8View, f.is_nullable())
                }
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// The type a CSV cell is cast to: objects and arrays stay text.
fn csv_type(t: DataType) -> Arrow {
    match t {
        DataType::Object | DataType::Array => Arrow::Utf8,
        other => mesh_data::types::arrow_type(other),
    }
}

/// The cells that are null: the dialect's null spelling, and the empty
/// cell unless the descriptor says empty is a value.
fn null_regex(dialect: &CsvDialect) -> String {
    let null = regex::escape(&dialect.null);
    if dialect.null.is_empty() {
        "^$".to_owned()
    } else if dialect.empty_is_value {
        format!("^{null}$")
    } else {
        format!("^(?:{null})?$")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_types_of_the_declared_type_are_kept_others_are_cast() {
        let stored: SchemaRef = Arc::new(Schema::new(vec![
            ArrowField::new("price", Arrow::Decimal128(15, 2), false),
            ArrowField::new("name", Arrow::Utf8View, false),
            ArrowField::new("qty", Arrow::Int32, false),
            ArrowField::new("code", Arrow::Int64, false),
        ]));
        let declared = [
            Field::new("price", DataType::Decimal, false),
            Field::new("name", DataType::String, false),
            Field::new("qty", DataType::Int64, false),
            Field::new("code", DataType::String, false),
            Field::new("missing", DataType::Date, true),
        ];
        let schema = declared_schema(&declared, Some(&stored));
        let types: Vec<&Arrow> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(
            types,
            [
                &Arrow::Decimal128(15, 2),
                &Arrow::Utf8View,
                &Arrow::Int64,
                &Arrow::Utf8,
                &Arrow::Date32
            ]
        );
    }
}
