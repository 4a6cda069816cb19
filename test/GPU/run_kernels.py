#!/usr/bin/env python3
"""Runs fp4-mlir's compiled matmul kernels on the GPU and checks them against
a float64 reference on fresh random data.

  python3 test/GPU/run_kernels.py KERNELS.cubin [--seed N] [--repeat R]

Every kernel named fp4_<nvfp4|mxfp4>_mma_[E<E>x]<M>x<N>x<K> in the cubin (from
fp4-compile --target=sm_90a --emit=cubin, the CUDA-core twin of the sm_120a
kernels) is launched the way convert-fp4-to-nvvm's gpu.launch_func does:
grid (ceil(N/8), ceil(M/16), E), 32 threads, each memref<?xT> argument as MLIR's
descriptor (allocated, aligned, offset, size, stride). Kernels named
fp4_<fmt>_w4a16_[E<E>x]<M>x<N>x<K>_<act>_<result> (float activations x FP4
weights, the decode kernel) get its launch (decode_launch below) and a float
activation of type <act>; a bf16 result is checked to bf16's precision, and
the last draw of an NVFP4 kernel uses only subnormal UE4M3 scales. A name
ending in _bias takes one more argument before the output, a random f32 bias
[E, N] that the reference adds. W4A8 kernels, fp4_mxfp4_<e4m3|e5m2>_mma_...,
get random finite FP8 activations with UE8M0 scales per 32. MXFP4 W4A4
kernels on sm_90a's FP8 tensor cores, fp4_mxfp4_f8wg<T>_..., run after
their rows kernel (fp4_mxfp4_e5m2rows_<rows>x<K>; fp4_mxfp4_f8ws<T>_... after
one for the activations and one for the weights), whose E5M2 bytes and row
entries must equal e5m2_rows_reference bit for bit, over three draws
(scales within the E5M2 window; its edges, set_window_edges; scales past it,
the kernel's CUDA-core path). W4A4 kernels run as W4A16 (on sm_90a all but MXFP4 with more than 16 rows, 128-256 excepted,
and K % 128 = 0), fp4_<fmt>_w4a4x16<W4A16 kind>_..., run after their bf16 rows
kernel (fp4_<fmt>_bf16rows_<rows>x<K>), whose values and row scales must
equal bf16_rows_reference exactly, with the W4A16 kernel's launch; their
MXFP4 "edges" draw shifts one row and loses another (bf16_rows_edges),
whose outputs must be NaN. W4A4 kernels on the GEMV kernel that expands
the FP4 activations itself, fp4_<fmt>_w4a4mv[s<S>]_... (up to 8 rows),
take the W4A4 arguments (codes and scales of both operands) with the GEMV
kernel's launch and the same three draws. Gathered-expert
kernels (..._G<T>E<E>x1xNxK...) get T random expert indices among E (the last
one or two out of range) before the bias; rows with a bad index must be NaN. Inputs are random
codes (every E2M1 code) and random valid scales; the output is poisoned with
NaN before each launch. The reference decodes the same bytes in float64:
D = (A_codes * A_scales) (B_codes * B_scales)^T * alpha. Prints one line per
kernel and `N passed, N failed`; exits non-zero on a failure. Needs torch
(for device memory) and the CUDA driver (libcuda)."""
import argparse
import ctypes
import functools
import os
import re
import sys

import numpy as np
import torch

E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6])


def ue4m3(byte):
    e = (byte >> 3) & 15
    m = byte & 7
    return np.where(e == 0, m * 2.0 ** -9, (1 + m / 8.0) * 2.0 ** (e.astype(np.int64) - 7))


def ue8m0(byte):
    return 2.0 ** (byte.astype(np.int64) - 127)


def fp8(byte, fmt):
    """The values of E4M3FN or E5M2 bytes (no NaN or Inf among them)."""
    byte = byte.astype(np.int64)
    sign = np.where(byte & 0x80, -1.0, 1.0)
    if fmt == "e4m3":
        e, m, bias, mbits = (byte >> 3) & 15, byte & 7, 7, 3
    else:
        e, m, bias, mbits = (byte >> 2) & 31, byte & 3, 15, 2
    frac = m / float(1 << mbits)
    return sign * np.where(e == 0, frac * 2.0 ** (1 - bias), (1 + frac) * 2.0 ** (e - bias))


