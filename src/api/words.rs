//! The words of the contract as rules: a site key, a session or visitor id, an entity id (ASCII
//! words: a length and a charset) and a room (a length in characters, no control characters).
//! The validators of the API check these rules, and the OpenAPI document's schemas of the words
//! are built from the same rules (natively: [`schema`]), so a change of a limit changes both.

/// A word of ASCII letters (or only lowercase ones), digits and a few more characters,
/// `min..=max` bytes long (which is also its length in characters: every character it allows is
/// ASCII).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsciiWord {
    pub min: usize,
    pub max: usize,
    /// Only `a-z`, not `A-Z`.
    pub lowercase: bool,
    /// The characters allowed besides the letters and `0-9`.
    pub also: &'static str,
    /// Bit `b` is set when byte `b` is allowed (all of them are below 128).
    mask: u128,
}

impl AsciiWord {
    const fn new(min: usize, max: usize, also: &'static str) -> AsciiWord {
        AsciiWord::with_letters(min, max, false, also)
    }

    const fn with_letters(
        min: usize,
        max: usize,
        lowercase: bool,
        also: &'static str,
    ) -> AsciiWord {
        let mut mask = 0u128;
        let mut b = 0u8;
        while b < 128 {
            if b.is_ascii_digit()
                || b.is_ascii_lowercase()
                || (!lowercase && b.is_ascii_uppercase())
            {
                mask |= 1 << b;
            }
            b += 1;
        }
        let extra = also.as_bytes();
        let mut i = 0;
        while i < extra.len() {
            assert!(extra[i] < 128, "an ASCII word allows ASCII characters only");
            mask |= 1 << extra[i];
            i += 1;
        }
        AsciiWord {
            min,
            max,
            lowercase,
            also,
            mask,
        }
    }

    /// Whether `s` is such a word.
    pub fn allows(&self, s: &str) -> bool {
        (self.min..=self.max).contains(&s.len())
            && s.bytes().all(|b| b < 128 && self.mask >> b & 1 == 1)
    }
}

/// A site key: 1-64 characters of `A-Z a-z 0-9 . _ : -`.
pub const SITE: AsciiWord = AsciiWord::new(1, 64, "._:-");
/// A session or visitor id (client-generated): 8-64 characters of `A-Z a-z 0-9 _ -`.
pub const ID: AsciiWord = AsciiWord::new(8, 64, "_-");
/// An entity id: 1-128 characters of `A-Z a-z 0-9 . _ : @ -`.
pub const ENTITY: AsciiWord = AsciiWord::new(1, 128, "._:@-");
/// A signal's name (`typing`): 1-32 characters of `a-z 0-9 _ -`. The core checks it
/// (`presence::valid_signal`, which the core keeps to itself); a test holds the two to one rule.
#[cfg(not(target_arch = "wasm32"))]
pub const SIGNAL: AsciiWord = AsciiWord::with_letters(1, 32, true, "_-");

/// A room is 1-256 characters (Unicode scalar values), none of them a control character
/// (`char::is_control`: U+0000-U+001F, U+007F-U+009F).
pub const ROOM_MIN_CHARS: usize = 1;
pub const ROOM_MAX_CHARS: usize = 256;

/// Whether `s` is a room.
pub fn is_room(s: &str) -> bool {
    let chars = s.chars().count();
    (ROOM_MIN_CHARS..=ROOM_MAX_CHARS).contains(&chars) && !s.chars().any(char::is_control)
}

/// The schemas of the words, for the OpenAPI document (native builds only): each is a type
/// that only names its schema, built from the rules above and the limits of tokens and history.
#[cfg(not(target_arch = "wasm32"))]
pub mod schema {
    use std::borrow::Cow;

    use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

    use super::{AsciiWord, ENTITY, ID, ROOM_MAX_CHARS, ROOM_MIN_CHARS, SIGNAL, SITE};
    use crate::presence::history::Range;
    use crate::presence::OVERFLOW_ROOM;
    use crate::token::{AUDIENCE, LEEWAY_SECS, MAX_INFO_BYTES, MAX_LIFETIME_SECS, MAX_TOKEN_BYTES};

