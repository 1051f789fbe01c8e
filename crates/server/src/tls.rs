//! TLS as BSI TR-02102-2 recommends it, with rustls (ring provider).
//!
//! `tls.profile = "bsi"` (the default):
//! - TLS 1.3, and TLS 1.2 only with Extended Master Secret (RFC 7627);
//! - the AEAD suites of TR-02102-2 in the server's order: TLS_AES_256_GCM_SHA384,
//!   TLS_AES_128_GCM_SHA256, ECDHE_{ECDSA,RSA}_WITH_AES_{256,128}_GCM;
//! - key exchange on secp384r1 and secp256r1 (the ring provider has no hybrid ML-KEM
//!   group; X25519 is left to `compat`);
//! - no 0-RTT, no renegotiation (rustls has none), TLS 1.3 resumption only with (EC)DHE;
//! - a certificate key of at least RSA 3072 or ECDSA P-256 (checked at start and at
//!   every reload; Ed25519 only in `compat`).
//!
//! `compat` adds ChaCha20-Poly1305 and X25519 and takes TLS 1.2 clients without EMS
//! (RSA keys from 2048 bits), for old clients. `tls.min_version = "1.3"` drops TLS 1.2.
//!
//! The certificate is read again on SIGHUP and whenever its files change (checked every
//! 5 seconds: two `stat` calls), without a restart, so that ACME renewals take effect; a file that does not
//! load is reported and the old certificate kept. Its expiry is watched: a metric, and a
//! banner for admins `tls.expiry_warning_days` before.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::{cipher_suite, default_provider, kx_group};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, SupportedCipherSuite, version};
use serde::{Deserialize, Serialize};

/// How often the certificate's files are looked at for a change.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Which TLS the server offers (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsProfile {
    #[default]
    Bsi,
    Compat,
}

/// The lowest protocol version offered: `"1.2"` or `"1.3"` (also as a number, which is
/// what `AMTSBOTE_TLS__MIN_VERSION=1.3` arrives as).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum MinVersion {
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

impl<'de> Deserialize<'de> for MinVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            Raw::Number(n) => format!("{n:.1}"),
        };
        match text.trim() {
            "1.2" => Ok(MinVersion::Tls12),
            "1.3" => Ok(MinVersion::Tls13),
            other => Err(serde::de::Error::custom(format!(
                "tls.min_version must be \"1.2\" or \"1.3\", not {other:?}"
            ))),
        }
    }
}

/// What the server knows of the certificate in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Unix seconds.
    pub not_after: i64,
    /// e.g. "ECDSA P-256", "RSA 3072".
    pub key: String,
}

/// The certificate in use, shared with the monitoring and the admin banner.
#[derive(Debug, Default)]
pub struct CertStatus {
    current: Mutex<Option<CertInfo>>,
    warning_days: u64,
}

impl CertStatus {
    pub fn new(warning_days: u64) -> Self {
        Self {
            current: Mutex::new(None),
            warning_days,
        }
    }

    pub fn info(&self) -> Option<CertInfo> {
        self.current.lock().ok().and_then(|c| c.clone())
    }

    fn set(&self, info: CertInfo) {
        if let Ok(mut c) = self.current.lock() {
            *c = Some(info);
        }
    }

    /// Seconds until the certificate expires (negative once it has).
    pub fn seconds_left(&self, now: SystemTime) -> Option<i64> {
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        self.info().map(|i| i.not_after - now)
    }

