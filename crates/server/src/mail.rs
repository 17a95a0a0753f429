//! Sending invitation e-mail: over SMTP to the configured relay, or, with none configured (the
//! embedded default), as `.eml` files in `<data>/outbox/` with the link logged, so that one
//! machine works without a mail server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use latchkey_core::Directory;
use latchkey_core::invitations::OutgoingInvitation;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{Message, SmtpTransport, Transport};

/// How often committed invitations are picked up for delivery.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

enum Delivery {
    Outbox(PathBuf),
    Smtp(Box<SmtpTransport>),
}

pub struct Mailer {
    delivery: Delivery,
    from: Mailbox,
    /// Where people reach this server, for the links in messages.
    public_url: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// `relay` is an SMTP URL (`smtp://host:port`, `smtps://user:pass@host`, or with
    /// `?tls=required` for STARTTLS); without one, messages go to `<data>/outbox/`.
    pub fn new(
        relay: Option<&str>,
        from: Option<&str>,
        data: &Path,
        public_url: &str,
    ) -> anyhow::Result<Self> {
        let delivery = match relay {
            Some(url) => Delivery::Smtp(Box::new(
                SmtpTransport::from_url(url)
                    .with_context(|| "the mail relay URL is not valid")?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            )),
            None => Delivery::Outbox(data.join("outbox")),
        };
        let from = from
            .unwrap_or("latchkey <latchkey@localhost>")
            .parse()
            .context("the mail sender address is not valid")?;
        Ok(Mailer {
            delivery,
            from,
            public_url: public_url.trim_end_matches('/').to_owned(),
        })
    }

    fn link(&self, invitation: &OutgoingInvitation) -> String {
        format!(
            "{}/invitation?token={}",
            self.public_url,
            invitation.token.as_str()
        )
    }

    fn message(&self, invitation: &OutgoingInvitation, link: &str) -> anyhow::Result<Message> {
        let to = Mailbox::new(
            invitation.display_name.clone(),
            invitation.email.parse().context("invalid recipient")?,
        );
        let body = format!(
            "Hello {name},\n\n\
             You have been invited to latchkey, the sign-in for your organization's AWS accounts.\n\
             Your user name is: {user}\n\n\
             Set your password here (the link works once, until {expires}):\n\n\
             {link}\n\n\
             If you did not expect this invitation, you can ignore this message.\n",
            name = invitation
                .display_name
                .as_deref()
                .unwrap_or(&invitation.user_name),
            user = invitation.user_name,
            expires = invitation.expires.format("%Y-%m-%d %H:%M UTC"),
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("Invitation to latchkey: set your password")
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .context("cannot build the invitation message")
    }

    fn deliver(&self, invitation: &OutgoingInvitation) -> anyhow::Result<()> {
        let link = self.link(invitation);
        let message = self.message(invitation, &link)?;
        match &self.delivery {
            Delivery::Smtp(transport) => {
                transport.send(&message).context("the mail relay refused")?;
                tracing::info!(to = %invitation.email, user = %invitation.user_name, "invitation sent");
            }
            Delivery::Outbox(dir) => {
                let file = write_private(dir, &invitation.user_name, &message.formatted())?;
                // The link is a one-time credential: it stays in the private file, and the
                // log (often shipped elsewhere) names only the file.
                tracing::info!(
                    user = %invitation.user_name,
                    file = %file.display(),
                    "invitation written to the outbox (no mail relay configured)"
                );
            }
        }
        Ok(())
    }
}

/// Writes one message to the outbox, readable by the owner only (it holds a live link).
fn write_private(dir: &Path, user_name: &str, contents: &[u8]) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let safe: String = user_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!(
        "{}-{}-{}.eml",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        safe,
        uuid::Uuid::new_v4().simple()
    );
    let path = dir.join(name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(path)
}

/// Delivers committed invitations until the server stops. A failed delivery is logged; the
/// invitation stays valid and can be sent again.
pub async fn deliver_invitations(directory: Arc<Directory>, mailer: Arc<Mailer>) {
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    loop {
        interval.tick().await;
        let outgoing = directory.take_outgoing_mail();
        if outgoing.is_empty() {
            continue;
        }
        let mailer = mailer.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for invitation in &outgoing {
                if let Err(error) = mailer.deliver(invitation) {
                    tracing::warn!(user = %invitation.user_name, error = format!("{error:#}"), "could not send an invitation");
                }
            }
        })
        .await;
    }
}
