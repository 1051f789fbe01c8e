//! Building the application from configuration and running the HTTP(S) listener with
//! graceful shutdown and the background cleanup job.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use amtsbote_core::auth::accounts::{AccountKind, NewAccount};
use amtsbote_core::clock::{Clock, SystemClock};
use amtsbote_core::db::Db;
use amtsbote_core::members::MemberInput;
use amtsbote_core::scan::clamd::{Clamd, ClamdAddr, ClamdOptions, resolve_stream_limit};
use amtsbote_core::scan::{ScanOff, Scanner};
use amtsbote_core::settings::{OnUnavailable, ScanMode, ScanSettings};
use amtsbote_core::storage::blob::LocalDisk;
use amtsbote_core::{Actor, App, StaffRole};
use anyhow::Context;
use tokio::sync::watch;

use crate::config::Config;
use crate::web::{self, AppState, WebSettings};

/// Connects the database (applying migrations), opens blob storage and the scanner.
pub async fn build_app(cfg: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    std::fs::create_dir_all(&cfg.server.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.server.data_dir.display()))?;
    let url = cfg.database_url();
    let db = Db::connect(&url)
        .await
        .with_context(|| format!("connecting to database {}", crate::config::redact_url(&url)))?;
    let blobs = LocalDisk::open_dir(cfg.server.data_dir.join("storage"))
        .await
        .context("opening blob storage")?;
    let scanner: Arc<dyn Scanner> = match cfg.scan.mode {
        ScanMode::Off => Arc::new(ScanOff::default()),
        ScanMode::Clamd => Arc::new(clamd_scanner(&cfg.scan)?),
    };
    let app = App::new(db, Arc::new(blobs), scanner, clock, cfg.settings());
    // The checkpoints of the audit chain are signed with the key from a file; without
    // one configured, a key is made in the data directory at the first start.
    let (key_path, create) = match &cfg.audit.signing_key_file {
        Some(p) => (p.clone(), false),
        None => (cfg.server.data_dir.join("audit-signing-key"), true),
    };
    let signer = amtsbote_core::audit::seal::Signer::from_file(
        &format!("amtsbote/{}", cfg.authority.name),
        &key_path,
        create,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(app.with_audit_signer(signer))
}

/// The ClamAV client as configured; clamd's stream limit is read now, once.
fn clamd_scanner(scan: &ScanSettings) -> anyhow::Result<Clamd> {
    let addr = ClamdAddr::parse(&scan.clamd).map_err(anyhow::Error::msg)?;
    let (stream_limit, source) = resolve_stream_limit(scan.stream_max_bytes, &scan.clamd_config);
    let timeout = Duration::from_secs(scan.timeout_seconds.max(1));
    tracing::info!(
        clamd = %addr,
        stream_limit,
        source,
        max_concurrent = scan.max_concurrent,
        "virus scanning with clamd"
    );
    if scan.on_unavailable == OnUnavailable::Allow {
        tracing::error!(
            "scan.on_unavailable = \"allow\": while clamd is unavailable, uploads are stored UNSCANNED"
        );
    }
    Ok(Clamd::new(ClamdOptions {
        addr,
        connect_timeout: timeout.min(Duration::from_secs(5)),
        io_timeout: timeout,
        verdict_timeout: timeout,
        max_concurrent: scan.max_concurrent.max(1),
        stream_limit,
    }))
}

pub fn cli_actor() -> Actor {
    let os_user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    Actor::Cli { os_user }
}

/// On an empty database: the first admin, with a one-time password for the terminal.
pub async fn ensure_first_admin(app: &App) -> anyhow::Result<Option<String>> {
    if app.count_accounts().await? > 0 {
        return Ok(None);
    }
    let (_, otp) = app
        .create_account(
            &cli_actor(),
            NewAccount {
                login: "admin".into(),
                display_name: "Administration".into(),
                email: "admin@example.invalid".into(),
                kind: AccountKind::Staff(StaffRole::Admin),
            },
        )
        .await?;
    Ok(Some(otp))
}

