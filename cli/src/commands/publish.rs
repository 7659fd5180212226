//! `mesh publish` and `mesh export`: descriptors in, descriptors out.
//!
//! Publish assembles a draft from a descriptor file (meshd YAML or ODPS), a
//! contract (ODCS) and flags, streams the file to the node and publishes
//! it. The file is read to its end whatever its size said, and refused if it
//! changed while it was read (the node also checks that it received exactly
//! what was read). Every standards field that meshd cannot carry is printed as a note
//! (and listed in `--json` output); nothing is dropped silently.

use std::cell::RefCell;
use std::io::{IsTerminal as _, Read};
use std::path::Path;
use std::rc::Rc;

use indicatif::{ProgressBar, ProgressDrawTarget};
use mesh_node::draft::{ProductDraft, Release};
use mesh_node::node::{PublishReceipt, Status};
use mesh_protocol::descriptor::Content;
use mesh_protocol::manifest::DEFAULT_CHUNK_SIZE;
use mesh_protocol::{CatalogItem, DomainId, Hash, Timestamp};
use serde::Deserialize;
use serde_json::json;

use crate::args::{ExportArgs, PublishArgs};
use crate::connect::Api;
use crate::draft_parts::DraftParts;
use crate::error::{CliError, CliResult};
use crate::standards::{self, Note};
use crate::{mesh_yaml, output, product_ref};
use mesh_node::api::client::UNTIL_EOF;

#[derive(Deserialize)]
struct Uploaded {
    upload_id: String,
    size: u64,
    blake3: String,
}

/// What the upload read of the source: bytes, their BLAKE3, and why the
/// source cannot be published as read, if it changed.
#[derive(Default)]
struct ReadState {
    size: u64,
    hasher: blake3::Hasher,
    changed: Option<String>,
}

/// The source file, read to its end whatever `stat` said (a `/proc` file
/// reports size 0 but has content), counted and hashed; at its end, it
/// checks that the file did not change while it was read, and if it did,
/// fails the read so the upload is never finished (the node removes it).
struct Watched {
    file: std::fs::File,
    before: std::fs::Metadata,
    state: Rc<RefCell<ReadState>>,
}

/// Why `after` shows a file changed since `before`, having read `read`
/// bytes of it.
fn changed(before: &std::fs::Metadata, after: &std::fs::Metadata, read: u64) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    if (after.mtime(), after.mtime_nsec()) != (before.mtime(), before.mtime_nsec())
        || (after.ctime(), after.ctime_nsec()) != (before.ctime(), before.ctime_nsec())
    {
        return Some("it was modified".into());
    }
    // Files like /proc's report size 0 whatever they hold.
    if before.len() > 0 && (after.len() != before.len() || read != after.len()) {
        return Some(format!(
            "{read} bytes were read of a file of {} bytes (then {})",
            before.len(),
            after.len()
        ));
    }
    None
}

impl Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        let mut state = self.state.borrow_mut();
        if n > 0 {
            state.size += n as u64;
            state.hasher.update(&buf[..n]);
            return Ok(n);
        }
        let after = self.file.metadata()?;
        if let Some(why) = changed(&self.before, &after, state.size) {
            state.changed = Some(why.clone());
            return Err(std::io::Error::other(why));
        }
        Ok(0)
    }
}

fn read(path: &Path, what: &str) -> CliResult<String> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {what} {}: {e}", path.display())))
}

