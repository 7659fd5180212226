//! One error type for every reader.
//!
//! A caller (the contract check, the CLI, the node) reports a failure the
//! same way whatever the format, so every error carries the format and a
//! [`Location`]: the row and byte offset where it was found, as far as the
//! reader knows them.

use std::fmt;
use std::io;

use mesh_protocol::descriptor::Format;

/// Where in a file an error was found. Every part is optional: a reader
/// fills in what it knows.
///
/// Rows are 1-based data rows: a CSV header is not a row, nor is a blank
/// JSON Lines line. Bytes are 0-based offsets into the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// The (first) row.
    pub row: Option<u64>,
    /// The last row, when the error concerns a range of rows (a whole batch).
    pub last_row: Option<u64>,
    /// A byte offset into the file.
    pub byte: Option<u64>,
}

impl Location {
    /// Nowhere in particular (the file as a whole).
    pub const NONE: Self = Self {
        row: None,
        last_row: None,
        byte: None,
    };

    /// One row.
    pub fn row(row: u64) -> Self {
        Self {
            row: Some(row),
            ..Self::NONE
        }
    }

    /// A range of rows, `first..=last`.
    pub fn rows(first: u64, last: u64) -> Self {
        Self {
            row: Some(first),
            last_row: Some(last),
            byte: None,
        }
    }

    /// A byte offset.
    pub fn byte(byte: u64) -> Self {
        Self {
            byte: Some(byte),
            ..Self::NONE
        }
    }

    /// One row starting at a byte offset.
    pub fn row_at(row: u64, byte: u64) -> Self {
        Self {
            row: Some(row),
            last_row: None,
            byte: Some(byte),
        }
    }
}

impl fmt::Display for Location {
    /// Formats as ` row 5 (byte 120)`, ` rows 3-4`, ` byte 120` or nothing,
    /// with a leading space so it can follow the format's name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.row, self.last_row) {
            (Some(first), Some(last)) if last != first => write!(f, " rows {first}-{last}")?,
            (Some(row), _) => write!(f, " row {row}")?,
            (None, _) => {
                if let Some(byte) = self.byte {
                    return write!(f, " byte {byte}");
                }
                return Ok(());
            }
        }
        if let Some(byte) = self.byte {
            write!(f, " (byte {byte})")?;
        }
        Ok(())
    }
}

/// Why a data file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The bytes are not a valid file of the format (or not the rows the
    /// reader expects: a CSV row with the wrong number of cells, invalid
    /// UTF-8, a JSON line that is not an object, ...).
    #[error("{format}{at}: {message}")]
    Invalid {
        /// The format being read.
        format: Format,
        /// Where.
        at: Location,
        /// What is wrong, for a person.
        message: String,
    },
    /// The file is, or claims to be, bigger than one of [`crate::Limits`]
    /// allows: nothing of the claimed size was allocated.
    #[error("{format}{at}: {message}")]
    Limit {
        /// The format being read.
        format: Format,
        /// Where.
        at: Location,
        /// What is too big and which limit it exceeds.
        message: String,
    },
    /// Reading the underlying file or stream failed.
    #[error("{format}{at}: read failed: {source}")]
    Io {
        /// The format being read.
        format: Format,
        /// Where.
        at: Location,
        /// The IO error.
        #[source]
        source: io::Error,
    },
    /// No reader for this format (mesh-data reads csv, jsonl, parquet and
    /// arrow).
    #[error("format {0} is not readable here (mesh-data reads csv, jsonl, parquet and arrow)")]
    Unsupported(Format),
    /// The format can only be read from a seekable file (Parquet keeps its
    /// metadata at the end): open it by path.
    #[error("{0} cannot be streamed: it needs a seekable file, open it by path")]
    NeedsSeek(Format),
}

impl ReadError {
    pub(crate) fn invalid(format: &Format, at: Location, message: impl Into<String>) -> Self {
        Self::Invalid {
            format: format.clone(),
            at,
            message: message.into(),
        }
    }

    pub(crate) fn limit(format: &Format, at: Location, message: impl Into<String>) -> Self {
        Self::Limit {
            format: format.clone(),
            at,
            message: message.into(),
        }
    }

    pub(crate) fn io(format: &Format, at: Location, source: io::Error) -> Self {
        Self::Io {
            format: format.clone(),
            at,
            source,
        }
    }

    /// The location the error names, if any.
    pub fn location(&self) -> Option<Location> {
        match self {
            Self::Invalid { at, .. } | Self::Limit { at, .. } | Self::Io { at, .. } => Some(*at),
            Self::Unsupported(_) | Self::NeedsSeek(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_naturally() {
        assert_eq!(Location::NONE.to_string(), "");
        assert_eq!(Location::row(5).to_string(), " row 5");
        assert_eq!(Location::rows(3, 4).to_string(), " rows 3-4");
        assert_eq!(Location::rows(3, 3).to_string(), " row 3");
        assert_eq!(Location::byte(7).to_string(), " byte 7");
        assert_eq!(Location::row_at(2, 9).to_string(), " row 2 (byte 9)");
        let e = ReadError::invalid(&Format::Csv, Location::row(2), "bad");
        assert_eq!(e.to_string(), "csv row 2: bad");
    }
}
