//! CSV: every column as text, every row checked, nothing turned into null.
//!
//! The contract check parses each cell by its declared type so it can
//! report every bad row, so this reader does no type conversion: every
//! column is nullable `Utf8` named by the header, and an empty cell stays
//! `""` (the caller decides what null means; no value is ever null).
//!
//! Tokenising is `csv-core` (the tokenizer `arrow-csv` itself uses, so the
//! dialect is the same) feeding Arrow `StringBuilder`s directly, rather than
//! `arrow-csv`'s decoder, because that decoder could not keep our promises:
//! it buffers a row without limit (an unclosed quote swallows the rest of
//! the file), preallocates `batch_rows x columns` offsets, and its errors
//! count "lines" from the header. Here a row's decoded bytes are capped at
//! `max_row_bytes` while it is read, a row's cells at the header's count,
//! and errors name the data row (1-based, header excluded; a quoted cell
//! may span lines, so rows are records, not lines) and the byte offset
//! where reading it began. Blank lines are skipped and are not rows.

use std::io::Read;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use mesh_protocol::descriptor::Format;

use super::{Batch, BatchSource, Batches, ReadOptions};
use crate::error::{Location, ReadError};
use crate::read::Limits;

/// Input buffer size.
const CHUNK: usize = 64 << 10;
/// Estimated bytes per cell beyond its text (an `i32` offset and slack).
const CELL_OVERHEAD: usize = 8;

const FORMAT: Format = Format::Csv;

/// Reads CSV from `r`: the header now, rows as the batches are pulled.
pub(crate) fn batches<R: Read + Send + 'static>(
    r: R,
    opts: &ReadOptions,
) -> Result<Batches, ReadError> {
    let mut tokens = Tokens::new(r, opts);
    let Some(header) = tokens.next_record(opts.limits.max_columns, 0)? else {
        return Err(ReadError::invalid(
            &FORMAT,
            Location::byte(0),
            "the file is empty: a header row is required",
        ));
    };
    if tokens.ends.len() > opts.limits.max_columns {
        let at = Location::byte(header);
        return Err(too_many_cells(at, "header", opts.limits.max_columns, true));
    }
    if let Some(column) = tokens.bad_utf8_column() {
        return Err(ReadError::invalid(
            &FORMAT,
            Location::byte(header),
            format!("header, column {column}: invalid UTF-8"),
        ));
    }
    let text = String::from_utf8_lossy(tokens.record());
    let mut fields = Vec::with_capacity(tokens.ends.len());
    let mut from = 0;
    for &end in &tokens.ends {
        fields.push(Field::new(&text[from..end], DataType::Utf8, true));
        from = end;
    }
    let columns = fields.len();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let limits = opts.limits;
    // The fixed part of a row (offsets) must leave room for its text.
    let per_row = columns.saturating_mul(CELL_OVERHEAD).max(1);
    let rows = opts
        .rows_per_batch()
        .min((limits.max_batch_bytes / 2 / per_row).max(1));
    let source = CsvSource {
        tokens,
        schema: schema.clone(),
        columns,
        rows,
        limits,
        rows_read: 0,
        pending: None,
    };
    Ok(Batches::new(FORMAT, schema, Box::new(source)))
}

/// The tokenizer over a byte stream: one record at a time into `out`/`ends`.
struct Tokens<R> {
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    eof: bool,
    /// Bytes of the input consumed so far.
    consumed: u64,
    reader: Reader,
    /// The current record's decoded cells, back to back (`out[..out_len]`).
    out: Vec<u8>,
    out_len: usize,
    /// The end offset of each cell of the current record in `out`.
    ends: Vec<usize>,
    max_row_bytes: usize,
}

impl<R: Read> Tokens<R> {
    fn new(input: R, opts: &ReadOptions) -> Self {
        let reader = ReaderBuilder::new()
            .delimiter(opts.csv.delimiter)
            .quote(opts.csv.quote)
            .build();
        Self {
            input,
            buf: vec![0; CHUNK].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
            consumed: 0,
            reader,
            out: vec![0; 1024],
            out_len: 0,
            ends: Vec::new(),
            max_row_bytes: opts.limits.max_row_bytes,
        }
    }

    /// The current record's cells, back to back.
    fn record(&self) -> &[u8] {
        &self.out[..self.out_len]
    }

