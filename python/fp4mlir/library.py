"""Calling a library from fp4-compile on numpy arrays (ctypes).

A library exports, for each public function `f`, the C entry point
`_mlir_ciface_f(results, arg0, ...)` taking MLIR memref descriptors, and its
tensor signature as the string `__fp4_signature_f`
("f32:1x8x64,i64:1x8->f32:1x8x96"; docs/runtime.md); a GPU library also
`__fp4_device_args_f` ("10": which arguments its host code only copies to
the device, so that a CUDA tensor can be read in place). This module needs
only numpy: it runs CPU and GPU libraries where LLVM is not installed.
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


def _descriptor(shape, address):
    """An MLIR memref descriptor (int64 words) over a C-contiguous tensor of
    `shape` at `address` (host or device memory): allocated and aligned
    pointer, offset 0, sizes, strides in elements."""
    rank = len(shape)
    words = np.empty(3 + 2 * rank, dtype=np.int64)
    words[0] = words[1] = address
    words[2] = 0
    words[3:3 + rank] = shape
    words[3 + rank:] = _row_major(shape)
    return words


def _row_major(sizes):
    """The element strides of a C-contiguous array of `sizes`."""
    strides, stride = [], 1
    for size in reversed(sizes):
        strides.append(stride)
        stride *= size
    return strides[::-1]


# DLPack's device types that are host memory: kDLCPU, kDLCUDAHost,
# kDLCUDAManaged (readable from the host); and CUDA device memory.
_HOST_DEVICES = {1, 3, 13}
_KDL_CUDA = 2


# dlpack.h: the capsule "dltensor" points to a DLManagedTensor, which starts
# with its DLTensor.
class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

# (DLPack type code, bits) -> signature name. The 8-bit float codes
# (kDLFloat8_*, 7..14) travel as bytes, like numpy's u8.
_DL_NAMES = {(2, 32): "f32", (2, 16): "f16", (4, 16): "bf16", (0, 64): "i64",
             (0, 32): "i32", (0, 8): "i8", (1, 8): "u8"}
_DL_NAMES.update({(code, 8): "u8" for code in range(7, 15)})


class _DeviceTensor:
    """A CUDA tensor seen through DLPack: its address, device, element type
    (signature name), shape, and whether it is C-contiguous. Holds the
    capsule, and so the producer's tensor, while the call runs."""

    def __init__(self, value):
        # stream=-1: no ordering by the producer (an event on a stream, 15 us
        # in torch); Function waits for all of the device's work instead,
        # which on an idle device costs about 1 us.
        try:
            self._capsule = value.__dlpack__(stream=-1)
        except TypeError:
            self._capsule = value.__dlpack__()
        tensor = _DLTensor.from_address(_capsule_pointer(self._capsule, b"dltensor"))
        self.address = (tensor.data or 0) + tensor.byte_offset
        self.device = tensor.device.device_id
        dtype = tensor.dtype
        self.name = _DL_NAMES.get((dtype.code, dtype.bits)) if dtype.lanes == 1 else None
        self.shape = tuple(tensor.shape[i] for i in range(tensor.ndim))
        strides = [tensor.strides[i] for i in range(tensor.ndim)] if tensor.strides else None
        # A dimension of size 1 may carry any stride.
        self.contiguous = strides is None or all(
            size == 1 or stride == expected
            for size, stride, expected in zip(self.shape, strides, _row_major(self.shape)))


def _in_cuda_memory(value, what):
    """Whether `value` is a DLPack tensor in CUDA memory (False for anything
    in host memory). Other device memory is refused."""
    if not hasattr(value, "__dlpack__") or not hasattr(value, "__dlpack_device__"):
        return False
    device_type, device_id = value.__dlpack_device__()
    if int(device_type) in _HOST_DEVICES:
        return False
    if int(device_type) != _KDL_CUDA:
        raise TypeError(
            f"{what} is in device memory of DLPack device type {int(device_type)} "
            f"(id {device_id}); fp4mlir libraries take host arrays, and GPU "
            "libraries also CUDA tensors: pass tensor.cpu() or a numpy array")
    return True


