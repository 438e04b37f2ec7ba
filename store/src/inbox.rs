//! SQLite's raw inbox: where reports land before the head
//! (`migrations/0006_raw_inbox.sql`, `0007_sealed_inbox.sql`).
//!
//! Why. The head is keyed by host, so a batch of reports from a fleet of N
//! hosts changed N of its index pages, each written whole to the WAL and
//! again at the checkpoint (BENCHMARKS.md: about 9 KB per report of 10
//! samples at 4,000 hosts). The inbox is keyed by time, so a batch appends
//! at the right edge of one B-tree; moving it into the head a few reports
//! per host at a time, in host order, changes each host's page once for
//! all of them. It is the first level of an LSM tree in two tables. The
//! writer sends a batch this way only when that writes fewer bytes
//! (`inbox_pays` in `sqlite_writer.rs`): a batch of large reports with
//! several per host shares the hosts' head pages already.
//!
//! The move is in two steps, so no ingest batch waits long behind it. Once
//! the inbox holds enough reports per host, [`seal`] copies it to the
//! sealed inbox, keyed by host (a sequential write), and empties it. Then
//! after each batch [`settle_slice`] moves the first few thousand sealed
//! rows (whole hosts, one contiguous key range) into the head in a short
//! transaction: moving the whole inbox at once took over 100 ms at 4,000
//! hosts, and every batch waited.
//!
//! The invariant: a report `(host, ts)` is in exactly one of the inbox,
//! the sealed inbox and the head. A report goes to the inbox only when the
//! other two lack it, and only the functions here move rows between them.

use std::collections::HashSet;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::db::DbResult;
use super::encoding::{decode_report, encode_report};

/// How many inbox rows the writer lets gather before it settles them, for a
/// fleet of `hosts`: eight reports per host, so each host's head page takes
/// eight rows in one write, within bounds. The inbox is read by time, so a
/// read of one host's recent samples scans all of it; the upper bound keeps
/// that scan short.
pub(crate) fn settle_rows(hosts: usize) -> u64 {
    (hosts as u64).saturating_mul(8).clamp(1_024, 65_536)
}

/// Rows in the inbox now.
pub(crate) fn rows(conn: &Connection) -> DbResult<u64> {
    Ok(
        conn.query_row("SELECT count(*) FROM metrics_raw_inbox", [], |r| {
            r.get::<_, i64>(0)
        })? as u64,
    )
}

/// Each host's newest report in the inbox: what a settle will add to the
/// head.
pub(crate) fn newest_by_host(conn: &Connection) -> DbResult<Vec<(String, i64)>> {
    let mut stmt = conn.prepare("SELECT host, max(ts) FROM metrics_raw_inbox GROUP BY host")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest timestamp among `host`'s rows in the head and the sealed
/// inbox (not the open inbox): one seek at the end of the host's range of
/// each.
pub(crate) fn head_newest(conn: &Connection, host: &str) -> DbResult<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT max(t) FROM (SELECT max(ts) AS t FROM metrics_raw_head WHERE host = ?1
                                 UNION ALL SELECT max(ts) FROM metrics_raw_sealed
                                 WHERE run IN (SELECT run FROM metrics_raw_sealed_runs) AND host = ?1)",
        )?
        .query_row([host], |r| r.get(0))?)
}

/// Rows in the sealed inbox now.
pub(crate) fn sealed_rows(conn: &Connection) -> DbResult<u64> {
    Ok(
        conn.query_row("SELECT count(*) FROM metrics_raw_sealed", [], |r| {
            r.get::<_, i64>(0)
        })? as u64,
    )
}

/// Seals the whole inbox, inside the caller's transaction: its rows move
/// to `metrics_raw_sealed` in host order under the next run number (an
/// append at the table's end) and the inbox is emptied (SQLite drops a
/// table's pages whole for a `DELETE` without `WHERE`). Returns how many
/// moved.
pub(crate) fn seal(conn: &Connection) -> DbResult<usize> {
    let run: i64 = conn
        .prepare_cached("SELECT coalesce(max(run), 0) + 1 FROM metrics_raw_sealed")?
        .query_row([], |r| r.get(0))?;
    let moved = conn
        .prepare_cached(
            "INSERT INTO metrics_raw_sealed (run, host, ts, samples, data)
             SELECT ?1, host, ts, samples, data FROM metrics_raw_inbox ORDER BY host, ts",
        )?
        .execute([run])?;
    conn.prepare_cached("DELETE FROM metrics_raw_inbox")?
        .execute([])?;
    Ok(moved)
}

