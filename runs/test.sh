#!/usr/bin/env bash
# The test suite: set up the environment, then run pytest (unit, data, flows, dashboard, e2e).
#   bash runs/test.sh            # everything, slow tests included
#   bash runs/test.sh -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."
bash runs/setup.sh
source runs/env.sh
source .venv/bin/activate
python -m pytest "$@"
