//! `mesh fetch`: start a fetch job on the node, follow its progress (a bar
//! with bytes, rate and ETA on a terminal; nothing when not), then check
//! the output file against the signed descriptor's manifest here too.
//! Exit 0 only for a complete file whose hash matches.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mesh_node::fetch::{FetchProgress, FetchState};
use mesh_node::profiling::ProfileCheck;
use mesh_protocol::{CatalogItem, Manifest};
use serde::Serialize;
use serde_json::json;

use crate::args::FetchArgs;
use crate::connect::Api;
use crate::error::{CliError, CliResult};
use crate::output;
use crate::product_ref;

/// How often progress is read while a fetch runs.
const POLL: Duration = Duration::from_millis(100);

/// `mesh fetch --json`.
#[derive(Serialize)]
#[allow(
    clippy::struct_field_names,
    reason = "the JSON field names are documented"
)]
pub(crate) struct Fetched {
    pub(crate) product: String,
    pub(crate) version: u64,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) manifest_hash: String,
    pub(crate) verified: bool,
    pub(crate) chunks_fetched: u32,
    pub(crate) chunks_resumed: u32,
    pub(crate) providers: Vec<String>,
    pub(crate) seconds: f64,
    /// Whether the profile recomputed from the verified bytes is the signed
    /// one (`matches`, `disputed`, `not-profiled`, `other-method`).
    pub(crate) profile: Option<ProfileCheck>,
}

fn bar(total: u64, quiet: bool) -> ProgressBar {
    let target = if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

pub(crate) fn run(api: &Api, args: &FetchArgs, json: bool) -> CliResult<()> {
    let fetched = fetch(api, args, !json)?;
    if json {
        return output::json(&fetched);
    }
    let from = match fetched.providers.len() {
        0 => "already held by the node".to_owned(),
        1 => "from 1 provider".to_owned(),
        n => format!("from {n} providers"),
    };
    crate::outln!(
        "fetched {} version {} to {} ({}, verified, {from}, {:.1} s)",
        args.product,
        fetched.version,
        fetched.path.display(),
        output::bytes(fetched.size),
        fetched.seconds
    );
    match fetched.profile {
        Some(ProfileCheck::Matches) => {
            crate::outln!("profile: recomputed from the bytes, matches the signed one");
        }
        Some(ProfileCheck::Disputed) => crate::outln!(
            "PROFILE DISPUTED: the bytes give another profile than the one the owner signed; evidence kept (see `mesh show {}`)",
            args.product
        ),
        _ => {}
    }
    Ok(())
}

/// Runs a fetch to the end and checks the file; `show_bar` draws progress
/// on a terminal.
pub(crate) fn fetch(api: &Api, args: &FetchArgs, show_bar: bool) -> CliResult<Fetched> {
    let output = absolute(&args.output)?;
    let id = args.product.resolve(api)?;
    let path = product_ref::path(&id);
    let item: CatalogItem = match args.version {
        Some(v) => api.get(&format!("{path}?version={v}"))?,
        None => api.get(&path)?,
    };
    let descriptor = match item {
        CatalogItem::Descriptor(d) => d.value,
        CatalogItem::Withdrawal(w) => {
            return Err(CliError::failed(format!(
                "{id} was withdrawn by its owner ({}); nothing to fetch",
                w.value.reason
            )));
        }
    };
    let started = Instant::now();
    let mut progress: FetchProgress = api.post(
        "/v1/fetches",
        // Pinned to the version checked below: a newer one published
        // meanwhile is refused by the node, never mixed up.
        &json!({ "product": id.to_string(), "version": descriptor.version, "output": output }),
    )?;
    let label = format!("{}/{}", descriptor.domain_name, id.name);
    progress = follow(api, progress, &label, show_bar)?;
    if progress.state != FetchState::Done {
        let why = progress
            .error
            .unwrap_or_else(|| format!("{:?}", progress.state));
        return Err(CliError::failed(format!(
            "fetch of {id} failed: {why}; verified chunks are kept, run the same command to resume"
        )));
    }
    // The node verified every chunk; check the file it wrote, end to end.
    let file = std::fs::File::open(&output)
        .map_err(|e| CliError::failed(format!("{}: {e}", output.display())))?;
    let manifest =
        Manifest::from_reader(std::io::BufReader::new(file), descriptor.content.chunk_size)
            .map_err(|e| CliError::failed(format!("cannot read {}: {e}", output.display())))?;
    if manifest.hash() != descriptor.content.manifest_hash {
        return Err(CliError::failed(format!(
            "{} does not match {id}'s signed manifest; it was changed after the fetch, fetch again",
            output.display()
        )));
    }
    let fetched = Fetched {
        product: id.to_string(),
        version: progress.version,
        path: output,
        size: descriptor.content.size,
        manifest_hash: descriptor.content.manifest_hash.to_string(),
        verified: true,
        chunks_fetched: progress.chunks_fetched,
        chunks_resumed: progress.chunks_resumed,
        providers: progress.chunks_by_provider.keys().cloned().collect(),
        seconds: started.elapsed().as_secs_f64(),
        profile: progress.profile,
    };
    Ok(fetched)
}

/// Follows a fetch job until it ends, with a progress bar on a terminal
/// when `show_bar`.
pub(crate) fn follow(
    api: &Api,
    mut progress: FetchProgress,
    label: &str,
    show_bar: bool,
) -> CliResult<FetchProgress> {
    let bar = bar(progress.bytes_total, !show_bar);
    bar.set_message(label.to_owned());
    while matches!(progress.state, FetchState::Finding | FetchState::Fetching) {
        bar.set_position(progress.bytes_done);
        std::thread::sleep(POLL);
        progress = api.get(&format!("/v1/fetches/{}", progress.id))?;
    }
    bar.set_position(progress.bytes_done);
    bar.finish_and_clear();
    Ok(progress)
}

/// The output path made absolute (the node writes it), with its directory
/// checked to exist.
pub(crate) fn absolute(path: &std::path::Path) -> CliResult<PathBuf> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| CliError::failed(format!("cannot read the current directory: {e}")))?
            .join(path)
    };
    let parent = path.parent().unwrap_or(std::path::Path::new("/"));
    if !parent.is_dir() {
        return Err(CliError::usage(format!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            parent.display()
        )));
    }
    // The node refuses these too; saying so here spares a round trip.
    if let Ok(meta) = std::fs::symlink_metadata(&path)
        && !meta.is_file()
    {
        return Err(CliError::usage(format!(
            "refusing to write {}: it is a {}, not a regular file; remove it or choose another path with -o",
            path.display(),
            mesh_node::blobs::file_kind(&meta.file_type())
        )));
    }
    Ok(path)
}
