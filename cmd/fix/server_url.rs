//! The file half of a `set-server-url` step: replace the join URL in the one line that sets it,
//! keep every other byte of the file, keep a timestamped backup next to it, keep its mode.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use etcd_doctor_checks::finding::FileEdit;

/// What the edit did.
#[derive(Debug, PartialEq, Eq)]
pub enum Edited {
    /// The file was rewritten; the backup holds the old content.
    Done { line: usize, backup: PathBuf },
    /// The file already says `to` and no longer says `from`.
    AlreadyDone { line: usize },
}

/// Applies `edit` to its file under `root`; `stamp` names the backup (UTC, `20261124T101500Z`).
pub fn apply(root: &Path, edit: &FileEdit, stamp: &str) -> Result<Edited> {
    let path = root.join(edit.file.trim_start_matches('/'));
    let text = crate::collect::limits::read(&path, &crate::collect::limits::CONFIG)?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let holds = |l: &str, url: &str| setting_value(l, &edit.key).is_some_and(|v| v == url);
    // The planned line first; if the file moved lines around, the one line that sets it now.
    let at = |url: &str| -> Vec<usize> {
        if edit.line >= 1 && lines.get(edit.line - 1).is_some_and(|l| holds(l, url)) {
            return vec![edit.line];
        }
        lines.iter().enumerate().filter(|(_, l)| holds(l, url)).map(|(i, _)| i + 1).collect()
    };
    let from = at(&edit.from);
    match from.as_slice() {
        [] => {
            if let [line] = at(&edit.to).as_slice() {
                return Ok(Edited::AlreadyDone { line: *line });
            }
            bail!(
                "{} no longer sets {} {}: it changed since the plan was made; make a new plan",
                path.display(),
                edit.key,
                edit.from
            )
        }
        [line] => {
            let line = *line;
            let old = lines[line - 1];
            let Some(pos) = old.find(&edit.from) else {
                bail!("{} line {line}: {} not found", path.display(), edit.from)
            };
            let new_line = format!("{}{}{}", &old[..pos], edit.to, &old[pos + edit.from.len()..]);
            let mut out = String::with_capacity(text.len() + edit.to.len());
            for (i, l) in lines.iter().enumerate() {
                out.push_str(if i + 1 == line { &new_line } else { l });
            }
            let backup = backup_path(&path, stamp);
            std::fs::copy(&path, &backup).with_context(|| format!("cannot write the backup {}", backup.display()))?;
            write_keeping_mode(&path, &out)?;
            Ok(Edited::Done { line, backup })
        }
        many => bail!(
            "{} sets {} {} on lines {:?}: not sure which one to change; edit it by hand",
            path.display(),
            edit.key,
            edit.from,
            many
        ),
    }
}

/// `<file>.etcd-doctor-<stamp>.bak`: K3s reads only `*.yaml`/`*.yml` from `config.yaml.d/` and
/// systemd only unit suffixes, so the backup is never read as config.
fn backup_path(path: &Path, stamp: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".etcd-doctor-{stamp}.bak"));
    path.with_file_name(name)
}

