//! Warm-path benchmark: ingest rate and bytes per raw sample for a simulated
//! fleet, with the previous one-row-per-sample layout measured in the same
//! run as the baseline.
//!
//! ```text
//! cargo run --release -p server --example warm_bench -- [HOSTS] [HOURS]
//! ```
//!
//! The fleet: every host sends the agent's catalog (34 series: CPU and 8
//! cores, load, memory, swap, 2 filesystems, 2 disks, 2 interfaces, uptime,
//! processes) every 5 s, with values shaped like the agent's (f32 percents,
//! integer byte counts, rates divided by a jittery elapsed time). Time is
//! compressed: reports are written as fast as the store takes them.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use server::model::{Point, SeriesKey};
use server::store::{self, Clock, ManualClock, Reader, StoreConfig, WriteJob};

const INTERVAL_MS: i64 = 5_000;
const START: i64 = 1_760_000_000_000;

/// One host's simulated state, advanced a report at a time.
struct Host {
    name: String,
    rng: fastrand::Rng,
    cores: [f32; 8],
    load: [f64; 3],
    mem_used: u64,
    fs_used: [u64; 2],
    procs: f64,
    uptime: f64,
}

const MEM_TOTAL: u64 = 16 << 30;
const FS_SIZE: [u64; 2] = [100 << 30, 500 << 30];

impl Host {
    fn new(i: usize) -> Self {
        let mut rng = fastrand::Rng::with_seed(i as u64);
        Self {
            name: format!("host-{i:04}"),
            cores: [0.0; 8].map(|_: f32| rng.f32() * 30.0),
            load: [rng.f64() * 2.0; 3],
            mem_used: (4 << 30) + rng.u64(0..(4 << 30)) / 4096 * 4096,
            fs_used: [40 << 30, 200 << 30],
            procs: 200.0 + rng.f64() * 100.0,
            uptime: rng.f64() * 1e6,
            rng,
        }
    }

    fn report(&mut self, ts: i64, keys: &[SeriesKey]) -> Vec<Point> {
        let r = &mut self.rng;
        let mut values = Vec::with_capacity(keys.len());
        for c in &mut self.cores {
            *c = (*c + (r.f32() - 0.5) * 10.0).clamp(0.0, 100.0);
        }
        let cpu = self.cores.iter().sum::<f32>() / 8.0;
        values.push(f64::from(cpu));
        values.extend(self.cores.iter().map(|c| f64::from(*c)));
        for l in &mut self.load {
            *l = ((*l + (r.f64() - 0.5) * 0.2).max(0.0) * 100.0).round() / 100.0;
        }
        values.extend(self.load);
        if r.u8(0..4) == 0 {
            self.mem_used = (self.mem_used as i64 + (r.i64(-500..500) * 4096)) as u64;
        }
        let avail = MEM_TOTAL - self.mem_used;
        values.extend([
            MEM_TOTAL as f64,
            self.mem_used as f64,
            avail as f64,
            self.mem_used as f64 / MEM_TOTAL as f64 * 100.0,
            (2u64 << 30) as f64,
            (64u64 << 20) as f64,
        ]);
        for (i, used) in self.fs_used.iter_mut().enumerate() {
            if r.u8(0..3) == 0 {
                *used += r.u64(0..64) * 4096;
            }
            values.extend([
                FS_SIZE[i] as f64,
                *used as f64,
                *used as f64 / FS_SIZE[i] as f64 * 100.0,
            ]);
        }
        // Elapsed time as the agent measures it: 5 s give or take a few ms.
        let dt = (INTERVAL_MS + r.i64(-3..4)) as f64 / 1000.0;
        for _ in 0..2 {
            let busy = r.u8(0..10) < 3;
            let read = if busy { r.u64(0..4_000_000) } else { 0 };
            let written = if busy { r.u64(0..8_000_000) } else { 0 };
            values.extend([read as f64 / dt, written as f64 / dt]);
        }
        for _ in 0..2 {
            values.extend([
                r.u64(1_000..2_000_000) as f64 / dt,
                r.u64(1_000..500_000) as f64 / dt,
            ]);
        }
        self.uptime += 5.0;
        self.procs = (self.procs + f64::from(r.i8(-3..4))).max(1.0);
        values.extend([self.uptime.floor(), self.procs]);
        let _ = ts;
        keys.iter()
            .cloned()
            .zip(values)
            .map(|(key, value)| Point { key, value })
            .collect()
    }
}

