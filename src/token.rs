//! Entity tokens: HS256 JWTs issued by a site's own back end and signed with the site's
//! secret. A track token lets a session carry one entity; a watch token lets its holder read
//! the entities its `watch` list names. No I/O: the time is an argument.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::api::ApiError;
use crate::presence::pattern_allows;

/// Longest token accepted (a watch token with a long list is still far below this).
pub const MAX_TOKEN_BYTES: usize = 4096;

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
}

/// The claims herenow reads.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Claims {
    pub site: String,
    pub sub: String,
    pub scope: String,
    /// Expiry, seconds since the epoch (a JWT NumericDate).
    pub exp: f64,
    /// Not before, if present.
    #[serde(default)]
    pub nbf: Option<f64>,
    #[serde(default)]
    pub watch: Vec<String>,
}

/// Why a token was refused. Every reason is 401 `bad_token` except [`TokenError::NotWatchable`]
/// (403 `not_watchable`): the token is fine, the entity is outside its `watch` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    TooLong,
    Malformed,
    NotHs256,
    BadSignature,
    MissingClaims,
    Expired,
    NotYetValid,
    OtherSite,
    NeedsScope(&'static str),
    OtherEntity,
    NotWatchable(String),
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        let message = match e {
            TokenError::Missing => "A token is required.",
            TokenError::TooLong => "The token is too long.",
            TokenError::Malformed => "The token is not a well-formed JWT.",
            TokenError::NotHs256 => "The token must be signed with HS256.",
            TokenError::BadSignature => "The token's signature is not valid.",
            TokenError::MissingClaims => "The token lacks site, sub, scope or exp.",
            TokenError::Expired => "The token has expired.",
            TokenError::NotYetValid => "The token is not valid yet.",
            TokenError::OtherSite => "The token is for another site.",
            TokenError::NeedsScope("track") => "A track token is required.",
            TokenError::NeedsScope(_) => "A watch token is required.",
            TokenError::OtherEntity => "The token is for another entity.",
            TokenError::NotWatchable(entity) => return ApiError::not_watchable(&entity),
        };
        ApiError::bad_token(message)
    }
}

fn b64(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)
}

/// Checks the signature (in constant time), the algorithm and the time window, and answers
/// the claims. `now_ms` is epoch milliseconds.
pub fn verify(token: &str, secret: &[u8], now_ms: u64) -> Result<Claims, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Header = serde_json::from_slice(&b64(h)?).map_err(|_| TokenError::Malformed)?;
    if header.alg != "HS256" {
        return Err(TokenError::NotHs256);
    }
    let signature = b64(s)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| TokenError::BadSignature)?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    let claims: Claims = serde_json::from_slice(&b64(p)?).map_err(|_| TokenError::MissingClaims)?;
    let now = now_ms as f64 / 1000.0;
    if !claims.exp.is_finite() || claims.exp <= now {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now) {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

/// A track token for `site` that lets a session carry `entity`.
pub fn check_track(claims: &Claims, site: &str, entity: &str) -> Result<(), TokenError> {
    if claims.site != site {
        return Err(TokenError::OtherSite);
    }
    if claims.scope != "track" {
        return Err(TokenError::NeedsScope("track"));
    }
    if claims.sub != entity {
        return Err(TokenError::OtherEntity);
    }
    Ok(())
}

/// A watch token for `site`; answers its watch patterns.
pub fn check_watch(claims: &Claims, site: &str) -> Result<(), TokenError> {
    if claims.site != site {
        return Err(TokenError::OtherSite);
    }
    if claims.scope != "watch" {
        return Err(TokenError::NeedsScope("watch"));
    }
    Ok(())
}

/// 403 `not_watchable` unless the token's list covers every entity.
pub fn check_watchable(claims: &Claims, entities: &[String]) -> Result<(), TokenError> {
    for e in entities {
        if !claims.watch.iter().any(|p| pattern_allows(p, e)) {
            return Err(TokenError::NotWatchable(e.clone()));
        }
    }
    Ok(())
}

/// Signs claims (for tests and tools; sites issue tokens in their own back ends).
pub fn sign(claims_json: &str, secret: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(claims_json.as_bytes());
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{h}.{p}.{s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";
    const NOW: u64 = 1_763_800_000_000;

    fn track(exp: u64) -> String {
        sign(
            &format!(r#"{{"site":"shop","sub":"user:42","scope":"track","exp":{exp}}}"#),
            SECRET,
        )
    }

    #[test]
    fn a_good_track_token_passes() {
        let c = verify(&track(NOW / 1000 + 60), SECRET, NOW).unwrap();
        check_track(&c, "shop", "user:42").unwrap();
    }

    #[test]
    fn every_bad_token_is_bad_token() {
        let good = track(NOW / 1000 + 60);
        let (h, rest) = good.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let other_payload = URL_SAFE_NO_PAD
            .encode(br#"{"site":"shop","sub":"user:1","scope":"track","exp":9999999999}"#);
        let cases = [
            String::new(),
            "abc".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{h}.{p}.{}", "A".repeat(43)),
            format!("{h}.{other_payload}.{s}"),
            format!("{none_header}.{p}."),
            format!("{none_header}.{p}.{s}"),
            sign(
                r#"{"site":"shop","sub":"user:42","scope":"track","exp":1}"#,
                SECRET,
            ),
            sign(r#"{"site":"shop","sub":"user:42","scope":"track"}"#, SECRET),
            sign(
                r#"{"site":"shop","sub":"user:42","scope":"track","exp":9999999999}"#,
                b"other",
            ),
            sign(
                r#"{"site":"shop","sub":"user:42","scope":"track","exp":9999999999,"nbf":9999999998}"#,
                SECRET,
            ),
        ];
        for t in cases {
            let e = ApiError::from(verify(&t, SECRET, NOW).expect_err(&t));
            assert_eq!((e.status(), e.code.as_str()), (401, "bad_token"), "{t}");
        }
    }

    #[test]
    fn site_scope_and_entity_must_match() {
        let c = verify(&track(NOW / 1000 + 60), SECRET, NOW).unwrap();
        let code = |e: TokenError| ApiError::from(e).code.as_str();
        assert_eq!(
            code(check_track(&c, "other", "user:42").unwrap_err()),
            "bad_token"
        );
        assert_eq!(
            code(check_track(&c, "shop", "user:7").unwrap_err()),
            "bad_token"
        );
        assert_eq!(code(check_watch(&c, "shop").unwrap_err()), "bad_token");
    }

    #[test]
    fn watch_lists_allow_exact_ids_and_prefixes() {
        let t = sign(
            r#"{"site":"shop","sub":"agent:7","scope":"watch","watch":["user:42","customer:*"],"exp":9999999999}"#,
            SECRET,
        );
        let c = verify(&t, SECRET, NOW).unwrap();
        check_watch(&c, "shop").unwrap();
        let ok = vec!["user:42".to_string(), "customer:conv_1".to_string()];
        check_watchable(&c, &ok).unwrap();
        let e = ApiError::from(check_watchable(&c, &["user:7".to_string()]).unwrap_err());
        assert_eq!((e.status(), e.code.as_str()), (403, "not_watchable"));
    }
}
