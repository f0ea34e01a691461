//! An etcd version as the upgrade rules compare it: major, minor, patch (pre-release and build
//! suffixes such as `-rc.1`, `-0` or `-k3s1` are dropped; the rules are per patch release).

use std::fmt;

/// `3.5.16` (serialized as that string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl Version {
    /// `Version::new(3, 5, 20)`.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version { major, minor, patch }
    }

    /// `3.5.16`, `v3.5.16`, `3.6.0-rc.1`, `v3.6.7-k3s1`; `None` for anything else. A missing
    /// patch (`3.5`) is not a version here: the rules need the patch.
    pub fn parse(s: &str) -> Option<Self> {
        let core = s.trim().trim_start_matches('v').split(['-', '+']).next()?;
        let mut it = core.split('.');
        let v = Version::new(it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
        it.next().is_none().then_some(v)
    }

    /// `(major, minor)`.
    pub fn minor_line(self) -> (u64, u64) {
        (self.major, self.minor)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etcd_spellings_and_refuses_the_rest() {
        assert_eq!(Version::parse("v3.5.16"), Some(Version::new(3, 5, 16)));
        assert_eq!(Version::parse("3.6.0-rc.1"), Some(Version::new(3, 6, 0)));
        assert_eq!(Version::parse("v3.6.7-k3s1"), Some(Version::new(3, 6, 7)));
        for bad in ["3.5", "latest", "", "3.5.x", "3.5.1.2"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
        assert!(Version::new(3, 5, 20) > Version::new(3, 5, 9));
    }
}
