//! A client for ClamAV's daemon over its INSTREAM protocol (TCP or Unix socket):
//! `zINSTREAM\0`, then chunks as a 4-byte big-endian length and the bytes, then an empty
//! chunk; the answer, up to `\0`, is `stream: OK`, `stream: <name> FOUND` or
//! `<reason> ERROR`. Each upload holds one connection and one of `max_concurrent` slots
//! while its bytes stream in, so that nothing is read twice and nothing is held in memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use super::health::Outcome;
use super::{ScanError, ScanSession, Scanner, ScannerHealth, ScannerState, Verdict};

/// clamd's own default for `StreamMaxLength` (Debian ships this value too).
pub const CLAMD_DEFAULT_STREAM_MAX: u64 = 25 * 1024 * 1024;

/// An answer longer than this is not clamd's.
const MAX_REPLY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddr {
    Tcp(String),
    Unix(PathBuf),
}

impl ClamdAddr {
    /// `tcp://host:port` or `unix:///path/to/clamd.ctl`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            let (_, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| format!("scan.clamd: {s:?} lacks a port"))?;
            port.parse::<u16>()
                .map_err(|_| format!("scan.clamd: {s:?} has an invalid port"))?;
            Ok(ClamdAddr::Tcp(rest.to_string()))
        } else if let Some(path) = s.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!("scan.clamd: {s:?} needs an absolute socket path"));
            }
            Ok(ClamdAddr::Unix(PathBuf::from(path)))
        } else {
            Err(format!(
                "scan.clamd: {s:?} must start with tcp:// or unix://"
            ))
        }
    }
}

impl std::fmt::Display for ClamdAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClamdAddr::Tcp(a) => write!(f, "tcp://{a}"),
            ClamdAddr::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClamdOptions {
    pub addr: ClamdAddr,
    /// Connecting, and each single write or read while the bytes stream.
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
    /// How long clamd may take for its verdict after the last byte (it scans then), and
    /// how long an upload waits for a free scan slot.
    pub verdict_timeout: Duration,
    pub max_concurrent: usize,
    /// clamd's `StreamMaxLength`: longer streams are refused before they are sent.
    pub stream_limit: u64,
}

#[derive(Debug)]
pub struct Clamd {
    opts: ClamdOptions,
    slots: Arc<Semaphore>,
    health: Arc<ScannerHealth>,
}

trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

impl Clamd {
    pub fn new(opts: ClamdOptions) -> Self {
        let slots = Arc::new(Semaphore::new(opts.max_concurrent.max(1)));
        Self {
            opts,
            slots,
            health: Arc::new(ScannerHealth::new(ScannerState::Unknown)),
        }
    }

    async fn connect(&self) -> Result<Box<dyn Conn>, String> {
        let connecting = async {
            Ok::<Box<dyn Conn>, std::io::Error>(match &self.opts.addr {
                ClamdAddr::Tcp(a) => {
                    let s = tokio::net::TcpStream::connect(a.as_str()).await?;
                    s.set_nodelay(true)?;
                    Box::new(s)
                }
                ClamdAddr::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await?),
            })
        };
        // The reasons reach the health endpoint: the address stays in the log.
        let reason = match timeout(self.opts.connect_timeout, connecting).await {
            Ok(Ok(c)) => return Ok(c),
            Ok(Err(e)) => format!("clamd: {e}"),
            Err(_) => format!(
                "clamd: no connection within {:?}",
                self.opts.connect_timeout
            ),
        };
        tracing::warn!(clamd = %self.opts.addr, reason, "clamd not reachable");
        Err(reason)
    }

    /// clamd cannot be reached: an outage at once.
    fn unreachable(&self, reason: String) -> ScanError {
        self.health.count(Outcome::Failed);
        self.health.unreachable(&reason);
        ScanError::Unavailable(reason)
    }
}

#[async_trait]
impl Scanner for Clamd {
    fn mode(&self) -> &'static str {
        "clamd"
    }

    async fn begin(&self) -> Result<Box<dyn ScanSession>, ScanError> {
        let permit = match timeout(
            self.opts.verdict_timeout,
            self.slots.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(p)) => p,
            _ => {
                self.health.count(Outcome::Failed);
                return Err(ScanError::Busy(self.opts.max_concurrent));
            }
        };
        let mut conn = self.connect().await.map_err(|r| self.unreachable(r))?;
        let failed = match timeout(self.opts.io_timeout, conn.write_all(b"zINSTREAM\0")).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("clamd: {e}")),
            Err(_) => Some("clamd: write timed out".to_string()),
        };
        if let Some(reason) = failed {
            self.health.scan_failed(&reason);
            return Err(ScanError::Unavailable(reason));
        }
        Ok(Box::new(InStream {
            conn,
            _permit: permit,
            sent: 0,
            opts: self.opts.clone(),
            health: self.health.clone(),
        }))
    }

    fn stream_limit(&self) -> Option<u64> {
        Some(self.opts.stream_limit)
    }

    fn health(&self) -> &ScannerHealth {
        &self.health
    }

    async fn probe(&self) {
        let answer = async {
            let mut conn = self.connect().await?;
            let asked = async {
                conn.write_all(b"zPING\0").await?;
                read_reply(&mut conn).await
            };
            // PING is answered at once by a healthy clamd; the probe must not hang.
            match timeout(self.opts.connect_timeout, asked).await {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(e)) => Err(format!("clamd: {e}")),
                Err(_) => Err("clamd: no answer to PING".to_string()),
            }
        }
        .await;
        match answer {
            Ok(reply) if reply == "PONG" => self.health.answered(),
            Ok(reply) => self
                .health
                .unreachable(&format!("clamd answered PING with {reply:?}")),
            Err(reason) => self.health.unreachable(&reason),
        }
    }
}

