//! The Redis bus, for roles on separate machines: current state in one hash
//! per host plus an index (layout in `state.rs`), events with `PUBLISH` and
//! `PSUBSCRIBE`, and leases (`lease.rs`).
//!
//! What a newcomer must know: every call is bounded by short timeouts and
//! never retried here. A `ConnectionManager` reconnects on its own, so while
//! Redis is down calls fail fast and the caller counts them; the next report
//! after Redis is back rewrites the host's state. A batch of updates is one
//! pipeline, one round trip, never one per sample.

mod lease;
mod state;
mod subscribe;
mod url;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Pipeline, Script};
use async_trait::async_trait;
use bytes::Bytes;

pub use lease::{RedisLease, lease_key};
pub use url::RedisUrl;

use super::{Bus, BusError, HostState, Lease, Pattern, Subscription, Update};
use crate::activity::ActivityKind;
use crate::model::{AcceptedReport, HostMeta};
use crate::time::now_ms;
use state::{HOSTS_KEY, activity_key, host_key, parse_activity, parse_host, series_field};

/// Longest wait for a TCP connection to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for the answer to a command or pipeline.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct RedisBus {
    url: RedisUrl,
    conn: ConnectionManager,
    expire_after_ms: i64,
    report: Script,
    meta: Script,
    activity: Script,
}

