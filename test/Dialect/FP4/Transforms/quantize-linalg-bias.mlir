// RUN: fp4-opt %s -fp4-assign-precision=preset=moe-fp4-fp8 -fp4-quantize-linalg -verify-diagnostics | FileCheck %s

// nn.Linear with a bias, as torch-mlir emits it: the matmul into a zero
// fill, then an elementwise add of the bias broadcast over rows. The add
// folds into fp4.scaled_matmul's bias (added before the one rounding).

#rows = affine_map<(d0, d1) -> (d0, d1)>
#bias = affine_map<(d0, d1) -> (d1)>
#rows3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#bias3 = affine_map<(d0, d1, d2) -> (d2)>
#expert_bias = affine_map<(d0, d1, d2) -> (d0, d2)>

// CHECK-LABEL: func.func @linear_bias
// CHECK-SAME: (%[[X:.*]]: tensor<8x64xf32>, %[[B:.*]]: tensor<32xf32>)
// CHECK: %[[Y:.*]] = fp4.scaled_matmul %{{.*}}, %{{.*}} bias(%[[B]] : tensor<32xf32>) : !fp4.qtensor<8x64xf8E4M3FN, fp8>, !fp4.qtensor<32x64xf8E4M3FN, fp8_per_channel> -> tensor<8x32xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
func.func @linear_bias(%x: tensor<8x64xf32>, %b: tensor<32xf32>) -> tensor<8x32xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.125> : tensor<32x64xf32>
  %t0 = tensor.empty() : tensor<64x32xf32>
  %t = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%t0 : tensor<64x32xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<8x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<8x32xf32>) -> tensor<8x32xf32>
  %y = linalg.matmul ins(%x, %t : tensor<8x64xf32>, tensor<64x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32>
  // The bias first, the sum second: either order.
  %r = linalg.generic {indexing_maps = [#bias, #rows, #rows], iterator_types = ["parallel", "parallel"]}
      ins(%b, %y : tensor<32xf32>, tensor<8x32xf32>) outs(%o : tensor<8x32xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %s = arith.addf %in, %in_0 : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32>
  return %r : tensor<8x32xf32>
}

// A [1, 8, 64] input: torch-mlir collapses it, multiplies, expands the
// result back to [1, 8, 32] and adds the bias there.
// CHECK-LABEL: func.func @linear_bias_expanded
// CHECK: %[[Y:.*]] = fp4.scaled_matmul %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<32xf32>)
// CHECK: %[[E:.*]] = tensor.expand_shape %[[Y]] {{\[\[}}0, 1], [2]] output_shape [1, 8, 32] : tensor<8x32xf32> into tensor<1x8x32xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[E]]
func.func @linear_bias_expanded(%x: tensor<8x64xf32>) -> tensor<1x8x32xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.125> : tensor<32x64xf32>
  %b = arith.constant dense<0.5> : tensor<32xf32>
  %t0 = tensor.empty() : tensor<64x32xf32>
  %t = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%t0 : tensor<64x32xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<8x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<8x32xf32>) -> tensor<8x32xf32>
  %y = linalg.matmul ins(%x, %t : tensor<8x64xf32>, tensor<64x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32>
  %e = tensor.expand_shape %y [[0, 1], [2]] output_shape [1, 8, 32] : tensor<8x32xf32> into tensor<1x8x32xf32>
  %o3 = tensor.empty() : tensor<1x8x32xf32>
  %r = linalg.generic {indexing_maps = [#rows3, #bias3, #rows3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%e, %b : tensor<1x8x32xf32>, tensor<32xf32>) outs(%o3 : tensor<1x8x32xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %s = arith.addf %in, %in_0 : f32
    linalg.yield %s : f32
  } -> tensor<1x8x32xf32>
  return %r : tensor<1x8x32xf32>
}

// Experts with one bias each ([E, N]), NVFP4.
// CHECK-LABEL: func.func @expert_bias
// CHECK: %[[Y:.*]] = fp4.scaled_matmul %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<4x32xf32>) : !fp4.qtensor<4x8x64xf4E2M1FN, nvfp4>, !fp4.qtensor<4x32x64xf4E2M1FN, nvfp4> -> tensor<4x8x32xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
func.func @expert_bias(%xe: tensor<4x8x64xf32>, %b: tensor<4x32xf32>) -> tensor<4x8x32xf32> {
  %zero = arith.constant 0.0 : f32
  %experts = arith.constant dense<0.25> : tensor<4x32x64xf32>
  %et_init = tensor.empty() : tensor<4x64x32xf32>
  %et = linalg.transpose ins(%experts : tensor<4x32x64xf32>) outs(%et_init : tensor<4x64x32xf32>) permutation = [0, 2, 1]
  %e_init = tensor.empty() : tensor<4x8x32xf32>
  %e_fill = linalg.fill ins(%zero : f32) outs(%e_init : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %e = linalg.batch_matmul ins(%xe, %et : tensor<4x8x64xf32>, tensor<4x64x32xf32>) outs(%e_fill : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %r = linalg.generic {indexing_maps = [#rows3, #expert_bias, #rows3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%e, %b : tensor<4x8x32xf32>, tensor<4x32xf32>) outs(%e_init : tensor<4x8x32xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %s = arith.addf %in, %in_0 : f32
    linalg.yield %s : f32
  } -> tensor<4x8x32xf32>
  return %r : tensor<4x8x32xf32>
}

// Not a bias: a residual [M, N], a bias into split heads, a sum used twice.
// CHECK-LABEL: func.func @not_bias
// CHECK: fp4.scaled_matmul %{{[^ ]*}}, %{{[^ ]*}} :
// CHECK: linalg.generic
// CHECK: fp4.scaled_matmul %{{[^ ]*}}, %{{[^ ]*}} :
// CHECK: tensor.expand_shape
// CHECK: linalg.generic
// CHECK: fp4.scaled_matmul %{{[^ ]*}}, %{{[^ ]*}} :
// CHECK: linalg.generic
// CHECK-NOT: bias(
func.func @not_bias(%x: tensor<8x64xf32>, %res: tensor<8x32xf32>, %b: tensor<16xf32>)
    -> (tensor<8x32xf32>, tensor<8x2x16xf32>, tensor<8x32xf32>, tensor<8x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.125> : tensor<32x64xf32>
  %b32 = arith.constant dense<0.5> : tensor<32xf32>
  %t0 = tensor.empty() : tensor<64x32xf32>
  %t = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%t0 : tensor<64x32xf32>) permutation = [1, 0]
  %o = tensor.empty() : tensor<8x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<8x32xf32>) -> tensor<8x32xf32>
  %y0 = linalg.matmul ins(%x, %t : tensor<8x64xf32>, tensor<64x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32>
  %r0 = linalg.generic {indexing_maps = [#rows, #rows, #rows], iterator_types = ["parallel", "parallel"]}
      ins(%y0, %res : tensor<8x32xf32>, tensor<8x32xf32>) outs(%o : tensor<8x32xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %s = arith.addf %in, %in_0 : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32>
  %y1 = linalg.matmul ins(%x, %t : tensor<8x64xf32>, tensor<64x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32>
  %h = tensor.expand_shape %y1 [[0], [1, 2]] output_shape [8, 2, 16] : tensor<8x32xf32> into tensor<8x2x16xf32>
  %oh = tensor.empty() : tensor<8x2x16xf32>
  %r1 = linalg.generic {indexing_maps = [#rows3, #bias3, #rows3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%h, %b : tensor<8x2x16xf32>, tensor<16xf32>) outs(%oh : tensor<8x2x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %s = arith.addf %in, %in_0 : f32
    linalg.yield %s : f32
  } -> tensor<8x2x16xf32>
  %y2 = linalg.matmul ins(%x, %t : tensor<8x64xf32>, tensor<64x32xf32>) outs(%f : tensor<8x32xf32>) -> tensor<8x32xf32>
  %r2 = linalg.generic {indexing_maps = [#rows, #bias, #rows], iterator_types = ["parallel", "parallel"]}
      ins(%y2, %b32 : tensor<8x32xf32>, tensor<32xf32>) outs(%o : tensor<8x32xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %s = arith.addf %in, %in_0 : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32>
  return %r0, %r1, %r2, %y2 : tensor<8x32xf32>, tensor<8x2x16xf32>, tensor<8x32xf32>, tensor<8x32xf32>
}
