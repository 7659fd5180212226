//! Helpers shared by the measuring examples.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

pub(crate) mod daemon;

/// Writes `len` pseudo-random (incompressible) bytes to `path`.
pub(crate) fn write_file(path: &Path, len: u64) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut left = len;
    while left > 0 {
        for b in &mut block {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state.to_le_bytes()[0];
        }
        let n = usize::try_from(left.min(block.len() as u64))?;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

/// Peak resident memory (VmHWM) of a process, in MiB; `"self"` for this one.
#[allow(clippy::cast_precision_loss, reason = "a display figure")]
pub(crate) fn peak_rss_mib(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Forgets the peak RSS so far (Linux: `5` to clear_refs resets VmHWM).
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Runs a Python script (its text) with `args`: the one JSON value it
/// prints, or `{"error": ...}` saying why there is none.
pub(crate) fn python(script: &str, args: &[&std::ffi::OsStr]) -> Value {
    let run = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output();
    let out = match run {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            return json!({"error": format!("the python script failed: {}",
                String::from_utf8_lossy(&out.stderr).trim())});
        }
        Err(e) => return json!({"error": format!("python3 did not run: {e}")}),
    };
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| json!({"error": format!("the python script printed no JSON: {e}")}))
}

/// Starts a node on a fresh temp data dir with `config` (listening on
/// loopback, no mDNS); the dir comes back with it (dropping it removes
/// the dir).
pub(crate) async fn start_node(
    name: &str,
    mut config: mesh_node::Config,
) -> anyhow::Result<(tempfile::TempDir, mesh_node::RunningNode)> {
    let dir = tempfile::tempdir()?;
    mesh_node::identity::init(dir.path(), name)?;
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    config.network.mdns = false;
    let node = mesh_node::start(mesh_node::NodeOptions {
        data_dir: dir.path().to_owned(),
        config,
        store: None,
        transport: None,
    })
    .await?;
    Ok((dir, node))
}