    impl AsciiWord {
        /// Its charset as a person reads it: `A-Z a-z 0-9 . _ : -`.
        pub fn charset_text(&self) -> String {
            let mut out = String::from(if self.lowercase {
                "a-z 0-9"
            } else {
                "A-Z a-z 0-9"
            });
            for c in self.also.chars() {
                out.push(' ');
                out.push(c);
            }
            out
        }

        /// The rule as a person reads it: `1-64 characters of `A-Z a-z 0-9 . _ : -``.
        pub fn rule_text(&self) -> String {
            format!(
                "{}-{} characters of `{}`",
                self.min,
                self.max,
                self.charset_text()
            )
        }

        /// A regular expression of the word (ECMA-262, as JSON Schema's `pattern`).
        pub fn pattern(&self) -> String {
            // inside a character class only `-` (kept last), `]`, `\` and `^` would mean more
            let also = self.also.trim_end_matches('-');
            assert!(
                !also.contains(['-', ']', '\\', '^']),
                "{also}: `-` only last, no `]`, `\\` or `^`"
            );
            let dash = if self.also.ends_with('-') { "-" } else { "" };
            let letters = if self.lowercase { "a-z" } else { "A-Za-z" };
            format!("^[{letters}0-9{also}{dash}]{{{},{}}}$", self.min, self.max)
        }

        fn schema(&self, description: String, examples: &[&str]) -> Schema {
            json_schema!({
                "description": description,
                "type": "string",
                "minLength": self.min,
                "maxLength": self.max,
                "pattern": self.pattern(),
                "examples": examples,
            })
        }
    }

    /// "1 min", "5 min", "1 h": a step of history.
    fn step_text(ms: u64) -> String {
        if ms.is_multiple_of(3_600_000) {
            format!("{} h", ms / 3_600_000)
        } else {
            format!("{} min", ms / 60_000)
        }
    }

