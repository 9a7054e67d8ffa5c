//! `GET /v1/badge.svg`: an "online now | 42" badge for pages without JavaScript, READMEs and
//! e-mails. Drawn here as plain SVG text: sized from an estimate of the text's width in
//! Verdana 11px (the usual badge font), every piece of text escaped, nothing from the query
//! ever read as markup.

use super::{parse_room, parse_site, ApiError, ErrorCode, Query};

/// The label when the query names none.
pub const DEFAULT_LABEL: &str = "online now";
/// A longer label is cut (with an ellipsis).
pub const MAX_LABEL_CHARS: usize = 48;

/// `GET /v1/badge.svg?site=S[&room=R][&label=TEXT]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadgeQuery {
    pub site: String,
    pub room: Option<String>,
    pub label: String,
}

pub fn parse_badge(q: &Query) -> Result<BadgeQuery, ApiError> {
    let site = parse_site(q.get("site"))?;
    let room = parse_room(q.get("room"))?;
    Ok(BadgeQuery {
        site,
        room,
        label: label_of(q),
    })
}

/// The badge's label: the query's `label` without control characters, cut at
/// [`MAX_LABEL_CHARS`], or [`DEFAULT_LABEL`]. Read whatever the rest of the query is, so a
/// refused badge still carries its label.
pub fn label_of(q: &Query) -> String {
    match q.get("label") {
        None => DEFAULT_LABEL.to_owned(),
        Some(l) => {
            let clean: String = l.chars().filter(|c| !c.is_control()).collect();
            let clean = clean.trim();
            if clean.chars().count() > MAX_LABEL_CHARS {
                let cut: String = clean.chars().take(MAX_LABEL_CHARS - 1).collect();
                format!("{}…", cut.trim_end())
            } else {
                clean.to_owned()
            }
        }
    }
}

/// What a refused badge shows in its value box: an `<img>` cannot show a JSON error, so the
/// refusal is an image too (with the error's status), and says what is wrong in a few words.
pub fn refusal_words(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::UnknownSite => "unknown site",
        ErrorCode::ForbiddenOrigin => "origin refused",
        ErrorCode::BadRequest => "bad request",
        ErrorCode::RateLimited => "slow down",
        ErrorCode::Bot => "not for bots",
        _ => "unavailable",
    }
}

/// The colour of a refused badge's value box.
pub const REFUSED_COLOR: &str = "#b45309";

/// The width of `text` in Verdana 11px, in pixels (a per-character estimate; unknown
/// characters count as wide ones, so the text never overflows its box).
pub fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'I' | '!' | '\'' | '|' | '.' | ',' | ':' | ';' => 3.4,
            'j' | 't' | 'f' | 'r' | ' ' | '(' | ')' | '[' | ']' | '-' => 4.6,
            'm' | 'w' => 9.9,
            'M' | 'W' => 11.2,
            'a'..='z' => 6.6,
            'A'..='Z' => 7.6,
            '0'..='9' => 7.0,
            _ if c.is_ascii() => 7.0,
            _ => 11.0,
        })
        .sum()
}

/// Escapes text for SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// A count as the badge shows it: 999, then 1.2k, 12k, 1.2M.
pub fn short_count(n: u32) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=9_999 => format!("{}.{}k", n / 1000, (n % 1000) / 100),
        10_000..=999_999 => format!("{}k", n / 1000),
        _ => format!("{}.{}M", n / 1_000_000, (n % 1_000_000) / 100_000),
    }
}

/// A length in half pixels as SVG reads it (`25`, `25.5`): written from integers, since printing
/// an `f64` would link the standard library's float formatting (~13 KB of Wasm) for this alone.
struct Halves(u64);

impl std::fmt::Display for Halves {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0 / 2)?;
        if self.0 % 2 == 1 {
            f.write_str(".5")?;
        }
        Ok(())
    }
}

/// The badge: a grey label box and a green value box (grey when nobody is there).
pub fn svg(label: &str, value: &str, live: bool) -> String {
    svg_in(label, value, if live { "#16a34a" } else { "#6b7280" })
}

