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
BLOBS = ("onnx_model", "int8_model", "weights")  # the Outcome fields kept as files of their own


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

    def _record(self, trial_number: int) -> Path:
        assert self.folder is not None
        return self.folder / f"{self._prefix}{trial_number}.json"

    def _blob(self, trial_number: int, name: str) -> Path:
        """The file of one of the outcome's BLOBS."""
        return self._record(trial_number).with_suffix(f".{name}")

    def keep(self, outcome: Outcome) -> None:
        """Persist an outcome as it arrives, before anything is logged or told."""
        if self.folder is None or outcome.data_error:  # no data there: train again once it is
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        record = dataclasses.asdict(outcome)
        blobs = {name: record.pop(name) or b"" for name in BLOBS}
        record["sha256"] = hashlib.sha256(b"".join(blobs.values())).hexdigest()
        for name, data in blobs.items():
            write_whole(self._blob(outcome.trial_number, name), data)
        write_whole(self._record(outcome.trial_number), json.dumps(record).encode())

    def recover(self, trial_number: int, archid: str) -> Outcome | None:
        """The kept outcome of `trial_number` for `archid`, with its models; None where there
        is none, it is of another architecture, or a file of it is damaged."""
        if self.folder is None:
            return None
        try:
            record = json.loads(self._record(trial_number).read_text())
            blobs = {name: self._blob(trial_number, name).read_bytes() for name in BLOBS}
        except (OSError, ValueError):
            return None
        digest = record.pop("sha256", None)
        intact = hashlib.sha256(b"".join(blobs.values())).hexdigest() == digest
        if record.get("archid") != archid or not intact:
            log.warning("the kept outcome of trial %d does not match: trained again", trial_number)
            return None
        fields = {f.name for f in dataclasses.fields(Outcome)}
        return Outcome(**{k: v for k, v in record.items() if k in fields}, **blobs)

    def drop(self, trial_number: int) -> None:
        """Forget the outcome of a trial that is told."""
        if self.folder is not None:
            self._record(trial_number).unlink(missing_ok=True)
            for name in BLOBS:
                self._blob(trial_number, name).unlink(missing_ok=True)

    def sweep(self, keep: set[int]) -> None:
        """Remove every kept outcome of this study but those of the trials in `keep`."""
        if self.folder is None or not self.folder.is_dir():
            return
        prefix = self._prefix
        for path in [*self.folder.glob(f"{prefix}*"), *self.folder.glob(f".{prefix}*")]:
            number = path.name.lstrip(".").removeprefix(prefix).split(".")[0]
            if not (number.isdigit() and int(number) in keep):
                path.unlink(missing_ok=True)