fn catalog() -> Vec<SeriesKey> {
    let mut keys = vec![SeriesKey::new("cpu_usage_percent")];
    keys.extend(
        (0..8).map(|c| SeriesKey::with_labels("cpu_core_usage_percent", [("core", c.to_string())])),
    );
    keys.extend(["load1", "load5", "load15"].map(SeriesKey::new));
    keys.extend(
        [
            "memory_total_bytes",
            "memory_used_bytes",
            "memory_available_bytes",
            "memory_used_percent",
            "swap_total_bytes",
            "swap_used_bytes",
        ]
        .map(SeriesKey::new),
    );
    for mount in ["/", "/data"] {
        for name in [
            "filesystem_size_bytes",
            "filesystem_used_bytes",
            "filesystem_used_percent",
        ] {
            keys.push(SeriesKey::with_labels(
                name,
                [("fstype", "ext4"), ("mount", mount)],
            ));
        }
    }
    for device in ["sda", "sdb"] {
        for name in [
            "disk_read_bytes_per_second",
            "disk_written_bytes_per_second",
        ] {
            keys.push(SeriesKey::with_labels(name, [("device", device)]));
        }
    }
    for iface in ["eth0", "eth1"] {
        for name in [
            "network_receive_bytes_per_second",
            "network_transmit_bytes_per_second",
        ] {
            keys.push(SeriesKey::with_labels(name, [("iface", iface)]));
        }
    }
    keys.extend(["uptime_seconds", "processes"].map(SeriesKey::new));
    keys
}

/// Every report of the fleet, in time order.
fn fleet(hosts: usize, hours: i64) -> Vec<WriteJob> {
    let keys = catalog();
    let mut state: Vec<Host> = (0..hosts).map(Host::new).collect();
    let ticks = hours * 3600 * 1000 / INTERVAL_MS;
    let mut jobs = Vec::with_capacity(ticks as usize * hosts);
    for t in 0..ticks {
        for h in &mut state {
            let ts = START + t * INTERVAL_MS + h.rng.i64(0..8);
            jobs.push(WriteJob {
                host: h.name.clone(),
                meta: None,
                timestamp_ms: ts,
                points: h.report(ts, &keys),
                activity: Vec::new(),
            });
        }
    }
    jobs
}

