//! The page shell every UI page shares (head, navigation, sign-out) and the
//! small formatters pages use (sizes, dates, badges).
//!
//! Pages are written with maud's `html!`, which escapes every interpolated
//! value: text another domain wrote (titles, descriptions, domain names)
//! reaches the browser only as text. Scripts and styles come from
//! `/assets/`, never inline, so the Content-Security-Policy the UI sends
//! can forbid inline script altogether.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use mesh_protocol::descriptor::Classification;

use super::session::Session;

/// The page a link in the navigation stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Nav {
    Catalog,
    Governance,
    Access,
    Node,
    Publish,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · meshd" }
            link rel="stylesheet" href="/assets/app.css";
            script src="/assets/app.js" defer {}
        }
    }
}

/// A whole page for a signed-in user.
pub(super) fn page(title: &str, nav: Nav, session: &Session, body: &Markup) -> Response {
    let link = |to: Nav, href: &str, label: &str| {
        html! {
            @if nav == to {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/" { "meshd" }
                    nav aria-label="Main" {
                        (link(Nav::Catalog, "/", "Catalog"))
                        (link(Nav::Governance, "/governance", "Governance"))
                        (link(Nav::Access, "/access", "Access"))
                        (link(Nav::Publish, "/publish", "Publish"))
                        (link(Nav::Node, "/node", "Node"))
                    }
                    form.signout method="post" action="/signout" {
                        (csrf(session))
                        button type="submit" { "Sign out" }
                    }
                }
                main id="main" { (body) }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// The hidden anti-CSRF field every form carries.
pub(super) fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="_csrf" value=(session.csrf); }
}

/// The sign-in page, with an optional message (a wrong token).
pub(super) fn signin(next: &str, message: Option<&str>, status: StatusCode) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head("Sign in"))
            body {
                main.signin id="main" {
                    h1 { "Sign in to this meshd node" }
                    @if let Some(m) = message {
                        p.error role="alert" id="signin-error" { (m) }
                    }
                    form method="post" action="/signin" {
                        input type="hidden" name="next" value=(next);
                        label for="token" { "API token" }
                        input id="token" name="token" type="password" autocomplete="off" required autofocus;
                        p.hint { "The token is in the file " code { "api.token" } " in the node's data directory ("
                            code { "cat DATA_DIR/api.token" } ")." }
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// A page that says what went wrong; needs no session.
pub(super) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/" { "meshd" } }
                main id="main" {
                    h1 { (title) }
                    p.error role="alert" { (message) }
                    p { a href="/" { "Back to the catalog" } }
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// A size in bytes, in binary units.
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss, reason = "a display figure")]
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A time in milliseconds since the epoch, as `2026-12-07 16:07 UTC`.
pub(super) fn date(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || format!("{ms} ms"),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

/// How long ago `ms` was, from `now_ms`: "5 min ago", "3 days ago".
pub(super) fn ago(ms: u64, now_ms: u64) -> String {
    let secs = now_ms.saturating_sub(ms) / 1000;
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// Milliseconds since the epoch, now.
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A classification badge; strictest classes stand out.
pub(super) fn classification(c: Option<Classification>) -> Markup {
    match c {
        None => html! { span.badge.unclassified { "unclassified" } },
        Some(c) => {
            let class = format!("badge c-{c}");
            html! { span class=(class) { (c.to_string()) } }
        }
    }
}

/// A state badge: `ok` green, `bad` red, anything else neutral.
pub(super) fn state(label: &str, tone: Tone) -> Markup {
    let class = match tone {
        Tone::Good => "badge good",
        Tone::Bad => "badge bad",
        Tone::Neutral => "badge",
    };
    html! { span class=(class) { (label) } }
}

/// How a state badge looks.
#[derive(Clone, Copy)]
pub(super) enum Tone {
    Good,
    Bad,
    Neutral,
}

/// Whether `id` is a well-formed `DOMAIN/name` (hex domain, a product
/// name's characters): the only ids pages put into a path. Ids come from
/// other nodes' records, and a name like `../x` must never become a path.
pub(super) fn safe_id(id: &str) -> bool {
    id.split_once('/').is_some_and(|(domain, name)| {
        !domain.is_empty()
            && domain.bytes().all(|b| b.is_ascii_hexdigit())
            && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    })
}

/// The path of a product's page (the catalog for an id that is not
/// well-formed).
pub(super) fn product_href(id: &str) -> String {
    if safe_id(id) {
        format!("/products/{id}")
    } else {
        "/".to_owned()
    }
}

/// A product id shortened for display: `1a2b3c4d…/name`.
pub(super) fn short_domain(id: &str) -> String {
    id.get(..8)
        .map_or_else(|| id.to_owned(), |s| format!("{s}…"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_dates_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(1 << 30), "1.0 GiB");
        assert_eq!(date(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(ago(0, 90_000), "1 min ago");
        assert_eq!(ago(0, 3 * 86_400_000), "3 days ago");
    }

    #[test]
    fn only_well_formed_ids_become_paths() {
        let d = "ab".repeat(16);
        assert_eq!(
            product_href(&format!("{d}/orders")),
            format!("/products/{d}/orders")
        );
        for bad in [
            format!("{d}/../x"),
            format!("{d}/a/b"),
            "x/orders".to_owned(),
            format!("{d}/Orders"),
            d.clone(),
        ] {
            assert_eq!(product_href(&bad), "/", "{bad}");
        }
    }

    #[test]
    fn interpolated_text_is_escaped() {
        let hostile = "<script>alert(1)</script>\"'&";
        let out = html! { p { (hostile) } a href=(hostile) {} }.into_string();
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(!out.contains("href=\"<"), "{out}");
    }
}
