//! Several PostgreSQL servers of which one takes the writes: the primary of a streaming
//! replica set, which an operator's failover replaces by a promoted standby. sqlx connects to
//! one host only, so a libpq-style URL that lists several
//! (`postgres://atiende@db1:5432,db2:5432/atiende?target_session_attrs=read-write`) becomes
//! one URL per host here. The pool opens its connections on the host found to take writes and
//! refuses a connection that reaches a standby; a watcher per process asks its host every
//! second and, when it is gone or has become a standby, finds the host that now takes writes
//! and points the pool's new connections there. Requests waiting for a connection meanwhile
//! keep retrying (sqlx's connect loop) until the pool's deadline, and then answer 503.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Row};

use crate::error::{Result, StoreError};

/// How often the watcher asks its host whether it still takes writes.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How long a host may take to answer a connection and that question.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The hosts a URL names, each as a URL of its own, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hosts {
    urls: Vec<String>,
    /// `host:port` of each, for the log (the URLs may hold a password).
    names: Vec<String>,
}

fn config_error(what: String) -> StoreError {
    StoreError::Db(sqlx::Error::Configuration(what.into()))
}

impl Hosts {
    /// The hosts of a PostgreSQL URL that lists several or asks for the one taking writes
    /// (`target_session_attrs`); `None` for a URL of one host that asks nothing, which the
    /// pool connects to as it is. atiende writes, so `read-write` (or `primary`) is the only
    /// session it can use: any other value is refused rather than ignored.
    pub(crate) fn of_url(url: &str) -> Result<Option<Hosts>> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(None);
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, host_list) = match authority.rfind('@') {
            Some(at) => authority.split_at(at + 1),
            None => ("", authority),
        };
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let mut wants_primary = false;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.strip_prefix("target_session_attrs=") {
                Some("read-write" | "primary") => wants_primary = true,
                Some(other) => {
                    return Err(config_error(format!(
                        "target_session_attrs={other} in the database URL: atiende writes, so \
                         it connects only to the server that takes writes (read-write)"
                    )));
                }
                None => kept.push(pair),
            }
        }
        let names: Vec<&str> = host_list.split(',').collect();
        if names.len() == 1 && !wants_primary {
            return Ok(None);
        }
        if names.iter().any(|n| n.is_empty()) {
            return Err(config_error(format!(
                "the database URL lists an empty host: {host_list}"
            )));
        }
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };
        Ok(Some(Hosts {
            urls: names
                .iter()
                .map(|host| format!("{scheme}://{userinfo}{host}{path}{query}"))
                .collect(),
            names: names.iter().map(|n| n.to_string()).collect(),
        }))
    }

    /// The first host, in the order listed, that answers and takes writes: its index and a
    /// connection to it.
    pub(crate) async fn primary(&self) -> Result<(usize, AnyConnection)> {
        let mut refusals = Vec::new();
        for (i, url) in self.urls.iter().enumerate() {
            let attempt = async {
                let mut conn = AnyConnection::connect(url).await?;
                if is_standby(&mut conn).await? {
                    Err(standby())
                } else {
                    Ok(conn)
                }
            };
            match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
                Ok(Ok(conn)) => return Ok((i, conn)),
                Ok(Err(e)) => refusals.push(format!("{}: {e}", self.names[i])),
                Err(_) => refusals.push(format!("{}: no answer", self.names[i])),
            }
        }
        Err(StoreError::Db(sqlx::Error::Io(std::io::Error::other(
            format!("no database host takes writes ({})", refusals.join("; ")),
        ))))
    }

    pub(crate) fn options(&self, host: usize) -> Result<AnyConnectOptions> {
        Ok(AnyConnectOptions::from_str(&self.urls[host])?)
    }

    /// Asks the pool's host every second whether it still takes writes, and moves the pool's
    /// new connections to the host that does when it no longer does. Ends when the last
    /// `Store` handle is dropped or the pool is closed; returns the sender whose life keeps it
    /// running.
    pub(crate) fn watch(
        self,
        pool: AnyPool,
        mut current: usize,
        conn: AnyConnection,
    ) -> tokio::sync::watch::Sender<()> {
        let (alive, mut ended) = tokio::sync::watch::channel(());
        tokio::spawn(async move {
            let mut conn = Some(conn);
            loop {
                tokio::select! {
                    gone = ended.changed() => if gone.is_err() { break },
                    () = tokio::time::sleep(WATCH_EVERY) => {}
                }
                if pool.is_closed() {
                    break;
                }
                if let Some(c) = conn.as_mut()
                    && let Ok(Ok(false)) = tokio::time::timeout(PROBE_TIMEOUT, is_standby(c)).await
                {
                    continue;
                }
                if let Some(c) = conn.take() {
                    let _ = c.close_hard().await;
                }
                match self.primary().await {
                    Ok((host, c)) => {
                        if host != current {
                            match self.options(host) {
                                Ok(options) => pool.set_connect_options(options),
                                Err(e) => {
                                    tracing::error!(error = %e, "database host refused");
                                    continue;
                                }
                            }
                            tracing::warn!(
                                from = %self.names[current],
                                to = %self.names[host],
                                "the database host that takes writes changed"
                            );
                            current = host;
                        }
                        conn = Some(c);
                    }
                    Err(e) => tracing::warn!(error = %e, "looking for the database host"),
                }
            }
        });
        alive
    }
}

/// Whether the server is a standby replaying another's log (it takes no writes).
async fn is_standby(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT CAST(pg_is_in_recovery() AS INTEGER)")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get::<i32, _>(0)? == 1)
}

fn standby() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(
        "the database server is a standby: it takes no writes",
    ))
}

/// Refuses a new pooled connection that reached a standby: the pool tries again (on the host
/// the watcher chose by then) until its deadline.
pub(crate) async fn refuse_standby(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    if is_standby(conn).await? {
        return Err(standby());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Hosts;

    #[test]
    fn a_url_of_one_host_that_asks_nothing_is_left_to_the_pool() {
        assert_eq!(
            Hosts::of_url("postgres://a@db:5432/atiende?sslmode=require").unwrap(),
            None
        );
    }

    #[test]
    fn a_url_of_several_hosts_becomes_one_url_each_without_the_session_attribute() {
        let hosts = Hosts::of_url(
            "postgres://yo:s%40cr3t@db1:5432,db2:5433,[::1]:5434/atiende?sslmode=require&\
             target_session_attrs=read-write",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            hosts.urls,
            [
                "postgres://yo:s%40cr3t@db1:5432/atiende?sslmode=require",
                "postgres://yo:s%40cr3t@db2:5433/atiende?sslmode=require",
                "postgres://yo:s%40cr3t@[::1]:5434/atiende?sslmode=require",
            ]
        );
        assert_eq!(hosts.names, ["db1:5432", "db2:5433", "[::1]:5434"]);
    }

    #[test]
    fn one_host_asking_for_the_primary_is_watched_too() {
        let hosts = Hosts::of_url("postgres://db/atiende?target_session_attrs=primary")
            .unwrap()
            .unwrap();
        assert_eq!(hosts.urls, ["postgres://db/atiende"]);
    }

    #[test]
    fn a_session_that_cannot_write_or_an_empty_host_is_refused_with_the_reason() {
        let read_only = Hosts::of_url("postgres://a,b/x?target_session_attrs=read-only")
            .unwrap_err()
            .to_string();
        assert!(read_only.contains("read-write"), "{read_only}");
        let empty = Hosts::of_url("postgres://a,,b/x").unwrap_err().to_string();
        assert!(empty.contains("empty host"), "{empty}");
    }
}
