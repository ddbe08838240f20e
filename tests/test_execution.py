"""Serial and Ray execution of real candidate trainings give the same results for the same seed."""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from nas.arch.archjson import arch_json, archid
from nas.arch.space import random_genome
from nas.config import SearchConfig, load_config
from nas.data.dataset import load_data
from nas.evaluation.job import Job, job_template
from nas.search.executors import RayExecutor, SerialExecutor
from tests.conftest import ROOT, subprocess_env


def _die(job: Job) -> None:
    os._exit(1)


@pytest.fixture(scope="module")
def jobs(data_cache) -> list[Job]:
    config = load_config([ROOT / "confs" / "tiny.yaml"], {"data.cache_dir": str(data_cache)})
    template = job_template(config, load_data(config.data, config.model.image_size))
    genomes = [random_genome(config.space, random.Random(seed)) for seed in (1, 2, 3)]
    made = [
        Job(trial_number=i, archid=archid(g), arch_json=arch_json(g), **template)
        for i, g in enumerate(genomes)
    ]
    # the third job points at a folder that does not exist: it must fail, not stop the run
    missing = dataclasses.replace(made[2].data, dataset_dir=str(data_cache / "missing"))
    made[2] = dataclasses.replace(made[2], data=missing)
    return made


def test_ray_and_serial_give_the_same_results(jobs: list[Job], monkeypatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    serial = {o.trial_number: o for o in SerialExecutor().run(jobs)}
    executor = RayExecutor(SearchConfig(gpus_per_job=0.5, cpus_per_job=1))
    try:
        assert executor.num_gpus == 0.0  # no GPU here: never ask Ray for one
        assert executor.ray.util.get_node_ip_address() == "127.0.0.1"  # loopback only
        parallel = {o.trial_number: o for o in executor.run(jobs)}
        # a worker that dies mid-task yields a failed outcome instead of stopping the run
        executor.remote = executor.ray.remote(_die).options(max_retries=0)
        (crashed,) = list(executor.run(jobs[:1]))
    finally:
        executor.close()
    assert sorted(parallel) == [0, 1, 2]
    for number in (0, 1):
        assert serial[number].ok and parallel[number].ok
        assert serial[number].metrics["val_miou"] == parallel[number].metrics["val_miou"]
        assert serial[number].metrics["val_loss"] == parallel[number].metrics["val_loss"]
        assert 0 <= serial[number].metrics["onnx_max_abs_diff"] < 1e-3  # the export checked
        assert serial[number].per_class_iou == parallel[number].per_class_iou
        assert len(parallel[number].onnx_model) > 1000
    assert not crashed.ok and crashed.trial_number == 0 and "Error" in crashed.error
    for outcome in (serial[2], parallel[2]):
        assert not outcome.ok and "DataError" in outcome.error and "missing" in outcome.error


SPACED = """
import ray
from nas.config import SearchConfig
from nas.search.executors import RayExecutor

executor = RayExecutor(SearchConfig())
print(ray.get(ray.remote(lambda: "worker up").remote(), timeout=180))
executor.close()
"""


def test_ray_workers_start_under_a_python_whose_path_has_a_space(tmp_path) -> None:
    """A clone in "hourglass nas" has its venv's Python there: Ray must still start workers."""
    venv = tmp_path / "a venv"
    venv.symlink_to(Path(sys.prefix), target_is_directory=True)
    assert (venv / "pyvenv.cfg").exists() or sys.prefix == sys.base_prefix
    python = venv / "bin" / Path(sys.executable).name
    env = subprocess_env(RAY_ADDRESS="", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [str(python), "-c", SPACED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "worker up" in done.stdout, done.stderr[-3000:]
