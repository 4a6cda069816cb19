// RUN: fp4-opt %s -fp4-assign-precision -fp4-quantize-linalg -verify-diagnostics | FileCheck %s
// RUN: fp4-opt %s -fp4-quantize-pipeline="preset=nvfp4" -verify-diagnostics | FileCheck %s --check-prefix=PIPE

// Routed experts as torch-mlir exports `bmm(W[ids], x.unsqueeze(-1))`: a
// gather of the constant expert weights by index, then linalg.batch_matmul
// with the rows expanded to [T, K, 1]. They become fp4.gathered_matmul on
// the [E, N, K] weights. W[ids] wraps a negative index (i + E); the wrap
// stays, as an elementwise linalg.generic on the indices.
#ids = affine_map<(d0, d1, d2) -> (d0)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>

// CHECK-LABEL: func.func @indexed
// CHECK-SAME: (%[[X:.*]]: tensor<6x64xf32>, %[[IDS:.*]]: tensor<6xi64>)
// CHECK: %[[W:.*]] = arith.constant dense<2.500000e-01> : tensor<4x32x64xf32>
// CHECK: %[[WQ:.*]] = fp4.quantize %[[W]] : tensor<4x32x64xf32> -> !fp4.qtensor<4x32x64xf4E2M1FN, nvfp4>
// CHECK: %[[XQ:.*]] = fp4.quantize %[[X]] : tensor<6x64xf32> -> !fp4.qtensor<6x64xf4E2M1FN, nvfp4>
// CHECK: %[[WRAPPED:.*]] = linalg.generic {{.*}} ins(%[[IDS]] : tensor<6xi64>)
// CHECK: arith.cmpi slt
// CHECK: arith.addi
// CHECK: arith.select
// CHECK: %[[Y:.*]] = fp4.gathered_matmul %[[XQ]], %[[WQ]][%[[WRAPPED]]] : !fp4.qtensor<6x64xf4E2M1FN, nvfp4>, !fp4.qtensor<4x32x64xf4E2M1FN, nvfp4>, tensor<6xi64> -> tensor<6x32xf32>
// CHECK: %[[E:.*]] = tensor.expand_shape %[[Y]] {{\[\[}}0], [1, 2]] output_shape [6, 32, 1]
// CHECK-NOT: linalg.batch_matmul
// CHECK: tensor.collapse_shape %[[E]]

// The pipeline folds the weights; the gather is gone.
// PIPE-LABEL: func.func @indexed
// PIPE-NOT: tensor.extract
// PIPE: fp4.gathered_matmul
// PIPE-NOT: linalg.batch_matmul
// PIPE-LABEL: func.func @selected
func.func @indexed(%x: tensor<6x64xf32>, %ids: tensor<6xi64>) -> tensor<6x32xf32> {
  %c0 = arith.constant 0 : i64
  %c4 = arith.constant 4 : i64
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.25> : tensor<4x32x64xf32>
  %e = tensor.empty() : tensor<6x32x64xf32>
  %g = linalg.generic {indexing_maps = [#ids, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%ids : tensor<6xi64>) outs(%e : tensor<6x32x64xf32>) {
  ^bb0(%in: i64, %out: f32):
    %neg = arith.cmpi slt, %in, %c0 : i64
    %up = arith.addi %in, %c4 : i64
    %i = arith.select %neg, %up, %in : i64
    %ix = arith.index_cast %i : i64 to index
    %n = linalg.index 1 : index
    %k = linalg.index 2 : index
    %v = tensor.extract %w[%ix, %n, %k] : tensor<4x32x64xf32>
    linalg.yield %v : f32
  } -> tensor<6x32x64xf32>
  %xe = tensor.expand_shape %x [[0], [1, 2]] output_shape [6, 64, 1] : tensor<6x64xf32> into tensor<6x64x1xf32>
  %acc0 = tensor.empty() : tensor<6x32x1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<6x32x1xf32>) -> tensor<6x32x1xf32>
  %y = linalg.batch_matmul ins(%g, %xe : tensor<6x32x64xf32>, tensor<6x64x1xf32>) outs(%acc : tensor<6x32x1xf32>) -> tensor<6x32x1xf32>
  %r = tensor.collapse_shape %y [[0], [1, 2]] : tensor<6x32x1xf32> into tensor<6x32xf32>
  return %r : tensor<6x32xf32>
}