    /// Days left, when they are fewer than the warning period (for the banner).
    pub fn expiry_warning(&self, now: SystemTime) -> Option<i64> {
        let left = self.seconds_left(now)?;
        let limit = i64::try_from(self.warning_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
        (left < limit).then(|| left.div_euclid(86_400))
    }
}

/// The suites and groups of a profile, in the server's order of preference.
pub fn provider(profile: TlsProfile) -> CryptoProvider {
    let base = default_provider();
    match profile {
        TlsProfile::Bsi => {
            let suites: Vec<SupportedCipherSuite> = vec![
                cipher_suite::TLS13_AES_256_GCM_SHA384,
                cipher_suite::TLS13_AES_128_GCM_SHA256,
                cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            ];
            CryptoProvider {
                cipher_suites: suites,
                kx_groups: vec![kx_group::SECP384R1, kx_group::SECP256R1],
                ..base
            }
        }
        TlsProfile::Compat => base,
    }
}

/// Reads the certificate chain and key and builds the server's TLS configuration;
/// refuses a key weaker than the profile allows.
pub fn load(
    cert: &Path,
    key: &Path,
    profile: TlsProfile,
    min: MinVersion,
) -> anyhow::Result<(ServerConfig, CertInfo)> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading tls.cert {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading tls.cert {}", cert.display()))?;
    let first = chain
        .first()
        .with_context(|| format!("tls.cert {}: no certificate in the file", cert.display()))?;
    let info = inspect(first, profile).with_context(|| format!("tls.cert {}", cert.display()))?;
    let private = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading tls.key {}", key.display()))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = match min {
        MinVersion::Tls12 => &[&version::TLS13, &version::TLS12],
        MinVersion::Tls13 => &[&version::TLS13],
    };
    let mut cfg = ServerConfig::builder_with_provider(Arc::new(provider(profile)))
        .with_protocol_versions(versions)
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .context("tls.cert and tls.key do not form a usable pair")?;
    cfg.ignore_client_order = true;
    cfg.max_early_data_size = 0;
    cfg.require_ems = profile == TlsProfile::Bsi;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((cfg, info))
}

/// The key type and size and the expiry of a certificate, checked against the profile.
fn inspect(der: &CertificateDer<'_>, profile: TlsProfile) -> anyhow::Result<CertInfo> {
    use x509_parser::public_key::PublicKey;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow::anyhow!("the certificate cannot be read: {e}"))?;
    let spki = cert.public_key();
    let ed25519 = spki.algorithm.algorithm.to_id_string() == "1.3.101.112";
    let (key, ok) = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            let min = if profile == TlsProfile::Bsi {
                3072
            } else {
                2048
            };
            (format!("RSA {bits}"), bits >= min)
        }
        Ok(PublicKey::EC(ec)) => {
            let bits = ec.key_size();
            let name = match bits {
                256 => "ECDSA P-256".to_string(),
                384 => "ECDSA P-384".to_string(),
                521 | 528 => "ECDSA P-521".to_string(),
                b => format!("ECDSA {b} bits"),
            };
            (name, bits >= 256)
        }
        _ if ed25519 => ("Ed25519".to_string(), profile == TlsProfile::Compat),
        _ => ("unknown key type".to_string(), false),
    };
    if !ok {
        anyhow::bail!(
            "the certificate's key ({key}) is too weak for tls.profile = {:?}: use ECDSA P-256 or P-384, or RSA with at least 3072 bits (BSI TR-02102-2)",
            match profile {
                TlsProfile::Bsi => "bsi",
                TlsProfile::Compat => "compat",
            }
        );
    }
    Ok(CertInfo {
        not_after: cert.validity().not_after.timestamp(),
        key,
    })
}

/// Loads the configuration for `serve` and records the certificate.
pub struct Loaded {
    pub rustls: axum_server::tls_rustls::RustlsConfig,
    pub status: Arc<CertStatus>,
}

pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub profile: TlsProfile,
    pub min: MinVersion,
}

