//! The promises a descriptor file or contract makes that
//! [`DraftParts`](crate::draft_parts::DraftParts) has no field for: the
//! row-count and event-time quality rules and the CSV dialect. Importers
//! collect them here; [`Extras::apply`] puts them on the draft.

use mesh_node::draft::ProductDraft;
use mesh_protocol::contract::CsvDialect;

/// Row-count and event-time rules and the CSV dialect, as read so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// Fewest rows the data may hold.
    pub min_rows: Option<u64>,
    /// Most rows the data may hold.
    pub max_rows: Option<u64>,
    /// The date or timestamp field freshness is measured on.
    pub event_time_field: Option<String>,
    /// How a CSV file spells its cells.
    pub csv: Option<CsvDialect>,
}

impl Extras {
    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The keys that were read, as a mesh YAML file spells them.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.min_rows.is_some() {
            keys.push("quality.min_rows");
        }
        if self.max_rows.is_some() {
            keys.push("quality.max_rows");
        }
        if self.event_time_field.is_some() {
            keys.push("quality.event_time_field");
        }
        if self.csv.is_some() {
            keys.push("csv");
        }
        keys
    }

    /// Puts what was read on `draft`, leaving the rest as it is.
    pub fn apply(&self, draft: &mut ProductDraft) {
        if let Some(min) = self.min_rows {
            draft.quality.min_rows = Some(min);
        }
        if let Some(max) = self.max_rows {
            draft.quality.max_rows = Some(max);
        }
        if let Some(field) = &self.event_time_field {
            draft.quality.event_time_field = Some(field.clone());
        }
        if let Some(csv) = &self.csv {
            draft.csv = Some(csv.clone());
        }
    }
}
