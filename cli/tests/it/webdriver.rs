//! A headless Chromium driven through chromedriver, for the dashboard tests.
//!
//! The tests need seven WebDriver commands (new session, navigate, run a
//! script, pointer actions, screenshot, a DevTools call, end session), so this speaks the W3C
//! WebDriver protocol directly: JSON over one HTTP/1.1 request per command on
//! a plain loopback socket. A WebDriver client crate would bring several
//! dozen crates into the build for the same six calls.
//!
//! Chromium is required, not optional: when it is missing the test fails and
//! says which packages to install, so a machine without it cannot pass the
//! dashboard tests by skipping them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::process::free_port;

/// The first of `names` found on `PATH`.
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn required(names: &[&str]) -> PathBuf {
    find_program(names).unwrap_or_else(|| {
        panic!(
            "the dashboard tests need headless Chromium and chromedriver, and none of {names:?} is on PATH; \
             install the Debian packages chromium and chromium-driver (.ci/run does)"
        )
    })
}

/// One browser session; dropping it ends the session and chromedriver.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile and
    /// everything that would reach for the network switched off.
    pub fn launch() -> Self {
        let chromium = required(&["chromium", "chromium-browser", "google-chrome"]);
        let chromedriver = required(&["chromedriver"]);
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Self {
            driver,
            port,
            session: String::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while browser.request("GET", "/status", None).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on port {port} within 10s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--window-size=1360,1000",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let answer = browser
            .command("POST", "/session", Some(capabilities))
            .unwrap_or_else(|e| panic!("Chromium at {} did not start: {e}", chromium.display()));
        browser.session = answer["sessionId"]
            .as_str()
            .expect("a new session has an id")
            .to_owned();
        browser
    }

    /// Makes every page this session opens record its uncaught errors and
    /// Content-Security-Policy violations, for [`Browser::page_errors`].
    pub fn record_page_errors(&self) {
        self.devtools(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": "window.__pageErrors = []; \
                addEventListener('error', (e) => __pageErrors.push('error: ' + e.message)); \
                addEventListener('unhandledrejection', (e) => __pageErrors.push('rejection: ' + e.reason)); \
                document.addEventListener('securitypolicyviolation', \
                    (e) => __pageErrors.push('CSP ' + e.violatedDirective + ': ' + e.blockedURI));"}),
        );
    }

    /// What [`Browser::record_page_errors`] caught on the current page.
    pub fn page_errors(&self) -> Vec<String> {
        serde_json::from_value(
            self.eval("return window.__pageErrors ?? ['errors were not recorded']"),
        )
        .unwrap_or_default()
    }

    pub fn goto(&self, url: &str) {
        self.session_command("url", json!({ "url": url }));
    }

    /// Runs `script` (a function body: use `return`) in the page.
    pub fn eval(&self, script: &str) -> Value {
        self.session_command("execute/sync", json!({"script": script, "args": []}))
    }

    /// Runs `script` until it returns something other than `null`/`false`,
    /// failing the test with `what` and the page's state after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, script: &str) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.eval(script);
            if !value.is_null() && value != Value::Bool(false) {
                return value;
            }
            if Instant::now() >= deadline {
                let page = self.eval(
                    "return {conn: document.getElementById('conn')?.textContent, \
                             hash: location.hash, \
                             text: document.getElementById('app')?.innerText.slice(0, 2000)}",
                );
                panic!("waited {limit:?} for {what}; the page: {page:#}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Moves a real mouse through `points` (viewport pixels), pressing the
    /// left button at the first and releasing it at the last when `drag`:
    /// the browser sees the same mousedown, mousemove and mouseup events a
    /// person's mouse makes.
    pub fn pointer(&self, points: &[(i64, i64)], drag: bool) {
        let mut actions = Vec::new();
        for (i, &(x, y)) in points.iter().enumerate() {
            actions.push(json!({"type": "pointerMove", "duration": 50, "origin": "viewport", "x": x, "y": y}));
            if drag && i == 0 {
                actions.push(json!({"type": "pointerDown", "button": 0}));
            }
        }
        if drag {
            actions.push(json!({"type": "pointerUp", "button": 0}));
        }
        self.session_command(
            "actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}]}),
        );
    }

    /// Resizes the window, e.g. to fit a whole page in a screenshot.
    pub fn resize(&self, width: u32, height: u32) {
        self.session_command("window/rect", json!({"width": width, "height": height}));
    }

    /// Emulates `prefers-color-scheme: dark` (or light).
    pub fn color_scheme(&self, scheme: &str) {
        self.devtools(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        );
    }

    /// Runs a Chrome DevTools Protocol command.
    pub fn devtools(&self, cmd: &str, params: Value) -> Value {
        self.session_command("goog/cdp/execute", json!({"cmd": cmd, "params": params}))
    }

    /// Saves a PNG of the viewport to `path`, creating its directory.
    pub fn screenshot(&self, path: &Path) {
        let png = self.session_get("screenshot");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a screenshot is base64 text"))
            .expect("the screenshot decodes");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn session_command(&self, command: &str, body: Value) -> Value {
        let path = format!("/session/{}/{command}", self.session);
        self.command("POST", &path, Some(body))
            .unwrap_or_else(|e| panic!("WebDriver {command} failed: {e}"))
    }

    fn session_get(&self, command: &str) -> Value {
        let path = format!("/session/{}/{command}", self.session);
        self.command("GET", &path, None)
            .unwrap_or_else(|e| panic!("WebDriver {command} failed: {e}"))
    }

    /// A command's `value`, or the WebDriver error as text.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let (status, text) = self
            .request(method, path, body)
            .map_err(|e| format!("no answer from chromedriver: {e}"))?;
        let answer: Value =
            serde_json::from_str(&text).map_err(|e| format!("{e} in answer {text:?}"))?;
        let value = answer["value"].clone();
        if status == 200 {
            Ok(value)
        } else {
            Err(format!(
                "{status} {}: {}",
                value["error"].as_str().unwrap_or_default(),
                value["message"].as_str().unwrap_or(&text)
            ))
        }
    }

    /// One HTTP/1.1 exchange with chromedriver on a new connection.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> std::io::Result<(u16, String)> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        // chromedriver keeps the connection open whatever the request says,
        // so the answer ends where its length says, not at end of stream.
        let mut raw = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if let Some(answer) = complete_answer(&raw) {
                return Ok(answer);
            }
        }
        complete_answer(&raw).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "chromedriver closed the connection mid-answer",
            )
        })
    }
}

/// The status and body of a whole HTTP answer in `raw`, or `None` while
/// more bytes are due.
fn complete_answer(raw: &[u8]) -> Option<(u16, String)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok())?;
    let payload = &raw[split..];
    let body = if head.contains("transfer-encoding: chunked") {
        if !payload.ends_with(b"0\r\n\r\n") {
            return None;
        }
        dechunk(payload)
    } else {
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if payload.len() < length {
            return None;
        }
        payload[..length].to_vec()
    };
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = self.request("DELETE", &path, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Undoes `Transfer-Encoding: chunked`.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let rest = &body[eol + 2..];
        match size {
            Some(size) if size > 0 && rest.len() >= size => {
                out.extend_from_slice(&rest[..size]);
                body = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
            }
            _ => break,
        }
    }
    out
}

/// Where screenshots go: `target/test-artifacts/`.
pub fn artifact(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("test-artifacts")
        .join(name)
}
