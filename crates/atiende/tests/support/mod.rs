//! What the binary's tests share: the binary started as a person starts it, its CLI, and an
//! HTTP client that keeps a session. Each test file uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_atiende");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn atiende(db_url: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ATIENDE_DATABASE_URL", db_url)
        // The suite's key, so that the binary opens the secrets a test sealed and the reverse.
        .env(
            "ATIENDE_SECRETS_KEY",
            atiende_store::testing::TEST_SECRETS_KEY,
        )
        .env("ATIENDE_LOG", "warn");
    cmd
}

/// Runs one CLI command to its end: success, standard output, standard error.
pub fn cli(db_url: &str, dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = atiende(db_url, dir)
        .args(args)
        .output()
        .expect("run atiende");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A CLI command that must succeed; its standard output.
pub fn cli_ok(db_url: &str, dir: &std::path::Path, args: &[&str]) -> String {
    let (ok, out, err) = cli(db_url, dir, args);
    assert!(ok, "{err}");
    out
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub banner: Vec<String>,
}

impl Drop for Server {
    /// A failed test must not leave its server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(db_url: &str, dir: &std::path::Path, envs: &[(&str, &str)]) -> Server {
        Server::start_on(free_port(), db_url, dir, envs)
    }

    pub fn start_on(
        port: u16,
        db_url: &str,
        dir: &std::path::Path,
        envs: &[(&str, &str)],
    ) -> Server {
        let mut cmd = atiende(db_url, dir);
        cmd.env("ATIENDE_LISTEN", format!("127.0.0.1:{port}"))
            // The administrator these tests log in as works with a password alone.
            .env("ATIENDE_SECOND_FACTOR_REQUIRED_ROLES", "[]")
            .envs(envs.iter().copied());
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start atiende");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        while banner.len() < 2 {
            match lines.next() {
                Some(Ok(line)) => banner.push(line),
                _ => panic!("atiende exited before it was ready: {banner:?}"),
            }
        }
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            banner,
        }
    }

    /// SIGTERM, then the exit status: a graceful shutdown exits with success.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        false
    }
}

pub struct Http {
    pub agent: ureq::Agent,
    pub base: String,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Http {
    pub fn new(base: &str) -> Http {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Http {
            agent,
            base: base.into(),
            cookie: None,
            csrf: None,
        }
    }

    /// A request to the service carrying this session (cookie and CSRF token), if any.
    pub fn request(&self, method: &str, path: &str) -> ureq::http::request::Builder {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("atiende_session={c}"));
        }
        if let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        req
    }

    /// A JSON request whose answer is only its status; None when no answer came.
    pub fn try_send(&self, method: &str, path: &str, body: Value) -> Option<u16> {
        let request = self
            .request(method, path)
            .header("content-type", "application/json")
            .body(body.to_string())
            .ok()?;
        self.agent.run(request).ok().map(|r| r.status().as_u16())
    }

    pub fn send(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let req = self.request(method, path);
        let response = match body {
            Some(b) => self.agent.run(
                req.header("content-type", "application/json")
                    .body(b.to_string())
                    .expect("request"),
            ),
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut response = response.expect("response");
        if let Some(set) = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
        {
            let value = set
                .split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .map(|(_, v)| v.to_string());
            self.cookie = value.filter(|v| !v.is_empty());
        }
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn login(&mut self, login: &str, password: &str) -> u16 {
        let (status, body) = self.send(
            "POST",
            "/api/v1/session",
            Some(json!({"login": login, "password": password})),
        );
        self.csrf = body["csrf_token"].as_str().map(str::to_string);
        status
    }
}

/// The administrator the tests start the service with (`ATIENDE_ADMIN_PASSWORD`).
pub const ADMIN_PASSWORD: &str = "clave-admin-segura";

/// Signs in as the administrator and registers the person the test's incidents are about:
/// the session, and the person's id.
pub fn admin_with_a_person(base: &str) -> (Http, i64) {
    let mut http = Http::new(base);
    assert_eq!(http.login("admin", ADMIN_PASSWORD), 200);
    let (status, contact) = http.send(
        "POST",
        "/api/v1/contacts",
        Some(json!({"name": "Laura Gómez", "phones": ["3312345678"]})),
    );
    assert_eq!(status, 201, "{contact}");
    (http, contact["id"].as_i64().expect("contact"))
}
