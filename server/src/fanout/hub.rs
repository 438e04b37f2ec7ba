//! The hub: the fleet state plus the broadcast ring every client reads.
//!
//! Events enter as the JSON bytes the bus (or the upstream) delivered; they
//! are validated as UTF-8 and parsed once here, and clients share the same
//! frame. The state sits behind a std mutex: every critical section is a few
//! map operations with no `.await` inside.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use tokio::sync::{Notify, broadcast};

use wire::frame_type;
use wire::host::Host;
use wire::metrics::Metrics;

use super::Filter;
use super::fleet::Fleet;
use super::message::status;
use crate::activity::{ActivityKind, TableHeader};
use crate::time::now_ms;

/// How long a built full snapshot is reused for clients connecting at once.
const SNAPSHOT_REUSE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Metrics,
    /// A host's `Hello` metadata.
    Host,
    Alert,
    /// The state was replaced: every client should get a fresh snapshot.
    Resync,
    /// The upstream link changed state (edge only).
    Status,
    /// A host's `processes` or `cgroups` table, for the clients watching it.
    Activity,
}

/// One session's watch of a host; dropping it ends the watch.
pub struct WatchGuard {
    hub: Arc<Hub>,
    host: String,
}

impl WatchGuard {
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut watchers = self.hub.watchers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = watchers.get_mut(&self.host) {
            *n -= 1;
            if *n == 0 {
                watchers.remove(&self.host);
            }
        }
    }
}

#[derive(Debug)]
pub struct Event {
    pub kind: EventKind,
    pub host: String,
    /// The frame every client with no metric filter sends as-is.
    pub frame: Utf8Bytes,
    /// The parsed metrics, for clients that filter by metric.
    pub metrics: Option<Metrics>,
}

/// Counters for `/metrics` and the benchmarks.
#[derive(Debug, Default)]
pub struct HubStats {
    pub clients: AtomicU64,
    pub clients_total: AtomicU64,
    pub frames_sent: AtomicU64,
    pub events_in: AtomicU64,
    pub lag_resyncs: AtomicU64,
    pub clients_dropped_slow: AtomicU64,
    pub bad_client_frames: AtomicU64,
    pub bad_events: AtomicU64,
}

pub struct Hub {
    role: &'static str,
    /// How many sessions watch each host (see [`Hub::watch`]).
    watchers: Mutex<HashMap<String, usize>>,
    /// Woken when a host gains its first watcher.
    watch_added: Notify,
    tx: broadcast::Sender<Arc<Event>>,
    fleet: Mutex<Fleet>,
    snapshot: Mutex<Option<(Instant, Utf8Bytes)>>,
    ready: AtomicBool,
    pub stats: HubStats,
}

impl Hub {
    /// `ring` is how many events a client may fall behind before it is
    /// resynchronized with a snapshot.
    pub fn new(role: &'static str, ring: usize) -> Arc<Self> {
        let (tx, _) = broadcast::channel(ring.max(16));
        Arc::new(Self {
            role,
            watchers: Mutex::new(HashMap::new()),
            watch_added: Notify::new(),
            tx,
            fleet: Mutex::new(Fleet::default()),
            snapshot: Mutex::new(None),
            ready: AtomicBool::new(false),
            stats: HubStats::default(),
        })
    }

