//! The first rows of a product, for `mesh preview` and the API: from the
//! verified copy this node holds, or, for a product it does not hold, from
//! only the chunks those rows need.
//!
//! A remote preview reads through [`PartialSource`], which answers from the
//! verified chunks of the product's partial file and notes every chunk a
//! read wanted and the node does not hold. The reader runs; when it stops
//! on a missing chunk, the node fetches the chunks it noted (a partial
//! fetch: same providers, access checks and verification as any fetch,
//! see `event_loop::fetching::partial`) and reads again. A CSV or JSON
//! Lines preview so costs its first chunk or two; a Parquet or Arrow file
//! its footer and the chunks of its first row group or batch. Rounds and
//! chunks are bounded; nothing is ever recorded as a complete product.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, Mutex};

use mesh_data::contract::{self, Contract};
use mesh_data::preview::{Preview, preview_source};
use mesh_data::read::Source;
use mesh_protocol::descriptor::{Descriptor, Format};
use mesh_protocol::{CatalogItem, ProductId};
use tokio::sync::oneshot;

use crate::command::Command;
use crate::error::NodeError;
use crate::fetch::Chunks;
use crate::fetch::{FetchError, FetchRecord};
use crate::node::NodeHandle;

/// Most fetch rounds a remote preview makes.
const MAX_ROUNDS: usize = 16;
/// Most chunks a remote preview fetches; beyond, fetch the product.
pub const MAX_PREVIEW_CHUNKS: usize = 64;

/// Why a preview failed.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The product, version or node.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Getting the chunks.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The data does not read as its format.
    #[error("{0}")]
    Read(String),
    /// More chunks than a preview fetches.
    #[error(
        "a preview of {0} needs more than {MAX_PREVIEW_CHUNKS} chunks; fetch it with `mesh fetch {0}`"
    )]
    TooLarge(String),
}

/// A preview and what it cost.
#[derive(Clone, Debug)]
pub struct Shown {
    /// The version read.
    pub version: u64,
    /// The rows.
    pub preview: Preview,
    /// Whether the node holds the whole product.
    pub held: bool,
    /// Chunks of the product the node holds (all of them when `held`).
    pub chunks_held: u32,
    /// Chunks the product has.
    pub chunks_total: u32,
}

impl NodeHandle {
    /// The first `rows` rows of a product (see the module doc).
    pub async fn preview(
        &self,
        product: ProductId,
        version: Option<u64>,
        rows: usize,
    ) -> Result<Shown, PreviewError> {
        let descriptor = self.descriptor_at(&product, version).await?;
        if !contract::profiles(&descriptor.format) {
            return Err(PreviewError::Read(format!(
                "meshd does not read {} files; it reads csv, jsonl, parquet and arrow",
                descriptor.format
            )));
        }
        let content = &descriptor.content;
        let total = u32::try_from(
            content
                .size
                .div_ceil(u64::from(content.chunk_size.max(1)))
                .max(1),
        )
        .unwrap_or(u32::MAX);
        let opts = Contract::of(&descriptor).read_options(descriptor.format.clone());
        let hash = content.manifest_hash;
        let _pin = self.blobs.pin(hash);
        let mut want = first_chunks(&descriptor, total);
        for _ in 0..MAX_ROUNDS {
            let (reply, answer) = oneshot::channel();
            self.commands
                .send(Command::FetchChunks {
                    product: product.clone(),
                    version: Some(descriptor.version),
                    chunks: want.clone(),
                    reply,
                })
                .await
                .map_err(|_| NodeError::Stopped)?;
            let chunks = answer.await.map_err(|_| NodeError::Stopped)??;
            let (source, missing, held): (Arc<dyn Source>, _, _) = match chunks {
                Chunks::Held => {
                    let file = std::fs::File::open(self.blobs.path(&hash))
                        .and_then(mesh_data::read::FileSource::new)
                        .map_err(|e| PreviewError::Read(e.to_string()))?;
                    (Arc::new(file), None, total)
                }
                Chunks::Partial { path, record } => {
                    let held = (0..total).filter(|i| record.has(*i)).count();
                    let source = PartialSource::open(
                        &path,
                        content.size,
                        u64::from(content.chunk_size),
                        record,
                    )
                    .map_err(|e| PreviewError::Read(e.to_string()))?;
                    let missing = source.missing.clone();
                    (
                        Arc::new(source),
                        Some(missing),
                        u32::try_from(held).unwrap_or(u32::MAX),
                    )
                }
            };
            let read_opts = opts.clone();
            let read =
                tokio::task::spawn_blocking(move || preview_source(source, &read_opts, rows))
                    .await
                    .map_err(|_| NodeError::Stopped)?;
            let wanted_more = missing
                .as_ref()
                .map(|m| m.lock().map(|m| m.clone()).unwrap_or_default())
                .unwrap_or_default();
            match read {
                Ok(preview) => {
                    return Ok(Shown {
                        version: descriptor.version,
                        preview,
                        held: missing.is_none(),
                        chunks_held: held,
                        chunks_total: total,
                    });
                }
                Err(e) if wanted_more.is_empty() => return Err(PreviewError::Read(e.to_string())),
                Err(_) => {
                    if held as usize + wanted_more.len() > MAX_PREVIEW_CHUNKS {
                        return Err(PreviewError::TooLarge(product.to_string()));
                    }
                    want = wanted_more;
                }
            }
        }
        Err(PreviewError::TooLarge(product.to_string()))
    }

