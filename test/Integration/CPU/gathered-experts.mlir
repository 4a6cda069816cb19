// Routed experts on the CPU: fp4.gathered_matmul with MXFP4 experts (every
// weight exact in MXFP4, folded into fp4.constant), a bias per expert, and
// a bad index. Values worked
// out by hand below.
//
// RUN: fp4-opt %s -fp4-fold-constants -fp4-lower-to-cpu | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils | FileCheck %s
//
// x: row 0 all 1, row 1 all 0.5, row 2 all 1. Expert 0 rows are all 1,
// expert 1 rows all -2 except row n = 3, all 3. ids = [1, 0, 7].
// Row 0, expert 1: 32 x -2 = -64 (n = 0..2), 32 x 3 = 96 (n = 3); plus
// bias[1] = [1, 2, 3, 4]: -63, -62, -61, 100.
// Row 1, expert 0: 32 x 0.5 = 16; plus bias[0] = [0.5, 0.5, 0.5, 0.5]: 16.5.
// Row 2: expert 7 does not exist: NaN.
// CHECK: [-63,   -62,   -61,   100]
// CHECK: [16.5,   16.5,   16.5,   16.5]
// CHECK: [nan,   nan,   nan,   nan]
func.func @f(%x: tensor<3x32xf32>, %ids: tensor<3xi64>) -> tensor<3x4xf32> {
  %w = arith.constant dense<[[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]], [[-2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0, -2.0], [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]]]> : tensor<2x4x32xf32>
  %wq = fp4.quantize %w : tensor<2x4x32xf32> -> !fp4.qtensor<2x4x32xf4E2M1FN, mxfp4>
  %b = arith.constant dense<[[0.5, 0.5, 0.5, 0.5], [1.0, 2.0, 3.0, 4.0]]> : tensor<2x4xf32>
  %y = fp4.gathered_matmul %x, %wq[%ids] bias(%b : tensor<2x4xf32>) : tensor<3x32xf32>, !fp4.qtensor<2x4x32xf4E2M1FN, mxfp4>, tensor<3xi64> -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}
func.func private @printMemrefF32(memref<*xf32>)
func.func @main() {
  %x = arith.constant dense<[1.0, 0.5, 1.0]> : tensor<3xf32>
  %xe = tensor.empty() : tensor<3x32xf32>
  %xb = linalg.broadcast ins(%x : tensor<3xf32>) outs(%xe : tensor<3x32xf32>) dimensions = [1]
  %ids = arith.constant dense<[1, 0, 7]> : tensor<3xi64>
  %y = call @f(%xb, %ids) : (tensor<3x32xf32>, tensor<3xi64>) -> tensor<3x4xf32>
  %m = bufferization.to_buffer %y : tensor<3x4xf32> to memref<3x4xf32>
  %u = memref.cast %m : memref<3x4xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}
