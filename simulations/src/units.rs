//! Durations, sizes and rates as people write them in scenario files
//! (`"500ms"`, `"4MiB"`, `"10Mbit/s"`), parsed and printed here.
//!
//! The scenario format is read by platform engineers, so its quantities carry
//! their units. This module holds the small parsers and printers for those
//! three kinds of quantity and the serde adapters the scenario types use, so
//! no other module handles unit suffixes. It needs no extra crate.

use std::fmt::{self, Write as _};
use std::time::Duration;

/// Why a duration, size or rate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The text is empty.
    #[error("empty {what}")]
    Empty {
        /// What was expected ("duration", "size", "rate").
        what: &'static str,
    },
    /// A number is missing or malformed.
    #[error("`{text}` is not a {what}: {reason} (examples: {examples})")]
    Malformed {
        /// The text as given.
        text: String,
        /// What was expected.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
        /// Valid examples, for the message.
        examples: &'static str,
    },
    /// The value does not fit.
    #[error("`{text}` is too large")]
    TooLarge {
        /// The text as given.
        text: String,
    },
}

const DURATION_EXAMPLES: &str = "\"250ms\", \"5s\", \"1.5s\", \"2m\", \"1m30s\"";
const SIZE_EXAMPLES: &str = "512, \"64KiB\", \"4MiB\", \"1GB\"";
const RATE_EXAMPLES: &str = "125000, \"10MB/s\", \"1MiB/s\", \"100Mbit/s\"";

fn malformed(text: &str, what: &'static str, reason: impl Into<String>) -> UnitError {
    let examples = match what {
        "duration" => DURATION_EXAMPLES,
        "size" => SIZE_EXAMPLES,
        _ => RATE_EXAMPLES,
    };
    UnitError::Malformed {
        text: text.to_owned(),
        what,
        reason: reason.into(),
        examples,
    }
}

/// Splits `"1.5ms"` into `("1.5", "ms")` at the first character that is not
/// part of a decimal number.
fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(end)
}

/// Parses a decimal number into an integer count of `scale` units, exactly
/// (no floating point), so `"1.5"` with scale 1000 is 1500.
fn scaled(number: &str, scale: u128) -> Option<u128> {
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: u128 = 0;
    for digit in whole.bytes() {
        value = value
            .checked_mul(10)?
            .checked_add(u128::from(digit - b'0'))?;
    }
    value = value.checked_mul(scale)?;
    // Fractional digits: keep those that still matter at this scale.
    let mut unit = scale;
    for digit in frac.bytes() {
        unit /= 10;
        if unit == 0 {
            break;
        }
        value = value.checked_add(u128::from(digit - b'0') * unit)?;
    }
    Some(value)
}

/// Parses a duration such as `"500ms"`, `"5s"`, `"1.5s"`, `"2m"`, `"1h"` or
/// a sum of parts such as `"1m30s"`. Units: `us`, `ms`, `s`, `m`, `h`. A bare
/// `"0"` is zero; any other number needs a unit.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    const WHAT: &str = "duration";
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::Empty { what: WHAT });
    }
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    let mut nanos: u128 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let (number, after) = split_number(rest);
        if number.is_empty() {
            return Err(malformed(
                text,
                WHAT,
                format!("expected a number at `{rest}`"),
            ));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_len);
        let scale: u128 = match unit.trim() {
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(malformed(text, WHAT, format!("`{number}` has no unit"))),
            other => {
                return Err(malformed(
                    text,
                    WHAT,
                    format!("unknown unit `{other}` (use us, ms, s, m or h)"),
                ));
            }
        };
        let part = scaled(number, scale)
            .ok_or_else(|| malformed(text, WHAT, format!("`{number}` is not a number")))?;
        nanos = nanos.checked_add(part).ok_or_else(|| UnitError::TooLarge {
            text: text.to_owned(),
        })?;
        rest = tail.trim_start();
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| UnitError::TooLarge {
        text: text.to_owned(),
    })?;
    // The remainder is below 10^9, so it fits in u32.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