/// `serve --demo`: two members, a clerk and a user per member, once.
pub async fn seed_demo(app: &App) -> anyhow::Result<Vec<(String, String)>> {
    let cli = cli_actor();
    match app.member_numbered(&cli, "1001").await {
        Ok(_) => return Ok(Vec::new()),
        Err(amtsbote_core::Error::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let a = app
        .create_member(
            &cli,
            MemberInput {
                number: "1001".into(),
                name: "Stadt Musterstadt".into(),
                postal_address: "Stadt Musterstadt\nPersonalamt\nMarktplatz 1\n14467 Musterstadt"
                    .into(),
                emails: vec!["personalamt@musterstadt.example".into()],
                authority_emails: Vec::new(),
            },
        )
        .await?;
    let b = app
        .create_member(
            &cli,
            MemberInput {
                number: "1002".into(),
                name: "Gemeinde Beispielheim".into(),
                postal_address: "Gemeinde Beispielheim\nHauptamt\nDorfstraße 5\n15806 Beispielheim"
                    .into(),
                emails: vec!["hauptamt@beispielheim.example".into()],
                authority_emails: Vec::new(),
            },
        )
        .await?;
    let mut out = Vec::new();
    for (login, name, email, kind) in [
        (
            "sachbearbeitung",
            "Sabine Sachbearbeiterin",
            "sachbearbeitung@kvbbg.example",
            AccountKind::Staff(StaffRole::Clerk),
        ),
        (
            "musterstadt",
            "Max Mustermann (Stadt Musterstadt)",
            "max.mustermann@musterstadt.example",
            AccountKind::MemberUser { member_id: a.id },
        ),
        (
            "beispielheim",
            "Erika Beispiel (Gemeinde Beispielheim)",
            "erika.beispiel@beispielheim.example",
            AccountKind::MemberUser { member_id: b.id },
        ),
    ] {
        let (_, otp) = app
            .create_account(
                &cli,
                NewAccount {
                    login: login.into(),
                    display_name: name.into(),
                    email: email.into(),
                    kind,
                },
            )
            .await?;
        out.push((login.to_string(), otp));
    }
    app.assign_clerk(&cli, "sachbearbeitung", "1001", true)
        .await?;
    app.assign_clerk(&cli, "sachbearbeitung", "1002", true)
        .await?;
    Ok(out)
}

/// A running server; dropping the sender stops it.
pub struct Running {
    pub addr: SocketAddr,
    /// The monitoring listener (`metrics.listen`), if configured.
    pub metrics_addr: Option<SocketAddr>,
    pub tls: bool,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, lets running requests finish (up to 30 s), stops background jobs.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await.context("server task")?
    }

    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }
}

/// How often the notification worker looks for work when nobody wakes it.
const NOTIFY_TICK: Duration = Duration::from_secs(2);
/// How often new audit entries are linked into the chain.
const AUDIT_CHAIN_TICK: Duration = Duration::from_secs(1);
const AUDIT_PRUNE_FIRST: Duration = Duration::from_secs(10 * 60);
const AUDIT_PRUNE_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a stopping server waits for the mail in hand (above the SMTP timeout).
const NOTIFY_STOP: Duration = Duration::from_secs(35);

