//! Obvious bots by User-Agent: crawlers, link-preview fetchers, uptime monitors and
//! automation. Their pings get 403 `bot` and are never counted.
//!
//! The list is deliberately of *obvious* names only: a false positive hides a real visitor.
//! Plain HTTP clients (curl, server back ends) and an absent User-Agent are not bots here:
//! a site's own back end may ping on a user's behalf. Headless browsers that name themselves
//! (`HeadlessChrome`, `PhantomJS`) are bots too, so scrapers cannot inflate a counter; a site
//! lets them count only with `BLOCK_HEADLESS=false` (for its own end-to-end tests).

/// Lower-case fragments that mark a crawler, preview fetcher or monitor.
pub const BOT_MARKERS: &[&str] = &[
    // generic self-descriptions
    "bot/",
    "-bot",
    "_bot",
    "crawler",
    "spider",
    "crawling",
    "scraper",
    // search engines and SEO crawlers
    "googlebot",
    "bingbot",
    "slurp",
    "duckduckbot",
    "baiduspider",
    "yandexbot",
    "yandex.com/bots",
    "exabot",
    "ahrefsbot",
    "semrushbot",
    "mj12bot",
    "dotbot",
    "petalbot",
    "applebot",
    "bytespider",
    "seznambot",
    "rogerbot",
    "screaming frog",
    "google-inspectiontool",
    "storebot-google",
    "adsbot-google",
    "mediapartners-google",
    "feedfetcher",
    // AI crawlers
    "gptbot",
    "chatgpt-user",
    "oai-searchbot",
    "claudebot",
    "claude-web",
    "anthropic-ai",
    "ccbot",
    "perplexitybot",
    "amazonbot",
    "meta-externalagent",
    "cohere-ai",
    "diffbot",
    // link previews
    "facebookexternalhit",
    "facebookcatalog",
    "twitterbot",
    "slackbot",
    "slack-imgproxy",
    "discordbot",
    "telegrambot",
    "whatsapp/",
    "linkedinbot",
    "skypeuripreview",
    "embedly",
    "redditbot",
    "pinterestbot",
    "vkshare",
    "iframely",
    "bitlybot",
    "outbrain",
    "quora link preview",
    "zoominfobot",
    "cardyb",
    // monitors, audits and archivers
    "uptimerobot",
    "pingdom",
    "statuscake",
    "site24x7",
    "newrelicpinger",
    "datadog",
    "lighthouse",
    "pagespeed",
    "gtmetrix",
    "chrome-lighthouse",
    "ia_archiver",
    "archive.org_bot",
    "check_http",
    "nagios",
    "zabbix",
    "w3c_validator",
    "w3c-checklink",
    // automation
    "phantomjs",
    "selenium",
    "webdriver",
    "puppeteer",
    "playwright",
    "cypress",
    "wget",
    "scrapy",
    "httrack",
    "nutch",
    "heritrix",
    "python-urllib",
    "libwww-perl",
];

/// Lower-case fragments of headless browsers that say so; matched unless `block_headless` is
/// off (`BLOCK_HEADLESS=false`).
pub const HEADLESS_MARKERS: &[&str] = &["headlesschrome", "headless"];

/// Whether this User-Agent is an obvious bot.
pub fn is_bot(user_agent: Option<&str>, block_headless: bool) -> bool {
    let Some(ua) = user_agent else {
        return false;
    };
    let ua = ua.to_ascii_lowercase();
    BOT_MARKERS.iter().any(|m| ua.contains(m))
        || (block_headless && HEADLESS_MARKERS.iter().any(|m| ua.contains(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    const EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
    const SAMSUNG: &str = "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36";

    #[test]
    fn real_browsers_and_plain_clients_are_not_bots() {
        for ua in [
            CHROME, SAFARI_IOS, FIREFOX, EDGE, SAMSUNG, "curl/8.5.0", "node", "",
            "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 YaBrowser/24.1 Mobile Safari/537.36",
        ] {
            assert!(!is_bot(Some(ua), true), "{ua}");
        }
        assert!(!is_bot(None, true));
    }

    #[test]
    fn crawlers_previews_and_monitors_are_bots() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "TelegramBot (like TwitterBot)",
            "WhatsApp/2.23.20.0",
            "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
            "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
            "Wget/1.21.4",
            "Scrapy/2.11.0 (+https://scrapy.org)",
            "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        ] {
            assert!(is_bot(Some(ua), false), "{ua}");
        }
    }

    #[test]
    fn headless_browsers_are_bots_unless_the_site_lets_them_count() {
        let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36";
        assert!(is_bot(Some(ua), true));
        assert!(!is_bot(Some(ua), false));
        let phantom = "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1";
        assert!(
            is_bot(Some(phantom), false),
            "automation tools are always bots"
        );
    }
}
