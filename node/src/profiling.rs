//! Reading a product's data while it is published or fetched: the profile
//! its publisher signs, and the check every consumer makes of it.
//!
//! Publishing reads the file once: the bytes that go into the blob store
//! and the manifest also stream, through a bounded channel, to a thread
//! that parses and profiles them (CSV, JSON Lines). Parquet and Arrow files
//! are read from their end (the footer) first, so their profiler reads
//! through a [`Window`] over the copy: the footer read up front (and
//! compared when the copy passes it), the rest as the copy delivers it.
//! A file that changed during the publish fails it. All of it runs on
//! blocking threads, never on the event loop.
//!
//! A finished fetch recomputes the profile from the verified bytes
//! ([`verify`]); a profile that differs from the signed one is evidence
//! that the owner signed a false profile, kept with the signed descriptor
//! (anyone holding the bytes can re-derive it).

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use mesh_data::contract::{self, Contract};
use mesh_data::read::{Source, Window};
use mesh_protocol::descriptor::{Descriptor, Format};
use mesh_protocol::profile::{PROFILE_METHOD, Profile};
use mesh_protocol::{Manifest, SignedDescriptor};
use serde::{Deserialize, Serialize};

use crate::blobs::{Blobs, Observe, Pin};

/// Buffers in flight between the reading thread and the profiling thread
/// (each at most the ingest buffer's size).
const PIPE_DEPTH: usize = 8;

/// Copies `source` into the blob store, building its manifest, and
/// profiles it against `contract` when meshd reads `format`.
pub(crate) fn ingest_and_profile(
    blobs: &Blobs,
    source: &Path,
    chunk_size: u32,
    format: &Format,
    contract: &Contract,
) -> std::io::Result<(Manifest, Pin, Option<Profile>)> {
    if !contract::profiles(format) {
        let (manifest, pin) = blobs.ingest(source, chunk_size, &mut |_: &[u8]| {})?;
        return Ok((manifest, pin, None));
    }
    let (format, contract) = (format.clone(), contract.clone());
    if matches!(format, Format::Csv | Format::Jsonl) {
        let (tx, rx) = sync_channel::<Vec<u8>>(PIPE_DEPTH);
        let (profile, ingested) = beside_the_copy(
            move || contract::profile_stream(Pipe::new(rx), &format, &contract),
            || {
                let mut sender: Option<SyncSender<Vec<u8>>> = Some(tx);
                blobs.ingest(source, chunk_size, &mut |bytes: &[u8]| {
                    // A profiler that stopped (an unreadable file) hangs
                    // up; the copy goes on without it.
                    if let Some(tx) = &sender
                        && tx.send(bytes.to_vec()).is_err()
                    {
                        sender = None;
                    }
                })
                // The sender is dropped here: the profiler sees the end.
            },
        )?;
        let (manifest, pin) = ingested?;
        return Ok((manifest, pin, Some(profile)));
    }
    // Parquet and Arrow IPC are read from their end, so they cannot ride
    // along the copy as a stream: the profiler reads them through a window
    // over the copy (their footer read up front, checked when the copy
    // passes it), so the copy's one read of the file feeds both.
    let window = Arc::new(Window::open(
        &File::open(source)?,
        &format,
        mesh_data::read::Limits::default().max_metadata_bytes,
    )?);
    let read_through: Arc<dyn Source> = window.clone();
    let reader_side = ReaderDone(window.clone());
    let (profile, ingested) = beside_the_copy(
        move || {
            let _done = reader_side;
            contract::profile_source(read_through, &format, &contract)
        },
        || {
            let ingested = blobs.ingest(source, chunk_size, &mut IntoWindow(&window));
            window.end(ingested.as_ref().map(|_| ()).map_err(ToString::to_string));
            ingested
        },
    )?;
    let (manifest, pin) = ingested?;
    if !window.intact() {
        return Err(std::io::Error::other(format!(
            "{} changed while it was being published; publish it again",
            source.display()
        )));
    }
    Ok((manifest, pin, Some(profile)))
}

/// Feeds a copy into a [`Window`].
struct IntoWindow<'a>(&'a Window);

impl Observe for IntoWindow<'_> {
    fn output(&mut self, file: &File) -> std::io::Result<()> {
        self.0.spill_to(file.try_clone()?);
        Ok(())
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.0.feed(bytes);
    }
}

/// Tells a [`Window`] its reader stopped, however the profiler ends (a
/// panic included), so the copy never waits for it.
struct ReaderDone(Arc<Window>);

impl Drop for ReaderDone {
    fn drop(&mut self) {
        self.0.reader_done();
    }
}

/// Runs `profile` on a thread of its own while `copy` runs on this one;
/// both results, once both are done (a copy that fails still waits for
/// the profiler, which then ends at its input's end).
fn beside_the_copy<T>(
    profile: impl FnOnce() -> Result<Profile, contract::CheckError> + Send + 'static,
    copy: impl FnOnce() -> T,
) -> std::io::Result<(Profile, T)> {
    let worker = std::thread::Builder::new()
        .name("meshd-profile".into())
        .spawn(profile)?;
    let copied = copy();
    let profile = worker
        .join()
        .map_err(|_| std::io::Error::other("the profiling thread panicked"))?
        .map_err(std::io::Error::other)?;
    Ok((profile, copied))
}

