//! The queries running on a node, each under an id, so a client can list
//! them and cancel one (`GET /v1/queries`, `DELETE /v1/queries/{id}`,
//! Ctrl-C in `mesh query`).
//!
//! Cancelling drops the engine's stream: DataFusion stops its tasks and
//! deletes the query's spill files as their handles drop, and the reader
//! of the rows gets [`QueryError::Cancelled`]. A query whose reader goes
//! away (a client that disconnects) is cancelled the same way.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use mesh_query::QueryError;
use tokio::sync::oneshot;

/// Longest query id a client may choose.
pub const MAX_QUERY_ID_LEN: usize = 64;
/// How much of a query's text the listing shows.
const SHOWN_SQL: usize = 200;

/// One running query, as listed.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RunningQuery {
    /// The id it runs under.
    pub id: String,
    /// The start of its SQL text.
    pub sql: String,
    /// Milliseconds since it started.
    pub running_ms: u64,
}

struct Entry {
    sql: String,
    started: Instant,
    cancel: Option<oneshot::Sender<()>>,
}

/// The registry.
#[derive(Default)]
pub(crate) struct Running {
    queries: Mutex<HashMap<String, Entry>>,
    next: std::sync::atomic::AtomicU64,
}

/// Holds a query's place in the registry; dropping it removes the entry.
pub(crate) struct Registration<'a> {
    running: &'a Running,
    id: String,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Ok(mut q) = self.running.queries.lock() {
            q.remove(&self.id);
        }
    }
}

/// Whether `id` is a usable client-chosen query id.
pub(crate) fn check_id(id: &str) -> Result<(), QueryError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_QUERY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(QueryError::User(format!(
            "query id {id:?}: 1 to {MAX_QUERY_ID_LEN} letters, digits, '-' or '_'"
        )))
    }
}

impl Running {
    /// Registers a query under `id` (or a fresh one); the receiver fires
    /// when it is cancelled.
    pub(crate) fn register(
        &self,
        id: Option<String>,
        sql: &str,
    ) -> Result<(String, oneshot::Receiver<()>), QueryError> {
        let id = match id {
            Some(id) => {
                check_id(&id)?;
                id
            }
            None => format!(
                "q{}",
                self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
            ),
        };
        let (tx, rx) = oneshot::channel();
        let mut queries = self
            .queries
            .lock()
            .map_err(|_| QueryError::Failed("the query registry is poisoned".into()))?;
        if queries.contains_key(&id) {
            return Err(QueryError::User(format!(
                "a query with id {id:?} is already running"
            )));
        }
        let mut shown: String = sql.chars().take(SHOWN_SQL).collect();
        if shown.len() < sql.len() {
            shown.push('…');
        }
        queries.insert(
            id.clone(),
            Entry {
                sql: shown,
                started: Instant::now(),
                cancel: Some(tx),
            },
        );
        Ok((id, rx))
    }

    /// A guard that removes `id` when dropped.
    pub(crate) fn guard(&self, id: String) -> Registration<'_> {
        Registration { running: self, id }
    }

    /// Cancels the query running under `id`; false if there is none.
    pub(crate) fn cancel(&self, id: &str) -> bool {
        let Ok(mut queries) = self.queries.lock() else {
            return false;
        };
        match queries.get_mut(id).and_then(|e| e.cancel.take()) {
            Some(tx) => {
                let _ = tx.send(());
                true
            }
            None => queries.contains_key(id),
        }
    }

    /// Every running query, oldest first.
    pub(crate) fn list(&self) -> Vec<RunningQuery> {
        let Ok(queries) = self.queries.lock() else {
            return Vec::new();
        };
        let mut out: Vec<(Instant, RunningQuery)> = queries
            .iter()
            .map(|(id, e)| {
                (
                    e.started,
                    RunningQuery {
                        id: id.clone(),
                        sql: e.sql.clone(),
                        running_ms: u64::try_from(e.started.elapsed().as_millis())
                            .unwrap_or(u64::MAX),
                    },
                )
            })
            .collect();
        out.sort_by_key(|(started, _)| *started);
        out.into_iter().map(|(_, q)| q).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_while_running_and_free_again_after() {
        let running = Running::default();
        let (id, mut rx) = running.register(Some("mine".into()), "SELECT 1").unwrap();
        assert!(running.register(Some("mine".into()), "SELECT 2").is_err());
        assert_eq!(running.list().len(), 1);
        assert!(rx.try_recv().is_err(), "not cancelled yet");
        assert!(running.cancel(&id));
        assert!(rx.try_recv().is_ok(), "cancelled");
        assert!(running.cancel(&id), "still listed until it ends");
        drop(running.guard(id));
        assert!(running.list().is_empty());
        assert!(!running.cancel("mine"));
        assert!(running.register(Some("mine".into()), "SELECT 3").is_ok());
    }

    #[test]
    fn hostile_ids_are_refused() {
        let running = Running::default();
        for id in ["", "a b", "../x", &"x".repeat(MAX_QUERY_ID_LEN + 1), "é"] {
            assert!(
                running.register(Some(id.into()), "SELECT 1").is_err(),
                "{id:?}"
            );
        }
        let (a, _) = running.register(None, "SELECT 1").unwrap();
        let (b, _) = running.register(None, "SELECT 1").unwrap();
        assert_ne!(a, b);
    }
}
