#!/usr/bin/env bash
# The HTTP API over every task's champion (`python -m adapterflow serve`), on 127.0.0.1:8000 by
# default (serve.host / serve.port in params.yaml). It picks up promote and rollback without a
# restart. Not to be confused with runs/serve.sh, which serves the Prefect deployments.
#   bash runs/api.sh                                   # http://127.0.0.1:8000 (OpenAPI: /openapi.json)
#   bash runs/api.sh --port 8100
#   ADAPTERFLOW_API_TOKEN=$(openssl rand -hex 32) bash runs/api.sh --host 0.0.0.0   # token required
set -euo pipefail
cd "$(dirname "$0")/.."
bash runs/setup.sh
source runs/env.sh
source .venv/bin/activate
exec python -m adapterflow serve "$@"
