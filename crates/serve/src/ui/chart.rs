//! Trend charts as server-rendered SVG: one inline `<svg>` per metric.
//!
//! Why SVG from the server rather than a charting library in the browser:
//!
//! - **no build step and no JavaScript dependency**: the dashboard is
//!   embedded in the binary as it is written; nothing to install from npm,
//!   bundle, pin or audit, and the page renders with scripts off;
//! - **the server already has the values**: the same [`TeamReport`] the API
//!   serves, so the chart cannot disagree with the JSON;
//! - **the server knows what a missing value means**: a library plots
//!   `null` as a drop to zero or silently joins the line across it, and
//!   teaching it three kinds of "no value" is more code than drawing them.
//!   Here a verified zero is a real point at 0; an *unknown* day (inputs
//!   incomplete) and a *held* day (a sensor distrusts an input) have no
//!   point, break the line and are drawn as hatched bands, each with its own
//!   hatching; a known day with nothing to measure (no deployment, so no
//!   failure rate) breaks the line without a band.
//!
//! Every point carries its day, metric and value as `data-` attributes, so
//! the page's script can fetch the records behind it and tests can count
//! points without parsing coordinates.

use super::text::escape;
use chrono::NaiveDate;
use dorafleet_core::Metric;
use dorafleet_dora::report::TeamReport;
use std::fmt::Write;

/// What one metric of one day is, as the chart draws it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DayState {
    /// A value gold holds (a verified zero included): a point.
    Value(f64),
    /// Gold holds the day but there was nothing to measure (e.g. no
    /// deployment, so no failure rate): a gap without a band.
    Nothing,
    /// No gold: inputs incomplete. A gap and a hatched band.
    Unknown,
    /// No gold: an open hold keeps the day out. A gap and another hatching.
    Held,
}

/// One day of a metric's series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayPoint {
    /// The UTC day.
    pub date: NaiveDate,
    /// What the day is.
    pub state: DayState,
}

/// One metric's days of a report, in order.
pub fn series(report: &TeamReport, metric: Metric) -> Vec<DayPoint> {
    report
        .days
        .iter()
        .map(|row| {
            let state = match (row.metrics.get(&metric), row.unknown.get(&metric)) {
                (Some(cell), _) => cell.value.map_or(DayState::Nothing, DayState::Value),
                (None, Some(u)) if u.held_by_run.is_some() => DayState::Held,
                (None, _) => DayState::Unknown,
            };
            DayPoint {
                date: row.date,
                state,
            }
        })
        .collect()
}

/// The unit a metric's values are drawn in, and how one is labelled.
fn unit(metric: Metric) -> (&'static str, f64) {
    match metric {
        Metric::DeploymentFrequency => ("deployments", 1.0),
        Metric::ChangeFailureRate | Metric::DeploymentReworkRate => ("%", 100.0),
        _ => ("hours", 1.0),
    }
}

/// A value as the page shows it (frequency as a count, rates in percent,
/// times in hours).
pub fn format_value(metric: Metric, value: f64) -> String {
    match metric {
        Metric::DeploymentFrequency => trim(value, 2),
        Metric::ChangeFailureRate | Metric::DeploymentReworkRate => {
            format!("{}%", trim(value * 100.0, 1))
        }
        _ => format!("{} h", trim(value, 1)),
    }
}

