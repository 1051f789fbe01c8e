//! The texts of the notification mails: built in (German and English, in `texts/`), or
//! replaced by an operator's files in `notify.template_dir`. One simple syntax for both:
//! the first line is `Betreff: …` or `Subject: …`, then a blank line, then the body;
//! `%Name%` stands for a value. A line that holds only a placeholder whose value is
//! empty disappears. Every file is checked at start, so a typo stops the server instead
//! of reaching a recipient.

use std::collections::HashMap;
use std::path::Path;

use crate::settings::{MailLang, NotifySettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// To the member's users: the authority has provided new documents.
    MemberDocuments,
    /// To the authority's recipients: a member has delivered documents.
    AuthorityDocuments,
    /// To staff who chose the daily digest: deliveries of all their members.
    AuthorityDigest,
    /// To the admins: the scanner found malware in uploads.
    UploadInfected,
    /// To the admins: the scanner cannot be reached.
    ScannerUnavailable,
    /// To an account's holder: an admin removed their second factor.
    SecondFactorReset,
    /// To an account's holder: the access data comes by post; here is the link.
    AccessLink,
}

const COMMON: &[&str] = &[
    "Kurzname",
    "Behörde",
    "Signatur",
    "Link",
    "Anzahl",
    "Dokumente",
];

impl Template {
    pub const ALL: [Template; 7] = [
        Template::MemberDocuments,
        Template::AuthorityDocuments,
        Template::AuthorityDigest,
        Template::UploadInfected,
        Template::ScannerUnavailable,
        Template::SecondFactorReset,
        Template::AccessLink,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Template::MemberDocuments => "member_documents",
            Template::AuthorityDocuments => "authority_documents",
            Template::AuthorityDigest => "authority_digest",
            Template::UploadInfected => "upload_infected",
            Template::ScannerUnavailable => "scanner_unavailable",
            Template::SecondFactorReset => "second_factor_reset",
            Template::AccessLink => "access_link",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The placeholders this template may use besides the common ones.
    fn own_placeholders(self) -> &'static [&'static str] {
        match self {
            Template::MemberDocuments => &["Dateiliste"],
            Template::AuthorityDocuments => &["Mitglied", "Mitgliedsnummer", "Dateiliste"],
            Template::AuthorityDigest => &["Liste"],
            Template::UploadInfected => &["Mitglied", "Mitgliedsnummer", "Befunde"],
            Template::ScannerUnavailable => &["Seit", "Grund", "Folge"],
            Template::SecondFactorReset | Template::AccessLink => &[],
        }
    }

    pub fn placeholders(self) -> Vec<&'static str> {
        COMMON
            .iter()
            .chain(self.own_placeholders())
            .copied()
            .collect()
    }

    fn builtin(self, lang: MailLang) -> &'static str {
        use MailLang::{De, En};
        match (self, lang) {
            (Template::MemberDocuments, De) => include_str!("texts/member_documents.de.txt"),
            (Template::MemberDocuments, En) => include_str!("texts/member_documents.en.txt"),
            (Template::AuthorityDocuments, De) => {
                include_str!("texts/authority_documents.de.txt")
            }
            (Template::AuthorityDocuments, En) => {
                include_str!("texts/authority_documents.en.txt")
            }
            (Template::AuthorityDigest, De) => include_str!("texts/authority_digest.de.txt"),
            (Template::AuthorityDigest, En) => include_str!("texts/authority_digest.en.txt"),
            (Template::UploadInfected, De) => include_str!("texts/upload_infected.de.txt"),
            (Template::UploadInfected, En) => include_str!("texts/upload_infected.en.txt"),
            (Template::ScannerUnavailable, De) => {
                include_str!("texts/scanner_unavailable.de.txt")
            }
            (Template::ScannerUnavailable, En) => {
                include_str!("texts/scanner_unavailable.en.txt")
            }
            (Template::SecondFactorReset, De) => include_str!("texts/second_factor_reset.de.txt"),
            (Template::SecondFactorReset, En) => include_str!("texts/second_factor_reset.en.txt"),
            (Template::AccessLink, De) => include_str!("texts/access_link.de.txt"),
            (Template::AccessLink, En) => include_str!("texts/access_link.en.txt"),
        }
    }
}

/// A value for a placeholder: as plain text, and as HTML (escaped; links clickable).
#[derive(Debug, Clone, Default)]
pub struct Value {
    pub text: String,
    pub html: String,
}

