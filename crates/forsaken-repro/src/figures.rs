//! Figures drawn with plotters (SVG, plus a PNG copy), text set in the embedded DejaVu Sans so
//! no system font library is needed.
//!
//! `fr_vs_accuracy`: forgetting rate (x) against test accuracy (y), one panel per dataset and
//! model; Forsaken's trajectory over its steps as a curve (one point per stopping check),
//! retrain, fine-tune and the original model as marked points.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::record::RunRecord;

static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The embedded font is valid; failure would only lose text, never data.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn method_color(m: &str) -> RGBColor {
    match m {
        "forsaken" => RGBColor(214, 39, 40),
        "retrain" => RGBColor(31, 119, 180),
        "finetune" => RGBColor(44, 160, 44),
        "scale" => RGBColor(148, 103, 189),
        "forsaken-w" => RGBColor(255, 127, 14),
        _ => RGBColor(127, 127, 127),
    }
}

/// Draw the FR-vs-accuracy figure as `path` (SVG) and `path` with `.png`.
pub fn fr_vs_accuracy(records: &[RunRecord], path: &Path, oracle: &str) -> Result<()> {
    register_font();
    let mut groups: Vec<(String, String)> = records.iter().map(|r| (r.dataset.clone(), r.model.clone())).collect();
    groups.sort();
    groups.dedup();
    if groups.is_empty() {
        return Ok(());
    }
    let size = (520 * groups.len() as u32, 460);
    {
        let root = SVGBackend::new(path, size).into_drawing_area();
        draw(&root, records, &groups, oracle)?;
        root.present().map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    }
    let png = path.with_extension("png");
    let root = BitMapBackend::new(&png, size).into_drawing_area();
    draw(&root, records, &groups, oracle)?;
    root.present().map_err(|e| anyhow!("writing {}: {e}", png.display()))?;
    Ok(())
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, records: &[RunRecord], groups: &[(String, String)], oracle: &str) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let panels = root.split_evenly((1, groups.len()));
    for (panel, (ds, model)) in panels.iter().zip(groups) {
        let rs: Vec<&RunRecord> = records.iter().filter(|r| &r.dataset == ds && &r.model == model).collect();
        let mut pts: Vec<(f64, f64)> = Vec::new();
        for r in &rs {
            if let Some(fr) = r.oracles.get(oracle).and_then(|o| o.fr) {
                pts.push((100.0 * fr, 100.0 * r.acc_test));
            }
            for t in &r.trace {
                if let (Some(f), Some(a)) = (t.values.get("fr_report"), t.values.get("test_acc")) {
                    if f.is_finite() {
                        pts.push((100.0 * f, 100.0 * a));
                    }
                }
            }
            pts.push((0.0, 100.0 * r.orig_acc_test));
        }
        let xmin = pts.iter().map(|p| p.0).fold(0.0, f64::min).floor() - 5.0;
        let ymin = (pts.iter().map(|p| p.1).fold(100.0, f64::min) - 5.0).max(0.0).floor();
        let ymax = (pts.iter().map(|p| p.1).fold(0.0, f64::max) + 5.0).min(100.0).ceil();
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{ds} ({model})"), ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(52)
            .build_cartesian_2d(xmin..105.0, ymin..ymax)
            .map_err(|e| anyhow!("{e:?}"))?;
        chart
            .configure_mesh()
            .x_desc(format!("forgetting rate on D_u, {oracle} oracle (%)"))
            .y_desc("test accuracy (%)")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| anyhow!("{e:?}"))?;
        if let Some(r) = rs.first() {
            let c = BLACK;
            chart
                .draw_series(std::iter::once(Cross::new((0.0, 100.0 * r.orig_acc_test), 7, c.stroke_width(2))))
                .map_err(|e| anyhow!("{e:?}"))?
                .label("original")
                .legend(move |(x, y)| Cross::new((x + 8, y), 5, c.stroke_width(2)));
        }
        for r in &rs {
            let color = method_color(&r.method);
            let curve: Vec<(f64, f64)> = r
                .trace
                .iter()
                .filter_map(|t| match (t.values.get("fr_report"), t.values.get("test_acc")) {
                    (Some(f), Some(a)) if f.is_finite() => Some((100.0 * f, 100.0 * a)),
                    _ => None,
                })
                .collect();
            if curve.len() > 1 {
                chart
                    .draw_series(LineSeries::new(curve.clone(), color.mix(0.6).stroke_width(2)))
                    .map_err(|e| anyhow!("{e:?}"))?
                    .label(format!("{} ({})", r.method, if r.method == "scale" { "factors" } else { "steps" }))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
                chart.draw_series(curve.iter().map(|&p| Circle::new(p, 2, color.filled()))).map_err(|e| anyhow!("{e:?}"))?;
            }
            if let Some(fr) = r.oracles.get(oracle).and_then(|o| o.fr) {
                chart
                    .draw_series(std::iter::once(TriangleMarker::new((100.0 * fr, 100.0 * r.acc_test), 7, color.filled())))
                    .map_err(|e| anyhow!("{e:?}"))?
                    .label(format!("{} (result)", r.method))
                    .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 5, color.filled()));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .label_font(("sans-serif", 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow!("{e:?}"))?;
    }
    Ok(())
}
