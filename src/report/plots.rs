//! Plots drawn by the core with plotters into SVG strings, so the page, the CLI's HTML
//! export and the docs all show the same pictures.

use super::Report;
use crate::error::{Error, Result};
use crate::metrics::{ranking::NamedCurve, MetricMap};
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

fn plot_err(plot: &str) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Plot { plot: plot.to_string(), message }
}

/// What the plots are drawn from: the parts of a [`Report`] they need, readable back from the
/// report's JSON (the page draws plots on its main thread from the worker's JSON).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PlotData {
    pub classes: serde_json::Value,
    pub metrics: MetricMap,
    #[serde(default)]
    pub curves: Vec<NamedCurve>,
}

impl PlotData {
    pub fn from_report(r: &Report) -> PlotData {
        PlotData { classes: r.classes.clone(), metrics: r.metrics.clone(), curves: r.curves.clone() }
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
    }
    Ok(out)
}

/// Heatmap of counts, rows = true class (top to bottom), columns = predicted class.
pub fn confusion(classes: &[String], counts: &[Vec<f64>]) -> Result<String> {
    let err = plot_err("confusion matrix");
    let k = classes.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((0..k).into_segmented(), (0..k).into_segmented())
            .map_err(|e| err(e.to_string()))?;
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
            .map_err(|e| err(e.to_string()))?;
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
                chart
                    .draw_series(std::iter::once(Rectangle::new(cell, color.filled())))
                    .map_err(|e| err(e.to_string()))?;
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
                        .map_err(|e| err(e.to_string()))?;
                }
            }
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
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
    let err = plot_err(name);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(0.0..1.0, 0.0..1.02)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        if diagonal {
            chart
                .draw_series(LineSeries::new(vec![(0.0, 0.0), (1.0, 1.0)], RGBColor(180, 180, 180).stroke_width(1)))
                .map_err(|e| err(e.to_string()))?;
        }
        for (i, c) in curves.iter().take(12).enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let pts: Vec<(f64, f64)> = xy(c).into_iter().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|e| err(e.to_string()))?
                .label(legend(c))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
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
