"""Calling a library from fp4-compile on numpy arrays (ctypes).

A library exports, for each public function `f`, the C entry point
`_mlir_ciface_f(results, arg0, ...)` taking MLIR memref descriptors, and its
tensor signature as the string `__fp4_signature_f`
("f32:1x8x64,i64:1x8->f32:1x8x96"; docs/runtime.md). This module needs only
numpy: it runs CPU and GPU libraries where LLVM is not installed.
"""

import ctypes
import ctypes.util
import os

import numpy as np

try:  # bf16 arrays, where ml_dtypes is installed
    import ml_dtypes

    _BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    _BF16 = None

_DTYPES = {
    "f32": np.dtype(np.float32),
    "f16": np.dtype(np.float16),
    "i64": np.dtype(np.int64),
    "i32": np.dtype(np.int32),
    "i8": np.dtype(np.int8),
    "u8": np.dtype(np.uint8),  # 8-bit floats travel as their bytes
    "bf16": _BF16 if _BF16 is not None else np.dtype(np.uint16),
}

# MLIR marks a returned constant (memref.get_global) with this "allocated"
# pointer instead of a heap one.
_DEADBEEF = 0xDEADBEEF

_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.free.argtypes = [ctypes.c_void_p]


class TensorSpec:
    """One argument or result: its dtype name and shape."""

    def __init__(self, text):
        name, _, dims = text.partition(":")
        if name not in _DTYPES:
            raise ValueError(f"unknown element type '{name}' in signature")
        self.name = name
        self.dtype = _DTYPES[name]
        self.shape = tuple(int(d) for d in dims.split("x")) if dims else ()

    def __repr__(self):
        return f"{self.name}:{'x'.join(map(str, self.shape))}"


def parse_signature(text):
    """'f32:1x8,i64:1x8->f32:1x8' -> ([TensorSpec], [TensorSpec])."""
    if "->" not in text:
        raise ValueError(f"malformed signature '{text}'")
    args, results = text.split("->", 1)
    split = lambda part: [TensorSpec(t) for t in part.split(",")] if part else []
    return split(args), split(results)


def _address(array):
    """The address of an array's first element."""
    return array.__array_interface__["data"][0]