struct InStream {
    conn: Box<dyn Conn>,
    _permit: OwnedSemaphorePermit,
    sent: u64,
    opts: ClamdOptions,
    health: Arc<ScannerHealth>,
}

impl InStream {
    /// A stream that failed after clamd accepted it: that upload's problem, and an
    /// outage only if it keeps happening (see [`ScannerHealth::scan_failed`]).
    fn fail(&self, e: ScanError) -> ScanError {
        match &e {
            ScanError::Unavailable(reason) => self.health.scan_failed(reason),
            ScanError::LimitExceeded(_) => self.health.count(Outcome::TooLarge),
            ScanError::Busy(_) => self.health.count(Outcome::Failed),
        }
        e
    }

    /// After a failed write, clamd has usually said why before closing (for example
    /// its size limit); that answer beats the broken pipe.
    async fn reason_after(&mut self, e: std::io::Error) -> ScanError {
        match timeout(Duration::from_secs(1), read_reply(&mut self.conn)).await {
            Ok(Ok(reply)) if !reply.is_empty() => parse_reply(&reply, self.opts.stream_limit)
                .err()
                .unwrap_or(ScanError::Unavailable(format!("clamd: {e}"))),
            _ => ScanError::Unavailable(format!("clamd: {e}")),
        }
    }
}

#[async_trait]
impl ScanSession for InStream {
    async fn feed(&mut self, chunk: &[u8]) -> Result<(), ScanError> {
        if chunk.is_empty() {
            // An empty chunk would end the stream.
            return Ok(());
        }
        self.sent += chunk.len() as u64;
        if self.sent > self.opts.stream_limit {
            return Err(self.fail(ScanError::LimitExceeded(self.opts.stream_limit)));
        }
        let len = u32::try_from(chunk.len())
            .map_err(|_| ScanError::Unavailable("chunk too large for INSTREAM".into()))?;
        let written = async {
            self.conn.write_all(&len.to_be_bytes()).await?;
            self.conn.write_all(chunk).await
        };
        match timeout(self.opts.io_timeout, written).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                let e = self.reason_after(e).await;
                Err(self.fail(e))
            }
            Err(_) => Err(self.fail(ScanError::Unavailable(format!(
                "clamd accepted no data for {:?}",
                self.opts.io_timeout
            )))),
        }
    }

    async fn finish(mut self: Box<Self>) -> Verdict {
        let asked = async {
            self.conn.write_all(&[0, 0, 0, 0]).await?;
            self.conn.flush().await?;
            read_reply(&mut self.conn).await
        };
        let reply = match timeout(self.opts.verdict_timeout, asked).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                let e = self.reason_after(e).await;
                return Verdict::Error(self.fail(e));
            }
            Err(_) => {
                return Verdict::Error(self.fail(ScanError::Unavailable(format!(
                    "clamd gave no verdict within {:?}",
                    self.opts.verdict_timeout
                ))));
            }
        };
        match parse_reply(&reply, self.opts.stream_limit) {
            Ok(verdict) => {
                self.health.scan_succeeded();
                self.health.count(match verdict {
                    Verdict::Infected(_) => Outcome::Infected,
                    _ => Outcome::Clean,
                });
                verdict
            }
            Err(e) => Verdict::Error(self.fail(e)),
        }
    }
}

/// Reads up to the terminating `\0` (or the end of the connection).
async fn read_reply(conn: &mut (impl AsyncRead + Unpin + ?Sized)) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(64);
    let mut byte = [0u8; 256];
    loop {
        let n = conn.read(&mut byte).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&byte[..n]);
        if let Some(end) = buf.iter().position(|&b| b == 0) {
            buf.truncate(end);
            break;
        }
        if buf.len() > MAX_REPLY {
            return Err(std::io::Error::other("clamd answer too long"));
        }
    }
    Ok(String::from_utf8_lossy(&buf).trim().to_string())
}

