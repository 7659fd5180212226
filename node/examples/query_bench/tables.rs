//! The eight TPC-H tables as Parquet files, from `tpchgen-arrow`.
//!
//! The generator's strings are `Utf8View`; they are written as plain UTF-8
//! (`Utf8`), as most writers do, so the files are what a domain would
//! publish. The declared schema of each product is read off the Arrow
//! schema (`mesh_data::declared_field`), every column required.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use mesh_protocol::descriptor::Field as Declared;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

/// A table's batches as the generator yields them.
type Batches = Box<dyn Iterator<Item = Result<RecordBatch, arrow_schema::ArrowError>>>;

/// Rows per batch the generator yields.
const BATCH: usize = 64 * 1024;

/// Writes every table under `dir` as `<table>.parquet`; returns each
/// table's name, file size and declared fields.
pub(crate) fn generate(dir: &Path, sf: f64) -> anyhow::Result<Vec<(String, u64, Vec<Declared>)>> {
    let tables: Vec<(&str, Batches)> = vec![
        (
            "lineitem",
            Box::new(LineItemArrow::new(LineItemGenerator::new(sf, 1, 1)).with_batch_size(BATCH)),
        ),
        (
            "orders",
            Box::new(OrderArrow::new(OrderGenerator::new(sf, 1, 1)).with_batch_size(BATCH)),
        ),
        (
            "customer",
            Box::new(CustomerArrow::new(CustomerGenerator::new(sf, 1, 1)).with_batch_size(BATCH)),
        ),
        (
            "part",
            Box::new(PartArrow::new(PartGenerator::new(sf, 1, 1)).with_batch_size(BATCH)),
        ),
        (
            "partsupp",
            Box::new(PartSuppArrow::new(PartSuppGenerator::new(sf, 1, 1)).with_batch_size(BATCH)),
        ),
        (
            "supplier",
            Box::new(SupplierArrow::new(SupplierGenerator::new(sf, 1, 1)).with_batch_size(BATCH)),
        ),
        (
            "nation",
            Box::new(NationArrow::new(NationGenerator::new(sf, 1, 1))),
        ),
        (
            "region",
            Box::new(RegionArrow::new(RegionGenerator::new(sf, 1, 1))),
        ),
    ];
    let mut out = Vec::new();
    for (name, batches) in tables {
        let path = dir.join(format!("{name}.parquet"));
        let fields = write(&path, batches)?;
        out.push((name.to_owned(), std::fs::metadata(&path)?.len(), fields));
    }
    Ok(out)
}

/// `Utf8View` columns as `Utf8`.
fn plain(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8View => Field::new(f.name(), DataType::Utf8, f.is_nullable()),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

fn write(path: &Path, batches: Batches) -> anyhow::Result<Vec<Declared>> {
    let mut writer: Option<(ArrowWriter<std::fs::File>, SchemaRef)> = None;
    for batch in batches {
        let batch = batch?;
        let schema = plain(&batch.schema());
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
            .collect::<Result<_, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        if writer.is_none() {
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let file = std::fs::File::create(path)?;
            writer = Some((
                ArrowWriter::try_new(file, schema.clone(), Some(props))?,
                schema,
            ));
        }
        if let Some((w, _)) = &mut writer {
            w.write(&batch)?;
        }
    }
    let (w, schema) = writer.ok_or_else(|| anyhow::anyhow!("{} has no rows", path.display()))?;
    w.close()?;
    Ok(schema
        .fields()
        .iter()
        .map(|f| mesh_data::declared_field(f))
        .collect())
}
