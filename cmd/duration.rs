//! Go-style durations (`2s`, `500ms`, `1m30s`, `1.5s`), as etcdctl's `--dial-timeout` takes them,
//! plus days (`30d`) for `--expiry-warning`.

use std::time::Duration;

/// The units every duration flag accepts, for error messages.
const UNITS: &str = "units: ns, us, ms, s, m, h, d";

/// Parses a Go duration string. Like Go's `time.ParseDuration`, a number needs a unit (`2` is
/// refused: seconds or milliseconds?); only `0` stands alone.
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("invalid duration {s:?}: use Go syntax such as 2s, 500ms or 1m30s ({UNITS})");
    if t.is_empty() {
        return Err(bad());
    }
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.parse::<f64>().is_ok() {
        return Err(format!("invalid duration {s:?}: a unit is needed, e.g. {t}s, {t}m or {t}d ({UNITS})"));
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            // Not Go's, but certificate lifetimes are counted in days.
            "d" => 86400.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += value * factor;
    }
    secs_to_duration(total).ok_or_else(bad)
}

/// The least `--dial-timeout` / `--command-timeout` that can work: below it a healthy member
/// on a loaded machine looks dead (issue 10: `--dial-timeout 0s` or `1ms` did exactly that).
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);

/// A Go duration for a network timeout: at least [`MIN_TIMEOUT`].
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse(s)?;
    if d < MIN_TIMEOUT {
        return Err(format!(
            "{s:?} is too short for a network timeout: at least {}ms (a healthy member needs longer than that to \
             answer; the default is etcdctl's)",
            MIN_TIMEOUT.as_millis()
        ));
    }
    Ok(d)
}

fn secs_to_duration(secs: f64) -> Option<Duration> {
    (secs.is_finite() && (0.0..1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        for bad in ["", "s", "2x", "-1s", "1e400", "ms5", "3", "1.5"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("3").is_err_and(|e| e.contains("3s")));
        // `--expiry-warning 45` once meant 45 seconds; now it is refused, naming the units.
        assert!(parse("45").is_err_and(|e| e.contains("45d") && e.contains("units: ns, us, ms, s, m, h, d")));
        assert!(parse("2x").is_err_and(|e| e.contains("units:")));
    }

    #[test]
    fn network_timeouts_have_a_floor() {
        assert_eq!(parse_timeout("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_timeout("2s"), Ok(Duration::from_secs(2)));
        for low in ["0", "0s", "1ms", "99ms", "50us"] {
            assert!(parse_timeout(low).is_err_and(|e| e.contains("at least 100ms")), "{low}");
        }
    }
}

/// `8589934592`, `8GiB`, `8G`, `512MiB`, `512M`: bytes (K/M/G/T and KiB..TiB are both 1024-based,
/// as etcd's own quota is usually written as a power of two).
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| format!("{s:?} is not a size like 8589934592 or 8GiB"))?;
    let mult: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("{s:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, TiB)")),
    };
    n.checked_mul(mult).filter(|v| *v > 0).ok_or_else(|| format!("{s:?} is out of range"))
}

#[cfg(test)]
mod bytes_tests {
    use super::parse_bytes;

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse_bytes("8589934592"), Ok(8 << 30));
        assert_eq!(parse_bytes("8GiB"), Ok(8 << 30));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert!(parse_bytes("lots").is_err() && parse_bytes("8 parsecs").is_err() && parse_bytes("0").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }
}
