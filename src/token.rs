//! Entity tokens: HS256 JWTs issued by a site's own back end and signed with the site's
//! secret. A track token lets a session carry one entity; a watch token lets its holder read
//! the entities its `watch` list names. No I/O: the time is an argument.
//!
//! Production rules, as mature verifiers apply them: a site may list several secrets (newest
//! first) so that it can rotate without refusing tokens in flight, and a header `kid` picks one
//! of them by name; `exp` and `nbf` get [`LEEWAY_SECS`] for clock skew between the site's back
//! end and the edge; a token must expire, within [`MAX_LIFETIME_SECS`]; `aud`, when present,
//! must name herenow.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::api::ApiError;
use crate::presence::pattern_allows;

/// Longest token accepted (a watch token with a long list is still far below this).
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: f64 = 30.0;
/// How far ahead `exp` may be: a week.
pub const MAX_LIFETIME_SECS: f64 = 7.0 * 24.0 * 3600.0;
/// The largest member info, serialized.
pub const MAX_INFO_BYTES: usize = 512;
/// The only `aud` accepted.
pub const AUDIENCE: &str = "herenow";

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// One of a site's secrets, by the name of the Worker secret that holds it.
#[derive(Clone, Copy, Debug)]
pub struct Key<'a> {
    pub name: &'a str,
    pub secret: &'a [u8],
}

/// `aud` as the token carries it: any JSON value, so that a list or a number is refused as
/// another audience (401 `bad_token`, "not herenow") rather than as a malformed token.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Audience(serde_json::Value);

impl Audience {
    /// Only the string `"herenow"` (a `null` is no `aud` and never reaches here): the contract
    /// says any other `aud` is 401, a list that contains "herenow" included.
    fn is_herenow(&self) -> bool {
        self.0.as_str() == Some(AUDIENCE)
    }
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
    #[serde(default)]
    pub aud: Option<Audience>,
    /// Member info carried by a track token: a JSON object of at most [`MAX_INFO_BYTES`].
    #[serde(default)]
    pub info: Option<serde_json::Value>,
    /// Rooms whose members a watch token may read (exact rooms, or prefixes ending in `*`).
    #[serde(default)]
    pub rooms: Vec<String>,
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
    UnknownKid,
    BadInfo,
    TooLongLived,
    OtherAudience,
    Expired,
    NotYetValid,
    OtherSite,
    NeedsScope(&'static str),
    OtherEntity,
    NotWatchable(String),
    /// A renewal that does not end later than the token it would replace.
    NotLater,
}

impl TokenError {
    /// The sentence for a person: why the token was refused.
    pub fn message(&self) -> &'static str {
        match self {
            TokenError::NotWatchable(_) => "The token does not allow what this socket reads.",
            other => sentence(other),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        match e {
            TokenError::NotWatchable(entity) => ApiError::not_watchable(&entity),
            other => ApiError::bad_token(sentence(&other)),
        }
    }
}

fn sentence(e: &TokenError) -> &'static str {
    {
        match e {
            TokenError::Missing => "A token is required.",
            TokenError::TooLong => "The token is too long.",
            TokenError::Malformed => "The token is not a well-formed JWT.",
            TokenError::NotHs256 => "The token must be signed with HS256.",
            TokenError::BadSignature => "The token's signature is not valid.",
            TokenError::MissingClaims => "The token lacks site, sub, scope or exp.",
            TokenError::UnknownKid => "The token's kid names no secret of this site.",
            TokenError::BadInfo => "The token's info must be a JSON object of at most 512 bytes.",
            TokenError::TooLongLived => "The token's exp is more than 7 days ahead.",
            TokenError::OtherAudience => "The token's aud is not \"herenow\".",
            TokenError::Expired => "The token has expired.",
            TokenError::NotYetValid => "The token is not valid yet.",
            TokenError::OtherSite => "The token is for another site.",
            TokenError::NeedsScope("track") => "A track token is required.",
            TokenError::NeedsScope("stats") => "A stats token is required.",
            TokenError::NeedsScope(_) => "A watch token is required.",
            TokenError::OtherEntity => "The token is for another entity.",
            TokenError::NotLater => "The new token must expire later than the one it renews.",
            TokenError::NotWatchable(_) => "The token does not allow watching this.",
        }
    }
}

fn b64(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)
}

