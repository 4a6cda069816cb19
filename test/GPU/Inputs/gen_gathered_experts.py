#!/usr/bin/env python3
"""Writes gathered_experts.mlir and its inputs: 6 routed rows against 4
experts [4, 32, 128] (fp4.gathered_matmul; the weights are quantized when
the module is compiled with a preset) with a bias per expert. Seeded random.

  python3 gen_gathered_experts.py   # in test/GPU/Inputs
"""
import numpy as np

rng = np.random.default_rng(11)
w = (rng.standard_normal((4, 32, 128)) * 0.1).astype(np.float32)
bias = (rng.standard_normal((4, 32)) * 0.5).astype(np.float32)
np.save("gathered_experts.input0.npy", rng.standard_normal((6, 128)).astype(np.float32))
np.save("gathered_experts.input1.npy", np.array([2, 0, 3, 3, 1, 0], dtype=np.int64))


def hexdense(a):
    return '"0x' + a.astype("<f4").tobytes().hex().upper() + '"'


text = f'''// Routed experts: row t of x against expert ids[t] of four [32, 128]
// experts, plus that expert's bias (fp4.gathered_matmul). Compiled with a
// preset, fp4-fold-constants quantizes the experts; run_models.py compares
// the GPU library (the gathered decode kernel) with the CPU one. Generated
// by gen_gathered_experts.py.
func.func @forward(%x: tensor<6x128xf32>, %ids: tensor<6xi64>) -> tensor<6x32xf32> {{
  %w = arith.constant dense<{hexdense(w)}> : tensor<4x32x128xf32>
  %b = arith.constant dense<{hexdense(bias)}> : tensor<4x32xf32>
  %wq = fp4.quantize %w : tensor<4x32x128xf32> -> !fp4.qtensor<4x32x128xf4E2M1FN, nvfp4>
  %y = fp4.gathered_matmul %x, %wq[%ids] bias(%b : tensor<4x32xf32>) : tensor<6x128xf32>, !fp4.qtensor<4x32x128xf4E2M1FN, nvfp4>, tensor<6xi64> -> tensor<6x32xf32>
  return %y : tensor<6x32xf32>
}}
'''
open("gathered_experts.mlir", "w").write(text)
