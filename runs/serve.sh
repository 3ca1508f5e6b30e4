#!/usr/bin/env bash
# Scheduled mode, one command: a local Prefect server on 127.0.0.1 (started in the background if
# none answers), then the scrape (hourly) and retrain (nightly) deployments served from this
# checkout. Crons and timezone come from params.yaml (`schedule`). Stop serving with Ctrl-C; stop
# the server with `prefect server stop`.
#   bash runs/serve.sh                      # UI and API on http://127.0.0.1:4200
#   bash runs/serve.sh --every-s 300        # demo: both flows every 5 minutes
#   PREFECT_SERVER_PORT=4300 bash runs/serve.sh --flows retrain
set -euo pipefail
cd "$(dirname "$0")/.."
source runs/env.sh
source .venv/bin/activate
port="${PREFECT_SERVER_PORT:-4200}"
export PREFECT_API_URL="http://127.0.0.1:${port}/api"

healthy() {
  python - "$PREFECT_API_URL/health" <<'PY' 2>/dev/null
import sys, httpx
sys.exit(0 if httpx.get(sys.argv[1], timeout=2).status_code == 200 else 1)
PY
}

if ! healthy; then
  echo "starting prefect server on 127.0.0.1:${port} (stop it with: prefect server stop)"
  prefect server start --host 127.0.0.1 --port "$port" --background
  for _ in $(seq 1 180); do   # a fresh SQLite database migrates for ~20 s
    healthy && break
    sleep 1
  done
  healthy || { echo "prefect server not healthy after 180 s at $PREFECT_API_URL" >&2; exit 1; }
fi
echo "serving scrape + retrain against $PREFECT_API_URL (UI: http://127.0.0.1:${port})"
exec python -m flows.serve "$@"
