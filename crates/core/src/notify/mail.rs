//! Sending e-mail over SMTP (lettre, rustls): plain for a relay on loopback, STARTTLS or
//! implicit TLS, with optional AUTH. The password comes from `mail.password_file` and
//! never appears in settings, logs or errors.

use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::settings::{MailSecurity, MailSettings};

/// Why a mail could not be sent, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail.host is not set: no mail can be sent")]
    NotConfigured,
    #[error("configuration: {0}")]
    Config(String),
    #[error("address {0:?} is not a valid e-mail address")]
    Address(String),
    #[error("{0}")]
    Send(String),
    /// The mail server refused this recipient for good (no such mailbox, address not
    /// accepted): trying again will not help.
    #[error("{0}")]
    Refused(String),
}

impl MailError {
    /// Whether another try can succeed (a server that is down or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, MailError::Send(_))
    }
}

/// Whether the server refused the recipient itself (550 mailbox unavailable, 551 not
/// local, 553 address not allowed). Other permanent answers (failed AUTH, relaying
/// denied, a policy block) concern every mail and are fixed by the operator, so they
/// are retried like an outage instead of dead-lettering the whole queue at once.
fn refuses_recipient(e: &lettre::transport::smtp::Error) -> bool {
    e.is_permanent()
        && e.status()
            .is_some_and(|c| matches!(c.to_string().as_str(), "550" | "551" | "553"))
}

/// A configured mail transport with its sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// `host:port (security)`, for messages.
    target: String,
}

/// One mail: a plain text part and, if given, an HTML alternative.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// A fixed Message-ID (`<…@…>`), so that a mail sent again after a crash is
    /// recognisably the same; None: lettre makes one.
    pub message_id: Option<String>,
}

impl Mailer {
    pub fn from_settings(s: &MailSettings) -> Result<Self, MailError> {
        if s.host.trim().is_empty() {
            return Err(MailError::NotConfigured);
        }
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|_| MailError::Config(format!("mail.from {:?} is not an address", s.from)))?;
        let reply_to = if s.reply_to.trim().is_empty() {
            None
        } else {
            Some(s.reply_to.parse().map_err(|_| {
                MailError::Config(format!("mail.reply_to {:?} is not an address", s.reply_to))
            })?)
        };
        let mut builder = match s.security {
            MailSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str())
            }
            MailSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                .map_err(|e| MailError::Config(format!("mail.host: {e}")))?,
            MailSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
                .map_err(|e| MailError::Config(format!("mail.host: {e}")))?,
        }
        .port(s.port)
        .timeout(Some(std::time::Duration::from_secs(30)));
        if !s.user.is_empty() {
            let path = s.password_file.as_ref().ok_or_else(|| {
                MailError::Config("mail.user is set, but mail.password_file is not".into())
            })?;
            let password = std::fs::read_to_string(path).map_err(|e| {
                MailError::Config(format!("mail.password_file {}: {e}", path.display()))
            })?;
            builder = builder.credentials(Credentials::new(
                s.user.clone(),
                password.trim_end_matches(['\r', '\n']).to_string(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            reply_to,
            target: format!(
                "{}:{} ({})",
                s.host,
                s.port,
                match s.security {
                    MailSecurity::None => "plain SMTP",
                    MailSecurity::Starttls => "STARTTLS",
                    MailSecurity::Tls => "TLS",
                }
            ),
        })
    }

    pub async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| MailError::Address(mail.to.clone()))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(mail.message_id.clone());
        if let Some(r) = &self.reply_to {
            builder = builder.reply_to(r.clone());
        }
        let message = match &mail.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(mail.text.clone()),
        }
        .map_err(|e| MailError::Config(format!("building the message: {e}")))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| {
            if refuses_recipient(&e) {
                MailError::Refused(self.explain(&e))
            } else {
                MailError::Send(self.explain(&e))
            }
        })
    }

    /// What went wrong, where: connection, TLS, authentication or the server's answer.
    fn explain(&self, e: &lettre::transport::smtp::Error) -> String {
        let what = if e.is_tls() {
            "TLS handshake failed"
        } else if e.is_timeout() {
            "no answer in time"
        } else if e.is_permanent() {
            "the mail server refused (permanent)"
        } else if e.is_transient() {
            "the mail server refused (temporary)"
        } else {
            "could not talk to the mail server"
        };
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        format!("{what} at {}: {detail}", self.target)
    }
}
