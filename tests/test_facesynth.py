"""Face Synthetics reader: Archai's split, resizing, the decoded cache and clear data errors."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nas.config import DataConfig
from nas.data import face_synthetics as facesynth
from nas.data.dataset import load_data
from nas.data.face_synthetics import load_splits, split_sizes
from nas.data.format import DataError
from nas.data.synthetic.generate import write_synthetic_faces

IDS = [f"{i:06d}" for i in range(30)]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("source")
    write_synthetic_faces(folder, 30, image_size=32, seed=5)
    return folder


@pytest.fixture
def folder(source: Path, tmp_path: Path) -> Path:
    """A private copy of the 30-image folder that a test may break."""
    return Path(shutil.copytree(source, tmp_path / "faces"))


def entries(cache: Path) -> list[str]:
    """What the decoded cache holds besides lock files."""
    decoded = cache / "decoded"
    if not decoded.exists():
        return []
    return sorted(p.name for p in decoded.iterdir() if p.suffix != ".lock")


@pytest.mark.parametrize(
    ("num_images", "expected"),
    [
        (100_000, (88_000, 2_000, 10_000)),
        (1_000, (880, 20, 100)),
        (30, (26, 1, 3)),
        (3, (1, 1, 1)),
    ],
)
def test_split_sizes_follow_archai(num_images: int, expected: tuple[int, int, int]) -> None:
    assert split_sizes(num_images) == expected


def test_split_sizes_explicit_and_too_many() -> None:
    assert split_sizes(30, 10, 2, 5) == (10, 2, 5)
    assert split_sizes(100_000, test_size=500) == (97_500, 2_000, 500)
    too_many = r"30 images but the split needs train 20 \+ val 5 \+ test 6 = 31"
    with pytest.raises(DataError, match=too_many):
        split_sizes(30, 20, 5, 6)
    with pytest.raises(DataError, match="2 images"):
        split_sizes(2)


def test_splits_are_sorted_memory_mapped_uint8(folder: Path, tmp_path: Path) -> None:
    splits = load_splits(folder, 16, tmp_path / "cache")
    assert splits.train.ids == tuple(IDS[:26])
    assert (splits.val.ids, splits.test.ids) == ((IDS[26],), tuple(IDS[27:]))
    assert splits.train.images.shape == (26, 16, 16, 3) and splits.train.images.dtype == np.uint8
    assert splits.test.labels.shape == (3, 16, 16) and splits.test.labels.dtype == np.uint8
    assert isinstance(splits.val.images, np.memmap) and not splits.val.images.flags.writeable
    assert splits.source == str(folder.resolve()) and len(splits.digest) == 64


def test_native_size_is_exact_and_resizing_matches_pillow(folder: Path, tmp_path: Path) -> None:
    image, label = Image.open(folder / "000027.png"), Image.open(folder / "000027_seg.png")
    same = load_splits(folder, 32, tmp_path / "cache").test
    assert np.array_equal(same.images[0], np.asarray(image))
    assert np.array_equal(same.labels[0], np.asarray(label))
    for size in (13, 48):
        test = load_splits(folder, size, tmp_path / "cache").test
        bilinear = image.resize((size, size), Image.BILINEAR)
        assert np.array_equal(test.images[0], np.asarray(bilinear))
        assert np.array_equal(test.labels[0], np.asarray(label.resize((size, size), Image.NEAREST)))
        assert set(np.unique(test.labels[0])) <= set(np.unique(np.asarray(label)))


def test_cache_is_reused_then_invalidated(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = load_splits(folder, 16, cache)
    monkeypatch.setattr(facesynth, "decode_pair", lambda *args: pytest.fail("decoded again"))
    again = load_splits(folder, 16, cache)
    assert again.digest == first.digest and np.array_equal(again.train.labels, first.train.labels)
    monkeypatch.undo()
    Image.new("L", (32, 32), 13).save(folder / "000001_seg.png")
    changed = load_splits(folder, 16, cache)
    assert changed.digest != first.digest and (changed.train.labels[1] == 13).all()
    assert len(entries(cache)) == 2


def test_custom_sizes_take_train_first_and_val_before_test(folder: Path, tmp_path: Path) -> None:
    splits = load_splits(folder, 8, tmp_path / "cache", train_size=4, val_size=2, test_size=5)
    assert splits.train.ids == tuple(IDS[:4]) and splits.val.ids == tuple(IDS[23:25])
    assert splits.test.ids == tuple(IDS[25:]) and splits.train.images.shape == (4, 8, 8, 3)


def test_parallel_decoding_matches_serial(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = load_splits(folder, 16, tmp_path / "serial")
    monkeypatch.setattr(facesynth, "PARALLEL_MIN_IMAGES", 1)
    monkeypatch.setattr(facesynth, "CHUNK_IMAGES", 8)
    monkeypatch.setattr(facesynth.os, "sched_getaffinity", lambda pid: {0, 1})
    assert facesynth._num_workers(30) == 2
    parallel = load_splits(folder, 16, tmp_path / "parallel")
    assert np.array_equal(parallel.train.images, serial.train.images)
    assert np.array_equal(parallel.test.labels, serial.test.labels)


def break_missing_label(folder: Path) -> None:
    (folder / "000005_seg.png").unlink()


def break_missing_image(folder: Path) -> None:
    (folder / "000006.png").unlink()


def break_truncated(folder: Path) -> None:
    data = (folder / "000007.png").read_bytes()
    (folder / "000007.png").write_bytes(data[: len(data) // 2])


def break_size(folder: Path) -> None:
    Image.new("L", (31, 32)).save(folder / "000008_seg.png")


def break_values(folder: Path) -> None:
    values = np.zeros((32, 32), np.uint8)
    values[0, :3] = (19, 200, 255)
    Image.fromarray(values).save(folder / "000009_seg.png")


def break_mode(folder: Path) -> None:
    Image.new("RGB", (32, 32)).save(folder / "000010_seg.png")


def break_16_bit_image(folder: Path) -> None:
    Image.fromarray(np.full((32, 32), 40000, np.uint16)).save(folder / "000011.png")


def break_16_bit_label(folder: Path) -> None:
    Image.fromarray(np.zeros((32, 32), np.uint16)).save(folder / "000012_seg.png")


def break_empty_file(folder: Path) -> None:
    (folder / "000013_seg.png").write_bytes(b"")


def break_symlink_loop(folder: Path) -> None:
    (folder / "000014.png").unlink()
    os.symlink(folder / "000014.png", folder / "000014.png")  # points at itself


def break_vanishing_file(folder: Path) -> None:
    """A file that is listed, then gone when its turn to be decoded comes."""
    decode = facesynth.decode_pair

    def vanish(where: Path, id_: str, size: int):
        if id_ == "000003":
            (where / "000003.png").unlink(missing_ok=True)
        return decode(where, id_, size)

    facesynth.decode_pair = vanish


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (break_16_bit_image, r"image .*000011\.png has PIL mode I;16; expected an 8-bit RGB"),
        (break_16_bit_label, r"000012_seg\.png has PIL mode I;16"),
        (break_empty_file, r"cannot read .*000013_seg\.png"),
        (break_symlink_loop, r"cannot read 000014\.png \(Too many levels of symbolic links"),
        (break_vanishing_file, r"cannot read .*000003\.png"),
        (break_missing_label, r"1 image\(s\) without a label map .*ids 000005"),
        (break_missing_image, r"1 label map\(s\) without an image .*ids 000006"),
        (break_truncated, r"cannot read .*000007\.png"),
        (break_size, r"000008_seg\.png is 31x32 but its image .*000008\.png is 32x32"),
        (break_values, r"000009_seg\.png holds values 19, 200;"),
        (break_mode, r"000010_seg\.png has PIL mode RGB"),
    ],
)
def test_bad_data_names_the_file_and_leaves_no_cache(
    folder: Path, tmp_path: Path, damage: Callable[[Path], None], expected: str
) -> None:
    decode = facesynth.decode_pair
    try:
        damage(folder)
        with pytest.raises(DataError, match=expected):
            load_splits(folder, 16, tmp_path / "cache")
    finally:
        facesynth.decode_pair = decode
    assert entries(tmp_path / "cache") == []


@pytest.mark.parametrize("mode", ["RGBA", "P", "L"])
def test_8_bit_images_of_other_modes_are_read_as_rgb(folder: Path, tmp_path: Path, mode) -> None:
    """RGBA, palette and grey images are converted (as Pillow does); a landmarks file that is
    not UTF-8 is not read at all."""
    original = Image.open(folder / "000002.png")
    original.convert(mode).save(folder / "000002.png")
    (folder / "000002_ldmks.txt").write_bytes(b"\xff\xfe\x00bad")
    splits = load_splits(folder, 32, tmp_path / "cache")
    expected = np.asarray(original.convert(mode).convert("RGB"))
    assert np.array_equal(splits.train.images[2], expected)


def test_missing_empty_and_too_small_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nowhere.* does not exist"):
        load_splits(tmp_path / "nowhere", 16, tmp_path / "cache")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "000000_ldmks.txt").write_text("1 2\n")
    with pytest.raises(DataError, match="empty holds no images"):
        load_splits(tmp_path / "empty", 16, tmp_path / "cache")
    write_synthetic_faces(tmp_path / "small", 2, image_size=16)
    with pytest.raises(DataError, match="small: the data set has 2 images"):
        load_splits(tmp_path / "small", 16, tmp_path / "cache")
    assert entries(tmp_path / "cache") == []


def test_load_data_defaults_to_the_synthetic_faces(tmp_path: Path) -> None:
    data = DataConfig(
        cache_dir=str(tmp_path), synthetic_num_images=12, synthetic_image_size=24, synthetic_seed=2
    )
    splits = load_data(data, 16)
    assert splits.source == str(tmp_path.resolve() / "synthetic" / "n12_s24_seed2")
    assert (len(splits.train.ids), len(splits.val.ids), len(splits.test.ids)) == (10, 1, 1)
    with pytest.raises(DataError, match="missing.* does not exist"):
        load_data(DataConfig(dataset_dir=str(tmp_path / "missing"), cache_dir=str(tmp_path)), 16)


def test_digest_ignores_landmarks_and_follows_mtimes(folder: Path) -> None:
    _, digest, _ = facesynth.scan_folder(folder)
    (folder / "000000_ldmks.txt").write_text("0 0\n")
    assert facesynth.scan_folder(folder)[1] == digest
    os.utime(folder / "000000.png", ns=(1, 1))
    assert facesynth.scan_folder(folder)[1] != digest


@pytest.mark.parametrize("damage", ["truncate", "alter", "delete", "meta"])
def test_a_damaged_cache_is_detected_and_rebuilt(
    folder: Path, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A decoded cache file truncated, altered (same size), deleted, or its record lost, is
    found by its size and checksum and built again, with a warning; what is read is then the
    same as before. A half-built folder a killed process left is never read (it is only ever
    renamed into place whole) and is swept away."""
    cache = tmp_path / "cache"
    first = load_splits(folder, 16, cache)
    expected = np.array(first.train.images), np.array(first.val.labels)
    (entry,) = [p for p in (cache / "decoded").glob("*_16_*") if p.is_dir()]
    del first
    images = entry / "images.npy"
    if damage == "truncate":
        os.truncate(images, images.stat().st_size - 100)
    elif damage == "alter":
        data = bytearray(images.read_bytes())
        data[-1] ^= 0xFF
        images.write_bytes(bytes(data))
    elif damage == "delete":
        (entry / "labels.npy").unlink()
    else:
        (entry / "meta.json").write_text("{")
    (cache / "decoded" / f".{entry.name}.tmp-killed").mkdir()  # a killed builder's leftovers
    again = load_splits(folder, 16, cache)
    assert "is damaged" in caplog.text and entry.name in caplog.text
    assert np.array_equal(again.train.images, expected[0])
    assert np.array_equal(again.val.labels, expected[1])
    assert entries(cache) == [entry.name]  # rebuilt in place, nothing else left behind
    caplog.clear()
    load_splits(folder, 16, cache)
    assert "is damaged" not in caplog.text
