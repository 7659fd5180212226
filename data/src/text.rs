//! Text-to-value parsers for the types a mesh schema declares.
//!
//! CSV cells (and JSON strings) carry dates, timestamps and numbers as
//! text. Inference uses these parsers to propose a column's type and the
//! contract check uses the same ones to test each cell against its
//! declared type, so the two always agree on what a valid value is.
//!
//! The parsers are strict: no surrounding whitespace, no thousands
//! separators, no `NaN`/`inf` words. Timestamps without an offset are UTC.

/// `true` or `false`, in any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A base-10 integer with an optional sign that fits `i32`.
pub fn parse_i32(s: &str) -> Option<i32> {
    s.parse().ok()
}

/// A base-10 integer with an optional sign that fits `i64`.
pub fn parse_i64(s: &str) -> Option<i64> {
    s.parse().ok()
}

/// A finite number in decimal or scientific notation (`-1.5`, `2e10`,
/// `.5`); not `NaN` or `inf`.
pub fn parse_f64(s: &str) -> Option<f64> {
    let number_chars = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    if !number_chars || !s.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// An exact decimal number as written: `-?digits(.digits)?`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecimalText<'a> {
    /// A leading `-`.
    pub negative: bool,
    /// The digits before the point (at least one).
    pub integer: &'a str,
    /// The digits after the point (empty without a point).
    pub fraction: &'a str,
}

impl DecimalText<'_> {
    /// Significant digits: the integer part without leading zeros, plus the
    /// fraction.
    pub fn precision(&self) -> usize {
        self.integer.trim_start_matches('0').len() + self.fraction.len()
    }

    /// Digits after the point.
    pub fn scale(&self) -> usize {
        self.fraction.len()
    }
}

/// Checks `-?digits(.digits)?` and splits it.
pub fn parse_decimal(s: &str) -> Option<DecimalText<'_>> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (integer, fraction) = match rest.split_once('.') {
        Some((i, f)) if !f.is_empty() => (i, f),
        Some(_) => return None,
        None => (rest, ""),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    (!integer.is_empty() && digits(integer) && digits(fraction)).then_some(DecimalText {
        negative,
        integer,
        fraction,
    })
}

/// A calendar date `YYYY-MM-DD` as days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    i32::try_from(days_from_civil(i64::from(year), month, day)).ok()
}

/// A timestamp as microseconds since 1970-01-01T00:00:00Z.
///
/// Accepts RFC 3339 and its common ISO 8601 relatives: a date, then `T`,
/// `t` or a space, `HH:MM`, optional `:SS`, an optional fraction of up to
/// nine digits (truncated to microseconds) and an optional `Z`, `z`,
/// `±HH:MM`, `±HHMM` or `±HH` offset; no offset means UTC. A bare date is
/// midnight UTC (a date widens to a timestamp).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let (date, rest) = (s.get(..10)?, &s.as_bytes()[10..]);
    let days = i64::from(parse_date(date)?);
    if rest.is_empty() {
        return Some(days * 86_400_000_000);
    }
    if !matches!(rest[0], b'T' | b't' | b' ') || rest.len() < 6 || rest[3] != b':' {
        return None;
    }
    let hour = digits(&rest[1..3])?;
    let minute = digits(&rest[4..6])?;
    let mut i = 6;
    let mut second = 0;
    if rest.get(i) == Some(&b':') {
        second = digits(rest.get(i + 1..i + 3)?)?;
        i += 3;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut micros = 0i64;
    if rest.get(i) == Some(&b'.') {
        let fraction = rest[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if fraction == 0 || fraction > 9 {
            return None;
        }
        for k in 0..6 {
            let digit = rest
                .get(i + 1 + k)
                .filter(|_| k < fraction)
                .map_or(0, |d| d - b'0');
            micros = micros * 10 + i64::from(digit);
        }
        i += 1 + fraction;
    }
    let offset_minutes = parse_offset(&rest[i..])?;
    let seconds =
        days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    Some(seconds * 1_000_000 + micros)
}

/// A UTC offset in minutes: empty (UTC), `Z`, `±HH:MM`, `±HHMM` or `±HH`.
fn parse_offset(b: &[u8]) -> Option<i64> {
    let sign = match b.first() {
        None => return Some(0),
        Some(b'Z' | b'z') if b.len() == 1 => return Some(0),
        Some(b'+') => 1,
        Some(b'-') => -1,
        Some(_) => return None,
    };
    let hours = digits(b.get(1..3)?)?;
    let minutes = match &b[3..] {
        [] => 0,
        [b':', m @ ..] | m if m.len() == 2 => digits(m)?,
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * i64::from(hours * 60 + minutes))
}

/// ASCII digits as a number (at most 4 of them here).
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_and_integers() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_i32("-2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32("2147483648"), None);
        assert_eq!(parse_i64("2147483648"), Some(2_147_483_648));
        assert_eq!(parse_i64(" 1"), None);
        assert_eq!(parse_i64("1.0"), None);
    }

    #[test]
    fn floats_are_numbers_only() {
        assert_eq!(parse_f64("-1.5e3"), Some(-1500.0));
        assert_eq!(parse_f64(".5"), Some(0.5));
        assert_eq!(parse_f64("NaN"), None);
        assert_eq!(parse_f64("inf"), None);
        assert_eq!(parse_f64("1e999"), None);
        assert_eq!(parse_f64("e"), None);
        assert_eq!(parse_f64(""), None);
    }

    #[test]
    fn decimals() {
        let d = parse_decimal("-012.340").unwrap_or_else(|| panic!("valid decimal"));
        assert!(d.negative);
        assert_eq!(
            (d.integer, d.fraction, d.precision(), d.scale()),
            ("012", "340", 5, 3)
        );
        for bad in ["", "-", "1.", ".5", "+1", "1e5", "1.2.3", "--1"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2023-13-01"), None);
        assert_eq!(parse_date("2023-1-01"), None);
    }

    #[test]
    fn timestamps() {
        let day = 86_400_000_000;
        assert_eq!(parse_timestamp("1970-01-02"), Some(day));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_timestamp("1970-01-01 00:01"), Some(60_000_000));
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00.1234567"),
            Some(123_456)
        );
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00-0130"),
            Some(5_400_000_000)
        );
        assert_eq!(parse_timestamp("1970-01-01t00:00:00z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T24:00:00"), None);
        assert_eq!(parse_timestamp("1970-01-01T00:00:00."), None);
        assert_eq!(parse_timestamp("1970-01-01T"), None);
        assert_eq!(parse_timestamp("1970-01-01T00:00:00+1"), None);
        assert_eq!(parse_timestamp("1970-01-01X00:00"), None);
        assert_eq!(parse_timestamp("é970-01-01"), None);
    }
}
