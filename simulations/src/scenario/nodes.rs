//! How a scenario names nodes: one node (`"eu/3"`) or a set of them
//! (`"eu"`, `"eu/0..10"`, `"honest"`, or a list of those).
//!
//! Nodes have no names of their own in a scenario: a group declares how many
//! nodes it has, and node `eu/3` is the fourth node of group `eu`. This
//! module parses and prints those references; resolving them against the
//! scenario's groups is [`Scenario::resolve`](super::Scenario::resolve).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Words that select nodes by role and so cannot be group names.
pub const RESERVED_NAMES: [&str; 3] = ["all", "honest", "adversaries"];

/// Why a node reference or selector does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeSyntaxError {
    /// Empty text.
    #[error("empty node selector")]
    Empty,
    /// A group name with characters outside `A-Z a-z 0-9 _ -`.
    #[error("`{0}` is not a group name (use letters, digits, `_` and `-`)")]
    BadGroup(String),
    /// The part after `/` is not an index or range.
    #[error("`{0}` is not a node: write `group/index` (e.g. `eu/3`)")]
    BadIndex(String),
    /// A range whose end is not above its start.
    #[error("`{0}` is an empty range: write `group/start..end` with end above start")]
    EmptyRange(String),
    /// A set where one node was required.
    #[error("`{0}` names more than one node: write `group/index` (e.g. `eu/3`)")]
    NotOneNode(String),
}

/// Whether `name` can name a group.
pub(super) fn is_group_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn group_name(text: &str) -> Result<String, NodeSyntaxError> {
    if is_group_name(text) {
        Ok(text.to_owned())
    } else {
        Err(NodeSyntaxError::BadGroup(text.to_owned()))
    }
}

/// One node: the `index`-th (from 0) node of `group`. Written `"eu/3"`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeRef {
    /// The group's name.
    pub group: String,
    /// Position in the group, from 0.
    pub index: usize,
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.group, self.index)
    }
}

impl FromStr for NodeRef {
    type Err = NodeSyntaxError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().parse::<NodeSelector>()? {
            NodeSelector::Node(node) => Ok(node),
            _ => Err(NodeSyntaxError::NotOneNode(s.to_owned())),
        }
    }
}

/// One term of a node set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeSelector {
    /// `"all"`: every node.
    All,
    /// `"honest"`: every node of an honest group.
    Honest,
    /// `"adversaries"`: every node of an adversary group.
    Adversaries,
    /// `"eu"`: every node of the group.
    Group(String),
    /// `"eu/3"`: one node.
    Node(NodeRef),
    /// `"eu/0..10"`: nodes `start` up to but not including `end` of the group.
    Range {
        /// The group's name.
        group: String,
        /// First index.
        start: usize,
        /// One past the last index.
        end: usize,
    },
}

impl fmt::Display for NodeSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Honest => f.write_str("honest"),
            Self::Adversaries => f.write_str("adversaries"),
            Self::Group(g) => f.write_str(g),
            Self::Node(n) => n.fmt(f),
            Self::Range { group, start, end } => write!(f, "{group}/{start}..{end}"),
        }
    }
}

impl FromStr for NodeSelector {
    type Err = NodeSyntaxError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.is_empty() {
            return Err(NodeSyntaxError::Empty);
        }
        match text {
            "all" => return Ok(Self::All),
            "honest" => return Ok(Self::Honest),
            "adversaries" => return Ok(Self::Adversaries),
            _ => {}
        }
        let Some((group, rest)) = text.split_once('/') else {
            return group_name(text).map(Self::Group);
        };
        let group = group_name(group)?;
        let index = |part: &str| {
            part.parse::<usize>()
                .map_err(|_| NodeSyntaxError::BadIndex(text.to_owned()))
        };
        match rest.split_once("..") {
            None => Ok(Self::Node(NodeRef {
                group,
                index: index(rest)?,
            })),
            Some((start, end)) => {
                let (start, end) = (index(start)?, index(end)?);
                if end <= start {
                    return Err(NodeSyntaxError::EmptyRange(text.to_owned()));
                }
                Ok(Self::Range { group, start, end })
            }
        }
    }
}

