//! Latency distributions: fixed, uniform and normal, their sampling from a
//! seeded generator, and their three spellings in scenario files.
//!
//! Latency is the one link value with a shape, so it gets its own type and
//! its own parser; the rest of the link model only asks it for samples.

use std::fmt;
use std::time::Duration;

use rand::{Rng, RngExt};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::LinkError;
use crate::units::{format_duration, parse_duration, serde_units};

/// A distribution of one-way link latency.
///
/// In a scenario file: `"20ms"` (fixed), `{ min = "10ms", max = "30ms" }`
/// (uniform), or `{ mean = "80ms", stddev = "10ms" }` (normal, never below
/// zero).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Uniform between `min` and `max`, inclusive.
    Uniform {
        /// Lowest latency.
        min: Duration,
        /// Highest latency.
        max: Duration,
    },
    /// Normal, with samples below zero taken as zero.
    Normal {
        /// Mean latency.
        mean: Duration,
        /// Standard deviation.
        stddev: Duration,
    },
}

impl Latency {
    /// Draws one latency. A fixed latency draws nothing from `rng`; the
    /// others draw the same amount every call, so sequences are reproducible.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match *self {
            Self::Fixed(d) => d,
            Self::Uniform { min, max } => {
                let (lo, hi) = (nanos(min), nanos(max));
                if lo >= hi {
                    return min;
                }
                Duration::from_nanos(rng.random_range(lo..=hi))
            }
            Self::Normal { mean, stddev } => {
                let z = standard_normal(rng);
                let value = mean.as_secs_f64() + z * stddev.as_secs_f64();
                Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::ZERO)
            }
        }
    }

    /// The lowest latency this can draw: the lookahead a parallel run may
    /// take (a normal latency can draw zero).
    pub fn floor(&self) -> Duration {
        match *self {
            Self::Fixed(d) => d,
            Self::Uniform { min, .. } => min,
            Self::Normal { .. } => Duration::ZERO,
        }
    }

    /// Checks the parameters: `min <= max` for a uniform latency.
    pub fn check(&self) -> Result<(), LinkError> {
        match *self {
            Self::Uniform { min, max } if min > max => Err(LinkError::UniformOrder { min, max }),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Fixed(d) => f.write_str(&format_duration(d)),
            Self::Uniform { min, max } => {
                write!(f, "{}..{}", format_duration(min), format_duration(max))
            }
            Self::Normal { mean, stddev } => {
                write!(f, "{}±{}", format_duration(mean), format_duration(stddev))
            }
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One standard normal sample by the Box–Muller transform (two uniform draws
/// per sample; the second normal of the pair is discarded so every call
/// draws the same amount).
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // `random::<f64>()` is in [0, 1); `1 - u` is in (0, 1], so ln never sees 0.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The table form of a latency, as written in TOML.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyTable {
    #[serde(default, with = "serde_units::option_duration")]
    fixed: Option<Duration>,
    #[serde(default, with = "serde_units::option_duration")]
    min: Option<Duration>,
    #[serde(default, with = "serde_units::option_duration")]
    max: Option<Duration>,
    #[serde(default, with = "serde_units::option_duration")]
    mean: Option<Duration>,
    #[serde(default, with = "serde_units::option_duration")]
    stddev: Option<Duration>,
}

impl LatencyTable {
    fn into_latency(self) -> Result<Latency, &'static str> {
        match self {
            Self {
                fixed: Some(d),
                min: None,
                max: None,
                mean: None,
                stddev: None,
            } => Ok(Latency::Fixed(d)),
            Self {
                fixed: None,
                min: Some(min),
                max: Some(max),
                mean: None,
                stddev: None,
            } => Ok(Latency::Uniform { min, max }),
            Self {
                fixed: None,
                min: None,
                max: None,
                mean: Some(mean),
                stddev: Some(stddev),
            } => Ok(Latency::Normal { mean, stddev }),
            _ => Err(
                "a latency is \"20ms\", { min = \"10ms\", max = \"30ms\" } or \
                 { mean = \"80ms\", stddev = \"10ms\" }",
            ),
        }
    }
}

struct LatencyVisitor;

impl<'de> Visitor<'de> for LatencyVisitor {
    type Value = Latency;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a latency: \"20ms\", { min = \"10ms\", max = \"30ms\" } or \
             { mean = \"80ms\", stddev = \"10ms\" }",
        )
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Latency, E> {
        parse_duration(v).map(Latency::Fixed).map_err(E::custom)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Latency, A::Error> {
        let table = LatencyTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
        table.into_latency().map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LatencyVisitor)
    }
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Fixed(d) => serializer.serialize_str(&format_duration(d)),
            Self::Uniform { min, max } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("min", &format_duration(min))?;
                map.serialize_entry("max", &format_duration(max))?;
                map.end()
            }
            Self::Normal { mean, stddev } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("mean", &format_duration(mean))?;
                map.serialize_entry("stddev", &format_duration(stddev))?;
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn fixed(ms: u64) -> Latency {
        Latency::Fixed(Duration::from_millis(ms))
    }

    #[test]
    fn uniform_latency_stays_in_range() {
        let (min, max) = (Duration::from_millis(10), Duration::from_millis(30));
        let latency = Latency::Uniform { min, max };
        let mut rng = StdRng::seed_from_u64(5);
        let samples: Vec<Duration> = (0..10_000).map(|_| latency.sample(&mut rng)).collect();
        assert!(samples.iter().all(|d| (min..=max).contains(d)));
        // And it spreads over the range rather than sticking to one end.
        assert!(samples.iter().any(|d| *d < Duration::from_millis(12)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(28)));
    }

    #[test]
    fn normal_latency_centres_on_its_mean_and_is_never_negative() {
        let latency = Latency::Normal {
            mean: Duration::from_millis(50),
            stddev: Duration::from_millis(10),
        };
        let mut rng = StdRng::seed_from_u64(6);
        let samples: Vec<f64> = (0..20_000)
            .map(|_| latency.sample(&mut rng).as_secs_f64() * 1000.0)
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((49.0..51.0).contains(&mean), "{mean}");
        let wide = Latency::Normal {
            mean: Duration::from_millis(1),
            stddev: Duration::from_millis(100),
        };
        for _ in 0..1000 {
            let _never_panics: Duration = wide.sample(&mut rng);
        }
    }

    #[test]
    fn latency_reads_all_three_forms() {
        #[derive(Deserialize)]
        struct Holder {
            latency: Latency,
        }
        let read = |text: &str| toml::from_str::<Holder>(text).map(|h| h.latency);
        assert_eq!(read("latency = \"20ms\"").unwrap(), fixed(20));
        assert_eq!(read("latency = { fixed = \"20ms\" }").unwrap(), fixed(20));
        assert_eq!(
            read("latency = { min = \"10ms\", max = \"30ms\" }").unwrap(),
            Latency::Uniform {
                min: Duration::from_millis(10),
                max: Duration::from_millis(30)
            }
        );
        assert_eq!(
            read("latency = { mean = \"80ms\", stddev = \"5ms\" }").unwrap(),
            Latency::Normal {
                mean: Duration::from_millis(80),
                stddev: Duration::from_millis(5)
            }
        );
        let err = read("latency = { min = \"10ms\" }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a latency is"), "{err}");
        let err = read("latency = { median = \"10ms\" }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `median`"), "{err}");
        assert!(read("latency = 20").is_err());
    }
}
