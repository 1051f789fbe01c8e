//! Credential letters by post: printable PDF letters laid out to DIN 5008 form B, with
//! the address field where a window envelope (DL/C6/5 with window on the left) shows
//! it. One letter per page; a batch is one PDF. The base font Helvetica (no embedding)
//! in WinAnsi encoding carries the German letters; the QR code of the log-in address is
//! drawn as filled squares, so nothing but this crate's own code lays out the page.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// Millimetres to PDF points.
pub fn mm(v: f32) -> f32 {
    v * 72.0 / 25.4
}

pub const PAGE_WIDTH_MM: f32 = 210.0;
pub const PAGE_HEIGHT_MM: f32 = 297.0;

/// DIN 5008 form B: the address field, measured from the page's top left corner.
pub mod address_field {
    pub const LEFT_MM: f32 = 20.0;
    pub const TOP_MM: f32 = 45.0;
    pub const WIDTH_MM: f32 = 85.0;
    pub const HEIGHT_MM: f32 = 45.0;
    /// The return address line sits in the first 5 mm; the recipient's lines start in
    /// the address zone at 62.7 mm (above it: the 12.7 mm note zone).
    pub const RETURN_LINE_MM: f32 = 49.0;
    pub const NOTE_ZONE_MM: f32 = 50.0;
    pub const ADDRESS_ZONE_MM: f32 = 62.7;
}

/// Everything one letter says.
#[derive(Debug, Clone, Default)]
pub struct Letter {
    /// The authority's letterhead, first line larger.
    pub letterhead: Vec<String>,
    /// One line above the address, in small print, for the window.
    pub return_address: String,
    /// Note zone, e.g. "Persönlich – vertraulich".
    pub note: String,
    /// Recipient lines: organisation, "z. Hd." person, street, town.
    pub recipient: Vec<String>,
    /// Information block on the right: (label, value).
    pub info: Vec<(String, String)>,
    pub subject: String,
    pub salutation: String,
    /// Paragraphs before the access data.
    pub intro: Vec<String>,
    /// The access data: (label, value), the values printed in a typewriter face.
    pub access: Vec<(String, String)>,
    /// Encoded in the QR code next to the access data.
    pub qr_url: String,
    /// Paragraphs after the access data.
    pub outro: Vec<String>,
    pub closing: Vec<String>,
    /// The foot line (contact).
    pub footer: String,
}

const REGULAR: Name = Name(b"F1");
const BOLD: Name = Name(b"F2");
const MONO: Name = Name(b"F3");

/// Text in WinAnsi (Windows-1252): Latin-1 letters map to themselves, a few typographic
/// marks to their 1252 codes; anything else becomes "?" (the letter's own texts are
/// German and never need it).
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            c if (c as u32) < 0x80 || ((c as u32) >= 0xA0 && (c as u32) <= 0xFF) => c as u8,
            _ => b'?',
        })
        .collect()
}

/// Helvetica's advance widths (per 1000 units) for WinAnsi, close enough for wrapping:
/// narrow letters, wide letters and the rest.
fn approx_width(s: &str, size: f32) -> f32 {
    let units: f32 = s
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | ' ' => 278.0,
            'f' | 't' | 'r' | 'I' | '-' | '(' | ')' | '/' => 333.0,
            'm' | 'M' | 'W' | 'w' | '@' => 833.0,
            c if c.is_uppercase() => 667.0,
            _ => 556.0,
        })
        .sum();
    units / 1000.0 * size
}

/// Breaks a paragraph into lines no wider than `width` points.
fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if approx_width(&candidate, size) > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Writes `text` with its baseline `top_mm` below the page's top edge.
fn text(c: &mut Content, font: Name, size: f32, left_mm: f32, top_mm: f32, text: &str) {
    c.begin_text();
    c.set_font(font, size);
    c.next_line(mm(left_mm), mm(PAGE_HEIGHT_MM - top_mm));
    c.show(Str(&win_ansi(text)));
    c.end_text();
}

