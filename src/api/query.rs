//! Query strings: `application/x-www-form-urlencoded`, decoded strictly. A repeated parameter
//! is an error (it is ambiguous), and so is anything that is not percent-encoded UTF-8.

use super::ApiError;

/// Decoded query parameters. A repeated parameter is an error: it is ambiguous.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses an `application/x-www-form-urlencoded` query (without the `?`).
    pub fn parse(query: &str) -> Result<Query, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = percent_decode(k)?;
            let v = percent_decode(v)?;
            if pairs.iter().any(|(pk, _)| *pk == k) {
                return Err(ApiError::bad_request(format!(
                    "The parameter \"{k}\" is given more than once."
                )));
            }
            pairs.push((k, v));
        }
        Ok(Query { pairs })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request("The query string is not valid percent-encoded UTF-8.");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// The query of a serialized URL (what follows the first `?`, up to a `#`), without parsing
/// the rest: a WHATWG URL percent-encodes any `?` in its path, so the first one starts the query.
pub fn query_of(url: &str) -> &str {
    let Some(start) = url.find('?') else {
        return "";
    };
    let rest = &url[start + 1..];
    &rest[..rest.find('#').unwrap_or(rest.len())]
}

/// The path of a serialized URL (from the first `/` after the host, up to a `?` or `#`), as
/// workers-rs's `Request::path()` reads it: a WHATWG URL of an `https:` request always has a
/// path, in which `?` and `#` are percent-encoded.
pub fn path_of(url: &str) -> &str {
    let after_host = url.find("://").map_or(0, |i| i + 3);
    let Some(slash) = url[after_host..].find('/') else {
        return "/";
    };
    let path = &url[after_host + slash..];
    &path[..path.find(['?', '#']).unwrap_or(path.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_of_a_url_is_from_the_host_to_the_query() {
        assert_eq!(path_of("https://h.example/v1/count?site=a"), "/v1/count");
        assert_eq!(path_of("https://h.example:8787/v1/ping#x"), "/v1/ping");
        assert_eq!(path_of("https://h.example/"), "/");
        assert_eq!(path_of("https://h.example"), "/");
        assert_eq!(path_of("https://h.example/a%3Fb?c"), "/a%3Fb");
        assert_eq!(path_of("/v1/live?x"), "/v1/live");
    }

    #[test]
    fn the_query_of_a_url_is_what_follows_the_first_question_mark() {
        assert_eq!(
            query_of("https://h.example/v1/count?site=a&room=%2F"),
            "site=a&room=%2F"
        );
        assert_eq!(query_of("https://h.example/v1/count?site=a#frag"), "site=a");
        assert_eq!(query_of("https://h.example/v1/count"), "");
        assert_eq!(query_of("https://h.example/v1/count?"), "");
        assert_eq!(query_of("https://h.example/v1/x?a=1?b=2"), "a=1?b=2");
    }

    #[test]
    fn queries_decode_and_reject_repeats() {
        let q = Query::parse("site=demo&room=%2Fpricing%20page&x=").unwrap();
        assert_eq!(q.get("site"), Some("demo"));
        assert_eq!(q.get("room"), Some("/pricing page"));
        assert_eq!(q.get("x"), Some(""));
        assert!(Query::parse("site=a&site=b").is_err());
        assert!(Query::parse("room=%zz").is_err());
        assert!(Query::parse("room=%ff").is_err());
    }
}
