//! Content-addressed resume: a rerun reuses exactly the records and cached models whose key
//! (data content, settings, code, backend) is unchanged, recomputes the others, and says why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{RunOptions, Suite, SuiteRun};

type B = burn::backend::Autodiff<burn::backend::Flex>;

/// A small 3-class table that an MLP memorizes; `tweak` changes one feature of one row.
fn table(dir: &Path, tweak: bool) -> PathBuf {
    use rand::{Rng, SeedableRng};
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut csv = String::from("a,b,c,d,e,f,label\n");
    for i in 0..260 {
        let row: Vec<String> =
            (0..6).map(|j| format!("{:.3}", if tweak && i == 5 && j == 0 { 9.0 } else { r.random_range(0.0..1.0f32) })).collect();
        csv.push_str(&format!("{},{}\n", row.join(","), r.random_range(0..3)));
    }
    let p = dir.join("table.csv");
    std::fs::write(&p, csv).unwrap();
    p
}

fn suite(csv: &Path, extra: &str) -> Suite {
    let text = format!(
        "name = \"resume\"\nseeds = [0]\nforget = [\"10%\"]\nmethods = [\"retrain\", \"neggrad\"]\nsweeps = {{}}\n\
         [oracles]\nids = [\"loss\", \"shadow\"]\n[oracles.shadow]\nk = 2\n{extra}\n\
         [[entries]]\ndataset = \"csv:{}\"\nmodel = \"mlp\"\nepochs = 3\n\
         sizes = {{ target_train = 60, target_test = 60, reference = 30, shadow = 100 }}\n",
        csv.display()
    );
    Suite::from_toml(&text, "resume test").unwrap()
}

fn run(suite: &Suite, dir: &Path, backend: &str) -> SuiteRun {
    crate::run_suite::<B>(suite, &options(dir, backend), &Default::default()).unwrap()
}

fn options(dir: &Path, backend: &str) -> RunOptions {
    RunOptions {
        data_dir: dir.into(),
        out_dir: dir.join("out"),
        cache_dir: Some(dir.join("cache")),
        backend: backend.into(),
        datasets: vec![],
        verbose: false,
        jobs: 1,
        stage: crate::plan::Stage::All,
        shard: None,
    }
}

fn why(run: &SuiteRun) -> BTreeMap<&str, usize> {
    run.recomputed.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

/// Cached models of one kind (one folder per key).
fn cached(dir: &Path, kind: &str) -> usize {
    std::fs::read_dir(dir.join("cache").join(kind)).map_or(0, |d| d.count())
}

#[test]
fn a_rerun_recomputes_exactly_what_changed_and_says_why() {
    let dir = std::env::temp_dir().join(format!("forsaken-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let csv = table(&dir, false);
    let first = run(&suite(&csv, ""), &dir, "flex");
    assert_eq!((first.reused, why(&first)), (0, BTreeMap::from([("new", 2)])));
    assert_eq!((cached(&dir, "targets"), cached(&dir, "pools")), (1, 1));
    // the plan computes, before any work, the very keys the run filed its records under
    let keys = crate::runner::plan_keys(&suite(&csv, ""), &options(&dir, "flex")).unwrap();
    for r in &first.records {
        let id = crate::plan::item_id(&r.dataset, &r.model, r.seed, &format!("{}/{}", r.forget, r.method));
        assert_eq!(keys.get(&id), r.identity.as_ref().map(|i| &i.key), "{id}");
    }

    // the same run: everything reused, no model trained again
    let again = run(&suite(&csv, ""), &dir, "flex");
    assert_eq!((again.reused, why(&again)), (2, BTreeMap::new()));
    assert_eq!(serde_json::to_string(&again.records).unwrap(), serde_json::to_string(&first.records).unwrap());

    // one method setting: that cell only; the target and the pool come from the cache
    let steps = suite(&csv, "[settings.neggrad]\nsteps = 7\n");
    let changed = run(&steps, &dir, "flex");
    assert_eq!((changed.reused, why(&changed)), (1, BTreeMap::from([("setting `settings.steps` changed", 1)])));
    assert_eq!((cached(&dir, "targets"), cached(&dir, "pools")), (1, 1));

    // another backend: every cell, and new target and pool entries
    let other = run(&steps, &dir, "flex-as-another-backend");
    assert_eq!((other.reused, why(&other)), (0, BTreeMap::from([("backend changed", 2)])));
    assert_eq!((cached(&dir, "targets"), cached(&dir, "pools")), (2, 2));

    // one byte of the data file: every cell and every model
    table(&dir, true);
    let data = run(&steps, &dir, "flex-as-another-backend");
    assert_eq!((data.reused, why(&data)), (0, BTreeMap::from([("data changed", 2)])));
    assert_eq!((cached(&dir, "targets"), cached(&dir, "pools")), (3, 3));
    std::fs::remove_dir_all(&dir).ok();
}
