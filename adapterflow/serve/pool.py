"""One base model in memory, each task's champion adapter on it, swapped when the registry moves.

`ModelPool` loads the base once (`adapterflow.modeling`, as training did) and attaches every task's
champion as a named peft adapter (`<task>__<version>`) on ONE `PeftModel`: peft keeps several LoRA
adapters on the same frozen base and `set_adapter` picks the one a batch uses, so serving N tasks
costs one base plus N small adapters. `sync()` reads the registry and, for a task whose champion
changed (promote or rollback), loads the new adapter beside the old one, then switches the task's
`Served` record in one assignment and deletes the old adapter. A load that fails leaves the old
champion serving and records why (`TaskState.error`, logged; /ready answers 503 while it lasts).

What is served is what the registry certifies: the base model's hash is taken when it is loaded
(`base_sha`, kept for the server's life: models/base on disk may change under it), and an adapter
is only attached when its entry's `base_sha256` is that held hash and a private copy of its
folder hashes to the entry's `adapter_sha256` (promote/verified.py). A version recorded on
another base is never put on the held one; the fix is to restart the server when models/base now
holds the entry's base, else to re-import it. Reloading the base in place was not chosen: it is a
minutes-long load on the model thread, and it would take the other tasks' champions, recorded on
the held base, out of service. An entry whose hashes change (edited by hand) counts as a new
version and is checked again.

Threading: every method that touches the model (`load_base`, `sync`, `run_batch`) must run on the
same single thread (the server's model executor). That is what makes a swap atomic for requests: a
batch reads its task's `Served` once, at its start, and no swap can run until it is finished, so
every request is answered wholly by one complete version. Readers on other threads only read the
`TaskState` records, which are replaced, never mutated in place.

    pool = ModelPool(params, paths)
    pool.load_base(); pool.sync()
    served, answers = pool.run_batch("triage", [["Title: crash on save"]])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from adapterflow.params import Params
from adapterflow.paths import ProjectPaths
from adapterflow.tasks import get_tasks

logger = logging.getLogger(__name__)


class NotServedError(RuntimeError):
    """The task has no loaded champion; `no_champion` tells a missing one from a failed load."""

    def __init__(self, message: str, *, no_champion: bool) -> None:
        super().__init__(message)
        self.no_champion = no_champion


@dataclass(frozen=True)
class Served:
    """The version a task is answered with."""

    version: str
    adapter_name: str  # the peft adapter name on the shared model
    adapter_sha256: str | None
    loaded_at: str
    base_sha256: str | None = None  # the entry's base hash, checked equal to the held base's

    @property
    def identity(self) -> tuple[str, str | None, str | None]:
        """As `_identity` of the entry it was loaded for: an edited entry no longer matches."""
        return self.version, self.adapter_sha256, self.base_sha256


@dataclass(frozen=True)
class TaskState:
    """What the pool holds for one task (replaced as a whole on every change)."""

    served: Served | None = None
    failed: tuple | None = None  # `_identity` of a champion that failed to load (not retried)
    error: str | None = None


@dataclass(frozen=True)
class Answer:
    output: str
    parsed: dict[str, Any] | None


def _clean(text: str) -> str:
    # Generated text can hold lone surrogates, which no JSON encoder can write as UTF-8.
    return text.encode("utf-8", errors="replace").decode("utf-8")


def _parse(definition: Any, text: str) -> dict[str, Any] | None:
    # Whatever the model wrote, it costs at most this one answer its "valid", never the batch
    # (e.g. Python refuses to parse a JSON integer of more than 4300 digits).
    try:
        return definition.parse_target(text)
    except (ValueError, RecursionError):
        return None


def _identity(entry: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """What a registry entry certifies: its version with its adapter and base hashes."""
    return entry["version"], entry.get("adapter_sha256"), entry.get("base_sha256")


def _check_adapter_files(adapter_dir: Path) -> None:
    """Read the adapter's config and weights before peft injects anything into the shared model,
    so a truncated or corrupt adapter fails here and leaves the model untouched."""
    from peft import PeftConfig
    from safetensors.torch import load_file

    from adapterflow.evaluate.model import check_adapter

    check_adapter(adapter_dir)
    PeftConfig.from_pretrained(adapter_dir)
    weights = adapter_dir / "adapter_model.safetensors"
    if weights.is_file():
        load_file(weights)


class ModelPool:
    """The shared base model and each task's served adapter (see the module docstring)."""

    def __init__(self, params: Params, paths: ProjectPaths) -> None:
        self.params, self.paths = params, paths
        self.definitions = get_tasks(params.prepare)
        self.states: dict[str, TaskState] = {t: TaskState() for t in self.definitions}
        self.method: str | None = None
        self.ready = False
        self.generate_calls = 0  # model.generate calls made (for /health, tests and benchmarks)
        self._tokenizer: Any = None
        self._base: Any = None
        self.base_sha: str | None = None  # sha256 of models/base as it was loaded (fingerprint.py)
        self._model: Any = None  # the PeftModel, once a first adapter is attached

    # ------------------------------------------------------------------ model thread only
    def load_base(self) -> None:
        """Load the tokenizer and the base model, quantised the way the champions were trained.

        The method ("qlora" or "lora") is the one the current champions recorded (the first task
        with a champion decides); with no champion yet it is `train.method`, which the next
        adapters will be trained with. An adapter trained the other way is refused at load time.

        Raises:
            adapterflow.modeling.ModelLoadError: models/base is missing.
            FileNotFoundError: models/base holds no base model.
            adapterflow.fingerprint.EvidenceMismatchError: models/base changed during the load.
        """
        import torch

        from adapterflow.evaluate.model import adapter_method
        from adapterflow.modeling import load_base_model, load_tokenizer, pick_device
        from adapterflow.promote.registry import champion_entry
        from adapterflow.promote.verified import hashed_load

        if self.params.serve.num_threads:
            torch.set_num_threads(self.params.serve.num_threads)
        methods = [
            adapter_method(self.paths.root / entry["adapter_path"])
            for task in self.definitions
            if (entry := champion_entry(self.paths.registry, task)) is not None
        ]
        self.method = methods[0] if methods else self.params.train.method
        base_dir = self.paths.base_model

        def load(_: str) -> tuple[Any, Any]:
            return load_tokenizer(base_dir), load_base_model(base_dir, self.method, pick_device())

        (self._tokenizer, self._base), self.base_sha = hashed_load(base_dir, load)
        logger.info("base model loaded: %s, sha256 %s", base_dir, self.base_sha)

    def sync(self) -> list[str]:
        """Bring every task's served adapter in line with the registry's champion.

        Returns:
            One line per change made (for the log and tests); empty when nothing changed.
        """
        from adapterflow.promote.registry import read_registry, task_state

        registry = read_registry(self.paths.registry)
        changes = []
        for task, state in self.states.items():
            record = task_state(registry, task)
            entry = next((e for e in record["history"] if e["version"] == record["champion"]), None)
            if entry is None:
                continue
            if state.served and state.served.identity == _identity(entry):
                if state.error is not None:  # a rollback went back to what is served: all good
                    self.states[task] = TaskState(served=state.served)
                continue
            if state.failed == _identity(entry):
                continue  # already failed once; a new promote or rollback will try again
            changes.append(self._swap(task, entry))
        self.ready = True
        return [c for c in changes if c]

    def _swap(self, task: str, entry: dict[str, Any]) -> str:
        from peft import PeftModel

        from adapterflow.evaluate.model import adapter_method
        from adapterflow.promote.registry import now
        from adapterflow.promote.verified import verified_adapter

        version, old = entry["version"], self.states[task].served
        name, n = f"{task}__{version}", 1
        while self._model is not None and name in self._model.peft_config:  # entry edited
            n += 1
            name = f"{task}__{version}__{n}"
        started = time.perf_counter()  # batches wait while this runs: log how long
        try:
            self._check_base(task, entry)
            with verified_adapter(self.paths.root, task, entry, self.base_sha) as adapter_dir:
                _check_adapter_files(adapter_dir)
                method = adapter_method(adapter_dir)
                if method != self.method:
                    raise ValueError(
                        f"adapter was trained with method {method!r} but the served base is "
                        f"{self.method!r}; restart the server to serve it"
                    )
                if self._model is None:
                    self._model = PeftModel.from_pretrained(
                        self._base, adapter_dir, adapter_name=name, is_trainable=False
                    )
                else:
                    self._model.load_adapter(adapter_dir, adapter_name=name, is_trainable=False)
            self._model.eval()
        except Exception as exc:  # noqa: BLE001 - any failure must keep the old champion serving
            if self._model is not None and name in self._model.peft_config:
                self._model.delete_adapter(name)  # drop a half-loaded adapter
            keeps = (
                f"{old.version} keeps serving (adapter sha256 {old.adapter_sha256})"
                if old else "nothing is served for it"
            )  # fmt: skip
            error = f"loading {task} {version} failed ({type(exc).__name__}: {exc}); {keeps}"
            logger.error("%s", error)
            self.states[task] = replace(self.states[task], failed=_identity(entry), error=error)
            return error
        served = Served(
            version, name, entry.get("adapter_sha256"), now(), base_sha256=entry.get("base_sha256")
        )
        self.states[task] = TaskState(served=served)  # the switch: one assignment
        if old is not None:
            self._model.delete_adapter(old.adapter_name)
        change = f"{task}: now serving {version}" + (f" (was {old.version})" if old else "")
        change += f", loaded in {time.perf_counter() - started:.2f} s"
        logger.info("%s", change)
        return change

    def _check_base(self, task: str, entry: dict[str, Any]) -> None:
        """Refuse a version recorded on another base than the one this server holds in memory.

        Raises:
            EvidenceMismatchError: the entry's base hash is not the held base's; the message
                names both, models/base's hash now, and the fix.
        """
        from adapterflow.fingerprint import EvidenceMismatchError, base_sha256

        measured = entry.get("base_sha256")
        if measured is None or measured == self.base_sha:  # None: recorded before base hashes
            return
        try:
            on_disk = base_sha256(self.paths.base_model)
        except FileNotFoundError:
            on_disk = "missing"
        fix = (
            "restart serve to load it (other tasks' champions recorded on the held base are then "
            "refused in turn)"
            if on_disk == measured
            else f"re-import the base it was measured on (e.g. `dvc checkout models/base`) and "
            f"restart serve, or promote a {task} adapter trained on the served base"
        )
        raise EvidenceMismatchError(
            f"{task} {entry['version']} was measured on the base model sha256 {measured}, but "
            f"this server holds the base model sha256 {self.base_sha} (loaded at start; "
            f"{self.paths.base_model} on disk is sha256 {on_disk} now): {fix}"
        )

    def run_batch(
        self,
        task: str,
        groups: Sequence[Sequence[str]],
        waiting: Callable[[int], bool] = lambda _: True,
        constrained: bool | None = None,
    ) -> tuple[Served, list[list[Answer] | None]]:
        """Answer several requests' user turns together, with one version.

        The group shares one adapter switch and one dequantisation of the 4-bit weights. With
        `serve.decode: exact` each prompt is decoded alone (`generate_answers`), so an answer never
        depends on which other requests shared its batch and equals what `predict` and the gate's
        evaluation give. With `batched` the group is decoded in left-padded `generate` calls of up
        to `serve.max_batch_size` prompts (`generate_left_padded`): faster under load, but a
        near-tie answer can differ from predict's.

        Args:
            task: a task name from `prepare.tasks`.
            groups: per request, its user turns (from `adapterflow.predict.item_text`).
            waiting: whether request i still waits for its answers (asked again before each
                decode; the server says no once its client hung up): one that stopped waiting
                has its undecoded inputs skipped, uncounted in `generate_calls`.
            constrained: True = decode within the task's schema (an OpenAI `response_format`
                naming it), False = without; None = as the gate decoded (evaluate.constrained).

        Returns:
            The version that answered, and per request its answers in input order (None for a
            request that stopped waiting).

        Raises:
            NotServedError: no champion is loaded for `task`.
        """
        from adapterflow.evaluate.constrain import answer_processors
        from adapterflow.evaluate.generate import generate_answers, generate_left_padded
        from adapterflow.predict import prompts_for

        served = self.check_served(task)
        definition = self.definitions[task]
        flat = [text for group in groups for text in group]
        owner = [i for i, group in enumerate(groups) for _ in group]
        _, prompts = prompts_for(self._tokenizer, definition, flat)
        self._model.set_adapter(served.adapter_name, inference_mode=True)
        ev = self.params.evaluate
        decode = {
            "max_new_tokens": ev.max_new_tokens,
            # The processors the gate decoded with (evaluate.constrained, hopeless-answer stop),
            # unless the request asked for the schema.
            "logits_processor": lambda: answer_processors(
                definition, self._tokenizer, ev.constrained if constrained is None else constrained
            ),
        }
        skip = lambda i: not waiting(owner[i])  # noqa: E731 - its client hung up
        if self.params.serve.decode == "batched":
            keep = [i for i in range(len(prompts)) if not skip(i)]
            kept, calls = generate_left_padded(
                self._model, self._tokenizer, [prompts[i] for i in keep],
                batch_size=self.params.serve.max_batch_size, **decode,
            )  # fmt: skip
            decoded = dict(zip(keep, kept, strict=True))
            outputs = [decoded.get(i) for i in range(len(prompts))]
        else:
            outputs = generate_answers(self._model, self._tokenizer, prompts, skip=skip, **decode)
            calls = sum(text is not None for text in outputs)  # one generate per decoded prompt
        self.generate_calls += calls
        texts = [None if text is None else _clean(text) for text in outputs]
        answers = [None if t is None else Answer(t, _parse(definition, t)) for t in texts]
        split, start = [], 0
        for group in groups:
            mine = answers[start : start + len(group)]
            split.append(None if None in mine else mine)
            start += len(group)
        return served, split

    # ------------------------------------------------------------------ any thread
    def adapter_names(self) -> list[str]:
        """The adapters on the one shared model (old versions are deleted after a swap)."""
        return sorted(self._model.peft_config) if self._model is not None else []

    def check_served(self, task: str) -> Served:
        """The task's served version.

        Raises:
            NotServedError: nothing is loaded for it (no champion yet, or its load failed).
        """
        state = self.states[task]
        if state.served is not None:
            return state.served
        if state.error is not None:
            raise NotServedError(state.error, no_champion=False)
        if not self.ready:
            raise NotServedError("the server is still loading the model; retry", no_champion=False)
        raise NotServedError(
            f"no champion for task {task} yet; run the pipeline (dvc repro, or "
            f"`python -m adapterflow promote {task}`) and the server picks it up",
            no_champion=True,
        )