/// clamd's answer to an INSTREAM scan as a verdict.
pub fn parse_reply(reply: &str, stream_limit: u64) -> Result<Verdict, ScanError> {
    let reply = reply.trim_end_matches('\0').trim();
    if reply.is_empty() {
        return Err(ScanError::Unavailable(
            "clamd closed the connection without a verdict".into(),
        ));
    }
    let body = reply
        .strip_prefix("stream:")
        .map(str::trim)
        .unwrap_or(reply);
    if body == "OK" {
        return Ok(Verdict::Clean);
    }
    if let Some(name) = body.strip_suffix(" FOUND") {
        let name = name.trim();
        let name = if name.is_empty() { "unbekannt" } else { name };
        return Ok(Verdict::Infected(name.to_string()));
    }
    if body.contains("size limit exceeded") {
        return Err(ScanError::LimitExceeded(stream_limit));
    }
    Err(ScanError::Unavailable(format!("clamd: {body}")))
}

/// `StreamMaxLength` from a clamd.conf text: `25M`, `200m`, `1G`, `512K` or bytes. The
/// last occurrence wins, as in clamd.
pub fn stream_max_length(conf: &str) -> Option<u64> {
    conf.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "StreamMaxLength").then(|| words.next())?
        })
        .filter_map(parse_size)
        .next_back()
}

fn parse_size(v: &str) -> Option<u64> {
    let (digits, factor) = match v.chars().last()? {
        'k' | 'K' => (&v[..v.len() - 1], 1024),
        'm' | 'M' => (&v[..v.len() - 1], 1024 * 1024),
        'g' | 'G' => (&v[..v.len() - 1], 1024 * 1024 * 1024),
        _ => (v, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(factor)
}

/// The stream limit: as configured, else as the local clamd.conf says, else clamd's
/// default. Returns where it came from, for the start-up log.
pub fn resolve_stream_limit(configured: Option<u64>, clamd_conf: &Path) -> (u64, String) {
    if let Some(v) = configured {
        return (v, "scan.stream_max_bytes".into());
    }
    match std::fs::read_to_string(clamd_conf) {
        Ok(text) => match stream_max_length(&text) {
            Some(v) => (v, format!("StreamMaxLength in {}", clamd_conf.display())),
            None => (
                CLAMD_DEFAULT_STREAM_MAX,
                format!(
                    "clamd's default (no StreamMaxLength in {})",
                    clamd_conf.display()
                ),
            ),
        },
        Err(_) => (
            CLAMD_DEFAULT_STREAM_MAX,
            format!(
                "clamd's default ({} not readable; set scan.stream_max_bytes)",
                clamd_conf.display()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_verdicts() {
        assert_eq!(parse_reply("stream: OK", 10), Ok(Verdict::Clean));
        assert_eq!(
            parse_reply("stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0", 10),
            Ok(Verdict::Infected("Eicar-Test-Signature.UNOFFICIAL".into()))
        );
        assert_eq!(
            parse_reply("INSTREAM size limit exceeded. ERROR", 10),
            Err(ScanError::LimitExceeded(10))
        );
        assert!(matches!(
            parse_reply("stream: Can't allocate memory ERROR", 10),
            Err(ScanError::Unavailable(r)) if r.contains("allocate")
        ));
        assert!(matches!(
            parse_reply("", 10),
            Err(ScanError::Unavailable(_))
        ));
        assert!(matches!(
            parse_reply("UNKNOWN COMMAND", 10),
            Err(ScanError::Unavailable(_))
        ));
    }

    #[test]
    fn addresses() {
        assert_eq!(
            ClamdAddr::parse("tcp://127.0.0.1:3310"),
            Ok(ClamdAddr::Tcp("127.0.0.1:3310".into()))
        );
        assert_eq!(
            ClamdAddr::parse("unix:///run/clamav/clamd.ctl"),
            Ok(ClamdAddr::Unix("/run/clamav/clamd.ctl".into()))
        );
        assert!(ClamdAddr::parse("127.0.0.1:3310").is_err());
        assert!(ClamdAddr::parse("tcp://127.0.0.1").is_err());
        assert!(ClamdAddr::parse("tcp://127.0.0.1:99999").is_err());
        assert!(ClamdAddr::parse("unix://relative.sock").is_err());
    }

    #[test]
    fn stream_limit_from_clamd_conf() {
        let conf = "# StreamMaxLength 1M\nLocalSocket /run/clamav/clamd.ctl\nStreamMaxLength 25M\nMaxThreads 12\n";
        assert_eq!(stream_max_length(conf), Some(25 * 1024 * 1024));
        assert_eq!(
            stream_max_length("StreamMaxLength 200m\nStreamMaxLength 1G"),
            Some(1 << 30)
        );
        assert_eq!(stream_max_length("StreamMaxLength 4096"), Some(4096));
        assert_eq!(stream_max_length("StreamMaxLength lots"), None);
        assert_eq!(stream_max_length("MaxThreads 4"), None);
        let missing = Path::new("/nonexistent/clamd.conf");
        assert_eq!(
            resolve_stream_limit(None, missing).0,
            CLAMD_DEFAULT_STREAM_MAX
        );
        assert_eq!(resolve_stream_limit(Some(7), missing).0, 7);
    }
}
