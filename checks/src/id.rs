//! Member and cluster ids as etcdctl shows them: lowercase unpadded hex (Go's `%x`) on output;
//! padded or unpadded hex and the decimal form `etcdctl -w json` prints are all accepted on input.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 64-bit etcd member (or cluster) id. Displays as `etcdctl member list` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MemberId(pub u64);

/// Why a string is not a member id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a member id: expected hex as etcdctl prints it (e.g. 8e9e05c52164694d) or the decimal id from `etcdctl -w json`"
)]
pub struct ParseIdError {
    /// The rejected input.
    pub input: String,
}

impl MemberId {
    /// Every id the string could stand for. A string of digits only is ambiguous: hex ids
    /// may lack letters, decimal ids (from `-w json`) never have them. Callers matching a
    /// user's input against a member list take whichever candidate exists.
    pub fn candidates(s: &str) -> Result<Vec<MemberId>, ParseIdError> {
        let t = s.trim();
        let t = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
        let err = || ParseIdError { input: s.to_string() };
        if t.is_empty() {
            return Err(err());
        }
        let mut out = Vec::new();
        if t.len() <= 16
            && let Ok(v) = u64::from_str_radix(t, 16)
        {
            out.push(MemberId(v));
        }
        if t.bytes().all(|b| b.is_ascii_digit())
            && let Ok(v) = t.parse::<u64>()
            && !out.contains(&MemberId(v))
        {
            out.push(MemberId(v));
        }
        if out.is_empty() { Err(err()) } else { Ok(out) }
    }

    /// Parses an id, resolving the digits-only ambiguity by length: a hex id has at most 16
    /// digits, while a random u64 printed in decimal has 17 or more in 99.9% of cases.
    pub(crate) fn parse_lenient(s: &str) -> Result<MemberId, ParseIdError> {
        let c = Self::candidates(s)?;
        let t = s.trim();
        let digits_only = t.bytes().all(|b| b.is_ascii_digit());
        if digits_only && t.len() >= 17 {
            return c.last().copied().ok_or(ParseIdError { input: s.to_string() });
        }
        c.first().copied().ok_or(ParseIdError { input: s.to_string() })
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

impl FromStr for MemberId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_lenient(s)
    }
}

impl Serialize for MemberId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MemberId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(MemberId(n)),
            Raw::Str(s) => MemberId::parse_lenient(&s).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_unpadded_lowercase_hex_like_etcdctl() {
        assert_eq!(MemberId(323676404339268582).to_string(), "47dedf98ed15be6");
        assert_eq!(MemberId(11589452085494132595).to_string(), "a0d60144a949af73");
        assert_eq!(MemberId(0x1).to_string(), "1");
    }

    #[test]
    fn parses_padded_unpadded_and_decimal() {
        let want = MemberId(323676404339268582);
        assert_eq!("47dedf98ed15be6".parse::<MemberId>(), Ok(want));
        assert_eq!("047dedf98ed15be6".parse::<MemberId>(), Ok(want));
        assert_eq!("047DEDF98ED15BE6".parse::<MemberId>(), Ok(want));
        assert_eq!("323676404339268582".parse::<MemberId>(), Ok(want));
        assert_eq!("0x47dedf98ed15be6".parse::<MemberId>(), Ok(want));
    }

    #[test]
    fn digits_only_short_ids_offer_both_readings() {
        let c = MemberId::candidates("1234").unwrap_or_default();
        assert_eq!(c, vec![MemberId(0x1234), MemberId(1234)]);
        assert_eq!("1234".parse::<MemberId>(), Ok(MemberId(0x1234)));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in ["", "xyz", "12345678901234567890123", "-1", "0x", "ffffffffffffffffff"] {
            assert!(bad.parse::<MemberId>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn json_accepts_numbers_hex_and_decimal_strings_and_writes_hex_strings() {
        let n: MemberId = serde_json::from_str("11589452085494132595").unwrap_or_default();
        let h: MemberId = serde_json::from_str("\"a0d60144a949af73\"").unwrap_or_default();
        let d: MemberId = serde_json::from_str("\"11589452085494132595\"").unwrap_or_default();
        assert_eq!(n, MemberId(11589452085494132595));
        assert_eq!(h, n);
        assert_eq!(d, n);
        assert_eq!(serde_json::to_string(&n).ok().as_deref(), Some("\"a0d60144a949af73\""));
    }
}
