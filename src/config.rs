//! Configuration from the Worker's vars: the sites and their allowed origins, and the presence
//! settings (timing and ceilings). Parsed from plain strings, so it is tested natively.

use std::collections::HashMap;

use serde::Deserialize;

use crate::api::ApiError;
use crate::presence::{Config, Limits, WebhookEvents};

/// The contract's default for `SITES`.
pub const DEFAULT_SITES: &str = r#"{"demo":{"origins":["*"]}}"#;

/// One configured site.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct SiteConfig {
    #[serde(default)]
    pub origins: Vec<String>,
    /// The Worker secrets that sign this site's tokens, newest first: `"NAME"` or
    /// `["NEW", "OLD"]` while a secret is being rotated. Empty: entities are disabled.
    #[serde(default, deserialize_with = "one_or_many")]
    pub secret_env: Vec<String>,
    /// Entity events POSTed to the site's back end (needs `secret_env`, which signs them).
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// `/v1/rooms` and `/v1/history` only with a stats token (scope `stats`, signed with the
    /// site's secret); counts and the live feed stay public.
    #[serde(default)]
    pub private_stats: bool,
    /// How many Durable Objects hold the site (1-64): its sessions and sockets spread over
    /// them (see `presence/shards/`).
    #[serde(default = "one")]
    pub shards: u32,
}

fn one() -> u32 {
    1
}

/// `"webhook":{"url":"https://...","events":["entity.online","entity.away","entity.offline"]}`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Default: all three.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

impl WebhookConfig {
    pub fn events(&self) -> WebhookEvents {
        let wants = |name: &str| {
            self.events
                .as_ref()
                .is_none_or(|list| list.iter().any(|e| e == name))
        };
        WebhookEvents {
            online: wants("entity.online"),
            away: wants("entity.away"),
            offline: wants("entity.offline"),
        }
    }

    /// Only `https://`, except `http://127.0.0.1` and `http://localhost` for local testing.
    fn check(&self) -> Result<(), String> {
        let url = self.url.as_str();
        let local = ["http://127.0.0.1", "http://localhost"].iter().any(|p| {
            url.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
        let https = url
            .strip_prefix("https://")
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
        if !(https || local) {
            return Err(format!(
                "webhook url {url:?} must be https:// (or http://127.0.0.1, http://localhost)"
            ));
        }
        for e in self.events.iter().flatten() {
            if !matches!(
                e.as_str(),
                "entity.online" | "entity.away" | "entity.offline"
            ) {
                return Err(format!("unknown webhook event {e:?}"));
            }
        }
        Ok(())
    }
}

/// `"NAME"` or `["NAME", ...]`; names are non-empty.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    // A visitor of its own rather than an untagged enum: serde buffers an untagged value in
    // its private `Content` tree first, code the Worker's Wasm would carry for this one field.
    struct Names;
    impl<'de> serde::de::Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a name or a list of names")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
            Ok(vec![name.to_owned()])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut names = Vec::new();
            while let Some(n) = seq.next_element::<String>()? {
                names.push(n);
            }
            Ok(names)
        }
    }
    let names = d.deserialize_any(Names)?;
    if names.iter().any(|n| n.trim().is_empty()) {
        return Err(serde::de::Error::custom(
            "secret_env names must not be empty",
        ));
    }
    Ok(names)
}

impl SiteConfig {
    /// Whether a request with this `Origin` header may use the site. No `Origin` (a server,
    /// curl) is allowed; `"*"` allows any origin.
    pub fn allows_origin(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(o) => self
                .origins
                .iter()
                .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(o)),
        }
    }
}

/// All configured sites.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sites {
    sites: HashMap<String, SiteConfig>,
    /// Entries that do not validate, with why: a mistake in one site's entry takes down that
    /// site (500 `internal_error`, logged), not every site of the deployment.
    broken: HashMap<String, String>,
}

impl SiteConfig {
    /// The rules serde cannot say: what a site's entry needs together.
    fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.shards) {
            return Err("shards must be 1-64".into());
        }
        if self.private_stats && self.secret_env.is_empty() {
            return Err("private_stats needs secret_env (it signs the stats tokens)".into());
        }
        if let Some(w) = &self.webhook {
            w.check()?;
            if self.secret_env.is_empty() {
                return Err("a webhook needs secret_env (it signs the events)".into());
            }
        }
        Ok(())
    }
}

