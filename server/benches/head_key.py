#!/usr/bin/env python3
"""Bytes written per report by the head table's key, in SQLite alone.

    python3 server/benches/head_key.py PAGE_SIZE host|ts|inbox [BATCH] [SETTLE]

`host`: a host-major head (UNIQUE (host, ts) and an index on ts); `ts`: a
time-major key, UNIQUE (ts, host) only; `inbox`: the host-major head fed
from a time-major inbox (WITHOUT ROWID, PRIMARY KEY (ts, host)) whose rows
move into the head in host order once it holds SETTLE (32,000) rows.
WAL, synchronous=FULL, reports of HOSTS (environment, 4,000) hosts in time
order with BLOB (environment, 95) bytes of data each, BATCH (100) a
transaction; 200,000 rows first, then 128,000 measured with /proc/self/io
(Linux). BENCHMARKS.md has figures.
"""
import sqlite3, os, sys, random, time
ps=int(sys.argv[1]); order=sys.argv[2]; B=int(sys.argv[3]) if len(sys.argv)>3 else 100
S=int(sys.argv[4]) if len(sys.argv)>4 else 32000
import tempfile
p=os.path.join(tempfile.mkdtemp(prefix='mon-head-'), 'head.db')
for f in [p,p+'-wal',p+'-shm']:
    if os.path.exists(f): os.remove(f)
c=sqlite3.connect(p, isolation_level=None)
c.execute(f'PRAGMA page_size={ps}'); c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA synchronous=FULL')
c.execute('PRAGMA journal_size_limit=4194304')
if order in ('host', 'inbox'):
    c.execute('CREATE TABLE h (host TEXT NOT NULL, ts INTEGER NOT NULL, samples INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE(host, ts)) STRICT')
else:
    c.execute('CREATE TABLE h (host TEXT NOT NULL, ts INTEGER NOT NULL, samples INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE(ts, host)) STRICT')
if order in ('host', 'inbox'): c.execute('CREATE INDEX h_ts ON h(ts)')
if order=='inbox':
    c.execute('CREATE TABLE i (ts INTEGER NOT NULL, host TEXT NOT NULL, samples INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (ts, host)) STRICT, WITHOUT ROWID')
inbox=0
blob=os.urandom(int(os.environ.get('BLOB','95')))
H=int(os.environ.get('HOSTS','4000')); t0=1764600000000
def rows():
    r=0
    while True:
        for h in range(H):
            yield (f'host_{h}', t0+r*5000+h, 10, blob)
        r+=1
g=rows()
def run(n):
    global inbox
    for _ in range(n//B):
        c.execute('BEGIN')
        if order=='inbox':
            c.executemany('INSERT INTO i (host, ts, samples, data) VALUES (?,?,?,?)',[next(g) for _ in range(B)])
        else:
            c.executemany('INSERT INTO h VALUES (?,?,?,?)',[next(g) for _ in range(B)])
        c.execute('COMMIT')
        if order=='inbox':
            inbox+=B
            if inbox>=S:
                c.execute('BEGIN')
                c.execute('INSERT INTO h SELECT host, ts, samples, data FROM i ORDER BY host, ts')
                c.execute('DELETE FROM i')
                c.execute('COMMIT')
                inbox=0
M=128000
run(200000)
def wb(): return int([l for l in open('/proc/self/io') if l.startswith('write_bytes')][0].split()[1])
a=wb(); t=time.time(); run(M); b=wb(); dt=time.time()-t
print(f'page {ps} key {order} batch {B}: {(b-a)/M:.0f} bytes written per report, {M/dt:.0f} reports/s')
