//! The krew release as one CI run makes it: `scripts/release pack` for linux and darwin on amd64
//! and arm64, then `scripts/release manifest` merges them into one manifest. The manifest is
//! checked by krew's own rules (kubernetes-sigs/krew: internal/index/validation/validate.go and
//! cmd/validate-krew-manifest: structure, selectors that match a platform and do not overlap,
//! and an install of every platform: its files moved as the manifest says, its `bin` there, a
//! LICENSE installed), then the host's archive is run as a plugin through the real kubectl.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};

const PLATFORMS: [(&str, &str); 4] = [("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64")];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn release(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(root().join("scripts/release"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run scripts/release");
    assert!(out.status.success(), "scripts/release {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The host's platform as krew names it.
fn host() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no release archive for {other}"),
    };
    ("linux", arch)
}

/// A small executable standing in for the binaries that cannot be built or run here (darwin,
/// the other architecture); it also keeps the test from gzipping the 250 MB debug build 4 times.
fn stand_in(dir: &Path) -> PathBuf {
    let p = dir.join("stand-in");
    std::fs::write(&p, "#!/bin/sh\necho stand-in\n").expect("write");
    std::process::Command::new("chmod").arg("755").arg(&p).status().expect("chmod");
    p
}

fn sha256_hex(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).expect("read archive")).iter().map(|b| format!("{b:02x}")).collect()
}

/// Packs all four platforms into `out` (the host's with `host_binary`) and merges the manifest.
fn pack_all(out: &Path, host_binary: &Path, stand: &Path, env: &[(&str, &str)]) -> Value {
    let out_s = out.to_str().expect("utf-8 path");
    for (os, arch) in PLATFORMS {
        let binary = if (os, arch) == host() { host_binary } else { stand };
        let binary = binary.to_str().expect("utf-8 path");
        release(&["pack", "--os", os, "--arch", arch, "--binary", binary, "--out", out_s], env);
    }
    release(&["manifest", "--out", out_s, "--base-url", "https://example.invalid/download"], env);
    serde_yaml_ng::from_str(&std::fs::read_to_string(out.join("etcd-doctor.yaml")).expect("manifest")).expect("YAML")
}

// ---- krew's rules ---------------------------------------------------------------------------

/// The <os, arch> pairs krew supports (cmd/validate-krew-manifest allPlatforms).
const KREW_PLATFORMS: [(&str, &str); 11] = [
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

const LICENSE_NAMES: [&str; 8] =
    ["license", "license.txt", "license.md", "licenses", "licenses.txt", "licenses.md", "copying", "copying.txt"];

fn str_of<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str().ok_or_else(|| format!("{what} is not set"))
}

/// k8s.io/apimachinery's ParseSemantic after krew's "starts with v".
fn semver(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else { return false };
    let core = rest.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0')))
}

/// Go's filepath.Clean(p) == p, for the relative paths `to` takes.
fn clean(p: &str) -> bool {
    p == "." || (!p.is_empty() && !p.ends_with('/') && p.split('/').all(|s| !s.is_empty() && s != "." && s != ".."))
}

fn selector_matches(sel: &Value, os: &str, arch: &str) -> bool {
    let labels = sel["matchLabels"].as_object();
    labels.is_some_and(|l| l.iter().all(|(k, v)| (k == "os" && v == os) || (k == "arch" && v == arch)))
}

