//! JSON Lines: one JSON object per line, as Arrow batches or as raw
//! `serde_json` objects.
//!
//! Lines are split here, capped at `max_row_bytes` (see `lines`), checked
//! to be UTF-8, to start an object and (with `serde_json`, allocating
//! nothing) to be exactly one valid JSON value, and only then handed to
//! `arrow-json`'s decoder one at a time, so an error names the row even
//! though `arrow-json` itself knows no line numbers, and the batches accept
//! exactly the rows [`jsonl_values`] does (`arrow-json`'s tape decoder
//! alone is lenient: it skips stray commas). A row is a line that
//! is not blank: blank (whitespace-only) lines are skipped and not counted.
//!
//! Batches use a caller-given Arrow schema or one inferred by `arrow-json`
//! from the first rows (at most `json_infer_rows` rows and
//! `max_batch_bytes / 16` bytes, kept and replayed, so the stream is still
//! read once). Fields not in the schema are ignored; a value of the wrong
//! type is an error naming the batch's rows (the decoder reports type
//! errors only per batch).
//!
//! [`jsonl_values`] is the raw path for the contract check: every row as a
//! `serde_json` object with its row number, going on after a bad row.
//! Nesting depth is bounded by `serde_json`'s recursion limit (128).

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use arrow_json::reader::{Decoder, ReaderBuilder, infer_json_schema_from_iterator};
use arrow_schema::{ArrowError, SchemaRef};
use mesh_protocol::descriptor::Format;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use super::lines::{LineInfo, LineReader};
use super::{Batch, BatchSource, Batches, Limits, ReadOptions};
use crate::error::{Location, ReadError};

const FORMAT: Format = Format::Jsonl;
/// Decoded bytes per byte of JSON text, at worst (a one-digit number
/// becomes an 8-byte value and tape entries).
const TEXT_FACTOR: usize = 16;
/// Decoder bytes per field per row (tape entries, offsets, values).
const FIELD_COST: usize = 64;

/// A row's text: its number, where it starts and its bytes.
struct Row {
    number: u64,
    offset: u64,
    text: Vec<u8>,
}

/// Splits a stream into checked rows.
struct Rows<R> {
    lines: LineReader<R>,
    count: u64,
    max_row_bytes: usize,
}

impl<R: Read> Rows<R> {
    fn new(r: R, limits: &Limits) -> Self {
        Self {
            lines: LineReader::new(r, limits.max_row_bytes),
            count: 0,
            max_row_bytes: limits.max_row_bytes,
        }
    }

    /// The next non-blank line into `text`. `Ok(None)` at the end; an
    /// `Err` for a row that is too long, not UTF-8 or not an object (the
    /// next call goes on with the next line), or for a failed read.
    fn next(&mut self, text: &mut Vec<u8>) -> Option<Result<(u64, u64), ReadError>> {
        loop {
            let info: LineInfo = match self.lines.next_line(text) {
                Ok(Some(info)) => info,
                Ok(None) => return None,
                Err(e) => {
                    let at = Location::row(self.count + 1);
                    return Some(Err(ReadError::io(&FORMAT, at, e)));
                }
            };
            if !info.too_long && text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.count += 1;
            let row = self.count;
            let at = Location::row_at(row, info.offset);
            if info.too_long {
                let msg = format!(
                    "row {row} is longer than max_row_bytes ({})",
                    self.max_row_bytes
                );
                return Some(Err(ReadError::limit(&FORMAT, at, msg)));
            }
            if let Err(e) = std::str::from_utf8(text) {
                let at = Location::row_at(row, info.offset + e.valid_up_to() as u64);
                return Some(Err(ReadError::invalid(
                    &FORMAT,
                    at,
                    format!("row {row}: invalid UTF-8"),
                )));
            }
            if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                let msg = format!("row {row} is not a JSON object");
                return Some(Err(ReadError::invalid(&FORMAT, at, msg)));
            }
            return Some(Ok((row, info.offset)));
        }
    }
}

/// Every row of a JSON Lines stream as a `serde_json` object with its row
/// number. A bad row (too long, not JSON, not an object) yields an `Err`
/// naming it and the iterator goes on with the next row; a read error ends
/// it.
pub fn jsonl_values<R: Read>(r: R, limits: Limits) -> JsonlValues<R> {
    JsonlValues {
        rows: Rows::new(r, &limits),
        text: Vec::new(),
        done: false,
    }
}

/// The iterator of [`jsonl_values`].
pub struct JsonlValues<R> {
    rows: Rows<R>,
    text: Vec<u8>,
    done: bool,
}

impl<R: Read> Iterator for JsonlValues<R> {
    type Item = Result<(u64, Map<String, Value>), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (row, offset) = match self.rows.next(&mut self.text)? {
            Ok(found) => found,
            Err(e) => {
                self.done = matches!(e, ReadError::Io { .. });
                return Some(Err(e));
            }
        };
        Some(match serde_json::from_slice::<Value>(&self.text) {
            Ok(Value::Object(map)) => Ok((row, map)),
            Ok(_) => Err(ReadError::invalid(
                &FORMAT,
                Location::row_at(row, offset),
                format!("row {row} is not a JSON object"),
            )),
            Err(e) => Err(ReadError::invalid(
                &FORMAT,
                Location::row_at(row, offset + e.column().saturating_sub(1) as u64),
                format!("row {row}: {e}"),
            )),
        })
    }
}

