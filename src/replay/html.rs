//! The self-contained HTML report: inline CSS and inline SVG charts drawn with
//! `plotters` (p95 passage time and throughput per lane over time with the congestion
//! episodes marked, a lanes × time heat map per checkpoint direction) and the summary
//! table. No script, no external resource: it opens without network access.

use std::io::{self, Write};

use plotters::prelude::*;

use super::format::human_s;
use super::observer::ReplayObserver;
use super::report::{CheckpointReport, LaneReport, Report, WindowOut};

const W: u32 = 1100;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn other<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(e.to_string())
}

/// An axis label in `zone`: `07:30`, with the date on axes longer than a day.
fn time_label(ms: i64, with_date: bool, zone: &crate::engine::time::Zone) -> String {
    let fmt = if with_date { "%m-%d %H:%M" } else { "%H:%M" };
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(zone.clone()).strftime(fmt).to_string())
        .unwrap_or_default()
}

/// The axis title: the zone and its offset(s) over `x` (two when daylight saving time
/// begins or ends within it).
fn time_axis(x: (i64, i64), zone: &crate::engine::time::Zone) -> String {
    let off = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| zone.to_offset(t).to_string())
            .unwrap_or_default()
    };
    let (a, b) = (off(x.0), off(x.1 - 1));
    let name = crate::engine::time::zone_name(zone);
    if a == b {
        format!("time ({name}, UTC{a})")
    } else {
        format!("time ({name}, UTC{a} then UTC{b})")
    }
}

/// One time series of a line chart.
struct Series<'a> {
    name: &'a str,
    points: Vec<(i64, f64)>,
}

struct LineChart<'a> {
    title: String,
    zone: &'a crate::engine::time::Zone,
    y_desc: &'a str,
    x: (i64, i64),
    series: Vec<Series<'a>>,
    /// Shaded spans (congestion episodes).
    spans: Vec<(i64, i64)>,
    /// A dashed horizontal line (the congestion threshold).
    threshold: Option<f64>,
}

fn line_chart(c: &LineChart<'_>) -> io::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(other)?;
        let ymax = c
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(c.threshold)
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.1;
        let with_date = c.x.1 - c.x.0 > 86_400_000;
        let mut chart = ChartBuilder::on(&root)
            .caption(&c.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(c.x.0..c.x.1, 0f64..ymax)
            .map_err(other)?;
        chart
            .configure_mesh()
            .x_labels(12)
            .y_labels(8)
            .x_label_formatter(&|x| time_label(*x, with_date, c.zone))
            .x_desc(time_axis(c.x, c.zone))
            .y_desc(c.y_desc)
            .draw()
            .map_err(other)?;
        let shade = RGBColor(255, 120, 120).mix(0.25).filled();
        chart
            .draw_series(
                c.spans
                    .iter()
                    .map(|&(a, b)| Rectangle::new([(a, 0.0), (b, ymax)], shade)),
            )
            .map_err(other)?;
        if let Some(t) = c.threshold {
            chart
                .draw_series(DashedLineSeries::new(
                    [(c.x.0, t), (c.x.1, t)],
                    6,
                    4,
                    RED.stroke_width(1),
                ))
                .map_err(other)?;
        }
        for (i, s) in c.series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(other)?
                .label(s.name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(other)?;
        root.present().map_err(other)?;
    }
    Ok(svg)
}

/// Lanes × windows, coloured by the window's p95 against the congestion threshold
/// (green → red; grey: no passages).
fn heat_map(
    r: &Report,
    cp: &CheckpointReport,
    lanes: &[(&LaneReport, Vec<WindowOut>)],
) -> io::Result<String> {
    let n = lanes.len().max(1);
    let h = 90 + 26 * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, h)).into_drawing_area();
        root.fill(&WHITE).map_err(other)?;
        let (x0, x1) = r.grid_ms;
        let with_date = x1 - x0 > 86_400_000;
        let names: Vec<String> = lanes.iter().map(|l| l.0.lane.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{} {}: p95 passage time per lane and window",
                    cp.checkpoint, cp.direction
                ),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, -0.5f64..n as f64 - 0.5)
            .map_err(other)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(12)
            .y_labels(n)
            .x_label_formatter(&|x| time_label(*x, with_date, &cp.zone))
            .x_desc(time_axis((x0, x1), &cp.zone))
            .y_label_formatter(&|y| {
                // Lane i is the row centred on y = i.
                let i = y.round();
                if (y - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(other)?;
        let thr = r.congestion_threshold_s.max(1e-3);
        let cells = lanes.iter().enumerate().flat_map(|(i, (_, windows))| {
            windows.iter().map(move |w| {
                let color = match w.p95_seconds {
                    None => RGBColor(225, 225, 225).to_rgba(),
                    Some(p) => {
                        let f = (p / thr).min(1.5) / 1.5;
                        HSLColor((1.0 - f) * 0.33, 0.75, 0.5).to_rgba()
                    }
                };
                Rectangle::new(
                    [
                        (w.start_ms, i as f64 - 0.45),
                        (w.start_ms + r.window_ms, i as f64 + 0.45),
                    ],
                    color.filled(),
                )
            })
        });
        chart.draw_series(cells).map_err(other)?;
        root.present().map_err(other)?;
    }
    Ok(svg)
}

fn checkpoint_section(
    r: &Report,
    obs: &ReplayObserver,
    cp: &CheckpointReport,
    out: &mut dyn Write,
) -> io::Result<()> {
    let lanes: Vec<(&LaneReport, Vec<WindowOut>)> = r
        .lanes
        .iter()
        .filter(|l| l.checkpoint == cp.checkpoint && l.direction == cp.direction)
        .map(|l| Ok((l, r.windows(l, obs)?)))
        .collect::<io::Result<_>>()?;
    writeln!(
        out,
        "<section><h2>{} {}</h2><p>Times in {}. {} passages on {} lanes; peak hour from {} with {} passages; {} congestion episode(s) (p95 above {}).</p>",
        esc(&cp.checkpoint),
        cp.direction,
        esc(&cp.time_zone),
        cp.passages,
        cp.lanes_used,
        esc(&cp
            .peak_hour_start_ms
            .map_or("-".into(), |t| crate::engine::time::human_in(t, &cp.zone))),
        cp.peak_hour_passages,
        cp.congestion_episodes.len(),
        human_s(r.congestion_threshold_s)
    )?;
    let spans: Vec<(i64, i64)> = cp
        .congestion_episodes
        .iter()
        .map(|e| (e.start_ms, e.end_ms))
        .collect();
    let p95 = LineChart {
        title: format!(
            "{} {}: p95 passage time (minutes)",
            cp.checkpoint, cp.direction
        ),
        zone: &cp.zone,
        y_desc: "p95 passage time, min",
        x: r.grid_ms,
        series: lanes
            .iter()
            .map(|(l, windows)| Series {
                name: &l.lane,
                points: windows
                    .iter()
                    .filter_map(|w| {
                        w.p95_seconds
                            .map(|p| (w.start_ms + r.window_ms / 2, p / 60.0))
                    })
                    .collect(),
            })
            .collect(),
        spans: spans.clone(),
        threshold: Some(r.congestion_threshold_s / 60.0),
    };
    let per_minute = 60_000.0 / r.window_ms as f64;
    let thr = LineChart {
        title: format!(
            "{} {}: throughput (vehicles per minute)",
            cp.checkpoint, cp.direction
        ),
        zone: &cp.zone,
        y_desc: "vehicles / min",
        x: r.grid_ms,
        series: lanes
            .iter()
            .map(|(l, windows)| Series {
                name: &l.lane,
                points: windows
                    .iter()
                    .map(|w| (w.start_ms + r.window_ms / 2, w.passages as f64 * per_minute))
                    .collect(),
            })
            .collect(),
        spans,
        threshold: None,
    };
    for svg in [
        line_chart(&p95)?,
        line_chart(&thr)?,
        heat_map(r, cp, &lanes)?,
    ] {
        writeln!(out, "<figure class=\"chart\">{svg}</figure>")?;
    }
    if !cp.congestion_episodes.is_empty() {
        writeln!(
            out,
            "<table><tr><th>congested from</th><th>until</th><th>peak p95</th></tr>"
        )?;
        for e in &cp.congestion_episodes {
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&crate::engine::time::human_in(e.start_ms, &cp.zone)),
                esc(&crate::engine::time::human_in(e.end_ms, &cp.zone)),
                human_s(e.peak_p95_seconds)
            )?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "</section>")
}

