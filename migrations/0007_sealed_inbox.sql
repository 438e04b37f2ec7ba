-- mon's warm store, version 7: the inbox moves into the head a slice at a
-- time.
--
-- Moving the whole inbox into metrics_raw_head took one transaction of
-- over 100 ms at 4,000 hosts, and every ingest batch waited behind it. Now
-- the full inbox is first sealed: its rows are copied here in host order
-- (a sequential write) and the inbox is emptied. Then, after each ingest
-- batch, the writer moves the first few thousand rows of this table (whole
-- hosts, a contiguous key range) into the head and deletes them here, in
-- a short transaction of its own. A report is in exactly one of the inbox,
-- this table and the head, and reads take the three together.
CREATE TABLE metrics_raw_sealed (
    host    TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (host, ts)
) STRICT, WITHOUT ROWID;
