#!/usr/bin/env python3
"""CPU per row of the settle step by the head's layout, in SQLite alone.

    python3 server/benches/head_layout.py rowid|without-rowid [CYCLES]

The settle step as the store runs it: a sealed inbox keyed (host, ts) of 8
rows per host for 4,000 hosts (95-byte blobs) moves into the head in
slices of 512 whole hosts (4,096 rows), each slice an INSERT ... SELECT in
host order and a DELETE, in a transaction of its own. `rowid` is the
head as it is (a rowid table, UNIQUE (host, ts) and an index on ts);
`without-rowid` keys the rows themselves by (host, ts), keeping the index
on ts. WAL, synchronous = NORMAL. CYCLES (40) times, the first 5 not
measured, so the head grows to what a few minutes of a fleet leave in it.
Prints microseconds per row moved. BENCHMARKS.md has figures.
"""
import os
import sqlite3
import sys
import tempfile
import time

layout = sys.argv[1]
cycles = int(sys.argv[2]) if len(sys.argv) > 2 else 40
if layout not in ("rowid", "without-rowid"):
    sys.exit(f"layout {layout!r}: use rowid or without-rowid")
path = os.path.join(tempfile.mkdtemp(prefix="mon-head-layout-"), "head.db")
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=NORMAL")
columns = "host TEXT NOT NULL, ts INTEGER NOT NULL, samples INTEGER NOT NULL, data BLOB NOT NULL"
if layout == "rowid":
    db.execute(f"CREATE TABLE head ({columns}, UNIQUE (host, ts)) STRICT")
else:
    db.execute(f"CREATE TABLE head ({columns}, PRIMARY KEY (host, ts)) STRICT, WITHOUT ROWID")
db.execute("CREATE INDEX head_ts ON head (ts)")
db.execute(f"CREATE TABLE sealed ({columns}, PRIMARY KEY (host, ts)) STRICT, WITHOUT ROWID")

hosts = sorted(f"host_{i}" for i in range(4000))
blob = os.urandom(95)
ts = 1_800_000_000_000
spent, moved = 0.0, 0
for cycle in range(cycles):
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO sealed VALUES (?, ?, 10, ?)",
        ((h, ts + k, blob) for h in hosts for k in range(8)),
    )
    db.execute("COMMIT")
    ts += 8
    for lo in range(0, len(hosts), 512):
        first, last = hosts[lo], hosts[min(lo + 512, len(hosts)) - 1]
        started = time.perf_counter()
        db.execute("BEGIN")
        n = db.execute(
            "INSERT INTO head SELECT host, ts, samples, data FROM sealed"
            " WHERE host BETWEEN ?1 AND ?2 ORDER BY host, ts",
            (first, last),
        ).rowcount
        db.execute("DELETE FROM sealed WHERE host BETWEEN ?1 AND ?2", (first, last))
        db.execute("COMMIT")
        if cycle >= 5:
            spent += time.perf_counter() - started
            moved += n
    if os.path.getsize(path + "-wal") > 64 << 20:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(f"{layout}: {spent / moved * 1e6:.2f} us per row moved ({moved} rows)")
