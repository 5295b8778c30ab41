//! Column understanding: which column is the truth, the prediction, the scores, the weight,
//! and which task the file describes.
//!
//! Names follow the predictions-file contract in DESIGN.md (`label`/`y_true`/`target`,
//! `pred`/`y_pred`/`prediction`, `score`/`prob`/`y_score`, `prob_<class>`/`p_<class>`,
//! `weight`); explicit flags win over detection.

use super::Record;
use crate::error::{Error, Location, Result};
use crate::metrics::{labels, Evaluation, Task};
use std::borrow::Cow;

pub const LABEL_NAMES: &[&str] = &["label", "y_true", "target", "truth", "y"];
pub const PRED_NAMES: &[&str] = &["pred", "y_pred", "prediction", "predicted"];
pub const SCORE_NAMES: &[&str] = &["score", "prob", "y_score", "proba", "probability"];
pub const WEIGHT_NAMES: &[&str] = &["weight", "sample_weight", "w"];
const PROB_PREFIXES: &[&str] = &["prob_", "p_", "proba_"];
/// Multilabel indicator columns: `label_<class>` (truth, 0/1) and `pred_<class>` (predicted,
/// 0/1), the names NumPy arrays and JSON arrays called `label`/`y_true`/`y_pred` spread to.
pub const MULTILABEL_TRUTH_PREFIXES: &[&str] = &["y_true_", "label_", "labels_", "target_", "truth_", "y_"];
pub const MULTILABEL_PRED_PREFIXES: &[&str] = &["y_pred_", "pred_", "prediction_", "predicted_"];

/// What to do with a row whose numbers include NaN, infinity or a missing value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NonFinite {
    /// Stop with an error that names the row and column.
    #[default]
    Reject,
    /// Leave the row out and say how many were left out in the report's notes.
    Skip,
}

impl NonFinite {
    pub fn parse(s: &str) -> Option<NonFinite> {
        match s {
            "reject" | "error" => Some(NonFinite::Reject),
            "skip" => Some(NonFinite::Skip),
            _ => None,
        }
    }
}

/// What the user asked for explicitly (CLI flags, page controls).
#[derive(Debug, Clone, Default)]
pub struct ColumnSpec {
    pub label: Option<String>,
    pub pred: Option<String>,
    pub score: Option<String>,
    pub weight: Option<String>,
    pub task: Option<Task>,
    pub non_finite: NonFinite,
    /// With a separate labels file: join on this column (in both files) instead of by row.
    pub id: Option<String>,
    /// Per-class score columns, in class order (the class is the name less a `prob_`-style
    /// prefix); empty: the `prob_<class>` headers.
    pub probs: Vec<String>,
    /// Multilabel truth and predicted indicator columns (the label is the name less a
    /// `label_`/`pred_`-style prefix); empty: detected by prefix.
    pub indicators: Vec<String>,
    pub pred_indicators: Vec<String>,
    /// Take exactly the named columns and detect nothing: a role with no name is absent
    /// (the page's column mapping, where "none" must stay none).
    pub exact: bool,
}

/// Cells that stand for "no value" (pandas' defaults, minus the exotic ones).
pub fn is_missing(s: &str) -> bool {
    matches!(s.trim(), "" | "NA" | "N/A" | "na" | "n/a" | "NaN" | "nan" | "NAN" | "null" | "NULL" | "None" | "-nan")
}

/// Column indices by role.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roles {
    pub label: usize,
    pub pred: Option<usize>,
    pub score: Option<usize>,
    /// (class, column) for each per-class probability column, in header order.
    pub probs: Vec<(String, usize)>,
    pub weight: Option<usize>,
    /// Multilabel: (label, column) of each truth indicator column, in header order (empty
    /// for other tasks), and of each predicted indicator column.
    pub labels: Vec<(String, usize)>,
    pub preds: Vec<(String, usize)>,
}

impl Roles {
    /// Every column some role reads, in no particular order.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn columns(&self) -> Vec<usize> {
        let lists = self.probs.iter().chain(&self.labels).chain(&self.preds).map(|(_, c)| *c);
        [Some(self.label), self.pred, self.score, self.weight].into_iter().flatten().chain(lists).collect()
    }
}

/// Which multilabel role a header name has, with its label: truth or prediction indicator.
fn indicator(name: &str) -> Option<(bool, String)> {
    let n = name.trim();
    let lower = n.to_ascii_lowercase();
    let strip = |prefixes: &[&str]| {
        prefixes.iter().find(|p| lower.starts_with(*p) && n.len() > p.len()).map(|p| labels::canonical(&n[p.len()..]))
    };
    if let Some(class) = strip(MULTILABEL_PRED_PREFIXES) {
        return Some((false, class));
    }
    // score columns and the single-label names are no truth indicators ("y_score_a", "y_pred")
    let taken = PROB_PREFIXES.iter().chain(&["y_score_", "score_"]).any(|p| lower.starts_with(p))
        || LABEL_NAMES.iter().chain(PRED_NAMES).chain(SCORE_NAMES).chain(WEIGHT_NAMES).any(|w| lower == *w);
    if taken {
        return None;
    }
    strip(MULTILABEL_TRUTH_PREFIXES).map(|class| (true, class))
}

fn find(names: &[String], wanted: &[&str]) -> Option<usize> {
    wanted.iter().find_map(|w| names.iter().position(|n| n.trim().eq_ignore_ascii_case(w)))
}

/// The column called `name`, or an error that lists the header.
fn position(names: &[String], name: &str, file: &str) -> Result<usize> {
    names.iter().position(|h| h.trim() == name.trim()).ok_or_else(|| Error::UnknownColumn {
        loc: Location::at(file, 1, None),
        name: name.to_string(),
        found: names.join(", "),
    })
}

fn explicit(names: &[String], name: &Option<String>, file: &str) -> Result<Option<usize>> {
    name.as_deref().map(|n| position(names, n, file)).transpose()
}

