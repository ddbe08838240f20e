"""The built-in synthetic faces: exact Face Synthetics format, every label, determinism, caching."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from entrypoints import synthesize
from nas.data.format import LABELS, DataError
from nas.data.synthetic import generate as synthetic
from nas.data.synthetic.generate import ensure_synthetic_faces, write_synthetic_faces
from nas.data.synthetic.palette import sample_palette
from nas.data.synthetic.png import encode_png


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("faces")
    write_synthetic_faces(folder, 200, image_size=64, seed=0)
    return folder


def test_writes_the_face_synthetics_layout(faces: Path) -> None:
    names = sorted(p.name for p in faces.iterdir())
    ids = [f"{i:06d}" for i in range(200)]
    suffixes = (".png", "_seg.png", "_ldmks.txt")
    assert names == sorted(f"{i}{suffix}" for i in ids for suffix in suffixes)
    image, label = Image.open(faces / "000007.png"), Image.open(faces / "000007_seg.png")
    assert (image.mode, image.size, image.format) == ("RGB", (64, 64), "PNG")
    assert (label.mode, label.size, label.format) == ("L", (64, 64), "PNG")


def test_landmarks_are_70_points_on_the_face(faces: Path) -> None:
    eyes = {LABELS.index(name) for name in ("right_eye", "left_eye", "glasses")}
    for id_ in ("000000", "000001", "000002", "000003"):
        points = np.loadtxt(faces / f"{id_}_ldmks.txt")
        assert points.shape == (70, 2)
        assert points[8, 1] > points[27:36, 1].max()  # the chin is below the nose
        assert points[0, 0] < points[8, 0] < points[16, 0]  # the jaw runs left to right
        labels = np.pad(np.asarray(Image.open(faces / f"{id_}_seg.png")), 1)
        for x, y in np.round(points[68:]).astype(int) + 1:  # each pupil is on an eye or sunglasses
            if 0 < x < 65 and 0 < y < 65:
                assert eyes & set(labels[y - 1 : y + 2, x - 1 : x + 2].ravel().tolist())


def test_every_label_occurs_and_no_other_value(faces: Path) -> None:
    counts = np.zeros(256, int)
    for path in faces.glob("*_seg.png"):
        counts += np.bincount(np.asarray(Image.open(path)).ravel(), minlength=256)
    missing = [LABELS[i] for i in np.flatnonzero(counts[: len(LABELS)] == 0)]
    assert not missing
    assert counts[len(LABELS) :].sum() == 0


def test_right_parts_are_on_the_image_left(faces: Path) -> None:
    """Face Synthetics names parts from the subject's view: right_eye appears on the image left."""
    checked = 0
    for path in sorted(faces.glob("*_seg.png"))[:50]:
        labels = np.asarray(Image.open(path))
        for right, left in (("right_eye", "left_eye"), ("right_brow", "left_brow")):
            xr, xl = (np.nonzero(labels == LABELS.index(name))[1] for name in (right, left))
            if xr.size and xl.size:
                assert xr.mean() < xl.mean(), path.name
                checked += 1
    assert checked > 50


def test_same_seed_same_bytes_other_seed_other_faces(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_synthetic_faces(tmp_path / name, 4, image_size=32, seed=seed)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(files) == 12
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    first = np.asarray(Image.open(tmp_path / "a" / "000000.png"), np.int16)
    other = np.asarray(Image.open(tmp_path / "c" / "000000.png"), np.int16)
    assert np.abs(first - other).mean() > 20


def test_encode_png_round_trips_through_pillow() -> None:
    rng = np.random.default_rng(0)
    for shape in ((5, 7), (5, 7, 3)):
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(pixels)))), pixels)


