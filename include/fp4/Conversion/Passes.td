//===- Passes.td - fp4 conversions ---------------------*- tablegen -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_CONVERSION_PASSES_TD
#define FP4_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertFP4ToLinalg : Pass<"convert-fp4-to-linalg", "ModuleOp"> {
  let summary = "Lower fp4 dequantize and scaled_matmul to linalg, arith and tensor";
  let description = [{
    The CPU path: every quantized operand is expanded from its storage form
    (packed codes, scales, global scale) to float32 with a `linalg.generic`
    whose body unpacks the code and reads its value and its scale's value from
    16- or 256-entry tables that the numerics library computes, so the
    decoded values are exactly those of `fp4-quant dequantize`:

    ```
    value = decode(code) * (decode(scale) * global_scale)
    ```

    `fp4.scaled_matmul` becomes a float32 contraction `lhs x rhs^T` (plain,
    batched, or batched against shared weights) into a zero fill, rounded
    once to the result element type. Quantized values come from
    `fp4.constant`, `fp4.assemble` or a run-time `fp4.quantize` (of a
    statically shaped activation), which becomes a call into the CPU runtime
    (`fp4rt_quantize_*`, lib/Runtime) so that activations are quantized by
    the numerics library itself. Not supported (an error says so): quantized
    function arguments, dynamic shapes at run-time quantization and swizzled
    scale layouts.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // FP4_CONVERSION_PASSES_TD
