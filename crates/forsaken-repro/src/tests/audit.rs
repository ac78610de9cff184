//! The deletion audit on small fixtures: the controls behave as docs/audit.md says they must (the
//! do-nothing control detected where the model memorizes, the retrain control never
//! distinguishable, no "indistinguishable" without power), the relearning reads no forgotten
//! row, and populations are deterministic and cached under their keys.

use forsaken_data::split::ForgetSplit;
use forsaken_data::{Dataset, ModelFamily, SplitSizes};
use forsaken_metrics::audit::Verdict;
use forsaken_models::{NetConfig, TrainConfig};

use crate::audit::{assess, AuditRecord, Context};
use crate::pipeline::{prepare, ExperimentSpec, Prepared};
use crate::population::{AuditSettings, Deletion, Population, DO_NOTHING, RETRAIN_CONTROL};

type B = burn::backend::Autodiff<burn::backend::Flex>;

/// `n` rows of `dim` features. `memorable`: random labels on binary noise, which an MLP can
/// only memorize. Otherwise the label is the arg-max of the first three features, which every
/// model learns and none needs to memorize.
fn dataset(n: usize, dim: usize, memorable: bool) -> Dataset {
    use rand::{Rng, SeedableRng};
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let features: Vec<f32> =
        (0..n * dim).map(|_| if memorable { f32::from(r.random_bool(0.2)) } else { r.random_range(-1.0..1.0f32) }).collect();
    let labels = (0..n)
        .map(|i| {
            let row = &features[i * dim..i * dim + 3];
            if memorable {
                r.random_range(0..3u32)
            } else {
                (0..3).max_by(|&a, &b| row[a].total_cmp(&row[b])).expect("three features") as u32
            }
        })
        .collect();
    Dataset::new("fixture", features, labels, vec![dim], 3).unwrap()
}

/// A prepared experiment. `memorable`: 120 members and an MLP of one hidden layer that fits
/// their random labels in `epochs`. Otherwise 400 members and a linear model trained in full
/// batches (so O and R take the same steps): one row moves it by a 400th of each step, far
/// less than its seed does.
fn experiment(memorable: bool, epochs: usize) -> Prepared {
    let (train, dim) = if memorable { (120, 24) } else { (400, 12) };
    let data = dataset(3 * train, dim, memorable);
    let mut net = NetConfig::for_family(ModelFamily::Mlp, &[dim], 3);
    net.hidden = if memorable { vec![64] } else { vec![] };
    let spec = ExperimentSpec {
        dataset: "fixture".into(),
        label: None,
        seed: 0,
        pool_limit: None,
        sizes: SplitSizes { target_train: train, target_test: train, reference: train / 2, shadow: Some(train / 2) },
        family: ModelFamily::Mlp,
        net,
        recipe: TrainConfig {
            epochs,
            batch_size: if memorable { 32 } else { 512 },
            lr: if memorable { 5e-3 } else { 1e-2 },
            seed: 0,
            early_stop_acc: None,
        },
        members: None,
    };
    prepare(spec, data).unwrap()
}

fn settings(models: usize) -> AuditSettings {
    serde_json::from_value(serde_json::json!({ "models": models, "examples": 40, "methods": [], "bootstrap": 300 })).unwrap()
}

/// D_u: 40 rows of target_train.
fn split(p: &Prepared) -> ForgetSplit {
    let spec = if p.splits.target_train.len() > 200 { "10%" } else { "33%" };
    spec.parse::<forsaken_data::ForgetSpec>().unwrap().select(&p.data, &p.splits.target_train, 0).unwrap()
}

fn target(p: &Prepared) -> forsaken_models::Net<B> {
    let fresh = forsaken_models::train::fresh::<B>(&p.spec.net, p.spec.seed, &Default::default()).unwrap();
    forsaken_models::train(fresh, &p.data, &p.splits.target_train, &p.spec.recipe, "fixture target").unwrap()
}

/// The two controls of one deletion, assessed.
fn controls(p: &Prepared, a: &AuditSettings, cache: Option<&std::path::Path>) -> (AuditRecord, AuditRecord, Population) {
    let (o, fs) = (target(p), split(p));
    let d = Deletion::new(p, &o, &fs, "25%".into(), a, cache, "flex");
    let (reference, control, _) = d.retrained().unwrap();
    let nothing = d.do_nothing().unwrap();
    let cx = Context::new(a, &d.rows, &p.data, &reference, None, [&nothing, &control]).unwrap();
    let (dn, _) = assess(&cx, DO_NOTHING, &nothing, d.identity(DO_NOTHING, None)).unwrap();
    let (rc, _) = assess(&cx, RETRAIN_CONTROL, &control, d.identity(RETRAIN_CONTROL, None)).unwrap();
    (dn, rc, reference)
}

