//! Durations on the command line: `30s`, `10m`, `2h`, `7d` (a bare number
//! is seconds), as `--expires-in` and `--expires` take them.

use crate::error::{CliError, CliResult};

/// Seconds in `text`; `flag` names the option in the error.
pub fn secs(flag: &str, text: &str) -> CliResult<u64> {
    let (digits, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let n: u64 = digits
        .parse()
        .map_err(|_| CliError::usage(format!("{flag} {text:?}: write e.g. 30s, 10m, 2h or 7d")))?;
    let scale = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(CliError::usage(format!(
                "{flag} {text:?}: units are s, m, h, d"
            )));
        }
    };
    if n == 0 {
        return Err(CliError::usage(format!(
            "{flag} {text:?}: must be more than zero"
        )));
    }
    Ok(n.saturating_mul(scale))
}

#[cfg(test)]
mod tests {
    use super::secs;

    #[test]
    fn units_and_errors() {
        assert_eq!(secs("--x", "30").unwrap(), 30);
        assert_eq!(secs("--x", "10m").unwrap(), 600);
        assert_eq!(secs("--x", "2h").unwrap(), 7200);
        assert_eq!(secs("--x", "7d").unwrap(), 604_800);
        for bad in ["", "d", "5w", "-3s", "0s", "1.5h"] {
            assert!(secs("--x", bad).is_err(), "{bad}");
        }
    }
}
