//! The real `atiende` binary in its own process, and signing in to it as a person does.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::PASSWORD;

pub(crate) fn login(base: &str, login: &str) -> Result<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let page = agent.get(&format!("{base}/login")).call()?;
    let set = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .context("login cookie")?
        .to_string();
    let csrf_cookie = set.split(';').next().unwrap_or("").to_string();
    let token = csrf_cookie
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    let body = format!("_csrf={token}&login={login}&password={PASSWORD}&next=%2Fbandeja");
    let r = agent
        .post(&format!("{base}/login"))
        .header("cookie", &csrf_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .send(body)?;
    let session = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .context("session cookie")?;
    Ok(session.split(';').next().unwrap_or("").to_string())
}

/// The real `atiende` binary serving a database, in its own process, so that its memory is
/// its own. Killed when dropped.
pub(crate) struct ServerProcess {
    pub(crate) child: std::process::Child,
    pub(crate) base: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Peak resident memory so far (Linux `VmHWM`), in MB.
    pub(crate) fn peak_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }
}

/// The `atiende` binary built next to this one (`cargo build --release -p atiende -p
/// atiende-bench`), or the one `ATIENDE_BIN` names.
pub(crate) fn server_binary() -> Option<std::path::PathBuf> {
    if let Ok(path) = std::env::var("ATIENDE_BIN") {
        return Some(path.into());
    }
    let sibling = std::env::current_exe().ok()?.parent()?.join("atiende");
    sibling.exists().then_some(sibling)
}

/// The benchmark's own secrets key (32 bytes of base64, like `Keyring::new_key`'s): its data
/// is generated, never anyone's.
pub(crate) const BENCH_SECRETS_KEY: &str = "YXRpZW5kZS1iZW5jaG1hcmstc2VjcmV0cy1rZXktMzI=";

/// The token the benchmark's servers show their `/metrics` to.
pub(crate) const BENCH_METRICS_TOKEN: &str = "metricas-del-benchmark";

/// One value of the server's `/metrics`, by its name (a metric without labels).
pub(crate) fn metric(base: &str, name: &str) -> Result<f64> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let text = agent
        .get(&format!("{base}/metrics"))
        .header("authorization", &format!("Bearer {BENCH_METRICS_TOKEN}"))
        .call()?
        .body_mut()
        .read_to_string()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .with_context(|| format!("{name} not in /metrics"))
}

/// Starts `atiende serve` on the database and waits until it answers.
pub(crate) fn spawn_server(url: &str) -> Result<ServerProcess> {
    spawn_server_with(url, &[])
}

/// Starts `atiende serve` on the database with more settings (`ATIENDE_…` variables) and
/// waits until it answers.
pub(crate) fn spawn_server_with(url: &str, settings: &[(&str, &str)]) -> Result<ServerProcess> {
    let binary = server_binary().context(
        "no atiende binary next to atiende-bench: build both (cargo build --release -p atiende -p atiende-bench) or set ATIENDE_BIN",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = tempfile::tempdir()?;
    let child = std::process::Command::new(&binary)
        .arg("serve")
        .current_dir(dir.path())
        .env("ATIENDE_DATABASE_URL", url)
        .env("ATIENDE_LISTEN", format!("127.0.0.1:{port}"))
        .env("ATIENDE_LOG", "warn")
        .env("ATIENDE_LOGIN_ATTEMPTS_PER_MINUTE", "1000")
        // One key for every run: a --reuse run opens what an earlier run sealed.
        .env("ATIENDE_SECRETS_KEY", BENCH_SECRETS_KEY)
        .env("ATIENDE_METRICS_TOKEN", BENCH_METRICS_TOKEN)
        .envs(settings.iter().copied())
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let server = ServerProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let until = Instant::now() + Duration::from_secs(300);
    while Instant::now() < until {
        if agent
            .get(&format!("{}/healthz", server.base))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            std::mem::forget(dir);
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("atiende did not answer on {}", server.base)
}