/// Checks the signature (in constant time) against the site's keys, the algorithm, the time
/// window with its leeway, and the audience, and answers the claims. A header `kid` picks the
/// key of that name (and only it); without one, any key may have signed the token.
/// `now_ms` is epoch milliseconds.
pub fn verify(token: &str, keys: &[Key<'_>], now_ms: u64) -> Result<Claims, TokenError> {
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
    let candidates: Vec<&Key<'_>> = match &header.kid {
        Some(kid) => {
            let key = keys.iter().find(|k| k.name == kid);
            vec![key.ok_or(TokenError::UnknownKid)?]
        }
        None => keys.iter().collect(),
    };
    let signed = candidates.iter().any(|k| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(k.secret) else {
            return false;
        };
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&signature).is_ok()
    });
    if !signed {
        return Err(TokenError::BadSignature);
    }
    let claims: Claims = serde_json::from_slice(&b64(p)?).map_err(|_| TokenError::MissingClaims)?;
    let now = now_ms as f64 / 1000.0;
    if !claims.exp.is_finite() || claims.exp + LEEWAY_SECS <= now {
        return Err(TokenError::Expired);
    }
    if claims.exp > now + MAX_LIFETIME_SECS {
        return Err(TokenError::TooLongLived);
    }
    if claims
        .nbf
        .is_some_and(|nbf| !nbf.is_finite() || nbf > now + LEEWAY_SECS)
    {
        return Err(TokenError::NotYetValid);
    }
    if claims.aud.as_ref().is_some_and(|a| !a.is_herenow()) {
        return Err(TokenError::OtherAudience);
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

/// The member info of a track token, serialized: `None` when it carries none; 401 when it is
/// not an object or is larger than [`MAX_INFO_BYTES`].
pub fn track_info(claims: &Claims) -> Result<Option<String>, TokenError> {
    match &claims.info {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => {
            let text = v.to_string();
            if text.len() > MAX_INFO_BYTES {
                return Err(TokenError::BadInfo);
            }
            Ok(Some(text))
        }
        Some(_) => Err(TokenError::BadInfo),
    }
}

/// 403 `not_watchable` unless the token's `rooms` allow `room`.
pub fn check_room(claims: &Claims, room: &str) -> Result<(), TokenError> {
    if claims.rooms.iter().any(|p| pattern_allows(p, room)) {
        Ok(())
    } else {
        Err(TokenError::NotWatchable(room.to_owned()))
    }
}

/// What a socket's token grants it, kept with the socket (its attachment) for renewals: the
/// site, scope and `sub`, and until when (`exp` and the leeway, epoch ms).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Grant {
    pub site: String,
    pub scope: String,
    pub sub: String,
    pub until: u64,
}

impl Grant {
    pub fn of(claims: &Claims) -> Grant {
        Grant {
            site: claims.site.clone(),
            scope: claims.scope.clone(),
            sub: claims.sub.clone(),
            until: until_of(claims),
        }
    }
}

/// When a token's rights end: its `exp` and the leeway, epoch ms.
pub fn until_of(claims: &Claims) -> u64 {
    ((claims.exp + LEEWAY_SECS) * 1000.0).max(0.0) as u64
}

/// A socket's `token <jwt>`: a token of the same site, scope and `sub` as `grant` that still
/// allows what the socket reads (its watched entities, its members room: the new token's
/// `watch` and `rooms` replace the old ones) and ends later extends the socket until the
/// answer. Anything else changes nothing.
pub fn renewal(
    claims: &Claims,
    grant: &Grant,
    watch: &[String],
    members: Option<&str>,
) -> Result<u64, TokenError> {
    if claims.site != grant.site {
        return Err(TokenError::OtherSite);
    }
    if claims.scope != grant.scope {
        return Err(TokenError::NeedsScope(if grant.scope == "track" {
            "track"
        } else {
            "watch"
        }));
    }
    if claims.sub != grant.sub {
        return Err(TokenError::OtherEntity);
    }
    check_watchable(claims, watch)?;
    if let Some(room) = members {
        check_room(claims, room)?;
    }
    let until = until_of(claims);
    if until <= grant.until {
        return Err(TokenError::NotLater);
    }
    Ok(until)
}

/// A stats token for `site` (scope `stats`), for private stats.
pub fn check_stats(claims: &Claims, site: &str) -> Result<(), TokenError> {
    if claims.site != site {
        return Err(TokenError::OtherSite);
    }
    if claims.scope != "stats" {
        return Err(TokenError::NeedsScope("stats"));
    }
    Ok(())
}

#[cfg(test)]
/// Signs claims (for tests and tools; sites issue tokens in their own back ends).
pub fn sign(claims_json: &str, secret: &[u8]) -> String {
    sign_with_kid(claims_json, secret, None)
}

