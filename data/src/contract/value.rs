//! One cell's value as the contract check sees it, whatever format it came
//! from.
//!
//! CSV gives text, JSON Lines gives JSON values, Parquet and Arrow give typed
//! arrays; the checks (type, bounds, pattern, allowed values, uniqueness)
//! and the profile (min, max, distinct) must not depend on which. Every
//! value is brought to a [`Value`], which has one *text form* (what
//! patterns, allowed values and the profile's min/max see) and one
//! *identity* (the 128-bit hash distinct counts and uniqueness use). Both
//! are fixed by the rules below, so every node derives the same profile
//! from the same bytes:
//!
//! - booleans `true`/`false`; integers in decimal; floats as Rust's shortest
//!   round-trip form of the `f64` (`-0` is `0`, every NaN is `NaN`);
//! - decimals normalised: no leading zeros, no trailing fraction zeros, no
//!   `-0` (`007.50` is `7.5`);
//! - dates `YYYY-MM-DD`; timestamps in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ`
//!   (always six fraction digits);
//! - text as it is; bytes as lowercase hex; nested values (objects, arrays)
//!   as compact JSON with keys sorted.
//!
//! The identity of a value of fixed width (a boolean, an integer, a float,
//! a date, a timestamp) is its 64 bits (the integer, the float's bits, the
//! day or microsecond count) put through two bijective 64-bit finalisers
//! keyed by the value's kind ([`fixed`]): two values of one kind never
//! share an identity, and it costs a few multiplications. A decimal of at
//! most 38 digits is its digits as an integer and its count of fraction
//! digits, normalised (`7.50` is 75 at scale 1), hashed the same way when
//! the integer fits 64 bits
//! ([`decimal_identity`]), so a Parquet decimal needs no text form to be
//! counted. The identity of any other value is XXH3-128 of a kind byte and
//! its text form. Both
//! depend on the value only: an integer `1` from CSV and from Parquet is
//! the same value.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate};
use mesh_protocol::descriptor::DataType;
use twox_hash::XxHash3_128;

/// A checked cell value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// true/false.
    Bool(bool),
    /// Any integer that fits 64 bits signed.
    Int(i64),
    /// A float.
    Float(f64),
    /// A decimal number in normalised text form.
    Decimal(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// Text.
    Text(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An object or array, as compact JSON with sorted keys.
    Nested(String),
}

impl Value {
    /// The value borrowed: what the checks read.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Self::Bool(b) => ValueRef::Bool(*b),
            Self::Int(i) => ValueRef::Int(*i),
            Self::Float(f) => ValueRef::Float(*f),
            Self::Decimal(d) => ValueRef::Decimal(d),
            Self::Date(d) => ValueRef::Date(*d),
            Self::Timestamp(t) => ValueRef::Timestamp(*t),
            Self::Text(t) => ValueRef::Text(t),
            Self::Bytes(b) => ValueRef::Bytes(b),
            Self::Nested(n) => ValueRef::Nested(n),
        }
    }

    /// The value's text form (see the module doc).
    pub fn text(&self) -> String {
        self.as_ref().text()
    }

    /// The value's text form, borrowed where the value holds it.
    pub fn text_ref(&self) -> Cow<'_, str> {
        self.as_ref().text_ref()
    }

    /// The value's identity for distinct counts and uniqueness.
    pub fn identity(&self) -> u128 {
        self.as_ref().identity()
    }

    /// See [`ValueRef::compare`].
    pub fn compare(&self, other: &Self) -> Option<Ordering> {
        self.as_ref().compare(other.as_ref())
    }

    /// Whether the value has an order (min/max are kept for it).
    pub fn orderable(&self) -> bool {
        self.as_ref().orderable()
    }
}