impl TlsFiles {
    pub fn load(&self, status: Arc<CertStatus>) -> anyhow::Result<Loaded> {
        let (cfg, info) = load(&self.cert, &self.key, self.profile, self.min)?;
        log_certificate(&info, &status);
        status.set(info);
        Ok(Loaded {
            rustls: axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(cfg)),
            status,
        })
    }

    fn stamp(&self) -> Option<(SystemTime, SystemTime)> {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((m(&self.cert)?, m(&self.key)?))
    }

    /// Reads the files again on SIGHUP and when they change; ends with `stop`.
    pub fn watch(self, loaded: &Loaded, mut stop: tokio::sync::watch::Receiver<bool>) {
        let rustls = loaded.rustls.clone();
        let status = loaded.status.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hup = match tokio::signal::unix::signal(
                tokio::signal::unix::SignalKind::hangup(),
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "no SIGHUP handler: the certificate is reloaded when its files change");
                    None
                }
            };
            let mut seen = self.stamp();
            let mut tick = tokio::time::interval(CHECK_EVERY);
            tick.tick().await;
            loop {
                #[cfg(unix)]
                let hup_recv = async {
                    match hup.as_mut() {
                        Some(h) => {
                            h.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                #[cfg(not(unix))]
                let hup_recv = std::future::pending::<()>();
                let asked = tokio::select! {
                    () = hup_recv => true,
                    _ = tick.tick() => false,
                    _ = stop.changed() => return,
                };
                let now = self.stamp();
                if !asked && now == seen {
                    continue;
                }
                seen = now;
                match load(&self.cert, &self.key, self.profile, self.min) {
                    Ok((cfg, info)) => {
                        rustls.reload_from_config(Arc::new(cfg));
                        tracing::info!(key = %info.key, not_after = info.not_after, "TLS certificate reloaded");
                        log_certificate(&info, &status);
                        status.set(info);
                    }
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "TLS certificate not reloaded; the previous one stays in use"
                    ),
                }
            }
        });
    }
}

fn log_certificate(info: &CertInfo, status: &CertStatus) {
    let left_days = (info.not_after
        - SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0))
    .div_euclid(86_400);
    if left_days < 0 {
        tracing::error!(key = %info.key, "the TLS certificate has EXPIRED; clients will refuse the connection");
    } else if left_days < i64::try_from(status.warning_days).unwrap_or(i64::MAX) {
        tracing::warn!(key = %info.key, days_left = left_days, "the TLS certificate expires soon");
    } else {
        tracing::info!(key = %info.key, days_left = left_days, "TLS certificate");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsi_offers_only_the_recommended_suites_and_groups() {
        let p = provider(TlsProfile::Bsi);
        let names: Vec<String> = p
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert!(names.iter().all(|n| !n.contains("CHACHA")), "{names:?}");
        assert_eq!(names.len(), 6);
        let groups: Vec<String> = p
            .kx_groups
            .iter()
            .map(|g| format!("{:?}", g.name()))
            .collect();
        assert_eq!(groups, ["secp384r1", "secp256r1"]);
        let compat = provider(TlsProfile::Compat);
        assert!(
            compat
                .kx_groups
                .iter()
                .any(|g| format!("{:?}", g.name()) == "X25519")
        );
    }

    #[test]
    fn min_version_reads_text_and_numbers() {
        let v: MinVersion = serde_json::from_str("\"1.3\"").expect("text");
        assert_eq!(v, MinVersion::Tls13);
        let v: MinVersion = serde_json::from_str("1.2").expect("number");
        assert_eq!(v, MinVersion::Tls12);
        assert!(serde_json::from_str::<MinVersion>("\"1.1\"").is_err());
    }

    #[test]
    fn expiry_warning_counts_days() {
        let status = CertStatus::new(30);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(status.expiry_warning(now), None, "nothing known yet");
        status.set(CertInfo {
            not_after: 1_000_000_000 + 40 * 86_400,
            key: "ECDSA P-256".into(),
        });
        assert_eq!(status.expiry_warning(now), None);
        status.set(CertInfo {
            not_after: 1_000_000_000 + 12 * 86_400 + 5,
            key: "ECDSA P-256".into(),
        });
        assert_eq!(status.expiry_warning(now), Some(12));
        assert_eq!(status.seconds_left(now), Some(12 * 86_400 + 5));
    }
}
