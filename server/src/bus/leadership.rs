//! Leadership over a [`Lease`]: wait as a standby until the lease is free,
//! hold it as the leader by renewing it every third of its TTL, and step
//! down on one's own before it can lapse.
//!
//! The one thing to know is the *deadline*: the moment this instance sent
//! its last successful renewal (or its acquire) plus the TTL minus a safety
//! margin of a fifth of it. Redis counts the TTL from when it received that
//! command, which is later, so the deadline always falls before the key can
//! expire, hence before any other instance can take the lease. Every act
//! of a leader first asks its [`Fence`], which answers from the clock
//! alone: nothing gets through after the deadline, whether Redis answers,
//! hangs or is gone. What the margin leaves room for is an act already
//! under way at the deadline (an HTTP request in flight) to finish before
//! a new leader can start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::lease::{Acquired, Lease};

/// The intervals derived from a lease's TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub ttl: Duration,
    /// Between renewals, and between a standby's attempts.
    pub renew_every: Duration,
    /// Between attempts after a failed renewal, while the deadline allows.
    pub retry_every: Duration,
    /// How long a renewal lets this instance act, from when it was sent.
    pub valid_for: Duration,
}

impl Timing {
    pub fn of(ttl: Duration) -> Self {
        Self {
            ttl,
            renew_every: ttl / 3,
            retry_every: ttl / 10,
            valid_for: ttl - ttl / 5,
        }
    }
}

/// Whether this instance may still act as the leader. Cheap to clone and to
/// ask; asked before every notification and publish.
#[derive(Clone, Debug)]
pub struct Fence(Option<watch::Receiver<Instant>>);

impl Fence {
    /// The fence of a lease that never lapses.
    pub fn always() -> Self {
        Self(None)
    }

    /// True until the deadline of the last successful renewal.
    pub fn holds(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|deadline| Instant::now() < *deadline.borrow())
    }
}

/// Contends for one lease, logging each change of standing once.
pub struct Leadership {
    lease: Arc<dyn Lease>,
    /// The work the lease is for, in log lines: "alerts".
    role: &'static str,
    /// What the standby last said, so a long wait is one line.
    said: Option<String>,
}

impl Leadership {
    pub fn new(lease: Arc<dyn Lease>, role: &'static str) -> Self {
        Self {
            lease,
            role,
            said: None,
        }
    }

    /// Waits, as a standby, until this instance holds the lease.
    pub async fn acquire(&mut self) -> Term {
        let role = self.role;
        let Some(ttl) = self.lease.ttl() else {
            tracing::debug!(
                role,
                "leader: the bus is this process's own, no lease needed"
            );
            return Term::forever(self.lease.clone());
        };
        let timing = Timing::of(ttl);
        loop {
            let sent = Instant::now();
            let wait = match tokio::time::timeout(timing.renew_every, self.lease.acquire()).await {
                Ok(Ok(Acquired::Yes)) => {
                    tracing::info!(role, holder = %self.lease.holder(), ttl = %humantime::format_duration(ttl),
                        "leader: took the lease; this instance now evaluates and notifies");
                    self.said = None;
                    return Term::start(self.lease.clone(), timing, sent, role);
                }
                Ok(Ok(Acquired::HeldBy { holder, expires_in })) => {
                    // One line per wait, whoever holds it: the holder seen
                    // changes on its own (a key that lapsed between two
                    // commands reads as nobody's), and that is no news.
                    self.say("held".into(), || {
                        tracing::info!(role, %holder, "standby: another instance holds the lease; taking over when it lapses");
                    });
                    // Try again as soon as it would lapse, if sooner.
                    expires_in.map_or(timing.renew_every, |e| {
                        (e + Duration::from_millis(1)).min(timing.renew_every)
                    })
                }
                Ok(Err(e)) => {
                    self.say("unreachable".into(), || {
                        tracing::warn!(role, error = %e, "standby: cannot reach the lease; retrying");
                    });
                    timing.renew_every
                }
                Err(_) => {
                    self.say("unreachable".into(), || {
                        tracing::warn!(role, "standby: no answer about the lease; retrying");
                    });
                    Duration::ZERO
                }
            };
            tokio::time::sleep_until(sent + wait).await;
        }
    }