/// Prints a duration the way [`parse_duration`] reads it: `"0s"`, `"250ms"`,
/// `"5s"`, `"1m30s"`, `"1s500ms"`, `"12us"`.
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let total_secs = duration.as_secs();
    let (h, m, s) = (total_secs / 3600, (total_secs / 60) % 60, total_secs % 60);
    let ms = duration.subsec_millis();
    let us = duration.subsec_micros() % 1000;
    let ns = duration.subsec_nanos() % 1000;
    // Writing to a String cannot fail.
    for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if value > 0 {
            let _ = write!(out, "{value}{unit}");
        }
    }
    for (value, unit) in [(ms, "ms"), (us, "us")] {
        if value > 0 {
            let _ = write!(out, "{value}{unit}");
        }
    }
    if ns > 0 {
        // Nanoseconds are not part of the format; show them as a fraction of
        // a microsecond so nothing is lost silently.
        let _ = write!(out, "{:.3}us", f64::from(ns) / 1000.0);
    }
    out
}

/// Parses a size in bytes: `"512"`, `"512B"`, `"64KB"` (1000), `"64KiB"`
/// (1024), `"4MB"`, `"4MiB"`, `"1GB"`, `"1GiB"`. Fractions are allowed
/// (`"1.5MiB"`) and rounded down to whole bytes.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    parse_bytes(text, "size")
}

fn parse_bytes(text: &str, what: &'static str) -> Result<u64, UnitError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::Empty { what });
    }
    let (number, unit) = split_number(trimmed);
    let multiplier: u128 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        other => {
            return Err(malformed(
                text,
                what,
                format!("unknown unit `{other}` (use B, KB, MB, GB, KiB, MiB or GiB)"),
            ));
        }
    };
    // Scale by 1000 to keep three decimal places of the number, then apply
    // the unit.
    let thousandths = scaled(number, 1000)
        .ok_or_else(|| malformed(text, what, format!("`{number}` is not a number")))?;
    let bytes = thousandths
        .checked_mul(multiplier)
        .map(|v| v / 1000)
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| UnitError::TooLarge {
            text: text.to_owned(),
        })?;
    Ok(bytes)
}

/// Prints a size in the largest binary unit that divides it exactly
/// (`"4MiB"`, `"1500B"`).
pub fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        let scale = 1u64 << shift;
        if bytes >= scale && bytes.is_multiple_of(scale) {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

/// Parses a rate in bytes per second: a plain number, a size per second
/// (`"10MB/s"`, `"1MiB/s"`) or bits per second (`"100Mbit/s"`, `"1Gbit/s"`,
/// `"512kbit/s"`).
pub fn parse_rate(text: &str) -> Result<u64, UnitError> {
    const WHAT: &str = "rate";
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(UnitError::Empty { what: WHAT });
    }
    let Some(per_second) = trimmed.strip_suffix("/s") else {
        if trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return parse_bytes(trimmed, WHAT);
        }
        return Err(malformed(text, WHAT, "a rate ends in `/s`"));
    };
    let (number, unit) = split_number(per_second);
    let bits: Option<u128> = match unit.trim() {
        "bit" => Some(1),
        "kbit" | "Kbit" => Some(1_000),
        "Mbit" => Some(1_000_000),
        "Gbit" => Some(1_000_000_000),
        _ => None,
    };
    match bits {
        Some(multiplier) => {
            let thousandths = scaled(number, 1000)
                .ok_or_else(|| malformed(text, WHAT, format!("`{number}` is not a number")))?;
            thousandths
                .checked_mul(multiplier)
                .map(|v| v / 8000)
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| UnitError::TooLarge {
                    text: text.to_owned(),
                })
        }
        None => parse_bytes(per_second, WHAT),
    }
}

/// Prints a rate in bytes per second (`"1MiB/s"`, `"125000B/s"`).
pub fn format_rate(bytes_per_second: u64) -> String {
    format!("{}/s", format_size(bytes_per_second))
}

