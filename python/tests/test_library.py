"""Compiling modules to libraries and calling them on numpy arrays, and
calibration from numpy arrays."""

import ctypes
import json
import os
import re
import subprocess

import numpy as np
import pytest

import fp4mlir
from conftest import MODELS
from fp4mlir.library import _address

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
    """A DLPack producer in device memory (CUDA: device type 2, as torch's
    CUDA tensors are); it is never exported here."""

    def __init__(self, device_type=2):
        self.device_type = device_type

    def __dlpack__(self, stream=None):
        raise AssertionError("exported a device tensor")

    def __dlpack_device__(self):
        return (self.device_type, 0)


def test_device_tensors_are_refused_with_the_fix(moe_path, tmp_path):
    library = fp4mlir.compile(fp4mlir.load(moe_path), tmp_path / "moe.so")
    assert library.function().device_args == [False]  # a CPU library
    with pytest.raises(TypeError, match=r"argument 0 of 'forward' is a CUDA tensor, but "
                       r".*moe.so is a CPU library: pass tensor.cpu\(\) or a numpy array"):
        library(DeviceTensor())
    with pytest.raises(TypeError, match=r"argument 0 of 'forward' is in device memory of "
                       r"DLPack device type 10 \(id 0\).*pass tensor.cpu\(\)"):
        library(DeviceTensor(device_type=10))  # ROCm


def dlpack_capsule(address, shape, strides, code, bits, keep, byte_offset=16):
    """A DLPack capsule ("dltensor") over a DLManagedTensor built here, in
    CUDA memory by its device field; `keep` holds what it points to."""
    from fp4mlir import library

    class Managed(ctypes.Structure):
        _fields_ = [("tensor", library._DLTensor), ("context", ctypes.c_void_p),
                    ("deleter", ctypes.c_void_p)]

    rank = len(shape)
    sizes = (ctypes.c_int64 * rank)(*shape)
    steps = (ctypes.c_int64 * rank)(*strides) if strides is not None else None
    managed = Managed()
    managed.tensor = library._DLTensor(
        address, library._DLDevice(2, 1), rank, library._DLDataType(code, bits, 1),
        ctypes.cast(sizes, ctypes.POINTER(ctypes.c_int64)),
        ctypes.cast(steps, ctypes.POINTER(ctypes.c_int64)) if steps is not None else None,
        byte_offset)
    keep += [sizes, steps, managed]
    new = ctypes.pythonapi.PyCapsule_New
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    return new(ctypes.addressof(managed), b"dltensor", None)


class CapsuleProducer:
    """A DLPack producer in CUDA memory over a capsule built here."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, stream=None):
        assert stream == -1  # no ordering by the producer: the library waits for the device
        return self.capsule

    def __dlpack_device__(self):
        return (2, 1)


@pytest.mark.parametrize("shape,strides,code,bits,name,contiguous", [
    ((4, 8), None, 4, 16, "bf16", True),          # no strides: C order
    ((4, 8), (8, 1), 2, 32, "f32", True),
    ((1, 8), (99, 1), 2, 16, "f16", True),        # a size-1 dimension's stride
    ((4, 8), (1, 4), 0, 64, "i64", False),        # transposed
    ((4, 8), None, 10, 8, "u8", True),            # kDLFloat8_e4m3fn as bytes
    ((4,), None, 5, 64, None, True),              # complex: no signature name
])
def test_cuda_tensors_are_read_through_dlpack(shape, strides, code, bits, name, contiguous):
    from fp4mlir.library import _DeviceTensor

    keep = []
    tensor = _DeviceTensor(CapsuleProducer(dlpack_capsule(0x1000, shape, strides, code, bits, keep)))
    assert (tensor.address, tensor.device) == (0x1000 + 16, 1)  # byte_offset added
    assert (tensor.name, tensor.shape, tensor.contiguous) == (name, shape, contiguous)


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
    # The JIT keeps its LLVM out of the process's global symbol scope: there
    # it would capture the LLVM of a library loaded later (torch-mlir's,
    # which then aborts on duplicate command-line options).
    assert not hasattr(ctypes.CDLL(None), "LLVMContextCreate")
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


class HostStandInRuntime:
    """Stands in for a GPU library's runtime (fp4mlir.library._GPURuntime)
    where "device memory" is host memory, so that a CPU library runs the
    CUDA-tensor path of Library end to end without a GPU."""

    def __init__(self):
        self.device, self.calls = 0, []

    def set_device(self, ordinal):
        self.calls.append(("set_device", ordinal))

    def synchronize(self):
        self.calls.append(("synchronize",))
        return 0

    def copy_to_host(self, host, device, size):
        self.calls.append(("copy", size))
        ctypes.memmove(host, device, size)
        return 0

    def clear_error(self):
        pass

    def last_error(self):
        return None


def test_cuda_tensors_in_place_or_copied(tmp_path):
    """The in-place and copied paths of a CUDA argument, with host memory
    standing in for the device's (the real one: test/GPU/run_dlpack.py)."""
    inputs = os.path.join(MODELS, "..", "..", "GPU", "Inputs", "device_args.mlir")
    library = fp4mlir.compile(fp4mlir.load(inputs), tmp_path / "device_args.so")
    runtime = library._gpu = HostStandInRuntime()
    rng = np.random.default_rng(7)
    keep = []

    def cuda(array, code, bits):
        offset = 64  # the tensor starts byte_offset bytes into its buffer
        buffer = np.zeros(array.nbytes + offset, np.uint8)
        buffer[offset:] = array.reshape(-1).view(np.uint8)
        keep.append(buffer)
        return CapsuleProducer(dlpack_capsule(_address(buffer), array.shape, None, code, bits,
                                              keep, byte_offset=offset))

    forward = library.function("forward")
    bits = rng.integers(0x3c00, 0x4000, size=(256, 128), dtype=np.uint16)  # bf16 in [1, 2)
    x = bits.view(forward.args[0].dtype)
    (expected,) = forward(x)
    forward.device_args = [True]  # as a GPU library records it: read in place
    (in_place,) = forward(cuda(bits, 4, 16))
    assert in_place.tobytes() == expected.tobytes()
    assert runtime.calls == [("set_device", 1), ("synchronize",)]
    runtime.calls.clear()

    forward_f32 = library.function("forward_f32")
    assert forward_f32.device_args == [False]  # copied to the host first
    xf = rng.standard_normal((256, 128), dtype=np.float32)
    (copied,) = forward_f32(cuda(xf, 2, 32))
    assert copied.tobytes() == forward_f32(xf)[0].tobytes()
    assert runtime.calls == [("synchronize",), ("copy", xf.nbytes)]

    both = library.function("forward_and_input")
    y, back = both(cuda(bits, 4, 16))
    assert back.tobytes() == bits.tobytes() and y.tobytes() == expected.tobytes()

    with pytest.raises(ValueError, match=r"argument 0 of 'forward': expected bf16:256x128, "
                       r"got a CUDA tensor of f32 and shape \(256, 128\)"):
        forward(cuda(xf, 2, 32))
    with pytest.raises(ValueError, match=r"not contiguous; pass tensor.contiguous\(\)"):
        forward(CapsuleProducer(dlpack_capsule(_address(bits), (256, 128), (1, 256), 4, 16, keep)))
