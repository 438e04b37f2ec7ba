//! The bus channels: `<kind>.<host>`, one kind per event, and the glob
//! patterns (`<kind>.*`) a subscriber reads every host's with.
//!
//! The prefix is the channel's, not the event's `type`: `hosts.<host>`
//! carries `host` events and `alerts.<host>` carries `alert` events.

/// Declares a channel's prefix, its builder and its every-host pattern
/// from one literal, so the three cannot drift apart.
macro_rules! channel {
    ($(#[$doc:meta])* $prefix:literal, $build:ident, $all:ident) => {
        $(#[$doc])*
        pub fn $build(host: &str) -> String {
            format!(concat!($prefix, ".{}"), host)
        }

        #[doc = concat!("Every host's `", $prefix, ".<host>` channel, as a subscription pattern.")]
        pub const $all: &str = concat!($prefix, ".*");
    };
}

channel!(
    /// One `metrics` event per accepted report: `metrics.<host>`.
    "metrics", metrics, ALL_METRICS
);
channel!(
    /// One `host` event each time the host's agent says `Hello`:
    /// `hosts.<host>`.
    "hosts", hosts, ALL_HOSTS
);
channel!(
    /// One `alert` event per alert transition: `alerts.<host>`.
    "alerts", alerts, ALL_ALERTS
);
channel!(
    /// The host's latest `processes` table each time its agent sends one:
    /// `processes.<host>`.
    "processes", processes, ALL_PROCESSES
);
channel!(
    /// The host's latest `cgroups` table: `cgroups.<host>`.
    "cgroups", cgroups, ALL_CGROUPS
);
channel!(
    /// A gateway's word that a viewer watches the host: `watch.<host>`.
    "watch", watch, ALL_WATCHES
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_kind_dot_host() {
        assert_eq!(metrics("web-1"), "metrics.web-1");
        assert_eq!(hosts("web-1"), "hosts.web-1");
        assert_eq!(alerts("web-1"), "alerts.web-1");
        assert_eq!(processes("web-1"), "processes.web-1");
        assert_eq!(cgroups("web-1"), "cgroups.web-1");
        assert_eq!(watch("web-1"), "watch.web-1");
        assert_eq!(
            [
                ALL_METRICS,
                ALL_HOSTS,
                ALL_ALERTS,
                ALL_PROCESSES,
                ALL_CGROUPS,
                ALL_WATCHES
            ],
            [
                "metrics.*",
                "hosts.*",
                "alerts.*",
                "processes.*",
                "cgroups.*",
                "watch.*"
            ]
        );
    }
}