def _descriptor(array, address):
    """An MLIR memref descriptor (int64 words) over a C-contiguous array at
    `address`: allocated and aligned pointer, offset 0, sizes, strides in
    elements."""
    rank = array.ndim
    words = np.empty(3 + 2 * rank, dtype=np.int64)
    words[0] = words[1] = address
    words[2] = 0
    words[3:3 + rank] = array.shape
    words[3 + rank:] = [s // array.itemsize for s in array.strides]
    return words


def _row_major(sizes):
    """The element strides of a C-contiguous array of `sizes`."""
    strides, stride = [], 1
    for size in reversed(sizes):
        strides.append(stride)
        stride *= size
    return strides[::-1]


# DLPack's device types that are host memory: kDLCPU, kDLCUDAHost,
# kDLCUDAManaged (readable from the host).
_HOST_DEVICES = {1, 3, 13}


def _as_array(value, what="an argument"):
    """numpy arrays as they are; DLPack producers in host memory through
    from_dlpack. A tensor in device memory is refused with what to do: the
    libraries take host buffers (a GPU library copies them to the device
    itself)."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__dlpack__"):
        if hasattr(value, "__dlpack_device__"):
            device_type, device_id = value.__dlpack_device__()
            if int(device_type) not in _HOST_DEVICES:
                raise TypeError(
                    f"{what} is in device memory (DLPack device type "
                    f"{int(device_type)}, id {device_id}); fp4mlir libraries take "
                    "host arrays (a GPU library copies its inputs to the GPU "
                    "itself): pass tensor.cpu() or a numpy array")
        return np.from_dlpack(value)
    return np.asarray(value)


class Function:
    """One entry point of a Library."""

    def __init__(self, library, name):
        self.name = name
        try:
            signature = ctypes.c_char_p.in_dll(library._handle, f"__fp4_signature_{name}")
        except ValueError:
            signature = None
        try:
            self._entry = getattr(library._handle, f"_mlir_ciface_{name}")
        except AttributeError:
            self._entry = None
        if self._entry is None or signature is None:
            raise KeyError(
                f"no function '{name}' in {library.path} (libraries from "
                f"fp4-compile export _mlir_ciface_{name} and its signature)")
        # The symbol is the string's first bytes, not a pointer to it.
        text = ctypes.string_at(ctypes.addressof(signature)).decode()
        self.args, self.results = parse_signature(text)
        self._entry.restype = None
        # The results' descriptor (if any), then one per argument, by address.
        self._entry.argtypes = [ctypes.c_void_p] * (len(self.args) + bool(self.results))
        self._out_words = max(sum(3 + 2 * len(s.shape) for s in self.results), 1)
        self._library = library

    def __call__(self, *values):
        if len(values) != len(self.args):
            raise TypeError(f"'{self.name}' takes {len(self.args)} arguments, got {len(values)}")
        arrays = []
        for i, (value, spec) in enumerate(zip(values, self.args)):
            array = _as_array(value, f"argument {i} of '{self.name}'")
            if array.dtype != spec.dtype or tuple(array.shape) != spec.shape:
                raise ValueError(
                    f"argument {i} of '{self.name}': expected {spec} "
                    f"({spec.dtype}), got {array.dtype} of shape {tuple(array.shape)}")
            arrays.append(np.ascontiguousarray(array))
        addresses = [_address(a) for a in arrays]
        descriptors = [_descriptor(a, p) for a, p in zip(arrays, addresses)]
        out = np.zeros(self._out_words, dtype=np.int64)
        pointers = [_address(out)] if self.results else []
        pointers += [_address(d) for d in descriptors]
        errors = self._library._gpu_errors
        if errors:
            errors[1]()
        self._entry(*pointers)
        results = tuple(self._read_results(
            out.tolist(), [(p, p + a.nbytes) for p, a in zip(addresses, arrays)]))
        if errors and errors[0]():
            raise RuntimeError(f"'{self.name}' failed on the GPU: "
                               f"{errors[0]().decode()} (its results are not valid)")
        return results

    def _read_results(self, out, inputs):
        """The results from their descriptors `out` (int64 words), copied;
        frees each result buffer the call allocated (not one inside an
        input's [start, end) range in `inputs`, which a result may alias)."""
        freed = set()
        word = 0
        results = []
        for spec in self.results:
            rank = len(spec.shape)
            allocated, aligned, offset = out[word], out[word + 1], out[word + 2]
            sizes = [out[word + 3 + i] for i in range(rank)]
            strides = [out[word + 3 + rank + i] for i in range(rank)]
            word += 3 + 2 * rank
            itemsize = spec.dtype.itemsize
            extent = 1 + sum((s - 1) * st for s, st in zip(sizes, strides)) if all(sizes) else 0
            base = (ctypes.c_uint8 * (max(extent, 1) * itemsize)).from_address(aligned + offset * itemsize)
            flat = np.frombuffer(base, dtype=spec.dtype, count=max(extent, 0))
            if strides == _row_major(sizes):
                results.append(flat.reshape(sizes).copy())
            else:
                view = np.lib.stride_tricks.as_strided(
                    flat, shape=sizes, strides=[st * itemsize for st in strides])
                results.append(np.array(view, copy=True))
            inside = any(lo <= allocated < hi for lo, hi in inputs)
            if allocated and allocated != _DEADBEEF and not inside and allocated not in freed:
                freed.add(allocated)
                _libc.free(ctypes.c_void_p(allocated))
        return results


class Library:
    """A shared library from fp4-compile (CPU or GPU), called on arrays.

    library = Library("model.so")
    y, = library(x)                   # the entry "forward"
    k = library.function("prefill")   # another entry
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(self.path)
        self._handle = ctypes.CDLL(os.path.abspath(self.path), mode=os.RTLD_LOCAL | os.RTLD_NOW)
        self._functions = {}
        # A GPU library carries the GPU runtime, whose errors are not fatal:
        # (last error, clear) are checked around every call.
        try:
            last, clear = self._handle.fp4gpuLastError, self._handle.fp4gpuClearError
            last.restype, clear.restype = ctypes.c_char_p, None
            self._gpu_errors = (last, clear)
        except AttributeError:
            self._gpu_errors = None

    def function(self, name="forward"):
        if name not in self._functions:
            self._functions[name] = Function(self, name)
        return self._functions[name]

    def __call__(self, *arrays, entry="forward"):
        return self.function(entry)(*arrays)