/// Assign roles to header columns. Without `--task`, a file with two or more truth
/// indicator columns (`label_<class>`) and no single label column is multilabel.
pub fn resolve(names: &[String], spec: &ColumnSpec, file: &str) -> Result<Roles> {
    if spec.exact {
        return resolve_exact(names, spec, file);
    }
    let plain = match explicit(names, &spec.label, file)? {
        Some(i) => Some(i),
        None => find(names, LABEL_NAMES),
    };
    let (mut labels, mut preds) = (Vec::new(), Vec::new());
    for (i, n) in names.iter().enumerate() {
        match indicator(n) {
            Some((true, class)) => labels.push((class, i)),
            Some((false, class)) => preds.push((class, i)),
            None => {}
        }
    }
    if !spec.indicators.is_empty() {
        labels = named(names, &spec.indicators, indicator_class, file)?;
    }
    if !spec.pred_indicators.is_empty() {
        preds = named(names, &spec.pred_indicators, indicator_class, file)?;
    }
    let weight = explicit(names, &spec.weight, file)?.or_else(|| find(names, WEIGHT_NAMES));
    let multilabel = match spec.task {
        Some(t) => t == Task::Multilabel,
        None => plain.is_none() && labels.len() >= 2,
    };
    let explicit_probs = named(names, &spec.probs, prob_class, file)?;
    if multilabel {
        let probs = if spec.probs.is_empty() { prob_columns(names, None) } else { explicit_probs };
        return multilabel_roles(names, labels, preds, probs, weight, file);
    }
    let pred = explicit(names, &spec.pred, file)?.or_else(|| find(names, PRED_NAMES));
    let score = explicit(names, &spec.score, file)?.or_else(|| find(names, SCORE_NAMES));
    let probs = match (spec.probs.is_empty(), spec.score.is_none()) {
        (false, _) => explicit_probs,
        (true, true) => prob_columns(names, score),
        (true, false) => Vec::new(),
    };
    single_label_roles(names, plain, pred, score, probs, weight, file)
}

/// [`resolve`] for [`ColumnSpec::exact`]: the named columns and nothing else.
fn resolve_exact(names: &[String], spec: &ColumnSpec, file: &str) -> Result<Roles> {
    let labels = named(names, &spec.indicators, indicator_class, file)?;
    let preds = named(names, &spec.pred_indicators, indicator_class, file)?;
    let probs = named(names, &spec.probs, prob_class, file)?;
    let weight = explicit(names, &spec.weight, file)?;
    let multilabel = match spec.task {
        Some(t) => t == Task::Multilabel,
        None => spec.label.is_none() && !labels.is_empty(),
    };
    if multilabel {
        return multilabel_roles(names, labels, preds, probs, weight, file);
    }
    let label = explicit(names, &spec.label, file)?;
    let (pred, score) = (explicit(names, &spec.pred, file)?, explicit(names, &spec.score, file)?);
    single_label_roles(names, label, pred, score, probs, weight, file)
}

fn multilabel_roles(
    names: &[String],
    labels: Vec<(String, usize)>,
    preds: Vec<(String, usize)>,
    probs: Vec<(String, usize)>,
    weight: Option<usize>,
    file: &str,
) -> Result<Roles> {
    if labels.len() < 2 {
        return Err(Error::MissingColumn {
            loc: Location::at(file, 1, None),
            role: "multilabel truth".into(),
            found: names.join(", "),
            expected: "label_<class> (one 0/1 column per label, two or more)".into(),
            flag: "task".into(),
        });
    }
    Ok(Roles { label: labels[0].1, pred: None, score: None, probs, weight, labels, preds })
}

fn single_label_roles(
    names: &[String],
    label: Option<usize>,
    pred: Option<usize>,
    score: Option<usize>,
    mut probs: Vec<(String, usize)>,
    weight: Option<usize>,
    file: &str,
) -> Result<Roles> {
    let Some(label) = label else {
        return Err(Error::MissingColumn {
            loc: Location::at(file, 1, None),
            role: "true-label".into(),
            found: names.join(", "),
            expected: format!("{} (or label_<class> 0/1 columns for multilabel)", LABEL_NAMES.join("/")),
            flag: "label".into(),
        });
    };
    let score = if probs.len() >= 2 { None } else { score };
    let none = Vec::new;
    if probs.len() == 1 {
        // A single per-class column is a positive-class score.
        let (_, i) = probs.pop().expect("one element");
        return Ok(Roles { label, pred, score: score.or(Some(i)), probs, weight, labels: none(), preds: none() });
    }
    Ok(Roles { label, pred, score, probs, weight, labels: none(), preds: none() })
}

/// The columns named in `wanted`, each with its class (`class` of its name), in that order.
fn named(names: &[String], wanted: &[String], class: fn(&str) -> String, file: &str) -> Result<Vec<(String, usize)>> {
    wanted.iter().map(|w| position(names, w, file).map(|i| (class(&names[i]), i))).collect()
}

/// A `prob_<class>`-style name's class part (trimmed, non-empty), or `None`.
fn prob_suffix(name: &str) -> Option<&str> {
    let n = name.trim();
    PROB_PREFIXES.iter().find_map(|p| n.strip_prefix(p)).filter(|c| !c.is_empty())
}

/// The class a per-class score column stands for: its name less a `prob_`-style prefix.
pub fn prob_class(name: &str) -> String {
    labels::canonical(prob_suffix(name).unwrap_or(name.trim()))
}

/// The label a multilabel indicator column stands for: its name less a `label_`/`pred_`-style
/// prefix.
pub fn indicator_class(name: &str) -> String {
    indicator(name).map(|(_, c)| c).unwrap_or_else(|| labels::canonical(name.trim()))
}

/// The `prob_<class>` columns (class, column), other than the `score` column.
fn prob_columns(names: &[String], score: Option<usize>) -> Vec<(String, usize)> {
    let columns = names.iter().enumerate().filter(|(i, _)| Some(*i) != score);
    columns.filter_map(|(i, n)| prob_suffix(n).map(|class| (labels::canonical(class), i))).collect()
}

/// [`labels::canonical`] without allocating when `raw` (trimmed) already is canonical.
fn canonical_label(raw: &str) -> Cow<'_, str> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let plain_int = !digits.is_empty()
        && digits.len() <= 15
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (!digits.starts_with('0') || (digits == "0" && raw == "0"));
    if plain_int || raw.parse::<f64>().is_err() {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(labels::canonical(raw))
}

/// A number from a cell's bytes: plain decimals here, fast-float's parser (no UTF-8 pass)
/// for the rest, std's for the rare spellings it refuses. All three round correctly, so a
/// cell any two accept reads the same.
#[inline]
pub fn parse_f64(raw: &[u8]) -> Option<f64> {
    match parse_plain_decimal(raw) {
        Some(v) => Some(v),
        None => parse_general(raw),
    }
}

/// Exponents, long mantissas, `inf`/`nan` and text: kept out of line, so the plain-decimal
/// path inlines into the feed.
#[inline(never)]
fn parse_general(raw: &[u8]) -> Option<f64> {
    match fast_float2::parse::<f64, _>(raw) {
        Ok(v) => Some(v),
        // Numbers are ASCII: a cell that is not UTF-8 is not a number.
        Err(_) => std::str::from_utf8(raw).ok()?.parse().ok(),
    }
}

/// Exact powers of ten: every one up to 10^22 is a double.
const POW10: [f64; 20] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19];

/// Powers of ten as integers, for appending `r` digits to a mantissa.
const POW10_U64: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

const ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);

/// Whether all 8 bytes of `w` are ASCII digits (fast-float's test: a digit's high nibble is
/// 3, and stays 3 when 6 is added).
#[inline]
fn eight_digits(w: u64) -> bool {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    (w & HIGH) | ((w.wrapping_add(0x0606_0606_0606_0606) & HIGH) >> 4) == 0x3333_3333_3333_3333
}

/// The value of 8 ASCII digits (first digit in the lowest byte), in three multiplications
/// (fast-float's SWAR reduction: pairs, then quads, then the two halves).
#[inline]
fn eight_digit_value(w: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let v = w.wrapping_sub(ZEROS);
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    (v & MASK).wrapping_mul(MUL1).wrapping_add(((v >> 16) & MASK).wrapping_mul(MUL2)) >> 32
}

/// `s[at..at + 8]` as a little-endian word.
#[inline]
fn word(s: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(b)
}

/// `m` with the digits `s[from..]` appended (at most 19 of them, so `m` cannot wrap), or `None`
/// when one is not a digit. Whole words are read 8 digits at a time; a shorter tail is read
/// as the word ending at `s`'s end with the bytes before `from` replaced by `'0'` (leading
/// zeros), or digit by digit when `s` is shorter than a word.
#[inline]
fn append_digits(mut m: u64, s: &[u8], mut from: usize) -> Option<u64> {
    while s.len() - from >= 8 {
        let w = word(s, from);
        if !eight_digits(w) {
            return None;
        }
        m = m.wrapping_mul(100_000_000).wrapping_add(eight_digit_value(w));
        from += 8;
    }
    let r = s.len() - from;
    if r == 0 {
        return Some(m);
    }
    if s.len() >= 8 {
        let before = 8 * (8 - r) as u32;
        let low = (1u64 << before) - 1;
        let w = (word(s, s.len() - 8) & !low) | (ZEROS & low);
        if !eight_digits(w) {
            return None;
        }
        return Some(m.wrapping_mul(POW10_U64[r]).wrapping_add(eight_digit_value(w)));
    }
    for &c in &s[from..] {
        let d = c.wrapping_sub(b'0');
        if d >= 10 {
            return None;
        }
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
    }
    Some(m)
}

/// The shape a predictions file's numbers nearly always have, `[-+]digits[.digits]` with at
/// most 19 digits, read as an integer and one division (Clinger's fast path: when the
/// integer is below 2^53 both operands are exact, so the correctly rounded quotient is the
/// correctly rounded number). `None` for anything else (exponents, long mantissas, text).
/// The whole part is read digit by digit (it is short in scores and probabilities), the
/// fraction 8 digits at a time ([`append_digits`]).
#[inline]
fn parse_plain_decimal(raw: &[u8]) -> Option<f64> {
    let (neg, s) = match raw.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, raw),
    };
    let mut m: u64 = 0;
    let mut i = 0;
    while let Some(d) = s.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d < 10) {
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    let whole = i;
    let mut frac = 0;
    if i < s.len() {
        if s[i] != b'.' {
            return None;
        }
        frac = s.len() - i - 1;
        if whole + frac > 19 {
            return None;
        }
        m = append_digits(m, s, i + 1)?;
    }
    if whole + frac == 0 || whole + frac > 19 || m > 1 << 53 {
        return None;
    }
    let v = m as f64 / POW10[frac];
    Some(if neg { -v } else { v })
}

/// The index of the first largest score (what a fold comparing against the best so far
/// gives), keeping the best value in a register so the compare can become a select.
#[inline]
fn arg_max(v: &[f64]) -> usize {
    let (mut best, mut top) = (0, v[0]);
    for (i, &x) in v.iter().enumerate().skip(1) {
        if x > top {
            (best, top) = (i, x);
        }
    }
    best
}

/// What is done to the score columns before the metrics see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreTransform {
    None,
    /// Per-class logits -> probabilities.
    Softmax,
    /// Per-class non-negative scores -> divided by their row sum.
    Normalize,
}

impl ScoreTransform {
    fn apply(self, v: &mut [f64]) {
        match self {
            ScoreTransform::None => {}
            ScoreTransform::Softmax => {
                let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                v.iter_mut().for_each(|x| *x = (*x - max).exp());
                let sum: f64 = v.iter().sum();
                v.iter_mut().for_each(|x| *x /= sum);
            }
            ScoreTransform::Normalize => {
                let sum: f64 = v.iter().sum();
                if sum > 0.0 {
                    v.iter_mut().for_each(|x| *x /= sum);
                }
            }
        }
    }
}

/// Where [`Plan::feed`] sends each parsed row: the metric accumulators, and (in the report)
/// also the row trackers that keep examples for the page. Labels travel as ids from
/// [`RowSink::intern`], so the hot path hashes no text.
pub trait RowSink {
    /// The id of a label (canonical text), interned on first sight. Called once per distinct
    /// label spelling, just before the first row that carries it is fed.
    fn intern(&mut self, label: &str) -> u32;
    fn classification(&mut self, truth: u32, pred: u32, scores: &[f64], weight: f64);
    fn regression(&mut self, truth: f64, pred: f64, weight: f64);
    /// A multilabel row: per label (the plan's class order) truth and prediction (0/1) and
    /// the scores (empty without score columns).
    fn multilabel(&mut self, truth: &[f64], pred: &[f64], scores: &[f64], weight: f64);
}

impl RowSink for Evaluation {
    fn intern(&mut self, label: &str) -> u32 {
        Evaluation::intern(self, label)
    }
    fn classification(&mut self, truth: u32, pred: u32, scores: &[f64], weight: f64) {
        self.update_ids(truth, pred, scores, weight);
    }
    fn regression(&mut self, truth: f64, pred: f64, weight: f64) {
        self.update_regression(truth, pred, weight);
    }
    fn multilabel(&mut self, truth: &[f64], pred: &[f64], scores: &[f64], weight: f64) {
        self.update_multilabel(truth, pred, scores, weight);
    }
}

/// Label cells already seen, by their (trimmed) bytes: the sink's id and whether the label
/// is one of the plan's classes. Small label sets (the usual case) are kept in a list, a
/// label of up to 7 bytes compared as one integer ([`short_key`]) and found first in a table
/// by its bytes folded to one (one load, no branch on which label it is: a predictions
/// file's labels come in random order, so the list's early exit mispredicted about once a
/// row); past [`LabelCache::SMALL`] a hash map takes over, up to [`LabelCache::MAX`] entries
/// (beyond that, new spellings are resolved afresh each row: correct, only slower).
#[derive(Debug, Default)]
struct LabelCache {
    small: Vec<CacheEntry>,
    /// 256 slots of (short key, value) once a short label is cached; the first key to fold
    /// to a slot keeps it (`u64::MAX`: empty), the others are found in `small`.
    slots: Vec<(u64, (u32, bool))>,
    map: std::collections::HashMap<Box<[u8]>, (u32, bool)>,
}

