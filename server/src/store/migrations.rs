//! Schema migrations from the workspace's `migrations/` folder, applied in
//! order when the store opens; `PRAGMA user_version` records how far a file
//! has come.

use std::path::Path;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use super::StoreError;

const MIGRATIONS: &[M<'static>] = &[M::up(include_str!("../../../migrations/0001_initial.sql"))];

/// Opens the database at `path` with the pragmas every connection uses and
/// brings its schema up to date.
pub(super) fn open_migrated(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = connect(path)?;
    Migrations::from_slice(MIGRATIONS)
        .to_latest(&mut conn)
        .map_err(|e| StoreError::Migrate {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    Ok(conn)
}

/// A connection in WAL mode: readers never block the writer. `synchronous =
/// FULL` makes a commit survive power loss, which is what an `Ack` promises;
/// its fsync is paid once per batch, not per report.
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(
            rusqlite_migration::Migrations::from_slice(super::MIGRATIONS)
                .validate()
                .is_ok()
        );
    }
}
