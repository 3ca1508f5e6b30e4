#!/usr/bin/env bash
# The main job: set up the environment, then run the whole pipeline with DVC
# (scrape -> ... -> promote). Offline it scrapes nothing and seeds data/raw from the demo corpus.
#   bash runs/pipeline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash runs/setup.sh
source runs/env.sh
source .venv/bin/activate
if [ ! -d .git ]; then
  echo "run this from a git clone of adapterflow (DVC records every run in git-tracked dvc.lock)" >&2
  exit 2
fi
dvc repro "$@"
# What happened, per task: metrics with intervals, the gate's reasons, champion, next command.
python -m adapterflow summary
