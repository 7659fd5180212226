//! Who may use the web UI, and which requests are the user's own.
//!
//! A browser cannot send the API's bearer token by itself, so the token is
//! pasted once into the sign-in page and exchanged for a session: a random
//! 256-bit id in a cookie the page's scripts cannot read (`HttpOnly`) and
//! the browser sends only on requests this site starts (`SameSite=Strict`).
//! Sessions live in memory, idle out after [`IDLE`], and are at most
//! [`MAX_SESSIONS`] (the oldest goes first); a restart signs everyone out.
//!
//! Every state-changing request is a POST that must prove it came from one
//! of this node's own pages, twice over (OWASP's "synchronizer token" and
//! "verifying origin with standard headers" defences):
//! - the session's anti-CSRF token, in the form (`_csrf`) or in the
//!   `X-CSRF-Token` header of a script's request, compared in constant
//!   time; another site can make a browser send the cookie, never read the
//!   token;
//! - an `Origin` header, when present, naming this very host, and no
//!   `Sec-Fetch-Site: cross-site`.
//!
//! The cookie's name carries the node's API port, since browsers share
//! cookies between ports of one host: two nodes on one machine keep
//! separate sessions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::layout;
use crate::api::{ApiState, token};

/// A session unused this long is gone.
const IDLE: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept at once; the least recently used goes first.
const MAX_SESSIONS: usize = 256;
/// Largest form body an action takes (a vote's reason, a request's reason).
pub(super) const MAX_FORM_BYTES: usize = 64 * 1024;

/// One signed-in browser.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The cookie's value.
    id: String,
    /// The anti-CSRF token every form of this session carries.
    pub(crate) csrf: String,
    last_used: Instant,
}

/// The signed-in browsers of this node.
#[derive(Default)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

fn random_hex() -> String {
    mesh_protocol::bytes::to_hex(&rand::random::<[u8; 32]>())
}

impl Sessions {
    /// A new session; evicts the least recently used beyond the cap.
    fn open(&self) -> Option<Session> {
        let mut map = self.by_id.lock().ok()?;
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_used) < IDLE);
        while map.len() >= MAX_SESSIONS {
            let oldest = map
                .values()
                .min_by_key(|s| s.last_used)
                .map(|s| s.id.clone())?;
            map.remove(&oldest);
        }
        let session = Session {
            id: random_hex(),
            csrf: random_hex(),
            last_used: now,
        };
        map.insert(session.id.clone(), session.clone());
        Some(session)
    }

    /// The live session with this id, marked used.
    fn touch(&self, id: &str) -> Option<Session> {
        let mut map = self.by_id.lock().ok()?;
        let now = Instant::now();
        let live = map
            .get(id)
            .is_some_and(|s| now.duration_since(s.last_used) < IDLE);
        if !live {
            map.remove(id);
            return None;
        }
        let s = map.get_mut(id)?;
        s.last_used = now;
        Some(s.clone())
    }

    fn close(&self, id: &str) {
        if let Ok(mut map) = self.by_id.lock() {
            map.remove(id);
        }
    }
}

/// The session cookie's name for the API listening on `host` (`ip:port`).
fn cookie_name(headers: &HeaderMap) -> String {
    let port = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, p)| p)
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty())
        .unwrap_or("80");
    format!("meshd_session_{port}")
}

/// The session cookie's value, if the request carries one.
fn cookie_value(headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(headers);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(headers: &HeaderMap, value: &str, max_age: u64) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}",
        cookie_name(headers)
    )
}

/// The live session a request's cookie names, if any.
pub(super) fn current(s: &ApiState, headers: &HeaderMap) -> Option<Session> {
    cookie_value(headers).and_then(|id| s.sessions.touch(&id))
}

/// Whether the request's `Origin` (when sent) is this host, and the
/// browser does not call it cross-site.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let origin_ok = match headers.get(ORIGIN).map(|o| o.to_str()) {
        None => true,
        Some(Ok(origin)) => host.is_some_and(|h| origin == format!("http://{h}")),
        Some(Err(_)) => false,
    };
    let site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v != "cross-site" && v != "same-site");
    origin_ok && site_ok
}

/// The `_csrf` field of a urlencoded form.
fn form_csrf(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.into_owned())
}

/// Only this site's own pages may change state.
fn refused(why: &str) -> Response {
    layout::error_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        &format!("{why}. Go back to the page, reload it and try again."),
    )
}

/// Paths anyone may load: the sign-in page and the static assets.
fn public(path: &str) -> bool {
    path == "/signin" || path.starts_with("/assets/")
}