/// Binds and starts serving; returns once the socket listens.
pub async fn start(cfg: &Config, app: App, listen: SocketAddr) -> anyhow::Result<Running> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let tls = cfg.tls_enabled();
    let (tx, mut rx) = watch::channel(false);
    let tls_status = Arc::new(crate::tls::CertStatus::new(cfg.tls.expiry_warning_days));
    let tls_loaded = match (cfg.tls.cert.clone(), cfg.tls.key.clone()) {
        (Some(cert), Some(key)) => {
            let files = crate::tls::TlsFiles {
                cert,
                key,
                profile: cfg.tls.profile,
                min: cfg.tls.min_version,
            };
            let loaded = files.load(tls_status.clone())?;
            files.watch(&loaded, tx.subscribe());
            Some(loaded)
        }
        _ => None,
    };
    let state = AppState {
        app: app.clone(),
        web: Arc::new(WebSettings {
            secure_cookies: tls || cfg.server.secure_cookies,
            metrics_token: cfg
                .metrics_token()?
                .map(crate::monitoring::BearerToken::new),
            tls: tls_loaded.as_ref().map(|l| l.status.clone()),
        }),
    };
    let router = crate::security_headers::apply(
        crate::dav_door::mount(web::router(state), app.clone()),
        tls,
    )
    .layer(axum::middleware::map_request(
        crate::connections::body_timeout(Duration::from_secs(cfg.server.body_timeout_seconds)),
    ))
    .layer(axum::middleware::from_fn(crate::request_id::layer))
    .into_make_service_with_connect_info::<SocketAddr>();
    let per_address =
        crate::connections::PerAddressLimit::new(cfg.server.max_connections_per_address);
    let header_timeout = Duration::from_secs(cfg.server.header_timeout_seconds);
    let handle = axum_server::Handle::new();

    let cleanup_app = app.clone();
    let mut cleanup_rx = tx.subscribe();
    let cleanup = tokio::spawn(async move {
        loop {
            match cleanup_app.cleanup_storage(3_600_000).await {
                Ok(r) if r != Default::default() => {
                    tracing::info!(
                        staging = r.staging_removed,
                        blobs = r.blobs_removed,
                        uploads = r.uploads_removed,
                        locks = r.locks_removed,
                        quarantine = r.quarantine_removed,
                        notifications = r.notifications_removed,
                        "storage cleanup"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "storage cleanup failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                _ = cleanup_rx.changed() => break,
            }
        }
    });

    // Files notification events into mails and sends them; ends with the server.
    let mailer = if cfg.mail.host.trim().is_empty() {
        tracing::warn!(
            "mail.host is not set: notifications are kept in the outbox until a mail server is configured"
        );
        None
    } else {
        Some(amtsbote_core::notify::mail::Mailer::from_settings(
            &cfg.mail,
        )?)
    };
    let texts = Arc::new(
        amtsbote_core::notify::templates::Texts::load(&cfg.notify)
            .map_err(|e| anyhow::anyhow!("notify templates: {e}"))?,
    );
    for file in &texts.overridden {
        tracing::info!(file = %file, "mail template from the operator");
    }
    let notify_app = app.clone();
    let notifier =
        tokio::spawn(async move { notify_app.run_notifier(mailer, texts, NOTIFY_TICK).await });
    // On shutdown the worker finishes the mail in hand (the server task waits for it),
    // so a mail the mail server accepted is never sent again after the restart.
    let stop_app = app.clone();
    let mut notify_rx = tx.subscribe();
    tokio::spawn(async move {
        let _ = notify_rx.changed().await;
        stop_app.stop_notifier();
    });

    // Links new audit entries into the chain and seals epochs; every node runs it (a
    // link is taken by its unique keys, so two nodes never make two chains).
    let chain_app = app.clone();
    let mut chain_rx = tx.subscribe();
    if !app.settings.audit.chain {
        tracing::error!(
            "audit.chain = false: audit entries are NOT chained, sealed or pruned (meant for benchmarks only)"
        );
    }
    let chain_on = app.settings.audit.chain;
    tokio::spawn(async move {
        if !chain_on {
            return;
        }
        if let Err(e) = chain_app.chain_audit_fully(false).await {
            tracing::error!(error = %e, "linking the audit log failed");
        }
        // Retention runs a while after the start and then daily, by the monotonic clock:
        // not in the seconds of a start, when the operator may still be looking.
        let mut next_prune = tokio::time::Instant::now() + AUDIT_PRUNE_FIRST;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(AUDIT_CHAIN_TICK) => {}
                _ = chain_rx.changed() => break,
            }
            if let Err(e) = chain_app.chain_audit().await {
                tracing::error!(error = %e, "linking the audit log failed");
            }
            if tokio::time::Instant::now() >= next_prune {
                next_prune += AUDIT_PRUNE_EVERY;
                if let Err(e) = chain_app.prune_audit(None).await {
                    tracing::error!(error = %e, "pruning the audit log failed");
                }
            }
        }
    });

    // Probes the scanner and records outages; ends with the server.
    let watch_app = app.clone();
    let mut watch_rx = tx.subscribe();
    tokio::spawn(async move {
        tokio::select! {
            () = watch_app.watch_scanner(Duration::from_secs(30)) => {}
            _ = watch_rx.changed() => {}
        }
    });

    // The monitoring listener: plain HTTP on an address only the monitoring reaches.
    let metrics_handle = axum_server::Handle::new();
    let metrics_addr = match cfg.metrics.listen {
        Some(at) => {
            let l = std::net::TcpListener::bind(at)
                .with_context(|| format!("binding metrics.listen {at}"))?;
            l.set_nonblocking(true)?;
            let bound = l.local_addr()?;
            let service = crate::security_headers::apply(
                crate::monitoring::router(
                    app.clone(),
                    tls_loaded.as_ref().map(|l| l.status.clone()),
                ),
                false,
            )
            .into_make_service();
            let mh = metrics_handle.clone();
            tokio::spawn(async move {
                if let Err(e) = axum_server::from_tcp(l).handle(mh).serve(service).await {
                    tracing::error!(error = %e, "monitoring listener failed");
                }
            });
            metrics_handle
                .listening()
                .await
                .context("monitoring listener did not start")?;
            tracing::info!(listen = %bound, "monitoring listener (/metrics, /readyz)");
            Some(bound)
        }
        None => None,
    };

    let h = handle.clone();
    tokio::spawn(async move {
        let _ = rx.changed().await;
        metrics_handle.shutdown();
        h.graceful_shutdown(Some(Duration::from_secs(30)));
    });

    let server_handle = handle.clone();
    let task = if let Some(loaded) = tls_loaded {
        let tls_cfg = loaded.rustls;
        let mut server =
            axum_server::from_tcp_rustls(listener, tls_cfg).map(|tls| tls.acceptor(per_address));
        crate::connections::configure(server.http_builder(), header_timeout);
        tokio::spawn(async move {
            server.handle(server_handle).serve(router).await?;
            let _ = cleanup.await;
            let _ = tokio::time::timeout(NOTIFY_STOP, notifier).await;
            Ok(())
        })
    } else {
        let mut server = axum_server::from_tcp(listener).acceptor(per_address);
        crate::connections::configure(server.http_builder(), header_timeout);
        tokio::spawn(async move {
            server.handle(server_handle).serve(router).await?;
            let _ = cleanup.await;
            let _ = tokio::time::timeout(NOTIFY_STOP, notifier).await;
            Ok(())
        })
    };
    handle.listening().await.context("server did not start")?;
    Ok(Running {
        addr,
        metrics_addr,
        tls,
        shutdown: tx,
        task,
    })
}

