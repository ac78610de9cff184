# Settings shared by the job scripts (sourced). Override any of them in the environment of
# `sbatch` (the scripts are submitted with --export=ALL).
SUITE="${SUITE:-full}"                               # a built-in suite or a suite file
OUT="${OUT:-results/cluster/$SUITE}"                  # one folder per shard under it, then merged/
CACHE="${CACHE:-results/cache}"                       # shared by every task: the artefacts' hand-over
FORSAKEN="${FORSAKEN:-./target/release/forsaken}"    # build it first: cargo build --release -p forsaken
FORSAKEN_ARGS="${FORSAKEN_ARGS:-}"                    # e.g. --data-dir /path/to/data --backend flex (docs/protocol.md, "Datasets")
