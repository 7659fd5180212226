//! `[[expect]]`: what must hold at the end of a run for it to pass.
//!
//! Expectations turn a scenario into a test: the engine measures each one and
//! the report shows the measured value next to the target, and `mesh-sim`
//! exits non-zero if any fails. This module only declares them; measuring is
//! the engine's job.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::nodes::NodeSet;
use crate::units::{format_duration, serde_units};

/// One expectation, optionally named for the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// A name for the report (default: a description of the check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What is checked (the `kind` key and its fields).
    #[serde(flatten)]
    pub check: Check,
}

impl Expectation {
    /// The name given, or a description of the check.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.check.to_string())
    }
}

fn one() -> f64 {
    1.0
}

/// The kinds of expectation. In the file, `kind = "reach"` and so on, with
/// the variant's fields beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// The product's descriptor is in the catalog of `fraction` of `nodes`
    /// (those online at the deadline) within `within` of its first publish.
    Reach {
        /// The product's name.
        product: String,
        /// Whose catalogs count (default: honest nodes).
        #[serde(default = "NodeSet::honest")]
        nodes: NodeSet,
        /// The share that must hold it, 0 to 1 (default 1).
        #[serde(default = "one")]
        fraction: f64,
        /// The deadline, from the first publish.
        #[serde(with = "serde_units::duration")]
        within: Duration,
    },
    /// Every product published reaches `fraction` of the honest nodes
    /// online at the end, each within `within` of its own publish.
    ReachAll {
        /// The share that must hold each product, 0 to 1 (default 1).
        #[serde(default = "one")]
        fraction: f64,
        /// The deadline, from each product's publish.
        #[serde(with = "serde_units::duration")]
        within: Duration,
    },
    /// `fraction` of the fetches by honest nodes (of `product`, or of every
    /// product) complete, verified, within `within` of their start.
    FetchCompletes {
        /// Only fetches of this product (default: all fetches).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product: Option<String>,
        /// The share that must complete, 0 to 1 (default 1).
        #[serde(default = "one")]
        fraction: f64,
        /// The deadline, from each fetch's start.
        #[serde(with = "serde_units::duration")]
        within: Duration,
    },
    /// The proposal is ratified: `fraction` of the honest online nodes hold
    /// its certificate within `within` of the proposal.
    Ratified {
        /// The proposal's label.
        proposal: String,
        /// The share of honest nodes that must hold it (default 1).
        #[serde(default = "one")]
        fraction: f64,
        /// The deadline, from the `propose` event.
        #[serde(with = "serde_units::duration")]
        within: Duration,
    },
    /// The governance slot of `proposal` is decided after the last `heal`:
    /// `fraction` of the honest online nodes hold a certificate for that
    /// slot (for any of its proposals) within `within` of the heal. The
    /// point of a split or failed vote: the slot must not wedge.
    DecidedAfterHeal {
        /// A proposal of the slot (its label); whichever proposal takes the
        /// slot counts.
        proposal: String,
        /// The share of honest nodes that must hold it (default 1).
        #[serde(default = "one")]
        fraction: f64,
        /// The deadline, from the last `heal`.
        #[serde(with = "serde_units::duration")]
        within: Duration,
    },
    /// Within `within` of the last `heal`, all honest online nodes hold the
    /// same catalog and the same certificate chain.
    ConvergedAfterHeal {
        /// The deadline, from the last heal.
        #[serde(with = "serde_units::duration")]
        within: Duration,
    },
    /// No two honest nodes ever hold different certificates for the same
    /// governance slot.
    NoConflictingCertificates {},
    /// No honest node ever writes a byte that fails verification into a
    /// product's content.
    NoCorruptedBytes {},
}

impl Check {
    /// The kind as written in the file (`"reach"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Reach { .. } => "reach",
            Self::ReachAll { .. } => "reach_all",
            Self::FetchCompletes { .. } => "fetch_completes",
            Self::Ratified { .. } => "ratified",
            Self::DecidedAfterHeal { .. } => "decided_after_heal",
            Self::ConvergedAfterHeal { .. } => "converged_after_heal",
            Self::NoConflictingCertificates {} => "no_conflicting_certificates",
            Self::NoCorruptedBytes {} => "no_corrupted_bytes",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = |fraction: f64| fraction * 100.0;
        match self {
            Self::Reach {
                product,
                nodes,
                fraction,
                within,
            } => write!(
                f,
                "`{product}` reaches {}% of {nodes} within {}",
                percent(*fraction),
                format_duration(*within)
            ),
            Self::ReachAll { fraction, within } => write!(
                f,
                "every product reaches {}% of honest nodes within {}",
                percent(*fraction),
                format_duration(*within)
            ),
            Self::FetchCompletes {
                product,
                fraction,
                within,
            } => {
                let what = product
                    .as_ref()
                    .map_or_else(|| "fetches".to_owned(), |p| format!("fetches of `{p}`"));
                write!(
                    f,
                    "{}% of {what} complete within {}",
                    percent(*fraction),
                    format_duration(*within)
                )
            }
            Self::Ratified {
                proposal,
                fraction,
                within,
            } => write!(
                f,
                "`{proposal}` ratified at {}% of honest nodes within {}",
                percent(*fraction),
                format_duration(*within)
            ),
            Self::DecidedAfterHeal {
                proposal,
                fraction,
                within,
            } => write!(
                f,
                "the slot of `{proposal}` decided at {}% of honest nodes within {} of the heal",
                percent(*fraction),
                format_duration(*within)
            ),
            Self::ConvergedAfterHeal { within } => {
                write!(
                    f,
                    "converged within {} of the heal",
                    format_duration(*within)
                )
            }
            Self::NoConflictingCertificates {} => f.write_str("no conflicting certificates"),
            Self::NoCorruptedBytes {} => f.write_str("no corrupted byte accepted"),
        }
    }
}