#[test]
fn doing_nothing_is_detected_on_a_model_that_memorized_and_the_retrain_control_never_is() {
    let p = experiment(true, 150);
    let (dn, rc, _) = controls(&p, &settings(16), None);
    assert!(dn.test.auc > 0.9, "do-nothing AUC {} on a memorizing model", dn.test.auc);
    assert_eq!(dn.verdict, Verdict::Distinguishable);
    assert!(dn.identical && dn.capped == dn.examples, "doing nothing: N copies of O, every epsilon at the cap");
    assert!(rc.test.auc_low < 0.5 && 0.5 < rc.test.auc_high, "retrain control interval {:?} must cover 0.5", rc.test.ci());
    assert_ne!(rc.verdict, Verdict::Distinguishable);
    // the relearning gap of doing nothing: O still knows D_u, retraining does not
    assert!(dn.relearning.gap_before() > 0.3, "{:?}", dn.relearning);
    assert!(rc.relearning.gap_before().abs() < 0.3, "{:?}", rc.relearning);
}

#[test]
fn without_memorization_doing_nothing_is_inconclusive_not_indistinguishable() {
    let p = experiment(false, 20);
    let (dn, rc, _) = controls(&p, &settings(16), None);
    assert!(dn.test.auc_low <= 0.6, "the fixture must not memorize: do-nothing AUC {:?}", dn.test.ci());
    assert_eq!(dn.verdict, Verdict::Inconclusive, "{}", dn.reason);
    assert!(dn.reason.contains("no power") || dn.reason.contains("straddles"), "{}", dn.reason);
    assert_ne!(rc.verdict, Verdict::Indistinguishable, "no power, so no equivalence: {}", rc.reason);
}

#[test]
fn the_relearning_reads_no_forgotten_row_but_the_few_shot_ones() {
    let mut p = experiment(true, 2);
    let (o, fs) = (target(&p), split(&p));
    let a = settings(16);
    let rows = crate::population::AuditRows::draw(&fs, &p.splits.target_test, a.examples, 0);
    let dim = p.data.dim();
    let few: std::collections::BTreeSet<usize> = rows.few_shot.iter().copied().collect();
    for &i in fs.forget.iter().filter(|i| !few.contains(i)) {
        p.data.features[i * dim..(i + 1) * dim].fill(f32::NAN);
    }
    let d = Deletion::new(&p, &o, &fs, "25%".into(), &a, None, "flex");
    assert_eq!(d.rows.few_shot, rows.few_shot);
    // what each fine-tune trains on: D_r alone, and D_r with exactly the few-shot rows of D_u
    let [retain_only, with_few] = d.relearn_rows();
    assert!(retain_only.iter().all(|i| !fs.forget.contains(i)) && retain_only == fs.retain);
    let of_forget: Vec<usize> = with_few.iter().copied().filter(|i| fs.forget.contains(i)).collect();
    assert_eq!(of_forget, rows.few_shot);
    assert_eq!(rows.few_shot.len(), fs.forget.len().div_ceil(10));
    let r = d.relearn(o.clone(), 0).expect("a fine-tune that read a poisoned row would diverge");
    assert_eq!(r.curve.len(), a.relearn_epochs + 1);
    // the poison is loud: one poisoned retained row and the same relearning fails
    let i = fs.retain[0];
    p.data.features[i * dim] = f32::NAN;
    let d = Deletion::new(&p, &o, &fs, "25%".into(), &a, None, "flex");
    let err = d.relearn(o.clone(), 0).unwrap_err().to_string();
    assert!(err.contains("non-finite") || err.contains("NaN") || err.contains("diverged"), "{err}");
}

#[test]
fn populations_are_deterministic_by_seed_and_reused_from_the_cache_under_their_keys() {
    let p = experiment(true, 3);
    let (o, fs) = (target(&p), split(&p));
    let dir = std::env::temp_dir().join(format!("forsaken-audit-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let a = settings(16);
    let d = Deletion::new(&p, &o, &fs, "25%".into(), &a, Some(&dir), "flex");
    let (r1, c1, cached) = d.retrained().unwrap();
    assert!(!cached);
    assert_ne!(r1.views[0], c1.views[0], "the control's seeds are not R's");
    let files = || std::fs::read_dir(dir.join("audit")).unwrap().count();
    assert_eq!(files(), 1, "R and the control are one artefact");
    let (r2, c2, cached) = d.retrained().unwrap();
    assert!(cached && r2 == r1 && c2 == c1, "read back as written");
    // the same seeds without a cache: bit-identical models
    let fresh = Deletion::new(&p, &o, &fs, "25%".into(), &a, None, "flex");
    let (r3, _, _) = fresh.retrained().unwrap();
    assert_eq!(r3.views, r1.views);
    // another N is another key: computed, and cached beside the first
    let more = settings(18);
    let d18 = Deletion::new(&p, &o, &fs, "25%".into(), &more, Some(&dir), "flex");
    assert_ne!(d18.identity("retrained", None).key, d.identity("retrained", None).key);
    assert!(!d18.retrained().unwrap().2);
    assert_eq!(files(), 2);
    // a method's population: N runs with their own seeds, cached under the method's settings
    let settings = crate::methods::find("scale").unwrap().defaults();
    let (s1, cached) = d.unlearned("scale", &settings, Some(0.5), None).unwrap();
    assert!(!cached && s1.identical, "scale reads no data and no seed: N identical models");
    assert!(d.unlearned("scale", &settings, Some(0.5), None).unwrap().1);
    assert!(!d.unlearned("scale", &settings, Some(0.4), None).unwrap().1, "another strength, another key");
    std::fs::remove_dir_all(&dir).ok();
}
