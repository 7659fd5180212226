//! The first rows of a data file, as text, for `mesh preview` and the API:
//! a look at the data before fetching or trusting all of it.
//!
//! Only as many batches are read as the rows asked for need; values are
//! written in the contract check's text forms, so a preview and a profile
//! never disagree about what a value is.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use serde::{Deserialize, Serialize};

use crate::contract::arrow_cells::{Cell, for_each};
use crate::error::ReadError;
use crate::read::{self, ReadOptions, Source};

/// Most rows a preview returns.
pub const MAX_PREVIEW_ROWS: usize = 1000;
/// Longest cell text in a preview (longer cells are cut, with `…`).
pub const MAX_CELL_CHARS: usize = 200;

/// The first rows of a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// Rows, each a cell per column (`None` for a null).
    pub rows: Vec<Vec<Option<String>>>,
}

/// Reads the first `rows` rows (at most [`MAX_PREVIEW_ROWS`]) of the file at
/// `path`.
pub fn preview(path: &Path, opts: &ReadOptions, rows: usize) -> Result<Preview, ReadError> {
    let file = std::fs::File::open(path)
        .and_then(read::FileSource::new)
        .map_err(|e| ReadError::io(&opts.format, crate::error::Location::NONE, e))?;
    preview_source(Arc::new(file), opts, rows)
}

/// Reads the first `rows` rows (at most [`MAX_PREVIEW_ROWS`]) of `source`,
/// reading no further into it than those rows need (and, for Parquet and
/// Arrow IPC files, the footer).
pub fn preview_source(
    source: Arc<dyn Source>,
    opts: &ReadOptions,
    rows: usize,
) -> Result<Preview, ReadError> {
    let wanted = rows.min(MAX_PREVIEW_ROWS);
    let mut opts = opts.clone();
    opts.batch_rows = wanted.max(1);
    let batches = read::open_source(source, &opts)?;
    let schema = batches.schema();
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let text = opts.format == mesh_protocol::descriptor::Format::Csv;
    let mut out: Vec<Vec<Option<String>>> = Vec::new();
    for batch in batches {
        if out.len() >= wanted {
            break;
        }
        let batch = batch?.batch;
        let take = batch.num_rows().min(wanted - out.len());
        let mut block = vec![vec![None; columns.len()]; take];
        for (c, array) in batch.columns().iter().enumerate() {
            if text && let Some(strings) = array.as_string_opt::<i32>() {
                for (r, cell) in strings.iter().take(take).enumerate() {
                    block[r][c] = cell.map(cut);
                }
                continue;
            }
            for_each(array, &mut |r, cell| {
                if r < take {
                    block[r][c] = cell.map(|cell| match cell {
                        Cell::Value(v) => cut(&v.text()),
                        Cell::Opaque => "{…}".to_owned(),
                    });
                }
            });
        }
        out.extend(block);
    }
    Ok(Preview { columns, rows: out })
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_CELL_CHARS {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(MAX_CELL_CHARS).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_protocol::descriptor::Format;

    #[test]
    fn the_first_rows_come_back_as_text_and_no_more() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "id,name\n1,a\n2,\n3,c\n").unwrap_or_else(|e| panic!("{e}"));
        let p = preview(&path, &ReadOptions::new(Format::Csv), 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.columns, vec!["id", "name"]);
        assert_eq!(
            p.rows,
            vec![
                vec![Some("1".to_owned()), Some("a".to_owned())],
                vec![Some("2".to_owned()), Some(String::new())],
            ]
        );
        assert_eq!(cut(&"x".repeat(300)).chars().count(), MAX_CELL_CHARS + 1);
    }
}