// index_select(W, 0, ids) (i32 indices here): no wrap.
// CHECK-LABEL: func.func @selected
// CHECK-SAME: (%[[X:.*]]: tensor<6x64xf32>, %[[IDS:.*]]: tensor<6xi32>)
// CHECK-NOT: arith.select
// CHECK: fp4.gathered_matmul %{{.*}}, %{{.*}}[%[[IDS]]] : !fp4.qtensor<6x64xf4E2M1FN, nvfp4>, !fp4.qtensor<4x32x64xf4E2M1FN, nvfp4>, tensor<6xi32> -> tensor<6x32xf32>
func.func @selected(%x: tensor<6x64xf32>, %ids: tensor<6xi32>) -> tensor<6x32xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.25> : tensor<4x32x64xf32>
  %e = tensor.empty() : tensor<6x32x64xf32>
  %g = linalg.generic {indexing_maps = [#ids, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%ids : tensor<6xi32>) outs(%e : tensor<6x32x64xf32>) {
  ^bb0(%in: i32, %out: f32):
    %ix = arith.index_cast %in : i32 to index
    %n = linalg.index 1 : index
    %k = linalg.index 2 : index
    %v = tensor.extract %w[%ix, %n, %k] : tensor<4x32x64xf32>
    linalg.yield %v : f32
  } -> tensor<6x32x64xf32>
  %xe = tensor.expand_shape %x [[0], [1, 2]] output_shape [6, 64, 1] : tensor<6x64xf32> into tensor<6x64x1xf32>
  %acc0 = tensor.empty() : tensor<6x32x1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<6x32x1xf32>) -> tensor<6x32x1xf32>
  %y = linalg.batch_matmul ins(%g, %xe : tensor<6x32x64xf32>, tensor<6x64x1xf32>) outs(%acc : tensor<6x32x1xf32>) -> tensor<6x32x1xf32>
  %r = tensor.collapse_shape %y [[0], [1, 2]] : tensor<6x32x1xf32> into tensor<6x32xf32>
  return %r : tensor<6x32xf32>
}

// Not the pattern: the gather reads the weight transposed (%k, %n), so the
// rows of the gathered tensor are not the expert's output features. The
// layer stays in float.
// CHECK-LABEL: func.func @transposed_gather
// CHECK-NOT: fp4.gathered_matmul
// CHECK: linalg.batch_matmul
func.func @transposed_gather(%x: tensor<6x64xf32>, %ids: tensor<6xi64>) -> tensor<6x64xf32> {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.25> : tensor<4x64x64xf32>
  %e = tensor.empty() : tensor<6x64x64xf32>
  %g = linalg.generic {indexing_maps = [#ids, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%ids : tensor<6xi64>) outs(%e : tensor<6x64x64xf32>) {
  ^bb0(%in: i64, %out: f32):
    %ix = arith.index_cast %in : i64 to index
    %n = linalg.index 1 : index
    %k = linalg.index 2 : index
    %v = tensor.extract %w[%ix, %k, %n] : tensor<4x64x64xf32>
    linalg.yield %v : f32
  } -> tensor<6x64x64xf32>
  %xe = tensor.expand_shape %x [[0], [1, 2]] output_shape [6, 64, 1] : tensor<6x64xf32> into tensor<6x64x1xf32>
  %acc0 = tensor.empty() : tensor<6x64x1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<6x64x1xf32>) -> tensor<6x64x1xf32>
  %y = linalg.batch_matmul ins(%g, %xe : tensor<6x64x64xf32>, tensor<6x64x1xf32>) outs(%acc : tensor<6x64x1xf32>) -> tensor<6x64x1xf32>
  %r = tensor.collapse_shape %y [[0], [1, 2]] : tensor<6x64x1xf32> into tensor<6x64xf32>
  return %r : tensor<6x64xf32>
}

