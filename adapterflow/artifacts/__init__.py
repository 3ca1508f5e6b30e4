"""Typed files: one pydantic model per file a stage writes, and the raw records and examples.

Every stage writes, and every reader (the dashboard included) reads, through these models; paths
come from `adapterflow.paths.ProjectPaths`. Importing this package needs pydantic only (no torch,
transformers, peft, prefect or streamlit). A JSON file model reads with `Model.read(path)` and
writes atomically with `model.write(path)`; JSON Lines rows go through `read_rows` /
`write_rows`. Reading raises `ArtifactMissingError`, `ArtifactCorruptError` or
`ArtifactVersionError` (all `ArtifactError`), each naming the file and the stage to re-run.
Formats: docs/ARTIFACTS.md. Try it: `python -c "from adapterflow.artifacts import GateReport as
G; print(G.read(__import__('pathlib').Path('reports/gate/triage.json')))"`.
"""

from adapterflow.artifacts.base import (
    Artifact,
    ArtifactCorruptError,
    ArtifactError,
    ArtifactMissingError,
    ArtifactVersionError,
    Row,
    read_rows,
    write_rows,
)
from adapterflow.artifacts.data import (
    FAILED_PREFIX,
    KindResult,
    PrepareReport,
    ScrapeSummary,
    SourceSummary,
    TaskPrepareReport,
    ValidationReport,
    ValidationSummary,
)
from adapterflow.artifacts.evaluation import (
    FLOOR_METRICS,
    GATE_METRICS,
    BaselineCache,
    Metrics,
    PredictionRow,
)
from adapterflow.artifacts.promotion import (
    GateCheck,
    GateReport,
    Registry,
    RegistryEntry,
    Rollback,
    TaskRegistry,
)
from adapterflow.artifacts.records import (
    META_FIELDS,
    RAW_RECORDS,
    ROLES,
    ArxivPaper,
    ChatExample,
    ChatMessage,
    ExampleMeta,
    GithubIssue,
    raw_fields,
)
from adapterflow.artifacts.runtime import RunRecord, ServedTask, ServeStatus
from adapterflow.artifacts.training import (
    LOSS_COLUMNS,
    LossRow,
    TrainRecord,
    TrainSummary,
    read_loss,
    write_loss,
)

__all__ = [
    "FAILED_PREFIX",
    "FLOOR_METRICS",
    "GATE_METRICS",
    "LOSS_COLUMNS",
    "META_FIELDS",
    "RAW_RECORDS",
    "ROLES",
    "Artifact",
    "ArtifactCorruptError",
    "ArtifactError",
    "ArtifactMissingError",
    "ArtifactVersionError",
    "ArxivPaper",
    "BaselineCache",
    "ChatExample",
    "ChatMessage",
    "ExampleMeta",
    "GateCheck",
    "GateReport",
    "GithubIssue",
    "KindResult",
    "LossRow",
    "Metrics",
    "PredictionRow",
    "PrepareReport",
    "Registry",
    "RegistryEntry",
    "Rollback",
    "Row",
    "RunRecord",
    "ScrapeSummary",
    "ServeStatus",
    "ServedTask",
    "SourceSummary",
    "TaskPrepareReport",
    "TaskRegistry",
    "TrainRecord",
    "TrainSummary",
    "ValidationReport",
    "ValidationSummary",
    "raw_fields",
    "read_loss",
    "read_rows",
    "write_loss",
    "write_rows",
]