/// One shell-style `*` in the last path segment, as filepath.Glob matches it here.
fn glob(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let (parent, last) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let Ok(entries) = std::fs::read_dir(dir.join(parent)) else { return Vec::new() };
    let (head, tail) = last.split_once('*').unwrap_or((last, ""));
    let star = last.contains('*');
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            if star {
                n.starts_with(head) && n.ends_with(tail) && n.len() >= head.len() + tail.len()
            } else {
                n == last
            }
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Installs one platform as krew does: unpack, move each `files` entry (a file directly, else
/// a glob into the `to` directory), then `bin` must be there and a license file installed.
fn install(p: &Value, archives: &Path, into: &Path) -> Result<(), String> {
    let uri = str_of(&p["uri"], "uri")?;
    let name = uri.rsplit('/').next().unwrap_or_default();
    let archive = archives.join(name);
    if !archive.is_file() {
        return Err(format!("{uri}: no archive {name}"));
    }
    if sha256_hex(&archive) != str_of(&p["sha256"], "sha256")? {
        return Err(format!("{name}: sha256 differs from the manifest's"));
    }
    let unpacked = into.join("unpacked");
    let installed = into.join("installed");
    std::fs::create_dir_all(&unpacked).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&installed).map_err(|e| e.to_string())?;
    let ok =
        Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&unpacked).status().map_err(|e| e.to_string())?;
    if !ok.success() {
        return Err(format!("{name}: tar -xzf failed"));
    }
    for f in p["files"].as_array().into_iter().flatten() {
        let (from, to) = (str_of(&f["from"], "from")?, str_of(&f["to"], "to")?);
        let direct = unpacked.join(from);
        let moves: Vec<(PathBuf, PathBuf)> = if direct.is_file() {
            let target =
                if to == "." { installed.join(direct.file_name().unwrap_or_default()) } else { installed.join(to) };
            vec![(direct, target)]
        } else {
            let g = glob(&unpacked, from);
            if g.is_empty() {
                return Err(format!("{name}: no files in the plugin archive matched the glob pattern={from}"));
            }
            g.into_iter().map(|m| (m.clone(), installed.join(to).join(m.file_name().unwrap_or_default()))).collect()
        };
        for (src, dst) in moves {
            std::fs::create_dir_all(dst.parent().unwrap_or(&installed)).map_err(|e| e.to_string())?;
            std::fs::rename(&src, &dst).map_err(|e| format!("{name}: move {from}: {e}"))?;
        }
    }
    let bin = str_of(&p["bin"], "bin")?;
    if !installed.join(bin).is_file() {
        return Err(format!("{name}: bin {bin} is not among the installed files"));
    }
    let license = std::fs::read_dir(&installed)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .any(|e| LICENSE_NAMES.contains(&e.file_name().to_string_lossy().to_lowercase().as_str()));
    if !license {
        return Err(format!(
            "{name}: LICENSE (or alike) file is not extracted from the archive as part of installation"
        ));
    }
    Ok(())
}

