#!/usr/bin/env bash
# Submit the whole reproduction as three dependent jobs: an artefact job array, a cell job
# array that starts after it succeeded (afterok), and a merge job after that.
#   SHARDS=8 SUITE=full FORSAKEN_ARGS="--data-dir /path/to/data" scripts/slurm/submit.sh
# Run from the repository root; prints the three job ids.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/slurm/common.sh
SHARDS="${SHARDS:-4}"
artefacts=$(sbatch --parsable --export=ALL --array="1-$SHARDS" scripts/slurm/artefacts.sbatch)
cells=$(sbatch --parsable --export=ALL --array="1-$SHARDS" --dependency="afterok:$artefacts" scripts/slurm/cells.sbatch)
merge=$(sbatch --parsable --export=ALL --dependency="afterok:$cells" scripts/slurm/merge.sbatch)
echo "artefacts $artefacts, cells $cells, merge $merge -> $OUT/merged/REPORT.md"
