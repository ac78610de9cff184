//! Figures drawn with plotters (SVG, plus a PNG copy), text set in the embedded DejaVu Sans so
//! no system font library is needed.
//!
//! [`draw_all`] writes under `figures/` (docs/protocol.md, "Figures"):
//! * F1 `F1_fr_vs_accuracy`: forgetting rate (x) against test accuracy (y), one panel per
//!   dataset and model; a curve per method (the masking methods' stopping checks, the
//!   baselines' strength sweeps), each method's reported result as a triangle, the original as a
//!   cross (the headline forget set, the first seed);
//! * F2 `F2_forsaken_steps`: FR (stopping and reporting oracle) and test accuracy over the
//!   masking methods' steps (top), their forget KL (bottom);
//! * F3 `F3_roc`: the reporting oracle's ROC of D_u against target_test, log-log, before and
//!   after retrain, forsaken and forsaken-w;
//! * F4 `F4_time`: each method's unlearning time relative to retraining (log scale);
//! * with an audit, F5 `F5_audit_roc`: the per-example likelihood-ratio test's ROC (unlearned
//!   vs retrained models), log-log, one curve per side, one panel per audited deletion;
//! * and F6 `F6_relearning`: forget accuracy of each side's median model over the epochs of
//!   the fine-tune on D_r only, against the retrained median's.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::audit::AuditRecord;
use crate::population::{DO_NOTHING, RETRAIN_CONTROL};
use crate::record::RunRecord;
use crate::suite::Suite;

static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The embedded font is valid; failure would only lose text, never data.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A method's colour: its registry position in a fixed palette (grey past its end).
fn method_color(m: &str) -> RGBColor {
    const PALETTE: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
        RGBColor(0, 0, 128),
    ];
    match m {
        RETRAIN_CONTROL => BLACK,
        DO_NOTHING => RGBColor(127, 127, 127),
        m => PALETTE.get(crate::methods::rank(m)).copied().unwrap_or(RGBColor(127, 127, 127)),
    }
}

/// Write one figure as `<stem>.svg` and `<stem>.png` with the same drawing call (a macro:
/// the drawing functions are generic over the backend, closures cannot be).
macro_rules! save {
    ($stem:expr, $size:expr, $draw:ident ( $($arg:expr),* )) => {{
        register_font();
        let stem: &Path = $stem;
        if let Some(d) = stem.parent() {
            std::fs::create_dir_all(d)?;
        }
        let svg = stem.with_extension("svg");
        {
            let root = SVGBackend::new(&svg, $size).into_drawing_area();
            $draw(&root, $($arg),*)?;
            root.present().map_err(|e| anyhow!("writing {}: {e}", svg.display()))?;
        }
        let png = stem.with_extension("png");
        let root = BitMapBackend::new(&png, $size).into_drawing_area();
        $draw(&root, $($arg),*)?;
        root.present().map_err(|e| anyhow!("writing {}: {e}", png.display()))?;
    }};
}

/// The records a figure shows: the headline forget set (10% when present) and the first seed.
fn shown<'a>(records: &'a [RunRecord], suite: &Suite) -> Vec<&'a RunRecord> {
    let forget = crate::report::headline_forget(suite);
    let seed = suite.seeds.first().copied().unwrap_or(0);
    records.iter().filter(|r| r.forget == forget && r.seed == seed).collect()
}