/// krew's ValidatePlugin and validate-krew-manifest for the manifest file `file_name`.
fn validate(file_name: &str, m: &Value, archives: &Path) -> Result<(), String> {
    let name = file_name.strip_suffix(".yaml").ok_or("expected manifest extension \".yaml\"")?;
    if m["apiVersion"] != "krew.googlecontainertools.github.com/v1alpha2" {
        return Err(format!("apiVersion {} not supported", m["apiVersion"]));
    }
    if m["kind"] != "Plugin" {
        return Err(format!("kind {} but only Plugin is supported", m["kind"]));
    }
    let safe = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !safe || ["CON", "PRN", "AUX", "NUL"].iter().any(|f| f.eq_ignore_ascii_case(name)) {
        return Err(format!("the plugin name {name:?} is not allowed"));
    }
    if m["metadata"]["name"] != name {
        return Err(format!("plugin should be named {name:?}"));
    }
    let spec = &m["spec"];
    let short = str_of(&spec["shortDescription"], "shortDescription")?;
    if short.is_empty() || short.contains(['\r', '\n']) {
        return Err("should have a short description without line breaks".into());
    }
    let platforms = spec["platforms"].as_array().filter(|p| !p.is_empty()).ok_or("should have a platform specified")?;
    let version = str_of(&spec["version"], "version")?;
    if !semver(version) {
        return Err(format!("failed to parse plugin version {version:?}"));
    }
    for (i, p) in platforms.iter().enumerate() {
        let err = |e: String| format!("platform {i}: {e}");
        if str_of(&p["uri"], "uri").map_err(err)?.is_empty() {
            return Err(err("`uri` has to be set".into()));
        }
        let sha = str_of(&p["sha256"], "sha256").map_err(err)?;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(err(format!("`sha256` value {sha} is not valid, must match ^[a-f0-9]{{64}}$")));
        }
        if str_of(&p["bin"], "bin").map_err(err)?.is_empty() {
            return Err(err("`bin` has to be set".into()));
        }
        if let Some(files) = p.get("files") {
            let files = files.as_array().filter(|f| !f.is_empty()).ok_or_else(|| err("`files` empty".into()))?;
            for f in files {
                str_of(&f["from"], "from").map_err(err)?;
                let to = str_of(&f["to"], "to").map_err(err)?;
                if !clean(to) {
                    return Err(err(format!("the provided path is not clean: {to:?}")));
                }
            }
        }
        let sel = &p["selector"];
        let labels = sel["matchLabels"].as_object().ok_or_else(|| err("empty selector is not supported".into()))?;
        if labels.is_empty() || sel.get("matchExpressions").is_some() {
            return Err(err("`matchLabels` specified but empty (or matchExpressions, unused here)".into()));
        }
        if let Some(k) = labels.keys().find(|k| *k != "os" && *k != "arch") {
            return Err(err(format!("key {k:?} not supported")));
        }
        if !KREW_PLATFORMS.iter().any(|(os, arch)| selector_matches(sel, os, arch)) {
            return Err(err("selector doesn't match any supported platforms".into()));
        }
    }
    for (os, arch) in KREW_PLATFORMS {
        let n = platforms.iter().filter(|p| selector_matches(&p["selector"], os, arch)).count();
        if n > 1 {
            return Err(format!("multiple spec.platforms have overlapping selectors that select {os}/{arch}"));
        }
    }
    for (i, p) in platforms.iter().enumerate() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        install(p, archives, dir.path()).map_err(|e| format!("spec.platforms[{i}] failed to install: {e}"))?;
    }
    Ok(())
}

// ---- tests ----------------------------------------------------------------------------------

