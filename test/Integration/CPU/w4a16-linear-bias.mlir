// nn.Linear with a bias, quantized W4A16 (NVFP4 weights), compiled for the
// CPU and run: the layer of w4a16-linear.mlir plus a bias add, which
// fp4-quantize-linalg folds into fp4.scaled_matmul. Expected values are that
// test's (worked out by hand there) plus the bias [0.5, -1, 2, 0.25].
//
// RUN: fp4-opt %s -fp4-lower-to-cpu | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils | FileCheck %s --check-prefix=FLOAT
// RUN: fp4-opt %s -fp4-quantize-pipeline=preset=nvfp4-weight-only | FileCheck %s --check-prefix=IR
// RUN: fp4-opt %s -fp4-quantize-pipeline=preset=nvfp4-weight-only -fp4-lower-to-cpu | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils | FileCheck %s --check-prefix=W4A16
//
// IR: fp4.scaled_matmul %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<4xf32>)
// IR-NOT: linalg.generic
// FLOAT: [20.5, 18.75, 22, 26.75]
// W4A16: [20.5, 18.75, 22, 30.6667]
func.func @f(%x: tensor<2x32xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<[[1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5],[1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.25],[1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5],[1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 0.5, 1.0, -2.0, 3.0, 7.0]]> : tensor<4x32xf32>
  %t0 = tensor.empty() : tensor<32x4xf32>
  %t = linalg.transpose ins(%w : tensor<4x32xf32>) outs(%t0 : tensor<32x4xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %t : tensor<2x32xf32>, tensor<32x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  %b = arith.constant dense<[0.5, -1.0, 2.0, 0.25]> : tensor<4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<2x4xf32>, tensor<4xf32>) outs(%o : tensor<2x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %s = arith.addf %in, %in_0 : f32
    linalg.yield %s : f32
  } -> tensor<2x4xf32>
  return %r : tensor<2x4xf32>
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
