//! E-mail over a real SMTP server (`smtp_sink.py`, Debian's python3-aiosmtpd): what
//! `amtsbote mail test` sends, how it reports a mail server that is not there, and the
//! mistakes in `[mail]` it names. Without python3-aiosmtpd these tests are skipped
//! visibly (`prereq::ready`), or fail under `AMTSBOTE_REQUIRE_ALL=1` (as in CI).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::prereq::{self, Need};

const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// A real SMTP server on an ephemeral port; every accepted mail becomes a `.eml` file.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// What [`SmtpSink::start`] (and [`read_mail`]) need: Debian's python3-aiosmtpd.
pub fn sink_needs() -> Need {
    Need::python_module("aiosmtpd", "python3-aiosmtpd").required_by("AMTSBOTE_REQUIRE_PEERS")
}

impl SmtpSink {
    /// Starts the sink. The test has checked [`sink_needs`] with `prereq::ready` first:
    /// a missing aiosmtpd here is a bug in the test.
    pub fn start() -> Self {
        assert!(
            sink_needs().present(),
            "python3-aiosmtpd is missing: the test must check mail::sink_needs() with prereq::ready first"
        );
        let port = crate::helpers::free_port();
        let dir = tempfile::tempdir().expect("tmp");
        let child = spawn_sink(port, dir.path());
        Self { child, port, dir }
    }

    /// Starts the sink again on the same port and directory (after `stop`), as a mail
    /// server that comes back; earlier mails stay.
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn_sink(self.port, self.dir.path());
    }

    /// The mails received so far, oldest first.
    pub fn mails(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        v.sort();
        v
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_sink(port: u16, dir: &Path) -> Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/smtp_sink.py");
    // The port may still be held for a moment by the sink that just ended.
    for _ in 0..50 {
        let mut child = Command::new(SYSTEM_PYTHON)
            .arg(&script)
            .arg(port.to_string())
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn smtp sink");
        let mut ready = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut ready)
            .expect("sink output");
        if ready.trim() == "ready" {
            return child;
        }
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("SMTP sink did not start on port {port}");
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A received mail as a reader sees it: headers decoded, the text part decoded.
#[derive(Debug)]
pub struct Received {
    pub envelope_to: String,
    pub auth_user: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub raw: String,
}

/// Decoded with Python's email package, an independent MIME implementation.
pub fn read_mail(path: &Path) -> Received {
    let out = Command::new(SYSTEM_PYTHON)
        .arg("-c")
        .arg(
            r#"
import email, json, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
text = m.get_body(preferencelist=("plain",))
html = m.get_body(preferencelist=("html",))
print(json.dumps({
    "envelope_to": m["X-Envelope-To"] or "",
    "auth_user": m["X-Auth-User"] or "",
    "from": str(m["From"]), "to": str(m["To"]), "subject": str(m["Subject"]),
    "text": text.get_content() if text else "",
    "html": html.get_content() if html else "",
    "message_id": str(m["Message-ID"] or ""),
}))
"#,
        )
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Received {
        envelope_to: s("envelope_to"),
        auth_user: s("auth_user"),
        from: s("from"),
        to: s("to"),
        subject: s("subject"),
        text: s("text"),
        html: s("html"),
        message_id: s("message_id"),
        raw: std::fs::read_to_string(path).expect("eml"),
    }
}

fn amtsbote(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amtsbote"));
    cmd.arg("--data-dir").arg(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env_remove("AMTSBOTE_DATABASE__URL");
    cmd.output().expect("run amtsbote")
}

fn mail_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AMTSBOTE_MAIL__HOST", "127.0.0.1".into()),
        ("AMTSBOTE_MAIL__PORT", port.to_string()),
        ("AMTSBOTE_MAIL__SECURITY", "none".into()),
        (
            "AMTSBOTE_MAIL__FROM",
            "Beamtenversorgung <austausch@kvbbg.example>".into(),
        ),
        (
            "AMTSBOTE_MAIL__REPLY_TO",
            "beamtenversorgung@kvbbg.example".into(),
        ),
    ]
}

#[tokio::test]
async fn mail_test_goes_through_a_real_smtp_server_with_umlauts_intact() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::mail_test_goes_through_a_real_smtp_server_with_umlauts_intact"
        ),
        &[sink_needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().expect("tmp");
    let out = amtsbote(
        dir.path(),
        &mail_env(sink.port),
        &["mail", "test", "personal@musterstadt.example"],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted"));
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let m = read_mail(&mails[0]);
    assert_eq!(m.envelope_to, "personal@musterstadt.example");
    assert_eq!(m.to, "personal@musterstadt.example");
    assert_eq!(m.from, "Beamtenversorgung <austausch@kvbbg.example>");
    assert!(
        m.raw.contains("Reply-To: beamtenversorgung@kvbbg.example"),
        "{}",
        m.raw
    );
    assert_eq!(
        m.subject,
        "Testnachricht: E-Mail-Versand für die Beamtenversorgung geprüft"
    );
    assert!(
        m.text.starts_with("Sehr geehrte Damen und Herren,\n\n"),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("Mit freundlichen Grüßen\nIhre Beamtenversorgung")
    );
    // The umlauts travel encoded (RFC 2047 in the header), not as raw 8-bit bytes.
    let subject_line = m
        .raw
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .expect("subject");
    assert!(
        subject_line.is_ascii() && subject_line.contains("=?utf-8?"),
        "{subject_line}"
    );
    assert_eq!(m.auth_user, "", "no AUTH without mail.user");
    // Nothing was written to a database: the check runs before anything else.
    assert!(!dir.path().join("amtsbote.db").exists());
}

#[tokio::test]
async fn mail_test_authenticates_with_the_password_from_its_file() {
    if !prereq::ready(
        concat!(
            module_path!(),
            "::mail_test_authenticates_with_the_password_from_its_file"
        ),
        &[sink_needs()],
    ) {
        return;
    }
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().expect("tmp");
    let secret = dir.path().join("smtp-passwort");
    std::fs::write(&secret, "geheim-2026\n").expect("secret");
    let mut env = mail_env(sink.port);
    env.push(("AMTSBOTE_MAIL__USER", "austausch".into()));
    env.push(("AMTSBOTE_MAIL__PASSWORD_FILE", secret.display().to_string()));
    let out = amtsbote(dir.path(), &env, &["mail", "test", "a@example.org"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("geheim-2026"), "the password never shows");
    let m = read_mail(&sink.mails()[0]);
    assert_eq!(m.auth_user, "austausch");

    // A user without a password file is a configuration error, named as such.
    env.pop();
    let out = amtsbote(dir.path(), &env, &["mail", "test", "a@example.org"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mail.password_file is not"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn mail_test_says_what_failed() {
    if !prereq::ready(
        concat!(module_path!(), "::mail_test_says_what_failed"),
        &[sink_needs()],
    ) {
        return;
    }
    let mut sink = SmtpSink::start();
    let dir = tempfile::tempdir().expect("tmp");
    let port = sink.port;
    sink.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = amtsbote(
        dir.path(),
        &mail_env(port),
        &["mail", "test", "a@example.org"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("could not talk to the mail server")
            && err.contains(&format!("127.0.0.1:{port} (plain SMTP)")),
        "{err}"
    );

    let out = amtsbote(dir.path(), &[], &["mail", "test", "a@example.org"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mail.host is not set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = amtsbote(
        dir.path(),
        &mail_env(port),
        &["mail", "test", "kein-adresse"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid e-mail address"));
}
