"""The Streamlit dashboard: `bash runs/dashboard.sh` (reads reports/, data/, the registry, DVC)."""