pub struct ServeOptions {
    pub listen: Option<SocketAddr>,
    pub demo: bool,
}

/// `amtsbote serve`: runs until SIGINT/SIGTERM.
pub async fn serve(mut cfg: Config, opts: ServeOptions) -> anyhow::Result<()> {
    if opts.demo {
        // The demo runs without ClamAV; admins see the warning banner.
        cfg.scan.mode = ScanMode::Off;
    }
    if cfg.scan.mode == ScanMode::Off {
        tracing::warn!(
            "virus scanning is OFF (scan.mode = \"off\"): uploads are not checked; development and demonstration only"
        );
    }
    let app = build_app(&cfg, Arc::new(SystemClock)).await?;
    if let Some(otp) = ensure_first_admin(&app).await? {
        hand_over_first_admin(&cfg, &otp, opts.demo)?;
    } else {
        remove_spent_admin_password(&cfg, &app).await;
    }
    if opts.demo {
        let seeded = seed_demo(&app).await?;
        if !seeded.is_empty() {
            println!(
                "Demo data created: members 1001 Stadt Musterstadt and 1002 Gemeinde Beispielheim."
            );
            for (login, otp) in seeded {
                println!("  login: {login:<16} one-time password: {otp}");
            }
            println!();
        }
    }
    let listen = opts.listen.unwrap_or(cfg.server.listen);
    let shutdown = shutdown_signal()?;
    let running = start(&cfg, app.clone(), listen).await?;
    println!(
        "amtsbote is listening on {}/  (data: {})",
        running.url(),
        data_dir_display(&cfg.server.data_dir)
    );
    shutdown.await;
    tracing::info!("shutting down: finishing running requests");
    running.stop().await?;
    app.db.close().await;
    Ok(())
}

/// Where the first administrator's one-time password is kept when no terminal sees it.
pub fn initial_admin_password_file(cfg: &Config) -> PathBuf {
    cfg.server.data_dir.join("initial-admin-password")
}

/// Hands the first admin's one-time password to the operator, never to a log: on a
/// terminal (and in the demo) it is printed; otherwise (a service manager, whose
/// standard output is the journal) it goes into a file readable by the service user
/// only, and only the file's name is printed.
fn hand_over_first_admin(cfg: &Config, otp: &str, demo: bool) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    let text = format!(
        "First administrator created.\n  login:              admin\n  one-time password:  {otp}\n  (must be changed at first log-in)\n"
    );
    if demo || std::io::stdout().is_terminal() {
        println!("\n{text}");
        return Ok(());
    }
    let path = initial_admin_password_file(cfg);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    println!(
        "First administrator `admin` created. Its one-time password is in {} (readable by this user only; removed once admin has set a password).",
        data_dir_display(&path)
    );
    tracing::warn!(file = %path.display(), "first administrator created; one-time password written to the file");
    Ok(())
}

/// Removes the first admin's password file once admin has a password of its own.
async fn remove_spent_admin_password(cfg: &Config, app: &App) {
    let path = initial_admin_password_file(cfg);
    if !path.exists() {
        return;
    }
    let spent = match app.account_by_login(&cli_actor(), "admin").await {
        Ok(a) => !a.must_change_password(),
        Err(amtsbote_core::Error::NotFound) => true,
        Err(_) => false,
    };
    if spent {
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(file = %path.display(), "removed the spent one-time password of the first administrator")
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "could not remove the spent one-time password file")
            }
        }
    }
}

fn data_dir_display(p: &PathBuf) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.clone())
        .display()
        .to_string()
}

/// Registers for SIGINT/SIGTERM now and returns a future that resolves on either.
/// Registering before the listener starts matters: a signal that arrives in between
/// would otherwise kill the process outright instead of shutting it down gracefully.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