def random_fp8_activations(rng, fmt, rows, k):
    """Random finite E4M3 / E5M2 bytes [rows, k] and UE8M0 scales per 32,
    with their float64 values."""
    data = rng.integers(0, 256, size=(rows, k), dtype=np.uint8)
    finite = (data & 0x7F) != 0x7F if fmt == "e4m3" else (data & 0x7C) != 0x7C
    data = np.where(finite, data, data & 0x80).astype(np.uint8)  # NaN/Inf -> 0
    scales = rng.integers(119, 136, size=(rows, k // 32), dtype=np.uint8)
    values = fp8(data, fmt) * np.repeat(ue8m0(scales), 32, axis=1)
    return data, scales, values


def decode(data, scales, block, scale_decode):
    lo, hi = E2M1[data & 15], E2M1[data >> 4]
    codes = np.stack([lo, hi], -1).reshape(data.shape[0], -1)
    return codes * np.repeat(scale_decode(scales), block, axis=1)


class Driver:
    def __init__(self):
        torch.cuda.init()
        torch.zeros(1, device="cuda")  # the primary context, current
        self.cuda = ctypes.CDLL("libcuda.so.1")

    def check(self, result, what):
        if result != 0:
            raise RuntimeError(f"{what} failed with CUDA error {result}")

    def load(self, image):
        module = ctypes.c_void_p()
        self.check(self.cuda.cuModuleLoadData(ctypes.byref(module), image),
                   "cuModuleLoadData")
        return module

    def function(self, module, name, shared=0):
        """The kernel `name`, allowed `shared` bytes of dynamic shared
        memory (above the default 48 KB it must be raised first)."""
        fn = ctypes.c_void_p()
        self.check(self.cuda.cuModuleGetFunction(ctypes.byref(fn), module,
                                                 name.encode()),
                   f"cuModuleGetFunction({name})")
        if shared > 48 * 1024:
            max_dynamic_shared = 8  # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
            self.check(self.cuda.cuFuncSetAttribute(fn, max_dynamic_shared, shared),
                       "cuFuncSetAttribute")
        return fn

    def parameter_count(self, fn):
        """The number of parameters of kernel `fn` (cuFuncGetParamInfo)."""
        count, offset, size = 0, ctypes.c_size_t(), ctypes.c_size_t()
        while self.cuda.cuFuncGetParamInfo(fn, count, ctypes.byref(offset),
                                           ctypes.byref(size)) == 0:
            count += 1
        return count

    def enqueue(self, fn, grid, block, params, shared=0, stream=None, dependent=False):
        """Launches `fn` on `stream` (a CUstream handle; None: the legacy
        default stream) without waiting; `params` are ctypes values, one per
        kernel parameter (grid and block padded with 1s to three), with
        cuLaunchKernelEx as the GPU runtime does. With `dependent`, as the
        compiled host code launches a matmul after its rows kernel: a
        programmatic dependent of the kernel before it (the kernel waits
        with griddepcontrol.wait)."""
        grid, block = tuple(grid) + (1,) * (3 - len(grid)), tuple(block) + (1,) * (3 - len(block))
        pointers = (ctypes.c_void_p * len(params))(
            *[ctypes.cast(ctypes.byref(p), ctypes.c_void_p) for p in params])
        attribute = LaunchAttribute(id=6)  # PROGRAMMATIC_STREAM_SERIALIZATION
        attribute.value[0] = 1  # programmaticStreamSerializationAllowed (an int)
        config = LaunchConfig(*grid, *block, shared, stream, ctypes.pointer(attribute),
                              1 if dependent else 0)
        self.check(self.cuda.cuLaunchKernelEx(ctypes.byref(config), fn, pointers, None),
                   "cuLaunchKernelEx")

    def launch(self, fn, grid, block, params, shared=0, dependent=False):
        """As enqueue, then waits; a parameter list of the wrong length is
        an error here (the kernel would read garbage)."""
        expected = self.parameter_count(fn)
        if expected != len(params):
            raise RuntimeError(f"the kernel takes {expected} parameters, given {len(params)}")
        self.enqueue(fn, grid, block, params, shared, dependent=dependent)
        torch.cuda.synchronize()


class LaunchAttribute(ctypes.Structure):
    """CUlaunchAttribute: an id, padding to 8 bytes, a 64-byte value."""
    _fields_ = [("id", ctypes.c_int), ("pad", ctypes.c_char * 4),
                ("value", ctypes.c_uint64 * 8)]


class LaunchConfig(ctypes.Structure):
    """CUlaunchConfig."""
    _fields_ = [("gridDimX", ctypes.c_uint), ("gridDimY", ctypes.c_uint),
                ("gridDimZ", ctypes.c_uint), ("blockDimX", ctypes.c_uint),
                ("blockDimY", ctypes.c_uint), ("blockDimZ", ctypes.c_uint),
                ("sharedMemBytes", ctypes.c_uint), ("hStream", ctypes.c_void_p),
                ("attrs", ctypes.POINTER(LaunchAttribute)), ("numAttrs", ctypes.c_uint)]


class Checks:
    """A GPU test script's PASS / FAIL lines and their tally."""

    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, ok, what):
        self.passed += bool(ok)
        self.failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {what}")

    def summary(self):
        """Prints `N passed, N failed`; True when nothing failed."""
        print(f"{self.passed} passed, {self.failed} failed")
        return self.failed == 0


class Memref1D(ctypes.Structure):
    """MLIR's 1-D memref descriptor, as a C struct."""
    _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                ("offset", ctypes.c_int64), ("size", ctypes.c_int64),
                ("stride", ctypes.c_int64)]


@functools.lru_cache(maxsize=None)
def gpu_runtime(path=None):
    """The GPU runtime library (lib/Runtime/GPURuntime.cpp), with
    fp4gpuEncodeTensorMap's signature set: `path`, else $FP4_GPU_RUNTIME,
    else the build tree's."""
    path = path or os.environ.get("FP4_GPU_RUNTIME") or os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "lib", "libfp4_gpu_runtime.so")
    runtime = ctypes.CDLL(path)
    runtime._mlir_ciface_fp4gpuEncodeTensorMap.argtypes = [
        ctypes.POINTER(Memref1D)] + [ctypes.c_int64] * 6
    runtime._mlir_ciface_fp4gpuEncodeTensorMap.restype = None
    runtime.fp4gpuLastError.restype = ctypes.c_char_p
    return runtime