    /// The descriptor of `product` at `version` (default: the newest).
    async fn descriptor_at(
        &self,
        product: &ProductId,
        version: Option<u64>,
    ) -> Result<Descriptor, NodeError> {
        self.versions(product.clone())
            .await?
            .into_iter()
            .filter_map(|i| match i {
                CatalogItem::Descriptor(d) => Some(d.value),
                CatalogItem::Withdrawal(_) => None,
            })
            .filter(|d| version.is_none_or(|v| d.version == v))
            .max_by_key(|d| d.version)
            .ok_or_else(|| NodeError::UnknownProduct(product.to_string()))
    }
}

/// The chunks a preview of `descriptor` asks for first: the start of a
/// text file; the end (footer) and the start of a Parquet or Arrow file.
fn first_chunks(descriptor: &Descriptor, total: u32) -> BTreeSet<u32> {
    let mut want = BTreeSet::from([0]);
    if matches!(descriptor.format, Format::Parquet | Format::Arrow) {
        want.insert(total.saturating_sub(1));
    }
    want
}

/// A product's partial file read only where its chunks are verified.
struct PartialSource {
    file: std::fs::File,
    size: u64,
    chunk_size: u64,
    record: FetchRecord,
    /// Chunks a read wanted that are not held.
    missing: Arc<Mutex<BTreeSet<u32>>>,
}

impl PartialSource {
    fn open(
        path: &std::path::Path,
        size: u64,
        chunk_size: u64,
        record: FetchRecord,
    ) -> io::Result<Self> {
        Ok(Self {
            file: std::fs::File::open(path)?,
            size,
            chunk_size: chunk_size.max(1),
            record,
            missing: Arc::default(),
        })
    }
}

impl Source for PartialSource {
    fn len(&self) -> u64 {
        self.size
    }

    fn granularity(&self) -> Option<u64> {
        Some(self.chunk_size)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|end| *end <= self.size)
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        if buf.is_empty() {
            return Ok(());
        }
        let first = offset / self.chunk_size;
        let last = (end - 1) / self.chunk_size;
        let absent: Vec<u32> = (first..=last)
            .filter_map(|i| u32::try_from(i).ok())
            .filter(|i| !self.record.has(*i))
            .collect();
        if let Some(i) = absent.first() {
            let i = *i;
            if let Ok(mut missing) = self.missing.lock() {
                missing.extend(absent);
            }
            return Err(io::Error::other(format!("chunk {i} is not held here yet")));
        }
        self.file.read_exact_at(buf, offset)
    }
}