/// Draw F1 to F4 under `dir/figures/`, and F5, F6 when there are audit records.
pub fn draw_all(records: &[RunRecord], audits: &[AuditRecord], suite: &Suite, dir: &Path) -> Result<()> {
    let deletions = audited(audits);
    if !deletions.is_empty() {
        let (rows, cols) = grid(deletions.len());
        let (rows, cols) = (rows as u32, cols as u32);
        save!(&dir.join("figures").join("F5_audit_roc"), (520 * cols, 480 * rows), draw_f5(audits, &deletions, dir));
        save!(&dir.join("figures").join("F6_relearning"), (520 * cols, 440 * rows), draw_f6(audits, &deletions));
    }
    let rs = shown(records, suite);
    let groups = crate::record::dataset_models(rs.iter().copied());
    if groups.is_empty() {
        return Ok(());
    }
    let figs = dir.join("figures");
    let n = groups.len() as u32;
    let (rows, cols) = grid(groups.len());
    let (rows, cols) = (rows as u32, cols as u32);
    let oracle = suite.reporting_oracle.as_str();
    save!(&figs.join("F1_fr_vs_accuracy"), (560 * cols, 500 * rows), draw_f1(&rs, &groups, oracle));
    save!(&figs.join("F2_forsaken_steps"), (520 * cols, 640 * rows), draw_f2(&rs, &groups, suite));
    save!(&figs.join("F3_roc"), (520 * cols, 480 * rows), draw_f3(&rs, &groups, dir, oracle));
    save!(&figs.join("F4_time"), (720, 120 + 150 * n), draw_f4(&rs, &groups));
    Ok(())
}

/// Panels per figure: up to four per row, as many rows as needed (eight datasets: 2 x 4).
fn grid(n: usize) -> (usize, usize) {
    let cols = n.clamp(1, 4);
    (n.div_ceil(cols).max(1), cols)
}

/// The drawing areas of `n` panels laid out by [`grid`], in reading order.
fn panels<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, n: usize) -> Vec<DrawingArea<DB, Shift>> {
    let mut areas = root.split_evenly(grid(n));
    areas.truncate(n);
    areas
}

/// A polyline as separate two-point segments. plotters joins the segments of a wide
/// `LineSeries` with miter joins, which shoot far outside the chart where a jittery trace (a
/// masking run's FR going back and forth by a step) turns by nearly 180 degrees.
fn segments<X: Clone + 'static, Y: Clone + 'static>(pts: &[(X, Y)], style: ShapeStyle) -> Vec<PathElement<(X, Y)>> {
    pts.windows(2).map(|w| PathElement::new(vec![w[0].clone(), w[1].clone()], style)).collect()
}

fn e<E: std::fmt::Debug>(x: E) -> anyhow::Error {
    anyhow!("{x:?}")
}

/// The legend every figure draws: at `pos`, `size`-point labels on a translucent white box.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
    size: u32,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(pos)
        .label_font(("sans-serif", size))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(e)
}

fn draw_f2<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, rs: &[&RunRecord], groups: &[(String, String)], suite: &Suite) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(e)?;
    for (col, (ds, model)) in panels(root, groups.len()).iter().zip(groups) {
        let (top, bottom) = col.split_vertically(400);
        let runs: Vec<&&RunRecord> = rs
            .iter()
            .filter(|r| &r.dataset == ds && &r.model == model && crate::methods::role(&r.method) == Some(forsaken_models::Role::Masking))
            .collect();
        let xmax = runs.iter().flat_map(|r| r.trace.iter().map(|t| t.step)).max().unwrap_or(10).max(10) as f64;
        let mut chart = ChartBuilder::on(&top)
            .caption(format!("{ds} ({model}): the masking methods' steps"), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..xmax, -20.0..105.0)
            .map_err(e)?;
        chart.configure_mesh().y_desc("percent").label_style(("sans-serif", 12)).draw().map_err(e)?;
        for r in &runs {
            let c = method_color(&r.method);
            for (key, what, style) in [
                ("fr_stop", format!("FR ({})", suite.stopping_oracle), c.stroke_width(2)),
                ("fr_report", format!("FR ({})", suite.reporting_oracle), c.mix(0.5).stroke_width(2)),
                ("test_acc", "test accuracy".to_string(), c.mix(0.35).stroke_width(1)),
            ] {
                let pts: Vec<(f64, f64)> = r.trace.iter().filter_map(|t| t.values.get(key).map(|v| (t.step as f64, 100.0 * v))).collect();
                if pts.is_empty() {
                    continue;
                }
                chart
                    .draw_series(segments(&pts, style))
                    .map_err(e)?
                    .label(format!("{}: {what}", r.method))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
            }
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 11)?;
        let kmax = runs.iter().flat_map(|r| r.trace.iter().filter_map(|t| t.values.get("kl_forget").copied())).fold(0.1, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(&bottom)
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..xmax, 0.0..kmax)
            .map_err(e)?;
        chart.configure_mesh().x_desc("step").y_desc("forget KL").label_style(("sans-serif", 12)).draw().map_err(e)?;
        for r in &runs {
            let c = method_color(&r.method);
            let pts: Vec<(f64, f64)> = r.trace.iter().filter_map(|t| t.values.get("kl_forget").map(|v| (t.step as f64, *v))).collect();
            chart.draw_series(segments(&pts, c.stroke_width(2))).map_err(e)?;
        }
    }
    Ok(())
}