impl Sites {
    /// Parses the `SITES` var. A value that is not a JSON object breaks every site (the error
    /// says why); an entry that does not validate breaks only its site ([`Sites::broken`]).
    pub fn parse(json: &str) -> Result<Sites, String> {
        // Each entry is kept as its text and parsed on its own (from bytes, as every JSON the
        // Worker reads, so that each type's parser is in its Wasm once).
        type Entries<'a> = HashMap<String, &'a serde_json::value::RawValue>;
        let entries = serde_json::from_slice::<Entries>(json.as_bytes()).map_err(|e| {
            format!("SITES is not a JSON object of site -> {{\"origins\": [...]}}: {e}")
        })?;
        let mut out = Sites::default();
        for (key, entry) in entries {
            let site = serde_json::from_slice::<SiteConfig>(entry.get().as_bytes())
                .map_err(|e| {
                    // where in the entry's own text is no help to whoever reads the log
                    let mut why = e.to_string();
                    if let Some(at) = why.rfind(" at line ") {
                        why.truncate(at);
                    }
                    why
                })
                .and_then(|site| site.validate().map(|()| site));
            match site {
                Ok(site) => {
                    out.sites.insert(key, site);
                }
                Err(why) => {
                    let why = format!("SITES, site {key:?}: {why}; its requests answer 500");
                    out.broken.insert(key, why);
                }
            }
        }
        Ok(out)
    }

    /// Why each broken entry is broken (logged when `SITES` is read).
    pub fn broken(&self) -> impl Iterator<Item = &str> {
        self.broken.values().map(String::as_str)
    }

    /// A key of `SITES`, valid or not (for the logs: any other site is the client's text).
    pub fn is_configured(&self, site: &str) -> bool {
        self.sites.contains_key(site) || self.broken.contains_key(site)
    }

    pub fn get(&self, site: &str) -> Option<&SiteConfig> {
        self.sites.get(site)
    }

    /// Whether any site allows this origin (for a preflight that names no site).
    pub fn any_allows(&self, origin: Option<&str>) -> bool {
        self.sites.values().any(|s| s.allows_origin(origin))
    }

    /// The site's config, or the contract's 403 errors; 500 for a broken entry.
    pub fn check(&self, site: &str, origin: Option<&str>) -> Result<&SiteConfig, ApiError> {
        if self.broken.contains_key(site) {
            return Err(ApiError::internal());
        }
        let cfg = self.get(site).ok_or_else(|| ApiError::unknown_site(site))?;
        if !cfg.allows_origin(origin) {
            return Err(ApiError::forbidden_origin());
        }
        Ok(cfg)
    }
}

/// A decimal number of seconds (`45`, `2.5`, `.25`), above 0 and at most 86,400, in whole
/// milliseconds (rounded half up). Read by hand: the standard library's float parser would link
/// its tables into the Worker's Wasm for this alone.
fn seconds_as_ms(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) || whole.trim_start_matches('0').len() > 5 {
        return None;
    }
    let whole_ms = whole.parse::<u64>().unwrap_or(0) * 1000;
    // the first three decimals are milliseconds; the fourth rounds; a later one that is not 0
    // only matters to say whether the value is above 0 or above 86,400
    let digit = |i: usize| {
        fraction
            .as_bytes()
            .get(i)
            .map_or(0, |b| u64::from(b - b'0'))
    };
    let ms = whole_ms + digit(0) * 100 + digit(1) * 10 + digit(2);
    let rest_nonzero = fraction.bytes().skip(3).any(|b| b != b'0');
    let above_zero = ms > 0 || rest_nonzero;
    let at_most_a_day = ms < 86_400_000 || (ms == 86_400_000 && !rest_nonzero);
    let ms = ms + u64::from(digit(3) >= 5);
    (above_zero && at_most_a_day).then_some(ms)
}