/// Moves the sealed rows of the hosts after `after` (from the first host
/// when `None`), about `rows` of them counted over every run, into the
/// head, inside the caller's transaction. Each host's rows of every run
/// move together, so its head page takes them in one write. Returns how
/// many moved and the last host of the slice, or `None` once the slice
/// reached the last host: the pass is over.
pub(crate) fn settle_slice(
    conn: &Connection,
    rows: usize,
    after: Option<&str>,
) -> DbResult<(usize, Option<String>)> {
    // `host > ''` would skip nothing a host can be named, but `>=` says so.
    let (op, after) = match after {
        Some(h) => (">", h),
        None => (">=", ""),
    };
    let runs: i64 = conn
        .prepare_cached("SELECT count(*) FROM metrics_raw_sealed_runs")?
        .query_row([], |r| r.get(0))?;
    if runs == 0 {
        return Ok((0, None));
    }
    // The slice's last host: `rows` into the newest run's share of it, as
    // every run holds about the same hosts.
    let share = (rows as i64 / runs).max(1);
    let last: Option<String> = conn
        .prepare_cached(&format!(
            "SELECT host FROM metrics_raw_sealed
             WHERE run = (SELECT max(run) FROM metrics_raw_sealed) AND host {op} ?1
             ORDER BY host, ts LIMIT 1 OFFSET ?2"
        ))?
        .query_row(params![after, share - 1], |r| r.get(0))
        .optional()?;
    // Up to the slice's last host, or the rest when fewer than `share`
    // rows are left in the newest run.
    let (upto, args): (&str, Vec<&dyn rusqlite::ToSql>) = match &last {
        Some(last) => (" AND host <= ?2", vec![&after, last]),
        None => ("", vec![&after]),
    };
    let moved = move_rows(
        conn,
        &format!(
            "FROM metrics_raw_sealed WHERE run IN (SELECT run FROM metrics_raw_sealed_runs)
             AND host {op} ?1{upto}"
        ),
        &args,
        "the sealed raw inbox",
    )?;
    Ok((moved, last))
}

/// Moves every row waiting in front of the head with `ts < before` into
/// it, the sealed inbox first, inside the caller's transaction; returns
/// how many moved.
pub(crate) fn settle(conn: &Connection, before: i64) -> DbResult<usize> {
    let sealed = move_rows(
        conn,
        "FROM metrics_raw_sealed WHERE ts < ?1",
        &[&before],
        "the sealed raw inbox",
    )?;
    let open = move_rows(
        conn,
        "FROM metrics_raw_inbox WHERE ts < ?1",
        &[&before],
        "the raw inbox",
    )?;
    Ok(sealed + open)
}

/// Inserts the rows `from` (a `FROM … WHERE` clause over the parameters
/// `args`) into the head in host order, then deletes them where they were.
fn move_rows(
    conn: &Connection,
    from: &str,
    args: &[&dyn rusqlite::ToSql],
    what: &str,
) -> DbResult<usize> {
    let moved = conn
        .prepare_cached(&format!(
            "INSERT INTO metrics_raw_head (host, ts, samples, data)
             SELECT host, ts, samples, data {from} ORDER BY host, ts"
        ))?
        .execute(args);
    let moved = match moved {
        Ok(n) => n,
        // The head holds one of these reports already, which ingest never
        // lets happen; the statement undid itself, so merge row by row
        // rather than lose either side.
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
            tracing::warn!("{what} and the head both held a report; merging them");
            settle_merging(conn, from, args)?
        }
        Err(e) => return Err(e.into()),
    };
    conn.prepare_cached(&format!("DELETE {from}"))?
        .execute(args)?;
    Ok(moved)
}

/// [`move_rows`]' slow path: each row inserted on its own, and a row the
/// head has already gets the series it lacks added to the head's row.
fn settle_merging(conn: &Connection, from: &str, args: &[&dyn rusqlite::ToSql]) -> DbResult<usize> {
    let mut rows = conn.prepare_cached(&format!(
        "SELECT host, ts, samples, data {from} ORDER BY host, ts"
    ))?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO metrics_raw_head (host, ts, samples, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (host, ts) DO NOTHING",
    )?;
    let mut existing =
        conn.prepare_cached("SELECT data FROM metrics_raw_head WHERE host = ?1 AND ts = ?2")?;
    let mut update = conn.prepare_cached(
        "UPDATE metrics_raw_head SET samples = ?3, data = ?4 WHERE host = ?1 AND ts = ?2",
    )?;
    let all = rows
        .query_map(args, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (host, ts, samples, data) in &all {
        if insert.execute(params![host, ts, samples, data])? == 1 {
            continue;
        }
        let head: Vec<u8> = existing.query_row(params![host, ts], |r| r.get(0))?;
        let mut merged = decode_report(&head)?;
        let known: HashSet<i64> = merged.iter().map(|(id, _)| *id).collect();
        merged.extend(
            decode_report(data)?
                .into_iter()
                .filter(|(id, _)| !known.contains(id)),
        );
        let blob = encode_report(&mut merged);
        update.execute(params![host, ts, merged.len() as i64, blob])?;
    }
    Ok(all.len())
}