fn read_roc(path: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| {
                    let mut it = l.split(',');
                    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Log-log axes from 0.001 to 1.
type LogLog = plotters::coord::combinators::LogCoord<f64>;

/// A ROC chart on log-log axes from FPR and TPR 0.001 to 1, with its diagonal.
fn roc_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: String,
    size: u32,
) -> Result<ChartContext<'a, DB, Cartesian2d<LogLog, LogLog>>>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", size))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(52)
        .build_cartesian_2d((1e-3..1.0).log_scale(), (1e-3..1.0).log_scale())
        .map_err(e)?;
    chart.configure_mesh().x_desc("false-positive rate").y_desc("true-positive rate").label_style(("sans-serif", 12)).draw().map_err(e)?;
    chart.draw_series(LineSeries::new(vec![(1e-3, 1e-3), (1.0, 1.0)], BLACK.mix(0.3))).map_err(e)?;
    Ok(chart)
}

fn draw_f3<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rs: &[&RunRecord],
    groups: &[(String, String)],
    dir: &Path,
    oracle: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(e)?;
    for (col, (ds, model)) in panels(root, groups.len()).iter().zip(groups) {
        let Some(r0) = rs.iter().find(|r| &r.dataset == ds && &r.model == model) else { continue };
        let label = format!("{ds}-{model}-s{}-{}", r0.seed, r0.forget);
        let mut chart = roc_chart(col, format!("{ds} ({model}): {oracle} oracle, D_u vs test"), 18)?;
        let mut curves =
            vec![("original (before)".to_string(), dir.join("roc").join(format!("{label}-{oracle}-forget-before.csv")), BLACK)];
        for m in crate::methods::with_roles(&[forsaken_models::Role::Reference, forsaken_models::Role::Masking]) {
            curves.push((format!("{m} (after)"), dir.join("roc").join(format!("{label}-{oracle}-forget-after-{m}.csv")), method_color(m)));
        }
        for (name, path, c) in curves {
            let pts: Vec<(f64, f64)> = read_roc(&path).into_iter().map(|(x, y)| (x.max(1e-3), y.max(1e-3))).collect();
            if pts.is_empty() {
                continue;
            }
            chart
                // ROC curves only turn by 90 degrees: one polyline (thousands of points)
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(e)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 12)?;
    }
    Ok(())
}

fn draw_f4<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, rs: &[&RunRecord], groups: &[(String, String)]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(e)?;
    let rows = root.split_evenly((groups.len(), 1));
    for (row, (ds, model)) in rows.iter().zip(groups) {
        let mut bars: Vec<(String, f64)> = rs
            .iter()
            .filter(|r| &r.dataset == ds && &r.model == model && r.retrain_seconds.is_finite() && r.retrain_seconds > 0.0)
            .map(|r| (r.method.clone(), (r.seconds / r.retrain_seconds).max(1e-4)))
            .collect();
        bars.sort_by(|a, b| a.1.total_cmp(&b.1));
        if bars.is_empty() {
            continue;
        }
        let n = bars.len();
        let mut chart = ChartBuilder::on(row)
            .caption(format!("{ds} ({model}): unlearning time / retraining time"), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(110)
            .build_cartesian_2d((1e-4..10.0).log_scale(), (0..n).into_segmented())
            .map_err(e)?;
        let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc("x retraining (log scale; 1 = as slow as retraining)")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (m, v))| {
                let c = method_color(m);
                Rectangle::new([(1e-4, SegmentValue::Exact(i)), (*v, SegmentValue::Exact(i + 1))], c.mix(0.8).filled())
            }))
            .map_err(e)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
                BLACK.stroke_width(1),
            )))
            .map_err(e)?;
    }
    Ok(())
}

