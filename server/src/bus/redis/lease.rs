//! The lease in Redis: one key, `mon:lease:<name>`, whose value is the
//! holder's token and whose expiry is the lease's TTL.
//!
//! Taking it is `SET key token NX PX ttl`; renewing and releasing are Lua
//! scripts that first compare the value with this instance's token, so an
//! instance whose lease lapsed can never extend or delete its successor's.
//! The token names the instance (host and process id) for other instances'
//! logs, plus a random part so two runs never share one.

use std::time::Duration;

use ::redis::Script;
use ::redis::aio::ConnectionManager;
use async_trait::async_trait;

use super::RedisBus;
use crate::bus::BusError;
use crate::bus::lease::{Acquired, Lease};

/// Extends the key's expiry if it still holds this instance's token.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the key if it still holds this instance's token.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

pub struct RedisLease {
    bus: RedisBus,
    conn: ConnectionManager,
    key: String,
    token: String,
    ttl: Duration,
    renew: Script,
    release: Script,
}

/// The key a lease of `name` lives in.
pub fn lease_key(name: &str) -> String {
    format!("mon:lease:{name}")
}

impl RedisLease {
    pub(super) fn new(bus: &RedisBus, name: &str, ttl: Duration) -> Self {
        let host = sysinfo::System::host_name().unwrap_or_else(|_| "unknown-host".into());
        Self {
            bus: bus.clone(),
            conn: bus.conn.clone(),
            key: lease_key(name),
            token: format!("{host}/{}/{:016x}", std::process::id(), fastrand::u64(..)),
            ttl,
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
        }
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }
}

#[async_trait]
impl Lease for RedisLease {
    fn ttl(&self) -> Option<Duration> {
        Some(self.ttl)
    }

    fn holder(&self) -> &str {
        &self.token
    }

    async fn acquire(&self) -> Result<Acquired, BusError> {
        let mut conn = self.conn.clone();
        let set: Option<String> = ::redis::cmd("SET")
            .arg(&self.key)
            .arg(&self.token)
            .arg("NX")
            .arg("PX")
            .arg(self.ttl_ms())
            .query_async(&mut conn)
            .await
            .map_err(|e| self.bus.unavailable(e))?;
        if set.is_some() {
            return Ok(Acquired::Yes);
        }
        // Who holds it and for how long, for the log and the next attempt;
        // the key may lapse in between, hence the defaults.
        let (holder, pttl): (Option<String>, i64) = ::redis::pipe()
            .cmd("GET")
            .arg(&self.key)
            .cmd("PTTL")
            .arg(&self.key)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.bus.unavailable(e))?;
        Ok(Acquired::HeldBy {
            holder: holder.unwrap_or_else(|| "nobody (it just lapsed)".into()),
            expires_in: u64::try_from(pttl).ok().map(Duration::from_millis),
        })
    }

    async fn renew(&self) -> Result<bool, BusError> {
        let mut conn = self.conn.clone();
        let renewed: i64 = self
            .renew
            .key(&self.key)
            .arg(&self.token)
            .arg(self.ttl_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.bus.unavailable(e))?;
        Ok(renewed == 1)
    }

    async fn release(&self) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .release
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.bus.unavailable(e))?;
        Ok(())
    }
}