/// A short key's slot: its bytes xor-folded (one-byte labels, the usual class ids, never
/// share one).
#[inline]
fn slot(key: u64) -> usize {
    let k = key ^ key >> 32;
    let k = k ^ k >> 16;
    ((k ^ k >> 8) & 0xFF) as usize
}

/// A label cell's [`short_key`] (`u64::MAX` when longer), its bytes, its sink id and whether
/// it is one of the plan's classes.
type CacheEntry = (u64, Box<[u8]>, (u32, bool));

/// Up to 7 bytes and their count packed into one integer (the count in the top byte, so
/// `u64::MAX` is no key).
#[inline]
fn short_key(raw: &[u8]) -> Option<u64> {
    if raw.len() > 7 {
        return None;
    }
    let packed = raw.iter().enumerate().fold(0u64, |k, (i, &c)| k | u64::from(c) << (8 * i));
    Some(packed | (raw.len() as u64) << 56)
}

impl LabelCache {
    const SMALL: usize = 16;
    const MAX: usize = 1 << 16;

    #[inline(always)]
    fn get(&self, raw: &[u8]) -> Option<(u32, bool)> {
        if !self.map.is_empty() {
            return self.map.get(raw).copied();
        }
        match short_key(raw) {
            Some(key) => match self.slots.get(slot(key)) {
                Some(&(k, v)) if k == key => Some(v),
                _ => self.small.iter().find(|e| e.0 == key).map(|e| e.2),
            },
            None => self.small.iter().find(|e| *e.1 == *raw).map(|e| e.2),
        }
    }

    fn insert(&mut self, raw: &[u8], v: (u32, bool)) {
        if self.small.len() < Self::SMALL {
            let key = short_key(raw).unwrap_or(u64::MAX);
            self.small.push((key, raw.into(), v));
            if key != u64::MAX {
                if self.slots.is_empty() {
                    self.slots = vec![(u64::MAX, (0, false)); 256];
                }
                let s = &mut self.slots[slot(key)];
                if s.0 == u64::MAX {
                    *s = (key, v);
                }
            }
        } else if self.map.len() < Self::MAX {
            if self.map.is_empty() {
                self.map.extend(self.small.iter().map(|e| (e.1.clone(), e.2)));
            }
            self.map.insert(raw.into(), v);
        }
    }
}

/// A label cell resolved: already interned, or new (canonical text, interned once the row
/// is known to be good, so a rejected row leaves no class behind).
enum Label<'r> {
    Known(u32),
    New(Cow<'r, str>),
}

/// What [`Plan::feed`] keeps between rows of one stream (one sink): number scratch and the
/// label cache.
#[derive(Debug, Default)]
pub struct FeedState {
    scores: Vec<f64>,
    labels: LabelCache,
    /// Sink ids of `Plan::classes`, interned when first predicted by argmax/threshold.
    class_ids: Vec<Option<u32>>,
}

/// How a file will be read: its roles, task and what we decided on its behalf.
#[derive(Debug, Clone)]
pub struct Plan {
    pub file: String,
    pub names: Vec<String>,
    pub roles: Roles,
    pub task: Task,
    /// Classes fixed before streaming: probability headers, or the two binary classes.
    pub classes: Vec<String>,
    /// Columns whose numbers go to the score accumulator: every probability column for
    /// multiclass, the positive class's column for binary.
    pub score_cols: Vec<usize>,
    /// Columns read for the scores (all probability columns, also for binary), before
    /// `transform`; `keep` picks the positive class's one afterwards.
    pub input_cols: Vec<usize>,
    pub keep: Option<usize>,
    pub transform: ScoreTransform,
    /// For a binary score without predictions: predicted positive when score > this.
    pub threshold: f64,
    pub notes: Vec<String>,
    /// Multilabel: the truth indicator columns in `classes` order, and the predicted ones
    /// (empty: predicted where the label's score > `threshold`).
    pub ml_truth: Vec<usize>,
    pub ml_pred: Vec<usize>,
}