/// F1's chart: FR (x) against test accuracy (y), both in percent.
type F1Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn draw_f1<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    records: &[&RunRecord],
    groups: &[(String, String)],
    oracle: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(e)?;
    for (panel, (ds, model)) in panels(root, groups.len()).iter().zip(groups) {
        let rs: Vec<&RunRecord> = records.iter().copied().filter(|r| &r.dataset == ds && &r.model == model).collect();
        draw_f1_panel(panel, &rs, ds, model, oracle)?;
    }
    Ok(())
}

/// The point a record reports: its FR under `oracle` and its test accuracy, in percent.
fn f1_reported(r: &RunRecord, oracle: &str) -> Option<(f64, f64)> {
    r.oracles.get(oracle).and_then(|o| o.fr).map(|fr| (100.0 * fr, 100.0 * r.acc_test))
}

/// A record's trace (stopping checks or strength sweep) as (FR, test accuracy) in percent,
/// at the points where its FR is defined.
fn f1_trace(r: &RunRecord) -> Vec<(f64, f64)> {
    r.trace
        .iter()
        .filter_map(|t| match (t.values.get("fr_report"), t.values.get("test_acc")) {
            (Some(f), Some(a)) if f.is_finite() => Some((100.0 * f, 100.0 * a)),
            _ => None,
        })
        .collect()
}

/// An F1 panel's axis ranges, and whether the FR axis was cut.
struct F1Axes {
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    cut: bool,
}

/// Axes that hold every point the panel draws: reported results, traces and the original.
fn f1_axes(rs: &[&RunRecord], oracle: &str) -> F1Axes {
    let mut pts: Vec<(f64, f64)> = Vec::new();
    for r in rs {
        pts.extend(f1_reported(r, oracle));
        pts.extend(f1_trace(r));
        pts.push((0.0, 100.0 * r.orig_acc_test));
    }
    // FR can fall far below 0 where the oracle barely sees membership (few members
    // before); the axis stops at -100% so the informative range stays readable
    let lowest = pts.iter().map(|p| p.0).fold(0.0, f64::min);
    let xmin = lowest.max(-100.0).floor() - 5.0;
    let ymin = (pts.iter().map(|p| p.1).fold(100.0, f64::min) - 5.0).max(0.0).floor();
    let ymax = (pts.iter().map(|p| p.1).fold(0.0, f64::max) + 5.0).min(100.0).ceil();
    F1Axes { x: xmin..105.0, y: ymin..ymax, cut: lowest < -100.0 }
}

/// One dataset and model's panel: the original, then each record's curve and result.
fn draw_f1_panel<DB: DrawingBackend>(panel: &DrawingArea<DB, Shift>, rs: &[&RunRecord], ds: &str, model: &str, oracle: &str) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let axes = f1_axes(rs, oracle);
    let mut chart = ChartBuilder::on(panel)
        .caption(format!("{ds} ({model}): lines = steps or strength sweep, triangles = reported"), ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(52)
        .build_cartesian_2d(axes.x, axes.y)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(format!("forgetting rate on D_u, {oracle} oracle (%){}", if axes.cut { "; axis cut at -100" } else { "" }))
        .y_desc("test accuracy (%)")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    if let Some(r) = rs.first() {
        let c = BLACK;
        chart
            .draw_series(std::iter::once(Cross::new((0.0, 100.0 * r.orig_acc_test), 7, c.stroke_width(2))))
            .map_err(e)?
            .label("original")
            .legend(move |(x, y)| Cross::new((x + 8, y), 5, c.stroke_width(2)));
    }
    for r in rs {
        draw_f1_record(&mut chart, r, oracle)?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerLeft, 12)?;
    Ok(())
}

