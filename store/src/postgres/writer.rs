//! The PostgreSQL engine behind an aggregator's writer thread: its own
//! connection, batches written with binary `COPY`, and maintenance while it
//! holds the election (see the module above for the locks).
//!
//! A batch is one transaction: the hosts' last-seen times in one statement,
//! the head rows copied into a temporary table and inserted from there with
//! `ON CONFLICT DO NOTHING` (a row per report, whatever its size), and only
//! the reports that found a row already there (a replay, possibly through
//! another aggregator) merged one by one. Series are created before the
//! batch in statements of their own: a series id that outlives a failed
//! batch points at nothing, which costs nothing.

use std::collections::{HashMap, HashSet};

use domain::model::SeriesKey;
use postgres::Client;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;

use super::{MAINTENANCE_LOCK, PgUrl, STEP_LOCK, tls};
use crate::StoreError;
use crate::config::MINUTE_MS;
use crate::db::{DbError, DbResult};
use crate::encoding::{decode_chunk, encode_report};
use crate::fault::Fault;
use crate::forward_log::Appender;
use crate::maintenance::{Marks, Run};
use crate::raw::{self, Written, window_of};
use crate::rollup::{Table, bucket_of};
use crate::writer::{Engine, WriteJob, WriteOutcome};

pub(crate) struct PgEngine {
    /// `None` after the connection broke, until a reconnect succeeds.
    client: Option<Client>,
    url: PgUrl,
    /// host -> series -> id, for series known to exist in the database.
    series: HashMap<String, HashMap<SeriesKey, i64>>,
    /// Whether this connection holds the maintenance lock.
    leader: bool,
    /// Whether this connection has created its staging table.
    staged: bool,
    /// The write path's statements, prepared once per connection: each
    /// saves a round trip per batch.
    prepared: HashMap<&'static str, postgres::Statement>,
    /// Appends each batch's new samples to the forward log, when on.
    forward: Appender,
}

/// `sql` prepared on this session, from the cache when it is there.
fn prepared(
    cache: &mut HashMap<&'static str, postgres::Statement>,
    tx: &mut postgres::Transaction<'_>,
    sql: &'static str,
) -> DbResult<postgres::Statement> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = tx.prepare(sql)?;
    cache.insert(sql, s.clone());
    Ok(s)
}

impl PgEngine {
    pub fn new(client: Client, url: PgUrl, forward_log: bool) -> Self {
        Self {
            forward: Appender {
                enabled: forward_log,
            },
            client: Some(client),
            url,
            series: HashMap::new(),
            leader: false,
            staged: false,
            prepared: HashMap::new(),
        }
    }

