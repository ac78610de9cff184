//! Strength sweeps along one trajectory ([`forsaken_models::Unlearner::sweep`] for knobs that
//! count steps or epochs): the method runs its longest strength once and hands each swept
//! strength the model it has when it gets there, timed up to that point with the visits left
//! out.

use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;

use forsaken_models::settings;
use forsaken_models::{ModelError, SweepVisit, UnlearnOutcome};

/// Progress of one sweep along a trajectory.
pub(crate) struct Trajectory<'v, 'a, B: AutodiffBackend> {
    targets: Vec<usize>,
    next: usize,
    start: Instant,
    excluded: f64,
    stopped: bool,
    visit: &'v mut SweepVisit<'a, B>,
}

impl<'v, 'a, B: AutodiffBackend> Trajectory<'v, 'a, B> {
    /// Sweep `strengths` (step or epoch counts: whole numbers >= 1, else an error naming
    /// `knob`); the clock starts now.
    pub(crate) fn new(strengths: &[f64], knob: &str, visit: &'v mut SweepVisit<'a, B>) -> Result<Self, ModelError> {
        let targets = strengths.iter().map(|&s| settings::count(knob, s)).collect::<Result<_, _>>()?;
        Ok(Self { targets, next: 0, start: Instant::now(), excluded: 0.0, stopped: false, visit })
    }

    /// The longest count asked for (`None`: nothing to sweep).
    pub(crate) fn last(&self) -> Option<usize> {
        self.targets.iter().max().copied()
    }

    /// After `done` steps or epochs: hand `make(done)` to every strength asking for `done`.
    /// Returns `false` once the visitor ends the sweep.
    pub(crate) fn at(&mut self, done: usize, make: impl Fn(usize) -> UnlearnOutcome<B>) -> Result<bool, ModelError> {
        while self.next < self.targets.len() && self.targets[self.next] == done {
            if !self.visit_now(make(done))? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The trajectory ended early (a divergence guard): a stand-alone run of the next strength
    /// ends the same way, and so would every stronger one, so visit that one outcome only.
    pub(crate) fn ended_early(&mut self, make: impl FnOnce(usize) -> UnlearnOutcome<B>) -> Result<(), ModelError> {
        if !self.stopped && self.next < self.targets.len() {
            let o = make(self.targets[self.next]);
            self.visit_now(o)?;
        }
        Ok(())
    }

    fn visit_now(&mut self, o: UnlearnOutcome<B>) -> Result<bool, ModelError> {
        let secs = (self.start.elapsed().as_secs_f64() - self.excluded).max(0.0);
        let t = Instant::now();
        let go_on = (self.visit)(o, secs)?;
        self.excluded += t.elapsed().as_secs_f64();
        self.next += 1;
        self.stopped |= !go_on;
        Ok(go_on)
    }
}