    pub fn role(&self) -> &'static str {
        self.role
    }

    /// True once the hub has state from its source (bus or upstream).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Applies and broadcasts one `metrics` or `alert` event.
    pub fn ingest(&self, payload: Bytes) -> Result<(), String> {
        self.stats.events_in.fetch_add(1, Ordering::Relaxed);
        let result = self.ingest_inner(payload);
        if result.is_err() {
            self.stats.bad_events.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn ingest_inner(&self, payload: Bytes) -> Result<(), String> {
        let frame = Utf8Bytes::try_from(payload).map_err(|_| "event is not UTF-8".to_owned())?;
        // Events produced by mon start with their type, which saves the
        // metrics event (nearly all traffic) a second parse.
        if frame_type(frame.as_str()) == Some(wire::kind::METRICS) {
            let m: Metrics = serde_json::from_str(frame.as_str())
                .map_err(|e| format!("bad metrics event: {e}"))?;
            self.lock().apply_metrics(&m);
            let _ = self.tx.send(Arc::new(Event {
                kind: EventKind::Metrics,
                host: m.host.clone(),
                frame,
                metrics: Some(m),
            }));
            return Ok(());
        }
        if let Some(kind) = frame_type(frame.as_str()).and_then(ActivityKind::parse) {
            let header: TableHeader = serde_json::from_str(frame.as_str())
                .map_err(|e| format!("bad {} event: {e}", kind.as_str()))?;
            if self
                .lock()
                .apply_table(&header.host, kind, header.ts, frame.clone())
            {
                let _ = self.tx.send(Arc::new(Event {
                    kind: EventKind::Activity,
                    host: header.host,
                    frame,
                    metrics: None,
                }));
            }
            return Ok(());
        }
        let value: serde_json::Value =
            serde_json::from_str(frame.as_str()).map_err(|e| format!("event is not JSON: {e}"))?;
        let event = match value[wire::TYPE].as_str() {
            Some(wire::kind::METRICS) => {
                let m: Metrics =
                    serde_json::from_value(value).map_err(|e| format!("bad metrics event: {e}"))?;
                self.lock().apply_metrics(&m);
                Event {
                    kind: EventKind::Metrics,
                    host: m.host.clone(),
                    frame,
                    metrics: Some(m),
                }
            }
            Some(wire::kind::HOST) => {
                let Host { host, meta } =
                    serde_json::from_value(value).map_err(|e| format!("bad host event: {e}"))?;
                self.lock().apply_host(&host, meta, now_ms());
                *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Event {
                    kind: EventKind::Host,
                    host,
                    frame,
                    metrics: None,
                }
            }
            Some(wire::kind::ALERT) => {
                let host = self.lock().apply_alert(&value)?;
                Event {
                    kind: EventKind::Alert,
                    host,
                    frame,
                    metrics: None,
                }
            }
            other => return Err(format!("unknown event type {other:?}")),
        };
        let _ = self.tx.send(Arc::new(event));
        Ok(())
    }

    /// Replaces the whole state (after a start or a gap) and tells every
    /// client to take a fresh snapshot. The bus holds no alert state, so the
    /// gateway passes `keep_alerts` to keep what alert events told it.
    pub fn reset(&self, mut fleet: Fleet, keep_alerts: bool) {
        {
            let mut current = self.lock();
            if keep_alerts {
                fleet.alerts = std::mem::take(&mut current.alerts);
            }
            *current = fleet;
        }
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.ready.store(true, Ordering::Relaxed);
        let _ = self.tx.send(Arc::new(Event {
            kind: EventKind::Resync,
            host: String::new(),
            frame: Utf8Bytes::from(""),
            metrics: None,
        }));
    }

    /// Broadcasts a `status` frame about the upstream link.
    pub fn status(&self, upstream: &str) {
        let _ = self.tx.send(Arc::new(Event {
            kind: EventKind::Status,
            host: String::new(),
            frame: Utf8Bytes::from(status(upstream)),
            metrics: None,
        }));
    }

    /// A `snapshot` frame for `filter`. The unfiltered one is shared by the
    /// clients that connect within half a second of each other.
    pub fn snapshot(&self, filter: &Filter) -> Utf8Bytes {
        if *filter != Filter::default() {
            return Utf8Bytes::from(self.lock().snapshot_frame(filter, now_ms()));
        }
        let mut cached = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, frame)) = cached.as_ref()
            && at.elapsed() < SNAPSHOT_REUSE
        {
            return frame.clone();
        }
        let frame = Utf8Bytes::from(self.lock().snapshot_frame(filter, now_ms()));
        *cached = Some((Instant::now(), frame.clone()));
        frame
    }

    /// A session's watch of `host`, held until the guard is dropped. The
    /// gateway tells the aggregators which hosts are watched, so their
    /// agents read the process table with every report.
    pub fn watch(self: &Arc<Self>, host: &str) -> WatchGuard {
        let first = {
            let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
            let n = watchers.entry(host.to_owned()).or_default();
            *n += 1;
            *n == 1
        };
        if first {
            self.watch_added.notify_one();
        }
        WatchGuard {
            hub: self.clone(),
            host: host.to_owned(),
        }
    }

    /// The hosts at least one session watches, sorted.
    pub fn watched(&self) -> Vec<String> {
        let watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        let mut hosts: Vec<String> = watchers.keys().cloned().collect();
        hosts.sort();
        hosts
    }

    /// Resolves when a host gains its first watcher.
    pub async fn watch_added(&self) {
        self.watch_added.notified().await;
    }

    /// The latest tables of `host`, as frames, for a session that starts
    /// watching it.
    pub fn tables(&self, host: &str) -> Vec<Utf8Bytes> {
        self.with_fleet(|fleet| {
            fleet.hosts.get(host).map_or_else(Vec::new, |entry| {
                ActivityKind::ALL
                    .into_iter()
                    .filter_map(|kind| entry.table(kind).map(|t| t.frame.clone()))
                    .collect()
            })
        })
    }

    /// Reads the state.
    pub fn with_fleet<R>(&self, f: impl FnOnce(&Fleet) -> R) -> R {
        f(&self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Fleet> {
        self.fleet.lock().unwrap_or_else(|e| e.into_inner())
    }
}
