"""The main demo runs end to end (few epochs) and writes what it promises."""

import json
import os

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")

import ferrograd as fg  # noqa: E402
from ferrograd.examples import digits  # noqa: E402


@pytest.mark.skipif(not hasattr(fg, "save"), reason="fg.save lands with the persistence issue")
def test_digits_demo_trains_and_writes_its_outputs(tmp_path):
    out = tmp_path / "out"
    report = digits.main(["--epochs", "4", "--out", str(out), "--seed", "1"])
    assert report["test_accuracy_eval_mode"] > 0.85
    assert report["reloaded_outputs_identical"] is True
    assert report["eval_pass_bytes_with_grad"] > report["eval_pass_bytes_no_grad"]
    for name in ("digits_cnn.safetensors", "digits_training.png", "report.json"):
        assert (out / name).stat().st_size > 0
    with open(out / "report.json") as f:
        saved = json.load(f)
    assert len(saved["history"]["loss"]) == 4
    assert saved["history"]["loss"][-1] < saved["history"]["loss"][0]
    assert os.path.getsize(out / "digits_training.png") > 10_000


def test_digits_demo_onnx_file_agrees_with_onnx_runtime(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    report = digits.main(["--epochs", "1", "--out", str(tmp_path), "--seed", "2", "--no-plot", "--onnx"])
    info = report["onnx"]
    assert (tmp_path / "digits_cnn.onnx").stat().st_size == info["bytes"] > 10_000
    assert info["max_abs_difference"] < 1e-4 and info["same_predictions"] is True
