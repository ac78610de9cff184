//! Result tables, built with polars from the run records:
//! * `summary.csv`: one row per dataset, model and method; mean and `<col>_std` over seeds of
//!   every metric, with per-oracle columns `fr.<oracle>`, `fr_retained.<oracle>`,
//!   `selectivity.<oracle>`, `ret_vs_forget_auc.<oracle>` (the names of docs/protocol.md, "Metrics
//!   per run");
//! * `summary.md`: the original models with every oracle's strength, the headline table under
//!   the reporting oracle with the selectivity block, and FR under every oracle.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use polars::prelude::*;

use crate::io::write_atomic;
use crate::record::RunRecord;

fn oracle_ids(records: &[RunRecord]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in forsaken_mia::oracle_ids() {
        if records.iter().any(|r| r.oracles.contains_key(id)) {
            ids.push(id.to_string());
        }
    }
    ids
}

/// Flatten records into a DataFrame, one row per record (accuracies and FR in percent).
pub fn records_frame(records: &[RunRecord]) -> Result<DataFrame> {
    let pct = |f: &dyn Fn(&RunRecord) -> f64| records.iter().map(|r| 100.0 * f(r)).collect::<Vec<f64>>();
    let mut cols: Vec<Column> = vec![
        Column::new("dataset".into(), records.iter().map(|r| r.dataset.clone()).collect::<Vec<_>>()),
        Column::new("model".into(), records.iter().map(|r| r.model.clone()).collect::<Vec<_>>()),
        Column::new("forget".into(), records.iter().map(|r| r.forget.clone()).collect::<Vec<_>>()),
        Column::new("method".into(), records.iter().map(|r| r.method.clone()).collect::<Vec<_>>()),
        Column::new("seed".into(), records.iter().map(|r| r.seed as i64).collect::<Vec<_>>()),
        Column::new("acc_forget".into(), pct(&|r| r.acc_forget)),
        Column::new("acc_retain".into(), pct(&|r| r.acc_retain)),
        Column::new("acc_test".into(), pct(&|r| r.acc_test)),
        Column::new("acc_loss".into(), pct(&|r| r.orig_acc_test - r.acc_test)),
        Column::new("top_prob_test".into(), pct(&|r| r.mean_top_prob_test)),
        Column::new("seconds".into(), records.iter().map(|r| r.seconds).collect::<Vec<_>>()),
        Column::new("search_seconds".into(), records.iter().map(|r| r.search_seconds).collect::<Vec<Option<f64>>>()),
        Column::new("speedup".into(), records.iter().map(|r| r.retrain_seconds / r.seconds.max(1e-9)).collect::<Vec<_>>()),
        Column::new("gap_retrain".into(), records.iter().map(|r| gap_to_retrain(r, records)).collect::<Vec<Option<f64>>>()),
        Column::new("steps".into(), records.iter().map(|r| r.steps as f64).collect::<Vec<_>>()),
        Column::new("strength".into(), records.iter().map(|r| r.strength).collect::<Vec<_>>()),
        Column::new("orig_train_acc".into(), pct(&|r| r.orig_acc_train)),
        Column::new("orig_test_acc".into(), pct(&|r| r.orig_acc_test)),
        Column::new("orig_acc_forget".into(), pct(&|r| r.orig_acc_forget)),
        Column::new("n_forget".into(), records.iter().map(|r| r.n_forget as f64).collect::<Vec<_>>()),
        Column::new(
            "stopping_oracle".into(),
            records.iter().map(|r| r.stopping_oracle.clone().unwrap_or_else(|| "-".into())).collect::<Vec<_>>(),
        ),
    ];
    for id in oracle_ids(records) {
        let v = |f: &dyn Fn(&crate::record::OracleView) -> Option<f64>, scale: f64| {
            records.iter().map(|r| r.oracles.get(&id).and_then(f).map(|x| x * scale)).collect::<Vec<Option<f64>>>()
        };
        cols.push(Column::new(format!("fr.{id}").into(), v(&|o| o.fr, 100.0)));
        cols.push(Column::new(format!("fr_ci_low.{id}").into(), v(&|o| o.fr_ci_low, 100.0)));
        cols.push(Column::new(format!("fr_ci_high.{id}").into(), v(&|o| o.fr_ci_high, 100.0)));
        cols.push(Column::new(format!("fr_retained.{id}").into(), v(&|o| o.fr_retained, 100.0)));
        cols.push(Column::new(format!("selectivity.{id}").into(), v(&|o| o.selectivity, 1.0)));
        cols.push(Column::new(format!("ret_vs_forget_auc.{id}").into(), v(&|o| o.ret_vs_forget_auc, 1.0)));
        let s = |f: &dyn Fn(&forsaken_metrics::OracleStrength) -> Option<f64>| {
            records.iter().map(|r| r.oracle_strength.get(&id).and_then(f)).collect::<Vec<Option<f64>>>()
        };
        cols.push(Column::new(format!("oracle_auc.{id}").into(), s(&|o| Some(o.auc))));
        cols.push(Column::new(format!("oracle_bal_acc.{id}").into(), s(&|o| Some(100.0 * o.balanced_accuracy))));
        cols.push(Column::new(format!("oracle_tpr_1pct.{id}").into(), s(&|o| o.tpr_at_1pct_fpr.map(|v| 100.0 * v))));
        cols.push(Column::new(format!("oracle_tpr_0_1pct.{id}").into(), s(&|o| o.tpr_at_0_1pct_fpr.map(|v| 100.0 * v))));
        cols.push(Column::new(format!("oracle_advantage.{id}").into(), s(&|o| Some(o.advantage))));
    }
    Ok(DataFrame::new(records.len(), cols)?)
}