def encode_tensor_map(runtime, address, rows, row_bytes, box_bytes, box_rows, swizzle,
                      map_bytes=128):
    """The bytes of the TMA tensor map fp4gpuEncodeTensorMap writes (into a
    buffer of `map_bytes`), and the runtime's error message (None if none)."""
    host = (ctypes.c_uint8 * map_bytes)()
    runtime.fp4gpuClearError()
    runtime._mlir_ciface_fp4gpuEncodeTensorMap(
        ctypes.byref(Memref1D(None, ctypes.addressof(host), 0, map_bytes, 1)),
        address, rows, row_bytes, box_bytes, box_rows, swizzle)
    error = runtime.fp4gpuLastError()
    return bytes(host), error.decode() if error else None


def activation_map(x, rows, k, kind):
    """x's tensor map (device bytes) for a kernel of `kind` that loads its
    activations by TMA (activation_arguments), as the host code passes it
    before the output: `rows` rows of 2 k bytes (bf16), boxes of 128 bytes x
    the tile's rows (256 for "wrt"), 128-byte swizzle. Returns the memref
    arguments and the map's device tensor (keep it alive until the launch
    is done)."""
    tile_m = 256 if kind.startswith("wrt") else 128
    host, error = encode_tensor_map(gpu_runtime(), x.data_ptr(), rows, 2 * k, 128, tile_m, 128)
    if error:
        raise RuntimeError(error)
    device = torch.frombuffer(bytearray(host), dtype=torch.uint8).cuda()
    return memref(device), device


def activation_arguments(x, rows, k, kind):
    """activation_map's result where the W4A16 kernel of `kind` loads its
    activations by TMA, as prefillActivationCopy decides (those with the
    weights in registers, "wr<BN>[s<S>]" and "wrt<BN>", of either format),
    else ([], None)."""
    if not kind.startswith("wr"):
        return [], None
    return activation_map(x, rows, k, kind)


def memref(tensor):
    """MLIR's 1-D memref descriptor of a contiguous device tensor."""
    ptr = ctypes.c_void_p(tensor.data_ptr())
    return [ptr, ctypes.c_void_p(tensor.data_ptr()), ctypes.c_int64(0),
            ctypes.c_int64(tensor.numel()), ctypes.c_int64(1)]


# The kind of a W4A16 kernel in its name (fp4_<fmt>_w4a16<kind>_...), as
# decode_launch reads it: "" (absent) or "s<S>", "tc", "mv[s<S>]", "pf<BN>[s<S>]",
# "wg<BN>[s<S>]", "wgt<BN>[s<S>]", "wr<BN>[s<S>]", "wrt<BN>". No capturing group: callers add one
# where they want it.
W4A16_KIND = r"(?:tc|mv(?:s\d+)?|(?:pf|wgt|wg|wrt|wr)\d+(?:s\d+)?|s\d+)"


