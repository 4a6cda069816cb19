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
crashes (reported through fp4gpuLastError), as is a swizzle other than 0
or 128 bytes. (No kernel uses the 128-byte swizzle yet, so nothing here
loads through it.) Prints PASS/FAIL lines and `N passed, N failed`."""
import ctypes
import sys
import time

import numpy as np
import torch

sys.path.insert(0, __import__("os").path.dirname(__file__))
from run_kernels import Checks, Driver, encode_tensor_map, gpu_runtime  # noqa: E402


def main():
    runtime = gpu_runtime(sys.argv[1])
    driver = Driver()
    module = driver.load(open(sys.argv[2], "rb").read())
    kernel = driver.function(module, "tma_box")
    check = Checks()

    def encoded(tensor, rows, row_bytes, map_bytes=128, swizzle=0):
        """The sm_100a kernels' map: boxes of 16 bytes x 128 rows."""
        return encode_tensor_map(runtime, tensor.data_ptr(), rows, row_bytes, 16, 128,
                                 swizzle, map_bytes)

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
    _, error = encoded(tensor, 64, 48, swizzle=64)
    check(error is not None and "swizzle 64" in error, f"a 64-byte swizzle: {error}")
    return check.summary()


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
