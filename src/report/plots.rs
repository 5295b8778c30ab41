//! Plots drawn by the core with plotters into SVG strings, so the page, the CLI's HTML
//! export and the docs all show the same pictures.

use super::Report;
use crate::error::{Error, Result};
use crate::metrics::{ranking::NamedCurve, MetricMap};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One rendered plot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plot {
    pub id: String,
    pub title: String,
    pub svg: String,
}

const SIZE: (u32, u32) = (460, 400);
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Plotters' many error types, as the one `Error::Plot` named after the plot.
trait OrPlot<T> {
    fn or_plot(self, plot: &str) -> Result<T>;
}

impl<T, E: std::fmt::Display> OrPlot<T> for std::result::Result<T, E> {
    fn or_plot(self, plot: &str) -> Result<T> {
        self.map_err(|e| Error::Plot { plot: plot.to_string(), message: e.to_string() })
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// An SVG string of `SIZE` on white, drawn by `draw`.
fn render(name: &str, draw: impl FnOnce(&Area<'_>) -> Result<()>) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).or_plot(name)?;
        draw(&root)?;
        root.present().or_plot(name)?;
    }
    Ok(svg)
}

/// Numeric axes over `x` and `y` with labels, descriptions and a light grid: the frame of the
/// curve and scatter plots (`y_labels` is the width left for the y tick labels).
fn gridded<'a, 'b>(
    root: &'a Area<'b>,
    name: &str,
    x: (f64, f64),
    y: (f64, f64),
    y_labels: u32,
    (x_desc, y_desc): (&str, &str),
) -> Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(y_labels)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .or_plot(name)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .or_plot(name)?;
    Ok(chart)
}

/// One coloured line per entry, at most 12, with a legend box at `position`.
fn labelled_lines<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    name: &str,
    lines: impl Iterator<Item = (String, Vec<(f64, f64)>)>,
    position: SeriesLabelPosition,
) -> Result<()> {
    for (i, (label, pts)) in lines.take(12).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts = pts.into_iter().filter(|(x, y)| x.is_finite() && y.is_finite());
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .or_plot(name)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(position)
        .draw()
        .or_plot(name)
}

/// What the plots are drawn from: the parts of a [`Report`] they need, readable back from the
/// report's JSON (the page draws plots on its main thread from the worker's JSON).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PlotData {
    pub classes: serde_json::Value,
    pub metrics: MetricMap,
    #[serde(default)]
    pub curves: Vec<NamedCurve>,
    /// Only the regression sample is read back (the rest of `examples` is for the page).
    #[serde(default)]
    pub examples: Option<PlotExamples>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PlotExamples {
    #[serde(default)]
    pub sample: Option<super::rows::Sample>,
}

impl PlotData {
    pub fn from_report(r: &Report) -> PlotData {
        PlotData {
            classes: r.classes.clone(),
            metrics: r.metrics.clone(),
            curves: r.curves.clone(),
            examples: r.examples.as_ref().map(|e| PlotExamples { sample: e.sample.clone() }),
        }
    }

    pub fn from_json(report_json: &str) -> Result<PlotData> {
        Ok(serde_json::from_str(report_json)?)
    }
}

/// Every plot the report supports, in display order.
pub fn all(report: &PlotData) -> Result<Vec<Plot>> {
    let mut out = Vec::new();
    let classes = super::class_names(&report.classes);
    if let Some(serde_json::Value::Array(rows)) = report.metrics.get("confusion_matrix") {
        let counts: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| r.as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default())
            .collect();
        out.push(Plot { id: "confusion".into(), title: "Confusion matrix".into(), svg: confusion(&classes, &counts)? });
    }
    if !report.curves.is_empty() {
        out.push(Plot { id: "roc".into(), title: "ROC curve".into(), svg: roc(&report.curves)? });
        out.push(Plot { id: "pr".into(), title: "Precision–recall curve".into(), svg: pr(&report.curves)? });
        out.push(Plot { id: "det".into(), title: "DET curve".into(), svg: det(&report.curves)? });
    }
    if let Some(sample) = report.examples.as_ref().and_then(|e| e.sample.as_ref()) {
        if !sample.truth.is_empty() {
            out.push(Plot {
                id: "predicted-vs-actual".into(),
                title: "Predicted vs actual".into(),
                svg: predicted_vs_actual(sample)?,
            });
            out.push(Plot { id: "residuals".into(), title: "Residuals".into(), svg: residuals(sample)? });
        }
    }
    Ok(out)
}

