//! The wasm boundary, run in wasm by wasm-bindgen-test (Node): bad input must come back as a
//! JsError carrying our message, never a trap that would kill the page's engine. (Plots need
//! a DOM, so they are checked by the browser tests in tests/e2e.)
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;
use webeval::web::{evaluate_predictions, SplitRead, StreamEvaluation};

fn check(csv: &str, expect: Result<&str, &str>) {
    match (evaluate_predictions("t.csv", csv.as_bytes(), JsValue::UNDEFINED, None), expect) {
        (Ok(json), Ok(needle)) => {
            assert!(json.contains(needle), "{json}");
        }
        (Err(e), Err(needle)) => {
            let err = JsValue::from(e);
            let msg = js_sys::Reflect::get(&err, &JsValue::from_str("message")).ok().and_then(|m| m.as_string());
            let msg = msg.unwrap_or_default();
            assert!(msg.contains(needle), "'{needle}' not in '{msg}'");
        }
        (Ok(json), Err(needle)) => panic!("expected error '{needle}', got {json}"),
        (Err(_), Ok(needle)) => panic!("expected a report containing '{needle}'"),
    }
}

#[wasm_bindgen_test]
fn reports_and_errors_cross_the_boundary() {
    check("y_true,y_pred\n1,1\n0,1\n", Ok("\"accuracy_score\":0.5"));
    check("y_true,score\n1,0.9\n0,0.2\n1,0.4\n", Ok("\"roc_auc_score\":1.0"));
    check("y_true,y_pred\n1.5,1.0\n2.5,2.0\n", Ok("\"task\":\"regression\""));
    check("", Err("empty"));
    check("y_true,y_pred\n1,1\n0,0,0\n", Err("line 3"));
    check("y_true,score\n1,abc\n", Err("not a number"));
    check("a,b\n1,2\n", Err("no true-label column"));
}

/// The message of a JsError.
fn message(e: wasm_bindgen::JsError) -> String {
    let err = JsValue::from(e);
    js_sys::Reflect::get(&err, &JsValue::from_str("message")).ok().and_then(|m| m.as_string()).unwrap_or_default()
}

/// `read(at)` over `bytes`, `pull` bytes at a time (what the worker's FileReaderSync does).
fn reader(bytes: &[u8], pull: u32) -> js_sys::Function {
    let make = js_sys::Function::new_with_args(
        "data, n",
        "return (at) => at < data.length ? data.subarray(at, at + n) : null",
    );
    let data = js_sys::Uint8Array::from(bytes);
    make.call2(&JsValue::NULL, &data, &JsValue::from(pull)).expect("makes a reader").into()
}

/// `text` pushed in `piece`-byte pieces (reading on in between), then finished.
fn pushed(text: &[u8], piece: usize, pull: u32) -> Result<String, String> {
    let mut ev = StreamEvaluation::new("t.csv", reader(text, pull), JsValue::UNDEFINED, None).map_err(message)?;
    for part in text.chunks(piece) {
        ev.push(part.to_vec()).map_err(message)?;
    }
    ev.finish().map_err(message)
}

/// A file pushed in pieces gives the report the whole file gives, over more than the bytes
/// the evaluation holds back between pushes; a row longer than that is pulled (`read(at)`)
/// and its pushed copy dropped; an error is a JsError, and so is any call after it.
#[wasm_bindgen_test]
fn pushed_files_give_the_whole_files_report() {
    let mut text = String::from("row_id,y_true,score\n");
    for i in 0..60_000u32 {
        // one row longer than the 1 MiB held back, so the reader runs dry in the middle of it
        let id = if i == 30_000 { "x".repeat(3 << 20) } else { format!("r{i}") };
        text.push_str(&format!("{id},{},{}\n", i % 2, f64::from(i % 97) / 97.0));
    }
    let whole = evaluate_predictions("t.csv", text.as_bytes(), JsValue::UNDEFINED, None).map_err(message);
    assert!(whole.as_ref().is_ok_and(|j| j.contains("roc_auc_score")), "{whole:?}");
    for (piece, pull) in [(1 << 16, 4 << 20), (1000, 777), (text.len(), 1 << 16)] {
        assert_eq!(pushed(text.as_bytes(), piece, pull), whole, "pieces of {piece}, pulls of {pull}");
    }
    let bad = format!("{text}x,1,abc\n");
    let got = pushed(bad.as_bytes(), 1 << 16, 1 << 20);
    assert!(got.as_ref().is_err_and(|e| e.contains("not a number")), "{got:?}");
    let mut ev =
        StreamEvaluation::new("t.csv", reader(b"", 1), JsValue::UNDEFINED, None).map_err(message).expect("made");
    let first = ev.finish().map_err(message);
    assert!(first.as_ref().is_err_and(|e| e.contains("empty")), "{first:?}");
    let again = ev.push(b"y_true,y_pred\n1,1\n".to_vec()).map_err(message);
    assert!(again.as_ref().is_err_and(|e| e.contains("stopped")), "{again:?}");
}

