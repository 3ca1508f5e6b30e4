"""Entry point for `python -m adapterflow <stage>` (what every DVC stage runs)."""

from adapterflow.cli import app

if __name__ == "__main__":
    app()
