//! What the page's column-mapping panel shows: each header column with the role detection gave
//! it and a few sample values, and the reasons to ask the user rather than guess.
//!
//! Detection is by name (DESIGN.md's contract). When a name matches no role, or two columns
//! match one role, or a score column would be dropped for per-class columns, the page asks
//! instead of silently evaluating the wrong thing; its answer comes back as an exact
//! [`ColumnSpec`](super::ColumnSpec).

use super::columns::{self, ColumnSpec, Roles, LABEL_NAMES, PRED_NAMES, SCORE_NAMES, WEIGHT_NAMES};
use crate::error::Result;
use serde::Serialize;

/// Sample rows shown under each column.
const SAMPLE_ROWS: usize = 5;

/// A role as the page names it (the values of its role selects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Label,
    Pred,
    Score,
    /// One class's score; the class is [`Column::class`].
    Prob,
    Weight,
    /// Multilabel: one label's truth (0/1) or prediction (0/1).
    TruthIndicator,
    PredIndicator,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    pub role: Option<Role>,
    /// For per-class and indicator columns: the class the column stands for.
    pub class: Option<String>,
    /// The class this column would stand for as a per-class score, and as an indicator (the
    /// page shows it when the user picks that role).
    pub prob_class: String,
    pub indicator_class: String,
    pub sample: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Detected {
    pub file: String,
    pub format: String,
    pub columns: Vec<Column>,
    /// "multilabel" when indicator columns were found, else null (decided from the rows).
    pub task: Option<&'static str>,
    /// Why the user should check the mapping; empty when detection is unambiguous.
    pub problems: Vec<String>,
    /// Detection's error (no true-label column, an unknown explicit column), if any.
    pub error: Option<String>,
}

/// Read the header (and a few rows) from the start of a file and describe its columns.
/// `head` may end mid-record: rows are sampled until the first that does not parse.
pub fn detect(file: &str, head: &[u8], spec: &ColumnSpec) -> Result<Detected> {
    let mut opened = super::open(file, head, None)?;
    let names = opened.rows.header().to_vec();
    let mut samples: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    let mut record = Vec::new();
    for _ in 0..SAMPLE_ROWS {
        match opened.rows.next_record(&mut record) {
            Ok(Some(_)) => record.iter().zip(&mut samples).for_each(|(v, s)| s.push(v.clone())),
            _ => break,
        }
    }
    let resolved = columns::resolve(&names, spec, file);
    let mut columns: Vec<Column> = names
        .iter()
        .zip(samples)
        .map(|(name, sample)| Column {
            name: name.clone(),
            role: None,
            class: None,
            prob_class: columns::prob_class(name),
            indicator_class: columns::indicator_class(name),
            sample,
        })
        .collect();
    let (task, problems, error) = match &resolved {
        Ok(roles) => {
            assign(&mut columns, roles);
            let task = (!roles.labels.is_empty()).then_some("multilabel");
            (task, ambiguities(&names, spec, roles), None)
        }
        Err(e) => (None, Vec::new(), Some(e.to_string())),
    };
    Ok(Detected { file: file.to_string(), format: opened.format_name(), columns, task, problems, error })
}

fn assign(columns: &mut [Column], roles: &Roles) {
    let mut set = |i: usize, role: Role, class: Option<&String>| {
        columns[i].role = Some(role);
        columns[i].class = class.cloned();
    };
    if roles.labels.is_empty() {
        set(roles.label, Role::Label, None);
    }
    for (i, role) in [(roles.pred, Role::Pred), (roles.score, Role::Score), (roles.weight, Role::Weight)] {
        if let Some(i) = i {
            set(i, role, None);
        }
    }
    for (list, role) in
        [(&roles.probs, Role::Prob), (&roles.labels, Role::TruthIndicator), (&roles.preds, Role::PredIndicator)]
    {
        for (class, i) in list {
            set(*i, role, Some(class));
        }
    }
}

/// Reasons detection may have guessed wrong (only for roles the user did not name).
fn ambiguities(names: &[String], spec: &ColumnSpec, roles: &Roles) -> Vec<String> {
    let mut out = Vec::new();
    let matching = |wanted: &[&str]| -> Vec<&str> {
        names.iter().map(|n| n.trim()).filter(|n| wanted.iter().any(|w| n.eq_ignore_ascii_case(w))).collect()
    };
    let groups = [
        ("the true label", LABEL_NAMES, &spec.label, roles.labels.is_empty().then_some(roles.label)),
        ("the prediction", PRED_NAMES, &spec.pred, roles.pred),
        ("the score", SCORE_NAMES, &spec.score, roles.score),
        ("the sample weight", WEIGHT_NAMES, &spec.weight, roles.weight),
    ];
    for (role, wanted, asked, taken) in groups {
        let found = matching(wanted);
        if asked.is_none() && found.len() > 1 {
            let took = taken.map(|i| names[i].trim()).unwrap_or("none");
            out.push(format!("{} columns could be {role} ({}); '{took}' was taken", found.len(), found.join(", ")));
        }
    }
    let scores = matching(SCORE_NAMES);
    if roles.probs.len() >= 2 && spec.score.is_none() && !scores.is_empty() {
        out.push(format!(
            "per-class columns ({}) were taken as the scores, so '{}' is left out",
            roles.probs.iter().map(|(_, i)| names[*i].trim()).collect::<Vec<_>>().join(", "),
            scores[0]
        ));
    }
    if roles.labels.is_empty() && roles.pred.is_none() && roles.score.is_none() && roles.probs.is_empty() {
        out.push("no column was recognised as a prediction, a score or a per-class probability".into());
    }
    out
}