/// A record's trace as a line with dots (when it has more than one point), and its reported
/// result as a labelled triangle.
fn draw_f1_record<DB: DrawingBackend>(chart: &mut F1Chart<'_, DB>, r: &RunRecord, oracle: &str) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let color = method_color(&r.method);
    let curve = f1_trace(r);
    if curve.len() > 1 {
        chart.draw_series(segments(&curve, color.mix(0.6).stroke_width(2))).map_err(e)?;
        chart.draw_series(curve.iter().map(|&p| Circle::new(p, 2, color.filled()))).map_err(e)?;
    }
    if let Some(p) = f1_reported(r, oracle) {
        chart
            .draw_series(std::iter::once(TriangleMarker::new(p, 7, color.filled())))
            .map_err(e)?
            .label(r.method.clone())
            .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 5, color.filled()));
    }
    Ok(())
}

/// The audited deletions, in record order: (dataset, model, seed, forget).
fn audited(audits: &[AuditRecord]) -> Vec<(String, String, u64, String)> {
    let mut out: Vec<(String, String, u64, String)> = Vec::new();
    for r in audits {
        let d = (r.dataset.clone(), r.model.clone(), r.seed, r.forget.clone());
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

fn of_deletion<'a>(audits: &'a [AuditRecord], d: &(String, String, u64, String)) -> impl Iterator<Item = &'a AuditRecord> {
    let d = d.clone();
    audits.iter().filter(move |r| r.dataset == d.0 && r.model == d.1 && r.seed == d.2 && r.forget == d.3)
}

fn draw_f5<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    audits: &[AuditRecord],
    deletions: &[(String, String, u64, String)],
    dir: &Path,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(e)?;
    for (panel, d) in panels(root, deletions.len()).iter().zip(deletions) {
        let mut chart = roc_chart(panel, format!("{} ({}): per-example LR test, unlearned vs retrained", d.0, d.1), 16)?;
        for r in of_deletion(audits, d) {
            let path = dir.join("audit").join(format!("{}-roc.csv", crate::audit::stem(r)));
            let pts: Vec<(f64, f64)> = read_roc(&path).into_iter().map(|(x, y)| (x.max(1e-3), y.max(1e-3))).collect();
            let c = method_color(&r.side);
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(e)?
                .label(format!("{} (AUC {:.2})", r.side, r.test.auc))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 12)?;
    }
    Ok(())
}

fn draw_f6<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    audits: &[AuditRecord],
    deletions: &[(String, String, u64, String)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(e)?;
    for (panel, d) in panels(root, deletions.len()).iter().zip(deletions) {
        let rs: Vec<&AuditRecord> = of_deletion(audits, d).collect();
        let epochs = rs.iter().map(|r| r.relearning.unlearned.len()).max().unwrap_or(1).saturating_sub(1).max(1);
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{} ({}): relearning on D_r only", d.0, d.1), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..epochs as f64, 0.0..100.0)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("fine-tune epochs")
            .y_desc("accuracy on D_u (%)")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(e)?;
        let curve = |v: &[f64]| -> Vec<(f64, f64)> { v.iter().enumerate().map(|(k, a)| (k as f64, 100.0 * a)).collect() };
        if let Some(r) = rs.first() {
            let dashed = BLACK.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(curve(&r.relearning.retrained), 6, 4, dashed))
                .map_err(e)?
                .label("retrained (median)")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], dashed));
        }
        for r in rs.iter().filter(|r| r.side != RETRAIN_CONTROL) {
            let c = method_color(&r.side);
            chart
                .draw_series(LineSeries::new(curve(&r.relearning.unlearned), c.stroke_width(2)))
                .map_err(e)?
                .label(r.side.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 12)?;
    }
    Ok(())
}
