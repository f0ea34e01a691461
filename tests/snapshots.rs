//! What users see, held as reviewed snapshots (insta): for every bundle in `fixtures/bundles/`,
//! the table (with its exit code), the JSON report and the plan file (`plan -o yaml`), each
//! from the built binary. A change in output shows up as a diff to review (`cargo insta
//! review`, or `INSTA_UPDATE=always` and read the diff in git); a new bundle fails until its
//! snapshots are reviewed and committed.
//!
//! Only what varies from run to run is redacted: the collection time of a bundle without
//! `collected-at.txt` (it is "now"), which the JSON report and the plan file carry.

mod support;

use std::path::{Path, PathBuf};

use support::bin::doctor;

fn bundles() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles");
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(&root)
        .expect("fixtures/bundles exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter_map(|p| Some((p.file_name()?.to_str()?.to_string(), p)))
        .collect();
    v.sort();
    assert!(v.len() >= 20, "expected the shipped bundles under {}", root.display());
    v
}

/// Whether the bundle says when it was captured; if not, the tool uses "now".
fn dated(dir: &Path) -> bool {
    dir.join("collected-at.txt").exists()
}

/// Runs the binary on a bundle; stderr must stay empty (offline runs print no progress). It
/// runs in `fixtures/bundles` with a relative `--bundle`, so the file paths it prints are the
/// same on every machine.
fn run(dir: &Path, args: &[&str]) -> support::bin::Run {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else { panic!("{} has no parent", dir.display()) };
    let r = doctor().current_dir(parent).args(args).arg("--bundle").arg(name).run();
    assert!(r.stderr.is_empty(), "{} {args:?}: stderr {}", dir.display(), r.stderr);
    r
}

/// The `args` of the bundle's expect.json, if any.
fn expect_args(dir: &Path) -> Vec<String> {
    let v: serde_json::Value = std::fs::read_to_string(dir.join("expect.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    v["args"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)).collect()
}

/// The RFC 3339 time the plan file's `createdAt:` line carries.
const CREATED_AT: (&str, &str) = (r"(?m)^createdAt: .*$", "createdAt: '[now]'");

#[test]
fn table_json_and_plan_of_every_bundle() {
    for (name, dir) in bundles() {
        // A bundle may say how it is run (expect.json `args`, e.g. `audit --pre-upgrade
        // --target-version 3.6.0`): the table and the report are taken that way.
        let args = expect_args(&dir);
        let with = |o: &'static str| -> Vec<&str> { args.iter().map(String::as_str).chain(["-o", o]).collect() };
        let table = run(&dir, &with("table"));
        insta::assert_snapshot!(format!("{name}__table"), format!("exit code: {}\n\n{}", table.code, table.stdout));

        let json = run(&dir, &with("json"));
        assert_eq!(json.code, table.code, "{name}: -o json exits as the table does");
        let report = json.json_strict();
        if dated(&dir) {
            insta::assert_json_snapshot!(format!("{name}__json"), report);
        } else {
            insta::assert_json_snapshot!(format!("{name}__json"), report, { ".collectedAt" => "[now]" });
        }

        let plan = run(&dir, &["plan", "-o", "yaml"]);
        assert_eq!(plan.code, 0, "{name}: plan exits 0\n{}", plan.stdout);
        let mut settings = insta::Settings::clone_current();
        if !dated(&dir) {
            settings.add_filter(CREATED_AT.0, CREATED_AT.1);
        }
        settings.bind(|| insta::assert_snapshot!(format!("{name}__plan"), plan.stdout));
    }
}
