//! Class labels as they appear in files, ordered the way scikit-learn orders them.
//!
//! scikit-learn sorts classes with `np.unique`: numerically when the labels are numbers,
//! lexicographically when they are strings. Files give us text, so a label that reads as a
//! number is canonicalised ("1.0" and "1" are the same class) and sorted numerically.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Canonical text for a label cell: trimmed, and integral numbers without a fraction.
pub fn canonical(raw: &str) -> String {
    let t = raw.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        Ok(v) if v.is_finite() => format!("{v}"),
        _ => t.to_string(),
    }
}

/// True when every label reads as a number, so they sort (and serialise) as numbers.
pub fn all_numeric(labels: &[String]) -> bool {
    !labels.is_empty() && labels.iter().all(|l| l.parse::<f64>().is_ok_and(f64::is_finite))
}

/// Sort labels as `np.unique` would.
pub fn sort(labels: &mut [String]) {
    if all_numeric(labels) {
        labels.sort_by(|a, b| {
            let (x, y) = (a.parse::<f64>().unwrap_or(0.0), b.parse::<f64>().unwrap_or(0.0));
            x.total_cmp(&y)
        });
    } else {
        labels.sort();
    }
}

/// Labels as JSON: numbers when they all are, strings otherwise.
pub fn to_json(labels: &[String]) -> serde_json::Value {
    if all_numeric(labels) {
        labels
            .iter()
            .map(|l| {
                let v: f64 = l.parse().unwrap_or(0.0);
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    serde_json::Value::from(v as i64)
                } else {
                    serde_json::Value::from(v)
                }
            })
            .collect()
    } else {
        labels.iter().map(|l| serde_json::Value::from(l.as_str())).collect()
    }
}

/// Interns labels in first-seen order so accumulators can count by index while streaming,
/// before the full class set (and so the sorted order) is known.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LabelIndex {
    names: Vec<String>,
    #[serde(skip)]
    lookup: HashMap<String, u32>,
}

impl LabelIndex {
    pub fn with_labels(labels: &[String]) -> Self {
        let mut idx = LabelIndex::default();
        for l in labels {
            idx.intern(l);
        }
        idx
    }

    pub fn intern(&mut self, label: &str) -> u32 {
        if self.lookup.len() != self.names.len() {
            self.rebuild();
        }
        if let Some(&i) = self.lookup.get(label) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(label.to_string());
        self.lookup.insert(label.to_string(), i);
        i
    }

    pub fn get(&self, label: &str) -> Option<u32> {
        if self.lookup.len() == self.names.len() {
            self.lookup.get(label).copied()
        } else {
            self.names.iter().position(|n| n == label).map(|i| i as u32)
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// For each of `other`'s indices, the index of the same label here (interning new ones).
    pub fn absorb(&mut self, other: &LabelIndex) -> Vec<u32> {
        other.names.iter().map(|n| self.intern(n)).collect()
    }

    /// The labels in sklearn order and, for each interned index, its position in that order.
    pub fn sorted(&self) -> (Vec<String>, Vec<usize>) {
        let mut sorted = self.names.clone();
        sort(&mut sorted);
        let pos: HashMap<&str, usize> = sorted.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
        let remap = self.names.iter().map(|n| pos[n.as_str()]).collect();
        (sorted, remap)
    }

    fn rebuild(&mut self) {
        self.lookup = self.names.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect();
    }
}