/// The draft and the notes, from files and flags; checks everything before
/// anything is sent.
pub(crate) fn draft(args: &PublishArgs) -> CliResult<(ProductDraft, DraftParts, Vec<Note>)> {
    let mut parts = DraftParts::default();
    let mut extras = standards::Extras::default();
    let mut notes = Vec::new();
    if let Some(path) = &args.descriptor {
        let text = read(path, "descriptor")?;
        let origin = path.display().to_string();
        let doc = standards::parse(&text, &origin)?;
        match standards::kind(&doc) {
            Some("DataProduct") => standards::odps::import(&doc, &origin, &mut parts, &mut notes)?,
            Some("DataContract") => {
                return Err(CliError::usage(format!(
                    "{origin} is an ODCS contract; give it with --contract"
                )));
            }
            _ => mesh_yaml::import_with(&text, &origin, &mut parts, &mut extras)?,
        }
    }
    if let Some(path) = &args.contract {
        let text = read(path, "contract")?;
        let origin = path.display().to_string();
        let doc = standards::parse(&text, &origin)?;
        if standards::kind(&doc) != Some("DataContract") {
            return Err(CliError::usage(format!(
                "invalid ODCS file {origin}: kind must be DataContract"
            )));
        }
        standards::odcs::import_with(
            &doc,
            &origin,
            args.table.as_deref(),
            &mut parts,
            &mut extras,
            &mut notes,
        )?;
    }
    if let Some(name) = &args.name {
        parts.name = Some(name.clone());
    }
    if let Some(title) = &args.title {
        parts.title = Some(title.clone());
    }
    if let Some(description) = &args.description {
        parts.description = Some(description.clone());
    }
    parts.tags.extend(args.tags.iter().cloned());
    if let Some(format) = &args.format {
        parts.format = Some(
            format
                .parse()
                .map_err(|e| CliError::usage(format!("--format {format}: {e}")))?,
        );
    }
    let mut draft = parts.clone().into_draft(&args.file)?;
    extras.apply(&mut draft);
    let size = std::fs::metadata(&args.file).map_or(0, |m| m.len());
    check(&draft, size)?;
    Ok((draft, parts, notes))
}

/// Checks a draft the way the node will, before any byte is uploaded: a
/// bad name, tag or field is a usage error and nothing is sent.
fn check(draft: &ProductDraft, size: u64) -> CliResult<()> {
    let content = Content {
        size,
        chunk_size: draft.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE),
        manifest_hash: Hash([0; 32]),
    };
    draft
        .clone()
        .into_descriptor(
            DomainId([0; 16]),
            "check",
            Release {
                version: 1,
                content,
                created_at: Timestamp(0),
                deprecation: None,
                profile: None,
                derivation: None,
            },
        )
        .validate()
        .map_err(|e| CliError::usage(format!("invalid descriptor: {e}")))
}

pub(super) fn run(api: &Api, args: &PublishArgs, json: bool) -> CliResult<()> {
    let meta = std::fs::metadata(&args.file)
        .map_err(|e| CliError::usage(format!("cannot publish {}: {e}", args.file.display())))?;
    if !meta.is_file() {
        return Err(CliError::usage(format!(
            "cannot publish {}: {}; copy it to a regular file first",
            args.file.display(),
            not_regular(&meta)
        )));
    }
    let (draft, parts, mut notes) = draft(args)?;
    let status: Status = api.get("/v1/status")?;
    if let Some(claimed) = &parts.claimed_domain
        && *claimed != status.domain_name
    {
        notes.push(Note {
            standard: "ODPS",
            field: "domain".into(),
            reason: format!(
                "the file says {claimed}, but this node publishes for domain {}",
                status.domain_name
            ),
        });
    }
    if !json {
        for note in &notes {
            eprintln!("mesh: note: {note}");
        }
    }
    let (uploaded, read) = upload(api, &args.file, json)?;
    let receipt: PublishReceipt = api.post(
        "/v1/publish",
        &json!({
            "upload_id": uploaded.upload_id,
            "draft": draft,
            "size": read.size,
            "blake3": read.blake3,
        }),
    )?;
    if json {
        return output::json(&json!({
            "product": receipt.product.to_string(),
            "domain_name": status.domain_name,
            "name": receipt.product.name,
            "version": receipt.version,
            "manifest_hash": receipt.manifest_hash.to_string(),
            "size": receipt.size,
            "notes": notes,
            "data": match &receipt.profile {
                None => "not-profiled",
                Some(p) if p.conforms() => "conforms",
                Some(_) => "contract-broken",
            },
            "profile": receipt.profile,
        }));
    }
    crate::out!(
        "{}",
        output::block(&[
            (
                "published",
                format!("{}/{}", status.domain_name, receipt.product.name)
            ),
            ("product", receipt.product.to_string()),
            ("version", receipt.version.to_string()),
            ("manifest", receipt.manifest_hash.to_string()),
            ("size", output::bytes(receipt.size)),
            (
                "data",
                match &receipt.profile {
                    None => "not profiled: meshd reads csv, jsonl, parquet and arrow".to_owned(),
                    Some(p) if p.conforms() => format!("conforms to its contract, {} rows", p.rows),
                    Some(p) => format!(
                        "CONTRACT BROKEN ({}) over {} rows; published with its violations signed",
                        p.violation_count(),
                        p.rows
                    ),
                },
            ),
        ])
    );
    if let Some(p) = &receipt.profile {
        crate::out!("{}", super::check::violations(p));
    }
    Ok(())
}

