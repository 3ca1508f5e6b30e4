"""Prefect flows over the adapterflow pipeline: scrape (hourly), retrain (nightly), and serve.py."""
