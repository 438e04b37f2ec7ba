//! `--store URL`, shared by the roles that read or write the warm store: a
//! PostgreSQL database shared by a fleet, or (without it) the SQLite file in
//! the data dir.

use clap::Args;
use server::store::postgres::PgUrl;

use crate::config::FileConfig;

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The warm store shared by a fleet: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE
    /// (add ?sslmode=require for TLS). Without it: the SQLite file mon.db in --data-dir
    #[arg(long, env = "MON_STORE", value_name = "URL")]
    pub store: Option<String>,
}

impl StoreArgs {
    /// The flag over the config file's `store`; `None` means SQLite. A URL
    /// that is not PostgreSQL's is refused by name.
    pub fn resolve(&self, file: &FileConfig) -> Result<Option<PgUrl>, server::store::StoreError> {
        self.store
            .as_deref()
            .or(file.store.as_deref())
            .filter(|s| !s.is_empty())
            .map(PgUrl::parse)
            .transpose()
    }
}
