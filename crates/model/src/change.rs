//! The bundle's change-management settings (`change.yaml`): what the merge and deploy gates
//! look for, which branches are protected, how long authorizations and break-glass windows last.

use std::time::Duration;

use serde::Serialize;

/// Change-management settings; without `change.yaml`, the defaults below (no checklist, no
/// check counts as tests or security scan, `main` and `master` protected, authorizations valid
/// for 7 days, retro-reviews due 48 hours after a break-glass deploy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeManagement {
    /// The AI-specific review checklist: task-list items an approving reviewer ticks in the
    /// review's text (`- [x] item`).
    pub review_checklist: Vec<String>,
    /// Check runs, check suites, commit statuses, pipelines or jobs that together mean "the
    /// tests passed" at the head commit. Empty: tests never count as passed (fail closed).
    pub test_checks: Vec<String>,
    /// Likewise for "the security scan passed".
    pub security_checks: Vec<String>,
    /// Branches a push may not reach directly (a push to one that no merged change explains
    /// raises a bypass alert).
    pub protected_branches: Vec<String>,
    /// How long a deployment authorization stays valid.
    #[serde(with = "secs")]
    pub authorization_valid_for: Duration,
    /// When the retro-review of a break-glass deployment is due, after the deployment.
    #[serde(with = "secs")]
    pub retro_review_within: Duration,
}

impl Default for ChangeManagement {
    fn default() -> Self {
        ChangeManagement {
            review_checklist: Vec::new(),
            test_checks: Vec::new(),
            security_checks: Vec::new(),
            protected_branches: vec!["main".to_owned(), "master".to_owned()],
            authorization_valid_for: Duration::from_secs(7 * 24 * 3600),
            retro_review_within: Duration::from_secs(48 * 3600),
        }
    }
}

/// Parses a duration written as a whole number and a unit: `90s`, `30m`, `48h`, `7d`, `2w`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let hint = "write a whole number and a unit, e.g. `30m`, `48h`, `7d` (units: s, m, h, d, w)";
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration: {hint}"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("`{s}` has no known unit: {hint}")),
    };
    if n == 0 {
        return Err(format!("`{s}` is zero: {hint}"));
    }
    n.checked_mul(unit_secs)
        .filter(|&secs| secs <= 366 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{s}` is longer than a year"))
}

mod secs {
    use std::time::Duration;

    use serde::Serializer;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("48h"), Ok(Duration::from_secs(48 * 3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        for bad in ["", "h", "48", "4.5h", "0h", "-1h", "48 h", "400d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