/// Gap to retrain (docs/protocol.md, "Metrics per run"), in points: the mean absolute difference
/// from the retrained model of the same group over UA, RA, TA and the reporting oracle's member
/// rate on D_u.
fn gap_to_retrain(r: &RunRecord, records: &[RunRecord]) -> Option<f64> {
    let rt = records.iter().find(|x| {
        x.method == crate::methods::reference() && x.dataset == r.dataset && x.model == r.model && x.seed == r.seed && x.forget == r.forget
    })?;
    let oracle = r.config.get("reporting_oracle").and_then(|v| v.as_str()).unwrap_or("shadow");
    let rate = |x: &RunRecord| x.oracles.get(oracle).map(|v| v.members_after as f64 / x.n_forget.max(1) as f64);
    let d = [
        (r.acc_forget - rt.acc_forget).abs(),
        (r.acc_retain - rt.acc_retain).abs(),
        (r.acc_test - rt.acc_test).abs(),
        (rate(r)? - rate(rt)?).abs(),
    ];
    Some(100.0 * d.iter().sum::<f64>() / d.len() as f64)
}

/// Mean (and `<col>_std`) over seeds per dataset, model, forget set and method.
pub fn summary_frame(records: &[RunRecord]) -> Result<DataFrame> {
    let df = records_frame(records)?;
    let keys = ["dataset", "model", "forget", "method", "seed", "stopping_oracle"];
    let mut aggs: Vec<Expr> = vec![col("seed").n_unique().alias("seeds"), col("stopping_oracle").first()];
    for c in df.get_column_names() {
        let c = c.as_str();
        if keys.contains(&c) {
            continue;
        }
        aggs.push(col(c).mean().alias(c));
        aggs.push(col(c).std(1).alias(format!("{c}_std")));
    }
    let out = df
        .lazy()
        .group_by([col("dataset"), col("model"), col("forget"), col("method")])
        .agg(aggs)
        .sort(["dataset", "model", "forget", "method"], Default::default())
        .collect()?;
    Ok(out)
}

pub(crate) fn f64_at(df: &DataFrame, name: &str, i: usize) -> Option<f64> {
    df.column(name).ok()?.as_materialized_series().f64().ok()?.get(i).filter(|v| v.is_finite())
}

pub(crate) fn str_at(df: &DataFrame, name: &str, i: usize) -> String {
    df.column(name).ok().and_then(|c| c.as_materialized_series().str().ok().and_then(|s| s.get(i).map(str::to_string))).unwrap_or_default()
}

pub(crate) fn fmt_ms(df: &DataFrame, name: &str, i: usize, digits: usize) -> String {
    match f64_at(df, name, i) {
        None => "n/a".into(),
        Some(m) => match f64_at(df, &format!("{name}_std"), i) {
            Some(s) if s > 0.0 => format!("{m:.digits$} ± {s:.digits$}"),
            _ => format!("{m:.digits$}"),
        },
    }
}

/// Method order in tables: the registry's (the reference first, then the masking methods).
fn method_rank(m: &str) -> usize {
    crate::methods::rank(m)
}

