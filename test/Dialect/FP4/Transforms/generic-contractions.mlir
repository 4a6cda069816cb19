// RUN: fp4-opt %s -split-input-file -fp4-assign-precision=preset=nvfp4-weight-only -fp4-quantize-linalg -verify-diagnostics | FileCheck %s

// linalg.generic multiply-add contractions (einsum forms, or what
// -linalg-generalize-named-ops makes of torch-mlir's matmuls) are linear
// layers when they compute x * W^T with a constant W.

#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#y = affine_map<(m, n, k) -> (m, n)>

// 'mk,nk->mn': the weight [N, K] read directly.
// CHECK-LABEL: func.func @einsum_linear
// CHECK: %[[W:.*]] = fp4.quantize %{{.*}} : tensor<32x64xf32> -> !fp4.qtensor<32x64xf4E2M1FN, nvfp4>
// CHECK: fp4.scaled_matmul %{{.*}}, %[[W]] : tensor<8x64xf32>, !fp4.qtensor<32x64xf4E2M1FN, nvfp4> -> tensor<8x32xf32>
// CHECK-NOT: linalg.generic
func.func @einsum_linear(%x: tensor<8x64xf32>) -> tensor<8x32xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.125> : tensor<32x64xf32>
  %init = tensor.empty() : tensor<8x32xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%init : tensor<8x32xf32>) -> tensor<8x32xf32>
  %y = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<8x64xf32>, tensor<32x64xf32>) outs(%fill : tensor<8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32>
  return %y : tensor<8x32xf32>
}

// -----

