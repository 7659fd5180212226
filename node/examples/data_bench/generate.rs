//! The benchmark's data: ten columns of mixed types, written streaming to
//! disk (CSV or Parquet) until the file holds about the asked-for bytes.
//!
//! Rows are a pure function of their number, with a few deliberate
//! violations so that both engines have something to count.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType as Arrow, Field as ArrowField, Schema, TimeUnit};
use mesh_protocol::contract::Constraints;
use mesh_protocol::descriptor::{DataType, Field, Quality, Schema as MeshSchema};

/// Allowed values of `status`; rows `r % STATUS_BAD == 5` hold `lost`.
pub(crate) const STATUSES: [&str; 4] = ["new", "paid", "shipped", "cancelled"];
/// Every this-many rows a `code` breaks its pattern (row % n == 7).
const CODE_BAD: u64 = 1000;
/// Every this-many rows a `status` is not allowed (row % n == 5).
const STATUS_BAD: u64 = 997;
/// Every this-many rows `qty` exceeds its maximum (row % n == 3).
const QTY_BAD: u64 = 1009;
/// 2024-01-01 in days and microseconds since the epoch.
const DAY0: i32 = 19_723;
const TS0: i64 = 1_704_067_200_000_000;

/// One generated row.
struct Row {
    id: i64,
    qty: i32,
    price: f64,
    /// Cents.
    amount: i64,
    active: bool,
    day: i32,
    ts: i64,
    code: String,
    status: &'static str,
    note: Option<String>,
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    reason = "bounded pseudo-random figures"
)]
fn row(r: u64) -> Row {
    let h = mix(r);
    let g = mix(h);
    let letters = |x: u64| (b'A' + (x % 26) as u8) as char;
    let code = if r % CODE_BAD == 7 {
        format!("bad-{}", r % 100)
    } else {
        format!(
            "{}{}{}-{:04}",
            letters(h >> 3),
            letters(h >> 11),
            letters(h >> 19),
            (h >> 27) % 10_000
        )
    };
    Row {
        id: r as i64 + 1,
        qty: if r % QTY_BAD == 3 {
            2000
        } else {
            (h % 1001) as i32
        },
        price: (g % 1_000_000) as f64 / 100.0 + 0.125,
        amount: ((g >> 20) % 10_000_000) as i64,
        active: h & 1 == 1,
        day: DAY0 + ((g >> 40) % 1000) as i32,
        ts: TS0 + ((h >> 33) % (1000 * 86_400)) as i64 * 1_000_000 + (g % 1_000_000) as i64,
        code,
        status: if r % STATUS_BAD == 5 {
            "lost"
        } else {
            STATUSES[(g >> 7) as usize % 4]
        },
        note: (!g.is_multiple_of(5)).then(|| format!("note {}", g % 100_000)),
    }
}

/// The descriptor's fields and quality promises for the generated data.
pub(crate) fn contract() -> (MeshSchema, Quality) {
    let field = |name: &str, t: DataType, nullable: bool, c: Constraints| {
        let mut f = Field::new(name, t, nullable);
        f.constraints = c;
        f
    };
    let bounds = |min: &str, max: &str| Constraints {
        min: Some(min.into()),
        max: Some(max.into()),
        ..Constraints::default()
    };
    let fields = vec![
        field(
            "id",
            DataType::Int64,
            false,
            Constraints {
                unique: true,
                ..Constraints::default()
            },
        ),
        field("qty", DataType::Int32, false, bounds("0", "1000")),
        field("price", DataType::Float64, false, bounds("0", "10000")),
        field("amount", DataType::Decimal, false, bounds("0", "100000")),
        field("active", DataType::Boolean, false, Constraints::default()),
        field(
            "day",
            DataType::Date,
            false,
            bounds("2020-01-01", "2030-12-31"),
        ),
        field("ts", DataType::Timestamp, false, Constraints::default()),
        field(
            "code",
            DataType::String,
            false,
            Constraints {
                pattern: Some("[A-Z]{3}-[0-9]{4}".into()),
                ..Constraints::default()
            },
        ),
        field(
            "status",
            DataType::String,
            false,
            Constraints {
                allowed_values: STATUSES.iter().map(|s| (*s).to_owned()).collect(),
                ..Constraints::default()
            },
        ),
        field(
            "note",
            DataType::String,
            true,
            Constraints {
                max_null_percent: Some(50),
                ..Constraints::default()
            },
        ),
    ];
    let schema = MeshSchema { major: 1, fields };
    let quality = Quality {
        min_rows: Some(1),
        completeness_percent: Some(90),
        ..Quality::default()
    };
    (schema, quality)
}