/// Write the whole page.
pub fn write_html(r: &Report, obs: &ReplayObserver, out: &mut dyn Write) -> io::Result<()> {
    let z = r.zone();
    let range = format!(
        "{} .. {} ({})",
        r.range.from_ms.map_or(
            "(start of input)".into(),
            |t| crate::engine::time::human_in(t, z)
        ),
        r.range
            .to_ms
            .map_or("(end of input)".into(), |t| crate::engine::time::human_in(
                t, z
            )),
        r.range.time_zone
    );
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lanewatch replay {}</title>\n<style>body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse;margin:12px 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f2f2f2}}td:nth-child(-n+3){{text-align:left}}figure.chart{{margin:8px 0}}section{{margin-top:28px}}</style></head><body>",
        esc(&range)
    )?;
    let e = &r.events;
    writeln!(
        out,
        "<h1>lanewatch replay</h1><p>Range {} (window {}). Events read {}, accepted {}, duplicates {}, late {}, rejected {}, out of range {}.</p>",
        esc(&range),
        human_s(r.range.window_seconds),
        e.read,
        e.accepted,
        e.duplicates,
        e.late,
        e.rejected.values().sum::<u64>(),
        e.out_of_range
    )?;
    writeln!(
        out,
        "<h2>Summary</h2><table id=\"summary\"><tr><th>checkpoint</th><th>direction</th><th>lane</th><th>passages</th><th>mean</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th><th>vehicles/h</th></tr>"
    )?;
    for l in &r.lanes {
        let s = &l.passage_seconds;
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            esc(&l.checkpoint),
            l.direction,
            esc(&l.lane),
            l.passages,
            human_s(s.mean),
            human_s(s.p50),
            human_s(s.p90),
            human_s(s.p95),
            human_s(s.p99),
            human_s(s.max),
            l.throughput_per_hour
        )?;
    }
    writeln!(out, "</table>")?;
    for cp in &r.checkpoints {
        checkpoint_section(r, obs, cp, out)?;
    }
    writeln!(out, "</body></html>")
}