/// Heatmap of counts, rows = true class (top to bottom), columns = predicted class.
pub fn confusion(classes: &[String], counts: &[Vec<f64>]) -> Result<String> {
    const NAME: &str = "confusion matrix";
    let k = classes.len().max(1);
    render(NAME, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((0..k).into_segmented(), (0..k).into_segmented())
            .or_plot(NAME)?;
        let name = |v: &SegmentValue<usize>, flip: bool| match v {
            SegmentValue::CenterOf(i) if *i < k => {
                classes.get(if flip { k - 1 - i } else { *i }).cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .x_labels(k.min(20))
            .y_labels(k.min(20))
            .x_label_formatter(&|v| name(v, false))
            .y_label_formatter(&|v| name(v, true))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .or_plot(NAME)?;
        let max = counts.iter().flatten().copied().fold(0.0, f64::max).max(1e-12);
        let font_size = if k <= 4 {
            18
        } else if k <= 10 {
            12
        } else {
            9
        };
        for (t, row) in counts.iter().enumerate() {
            for (p, &c) in row.iter().enumerate() {
                let shade = (c / max).clamp(0.0, 1.0);
                let color = RGBColor(
                    (247.0 - shade * 239.0) as u8,
                    (251.0 - shade * 203.0) as u8,
                    (255.0 - shade * 148.0) as u8,
                );
                let y = k - 1 - t;
                let cell = [
                    (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                ];
                chart.draw_series(std::iter::once(Rectangle::new(cell, color.filled()))).or_plot(NAME)?;
                if k <= 20 {
                    let text_color = if shade > 0.5 { WHITE } else { BLACK };
                    let text = if c.fract() == 0.0 { format!("{c}") } else { format!("{c:.2}") };
                    let style = ("sans-serif", font_size)
                        .into_font()
                        .color(&text_color)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    chart
                        .draw_series(std::iter::once(Text::new(
                            text,
                            (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                            style,
                        )))
                        .or_plot(NAME)?;
                }
            }
        }
        Ok(())
    })
}

/// Draw one line per curve on a unit square; `xy` picks the coordinates from a curve.
fn curves_svg(
    name: &str,
    curves: &[NamedCurve],
    (x_desc, y_desc): (&str, &str),
    xy: impl Fn(&NamedCurve) -> Vec<(f64, f64)>,
    legend: impl Fn(&NamedCurve) -> String,
    diagonal: bool,
) -> Result<String> {
    render(name, |root| {
        let mut chart = gridded(root, name, (0.0, 1.0), (0.0, 1.02), 44, (x_desc, y_desc))?;
        if diagonal {
            chart
                .draw_series(LineSeries::new(vec![(0.0, 0.0), (1.0, 1.0)], RGBColor(180, 180, 180).stroke_width(1)))
                .or_plot(name)?;
        }
        labelled_lines(&mut chart, name, curves.iter().map(|c| (legend(c), xy(c))), SeriesLabelPosition::LowerRight)
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

pub fn roc(curves: &[NamedCurve]) -> Result<String> {
    curves_svg(
        "ROC",
        curves,
        ("false positive rate", "true positive rate"),
        |c| c.fpr.iter().copied().zip(c.tpr.iter().copied()).collect(),
        |c| format!("{} (AUC {})", c.class, fmt_opt(c.auc)),
        true,
    )
}

pub fn pr(curves: &[NamedCurve]) -> Result<String> {
    curves_svg(
        "precision-recall",
        curves,
        ("recall", "precision"),
        |c| {
            let mut pts: Vec<(f64, f64)> = vec![(0.0, 1.0)];
            pts.extend(c.recall.iter().copied().zip(c.precision.iter().copied()));
            pts
        },
        |c| format!("{} (AP {})", c.class, fmt_opt(c.average_precision)),
        false,
    )
}

/// Range of `v` padded by 5% (a unit range around a single value).
fn padded(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        v.filter(|x| x.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
    (lo - pad, hi + pad)
}

/// Scatter of `pts` with a reference line, sampled rows noted in the corner.
fn scatter_svg(
    name: &str,
    pts: &[(f64, f64)],
    (x_desc, y_desc): (&str, &str),
    (x_range, y_range): ((f64, f64), (f64, f64)),
    reference: Vec<(f64, f64)>,
    note: &str,
) -> Result<String> {
    render(name, |root| {
        let mut chart = gridded(root, name, x_range, y_range, 56, (x_desc, y_desc))?;
        chart.draw_series(LineSeries::new(reference, RGBColor(150, 150, 150).stroke_width(1))).or_plot(name)?;
        let color = PALETTE[0].mix(0.45);
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 2, color.filled()))).or_plot(name)?;
        root.draw(&Text::new(note.to_string(), (70, 16), ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90))))
            .or_plot(name)?;
        Ok(())
    })
}

fn sample_note(s: &super::rows::Sample) -> String {
    if (s.truth.len() as u64) < s.of {
        format!("{} of {} rows (uniform sample, seed {})", s.truth.len(), s.of, s.seed)
    } else {
        format!("all {} rows", s.of)
    }
}

/// Predicted against true values, with the y = x line a perfect model would sit on.
pub fn predicted_vs_actual(s: &super::rows::Sample) -> Result<String> {
    let r = padded(s.truth.iter().chain(&s.pred).copied());
    let pts: Vec<(f64, f64)> = s.truth.iter().copied().zip(s.pred.iter().copied()).collect();
    scatter_svg(
        "predicted vs actual",
        &pts,
        ("actual", "predicted"),
        (r, r),
        vec![(r.0, r.0), (r.1, r.1)],
        &sample_note(s),
    )
}

/// Residuals (true − predicted) against the prediction, around the zero line.
pub fn residuals(s: &super::rows::Sample) -> Result<String> {
    let pts: Vec<(f64, f64)> = s.pred.iter().zip(&s.truth).map(|(&p, &t)| (p, t - p)).collect();
    let xr = padded(pts.iter().map(|p| p.0));
    let m = pts.iter().map(|p| p.1.abs()).filter(|v| v.is_finite()).fold(0.0, f64::max).max(1e-12) * 1.05;
    scatter_svg(
        "residuals",
        &pts,
        ("predicted", "residual (actual − predicted)"),
        (xr, (-m, m)),
        vec![(xr.0, 0.0), (xr.1, 0.0)],
        &sample_note(s),
    )
}

/// Detection error tradeoff: false negative against false positive rate on normal-deviate
/// (probit) axes, where a model with normal class scores draws a straight line. From the
/// core's DET curve (scikit-learn's `det_curve`), or the ROC points when it has none.
pub fn det(curves: &[NamedCurve]) -> Result<String> {
    const TICKS: [f64; 9] = [0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999];
    let lim = crate::metrics::ci::normal_quantile(0.0005);
    let probit = |p: f64| crate::metrics::ci::normal_quantile(p).clamp(lim, -lim);
    const NAME: &str = "DET";
    render(NAME, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(lim..-lim, lim..-lim)
            .or_plot(NAME)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .x_desc("false positive rate")
            .y_desc("false negative rate")
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .or_plot(NAME)?;
        let grid = RGBColor(225, 225, 225);
        let label = ("sans-serif", 12).into_font().color(&RGBColor(60, 60, 60));
        for t in TICKS {
            let v = probit(t);
            chart.draw_series(LineSeries::new(vec![(v, lim), (v, -lim)], grid)).or_plot(NAME)?;
            chart.draw_series(LineSeries::new(vec![(lim, v), (-lim, v)], grid)).or_plot(NAME)?;
            let text = format!("{}%", t * 100.0);
            let (x, y) = chart.backend_coord(&(v, lim));
            root.draw(&Text::new(text.clone(), (x, y + 4), label.clone().pos(Pos::new(HPos::Center, VPos::Top))))
                .or_plot(NAME)?;
            let (x, y) = chart.backend_coord(&(lim, v));
            root.draw(&Text::new(text, (x - 4, y), label.clone().pos(Pos::new(HPos::Right, VPos::Center))))
                .or_plot(NAME)?;
        }
        // the core's DET points when it has them, else FNR = 1 − TPR from the ROC points
        let lines = curves.iter().map(|c| {
            let rates: Vec<(f64, f64)> = match &c.det {
                Some(d) => d.fpr.iter().copied().zip(d.fnr.iter().copied()).collect(),
                None => c.fpr.iter().zip(&c.tpr).map(|(&f, &t)| (f, 1.0 - t)).collect(),
            };
            let pts = rates
                .into_iter()
                .filter(|(f, m)| f.is_finite() && m.is_finite())
                .map(|(f, m)| (probit(f), probit(m)))
                .collect();
            (c.class.clone(), pts)
        });
        labelled_lines(&mut chart, NAME, lines, SeriesLabelPosition::UpperRight)
    })
}
