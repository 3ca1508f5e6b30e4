"""adapterflow: keep small task-specific LLM adapters fresh.

The core library: plain Python with no Prefect or Streamlit imports. Each pipeline stage
(`scrape`, `validate`, `prepare`, `import`, `train`, `evaluate`, `promote`) is a module here and a
subcommand of `python -m adapterflow`.
"""

__version__ = "0.1.0"