def decode_launch(m, n, kind=""):
    """The W4A16 kernels' geometry from the kind in their name, as (grid,
    block, dynamic shared bytes): "" or "s<S>" (decode): up to 16 activation
    rows per CTA, 4 warps of R weight rows each, S warps per row group
    (DecodeKernel.cpp); "mv[s<S>]" (MmaGemvKernel.cpp): up to 8 activation
    rows, max(4, S) warps of 16 weight rows, S warps per row group; "tc"
    (MmaDecodeKernel.cpp): 16 x 32 tiles with 8 warps splitting K; "pf<BN>"
    and "wg<BN>" (PrefillKernel.cpp, mma.sync or wgmma): 128 x BN tiles
    ("wgt<BN>": 256 x BN), 8 warps, two (three for "wgt") buffers of
    (rows + BN) rows of 128 bytes plus 1 KB of alignment slack; "wr<BN>"
    and "wrt<BN>" (wgmma, weights in registers): 128 x BN and 256 x BN,
    four buffers of the activation rows only and four TMA mbarriers (used
    by those loading by TMA, activation_arguments; prefillSharedBytes); with "s<S>" (split-K), S CTAs per tile along grid
    x and at least room for every thread's rows / 128 x BN/2 f32 partials."""
    if kind.startswith(("pf", "wg", "wr")):
        tile_m = 256 if kind.startswith(("wgt", "wrt")) else 128
        tile_n, _, split = kind.lstrip("pfwgrt").partition("s")
        tile_n, split = int(tile_n), int(split or 1)
        # "wr(t)": the weights stay in registers, four buffers of activations.
        in_registers = kind.startswith("wr")
        stages = 4 if in_registers else 3 if kind.startswith("wgt") else 2
        staging = stages * (tile_m + (0 if in_registers else tile_n)) * 128
        partials = 256 * tile_m // 128 * tile_n // 2 * 4 if split > 1 else 0
        shared = max(staging, partials) + (8 * stages if in_registers else 0) + 1024
        return ((n + tile_n - 1) // tile_n * split, (m + tile_m - 1) // tile_m), (256, 1, 1), shared
    if kind == "tc":
        return ((n + 31) // 32, (m + 15) // 16), (256, 1, 1), 0
    if kind.startswith("mv"):
        # MmaGemvKernel.cpp: up to 8 activation rows, max(4, S) warps of 16
        # weight rows, S warps sharing them over K.
        split = int(kind[3:] or 1)
        warps = max(4, split)
        columns = 16 * warps // split
        return ((n + columns - 1) // columns, 1), (32 * warps, 1, 1), 0
    # "" or "s<S>" (decodeTiling): one activation row: 2 weight rows per
    # warp, S warps sharing them over K; up to 4: 4 rows; else 2 rows.
    rows = min(m, 16)
    split = int(kind[1:]) if kind.startswith("s") else 1
    r = 2 if rows == 1 or rows > 4 else 4
    columns = 4 // split * r
    return ((n + columns - 1) // columns, (m + rows - 1) // rows), (128, 1, 1), 0


TORCH_TYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def launched_dependent(kind):
    """Whether the compiled host code launches the W4A16 kernel of this kind
    (the name's kind after w4a4x16) as a programmatic dependent of the bf16
    rows kernel: the decode kernels ("", "s<S>", "mv[s<S>]", "tc") and the
    prefill kernels that keep the weights in registers ("wr", "wrt"), not
    those staging them ("pf", "wg", "wgt"; FP4ToNVVM.cpp)."""
    return not kind.startswith(("pf", "wg"))


def rows_launch(rows, k):
    """(grid, block) of the activation rows kernels (fp4_mxfp4_e5m2rows_...,
    fp4_<fmt>_bf16rows_...; activationRowsLaunch in Kernels.h): one warp per
    chunk of 32 x 32 codes of a row, 8 warps per CTA of 256 threads."""
    warps = rows * ((k // 32 + 31) // 32)
    return ((warps + 7) // 8, 1, 1), (256, 1, 1)


def f8wg_launch(m, n, kind):
    """(grid, block, dynamic shared bytes) of the MXFP4 W4A4 kernel on
    sm_90a's FP8 tensor cores (fp4_mxfp4_f8w<kind>_..., Fp8WgmmaKernel.cpp;
    kind "g<T>", "g<T>s<S>" or, weights staged, "s<T>"): tiles of T
    activation rows x 128 weight rows, 256 threads; with split-K, S CTAs
    per tile along grid x (a cluster); four buffers of T x 128 E5M2 bytes
    (as large as split-K's partial tile; staged, of T + 128 rows) and 1 KB
    of alignment slack."""
    staged = kind.startswith("s")
    tile, _, split = kind[1:].partition("s")
    tile, split = int(tile), int(split or 1)
    grid = ((n + 127) // 128 * split, (m + tile - 1) // tile)
    return grid, (256, 1, 1), 4 * (tile + 128 * staged) * 128 + 1024


# E2M1 magnitude code -> (exponent, mantissa bit) of its value (1 + m/2) 2^e.
E2M1_PARTS = {1: (-1, 0), 2: (0, 0), 3: (0, 1), 4: (1, 0), 5: (1, 1), 6: (2, 0), 7: (2, 1)}


def e5m2_rows_reference(data, scales):
    """What the rows kernel (fp4_mxfp4_e5m2rows_<rows>x<K>) must write for
    MXFP4 rows `data` [rows, K/2] with UE8M0 `scales` [rows, K/32]: each
    code times 2^(s - R + 13) as an E5M2 byte (R the row's largest scale
    byte), block bytes in the kernels' K order (codes 8j..8j+3 at 4j..,
    8j+4..8j+7 at 16 + 4j..), and per row R, or -1 where a block more than
    26 below R holds a nonzero code (or R is 255): the kernels' window, in
    which every code has a normal E5M2 byte (a block 27 below would still
    hold its codes of 1 and more, but the kernels do not split blocks).
    Derived from the values, not from the kernel's tables."""
    rows, half = data.shape
    codes = np.stack([data & 15, data >> 4], -1).reshape(rows, 2 * half).astype(np.int64)
    largest = scales.max(axis=1).astype(np.int64)
    shift = np.repeat(scales.astype(np.int64) - largest[:, None] + 13, 32, axis=1)
    out = np.zeros(codes.shape, dtype=np.int64)
    info = largest.copy()
    magnitude, sign = codes & 7, codes >> 3
    for mag, (e, mbit) in E2M1_PARTS.items():
        field = e + shift + 15
        hit = magnitude == mag
        out = np.where(hit, (field << 2) | (mbit << 1), out)
        assert not (hit & (field > 30)).any(), "R is the largest scale"
    outside = (magnitude != 0) & (shift < 13 - 26)
    info = np.where(outside.any(axis=1), -1, info)
    info = np.where(largest == 255, -1, info)
    out |= sign << 7
    order = np.array([8 * (p % 16 // 4) + p % 4 + 4 * (p // 16) for p in range(32)])
    out = out.reshape(rows, -1, 32)[:, :, order].reshape(rows, -1)
    return out.astype(np.uint8), info.astype(np.int32)


def set_window_edges(a, sa, b, sb):
    """Puts the E5M2 window's edges into MXFP4 operands (rows of codes a, b
    with scales sa, sb): activation row 0 gets a block exactly 26 below its
    largest (still held: the row must stay usable), row 1 (if any) a block
    27 below with nonzero codes (its row entry must be -1, and its tile
    falls back to the CUDA cores), and the last weight row such a block
    too (the matmul kernel's own vote), plus an all-zero block with scale
    byte 0 in weight row 0 (zero codes never count)."""
    def edge(codes, scales, row, below, nonzero=True):
        scales[row, :] = np.minimum(scales[row, :], 130)
        scales[row, 0] = 130
        scales[row, 1] = 130 - below
        if nonzero:
            codes[row, 16:32] = 0x22  # code 1.0 everywhere in block 1
        else:
            codes[row, 16:32] = 0
    edge(a, sa, 0, 26)
    if a.shape[0] > 1:
        edge(a, sa, 1, 27)
    edge(b, sb, b.shape[0] - 1, 27)
    edge(b, sb, 0, 130, nonzero=False)


def bf16_rows_reference(values, scales, data, fmt):
    """What the bf16 rows kernel (fp4_<fmt>_bf16rows_<rows>x<K>) must write
    for FP4 rows whose float64 values are `values` [rows, K] (UE8M0 or
    UE4M3 `scales`, codes `data`): MXFP4 rows with largest scale byte R
    above 240 shifted by s = R - 240 (values times 2^-s, row scale 2^s),
    else the values and 1; NaN as the row scale where a block with a
    byte below s holds a nonzero code. Exact in bf16, so compared as
    float64."""
    rows = values.shape[0]
    if fmt != "mxfp4":
        return values, np.ones(rows)
    shift = np.maximum(scales.max(axis=1).astype(np.int64) - 240, 0)
    nonzero = ((data & 0x77) != 0).reshape(rows, scales.shape[1], -1).any(axis=2)
    lost = (nonzero & (scales.astype(np.int64) < shift[:, None])).any(axis=1)
    row_scales = np.where(lost, np.nan, 2.0 ** shift)
    return values * 2.0 ** -shift[:, None], row_scales


def bf16_rows_edges(a, sa, sb):
    """Puts the bf16 rows kernel's shift into MXFP4 operands: activation
    row 0 gets a block with scale byte 245 (shift 5, all its other bytes
    5 or more: held exactly), and so does the last row (a later batch's
    with stacked operands), row 1 (if any) one with 250 and a block with
    byte 5 and nonzero codes (below its shift of 10: the row is lost, its
    outputs must be NaN); the weights' first block gets byte 107 so that
    the products stay within f32. Returns the lost rows."""
    sa[0, 0] = 245
    sa[-1, 0] = 245
    sb[:, 0] = 107
    if a.shape[0] < 2:
        return []
    sa[1, 0], sa[1, 1] = 250, 5
    a[1, 16:32] = 0x22  # code 1.0 everywhere in block 1
    return [1]


def random_weights(rng, fmt, rows, k, subnormal=False, wide=False, mx_range=None):
    """Random packed codes, valid scales and (NVFP4) a global scale. With
    `subnormal`, NVFP4 scales are all UE4M3 subnormals (m * 2^-9); with
    `wide`, MXFP4 scales span 2^-47 .. 2^13 instead of 2^-8 .. 2^8;
    `mx_range` (low, high) gives MXFP4 scale bytes low .. high - 1."""
    data = rng.integers(0, 256, size=(rows, k // 2), dtype=np.uint8)
    if fmt == "nvfp4" and subnormal:
        scales = rng.integers(1, 8, size=(rows, k // 16), dtype=np.uint8)
        return data, scales, np.float32(rng.uniform(0.5, 2.0)), 16, ue4m3
    if fmt == "nvfp4":  # UE4M3 scales around 1 (exponents 4..10)
        scales = rng.integers(0x20, 0x58, size=(rows, k // 16), dtype=np.uint8)
        return data, scales, np.float32(rng.uniform(0.5, 2.0)), 16, ue4m3
    low, high = mx_range or ((80, 141) if wide else (119, 136))
    scales = rng.integers(low, high, size=(rows, k // 32), dtype=np.uint8)
    return data, scales, np.float32(1.0), 32, ue8m0


class Experts:
    """How batch z picks its weights: batch z itself (stacked, or one
    batch), or, for gathered experts, the expert its random index names
    (of `count`; the last index, and with four or more rows the one before,
    out of range: those rows must come out NaN)."""

    def __init__(self, rng, batches, count=None):
        self.count = count or batches
        self.ids = None
        if count:
            self.ids = rng.integers(0, count, size=batches).astype(np.int32)
            if batches >= 2:
                self.ids[-1] = count + 2
            if batches >= 4:
                self.ids[-2] = -1
        valid = np.ones(batches, bool) if count is None else (self.ids >= 0) & (self.ids < count)
        self.valid = valid
        self.pick = np.arange(batches) if count is None else np.where(valid, self.ids, 0)

    def params(self):
        """The kernel's index argument (after alpha), if it has one. The
        device copy lives as long as this object (a freed one could be
        reused by the next allocation before the launch)."""
        if self.ids is None:
            return []
        self.device = torch.from_numpy(self.ids).cuda()
        return memref(self.device)

    def reference(self, x, weights, alpha, bias):
        """x [B, M, K] times each batch's expert of weights [E, N, K], times
        alpha, plus its bias [E, N]; NaN rows for bad indices."""
        # (matmul, not einsum: BLAS, for the larger shapes)
        ref = np.matmul(x, np.swapaxes(weights[self.pick], 1, 2)) * float(alpha)
        if bias is not None:
            ref = ref + bias.astype(np.float64)[self.pick][:, None, :]
        ref[~self.valid] = np.nan
        return ref


def random_bias(rng, experts, n, scale, with_bias):
    """A random f32 bias [E, N] of about `scale`, or None."""
    if not with_bias:
        return None
    return (rng.standard_normal((experts, n)) * scale).astype(np.float32)


def bias_params(bias, keep):
    """The kernel's bias argument (before the output), if it has one; its
    device copy is appended to `keep`, which the caller holds until the
    launch is done (a freed copy could be reused by the next allocation)."""
    if bias is None:
        return []
    keep.append(torch.from_numpy(bias.reshape(-1)).cuda())
    return memref(keep[-1])


def relative_error(y, reference):
    """max |error| / max |reference| over the rows with a reference; inf
    when those are not all finite or the others (bad expert indices) are
    not all NaN."""
    bad = np.isnan(reference).all(axis=-1)
    if not np.isfinite(y[~bad]).all() or not np.isnan(y[bad]).all():
        return float("inf")
    good = reference[~bad]
    return np.abs(y[~bad] - good).max() / max(np.abs(good).max(), 1e-30)


def run_w4a16(driver, fn, rng, fmt, e, m, n, k, act, res, kind,
              subnormal=False, with_bias=False, gathered=None):
    """One launch of a W4A16 kernel; returns max |error| / max |ref|. (A
    shared weight [E, M, K] x [N, K] is the 2-D kernel of E * M rows;
    gathered experts are E batches of one row against `gathered` experts.)"""
    experts = Experts(rng, e, gathered)
    b, sb, alpha, block, scale_decode = random_weights(rng, fmt, experts.count * n, k, subnormal)
    x = torch.from_numpy(rng.standard_normal(e * m * k) * 2.0).to(TORCH_TYPES[act])
    xd = x.double().numpy().reshape(e, m, k)
    db = decode(b, sb, block, scale_decode).reshape(experts.count, n, k)
    scale = np.abs(experts.reference(xd, db, alpha, None)[experts.valid]).mean()
    bias = random_bias(rng, experts.count, n, scale, with_bias)
    reference = experts.reference(xd, db, alpha, bias)
    device = [x.cuda()] + [torch.from_numpy(v.reshape(-1)).cuda() for v in (b, sb)]
    out = torch.full((e * m * n,), float("nan"), dtype=TORCH_TYPES[res],
                     device="cuda")  # poisoned
    map_params, _map = activation_arguments(device[0], e * m, k, kind)
    params = (memref(device[0]) + memref(device[1]) + memref(device[2]) +
              [ctypes.c_float(alpha)] + experts.params() + bias_params(bias, device) +
              map_params + memref(out))
    grid, threads, shared = decode_launch(m, n, kind)
    driver.launch(fn, (grid[0], grid[1], e), threads, params, shared)
    y = out.float().cpu().numpy().astype(np.float64).reshape(e, m, n)
    return relative_error(y, reference)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cubin")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="",
                        help="run only the kernels whose name matches this regex")
    parser.add_argument("--repeat", type=int, default=3,
                        help="fresh random data per kernel, this many times")
    args = parser.parse_args()
    image = open(args.cubin, "rb").read()
    names = sorted(set(re.findall(
        rb"fp4_(?:nvfp4|mxfp4)_(?:(?:(?:e4m3_|e5m2_)?mma|f8w[gs]\d+(?:s\d)?|w4a4mv(?:s\d+)?|w4a4x16" + W4A16_KIND.encode() + rb"?)_(?:G\d+)?(?:E\d+x)?\d+x\d+x\d+(?:_bf16)?|"
        rb"w4a16" + W4A16_KIND.encode() + rb"?_(?:G\d+)?(?:E\d+x)?\d+x\d+x\d+_(?:bf16|f16|f32)_(?:bf16|f32))(?:_bias)?",
        image)))
    driver = Driver()
    module = driver.load(image)
    rng = np.random.default_rng(args.seed)
    passed = failed = 0
    print(f"device: {torch.cuda.get_device_name()}; {len(names)} kernels")
    for raw in names:
        name = raw.decode()
        if not re.search(args.only, name):
            continue
        w4a16 = re.match(r"fp4_(\w+?)_w4a16(" + W4A16_KIND + r")?_(?:G(\d+))?(?:E(\d+)x)?(\d+)x(\d+)x(\d+)_"
                         r"(bf16|f16|f32)_(bf16|f32)(_bias)?$", name)
        if w4a16:
            fmt, tc, rows, experts, m, n, k, act, res, with_bias = w4a16.groups()
            # Gathered: G<rows>E<experts>: rows batches against experts.
            batches, gathered = (int(rows), int(experts)) if rows else (int(experts or 1), None)
            fn = driver.function(module, name,
                                 shared=decode_launch(int(m), int(n), tc or "")[2])
            # The last draw of NVFP4 uses only subnormal UE4M3 scales.
            worst = max(run_w4a16(driver, fn, rng, fmt, batches, int(m),
                                  int(n), int(k), act, res, tc or "",
                                  subnormal=i == args.repeat - 1,
                                  with_bias=bool(with_bias), gathered=gathered)
                        for i in range(args.repeat))
            # bf16 results: rounding to 8 bits; f32: the order of the sums.
            ok = worst <= (4e-3 if res == "bf16" else 1e-5)
            passed += ok
            failed += not ok
            print(f"{'PASS' if ok else 'FAIL'} {name}: max |error| / max |ref| = {worst:.2e}")
            continue
        x16 = "_w4a4x16" in name
        fmt, fp8_act, f8wg, packed, x16_kind, rows, experts, m, n, k, bf16, with_bias = re.match(
            r"fp4_(nvfp4|mxfp4)_(?:(?:(e4m3|e5m2)_)?mma|f8w([gs]\d+(?:s\d)?)|w4a4(mv(?:s\d+)?)|"
            r"w4a4x16(" + W4A16_KIND + r")?)_"
            r"(?:G(\d+))?(?:E(\d+)x)?(\d+)x(\d+)x(\d+)(_bf16)?(_bias)?$",
            name).groups()
        e, gathered = (int(rows), int(experts)) if rows else (int(experts or 1), None)
        m, n, k = int(m), int(n), int(k)
        block = 16 if fmt == "nvfp4" else 32
        # W4A4 launches: the block-scaled MMA's 16 x 8 tiles of one warp, or
        # the FP8 tensor-core kernel's (f8wg_launch).
        if f8wg:
            grid, threads, shared = f8wg_launch(m, n, f8wg)
            grid = (grid[0], grid[1], e)
        elif x16 or packed:  # W4A4 through a W4A16 kernel
            grid, threads, shared = decode_launch(m, n, packed or x16_kind or "")
            grid = (grid[0], grid[1], e)
        else:
            grid, threads, shared = ((n + 7) // 8, (m + 15) // 16, e), (32, 1, 1), 0
        fn = driver.function(module, name, shared=shared)
        # Staged weights ("f8ws"): the rows kernel runs on the weights too.
        staged = bool(f8wg) and f8wg.startswith("s")
        if f8wg:
            rows_fn = driver.function(module, f"fp4_mxfp4_e5m2rows_{e * m}x{k}")
        if staged:
            weight_rows_fn = driver.function(module, f"fp4_mxfp4_e5m2rows_{e * n}x{k}")
        if x16:
            rows_fn = driver.function(module, f"fp4_{fmt}_bf16rows_{e * m}x{k}")
        worst, rows_exact, path_ok = 0.0, True, True
        for i in range(args.repeat):
            # f8wg draws: "tensor" (scales within 2^16: every tile on the
            # tensor cores), "edges" (the window's edges, below) and, last,
            # "wide" (each row's scales over 2^60, past what E5M2 holds:
            # the CUDA-core path computes the tiles).
            # x16 and packed ("w4a4mv": the GEMV kernel expanding the FP4
            # activations as the bf16 rows kernel does) draws: plain,
            # "edges" (MXFP4: bf16_rows_edges), "wide".
            as_w4a16 = bool(x16 or packed)
            mode = "tensor"
            if (f8wg or as_w4a16) and args.repeat >= 2 and i == args.repeat - 1:
                mode = "wide"
            elif (f8wg or as_w4a16) and args.repeat >= 3 and i == args.repeat - 2:
                mode = "edges"
            wide = mode == "wide"
            # Batched operands are E stacked [M, K] / [N, K] blocks;
            # gathered experts E rows against their indices' experts.
            experts = Experts(rng, e, gathered)
            b, sb, gb, _, scale_decode = random_weights(rng, fmt, experts.count * n, k,
                                                        wide=wide)
            lost = []  # activation rows whose outputs must be NaN
            if fp8_act:  # W4A8: MXFP8 activations
                a, sa, da = random_fp8_activations(rng, fp8_act, e * m, k)
                ga = np.float32(1.0)
            else:
                # x16 NVFP4 "edges": only subnormal UE4M3 activation scales.
                a, sa, ga, _, _ = random_weights(rng, fmt, e * m, k, wide=wide,
                                                 subnormal=as_w4a16 and mode == "edges")
                if mode == "edges" and f8wg:
                    set_window_edges(a, sa, b, sb)
                elif mode == "edges" and fmt == "mxfp4":
                    lost = bf16_rows_edges(a, sa, sb)
                da = decode(a, sa, block, scale_decode)
            da = da.reshape(e, m, k)
            alpha = np.float32(ga * gb)
            db = decode(b, sb, block, scale_decode).reshape(experts.count, n, k)
            scale = np.abs(experts.reference(da, db, alpha, None)[experts.valid]).mean()
            bias = random_bias(rng, experts.count, n, scale, with_bias)
            reference = experts.reference(da, db, alpha, bias)
            for row in lost:  # rows the bf16 rows kernel cannot hold: NaN
                reference[row // m, row % m] = np.nan
            device = [torch.from_numpy(x.reshape(-1)).cuda() for x in (a, sa, b, sb)]
            out = torch.full((e * m * n,), float("nan"),
                             dtype=torch.bfloat16 if bf16 else torch.float32,
                             device="cuda")  # poisoned
            params = (memref(device[0]) + memref(device[1]) + memref(device[2]) +
                      memref(device[3]) + [ctypes.c_float(alpha)] + experts.params() +
                      bias_params(bias, device))
            # The rows kernel first (outputs poisoned), then the matmul as the
            # host code launches it: a programmatic dependent of the rows
            # kernel, enqueued at once so that it starts while the rows
            # kernel runs; the rows kernel's outputs are checked after.
            check_rows = None
            if f8wg:
                # Its bytes and row entries must be exactly the reference's
                # (the activations', and with staged weights the weights').
                operands = [(device[0], device[1], a, sa, e * m, rows_fn)]
                if staged:
                    operands.append((device[2], device[3], b, sb, e * n, weight_rows_fn))
                made = []
                for codes, scales, data, data_scales, count, kernel in operands:
                    rows8 = torch.full((count * k,), 0xEE, dtype=torch.uint8, device="cuda")
                    info = torch.full((count,), -7, dtype=torch.int32, device="cuda")
                    driver.enqueue(kernel, *rows_launch(count, k),
                                   memref(codes) + memref(scales) + memref(rows8) +
                                   memref(info))
                    made.append((data, data_scales, count, rows8, info))
                    params += memref(rows8) + memref(info)

                def check_rows():
                    exact = True
                    for data, data_scales, count, rows8, info in made:
                        want8, want_info = e5m2_rows_reference(data.reshape(count, -1),
                                                               data_scales.reshape(count, -1))
                        usable = want_info >= 0  # the bytes of a -1 row are not used
                        got8 = rows8.cpu().numpy().reshape(count, k)
                        got_info = info.cpu().numpy()
                        same = (np.array_equal(got8[usable], want8[usable])
                                and np.array_equal(got_info, want_info))
                        if not same:
                            print(f"  rows kernel ({count} rows): "
                                  f"{np.count_nonzero(got8[usable] != want8[usable])} bytes and "
                                  f"{np.count_nonzero(got_info != want_info)} row entries differ "
                                  f"({np.count_nonzero(~usable)} rows unusable)")
                        exact = exact and same
                    return exact
            elif x16:
                # Its values and row scales must be exactly
                # bf16_rows_reference's.
                xb = torch.full((e * m * k,), float("nan"), dtype=torch.bfloat16, device="cuda")
                row_scales = torch.full((e * m,), -7.0, dtype=torch.float32, device="cuda")
                # The map first (its copy to the device blocks the host), so
                # that a dependent W4A16 kernel follows the rows kernel at
                # once, as in the compiled host code.
                map_params, _map = activation_arguments(xb, e * m, k, x16_kind or "")
                driver.enqueue(rows_fn, *rows_launch(e * m, k),
                               memref(device[0]) + memref(device[1]) + memref(xb) +
                               memref(row_scales))

                def check_rows():
                    want_x, want_scales = bf16_rows_reference(
                        da.reshape(e * m, k), sa.reshape(e * m, -1), a.reshape(e * m, -1), fmt)
                    got_x = xb.double().cpu().numpy().reshape(e * m, k)
                    got_scales = row_scales.double().cpu().numpy()
                    usable = ~np.isnan(want_scales)
                    exact = (np.array_equal(got_x[usable], want_x[usable])
                             and np.array_equal(got_scales, want_scales, equal_nan=True))
                    if not exact:
                        print(f"  bf16 rows kernel: "
                              f"{np.count_nonzero(got_x[usable] != want_x[usable])} values and "
                              f"{np.count_nonzero(got_scales != want_scales)} row scales differ")
                    return exact
                # The W4A16 kernel: bf16 rows in place of the FP4 operand,
                # the row scales (MXFP4 only: NVFP4's are all 1) before the
                # output.
                params = (memref(xb) + params[2 * len(memref(device[0])):] +
                          (memref(row_scales) if fmt == "mxfp4" else []) + map_params)
            driver.launch(fn, grid, threads, params + memref(out), shared,
                          dependent=x16 and launched_dependent(x16_kind or ""))
            if check_rows is not None:
                rows_exact = check_rows() and rows_exact
            y = out.double().cpu().numpy().reshape(e, m, n)
            error = relative_error(y, reference)
            worst = max(worst, error)
            if f8wg and not bf16:
                # f32 results: the CUDA-core path sums in f32 (1e-5); the
                # tensor cores' FP8 sums leave more than 1e-6, which shows
                # that path ran.
                if mode == "wide":
                    path_ok = path_ok and error <= 1e-5
                elif mode == "tensor":
                    path_ok = path_ok and error > 1e-6
        # bf16 results: rounding to 8 bits; f32: the order of the sums, or
        # for f8wg the FP8 tensor cores' summation (Hopper's FP8 wgmma keeps
        # fewer bits than f32 while it accumulates: docs/gpu.md).
        ok = worst <= (4e-3 if bf16 or f8wg else 1e-5)
        if f8wg or x16:
            ok = ok and rows_exact and path_ok
            print(f"{'PASS' if rows_exact else 'FAIL'} {name}: rows kernel bytes "
                  f"{'bit-exact' if rows_exact else 'DIFFER'}")
            if not path_ok:
                print(f"FAIL {name}: an f32 error outside its path's bounds")
        passed += ok
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name}: max |error| / max |ref| = {worst:.2e}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