fn page_content(l: &Letter) -> Vec<u8> {
    let mut c = Content::new();
    c.set_fill_gray(0.0);
    // Letterhead.
    let mut y = 20.0;
    for (i, line) in l.letterhead.iter().enumerate() {
        let (font, size) = if i == 0 { (BOLD, 14.0) } else { (REGULAR, 9.0) };
        text(&mut c, font, size, 20.0, y, line);
        y += if i == 0 { 6.0 } else { 4.2 };
    }
    // Fold marks (105 mm, 210 mm) and the punch mark (148.5 mm) at the left edge.
    c.set_line_width(0.3);
    for at in [105.0, 148.5, 210.0] {
        let len = if at == 148.5 { 7.0 } else { 5.0 };
        c.move_to(mm(3.0), mm(PAGE_HEIGHT_MM - at));
        c.line_to(mm(3.0 + len), mm(PAGE_HEIGHT_MM - at));
        c.stroke();
    }
    // Address field: return line, note zone, recipient.
    use address_field as af;
    text(
        &mut c,
        REGULAR,
        7.0,
        af::LEFT_MM,
        af::RETURN_LINE_MM,
        &l.return_address,
    );
    c.set_line_width(0.2);
    c.move_to(
        mm(af::LEFT_MM),
        mm(PAGE_HEIGHT_MM - af::RETURN_LINE_MM - 1.0),
    );
    c.line_to(
        mm(af::LEFT_MM + af::WIDTH_MM - 5.0),
        mm(PAGE_HEIGHT_MM - af::RETURN_LINE_MM - 1.0),
    );
    c.stroke();
    if !l.note.is_empty() {
        text(
            &mut c,
            BOLD,
            9.0,
            af::LEFT_MM,
            af::NOTE_ZONE_MM + 8.0,
            &l.note,
        );
    }
    let mut y = af::ADDRESS_ZONE_MM + 4.0;
    for line in l.recipient.iter().take(6) {
        text(&mut c, REGULAR, 10.0, af::LEFT_MM, y, line);
        y += 4.5;
    }
    // Information block on the right (form B: 125 mm from the left, from 50 mm).
    let mut y = 55.0;
    for (label, value) in &l.info {
        text(&mut c, REGULAR, 8.0, 125.0, y, label);
        text(&mut c, REGULAR, 10.0, 125.0, y + 4.2, value);
        y += 10.0;
    }
    // Subject and body.
    text(&mut c, BOLD, 11.0, 25.0, 103.5, &l.subject);
    let width = mm(165.0);
    let mut y = 116.0;
    let size = 10.5;
    let line_gap = 4.8;
    let paragraph = |c: &mut Content, y: &mut f32, s: &str, w: f32| {
        for line in wrap(s, size, w) {
            text(c, REGULAR, size, 25.0, *y, &line);
            *y += line_gap;
        }
        *y += 2.5;
    };
    paragraph(&mut c, &mut y, &l.salutation, width);
    for p in &l.intro {
        paragraph(&mut c, &mut y, p, width);
    }
    // Access data with the QR code to the right.
    let qr_top = y;
    for (label, value) in &l.access {
        text(&mut c, REGULAR, 10.0, 25.0, y, label);
        text(&mut c, MONO, 11.0, 68.0, y, value);
        y += 6.5;
    }
    if !l.qr_url.is_empty()
        && let Ok(code) = qrcode::QrCode::new(l.qr_url.as_bytes())
    {
        let n = code.width();
        let size_mm = 28.0;
        let cell = size_mm / n as f32;
        let left = 160.0;
        let top = qr_top - 5.0;
        for (i, color) in code.to_colors().iter().enumerate() {
            if *color == qrcode::Color::Dark {
                let (row, col) = (i / n, i % n);
                c.rect(
                    mm(left + col as f32 * cell),
                    mm(PAGE_HEIGHT_MM - top - (row as f32 + 1.0) * cell),
                    mm(cell) + 0.05,
                    mm(cell) + 0.05,
                );
            }
        }
        c.fill_nonzero();
        y = y.max(top + size_mm + 4.0);
    }
    y += 3.0;
    for p in &l.outro {
        paragraph(&mut c, &mut y, p, width);
    }
    y += 2.0;
    for line in &l.closing {
        text(&mut c, REGULAR, size, 25.0, y, line);
        y += line_gap;
    }
    // Foot line.
    for (i, line) in wrap(&l.footer, 8.0, mm(170.0)).iter().enumerate() {
        text(&mut c, REGULAR, 8.0, 20.0, 282.0 + i as f32 * 3.6, line);
    }
    c.finish().to_vec()
}

/// One PDF, one page per letter.
pub fn render(letters: &[Letter]) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let fonts = [Ref::new(3), Ref::new(4), Ref::new(5)];
    let first = 6;
    let page_ids: Vec<Ref> = (0..letters.len())
        .map(|i| Ref::new(first + 2 * i32::try_from(i).unwrap_or(i32::MAX / 4)))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(i32::try_from(letters.len()).unwrap_or(i32::MAX));
    for (font, base) in fonts
        .iter()
        .zip([&b"Helvetica"[..], b"Helvetica-Bold", b"Courier"])
    {
        pdf.type1_font(*font)
            .base_font(Name(base))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (letter, page_id) in letters.iter().zip(&page_ids) {
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, mm(PAGE_WIDTH_MM), mm(PAGE_HEIGHT_MM)));
        page.parent(tree);
        page.contents(content_id);
        let mut resources = page.resources();
        let mut f = resources.fonts();
        f.pair(REGULAR, fonts[0]);
        f.pair(BOLD, fonts[1]);
        f.pair(MONO, fonts[2]);
        f.finish();
        resources.finish();
        page.finish();
        // Uncompressed: a page is a few kilobytes of drawing commands.
        pdf.stream(content_id, &page_content(letter));
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win_ansi_keeps_german_letters() {
        assert_eq!(
            win_ansi("Größe ä–ü €"),
            b"Gr\xf6\xdfe \xe4\x96\xfc \x80".to_vec()
        );
        assert_eq!(win_ansi("x→y"), b"x?y".to_vec());
    }

    #[test]
    fn paragraphs_wrap_within_the_width() {
        let text = "Sehr geehrte Damen und Herren, mit diesem Schreiben erhalten Sie Ihre Zugangsdaten zum Dokumentenaustausch der Beamtenversorgung.";
        let lines = wrap(text, 10.5, mm(80.0));
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| approx_width(l, 10.5) <= mm(80.0)));
        assert_eq!(lines.join(" "), text);
    }

    #[test]
    fn one_page_per_letter() {
        let letter = Letter {
            recipient: vec!["Stadt Musterstadt".into()],
            qr_url: "https://austausch.example/login".into(),
            ..Letter::default()
        };
        let pdf = render(&[letter.clone(), letter]);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.starts_with("%PDF-"));
        assert_eq!(
            text.matches("/Type /Page\n").count() + text.matches("/Type /Page ").count(),
            2,
            "{}",
            &text[..text.len().min(2000)]
        );
    }
}
