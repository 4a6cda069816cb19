#!/usr/bin/env python3
"""TMA tensor maps from the GPU runtime, checked on the GPU.

  run_tma.py RUNTIME.so TMA_BOX.cubin

fp4gpuEncodeTensorMap (lib/Runtime/GPURuntime.cpp) writes the CUtensorMap
the sm_100a kernels' TMA loads read: a row-major rows x rowBytes byte
tensor, boxes of 16 bytes x 128 rows, out-of-bounds bytes as zeros. No
Blackwell machine is here, but TMA is Hopper's too: tma_box.cubin (built by
ptxas from Inputs/tma_box.ptx) loads one box exactly as the sm_100a kernels
do and copies it out. For fresh random tensors, boxes inside, across the
last row, across the last column and wholly outside are compared byte for
byte with numpy's slice of the tensor padded with zeros; the output is
poisoned (0xAB) before each launch. Then the refusals: a map buffer of the
wrong size and a row stride the hardware cannot take are errors, not
crashes (reported through fp4gpuLastError). Prints PASS/FAIL lines and `N passed, N failed`."""
import ctypes
import sys
import time

import numpy as np
import torch

sys.path.insert(0, __import__("os").path.dirname(__file__))
from run_kernels import Checks, Driver  # noqa: E402


class Memref1D(ctypes.Structure):
    _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                ("offset", ctypes.c_int64), ("size", ctypes.c_int64),
                ("stride", ctypes.c_int64)]


def main():
    runtime = ctypes.CDLL(sys.argv[1])
    encode = runtime._mlir_ciface_fp4gpuEncodeTensorMap
    encode.argtypes = [ctypes.POINTER(Memref1D), ctypes.POINTER(Memref1D),
                       ctypes.c_int64, ctypes.c_int64]
    encode.restype = None
    runtime.fp4gpuLastError.restype = ctypes.c_char_p
    driver = Driver()
    module = driver.load(open(sys.argv[2], "rb").read())
    kernel = driver.function(module, "tma_box")
    check = Checks()

    def encoded(tensor, rows, row_bytes, map_bytes=128):
        host = (ctypes.c_uint8 * map_bytes)()
        runtime.fp4gpuClearError()
        encode(ctypes.byref(Memref1D(None, ctypes.addressof(host), 0, map_bytes, 1)),
               ctypes.byref(Memref1D(None, tensor.data_ptr(), 0, tensor.numel(), 1)),
               rows, row_bytes)
        error = runtime.fp4gpuLastError()
        return bytes(host), error.decode() if error else None

    rng = np.random.default_rng(int(time.time()))
    for rows, row_bytes in [(200, 96), (1000, 32), (129, 4096)]:
        data = rng.integers(0, 256, size=(rows, row_bytes), dtype=np.uint8)
        tensor = torch.from_numpy(data).cuda()
        host_map, error = encoded(tensor, rows, row_bytes)
        check(error is None, f"{rows}x{row_bytes}: map encoded ({error or 'no error'})")
        device_map = torch.frombuffer(bytearray(host_map), dtype=torch.uint8).cuda()
        padded = np.zeros((rows + 256, row_bytes + 32), dtype=np.uint8)
        padded[:rows, :row_bytes] = data
        for col, row in [(0, 0), (row_bytes - 16, rows - 100), (row_bytes - 16, 0),
                         (row_bytes, 0), (16 * (row_bytes // 32), rows // 3)]:
            out = torch.full((2048,), 0xAB, dtype=torch.uint8, device="cuda")
            driver.launch(kernel, (1, 1, 1), (128, 1, 1),
                          [ctypes.c_void_p(device_map.data_ptr()),
                           ctypes.c_void_p(out.data_ptr()),
                           ctypes.c_uint32(col), ctypes.c_uint32(row)])
            got = out.cpu().numpy().reshape(128, 16)
            want = padded[row:row + 128, col:col + 16]
            check(np.array_equal(got, want),
                  f"{rows}x{row_bytes}: box at byte {col}, row {row} "
                  f"({int(np.count_nonzero(got != want))} bytes differ)")

    tensor = torch.zeros(64 * 48, dtype=torch.uint8, device="cuda")
    _, error = encoded(tensor, 64, 48, map_bytes=64)
    check(error is not None and "128" in error, f"a 64-byte map buffer: {error}")
    _, error = encoded(tensor, 64, 40)
    check(error is not None and "cuTensorMapEncodeTiled" in error,
          f"a 40-byte row stride (not a multiple of 16): {error}")
    return check.summary()


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