impl RedisBus {
    /// A bus on the Redis at `url` whose hosts expire once silent for
    /// `expire_after`. Nothing is sent yet, so an unreachable Redis is not an
    /// error here: calls fail until it answers. Must run inside a tokio
    /// runtime.
    pub fn new(url: RedisUrl, expire_after: Duration) -> Result<Self, BusError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            // Few, short retries: a caller waiting on a reconnect is a caller
            // not counting a failure, and the next call retries anyway.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(url.client().clone(), config)
            .map_err(|e| BusError::Unavailable(format!("Redis at {url}: {e}")))?;
        Ok(Self {
            url,
            conn,
            expire_after_ms: expire_after.as_millis() as i64,
            report: state::report_script(),
            meta: state::meta_script(),
            activity: state::activity_script(),
        })
    }

    /// Where this bus connects, without credentials.
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        ::redis::cmd("PING")
            .exec_async(&mut conn)
            .await
            .map_err(|e| self.unavailable(e))
    }

    fn unavailable(&self, error: ::redis::RedisError) -> BusError {
        BusError::Unavailable(format!("Redis at {}: {error}", self.url))
    }

    fn add_report(&self, pipe: &mut Pipeline, report: &AcceptedReport, payload: &[u8], now: i64) {
        let cmd = pipe
            .cmd("EVALSHA")
            .arg(self.report.get_hash())
            .arg(2)
            .arg(host_key(&report.host))
            .arg(HOSTS_KEY)
            .arg(&report.host)
            .arg(report.timestamp_ms)
            .arg(report.timestamp_ms.saturating_add(self.expire_after_ms))
            .arg(format!("({}", now - self.expire_after_ms));
        for point in &report.points {
            // `f64`'s `Display` is the shortest text that parses back to the
            // same value, and never uses an exponent: readable in redis-cli.
            cmd.arg(series_field(&point.key))
                .arg(point.value.to_string());
        }
        cmd.ignore();
        pipe.cmd("PUBLISH")
            .arg(wire::channel::metrics(&report.host))
            .arg(payload)
            .ignore();
    }

    fn add_activity(
        &self,
        pipe: &mut Pipeline,
        host: &str,
        kind: ActivityKind,
        timestamp_ms: i64,
        payload: &[u8],
    ) {
        pipe.cmd("EVALSHA")
            .arg(self.activity.get_hash())
            .arg(1)
            .arg(activity_key(host))
            .arg(kind.as_str())
            .arg(timestamp_ms)
            .arg(payload)
            .arg(timestamp_ms.saturating_add(self.expire_after_ms))
            .ignore();
        pipe.cmd("PUBLISH")
            .arg(kind.channel(host))
            .arg(payload)
            .ignore();
    }

    fn add_meta(&self, pipe: &mut Pipeline, host: &str, meta: &HostMeta, now: i64) {
        let json = serde_json::to_string(meta).unwrap_or_default();
        pipe.cmd("EVALSHA")
            .arg(self.meta.get_hash())
            .arg(2)
            .arg(host_key(host))
            .arg(HOSTS_KEY)
            .arg(host)
            .arg(json)
            .arg(now)
            .arg(now.saturating_add(self.expire_after_ms))
            .ignore();
        pipe.cmd("PUBLISH")
            .arg(wire::channel::hosts(host))
            .arg(crate::event::encode_host(host, meta).as_ref())
            .ignore();
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish_report(
        &self,
        report: &AcceptedReport,
        payload: Bytes,
    ) -> Result<(), BusError> {
        self.publish_updates(&[Update::Report {
            report: report.clone(),
            payload,
        }])
        .await
    }

    async fn upsert_meta(&self, host: &str, meta: &HostMeta) -> Result<(), BusError> {
        self.publish_updates(&[Update::Meta {
            host: host.to_owned(),
            meta: meta.clone(),
        }])
        .await
    }

    async fn publish_activity(
        &self,
        host: &str,
        kind: ActivityKind,
        timestamp_ms: i64,
        payload: Bytes,
    ) -> Result<(), BusError> {
        self.publish_updates(&[Update::Activity {
            host: host.to_owned(),
            kind,
            timestamp_ms,
            payload,
        }])
        .await
    }

    async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        ::redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload.as_ref())
            .exec_async(&mut conn)
            .await
            .map_err(|e| self.unavailable(e))
    }

    async fn subscribe(&self, patterns: &[&str]) -> Result<Subscription, BusError> {
        let patterns = patterns
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(subscribe::subscribe(self.url.clone(), patterns).await)
    }

    async fn hosts(&self) -> Result<Vec<HostState>, BusError> {
        let mut conn = self.conn.clone();
        let cutoff = now_ms() - self.expire_after_ms;
        let names: Vec<String> = ::redis::cmd("ZRANGEBYSCORE")
            .arg(HOSTS_KEY)
            .arg(cutoff)
            .arg("+inf")
            .query_async(&mut conn)
            .await
            .map_err(|e| self.unavailable(e))?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for name in &names {
            pipe.cmd("HGETALL").arg(host_key(name));
            pipe.cmd("HGETALL").arg(activity_key(name));
        }
        let hashes: Vec<HashMap<String, Vec<u8>>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| self.unavailable(e))?;
        let mut hashes = hashes.into_iter();
        let mut all = Vec::with_capacity(names.len());
        for name in &names {
            let (Some(fields), Some(activity)) = (hashes.next(), hashes.next()) else {
                break;
            };
            if let Some(mut state) = parse_host(name, fields)
                && state.last_seen_ms >= cutoff
            {
                parse_activity(&mut state, activity);
                all.push(state);
            }
        }
        all.sort_by(|a, b| a.host.cmp(&b.host));
        Ok(all)
    }

    fn lease(&self, name: &str, ttl: Duration) -> Arc<dyn Lease> {
        Arc::new(RedisLease::new(self, name, ttl))
    }

    async fn publish_updates(&self, updates: &[Update]) -> Result<(), BusError> {
        if updates.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut pipe = ::redis::pipe();
        // Redis forgets scripts when it restarts, so each batch loads the ones
        // it uses; loading a known script only hashes it again.
        if updates.iter().any(|u| matches!(u, Update::Report { .. })) {
            pipe.load_script(&self.report).ignore();
        }
        if updates.iter().any(|u| matches!(u, Update::Meta { .. })) {
            pipe.load_script(&self.meta).ignore();
        }
        if updates.iter().any(|u| matches!(u, Update::Activity { .. })) {
            pipe.load_script(&self.activity).ignore();
        }
        for update in updates {
            match update {
                Update::Report { report, payload } => {
                    self.add_report(&mut pipe, report, payload, now)
                }
                Update::Meta { host, meta } => self.add_meta(&mut pipe, host, meta, now),
                Update::Activity {
                    host,
                    kind,
                    timestamp_ms,
                    payload,
                } => self.add_activity(&mut pipe, host, *kind, *timestamp_ms, payload),
            }
        }
        let mut conn = self.conn.clone();
        pipe.exec_async(&mut conn)
            .await
            .map_err(|e| self.unavailable(e))
    }
}