def _as_array(value):
    """numpy arrays as they are; DLPack producers in host memory through
    from_dlpack; anything else through np.asarray."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__dlpack__"):
        return np.from_dlpack(value)
    return np.asarray(value)


class _GPURuntime:
    """The GPU runtime inside a GPU library (lib/Runtime/GPURuntime.cpp):
    its error state, and what CUDA tensors need. None for a CPU library."""

    def __init__(self, handle):
        self.last_error, self.clear_error = handle.fp4gpuLastError, handle.fp4gpuClearError
        self.last_error.restype, self.clear_error.restype = ctypes.c_char_p, None
        self.set_device = handle.fp4gpuSetDevice
        self.set_device.argtypes, self.set_device.restype = [ctypes.c_int32], None
        self.device = 0
        try:  # libraries built before CUDA tensors were taken lack these
            self.synchronize, self.copy_to_host = handle.fp4gpuSynchronize, handle.fp4gpuCopyToHost
            self.synchronize.restype = self.copy_to_host.restype = ctypes.c_int32
            self.copy_to_host.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64]
        except AttributeError:
            self.synchronize = self.copy_to_host = None

    def error(self):
        message = self.last_error()
        return message.decode() if message else "unknown error"

    @classmethod
    def of(cls, handle):
        try:
            return cls(handle)
        except AttributeError:
            return None


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
        # A symbol is the string's first bytes, not a pointer to it.
        text = ctypes.string_at(ctypes.addressof(signature)).decode()
        self.args, self.results = parse_signature(text)
        # GPU libraries: '1' for each argument the host code only copies to
        # the device, which a CUDA tensor may then give directly.
        try:
            flags = ctypes.c_char_p.in_dll(library._handle, f"__fp4_device_args_{name}")
            flags = ctypes.string_at(ctypes.addressof(flags)).decode()
        except ValueError:
            flags = ""
        self.device_args = [flag == "1" for flag in flags.ljust(len(self.args), "0")]
        self._entry.restype = None
        # The results' descriptor (if any), then one per argument, by address.
        self._entry.argtypes = [ctypes.c_void_p] * (len(self.args) + bool(self.results))
        self._out_words = max(sum(3 + 2 * len(s.shape) for s in self.results), 1)
        self._library = library

    def __call__(self, *values):
        if len(values) != len(self.args):
            raise TypeError(f"'{self.name}' takes {len(self.args)} arguments, got {len(values)}")
        gpu = self._library._gpu
        arrays, devices = [], {}
        for i, (value, spec) in enumerate(zip(values, self.args)):
            what = f"argument {i} of '{self.name}'"
            if not _in_cuda_memory(value, what):
                array = _as_array(value)
                if array.dtype != spec.dtype or tuple(array.shape) != spec.shape:
                    raise ValueError(f"{what}: expected {spec} ({spec.dtype}), got "
                                     f"{array.dtype} of shape {tuple(array.shape)}")
                arrays.append(np.ascontiguousarray(array))
                continue
            devices[i] = self._device_tensor(value, spec, what, gpu)
            arrays.append(None if self.device_args[i] else np.empty(spec.shape, spec.dtype))
        if devices:
            self._take_device_tensors(devices, arrays, gpu)
        addresses = [devices[i].address if a is None else _address(a) for i, a in enumerate(arrays)]
        descriptors = [_descriptor(spec.shape, p) for spec, p in zip(self.args, addresses)]
        out = np.zeros(self._out_words, dtype=np.int64)
        pointers = [_address(out)] if self.results else []
        pointers += [_address(d) for d in descriptors]
        if gpu:
            gpu.clear_error()
        self._entry(*pointers)
        results = tuple(self._read_results(
            out.tolist(), [(p, p + a.nbytes) for p, a in zip(addresses, arrays) if a is not None]))
        if gpu and gpu.last_error():
            raise RuntimeError(f"'{self.name}' failed on the GPU: {gpu.error()} "
                               "(its results are not valid)")
        return results

    def _device_tensor(self, value, spec, what, gpu):
        """The _DeviceTensor of CUDA tensor `value` for argument `spec`, or an
        error saying why this call cannot take it."""
        if gpu is None:
            raise TypeError(f"{what} is a CUDA tensor, but {self._library.path} is a CPU "
                            "library: pass tensor.cpu() or a numpy array")
        if gpu.synchronize is None:
            raise TypeError(f"{what} is a CUDA tensor, but {self._library.path} was built "
                            "before GPU libraries took CUDA tensors: rebuild it, or pass "
                            "tensor.cpu()")
        device = _DeviceTensor(value)
        if device.name is None or (device.name != spec.name) or device.shape != spec.shape:
            got = device.name or "an element type without a signature name"
            raise ValueError(f"{what}: expected {spec}, got a CUDA tensor of {got} "
                             f"and shape {device.shape}")
        if not device.contiguous:
            raise ValueError(f"{what}: the CUDA tensor is not contiguous; "
                             "pass tensor.contiguous()")
        return device

    def _take_device_tensors(self, devices, arrays, gpu):
        """Makes the CUDA tensors `devices` (by argument) usable: the runtime
        on their device, their producers' work finished, and those the host
        code reads copied into their host arrays."""
        ordinals = {d.device for d in devices.values()}
        if len(ordinals) > 1:
            raise ValueError(f"'{self.name}': CUDA tensors on devices {sorted(ordinals)}; "
                             "pass them all on one device")
        ordinal = ordinals.pop()
        if ordinal != gpu.device:
            gpu.set_device(ordinal)
            gpu.device = ordinal
        gpu.clear_error()
        if gpu.synchronize():
            raise RuntimeError(f"'{self.name}': waiting for the GPU failed: {gpu.error()}")
        for i, device in devices.items():
            host = arrays[i]
            if host is not None and gpu.copy_to_host(_address(host), device.address, host.nbytes):
                raise RuntimeError(f"argument {i} of '{self.name}': copying the CUDA tensor "
                                   f"to the host failed: {gpu.error()}")

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
    y, = library(x)                   # the entry "forward"; x: numpy, DLPack
                                      # (host), or CUDA for a GPU library
    k = library.function("prefill")   # another entry
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(self.path)
        self._handle = ctypes.CDLL(os.path.abspath(self.path), mode=os.RTLD_LOCAL | os.RTLD_NOW)
        self._functions = {}
        # A GPU library carries the GPU runtime, whose errors are not fatal:
        # they are checked around every call.
        self._gpu = _GPURuntime.of(self._handle)

    def function(self, name="forward"):
        if name not in self._functions:
            self._functions[name] = Function(self, name)
        return self._functions[name]

    def __call__(self, *arrays, entry="forward"):
        return self.function(entry)(*arrays)
