//! Which bus a role publishes on: Redis when `--redis`, `MON_REDIS` or the
//! config file's `redis` names one, the embedded bus otherwise.
//!
//! An unreachable Redis does not stop a role from starting: ingest goes on
//! and publishing begins when Redis answers, so only a malformed URL is an
//! error here.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use server::bus::{DEFAULT_EXPIRE_AFTER, EmbeddedBus, RedisBus, RedisUrl, SharedBus};

use crate::config::FileConfig;

#[derive(Debug, Args)]
pub struct BusArgs {
    /// Redis for current state and pub/sub, redis://HOST:PORT[/DB] [default: the in-process bus]
    #[arg(long, env = "MON_REDIS", value_parser = parse_redis_url, value_name = "URL")]
    pub redis: Option<RedisUrl>,
}

fn parse_redis_url(text: &str) -> Result<RedisUrl, String> {
    RedisUrl::parse(text).map_err(|e| e.to_string())
}

impl BusArgs {
    /// The flag or environment over the config file.
    pub fn resolve(&self, file: &FileConfig) -> Option<RedisUrl> {
        self.redis.clone().or_else(|| file.redis.clone())
    }
}

/// Opens the bus; must run inside the tokio runtime.
pub async fn open(redis: Option<RedisUrl>) -> anyhow::Result<SharedBus> {
    let Some(url) = redis else {
        tracing::info!("bus: embedded (in-process)");
        return Ok(Arc::new(EmbeddedBus::default()));
    };
    let bus = RedisBus::new(url.clone(), DEFAULT_EXPIRE_AFTER)?;
    match tokio::time::timeout(Duration::from_secs(3), bus.ping()).await {
        Ok(Ok(())) => tracing::info!(redis = %url, "bus: Redis"),
        Ok(Err(error)) => {
            tracing::warn!(redis = %url, %error, "Redis does not answer yet; ingest goes on and publishing starts once it does")
        }
        Err(_) => {
            tracing::warn!(redis = %url, "Redis does not answer yet; ingest goes on and publishing starts once it does")
        }
    }
    Ok(Arc::new(bus))
}