impl Plan {
    /// Decide the task and classes from the header and a sample of rows.
    pub fn new(
        file: &str,
        names: Vec<String>,
        roles: Roles,
        sample: &[Vec<String>],
        spec: &ColumnSpec,
    ) -> Result<Plan> {
        let mut notes = Vec::new();
        let col = |i: usize| sample.iter().filter_map(move |r| r.get(i)).map(|s| s.trim()).filter(|s| !is_missing(s));
        let is_num = |s: &str| s.parse::<f64>().is_ok_and(f64::is_finite);
        let is_int = |s: &str| s.parse::<f64>().is_ok_and(|v| v.is_finite() && v.fract() == 0.0);

        let task = if let Some(t) = spec.task {
            t
        } else if !roles.labels.is_empty() {
            Task::Multilabel
        } else if roles.probs.len() >= 2 {
            if roles.probs.len() == 2 {
                Task::Binary
            } else {
                Task::Multiclass
            }
        } else {
            let labels_numeric = col(roles.label).all(is_num);
            let labels_integral = col(roles.label).all(is_int);
            let preds_fractional = roles.pred.is_some_and(|p| col(p).any(|s| is_num(s) && !is_int(s)));
            if roles.score.is_none() && labels_numeric && (!labels_integral || preds_fractional) {
                Task::Regression
            } else {
                let mut distinct: Vec<String> = col(roles.label).map(labels::canonical).collect();
                if let Some(p) = roles.pred {
                    distinct.extend(col(p).map(labels::canonical));
                }
                distinct.sort();
                distinct.dedup();
                if distinct.len() <= 2 {
                    Task::Binary
                } else {
                    Task::Multiclass
                }
            }
        };

        if task == Task::Multilabel {
            return Plan::multilabel(file, names, roles, sample);
        }
        let mut classes: Vec<String> = roles.probs.iter().map(|(c, _)| c.clone()).collect();
        if task == Task::Regression {
            if roles.pred.is_none() {
                return Err(Error::MissingColumn {
                    loc: Location::at(file, 1, None),
                    role: "prediction".into(),
                    found: names.join(", "),
                    expected: PRED_NAMES.join("/"),
                    flag: "pred".into(),
                });
            }
            classes.clear();
        } else if roles.pred.is_none() && roles.score.is_none() && roles.probs.is_empty() {
            return Err(Error::MissingColumn {
                loc: Location::at(file, 1, None),
                role: "prediction or score".into(),
                found: names.join(", "),
                expected: format!("{} or {} or prob_<class>", PRED_NAMES.join("/"), SCORE_NAMES.join("/")),
                flag: "pred".into(),
            });
        } else if roles.score.is_some() && classes.is_empty() {
            // One score column: the positive class is the greater of the two labels.
            let mut seen: Vec<String> = col(roles.label).map(labels::canonical).collect();
            if let Some(p) = roles.pred {
                seen.extend(col(p).map(labels::canonical));
            }
            seen.sort();
            seen.dedup();
            if seen.len() > 2 {
                return Err(Error::ClassMismatch {
                    loc: Location::at(file, 1, roles.score.map(|s| names[s].clone())),
                    message: format!(
                        "a single score column needs exactly two classes, but the labels include [{}]; \
                         give one prob_<class> column per class for multiclass scores",
                        seen.join(", ")
                    ),
                });
            }
            if seen.len() == 1 {
                let other = if seen[0] == "0" { "1" } else { "0" };
                seen.push(other.to_string());
            }
            labels::sort(&mut seen);
            classes = seen;
        }
        if task == Task::Binary && roles.probs.len() == 2 {
            labels::sort(&mut classes);
        }
        let score_cols: Vec<usize> = match (task, roles.probs.len(), roles.score) {
            (Task::Regression, _, _) => Vec::new(),
            (Task::Binary, 2, _) => roles.probs.iter().filter(|(c, _)| *c == classes[1]).map(|(_, i)| *i).collect(),
            (_, n, _) if n >= 2 => roles.probs.iter().map(|(_, i)| *i).collect(),
            (_, _, Some(s)) => vec![s],
            _ => Vec::new(),
        };
        // Scores read as logits when they leave [0, 1]; per-class rows rescaled when they do
        // not sum to 1. Decided on the sample, applied to every row.
        let input_cols: Vec<usize> = if task != Task::Regression && roles.probs.len() >= 2 {
            roles.probs.iter().map(|(_, i)| *i).collect()
        } else {
            score_cols.clone()
        };
        let keep = (input_cols.len() == 2 && score_cols.len() == 1)
            .then(|| input_cols.iter().position(|c| *c == score_cols[0]))
            .flatten();
        let values: Vec<Vec<f64>> = sample
            .iter()
            .filter_map(|r| {
                input_cols.iter().map(|&c| r.get(c)?.trim().parse::<f64>().ok().filter(|v| v.is_finite())).collect()
            })
            .collect();
        let outside = values.iter().flatten().any(|v| !(0.0..=1.0).contains(v));
        let off_sum = values.iter().map(|r| r.iter().sum::<f64>()).find(|s| (s - 1.0).abs() > 1e-3);
        let transform = match (input_cols.len(), outside, off_sum) {
            (0, _, _) => ScoreTransform::None,
            // A single score outside [0, 1] stays as it is (decision values): thresholds
            // and curves are in its units, and the metrics leave log loss and Brier undefined.
            (1, _, _) => ScoreTransform::None,
            (_, true, _) => ScoreTransform::Softmax,
            (_, false, Some(_)) => ScoreTransform::Normalize,
            (_, false, None) => ScoreTransform::None,
        };
        let score_names = input_cols.iter().map(|&c| names[c].as_str()).collect::<Vec<_>>().join(", ");
        match transform {
            ScoreTransform::Softmax => notes.push(format!(
                "{score_names} have values outside [0, 1]: read as logits and turned into probabilities with softmax"
            )),
            ScoreTransform::Normalize => notes.push(format!(
                "rows of {score_names} do not sum to 1 (one sums to {}): each row was divided by its sum",
                off_sum.unwrap_or(f64::NAN)
            )),
            ScoreTransform::None => {}
        }
        let decision_values = input_cols.len() == 1 && outside;
        if decision_values {
            notes.push(format!(
                "{score_names} has values outside [0, 1]: read as decision values (e.g. logits), so log_loss and \
                 brier_score_loss are undefined; apply a sigmoid first if they are logits and those are wanted"
            ));
        }
        let threshold = if decision_values { 0.0 } else { 0.5 };
        if let (Some(s), None) = (score_cols.first().filter(|_| score_cols.len() == 1), roles.pred) {
            notes.push(format!(
                "no prediction column: predicted '{}' when {} > {threshold}",
                classes.get(1).map(String::as_str).unwrap_or("positive"),
                names[*s]
            ));
        }
        if roles.pred.is_none() && score_cols.len() >= 2 {
            notes.push("no prediction column: predicted the class with the highest probability".into());
        }
        Ok(Plan {
            file: file.to_string(),
            names,
            roles,
            task,
            classes,
            score_cols,
            input_cols,
            keep,
            transform,
            threshold,
            notes,
            ml_truth: Vec::new(),
            ml_pred: Vec::new(),
        })
    }

    /// A multilabel file: labels in truth-column order, each with its predicted column
    /// and/or its score column found by label name.
    fn multilabel(file: &str, names: Vec<String>, roles: Roles, sample: &[Vec<String>]) -> Result<Plan> {
        let classes: Vec<String> = roles.labels.iter().map(|(c, _)| c.clone()).collect();
        let mut notes = Vec::new();
        let partner = |cols: &[(String, usize)], what: &str| -> Result<Vec<usize>> {
            if cols.is_empty() {
                return Ok(Vec::new());
            }
            let found: Vec<usize> =
                classes.iter().filter_map(|c| cols.iter().find(|(d, _)| d == c).map(|x| x.1)).collect();
            if found.len() < classes.len() {
                let missing: Vec<&str> =
                    classes.iter().filter(|c| !cols.iter().any(|(d, _)| d == *c)).map(String::as_str).collect();
                return Err(Error::ClassMismatch {
                    loc: Location::at(file, 1, None),
                    message: format!(
                        "multilabel {what} columns must cover every label; none for [{}] (labels from the truth columns: [{}])",
                        missing.join(", "),
                        classes.join(", ")
                    ),
                });
            }
            Ok(found)
        };
        let ml_pred = partner(&roles.preds, "prediction")?;
        let score_cols = partner(&roles.probs, "score")?;
        if ml_pred.is_empty() && score_cols.is_empty() {
            return Err(Error::MissingColumn {
                loc: Location::at(file, 1, None),
                role: "multilabel prediction or score".into(),
                found: names.join(", "),
                expected: "pred_<class> (0/1) or prob_<class> for every label".into(),
                flag: "task".into(),
            });
        }
        let outside = sample.iter().any(|r| {
            score_cols.iter().any(|&c| {
                r.get(c).and_then(|v| v.trim().parse::<f64>().ok()).is_some_and(|v| !(0.0..=1.0).contains(&v))
            })
        });
        let threshold = if outside { 0.0 } else { 0.5 };
        if ml_pred.is_empty() {
            let kind = if outside { "decision values (some outside [0, 1])" } else { "probabilities" };
            notes.push(format!(
                "no prediction columns: each label predicted where its score > {threshold} (scores read as {kind})"
            ));
        }
        Ok(Plan {
            file: file.to_string(),
            names,
            task: Task::Multilabel,
            ml_truth: roles.labels.iter().map(|x| x.1).collect(),
            roles,
            classes,
            input_cols: score_cols.clone(),
            score_cols,
            keep: None,
            transform: ScoreTransform::None,
            threshold,
            notes,
            ml_pred,
        })
    }

