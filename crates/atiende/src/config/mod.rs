//! Configuration: defaults embedded in the binary, then a TOML file, then `ATIENDE_*`
//! environment variables, each overriding the one before.

use std::path::Path;

use anyhow::{Context, Result};
use atiende_domain::secret::Secret;
use serde::{Deserialize, Serialize};

mod layers;

use layers::redact_url_password;

pub const DEFAULTS: &str = include_str!("../../config.default.toml");

/// The university's privacy notices as first published, until the configuration (or the
/// administrator, from the console) gives others. Data, kept in `legal/`.
pub const SIMPLIFIED_NOTICE: &str =
    include_str!("../../legal/aviso-de-privacidad-simplificado.txt");
pub const INTEGRAL_NOTICE: &str = include_str!("../../legal/aviso-de-privacidad-integral.txt");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database_url: String,
    pub listen: String,
    pub base_url: String,
    pub admin_password: Secret,
    pub time_zone: String,
    pub session_hours: i64,
    pub session_idle_minutes: i64,
    pub reopen_window_days: i64,
    pub login_attempts_per_minute: u32,
    pub header_read_timeout_seconds: u64,
    pub body_read_timeout_seconds: u64,
    pub max_connections_per_address: usize,
    pub max_connections: usize,
    pub trusted_proxies: Vec<String>,
    pub shutdown_grace_seconds: u64,
    pub tls_certificate: String,
    pub tls_key: String,
    pub log_format: String,
    pub public_posts_per_minute: u32,
    pub web_chat_origins: Vec<String>,
    pub chat_messages_per_minute: u32,
    pub storage_alert_mb: u64,
    pub external_service_alert_minutes: i64,
    pub privacy_notice: String,
    pub privacy_notice_integral: String,
    pub cti_token: Secret,
    pub metrics_token: Secret,
    pub mail_ingest_token: Secret,
    pub webhooks_allow_private_addresses: bool,
    pub worker: bool,
    pub worker_interval_seconds: i64,
    pub mailboxes: Vec<atiende_store::email::MailboxSettings>,
    pub mail_ca_file: String,
    pub sso: Vec<atiende_domain::sign_in::IdentityProvider>,
    pub second_factor_required_roles: Vec<atiende_domain::user::Role>,
    pub secrets_key: Secret,
    pub secrets_key_file: String,
    pub meta: atiende_channels::chat::MetaConfig,
}