fn file_size(dir: &Path) -> u64 {
    std::fs::metadata(store::db_path(dir))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// The previous layout, for comparison: one row per sample in
/// `metrics_raw(series_id, ts, value)`, written the way its writer did (one
/// transaction per batch of up to 4096 reports, `synchronous = FULL`).
fn baseline(dir: &Path, jobs: &[WriteJob]) -> (f64, u64) {
    let path = dir.join("v1.db");
    let mut conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch(
        "CREATE TABLE hosts (host TEXT PRIMARY KEY, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL) STRICT;
         CREATE TABLE series (id INTEGER PRIMARY KEY, host TEXT NOT NULL, name TEXT NOT NULL, labels TEXT NOT NULL, UNIQUE (host, name, labels)) STRICT;
         CREATE TABLE metrics_raw (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (series_id, ts)) STRICT, WITHOUT ROWID;
         CREATE INDEX metrics_raw_ts ON metrics_raw (ts);",
    )
    .unwrap();
    let mut ids = std::collections::HashMap::new();
    let started = Instant::now();
    let mut samples = 0u64;
    for batch in jobs.chunks(4096) {
        let tx = conn.transaction().unwrap();
        {
            let mut seen = tx
                .prepare_cached(
                    "INSERT INTO hosts (host, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?2)
                     ON CONFLICT (host) DO UPDATE SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
                )
                .unwrap();
            let mut create = tx
                .prepare_cached(
                    "INSERT INTO series (host, name, labels) VALUES (?1, ?2, ?3) RETURNING id",
                )
                .unwrap();
            let mut insert = tx
                .prepare_cached("INSERT INTO metrics_raw (series_id, ts, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
                .unwrap();
            for job in batch {
                seen.execute(params![job.host, job.timestamp_ms]).unwrap();
                for p in &job.points {
                    let id: i64 =
                        *ids.entry((job.host.clone(), p.key.clone()))
                            .or_insert_with(|| {
                                create
                                    .query_row(
                                        params![job.host, p.key.name, p.key.labels_json()],
                                        |r| r.get(0),
                                    )
                                    .unwrap()
                            });
                    insert
                        .execute(params![id, job.timestamp_ms, p.value])
                        .unwrap();
                    samples += 1;
                }
            }
        }
        tx.commit().unwrap();
    }
    let rate = samples as f64 / started.elapsed().as_secs_f64();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    (rate, std::fs::metadata(&path).unwrap().len())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let hosts: usize = args.get(1).map_or(100, |a| a.parse().unwrap());
    let hours: i64 = args.get(2).map_or(4, |a| a.parse().unwrap());
    let jobs = fleet(hosts, hours);
    let samples: u64 = jobs.iter().map(|j| j.points.len() as u64).sum();
    println!(
        "fleet: {hosts} hosts x {} series every 5 s for {hours} h = {samples} samples",
        catalog().len()
    );

    let dir = tempfile::tempdir().unwrap();
    let (v1_rate, v1_bytes) = baseline(dir.path(), &jobs);
    println!(
        "before (one row per sample): ingest {:.0} samples/s, file {} bytes = {:.2} bytes/sample",
        v1_rate,
        v1_bytes,
        v1_bytes as f64 / samples as f64
    );

    let clock = ManualClock::new(START);
    let config = StoreConfig {
        // Maintenance runs only when called, so ingest is measured alone.
        maintenance_every: Duration::from_secs(3600),
        retention_every: Duration::from_secs(3600),
        clock: Clock::manual(&clock),
        ..StoreConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = dir.path().join("v2");
    let (ingest, maintain) = rt.block_on(async {
        let (writer, handle) = store::open(&data, config).unwrap();
        let started = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<
            tokio::sync::oneshot::Receiver<Result<store::WriteOutcome, store::StoreError>>,
        >(8192);
        let acks = tokio::spawn(async move {
            while let Some(pending) = rx.recv().await {
                pending.await.unwrap().unwrap();
            }
        });
        for job in jobs {
            tx.send(writer.submit(job).await.unwrap()).await.unwrap();
        }
        drop(tx);
        acks.await.unwrap();
        let ingest = started.elapsed();
        // Past the last window and the grace period: everything compacts.
        clock.set(START + hours * 3600 * 1000 + 3600 * 1000);
        let started = Instant::now();
        let report = writer.maintain().await.unwrap();
        let maintain = started.elapsed();
        println!("maintenance: {report:?}");
        drop(writer);
        handle.finish().await;
        (ingest, maintain)
    });
    let bytes = file_size(&data);
    let reader = Reader::open(&data).unwrap();
    let stored = reader.raw_count().unwrap();
    assert_eq!(stored, samples);
    println!(
        "after (head rows + chunks): ingest {:.0} samples/s; maintenance (compaction + rollups) {:.1} s = {:.0} samples/s",
        samples as f64 / ingest.as_secs_f64(),
        maintain.as_secs_f64(),
        samples as f64 / maintain.as_secs_f64()
    );
    println!(
        "after: file {bytes} bytes = {:.2} bytes/sample (rollup tiers included)",
        bytes as f64 / stored as f64
    );
    let tables = reader.table_bytes().unwrap();
    let raw: u64 = tables
        .iter()
        .filter(|(t, _)| t.starts_with("metrics_raw"))
        .map(|(_, b)| b)
        .sum();
    println!(
        "after: raw tier (metrics_raw + head, indexes included) {raw} bytes = {:.2} bytes/sample",
        raw as f64 / stored as f64
    );
    for (table, b) in &tables {
        println!("  {table:<24} {b:>12} bytes");
    }
    rollup_rows(&data.join("mon.db"), &tables);
}

/// Bytes per rollup row, indexes included, and the same 1m rows in the
/// version 4 layout (Unix ms buckets, `last_ts`, an index on the bucket),
/// written in time order as maintenance writes them.
fn rollup_rows(db: &std::path::Path, tables: &[(String, u64)]) {
    let conn = rusqlite::Connection::open(db).unwrap();
    for tier in ["metrics_1m", "metrics_1h"] {
        let rows: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {tier}"), [], |r| r.get(0))
            .unwrap();
        let bytes: u64 = tables
            .iter()
            .filter(|(t, _)| t.starts_with(tier))
            .map(|(_, b)| b)
            .sum();
        println!(
            "after: {tier} {rows} rows = {:.1} bytes per bucket (indexes included)",
            bytes as f64 / rows.max(1) as f64
        );
    }
    let old = db.with_file_name("v4-rollups.db");
    conn.execute("ATTACH ?1 AS old", [old.to_string_lossy()])
        .unwrap();
    conn.execute_batch(
        "CREATE TABLE old.m (series_id INTEGER NOT NULL, bucket INTEGER NOT NULL,
           min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, count INTEGER NOT NULL,
           last REAL NOT NULL, last_ts INTEGER NOT NULL, PRIMARY KEY (series_id, bucket)) STRICT, WITHOUT ROWID;
         CREATE INDEX old.m_bucket ON m (bucket);
         INSERT INTO old.m SELECT series_id, minute * 60000, min, max, sum, count, last,
           minute * 60000 + 59000 FROM metrics_1m ORDER BY minute, series_id;",
    )
    .unwrap();
    let (rows, bytes): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM old.m),
                    (SELECT sum(pgsize) FROM dbstat('old') WHERE name IN ('m', 'm_bucket'))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    println!(
        "the same 1m rows in the version 4 layout: {:.1} bytes per bucket (indexes included)",
        bytes as f64 / rows.max(1) as f64
    );
    smaller_layouts(&conn);
}

/// What the 1m rows would take with less in them, each layout filled in
/// the time order maintenance writes: the figures behind the choice of
/// keeping `last` (BENCHMARKS.md, "Rollup rows").
fn smaller_layouts(conn: &rusqlite::Connection) {
    // Minutes since 2020-01-01, which fit in 3 bytes until 2035.
    const EPOCH_2020: i64 = 26_297_280;
    // Series ids as a fleet of 4,000 hosts has them: past 32,767 an id
    // takes 3 bytes instead of this example's 2.
    const FLEET_IDS: i64 = 100_000;
    let same_max = ("max REAL NOT NULL", "max");
    let null_max = ("max REAL", "CASE WHEN max = min THEN NULL ELSE max END");
    let layouts = [
        ("without `last`", same_max, 0, 0),
        (
            "without `last`, minutes since 2020",
            same_max,
            EPOCH_2020,
            0,
        ),
        (
            "without `last`, `max` NULL when it equals `min`",
            null_max,
            0,
            0,
        ),
        ("without `last`, both of the above", null_max, EPOCH_2020, 0),
        (
            "without `last`, both, with a fleet's 3-byte series ids",
            null_max,
            EPOCH_2020,
            FLEET_IDS,
        ),
    ];
    for (i, (what, (max_column, max_value), epoch, ids)) in layouts.iter().enumerate() {
        let table = format!("l{i}");
        conn.execute_batch(&format!(
            "CREATE TABLE old.{table} (series_id INTEGER NOT NULL, minute INTEGER NOT NULL,
               min REAL NOT NULL, {max_column}, sum REAL NOT NULL, count INTEGER NOT NULL,
               PRIMARY KEY (series_id, minute)) STRICT, WITHOUT ROWID;
             INSERT INTO old.{table} SELECT series_id + {ids}, minute - {epoch}, min, {max_value},
               sum, count FROM metrics_1m ORDER BY minute, series_id;"
        ))
        .unwrap();
        let (rows, bytes): (i64, i64) = conn
            .query_row(
                &format!(
                    "SELECT (SELECT count(*) FROM old.{table}),
                            (SELECT sum(pgsize) FROM dbstat('old') WHERE name = '{table}')"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        println!(
            "the same 1m rows {what}: {:.1} bytes per bucket",
            bytes as f64 / rows.max(1) as f64
        );
    }
}
