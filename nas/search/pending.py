"""Outcomes received and not yet told: each is written to disk the moment it arrives (its ONNX
models, then its record with their SHA-256, each file whole or not at all) and removed once
its trial is told. A search killed in between finds it on resume and tells it without training
the candidate again."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from nas.evaluation.job import Outcome

log = logging.getLogger(__name__)


def write_whole(path: Path, data: bytes) -> None:
    """`data` at `path` whole or not at all: a synced temporary sibling, then a rename."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclasses.dataclass(frozen=True)
class PendingOutcomes:
    """The pending outcomes of one study under `folder` (None: none are kept)."""

    folder: Path | None
    study_name: str

    @property
    def _prefix(self) -> str:
        """The study's part of a file name: any study name gives a safe one."""
        return hashlib.sha1(self.study_name.encode()).hexdigest()[:12] + "-"

    def _paths(self, trial_number: int) -> tuple[Path, Path, Path]:
        """The outcome's record, its ONNX model and its INT8 model (where it has one)."""
        assert self.folder is not None
        stem = self.folder / f"{self._prefix}{trial_number}"
        return stem.with_suffix(".json"), stem.with_suffix(".onnx"), stem.with_suffix(".int8")

    def keep(self, outcome: Outcome) -> None:
        """Persist an outcome as it arrives, before anything is logged or told."""
        if self.folder is None or outcome.data_error:  # no data there: train again once it is
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        record_path, model_path, int8_path = self._paths(outcome.trial_number)
        record = dataclasses.asdict(outcome)
        model, int8_model = record.pop("onnx_model") or b"", record.pop("int8_model") or b""
        record["onnx_sha256"] = hashlib.sha256(model + int8_model).hexdigest()
        write_whole(model_path, model)
        write_whole(int8_path, int8_model)
        write_whole(record_path, json.dumps(record).encode())

    def recover(self, trial_number: int, archid: str) -> Outcome | None:
        """The kept outcome of `trial_number` for `archid`, with its model; None where there is
        none, it is of another architecture, or its model is damaged."""
        if self.folder is None:
            return None
        record_path, model_path, int8_path = self._paths(trial_number)
        try:
            record = json.loads(record_path.read_text())
            model, int8_model = model_path.read_bytes(), int8_path.read_bytes()
        except (OSError, ValueError):
            return None
        digest = record.pop("onnx_sha256", None)
        intact = hashlib.sha256(model + int8_model).hexdigest() == digest
        if record.get("archid") != archid or not intact:
            log.warning("the kept outcome of trial %d does not match: trained again", trial_number)
            return None
        fields = {f.name for f in dataclasses.fields(Outcome)}
        kept = {k: v for k, v in record.items() if k in fields}
        return Outcome(**kept, onnx_model=model, int8_model=int8_model)

    def drop(self, trial_number: int) -> None:
        """Forget the outcome of a trial that is told."""
        if self.folder is not None:
            for path in self._paths(trial_number):
                path.unlink(missing_ok=True)

    def sweep(self, keep: set[int]) -> None:
        """Remove every kept outcome of this study but those of the trials in `keep`."""
        if self.folder is None or not self.folder.is_dir():
            return
        prefix = self._prefix
        for path in [*self.folder.glob(f"{prefix}*"), *self.folder.glob(f".{prefix}*")]:
            number = path.name.lstrip(".").removeprefix(prefix).split(".")[0]
            if not (number.isdigit() and int(number) in keep):
                path.unlink(missing_ok=True)
