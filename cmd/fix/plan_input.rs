//! Reading a plan file for `apply -f`: what it must be (`apiVersion: etcd-doctor/v1`, `kind:
//! Plan`) and how its ids must be written. An unquoted id like `1111111111111111` is a YAML
//! integer, read as decimal, while every id etcd-doctor and etcdctl print is hex: such a file
//! would act on another member, so it is refused rather than guessed.

use std::path::Path;

use anyhow::{Context, Result, bail};
use etcd_doctor_checks::plan_file::PlanFile;
use serde_yaml_ng::Value;

/// The only version and kind `apply -f` reads.
const API_VERSION: &str = "etcd-doctor/v1";
const KIND: &str = "Plan";

/// Parses and checks a plan file (YAML or JSON).
pub fn read(text: &str, file: &Path) -> Result<PlanFile> {
    let f = file.display();
    let v: Value = serde_yaml_ng::from_str(text)
        .with_context(|| format!("cannot parse plan file {f} (made by `kubectl etcd-doctor plan -o yaml`?)"))?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    match field("apiVersion") {
        Some(a) if a == API_VERSION => {}
        Some(a) => {
            bail!("plan file {f}: apiVersion {a:?} is not {API_VERSION:?}; make the plan again with this version")
        }
        None => bail!(
            "plan file {f}: no apiVersion: it is not a plan written by `kubectl etcd-doctor plan -o yaml` (apiVersion: {API_VERSION}, kind: {KIND})"
        ),
    }
    match field("kind") {
        Some(k) if k == KIND => {}
        other => bail!(
            "plan file {f}: kind {:?} is not {KIND:?} (a report is not a plan: write one with `kubectl etcd-doctor plan -o yaml`)",
            other.unwrap_or_default()
        ),
    }
    let mut numbers = Vec::new();
    if let Some(n) = v.get("clusterID").filter(|x| x.is_number()) {
        numbers.push(format!("clusterID: {}", number(n)));
    }
    for (list, key) in [("state", "id"), ("steps", "memberID")] {
        for (i, item) in v.get(list).and_then(Value::as_sequence).into_iter().flatten().enumerate() {
            if let Some(n) = item.get(key).filter(|x| x.is_number()) {
                numbers.push(format!("{list}[{i}].{key}: {}", number(n)));
            }
        }
    }
    if let Some(first) = numbers.first() {
        bail!(
            "plan file {f}: quote member ids: {} ({first}) {} written as a number, which would be read as decimal while ids are hex as etcdctl prints them; write '{}' in quotes, as `plan -o yaml` does",
            numbers.join(", "),
            if numbers.len() == 1 { "is" } else { "are" },
            first.rsplit(' ').next().unwrap_or_default()
        );
    }
    serde_yaml_ng::from_value(v)
        .with_context(|| format!("cannot parse plan file {f} (made by `kubectl etcd-doctor plan -o yaml`?)"))
}

fn number(v: &Value) -> String {
    serde_yaml_ng::to_string(v).map(|s| s.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_doctor_checks::id::MemberId;
    use etcd_doctor_checks::plan::{Action, Plan, Step};
    use etcd_doctor_checks::plan_file::{MemberState, fingerprint_of};

    fn plan_file(id: u64) -> PlanFile {
        let state = vec![MemberState {
            id: MemberId(id),
            name: "m".into(),
            peer_urls: vec!["https://10.0.0.1:2380".into()],
            is_learner: false,
            reachable: Some(false),
        }];
        let mut step =
            Step::automatic(Action::RemoveMember, MemberId(id), "stale-member".into(), "r".into(), "c".into());
        step.n = 1;
        let plan = Plan { fingerprint: fingerprint_of(Some(MemberId(0x11)), &state), steps: vec![step] };
        PlanFile {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            cluster_id: Some(MemberId(0x11)),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            fingerprint: plan.fingerprint.clone(),
            state,
            steps: plan.steps,
        }
    }

    #[test]
    fn an_all_digit_hex_id_is_written_quoted_and_read_back_as_hex() -> Result<()> {
        let doc = plan_file(0x1111111111111111);
        let yaml = serde_yaml_ng::to_string(&doc)?;
        assert!(yaml.contains("memberID: '1111111111111111'"), "{yaml}");
        assert!(yaml.contains("clusterID: '11'"), "{yaml}");
        let back = read(&yaml, Path::new("p.yaml"))?;
        assert_eq!(back, doc);
        Ok(())
    }

    #[test]
    fn an_unquoted_id_is_refused_with_quote_member_ids() -> Result<()> {
        let yaml =
            serde_yaml_ng::to_string(&plan_file(0x1111111111111111))?.replace("'1111111111111111'", "1111111111111111");
        let err = read(&yaml, Path::new("p.yaml")).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(err.contains("quote member ids") && err.contains("steps[0].memberID: 1111111111111111"), "{err}");
        Ok(())
    }

    #[test]
    fn another_api_version_or_kind_is_refused_by_name() -> Result<()> {
        let yaml = serde_yaml_ng::to_string(&plan_file(0xabc))?;
        let err = |y: &str| read(y, Path::new("p.yaml")).err().map(|e| format!("{e:#}")).unwrap_or_default();
        let v2 = err(&yaml.replace("etcd-doctor/v1", "etcd-doctor/v2"));
        assert!(v2.contains("apiVersion \"etcd-doctor/v2\" is not \"etcd-doctor/v1\""), "{v2}");
        let report = err(&yaml.replace("kind: Plan", "kind: Report"));
        assert!(report.contains("kind \"Report\" is not \"Plan\""), "{report}");
        let none = err("steps: []\n");
        assert!(none.contains("no apiVersion"), "{none}");
        Ok(())
    }
}