    /// A multilabel indicator cell: 0/1 (also 0.0/1.0 and true/false).
    fn indicator(&self, record: &Record, col: usize, line: u64) -> Result<f64> {
        let raw = record.get(col).trim_ascii();
        if raw.eq_ignore_ascii_case(b"true") {
            return Ok(1.0);
        }
        if raw.eq_ignore_ascii_case(b"false") {
            return Ok(0.0);
        }
        match self.number(record, col, line, "0 or 1 (a label indicator)")? {
            v if v == 0.0 || v == 1.0 => Ok(v),
            _ => Err(Error::NotNumeric {
                loc: Location::at(&self.file, line, Some(self.names[col].clone())),
                value: String::from_utf8_lossy(raw).into_owned(),
                expected: "0 or 1 (a label indicator)".into(),
            }),
        }
    }

    /// One multilabel row into `eval`; `scratch` holds [truth; scores; predictions].
    fn feed_multilabel<S: RowSink + ?Sized>(
        &self,
        record: &Record,
        line: u64,
        eval: &mut S,
        scratch: &mut Vec<f64>,
        weight: f64,
    ) -> Result<()> {
        let k = self.classes.len();
        scratch.clear();
        for &c in &self.ml_truth {
            scratch.push(self.indicator(record, c, line)?);
        }
        for &c in &self.input_cols {
            scratch.push(self.number(record, c, line, "a score or probability (a number)")?);
        }
        if self.ml_pred.is_empty() {
            for i in 0..k {
                scratch.push(f64::from(u8::from(scratch[k + i] > self.threshold)));
            }
        } else {
            for &c in &self.ml_pred {
                scratch.push(self.indicator(record, c, line)?);
            }
        }
        let s = self.input_cols.len();
        let (truth, rest) = scratch.split_at(k);
        let (scores, pred) = rest.split_at(s);
        eval.multilabel(truth, pred, scores, weight);
        Ok(())
    }

    /// The columns read as numbers (scores, weight, regression values, indicators): what a
    /// reading thread may parse ahead ([`Record::parse_numbers`]).
    pub fn numeric_columns(&self) -> Vec<usize> {
        let mut cols: Vec<usize> = self.input_cols.iter().chain(&self.ml_truth).chain(&self.ml_pred).copied().collect();
        cols.extend(self.roles.weight);
        if self.task == Task::Regression {
            cols.push(self.roles.label);
            cols.extend(self.roles.pred);
        }
        cols.sort_unstable();
        cols.dedup();
        cols
    }

    pub fn evaluation(&self) -> Evaluation {
        let width = self.score_cols.len();
        if self.task == Task::Multilabel {
            return Evaluation::new(self.task, self.classes.clone(), width);
        }
        let declared = if width >= 2 { self.classes.clone() } else { Vec::new() };
        Evaluation::new(self.task, declared, width)
    }

    /// A cell's finite number, `None` for anything [`Plan::number`] refuses: the feed's
    /// score loop, which asks `number` for the error only when this fails.
    #[inline]
    fn finite(&self, record: &Record, col: usize) -> Option<f64> {
        record.parsed(col).or_else(|| record.number(col).filter(|v| v.is_finite()))
    }

    fn number(&self, record: &Record, col: usize, line: u64, expected: &str) -> Result<f64> {
        if let Some(v) = record.parsed(col) {
            return Ok(v);
        }
        let raw = record.get(col).trim_ascii();
        let parsed = parse_f64(raw);
        match parsed {
            Some(v) if v.is_finite() => Ok(v),
            Some(_) => Err(self.non_finite(raw, col, line, expected)),
            None if is_missing(&String::from_utf8_lossy(raw)) => Err(self.non_finite(raw, col, line, expected)),
            None => Err(Error::NotNumeric {
                loc: Location::at(&self.file, line, Some(self.names[col].clone())),
                value: String::from_utf8_lossy(raw).into_owned(),
                expected: expected.to_string(),
            }),
        }
    }

    fn non_finite(&self, raw: &[u8], col: usize, line: u64, expected: &str) -> Error {
        Error::NonFinite {
            loc: Location::at(&self.file, line, Some(self.names[col].clone())),
            value: String::from_utf8_lossy(raw).into_owned(),
            expected: expected.to_string(),
        }
    }