/// Writes through a temporary file in the same directory and renames it over the original, so
/// a crash leaves either the old or the new file, never half of one.
fn write_keeping_mode(path: &Path, text: &str) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    let tmp = path
        .with_file_name(format!(".{}.etcd-doctor.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("config")));
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, meta.permissions()).with_context(|| format!("cannot chmod {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// The value a line sets for `key` (`server:`, `K3S_URL=`, `--server`), unquoted, if it does.
fn setting_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let l = line.trim();
    let unquote = |v: &'a str| {
        let v = v.trim();
        v.strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v)
    };
    match key {
        "server:" => {
            // Top-level only: an indented `server:` belongs to some other mapping.
            if line.starts_with([' ', '\t']) {
                return None;
            }
            let rest = ["server:", "\"server\":", "'server':"].iter().find_map(|p| l.strip_prefix(p))?;
            let v = rest.split(" #").next().unwrap_or(rest);
            Some(unquote(v))
        }
        "--server" => {
            // A unit line holds the value alone ('https://…' \) or as --server=….
            let v = l.trim_end_matches('\\').trim();
            let v = v.strip_prefix("--server=").or_else(|| v.strip_prefix("'--server=")).unwrap_or(v);
            Some(unquote(v.trim_end_matches('\'')).trim_start_matches('\''))
        }
        env => {
            let name = env.trim_end_matches('=');
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            (k.trim() == name).then(|| unquote(v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(file: &str, key: &str, line: usize) -> FileEdit {
        FileEdit {
            file: file.into(),
            key: key.into(),
            line,
            from: "https://10.0.0.21:6443".into(),
            to: "https://10.0.0.31:6443".into(),
            service: "k3s".into(),
        }
    }

    #[test]
    fn rewrites_one_line_keeps_the_rest_and_the_mode_and_is_idempotent() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tempdir");
        let dir = d.path().join("etc/rancher/k3s");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("config.yaml");
        let text = "token: K10abc::server:secret\nserver: \"https://10.0.0.21:6443\"   # joined via etcd-1\nnode-taint:\n  - node-role.kubernetes.io/etcd:NoExecute\ndisable-apiserver: true";
        std::fs::write(&file, text).expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let e = edit("/etc/rancher/k3s/config.yaml", "server:", 2);
        let r = apply(d.path(), &e, "20261124T101500Z").expect("apply");
        let Edited::Done { line, backup } = r else { panic!("{r:?}") };
        assert_eq!(line, 2);
        assert_eq!(std::fs::read_to_string(&backup).expect("backup"), text);
        assert!(backup.ends_with("config.yaml.etcd-doctor-20261124T101500Z.bak"));
        let now = std::fs::read_to_string(&file).expect("read");
        assert_eq!(now, text.replace("https://10.0.0.21:6443", "https://10.0.0.31:6443"));
        assert_eq!(std::fs::metadata(&file).expect("stat").permissions().mode() & 0o777, 0o600);
        assert_eq!(apply(d.path(), &e, "x").expect("again"), Edited::AlreadyDone { line: 2 });
    }

    #[test]
    fn env_and_unit_lines_and_a_file_that_changed_under_the_plan() {
        let d = tempfile::tempdir().expect("tempdir");
        let dir = d.path().join("etc/systemd/system");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("k3s.service.env"), "K3S_TOKEN='x'\nK3S_URL='https://10.0.0.21:6443'\n").expect("w");
        let r = apply(d.path(), &edit("/etc/systemd/system/k3s.service.env", "K3S_URL=", 1), "s").expect("apply");
        assert!(matches!(r, Edited::Done { line: 2, .. }), "{r:?}");
        let unit = "ExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--server' \\\n\t'https://10.0.0.21:6443' \\\n";
        std::fs::write(dir.join("k3s.service"), unit).expect("w");
        let r = apply(d.path(), &edit("/etc/systemd/system/k3s.service", "--server", 4), "s").expect("apply");
        assert!(matches!(r, Edited::Done { line: 4, .. }), "{r:?}");
        let now = std::fs::read_to_string(dir.join("k3s.service")).expect("read");
        assert!(now.contains("\t'https://10.0.0.31:6443' \\\n") && now.contains("'--server'"), "{now}");
        // Someone pointed it elsewhere meanwhile: refuse.
        std::fs::write(dir.join("k3s.service.env"), "K3S_URL=https://10.9.9.9:6443\n").expect("w");
        let e = apply(d.path(), &edit("/etc/systemd/system/k3s.service.env", "K3S_URL=", 2), "s").expect_err("refuse");
        assert!(e.to_string().contains("changed since the plan"), "{e}");
    }

    #[test]
    fn an_indented_server_key_is_not_the_join_url() {
        assert_eq!(setting_value("server: https://a:6443\n", "server:"), Some("https://a:6443"));
        assert_eq!(setting_value("  server: https://a:6443\n", "server:"), None);
        assert_eq!(setting_value("export K3S_URL=\"https://a:6443\"", "K3S_URL="), Some("https://a:6443"));
    }
}
