// Folds of the fp4 ops: only those that are exactly right.
// RUN: fp4-opt %s -canonicalize -split-input-file | FileCheck %s

// assemble(disassemble(q)) is q.
// CHECK-LABEL: func.func @assemble_of_disassemble(
// CHECK-SAME: %[[Q:.*]]: !fp4.qtensor
// CHECK-NEXT: return %[[Q]]
func.func @assemble_of_disassemble(%q: !fp4.qtensor<4x32xf4E2M1FN, nvfp4>) -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4> {
  %d, %s, %g = fp4.disassemble %q : !fp4.qtensor<4x32xf4E2M1FN, nvfp4> -> tensor<4x16xi8>, tensor<4x2xf8E4M3FN>, tensor<f32>
  %r = fp4.assemble %d, %s, %g : tensor<4x16xi8>, tensor<4x2xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return %r : !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
}

// -----

// disassemble(assemble(d, s)) is d, s.
// CHECK-LABEL: func.func @disassemble_of_assemble(
// CHECK-SAME: %[[D:[^:]*]]: tensor<4x16xi8>, %[[S:[^:]*]]: tensor<4x1xf8E8M0FNU>
// CHECK-NEXT: return %[[D]], %[[S]]
func.func @disassemble_of_assemble(%d: tensor<4x16xi8>, %s: tensor<4x1xf8E8M0FNU>) -> (tensor<4x16xi8>, tensor<4x1xf8E8M0FNU>) {
  %q = fp4.assemble %d, %s : tensor<4x16xi8>, tensor<4x1xf8E8M0FNU> -> !fp4.qtensor<4x32xf4E2M1FN, mxfp4>
  %d2, %s2 = fp4.disassemble %q : !fp4.qtensor<4x32xf4E2M1FN, mxfp4> -> tensor<4x16xi8>, tensor<4x1xf8E8M0FNU>
  return %d2, %s2 : tensor<4x16xi8>, tensor<4x1xf8E8M0FNU>
}

// -----

// Parts of two different quantized tensors do not fold.
// CHECK-LABEL: func.func @mixed_parts(
// CHECK: fp4.disassemble
// CHECK: fp4.disassemble
// CHECK: %[[R:.*]] = fp4.assemble
// CHECK: return %[[R]]
func.func @mixed_parts(%a: !fp4.qtensor<4x32xf8E4M3FN, fp8>, %b: !fp4.qtensor<4x32xf8E4M3FN, fp8>) -> !fp4.qtensor<4x32xf8E4M3FN, fp8> {
  %da, %sa = fp4.disassemble %a : !fp4.qtensor<4x32xf8E4M3FN, fp8> -> tensor<4x32xi8>, tensor<f32>
  %db, %sb = fp4.disassemble %b : !fp4.qtensor<4x32xf8E4M3FN, fp8> -> tensor<4x32xi8>, tensor<f32>
  %r = fp4.assemble %da, %sb : tensor<4x32xi8>, tensor<f32> -> !fp4.qtensor<4x32xf8E4M3FN, fp8>
  return %r : !fp4.qtensor<4x32xf8E4M3FN, fp8>
}

// -----

// Reassembling the parts as another element format with the same storage types
// is a reinterpretation, not the original value: no fold.
// CHECK-LABEL: func.func @reinterpret(
// CHECK: fp4.disassemble
// CHECK: %[[R:.*]] = fp4.assemble
// CHECK: return %[[R]]
func.func @reinterpret(%q: !fp4.qtensor<4x64xf4E2M1FN, mxfp4>) -> !fp4.qtensor<4x64x!fp4.e1m2, #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0>> {
  %d, %s = fp4.disassemble %q : !fp4.qtensor<4x64xf4E2M1FN, mxfp4> -> tensor<4x32xi8>, tensor<4x2xf8E8M0FNU>
  %r = fp4.assemble %d, %s : tensor<4x32xi8>, tensor<4x2xf8E8M0FNU> -> !fp4.qtensor<4x64x!fp4.e1m2, #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0>>
  return %r : !fp4.qtensor<4x64x!fp4.e1m2, #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0>>
}

// -----

// dequantize(quantize(x)) is not x: rounding loses information.
// CHECK-LABEL: func.func @dequantize_of_quantize(
// CHECK: %[[Q:.*]] = fp4.quantize
// CHECK: %[[D:.*]] = fp4.dequantize %[[Q]]
// CHECK: return %[[D]]
func.func @dequantize_of_quantize(%x: tensor<4x32xf32>) -> tensor<4x32xf32> {
  %q = fp4.quantize %x : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  %d = fp4.dequantize %q : !fp4.qtensor<4x32xf4E2M1FN, nvfp4> -> tensor<4x32xf32>
  return %d : tensor<4x32xf32>
}

// -----

// quantize(dequantize(q)) re-derives the scales from the dequantized data and
// is not q in general (docs/dialect.md gives counter-examples): no fold.
// CHECK-LABEL: func.func @quantize_of_dequantize(
// CHECK: %[[D:.*]] = fp4.dequantize
// CHECK: %[[Q:.*]] = fp4.quantize %[[D]]
// CHECK: return %[[Q]]
func.func @quantize_of_dequantize(%q: !fp4.qtensor<4x32xf4E2M1FN, nvfp4>) -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4> {
  %d = fp4.dequantize %q : !fp4.qtensor<4x32xf4E2M1FN, nvfp4> -> tensor<4x32xf32>
  %r = fp4.quantize %d : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return %r : !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
}

// -----

// Unused pure ops go away.
// CHECK-LABEL: func.func @dead(
// CHECK-NEXT: return
func.func @dead(%x: tensor<4x32xf32>) {
  %q = fp4.quantize %x : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  %c = fp4.constant data(dense<0> : tensor<4x16xi8>) scales(dense<1.0> : tensor<4x1xf8E8M0FNU>) : !fp4.qtensor<4x32xf4E2M1FN, mxfp4>
  return
}
