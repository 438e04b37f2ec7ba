//! Temperatures from sysinfo's components (hwmon on Linux):
//! `temperature_celsius{sensor}`, and `temperature_critical_celsius{sensor}`
//! where the kernel gives a critical threshold. A machine without sensors
//! (most virtual machines) sends no temperature series at all: "not available
//! here", never a 0 °C reading.

use std::collections::HashSet;

use sysinfo::Components;

use crate::model::{Point, SeriesKey};

pub struct Sensors {
    /// `None` where sysinfo cannot read sensors on this platform at all.
    components: Option<Components>,
}

impl Sensors {
    pub fn new() -> Self {
        Self {
            components: Components::new_with_refreshed_list().ok(),
        }
    }

    /// Reads every sensor once.
    pub fn collect(&mut self, out: &mut Vec<Point>) {
        let Some(components) = &mut self.components else {
            return;
        };
        components.refresh(false);
        points(
            components
                .iter()
                .map(|c| (c.label(), c.temperature(), c.critical())),
            out,
        );
    }
}

/// Turns `(label, temperature, critical)` readings into points: a sensor
/// without a finite reading is left out, and a label seen twice keeps its
/// first sensor so no series is sent twice in one report.
pub fn points<'a>(
    readings: impl IntoIterator<Item = (&'a str, Option<f32>, Option<f32>)>,
    out: &mut Vec<Point>,
) {
    let mut seen = HashSet::new();
    for (label, temperature, critical) in readings {
        let Some(t) = temperature.filter(|t| t.is_finite()) else {
            continue;
        };
        if label.is_empty() || !seen.insert(label) {
            continue;
        }
        let labels = [("sensor", label.to_owned())];
        out.push(Point {
            key: SeriesKey::with_labels("temperature_celsius", labels.clone()),
            value: milli(t),
        });
        // Some drivers report 0 for "no threshold": not a usable critical value.
        if let Some(c) = critical.filter(|c| c.is_finite() && *c > 0.0) {
            out.push(Point {
                key: SeriesKey::with_labels("temperature_critical_celsius", labels),
                value: milli(c),
            });
        }
    }
}

/// hwmon counts millidegrees; rounding there drops the noise of widening
/// sysinfo's `f32` (27.8 would read 27.8).
fn milli(celsius: f32) -> f64 {
    (celsius as f64 * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensors_without_a_reading_or_threshold_send_nothing_for_it() {
        let mut out = Vec::new();
        points(
            [
                ("coretemp Package id 0", Some(51.0), Some(100.0)),
                ("acpitz temp1", Some(27.8), Some(0.0)),
                ("nvme Composite", None, Some(84.8)),
                ("coretemp Package id 0", Some(99.0), None),
            ],
            &mut out,
        );
        let got: Vec<String> = out
            .iter()
            .map(|p| format!("{} {}", p.key, p.value))
            .collect();
        assert_eq!(
            got,
            [
                r#"temperature_celsius{sensor="coretemp Package id 0"} 51"#,
                r#"temperature_critical_celsius{sensor="coretemp Package id 0"} 100"#,
                r#"temperature_celsius{sensor="acpitz temp1"} 27.8"#,
            ]
        );
    }
}
