// RUN: fp4-opt %s -fp4-assign-precision=preset=fp8 -fp4-insert-observers 2>/dev/null | FileCheck %s
// RUN: fp4-opt %s -fp4-assign-precision=preset=mxfp4 -fp4-insert-observers 2>/dev/null | FileCheck %s --check-prefix=MX

// Observers go in front of the KV-cache write (numbered first in each
// function) and of each layer whose activations get a per-tensor scale
// (FP8 here); the lm_head stays in float and is not observed.
// CHECK-LABEL: func.func @forward(
// CHECK: fp4.observe %{{.*}}[0] "forward:kv_cache:arg1" : tensor<1x2x4x16xf32>
// CHECK-NEXT: tensor.insert_slice
// CHECK: fp4.observe %[[X:.*]][1] "proj.weight:input" : tensor<4x16xf32>
// CHECK-NEXT: linalg.matmul {{.*}}fp4.param = "proj.weight"
// CHECK-NOT: fp4.observe
// CHECK: linalg.matmul {{.*}}fp4.param = "lm_head.weight"

// MXFP4 activations have no per-tensor scale: only the cache is observed.
// MX: fp4.observe %{{.*}}[0] "forward:kv_cache:arg1"
// MX-NOT: fp4.observe
func.func @forward(%x: tensor<4x16xf32>, %cache: tensor<1x2x32x16xf32>, %k: tensor<1x2x4x16xf32>) -> (tensor<4x32xf32>, tensor<1x2x32x16xf32>, tensor<1x2x8x16xf32>) {
  %c = tensor.insert_slice %k into %cache[0, 0, 4, 0] [1, 2, 4, 16] [1, 1, 1, 1] : tensor<1x2x4x16xf32> into tensor<1x2x32x16xf32>
  %r = tensor.extract_slice %c[0, 0, 0, 0] [1, 2, 8, 16] [1, 1, 1, 1] : tensor<1x2x32x16xf32> to tensor<1x2x8x16xf32>
  %w = arith.constant {fp4.param_name = "proj.weight"} dense<0.5> : tensor<16x16xf32>
  %wt0 = tensor.empty() : tensor<16x16xf32>
  %wt = linalg.transpose ins(%w : tensor<16x16xf32>) outs(%wt0 : tensor<16x16xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %h = linalg.matmul ins(%x, %wt : tensor<4x16xf32>, tensor<16x16xf32>) outs(%z : tensor<4x16xf32>) -> tensor<4x16xf32>
  %head = arith.constant {fp4.param_name = "lm_head.weight"} dense<0.25> : tensor<32x16xf32>
  %ht0 = tensor.empty() : tensor<16x32xf32>
  %ht = linalg.transpose ins(%head : tensor<32x16xf32>) outs(%ht0 : tensor<16x32xf32>) permutation = [1, 0]
  %e2 = tensor.empty() : tensor<4x32xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x32xf32>) -> tensor<4x32xf32>
  %y = linalg.matmul ins(%h, %ht : tensor<4x16xf32>, tensor<16x32xf32>) outs(%z2 : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y, %c, %r : tensor<4x32xf32>, tensor<1x2x32x16xf32>, tensor<1x2x8x16xf32>
}
