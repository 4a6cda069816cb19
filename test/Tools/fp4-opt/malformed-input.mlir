// Malformed input gets a located error and a non-zero exit, never a crash.
// RUN: split-file %s %t
// RUN: not fp4-opt %t/syntax.mlir 2>&1 | FileCheck %s --check-prefix=SYNTAX
// RUN: not fp4-opt %t/bad-attr.mlir 2>&1 | FileCheck %s --check-prefix=ATTR
// RUN: not fp4-opt %t/bad-shape.mlir 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not fp4-opt %t/truncated.mlir 2>&1 | FileCheck %s --check-prefix=TRUNC
// RUN: not fp4-opt %t/does-not-exist.mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not fp4-opt %t/huge-block.mlir 2>&1 | FileCheck %s --check-prefix=HUGE

//--- syntax.mlir
func.func @f(%x: tensor<4x32xf32>) {
  %q = fp4.quantize %x tensor<4x32xf32> -> !fp4.qtensor<4x32xf4E2M1FN, nvfp4>
  return
}
// SYNTAX: syntax.mlir:2:23: error: expected ':'

//--- bad-attr.mlir
func.func private @f(!fp4.qtensor<4x32xf4E2M1FN, #fp4.scaling<block, axis = 1, size = x, scale = ue8m0>>)
// ATTR: bad-attr.mlir:1:87: error: expected integer value

//--- bad-shape.mlir
func.func @f(%x: !fp4.qtensor<4x32xf4E2M1FN, nvfp4>) -> tensor<4x16xf32> {
  %d = fp4.dequantize %x : !fp4.qtensor<4x32xf4E2M1FN, nvfp4> -> tensor<4x16xf32>
  return %d : tensor<4x16xf32>
}
// SHAPE: bad-shape.mlir:2:8: error: 'fp4.dequantize' op expects the result shape 4x16 to match the input's logical shape 4x32

//--- truncated.mlir
func.func private @f(!fp4.qtensor<4x32xf4E2M1FN, #fp4.scaling<block, axis = 1
// TRUNC: truncated.mlir:{{[0-9]+}}:{{[0-9]+}}: error:

//--- huge-block.mlir
func.func private @f(!fp4.qtensor<4x32xf4E2M1FN, #fp4.scaling<block, axis = 99999999999, size = 9223372036854775807, scale = ue8m0>>)
// HUGE: huge-block.mlir:1:34: error: expects scaling axis 99999999999 to be less than the rank 2

// MISSING: cannot open input file '{{.*}}does-not-exist.mlir': No such file or directory
