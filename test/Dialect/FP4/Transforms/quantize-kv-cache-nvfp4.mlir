// RUN: fp4-opt %s -split-input-file -fp4-quantize-kv-cache=format=nvfp4 -verify-diagnostics | FileCheck %s
// RUN: fp4-opt %s -split-input-file -fp4-quantize-kv-cache="format=nvfp4 amax=448" | FileCheck %s --check-prefix=AMAX
// RUN: not fp4-opt %s -split-input-file -fp4-quantize-kv-cache="format=nvfp4 amax=-1" 2>&1 | FileCheck %s --check-prefix=BAD-AMAX
// RUN: not fp4-opt %s -split-input-file -fp4-quantize-kv-cache=format=int4 2>&1 | FileCheck %s --check-prefix=BAD-FORMAT

// NVFP4: packed E2M1 codes (16 -> 8 bytes per row) and one E4M3 scale per
// 16 elements; the global scale is static (default amax 2688: global 1.0),
// so it is not an argument. Per token: 2 heads x (8 + 1) bytes.
// CHECK-LABEL: func.func @attend(
// CHECK-SAME: %[[NEW:.*]]: tensor<1x2x4x16xf32>,
// CHECK-SAME: %[[CODES:.*]]: tensor<1x2x32x8xi8> {fp4.kv_cache = {bytes_per_token_after = 18 : i64, bytes_per_token_before = 128 : i64, format = "nvfp4"}},
// CHECK-SAME: %[[SCALES:.*]]: tensor<1x2x32x1xf8E4M3FN>)
// CHECK-SAME: -> (tensor<1x2x32x8xi8>, tensor<1x2x32x1xf8E4M3FN>, tensor<1x2x8x16xf32>)
// CHECK: %[[Q:.*]] = fp4.quantize %[[NEW]] amax(2.688000e+03) : tensor<1x2x4x16xf32> -> !fp4.qtensor<1x2x4x16xf4E2M1FN, nvfp4>
// CHECK: %[[D:.*]], %[[S:.*]], %[[G:.*]] = fp4.disassemble %[[Q]]
// CHECK: %[[C:.*]] = tensor.insert_slice %[[D]] into %[[CODES]][0, 0, 4, 0] [1, 2, 4, 8] [1, 1, 1, 1]
// CHECK: %[[CS:.*]] = tensor.insert_slice %[[S]] into %[[SCALES]][0, 0, 4, 0] [1, 2, 4, 1] [1, 1, 1, 1]
// CHECK: %[[A:.*]] = fp4.assemble %[[C]], %[[CS]], %[[G]]
// CHECK: %[[F:.*]] = fp4.dequantize %[[A]] : !fp4.qtensor<1x2x32x16xf4E2M1FN, nvfp4> -> tensor<1x2x32x16xf32>
// CHECK: %[[R:.*]] = tensor.extract_slice %[[F]][0, 0, 0, 0] [1, 2, 8, 16]
// CHECK: return %[[C]], %[[CS]], %[[R]]
// AMAX: fp4.quantize %{{.*}} amax(4.480000e+02)
// BAD-AMAX: error: fp4-quantize-kv-cache: amax must be finite and positive, got -1
// BAD-FORMAT: error: fp4-quantize-kv-cache: format 'int4' is not supported (use fp8, nvfp4 or keep)
func.func @attend(%new: tensor<1x2x4x16xf32>, %cache: tensor<1x2x32x16xf32>) -> (tensor<1x2x32x16xf32>, tensor<1x2x8x16xf32>) {
  // expected-remark @-1 {{KV cache argument #1 stored as nvfp4 (E2M1 codes two per byte, one E4M3 scale per 16 elements, static global scale): 128 -> 18 bytes per token}}
  %c = tensor.insert_slice %new into %cache[0, 0, 4, 0] [1, 2, 4, 16] [1, 1, 1, 1] : tensor<1x2x4x16xf32> into tensor<1x2x32x16xf32>
  %r = tensor.extract_slice %c[0, 0, 0, 0] [1, 2, 8, 16] [1, 1, 1, 1] : tensor<1x2x32x16xf32> to tensor<1x2x8x16xf32>
  return %c, %r : tensor<1x2x32x16xf32>, tensor<1x2x8x16xf32>
}

// -----

// A head dimension of 8 holds no 16-element block: left in float.
// CHECK-LABEL: func.func @small_heads(
// CHECK-SAME: tensor<1x2x16x8xf32>
// CHECK-NOT: fp4.
func.func @small_heads(%new: tensor<1x2x4x8xf32>, %cache: tensor<1x2x16x8xf32>) -> (tensor<1x2x16x8xf32>, tensor<1x2x8x8xf32>) {
  // expected-remark @+1 {{KV cache left in float:}}
  %c = tensor.insert_slice %new into %cache[0, 0, 4, 0] [1, 2, 4, 8] [1, 1, 1, 1] : tensor<1x2x4x8xf32> into tensor<1x2x16x8xf32>
  %r = tensor.extract_slice %c[0, 0, 0, 0] [1, 2, 8, 8] [1, 1, 1, 1] : tensor<1x2x16x8xf32> to tensor<1x2x8x8xf32>
  return %c, %r : tensor<1x2x16x8xf32>, tensor<1x2x8x8xf32>
}