impl Config {
    /// Loads the configuration. `file` may be absent; `env` is the process environment (a
    /// parameter so that tests need not touch global state).
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Some((path.display().to_string(), text))
            }
            None => None,
        };
        let given = file
            .as_ref()
            .map(|(name, text)| (name.as_str(), text.as_str()));
        let table = layers::layered(DEFAULTS, given, &env)?;
        let mut config: Config = table.try_into().context("configuration")?;
        if config.tls_certificate.is_empty() != config.tls_key.is_empty() {
            anyhow::bail!("tls_certificate and tls_key go together: give both, or neither");
        }
        if config.base_url.is_empty() {
            let scheme = if config.serves_tls() { "https" } else { "http" };
            config.base_url = format!("{scheme}://{}", config.listen);
        }
        config.time_zone()?;
        config.trusted_proxies()?;
        config.tls_acceptor()?;
        let mut ids = std::collections::BTreeSet::new();
        for p in &config.sso {
            p.check().map_err(anyhow::Error::msg)?;
            if !ids.insert(p.id.as_str()) {
                anyhow::bail!("sso id `{}` is given twice", p.id);
            }
        }
        Ok(config)
    }

    /// Whether atiende serves HTTPS itself (rather than plain HTTP behind a proxy).
    pub fn serves_tls(&self) -> bool {
        !self.tls_certificate.is_empty()
    }

    /// The TLS acceptor for the configured certificate and key, if any.
    pub fn tls_acceptor(&self) -> Result<Option<atiende_web::tls::TlsAcceptor>> {
        if !self.serves_tls() {
            return Ok(None);
        }
        let acceptor =
            atiende_web::tls::acceptor(Path::new(&self.tls_certificate), Path::new(&self.tls_key))?;
        Ok(Some(acceptor))
    }

    pub fn time_zone(&self) -> Result<chrono_tz::Tz> {
        self.time_zone
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown time zone `{}`", self.time_zone))
    }

    /// The reverse proxies whose forwarding headers are believed.
    pub fn trusted_proxies(&self) -> Result<atiende_web::proxy::TrustedProxies> {
        atiende_web::proxy::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))
    }

    /// The keys that seal the database's secrets, the current one first: given, read from
    /// `secrets_key_file`, or — SQLite only — kept in a file beside the database, made on
    /// first use. None with PostgreSQL and no key (every instance must share one).
    pub fn keyring(&self) -> Result<Option<atiende_store::secrets::Keyring>> {
        let from_lines = |text: &str| -> Result<Option<atiende_store::secrets::Keyring>> {
            let keys: Vec<&str> = text
                .split([',', '\n'])
                .map(str::trim)
                .filter(|k| !k.is_empty() && !k.starts_with('#'))
                .collect();
            atiende_store::secrets::Keyring::parse(&keys)
                .map(Some)
                .map_err(anyhow::Error::msg)
        };
        if !self.secrets_key.expose().is_empty() {
            return from_lines(self.secrets_key.expose());
        }
        if !self.secrets_key_file.is_empty() {
            let text = std::fs::read_to_string(&self.secrets_key_file)
                .with_context(|| format!("reading secrets_key_file {}", self.secrets_key_file))?;
            return from_lines(&text);
        }
        let Some(db) = self.sqlite_file() else {
            return Ok(None);
        };
        let file = Path::new(&format!("{}.key", db.display())).to_path_buf();
        if !file.exists() {
            write_private(&file, &atiende_store::secrets::Keyring::new_key())?;
            tracing::info!(file = %file.display(), "secrets key made: back it up with the database, apart from it");
        }
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading the secrets key {}", file.display()))?;
        from_lines(&text)
    }

    /// Trusts the institution's certificate authority for IMAP and SMTP, when one is given.
    pub fn trust_mail_ca(&self) -> Result<()> {
        if self.mail_ca_file.is_empty() {
            return Ok(());
        }
        let pem = std::fs::read(&self.mail_ca_file)
            .with_context(|| format!("reading mail_ca_file {}", self.mail_ca_file))?;
        atiende_channels::email::trust::trust_pem(&pem).map_err(anyhow::Error::msg)?;
        Ok(())
    }

    /// The SQLite database's file, when the database is one.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        let db = self.database_url.strip_prefix("sqlite://")?;
        Some(db.split('?').next().unwrap_or(db).into())
    }

    /// The folders this instance's data lives in, whose free space is watched: SQLite's
    /// database folder (PostgreSQL's disk is its server's to watch).
    pub fn storage_folders(&self) -> Vec<std::path::PathBuf> {
        self.sqlite_file()
            .map(|f| match f.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => ".".into(),
            })
            .into_iter()
            .collect()
    }

    pub fn redacted_database_url(&self) -> String {
        redact_url_password(&self.database_url)
    }

    /// The configuration as TOML with secrets hidden: every secret is a [`Secret`], which
    /// serialises as asterisks; the database URL's password is masked here.
    pub fn redacted(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = redact_url_password(&shown.database_url);
        toml::to_string(&shown).unwrap_or_default()
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("making the secrets key {}", path.display()))?;
    writeln!(f, "{text}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn administrators_need_a_second_factor_unless_the_list_says_otherwise() {
        use atiende_domain::user::Role;
        let c = Config::load(None, no_env).expect("defaults load");
        assert_eq!(c.second_factor_required_roles, vec![Role::Admin]);
        assert!(c.sso.is_empty());
        let env = |k: &str| {
            (k == "ATIENDE_SECOND_FACTOR_REQUIRED_ROLES").then(|| r#"["admin", "cap_lead"]"#.into())
        };
        let c = Config::load(None, env).expect("a list from the environment");
        assert_eq!(
            c.second_factor_required_roles,
            vec![Role::Admin, Role::CapLead]
        );
        let bad = |k: &str| (k == "ATIENDE_SECOND_FACTOR_REQUIRED_ROLES").then(|| "admin".into());
        assert!(Config::load(None, bad).is_err(), "a list is written as one");
    }

    #[test]
    fn an_identity_provider_is_refused_when_unsafe_or_given_twice() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("atiende.toml");
        let provider = |id: &str, issuer: &str| {
            format!(
                "[[sso]]\nid = \"{id}\"\nname = \"Cuenta UDG\"\nissuer = \"{issuer}\"\nclient_id = \"x\"\nclient_secret = \"s\"\n"
            )
        };
        std::fs::write(&file, provider("udg", "https://accounts.google.com")).expect("write");
        let c = Config::load(Some(&file), no_env).expect("one provider");
        assert_eq!(c.sso[0].name, "Cuenta UDG");
        assert!(
            !c.sso[0].accounts.create_accounts,
            "no accounts made unless asked"
        );
        let with_rules = provider("udg", "https://accounts.google.com")
            + "[sso.accounts]\ncreate_accounts = true\ndefault_role = \"agent\"\n";
        std::fs::write(&file, with_rules).expect("write");
        let c = Config::load(Some(&file), no_env).expect("accounts made");
        assert!(c.sso[0].accounts.create_accounts);
        let admin = provider("udg", "https://accounts.google.com")
            + "[sso.accounts]\ndefault_role = \"admin\"\n";
        std::fs::write(&file, admin).expect("write");
        assert!(Config::load(Some(&file), no_env).is_err(), "never admin");
        assert!(
            !c.redacted().contains("client_secret = \"s\""),
            "the secret is hidden"
        );
        std::fs::write(&file, provider("udg", "http://idp.example")).expect("write");
        assert!(Config::load(Some(&file), no_env).is_err(), "plain http");
        let twice = provider("udg", "https://a.example") + &provider("udg", "https://b.example");
        std::fs::write(&file, twice).expect("write");
        assert!(
            Config::load(Some(&file), no_env).is_err(),
            "the same id twice"
        );
    }

    #[test]
    fn the_defaults_run_on_a_sqlite_file_on_localhost() {
        let c = Config::load(None, no_env).expect("defaults load");
        assert_eq!(c.database_url, "sqlite://atiende.db");
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.base_url, "http://127.0.0.1:8080");
        assert_eq!(c.time_zone().expect("tz"), chrono_tz::America::Mexico_City);
    }

    #[test]
    fn a_file_overrides_the_defaults_and_the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("atiende.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9000\"\nsession_hours = 4\n").expect("write");
        let env = |k: &str| (k == "ATIENDE_SESSION_HOURS").then(|| "6".to_string());
        let c = Config::load(Some(&path), env).expect("loads");
        assert_eq!((c.listen.as_str(), c.session_hours), ("0.0.0.0:9000", 6));
    }

    #[test]
    fn a_certificate_needs_its_key_and_a_missing_file_is_named() {
        let only_cert = |k: &str| (k == "ATIENDE_TLS_CERTIFICATE").then(|| "/x/cert.pem".into());
        let err = Config::load(None, only_cert).expect_err("half a TLS setting");
        assert!(format!("{err:#}").contains("tls_key"), "{err:#}");
        let both = |k: &str| match k {
            "ATIENDE_TLS_CERTIFICATE" => Some("/no/such/cert.pem".to_string()),
            "ATIENDE_TLS_KEY" => Some("/no/such/key.pem".to_string()),
            _ => None,
        };
        let err = Config::load(None, both).expect_err("no such file");
        assert!(format!("{err:#}").contains("/no/such/cert.pem"), "{err:#}");
    }

    #[test]
    fn an_unknown_setting_or_a_bad_number_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("atiende.toml");
        std::fs::write(&path, "lisen = \"x\"\n").expect("write");
        let err = Config::load(Some(&path), no_env).unwrap_err();
        assert!(format!("{err:#}").contains("unknown setting `lisen`"));
        let err = Config::load(None, |k| {
            (k == "ATIENDE_SESSION_HOURS").then(|| "many".into())
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("ATIENDE_SESSION_HOURS must be a whole number"));
    }

    #[test]
    fn mailboxes_come_from_the_file_with_their_defaults() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("atiende.toml");
        let text = "[[mailboxes]]\nname = \"CAP\"\naddress = \"cap@udgvirtual.udg.mx\"\nimap_host = \"imap.udg.mx\"\nimap_password = \"s3creto\"\n";
        std::fs::write(&path, text).expect("write");
        let c = Config::load(Some(&path), no_env).expect("loads");
        assert_eq!(c.mailboxes.len(), 1);
        assert_eq!(
            (
                c.mailboxes[0].imap_port,
                c.mailboxes[0].imap_security.as_str()
            ),
            (993, "tls")
        );
        assert!(!c.redacted().contains("s3creto"));
    }

    #[test]
    fn a_database_password_is_masked_wherever_the_url_carries_it() {
        for (url, shown) in [
            (
                "postgres://atiende:cl@ve@db/atiende",
                "postgres://atiende:********@db/atiende",
            ),
            (
                "postgres://db/atiende?user=a&password=clave&sslmode=require",
                "postgres://db/atiende?user=a&password=********&sslmode=require",
            ),
            ("sqlite://atiende.db", "sqlite://atiende.db"),
        ] {
            assert_eq!(redact_url_password(url), shown);
        }
    }

    #[test]
    fn secrets_are_hidden_when_the_configuration_is_printed() {
        let env = |k: &str| match k {
            "ATIENDE_ADMIN_PASSWORD" => Some("s3creto-largo".to_string()),
            "ATIENDE_DATABASE_URL" => Some("postgres://atiende:clave@db/atiende".to_string()),
            _ => None,
        };
        let shown = Config::load(None, env).expect("loads").redacted();
        assert!(
            !shown.contains("s3creto") && !shown.contains("clave"),
            "{shown}"
        );
        assert!(shown.contains("postgres://atiende:********@db/atiende"));
    }

    #[test]
    fn meta_accounts_come_from_the_file_and_secrets_from_the_environment() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("atiende.toml");
        let text = "cti_token = \"llave-cti\"\n[meta]\ngraph_url = \"http://127.0.0.1:9/v21.0\"\n\
                    [[meta.whatsapp]]\nid = \"106540352242922\"\naccess_token = \"token-wa\"\n\
                    [[meta.templates]]\nname = \"seguimiento\"\ntext = \"Folio {{1}}\"\n";
        std::fs::write(&path, text).expect("write");
        let env = |k: &str| (k == "ATIENDE_META_APP_SECRET").then(|| "secreto-app".to_string());
        let c = Config::load(Some(&path), env).expect("loads");
        assert_eq!(c.meta.graph_url, "http://127.0.0.1:9/v21.0");
        assert_eq!(c.meta.app_secret.expose(), "secreto-app");
        assert_eq!(
            c.meta
                .token(atiende_domain::chat::Provider::Whatsapp, "106540352242922"),
            Some("token-wa")
        );
        assert_eq!(c.meta.templates[0].language, "es_MX");
        let shown = c.redacted();
        for secret in ["secreto-app", "token-wa", "llave-cti"] {
            assert!(!shown.contains(secret), "{secret} shown");
        }
    }
}