#[cfg(test)]
/// Signs claims with `kid` in the header when given.
pub fn sign_with_kid(claims_json: &str, secret: &[u8], kid: Option<&str>) -> String {
    let header = match kid {
        Some(kid) => serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string(),
        None => r#"{"alg":"HS256","typ":"JWT"}"#.to_owned(),
    };
    let h = URL_SAFE_NO_PAD.encode(header.as_bytes());
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
    const KEYS: &[Key<'static>] = &[Key {
        name: "S",
        secret: SECRET,
    }];
    const NOW: u64 = 1_763_800_000_000;
    const NOW_S: u64 = NOW / 1000;

    fn track(exp: u64) -> String {
        sign(
            &format!(r#"{{"site":"shop","sub":"user:42","scope":"track","exp":{exp}}}"#),
            SECRET,
        )
    }

    #[test]
    fn a_good_track_token_passes() {
        let c = verify(&track(NOW / 1000 + 60), KEYS, NOW).unwrap();
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
            let e = ApiError::from(verify(&t, KEYS, NOW).expect_err(&t));
            assert_eq!((e.status(), e.code.as_str()), (401, "bad_token"), "{t}");
        }
    }

    #[test]
    fn site_scope_and_entity_must_match() {
        let c = verify(&track(NOW / 1000 + 60), KEYS, NOW).unwrap();
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
            &format!(
                r#"{{"site":"shop","sub":"agent:7","scope":"watch","watch":["user:42","customer:*"],"exp":{}}}"#,
                NOW_S + 3600
            ),
            SECRET,
        );
        let c = verify(&t, KEYS, NOW).unwrap();
        check_watch(&c, "shop").unwrap();
        let ok = vec!["user:42".to_string(), "customer:conv_1".to_string()];
        check_watchable(&c, &ok).unwrap();
        let e = ApiError::from(check_watchable(&c, &["user:7".to_string()]).unwrap_err());
        assert_eq!((e.status(), e.code.as_str()), (403, "not_watchable"));
    }

    fn claims(extra: &str) -> String {
        format!(r#"{{"site":"shop","sub":"user:42","scope":"track"{extra}}}"#)
    }

    #[test]
    fn during_a_rotation_tokens_of_every_listed_secret_verify_and_kid_picks_one() {
        let keys = [
            Key {
                name: "NEW",
                secret: b"new-secret",
            },
            Key {
                name: "OLD",
                secret: b"old-secret",
            },
        ];
        let c = claims(&format!(r#","exp":{}"#, NOW_S + 600));
        for secret in [&b"new-secret"[..], b"old-secret"] {
            assert!(verify(&sign(&c, secret), &keys, NOW).is_ok());
        }
        assert!(verify(&sign_with_kid(&c, b"old-secret", Some("OLD")), &keys, NOW).is_ok());
        assert_eq!(
            verify(&sign_with_kid(&c, b"old-secret", Some("NEW")), &keys, NOW).unwrap_err(),
            TokenError::BadSignature,
            "a kid is checked against that secret only"
        );
        assert_eq!(
            verify(&sign_with_kid(&c, b"new-secret", Some("GONE")), &keys, NOW).unwrap_err(),
            TokenError::UnknownKid
        );
        // the old secret removed: its tokens are refused
        assert_eq!(
            verify(&sign(&c, b"old-secret"), &keys[..1], NOW).unwrap_err(),
            TokenError::BadSignature
        );
    }

    #[test]
    fn exp_and_nbf_have_thirty_seconds_of_leeway_and_exp_is_at_most_a_week_ahead() {
        let at = |extra: String| verify(&sign(&claims(&extra), SECRET), KEYS, NOW);
        assert!(at(format!(r#","exp":{}"#, NOW_S - 29)).is_ok());
        assert_eq!(
            at(format!(r#","exp":{}"#, NOW_S - 31)).unwrap_err(),
            TokenError::Expired
        );
        let exp = NOW_S + 600;
        assert!(at(format!(r#","exp":{exp},"nbf":{}"#, NOW_S + 29)).is_ok());
        assert_eq!(
            at(format!(r#","exp":{exp},"nbf":{}"#, NOW_S + 31)).unwrap_err(),
            TokenError::NotYetValid
        );
        assert!(at(format!(r#","exp":{}"#, NOW_S + 7 * 86_400 - 1)).is_ok());
        assert_eq!(
            at(format!(r#","exp":{}"#, NOW_S + 7 * 86_400 + 1)).unwrap_err(),
            TokenError::TooLongLived
        );
        assert_eq!(at(String::new()).unwrap_err(), TokenError::MissingClaims);
    }

    #[test]
    fn aud_when_present_must_be_the_string_herenow() {
        let at = |aud: &str| {
            verify(
                &sign(
                    &claims(&format!(r#","exp":{},"aud":{aud}"#, NOW_S + 60)),
                    SECRET,
                ),
                KEYS,
                NOW,
            )
        };
        assert!(at(r#""herenow""#).is_ok());
        assert!(at("null").is_ok(), "a null aud is no aud");
        for bad in [
            r#""other""#,
            r#""HERENOW""#,
            r#"["other","herenow"]"#,
            r#"["herenow"]"#,
            "[]",
            r#"["other"]"#,
            "5",
            "{}",
        ] {
            assert_eq!(at(bad).unwrap_err(), TokenError::OtherAudience, "{bad}");
        }
    }

    #[test]
    fn info_must_be_a_small_object_and_rooms_allow_exact_rooms_and_prefixes() {
        let with = |extra: &str| {
            verify(
                &sign(&claims(&format!(r#","exp":{}{extra}"#, NOW_S + 60)), SECRET),
                KEYS,
                NOW,
            )
            .unwrap()
        };
        assert_eq!(track_info(&with("")).unwrap(), None);
        assert_eq!(
            track_info(&with(r#","info":{"name":"Ada"}"#))
                .unwrap()
                .as_deref(),
            Some(r#"{"name":"Ada"}"#)
        );
        let big = format!(r#","info":{{"name":"{}"}}"#, "a".repeat(510));
        assert_eq!(track_info(&with(&big)), Err(TokenError::BadInfo));
        for bad in [r#","info":"Ada""#, r#","info":[1]"#, r#","info":5"#] {
            assert_eq!(track_info(&with(bad)), Err(TokenError::BadInfo), "{bad}");
        }
        let c = with(r#","rooms":["/docs/*","support"]"#);
        assert!(check_room(&c, "/docs/intro").is_ok());
        assert!(check_room(&c, "support").is_ok());
        assert!(check_room(&c, "support2").is_err());
        assert!(check_room(&c, "/api").is_err());
        assert!(check_room(&with(""), "/").is_err(), "no rooms: no members");
    }

    #[test]
    fn a_renewal_extends_only_with_the_same_site_scope_and_sub_ending_later() {
        let at = |claims: &str| verify(&sign(claims, SECRET), KEYS, NOW).unwrap();
        let watch = |exp: u64, extra: &str| {
            at(&format!(
                r#"{{"site":"shop","sub":"agent:7","scope":"watch","exp":{exp}{extra}}}"#
            ))
        };
        let first = watch(NOW_S + 60, r#","watch":["user:*"],"rooms":["/docs/*"]"#);
        let grant = Grant::of(&first);
        assert_eq!(grant.until, (NOW_S + 60 + 30) * 1000, "exp and the leeway");
        let reads = (vec!["user:1".to_owned()], Some("/docs/a"));
        let renew = |c: &Claims| renewal(c, &grant, &reads.0, reads.1);
        let later = watch(NOW_S + 600, r#","watch":["user:1"],"rooms":["/docs/a"]"#);
        assert_eq!(
            renew(&later),
            Ok((NOW_S + 630) * 1000),
            "lists replace the old ones"
        );
        let narrower = watch(NOW_S + 600, r#","watch":["user:2"],"rooms":["/docs/*"]"#);
        assert!(matches!(renew(&narrower), Err(TokenError::NotWatchable(_))));
        let no_room = watch(NOW_S + 600, r#","watch":["user:*"]"#);
        assert!(matches!(renew(&no_room), Err(TokenError::NotWatchable(_))));
        let same = watch(NOW_S + 60, r#","watch":["user:*"],"rooms":["/docs/*"]"#);
        assert_eq!(renew(&same), Err(TokenError::NotLater));
        let other = at(&format!(
            r#"{{"site":"shop","sub":"agent:8","scope":"watch","exp":{},"watch":["user:*"],"rooms":["/docs/*"]}}"#,
            NOW_S + 600
        ));
        assert_eq!(renew(&other), Err(TokenError::OtherEntity));
        let track = at(&format!(
            r#"{{"site":"shop","sub":"agent:7","scope":"track","exp":{}}}"#,
            NOW_S + 600
        ));
        assert_eq!(renew(&track), Err(TokenError::NeedsScope("watch")));
        let elsewhere = at(&format!(
            r#"{{"site":"blog","sub":"agent:7","scope":"watch","exp":{},"watch":["user:*"],"rooms":["/docs/*"]}}"#,
            NOW_S + 600
        ));
        assert_eq!(renew(&elsewhere), Err(TokenError::OtherSite));
    }
}
