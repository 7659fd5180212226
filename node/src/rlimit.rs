//! The node's open-file budget.
//!
//! Every peer connection, RocksDB table, blob served and API connection
//! costs a file descriptor. Many systems start processes with a soft limit
//! of 1024 while allowing far more, so a node raises its soft
//! `RLIMIT_NOFILE` to the hard limit at start ([`raise_nofile_limit`]),
//! and the local API takes at most a share of the result
//! ([`api_connection_cap`]), keeping the rest in reserve for the node's own
//! work: a flood of local connections can then never leave the node unable
//! to open a blob to serve a peer.

/// Descriptors kept for the node's own work whatever the API is allowed:
/// RocksDB (256 open tables), peers (512 connections), blobs being served
/// and fetched, logs and sockets.
pub const RESERVED_FDS: u64 = 1024;

/// Raises the soft limit on open files to the hard limit; returns the soft
/// limit in force afterwards (`None` where it cannot be read, or is
/// unlimited). Failing to raise it is logged, not fatal: the node then
/// lives within the limit it was given.
pub fn raise_nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let raised = rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => tracing::debug!(
                    from = ?limit.current,
                    to = ?limit.maximum,
                    "raised the open-file limit"
                ),
                Err(e) => tracing::warn!(
                    error = %e,
                    limit = ?limit.current,
                    "cannot raise the open-file limit; keeping the current one"
                ),
            }
        }
        nofile_limit()
    }
    #[cfg(not(unix))]
    None
}

/// The soft limit on open files now (`None`: unknown or unlimited).
pub fn nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    None
}

/// How many API connections may be open at once: what the config allows,
/// but never more than leaves [`RESERVED_FDS`] (and half the limit) to the
/// node, so `cap + reserve <= limit`. At least 8, so the CLI can reach a
/// node however low its limit.
pub fn api_connection_cap(configured: usize, limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return configured;
    };
    let spare = limit.saturating_sub(RESERVED_FDS).min(limit / 2);
    let spare = usize::try_from(spare).unwrap_or(usize::MAX);
    configured.min(spare).max(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve_to_the_node() {
        // Plenty of descriptors: the config decides.
        assert_eq!(api_connection_cap(1024, Some(1 << 20)), 1024);
        // 20,000 descriptors: the config still fits beside the reserve.
        let cap = api_connection_cap(1024, Some(20_000));
        assert!(cap as u64 + RESERVED_FDS < 20_000);
        // A low limit: at most half of it, the rest stays with the node.
        let cap = api_connection_cap(1024, Some(1024));
        assert!(cap <= 512, "{cap}");
        let cap = api_connection_cap(4096, Some(4096));
        assert!(cap as u64 + RESERVED_FDS < 4096, "{cap}");
        // Unknown or unlimited: the config.
        assert_eq!(api_connection_cap(300, None), 300);
    }

    #[cfg(unix)]
    #[test]
    fn a_lowered_soft_limit_is_raised_to_the_hard_one() {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let Some(hard) = limit.maximum else {
            return; // unlimited: nothing to raise
        };
        // Lower the soft limit (other tests in this process need only a
        // few hundred descriptors), then raise it as `meshd run` does.
        let lowered = Rlimit {
            current: Some(hard.min(4096) / 2),
            maximum: Some(hard),
        };
        setrlimit(Resource::Nofile, lowered).unwrap();
        assert_eq!(nofile_limit(), Some(hard.min(4096) / 2));
        assert_eq!(raise_nofile_limit(), Some(hard));
        assert_eq!(getrlimit(Resource::Nofile).current, Some(hard));
    }
}
