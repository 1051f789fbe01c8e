//! A clamd of a test's own (Debian's clamav-daemon with a test signature database: there
//! is no internet for the official ones), on an ephemeral port, stopped when dropped.
//! Shared by the scanner tests (`scan.rs`, `notify.rs`) and the sync-client tests
//! (`peers.rs`). A test that starts one first checks [`needs`] with `prereq::ready`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use amtsbote_core::settings::{ScanMode, ScanSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The EICAR test string, put together at run time so that no scanner flags this source.
pub fn eicar() -> Vec<u8> {
    let mut v = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$".to_vec();
    v.extend_from_slice(b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    v
}

const SIGNATURES_HDB: &str = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n\
aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n";
const SIGNATURES_NDB: &str = "Eicar-Test-Signature.Body:0:*:58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a\n\
ClamAV-Test-File.Body:0:*:4b45524e454c33322e444c4c00004578697450726f63657373005553455233322e444c4c00434c414d657373616765426f784100\n";

pub const CLAM_ZIP: &str = "/usr/share/clamav-testfiles/clam.zip";

/// What [`Clamd::start`] needs: Debian's clamd. Tests that upload `clam.zip` add
/// [`clam_zip`].
pub fn needs() -> crate::prereq::Need {
    crate::prereq::Need::binary(clamd_path(), "clamav-daemon").required_by("AMTSBOTE_REQUIRE_PEERS")
}

/// The ClamAV test file `clam.zip` (Debian's clamav-testfiles).
pub fn clam_zip() -> crate::prereq::Need {
    crate::prereq::Need::file(CLAM_ZIP, "clamav-testfiles").required_by("AMTSBOTE_REQUIRE_PEERS")
}

/// A clamd of this test's own, stopped when dropped.
pub struct Clamd {
    child: Option<Child>,
    pub port: u16,
    conf: PathBuf,
    _dir: tempfile::TempDir,
}

/// Debian's clamd (/usr/sbin), or one in /usr/bin elsewhere.
fn clamd_path() -> &'static str {
    ["/usr/sbin/clamd", "/usr/bin/clamd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/usr/sbin/clamd")
}

impl Clamd {
    /// Starts a clamd of this test's own. The test has checked [`needs`] with
    /// `prereq::ready` first: a missing clamd here is a bug in the test.
    pub async fn start(stream_max: &str) -> Self {
        let bin = PathBuf::from(clamd_path());
        assert!(
            bin.exists(),
            "{} is missing: the test must check clamd::needs() with prereq::ready first",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("db");
        std::fs::create_dir_all(&db).expect("db dir");
        std::fs::write(db.join("amtsbote-test.hdb"), SIGNATURES_HDB).expect("hdb");
        std::fs::write(db.join("amtsbote-test.ndb"), SIGNATURES_NDB).expect("ndb");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let conf = dir.path().join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "TCPSocket {port}\nTCPAddr 127.0.0.1\nLocalSocket {}\nDatabaseDirectory {}\nLogFile {}\nForeground yes\nSelfCheck 0\nStreamMaxLength {stream_max}\nMaxScanSize 1G\nMaxFileSize 1G\nMaxThreads 4\nTemporaryDirectory {}\n",
                dir.path().join("clamd.sock").display(),
                db.display(),
                dir.path().join("clamd.log").display(),
                dir.path().display(),
            ),
        )
        .expect("conf");
        let mut c = Clamd {
            child: None,
            port,
            conf,
            _dir: dir,
        };
        c.launch(&bin).await;
        c
    }

    async fn launch(&mut self, bin: &Path) {
        let child = Command::new(bin)
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn clamd");
        self.child = Some(child);
        for _ in 0..300 {
            if self.ping().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("clamd did not answer PING within 30 s");
    }

    async fn ping(&self) -> bool {
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        if s.write_all(b"zPING\0").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 16];
        matches!(s.read(&mut buf).await, Ok(n) if buf[..n].starts_with(b"PONG"))
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn restart(&mut self) {
        self.stop();
        self.launch(Path::new(clamd_path())).await;
    }

    /// The same clamd over its Unix socket.
    pub fn unix_settings(&self) -> ScanSettings {
        ScanSettings {
            clamd: format!(
                "unix://{}",
                self.conf.with_file_name("clamd.sock").display()
            ),
            ..self.settings()
        }
    }

    /// The server's settings for this clamd; the stream limit is read from its conf.
    pub fn settings(&self) -> ScanSettings {
        ScanSettings {
            mode: ScanMode::Clamd,
            clamd: format!("tcp://127.0.0.1:{}", self.port),
            clamd_config: self.conf.clone(),
            timeout_seconds: 20,
            ..ScanSettings::default()
        }
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}