/// A reader over the buffers a channel delivers, ending when the sender
/// hangs up.
struct Pipe {
    rx: Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl Pipe {
    fn new(rx: Receiver<Vec<u8>>) -> Self {
        Self {
            rx,
            current: Vec::new(),
            at: 0,
        }
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.current.len() {
            match self.rx.recv() {
                Ok(next) => {
                    self.current = next;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// What a consumer found when it recomputed a product's profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileCheck {
    /// The recomputed profile is the signed one.
    Matches,
    /// The recomputed profile differs: the owner signed a false profile.
    Disputed,
    /// The descriptor carries no profile.
    NotProfiled,
    /// The profile was computed with other rules than this node's; it is
    /// not judged.
    OtherMethod,
    /// This node could not recompute it (its own failure, such as a full
    /// scratch directory); it is not judged, and is checked again by the
    /// next fetch or `mesh check`.
    NotChecked,
}

/// The evidence of a false profile: the signed descriptor and the profile
/// its bytes give.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDispute {
    /// The descriptor as its owner signed it.
    pub signed: SignedDescriptor,
    /// The profile recomputed from the verified bytes.
    pub recomputed: Profile,
}

impl ProfileDispute {
    /// The metadata key of the dispute about one descriptor.
    pub fn key(descriptor: &Descriptor) -> String {
        format!("{}{}", Self::PREFIX, descriptor.hash())
    }

    /// Prefix of every dispute key.
    pub const PREFIX: &'static str = "profile-dispute/";
}

/// Recomputes the profile of a verified blob and compares it with the
/// signed one, spilling to `scratch`. A failure of this node (not of the
/// data) is [`ProfileCheck::NotChecked`], never a dispute.
pub(crate) fn verify(
    blob: &Path,
    scratch: &Path,
    signed: &SignedDescriptor,
) -> (ProfileCheck, Option<Profile>) {
    let descriptor = &signed.value;
    let Some(claimed) = &descriptor.profile else {
        return (ProfileCheck::NotProfiled, None);
    };
    if claimed.method != PROFILE_METHOD || !contract::profiles(&descriptor.format) {
        return (ProfileCheck::OtherMethod, None);
    }
    let contract = Contract::of(descriptor).with_scratch(scratch.to_path_buf());
    let recomputed = match contract::profile_file(blob, &descriptor.format, &contract) {
        Ok(profile) => profile,
        Err(e) => {
            tracing::warn!(product = %descriptor.id, error = %e, "cannot recompute the profile here");
            return (ProfileCheck::NotChecked, None);
        }
    };
    if &recomputed == claimed {
        (ProfileCheck::Matches, None)
    } else {
        (ProfileCheck::Disputed, Some(recomputed))
    }
}

/// What `mesh check` reports: the contract check re-run on this node's
/// verified copy, and how it compares with the signed profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckReport {
    /// The product.
    #[schema(value_type = crate::schemas::ProductIdDoc)]
    pub product: mesh_protocol::ProductId,
    /// The version checked.
    pub version: u64,
    /// Whether the data keeps its contract.
    pub conforms: bool,
    /// The profile computed here from the verified bytes.
    #[schema(value_type = Object)]
    pub profile: Profile,
    /// How it compares with the profile the owner signed.
    pub signed: ProfileCheck,
}

impl crate::node::NodeHandle {
    /// Re-runs the contract check on the verified copy this node holds of
    /// `product` (the current version, or `version`).
    pub async fn check(
        &self,
        product: mesh_protocol::ProductId,
        version: Option<u64>,
    ) -> Result<CheckReport, crate::node::NodeError> {
        use crate::node::NodeError;
        let (signed, path, pin) = self.held(&product, version).await?;
        let to_check = signed.clone();
        let scratch = self.blobs.scratch_dir();
        let (profile, verdict) =
            tokio::task::spawn_blocking(move || {
                let descriptor = &to_check.value;
                let contract = Contract::of(descriptor).with_scratch(scratch.clone());
                let profile = contract::profile_file(&path, &descriptor.format, &contract)
                    .map_err(|e| NodeError::File {
                        path: scratch,
                        source: std::io::Error::other(e),
                    })?;
                let verdict = match &descriptor.profile {
                    None => ProfileCheck::NotProfiled,
                    Some(p) if p.method != PROFILE_METHOD => ProfileCheck::OtherMethod,
                    Some(p) if *p == profile => ProfileCheck::Matches,
                    Some(_) => ProfileCheck::Disputed,
                };
                Ok::<_, NodeError>((profile, verdict))
            })
            .await
            .map_err(|_| NodeError::Stopped)??;
        drop(pin);
        if matches!(verdict, ProfileCheck::Matches | ProfileCheck::Disputed) {
            let checked = crate::event_loop::ProfileChecked {
                signed: signed.clone(),
                verdict: verdict.clone(),
                recomputed: (verdict == ProfileCheck::Disputed).then(|| profile.clone()),
            };
            let _ = self
                .commands
                .send(crate::command::Command::ProfileChecked(Box::new(checked)))
                .await;
        }
        Ok(CheckReport {
            product,
            version: signed.value.version,
            conforms: profile.conforms(),
            profile,
            signed: verdict,
        })
    }

    /// The signed descriptor of `product` (the newest version, or
    /// `version`) and the path of the verified copy this node holds, pinned
    /// against the collector while the caller reads it.
    async fn held(
        &self,
        product: &mesh_protocol::ProductId,
        version: Option<u64>,
    ) -> Result<(SignedDescriptor, std::path::PathBuf, Pin), crate::node::NodeError> {
        use crate::node::NodeError;
        let items = self.versions(product.clone()).await?;
        let signed = items
            .iter()
            .filter_map(|i| match i {
                mesh_protocol::CatalogItem::Descriptor(d) => Some(d),
                mesh_protocol::CatalogItem::Withdrawal(_) => None,
            })
            .filter(|d| version.is_none_or(|v| d.value.version == v))
            .max_by_key(|d| d.value.version)
            .cloned()
            .ok_or_else(|| NodeError::UnknownProduct(product.to_string()))?;
        let hash = signed.value.content.manifest_hash;
        let pin = self.blobs.pin(hash);
        if !self.blobs.has(&hash) {
            return Err(NodeError::NotHeld(product.to_string()));
        }
        if !contract::profiles(&signed.value.format) {
            return Err(NodeError::File {
                path: self.blobs.path(&hash),
                source: std::io::Error::other(format!(
                    "meshd does not read {} files; it reads csv, jsonl, parquet and arrow",
                    signed.value.format
                )),
            });
        }
        let path = self.blobs.path(&hash);
        Ok((signed, path, pin))
    }

    /// Every profile dispute this node keeps evidence of.
    pub fn profile_disputes(&self) -> Vec<ProfileDispute> {
        self.store
            .metas(ProfileDispute::PREFIX)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, bytes)| mesh_protocol::encoding::from_bytes(&bytes, 4 << 20).ok())
            .collect()
    }
}

/// A recomputed profile on its way back to the loop.
pub(crate) struct ProfileChecked {
    pub(crate) signed: SignedDescriptor,
    pub(crate) verdict: ProfileCheck,
    pub(crate) recomputed: Option<Profile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_reads_every_buffer_in_order_then_ends() {
        let (tx, rx) = sync_channel(2);
        let writer = std::thread::spawn(move || {
            for part in [&b"ab"[..], b"", b"cde"] {
                tx.send(part.to_vec()).ok();
            }
        });
        let mut out = String::new();
        Pipe::new(rx).read_to_string(&mut out).ok();
        writer.join().ok();
        assert_eq!(out, "abcde");
    }

