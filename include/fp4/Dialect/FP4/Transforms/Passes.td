//===- Passes.td - fp4 dialect transformations -----------*- tablegen -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_TRANSFORMS_PASSES_TD
#define FP4_DIALECT_FP4_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def FP4FoldConstants : Pass<"fp4-fold-constants"> {
  let summary = "Quantize constant weights at compile time into fp4.constant";
  let description = [{
    Replaces every `fp4.quantize` whose input is an `arith.constant` (a
    `dense` or `dense_resource` float tensor: f32, f16 or bf16) by an
    `fp4.constant` holding the packed codes and scales, computed by the
    numerics library with exactly the bytes `fp4-quant` writes for the same
    tensor, format and rule (docs/formats.md section 5).

    ```mlir
    %w = arith.constant dense_resource<w> : tensor<512x256xbf16>
    %q = fp4.quantize %w : tensor<512x256xbf16> -> !fp4.qtensor<512x256xf4E2M1FN, nvfp4>
    // becomes
    %q = fp4.constant data(dense_resource<w_fp4_data> : tensor<512x128xi8>)
                      scales(dense_resource<w_fp4_scales> : tensor<512x16xf8E4M3FN>)
                      global_scale(dense<...> : tensor<f32>)
                      : !fp4.qtensor<512x256xf4E2M1FN, nvfp4>
    ```

    The weight bytes are read in place (no copy of the input is made) and
    quantized on `threads` threads; packed data and scales larger than
    `inline-limit` bytes become `dense_resource` blobs.

    With `swizzle-scales`, block scales of NVFP4/MXFP4/MXFP8 constants whose
    every user is an fp4 op are emitted in the Blackwell 128x4 tile layout
    and the type gains `layout = swizzled`.

    Supported schemes: NVFP4 (rules modelopt, torchao, compressed_tensors),
    MXFP4/MXFP8 (floor, rceil), FP8 per-tensor, FP8 per-channel on rank-2
    weights, NF4; blocks along the last axis. Anything else is left as it is
    with a remark saying why. A constant holding NaN or Inf is an error at
    the `fp4.quantize`, naming the element.
  }];
  let options = [
    Option<"swizzleScales", "swizzle-scales", "bool", /*default=*/"false",
           "Emit block scales in the Blackwell 128x4 tile layout">,
    Option<"threads", "threads", "unsigned", /*default=*/"0",
           "Worker threads for quantization (0: all hardware threads)">,
    Option<"inlineLimit", "inline-limit", "int64_t", /*default=*/"256",
           "Largest storage part, in bytes, emitted as a dense attribute "
           "instead of a dense_resource blob">,
  ];
}

#endif // FP4_DIALECT_FP4_TRANSFORMS_PASSES_TD
