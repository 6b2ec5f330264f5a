//! A running server plus a browser session, and the few verbs the journeys use.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use atiende_domain::contact::ContactInput;
use atiende_domain::ids::{ContactId, UnitId};
use atiende_domain::incident::NewIncidentInput;
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::Actor;
use atiende_store::testing::TestDb;
use atiende_web::health::Metrics;
use atiende_web::{AppState, WebConfig};
use fantoccini::{Client, ClientBuilder, Locator};
use tokio::sync::Semaphore;

pub const PASSWORD: &str = "clave-de-prueba-123";

/// Two browsers at a time: enough to overlap, light enough for a 2-core machine.
fn browsers() -> &'static Semaphore {
    static S: OnceLock<Semaphore> = OnceLock::new();
    S.get_or_init(|| Semaphore::new(2))
}

/// The product's defaults, but administrators work with a password alone: the journeys sign
/// them in that way.
pub fn config() -> WebConfig {
    WebConfig {
        second_factor: atiende_domain::second_factor::SecondFactorRule {
            required_roles: vec![],
        },
        ..WebConfig::default()
    }
}

pub struct Site {
    pub db: TestDb,
    pub base: String,
    /// The server's counters: the journeys check that the browser reported no content the
    /// security policy blocked.
    pub metrics: Arc<Metrics>,
}

impl Site {
    pub async fn start(db: TestDb) -> Site {
        Self::start_with(db, |_| async { crate::harness::config() }).await
    }

    /// A site whose configuration depends on its own address (`base`), as an identity
    /// provider's redirect URI does.
    pub async fn start_with<F, Fut>(db: TestDb, config: F) -> Site
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = WebConfig>,
    {
        db.first_run(Some("clave-administrador-1"))
            .await
            .expect("first run");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let config = WebConfig {
            base_url: base.clone(),
            ..config(base.clone()).await
        };
        let state = AppState::new(db.store.clone(), config);
        let metrics = state.metrics.clone();
        let app = atiende_web::app(state);
        // The product's own server, with its connection limits.
        tokio::spawn(atiende_web::server::serve(
            listener,
            app,
            atiende_web::server::ConnectionLimits::default(),
            None,
            std::future::pending(),
        ));
        Site { db, base, metrics }
    }

    pub async fn staff(&self, login: &str, role: Role, units: Vec<UnitId>) -> StaffUser {
        let input = UserInput {
            login: Some(login.into()),
            name: Some(format!("{login} (prueba)")),
            role: Some(role),
            unit_ids: Some(units),
            password: Some(PASSWORD.into()),
            ..Default::default()
        };
        self.db
            .create_user(Actor::System, &input)
            .await
            .expect("staff")
            .user
    }

    /// The CAP's mailbox, to send answers from (nothing polls it).
    pub async fn mailbox(&self) {
        let settings: atiende_store::email::MailboxSettings =
            serde_json::from_value(serde_json::json!({
                "name": "CAP",
                "address": "cap@udgvirtual.example",
            }))
            .expect("settings");
        self.db
            .save_mailbox(Actor::System, &settings)
            .await
            .expect("mailbox");
    }

    pub async fn contact(&self, input: ContactInput) -> ContactId {
        self.db
            .create_contact(Actor::System, &input)
            .await
            .expect("contact")
            .id
    }

    pub async fn incident(&self, by: &StaffUser, input: NewIncidentInput) -> String {
        self.db
            .create_incident(Actor::Staff(by), input)
            .await
            .expect("incident")
            .folio
            .to_string()
    }

    pub async fn unit(&self, kind: &str, nth: usize) -> UnitId {
        let units = self.db.units().await.expect("units");
        units
            .iter()
            .filter(|u| u.kind.code() == kind)
            .nth(nth)
            .expect("unit")
            .id
    }

    pub async fn browser(&self) -> Browser {
        let permit = browsers().acquire().await.expect("semaphore");
        permit.forget();
        self.open_browser().await
    }

    /// Two browsers for one journey (two people at once), taken together so that two such
    /// journeys never each hold one and wait for the other's.
    pub async fn two_browsers(&self) -> (Browser, Browser) {
        let permits = browsers().acquire_many(2).await.expect("semaphore");
        permits.forget();
        (self.open_browser().await, self.open_browser().await)
    }

