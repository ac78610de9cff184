//! End-to-end tests of the `forsaken` command line: the tiny smoke suite (an MLP and a CNN on
//! an MNIST subset, seconds), resume, the train -> unlearn -> audit flow, and clear errors on
//! bad input. The backend comes from FORSAKEN_BACKEND (default flex).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_forsaken"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("FORSAKEN_DATA_DIR");
    c.arg("--quiet");
    c
}

fn repo_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("forsaken-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(o: Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "command failed ({}):\nstdout:\n{out}\nstderr:\n{err}", o.status);
    out
}

fn fails(o: Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "command should have failed; stderr: {err}");
    assert!(!err.contains("panicked"), "a bad input must give an error, not a panic: {err}");
    err
}

#[test]
fn help_explains_the_commands() {
    let out = ok(bin().arg("--help").output().unwrap());
    for word in ["train", "unlearn", "audit", "reproduce", "--backend", "--data-dir"] {
        assert!(out.contains(word), "--help lacks {word}:\n{out}");
    }
    // the typical use, one command a line
    assert!(out.lines().any(|l| l.trim() == "forsaken train --dataset location --out runs/loc"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "forsaken reproduce --quick"), "{out}");
    let out = ok(bin().args(["unlearn", "--help"]).output().unwrap());
    assert!(out.contains("class:3") && out.contains("--target-fr"), "{out}");
    // the method settings' flags come from the registry, each naming its methods
    assert!(out.contains("Method settings") && out.contains("--max-steps") && out.contains("--shards"), "{out}");
    assert!(out.contains("neggrad: optimizer steps (default 20)"), "{out}");
    let out = ok(bin().args(["reproduce", "--help"]).output().unwrap());
    assert!(out.contains("REPORT.md") && !out.contains("fr_vs_accuracy.svg"), "{out}");
}