/// The presence settings of every site's object from the Worker's vars (through `var`, name
/// -> value): timing and ceilings. A missing or unusable value keeps the contract's default.
/// Seconds may be fractional (`PRESENCE_TTL_SECONDS=2.5`); sockets stay under the platform's
/// 32,768 per object.
pub fn presence_config(var: impl Fn(&str) -> Option<String>) -> Config {
    let d = Config::default();
    let secs = |name: &str, default_ms: u64| {
        var(name)
            .and_then(|v| seconds_as_ms(v.trim()))
            .unwrap_or(default_ms)
    };
    let ms = |name: &str, default_ms: u64| {
        var(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|m| *m <= 3_600_000)
            .unwrap_or(default_ms)
    };
    let n = |name: &str, default: usize, max: usize| {
        var(name)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n >= 1)
            .map(|n| n.min(max))
            .unwrap_or(default)
    };
    Config {
        heartbeat_ms: secs("PRESENCE_HEARTBEAT_SECONDS", d.heartbeat_ms),
        ttl_ms: secs("PRESENCE_TTL_SECONDS", d.ttl_ms),
        broadcast_interval_ms: ms("BROADCAST_INTERVAL_MS", d.broadcast_interval_ms),
        leave_grace_ms: ms("LEAVE_GRACE_MS", d.leave_grace_ms),
        away_ttl_ms: secs("AWAY_TTL_SECONDS", d.away_ttl_ms),
        signal_ttl_ms: Some(ms("SIGNAL_TTL_MS", d.signal_ttl_ms))
            .filter(|m| *m >= 100)
            .unwrap_or(d.signal_ttl_ms),
        history: true,
        limits: Limits {
            max_sessions: n("MAX_SESSIONS", d.limits.max_sessions, 1_000_000),
            max_rooms: n("MAX_ROOMS", d.limits.max_rooms, 100_000),
            max_sockets: n("MAX_SOCKETS", d.limits.max_sockets, 32_000),
            max_sessions_per_address: n(
                "MAX_SESSIONS_PER_ADDRESS",
                d.limits.max_sessions_per_address,
                1_000_000,
            ),
            max_sockets_per_address: n(
                "MAX_SOCKETS_PER_ADDRESS",
                d.limits.max_sockets_per_address,
                32_000,
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_sites_allow_demo_from_anywhere() {
        let sites = Sites::parse(DEFAULT_SITES).unwrap();
        assert!(sites
            .check("demo", Some("https://anything.example"))
            .is_ok());
        assert!(sites.check("demo", None).is_ok());
        assert_eq!(
            sites.check("other", None).unwrap_err().code.as_str(),
            "unknown_site"
        );
    }

    #[test]
    fn origins_are_matched_exactly_and_no_origin_is_allowed() {
        let sites = Sites::parse(
            r#"{"shop":{"origins":["https://shop.example","http://localhost:3000/"]}}"#,
        )
        .unwrap();
        assert!(sites.check("shop", Some("https://shop.example")).is_ok());
        assert!(sites.check("shop", Some("http://localhost:3000")).is_ok());
        assert!(sites.check("shop", None).is_ok());
        for o in [
            "https://evil.example",
            "https://shop.example.evil",
            "http://shop.example",
            "null",
        ] {
            assert_eq!(
                sites.check("shop", Some(o)).unwrap_err().code.as_str(),
                "forbidden_origin",
                "{o}"
            );
        }
    }

    #[test]
    fn limits_read_vars_and_stay_under_the_platform_cap() {
        let l = presence_config(|n| match n {
            "MAX_SESSIONS" => Some("50".into()),
            "MAX_SOCKETS" => Some("99999".into()),
            "MAX_ROOMS" => Some("0".into()),
            _ => None,
        })
        .limits;
        assert_eq!(l.max_sessions, 50);
        assert_eq!(l.max_sockets, 32_000);
        assert_eq!(l.max_rooms, Limits::default().max_rooms);
    }

    #[test]
    fn secret_env_is_one_name_or_a_list_newest_first() {
        let sites = Sites::parse(
            r#"{"a":{"secret_env":"S"},"b":{"secret_env":["NEW","OLD"]},"c":{},"d":{"secret_env":null}}"#,
        )
        .unwrap();
        let names = |k: &str| sites.get(k).unwrap().secret_env.clone();
        assert_eq!(names("a"), ["S"]);
        assert_eq!(names("b"), ["NEW", "OLD"]);
        assert!(names("c").is_empty() && names("d").is_empty());
        assert!(broken(r#"{"a":{"secret_env":[""]}}"#).contains("must not be empty"));
        let why = broken(r#"{"a":{"secret_env":5}}"#);
        assert!(
            why.contains("secret_env") || why.contains("a name"),
            "{why}"
        );
        assert!(!why.contains(" at line "), "{why}");
    }

    #[test]
    fn webhooks_need_a_secret_and_an_https_or_local_url() {
        let json = |w: &str| format!(r#"{{"a":{{"secret_env":"S","webhook":{w}}}}}"#);
        let ok = |w: &str| {
            let s = Sites::parse(&json(w)).unwrap();
            s.get("a").is_some().then_some(s).ok_or(())
        };
        let s = ok(r#"{"url":"https://example.com/hooks/herenow"}"#).unwrap();
        let events = s.get("a").unwrap().webhook.as_ref().unwrap().events();
        assert!(
            events.online && events.away && events.offline,
            "all three by default"
        );
        let s = ok(r#"{"url":"http://127.0.0.1:9999/h","events":["entity.offline"]}"#).unwrap();
        let events = s.get("a").unwrap().webhook.as_ref().unwrap().events();
        assert!(!events.online && !events.away && events.offline);
        assert!(ok(r#"{"url":"http://localhost/h"}"#).is_ok());
        for bad in [
            r#"{"url":"http://example.com/h"}"#,
            r#"{"url":"http://127.0.0.1.evil.example/h"}"#,
            r#"{"url":"http://localhostx/h"}"#,
            r#"{"url":"ftp://example.com"}"#,
            r#"{"url":"https://"}"#,
            r#"{"url":"https://x.example","events":["entity.gone"]}"#,
            r#"{"url":"https://x.example","extra":1}"#,
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        assert!(broken(r#"{"a":{"webhook":{"url":"https://x.example"}}}"#).contains("secret_env"));
    }

    /// Why site `a` of `json` is broken ("" when it is not).
    fn broken(json: &str) -> String {
        let sites = Sites::parse(json).unwrap();
        assert!(sites.get("a").is_none() || sites.broken().next().is_none());
        sites.broken().collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn a_broken_sites_var_says_what_is_wrong_and_a_broken_entry_takes_down_only_its_site() {
        assert!(Sites::parse("[1,2]").unwrap_err().contains("SITES"));
        assert!(Sites::parse("{").unwrap_err().contains("SITES"));
        let sites = Sites::parse(
            r#"{"bad":{"origins":"*"},"stats":{"private_stats":true},"hook":{"secret_env":"S","webhook":{"url":"http://x.example"}},"many":{"shards":65},"good":{"origins":["*"]}}"#,
        )
        .unwrap();
        assert_eq!(
            sites.check("good", None).unwrap().shards,
            1,
            "the others work"
        );
        for key in ["bad", "stats", "hook", "many"] {
            assert!(sites.get(key).is_none());
            assert!(sites.is_configured(key));
            assert_eq!(
                sites.check(key, None).unwrap_err().code.as_str(),
                "internal_error",
                "{key}"
            );
        }
        let why: Vec<&str> = sites.broken().collect();
        assert_eq!(why.len(), 4);
        assert!(why
            .iter()
            .all(|w| w.starts_with("SITES, site ") && w.ends_with("answer 500")));
        assert!(why
            .iter()
            .any(|w| w.contains("\"many\"") && w.contains("1-64")));
        assert_eq!(
            sites.check("nope", None).unwrap_err().code.as_str(),
            "unknown_site"
        );
        assert!(!sites.is_configured("nope"));
    }

    #[test]
    fn timing_reads_vars_and_keeps_defaults_for_bad_values() {
        let t = presence_config(|n| match n {
            "PRESENCE_TTL_SECONDS" => Some("2.5".into()),
            "PRESENCE_HEARTBEAT_SECONDS" => Some("oops".into()),
            "BROADCAST_INTERVAL_MS" => Some("100".into()),
            _ => None,
        });
        assert_eq!(t.ttl_ms, 2500);
        assert_eq!(t.heartbeat_ms, 15_000);
        assert_eq!(t.broadcast_interval_ms, 100);
        assert_eq!(t.leave_grace_ms, 3000);
        assert_eq!(presence_config(|_| None), Config::default());
    }

    #[test]
    fn seconds_are_decimal_numbers_above_zero_and_at_most_a_day_in_whole_ms() {
        for (text, ms) in [
            ("45", 45_000),
            ("2.5", 2_500),
            (".25", 250),
            ("3.", 3_000),
            ("0.001", 1),
            ("1.0005", 1_001),
            ("1.0004999", 1_000),
            ("0.0004", 0),
            ("86400", 86_400_000),
            ("86400.000", 86_400_000),
            ("00012", 12_000),
        ] {
            assert_eq!(seconds_as_ms(text), Some(ms), "{text}");
        }
        for text in [
            "",
            ".",
            "0",
            "0.0",
            "000",
            "-1",
            "+1",
            "1e3",
            "inf",
            "NaN",
            "1.2.3",
            "1,5",
            " 1",
            "86400.0001",
            "86401",
            "999999999999999999999",
            "٣",
        ] {
            assert_eq!(seconds_as_ms(text), None, "{text:?}");
        }
    }
}