/// The guard in front of every UI route: a live session for everything
/// but sign-in and assets, and for POSTs the same-origin check and the
/// session's anti-CSRF token. Puts the [`Session`] into the request's
/// extensions for the handlers.
pub(super) async fn guard(State(s): State<ApiState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let post = request.method() == Method::POST;
    if !loopback_host(request.headers()) {
        return refused("This node's pages answer only on its loopback address");
    }
    if post && !same_origin(request.headers()) {
        return refused("A cross-site request cannot change anything on this node");
    }
    if public(&path) {
        return next.run(request).await;
    }
    let session = current(&s, request.headers());
    let Some(session) = session else {
        if post {
            return refused("You are not signed in (or your session ended)");
        }
        if path.starts_with("/ui/") {
            return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
        }
        let next_page = request
            .uri()
            .path_and_query()
            .map_or("/", axum::http::uri::PathAndQuery::as_str);
        let to: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next_page)
            .finish();
        return Redirect::to(&format!("/signin?{to}")).into_response();
    };
    let mut request = request;
    let header_token = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(given) = header_token.filter(|_| post) {
        // A script's request (an upload's body is streamed, not read here).
        if !token::matches(&session.csrf, &given) {
            return refused("This request did not come from this node's own page");
        }
    } else if post {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
            return layout::error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "The form is larger than this node takes.",
            );
        };
        if !form_csrf(&bytes).is_some_and(|g| token::matches(&session.csrf, &g)) {
            return refused("This form did not come from this node's own page");
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// Where to go after signing in: a path on this site, never elsewhere.
pub(super) fn local_path(next: Option<&str>) -> String {
    match next {
        // Visible ASCII only: browsers drop tabs and newlines while parsing
        // a URL, so `/\t/evil.example` would become `//evil.example`.
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'\\') =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Whether the request names this machine's loopback as its host. The API
/// listens only on loopback; any other name (a rebinding attacker's domain
/// resolving to 127.0.0.1) is refused before the origin check, which
/// compares against this header.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `GET /signin`.
pub(super) async fn signin_page(
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let next = local_path(q.get("next").map(String::as_str));
    layout::signin(&next, None, StatusCode::OK)
}

/// `POST /signin`: the API token for a session cookie.
pub(super) async fn signin(
    State(s): State<ApiState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let next = local_path(form.get("next").map(String::as_str));
    let given = form.get("token").map_or("", |t| t.trim());
    if given.is_empty() || !token::matches(&s.token, given) {
        return layout::signin(
            &next,
            Some(
                "That is not this node's API token. It is in the file api.token in the node's data directory.",
            ),
            StatusCode::UNAUTHORIZED,
        );
    }
    let Some(session) = s.sessions.open() else {
        return layout::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "The session table is unavailable.",
        );
    };
    let mut response = Redirect::to(&next).into_response();
    if let Ok(v) = set_cookie(&headers, &session.id, IDLE.as_secs()).parse() {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}

/// `POST /signout`: ends the session and clears the cookie.
pub(super) async fn signout(
    State(s): State<ApiState>,
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
) -> Response {
    s.sessions.close(&session.id);
    let mut response = Redirect::to("/signin").into_response();
    if let Ok(v) = set_cookie(&headers, "", 0).parse() {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_must_be_this_host() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:9090")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site")
        ])));
    }

    #[test]
    fn only_loopback_names_are_this_host() {
        for ok in [
            "127.0.0.1:7420",
            "127.0.0.9:1",
            "localhost:7420",
            "[::1]:7420",
            "127.0.0.1",
        ] {
            assert!(loopback_host(&headers(&[("host", ok)])), "{ok}");
        }
        for bad in [
            "evil.example:7420",
            "10.0.0.1:7420",
            "localhost.evil.example",
            "",
        ] {
            assert!(!loopback_host(&headers(&[("host", bad)])), "{bad}");
        }
        assert!(!loopback_host(&HeaderMap::new()));
    }

    #[test]
    fn cookie_is_per_port_and_found_among_others() {
        let h = headers(&[
            ("host", "127.0.0.1:8080"),
            (
                "cookie",
                "a=1; meshd_session_9090=x; meshd_session_8080=mine",
            ),
        ]);
        assert_eq!(cookie_value(&h).as_deref(), Some("mine"));
        let other = headers(&[
            ("host", "127.0.0.1:9090"),
            ("cookie", "meshd_session_8080=y"),
        ]);
        assert_eq!(cookie_value(&other), None);
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local_path(Some("/governance")), "/governance");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(Some("/\t/evil.example")), "/");
        assert_eq!(local_path(Some("/\n/evil.example")), "/");
        assert_eq!(local_path(Some("/?q=a%20b")), "/?q=a%20b");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn sessions_open_touch_close_and_cap() {
        let sessions = Sessions::default();
        let a = sessions.open().unwrap();
        assert!(sessions.touch(&a.id).is_some());
        assert!(sessions.touch("nope").is_none());
        sessions.close(&a.id);
        assert!(sessions.touch(&a.id).is_none());
        let first = sessions.open().unwrap();
        for _ in 0..MAX_SESSIONS {
            sessions.open();
        }
        assert!(sessions.touch(&first.id).is_none(), "the oldest went first");
    }
}