    async fn open_browser(&self) -> Browser {
        let url = std::env::var("ATIENDE_WEBDRIVER_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:9515".into());
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-quic", "--no-first-run", "--window-size=1280,900", "--lang=es-MX"],
                // Headless Chromium ignores --lang for Accept-Language: public pages follow it.
                "prefs": { "intl.accept_languages": "es-MX,es" },
            }
        });
        let caps = caps.as_object().cloned().expect("object");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector).capabilities(caps).connect(&url).await.unwrap_or_else(|e| {
            panic!("no WebDriver at {url} ({e}). Run the suite with `scripts/test`, which installs Chromium and starts chromedriver, or run `chromedriver --port=9515`.")
        });
        Browser {
            client,
            base: self.base.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

pub struct Browser {
    pub client: Client,
    base: String,
    metrics: Arc<Metrics>,
}

impl Browser {
    /// Types into whatever has the focus, as a person at the keyboard does (WebDriver keys:
    /// `\u{E007}` Enter, `\u{E009}` Control, `\u{E015}` arrow down, `\u{E004}` Tab).
    /// The focus may be moving (a dialog closing, a page's script focusing a field): the keys
    /// wait for an element that takes them, a second at most.
    pub async fn keys(&self, keys: &str) {
        let mut last = None;
        for _ in 0..20 {
            let focused = self.client.active_element().await.expect("focused element");
            match focused.send_keys(keys).await {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no focused element took {keys:?}: {last:?}");
    }

    /// Keys that load a new page (Enter on a link, Ctrl+Enter in a form), waiting for it.
    pub async fn keys_to_new_page(&self, keys: &str) {
        self.client
            .execute("window.__stale = true", vec![])
            .await
            .expect("mark page");
        self.keys(keys).await;
        self.wait_for_new_page(keys).await;
    }

    async fn wait_for_new_page(&self, what: &str) {
        for _ in 0..200 {
            let fresh = self
                .client
                .execute(
                    "return window.__stale === undefined && document.readyState === 'complete'",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if fresh {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let focused = self
            .client
            .execute(
                "return document.activeElement ? document.activeElement.outerHTML : ''",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        panic!(
            "{what:?} loaded no new page (at {}, focus on {focused})",
            self.path().await
        );
    }

    /// Waits until the page's visible text contains `words`.
    pub async fn wait_for_text(&self, words: &str) {
        for _ in 0..200 {
            if self.text().await.contains(words) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{words:?} never showed: {}", self.text().await);
    }

    /// The id of the focused element.
    pub async fn focused(&self) -> String {
        self.client
            .execute(
                "return document.activeElement ? document.activeElement.id : ''",
                vec![],
            )
            .await
            .expect("script")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        url.path().to_string()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("field {css}"));
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("element {css}"))
            .click()
            .await
            .expect("click");
    }

    /// Clicks something that loads a new page (a form's button, a link) and waits for it.
    pub async fn submit(&self, css: &str) {
        self.client
            .execute("window.__stale = true", vec![])
            .await
            .expect("mark page");
        self.click(css).await;
        self.wait_for_new_page(css).await;
    }

    pub async fn select(&self, css: &str, value: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("select {css}"));
        e.select_by_value(value)
            .await
            .unwrap_or_else(|_| panic!("option {value} of {css}"));
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        let v = self
            .client
            .execute("return document.body.innerText", vec![])
            .await
            .expect("script");
        v.as_str().unwrap_or_default().to_string()
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    pub async fn login(&self, login: &str, password: &str) {
        self.goto("/login").await;
        self.fill("#login", login).await;
        self.fill("#password", password).await;
        self.submit("form button[type=submit]").await;
        self.wait_for_path_not("/login").await;
    }

    pub async fn logout(&self) {
        self.submit("header .who form button").await;
        self.wait_for_path("/login").await;
    }

    /// The address's origin (scheme, host and port): whose page the browser is on.
    pub async fn origin(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        url.origin().ascii_serialization()
    }

    pub async fn wait_for_path(&self, prefix: &str) {
        for _ in 0..100 {
            if self.path().await.starts_with(prefix) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("expected to reach {prefix}, at {}", self.path().await);
    }

    async fn wait_for_path_not(&self, prefix: &str) {
        for _ in 0..100 {
            if !self.path().await.starts_with(prefix) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("still at {prefix}: {}", self.text().await);
    }

    /// Saves a screenshot of the page for the README (`ATIENDE_SCREENSHOTS_DIR`, default
    /// `target/screenshots`).
    pub async fn screenshot(&self, name: &str) {
        let dir = std::env::var("ATIENDE_SCREENSHOTS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
            });
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
    }

    /// Reports the browser sent of content the security policy blocked.
    pub fn csp_violations(&self) -> u64 {
        self.metrics.csp_violations.load(Ordering::Relaxed)
    }

    /// Ends the session; the journey must not have met anything the policy blocked (an
    /// inline script or style, another origin's file).
    pub async fn close(self) {
        // Reports leave the browser on their own schedule: give any in flight a moment.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let violations = self.csp_violations();
        let _ = self.client.clone().close().await;
        assert_eq!(
            violations, 0,
            "the content security policy blocked something (see the log)"
        );
    }
}

impl Drop for Browser {
    /// Also when a journey fails half-way, so that the others still get a browser.
    fn drop(&mut self) {
        browsers().add_permits(1);
    }
}