    /// Types that stand for a word in the derived schemas (`#[schemars(with = "...")]`).
    macro_rules! words {
        ($($(#[$doc:meta])* $name:ident => $schema:expr;)*) => {$(
            $(#[$doc])*
            pub struct $name;

            impl JsonSchema for $name {
                fn schema_name() -> Cow<'static, str> {
                    stringify!($name).into()
                }

                fn json_schema(_: &mut SchemaGenerator) -> Schema {
                    $schema
                }
            }
        )*};
    }

    words! {
        /// `site`.
        SiteKey => SITE.schema(
            format!("A configured site key: {}.", SITE.rule_text()),
            &["example.com"],
        );
        /// `room`.
        Room => json_schema!({
            "description": format!(
                "Where on the site a session is, usually a path (`/pricing`) or a resource \
                 (`product:123`): {ROOM_MIN_CHARS}-{ROOM_MAX_CHARS} characters (Unicode code \
                 points), no control characters (U+0000-U+001F, U+007F-U+009F). Past \
                 `MAX_ROOMS` rooms, sessions are counted in the room `{OVERFLOW_ROOM}`."
            ),
            "type": "string",
            "minLength": ROOM_MIN_CHARS,
            "maxLength": ROOM_MAX_CHARS,
            // char::is_control: the Unicode category Cc
            "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*$",
            "examples": ["/pricing", "product:123"],
        });
        /// `session`.
        SessionId => ID.schema(
            format!(
                "One tab or connection: a client-generated id of {}.",
                ID.rule_text()
            ),
            &["s_7f3a9c1e"],
        );
        /// `visitor`.
        VisitorId => ID.schema(
            format!(
                "One browser: a client-generated id of {} (stored hashed, never raw). A session \
                 without a visitor counts as its own visitor.",
                ID.rule_text()
            ),
            &["v_1b2c3d4e"],
        );
        /// `entity`, and the entities of `watch`.
        EntityId => ENTITY.schema(
            format!(
                "A person or thing whose own status matters: {}.",
                ENTITY.rule_text()
            ),
            &["user:42", "customer:conv_123"],
        );
        /// A signal's name.
        Signal => SIGNAL.schema(
            format!(
                "A signal of an entity's session, a short-lived state (`typing`): {}.",
                SIGNAL.rule_text()
            ),
            &["typing"],
        );
        /// Epoch milliseconds (`Millis` where it is a time).
        EpochMillis => json_schema!({
            "description": "A time: milliseconds since the Unix epoch.",
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "examples": [1_763_800_000_000u64],
        });
        /// A token, as `token.rs` reads it.
        Jwt => json_schema!({
            "description": format!(
                "An HS256 JWT signed with the site's secret (`secret_env`) by the site's own \
                 back end: a header (`alg` HS256, optional `kid` naming one of the site's \
                 secrets) and claims `site`, `sub`, `scope`, `exp` (at most {} days ahead; `exp` \
                 and `nbf` get {} s of leeway), optional `nbf` and `aud` (only the string \
                 `{AUDIENCE}`). At most {MAX_TOKEN_BYTES} bytes.",
                MAX_LIFETIME_SECS / 86_400.0,
                LEEWAY_SECS,
            ),
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TOKEN_BYTES,
            "pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$",
        });
        /// The member info a track token carries.
        MemberInfo => json_schema!({
            "description": format!(
                "Member info: the JSON object (at most {MAX_INFO_BYTES} bytes serialized) the \
                 entity's track token carries as `info`, set by the site's back end, e.g. \
                 `{{\"name\":\"Ada\",\"avatar\":\"https://...\"}}`."
            ),
            "type": "object",
            "examples": [{ "name": "Ada", "avatar": "https://example.com/ada.png" }],
        });
        /// `range` of `/v1/history`.
        HistoryRange => {
            let text: Vec<String> = Range::ALL
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let steps = if i == 0 { " steps" } else { "" };
                    format!("`{}` ({}{steps} of {})", r.name(), r.points(), step_text(r.step_ms()))
                })
                .collect();
            let (last, rest) = text.split_last().expect("three ranges");
            json_schema!({
                "description": format!("{} or {last}.", rest.join(", ")),
                "type": "string",
                "enum": Range::ALL.map(Range::name),
            })
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_words_allow_exactly_their_charset_and_length() {
        for (word, also) in [(SITE, "._:-"), (ID, "_-"), (ENTITY, "._:@-")] {
            for b in 0..=255u8 {
                let s = String::from_utf8_lossy(&vec![b; word.min.max(1)]).into_owned();
                let expected = b.is_ascii_alphanumeric() || also.as_bytes().contains(&b);
                assert_eq!(word.allows(&s), expected, "{also}: byte {b}");
            }
            assert!(word.allows(&"a".repeat(word.max)));
            assert!(!word.allows(&"a".repeat(word.max + 1)));
            assert!(!word.allows(&"a".repeat(word.min - 1)));
        }
        assert!(!SITE.allows("é"));
    }

    #[test]
    fn the_signal_rule_is_the_cores() {
        for len in 0..=SIGNAL.max + 1 {
            for b in 0..=255u8 {
                let s = String::from_utf8_lossy(&vec![b; len]).into_owned();
                assert_eq!(
                    SIGNAL.allows(&s),
                    crate::presence::valid_signal(&s),
                    "{s:?}"
                );
            }
        }
    }

    #[test]
    fn rooms_count_characters_and_refuse_control_characters() {
        assert!(is_room(&"é".repeat(ROOM_MAX_CHARS)));
        assert!(!is_room(&"é".repeat(ROOM_MAX_CHARS + 1)));
        assert!(!is_room(""));
        for c in ['\u{0}', '\n', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert!(!is_room(&format!("a{c}b")), "{c:?}");
        }
        assert!(is_room("a b\u{a0}~other"));
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn the_patterns_and_texts_of_the_words_are_the_rules() {
        assert_eq!(SITE.pattern(), "^[A-Za-z0-9._:-]{1,64}$");
        assert_eq!(ID.pattern(), "^[A-Za-z0-9_-]{8,64}$");
        assert_eq!(ENTITY.pattern(), "^[A-Za-z0-9._:@-]{1,128}$");
        assert_eq!(SITE.rule_text(), "1-64 characters of `A-Z a-z 0-9 . _ : -`");
        assert_eq!(SIGNAL.pattern(), "^[a-z0-9_-]{1,32}$");
    }
}
