//! Benchmark: one PDF with N credential letters (default 500), as `amtsbote letter
//! batch` makes it. Prints the time and size; run under `/usr/bin/time -v` for the peak
//! memory:
//!
//!     cargo run --release -p amtsbote-letters --example batch -- 500 /tmp/briefe.pdf
use std::time::Instant;

use amtsbote_letters::{Letter, render};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let out = args.next().unwrap_or_else(|| "briefe.pdf".into());
    let letters: Vec<Letter> = (0..n)
        .map(|i| Letter {
            letterhead: vec![
                "Kommunaler Versorgungsverband Brandenburg".into(),
                "Beamtenversorgung".into(),
            ],
            return_address: "KVBbg · Postfach 60 10 52 · 14410 Potsdam".into(),
            note: "Persönlich – vertraulich".into(),
            recipient: vec![
                format!("Gemeinde Nr. {i}"),
                "z. Hd. Petra Personal".into(),
                "Marktplatz 1".into(),
                "14467 Musterstadt".into(),
            ],
            info: vec![("Datum".into(), "27.11.2026".into())],
            subject: "Ihre Zugangsdaten zum Dokumentenaustausch".into(),
            salutation: "Sehr geehrte Damen und Herren,".into(),
            intro: vec!["die Beamtenversorgung stellt Ihnen Dokumente über einen gesicherten Dokumentenaustausch bereit. Für Sie wurde dort ein persönlicher Zugang eingerichtet.".into()],
            access: vec![
                ("Anmeldeadresse:".into(), "https://austausch.kvbbg.example/login".into()),
                ("Benutzername:".into(), format!("personal.{i}")),
                ("Aktivierungscode:".into(), "abcd-efgh-jkmn-pqrs-tuvw".into()),
            ],
            qr_url: "https://austausch.kvbbg.example/login".into(),
            outro: vec!["Der Aktivierungscode gilt bis zum 27.12.2026.".into()],
            closing: vec!["Mit freundlichen Grüßen".into(), "Ihre Beamtenversorgung".into()],
            footer: "Bei Fragen wenden Sie sich bitte an Ihre Ansprechpersonen.".into(),
        })
        .collect();
    let start = Instant::now();
    let pdf = render(&letters);
    let took = start.elapsed();
    std::fs::write(&out, &pdf).expect("write");
    println!(
        "{n} letters: {:.1} ms, {:.1} MiB PDF -> {out}",
        took.as_secs_f64() * 1000.0,
        pdf.len() as f64 / 1048576.0
    );
}