#[test]
fn one_run_makes_one_manifest_for_four_platforms_that_krew_accepts_and_kubectl_runs() {
    let out = tempfile::tempdir().expect("tempdir");
    let scratch = tempfile::tempdir().expect("tempdir");
    let stand = stand_in(scratch.path());
    let mut bin = PathBuf::from(assert_cmd::cargo::cargo_bin!("kubectl-etcd_doctor"));
    // The same program without its debug info: gzip -9 of the 250 MB debug build takes minutes.
    let stripped = scratch.path().join("kubectl-etcd_doctor");
    if Command::new("strip").arg("-o").arg(&stripped).arg(&bin).status().is_ok_and(|s| s.success()) {
        bin = stripped;
    }
    let m = pack_all(out.path(), &bin, &stand, &[]);

    validate("etcd-doctor.yaml", &m, out.path()).expect("krew accepts the manifest");
    let spec = &m["spec"];
    assert_eq!(spec["version"], format!("v{}", env!("CARGO_PKG_VERSION")));
    let platforms = spec["platforms"].as_array().expect("platforms");
    let mut pairs: Vec<(String, String)> = platforms
        .iter()
        .map(|p| {
            let l = &p["selector"]["matchLabels"];
            (l["os"].as_str().unwrap_or_default().to_string(), l["arch"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [("darwin", "amd64"), ("darwin", "arm64"), ("linux", "amd64"), ("linux", "arm64")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    for p in platforms {
        let uri = p["uri"].as_str().expect("uri");
        assert!(uri.starts_with("https://example.invalid/download/kubectl-etcd_doctor-v"), "{uri}");
        let sums =
            std::fs::read_to_string(out.path().join(format!("{}.sha256", uri.rsplit('/').next().unwrap_or_default())))
                .expect("the .sha256 beside the archive");
        assert!(sums.starts_with(p["sha256"].as_str().expect("sha256")), "{sums}");
    }
    let caveats = spec["caveats"].as_str().expect("caveats");
    assert!(caveats.contains("kubectl etcd-doctor rbac | kubectl apply -f -"), "{caveats}");
    assert!(caveats.contains("kubectl_complete-etcd_doctor"), "{caveats}");

    // The host's platform, installed as krew would, then asked through the real kubectl.
    let (os, arch) = host();
    let p = platforms.iter().find(|p| selector_matches(&p["selector"], os, arch)).expect("the host's platform");
    let dir = tempfile::tempdir().expect("tempdir");
    install(p, out.path(), dir.path()).expect("install");
    let installed = dir.path().join("installed");
    let kubectl = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("kubectl not found on PATH: install it (apt-get install -y kubectl)"));
    let path = std::env::join_paths(
        std::iter::once(installed.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let run = |args: &[&str]| {
        let o = Command::new(&kubectl).args(args).env("PATH", &path).env("HOME", dir.path()).output().expect("kubectl");
        assert!(o.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let v = run(&["etcd-doctor", "--version"]);
    assert!(v.starts_with(&format!("kubectl-etcd_doctor {} (", env!("CARGO_PKG_VERSION"))), "{v}");
    let rbac = std::fs::read_to_string(root().join("deploy/rbac.yaml")).expect("rbac.yaml");
    assert_eq!(run(&["etcd-doctor", "rbac"]), rbac);
    assert_eq!(std::fs::read_to_string(installed.join("deploy/rbac.yaml")).expect("installed rbac"), rbac);
    let exec = std::fs::read_to_string(root().join("deploy/rbac-exec.yaml")).expect("rbac-exec.yaml");
    assert_eq!(run(&["etcd-doctor", "rbac", "--exec"]), exec);
    // kubectl's plugin completion finds the archive's kubectl_complete-etcd_doctor on PATH.
    let comp = run(&["__complete", "etcd-doctor", "pl"]);
    assert!(comp.lines().any(|l| l.starts_with("plan\t")) && comp.trim_end().ends_with(":4"), "{comp}");
    let license = std::fs::read_to_string(installed.join("LICENSE")).expect("LICENSE");
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));
}

#[test]
fn archives_are_reproducible_and_the_bsd_tools_make_the_same_release() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let stand = stand_in(scratch.path());
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let ma = pack_all(a.path(), &stand, &stand, &[]);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // other file times on disk
    let mb = pack_all(b.path(), &stand, &stand, &[]);
    assert_eq!(ma, mb, "two runs, one manifest: the archives are byte for byte the same");
    validate("etcd-doctor.yaml", &ma, a.path()).expect("krew accepts it");

    // The macOS runners have bsdtar and shasum, not GNU tar and sha256sum.
    let have =
        |p: &str| std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(p).is_file());
    if !have("bsdtar") || !have("shasum") {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED: bsdtar or shasum missing, the BSD path of scripts/release was not run (apt-get install libarchive-tools perl)"
        );
        return;
    }
    let c = tempfile::tempdir().expect("tempdir");
    let mc = pack_all(c.path(), &stand, &stand, &[("TAR", "bsdtar"), ("SHA256", "shasum -a 256")]);
    validate("etcd-doctor.yaml", &mc, c.path()).expect("krew accepts the BSD-made release");
    let list = |dir: &Path| {
        let archive = dir.join(format!("kubectl-etcd_doctor-v{}-darwin-arm64.tar.gz", env!("CARGO_PKG_VERSION")));
        let o = Command::new("tar").arg("-tvzf").arg(&archive).output().expect("tar -t");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(list(a.path()), list(c.path()), "same entries, modes, owners and times");
    assert!(
        list(c.path()).contains("0/0") && list(c.path()).contains("2000-01-01 00:00 deploy/rbac.yaml"),
        "{}",
        list(c.path())
    );
}

#[test]
fn the_validator_refuses_what_krew_refuses() {
    let out = tempfile::tempdir().expect("tempdir");
    let scratch = tempfile::tempdir().expect("tempdir");
    let stand = stand_in(scratch.path());
    let good = pack_all(out.path(), &stand, &stand, &[]);
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut m = good.clone();
        f(&mut m);
        validate("etcd-doctor.yaml", &m, out.path())
    };
    assert!(broken(&|_| ()).is_ok());
    assert!(validate("etcd_doctor.yaml", &good, out.path()).is_err(), "file name is the plugin name");
    assert!(broken(&|m| m["spec"]["version"] = "0.1.0".into()).is_err(), "version without v");
    assert!(broken(&|m| m["spec"]["shortDescription"] = "two\nlines".into()).is_err());
    assert!(
        broken(&|m| {
            let s = m["spec"]["platforms"][0]["sha256"].as_str().unwrap_or_default().to_uppercase();
            m["spec"]["platforms"][0]["sha256"] = s.into();
        })
        .is_err(),
        "upper-case sha256"
    );
    assert!(
        broken(&|m| m["spec"]["platforms"][1]["sha256"] = "0".repeat(64).into()).is_err(),
        "sha256 not the archive's"
    );
    assert!(broken(&|m| m["spec"]["platforms"][0]["bin"] = "kubectl-other".into()).is_err(), "bin not in the archive");
    assert!(
        broken(&|m| m["spec"]["platforms"][0]["files"][4]["from"] = "rbac/*.yaml".into()).is_err(),
        "glob matches nothing"
    );
    assert!(broken(&|m| m["spec"]["platforms"][0]["files"][4]["to"] = "deploy/".into()).is_err(), "unclean to");
    assert!(
        broken(&|m| {
            let files = m["spec"]["platforms"][2]["files"].as_array_mut().expect("files");
            files.retain(|f| f["from"] != "LICENSE");
        })
        .is_err(),
        "no LICENSE installed"
    );
    assert!(
        broken(&|m| m["spec"]["platforms"][1]["selector"]["matchLabels"]["arch"] = "amd64".into()).is_err(),
        "overlap"
    );
    assert!(
        broken(&|m| m["spec"]["platforms"][0]["selector"]["matchLabels"]["os"] = "plan9".into()).is_err(),
        "no platform"
    );
    assert!(broken(&|m| m["spec"]["platforms"][0]["selector"]["matchLabels"]["distro"] = "debian".into()).is_err());
}

#[test]
fn the_release_workflow_builds_the_four_platforms_and_merges_once() {
    let text = std::fs::read_to_string(root().join(".github/workflows/release.yml")).expect("release.yml");
    let wf: Value = serde_yaml_ng::from_str(&text).expect("the workflow is YAML");
    let build = &wf["jobs"]["build"];
    let mut pairs: Vec<String> = build["strategy"]["matrix"]["include"]
        .as_array()
        .expect("a build matrix")
        .iter()
        .map(|e| format!("{}-{}", e["os"].as_str().unwrap_or_default(), e["arch"].as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    assert_eq!(pairs, ["darwin-amd64", "darwin-arm64", "linux-amd64", "linux-arm64"]);
    let runs = |job: &Value| -> String {
        job["steps"].as_array().into_iter().flatten().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>().join("\n")
    };
    assert!(runs(build).contains("scripts/release pack --os ${{ matrix.os }} --arch ${{ matrix.arch }}"));
    let release = &wf["jobs"]["release"];
    assert_eq!(release["needs"], "build");
    assert!(runs(release).contains("scripts/release manifest --out dist"));
    assert!(runs(release).contains("/bin/validate-krew-manifest\" -manifest dist/etcd-doctor.yaml"));
}
