"""The data a config names: a Face Synthetics folder, or the built-in synthetic faces made once;
and its splits at the model's image size."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from nas.config import DataConfig
from nas.data.face_synthetics import Splits, check_folder, load_splits
from nas.data.synthetic.generate import ensure_synthetic_faces

CACHE_ENV = "NAS_CACHE_DIR"  # a machine's own cache folder, over data.cache_dir (e.g. per Ray node)


def on_this_machine(data: DataConfig) -> DataConfig:
    """`data` with its cache folder as this machine has it: $NAS_CACHE_DIR when set."""
    cache = os.environ.get(CACHE_ENV)
    return dataclasses.replace(data, cache_dir=cache) if cache else data


def dataset_dir_for(data: DataConfig) -> Path:
    """data.dataset_dir when set (it must exist), else the built-in synthetic faces, made once."""
    if data.dataset_dir:
        return check_folder(data.dataset_dir)
    return ensure_synthetic_faces(
        Path(data.cache_dir),
        data.synthetic_num_images,
        data.synthetic_image_size,
        data.synthetic_seed,
    )


def load_data(data: DataConfig, image_size: int) -> Splits:
    """The splits the config asks for, at `image_size` pixels, cached on this machine."""
    data = on_this_machine(data)
    return load_splits(
        dataset_dir_for(data),
        image_size,
        data.cache_dir,
        data.train_size,
        data.val_size,
        data.test_size,
    )
