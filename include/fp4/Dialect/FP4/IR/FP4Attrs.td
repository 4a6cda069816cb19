//===- FP4Attrs.td - fp4 dialect attributes --------------*- tablegen -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_IR_FP4ATTRS_TD
#define FP4_DIALECT_FP4_IR_FP4ATTRS_TD

include "fp4/Dialect/FP4/IR/FP4Enums.td"
include "mlir/IR/AttrTypeBase.td"

class FP4_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<FP4_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def FP4_ScalingAttr : FP4_Attr<"Scaling", "scaling"> {
  let summary = "how a quantized tensor is scaled";
  let description = [{
    Describes which elements share a scale factor and how the scale is
    stored. Syntax:

    ```
    #fp4.scaling<tensor, scale = f32>
    #fp4.scaling<channel, axis = 0, scale = f32>
    #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0>
    #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3, global = f32>
    #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3, global = f32, layout = swizzled>
    ```

    * `tensor`: one scale for the whole tensor.
    * `channel`: one scale per index along `axis`.
    * `block`: one scale per `size` consecutive elements along `axis`.
    * `global = f32` (two-level scaling): each block scale is itself
      multiplied by one per-tensor FP32 scale, as in NVFP4:
      `x = e2m1 * ue4m3_block_scale * f32_global_scale`.

    * `layout = swizzled`: the block scales are stored in the Blackwell
      tensor-core layout (128x4 tiles, see `docs/formats.md`) instead of
      row-major (`layout = linear`, the default, not printed).

    The value of an element is `code * scale` (times the global scale when
    present). Scale formats: `f32`, `bf16` (any granularity), `ue4m3` (an
    unsigned E4M3 byte, `f8E4M3FN` in storage) and `ue8m0` (a power of two
    `2^(b-127)`, `f8E8M0FNU` in storage); the latter two are block scales.

    Constraints enforced by the verifier:
    * `tensor` takes no `axis`, `size` or `global`;
    * `channel` needs `axis >= 0` and takes no `size` or `global`;
    * `block` needs `axis >= 0` and `size > 0`;
    * `ue4m3` and `ue8m0` scales need `block` granularity;
    * `global` needs `block` granularity with `ue4m3` block scales, and must
      be `f32`;
    * `layout = swizzled` needs `block` granularity with one-byte scales
      (`ue4m3` or `ue8m0`).

    Constraints that involve the tensor (axis in range, `size` divides the
    blocked dimension, scale format legal for the element format) are
    checked by `!fp4.qtensor` (which also requires a swizzled layout to block
    the last axis of a tensor of rank >= 2).
  }];
  let parameters = (ins
    "Granularity":$granularity,
    "int64_t":$axis,
    "int64_t":$blockSize,
    "ScaleFormat":$scaleFormat,
    "std::optional<ScaleFormat>":$globalScaleFormat,
    "ScaleLayout":$layout);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "ScaleFormat":$scale), [{
      return $_get($_ctxt, Granularity::Tensor, -1, 0, scale, std::nullopt,
                   ScaleLayout::Linear);
    }]>
  ];
  let extraClassDeclaration = [{
    /// Per-channel scaling along `axis`.
    static ScalingAttr getPerChannel(MLIRContext *ctx, int64_t axis,
                                     ScaleFormat scale);
    /// Per-block scaling along `axis`, optionally under a global scale.
    static ScalingAttr
    getPerBlock(MLIRContext *ctx, int64_t axis, int64_t blockSize,
                ScaleFormat scale,
                std::optional<ScaleFormat> global = std::nullopt,
                ScaleLayout layout = ScaleLayout::Linear);

    bool isPerTensor() const { return getGranularity() == Granularity::Tensor; }
    bool isPerChannel() const { return getGranularity() == Granularity::Channel; }
    bool isPerBlock() const { return getGranularity() == Granularity::Block; }
    bool isTwoLevel() const { return getGlobalScaleFormat().has_value(); }
    /// Has a per-tensor quantity that a static (calibrated) amax can set:
    /// per-tensor scaling, or the global scale of two-level scaling.
    bool hasPerTensorQuantity() const { return isPerTensor() || isTwoLevel(); }
    bool isSwizzled() const { return getLayout() == ScaleLayout::Swizzled; }
  }];
}

#endif // FP4_DIALECT_FP4_IR_FP4ATTRS_TD