/// Writes a CSV file of about `bytes` bytes; returns its rows.
pub(crate) fn csv(path: &Path, bytes: u64) -> anyhow::Result<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let header = "id,qty,price,amount,active,day,ts,code,status,note\n";
    out.write_all(header.as_bytes())?;
    let mut written = header.len() as u64;
    let mut line = String::with_capacity(256);
    let mut r = 0;
    while written < bytes {
        use std::fmt::Write as _;
        let x = row(r);
        line.clear();
        writeln!(
            line,
            "{},{},{},{}.{:02},{},{},{},{},{},{}",
            x.id,
            x.qty,
            x.price,
            x.amount / 100,
            x.amount % 100,
            x.active,
            mesh_data::contract::value::date_text(x.day),
            mesh_data::contract::value::timestamp_text(x.ts),
            x.code,
            x.status,
            x.note.as_deref().unwrap_or("")
        )?;
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
        r += 1;
    }
    out.flush()?;
    Ok(r)
}

/// Rows per generated batch (and the Parquet writer's row group: the
/// default of common writers, 1 Mi rows).
const BATCH: u64 = 65_536;

/// Writes a Snappy-compressed Parquet file of about `bytes` bytes; returns
/// its rows.
pub(crate) fn parquet(path: &Path, bytes: u64) -> anyhow::Result<u64> {
    let utc: Arc<str> = "+00:00".into();
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("id", Arrow::Int64, false),
        ArrowField::new("qty", Arrow::Int32, false),
        ArrowField::new("price", Arrow::Float64, false),
        ArrowField::new("amount", Arrow::Decimal128(12, 2), false),
        ArrowField::new("active", Arrow::Boolean, false),
        ArrowField::new("day", Arrow::Date32, false),
        ArrowField::new(
            "ts",
            Arrow::Timestamp(TimeUnit::Microsecond, Some(utc.clone())),
            false,
        ),
        ArrowField::new("code", Arrow::Utf8, false),
        ArrowField::new("status", Arrow::Utf8, false),
        ArrowField::new("note", Arrow::Utf8, true),
    ]));
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let file = std::fs::File::create(path)?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    let mut r = 0;
    while writer.bytes_written() as u64 + writer.in_progress_size() as u64 / 3 < bytes {
        let mut id = Int64Builder::new();
        let mut qty = Int32Builder::new();
        let mut price = Float64Builder::new();
        let mut amount = Decimal128Builder::new().with_precision_and_scale(12, 2)?;
        let mut active = BooleanBuilder::new();
        let mut day = Date32Builder::new();
        let mut ts = TimestampMicrosecondBuilder::new().with_timezone(utc.clone());
        let (mut code, mut status, mut note) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        for _ in 0..BATCH {
            let x = row(r);
            id.append_value(x.id);
            qty.append_value(x.qty);
            price.append_value(x.price);
            amount.append_value(i128::from(x.amount));
            active.append_value(x.active);
            day.append_value(x.day);
            ts.append_value(x.ts);
            code.append_value(&x.code);
            status.append_value(x.status);
            note.append_option(x.note);
            r += 1;
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(qty.finish()),
            Arc::new(price.finish()),
            Arc::new(amount.finish()),
            Arc::new(active.finish()),
            Arc::new(day.finish()),
            Arc::new(ts.finish()),
            Arc::new(code.finish()),
            Arc::new(status.finish()),
            Arc::new(note.finish()),
        ];
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
    }
    writer.close().context("closing the Parquet file")?;
    Ok(r)
}
