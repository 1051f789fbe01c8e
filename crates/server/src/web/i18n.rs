//! UI language: German by default, English by `Accept-Language` or the language switch
//! (a cookie). Texts live in `locales/<lang>/main.ftl` (Fluent).

use std::borrow::Cow;
use std::collections::HashMap;

use axum::http::HeaderMap;
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "de",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static DE: LanguageIdentifier = langid!("de");
static EN: LanguageIdentifier = langid!("en");

pub const LANG_COOKIE: &str = "amtsbote_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language switch cookie wins; otherwise the first of de/en in Accept-Language.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        if let Some(l) = super::cookies::get(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v)) {
            return l;
        }
        let accept = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.split(',') {
            let mut it = part.trim().split(';');
            let tag = it.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("de") => Lang::De,
                Some("en") => Lang::En,
                _ => continue,
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::De)
    }

    fn id(self) -> &'static LanguageIdentifier {
        match self {
            Lang::De => &DE,
            Lang::En => &EN,
        }
    }

    /// The text for `key`; the key itself if missing (a test checks none are).
    pub fn t(self, key: &str) -> String {
        LOCALES
            .try_lookup(self.id(), key)
            .unwrap_or_else(|| key.to_string())
    }

    /// The text for `key` with named arguments.
    pub fn ta(self, key: &str, args: &[(&'static str, String)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.clone())))
            .collect();
        LOCALES
            .try_lookup_with_args(self.id(), key, &map)
            .unwrap_or_else(|| key.to_string())
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::De => Lang::En,
            Lang::En => Lang::De,
        }
    }

    /// Date and time as people read them here (Europe/Berlin).
    pub fn datetime(self, epoch_ms: i64) -> String {
        let Ok(ts) = jiff::Timestamp::from_millisecond(epoch_ms) else {
            return String::new();
        };
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::UTC);
        let z = ts.to_zoned(tz);
        match self {
            Lang::De => z.strftime("%d.%m.%Y %H:%M").to_string(),
            Lang::En => z.strftime("%Y-%m-%d %H:%M").to_string(),
        }
    }

    /// A wait of `secs` seconds with the right plural: under two minutes in seconds
    /// (as `Retry-After` says it), longer ones in whole minutes, rounded up.
    pub fn wait(self, secs: u64) -> String {
        let (n, unit) = if secs < 120 {
            (secs.max(1), 0)
        } else {
            (secs.div_ceil(60), 1)
        };
        let word = match (self, unit, n == 1) {
            (Lang::De, 0, true) => "Sekunde",
            (Lang::De, 0, false) => "Sekunden",
            (Lang::De, _, true) => "Minute",
            (Lang::De, _, false) => "Minuten",
            (Lang::En, 0, true) => "second",
            (Lang::En, 0, false) => "seconds",
            (Lang::En, _, true) => "minute",
            (Lang::En, _, false) => "minutes",
        };
        format!("{n} {word}")
    }

    /// When something happens `days` whole days from now: "heute", "morgen",
    /// "in 12 Tagen".
    pub fn in_days(self, days: i64) -> String {
        match (self, days) {
            (Lang::De, ..=0) => "heute".into(),
            (Lang::De, 1) => "morgen".into(),
            (Lang::De, n) => format!("in {n} Tagen"),
            (Lang::En, ..=0) => "today".into(),
            (Lang::En, 1) => "tomorrow".into(),
            (Lang::En, n) => format!("in {n} days"),
        }
    }

    pub fn size(self, bytes: i64) -> String {
        let b = bytes.max(0) as f64;
        let (v, unit) = if b >= 1024.0 * 1024.0 * 1024.0 {
            (b / (1024.0 * 1024.0 * 1024.0), "GiB")
        } else if b >= 1024.0 * 1024.0 {
            (b / (1024.0 * 1024.0), "MiB")
        } else if b >= 1024.0 {
            (b / 1024.0, "KiB")
        } else {
            return format!("{bytes} B");
        };
        let s = format!("{v:.1} {unit}");
        match self {
            Lang::De => s.replace('.', ","),
            Lang::En => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_exists_in_both_languages() {
        let de = include_str!("../../locales/de/main.ftl");
        let en = include_str!("../../locales/en/main.ftl");
        let keys = |s: &str| -> std::collections::BTreeSet<String> {
            s.lines()
                .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && l.contains(" ="))
                .filter_map(|l| l.split(" =").next().map(str::to_string))
                .collect()
        };
        let (kd, ke) = (keys(de), keys(en));
        assert_eq!(
            kd.difference(&ke).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "missing in en"
        );
        assert_eq!(
            ke.difference(&kd).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "missing in de"
        );
        assert!(kd.len() > 50);
        let args = [
            ("name", "x".to_string()),
            ("max", "x".to_string()),
            ("login", "x".to_string()),
            ("finding", "x".to_string()),
            ("limit", "x".to_string()),
            ("since", "x".to_string()),
            ("reason", "x".to_string()),
            ("days", "x".to_string()),
            ("count", "x".to_string()),
            ("email", "x".to_string()),
            ("authority", "x".to_string()),
            ("folders", "x".to_string()),
            ("minutes", "x".to_string()),
            ("seconds", "x".to_string()),
            ("wait", "x".to_string()),
            ("when", "x".to_string()),
            ("hour", "x".to_string()),
            ("line", "x".to_string()),
            ("epoch", "x".to_string()),
            ("time", "x".to_string()),
            ("number", "x".to_string()),
        ];
        for k in &kd {
            assert_ne!(Lang::De.ta(k, &args), *k, "{k} does not resolve in de");
            assert_ne!(Lang::En.ta(k, &args), *k, "{k} does not resolve in en");
        }
    }

    #[test]
    fn accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::De);
        h.insert(
            "accept-language",
            "en-GB,en;q=0.9,de;q=0.8".parse().expect("hv"),
        );
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(
            "accept-language",
            "fr,de;q=0.5,en;q=0.4".parse().expect("hv"),
        );
        assert_eq!(Lang::from_headers(&h), Lang::De);
        h.insert("cookie", "amtsbote_lang=en".parse().expect("hv"));
        assert_eq!(Lang::from_headers(&h), Lang::En);
    }

    #[test]
    fn formats() {
        assert_eq!(Lang::De.size(1536), "1,5 KiB");
        assert_eq!(Lang::En.size(1536), "1.5 KiB");
        assert_eq!(Lang::De.datetime(0), "01.01.1970 01:00");
    }

    #[test]
    fn waits_have_proper_plurals() {
        assert_eq!(Lang::De.wait(1), "1 Sekunde");
        assert_eq!(Lang::De.wait(0), "1 Sekunde");
        assert_eq!(Lang::De.wait(30), "30 Sekunden");
        assert_eq!(Lang::De.wait(119), "119 Sekunden");
        assert_eq!(Lang::De.wait(120), "2 Minuten");
        assert_eq!(Lang::De.wait(14 * 60 + 1), "15 Minuten");
        assert_eq!(Lang::En.wait(1), "1 second");
        assert_eq!(Lang::En.wait(900), "15 minutes");
        assert_eq!(Lang::De.in_days(0), "heute");
        assert_eq!(Lang::De.in_days(1), "morgen");
        assert_eq!(Lang::De.in_days(12), "in 12 Tagen");
        assert_eq!(Lang::En.in_days(2), "in 2 days");
    }
}