/// A [`Value`] borrowed from where it was read (a batch's array, a CSV
/// cell, a reused buffer): the checks run on it, so a cell costs no
/// allocation; only a value that is kept (a new min or max) is copied into
/// a [`Value`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// true/false.
    Bool(bool),
    /// Any integer that fits 64 bits signed.
    Int(i64),
    /// A float.
    Float(f64),
    /// A decimal number in normalised text form.
    Decimal(&'a str),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// Text.
    Text(&'a str),
    /// Raw bytes.
    Bytes(&'a [u8]),
    /// An object or array, as compact JSON with sorted keys.
    Nested(&'a str),
}

impl<'a> ValueRef<'a> {
    /// The value, owned.
    pub fn to_value(self) -> Value {
        match self {
            Self::Bool(b) => Value::Bool(b),
            Self::Int(i) => Value::Int(i),
            Self::Float(f) => Value::Float(f),
            Self::Decimal(d) => Value::Decimal(d.to_owned()),
            Self::Date(d) => Value::Date(d),
            Self::Timestamp(t) => Value::Timestamp(t),
            Self::Text(t) => Value::Text(t.to_owned()),
            Self::Bytes(b) => Value::Bytes(b.to_vec()),
            Self::Nested(n) => Value::Nested(n.to_owned()),
        }
    }

    /// The value's text form (see the module doc).
    pub fn text(self) -> String {
        match self {
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) => float_text(f),
            Self::Decimal(d) | Self::Text(d) | Self::Nested(d) => d.to_owned(),
            Self::Date(days) => date_text(days),
            Self::Timestamp(micros) => timestamp_text(micros),
            Self::Bytes(b) => b.iter().fold(String::new(), |mut out, x| {
                let _ = write!(out, "{x:02x}");
                out
            }),
        }
    }

    /// The value's text form, borrowed where the value holds it.
    pub fn text_ref(self) -> Cow<'a, str> {
        match self {
            Self::Decimal(d) | Self::Text(d) | Self::Nested(d) => Cow::Borrowed(d),
            _ => Cow::Owned(self.text()),
        }
    }

    /// The value's identity for distinct counts and uniqueness.
    #[allow(clippy::cast_sign_loss, reason = "the value's bits, not its number")]
    #[inline]
    pub fn identity(self) -> u128 {
        match self {
            Self::Bool(b) => fixed(0, u64::from(b)),
            Self::Int(i) => fixed(1, i as u64),
            Self::Float(f) => fixed(2, canonical_float(f).to_bits()),
            Self::Date(d) => fixed(3, i64::from(d) as u64),
            Self::Timestamp(t) => fixed(4, t as u64),
            Self::Decimal(d) => decimal_parts(d).map_or_else(
                || tagged(5, d.as_bytes()),
                |(m, scale)| decimal_identity(m, scale),
            ),
            Self::Text(t) => tagged(6, t.as_bytes()),
            Self::Bytes(b) => tagged(7, b),
            Self::Nested(n) => tagged(8, n.as_bytes()),
        }
    }

    /// Compares two values of the same kind; `None` across kinds, for NaN
    /// and for nested values (which have no order). An integer and a float
    /// compare as floats.
    #[allow(
        clippy::match_same_arms,
        clippy::cast_precision_loss,
        reason = "same-named arms compare different types; integers meet floats as floats"
    )]
    pub fn compare(self, other: ValueRef<'_>) -> Option<Ordering> {
        match (self, other) {
            (Self::Bool(a), ValueRef::Bool(b)) => Some(a.cmp(&b)),
            (Self::Int(a), ValueRef::Int(b)) => Some(a.cmp(&b)),
            (Self::Float(a), ValueRef::Float(b)) => a.partial_cmp(&b),
            (Self::Int(a), ValueRef::Float(b)) => (a as f64).partial_cmp(&b),
            (Self::Float(a), ValueRef::Int(b)) => a.partial_cmp(&(b as f64)),
            (Self::Decimal(a), ValueRef::Decimal(b)) => Some(decimal_cmp(a, b)),
            (Self::Date(a), ValueRef::Date(b)) => Some(a.cmp(&b)),
            (Self::Timestamp(a), ValueRef::Timestamp(b)) => Some(a.cmp(&b)),
            (Self::Text(a), ValueRef::Text(b)) => Some(a.cmp(b)),
            (Self::Bytes(a), ValueRef::Bytes(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Whether the value has an order (min/max are kept for it).
    pub fn orderable(self) -> bool {
        match self {
            Self::Float(f) => !f.is_nan(),
            Self::Nested(_) => false,
            _ => true,
        }
    }
}

/// The identity of a fixed-width value of kind `kind` whose 64 bits are
/// `bits`. Each half is a bijective finaliser of the bits offset by a
/// per-kind constant: the high half MurmurHash3's `fmix64` (Appleby), the
/// low half Stafford's Mix13 (the one SplitMix64 uses). A bijection keeps
/// two values of one kind apart; the finalisers spread the bits evenly,
/// which the distinct-count estimate needs.
#[inline]
pub(crate) fn fixed(kind: u8, bits: u64) -> u128 {
    let k = u64::from(kind).wrapping_add(1);
    let mut hi = bits ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    hi = (hi ^ (hi >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    hi = (hi ^ (hi >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hi ^= hi >> 33;
    let mut lo = bits ^ k.wrapping_mul(0xd6e8_feb8_6659_fd93);
    lo = (lo ^ (lo >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    lo = (lo ^ (lo >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    lo ^= lo >> 31;
    (u128::from(hi) << 64) | u128::from(lo)
}

/// A normalised decimal's digits as an integer and its fraction digits
/// (`-1.25` is `(-125, 2)`); `None` for more than 38 digits.
pub(crate) fn decimal_parts(normalised: &str) -> Option<(i128, u8)> {
    let (negative, digits) = normalised
        .strip_prefix('-')
        .map_or((false, normalised), |d| (true, d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.len() + frac.len() > 38 {
        return None;
    }
    let mut m: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        if !b.is_ascii_digit() {
            return None;
        }
        m = m * 10 + i128::from(b - b'0');
    }
    let scale = u8::try_from(frac.len()).ok()?;
    Some((if negative { -m } else { m }, scale))
}

/// The identity of the decimal `m` × 10^-`scale`, already normalised (no
/// trailing zero digit while `scale` > 0): [`fixed`] of the integer keyed
/// by the scale when it fits 64 bits, XXH3-128 of the scale and its 16
/// bytes otherwise.
#[allow(clippy::cast_sign_loss, reason = "the integer's bits")]
#[inline]
pub(crate) fn decimal_identity(m: i128, scale: u8) -> u128 {
    if let Ok(small) = i64::try_from(m) {
        return fixed(16 + scale, small as u64);
    }
    let mut buf = [0u8; 17];
    buf[0] = scale;
    buf[1..].copy_from_slice(&m.to_le_bytes());
    tagged(5, &buf)
}

/// XXH3-128 of the kind byte followed by `bytes`. XXH3 is defined over the
/// concatenated input, so hashing it in one shot from a stack buffer gives
/// the streaming hasher's value without its per-call allocation.
fn tagged(kind: u8, bytes: &[u8]) -> u128 {
    const SMALL: usize = 16;
    const INLINE: usize = 128;
    if bytes.len() <= SMALL {
        // Fixed-width kinds (integers, floats, dates): a short buffer.
        let mut buf = [0u8; SMALL + 1];
        buf[0] = kind;
        buf[1..=bytes.len()].copy_from_slice(bytes);
        XxHash3_128::oneshot(&buf[..=bytes.len()])
    } else if bytes.len() < INLINE {
        let mut buf = [0u8; INLINE];
        buf[0] = kind;
        buf[1..=bytes.len()].copy_from_slice(bytes);
        XxHash3_128::oneshot(&buf[..=bytes.len()])
    } else {
        let mut h = XxHash3_128::new();
        h.write(&[kind]);
        h.write(bytes);
        h.finish_128()
    }
}

fn canonical_float(f: f64) -> f64 {
    if f.is_nan() {
        f64::NAN
    } else if f == 0.0 {
        0.0
    } else {
        f
    }
}

fn float_text(f: f64) -> String {
    let f = canonical_float(f);
    if f.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{f}")
    }
}

/// `YYYY-MM-DD` for days since the epoch (dates chrono cannot represent
/// are written as the day number).
pub fn date_text(days: i32) -> String {
    NaiveDate::from_epoch_days(days).map_or_else(
        || format!("day {days}"),
        |d| d.format("%Y-%m-%d").to_string(),
    )
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for microseconds since the epoch.
pub fn timestamp_text(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros).map_or_else(
        || format!("{micros} us"),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    )
}

/// Normalises decimal text `-?digits(.digits)?` (also `+`, a leading or
/// trailing `.`); `None` if it is not one.
pub fn normalize_decimal(text: &str) -> Option<String> {
    let mut out = String::new();
    normalize_decimal_into(text, &mut out).then_some(out)
}

/// [`normalize_decimal`] into `out` (cleared first), for a caller that
/// reuses one buffer over many cells; `false` if `text` is not a decimal.
pub fn normalize_decimal_into(text: &str, out: &mut String) -> bool {
    out.clear();
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return false;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return false;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    if negative && !(int.is_empty() && frac.is_empty()) {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    true
}

/// Orders two normalised decimals numerically.
pub fn decimal_cmp(a: &str, b: &str) -> Ordering {
    let neg_a = a.starts_with('-');
    let neg_b = b.starts_with('-');
    match (neg_a, neg_b) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (true, true) => magnitude_cmp(&b[1..], &a[1..]),
        (false, false) => magnitude_cmp(a, b),
    }
}

fn magnitude_cmp(a: &str, b: &str) -> Ordering {
    let (ai, af) = a.split_once('.').unwrap_or((a, ""));
    let (bi, bf) = b.split_once('.').unwrap_or((b, ""));
    ai.len()
        .cmp(&bi.len())
        .then_with(|| ai.cmp(bi))
        .then_with(|| af.cmp(bf))
}

/// Reads a bound (a `min`/`max` constraint) as a value of `data_type`.
pub fn parse_bound(text: &str, data_type: DataType) -> Option<Value> {
    use crate::text;
    Some(match data_type {
        DataType::Int32 | DataType::Int64 => Value::Int(text::parse_i64(text)?),
        DataType::Float32 | DataType::Float64 => Value::Float(text::parse_f64(text)?),
        DataType::Decimal => Value::Decimal(normalize_decimal(text)?),
        DataType::Date => Value::Date(text::parse_date(text)?),
        DataType::Timestamp => Value::Timestamp(text::parse_timestamp(text)?),
        DataType::String => Value::Text(text.to_owned()),
        DataType::Boolean => Value::Bool(text::parse_bool(text)?),
        DataType::Binary | DataType::Object | DataType::Array => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_normalise_and_order_numerically() {
        assert_eq!(normalize_decimal("007.50").as_deref(), Some("7.5"));
        assert_eq!(normalize_decimal("-0.0").as_deref(), Some("0"));
        assert_eq!(normalize_decimal(".5").as_deref(), Some("0.5"));
        assert_eq!(normalize_decimal("1e5"), None);
        assert_eq!(normalize_decimal("."), None);
        assert_eq!(decimal_cmp("10", "9.99"), Ordering::Greater);
        assert_eq!(decimal_cmp("-10", "-9.99"), Ordering::Less);
        assert_eq!(decimal_cmp("1.05", "1.5"), Ordering::Less);
    }

    #[test]
    fn the_same_number_from_any_format_is_one_value() {
        assert_eq!(Value::Int(1).identity(), Value::Int(1).identity());
        assert_ne!(Value::Int(1).identity(), Value::Text("1".into()).identity());
        assert_eq!(Value::Float(-0.0).identity(), Value::Float(0.0).identity());
        assert_eq!(Value::Float(-0.0).text(), "0");
    }

    /// The identity as the streaming hasher gives it: the rule the one-shot
    /// form must keep.
    fn streamed(kind: u8, bytes: &[u8]) -> u128 {
        let mut h = XxHash3_128::new();
        h.write(&[kind]);
        h.write(bytes);
        h.finish_128()
    }

    #[test]
    fn fixed_width_identities_are_the_finalisers_of_their_bits() {
        // Pinned: a change here changes every profile (PROFILE_METHOD).
        assert_eq!(Value::Int(-7).identity(), fixed(1, (-7i64).cast_unsigned()));
        assert_eq!(
            format!("{:032x}", Value::Int(1).identity()),
            format!("{:032x}", fixed(1, 1))
        );
        // Computed apart from this code (a few lines of Python).
        assert_eq!(fixed(0, 0), 0x9ca0_66f1_a4ab_2eea_b55a_8fa0_6753_7a73_u128);
        // -0 is 0, every NaN is one NaN.
        assert_eq!(Value::Float(-0.0).identity(), Value::Float(0.0).identity());
        assert_eq!(
            Value::Float(f64::NAN).identity(),
            Value::Float(-f64::NAN).identity()
        );
        // One number of different kinds: different values.
        let ones = [
            Value::Bool(true).identity(),
            Value::Int(1).identity(),
            Value::Date(1).identity(),
            Value::Timestamp(1).identity(),
            Value::Float(1.0).identity(),
        ];
        for (i, a) in ones.iter().enumerate() {
            for b in &ones[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Each half alone tells the values of a kind apart (a bijection).
        let mut his: Vec<u64> = (-5_000i64..5_000)
            .map(|i| (Value::Int(i).identity() >> 64) as u64)
            .collect();
        his.sort_unstable();
        his.dedup();
        assert_eq!(his.len(), 10_000);
    }

    #[test]
    fn other_identities_are_xxh3_of_the_kind_and_the_text() {
        let long = "x".repeat(300);
        let cases = [
            (
                Value::Decimal("1".repeat(39)),
                streamed(5, "1".repeat(39).as_bytes()),
            ),
            (Value::Text(String::new()), streamed(6, b"")),
            (
                Value::Text("x".repeat(127)),
                streamed(6, "x".repeat(127).as_bytes()),
            ),
            (Value::Text(long.clone()), streamed(6, long.as_bytes())),
            (Value::Bytes(vec![0, 255]), streamed(7, &[0, 255])),
            (Value::Nested("{}".into()), streamed(8, b"{}")),
        ];
        for (value, expected) in cases {
            assert_eq!(value.identity(), expected, "{value:?}");
        }
    }

    #[test]
    fn a_decimal_is_its_digits_and_scale_and_one_number_has_one_identity() {
        assert_eq!(decimal_parts("-1.25"), Some((-125, 2)));
        assert_eq!(decimal_parts("0"), Some((0, 0)));
        assert_eq!(
            decimal_parts(&"9".repeat(38)),
            Some((10i128.pow(38) - 1, 0))
        );
        assert_eq!(decimal_parts(&"9".repeat(39)), None);
        assert_eq!(decimal_parts("1.x"), None);
        assert_eq!(Value::Decimal("1.5".into()).identity(), fixed(17, 15));
        assert_eq!(
            Value::Decimal("-7".into()).identity(),
            fixed(16, (-7i64).cast_unsigned())
        );
        // One number, one identity; another scale is another number.
        assert_ne!(decimal_identity(15, 1), decimal_identity(15, 0));
        assert_ne!(decimal_identity(15, 0), Value::Int(15).identity());
        // Past 64 bits: XXH3 of the scale and the 16 bytes.
        let big = i128::from(i64::MAX) + 1;
        let mut bytes = vec![3u8];
        bytes.extend_from_slice(&big.to_le_bytes());
        assert_eq!(decimal_identity(big, 3), streamed(5, &bytes));
        let text = format!("{}.{:03}", big / 1000, big % 1000);
        assert_eq!(Value::Decimal(text).identity(), decimal_identity(big, 3));
    }

    #[test]
    fn dates_and_timestamps_have_one_text_form() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(-1), "1969-12-31");
        assert_eq!(timestamp_text(1_500_000), "1970-01-01T00:00:01.500000Z");
    }
}