def _float_render(
    paint: np.ndarray, rng: np.random.Generator, studio: synthetic.Studio
) -> np.ndarray:
    """synthetic.render written plainly in floats: the packed-integer version must match it."""
    size = paint.shape[0]
    rgb, amplitude = sample_palette(rng)
    r = rng.random(9)
    colours = np.clip(rgb, 0, 255).astype(np.uint8)[paint].astype(float)
    for _ in range(int(synthetic._pick(r[0], ("0", "1", "2"), (0.4, 0.45, 0.15)))):
        for axis in (0, 1):
            view = np.moveaxis(colours, axis, 0)
            view[1:-1] = (view[:-2] + 2 * view[1:-1] + view[2:]) / 4
    ty, tx, ny, nx = (r[1:5] * size).astype(int)
    ramp = np.linspace(-0.5, 0.5, size)
    light = 0.75 + 0.4 * r[8] + (1.2 * r[7] - 0.6) * ramp[:, None] + (1.2 * r[6] - 0.6) * ramp
    shade = (
        amplitude[paint] * 1024 * studio.texture[ty : ty + size, tx : tx + size]
        + (1 + 5 * r[5]) * studio.noise[ny : ny + size, nx : nx + size]
    )
    return np.clip((colours + shade[..., None]) * light[..., None], 0, 255)


def test_render_matches_a_plain_float_render() -> None:
    studio = synthetic.make_studio(0, 48)
    errors = []
    for index in range(60):
        _, labels, _ = synthetic.make_face(index, 0, 48, studio)
        paint = np.asarray(studio.canvas).copy()
        image, again = synthetic.render(paint, np.random.default_rng(index), studio)
        expected = _float_render(paint, np.random.default_rng(index), studio)
        errors.append(np.abs(image - expected))
        assert np.array_equal(again, labels)
    assert max(error.max() for error in errors) <= 4  # rounding of light, blur and shading
    assert np.mean(errors) < 1.0


def test_landmarks_are_linear_in_the_shape() -> None:
    """landmarks() uses a precomputed linear basis: it must equal the direct formula."""
    for index in range(20):
        shape = synthetic.sample_shape(np.random.default_rng(index), 64)
        u, v = synthetic._landmarks_uv(shape)
        direct = shape.frame.pixels(u, v, synthetic.ON_SURFACE)
        assert np.allclose(synthetic.landmarks(shape), direct, atol=1e-9)


def test_ensure_generates_once_under_a_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, results = [], []
    real = synthetic.write_synthetic_faces
    monkeypatch.setattr(synthetic, "write_synthetic_faces", lambda *a: calls.append(a) or real(*a))

    def ensure() -> None:
        results.append(ensure_synthetic_faces(tmp_path, 3, 32, 1))

    threads = [threading.Thread(target=ensure) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    folder = tmp_path.resolve() / "synthetic" / "n3_s32_seed1"
    assert results == [folder] * 3 and len(calls) == 1
    assert len(list(folder.glob("*.png"))) == 6
    assert sorted(p.name for p in folder.parent.iterdir()) == ["n3_s32_seed1", "n3_s32_seed1.lock"]


def test_ensure_leaves_nothing_when_generation_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(output: Path, *args: int) -> None:
        (Path(output) / "000000.png").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(synthetic, "write_synthetic_faces", broken)
    with pytest.raises(OSError, match="disk full"):
        ensure_synthetic_faces(tmp_path, 3, 32, 1)
    assert [p.name for p in (tmp_path / "synthetic").iterdir()] == ["n3_s32_seed1.lock"]


def test_bad_arguments_raise_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="image_size 8"):
        write_synthetic_faces(tmp_path, 3, image_size=8)


def test_entry_point_refuses_a_non_empty_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    assert synthesize.run_main(lambda: synthesize.main(["--output-dir", str(tmp_path)])) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_entry_point_writes_and_reports_speed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "new"
    argv = ["--output-dir", str(folder), "--num-images", "2", "--image-size", "32"]
    assert synthesize.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("wrote 2 synthetic faces (32x32, seed 0)") and "images/s" in printed
    assert len(list(folder.iterdir())) == 6