    fn say(&mut self, what: String, log: impl FnOnce()) {
        if self.said.as_ref() != Some(&what) {
            log();
            self.said = Some(what);
        }
    }
}

/// One stretch as the leader. Dropping it (the role was stopped abruptly)
/// stops renewing, so the lease lapses within its TTL.
pub struct Term {
    fence: Fence,
    lost: Option<oneshot::Receiver<String>>,
    renewer: Option<JoinHandle<()>>,
    lease: Arc<dyn Lease>,
}

impl Term {
    fn forever(lease: Arc<dyn Lease>) -> Self {
        Self {
            fence: Fence::always(),
            lost: None,
            renewer: None,
            lease,
        }
    }

    fn start(lease: Arc<dyn Lease>, timing: Timing, sent: Instant, role: &'static str) -> Self {
        let (deadline_tx, deadline_rx) = watch::channel(sent + timing.valid_for);
        let (lost_tx, lost_rx) = oneshot::channel();
        let renewer = tokio::spawn(renew(lease.clone(), timing, deadline_tx, lost_tx, role));
        Self {
            fence: Fence(Some(deadline_rx)),
            lost: Some(lost_rx),
            renewer: Some(renewer),
            lease,
        }
    }

    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Resolves, with the reason, once the term has ended on its own: by
    /// then the fence is already closed. Never resolves for a lease that
    /// never lapses.
    pub async fn lost(&mut self) -> String {
        let Some(rx) = self.lost.as_mut() else {
            return std::future::pending().await;
        };
        let why = rx
            .await
            .unwrap_or_else(|_| "the lease renewal stopped".into());
        self.lost = None;
        why
    }