/// A set of nodes: one selector (`nodes = "eu"`) or a list of them
/// (`nodes = ["eu/0..5", "us/2"]`), united.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeSet(pub Vec<NodeSelector>);

impl NodeSet {
    /// Every node.
    pub fn all() -> Self {
        Self(vec![NodeSelector::All])
    }

    /// Every honest node.
    pub fn honest() -> Self {
        Self(vec![NodeSelector::Honest])
    }

    /// Every node of one group.
    pub fn group(name: &str) -> Self {
        Self(vec![NodeSelector::Group(name.to_owned())])
    }
}

impl fmt::Display for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, selector) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            selector.fmt(f)?;
        }
        Ok(())
    }
}

impl Serialize for NodeRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NodeRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one node as \"group/index\", such as \"eu/3\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeRef, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for NodeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.collect_str(one),
            many => serializer.collect_seq(many.iter().map(ToString::to_string)),
        }
    }
}

impl<'de> Deserialize<'de> for NodeSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NodeSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "nodes: \"all\", \"honest\", \"adversaries\", a group (\"eu\"), a node \
                     (\"eu/3\"), a range (\"eu/0..10\") or a list of these",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeSet, E> {
                v.parse().map(|s| NodeSet(vec![s])).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeSet, A::Error> {
                let mut selectors = Vec::new();
                while let Some(text) = seq.next_element::<String>()? {
                    selectors.push(text.parse().map_err(de::Error::custom)?);
                }
                if selectors.is_empty() {
                    return Err(de::Error::custom("an empty list selects no nodes"));
                }
                Ok(NodeSet(selectors))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_and_print() {
        for text in [
            "all",
            "honest",
            "adversaries",
            "eu",
            "eu/3",
            "eu-west_2/0..10",
        ] {
            let selector: NodeSelector = text.parse().unwrap();
            assert_eq!(selector.to_string(), text);
        }
        assert_eq!(
            "eu/0..10".parse::<NodeSelector>(),
            Ok(NodeSelector::Range {
                group: "eu".into(),
                start: 0,
                end: 10
            })
        );
    }

    #[test]
    fn bad_selectors_are_refused() {
        assert_eq!("".parse::<NodeSelector>(), Err(NodeSyntaxError::Empty));
        assert!(matches!(
            "e u".parse::<NodeSelector>(),
            Err(NodeSyntaxError::BadGroup(_))
        ));
        assert!(matches!(
            "eu/x".parse::<NodeSelector>(),
            Err(NodeSyntaxError::BadIndex(_))
        ));
        assert!(matches!(
            "eu/5..5".parse::<NodeSelector>(),
            Err(NodeSyntaxError::EmptyRange(_))
        ));
        assert!(matches!(
            "eu".parse::<NodeRef>(),
            Err(NodeSyntaxError::NotOneNode(_))
        ));
    }

    #[test]
    fn sets_read_one_or_many() {
        #[derive(Deserialize, Serialize)]
        struct Holder {
            nodes: NodeSet,
        }
        let one: Holder = toml::from_str("nodes = \"eu\"").unwrap();
        assert_eq!(one.nodes, NodeSet::group("eu"));
        let many: Holder = toml::from_str("nodes = [\"eu/0..2\", \"us/1\"]").unwrap();
        assert_eq!(many.nodes.0.len(), 2);
        assert_eq!(
            toml::to_string(&many).unwrap().trim(),
            "nodes = [\"eu/0..2\", \"us/1\"]"
        );
        assert!(toml::from_str::<Holder>("nodes = []").is_err());
        assert!(toml::from_str::<Holder>("nodes = 3").is_err());
    }
}
