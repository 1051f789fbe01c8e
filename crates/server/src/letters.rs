//! The words of the credential letter, from the settings and the issued access; the
//! layout is `amtsbote-letters`' (DIN 5008 form B). Used by the admin pages and the CLI.

use amtsbote_core::Settings;
use amtsbote_core::auth::activation::AccessIssued;
use amtsbote_letters::Letter;

/// A date as written in German letters, in Europe/Berlin.
fn german_date(epoch_ms: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(epoch_ms) else {
        return String::new();
    };
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).strftime("%d.%m.%Y").to_string()
}

pub fn letter(settings: &Settings, issued: &AccessIssued, today_ms: i64) -> Letter {
    let a = &settings.authority;
    let base = a.public_base_url.trim_end_matches('/');
    let login_url = format!("{base}/login");
    let mut recipient = Vec::new();
    if let Some(m) = &issued.member {
        recipient.push(m.name.clone());
        recipient.push(format!("z. Hd. {}", issued.account.display_name));
        recipient.extend(
            m.postal_address
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && *l != m.name)
                .map(str::to_string),
        );
    } else {
        recipient.push(issued.account.display_name.clone());
    }
    let mut info = vec![("Datum".to_string(), german_date(today_ms))];
    if let Some(m) = &issued.member {
        info.push(("Mitgliedsnummer".into(), m.number.clone()));
    }
    let mut closing = vec!["Mit freundlichen Grüßen".to_string()];
    closing.extend(settings.letters.signature.iter().cloned());
    Letter {
        letterhead: settings.letters.letterhead.clone(),
        return_address: settings.letters.return_address.clone(),
        note: "Persönlich – vertraulich".into(),
        recipient,
        info,
        subject: "Ihre Zugangsdaten zum Dokumentenaustausch".into(),
        salutation: "Sehr geehrte Damen und Herren,".into(),
        intro: vec![format!(
            "die {} stellt Ihnen Dokumente über einen gesicherten Dokumentenaustausch bereit. Für Sie wurde dort ein persönlicher Zugang eingerichtet. Den Link zur Anmeldung haben wir Ihnen zusätzlich per E-Mail geschickt; Ihre Zugangsdaten erhalten Sie nur mit diesem Schreiben.",
            a.full_name
        )],
        access: vec![
            ("Anmeldeadresse:".into(), login_url.clone()),
            ("Benutzername:".into(), issued.account.login.clone()),
            ("Aktivierungscode:".into(), issued.code.clone()),
        ],
        qr_url: login_url,
        outro: vec![
            "So melden Sie sich an: Rufen Sie die Anmeldeadresse auf oder scannen Sie den QR-Code. Geben Sie Ihren Benutzernamen und den Aktivierungscode ein und vergeben Sie danach ein eigenes Passwort mit mindestens 12 Zeichen. Danach ist der Aktivierungscode ungültig.".into(),
            format!(
                "Der Aktivierungscode gilt bis zum {}. Bewahren Sie dieses Schreiben vertraulich auf und geben Sie den Code nicht weiter; Beschäftigte der Beamtenversorgung werden Sie nie danach fragen.",
                german_date(issued.valid_until)
            ),
        ],
        closing,
        footer: a.contact.clone(),
    }
}

/// One PDF with a letter for each issued access.
pub fn pdf(settings: &Settings, issued: &[AccessIssued], today_ms: i64) -> Vec<u8> {
    let letters: Vec<Letter> = issued
        .iter()
        .map(|i| letter(settings, i, today_ms))
        .collect();
    amtsbote_letters::render(&letters)
}
