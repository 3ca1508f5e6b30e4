#!/usr/bin/env bash
# Start the Streamlit dashboard on http://127.0.0.1:8501 (local only; .streamlit/config.toml).
#   bash runs/dashboard.sh                          # this project
#   ADAPTERFLOW_ROOT=/path/to/project bash runs/dashboard.sh
#   bash runs/dashboard.sh --server.port 8600       # extra flags go to `streamlit run`
set -euo pipefail
cd "$(dirname "$0")/.."
bash runs/setup.sh
source runs/env.sh
source .venv/bin/activate
exec streamlit run dashboard/streamlit_app.py "$@"