// The generalized form of linalg.matmul(x, linalg.transpose(W)) into a
// linalg.fill, with the transpose and the fill generalized too.
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#swap = affine_map<(d0, d1) -> (d1, d0)>
#scalar = affine_map<(d0, d1) -> ()>
#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func.func @generalized_matmul
// CHECK: %[[W:.*]] = fp4.quantize %{{.*}} : tensor<32x64xf32> -> !fp4.qtensor<32x64xf4E2M1FN, nvfp4>
// CHECK: fp4.scaled_matmul %{{.*}}, %[[W]]
func.func @generalized_matmul(%x: tensor<8x64xf32>) -> tensor<8x32xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.125> : tensor<32x64xf32>
  %t_init = tensor.empty() : tensor<64x32xf32>
  %t = linalg.generic {indexing_maps = [#swap, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<32x64xf32>) outs(%t_init : tensor<64x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<64x32xf32>
  %init = tensor.empty() : tensor<8x32xf32>
  %fill = linalg.generic {indexing_maps = [#scalar, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%zero : f32) outs(%init : tensor<8x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<8x32xf32>
  %y = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %t : tensor<8x64xf32>, tensor<64x32xf32>) outs(%fill : tensor<8x32xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %p = arith.mulf %in, %in_0 : f32
    %s = arith.addf %out, %p : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32>
  return %y : tensor<8x32xf32>
}

// -----

// Stacked experts 'emk,enk->emn' and a weight shared by a batch
// 'bmk,nk->bmn'; the weight may be the first operand.
#xe = affine_map<(e, m, n, k) -> (e, m, k)>
#we = affine_map<(e, m, n, k) -> (e, n, k)>
#ye = affine_map<(e, m, n, k) -> (e, m, n)>
#ws = affine_map<(b, m, n, k) -> (n, k)>
// CHECK-LABEL: func.func @experts_and_batch
// CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} : tensor<4x8x64xf32>, !fp4.qtensor<4x32x64xf4E2M1FN, nvfp4> -> tensor<4x8x32xf32>
// CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} : tensor<4x8x64xf32>, !fp4.qtensor<32x64xf4E2M1FN, nvfp4> -> tensor<4x8x32xf32>
func.func @experts_and_batch(%x: tensor<4x8x64xf32>) -> (tensor<4x8x32xf32>, tensor<4x8x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %we = arith.constant dense<0.25> : tensor<4x32x64xf32>
  %ws = arith.constant dense<0.5> : tensor<32x64xf32>
  %init = tensor.empty() : tensor<4x8x32xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%init : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %e = linalg.generic {indexing_maps = [#xe, #we, #ye], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %we : tensor<4x8x64xf32>, tensor<4x32x64xf32>) outs(%fill : tensor<4x8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x8x32xf32>
  %s = linalg.generic {indexing_maps = [#ws, #xe, #ye], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%ws, %x : tensor<32x64xf32>, tensor<4x8x64xf32>) outs(%fill : tensor<4x8x32xf32>) {
  ^bb0(%b: f32, %a: f32, %c: f32):
    %p = arith.mulf %b, %a : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x8x32xf32>
  return %e, %s : tensor<4x8x32xf32>, tensor<4x8x32xf32>
}

// -----

// A weight shared by a batch through linalg.batch_matmul:
// broadcast(transpose(W)), named or generalized.
#bid = affine_map<(b, k, n) -> (b, k, n)>
#bdrop = affine_map<(b, k, n) -> (k, n)>
// CHECK-LABEL: func.func @shared_weight_batch_matmul
// CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} : tensor<4x8x64xf32>, !fp4.qtensor<32x64xf4E2M1FN, nvfp4> -> tensor<4x8x32xf32>
// CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} : tensor<4x8x64xf32>, !fp4.qtensor<32x64xf4E2M1FN, nvfp4> -> tensor<4x8x32xf32>
// CHECK-NOT: linalg.batch_matmul
func.func @shared_weight_batch_matmul(%x: tensor<4x8x64xf32>) -> (tensor<4x8x32xf32>, tensor<4x8x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.125> : tensor<32x64xf32>
  %t_init = tensor.empty() : tensor<64x32xf32>
  %t = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%t_init : tensor<64x32xf32>) permutation = [1, 0]
  %b_init = tensor.empty() : tensor<4x64x32xf32>
  %b = linalg.broadcast ins(%t : tensor<64x32xf32>) outs(%b_init : tensor<4x64x32xf32>) dimensions = [0]
  %g = linalg.generic {indexing_maps = [#bdrop, #bid], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%t : tensor<64x32xf32>) outs(%b_init : tensor<4x64x32xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<4x64x32xf32>
  %init = tensor.empty() : tensor<4x8x32xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%init : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %y0 = linalg.batch_matmul ins(%x, %b : tensor<4x8x64xf32>, tensor<4x64x32xf32>) outs(%fill : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  %y1 = linalg.batch_matmul ins(%x, %g : tensor<4x8x64xf32>, tensor<4x64x32xf32>) outs(%fill : tensor<4x8x32xf32>) -> tensor<4x8x32xf32>
  return %y0, %y1 : tensor<4x8x32xf32>, tensor<4x8x32xf32>
}

// -----

// What stays in float, each with its reason.
#x = affine_map<(m, n, k) -> (m, k)>
#xt = affine_map<(m, n, k) -> (k, m)>
#w = affine_map<(m, n, k) -> (n, k)>
#wt = affine_map<(m, n, k) -> (k, n)>
#y = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func.func @left_in_float
// CHECK-NOT: fp4.
func.func @left_in_float(%x: tensor<8x64xf32>, %xt: tensor<64x8xf32>, %acc: tensor<8x32xf32>) -> (tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.125> : tensor<32x64xf32>
  %wkn = arith.constant dense<0.125> : tensor<64x32xf32>
  %init = tensor.empty() : tensor<8x32xf32>
  %fill = linalg.fill ins(%zero : f32) outs(%init : tensor<8x32xf32>) -> tensor<8x32xf32>
  // A weight stored [K, N] would need a transpose of the constant.
  // expected-remark @+1 {{left in float: not a linear layer fp4 can take: the constant weight is not laid out [N, K] (or [E, N, K])}}
  %0 = linalg.generic {indexing_maps = [#x, #wt, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %wkn : tensor<8x64xf32>, tensor<64x32xf32>) outs(%fill : tensor<8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32>
  // The activation transposed (K, M).
  // expected-remark @+1 {{left in float: not a linear layer fp4 can take: the activation is not indexed (rows, K) and the result (rows, N) in that order}}
  %1 = linalg.generic {indexing_maps = [#xt, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%xt, %w : tensor<64x8xf32>, tensor<32x64xf32>) outs(%fill : tensor<8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32>
  // Accumulating into a run-time value (a bias or a residual).
  // expected-remark @+1 {{left in float: not a linear layer fp4 can take: the accumulator is not a zero fill}}
  %2 = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<8x64xf32>, tensor<32x64xf32>) outs(%acc : tensor<8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32>
  // Not a multiply-add (a max-plus product): not a contraction, not touched.
  %3 = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<8x64xf32>, tensor<32x64xf32>) outs(%fill : tensor<8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.addf %a, %b : f32
    %s = arith.maximumf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<8x32xf32>
  return %0, %1, %2, %3 : tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>
}
