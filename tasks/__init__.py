"""Thin Prefect @task wrappers over the core library (adapterflow/); no logic of their own."""
