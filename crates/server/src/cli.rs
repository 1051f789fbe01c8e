//! The admin command line. Every command accepts `--config` and `--data-dir`, so it
//! addresses the same database and storage as the server; every act is audited with
//! the actor `cli:<os user>`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use amtsbote_core::App;
use amtsbote_core::StaffRole;
use amtsbote_core::auth::accounts::{AccountKind, NewAccount};
use amtsbote_core::clock::SystemClock;
use amtsbote_core::members::MemberInput;
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::startup::{self, ServeOptions, cli_actor};

#[derive(Parser, Debug)]
#[command(
    name = "amtsbote",
    version,
    about = "Secure document exchange between a public authority and its members."
)]
pub struct Cli {
    /// Configuration file (TOML). Environment variables AMTSBOTE_<SECTION>__<KEY> override it.
    #[arg(long, global = true, env = "AMTSBOTE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database and stored files); overrides server.data_dir.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (default: http://127.0.0.1:8080, SQLite in ./data).
    Serve {
        /// Address and port to listen on, e.g. 0.0.0.0:8443.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Create demo members and accounts and switch virus scanning off (for trying it out).
        #[arg(long)]
        demo: bool,
    },
    /// Check the configuration and the database connection, then exit.
    CheckConfig,
    /// Write a self-signed certificate for trying HTTPS locally.
    DevCert {
        /// Directory for cert.pem and key.pem.
        #[arg(long, default_value = "data/tls")]
        out: PathBuf,
        /// Host names for the certificate.
        #[arg(long = "host", default_values_t = vec!["localhost".to_string(), "127.0.0.1".to_string()])]
        hosts: Vec<String>,
    },
    /// Members (organisations) and their spaces.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Accounts of member users (and password operations for any account).
    #[command(subcommand)]
    User(UserCmd),
    /// Staff accounts and their assignment to members.
    #[command(subcommand)]
    Staff(StaffCmd),
    /// Teams of staff that look after members together.
    #[command(subcommand)]
    Team(TeamCmd),
    /// E-mail: check the `[mail]` settings.
    #[command(subcommand)]
    Mail(MailCmd),
    /// Credential letters by post (PDF): each carries a new activation code.
    #[command(subcommand)]
    Letter(LetterCmd),
    /// The tamper-evident audit log: export, verify, the verifier key.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Remove leftovers of interrupted uploads now (the server also does this every 10 minutes).
    Cleanup {
        /// Only leftovers older than this many minutes: younger ones may belong to an
        /// upload still in progress on a running server.
        #[arg(long, default_value_t = 60)]
        grace_minutes: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum LetterCmd {
    /// The access letter of one account, with a new activation code (the old code and
    /// the account's sessions end; the holder gets the log-in link by e-mail).
    Print {
        login: String,
        /// Where the PDF goes.
        #[arg(long)]
        out: PathBuf,
    },
    /// One PDF with a letter per page for every member user who has not activated
    /// their access yet (or only those of one member).
    Batch {
        #[arg(long)]
        out: PathBuf,
        /// Only the users of this member (its number).
        #[arg(long)]
        member: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Write the audit log (entries, checkpoints and the verifier key) to a file: JSON
    /// lines for `audit verify`, or CSV for a spreadsheet.
    Export {
        /// First day or moment (UTC), e.g. 2026-12-01 or 2026-12-01T08:00:00Z.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive), as --from. Without it: up to now.
        #[arg(long)]
        to: Option<String>,
        /// `jsonl` (verifiable) or `csv`.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// The file to write (readable by the operator only).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check an export offline: every entry's hash, the chain, the checkpoints and their
    /// signatures. Exits with 1 and names the first wrong entry if anything is off.
    Verify {
        /// The JSON-lines export.
        export: PathBuf,
        /// The verifier key the auditor holds (`amtsbote audit key`); without it the key
        /// in the export is used, which proves only that the export agrees with itself.
        #[arg(long)]
        key: Option<String>,
    },
    /// Print the verifier key of the audit checkpoints (give it to the auditors).
    Key,
    /// Remove now the epochs older than `audit.retention_days`, whole epochs only, each
    /// after an `audit.pruned` entry (the server does this once a day; seals stay).
    Prune,
}

#[derive(Subcommand, Debug)]
pub enum MailCmd {
    /// Send a test mail to ADDRESS through the configured mail server and report what
    /// failed (connection, TLS, authentication, refusal).
    Test {
        /// Where the test mail goes.
        address: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum MemberCmd {
    /// Create a member with its space and the template folders.
    Add {
        #[arg(long)]
        number: String,
        #[arg(long)]
        name: String,
        /// Contact e-mail address; may be given several times. These addresses get the
        /// mails about new documents, like the member's users.
        #[arg(long = "email")]
        emails: Vec<String>,
        /// A mailbox of the authority (e.g. a team's functional address) that hears of
        /// this member's deliveries; may be given several times.
        #[arg(long = "authority-email")]
        authority_emails: Vec<String>,
        /// Postal address; use \n or several lines.
        #[arg(long, default_value = "")]
        address: String,
    },
    /// List members.
    List {
        #[arg(long, default_value = "")]
        search: String,
    },
    /// Show one member with its accounts and assigned clerks.
    Show { number: String },
    /// Deactivate a member: its users can no longer sign in.
    Deactivate { number: String },
    /// Re-activate a member.
    Activate { number: String },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a member user; prints a one-time password that must be changed at first log-in.
    Add(UserAdd),
    /// Set a password read from standard input (no forced change), for operators and automation.
    SetPassword {
        login: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Issue a new one-time password and end all sessions of the account.
    ResetPassword { login: String },
    /// Deactivate an account and end its sessions.
    Deactivate { login: String },
    /// Lift the lock that repeated failed sign-ins put on a login name.
    Unlock { login: String },
}

#[derive(Args, Debug)]
pub struct UserAdd {
    #[arg(long)]
    pub member: String,
    #[arg(long)]
    pub login: String,
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
}

#[derive(Subcommand, Debug)]
pub enum StaffCmd {
    /// Create a staff account (clerk, or admin with --admin); prints a one-time password.
    Add {
        #[arg(long)]
        login: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin: bool,
    },
    /// Make a staff member responsible for a member.
    Assign {
        login: String,
        #[arg(long)]
        member: String,
    },
    /// Remove that responsibility.
    Unassign {
        login: String,
        #[arg(long)]
        member: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TeamCmd {
    Add {
        name: String,
    },
    Join {
        name: String,
        #[arg(long)]
        login: String,
    },
    Leave {
        name: String,
        #[arg(long)]
        login: String,
    },
    Assign {
        name: String,
        #[arg(long)]
        member: String,
    },
    Unassign {
        name: String,
        #[arg(long)]
        member: String,
    },
    List,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::load(cli.config.as_deref(), cli.data_dir.as_deref())?;
    match cli.command {
        Command::Serve { listen, demo } => startup::serve(cfg, ServeOptions { listen, demo }).await,
        Command::CheckConfig => {
            let app = startup::build_app(&cfg, Arc::new(SystemClock)).await?;
            println!("configuration ok");
            println!(
                "  database:  {} ({})",
                app.db.backend().name(),
                crate::config::redact_url(&cfg.database_url())
            );
            println!("  data dir:  {}", cfg.server.data_dir.display());
            println!("  listen:    {}", cfg.server.listen);
            match (&cfg.tls.cert, &cfg.tls.key) {
                (Some(cert), Some(key)) => {
                    // The same checks as at start: key strength, a usable pair.
                    let (_, info) =
                        crate::tls::load(cert, key, cfg.tls.profile, cfg.tls.min_version)?;
                    let days = (info.not_after
                        - i64::try_from(
                            std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map(|d| d.as_secs())
                                .unwrap_or(0),
                        )
                        .unwrap_or(0))
                    .div_euclid(86_400);
                    println!(
                        "  tls:       on, profile {:?}, from TLS {}, {}, {} days left",
                        cfg.tls.profile,
                        match cfg.tls.min_version {
                            crate::tls::MinVersion::Tls12 => "1.2",
                            crate::tls::MinVersion::Tls13 => "1.3",
                        },
                        info.key,
                        days
                    );
                }
                _ => println!("  tls:       off"),
            }
            println!("  scan.mode: {}", app.scanner.mode());
            if let Some(limit) = app.scanner.stream_limit() {
                // Whether clamd answers now, so that a wrong socket shows before the
                // first refused upload.
                app.scanner.probe().await;
                let state = match app.scanner.health().state() {
                    amtsbote_core::scan::ScannerState::Unavailable { reason } => {
                        format!("UNAVAILABLE ({reason}); uploads would be refused")
                    }
                    s => s.label().to_string(),
                };
                println!(
                    "  scanner:   {} {state}, files up to {} MiB",
                    cfg.scan.clamd,
                    limit / (1024 * 1024)
                );
            }
            if cfg.mail.host.trim().is_empty() {
                println!("  mail:      not configured (notifications wait in the outbox)");
            } else {
                println!(
                    "  mail:      {}:{} ({:?}), from {}",
                    cfg.mail.host, cfg.mail.port, cfg.mail.security, cfg.mail.from
                );
            }
            let texts = amtsbote_core::notify::templates::Texts::load(&cfg.notify)
                .map_err(|e| anyhow::anyhow!("notify templates: {e}"))?;
            println!(
                "  notify:    window {} s, file names {}, {} tries, templates {}",
                cfg.notify.window_seconds,
                if cfg.notify.list_file_names {
                    "listed"
                } else {
                    "not listed"
                },
                cfg.notify.max_attempts,
                if texts.overridden.is_empty() {
                    "built in".to_string()
                } else {
                    texts.overridden.join(", ")
                }
            );
            println!(
                "  template:  {}",
                cfg.template
                    .folders
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        Command::DevCert { out, hosts } => dev_cert(&out, hosts),
        Command::Mail(MailCmd::Test { address }) => mail_test(&cfg, &address).await,
        Command::Audit(AuditCmd::Verify { export, key }) => audit_verify(&export, key.as_deref()),
        cmd => {
            let app = startup::build_app(&cfg, Arc::new(SystemClock)).await?;
            let result = admin(&app, cmd).await;
            app.db.close().await;
            result
        }
    }
}

/// `2026-12-01` (midnight UTC) or an RFC 3339 moment, as epoch milliseconds.
fn parse_moment(s: &str) -> anyhow::Result<i64> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    let date: jiff::civil::Date = s.parse().map_err(|_| {
        anyhow::anyhow!("{s:?} is neither a date (2026-12-01) nor a moment (2026-12-01T08:00:00Z)")
    })?;
    Ok(date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|e| anyhow::anyhow!("{s}: {e}"))?
        .timestamp()
        .as_millisecond())
}

/// `amtsbote audit verify EXPORT`: offline, without the database.
fn audit_verify(export: &std::path::Path, key: Option<&str>) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(export).map_err(|e| anyhow::anyhow!("{}: {e}", export.display()))?;
    let mut reader = std::io::BufReader::new(file);
    match amtsbote_core::audit::export::verify(&mut reader, key) {
        Ok(r) => {
            println!(
                "audit export verified: {} entries, {} checkpoints, {} entries not yet sealed",
                r.entries, r.checkpoints, r.unsealed
            );
            if r.pruned_below > 0 {
                println!(
                    "  entries before seq {} were removed by retention; the chain starts at their checkpoint",
                    r.pruned_below
                );
            }
            if key.is_none() {
                println!(
                    "  checked with the key in the export ({}); give --key to check against the key you hold",
                    r.key
                );
            }
            Ok(())
        }
        Err(p) => {
            println!("AUDIT EXPORT INVALID: {p}");
            std::process::exit(1);
        }
    }
}

/// `amtsbote mail test ADDRESS`: one mail in the authority's words, without touching the
/// database, so that the mail settings can be checked before anything else runs.
async fn mail_test(cfg: &Config, address: &str) -> anyhow::Result<()> {
    use amtsbote_core::notify::mail::{Mail, Mailer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mailer = Mailer::from_settings(&cfg.mail)?;
    let authority = &cfg.authority.display_name;
    let mail = Mail {
        to: address.to_string(),
        subject: format!("Testnachricht: E-Mail-Versand für die {authority} geprüft"),
        text: format!(
            "Sehr geehrte Damen und Herren,\n\ndiese Nachricht prüft die E-Mail-Einstellungen des Dokumentenaustauschs der {authority}. Wenn Sie sie lesen, funktioniert der Versand.\n\nMit freundlichen Grüßen\nIhre {authority}\n"
        ),
        html: None,
        message_id: None,
    };
    mailer.send(&mail).await?;
    println!(
        "test mail to {address} accepted by {}:{}",
        cfg.mail.host, cfg.mail.port
    );
    Ok(())
}

async fn admin(app: &App, cmd: Command) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        Command::Member(MemberCmd::Add {
            number,
            name,
            emails,
            authority_emails,
            address,
        }) => {
            let m = app
                .create_member(
                    &actor,
                    MemberInput {
                        number,
                        name,
                        postal_address: address.replace("\\n", "\n"),
                        emails,
                        authority_emails,
                    },
                )
                .await
                .map_err(describe)?;
            println!("member {} {} created with its space", m.number, m.name);
        }
        Command::Member(MemberCmd::List { search }) => {
            for m in app.visible_members(&actor, &search).await? {
                println!(
                    "{}\t{}\t{}",
                    m.number,
                    m.name,
                    if m.active != 0 { "active" } else { "inactive" }
                );
            }
        }
        Command::Member(MemberCmd::Show { number }) => {
            let m = app
                .member_numbered(&actor, &number)
                .await
                .map_err(|e| not_found(e, "no such member"))?;
            println!(
                "number:   {}\nname:     {}\nactive:   {}",
                m.number,
                m.name,
                m.is_active()
            );
            println!("address:  {}", m.postal_address.replace('\n', ", "));
            println!("e-mails:  {}", m.email_list().join(", "));
            println!(
                "authority mailboxes: {}",
                m.authority_email_list().join(", ")
            );
            for u in app.member_users(&actor, m.id).await? {
                println!(
                    "user:     {} <{}> {}{}",
                    u.login,
                    u.email,
                    u.display_name,
                    if u.is_active() { "" } else { " (inactive)" }
                );
            }
            for c in app.assigned_clerks(&actor, m.id).await? {
                println!("clerk:    {} {}", c.login, c.display_name);
            }
        }
        Command::Member(MemberCmd::Deactivate { number }) => {
            app.set_member_active(&actor, &number, false)
                .await
                .map_err(describe)?;
            println!("member {number} deactivated");
        }
        Command::Member(MemberCmd::Activate { number }) => {
            app.set_member_active(&actor, &number, true)
                .await
                .map_err(describe)?;
            println!("member {number} activated");
        }
        Command::User(UserCmd::Add(u)) => {
            let m = app
                .member_numbered(&actor, &u.member)
                .await
                .map_err(|e| not_found(e, "no such member"))?;
            let (a, otp) = app
                .create_account(
                    &actor,
                    NewAccount {
                        login: u.login,
                        display_name: u.name,
                        email: u.email,
                        kind: AccountKind::MemberUser { member_id: m.id },
                    },
                )
                .await
                .map_err(describe)?;
            print_otp(&a.login, &otp);
        }
        Command::User(UserCmd::SetPassword { login, .. }) => {
            let mut pw = String::new();
            std::io::stdin()
                .read_to_string(&mut pw)
                .context("reading the password from stdin")?;
            let pw = pw.strip_suffix('\n').unwrap_or(&pw);
            let pw = pw.strip_suffix('\r').unwrap_or(pw);
            app.set_password(&actor, &login, pw)
                .await
                .map_err(describe)?;
            println!("password of {login} set");
        }
        Command::User(UserCmd::ResetPassword { login }) => {
            let a = app
                .account_by_login(&actor, &login)
                .await
                .map_err(|e| not_found(e, "no such account"))?;
            let otp = app.reset_password(&actor, a.id).await.map_err(describe)?;
            print_otp(&a.login, &otp);
        }
        Command::Letter(LetterCmd::Print { login, out }) => {
            let a = app
                .account_by_login(&actor, &login)
                .await
                .map_err(|e| not_found(e, "no such account"))?;
            let issued = app
                .issue_access_letters(&actor, &[a.id])
                .await
                .map_err(letters_error)?;
            write_letters(app, &issued, &out)?;
            println!("letter for {login} written to {}", out.display());
        }
        Command::Letter(LetterCmd::Batch { out, member }) => {
            let member_id = match &member {
                Some(n) => Some(
                    app.member_numbered(&actor, n)
                        .await
                        .map_err(|e| not_found(e, &format!("no member {n}")))?
                        .id,
                ),
                None => None,
            };
            let ids: Vec<i64> = app
                .unactivated_accounts(&actor)
                .await?
                .into_iter()
                .filter(|a| member_id.is_none() || a.member_id == member_id)
                .map(|a| a.id)
                .collect();
            if ids.is_empty() {
                anyhow::bail!("every access is activated: no letters to print");
            }
            let issued = app
                .issue_access_letters(&actor, &ids)
                .await
                .map_err(letters_error)?;
            write_letters(app, &issued, &out)?;
            println!("{} letters written to {}", issued.len(), out.display());
        }
        Command::User(UserCmd::Unlock { login }) => {
            app.unlock_login(&actor, &login)
                .await
                .map_err(|e| match e {
                    amtsbote_core::Error::NotFound => anyhow::anyhow!("{login} is not locked"),
                    e => describe(e),
                })?;
            println!("{login} unlocked");
        }
        Command::User(UserCmd::Deactivate { login }) => {
            let a = app
                .account_by_login(&actor, &login)
                .await
                .map_err(|e| not_found(e, "no such account"))?;
            let upd = amtsbote_core::auth::accounts::AccountUpdate {
                display_name: a.display_name.clone(),
                email: a.email.clone(),
                role: a.role(),
                active: false,
            };
            app.update_account(&actor, a.id, upd)
                .await
                .map_err(describe)?;
            println!("account {login} deactivated; its sessions have ended");
        }
        Command::Staff(StaffCmd::Add {
            login,
            email,
            name,
            admin,
        }) => {
            let role = if admin {
                StaffRole::Admin
            } else {
                StaffRole::Clerk
            };
            let (a, otp) = app
                .create_account(
                    &actor,
                    NewAccount {
                        login,
                        display_name: name,
                        email,
                        kind: AccountKind::Staff(role),
                    },
                )
                .await
                .map_err(describe)?;
            print_otp(&a.login, &otp);
        }
        Command::Staff(StaffCmd::Assign { login, member }) => {
            app.assign_clerk(&actor, &login, &member, true)
                .await
                .map_err(describe)?;
            println!("{login} now looks after member {member}");
        }
        Command::Staff(StaffCmd::Unassign { login, member }) => {
            app.assign_clerk(&actor, &login, &member, false)
                .await
                .map_err(describe)?;
            println!("{login} no longer looks after member {member}");
        }
        Command::Team(t) => team(app, &actor, t).await?,
        Command::Cleanup { grace_minutes } => {
            let r = app
                .cleanup_storage(grace_minutes.saturating_mul(60_000))
                .await?;
            println!(
                "removed {} staging files, {} unreferenced blobs, {} abandoned chunked uploads, {} expired locks, {} expired quarantined files and {} notifications older than 30 days",
                r.staging_removed,
                r.blobs_removed,
                r.uploads_removed,
                r.locks_removed,
                r.quarantine_removed,
                r.notifications_removed
            );
        }
        Command::Audit(AuditCmd::Export {
            from,
            to,
            format,
            out,
        }) => {
            let format = match format.as_str() {
                "jsonl" | "json" => amtsbote_core::audit::export::Format::JsonLines,
                "csv" => amtsbote_core::audit::export::Format::Csv,
                other => bail!("--format must be jsonl or csv, not {other:?}"),
            };
            let from = from.as_deref().map(parse_moment).transpose()?;
            let to = to.as_deref().map(parse_moment).transpose()?;
            let file = create_private(&out)?;
            let mut w = std::io::BufWriter::new(file);
            let n = app
                .audit_export(&actor, from, to, format, &mut w)
                .await
                .map_err(describe)?;
            std::io::Write::flush(&mut w)?;
            app.audit(
                app.db.pool(),
                amtsbote_core::audit::AuditEvent::new(
                    &actor,
                    "audit.export",
                    format!("entries={n}"),
                ),
            )
            .await
            .map_err(describe)?;
            println!("{n} audit entries written to {}", out.display());
        }
        Command::Audit(AuditCmd::Prune) => {
            app.chain_audit_fully(false).await.map_err(describe)?;
            let pruned = app.prune_audit(Some(&actor)).await.map_err(describe)?;
            for p in &pruned {
                println!(
                    "epoch {} pruned: seq {}-{}, {} entries",
                    p.epoch,
                    p.first,
                    p.below - 1,
                    p.entries
                );
            }
            println!(
                "{} epochs older than {} days pruned",
                pruned.len(),
                app.settings.audit.retention_days
            );
        }
        Command::Audit(AuditCmd::Key) => match app.audit_verifier_key() {
            Some(k) => println!("{k}"),
            None => bail!("no audit signing key"),
        },
        Command::Serve { .. }
        | Command::CheckConfig
        | Command::DevCert { .. }
        | Command::Audit(AuditCmd::Verify { .. })
        | Command::Mail(_) => {
            bail!("unreachable")
        }
    }
    Ok(())
}

async fn team(app: &App, actor: &amtsbote_core::Actor, cmd: TeamCmd) -> anyhow::Result<()> {
    match cmd {
        TeamCmd::Add { name } => {
            app.create_team(actor, &name).await.map_err(describe)?;
            println!("team {name} created");
        }
        TeamCmd::Join { name, login } => {
            app.set_team_membership(actor, &name, &login, true)
                .await
                .map_err(describe)?;
            println!("{login} joined team {name}");
        }
        TeamCmd::Leave { name, login } => {
            app.set_team_membership(actor, &name, &login, false)
                .await
                .map_err(describe)?;
            println!("{login} left team {name}");
        }
        TeamCmd::Assign { name, member } => {
            app.assign_team(actor, &name, &member, true)
                .await
                .map_err(describe)?;
            println!("team {name} now looks after member {member}");
        }
        TeamCmd::Unassign { name, member } => {
            app.assign_team(actor, &name, &member, false)
                .await
                .map_err(describe)?;
            println!("team {name} no longer looks after member {member}");
        }
        TeamCmd::List => {
            for t in app.teams(actor).await? {
                println!("{}", t.name);
            }
        }
    }
    Ok(())
}

fn print_otp(login: &str, otp: &str) {
    println!(
        "account:            {login}\none-time password:  {otp}\n(must be changed at first log-in; shown only now)"
    );
}

/// Core errors in words an operator understands.
fn letters_error(e: amtsbote_core::Error) -> anyhow::Error {
    match e {
        amtsbote_core::Error::Invalid("letters.return_address") => anyhow::anyhow!(
            "letters.return_address is not set: the letter needs the line above the address"
        ),
        e => describe(e),
    }
}

/// Writes the PDF next to its final name first, so a half-written file never appears.
fn write_letters(
    app: &App,
    issued: &[amtsbote_core::auth::activation::AccessIssued],
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let pdf = crate::letters::pdf(&app.settings, issued, app.now());
    let tmp = out.with_extension("pdf.part");
    // The letters hold activation codes: readable by the operator only.
    let mut file = create_private(&tmp)?;
    std::io::Write::write_all(&mut file, &pdf)
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn describe(e: amtsbote_core::Error) -> anyhow::Error {
    use amtsbote_core::Error as E;
    match e {
        E::AlreadyExists => {
            anyhow::anyhow!("already exists (login names and member numbers must be unique)")
        }
        E::NotFound => anyhow::anyhow!("not found"),
        E::Invalid(what) => anyhow::anyhow!("invalid value: {what}"),
        E::WeakPassword(k) => anyhow::anyhow!(
            "password rejected ({k}): at least 10 and at most 256 characters, not the login name"
        ),
        other => anyhow::anyhow!(other),
    }
}

fn dev_cert(out: &std::path::Path, hosts: Vec<String>) -> anyhow::Result<()> {
    let cert =
        rcgen::generate_simple_self_signed(hosts.clone()).context("generating certificate")?;
    std::fs::create_dir_all(out)?;
    let cert_path = out.join("cert.pem");
    let key_path = out.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem())?;
    write_private(&key_path, cert.signing_key.serialize_pem().as_bytes())?;
    println!("self-signed certificate for {} written:", hosts.join(", "));
    println!("  {}\n  {}", cert_path.display(), key_path.display());
    println!(
        "use it with:\n  [tls]\n  cert = \"{}\"\n  key = \"{}\"",
        cert_path.display(),
        key_path.display()
    );
    Ok(())
}

fn write_private(path: &std::path::Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    create_private(path)?.write_all(data)?;
    Ok(())
}

/// A file for secrets or personal data (keys, letters, audit exports): readable by the
/// operator only, made so from the start.
fn create_private(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// The command line's wording for a record that does not exist; other errors as they are.
fn not_found(e: amtsbote_core::Error, what: &str) -> anyhow::Error {
    match e {
        amtsbote_core::Error::NotFound => anyhow::anyhow!("{what}"),
        other => other.into(),
    }
}
