"""The `train` stage: a LoRA/QLoRA adapter per task.

See loop.py; run `python -m adapterflow train <task>`.
"""

from adapterflow.train.data import TrainError
from adapterflow.train.loop import run_train
from adapterflow.train.outputs import TrainSummary

__all__ = ["TrainError", "TrainSummary", "run_train"]
