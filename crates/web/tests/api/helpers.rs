//! A test client over the in-process router: sessions with cookie and CSRF token, bearer tokens,
//! JSON in and out.

use atiende_domain::ids::UnitId;
use atiende_domain::user::{Role, StaffUser, UserInput};
use atiende_store::Actor;
use atiende_store::testing::TestDb;
use atiende_web::{AppState, WebConfig};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const ADMIN_PASSWORD: &str = "clave-de-administracion-1";
pub const PASSWORD: &str = "clave-de-prueba-123";

/// The product's defaults, but administrators work with a password alone: the suite's stories
/// sign them in that way; the second factor has its own tests (second_factor.rs).
pub fn config() -> WebConfig {
    WebConfig {
        second_factor: atiende_domain::second_factor::SecondFactorRule {
            required_roles: vec![],
        },
        ..WebConfig::default()
    }
}

pub struct TestApp {
    pub db: TestDb,
    pub router: axum::Router,
}

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Session {
        cookie: String,
        csrf: String,
    },
    /// A session cookie without the CSRF header.
    CookieOnly(String),
    Bearer(String),
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub async fn new(db: TestDb) -> TestApp {
        Self::with_config(db, config()).await
    }

    pub async fn with_config(db: TestDb, config: WebConfig) -> TestApp {
        db.first_run(Some(ADMIN_PASSWORD)).await.expect("first run");
        let router = atiende_web::app(AppState::new(db.store.clone(), config));
        TestApp { db, router }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
    ) -> Reply {
        self.call_with(method, path, auth, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let (content_type, body) = match body {
            Some(json) => (Some("application/json"), Body::from(json.to_string())),
            None => (None, Body::empty()),
        };
        self.send(method, path, auth, content_type, body, extra)
            .await
    }

    /// Posts a console form (`application/x-www-form-urlencoded`).
    pub async fn form(&self, path: &str, auth: &Auth, body: &str) -> Reply {
        let content_type = Some("application/x-www-form-urlencoded");
        self.send(
            Method::POST,
            path,
            auth,
            content_type,
            Body::from(body.to_string()),
            &[],
        )
        .await
    }

    /// Posts a multipart form (`multipart/form-data`): text fields, and files sent under
    /// `files` as a browser sends them.
    pub async fn multipart(
        &self,
        path: &str,
        auth: &Auth,
        fields: &[(&str, &str)],
        files: &[(&str, &[u8])],
    ) -> Reply {
        let boundary = "----atiende-test-7d1f0c";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        for (filename, data) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        self.send(
            Method::POST,
            path,
            auth,
            Some(&content_type),
            Body::from(body),
            &[],
        )
        .await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        content_type: Option<&str>,
        body: Body,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        match auth {
            Auth::None => {}
            Auth::Session { cookie, csrf } => {
                req = req
                    .header(header::COOKIE, format!("atiende_session={cookie}"))
                    .header("x-csrf-token", csrf);
            }
            Auth::CookieOnly(cookie) => {
                req = req.header(header::COOKIE, format!("atiende_session={cookie}"))
            }
            Auth::Bearer(token) => {
                req = req.header(header::AUTHORIZATION, format!("Bearer {token}"))
            }
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let response = self
            .router
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("response");
        reply_of(response).await
    }

    /// Posts raw bytes as a provider would, with its own headers.
    pub async fn raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Reply {
        self.send(
            Method::POST,
            path,
            &Auth::None,
            Some(content_type),
            Body::from(body),
            extra,
        )
        .await
    }

    /// A GET whose body is bytes (downloads).
    pub async fn call_raw(&self, path: &str, auth: &Auth) -> (StatusCode, Vec<u8>) {
        let mut req = Request::builder().method(Method::GET).uri(path);
        match auth {
            Auth::Session { cookie, .. } => {
                req = req.header(header::COOKIE, format!("atiende_session={cookie}"));
            }
            Auth::Bearer(token) => {
                req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            _ => {}
        }
        let response = self
            .router
            .clone()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, bytes.to_vec())
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Reply {
        self.call(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> Reply {
        self.call(Method::POST, path, auth, Some(body)).await
    }

    /// Logs in through the API and returns the session (cookie and CSRF token).
    pub async fn login(&self, login: &str, password: &str) -> Auth {
        let reply = self
            .post(
                "/api/v1/session",
                &Auth::None,
                serde_json::json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login {login}: {}",
            reply.json
        );
        Auth::Session {
            cookie: session_cookie(&reply),
            csrf: reply.json["csrf_token"].as_str().expect("csrf").into(),
        }
    }

    /// Logs in through the API from `address`, with the browser's known-device cookie if any:
    /// the reply and the device cookie it set (on success).
    pub async fn login_from(
        &self,
        address: &str,
        login: &str,
        password: &str,
        device: Option<&str>,
    ) -> (Reply, Option<String>) {
        self.login_through(address, None, login, password, device)
            .await
    }

    /// As [`TestApp::login_from`], the connection coming from `peer` (a proxy, say) with an
    /// `X-Forwarded-For` header.
    pub async fn login_through(
        &self,
        peer: &str,
        forwarded_for: Option<&str>,
        login: &str,
        password: &str,
        device: Option<&str>,
    ) -> (Reply, Option<String>) {
        let peer: std::net::SocketAddr = format!("{peer}:50000").parse().expect("address");
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(f) = forwarded_for {
            req = req.header("x-forwarded-for", f);
        }
        if let Some(d) = device {
            req = req.header(header::COOKIE, format!("atiende_device={d}"));
        }
        let mut req = req
            .body(Body::from(
                serde_json::json!({"login": login, "password": password}).to_string(),
            ))
            .expect("request");
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let response = self.router.clone().oneshot(req).await.expect("response");
        let reply = reply_of(response).await;
        let device = reply
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("atiende_device="))
            .and_then(|c| c.split(';').next())
            .map(str::to_string);
        (reply, device)
    }

    /// Creates a staff account with a known password (and no password change pending).
    pub async fn staff(&self, login: &str, role: Role, units: Vec<UnitId>) -> StaffUser {
        let input = UserInput {
            login: Some(login.into()),
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

    /// A bearer token for a new account of that role.
    pub async fn token_for(&self, login: &str, role: Role, units: Vec<UnitId>) -> Auth {
        let user = self.staff(login, role, units).await;
        let (_, token) = self
            .db
            .create_api_token(
                Actor::System,
                user.id,
                "tests",
                &atiende_domain::access::TokenScopes::everything(),
                None,
            )
            .await
            .expect("token");
        Auth::Bearer(token)
    }

    /// A phone incident of a new person, taken and closed by a new agent.
    pub async fn closed_incident(&self) -> atiende_domain::ids::IncidentId {
        let agent = self
            .staff(&format!("agente-{}", unique_suffix()), Role::Agent, vec![])
            .await;
        let person = self
            .db
            .create_contact(
                Actor::System,
                &atiende_domain::contact::ContactInput {
                    name: Some("Luis".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("contact");
        self.db.closed_phone_incident(&agent, Some(person.id)).await
    }

    pub async fn unit_of_kind(&self, kind: &str) -> Value {
        let admin = self.login("admin", ADMIN_PASSWORD).await;
        let units = self.get("/api/v1/units", &admin).await.json;
        units["items"]
            .as_array()
            .expect("units")
            .iter()
            .find(|u| u["kind"] == kind)
            .expect("unit")
            .clone()
    }
}

/// A response read whole: JSON when it is, else its text as a JSON string.
async fn reply_of(response: axum::response::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Reply {
        status,
        headers,
        json,
    }
}

pub fn session_cookie(reply: &Reply) -> String {
    let set = reply
        .headers
        .get(header::SET_COOKIE)
        .expect("set-cookie")
        .to_str()
        .expect("ascii");
    set.split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("cookie value")
}

/// What the browser ends with: the last answer's status, its body, the `Location` it was
/// sent to, and the session cookie if one was set.
pub struct Outcome {
    pub status: StatusCode,
    pub body: String,
    pub location: Option<String>,
    pub session: Option<String>,
}

/// A browser's cookies, by name (atiende and the provider share the host; their names
/// differ).
#[derive(Default)]
pub struct Jar(pub std::collections::BTreeMap<String, String>);

impl Jar {
    pub fn take<'a>(&mut self, set_cookies: impl Iterator<Item = &'a str>) {
        for c in set_cookies {
            if let Some((name, value)) = c.split(';').next().and_then(|kv| kv.split_once('=')) {
                if value.is_empty() {
                    self.0.remove(name);
                } else {
                    self.0.insert(name.to_string(), value.to_string());
                }
            }
        }
    }

    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One request to atiende as a browser makes it: its cookies, a form body if any; the
/// answer's cookies go into the jar.
pub async fn to_atiende(
    app: &TestApp,
    jar: &mut Jar,
    method: Method,
    path: &str,
    body: &str,
) -> Outcome {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::COOKIE, jar.header())
        .header(header::ACCEPT_LANGUAGE, "es-MX");
    if !body.is_empty() {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let mut req = req.body(Body::from(body.to_string())).expect("request");
    req.extensions_mut().insert(axum::extract::ConnectInfo(
        "10.0.0.9:50000"
            .parse::<std::net::SocketAddr>()
            .expect("address"),
    ));
    let response = app.router.clone().oneshot(req).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let cookies: Vec<String> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    jar.take(cookies.iter().map(String::as_str));
    let session = cookies
        .iter()
        .find_map(|c| c.strip_prefix("atiende_session="))
        .and_then(|c| c.split(';').next())
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Outcome {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        location: headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        session,
    }
}

/// A few letters that make a login unique within a test.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}