// A bias per expert gathered by the same indices (b[ids]) and added after
// the squeeze folds into the matmul; one gathered by other indices does not.
#ids2 = affine_map<(d0, d1) -> (d0)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @biased
// CHECK-SAME: (%[[X:.*]]: tensor<6x64xf32>, %[[IDS:.*]]: tensor<6xi32>, %[[OTHER:.*]]: tensor<6xi32>)
// CHECK: %[[B:.*]] = arith.constant dense<5.000000e-01> : tensor<4x32xf32>
// CHECK: %[[Y:.*]] = fp4.gathered_matmul %{{.*}}, %{{.*}}[%[[IDS]]] bias(%[[B]] : tensor<4x32xf32>)
// CHECK: %[[Y2:.*]] = fp4.gathered_matmul %{{.*}}, %{{.*}}[%[[IDS]]] : {{.*}} -> tensor<6x32xf32>
// CHECK: %[[E2:.*]] = tensor.expand_shape %[[Y2]]
// CHECK: %[[C2:.*]] = tensor.collapse_shape %[[E2]]
// CHECK: linalg.generic {{.*}} ins(%[[OTHER]] : tensor<6xi32>)
// CHECK: linalg.generic {{.*}} ins(%[[C2]], %{{.*}} : tensor<6x32xf32>, tensor<6x32xf32>)
// CHECK: return %[[Y]], %{{.*}}
func.func @biased(%x: tensor<6x64xf32>, %ids: tensor<6xi32>, %other: tensor<6xi32>) -> (tensor<6x32xf32>, tensor<6x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %w = arith.constant dense<0.25> : tensor<4x32x64xf32>
  %b = arith.constant dense<0.5> : tensor<4x32xf32>
  %e = tensor.empty() : tensor<6x32x64xf32>
  %g = linalg.generic {indexing_maps = [#ids, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%ids : tensor<6xi32>) outs(%e : tensor<6x32x64xf32>) {
  ^bb0(%in: i32, %out: f32):
    %ix = arith.index_cast %in : i32 to index
    %n = linalg.index 1 : index
    %k = linalg.index 2 : index
    %v = tensor.extract %w[%ix, %n, %k] : tensor<4x32x64xf32>
    linalg.yield %v : f32
  } -> tensor<6x32x64xf32>
  %xe = tensor.expand_shape %x [[0], [1, 2]] output_shape [6, 64, 1] : tensor<6x64xf32> into tensor<6x64x1xf32>
  %acc0 = tensor.empty() : tensor<6x32x1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<6x32x1xf32>) -> tensor<6x32x1xf32>
  %y = linalg.batch_matmul ins(%g, %xe : tensor<6x32x64xf32>, tensor<6x64x1xf32>) outs(%acc : tensor<6x32x1xf32>) -> tensor<6x32x1xf32>
  %r = tensor.collapse_shape %y [[0], [1, 2]] : tensor<6x32x1xf32> into tensor<6x32xf32>
  %be = tensor.empty() : tensor<6x32xf32>
  %bg = linalg.generic {indexing_maps = [#ids2, #id2], iterator_types = ["parallel", "parallel"]} ins(%ids : tensor<6xi32>) outs(%be : tensor<6x32xf32>) {
  ^bb0(%in: i32, %out: f32):
    %ix = arith.index_cast %in : i32 to index
    %n = linalg.index 1 : index
    %v = tensor.extract %b[%ix, %n] : tensor<4x32xf32>
    linalg.yield %v : f32
  } -> tensor<6x32xf32>
  %sum = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%r, %bg : tensor<6x32xf32>, tensor<6x32xf32>) outs(%be : tensor<6x32xf32>) {
  ^bb0(%p: f32, %q: f32, %out: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<6x32xf32>
  // The same layer again, its bias gathered by %other: not the layer's bias.
  %g2 = linalg.generic {indexing_maps = [#ids, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%ids : tensor<6xi32>) outs(%e : tensor<6x32x64xf32>) {
  ^bb0(%in: i32, %out: f32):
    %ix = arith.index_cast %in : i32 to index
    %n = linalg.index 1 : index
    %k = linalg.index 2 : index
    %v = tensor.extract %w[%ix, %n, %k] : tensor<4x32x64xf32>
    linalg.yield %v : f32
  } -> tensor<6x32x64xf32>
  %y2 = linalg.batch_matmul ins(%g2, %xe : tensor<6x32x64xf32>, tensor<6x64x1xf32>) outs(%acc : tensor<6x32x1xf32>) -> tensor<6x32x1xf32>
  %r2 = tensor.collapse_shape %y2 [[0], [1, 2]] : tensor<6x32x1xf32> into tensor<6x32xf32>
  %bg2 = linalg.generic {indexing_maps = [#ids2, #id2], iterator_types = ["parallel", "parallel"]} ins(%other : tensor<6xi32>) outs(%be : tensor<6x32xf32>) {
  ^bb0(%in: i32, %out: f32):
    %ix = arith.index_cast %in : i32 to index
    %n = linalg.index 1 : index
    %v = tensor.extract %b[%ix, %n] : tensor<4x32xf32>
    linalg.yield %v : f32
  } -> tensor<6x32xf32>
  %sum2 = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%r2, %bg2 : tensor<6x32xf32>, tensor<6x32xf32>) outs(%be : tensor<6x32xf32>) {
  ^bb0(%p: f32, %q: f32, %out: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<6x32xf32>
  return %sum, %sum2 : tensor<6x32xf32>, tensor<6x32xf32>
}