/// Serde adapters for the scenario types: each reads the unit-carrying text
/// (sizes and rates also accept plain integers) and writes it back in the
/// same form.
pub(crate) mod serde_units {
    use super::{Duration, fmt, format_duration, format_rate, format_size};
    use super::{parse_duration, parse_rate, parse_size};
    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"500ms\", \"5s\" or \"2m\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }
    }

    /// `Duration` as `"5s"`.
    pub(crate) mod duration {
        use super::{Deserializer, Duration, DurationVisitor, Serializer, format_duration};

        pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&format_duration(*d))
        }
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
            d.deserialize_any(DurationVisitor)
        }
    }

    /// `Option<Duration>` as `"5s"` or absent (use with `default` and
    /// `skip_serializing_if = "Option::is_none"`).
    pub(crate) mod option_duration {
        use super::{Deserializer, Duration, DurationVisitor, Serializer, format_duration};

        #[allow(clippy::ref_option)] // serde's `with` passes `&Option<T>`.
        pub(crate) fn serialize<S: Serializer>(
            d: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_str(&format_duration(*d)),
                None => s.serialize_none(),
            }
        }
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Duration>, D::Error> {
            d.deserialize_any(DurationVisitor).map(Some)
        }
    }

    struct BytesVisitor {
        rate: bool,
    }

    impl Visitor<'_> for BytesVisitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.rate {
                f.write_str(
                    "a rate in bytes per second such as 125000, \"10MB/s\" or \"100Mbit/s\"",
                )
            } else {
                f.write_str("a size in bytes such as 1024, \"64KiB\" or \"4MiB\"")
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            if self.rate {
                parse_rate(v).map_err(E::custom)
            } else {
                parse_size(v).map_err(E::custom)
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative")))
        }
    }

    /// A byte count as `4MiB` or an integer.
    pub(crate) mod size {
        use super::{BytesVisitor, Deserializer, Serializer, format_size};

        #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `with` passes `&T`.
        pub(crate) fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&format_size(*v))
        }
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            d.deserialize_any(BytesVisitor { rate: false })
        }
    }

    /// An optional rate as `"10MB/s"` or an integer (bytes per second).
    pub(crate) mod option_rate {
        use super::{BytesVisitor, Deserializer, Serializer, format_rate};

        #[allow(clippy::ref_option)] // serde's `with` passes `&Option<T>`.
        pub(crate) fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.serialize_str(&format_rate(*v)),
                None => s.serialize_none(),
            }
        }
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<u64>, D::Error> {
            d.deserialize_any(BytesVisitor { rate: true }).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration(" 0 "), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0.25ms"), Ok(Duration::from_micros(250)));
    }

    #[test]
    fn durations_refuse_bad_text() {
        assert!(matches!(parse_duration(""), Err(UnitError::Empty { .. })));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1..2s").is_err());
        assert!(parse_duration("-5s").is_err());
        let message = parse_duration("5x").unwrap_err().to_string();
        assert!(message.contains("unknown unit `x`"), "{message}");
        assert!(matches!(
            parse_duration("99999999999999999999999h"),
            Err(UnitError::TooLarge { .. })
        ));
    }

    #[test]
    fn durations_round_trip_through_text() {
        for ms in [0, 1, 250, 1000, 1500, 60_000, 90_000, 3_600_000, 3_723_004] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{ms}ms");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("64KB"), Ok(64_000));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("1.5MiB"), Ok(3 << 19));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert!(parse_size("4 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert_eq!(format_size(4 << 20), "4MiB");
        assert_eq!(format_size(1500), "1500B");
        assert_eq!(parse_size(&format_size(3 << 19)), Ok(3 << 19));
    }

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("125000"), Ok(125_000));
        assert_eq!(parse_rate("10MB/s"), Ok(10_000_000));
        assert_eq!(parse_rate("1MiB/s"), Ok(1 << 20));
        assert_eq!(parse_rate("100Mbit/s"), Ok(12_500_000));
        assert_eq!(parse_rate("1Gbit/s"), Ok(125_000_000));
        assert_eq!(parse_rate("512kbit/s"), Ok(64_000));
        assert!(parse_rate("10MB").is_err());
        assert_eq!(parse_rate(&format_rate(1 << 20)), Ok(1 << 20));
    }
}
