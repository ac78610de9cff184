#!/usr/bin/env bash
# The Slurm recipe (scripts/slurm/) with GNU parallel on one or more machines: the artefact
# stage of every shard, then the cell stage, then the merge.
#   SHARDS=4 JOBS=2 SUITE=full FORSAKEN_ARGS="--data-dir /path/to/data" scripts/parallel.sh
# Add `--sshloginfile FILE` to PARALLEL_ARGS to spread the shards over machines that share the
# repository and the cache folder.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/slurm/common.sh
SHARDS="${SHARDS:-4}"; JOBS="${JOBS:-2}"
for stage in artefacts cells; do
  # shellcheck disable=SC2086
  parallel --halt now,fail=1 -j "$JOBS" ${PARALLEL_ARGS:-} \
    "$FORSAKEN" --quiet --cache-dir "$CACHE" $FORSAKEN_ARGS reproduce --suite "$SUITE" \
    --stage "$stage" --shard "{}/$SHARDS" --out "$OUT/shard-{}" ::: $(seq 1 "$SHARDS")
done
"$FORSAKEN" merge "$OUT"/shard-* --out "$OUT/merged"
