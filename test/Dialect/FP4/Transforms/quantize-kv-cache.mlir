// RUN: fp4-opt %s -split-input-file -fp4-quantize-kv-cache=format=fp8 -verify-diagnostics | FileCheck %s

// A cache updated by one insert_slice, read through extract_slice, returned:
// it crosses the boundary as FP8 codes and per-row scales.
// CHECK-LABEL: func.func @attend(
// CHECK-SAME: %[[NEW:.*]]: tensor<1x2x4x8xf32>,
// CHECK-SAME: %[[CODES:.*]]: tensor<1x2x16x8xi8> {fp4.kv_cache = {bytes_per_token_after = 24 : i64, bytes_per_token_before = 64 : i64, format = "fp8_per_row"}},
// CHECK-SAME: %[[SCALES:.*]]: tensor<1x2x16x1xf32>)
// CHECK-SAME: -> (tensor<1x2x16x8xi8>, tensor<1x2x16x1xf32>, tensor<1x2x8x8xf32>)
// CHECK: %[[Q:.*]] = fp4.quantize %[[NEW]] : tensor<1x2x4x8xf32> -> !fp4.qtensor<1x2x4x8xf8E4M3FN, fp8_per_row>
// CHECK: %[[D:.*]], %[[S:.*]] = fp4.disassemble %[[Q]]
// CHECK: %[[C:.*]] = tensor.insert_slice %[[D]] into %[[CODES]][0, 0, 4, 0] [1, 2, 4, 8] [1, 1, 1, 1]
// CHECK: %[[CS:.*]] = tensor.insert_slice %[[S]] into %[[SCALES]][0, 0, 4, 0] [1, 2, 4, 1] [1, 1, 1, 1]
// CHECK: %[[A:.*]] = fp4.assemble %[[C]], %[[CS]]
// CHECK: %[[F:.*]] = fp4.dequantize %[[A]] : !fp4.qtensor<1x2x16x8xf8E4M3FN, fp8_per_row> -> tensor<1x2x16x8xf32>
// CHECK: %[[R:.*]] = tensor.extract_slice %[[F]][0, 0, 0, 0] [1, 2, 8, 8]
// CHECK: return %[[C]], %[[CS]], %[[R]]
func.func @attend(%new: tensor<1x2x4x8xf32>, %cache: tensor<1x2x16x8xf32>) -> (tensor<1x2x16x8xf32>, tensor<1x2x8x8xf32>) {
  // expected-remark @-1 {{KV cache argument #1 stored as fp8_per_row (codes i8, one f32 scale per row): 64 -> 24 bytes per token}}
  %c = tensor.insert_slice %new into %cache[0, 0, 4, 0] [1, 2, 4, 8] [1, 1, 1, 1] : tensor<1x2x4x8xf32> into tensor<1x2x16x8xf32>
  %r = tensor.extract_slice %c[0, 0, 0, 0] [1, 2, 8, 8] [1, 1, 1, 1] : tensor<1x2x16x8xf32> to tensor<1x2x8x8xf32>
  return %c, %r : tensor<1x2x16x8xf32>, tensor<1x2x8x8xf32>
}

// -----

// A tensor written but not returned is not a cache: left alone.
// CHECK-LABEL: func.func @scratch(
// CHECK-SAME: tensor<1x2x16x8xf32>
// CHECK-NOT: fp4.
func.func @scratch(%new: tensor<1x2x4x8xf32>, %buffer: tensor<1x2x16x8xf32>) -> tensor<1x2x8x8xf32> {
  %c = tensor.insert_slice %new into %buffer[0, 0, 4, 0] [1, 2, 4, 8] [1, 1, 1, 1] : tensor<1x2x4x8xf32> into tensor<1x2x16x8xf32>
  %r = tensor.extract_slice %c[0, 0, 0, 0] [1, 2, 8, 8] [1, 1, 1, 1] : tensor<1x2x16x8xf32> to tensor<1x2x8x8xf32>
  return %r : tensor<1x2x8x8xf32>
}

// -----

// A write of part of each row cannot derive the row's scales: left in float.
// CHECK-LABEL: func.func @partial_rows(
// CHECK-SAME: %{{.*}}: tensor<1x2x16x8xf32>)
// CHECK-NOT: fp4.
func.func @partial_rows(%new: tensor<1x2x4x4xf32>, %cache: tensor<1x2x16x8xf32>) -> (tensor<1x2x16x8xf32>, tensor<1x2x8x8xf32>) {
  // expected-remark @+1 {{KV cache left in float: the update does not write whole rows of the last dimension}}
  %c = tensor.insert_slice %new into %cache[0, 0, 4, 4] [1, 2, 4, 4] [1, 1, 1, 1] : tensor<1x2x4x4xf32> into tensor<1x2x16x8xf32>
  %r = tensor.extract_slice %c[0, 0, 0, 0] [1, 2, 8, 8] [1, 1, 1, 1] : tensor<1x2x16x8xf32> to tensor<1x2x8x8xf32>
  return %c, %r : tensor<1x2x16x8xf32>, tensor<1x2x8x8xf32>
}
