//! Fuzzes the contract check: the first byte picks the format, the rest is
//! the file, profiled against a contract that promises something of every
//! kind. The profile must stay within its size limits, and (for CSV and
//! JSON Lines, which a node profiles from a stream when publishing and from
//! the stored file when fetching) the two must be identical, however the
//! stream hands over its bytes.

#![no_main]

#[path = "common.rs"]
mod common;

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use mesh_data::contract::{Contract, profile_file, profile_stream};
use mesh_protocol::Timestamp;
use mesh_protocol::contract::{Constraints, CsvDialect};
use mesh_protocol::descriptor::{DataType, Field, Format, Quality};

fn field(name: &str, data_type: DataType, nullable: bool, constraints: Constraints) -> Field {
    let mut f = Field::new(name, data_type, nullable);
    f.constraints = constraints;
    f
}

fn contract(selector: u8) -> Contract {
    Contract {
        fields: vec![
            field(
                "id",
                DataType::Int64,
                false,
                Constraints {
                    unique: true,
                    min: Some("0".into()),
                    max: Some("1000".into()),
                    ..Constraints::default()
                },
            ),
            field(
                "name",
                DataType::String,
                true,
                Constraints {
                    pattern: Some("[a-z]+".into()),
                    max_null_percent: Some(50),
                    ..Constraints::default()
                },
            ),
            field(
                "amount",
                DataType::Decimal,
                true,
                Constraints {
                    allowed_values: vec!["1".into(), "2.5".into()],
                    ..Constraints::default()
                },
            ),
            field("day", DataType::Date, true, Constraints::default()),
            field("at", DataType::Timestamp, true, Constraints::default()),
            field("ok", DataType::Boolean, true, Constraints::default()),
            field("n", DataType::Int32, true, Constraints::default()),
            field("f", DataType::Float64, true, Constraints::default()),
            field("o", DataType::Object, true, Constraints::default()),
        ],
        quality: Quality {
            freshness_secs: Some(86_400),
            completeness_percent: Some(90),
            min_rows: Some(1),
            max_rows: Some(100),
            event_time_field: Some("at".into()),
        },
        csv: CsvDialect {
            delimiter: if selector & 0x10 == 0 { b',' } else { b';' },
            null: if selector & 0x20 == 0 { String::new() } else { "NA".into() },
            empty_is_value: selector & 0x40 != 0,
            ..CsvDialect::default()
        },
        created_at: Timestamp(1_735_689_600_000),
        scratch: None,
    }
}

/// Hands its bytes over a few at a time.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let format = match selector & 0x03 {
        0 => Format::Csv,
        1 => Format::Jsonl,
        2 => Format::Parquet,
        _ => Format::Arrow,
    };
    let contract = contract(selector);
    let path = common::scratch_file(bytes);
    let profile = profile_file(&path, &format, &contract).expect("the scratch directory works");
    assert_eq!(profile.validate(), Ok(()), "{profile:?}");
    if matches!(format, Format::Csv | Format::Jsonl) {
        let stream = Trickle {
            data: bytes.to_vec(),
            pos: 0,
            step: usize::from(selector >> 4).max(1) * 3,
        };
        let streamed = profile_stream(stream, &format, &contract).expect("the scratch directory works");
        assert_eq!(profile, streamed, "profile_file and profile_stream differ");
    }
});
