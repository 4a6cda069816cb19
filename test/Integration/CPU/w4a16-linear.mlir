// A linear layer quantized W4A16 (NVFP4 weights), compiled for the CPU and
// run; the float program runs beside it. The expected values are worked out
// by hand in the comments below (docs/formats.md, NVFP4 rule), not copied
// from a run.
//
// RUN: fp4-opt %s -fp4-lower-to-cpu | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils | FileCheck %s --check-prefix=FLOAT
// RUN: fp4-opt %s -fp4-quantize-pipeline=preset=nvfp4-weight-only -fp4-lower-to-cpu | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils | FileCheck %s --check-prefix=W4A16
//
// Each weight row repeats [1, -2, 3, 0.5]; row 1 ends in 0.25, row 3 in 7.
// x is all ones, so y[n] is the sum of row n.
// Float: rows 0 and 2 sum to 8 x 2.5 = 20; row 1: 20 - 0.25 = 19.75; row 3:
// 20 + 6.5 = 26.5.
// FLOAT: [20, 19.75, 20, 26.5]
//
// NVFP4 (amax 7, s2 = 7/2688, blocks of 16): row 3, block 0 has block max 3:
// s8 = e4m3(3 / (6 s2)) = 192, s8 * s2 = 0.5, every value exact: sum 10.
// Block 1 has max 7: s8 = 448, s8 * s2 = 7/6; x / (7/6) rounds 1 -> 1,
// -2 -> -1.5 (-1.714 is below the midpoint 1.75), 3 -> 3 (2.571 is above 2.5),
// 0.5 -> 0.5, 7 -> 6; in units of 7/6: 3 x (1 - 1.5 + 3 + 0.5) + (1 - 1.5 + 3 + 6)
// = 9 + 8.5 = 17.5, times 7/6 = 20.4167. Row 3: 30.4167. Rows 0-2 have amax 3
// under s2 = 7/2688: s8 = 192 and values stay exact (20, 19.75, 20).
// W4A16: [20, 19.75, 20, 30.4167]
func.func @f(%x: tensor<2x32xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5],[1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.25],[1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5],[1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 7.0]]> : tensor<4x32xf32>
  %t0 = tensor.empty() : tensor<32x4xf32>
  %t = linalg.transpose ins(%w : tensor<4x32xf32>) outs(%t0 : tensor<32x4xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %t : tensor<2x32xf32>, tensor<32x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
func.func private @printMemrefF32(memref<*xf32>)
func.func @main() {
  %x = arith.constant dense<1.0> : tensor<2x32xf32>
  %y = call @f(%x) : (tensor<2x32xf32>) -> tensor<2x4xf32>
  %m = bufferization.to_buffer %y : tensor<2x4xf32> to memref<2x4xf32>
  %u = memref.cast %m : memref<2x4xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}