    /// Ends the term cleanly: stops renewing and gives the lease up, so a
    /// standby takes over at its next attempt instead of after the TTL.
    pub async fn release(mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        if self.lost.is_none() || !self.fence.holds() {
            return;
        }
        match tokio::time::timeout(Duration::from_secs(2), self.lease.release()).await {
            Ok(Ok(())) => tracing::info!("released the lease"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot release the lease; it lapses on its own")
            }
            Err(_) => tracing::warn!("no answer releasing the lease; it lapses on its own"),
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
    }
}

/// Renews until a renewal is refused or the deadline passes without one;
/// then closes the fence and says why.
async fn renew(
    lease: Arc<dyn Lease>,
    timing: Timing,
    deadline_tx: watch::Sender<Instant>,
    lost: oneshot::Sender<String>,
    role: &'static str,
) {
    let mut deadline = *deadline_tx.borrow();
    let mut next = deadline - timing.valid_for + timing.renew_every;
    let mut failing: Option<String> = None;
    let why = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                break match &failing {
                    Some(e) => format!("could not renew the lease before its deadline: {e}"),
                    None => "could not renew the lease before its deadline".into(),
                };
            }
            _ = tokio::time::sleep_until(next) => {}
        }
        let sent = Instant::now();
        match tokio::time::timeout_at(deadline, lease.renew()).await {
            Ok(Ok(true)) => {
                deadline = sent + timing.valid_for;
                deadline_tx.send_replace(deadline);
                next = sent + timing.renew_every;
                if failing.take().is_some() {
                    tracing::info!(role, "renewed the lease again");
                }
            }
            Ok(Ok(false)) => break "the lease lapsed or another instance took it".into(),
            Ok(Err(e)) => {
                if failing.is_none() {
                    tracing::warn!(role, error = %e, "cannot renew the lease; retrying until its deadline");
                }
                failing = Some(e.to_string());
                next = Instant::now() + timing.retry_every;
            }
            Err(_) => {
                break match &failing {
                    Some(e) => format!("could not renew the lease before its deadline: {e}"),
                    None => "no answer renewing the lease before its deadline".into(),
                };
            }
        }
    };
    // Closed at once, even where a refusal came before the deadline.
    deadline_tx.send_replace(Instant::now());
    let _ = lost.send(why);
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::bus::BusError;

    /// A lease whose every answer the test scripts; it records when each
    /// renewal was sent.
    #[derive(Default)]
    struct Scripted {
        /// `None`: hang forever, as a paused Redis does.
        renewals: Mutex<Vec<Option<Result<bool, String>>>>,
        sent: Mutex<Vec<Instant>>,
    }

    #[async_trait]
    impl Lease for Scripted {
        // 9 s: a third and a fifth of it are whole milliseconds, which is
        // what paused timers count in.
        fn ttl(&self) -> Option<Duration> {
            Some(Duration::from_secs(9))
        }
        fn holder(&self) -> &str {
            "test"
        }
        async fn acquire(&self) -> Result<Acquired, BusError> {
            Ok(Acquired::Yes)
        }
        async fn renew(&self) -> Result<bool, BusError> {
            self.sent.lock().unwrap().push(Instant::now());
            let next = {
                let mut script = self.renewals.lock().unwrap();
                if script.is_empty() {
                    Some(Ok(true))
                } else {
                    script.remove(0)
                }
            };
            match next {
                None => std::future::pending().await,
                Some(Ok(held)) => Ok(held),
                Some(Err(e)) => Err(BusError::Unavailable(e)),
            }
        }
        async fn release(&self) -> Result<(), BusError> {
            Ok(())
        }
    }

    async fn term_with(
        script: Vec<Option<Result<bool, String>>>,
    ) -> (Term, Arc<Scripted>, Instant) {
        let lease = Arc::new(Scripted {
            renewals: Mutex::new(script),
            ..Scripted::default()
        });
        let started = Instant::now();
        let term = Leadership::new(lease.clone(), "test").acquire().await;
        (term, lease, started)
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_renews_every_third_of_the_ttl_and_keeps_the_fence_open() {
        let (term, lease, started) = term_with(vec![]).await;
        tokio::time::sleep(Duration::from_millis(59_500)).await;
        assert!(term.fence().holds());
        let sent = lease.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 19, "{sent:?}");
        assert_eq!(sent[0] - started, Duration::from_secs(3));
        assert_eq!(sent[18] - sent[17], Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_whose_renewals_hang_is_fenced_before_the_lease_can_lapse() {
        // The first renewal succeeds at 3 s, the second hangs forever.
        let (mut term, lease, started) = term_with(vec![Some(Ok(true)), None]).await;
        let fence = term.fence();
        let why = term.lost().await;
        let last_ok = lease.sent.lock().unwrap()[0];
        let fenced_at = Instant::now();
        assert!(!fence.holds());
        assert_eq!(
            fenced_at - last_ok,
            Duration::from_millis(7200),
            "TTL minus the margin"
        );
        // Redis could expire the key 9 s after it received the renewal, no
        // sooner than 9 s after it was sent: the fence closed well before.
        assert!(fenced_at < last_ok + Duration::from_secs(9));
        assert_eq!(fenced_at - started, Duration::from_millis(10_200));
        assert!(why.contains("before its deadline"), "{why}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_rides_out_failed_renewals_while_its_deadline_allows() {
        let err = || Some(Err("connection refused".to_owned()));
        let (mut term, lease, _) = term_with(vec![err(), err(), Some(Ok(true))]).await;
        let fence = term.fence();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(fence.holds(), "a renewal got through before the deadline");
        assert!(lease.sent.lock().unwrap().len() > 3);
        let ended = tokio::time::timeout(Duration::from_millis(1), term.lost()).await;
        assert!(ended.is_err(), "the term goes on");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_renewals_until_the_deadline_end_the_term_naming_the_error() {
        let err = || Some(Err("connection refused".to_owned()));
        let (mut term, _, started) = term_with((0..100).map(|_| err()).collect()).await;
        let why = term.lost().await;
        assert_eq!(Instant::now() - started, Duration::from_millis(7200));
        assert!(why.contains("connection refused"), "{why}");
        assert!(!term.fence().holds());
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_renewal_closes_the_fence_at_once() {
        let (mut term, _, started) = term_with(vec![Some(Ok(false))]).await;
        let why = term.lost().await;
        assert_eq!(Instant::now() - started, Duration::from_secs(3));
        assert!(!term.fence().holds());
        assert!(why.contains("another instance"), "{why}");
    }
}