    /// The connection, reconnecting if it broke. A new session holds no
    /// lock and has no staging table.
    fn client(&mut self) -> DbResult<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            if self.leader {
                tracing::warn!(store = %self.url, "lost the connection that held the maintenance election");
            }
            self.client = None;
            self.leader = false;
            self.staged = false;
            self.prepared.clear();
            let client = self.url.config.connect(tls())?;
            tracing::info!(store = %self.url, "connected to the PostgreSQL store again");
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// Ids of every series of `jobs`, creating the missing ones.
    fn resolve(&mut self, jobs: &[&WriteJob]) -> DbResult<()> {
        let mut missing: Vec<(&str, &SeriesKey)> = Vec::new();
        let mut seen: HashSet<(&str, &SeriesKey)> = HashSet::new();
        for job in jobs {
            let known = self.series.get(&job.host);
            for p in &job.points {
                if known.is_none_or(|m| !m.contains_key(&p.key)) && seen.insert((&job.host, &p.key))
                {
                    missing.push((&job.host, &p.key));
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        // Sorted, so two aggregators creating the same series lock their
        // keys in the same order and never deadlock.
        missing.sort_unstable();
        let hosts: Vec<&str> = missing.iter().map(|(h, _)| *h).collect();
        let names: Vec<&str> = missing.iter().map(|(_, k)| k.name.as_str()).collect();
        let labels: Vec<String> = missing.iter().map(|(_, k)| k.labels_json()).collect();
        let client = self.client()?;
        client.execute(
            "INSERT INTO series (host, name, labels)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
             ON CONFLICT DO NOTHING",
            &[&hosts, &names, &labels],
        )?;
        let rows = client.query(
            "SELECT s.id, s.host, s.name, s.labels FROM series s
             JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(host, name, labels)
               ON s.host = k.host AND s.name = k.name AND s.labels = k.labels",
            &[&hosts, &names, &labels],
        )?;
        for row in rows {
            let (id, host, name, labels): (i64, String, String, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let key = SeriesKey::from_parts(&name, &labels)
                .map_err(|e| DbError::Invalid(format!("series {name} has bad labels: {e}")))?;
            self.series.entry(host).or_default().insert(key, id);
        }
        Ok(())
    }

    fn id(&self, host: &str, key: &SeriesKey) -> DbResult<i64> {
        self.series
            .get(host)
            .and_then(|m| m.get(key))
            .copied()
            .ok_or_else(|| {
                DbError::Invalid(format!("series {key} of {host} was created but not found"))
            })
    }
}

/// The progress marks in one round trip (`Marks::load` asks per mark).
fn load_marks(
    cache: &mut HashMap<&'static str, postgres::Statement>,
    tx: &mut postgres::Transaction<'_>,
) -> DbResult<Marks> {
    let mut marks = Marks::NONE;
    let sql = "SELECT name, value FROM store_state
               WHERE name IN ('compacted_before', 'watermark_1m', 'watermark_1h')";
    let stmt = prepared(cache, tx, sql)?;
    for row in tx.query(&stmt, &[])? {
        let (name, value): (String, i64) = (row.get(0), row.get(1));
        match name.as_str() {
            "compacted_before" => marks.compacted_before = value,
            "watermark_1m" => marks.watermark_1m = Some(value),
            _ => marks.watermark_1h = Some(value),
        }
    }
    Ok(marks)
}

/// One report's head row, ready to copy.
struct Head {
    job: usize,
    samples: Vec<(i64, f64)>,
    offered: usize,
}

impl Engine for PgEngine {
    fn write_batch(
        &mut self,
        jobs: &[&WriteJob],
        _marks: &Marks,
    ) -> Result<Vec<WriteOutcome>, DbError> {
        self.resolve(jobs)?;
        let mut heads = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            let mut samples = Vec::with_capacity(job.points.len());
            for p in &job.points {
                samples.push((self.id(&job.host, &p.key)?, p.value));
            }
            heads.push(Head {
                job: i,
                offered: samples.len(),
                samples,
            });
        }
        let staged = self.staged;
        let client = self.client()?;
        if !staged {
            client.batch_execute(
                "CREATE TEMP TABLE IF NOT EXISTS head_in (
                     host text, ts bigint, samples bigint, data bytea
                 ) ON COMMIT DELETE ROWS",
            )?;
        }
        self.staged = true;
        let client = self.client.as_mut().expect("connected above");
        let cache = &mut self.prepared;
        let mut tx = client.transaction()?;
        let lock = prepared(cache, &mut tx, "SELECT pg_advisory_xact_lock_shared($1)")?;
        tx.execute(&lock, &[&STEP_LOCK])?;
        let marks = load_marks(cache, &mut tx)?;

        // Hosts, newest report each, in host order (see `resolve`).
        let mut last_seen: HashMap<&str, i64> = HashMap::new();
        for job in jobs {
            let t = last_seen.entry(&job.host).or_insert(job.timestamp_ms);
            *t = (*t).max(job.timestamp_ms);
        }
        let mut hosts: Vec<(&str, i64)> = last_seen.into_iter().collect();
        hosts.sort_unstable();
        let names: Vec<&str> = hosts.iter().map(|h| h.0).collect();
        let times: Vec<i64> = hosts.iter().map(|h| h.1).collect();
        let seen = prepared(
            cache,
            &mut tx,
            "INSERT INTO hosts (host, first_seen_ms, last_seen_ms)
             SELECT h, t, t FROM unnest($1::text[], $2::bigint[]) AS x(h, t)
             ON CONFLICT (host) DO UPDATE
               SET last_seen_ms = greatest(hosts.last_seen_ms, excluded.last_seen_ms)",
        )?;
        tx.execute(&seen, &[&names, &times])?;
        for job in jobs {
            crate::activity::write(&mut tx, &job.host, &job.activity)?;
            if let Some(m) = &job.meta {
                tx.execute(
                    "UPDATE hosts SET os = $2, kernel = $3, cores = $4, memory_bytes = $5,
                     agent_version = $6, interval_ms = $7 WHERE host = $1",
                    &[
                        &job.host,
                        &m.os,
                        &m.kernel,
                        &i64::from(m.cores),
                        &(m.memory_bytes as i64),
                        &m.agent_version,
                        &(m.interval_ms as i64),
                    ],
                )?;
            }
        }

        // Late reports: drop what their (maybe compacted) window already has.
        // One query for every chunk the batch's late samples fall in.
        let mut wanted: HashSet<(i64, i64)> = HashSet::new();
        for head in &heads {
            let ts = jobs[head.job].timestamp_ms;
            if ts < marks.compacted_before {
                wanted.extend(head.samples.iter().map(|&(id, _)| (id, window_of(ts))));
            }
        }
        if !wanted.is_empty() {
            let (ids, windows): (Vec<i64>, Vec<i64>) = wanted.into_iter().unzip();
            let mut chunks: HashMap<(i64, i64), Vec<i64>> = HashMap::new();
            for row in tx.query(
                "SELECT c.series_id, c.window_start, c.data FROM metrics_raw c
                 JOIN unnest($1::bigint[], $2::bigint[]) AS k(id, w)
                   ON c.series_id = k.id AND c.window_start = k.w",
                &[&ids, &windows],
            )? {
                let blob: Vec<u8> = row.get(2);
                let times = decode_chunk(&blob)?.into_iter().map(|s| s.0).collect();
                chunks.insert((row.get(0), row.get(1)), times);
            }
            for head in &mut heads {
                let ts = jobs[head.job].timestamp_ms;
                if ts < marks.compacted_before {
                    head.samples.retain(|&(id, _)| {
                        chunks
                            .get(&(id, window_of(ts)))
                            .is_none_or(|times| times.binary_search(&ts).is_err())
                    });
                }
            }
        }

        // The first report of each (host, ts) is copied; a second one in the
        // same batch merges after it, like a replay.
        let mut first: HashSet<(&str, i64)> = HashSet::new();
        let mut copied = vec![false; heads.len()];
        {
            let sink = tx.copy_in("COPY head_in (host, ts, samples, data) FROM STDIN BINARY")?;
            let mut out =
                BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::INT8, Type::INT8, Type::BYTEA]);
            for (i, head) in heads.iter_mut().enumerate() {
                let job = jobs[head.job];
                if head.samples.is_empty() || !first.insert((&job.host, job.timestamp_ms)) {
                    continue;
                }
                let blob = encode_report(&mut head.samples);
                let n = head.samples.len() as i64;
                out.write(&[&job.host, &job.timestamp_ms, &n, &blob])?;
                copied[i] = true;
            }
            out.finish()?;
        }
        let insert = prepared(
            cache,
            &mut tx,
            "INSERT INTO metrics_raw_head (host, ts, samples, data)
             SELECT host, ts, samples, data FROM head_in
             ON CONFLICT (host, ts) DO NOTHING RETURNING host, ts",
        )?;
        let inserted: HashSet<(String, i64)> = tx
            .query(&insert, &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();

        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut forward = self.forward.batch();
        // Buckets behind the watermark that fresh samples change, marked in
        // one statement.
        let mut dirty: Vec<(i64, i64)> = Vec::new();
        for (i, head) in heads.into_iter().enumerate() {
            let job = jobs[head.job];
            let written = if head.samples.is_empty() {
                Written {
                    fresh: Vec::new(),
                    duplicates: head.offered,
                }
            } else if copied[i] && inserted.contains(&(job.host.clone(), job.timestamp_ms)) {
                Written {
                    duplicates: head.offered - head.samples.len(),
                    fresh: head.samples,
                }
            } else {
                raw::merge_into_head(
                    &mut tx,
                    &job.host,
                    job.timestamp_ms,
                    head.samples,
                    head.offered,
                )?
            };
            forward.note(&job.host, job.timestamp_ms, &written.fresh);
            let minute = bucket_of(job.timestamp_ms, MINUTE_MS);
            if marks.watermark_1m.is_some_and(|wm| minute < wm) {
                dirty.extend(written.fresh.iter().map(|&(id, _)| (id, minute)));
            }
            outcomes.push(WriteOutcome {
                inserted: written.fresh.len(),
                duplicates: written.duplicates,
            });
        }
        if !dirty.is_empty() {
            dirty.sort_unstable();
            dirty.dedup();
            let (ids, buckets): (Vec<i64>, Vec<i64>) = dirty.into_iter().unzip();
            tx.execute(
                "INSERT INTO rollup_dirty (tier, series_id, bucket)
                 SELECT $1, id, b FROM unnest($2::bigint[], $3::bigint[]) AS d(id, b)
                 ON CONFLICT DO NOTHING",
                &[&Table::OneMinute.dirty_tier(), &ids, &buckets],
            )?;
        }
        forward.write(&mut tx)?;
        tx.commit()?;
        Ok(outcomes)
    }

    fn transact(&mut self, work: crate::writer::TxWork) -> Result<i64, DbError> {
        let mut tx = self.client()?.transaction()?;
        let value = work(&mut tx)?;
        tx.commit()?;
        Ok(value)
    }

    fn step(&mut self, run: &mut Run, marks: &mut Marks) -> Result<(), DbError> {
        let client = self.client()?;
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&STEP_LOCK])?;
        let pending = run.step(&mut tx, marks)?;
        tx.commit()?;
        run.committed(pending, marks);
        Ok(())
    }

    fn may_maintain(&mut self, marks: &mut Marks) -> bool {
        let was = self.leader;
        let result = (|| -> DbResult<bool> {
            let client = self.client()?;
            if was && !client.is_closed() {
                return Ok(true);
            }
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&MAINTENANCE_LOCK])?
                .get(0);
            if got {
                let mut tx = client.transaction()?;
                *marks = Marks::load(&mut tx)?;
                tx.commit()?;
            }
            Ok(got)
        })();
        self.leader = result.unwrap_or(false);
        if self.leader && !was {
            tracing::info!(store = %self.url, "this aggregator now runs the store's maintenance (compaction, rollups, retention)");
        }
        self.leader
    }

    fn settle(&mut self) {
        // A failed transaction rolled back when it was dropped; a broken
        // connection is replaced on next use.
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
            self.leader = false;
            self.staged = false;
        }
    }

    fn error(&self, e: &DbError) -> StoreError {
        match Fault::of(e) {
            Fault::Unreachable => StoreError::Paused {
                url: self.url.to_string(),
                source: e.to_cause(),
            },
            _ => StoreError::Write(e.to_cause()),
        }
    }

    fn place(&self) -> String {
        self.url.to_string()
    }

    fn close(&mut self) {
        // Released here rather than by the session's end, which the server
        // notices a moment later: another aggregator may take over at once.
        if self.leader
            && let Some(client) = self.client.as_mut()
            && let Err(e) = client.execute("SELECT pg_advisory_unlock($1)", &[&MAINTENANCE_LOCK])
        {
            tracing::debug!(error = %e, "releasing the maintenance election failed; the session's end releases it");
        }
        self.client = None;
    }

    #[cfg(test)]
    fn tune(&mut self, sql: &str) -> Result<(), String> {
        self.client()
            .map_err(|e| e.to_string())?
            .batch_execute(sql)
            .map_err(|e| e.to_string())
    }
}
