//! A lease: at most one holder at a time among the processes that share a
//! bus, for work only one of them may do (evaluating and notifying alerts).
//!
//! [`Lease`] is the primitive, one per bus: Redis grants it with a key that
//! expires (`redis/lease.rs`), and the embedded bus, which only one process
//! can see, grants it forever ([`AlwaysLeader`]). Holding on to a lease and
//! stepping down in time is `leadership.rs`'s business, not the lease's.

use std::time::Duration;

use async_trait::async_trait;

use super::BusError;

/// What an attempt to take the lease found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// This instance holds the lease now, for the TTL from when it asked.
    Yes,
    /// Another instance holds it; it lapses in `expires_in` unless renewed.
    HeldBy {
        holder: String,
        expires_in: Option<Duration>,
    },
}

#[async_trait]
pub trait Lease: Send + Sync + 'static {
    /// How long a grant or renewal lasts; `None` for a lease that never
    /// lapses, which needs no renewing.
    fn ttl(&self) -> Option<Duration>;

    /// Who this instance is, as other instances see it holding the lease.
    fn holder(&self) -> &str;

    /// Takes the lease if nobody holds it.
    async fn acquire(&self) -> Result<Acquired, BusError>;

    /// Extends the lease by its TTL if this instance still holds it;
    /// `Ok(false)` when it does not (it lapsed, or another took it).
    async fn renew(&self) -> Result<bool, BusError>;

    /// Gives the lease up if this instance still holds it.
    async fn release(&self) -> Result<(), BusError>;
}

/// The lease of a bus nobody else can see: always held.
pub struct AlwaysLeader;

#[async_trait]
impl Lease for AlwaysLeader {
    fn ttl(&self) -> Option<Duration> {
        None
    }

    fn holder(&self) -> &str {
        "this process"
    }

    async fn acquire(&self) -> Result<Acquired, BusError> {
        Ok(Acquired::Yes)
    }

    async fn renew(&self) -> Result<bool, BusError> {
        Ok(true)
    }

    async fn release(&self) -> Result<(), BusError> {
        Ok(())
    }
}