/// Options as the page passes them (JSON text here).
fn options(json: &str) -> JsValue {
    js_sys::JSON::parse(json).expect("options parse")
}

/// `text` read in parts as the page's workers read it: helper readers' chunks offered out of
/// order (the last first), every third chunk read by the merging side itself.
fn split(text: &[u8], opts: &str, helpers: usize) -> Result<Option<String>, String> {
    let size = text.len() as f64;
    let Some(mut merge) = SplitRead::open("t.csv", reader(text, 1 << 12), options(opts), size).map_err(message)? else {
        return Ok(None);
    };
    let readers: Vec<SplitRead> = (0..helpers)
        .map(|_| SplitRead::open("t.csv", reader(text, 777), options(opts), size).map(|r| r.expect("splits")))
        .collect::<Result<_, _>>()
        .map_err(message)?;
    merge.read_start(None).map_err(message)?;
    let (first, count) = (merge.first(), merge.count());
    let mut offered = Vec::new();
    for k in (first..count).rev() {
        if k % 3 == 0 {
            merge.read_chunk(k).map_err(message)?;
        } else {
            // a buffer sent back after an offer: one that fits (written into), one that does not
            let spare = js_sys::Uint8Array::new_with_length(if k % 2 == 0 { 1 << 20 } else { 16 });
            offered.push(readers[k as usize % helpers].chunk_state(k, Some(spare)).map_err(message)?.to_vec());
        }
    }
    for bytes in &offered {
        merge.offer(bytes).map_err(message)?;
        merge.advance().map_err(message)?;
    }
    assert!(merge.advance().map_err(message)?, "every chunk is in");
    merge.finish().map(Some).map_err(message)
}

