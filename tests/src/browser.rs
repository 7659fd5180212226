//! A real Chromium for the web UI's tests, driven over the W3C WebDriver
//! protocol (<https://www.w3.org/TR/webdriver2/>) by Debian's
//! `chromium-driver` (installed, with `chromium`, by `scripts/setup.sh`),
//! and a plain HTTP/1.1 client for what a browser would never send (forged
//! cross-site POSTs, no cookie at all).
//!
//! The WebDriver client is the handful of endpoints the tests use (new
//! session, navigate, find by CSS, click, send keys, text, attribute,
//! execute script, screenshot, source), JSON over the node's own minimal
//! HTTP client: no second HTTP stack in the build.
//!
//! Each [`Browser`] runs its own chromedriver on a free loopback port, in
//! its own process group with its own profile directory, so tests run side
//! by side; dropping it kills the group (chromedriver and its Chromium).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test harness: a failed unwrap is a failed test"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mesh_node::api::client::{call, json_body};
use serde_json::{Value, json};

use crate::TIMEOUT;
use crate::daemon::Daemon;

/// The W3C key of an element reference in WebDriver's JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver and one Chromium session.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium it started.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One WebDriver command; the answer's `value`, or a panic naming the
/// WebDriver error.
fn command(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    try_command(addr, method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn try_command(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let bytes = body.map(json_body);
    let mut reader = bytes.as_deref().unwrap_or(&[]);
    let len = reader.len() as u64;
    let answer = call(
        addr,
        method,
        path,
        None,
        bytes
            .is_some()
            .then_some((&mut reader as &mut dyn Read, len, "application/json")),
    )
    .map_err(|e| e.to_string())?;
    let v = answer.json().map_err(|e| e.to_string())?;
    if answer.status == 200 {
        Ok(v["value"].clone())
    } else {
        Err(format!("{} {}", answer.status, v["value"]))
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (1280x900).
    pub fn start() -> Self {
        let profile = tempfile::tempdir().unwrap();
        let port = free_port();
        let driver = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver (scripts/setup.sh installs chromium-driver)");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + TIMEOUT;
        while try_command(addr, "GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    "--no-first-run", "--disable-extensions",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let created = command(addr, "POST", "/session", Some(&caps));
        let session = created["sessionId"].as_str().unwrap().to_owned();
        Self {
            driver,
            addr,
            session,
            _profile: profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        command(
            self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
    }

    /// Navigates to `url`.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({"url": url})));
    }

    /// Opens `path` on `node`'s API address.
    pub fn open(&self, node: &Daemon, path: &str) {
        self.goto(&format!("http://{}{path}", node.api));
    }

    /// The current page's path.
    pub fn path(&self) -> String {
        let url = self.cmd("GET", "/url", None);
        let url = url.as_str().unwrap();
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let path = rest.find('/').map_or("/", |i| &rest[i..]);
        path.split(['?', '#']).next().unwrap_or("/").to_owned()
    }

    /// Signs in to `node` with `token` from its sign-in page.
    pub fn sign_in(&self, node: &Daemon, token: &str) {
        self.open(node, "/signin");
        self.fill("#token", token);
        self.click("main form button[type=submit]");
    }

    /// The element `css` if the page has it now.
    pub fn try_find(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.session);
        let body = json!({"using": "css selector", "value": css});
        try_command(self.addr, "POST", &path, Some(&body))
            .ok()
            .and_then(|v| v[ELEMENT].as_str().map(str::to_owned))
    }

    /// The element `css`, waited for (bounded).
    pub fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(e) = self.try_find(css) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}:\n{}",
                self.path(),
                self.text_now("body")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `text` into the field `css` (cleared first). A file input
    /// takes a path.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        let _ = try_command(
            self.addr,
            "POST",
            &format!("/session/{}/element/{e}/clear", self.session),
            Some(&json!({})),
        );
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(&json!({"text": text})),
        );
    }

    /// Clicks the element `css`.
    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(&json!({})));
    }

    /// The visible text of the element `css`, waited for.
    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.cmd("GET", &format!("/element/{e}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn text_now(&self, css: &str) -> String {
        self.try_find(css).map_or_else(String::new, |e| {
            try_command(
                self.addr,
                "GET",
                &format!("/session/{}/element/{e}/text", self.session),
                None,
            )
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
        })
    }

    /// An attribute of the element `css`, waited for.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let e = self.find(css);
        self.cmd("GET", &format!("/element/{e}/attribute/{name}"), None)
            .as_str()
            .map(str::to_owned)
    }

    /// Runs `script` (a function body) in the page; its return value.
    pub fn execute(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": []})),
        )
    }

    /// The whole page's HTML as the browser holds it.
    pub fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Polls (bounded) until `check` holds for the text of `css`.
    pub fn wait_text(&self, css: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let text = self.text_now(css);
            if check(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} never satisfied:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Reloads `path` until `check` holds for the page's text (bounded).
    pub fn wait_page(&self, node: &Daemon, path: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            self.open(node, path);
            let text = self.text("body");
            if check(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "{path} never satisfied:\n{text}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Resizes the window (CSS pixels), e.g. to a phone's 390x844.
    pub fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(&json!({"width": width, "height": height})),
        );
    }

    /// Whether the page fits its window's width (no sideways scrolling of
    /// the page itself; wide tables scroll inside their own box).
    pub fn fits_width(&self) -> bool {
        self.execute("return document.documentElement.scrollWidth <= window.innerWidth;")
            == json!(true)
    }

    /// Saves a PNG of the page into `target/ui-screenshots/NAME.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64_decode(b64.as_str().unwrap());
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// Standard base64 (RFC 4648) to bytes: WebDriver's screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

/// Where the test run leaves its screenshots (beside the built binaries).
pub fn screenshot_dir() -> PathBuf {
    let exe = crate::meshd_binary();
    exe.parent()
        .and_then(std::path::Path::parent)
        .map_or_else(|| PathBuf::from("target"), std::path::Path::to_path_buf)
        .join("ui-screenshots")
}

fn chromedriver() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned())
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| {
        [
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("chromium")
        .to_owned()
    })
}

/// A raw HTTP/1.1 answer.
pub struct Raw {
    /// Status code.
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

impl Raw {
    /// The first header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request with exactly these headers (plus Host, Connection: close
/// and Content-Length), the way a hostile page or script could send it.
pub fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Raw {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&[*k, ": ", *v, "\r\n"].concat());
    }
    req.push_str(
        &[
            "Content-Length: ",
            &body.len().to_string(),
            "\r\n\r\n",
            body,
        ]
        .concat(),
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Raw {
        status,
        headers,
        body: dechunk(body),
    }
}

/// The body of a chunked answer, joined (hyper chunks larger pages).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return body.to_owned();
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_owned();
        };
        if n == 0 {
            return out;
        }
        let Some(chunk) = after.get(..n) else {
            return body.to_owned();
        };
        out.push_str(chunk);
        rest = after.get(n + 2..).unwrap_or("");
    }
}

/// Signs in over plain HTTP; returns the `Cookie` header value and the
/// session's anti-CSRF token (read off a page's form).
pub fn session(node: &Daemon) -> (String, String) {
    let form = format!("token={}&next=%2Fnode", node.token);
    let answer = raw(
        node.api,
        "POST",
        "/signin",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let set = answer.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = raw(node.api, "GET", "/node", &[("Cookie", &cookie)], "");
    let csrf = page
        .body
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    (cookie, csrf)
}