    /// A Parquet file of `rows` rows in row groups of `group` rows, with a
    /// repeated id every 1,000 rows (so the profile has a violation).
    fn parquet_file(path: &Path, rows: i64, group: usize) {
        use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
        let ids: ArrayRef = std::sync::Arc::new(Int64Array::from_iter_values(
            (0..rows).map(|i| if i % 1_000 == 7 { 0 } else { i }),
        ));
        let names: ArrayRef = std::sync::Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("name {}", i % 5_000)),
        ));
        let batch = RecordBatch::try_from_iter([("id", ids), ("name", names)]).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .build();
        let file = File::create(path).unwrap();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn a_parquet_publish_profiles_through_the_copy_as_the_stored_blob_profiles() {
        use mesh_protocol::descriptor::{DataType, Field};
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let source = dir.path().join("orders.parquet");
        parquet_file(&source, 400_000, 50_000);
        let mut id = Field::new("id", DataType::Int64, false);
        id.constraints.unique = true;
        let contract = Contract {
            fields: vec![id, Field::new("name", DataType::String, false)],
            quality: mesh_protocol::descriptor::Quality::default(),
            csv: mesh_protocol::contract::CsvDialect::default(),
            created_at: crate::clock::now(),
            scratch: Some(dir.path().to_owned()),
        };
        let (manifest, _pin, profile) =
            ingest_and_profile(&blobs, &source, 65_536, &Format::Parquet, &contract).unwrap();
        let through_copy = profile.unwrap();
        let stored = blobs.path(&manifest.hash());
        assert_eq!(
            std::fs::read(&stored).unwrap(),
            std::fs::read(&source).unwrap()
        );
        let from_blob = contract::profile_file(&stored, &Format::Parquet, &contract).unwrap();
        assert_eq!(through_copy, from_blob);
        assert_eq!(through_copy.rows, 400_000);
        assert_eq!(
            through_copy.violations.len(),
            1,
            "{:?}",
            through_copy.violations
        );
    }
}