    /// The first (1-based) column of the current record that is not UTF-8.
    /// Cells are checked one by one: cells that are not UTF-8 alone can be
    /// together (`\xc2` and `\x80`).
    fn bad_utf8_column(&self) -> Option<usize> {
        let mut from = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            if std::str::from_utf8(&self.out[from..end]).is_err() {
                return Some(i + 1);
            }
            from = end;
        }
        None
    }

    /// Reads the next record into `out`/`ends`, allowing at most
    /// `max_cells` cells. Returns the byte offset where reading it began, or
    /// `None` at the end of the input. `row` names the record in errors.
    fn next_record(&mut self, max_cells: usize, row: u64) -> Result<Option<u64>, ReadError> {
        let start = self.consumed;
        let at = if row == 0 {
            Location::byte(start)
        } else {
            Location::row_at(row, start)
        };
        let what = if row == 0 {
            "header".to_string()
        } else {
            format!("row {row}")
        };
        self.out_len = 0;
        self.ends.clear();
        let mut ends_len = 0;
        loop {
            if self.pos == self.end && !self.eof {
                self.fill().map_err(|e| ReadError::io(&FORMAT, at, e))?;
            }
            if ends_len == self.ends.len() {
                // One more than allowed, to tell "too many" from "exactly".
                let grow = (self.ends.len().max(8) * 2).min(max_cells.saturating_add(1));
                if grow <= self.ends.len() {
                    return Err(too_many_cells(at, &what, max_cells, row == 0));
                }
                self.ends.resize(grow, 0);
            }
            if self.out_len == self.out.len() {
                if self.out.len() > self.max_row_bytes {
                    return Err(self.too_long(at, &what));
                }
                let grow = (self.out.len() * 2).min(self.max_row_bytes.saturating_add(1));
                self.out.resize(grow.max(self.out.len() + 1), 0);
            }
            let input = &self.buf[self.pos..self.end];
            let (result, n_in, n_out, n_ends) = self.reader.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[ends_len..],
            );
            self.pos += n_in;
            self.consumed += n_in as u64;
            self.out_len += n_out;
            ends_len += n_ends;
            match result {
                ReadRecordResult::InputEmpty
                | ReadRecordResult::OutputFull
                | ReadRecordResult::OutputEndsFull => {}
                ReadRecordResult::Record => {
                    self.ends.truncate(ends_len);
                    if self.out_len > self.max_row_bytes {
                        return Err(self.too_long(at, &what));
                    }
                    return Ok(Some(start));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    fn too_long(&self, at: Location, what: &str) -> ReadError {
        ReadError::limit(
            &FORMAT,
            at,
            format!(
                "{what} is longer than max_row_bytes ({} bytes)",
                self.max_row_bytes
            ),
        )
    }

    fn fill(&mut self) -> std::io::Result<()> {
        loop {
            match self.input.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    self.pos = 0;
                    self.end = 0;
                    return Ok(());
                }
                Ok(n) => {
                    self.pos = 0;
                    self.end = n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn too_many_cells(at: Location, what: &str, max: usize, header: bool) -> ReadError {
    if header {
        ReadError::limit(
            &FORMAT,
            at,
            format!("header has more than max_columns ({max}) cells"),
        )
    } else {
        ReadError::invalid(
            &FORMAT,
            at,
            format!("{what} has more than {max} cells; the header has {max}"),
        )
    }
}

struct CsvSource<R> {
    tokens: Tokens<R>,
    schema: SchemaRef,
    columns: usize,
    /// Rows per batch.
    rows: usize,
    limits: Limits,
    /// Data rows read so far (including `pending`).
    rows_read: u64,
    /// A row read but not yet added (it did not fit the previous batch).
    pending: Option<Vec<String>>,
}

impl<R: Read> CsvSource<R> {
    /// Reads the next row's cells as text, checked.
    fn next_row(&mut self) -> Result<Option<(u64, usize)>, ReadError> {
        let row = self.rows_read + 1;
        let Some(start) = self.tokens.next_record(self.columns, row)? else {
            return Ok(None);
        };
        let at = Location::row_at(row, start);
        let cells = self.tokens.ends.len();
        if cells != self.columns {
            return Err(ReadError::invalid(
                &FORMAT,
                at,
                format!(
                    "row {row} has {cells} cells; the header has {}",
                    self.columns
                ),
            ));
        }
        if let Some(column) = self.tokens.bad_utf8_column() {
            let name = self.schema.field(column - 1).name();
            return Err(ReadError::invalid(
                &FORMAT,
                at,
                format!("row {row}, column {column} ({name:?}): invalid UTF-8"),
            ));
        }
        self.rows_read = row;
        Ok(Some((
            row,
            self.tokens.out_len + self.columns * CELL_OVERHEAD,
        )))
    }

    /// The current record's cells (checked UTF-8 by `next_row`).
    fn cells(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(self.tokens.record());
        let mut cells = Vec::with_capacity(self.columns);
        let mut from = 0;
        for &end in &self.tokens.ends {
            cells.push(text[from..end].to_string());
            from = end;
        }
        cells
    }
}

impl<R: Read + Send> BatchSource for CsvSource<R> {
    fn next_batch(&mut self) -> Result<Option<Batch>, ReadError> {
        let mut builders: Vec<StringBuilder> =
            (0..self.columns).map(|_| StringBuilder::new()).collect();
        let mut rows = 0usize;
        let mut bytes = 0usize;
        let mut first_row = self.rows_read + 1;
        if let Some(cells) = self.pending.take() {
            first_row = self.rows_read;
            for (builder, cell) in builders.iter_mut().zip(&cells) {
                bytes += cell.len() + CELL_OVERHEAD;
                builder.append_value(cell);
            }
            rows = 1;
        }
        while rows < self.rows {
            let Some((row, size)) = self.next_row()? else {
                break;
            };
            if size > self.limits.max_batch_bytes {
                return Err(ReadError::limit(
                    &FORMAT,
                    Location::row(row),
                    format!(
                        "row {row} decodes to about {size} bytes, more than max_batch_bytes ({})",
                        self.limits.max_batch_bytes
                    ),
                ));
            }
            if rows > 0 && bytes + size > self.limits.max_batch_bytes {
                self.pending = Some(self.cells());
                break;
            }
            let text = std::str::from_utf8(self.tokens.record()).unwrap_or_default();
            let mut from = 0;
            for (builder, &end) in builders.iter_mut().zip(&self.tokens.ends) {
                builder.append_value(&text[from..end]);
                from = end;
            }
            bytes += size;
            rows += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        let arrays: Vec<ArrayRef> = builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map_err(|e| ReadError::invalid(&FORMAT, Location::row(first_row), e.to_string()))?;
        Ok(Some(Batch { first_row, batch }))
    }
}