    /// A label cell: its id when this spelling was seen before (no text work at all),
    /// otherwise its canonical text, borrowed when the cell already is canonical.
    #[inline]
    fn label<'r>(&self, record: &'r Record, col: usize, line: u64, cache: &LabelCache) -> Result<(Label<'r>, bool)> {
        let raw = record.get(col).trim_ascii();
        if let Some((id, known)) = cache.get(raw) {
            return Ok((Label::Known(id), known));
        }
        let raw = std::str::from_utf8(raw).map_err(|_| super::csv::not_utf8(&self.file, line, col))?;
        if is_missing(raw) {
            return Err(self.non_finite(raw.as_bytes(), col, line, "a label in every row"));
        }
        let canon = canonical_label(raw);
        let known = self.classes.iter().any(|c| *c == *canon);
        Ok((Label::New(canon), known))
    }

    /// The id of a resolved label, interning (and caching) a new one.
    fn label_id<S: RowSink + ?Sized>(
        &self,
        label: Label<'_>,
        known: bool,
        record: &Record,
        col: usize,
        sink: &mut S,
        cache: &mut LabelCache,
    ) -> u32 {
        match label {
            Label::Known(id) => id,
            Label::New(text) => {
                let id = sink.intern(&text);
                cache.insert(record.get(col).trim_ascii(), (id, known));
                id
            }
        }
    }

    /// Feed one record (already checked to have the header's width) into `sink`. `state`
    /// belongs to this plan and sink: keep one per stream.
    pub fn feed<S: RowSink + ?Sized>(
        &self,
        record: &Record,
        line: u64,
        sink: &mut S,
        state: &mut FeedState,
    ) -> Result<()> {
        let r = &self.roles;
        let weight = match r.weight {
            Some(w) => {
                let v = self.number(record, w, line, "a non-negative sample weight")?;
                if v < 0.0 || !v.is_finite() {
                    return Err(Error::NotNumeric {
                        loc: Location::at(&self.file, line, Some(self.names[w].clone())),
                        value: String::from_utf8_lossy(record.get(w).trim_ascii()).into_owned(),
                        expected: "a finite, non-negative sample weight".into(),
                    });
                }
                v
            }
            None => 1.0,
        };
        if self.task == Task::Multilabel {
            return self.feed_multilabel(record, line, sink, &mut state.scores, weight);
        }
        if self.task == Task::Regression {
            let y = self.number(record, r.label, line, "a numeric target")?;
            let p = self.number(record, r.pred.expect("planned"), line, "a numeric prediction")?;
            sink.regression(y, p, weight);
            return Ok(());
        }
        // the usual row: labels already seen (ids at hand, no text work, nothing held in a
        // `Label` across the number parse)
        let truth = state.labels.get(record.get(r.label).trim_ascii());
        let pred = match r.pred {
            Some(p) => state.labels.get(record.get(p).trim_ascii()).map(Some),
            None => Some(None),
        };
        if let (Some((t, truth_known)), Some(pred)) = (truth, pred) {
            self.scores(record, line, truth_known, &mut state.scores)?;
            let p = match pred {
                Some((id, _)) => id,
                None => self.predicted(state, sink),
            };
            sink.classification(t, p, &state.scores, weight);
            return Ok(());
        }
        self.feed_labels(record, line, sink, state, weight)
    }

    /// [`Plan::feed`] for a classification row with a label not seen before (or not a
    /// label): its checks in the usual order, and the new label interned once the row is
    /// known good.
    #[inline(never)]
    fn feed_labels<S: RowSink + ?Sized>(
        &self,
        record: &Record,
        line: u64,
        sink: &mut S,
        state: &mut FeedState,
        weight: f64,
    ) -> Result<()> {
        let r = &self.roles;
        let (truth, truth_known) = self.label(record, r.label, line, &state.labels)?;
        self.scores(record, line, truth_known, &mut state.scores)?;
        // The predicted label: a cell, or the class the scores pick.
        let pred = match r.pred {
            Some(p) => Some(self.label(record, p, line, &state.labels)?),
            None => None,
        };
        let t = self.label_id(truth, truth_known, record, r.label, sink, &mut state.labels);
        let p = match pred {
            Some((label, known)) => {
                self.label_id(label, known, record, r.pred.expect("a prediction column"), sink, &mut state.labels)
            }
            None => self.predicted(state, sink),
        };
        sink.classification(t, p, &state.scores, weight);
        Ok(())
    }

    /// A classification row's scores into `scratch`: read, transformed, the kept one; an
    /// error when they are not numbers, or when the truth (`truth_known`: a class of the
    /// score columns) has no score column.
    #[inline(always)]
    fn scores(&self, record: &Record, line: u64, truth_known: bool, scratch: &mut Vec<f64>) -> Result<()> {
        scratch.clear();
        if !record.numbers_into(&self.input_cols, scratch) {
            scratch.clear();
            for &c in &self.input_cols {
                let v = match self.finite(record, c) {
                    Some(v) => v,
                    None => self.number(record, c, line, "a score or probability (a number)")?,
                };
                scratch.push(v);
            }
        }
        self.transform.apply(scratch);
        if let Some(k) = self.keep {
            let v = scratch[k];
            scratch.clear();
            scratch.push(v);
        }
        if !truth_known && !self.score_cols.is_empty() {
            return Err(self.class_mismatch(record, line));
        }
        Ok(())
    }

    /// The sink id of the class the row's scores pick (no prediction column): the highest
    /// probability, or a single score against the threshold.
    #[inline(always)]
    fn predicted<S: RowSink + ?Sized>(&self, state: &mut FeedState, sink: &mut S) -> u32 {
        let scores = &state.scores;
        let class = if scores.len() >= 2 { arg_max(scores) } else { usize::from(scores[0] > self.threshold) };
        if state.class_ids.len() != self.classes.len() {
            state.class_ids = vec![None; self.classes.len()];
        }
        *state.class_ids[class].get_or_insert_with(|| sink.intern(&self.classes[class]))
    }

    /// A row whose label has no score column (or is a third class of a binary score).
    #[cold]
    #[inline(never)]
    fn class_mismatch(&self, record: &Record, line: u64) -> Error {
        let r = &self.roles;
        let why = if r.probs.len() >= 2 {
            "has no probability column; the file has columns for classes"
        } else {
            "is a third class, but a single score column means a binary task with classes"
        };
        let text = String::from_utf8_lossy(record.get(r.label).trim_ascii()).into_owned();
        Error::ClassMismatch {
            loc: Location::at(&self.file, line, Some(self.names[r.label].clone())),
            message: format!("label '{}' {why} [{}]", labels::canonical(&text), self.classes.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn byte_floats_read_as_std_does() {
        for raw in [
            "0",
            "-0",
            "1",
            "+3",
            "0.1",
            "1.",
            ".5",
            "-.5e-3",
            "1e308",
            "1e309",
            "4.9e-324",
            "2.2250738585072011e-308",
            "0.2890421",
            "0.0070408024",
            "123456789012345678901234567890",
            "nan",
            "NaN",
            "inf",
            "-Infinity",
            "1e",
            "e5",
            "",
            "-",
            "1,5",
            "0x10",
            "1_000",
            " 1",
            "3.14abc",
            "9007199254740992",
            "9007199254740993",
            "0.9007199254740993",
            "1234567890123456789",
            "12345678901234567890",
            "0.1234567890123456789",
            "-0.0",
            ".",
            "-.",
            "+.5",
            "0.30000000000000004",
            "00000000000000000001.5",
            "1.2.3",
            "1-",
        ] {
            let std = raw.parse::<f64>().ok();
            let got = super::parse_f64(raw.as_bytes());
            assert_eq!(got.map(f64::to_bits), std.map(f64::to_bits), "{raw:?}: {got:?} vs {std:?}");
        }
        assert_eq!(super::parse_f64(b"\xff1"), None);
    }

    /// Random plain decimals (the fast path's shape, up to and past its limits) read as std
    /// reads them, bit for bit.
    #[test]
    fn plain_decimals_read_as_std_does() {
        let mut rng = crate::metrics::ci::SplitMix64::new(11);
        for _ in 0..200_000 {
            let r = rng.next_u64();
            let whole = (r % 8) as usize;
            let frac = ((r >> 8) % 16) as usize;
            let mut text = String::new();
            if r >> 20 & 1 == 1 {
                text.push('-');
            }
            let mut digits = rng.next_u64();
            for i in 0..whole + frac {
                if i == whole {
                    text.push('.');
                }
                if i % 16 == 15 {
                    digits = rng.next_u64();
                }
                text.push(char::from(b'0' + (digits % 10) as u8));
                digits /= 10;
            }
            let std = text.parse::<f64>().ok();
            let got = super::parse_f64(text.as_bytes());
            assert_eq!(got.map(f64::to_bits), std.map(f64::to_bits), "{text:?}");
            // one byte changed to a near-digit (a word holding it must fail its digit test)
            let mut bytes = text.into_bytes();
            if !bytes.is_empty() {
                let at = (r >> 24) as usize % bytes.len();
                bytes[at] = b"/:.e-+ \0\xff"[(r >> 40) as usize % 9];
                let text = String::from_utf8_lossy(&bytes);
                let std = text.parse::<f64>().ok();
                let got = super::parse_f64(&bytes);
                assert_eq!(got.map(f64::to_bits), std.map(f64::to_bits), "{text:?}");
            }
        }
    }

    /// The SIMD path ([`super::super::decimal`] through [`super::Record::number`] on a line)
    /// against fast-float2 and std, bit for bit: random numbers of every shape around its
    /// limits (whole and fraction lengths, signs, exponents, 2^53, 19 digits) and near-misses
    /// (a byte changed to a dot, a sign, a space, a byte next to a digit), each in a line with
    /// random neighbours, so no mask may let a neighbour's byte in.
    #[test]
    fn padded_fields_read_as_fast_float_does() {
        let mut rng = crate::metrics::ci::SplitMix64::new(23);
        let near = b"0123456789./:-+eE ,\0\xff";
        let mut record = super::Record::default();
        let digit = |r: u64| char::from(b'0' + (r % 10) as u8);
        let mut fast = 0;
        for case in 0..300_000 {
            let r = rng.next_u64();
            let (whole, frac) = ((r % 10) as usize, ((r >> 8) % 20) as usize);
            let mut text = String::new();
            match (r >> 16) % 8 {
                0 => text.push('-'),
                1 => text.push('+'),
                _ => {}
            }
            for i in 0..whole {
                // leading zeros now and then
                text.push(if i == 0 && (r >> 20).is_multiple_of(4) { '0' } else { digit(rng.next_u64()) });
            }
            if !(r >> 24).is_multiple_of(16) {
                text.push('.');
            }
            for _ in 0..frac {
                text.push(digit(rng.next_u64()));
            }
            if (r >> 28).is_multiple_of(32) {
                text.push_str(&format!("e{}", (rng.next_u64() % 40) as i64 - 20));
            }
            let mut bytes = text.into_bytes();
            if (r >> 34).is_multiple_of(3) && !bytes.is_empty() {
                let at = (rng.next_u64() % bytes.len() as u64) as usize;
                bytes[at] = near[(rng.next_u64() % near.len() as u64) as usize];
            }
            if (r >> 36).is_multiple_of(64) {
                // 2^53 and its neighbours, as decimals
                let m = (1u64 << 53) - 2 + rng.next_u64() % 5;
                let digits = m.to_string();
                let cut = (rng.next_u64() % 17) as usize;
                bytes = format!("{}.{}", &digits[..cut], &digits[cut..]).into_bytes();
            }
            // neighbours: random bytes that look like numbers, on both sides
            let noise = |rng: &mut crate::metrics::ci::SplitMix64| -> Vec<u8> {
                let n = (rng.next_u64() % 20) as usize;
                (0..n).map(|_| near[(rng.next_u64() % (near.len() as u64 - 1)) as usize]).collect()
            };
            let (left, right) = (noise(&mut rng), noise(&mut rng));
            let mut line = left.clone();
            line.push(b'|');
            line.extend_from_slice(&bytes);
            line.push(b'|');
            line.extend_from_slice(&right);
            record.set_line(&line, b'|');
            let i = left.iter().filter(|&&c| c == b'|').count() + 1;
            assert_eq!(record.get(i), &bytes[..], "case {case}");
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("ssse3") {
                // SAFETY: the CPU has SSSE3
                fast +=
                    usize::from(unsafe { super::super::decimal::decimal(&record.bytes, record.spans[i]) }.is_some());
            }
            let got = record.number(i);
            let trimmed = bytes.trim_ascii();
            let want = match fast_float2::parse::<f64, _>(trimmed) {
                Ok(v) => Some(v),
                Err(_) => std::str::from_utf8(trimmed).ok().and_then(|t| t.parse::<f64>().ok()),
            };
            let text = String::from_utf8_lossy(&bytes);
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "case {case}: {text:?}");
            if let Ok(t) = std::str::from_utf8(trimmed) {
                assert_eq!(got.map(f64::to_bits), t.parse::<f64>().ok().map(f64::to_bits), "std, {text:?}");
            }
        }
        // most cases are the fast path's shape, and it took them
        #[cfg(target_arch = "x86_64")]
        assert!(!std::is_x86_feature_detected!("ssse3") || fast > 100_000, "{fast}");
        let _ = fast;
    }

    /// The label cache against a plain map: one-byte labels (one slot each), short labels
    /// that fold to the same slot (found in the list), long ones, and past the list's size.
    #[test]
    fn label_cache_finds_what_was_put() {
        let mut rng = crate::metrics::ci::SplitMix64::new(11);
        for round in 0..200 {
            let mut cache = super::LabelCache::default();
            let mut want = std::collections::HashMap::new();
            let n = 1 + (rng.next_u64() % 24) as usize;
            let mut labels: Vec<Vec<u8>> = Vec::new();
            while labels.len() < n {
                let r = rng.next_u64();
                let label = match r % 4 {
                    0 => vec![b'0' + (r >> 8) as u8 % 10],
                    // "ab" and "ba" fold alike
                    1 => vec![b'a' + (r >> 8) as u8 % 3, b'a' + (r >> 16) as u8 % 3],
                    2 => format!("class-{}", (r >> 8) % 5).into_bytes(),
                    _ => vec![],
                };
                if !labels.contains(&label) {
                    labels.push(label);
                }
            }
            for (i, label) in labels.iter().enumerate() {
                assert_eq!(cache.get(label), None, "round {round}: {label:?} before it was put");
                let v = (i as u32, i % 2 == 0);
                cache.insert(label, v);
                want.insert(label.clone(), v);
                for seen in &labels[..=i] {
                    assert_eq!(cache.get(seen), want.get(seen).copied(), "round {round}: {seen:?}");
                }
            }
        }
    }

    #[test]
    fn fast_labels_match_canonical() {
        for raw in
            ["0", "-0", "007", "-5", "1.0", "1e3", "cat", "inf", "123456789012345", "12345678901234567", "0.5", "+3"]
        {
            assert_eq!(super::canonical_label(raw), super::labels::canonical(raw), "{raw}");
        }
    }
}
