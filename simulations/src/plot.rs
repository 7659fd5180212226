//! Draws a report as one SVG file: how fast descriptors reached the nodes,
//! and (when the run had them) how fast fetches and ratifications finished.
//!
//! A picture of the propagation curves shows at a glance what the
//! percentiles in the summary only sample: long tails, plateaus where a
//! partition held nodes back, products that never reached everyone. The
//! plot uses plotters' SVG backend only; text goes out as SVG `<text>`
//! elements, so no font files are needed to draw it.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::report::Report;

/// Width and height of the picture, in pixels.
const SIZE: (u32, u32) = (960, 720);

/// Why the plot could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Plotters refused to draw.
    #[error("cannot draw the plot: {0}")]
    Draw(String),
    /// Writing the file failed.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
}

fn draw_err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// One cumulative curve: the share reached (y, 0 to 1) against seconds (x).
struct Curve {
    label: String,
    points: Vec<(f64, f64)>,
}

/// A step curve through sorted sample times (milliseconds), each sample
/// adding `1 / population` to the share.
fn cumulative(label: String, sorted_ms: &[f64], population: usize) -> Curve {
    #[allow(clippy::cast_precision_loss)] // Node and sample counts.
    let step = 1.0 / population.max(1) as f64;
    let mut points = vec![(0.0, 0.0)];
    let mut share = 0.0;
    for ms in sorted_ms {
        let x = ms / 1000.0;
        points.push((x, share));
        share += step;
        points.push((x, share));
    }
    Curve { label, points }
}

/// The report drawn as an SVG document.
pub fn render_svg(report: &Report) -> Result<String, PlotError> {
    let propagation: Vec<Curve> = report
        .propagation
        .iter()
        .map(|p| cumulative(p.product.clone(), &p.samples_ms, p.population))
        .collect();
    let mut completion = Vec::new();
    if !report.fetches.samples_ms.is_empty() {
        completion.push(cumulative(
            "fetches (from start)".to_owned(),
            &report.fetches.samples_ms,
            report.fetches.started,
        ));
    }
    let mut ratified: Vec<f64> = report
        .ratification
        .iter()
        .filter_map(|r| r.vote_to_everywhere_ms)
        .collect();
    if !ratified.is_empty() {
        ratified.sort_by(f64::total_cmp);
        completion.push(cumulative(
            "ratification (deciding vote to every node)".to_owned(),
            &ratified,
            report.ratification.len(),
        ));
    }

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let title = format!(
            "{} (seed {}, {} nodes)",
            report.scenario, report.seed, report.nodes
        );
        let root = root.titled(&title, ("sans-serif", 22)).map_err(draw_err)?;
        if completion.is_empty() {
            panel(
                &root,
                "Descriptor propagation",
                "seconds after publish",
                "share of nodes holding it",
                &propagation,
            )?;
        } else {
            let (upper, lower) = root.split_vertically(SIZE.1 / 2 - 20);
            panel(
                &upper,
                "Descriptor propagation",
                "seconds after publish",
                "share of nodes holding it",
                &propagation,
            )?;
            panel(
                &lower,
                "Fetch and ratification times",
                "seconds",
                "share completed",
                &completion,
            )?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// Draws one chart of cumulative curves with a legend.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    x_desc: &str,
    y_desc: &str,
    curves: &[Curve],
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let x_max = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(0.0_f64, f64::max);
    // Leave a little room right of the last step; never an empty range.
    let x_max = if x_max > 0.0 { x_max * 1.05 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, 0.0..1.05)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
        .draw()
        .map_err(draw_err)?;
    if curves.is_empty() {
        return Ok(());
    }
    for (i, curve) in curves.iter().enumerate() {
        let color = Palette99::pick(i);
        // Carry the last share on to the right edge, so a curve that stops
        // short of 100% shows as a plateau.
        let last = curve.points.last().map_or(0.0, |p| p.1);
        let points = curve.points.iter().copied().chain([(x_max, last)]);
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(draw_err)?
            .label(curve.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 20, y)],
                    Palette99::pick(i).stroke_width(2),
                )
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

/// Draws the report and writes the SVG to `path`.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), PlotError> {
    let svg = render_svg(report)?;
    std::fs::write(path, svg).map_err(|source| PlotError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;
    use crate::report::{FetchStats, Report, Traffic};

    #[test]
    fn svg_is_written_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plot.svg");
        write_svg(&sample(), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.trim_start().starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for label in [
            "orders",
            "invoices",
            "Descriptor propagation",
            "fetches (from start)",
        ] {
            assert!(svg.contains(label), "no {label:?} in the SVG");
        }
        assert!(svg.contains("<text"));
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn an_empty_report_still_draws() {
        let empty = Report {
            scenario: "empty".into(),
            seed: 0,
            nodes: 0,
            wall_time_ms: 0.0,
            simulated_time_ms: 0.0,
            parallelism: crate::engine::Parallelism::default(),
            peak_rss_bytes: None,
            propagation: Vec::new(),
            convergence: None,
            ratification: Vec::new(),
            federation: None,
            fetches: FetchStats::default(),
            traffic: Traffic::default(),
            expectations: Vec::new(),
            notes: Vec::new(),
        };
        let svg = render_svg(&empty).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("empty (seed 0, 0 nodes)"));
    }
}