impl Value {
    pub fn plain(s: impl Into<String>) -> Self {
        let text = s.into();
        // No line breaks in the HTML form: the paragraphs are made from the text's.
        let html = escape(&text).replace('\n', "<br>");
        Self { text, html }
    }

    pub fn link(url: &str) -> Self {
        let e = escape(url);
        Self {
            text: url.to_string(),
            html: format!("<a href=\"{e}\">{e}</a>"),
        }
    }
}

pub type Values = HashMap<&'static str, Value>;

#[derive(Debug, Clone)]
struct Text {
    subject: String,
    body: String,
    /// An operator's own HTML body; otherwise the HTML is made from the text.
    html: Option<String>,
}

/// A mail ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Every template in both languages, built-in or overridden, checked.
#[derive(Debug, Clone)]
pub struct Texts {
    map: HashMap<(Template, MailLang), Text>,
    /// Which files replaced a built-in text (for `check-config` and the log).
    pub overridden: Vec<String>,
}

impl Texts {
    /// The built-in texts, replaced where `notify.template_dir` has a file. Errors name
    /// the file and what is wrong with it.
    pub fn load(settings: &NotifySettings) -> Result<Self, String> {
        let mut map = HashMap::new();
        let mut overridden = Vec::new();
        if let Some(dir) = &settings.template_dir {
            check_dir_entries(dir)?;
        }
        for t in Template::ALL {
            for lang in [MailLang::De, MailLang::En] {
                let builtin = format!("(built-in) {}.{}.txt", t.name(), lang.code());
                let mut text = parse(t, t.builtin(lang)).map_err(|e| format!("{builtin}: {e}"))?;
                if let Some(dir) = &settings.template_dir {
                    let base = format!("{}.{}", t.name(), lang.code());
                    let txt = dir.join(format!("{base}.txt"));
                    if let Some(raw) = read_optional(&txt)? {
                        text = parse(t, &raw).map_err(|e| format!("{}: {e}", txt.display()))?;
                        overridden.push(txt.display().to_string());
                    }
                    let html = dir.join(format!("{base}.html"));
                    if let Some(raw) = read_optional(&html)? {
                        check_placeholders(t, &raw)
                            .map_err(|e| format!("{}: {e}", html.display()))?;
                        text.html = Some(raw);
                        overridden.push(html.display().to_string());
                    }
                }
                map.insert((t, lang), text);
            }
        }
        Ok(Self { map, overridden })
    }

    pub fn render(&self, t: Template, lang: MailLang, values: &Values) -> Rendered {
        let Some(text) = self.map.get(&(t, lang)) else {
            // `load` fills every pair; this is unreachable short of a bug.
            return Rendered {
                subject: t.name().into(),
                text: String::new(),
                html: String::new(),
            };
        };
        let subject = substitute(&text.subject, values, false)
            .replace(['\r', '\n'], " ")
            .trim()
            .to_string();
        let body = tidy(&substitute(&text.body, values, false));
        let inner = match &text.html {
            Some(h) => substitute(h, values, true),
            None => text_to_html(&tidy(&substitute_html_in_text(&text.body, values))),
        };
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n</head>\n<body>\n{}\n</body>\n</html>\n",
            lang.code(),
            escape(&subject),
            inner
        );
        Rendered {
            subject,
            text: body,
            html,
        }
    }
}

/// A file the operator named that we do not know is a mistake (a typo in the template
/// name would otherwise leave the built-in text in place without a word).
fn check_dir_entries(dir: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("notify.template_dir {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let known = Template::ALL.iter().any(|t| {
            ["de", "en"].iter().any(|l| {
                ["txt", "html"]
                    .iter()
                    .any(|ext| name == format!("{}.{l}.{ext}", t.name()))
            })
        });
        if !known {
            return Err(format!(
                "{}: not a template name; expected <template>.<de|en>.<txt|html> with template one of {}",
                entry.path().display(),
                Template::ALL.map(Template::name).join(", ")
            ));
        }
    }
    Ok(())
}

fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// `Betreff: …` / `Subject: …`, a blank line, the body.
fn parse(t: Template, raw: &str) -> Result<Text, String> {
    let raw = raw.replace("\r\n", "\n");
    let raw = raw.trim_start_matches('\u{feff}');
    let (first, rest) = raw.split_once('\n').unwrap_or((raw, ""));
    let subject = first
        .strip_prefix("Betreff:")
        .or_else(|| first.strip_prefix("Subject:"))
        .ok_or("the first line must be \"Betreff: …\" or \"Subject: …\"")?
        .trim()
        .to_string();
    if subject.is_empty() {
        return Err("the subject is empty".into());
    }
    let body = rest
        .strip_prefix('\n')
        .ok_or("a blank line must follow the subject line")?;
    let body = body.trim_end().to_string() + "\n";
    check_placeholders(t, &subject)?;
    check_placeholders(t, &body)?;
    if matches!(
        t,
        Template::MemberDocuments | Template::AuthorityDocuments | Template::AuthorityDigest
    ) && !body.contains("%Link%")
        && !body.contains("%Liste%")
    {
        return Err(
            "the body must contain %Link%: the mail is how recipients find their documents".into(),
        );
    }
    Ok(Text {
        subject,
        body,
        html: None,
    })
}

/// Every `%Name%` must be a placeholder of the template.
fn check_placeholders(t: Template, s: &str) -> Result<(), String> {
    let known = t.placeholders();
    for name in placeholder_names(s) {
        if !known.contains(&name) {
            return Err(format!(
                "unknown placeholder %{name}%; this template knows {}",
                known
                    .iter()
                    .map(|k| format!("%{k}%"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The names written as `%Name%` in `s` (a lone `%`, as in "100 %", is text).
fn placeholder_names(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end) if end > 0 && after[..end].chars().all(is_name_char) => {
                out.push(&after[..end]);
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

/// Replaces placeholders in one pass (a value is never read as a template). A line that
/// held only a placeholder whose value is empty is dropped with its line break.
fn substitute(s: &str, values: &Values, html: bool) -> String {
    let mut out = String::with_capacity(s.len() + 256);
    for line in s.split_inclusive('\n') {
        let bare = line.trim();
        if let Some(name) = bare.strip_prefix('%').and_then(|b| b.strip_suffix('%'))
            && name.chars().all(is_name_char)
            && values.get(name).is_none_or(|v| v.text.is_empty())
        {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find('%') {
            let after = &rest[start + 1..];
            match after.find('%') {
                Some(end) if end > 0 && after[..end].chars().all(is_name_char) => {
                    out.push_str(&rest[..start]);
                    if let Some(v) = values.get(&after[..end]) {
                        out.push_str(if html { &v.html } else { &v.text });
                    }
                    rest = &after[end + 1..];
                }
                _ => {
                    out.push_str(&rest[..=start]);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
    }
    out
}

/// For the HTML made from the text: the text is escaped line by line, placeholders get
/// their HTML value (links clickable). Returns HTML-ready lines.
fn substitute_html_in_text(s: &str, values: &Values) -> String {
    let escaped: String = escape(s);
    // Placeholder names contain no character that escaping changes, so they survive it.
    substitute(&escaped, values, true)
}

/// Blank lines left by dropped placeholders collapse to one.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.split('\n') {
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string() + "\n"
}

/// Paragraphs at blank lines, line breaks kept.
fn text_to_html(escaped: &str) -> String {
    escaped
        .split("\n\n")
        .map(|p| p.trim_matches('\n'))
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.starts_with("<ul>") {
                p.to_string()
            } else {
                format!("<p>{}</p>", p.replace('\n', "<br>\n"))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&'static str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == "Link" {
                        Value::link(v)
                    } else {
                        Value::plain(*v)
                    },
                )
            })
            .collect()
    }

    fn process_values() -> Values {
        values(&[
            ("Kurzname", "KVBbg"),
            (
                "Behörde",
                "Beamtenversorgung des Kommunalen Versorgungsverbandes Brandenburg (KVBbg)",
            ),
            ("Signatur", "Ihre Beamtenversorgung"),
            ("Link", "https://austausch.example/spaces/1/folders/2"),
            ("Anzahl", "3"),
            ("Dokumente", "3 neue Dokumente"),
            ("Dateiliste", ""),
        ])
    }

    #[test]
    fn the_built_in_member_text_is_the_process_wording_with_its_line_breaks() {
        let texts = Texts::load(&NotifySettings::default()).expect("built-in texts");
        let r = texts.render(Template::MemberDocuments, MailLang::De, &process_values());
        assert_eq!(
            r.text,
            "Sehr geehrte Damen und Herren,\n\ndie Beamtenversorgung des Kommunalen Versorgungsverbandes Brandenburg (KVBbg) hat für Sie neue Dokumente hinterlegt. Sie können diese unter dem folgenden Link aufrufen:\n\nhttps://austausch.example/spaces/1/folders/2\n\nMit freundlichen Grüßen\nIhre Beamtenversorgung\n"
        );
        assert_eq!(r.subject, "KVBbg: 3 neue Dokumente für Sie hinterlegt");
        assert!(
            r.html
                .contains("<a href=\"https://austausch.example/spaces/1/folders/2\">")
        );
        assert!(
            r.html
                .contains("Mit freundlichen Grüßen<br>\nIhre Beamtenversorgung")
        );
    }

    #[test]
    fn values_are_escaped_in_html_and_never_read_as_placeholders() {
        let texts = Texts::load(&NotifySettings::default()).expect("texts");
        let mut v = process_values();
        v.insert("Dateiliste", Value::plain("- <b>%Link%</b>.pdf"));
        let r = texts.render(Template::MemberDocuments, MailLang::De, &v);
        assert!(r.text.contains("- <b>%Link%</b>.pdf\n"), "{}", r.text);
        assert!(
            r.html.contains("- &lt;b&gt;%Link%&lt;/b&gt;.pdf"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b>"));
    }

    #[test]
    fn every_built_in_text_parses_in_both_languages() {
        let texts = Texts::load(&NotifySettings::default()).expect("texts");
        assert_eq!(texts.map.len(), 14);
        assert!(texts.overridden.is_empty());
    }

    #[test]
    fn operator_files_replace_texts_and_mistakes_are_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let settings = NotifySettings {
            template_dir: Some(dir.path().to_path_buf()),
            ..NotifySettings::default()
        };
        std::fs::write(
            dir.path().join("member_documents.de.txt"),
            "Betreff: Post für Sie (%Anzahl%)\n\nGuten Tag,\n\nneu: %Dokumente%, 100 % geprüft.\n%Link%\n",
        )
        .expect("write");
        let texts = Texts::load(&settings).expect("override");
        assert_eq!(texts.overridden.len(), 1);
        let r = texts.render(Template::MemberDocuments, MailLang::De, &process_values());
        assert_eq!(r.subject, "Post für Sie (3)");
        assert_eq!(
            r.text,
            "Guten Tag,\n\nneu: 3 neue Dokumente, 100 % geprüft.\nhttps://austausch.example/spaces/1/folders/2\n"
        );
        // The English text stays built in.
        let en = texts.render(Template::MemberDocuments, MailLang::En, &process_values());
        assert!(en.text.starts_with("Dear Sir or Madam,"));

        std::fs::write(
            dir.path().join("member_documents.de.txt"),
            "Betreff: X\n\n%Lnik%\n",
        )
        .expect("write");
        let e = Texts::load(&settings).expect_err("typo");
        assert!(e.contains("unknown placeholder %Lnik%"), "{e}");

        std::fs::write(
            dir.path().join("member_documents.de.txt"),
            "Betreff: X\n\nohne Link\n",
        )
        .expect("write");
        let e = Texts::load(&settings).expect_err("no link");
        assert!(e.contains("%Link%"), "{e}");

        std::fs::write(
            dir.path().join("member_documents.de.txt"),
            "Hallo\n\n%Link%\n",
        )
        .expect("write");
        assert!(
            Texts::load(&settings)
                .expect_err("no subject")
                .contains("Betreff")
        );

        std::fs::remove_file(dir.path().join("member_documents.de.txt")).expect("rm");
        std::fs::write(dir.path().join("member_document.de.txt"), "x").expect("write");
        let e = Texts::load(&settings).expect_err("misnamed");
        assert!(e.contains("not a template name"), "{e}");
    }

    #[test]
    fn an_operator_html_body_gets_escaped_values() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("member_documents.de.html"),
            "<p>%Dokumente%: %Link%</p>",
        )
        .expect("write");
        let texts = Texts::load(&NotifySettings {
            template_dir: Some(dir.path().to_path_buf()),
            ..NotifySettings::default()
        })
        .expect("html override");
        let mut v = process_values();
        v.insert("Dokumente", Value::plain("3 <neue> Dokumente"));
        let r = texts.render(Template::MemberDocuments, MailLang::De, &v);
        assert!(
            r.html.contains("<p>3 &lt;neue&gt; Dokumente: <a href="),
            "{}",
            r.html
        );
        assert!(r.text.starts_with("Sehr geehrte Damen und Herren,"));
    }

    #[test]
    fn placeholder_names_skip_lone_percent_signs() {
        assert_eq!(placeholder_names("100 % von %Anzahl%"), vec!["Anzahl"]);
        assert_eq!(placeholder_names("%% %a b% %Link%"), vec!["Link"]);
    }
}
