//! Prerequisites of the tests that need something from outside the workspace: a program
//! (litmus, the sync clients, clamd, pdftotext, chromium …), a file, a Python module, a
//! database URL or a directory (`tests/a11y/node_modules`).
//!
//! Each such test calls [`ready`] once, first thing, with everything it needs:
//!
//! ```ignore
//! if !prereq::ready(concat!(module_path!(), "::my_test"), &[Need::binary("rclone", "rclone")]) {
//!     return;
//! }
//! ```
//!
//! A missing prerequisite is a visible skip, never a silent pass: one line
//! `SKIPPED <test>: needs <what> (<how to get it>), …` goes straight to the process's
//! standard error (past libtest's capture) and, when `AMTSBOTE_SKIP_LOG` names a file, is
//! appended to it (`./test.sh` counts these lines). With `AMTSBOTE_REQUIRE_ALL=1` (CI) a
//! missing prerequisite fails the test instead, naming everything that is missing. The
//! older, narrower switches (`AMTSBOTE_REQUIRE_PEERS`, `…_LITMUS`, `…_A11Y`,
//! `…_ALL_DATABASES`) still work for the needs marked with [`Need::required_by`].
//!
//! Included by every test crate with `#[path = "…/tests/prereq.rs"] mod prereq;`.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The switch that turns every missing prerequisite into a failure.
pub const REQUIRE_ALL: &str = "AMTSBOTE_REQUIRE_ALL";
/// The file that collects one line per skipped test (set by `./test.sh`).
pub const SKIP_LOG: &str = "AMTSBOTE_SKIP_LOG";

/// One thing a test needs: what it is, how to get it, and whether it is there.
#[derive(Clone, Debug)]
pub struct Need {
    what: String,
    how: String,
    present: bool,
    /// An older switch (e.g. `AMTSBOTE_REQUIRE_PEERS`) that also makes this need required.
    required_by: Option<&'static str>,
}

impl Need {
    fn new(what: impl Into<String>, how: impl Into<String>, present: bool) -> Need {
        Need {
            what: what.into(),
            how: how.into(),
            present,
            required_by: None,
        }
    }

    /// A program: found on `PATH`, or an absolute path that exists. `package` is the
    /// Debian package that brings it.
    pub fn binary(name: &'static str, package: &'static str) -> Need {
        Need::new(name, apt(package), find_binary(name).is_some())
    }

    /// A file that must exist, e.g. `/usr/share/clamav-testfiles/clam.zip`.
    pub fn file(path: &'static str, package: &'static str) -> Need {
        Need::new(path, apt(package), Path::new(path).is_file())
    }

    /// A module that Debian's `/usr/bin/python3` can import.
    pub fn python_module(module: &'static str, package: &'static str) -> Need {
        let present = std::process::Command::new("/usr/bin/python3")
            .args(["-c", &format!("import {module}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        Need::new(format!("python3 module {module}"), apt(package), present)
    }

    /// A non-empty environment variable; `how` says what to set it to.
    pub fn env(var: &'static str, how: &'static str) -> Need {
        let present = std::env::var(var).is_ok_and(|v| !v.trim().is_empty());
        Need::new(var, how, present)
    }

    /// A directory that must exist (e.g. `tests/a11y/node_modules/axe-core`); `how` says
    /// how to get it.
    pub fn dir(path: impl AsRef<Path>, how: &'static str) -> Need {
        let path = path.as_ref();
        Need::new(path.display().to_string(), how, path.is_dir())
    }

    /// The tests run as root (e.g. to mount a tmpfs); `how` says why.
    pub fn root(how: &'static str) -> Need {
        let present = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        Need::new("root", how, present)
    }

    /// Also required when the older switch `var` is `1` (as before `AMTSBOTE_REQUIRE_ALL`).
    pub fn required_by(mut self, var: &'static str) -> Need {
        self.required_by = Some(var);
        self
    }

    /// Whether it is there.
    pub fn present(&self) -> bool {
        self.present
    }
}

/// "pdftotext, pdfinfo (apt-get install poppler-utils), clam.zip (apt-get install …)": the
/// needs that come the same way share one "how".
fn describe(missing: &[&Need]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for n in missing {
        match groups.iter_mut().find(|(how, _)| *how == n.how) {
            Some((_, whats)) => whats.push(&n.what),
            None => groups.push((&n.how, vec![&n.what])),
        }
    }
    groups
        .iter()
        .map(|(how, whats)| format!("{} ({how})", whats.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn apt(package: &str) -> String {
    format!("apt-get install {package}")
}

/// The program `name`: an absolute (or relative) path that is a file, or the first match
/// on `PATH`.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn switched_on(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// True when every need is present. Otherwise: under `AMTSBOTE_REQUIRE_ALL=1` (or an
/// older switch a missing need is marked with) it panics naming every missing need and
/// how to get it (after a `MISSING <test>: …` line); else it reports the skip, a
/// `SKIPPED <test>: needs …` line on standard error and in `AMTSBOTE_SKIP_LOG`, and
/// returns false.
pub fn ready(test: &str, needs: &[Need]) -> bool {
    let missing: Vec<&Need> = needs.iter().filter(|n| !n.present).collect();
    if missing.is_empty() {
        return true;
    }
    let list = describe(&missing);
    let mut switches: Vec<&str> = Vec::new();
    if switched_on(REQUIRE_ALL) {
        switches.push(REQUIRE_ALL);
    }
    for var in missing.iter().filter_map(|n| n.required_by) {
        if switched_on(var) && !switches.contains(&var) {
            switches.push(var);
        }
    }
    if !switches.is_empty() {
        let switches = switches.join("=1, ");
        report(&format!(
            "MISSING {test}: needs {list}; a failure under {switches}=1\n"
        ));
        panic!(
            "{test} needs {list}; {switches}=1 makes a missing prerequisite a failure \
             (sudo .ci/install-peers.sh installs every peer)"
        );
    }
    report(&format!("SKIPPED {test}: needs {list}\n"));
    false
}

/// Writes `line` to the real standard error (eprintln! would be captured by libtest) and
/// appends it to `AMTSBOTE_SKIP_LOG` in one write, as several test processes append at once.
fn report(line: &str) {
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    let Some(log) = std::env::var_os(SKIP_LOG).filter(|v| !v.is_empty()) else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        let _ = std::io::stderr().lock().write_all(
            format!(
                "warning: could not append to {SKIP_LOG}={}: {e}\n",
                Path::new(&log).display()
            )
            .as_bytes(),
        );
    }
}