/// A number with at most `places` decimals, trailing zeros dropped.
fn trim(value: f64, places: usize) -> String {
    let s = format!("{value:.places$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A round upper bound of the y axis: 1, 2 or 5 times a power of ten at or
/// above `max` (1 when every value is zero).
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|b| *b >= max)
        .unwrap_or(10.0 * power)
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 30.0;

/// Coordinates rounded to a tenth: enough for the screen, short in the page.
fn c(v: f64) -> String {
    trim(v, 1)
}

/// The chart of one metric: a point per day with a value, the line broken
/// at every day without one, hatched bands on unknown and held days, axes
/// with labels. `team` goes into the points' data for the records' URL.
pub fn render(team: &str, metric: Metric, days: &[DayPoint]) -> String {
    let (unit_name, scale) = unit(metric);
    let values = days.iter().filter_map(|d| match d.state {
        DayState::Value(v) => Some(v * scale),
        _ => None,
    });
    let top = nice_max(values.fold(0.0, f64::max));
    let n = days.len().max(1) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / n;
    let x = |i: usize| LEFT + (i as f64 + 0.5) * step;
    let y = |v: f64| TOP + plot_h - (v * scale / top) * plot_h;
    let base = TOP + plot_h;

    let mut svg = String::with_capacity(200 + days.len() * 90);
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{} per day" data-metric="{}" data-team="{}">"#,
        metric.as_str().replace('_', " "),
        metric.as_str(),
        escape(team)
    );
    // Grid and y labels: 0, half, top.
    for frac in [0.0, 0.5, 1.0] {
        let gy = base - frac * plot_h;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{}" y2="{}"/><text class="ylabel" x="{}" y="{}">{}</text>"#,
            WIDTH - RIGHT,
            c(gy),
            c(gy),
            LEFT - 4.0,
            c(gy + 3.0),
            trim(top * frac, 2)
        );
    }
    let _ = write!(
        svg,
        r#"<text class="unit" x="10" y="{}" transform="rotate(-90 10 {})">{unit_name}</text>"#,
        c(TOP + plot_h / 2.0),
        c(TOP + plot_h / 2.0)
    );
    // Bands first, so points and the line are drawn over the grid only.
    for (i, d) in days.iter().enumerate() {
        let class = match d.state {
            DayState::Unknown => "unknown",
            DayState::Held => "held",
            _ => continue,
        };
        let _ = write!(
            svg,
            r#"<rect class="{class}" data-date="{}" x="{}" y="{TOP}" width="{}" height="{}"><title>{} {class}</title></rect>"#,
            d.date,
            c(LEFT + i as f64 * step),
            c(step),
            c(plot_h),
            d.date
        );
    }
    // The line: one path, a new sub-path after every day without a value.
    let mut path = String::new();
    let mut pen_down = false;
    for (i, d) in days.iter().enumerate() {
        match d.state {
            DayState::Value(v) => {
                let _ = write!(
                    path,
                    "{}{} {}",
                    if pen_down { "L" } else { "M" },
                    c(x(i)),
                    c(y(v))
                );
                pen_down = true;
            }
            _ => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = write!(svg, r#"<path class="line" d="{path}"/>"#);
    }
    for (i, d) in days.iter().enumerate() {
        if let DayState::Value(v) = d.state {
            let _ = write!(
                svg,
                r#"<circle class="point{}" cx="{}" cy="{}" r="3" data-date="{}" data-metric="{}" data-value="{v}" tabindex="0"/>"#,
                if v == 0.0 { " zero" } else { "" },
                c(x(i)),
                c(y(v)),
                d.date,
                metric.as_str()
            );
        }
    }
    // X labels: the first day, the last, and the first of each month between.
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{}" y2="{}"/>"#,
        WIDTH - RIGHT,
        c(base),
        c(base)
    );
    let last = days.len().saturating_sub(1);
    let mut last_label = f64::NEG_INFINITY;
    for (i, d) in days.iter().enumerate() {
        let month_start = chrono::Datelike::day(&d.date) == 1;
        if !(i == 0 || i == last || month_start) {
            continue;
        }
        let crowded = x(i) - last_label < 80.0 || x(last) - x(i) < 80.0;
        if i != 0 && i != last && crowded {
            continue;
        }
        last_label = x(i);
        let anchor = if i == 0 {
            "start"
        } else if i + 1 == days.len() {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            svg,
            r#"<text class="xlabel" x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
            c(x(i)),
            c(base + 16.0),
            d.date.format("%Y-%m-%d")
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The legend every chart shares, with the hatch patterns the bands fill
/// with (defined once per page: ids are unique in a document).
pub fn legend() -> &'static str {
    concat!(
        r#"<svg class="legend" viewBox="0 0 640 22" role="img" aria-label="legend">"#,
        r#"<defs><pattern id="hatch-unknown" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" class="hatch-bg"/><line x1="0" y1="0" x2="0" y2="6" class="hatch-unknown"/></pattern>"#,
        r#"<pattern id="hatch-held" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><rect width="6" height="6" class="hatch-bg"/><line x1="0" y1="0" x2="0" y2="6" class="hatch-held"/></pattern></defs>"#,
        r#"<circle class="point" cx="8" cy="11" r="4"/><text x="18" y="15">value (0 is a verified zero)</text>"#,
        r#"<rect class="unknown" x="210" y="3" width="16" height="16"/><text x="232" y="15">unknown: inputs incomplete</text>"#,
        r#"<rect class="held" x="400" y="3" width="16" height="16"/><text x="422" y="15">held by a sensor</text>"#,
        r#"<line class="line" x1="540" x2="556" y1="11" y2="11"/><text x="562" y="15">gap: no value</text>"#,
        "</svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u32, state: DayState) -> DayPoint {
        DayPoint {
            date: NaiveDate::from_ymd_opt(2026, 3, n).unwrap(),
            state,
        }
    }

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    #[test]
    fn an_unknown_day_is_a_hatched_band_and_a_gap_in_the_line_never_a_point() {
        let days = [
            day(1, DayState::Value(2.0)),
            day(2, DayState::Value(3.0)),
            day(3, DayState::Unknown),
            day(4, DayState::Value(1.0)),
        ];
        let svg = render("pay", Metric::DeploymentFrequency, &days);
        assert_eq!(count(&svg, r#"<circle class="point"#), 3, "{svg}");
        assert!(
            !svg.contains(r#"data-date="2026-03-03" data-metric"#),
            "no point on the unknown day"
        );
        assert_eq!(
            count(&svg, r#"<rect class="unknown" data-date="2026-03-03""#),
            1,
            "{svg}"
        );
        // The line: two sub-paths, the second starting after the gap.
        let d = svg.split(r#"class="line" d=""#).nth(1).unwrap();
        let d = &d[..d.find('"').unwrap()];
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        // Nothing is drawn at 0 for the unknown day: y of 0 is the baseline.
        let base = c(TOP + HEIGHT - TOP - BOTTOM);
        assert!(
            !d.contains(&format!(" {base}")),
            "the line never drops to 0: {d}"
        );
    }

    #[test]
    fn a_held_day_has_its_own_hatching_and_no_point() {
        let days = [day(1, DayState::Held), day(2, DayState::Value(1.0))];
        let svg = render("pay", Metric::LeadTimeForChanges, &days);
        assert_eq!(
            count(&svg, r#"<rect class="held" data-date="2026-03-01""#),
            1
        );
        assert_eq!(count(&svg, r#"class="unknown""#), 0);
        assert_eq!(count(&svg, "<circle"), 1);
        assert!(legend().contains("hatch-held") && legend().contains("hatch-unknown"));
    }

    #[test]
    fn a_verified_zero_is_a_real_point_on_the_baseline() {
        let days = [day(1, DayState::Value(0.0)), day(2, DayState::Value(4.0))];
        let svg = render("pay", Metric::DeploymentFrequency, &days);
        let base = c(TOP + (HEIGHT - TOP - BOTTOM));
        assert!(
            svg.contains(&format!(
                r#"<circle class="point zero" cx="{}" cy="{base}" r="3" data-date="2026-03-01" data-metric="deployment_frequency" data-value="0""#,
                c(LEFT + 0.5 * (WIDTH - LEFT - RIGHT) / 2.0)
            )),
            "{svg}"
        );
        assert_eq!(count(&svg, "<rect"), 0, "a zero is no band");
        let d = svg.split(r#"class="line" d=""#).nth(1).unwrap();
        assert!(
            d.starts_with('M') && d[..d.find('"').unwrap()].contains('L'),
            "zero joins the line"
        );
    }

    #[test]
    fn a_day_with_nothing_to_measure_breaks_the_line_without_a_band_or_a_point() {
        let days = [
            day(1, DayState::Value(0.5)),
            day(2, DayState::Nothing),
            day(3, DayState::Value(0.25)),
        ];
        let svg = render("pay", Metric::ChangeFailureRate, &days);
        assert_eq!(count(&svg, "<circle"), 2);
        assert_eq!(count(&svg, "<rect"), 0);
        assert!(
            svg.contains(r#"data-value="0.25""#),
            "data keeps the stored value"
        );
        assert!(
            svg.contains(">50<") || svg.contains(">25<"),
            "rates are labelled in percent: {svg}"
        );
    }

    #[test]
    fn the_y_axis_ends_on_a_round_number_and_team_names_are_escaped() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(17.0), 20.0);
        assert_eq!(nice_max(100.0), 100.0);
        let svg = render(
            "a<b",
            Metric::DeploymentFrequency,
            &[day(1, DayState::Value(1.0))],
        );
        assert!(svg.contains(r#"data-team="a&lt;b""#), "{svg}");
        assert_eq!(format_value(Metric::ChangeFailureRate, 0.125), "12.5%");
        assert_eq!(format_value(Metric::LeadTimeForChanges, 50.0), "50 h");
    }
}