/// Why a path that is not a regular file cannot be published.
fn not_regular(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let kind = meta.file_type();
    if kind.is_dir() {
        "it is a directory"
    } else if kind.is_fifo() {
        "it is a FIFO, whose bytes could not be read again if the publish failed"
    } else if kind.is_socket() {
        "it is a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "it is a device"
    } else {
        "it is not a regular file"
    }
}

/// What was read and sent.
struct Sent {
    size: u64,
    blake3: String,
}

/// Streams the file to the node until its end (chunked, so a size that
/// changes cannot stall the upload), and checks that the node received
/// exactly what was read and that the file did not change meanwhile.
fn upload(api: &Api, path: &Path, json: bool) -> CliResult<(Uploaded, Sent)> {
    let cannot =
        |e: std::io::Error| CliError::usage(format!("cannot publish {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let before = file.metadata().map_err(cannot)?;
    let state = Rc::new(RefCell::new(ReadState::default()));
    let watched = Watched {
        file,
        before: before.clone(),
        state: state.clone(),
    };
    let target = if json || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let length = Some(before.len()).filter(|&n| n > 0);
    let bar = ProgressBar::with_draw_target(length, target);
    let mut reader = bar.wrap_read(std::io::BufReader::new(watched));
    let sent: CliResult<Uploaded> = api.post_stream("/v1/uploads", &mut reader, UNTIL_EOF);
    bar.finish_and_clear();
    let state = state.borrow();
    if let Some(why) = &state.changed {
        return Err(CliError::failed(format!(
            "{} changed while it was being published ({why}); nothing was published; publish it again once it no longer changes",
            path.display()
        )));
    }
    let uploaded = sent?;
    let read = Sent {
        size: state.size,
        blake3: state.hasher.finalize().to_hex().to_string(),
    };
    if uploaded.size != read.size || !uploaded.blake3.eq_ignore_ascii_case(&read.blake3) {
        return Err(CliError::failed(format!(
            "the node received {} bytes, but {} bytes were read from {}; nothing was published",
            uploaded.size,
            read.size,
            path.display()
        )));
    }
    Ok((uploaded, read))
}

pub(super) fn export(api: &Api, args: &ExportArgs, json: bool) -> CliResult<()> {
    let id = args.product.resolve(api)?;
    let item: CatalogItem = api.get(&product_ref::path(&id))?;
    item.verify().map_err(|e| {
        CliError::failed(format!(
            "{id}'s descriptor does not verify ({e}); not exported"
        ))
    })?;
    let CatalogItem::Descriptor(signed) = item else {
        return Err(CliError::failed(format!(
            "{id} was withdrawn; there is no descriptor to export"
        )));
    };
    let product_doc = standards::odps::export(&signed, args.odcs.is_some());
    write(&args.odps, &standards::render(&product_doc, &args.odps)?)?;
    let mut written = vec![args.odps.display().to_string()];
    if let Some(path) = &args.odcs {
        let contract_doc = standards::odcs::export(&signed);
        write(path, &standards::render(&contract_doc, path)?)?;
        written.push(path.display().to_string());
    }
    if json {
        return output::json(&json!({
            "product": id.to_string(),
            "version": signed.value.version,
            "written": written,
        }));
    }
    crate::outln!(
        "exported {id} version {} to {}",
        signed.value.version,
        written.join(" and ")
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> CliResult<()> {
    std::fs::write(path, text)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}