/// Write `summary.csv` and `summary.md` under `dir`.
pub fn write_summary(records: &[RunRecord], dir: &Path, reporting: &str) -> Result<()> {
    if records.is_empty() {
        anyhow::bail!("no run records to summarise in {}", dir.display());
    }
    let mut df = summary_frame(records)?;
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv).finish(&mut df).map_err(|e| anyhow::anyhow!("writing summary.csv: {e}"))?;
    write_atomic(&dir.join("summary.csv"), &csv)?;

    let rows = table_order(&df);
    let ids = oracle_ids(records);
    let mut md = String::new();
    write_legend(&mut md, records, dir, reporting)?;
    write_oracle_strengths(&mut md, &df, &rows, &ids)?;
    write_unlearning(&mut md, records, &df, &rows, reporting)?;
    write_every_oracle(&mut md, &df, &rows, &ids)?;
    writeln!(md, "\nStop reasons (per record):\n")?;
    for r in records {
        writeln!(md, "* {} / {} / seed {} / {} / {}: {}", r.dataset, r.model, r.seed, r.forget, r.method, r.stop_reason)?;
    }
    write_atomic(&dir.join("summary.md"), md.as_bytes())?;
    Ok(())
}

/// The summary frame's row indices in table order: dataset, model, forget set, then the
/// registry's method order.
fn table_order(df: &DataFrame) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..df.height()).collect();
    rows.sort_by_key(|&i| {
        (str_at(df, "dataset", i), str_at(df, "model", i), str_at(df, "forget", i), method_rank(&str_at(df, "method", i)))
    });
    rows
}

/// The stopping oracle of the first record that has one.
fn stopping_oracle(records: &[RunRecord]) -> Option<String> {
    records.iter().find_map(|r| r.stopping_oracle.clone())
}

/// `dataset | model | forget | method` of a summary row, the key cells of its tables.
fn key_cells(df: &DataFrame, i: usize) -> String {
    format!("{} | {} | {} | {}", str_at(df, "dataset", i), str_at(df, "model", i), str_at(df, "forget", i), str_at(df, "method", i))
}

/// The title, where the numbers come from, and what each column means.
fn write_legend(md: &mut String, records: &[RunRecord], dir: &Path, reporting: &str) -> std::fmt::Result {
    let r0 = &records[0];
    writeln!(md, "# Summary: `{}`\n", dir.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default())?;
    writeln!(
        md,
        "Generated by `forsaken-repro` from `runs.jsonl` (code {}, backend `{}`, {} profile). Mean ± standard \
         deviation over seeds where there are several. Accuracies and forgetting rates in percent. This is our \
         setup (`docs/protocol.md`), not the paper's table.\n",
        r0.git_commit, r0.backend, r0.profile
    )?;
    writeln!(
        md,
        "* **FR** (forgetting rate, `docs/method.md`, \"Forgetting rate\") on the forget set D_u; `[a, b]` is its 95% bootstrap interval over D_u."
    )?;
    writeln!(
        md,
        "* **FR_r**: the same formula and oracle on the retained training data (up to 2,000 samples). Retraining keeps it near 0."
    )?;
    writeln!(md, "* **selectivity** = (FR - FR_r) / (FR(retrain) - FR_r(retrain)): 1 = forgets D_u as specifically as retraining, 0 = forgets everything equally; n/a when retraining's own gap is under 5 points.")?;
    writeln!(md, "* **ret-vs-forget AUC**: can the oracle's member score tell retained from forgotten samples after unlearning (0.5 = no; retraining: high).")?;
    writeln!(md, "* UA = 100 - accuracy on D_u; RA, TA = accuracy on retained and test data; `acc loss` = original TA - TA; `top prob` = mean top-class probability on test; `speed-up` = retrain seconds / method seconds.")?;
    writeln!(md, "* Methods that stop on a target FR use the **{}** oracle; the headline columns use the **{reporting}** oracle, so the reported FR is not the one optimized.\n", stopping_oracle(records).unwrap_or_else(|| "-".into()))
}

/// The original models with every oracle's strength, one row per dataset, model and oracle.
fn write_oracle_strengths(md: &mut String, df: &DataFrame, rows: &[usize], ids: &[String]) -> std::fmt::Result {
    writeln!(md, "## Original models and each oracle's strength (target_train vs target_test)\n")?;
    writeln!(md, "| dataset | model | train acc | test acc | oracle | AUC | bal. acc | TPR@1%FPR | TPR@0.1%FPR | advantage |")?;
    writeln!(md, "|---|---|---:|---:|---|---:|---:|---:|---:|---:|")?;
    let mut seen = std::collections::BTreeSet::new();
    for &i in rows {
        let key = (str_at(df, "dataset", i), str_at(df, "model", i));
        if !seen.insert(key.clone()) {
            continue;
        }
        for id in ids {
            let auc = f64_at(df, &format!("oracle_auc.{id}"), i).unwrap_or(f64::NAN);
            let flag = if auc < forsaken_mia::WEAK_ORACLE_AUC { " ⚠ cannot see membership here" } else { "" };
            writeln!(
                md,
                "| {} | {} | {} | {} | {id} | {}{flag} | {} | {} | {} | {} |",
                key.0,
                key.1,
                fmt_ms(df, "orig_train_acc", i, 1),
                fmt_ms(df, "orig_test_acc", i, 1),
                fmt_ms(df, &format!("oracle_auc.{id}"), i, 3),
                fmt_ms(df, &format!("oracle_bal_acc.{id}"), i, 1),
                fmt_ms(df, &format!("oracle_tpr_1pct.{id}"), i, 1),
                fmt_ms(df, &format!("oracle_tpr_0_1pct.{id}"), i, 1),
                fmt_ms(df, &format!("oracle_advantage.{id}"), i, 3),
            )?;
        }
    }
    Ok(())
}

