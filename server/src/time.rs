//! Wall-clock helpers. Timestamps on the wire and in SQLite are Unix epoch
//! milliseconds in an `i64`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as carried by `Report.timestamp_ms`.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