/// A file read in parts by several workers gives the one-worker report byte for byte (with
/// intervals too, whose draws depend on the chunks), also when a quoted field holds the
/// newline a chunk's start was guessed from; a bad row's error names its file line as one
/// reader's does; a file under two chunks is not split.
#[wasm_bindgen_test]
fn split_reads_give_the_one_worker_report() {
    let mut text = String::from("id,y_true,prob_a,prob_b,prob_c\n");
    for i in 0..20_000u32 {
        let p = f64::from(i % 89) / 178.0;
        // a quoted id with a newline every so often: some chunks' guessed starts fall inside one
        let id = if i % 97 == 5 { format!("\"r{i}\nmore\"") } else { format!("r{i}") };
        text.push_str(&format!("{id},{},{p},{},{}\n", ["a", "b", "c"][(i % 3) as usize], 0.5 - p / 2.0, 0.5 - p / 2.0));
    }
    // (past a small score budget too: the merge bins the decoded chunks' rows into its sketches)
    let opts = [
        r#"{"chunkBytes":4096}"#,
        r#"{"chunkBytes":10000,"ci":0.9,"ciReplicates":20}"#,
        r#"{"chunkBytes":4096,"scoreBudget":3000}"#,
    ];
    for opts in opts {
        let one = pushed_with(text.as_bytes(), opts);
        assert!(one.as_ref().is_ok_and(|j| j.contains("roc_auc_score")), "{one:?}");
        for helpers in [1, 3] {
            assert_eq!(split(text.as_bytes(), opts, helpers).map(Option::unwrap), one, "{opts}, {helpers} helpers");
        }
    }
    // the file's size as a hint, past the budget: binned from the first chunk on, the same
    // report; a hint that overstates the rows of a file under the budget: the error the
    // worker reads the file again on
    let hinted =
        |budget: usize, hint: usize| format!(r#"{{"chunkBytes":4096,"scoreBudget":{budget},"sizeHint":{hint}}}"#);
    let one = pushed_with(text.as_bytes(), r#"{"chunkBytes":4096,"scoreBudget":3000}"#);
    let early = hinted(3000, text.len());
    assert_eq!(pushed_with(text.as_bytes(), &early), one);
    assert_eq!(split(text.as_bytes(), &early, 2).map(Option::unwrap), one);
    let over = hinted(70_000, text.len() * 10);
    for got in [pushed_with(text.as_bytes(), &over), split(text.as_bytes(), &over, 2).map(Option::unwrap)] {
        assert!(got.as_ref().is_err_and(|e| e.contains("read it again without a size hint")), "{got:?}");
    }
    let bad = format!("{text}x,a,0.1,abc,0.2\n{}", "r,b,0.1,0.2,0.7\n".repeat(2_000));
    let opts = r#"{"chunkBytes":4096}"#;
    let one = pushed_with(bad.as_bytes(), opts);
    assert!(one.as_ref().is_err_and(|e| e.contains("not a number") && e.contains("line")), "{one:?}");
    assert_eq!(split(bad.as_bytes(), opts, 2).map(Option::unwrap), one);
    assert_eq!(split(text.as_bytes(), r#"{"chunkBytes":1000000}"#, 1), Ok(None));
    let damaged = SplitRead::open("t.csv", reader(text.as_bytes(), 1 << 12), options(opts), text.len() as f64)
        .map_err(message)
        .expect("opens")
        .expect("splits")
        .offer(&[9, 9, 9])
        .map_err(message);
    assert!(damaged.is_err_and(|e| e.contains("damaged")));
}

/// `text` through a `StreamEvaluation` with `opts`, pushed in 64 KiB pieces.
fn pushed_with(text: &[u8], opts: &str) -> Result<String, String> {
    let mut ev = StreamEvaluation::new("t.csv", reader(text, 1 << 16), options(opts), None).map_err(message)?;
    for part in text.chunks(1 << 16) {
        ev.push(part.to_vec()).map_err(message)?;
    }
    ev.finish().map_err(message)
}

/// The row parse's simd128 paths (the line scan and the 16-byte number parse) are what the
/// page runs; the native tests cover the SSE2/SSSE3 ones. Random fields of the usual shape
/// and near misses, read through the CSV reader, equal `str::parse` bit for bit.
#[wasm_bindgen_test]
fn simd128_row_parse_reads_numbers_as_std_does() {
    use webeval::data::{csv::Records, Record};
    use webeval::metrics::ci::SplitMix64;
    let mut rng = SplitMix64::new(7);
    let alphabet = b"0123456789.-+eE x";
    let mut text = String::from("a,b,c,d,e\n");
    let mut want = Vec::new();
    for _ in 0..4_000 {
        let mut fields = Vec::new();
        for _ in 0..5 {
            let r = rng.next_u64();
            let mut f = String::new();
            if r.is_multiple_of(7) {
                f.push('-');
            }
            for _ in 0..(r >> 3) % 4 {
                f.push(char::from(b'0' + (rng.next_u64() % 10) as u8));
            }
            f.push('.');
            for _ in 0..(r >> 5) % 19 {
                f.push(char::from(b'0' + (rng.next_u64() % 10) as u8));
            }
            if (r >> 10).is_multiple_of(5) && !f.is_empty() {
                // a near miss: one byte swapped for another that can appear in numbers
                let at = (rng.next_u64() % f.len() as u64) as usize;
                let c = char::from(alphabet[(rng.next_u64() % alphabet.len() as u64) as usize]);
                f.replace_range(at..at + 1, &c.to_string());
            }
            want.push(f.trim().parse::<f64>().ok().map(f64::to_bits));
            fields.push(f);
        }
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    let bytes = text.as_bytes();
    let mut records = Records::new("t.csv", bytes, bytes).unwrap();
    let (mut record, mut got, mut row) = (Record::default(), Vec::new(), Vec::new());
    while records.next_bytes(&mut record).unwrap().is_some() {
        for i in 0..record.len() {
            got.push(record.number(i).map(f64::to_bits));
        }
        // the whole row at once agrees where every field is a finite number
        row.clear();
        if record.numbers_into(&[0, 1, 2, 3, 4], &mut row) {
            let one: Vec<_> = (0..5).map(|i| record.number(i)).collect();
            assert_eq!(
                row.iter().map(|v| Some(v.to_bits())).collect::<Vec<_>>(),
                one.iter().map(|v| v.map(f64::to_bits)).collect::<Vec<_>>()
            );
        }
    }
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "field {k}");
    }
}