/// Every summary row under the reporting oracle, with the stopping oracle's FR beside it.
fn write_unlearning(md: &mut String, records: &[RunRecord], df: &DataFrame, rows: &[usize], reporting: &str) -> std::fmt::Result {
    writeln!(md, "\n## Unlearning under the `{reporting}` oracle, with selectivity\n")?;
    let stopping = stopping_oracle(records).unwrap_or_else(|| "loss".into());
    writeln!(md, "`FR({stopping})` is the stopping oracle's FR, the one the strength search and the masking methods' stopping rule aim at {}%; `search s` is the whole strength search of a swept method (one trajectory for the step and epoch knobs, separate runs for `scale`), `seconds` the chosen strength as if run alone.\n", records.first().and_then(|r| r.config.get("target_fr")).and_then(|v| v.as_f64()).map_or("the target".into(), |v| format!("{:.0}", 100.0 * v)))?;
    writeln!(md, "| dataset | model | forget | method | strength | FR({stopping}) | FR [95% CI] | FR_r | selectivity | ret-vs-forget AUC | UA | RA | TA | acc loss | top prob | seconds | search s | speed-up |")?;
    writeln!(md, "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for &i in rows {
        writeln!(md, "{}", unlearning_row(df, i, &stopping, reporting))?;
    }
    Ok(())
}

/// One row of the unlearning table; FR carries its bootstrap interval when there is one.
fn unlearning_row(df: &DataFrame, i: usize, stopping: &str, reporting: &str) -> String {
    let ci = match (f64_at(df, &format!("fr_ci_low.{reporting}"), i), f64_at(df, &format!("fr_ci_high.{reporting}"), i)) {
        (Some(a), Some(b)) => format!(" [{a:.1}, {b:.1}]"),
        _ => String::new(),
    };
    let ua = f64_at(df, "acc_forget", i).map_or("n/a".into(), |v| format!("{:.1}", 100.0 - v));
    format!(
        "| {} | {} | {} | {}{ci} | {} | {} | {} | {ua} | {} | {} | {} | {} | {} | {} | {} |",
        key_cells(df, i),
        fmt_ms(df, "strength", i, 2),
        fmt_ms(df, &format!("fr.{stopping}"), i, 1),
        fmt_ms(df, &format!("fr.{reporting}"), i, 1),
        fmt_ms(df, &format!("fr_retained.{reporting}"), i, 1),
        fmt_ms(df, &format!("selectivity.{reporting}"), i, 2),
        fmt_ms(df, &format!("ret_vs_forget_auc.{reporting}"), i, 3),
        fmt_ms(df, "acc_retain", i, 1),
        fmt_ms(df, "acc_test", i, 1),
        fmt_ms(df, "acc_loss", i, 1),
        fmt_ms(df, "top_prob_test", i, 1),
        fmt_ms(df, "seconds", i, 2),
        fmt_ms(df, "search_seconds", i, 1),
        fmt_ms(df, "speedup", i, 1),
    )
}

/// FR on D_u, FR on retained and selectivity of every summary row under every oracle.
fn write_every_oracle(md: &mut String, df: &DataFrame, rows: &[usize], ids: &[String]) -> std::fmt::Result {
    writeln!(md, "\n## FR on D_u / FR on retained / selectivity under every oracle\n")?;
    write!(md, "| dataset | model | forget | method |")?;
    for id in ids {
        write!(md, " {id} |")?;
    }
    writeln!(md)?;
    writeln!(md, "|---|---|---|---|{}", "---:|".repeat(ids.len()))?;
    for &i in rows {
        write!(md, "| {} |", key_cells(df, i))?;
        for id in ids {
            write!(
                md,
                " {} / {} / {} |",
                fmt_ms(df, &format!("fr.{id}"), i, 1),
                fmt_ms(df, &format!("fr_retained.{id}"), i, 1),
                fmt_ms(df, &format!("selectivity.{id}"), i, 2)
            )?;
        }
        writeln!(md)?;
    }
    Ok(())
}
