//! The chart for the book: a horizontal bar per measurement (the median) with a whisker from
//! the minimum to the maximum, on a logarithmic time axis (container starts are milliseconds, a
//! VM boot seconds). Written by hand as SVG. Text and axes use `currentColor`, which the root
//! sets to a mid grey, and the bars mid-tone colours: readable on light and dark themes alike,
//! with no background of its own.

use super::measure::Summary;
use super::report::time;
use std::fmt::Write;

#[derive(Clone, Copy, PartialEq)]
pub enum Series {
    Warm,
    Cold,
    /// A measurement that is neither warm nor cold (a VM boot, a batch).
    Other,
}

impl Series {
    fn colour(self) -> &'static str {
        match self {
            Series::Warm => "#4e79a7",
            Series::Cold => "#e8853a",
            Series::Other => "#59a14f",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Series::Warm => "warm (back to back)",
            Series::Cold => "cold (0.3 s idle before each)",
            Series::Other => "single boots",
        }
    }
}

pub struct Group {
    pub label: String,
    pub bars: Vec<(Series, Summary)>,
}

const WIDTH: f64 = 760.0;
const LEFT: f64 = 250.0;
const RIGHT: f64 = 90.0;
const TOP: f64 = 64.0;
const BAR: f64 = 12.0;
const BAR_GAP: f64 = 3.0;
const GROUP_GAP: f64 = 14.0;

pub fn svg(title: &str, groups: &[Group]) -> String {
    let summaries = || groups.iter().flat_map(|g| g.bars.iter().map(|(_, s)| s));
    let smallest = summaries().map(|s| s.min.as_secs_f64() * 1e3).fold(f64::INFINITY, f64::min).max(1e-3);
    let largest = summaries().map(|s| s.max.as_secs_f64() * 1e3).fold(0.0, f64::max).max(smallest * 10.0);
    let (lo, hi) = (smallest.log10().floor(), largest.log10().ceil());
    let plot = WIDTH - LEFT - RIGHT;
    let x = |ms: f64| LEFT + (ms.max(10f64.powf(lo)).log10() - lo) / (hi - lo) * plot;

    let rows: f64 = groups.iter().map(|g| g.bars.len() as f64 * (BAR + BAR_GAP) - BAR_GAP + GROUP_GAP).sum();
    let height = TOP + rows + 36.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" role="img" aria-labelledby="title desc" style="color:#8a8a8a" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, "<title id=\"title\">{}</title>", escape(title));
    let described: Vec<String> = groups
        .iter()
        .flat_map(|g| {
            g.bars
                .iter()
                .map(move |(series, m)| format!("{}, {}: median {}", g.label, series.name(), time(m.median)))
        })
        .collect();
    let _ = writeln!(s, "<desc id=\"desc\">{}</desc>", escape(&described.join("; ")));
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="18" fill="currentColor" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );

    // The legend: only the series shown.
    let mut lx = LEFT;
    for series in [Series::Warm, Series::Cold, Series::Other] {
        if !groups.iter().any(|g| g.bars.iter().any(|(s, _)| *s == series)) {
            continue;
        }
        let _ = writeln!(s, r#"<rect x="{lx}" y="30" width="12" height="12" fill="{}"/>"#, series.colour());
        let _ = writeln!(s, r#"<text x="{}" y="40" fill="currentColor">{}</text>"#, lx + 17.0, series.name());
        lx += 17.0 + 7.0 * series.name().len() as f64 + 18.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="18" fill="currentColor" text-anchor="end">bar: median; whisker: min to max</text>"#,
        WIDTH - 4.0
    );

    // The axis: a line per decade, fainter ones at 2 and 5.
    let bottom = TOP + rows - GROUP_GAP + 8.0;
    for decade in lo as i32..=hi as i32 {
        for (factor, major) in [(1.0, true), (2.0, false), (5.0, false)] {
            let ms = factor * 10f64.powi(decade);
            if (ms.log10() - hi) > 1e-9 {
                continue;
            }
            let gx = x(ms);
            let opacity = if major { 0.45 } else { 0.15 };
            let _ = writeln!(
                s,
                r#"<line x1="{gx:.1}" y1="{}" x2="{gx:.1}" y2="{bottom:.1}" stroke="currentColor" stroke-opacity="{opacity}"/>"#,
                TOP - 8.0
            );
            if major {
                let _ = writeln!(
                    s,
                    r#"<text x="{gx:.1}" y="{:.1}" fill="currentColor" text-anchor="middle">{}</text>"#,
                    bottom + 16.0,
                    axis_label(ms)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" fill="currentColor" text-anchor="middle">start to exit, logarithmic scale</text>"#,
        LEFT + plot / 2.0,
        bottom + 32.0
    );

    let mut y = TOP;
    for group in groups {
        let h = group.bars.len() as f64 * (BAR + BAR_GAP) - BAR_GAP;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" fill="currentColor" text-anchor="end" dominant-baseline="middle">{}</text>"#,
            LEFT - 10.0,
            y + h / 2.0,
            escape(&group.label)
        );
        for (series, m) in &group.bars {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            let (x0, xm, xmin, xmax) = (x(10f64.powf(lo)), x(ms(m.median)), x(ms(m.min)), x(ms(m.max)));
            let mid = y + BAR / 2.0;
            let _ = writeln!(
                s,
                r#"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{BAR}" fill="{}" fill-opacity="0.9"><title>{}: median {}, min {}, max {}</title></rect>"#,
                (xm - x0).max(1.0),
                series.colour(),
                series.name(),
                time(m.median),
                time(m.min),
                time(m.max)
            );
            let _ = writeln!(
                s,
                r#"<path d="M{xmin:.1} {mid:.1}H{xmax:.1}M{xmin:.1} {:.1}V{:.1}M{xmax:.1} {:.1}V{:.1}" stroke="currentColor" stroke-width="1.3" fill="none"/>"#,
                mid - 4.0,
                mid + 4.0,
                mid - 4.0,
                mid + 4.0
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{mid:.1}" fill="currentColor" dominant-baseline="middle">{}</text>"#,
                xmax.max(xm) + 6.0,
                time(m.median)
            );
            y += BAR + BAR_GAP;
        }
        y += GROUP_GAP - BAR_GAP;
    }
    s.push_str("</svg>\n");
    s
}

fn axis_label(ms: f64) -> String {
    match ms {
        ms if ms >= 1000.0 => format!("{} s", ms / 1000.0),
        ms if ms >= 1.0 => format!("{ms} ms"),
        ms => format!("{ms} ms"),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_chart_is_one_svg_with_a_bar_per_measurement() {
        let ms = Duration::from_millis;
        let s = |a, b, c| Summary { count: 3, min: ms(a), median: ms(b), max: ms(c), rss_median_kib: 0 };
        let groups = vec![
            Group {
                label: "minibox".into(),
                bars: vec![(Series::Warm, s(1, 2, 3)), (Series::Cold, s(2, 5, 40))],
            },
            Group { label: "VM <TCG>".into(), bars: vec![(Series::Other, s(3000, 4000, 5000))] },
        ];
        let svg = svg("Start times", &groups);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 3 + 3, "three bars and three legend keys");
        assert!(svg.contains("VM &lt;TCG&gt;"));
        assert!(!svg.contains("fill=\"#fff") && !svg.contains("fill=\"white"), "no background");
        assert!(svg.contains(">1 ms<") && svg.contains(">10 s<"), "{svg}");
    }
}
