// convert-fp4-to-llvm is fp4-lower-to-cpu as one pass: identical output, all
// in the LLVM dialect.
// RUN: fp4-opt %s -convert-fp4-to-llvm | FileCheck %s
// RUN: fp4-opt %s -convert-fp4-to-llvm -o %t.pass.mlir
// RUN: fp4-opt %s -fp4-lower-to-cpu -o %t.pipeline.mlir
// RUN: diff %t.pass.mlir %t.pipeline.mlir

// CHECK-NOT: fp4.
// CHECK-NOT: linalg.
// CHECK-NOT: func.func
// CHECK: llvm.func private @fp4rt_quantize_byte_scales
// CHECK: llvm.func @linear(
// CHECK: llvm.call @fp4rt_quantize_byte_scales
// CHECK: llvm.fmul
// CHECK-NOT: fp4.
func.func @linear(%x: tensor<4x32xf32>) -> tensor<4x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x32xf32>
  %wq = fp4.quantize %w : tensor<8x32xf32> -> !fp4.qtensor<8x32xf4E2M1FN, nvfp4>
  %xq = fp4.quantize %x : tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %xq, %wq : !fp4.qtensor<4x32xf4E2M1FN, nvfp4>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4> -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