// One end-to-end scenario (run, check every output, kill, resume) read top to bottom: longer than
// the house's ~80 lines because splitting it would scatter one story over helpers.
#[test]
fn smoke_suite_runs_end_to_end_and_resumes() {
    let out = tmp("smoke");
    let run = || {
        bin().args(["reproduce", "--suite", "smoke", "--no-cache", "--out"]).arg(&out).arg("--data-dir").arg(repo_data()).output().unwrap()
    };
    ok(run());
    for f in [
        "runs.jsonl",
        "summary.csv",
        "summary.md",
        "REPORT.md",
        "tables/T1_headline.csv",
        "tables/T2_matched_fr.md",
        "tables/T3_oracles.md",
        "tables/T4_forget_size.csv",
        "figures/F1_fr_vs_accuracy.svg",
        "figures/F1_fr_vs_accuracy.png",
        "figures/F2_forsaken_steps.svg",
        "figures/F3_roc.png",
        "figures/F4_time.svg",
        "roc/mnist-mlp-s0-random-10pct-shadow-forget-after-forsaken-w.csv",
        "splits/mnist-cnn-s0/forget-random-10pct.idx.txt",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let text = std::fs::read_to_string(out.join("runs.jsonl")).unwrap();
    let recs: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(recs.len(), 14, "2 models x 7 methods");
    for r in &recs {
        for key in ["oracles", "acc_forget", "acc_retain", "acc_test", "seconds", "config", "config_hash", "oracle_strength"] {
            assert!(r.get(key).is_some(), "record lacks {key}: {r}");
        }
        for oracle in ["shadow", "loss", "confidence", "entropy", "m-entropy", "lira"] {
            assert!(r["oracles"][oracle].get("fr_retained").is_some(), "no {oracle} view: {r}");
            assert!(r["oracle_strength"][oracle]["auc"].as_f64().is_some());
        }
        let acc = r["acc_test"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        // 10 classes: a trained model must beat chance clearly even in a smoke run (NegGrad's
        // ascent, swept until it forgets, may legitimately wreck the model)
        assert!(acc > 0.3 || r["method"] == "neggrad", "test accuracy {acc} of {} / {}", r["model"], r["method"]);
    }
    let fs: Vec<&serde_json::Value> = recs.iter().filter(|r| r["method"] == "forsaken" || r["method"] == "forsaken-w").collect();
    assert_eq!(fs.len(), 4);
    for r in fs {
        assert_eq!(r["stopping_oracle"].as_str(), Some("loss"));
        assert!(!r["trace"].as_array().unwrap().is_empty());
    }
    // the swept baseline keeps every point it tried, weakest first, and says how the search ended
    for r in recs.iter().filter(|r| r["method"] == "neggrad") {
        let pts: Vec<f64> = r["trace"].as_array().unwrap().iter().map(|p| p["values"]["strength"].as_f64().unwrap()).collect();
        assert!(!pts.is_empty() && pts.len() <= 2 && pts[0] == 2.0, "{pts:?}");
        assert!(r["search_seconds"].as_f64().is_some());
        let why = r["stop_reason"].as_str().unwrap();
        assert!(why.contains("swept strengths"), "{why}");
        assert!(pts.contains(&r["strength"].as_f64().unwrap()));
    }
    // SISA: an ensemble, its deployment training timed apart
    for r in recs.iter().filter(|r| r["method"] == "sisa") {
        assert!(r["setup_seconds"].as_f64().is_some_and(|s| s > 0.0), "{r}");
        assert!(r["stop_reason"].as_str().unwrap().contains("of 2 shards"));
    }
    // selectivity is defined against retrain: retrain's own is exactly 1 wherever defined
    for r in recs.iter().filter(|r| r["method"] == "retrain") {
        for (_, v) in r["oracles"].as_object().unwrap() {
            if let Some(s) = v["selectivity"].as_f64() {
                assert!((s - 1.0).abs() < 1e-9, "retrain selectivity {s}");
            }
        }
    }
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for row in [
        "| mnist | cnn | random-10pct | forsaken |",
        "| mnist | cnn | random-10pct | forsaken-w |",
        "| mnist | mlp | random-10pct | scale |",
        "| mnist | mlp | random-10pct | sisa |",
        "| mnist | mlp | random-10pct | neggrad |",
    ] {
        assert!(md.contains(row), "summary lacks {row}:\n{md}");
    }
    assert!(md.contains("selectivity") && md.contains("speed-up"));
    assert!(out.join("roc/mnist-mlp-s0-lira-original.csv").exists());
    let svg = std::fs::read_to_string(out.join("figures/F1_fr_vs_accuracy.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("forgetting rate"));
    let report = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    for needle in [
        "average FR > 90% (paper)",
        "faster than retraining (paper)",
        "selective",
        "T2. Every method at matched forgetting rate",
        "figures/F3_roc.svg",
    ] {
        assert!(report.contains(needle), "REPORT.md lacks {needle}:\n{report}");
    }
    assert!(report.contains("**met**") || report.contains("**missed**") || report.contains("not measurable"));

    // the run's wall time is kept beside the records: one invocation that computed them all
    let timing = std::fs::read_to_string(out.join("timing.json")).unwrap();
    let inv: Vec<serde_json::Value> = serde_json::from_str(&timing).unwrap();
    assert_eq!(inv.len(), 1, "{timing}");
    assert_eq!(inv[0]["records_computed"].as_u64().unwrap() as usize, text.lines().count(), "{timing}");
    assert!(report.contains("wall time:"), "REPORT.md lacks the wall time:\n{report}");

    // resume: a second run recomputes nothing (the records, timings included, are unchanged),
    // and keeps the first run's wall time for the report
    ok(run());
    assert_eq!(std::fs::read_to_string(out.join("runs.jsonl")).unwrap(), text);
    assert_eq!(std::fs::read_to_string(out.join("timing.json")).unwrap(), timing);
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn train_unlearn_audit_flow() {
    let dir = tmp("flow");
    let cache = dir.join("cache");
    let common = |c: &mut Command| {
        c.arg("--data-dir").arg(repo_data()).arg("--cache-dir").arg(&cache);
    };
    let mut c = bin();
    c.args(["train", "--dataset", "digits", "--epochs", "10", "--out"]).arg(dir.join("orig"));
    common(&mut c);
    let out = ok(c.output().unwrap());
    assert!(out.contains("train accuracy"), "{out}");
    let mut c = bin();
    c.args(["unlearn", "--method", "finetune", "--epochs", "1", "--forget", "class:3", "--model"])
        .arg(dir.join("orig"))
        .arg("--out")
        .arg(dir.join("ft"));
    common(&mut c);
    ok(c.output().unwrap());
    let forget = std::fs::read_to_string(dir.join("ft/forget.idx.txt")).unwrap();
    assert!(forget.lines().count() > 10);
    let mut c = bin();
    c.args(["audit", "--shadows", "2", "--before"])
        .arg(dir.join("orig"))
        .arg("--after")
        .arg(dir.join("ft"))
        .arg("--json")
        .arg(dir.join("audit.json"));
    common(&mut c);
    let out = ok(c.output().unwrap());
    assert!(out.contains("forgetting rate (shadow)") && out.contains("AUC") && out.contains("--retrained"), "{out}");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("audit.json")).unwrap()).unwrap();
    let auc = j["oracles"]["shadow"]["strength"]["auc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc));
    assert!(j["oracles"]["lira"]["after"].get("fr_retained").is_some());
    logits_give_the_audit_of_the_model(&dir, &common);
    // with a retrained model the audit reports selectivity
    let mut c = bin();
    c.args(["unlearn", "--method", "retrain", "--epochs", "10", "--forget", "class:3", "--model"])
        .arg(dir.join("orig"))
        .arg("--out")
        .arg(dir.join("rt"));
    common(&mut c);
    ok(c.output().unwrap());
    let mut c = bin();
    c.args(["audit", "--shadows", "2", "--oracle", "loss,shadow", "--before"])
        .arg(dir.join("orig"))
        .arg("--after")
        .arg(dir.join("rt"))
        .arg("--retrained")
        .arg(dir.join("rt"));
    common(&mut c);
    let out = ok(c.output().unwrap());
    assert!(out.contains("loss") && !out.contains("--retrained DIR"), "{out}");
    // SISA writes an ensemble, which audit reads back
    let mut c = bin();
    c.args(["unlearn", "--method", "sisa", "--shards", "2", "--forget", "class:3", "--model"])
        .arg(dir.join("orig"))
        .arg("--out")
        .arg(dir.join("sisa"));
    common(&mut c);
    let out = ok(c.output().unwrap());
    assert!(out.contains("of 2 shards") && dir.join("sisa/ensemble.json").exists(), "{out}");
    let mut c = bin();
    c.args(["audit", "--shadows", "2", "--oracle", "loss", "--before"]).arg(dir.join("orig")).arg("--after").arg(dir.join("sisa"));
    common(&mut c);
    ok(c.output().unwrap());
    let err = fails(bin().args(["unlearn", "--method", "nope", "--model", "x", "--out", "y"]).output().unwrap());
    assert!(err.contains("forsaken-w") && err.contains("sisa"), "{err}");
    weights_round_trip_through_export_and_import(&dir, &common);
    audit_pairs_must_belong_together(&dir, &common);
    receipts_verify_and_name_what_changed(&dir, &common);
    outputs_never_replace_a_model_silently(&dir, &common);
    std::fs::remove_dir_all(&dir).ok();
}

/// Run the binary with `args`, then each `(flag, path)`, with the test's common flags.
fn run_with(common: &dyn Fn(&mut Command), args: &[&str], paths: &[(&str, PathBuf)]) -> Output {
    let mut c = bin();
    c.args(args);
    for (flag, p) in paths {
        c.arg(flag).arg(p);
    }
    common(&mut c);
    c.output().unwrap()
}

/// `--out` is never the input model's folder, and a folder holding a model is replaced only
/// with `--force`, which leaves none of the old model's files behind.
fn outputs_never_replace_a_model_silently(dir: &Path, common: &dyn Fn(&mut Command)) {
    let run = |args: &[&str], paths: &[(&str, PathBuf)]| run_with(common, args, paths);
    let err =
        fails(run(&["unlearn", "--method", "finetune", "--epochs", "1"], &[("--model", dir.join("orig")), ("--out", dir.join("orig/"))]));
    assert!(err.contains("is the folder of the model it is made from"), "{err}");
    assert!(dir.join("orig/manifest.json").exists() && !dir.join("orig/forget.idx.txt").exists());
    let train = ["train", "--dataset", "digits", "--epochs", "1"];
    let err = fails(run(&train, &[("--out", dir.join("ft"))]));
    assert!(err.contains("already holds a model (unlearned on digits)") && err.contains("--force"), "{err}");
    assert!(dir.join("ft/receipt.json").exists(), "a refused write changes nothing");
    std::fs::write(dir.join("ft/notes.txt"), "mine").unwrap();
    ok(run(&[&train[..], &["--force"]].concat(), &[("--out", dir.join("ft"))]));
    for stale in ["forget.idx.txt", "receipt.json"] {
        assert!(!dir.join("ft").join(stale).exists(), "{stale} of the replaced model is left behind");
    }
    assert_eq!(std::fs::read_to_string(dir.join("ft/notes.txt")).unwrap(), "mine");
    assert_eq!(workflow_kind(&dir.join("ft")), "trained");
}

/// `audit` refuses pairs that cannot mean anything: the original given as the unlearned model,
/// an unlearned model given as the original, a "retrained" model made by another method.
fn audit_pairs_must_belong_together(dir: &Path, common: &dyn Fn(&mut Command)) {
    let audit = |before: &str, after: &str, extra: &[&str]| {
        let mut c = bin();
        c.args(["audit", "--shadows", "2", "--oracle", "loss", "--before"])
            .arg(dir.join(before))
            .arg("--after")
            .arg(dir.join(after))
            .args(extra);
        common(&mut c);
        fails(c.output().unwrap())
    };
    let err = audit("orig", "orig", &[]);
    assert!(err.contains("same weights"), "{err}");
    let err = audit("ft", "rt", &[]);
    assert!(err.contains("--before") && err.contains("`unlearned` model"), "{err}");
    let err = audit("orig", "ft", &["--retrained", dir.join("sisa").to_str().unwrap()]);
    assert!(err.contains("made by `sisa`, not `retrain`"), "{err}");
}

fn workflow_kind(dir: &Path) -> String {
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    m["kind"].as_str().unwrap().to_string()
}

/// `export` then `import` (with the original's members) gives a folder whose logits are the
/// original's to the bit and that `unlearn` accepts; a file standardized otherwise, and an
/// ensemble, are refused with the reason.
fn weights_round_trip_through_export_and_import(dir: &Path, common: &dyn Fn(&mut Command)) {
    let run = |args: &[&str], paths: &[(&str, PathBuf)]| run_with(common, args, paths);
    let out = ok(run(&["export"], &[("--model", dir.join("orig")), ("--out", dir.join("orig.safetensors"))]));
    assert!(out.contains("input.mean"), "{out}");
    let import = &[
        ("--weights", dir.join("orig.safetensors")),
        ("--members", dir.join("orig/splits/target_train.idx.txt")),
        ("--out", dir.join("imp")),
    ];
    let out = ok(run(&["import", "--dataset", "digits"], import));
    assert!(out.contains("imported") && out.contains("train accuracy"), "{out}");
    for (name, model) in [("orig.csv", "orig"), ("imp.csv", "imp")] {
        ok(run(&["predict"], &[("--model", dir.join(model)), ("--out", dir.join(name))]));
    }
    assert_eq!(std::fs::read_to_string(dir.join("imp.csv")).unwrap(), std::fs::read_to_string(dir.join("orig.csv")).unwrap());
    let out = ok(run(
        &["unlearn", "--method", "scale", "--factor", "0.5", "--forget", "5%", "--receipt-oracles", "loss,shadow"],
        &[("--model", dir.join("imp")), ("--out", dir.join("imp-s"))],
    ));
    assert!(out.contains("receipt:"), "{out}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("imp-s/receipt.json")).unwrap()).unwrap();
    assert_eq!(r["audit"].as_object().unwrap().keys().collect::<Vec<_>>(), ["loss", "shadow"]);
    let wrong = &[import[0].clone(), import[1].clone(), ("--out", dir.join("imp-wrong"))];
    let err = fails(run(&["import", "--dataset", "digits", "--hidden", "64"], wrong));
    assert!(err.contains("dense"), "{err}");
    let err = fails(run(&["export"], &[("--model", dir.join("sisa")), ("--out", dir.join("sisa.safetensors"))]));
    assert!(err.contains("SISA ensemble"), "{err}");
}

/// `unlearn` wrote a receipt whose verdict follows its own numbers; `verify-receipt` passes on
/// the untouched folders and names the file that changed.
fn receipts_verify_and_name_what_changed(dir: &Path, common: &dyn Fn(&mut Command)) {
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("ft/receipt.json")).unwrap()).unwrap();
    let fr = r["audit"]["shadow"]["fr"].as_f64();
    assert_eq!(r["verdict"].as_str().unwrap().starts_with("met"), fr.is_some_and(|f| f >= 0.9), "{r}");
    assert_eq!(
        r["forget_count"].as_u64().unwrap() as usize,
        std::fs::read_to_string(dir.join("ft/forget.idx.txt")).unwrap().lines().count()
    );
    assert!(r["audit"]["lira"]["counts"]["b_t"].is_u64() && r["method"] == "finetune", "{r}");
    let verify = || {
        let mut c = bin();
        c.args(["verify-receipt"]).arg(dir.join("ft/receipt.json")).arg("--model").arg(dir.join("ft"));
        common(&mut c);
        c.output().unwrap()
    };
    assert!(ok(verify()).contains("all 4 hashes match"));
    let weights = dir.join("ft/model.mpk");
    let mut bytes = std::fs::read(&weights).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let o = verify();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("MISMATCH  unlearned weights") && out.contains("ok        forget set"), "{out}");
    // and the changed weights are never loaded as if they were the model
    let mut c = bin();
    c.args(["audit", "--shadows", "2", "--oracle", "loss", "--before"]).arg(dir.join("orig")).arg("--after").arg(dir.join("ft"));
    common(&mut c);
    let err = fails(c.output().unwrap());
    assert!(err.contains("ft/model.mpk: the weights' SHA-256 differs from the manifest's"), "{err}");
    // a receipt that does not open says so
    let err = fails(bin().args(["verify-receipt", "--model"]).arg(dir.join("ft")).arg(dir.join("ft/manifest.json")).output().unwrap());
    assert!(err.contains("is not a deletion receipt"), "{err}");
}

/// The audit's saved logits layout, audited from logits alone, gives the model audit's numbers
/// exactly; `predict` writes the same logits the layout holds; bad input is named.
fn logits_give_the_audit_of_the_model(dir: &Path, common: &dyn Fn(&mut Command)) {
    let mut c = bin();
    c.args(["audit", "--shadows", "2", "--before"]).arg(dir.join("orig")).arg("--after").arg(dir.join("ft"));
    c.arg("--write-logits").arg(dir.join("logits")).arg("--json").arg(dir.join("model-audit.json"));
    common(&mut c);
    let out = ok(c.output().unwrap());
    assert!(out.contains("logits layout written"), "{out}");
    let c = bin()
        .args(["audit", "--shadows", "2", "--logits"])
        .arg(dir.join("logits"))
        .arg("--json")
        .arg(dir.join("logits-audit.json"))
        .output();
    let out = ok(c.unwrap());
    assert!(out.contains("shadow models") && out.contains("forgetting rate (shadow)"), "{out}");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(read("logits-audit.json"), read("model-audit.json"));
    // predict: every row of the dataset in the file's order, the logits the audit read
    let mut c = bin();
    c.args(["predict", "--model"]).arg(dir.join("orig")).arg("--out").arg(dir.join("p.npy"));
    common(&mut c);
    assert!(ok(c.output().unwrap()).contains("logits of 1797 rows x 10 classes"));
    let (p, shape) = forsaken_repro::logits::read_npy_floats(&dir.join("p.npy")).unwrap();
    assert_eq!(shape, vec![1797, 10]);
    let layout = forsaken_repro::logits::LogitsLayout::read(&dir.join("logits")).unwrap();
    for (r, &i) in layout.rows.as_ref().unwrap().iter().enumerate() {
        assert_eq!(&layout.original[r * 10..(r + 1) * 10], &p[i as usize * 10..(i as usize + 1) * 10], "row {i}");
    }
    let mut c = bin();
    c.args(["predict", "--dataset", "location", "--model"]).arg(dir.join("orig")).arg("--out").arg(dir.join("p.csv"));
    common(&mut c);
    let err = fails(c.output().unwrap());
    assert!(err.contains("trained on dataset `digits`, not `location`"), "{err}");
    std::fs::remove_file(dir.join("logits/shadow_keep.npy")).unwrap();
    let err = fails(bin().args(["audit", "--logits"]).arg(dir.join("logits")).output().unwrap());
    assert!(err.contains("shadow_keep.npy") && err.contains("docs/logits.md"), "{err}");
}

#[test]
fn imported_weights_must_expect_the_preprocessing_forsaken_feeds_them() {
    let dir = tmp("preprocessing");
    let run = |args: &[&str], paths: &[(&str, PathBuf)]| {
        let mut c = bin();
        c.args(args).arg("--data-dir").arg(repo_data()).arg("--cache-dir").arg(dir.join("cache"));
        for (flag, p) in paths {
            c.arg(flag).arg(p);
        }
        c.output().unwrap()
    };
    // breast-cancer's columns are standardized on the members
    ok(run(&["train", "--dataset", "breast-cancer", "--epochs", "2"], &[("--out", dir.join("bc"))]));
    ok(run(&["export"], &[("--model", dir.join("bc")), ("--out", dir.join("bc.safetensors"))]));
    let members = |file: PathBuf, out: &str| [("--weights", dir.join("bc.safetensors")), ("--members", file), ("--out", dir.join(out))];
    ok(run(&["import", "--dataset", "breast-cancer"], &members(dir.join("bc/splits/target_train.idx.txt"), "imp")));
    std::fs::write(dir.join("few.txt"), (0..40).map(|i| format!("{i}\n")).collect::<String>()).unwrap();
    let err = fails(run(&["import", "--dataset", "breast-cancer"], &members(dir.join("few.txt"), "imp2")));
    assert!(err.contains("input.mean") && err.contains("standardized on the members"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    // stdout is a pipe whose reading end is already closed: the first write fails
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = bin().arg("methods").stdout(writer).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert!(!o.status.success(), "the output was not written, so the command did not succeed");
}

#[test]
fn truncated_data_file_is_a_clear_error() {
    let dir = tmp("trunc");
    std::fs::create_dir_all(dir.join("digits")).unwrap();
    let full = std::fs::read(repo_data().join("digits/digits.csv.gz")).unwrap();
    std::fs::write(dir.join("digits/digits.csv.gz"), &full[..full.len() / 2]).unwrap();
    let err = fails(bin().args(["train", "--dataset", "digits", "--no-such-flag"]).output().unwrap());
    assert!(err.contains("--no-such-flag"), "{err}");
    let err = fails(bin().args(["train", "--dataset", "digits", "--out"]).arg(dir.join("o")).arg("--data-dir").arg(&dir).output().unwrap());
    assert!(err.contains("digits.csv.gz") && err.contains("offset"), "{err}");
    let err = fails(bin().args(["train", "--dataset", "nope", "--out"]).arg(dir.join("o")).output().unwrap());
    assert!(err.contains("unknown dataset `nope`"), "{err}");
    let err = fails(
        bin()
            .args(["train", "--dataset", "digits", "--out"])
            .arg(dir.join("o"))
            .arg("--data-dir")
            .arg(dir.join("missing"))
            .output()
            .unwrap(),
    );
    assert!(err.contains("FORSAKEN_DATA_DIR"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn suite_files_reject_unknown_keys() {
    let dir = tmp("suite");
    let p = dir.join("s.json");
    std::fs::write(&p, r#"{"name":"x","seeds":[0],"entries":[],"bogus":1}"#).unwrap();
    let err = fails(bin().args(["reproduce", "--suite"]).arg(&p).output().unwrap());
    assert!(err.contains("bogus") || err.contains("unknown field"), "{err}");
    let p = dir.join("s.toml");
    std::fs::write(&p, "name = \"x\"\nseeds = [0]\nforget = [\"10%\"]\nmethods = [\"retrain\"]\n[[entries]]\ndataset = \"digits\"\n[settings.forsaken-w]\nalpah = 3\n").unwrap();
    let err = fails(bin().args(["reproduce", "--suite"]).arg(&p).output().unwrap());
    assert!(err.contains("s.toml") && err.contains("alpah"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_is_a_clear_error() {
    let err = fails(bin().args(["--backend", "cuda", "datasets"]).output().unwrap());
    assert!(err.contains("--features cuda"), "{err}");
}

#[test]
fn users_own_csv_runs_through_train_unlearn_and_audit() {
    let dir = tmp("csv");
    let mut csv = String::from("age,colour,score,label\n");
    for i in 0..320 {
        let colour = ["red", "green", "blue"][i % 3];
        let label = if (i * 7 + i / 3) % 5 < 2 { "yes" } else { "no" };
        csv.push_str(&format!("{},{colour},{}.5,{label}\n", 20 + i % 50, (i * 13) % 97));
    }
    let path = dir.join("table.csv");
    std::fs::write(&path, csv).unwrap();
    let spec = format!("csv:{}", path.display());
    let cache = dir.join("cache");
    let out = ok(bin()
        .args(["train", "--dataset", &spec, "--label", "label", "--epochs", "20", "--out"])
        .arg(dir.join("m"))
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .unwrap());
    assert!(out.contains("train accuracy"), "{out}");
    ok(bin()
        .args(["unlearn", "--method", "scale", "--factor", "0.5", "--model"])
        .arg(dir.join("m"))
        .arg("--out")
        .arg(dir.join("s"))
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .unwrap());
    let out = ok(bin()
        .args(["audit", "--oracle", "loss,shadow", "--shadows", "2", "--before"])
        .arg(dir.join("m"))
        .arg("--after")
        .arg(dir.join("s"))
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .unwrap());
    assert!(out.contains("forgetting rate (shadow)"), "{out}");
    // the deletion audit of the same deletion: its forget set and method from --after
    let audit = |n: &str| {
        bin()
            .args(["audit", "--shadows", "2", "--examples", "20", "--against-retrain", n, "--before"])
            .arg(dir.join("m"))
            .arg("--after")
            .arg(dir.join("s"))
            .arg("--out")
            .arg(dir.join("audit"))
            .arg("--cache-dir")
            .arg(&cache)
            .output()
            .unwrap()
    };
    let err = fails(audit("8"));
    assert!(err.contains("--against-retrain 8") && err.contains("at least 16"), "{err}");
    let out = ok(audit("16"));
    for side in ["retrain control", "do-nothing control", "scale"] {
        assert!(out.contains(side), "{side}: {out}");
    }
    assert!(out.contains("N = 16 models per side") && out.contains("beside the retrain control's"), "{out}");
    let records = std::fs::read_to_string(dir.join("audit/audit.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 3, "the two controls and scale");
    assert!(dir.join("audit/audit").read_dir().unwrap().count() >= 6, "per-example and ROC exports of each side");
    std::fs::remove_dir_all(&dir).ok();
}

/// A record without what legitimately varies between runs: timings (wall clock), and the
/// per-point seconds of strength sweeps in the trace.
fn without_timings(line: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in ["seconds", "retrain_seconds", "search_seconds", "setup_seconds"] {
        o.remove(k);
    }
    if let Some(trace) = o.get_mut("trace").and_then(|t| t.as_array_mut()) {
        for p in trace {
            p["values"].as_object_mut().unwrap().remove("seconds");
        }
    }
    v
}

#[test]
fn a_killed_run_resumes_to_the_same_results_as_an_uninterrupted_one() {
    let dir = tmp("kill");
    let run = |out: &str, jobs: &str| {
        let mut c = bin();
        c.args(["--cache-dir"]).arg(dir.join(format!("cache-{out}"))).args(["reproduce", "--suite", "smoke", "--jobs", jobs, "--out"]);
        c.arg(dir.join(out)).arg("--data-dir").arg(repo_data());
        c
    };
    ok(run("a", "1").output().unwrap());
    let a: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("a/runs.jsonl")).unwrap().lines().map(without_timings).collect();

    // interrupted once some records exist (mid-run: later records, the tables and figures are
    // missing), then rerun, this time with two parallel jobs
    let mut child = run("b", "1").spawn().unwrap();
    let runs = dir.join("b/runs.jsonl");
    let t = std::time::Instant::now();
    while std::fs::read_to_string(&runs).map_or(0, |s| s.lines().count()) < 3 && t.elapsed().as_secs() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = std::fs::read_to_string(&runs).unwrap().lines().count();
    assert!(partial >= 3 && partial < a.len(), "killed after {partial} of {} records", a.len());
    ok(run("b", "2").output().unwrap());
    let b: Vec<serde_json::Value> = std::fs::read_to_string(&runs).unwrap().lines().map(without_timings).collect();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "records differ after the resumed run");
    }
    // timing.json keeps both parts: the killed one (what it had saved) and the resumed one,
    // which computed exactly the records that were missing
    let timing = std::fs::read_to_string(dir.join("b/timing.json")).unwrap();
    let inv: Vec<serde_json::Value> = serde_json::from_str(&timing).unwrap();
    assert_eq!(inv.len(), 2, "{timing}");
    let n = |i: usize| inv[i]["records_computed"].as_u64().unwrap() as usize;
    assert!(n(0) >= 1 && n(0) <= partial, "{timing}");
    assert_eq!(n(1), a.len() - partial, "{timing}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A suite file that is valid but for `extra` (TOML appended to it).
fn suite_with(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("bad.toml");
    let base = "name = \"x\"\nseeds = [0]\nforget = [\"10%\"]\nmethods = [\"retrain\"]\n";
    // top-level keys go before the entry (after it they would belong to it), tables after
    let (top, tables) = if extra.starts_with('[') { ("", extra) } else { (extra, "") };
    std::fs::write(&p, format!("{base}{top}\n[[entries]]\ndataset = \"digits\"\n{tables}\n")).unwrap();
    p
}

#[test]
fn bad_values_are_rejected_with_the_same_message_by_the_command_line_and_by_a_suite() {
    let dir = tmp("bad-values");
    let (model, out) = (dir.join("no-model"), dir.join("out"));
    let unlearn = |method: &str, flags: &[&str]| {
        let mut c = bin();
        c.args(["unlearn", "--method", method, "--model"]).arg(&model).arg("--out").arg(&out).args(flags);
        fails(c.output().unwrap())
    };
    let train = |flags: &[&str]| fails(bin().args(["train", "--dataset", "digits", "--out"]).arg(&out).args(flags).output().unwrap());
    let suite = |toml: &str| fails(bin().args(["reproduce", "--suite"]).arg(suite_with(&dir, toml)).output().unwrap());
    // (what the command line says, what the suite says, the message both must carry)
    let cases: Vec<(String, String, &str)> = vec![
        (unlearn("forsaken", &["--target-fr", "1.5"]), suite("target_fr = 1.5"), "setting `target_fr` = 1.5 is invalid: must be in (0, 1]"),
        (
            train(&["--epochs", "0"]),
            suite("[[entries]]\ndataset = \"location\"\nepochs = 0"),
            "setting `epochs` = 0 is invalid: must be an integer >= 1",
        ),
        (unlearn("finetune", &["--epochs", "0"]), suite("[settings.finetune]\nepochs = 0"), "setting `finetune.epochs` = 0 is invalid"),
        (unlearn("neggrad", &["--steps", "0"]), suite("[settings.neggrad]\nsteps = 0"), "setting `neggrad.steps` = 0 is invalid"),
        (unlearn("sisa", &["--shards", "0"]), suite("[settings.sisa]\nshards = 0"), "setting `sisa.shards` = 0 is invalid"),
        (unlearn("forsaken", &["--check-every", "0"]), suite("[settings.forsaken]\ncheck_every = 0"), "setting `forsaken.check_every` = 0"),
        (train(&["--batch-size", "0"]), suite("batch_size = 0"), "setting `batch_size` = 0 is invalid: must be an integer >= 1"),
        (train(&["--lr=-1"]), suite("lr = -1.0"), "setting `lr` = -1 is invalid: a learning rate must be finite and in (0, 1]"),
        (train(&["--lr", "1e10"]), suite("lr = 1e10"), "setting `lr` = 10000000000 is invalid"),
        (unlearn("forsaken", &["--shadows", "0"]), suite("[oracles.shadow]\nk = 0"), "setting `oracles.shadow.k` = 0 is invalid"),
        (
            unlearn("neggrad-plus", &["--beta", "2"]),
            suite("[settings.neggrad-plus]\nbeta = 2.0"),
            "setting `neggrad-plus.beta` = 2 is invalid",
        ),
        (unlearn("salun", &["--fraction", "0"]), suite("[settings.salun]\nfraction = 0.0"), "setting `salun.fraction` = 0 is invalid"),
    ];
    for (cli, from_suite, message) in &cases {
        assert!(cli.contains(message), "command line: expected `{message}` in:\n{cli}");
        assert!(from_suite.contains(message), "suite: expected `{message}` in:\n{from_suite}");
    }
    // only on the command line: parallel jobs, and audit's shadow count
    let err = fails(bin().args(["reproduce", "--jobs", "0", "--out"]).arg(&out).output().unwrap());
    assert!(err.contains("setting `jobs` = 0 is invalid: must be an integer >= 1"), "{err}");
    let err = fails(bin().args(["audit", "--shadows", "0", "--before"]).arg(&model).arg("--after").arg(&model).output().unwrap());
    assert!(err.contains("setting `oracles.shadow.k` = 0 is invalid"), "{err}");
    // a flag that does not apply to the method is an error, not silently ignored
    let err = unlearn("retrain", &["--steps", "5"]);
    assert!(err.contains("--steps does not apply to method `retrain`") && err.contains("--epochs"), "{err}");
    let err = unlearn("retrain", &["--target-fr", "0.5"]);
    assert!(err.contains("--target-fr does not apply to method `retrain`"), "{err}");
    // a type error names the setting too
    let err = unlearn("neggrad", &["--steps", "many"]);
    assert!(err.contains("setting `neggrad.steps` = \"many\""), "{err}");
    assert!(!out.exists(), "a rejected command must write nothing");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn smoke_in_three_shards_merged_equals_one_run_and_merge_refuses_what_does_not_fit() {
    let dir = tmp("shards");
    let reproduce = |out: &str, cache: &str, extra: &[&str]| {
        let mut c = bin();
        c.args(["reproduce", "--suite", "smoke", "--methods", "retrain,forsaken,scale", "--out"]).arg(dir.join(out));
        c.arg("--cache-dir").arg(dir.join(cache)).arg("--data-dir").arg(repo_data()).args(extra);
        ok(c.output().unwrap())
    };
    reproduce("single", "cache-single", &[]);
    for stage in ["artefacts", "cells"] {
        for k in 1..=3 {
            reproduce(&format!("shard{k}"), "cache-shared", &["--stage", stage, "--shard", &format!("{k}/3")]);
        }
    }
    let merge = |dirs: &[&str]| {
        let mut c = bin();
        c.arg("merge").args(dirs.iter().map(|d| dir.join(d))).arg("--out").arg(dir.join("merged"));
        c.output().unwrap()
    };
    let out = ok(merge(&["shard1", "shard2", "shard3"]));
    assert!(out.contains("merged 6 records from 3 folders"), "{out}");
    let read = |p: &str| forsaken_repro::runner::read_records(&dir.join(p).join("runs.jsonl")).unwrap();
    let (single, merged) = (read("single"), read("merged"));
    assert_eq!(single.len(), merged.len());
    let c = forsaken_repro::compare::compare(&single, &merged);
    assert!(c.identical(), "{c}");
    assert!(dir.join("merged/REPORT.md").exists());
    // what does not fit is refused, naming it
    let err = fails(merge(&["shard1", "shard2"]));
    assert!(err.contains("cells of the plan are in no folder"), "{err}");
    let err = fails(merge(&["shard1", "shard1", "shard2", "shard3"]));
    assert!(err.contains("in two folders"), "{err}");
    let mut c = bin();
    c.args(["reproduce", "--suite", "smoke", "--methods", "retrain", "--stage", "cells", "--shard", "1/3", "--out"]).arg(dir.join("other"));
    c.arg("--cache-dir").arg(dir.join("cache-shared")).arg("--data-dir").arg(repo_data());
    let _ = c.output().unwrap();
    let err = fails(merge(&["shard1", "other"]));
    assert!(err.contains("different plans"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