/// Reads JSON Lines from `r` as Arrow batches.
pub(crate) fn batches<R: Read + Send + 'static>(
    r: R,
    opts: &ReadOptions,
) -> Result<Batches, ReadError> {
    let limits = opts.limits;
    let mut rows = Rows::new(r, &limits);
    let mut replay = VecDeque::new();
    let schema = match &opts.json_schema {
        Some(schema) => schema.clone(),
        None => infer_schema(&mut rows, &mut replay, opts)?,
    };
    let fields = schema.flattened_fields().len();
    if fields > limits.max_columns {
        return Err(ReadError::limit(
            &FORMAT,
            Location::NONE,
            format!(
                "the schema has {fields} fields, more than max_columns ({})",
                limits.max_columns
            ),
        ));
    }
    let row_cost = (fields + 1) * FIELD_COST;
    let batch_rows = opts
        .rows_per_batch()
        .min((limits.max_batch_bytes / row_cost).max(1));
    let decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(batch_rows)
        .build_decoder()
        .map_err(|e| ReadError::invalid(&FORMAT, Location::NONE, e.to_string()))?;
    let source = JsonlSource {
        rows,
        replay,
        text: Vec::new(),
        decoder,
        batch_rows,
        row_cost,
        max_batch_bytes: limits.max_batch_bytes,
    };
    Ok(Batches::new(FORMAT, schema, Box::new(source)))
}

/// Infers the schema from the first rows, keeping them in `replay`.
fn infer_schema<R: Read>(
    rows: &mut Rows<R>,
    replay: &mut VecDeque<Row>,
    opts: &ReadOptions,
) -> Result<SchemaRef, ReadError> {
    let budget = opts.limits.max_batch_bytes / TEXT_FACTOR;
    let mut bytes = 0;
    while replay.len() < opts.json_infer_rows && bytes < budget {
        let mut text = Vec::new();
        let Some(found) = rows.next(&mut text) else {
            break;
        };
        let (number, offset) = found?;
        bytes += text.len();
        replay.push_back(Row {
            number,
            offset,
            text,
        });
    }
    let mut bad = None;
    let values = replay
        .iter()
        .map_while(|row| match serde_json::from_slice::<Value>(&row.text) {
            Ok(value) => Some(Ok::<_, ArrowError>(value)),
            Err(e) => {
                let at = Location::row_at(row.number, row.offset);
                bad = Some(ReadError::invalid(
                    &FORMAT,
                    at,
                    format!("row {}: {e}", row.number),
                ));
                None
            }
        });
    let schema = infer_json_schema_from_iterator(values);
    if let Some(e) = bad {
        return Err(e);
    }
    let last = replay.back().map_or(0, |r| r.number);
    let schema = schema.map_err(|e| {
        ReadError::invalid(
            &FORMAT,
            Location::rows(1, last),
            format!("schema inference: {e}"),
        )
    })?;
    Ok(Arc::new(schema))
}

struct JsonlSource<R> {
    rows: Rows<R>,
    /// Rows read for inference, not yet decoded (and a row that did not fit
    /// the previous batch).
    replay: VecDeque<Row>,
    text: Vec<u8>,
    decoder: Decoder,
    batch_rows: usize,
    row_cost: usize,
    max_batch_bytes: usize,
}

impl<R: Read> JsonlSource<R> {
    fn next_row(&mut self) -> Result<Option<(u64, u64)>, ReadError> {
        if let Some(row) = self.replay.pop_front() {
            self.text = row.text;
            return Ok(Some((row.number, row.offset)));
        }
        self.rows.next(&mut self.text).transpose()
    }
}

impl<R: Read + Send> BatchSource for JsonlSource<R> {
    fn next_batch(&mut self) -> Result<Option<Batch>, ReadError> {
        let mut first_row = None;
        let mut last_row = 0;
        let mut rows = 0;
        let mut bytes = 0usize;
        while rows < self.batch_rows {
            let Some((row, offset)) = self.next_row()? else {
                break;
            };
            let at = Location::row_at(row, offset);
            let size = self.text.len().saturating_mul(TEXT_FACTOR) + self.row_cost;
            if size > self.max_batch_bytes {
                return Err(ReadError::limit(
                    &FORMAT,
                    at,
                    format!(
                        "row {row} may decode to {size} bytes, more than max_batch_bytes ({})",
                        self.max_batch_bytes
                    ),
                ));
            }
            if rows > 0 && bytes + size > self.max_batch_bytes {
                let text = std::mem::take(&mut self.text);
                self.replay.push_front(Row {
                    number: row,
                    offset,
                    text,
                });
                break;
            }
            // arrow-json's tape decoder is lenient (it skips stray commas):
            // hold every row to the JSON grammar the raw path uses.
            if let Err(e) = serde_json::from_slice::<IgnoredAny>(&self.text) {
                let at = Location::row_at(row, offset + e.column().saturating_sub(1) as u64);
                return Err(ReadError::invalid(&FORMAT, at, format!("row {row}: {e}")));
            }
            let before = self.decoder.len();
            let used = self
                .decoder
                .decode(&self.text)
                .map_err(|e| ReadError::invalid(&FORMAT, at, format!("row {row}: {e}")))?;
            if self.decoder.has_partial_record() {
                let msg = format!("row {row}: the JSON object does not end on its line");
                return Err(ReadError::invalid(&FORMAT, at, msg));
            }
            if used != self.text.len() || self.decoder.len() != before + 1 {
                let msg = format!("row {row}: more than one JSON value on the line");
                return Err(ReadError::invalid(&FORMAT, at, msg));
            }
            first_row.get_or_insert(row);
            last_row = row;
            rows += 1;
            bytes += size;
        }
        let Some(first_row) = first_row else {
            return Ok(None);
        };
        let batch = self.decoder.flush().map_err(|e| {
            ReadError::invalid(&FORMAT, Location::rows(first_row, last_row), e.to_string())
        })?;
        Ok(batch.map(|batch| Batch { first_row, batch }))
    }
}
