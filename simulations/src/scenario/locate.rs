//! Field paths (`events[3].nodes`) and finding their line in the scenario's
//! text, so a validation problem can say "line 42" and not only the path.
//!
//! The typed scenario keeps no positions (its types stay plain for the
//! engine), so when validation fails the text is parsed once more into
//! toml's spanned document and each problem's field path is followed down
//! it. A path that leaves the document (a defaulted field) stops at the
//! deepest table it reached, which is still the right event or group.

use std::fmt;

use toml::de::{DeTable, DeValue};

use super::Problem;

/// One step of a field path: a key or a position in an array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    /// A table key.
    Key(&'static str),
    /// An array index.
    Index(usize),
}

/// A field path, printed like `events[3].nodes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct FieldPath(pub(super) Vec<Seg>);

impl FieldPath {
    pub(super) fn new(key: &'static str) -> Self {
        Self(vec![Seg::Key(key)])
    }

    pub(super) fn at(key: &'static str, index: usize) -> Self {
        Self(vec![Seg::Key(key), Seg::Index(index)])
    }

    pub(super) fn key(&self, key: &'static str) -> Self {
        let mut path = self.clone();
        path.0.push(Seg::Key(key));
        path
    }

    pub(super) fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.0.push(Seg::Index(index));
        path
    }

    /// Reads back a path printed by `Display`.
    pub(super) fn parse(text: &str) -> Vec<PathPart<'_>> {
        let mut parts = Vec::new();
        for piece in text.split('.') {
            let (key, rest) = piece.split_once('[').unwrap_or((piece, ""));
            if !key.is_empty() {
                parts.push(PathPart::Key(key));
            }
            for index in rest.split('[') {
                if let Ok(i) = index.trim_end_matches(']').parse() {
                    parts.push(PathPart::Index(i));
                }
            }
        }
        parts
    }
}

/// A step of a path read back from text (see [`FieldPath::parse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PathPart<'a> {
    /// A table key.
    Key(&'a str),
    /// An array index.
    Index(usize),
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Fills in `line` on each problem whose field can be found in `text`.
pub(super) fn add_lines(text: &str, problems: &mut [Problem]) {
    let Ok(document) = DeTable::parse(text) else {
        return;
    };
    let root = DeValue::Table(document.into_inner());
    for problem in problems.iter_mut() {
        problem.line = line_of_field(text, &root, &problem.field);
    }
    // Report in file order (a stable sort; problems without a line last).
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
}

fn line_of_field(text: &str, root: &DeValue<'_>, field: &str) -> Option<usize> {
    let mut current = root;
    let mut offset = None;
    for part in FieldPath::parse(field) {
        let next = match part {
            PathPart::Key(key) => current.get(key),
            PathPart::Index(index) => current.get(index),
        };
        let Some(next) = next else { break };
        offset = Some(next.span().start);
        current = next.get_ref();
    }
    offset.map(|at| line_at(text, at))
}

/// The 1-based line of byte `offset`.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.get(..end)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_array_entries() {
        let text = "[network]\nname = \"x\"\n\n[[events]]\nat = \"1s\"\n\n[[events]]\nat = \"2s\"\nnodes = \"eu\"\n";
        let root = DeValue::Table(DeTable::parse(text).unwrap().into_inner());
        assert_eq!(line_of_field(text, &root, "network.name"), Some(2));
        assert_eq!(line_of_field(text, &root, "events[1].nodes"), Some(9));
        assert_eq!(line_of_field(text, &root, "events[0].at"), Some(5));
        // A missing key stops at the deepest table found.
        let missing = line_of_field(text, &root, "events[1].product").unwrap();
        assert!((7..=9).contains(&missing), "{missing}");
        assert_eq!(line_of_field(text, &root, "nowhere"), None);
    }
}