/// The badge with its value box in `color`.
pub fn svg_in(label: &str, value: &str, color: &str) -> String {
    let pad = 6.0;
    // whole pixels (a text is at most a few hundred wide); the centres are halves of them
    let lw = (text_width(label) + 2.0 * pad).round() as u64;
    let vw = (text_width(value) + 2.0 * pad).round() as u64;
    let (label, value) = (escape(label), escape(value));
    let (w, lx, vx) = (Halves(2 * (lw + vw)), Halves(lw), Halves(2 * lw + vw));
    let (lw, vw) = (Halves(2 * lw), Halves(2 * vw));
    format!(
        concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{label}: {value}">"##,
            r##"<title>{label}: {value}</title>"##,
            r##"<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>"##,
            r##"<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>"##,
            r##"<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{color}"/><rect width="{w}" height="20" fill="url(#s)"/></g>"##,
            r##"<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">"##,
            r##"<text x="{lx}" y="15" fill="#010101" fill-opacity=".3">{label}</text><text x="{lx}" y="14">{label}</text>"##,
            r##"<text x="{vx}" y="15" fill="#010101" fill-opacity=".3">{value}</text><text x="{vx}" y="14">{value}</text>"##,
            r#"</g></svg>"#
        ),
        w = w,
        lw = lw,
        vw = vw,
        lx = lx,
        vx = vx,
        color = color,
        label = label,
        value = value,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<BadgeQuery, ApiError> {
        parse_badge(&Query::parse(s).unwrap())
    }

    #[test]
    fn a_hostile_label_is_text_never_markup() {
        let b = q("site=d&label=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%20onload%3D%22x").unwrap();
        let s = svg(&b.label, "3", true);
        assert!(!s.contains("<script"), "{s}");
        assert!(!s.contains("\" onload"), "{s}");
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot; onload=&quot;x"));
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
    }

    #[test]
    fn labels_default_are_cut_and_lose_control_characters() {
        assert_eq!(q("site=d").unwrap().label, "online now");
        assert_eq!(q("site=d&label=a%0Ab").unwrap().label, "ab");
        let long = "x".repeat(100);
        let cut = q(&format!("site=d&label={long}")).unwrap().label;
        assert_eq!(cut.chars().count(), MAX_LABEL_CHARS);
        assert!(cut.ends_with('…'));
        assert!(q("label=x").is_err(), "a site is required");
        assert!(q("site=d&room=").is_err());
    }

    #[test]
    fn the_badge_grows_with_its_text() {
        let short = svg("online now", "3", true);
        let long = svg("people reading this page right now", "1.2k", true);
        let width = |s: &str| -> f64 {
            let w = s.split("width=\"").nth(1).unwrap();
            w[..w.find('"').unwrap()].parse().unwrap()
        };
        assert!(width(&long) > width(&short) + 100.0);
        assert!(text_width("MMM") > text_width("iii") * 2.0);
        assert!(short.contains("#16a34a") && svg("x", "0", false).contains("#6b7280"));
    }

    #[test]
    fn lengths_are_written_as_whole_or_half_pixels() {
        assert_eq!(
            [0, 1, 2, 51, 130].map(|h| Halves(h).to_string()),
            ["0", "0.5", "1", "25.5", "65"]
        );
        // the same lengths as printing the widths and centres as f64 would
        for (label, value) in [("online now", "3"), ("people here", "1.2k"), ("é", "42")] {
            let lw = (text_width(label) + 12.0).round();
            let vw = (text_width(value) + 12.0).round();
            let s = svg(label, value, true);
            for (name, v) in [("width", lw + vw), ("x", lw / 2.0), ("x", lw + vw / 2.0)] {
                assert!(
                    s.contains(&format!(r#" {name}="{v}""#)),
                    "{name}={v} in {s}"
                );
            }
        }
    }

    #[test]
    fn counts_are_short() {
        assert_eq!(
            [0, 42, 999, 1_000, 1_250, 12_345, 999_999, 1_234_567].map(short_count),
            ["0", "42", "999", "1.0k", "1.2k", "12k", "999k", "1.2M"]
        );
    }
}
