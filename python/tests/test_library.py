"""Compiling modules to libraries and calling them on numpy arrays, and
calibration from numpy arrays."""

import json
import os
import re
import subprocess

import numpy as np
import pytest

import fp4mlir
from conftest import MODELS

INPUT = os.path.join(MODELS, "Inputs", "moe_block.input0.npy")
TORCH = os.path.join(MODELS, "Inputs", "moe_block.torch0.npy")


def relative(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b))


def test_float_library_reproduces_pytorch(moe_path, tmp_path):
    library = fp4mlir.compile(fp4mlir.load(moe_path), tmp_path / "moe.so")
    (y,) = library(np.load(INPUT))
    assert y.shape == (1, 8, 64) and y.dtype == np.float32
    assert relative(y, np.load(TORCH)) < 1e-5
    # A second call gives the same result (results are freed between calls).
    np.testing.assert_array_equal(library(np.load(INPUT))[0], y)


def test_quantized_library_stays_within_the_w4a16_bound(moe_path, tmp_path):
    library = fp4mlir.compile(fp4mlir.load(moe_path), tmp_path / "moe.so",
                              quantize={"preset": "nvfp4-weight-only"})
    (y,) = library(np.load(INPUT))
    # docs/policy.md "Error bounds": two quantized layers, bound 0.25.
    assert 0 < relative(y, np.load(TORCH)) < 0.25


def test_library_checks_its_arguments(moe_path, tmp_path):
    library = fp4mlir.compile(fp4mlir.load(moe_path), tmp_path / "moe.so")
    with pytest.raises(ValueError, match=r"expected f32:1x8x64"):
        library(np.zeros((1, 8, 32), np.float32))
    with pytest.raises(TypeError, match="takes 1 arguments"):
        library()
    with pytest.raises(KeyError, match="no function 'backward'"):
        library.function("backward")
    with pytest.raises(FileNotFoundError):
        fp4mlir.Library(tmp_path / "missing.so")


class DeviceTensor:
    """A DLPack producer in CUDA memory (device type 2), as torch's CUDA
    tensors are; it is never exported."""

    def __dlpack__(self, stream=None):
        raise AssertionError("exported a device tensor")

    def __dlpack_device__(self):
        return (2, 0)


def test_device_tensors_are_refused_with_the_fix(moe_path, tmp_path):
    library = fp4mlir.compile(fp4mlir.load(moe_path), tmp_path / "moe.so")
    with pytest.raises(TypeError, match=r"argument 0 of 'forward' is in device memory "
                       r"\(DLPack device type 2, id 0\).*pass tensor.cpu\(\) or a numpy array"):
        library(DeviceTensor())


def test_compile_errors_come_back(tmp_path):
    m = fp4mlir.Module.parse("func.func @forward(%a: tensor<4xf32>) -> tensor<4xf32> { return %a : tensor<4xf32> }")
    # The located diagnostic comes back with the reason, naming the fix.
    with pytest.raises(fp4mlir.Error, match=r"(?s)compiling for sm_100 failed.*use the architecture-specific target 'sm_100a'"):
        fp4mlir.compile(m, tmp_path / "x.so", target="sm_100")
    with pytest.raises(fp4mlir.Error, match="--emit expects so, obj, llvm or mlir, got 'exe'"):
        fp4mlir.compile(m, tmp_path / "x.so", emit="exe")
    assert not (tmp_path / "x.so").exists()


def no_subprocess(monkeypatch):
    """Running a program from Python fails the test (compile's linker runs
    from C++, through system())."""
    def run(*args, **kwargs):
        raise AssertionError(f"a tool was run: {args}")
    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "Popen", run)


def test_compile_runs_in_process_and_leaves_the_module(moe_path, tmp_path, monkeypatch):
    no_subprocess(monkeypatch)
    module = fp4mlir.load(moe_path)
    before = str(module)
    library = fp4mlir.compile(module, tmp_path / "moe.so",
                              quantize="preset=nvfp4-weight-only")
    assert str(module) == before
    assert 0 < relative(library(np.load(INPUT))[0], np.load(TORCH)) < 0.25
    # LLVM IR and MLIR, too.
    assert "_mlir_ciface_forward" in open(fp4mlir.compile(module, tmp_path / "moe.ll", emit="llvm")).read()


def test_calibrate_from_numpy(moe_path, monkeypatch):
    no_subprocess(monkeypatch)  # in process
    rng = np.random.default_rng(0)
    batches = rng.standard_normal((4, 1, 8, 64)).astype(np.float32)
    module = fp4mlir.load(moe_path)
    before = str(module)
    calibrated, stats = fp4mlir.calibrate(module, [batches], preset="nvfp4")
    assert str(module) == before
    assert stats["observers"], stats.keys()
    # Deterministic: the same data gives the same statistics.
    assert fp4mlir.calibrate(module, [batches], preset="nvfp4")[1] == stats
    report = fp4mlir.quantize_model(calibrated, preset="nvfp4")
    assert report["layers"]
    with pytest.raises(fp4mlir.Error, match=r"calibration failed: input 0: expected "
                       r"tensor<1x8x64xf32> or \[S, \.\.\.\] batches of it, got shape 4x1x8x32"):
        fp4mlir.calibrate(module, [batches[:, :, :, :32]])
    bad = batches.copy()
    bad[1, 0, 2, 3] = np.nan
    with pytest.raises(fp4mlir.Error, match="input 0: element 643 is NaN or infinite"):
        fp4mlir.calibrate(module, [bad])
    with pytest.raises(fp4mlir.Error, match="has dtype complex64"):
        fp4mlir.calibrate(module, [batches.astype(np.complex64)])
    with pytest.raises(fp4mlir.Error, match="'forward' takes 1 arguments, got 2 inputs"):
        fp4mlir.calibrate(module, [batches, batches])


def test_smoothing_in_the_pipeline_from_float_statistics(moe_path, tmp_path):
    rng = np.random.default_rng(0)
    batches = rng.standard_normal((4, 1, 8, 64)).astype(np.float32)
    _, stats = fp4mlir.calibrate(fp4mlir.load(moe_path), [batches], preset="nvfp4")
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(stats))
    m = fp4mlir.load(moe_path)
    fp4mlir.quantize_model(m, preset="nvfp4", calibration=str(path), smooth_alpha=0.5)
    text = str(m)
    assert "fp4.smoothed = 5.000000e-01" in text
    # Static scales: the smoothed maxima, below the float model's.
    observed = stats["observers"]["mlp.experts.gate_up_proj:input"]["amax"]
    static = [float(a) for a in re.findall(r"amax\(([0-9.e+-]+)\)", text)]
    assert len(static) == 2 and 0 < static[0] < observed
    with pytest.raises(fp4mlir.Error, match="only method max"):
        fp4mlir.quantize_model(fp4mlir.load(moe_path), preset="nvfp4", calibration=str(path),
                               calibration_method="percentile", smooth_alpha=0.5)


def test_library_in_the_current_directory(moe_path, tmp_path, monkeypatch):
    library = fp4mlir.compile(fp4mlir.load(moe_path), tmp_path / "moe.so")
    monkeypatch.chdir(tmp_path)
    (y,) = fp4mlir.Library("moe.so")(np.load(INPUT))
    np.testing.assert_array_equal(y, library(np.load(INPUT))[0])
