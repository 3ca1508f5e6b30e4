# Environment for every adapterflow entry point (sourced by runs/*.sh and .ci/run).
# Offline and quiet by default: no telemetry, no hub downloads, Prefect's embedded server given
# time to migrate a fresh SQLite database (~22 s here).
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120
export PREFECT_LOGGING_EXTRA_LOGGERS=adapterflow
export PREFECT_LOGGING_LEVEL=${PREFECT_LOGGING_LEVEL:-INFO}
# Core code logged outside a flow run (unit tests, the CLI) is not an error worth a warning.
export PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW=ignore
export HF_HUB_OFFLINE=1
export HF_DATASETS_OFFLINE=1
export TRANSFORMERS_NO_ADVISORY_WARNINGS=1
export DVC_NO_ANALYTICS=1
export TOKENIZERS_PARALLELISM=false
