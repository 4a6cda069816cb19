//===- FP4Ops.td - fp4 dialect operations ----------------*- tablegen -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_IR_FP4OPS_TD
#define FP4_DIALECT_FP4_IR_FP4OPS_TD

include "fp4/Dialect/FP4/IR/FP4Types.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

class FP4_Op<string mnemonic, list<Trait> traits = []>
    : Op<FP4_Dialect, mnemonic, traits>;

def FP4_QuantizedTensor : Type<CPred<"::llvm::isa<::mlir::fp4::QuantizedTensorType>($_self)">,
    "fp4 quantized tensor", "::mlir::fp4::QuantizedTensorType">;

def FP4_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;

def FP4_MatmulOperand : AnyTypeOf<[FP4_QuantizedTensor, FP4_FloatTensor]>;

//===----------------------------------------------------------------------===//
// quantize / dequantize
//===----------------------------------------------------------------------===//

def FP4_QuantizeOp : FP4_Op<"quantize", [Pure]> {
  let summary = "quantize a float tensor, deriving scales from the data";
  let description = [{
    Quantizes `input` to the result's format and scaling. Scales are derived
    from the data (absolute maxima per scaling group) by `rule`, or by the
    default rule of the scheme when `rule` is absent; elements are then
    divided by their scale and rounded to the nearest element code (ties to
    even, saturating at the format's largest finite value):

    ```
    for each scaling group G:
      s[G] = scale_rule(amax(|input[G]|))
      code[i] = round_to_element(input[i] / s[G(i)])
    ```

    Example:

    ```mlir
    %q = fp4.quantize %w : tensor<128x256xbf16> -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
    %m = fp4.quantize %x rule<rceil> : tensor<4x64xf32> -> !fp4.qtensor<4x64xf4E2M1FN, mxfp4>
    ```

    Constraints enforced by the verifier:
    * the input's shape matches the result's logical shape (dynamic
      dimensions match anything);
    * `modelopt`, `torchao` and `compressed_tensors` apply to two-level
      `ue4m3` scaling (NVFP4) only; `floor` and `rceil` to `ue8m0` scales
      only;
    * `amax` is finite and positive, and the scaling has a per-tensor
      quantity: per-tensor scaling or two-level scaling;
    * `search` other than `max` applies to NVFP4 (two-level ue4m3) with the
      `modelopt` rule; `search<mse>` also to FP8 with f32 scales (per
      tensor, per channel, per row), without `amax`.

    `search` chooses NVFP4 block scales, or FP8 tensor or channel scales, by
    squared error instead of the maximum (`#fp4.search`); weights, quantized
    once, use it.

    `amax` is a calibrated (static) absolute maximum of the whole tensor.
    It replaces the data's amax in the per-tensor quantity: the tensor scale
    of per-tensor FP8 (`amax / max_finite`) or the global scale of NVFP4
    (`amax / (6 * 448)`). Elements beyond it saturate to `+-amax`. Block
    scales are still derived from the data. Activations and KV caches carry
    one after calibration; without it every call measures its input.

    ```mlir
    %k = fp4.quantize %x amax(2.688e+03) : tensor<4x64xf32> -> !fp4.qtensor<4x64xf4E2M1FN, nvfp4>
    ```

    `fp4.dequantize(fp4.quantize(x))` is not `x` and is never folded.
  }];
  let arguments = (ins FP4_FloatTensor:$input,
                       OptionalAttr<FP4_ScaleRuleAttr>:$rule,
                       OptionalAttr<FP4_BlockScaleSearchAttr>:$search,
                       OptionalAttr<F32Attr>:$amax);
  let results = (outs FP4_QuantizedTensor:$result);
  let assemblyFormat = [{
    $input (`rule` `` $rule^)? (`search` `` $search^)? (`amax` `(` $amax^ `)`)? attr-dict `:` type($input) `->` qualified(type($result))
  }];
  let hasVerifier = 1;
}

def FP4_ObserveOp : FP4_Op<"observe", [MemoryEffects<[MemWrite]>]> {
  let summary = "record statistics of a tensor for calibration";
  let description = [{
    When the program runs for calibration, adds `input` to the statistics of
    observer `id` (named `name`, the key of the statistics file): absolute
    maximum, per-channel maxima of the last dimension, a histogram of |x| and
    a sample of rows (`docs/calibration.md`). Outside a calibration run it
    does nothing. `fp4-insert-observers` inserts these in front of the
    activations and KV-cache writes the precision policy quantizes.

    ```mlir
    fp4.observe %x[0] "mlp.experts.gate_up_proj:input" : tensor<4x8x64xf32>
    ```

    Constraints enforced by the verifier: `id` is not negative and `name` is
    not empty.
  }];
  let arguments = (ins FP4_FloatTensor:$input, I64Attr:$id, StrAttr:$name);
  let assemblyFormat = [{
    $input `[` $id `]` $name attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
}

def FP4_DequantizeOp : FP4_Op<"dequantize", [Pure]> {
  let summary = "expand a quantized tensor to float";
  let description = [{
    Computes `code * scale` (times the global scale for two-level scaling)
    for every element, in FP32, and rounds once to the result element type
    (round to nearest even).

    Example:

    ```mlir
    %w = fp4.dequantize %q : !fp4.qtensor<128x256xf4E2M1FN, nvfp4> -> tensor<128x256xbf16>
    ```

    Constraints enforced by the verifier:
    * the result's shape matches the input's logical shape (dynamic
      dimensions match anything).

    `fp4.quantize(fp4.dequantize(q))` is not folded to `q`: scales are
    re-derived from the dequantized data, and for NVFP4 a block whose
    maximum code was 4 gets a new block scale (so different codes), while
    MX blocks whose maximum code is below 4 get a smaller power-of-two scale
    (same values, different bytes). See `docs/dialect.md`.
  }];
  let arguments = (ins FP4_QuantizedTensor:$input);
  let results = (outs FP4_FloatTensor:$result);
  let assemblyFormat = [{
    $input attr-dict `:` qualified(type($input)) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// scaled_matmul
//===----------------------------------------------------------------------===//

def FP4_ScaledMatmulOp : FP4_Op<"scaled_matmul", [Pure]> {
  let summary = "matmul of (block-)scaled operands: lhs x rhs^T";
  let description = [{
    Multiplies `lhs` by the transpose of `rhs`, the form of `nn.Linear`
    (`y = x W^T` with `W` laid out `[N, K]`): both operands are K-major, the
    layout block-scaled tensor cores consume. Products of dequantized
    elements are accumulated in FP32 and rounded once to the result's
    element type:

    ```
    result[b, m, n] = round(sum_k  deq(lhs)[b, m, k] * deq(rhs)[b, n, k]
                            + bias[b, n])
    ```

    The optional `bias` (`nn.Linear`'s) is added to the FP32 sum before that
    one rounding, as a fused bias epilogue does: `[N]`, or `[B, N]` (one
    per expert) with batched weights `[B, N, K]`. `fp4-quantize-linalg`
    folds the add that follows a linear layer in torch-mlir's output into
    it.

    Forms (`B` is a batch or, for mixture-of-experts, the expert index `E`):

    | lhs | rhs | result | use |
    |---|---|---|---|
    | `[M, K]` | `[N, K]` | `[M, N]` | linear layer |
    | `[B, M, K]` | `[N, K]` | `[B, M, N]` | linear layer on a batch |
    | `[B, M, K]` | `[B, N, K]` | `[B, M, N]` | batched / expert-batched weights `[E, N, K]` |

    Each operand is a quantized tensor or a float tensor (`f32`, `f16`,
    `bf16`; e.g. W4A16 with a `bf16` activation).

    Example (W4A4 NVFP4, experts):

    ```mlir
    %y = fp4.scaled_matmul %x, %w
        : !fp4.qtensor<8x32x256xf4E2M1FN, nvfp4>, !fp4.qtensor<8x512x256xf4E2M1FN, nvfp4>
        -> tensor<8x32x512xbf16>
    ```

    Example (W4A16 with a bias):

    ```mlir
    %y = fp4.scaled_matmul %x, %w bias(%b : tensor<512xf32>)
        : tensor<16x256xbf16>, !fp4.qtensor<512x256xf4E2M1FN, mxfp4>
        -> tensor<16x512xbf16>
    ```

    Constraints enforced by the verifier:
    * at least one operand is quantized;
    * `lhs` has rank 2 or 3 and `rhs` rank 2, or both have rank 3;
    * the reduction dimensions (last of each) agree, and so do the batch
      dimensions of two rank-3 operands;
    * the result has shape `[M, N]` or `[B, M, N]` as in the table;
    * a block-scaled operand is blocked along its last (reduction) axis;
    * a per-channel operand is not scaled along the reduction axis (such a
      scale cannot be factored out of the sum);
    * when both operands are block-scaled, their block sizes are equal;
    * a bias has shape `[N]`, or `[B, N]` with a rank-3 `rhs`.
  }];
  let arguments = (ins FP4_MatmulOperand:$lhs, FP4_MatmulOperand:$rhs,
                       Optional<FP4_FloatTensor>:$bias);
  let results = (outs FP4_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict `:`
    type($lhs) `,` type($rhs) `->` type($result)
  }];
  let builders = [
    OpBuilder<(ins "Type":$result, "Value":$lhs, "Value":$rhs), [{
      build($_builder, $_state, result, lhs, rhs, /*bias=*/Value());
    }]>
  ];
  let extraClassDeclaration = [{
    /// Where the bias is read over the result's `resultRank` dimensions:
    /// (..., n) -> (n), or (b, ..., n) -> (b, n) with one bias per batch of
    /// weights.
    static ::mlir::AffineMap getBiasMap(::mlir::MLIRContext *ctx,
                                        int64_t resultRank, bool perBatch);
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// gathered_matmul
//===----------------------------------------------------------------------===//

def FP4_GatheredMatmulOp : FP4_Op<"gathered_matmul", [Pure]> {
  let summary = "each row times the transpose of the expert its index names";
  let description = [{
    Mixture-of-experts with routing: row `t` of `lhs` is multiplied by the
    transpose of expert `indices[t]` of the stacked weights `rhs` `[E, N, K]`
    (and gets that expert's bias), accumulated in FP32 and rounded once:

    ```
    result[t, n] = round(sum_k deq(lhs)[t, k] * deq(rhs)[indices[t], n, k]
                         + bias[indices[t], n])
    ```

    For top-k routing, `lhs` holds each token once per chosen expert (the
    rows the router's dispatch gathers). An index outside `[0, E)` makes
    its row NaN (on the CPU and on the GPU alike): a bad index never reads
    another expert's weights and is never silently wrong.

    Example (W4A16, 5 routed rows, 8 experts):

    ```mlir
    %y = fp4.gathered_matmul %x, %w[%ids]
        : tensor<5x256xbf16>, !fp4.qtensor<8x512x256xf4E2M1FN, mxfp4>,
          tensor<5xi32> -> tensor<5x512xbf16>
    ```

    Constraints enforced by the verifier:
    * `lhs` is `[T, K]` (float or quantized), `rhs` a quantized `[E, N, K]`,
      `indices` `[T]` of `i32` or `i64`, the result `[T, N]`;
    * the reduction dimensions agree; scaling as for `fp4.scaled_matmul`;
    * a bias has shape `[E, N]`.
  }];
  let arguments = (ins FP4_MatmulOperand:$lhs, FP4_QuantizedTensor:$rhs,
                       RankedTensorOf<[I32, I64]>:$indices,
                       Optional<FP4_FloatTensor>:$bias);
  let results = (outs FP4_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs `[` $indices `]` (`bias` `(` $bias^ `:` type($bias) `)`)?
    attr-dict `:` type($lhs) `,` qualified(type($rhs)) `,` type($indices) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// constant
//===----------------------------------------------------------------------===//

def FP4_ConstantOp : FP4_Op<"constant", [Pure]> {
  let summary = "a quantized constant: packed codes and scales";
  let description = [{
    A constant quantized tensor given by its storage form: `data` (packed
    codes), `scales` and, for two-level scaling, `global_scale`. Each is a
    `dense` or `dense_resource` elements attribute whose type is exactly the
    corresponding storage type of the result (see `!fp4.qtensor`).

    Example:

    ```mlir
    %w = fp4.constant data(dense<34> : tensor<2x8xi8>)
                      scales(dense<1.0> : tensor<2x1xf8E4M3FN>)
                      global_scale(dense<0.5> : tensor<f32>)
                      : !fp4.qtensor<2x16xf4E2M1FN, nvfp4>
    %v = fp4.constant data(dense_resource<experts> : tensor<8x64x32xi8>)
                      scales(dense_resource<experts_scales> : tensor<8x64x2xf8E8M0FNU>)
                      : !fp4.qtensor<8x64x64xf4E2M1FN, mxfp4>
    ```

    Constraints enforced by the verifier:
    * the result type has a static shape;
    * `data`, `scales` and `global_scale` have exactly the storage types of
      the result type;
    * `global_scale` is present if and only if the scaling is two-level.
  }];
  let arguments = (ins ElementsAttr:$data, ElementsAttr:$scales,
                       OptionalAttr<ElementsAttr>:$global_scale);
  let results = (outs FP4_QuantizedTensor:$result);
  let assemblyFormat = [{
    `data` `(` $data `)` `scales` `(` $scales `)`
    (`global_scale` `(` $global_scale^ `)`)? attr-dict `:` qualified(type($result))
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// assemble / disassemble
//===----------------------------------------------------------------------===//

def FP4_AssembleOp : FP4_Op<"assemble", [Pure]> {
  let summary = "build a quantized tensor from its storage parts";
  let description = [{
    Views packed codes, scales and (two-level) a global scale as one
    quantized tensor. No data moves: this is a change of view.

    Example:

    ```mlir
    %q = fp4.assemble %data, %scales, %global
        : tensor<128x128xi8>, tensor<128x16xf8E4M3FN>, tensor<f32>
        -> !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
    ```

    Constraints enforced by the verifier:
    * each operand's type is exactly the corresponding storage type of the
      result type (see `!fp4.qtensor`);
    * the global scale operand is present if and only if the scaling is
      two-level.

    Folds: `fp4.assemble` of the results of one `fp4.disassemble` of `%q`,
    in order, is `%q`.
  }];
  let arguments = (ins AnyRankedTensor:$data, AnyRankedTensor:$scales,
                       Optional<AnyRankedTensor>:$global_scale);
  let results = (outs FP4_QuantizedTensor:$result);
  let assemblyFormat = [{
    $data `,` $scales (`,` $global_scale^)? attr-dict `:` type($data) `,`
    type($scales) (`,` type($global_scale)^)? `->` qualified(type($result))
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def FP4_DisassembleOp : FP4_Op<"disassemble", [Pure]> {
  let summary = "view the storage parts of a quantized tensor";
  let description = [{
    Returns the packed codes, the scales and (two-level) the global scale of
    a quantized tensor, in the storage form `!fp4.qtensor` defines.

    Example:

    ```mlir
    %data, %scales, %global = fp4.disassemble %q
        : !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
        -> tensor<128x128xi8>, tensor<128x16xf8E4M3FN>, tensor<f32>
    ```

    Constraints enforced by the verifier:
    * each result's type is exactly the corresponding storage type of the
      input type;
    * the global scale result is present if and only if the scaling is
      two-level.

    Folds: `fp4.disassemble(fp4.assemble(%d, %s[, %g]))` is `%d, %s[, %g]`.
  }];
  let arguments = (ins FP4_QuantizedTensor:$input);
  let results = (outs AnyRankedTensor:$data, AnyRankedTensor:$scales,
                      Optional<AnyRankedTensor>:$global_scale);
  let assemblyFormat = [{
    $input attr-dict `:` qualified(type($input)) `->` type($data) `,`
    type($scales) (`,` type($global_scale)^)?
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

#endif // FP4_DIALECT_FP4_IR_FP4OPS_TD
