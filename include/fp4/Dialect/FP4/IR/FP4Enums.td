//===- FP4Enums.td - fp4 dialect enums -------------------*- tablegen -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_IR_FP4ENUMS_TD
#define FP4_DIALECT_FP4_IR_FP4ENUMS_TD

include "fp4/Dialect/FP4/IR/FP4Dialect.td"
include "mlir/IR/EnumAttr.td"

def FP4_Granularity : I32EnumAttr<"Granularity",
    "how many elements share one scale", [
      I32EnumAttrCase<"Tensor", 0, "tensor">,
      I32EnumAttrCase<"Channel", 1, "channel">,
      I32EnumAttrCase<"Block", 2, "block">]> {
  let cppNamespace = "::mlir::fp4";
  let genSpecializedAttr = 0;
}

def FP4_ScaleFormat : I32EnumAttr<"ScaleFormat",
    "storage format of a scale factor", [
      I32EnumAttrCase<"F32", 0, "f32">,
      I32EnumAttrCase<"BF16", 1, "bf16">,
      I32EnumAttrCase<"UE4M3", 2, "ue4m3">,
      I32EnumAttrCase<"UE8M0", 3, "ue8m0">]> {
  let cppNamespace = "::mlir::fp4";
  let genSpecializedAttr = 0;
}

def FP4_ScaleLayout : I32EnumAttr<"ScaleLayout",
    "order of block scales in memory", [
      I32EnumAttrCase<"Linear", 0, "linear">,
      I32EnumAttrCase<"Swizzled", 1, "swizzled">]> {
  let cppNamespace = "::mlir::fp4";
  let genSpecializedAttr = 0;
}

def FP4_ScaleRule : I32EnumAttr<"ScaleRule",
    "how a quantizer derives scales from the data", [
      I32EnumAttrCase<"ModelOpt", 0, "modelopt">,
      I32EnumAttrCase<"TorchAO", 1, "torchao">,
      I32EnumAttrCase<"CompressedTensors", 2, "compressed_tensors">,
      I32EnumAttrCase<"Floor", 3, "floor">,
      I32EnumAttrCase<"RCeil", 4, "rceil">]> {
  let cppNamespace = "::mlir::fp4";
  let genSpecializedAttr = 0;
}

def FP4_ScaleRuleAttr : EnumAttr<FP4_Dialect, FP4_ScaleRule, "rule"> {
  let assemblyFormat = "`<` $value `>`";
  let summary = "scale-derivation rule of a quantizer";
  let description = [{
    Names the reference whose order of operations a quantizer follows when it
    derives scales from the data. NVFP4 (two-level UE4M3 under FP32):
    `modelopt` (the default), `torchao`, `compressed_tensors`. UE8M0 (MX)
    scales: `floor` (OCP MX v1.0, the default) and `rceil` (cuBLAS,
    ModelOpt). Other schemes have a single rule (absolute maximum) and take
    no `rule`. `docs/formats.md` gives the exact formulas.

    Example: `fp4.quantize %x rule<rceil> : ...`
  }];
}

def FP4_BlockScaleSearch : I32EnumAttr<"BlockScaleSearch",
    "how NVFP4 block scales (or FP8 scales) are chosen", [
      I32EnumAttrCase<"Max", 0, "max">,
      I32EnumAttrCase<"FourOverSix", 1, "four_over_six">,
      I32EnumAttrCase<"MSE", 2, "mse">]> {
  let cppNamespace = "::mlir::fp4";
  let genSpecializedAttr = 0;
}

def FP4_BlockScaleSearchAttr
    : EnumAttr<FP4_Dialect, FP4_BlockScaleSearch, "search"> {
  let assemblyFormat = "`<` $value `>`";
  let summary = "how NVFP4 block scales (or FP8 scales) are chosen";
  let description = [{
    `max` (the rule's own choice): each block's maximum maps to 6.
    `four_over_six`: the better, by squared error over the block, of mapping
    the maximum to 6 or to 4 (a finer grid near the top at the cost of the
    two largest codes). `mse`: the finite E4M3 block scale with the least
    squared error (all 126 candidates, pruned exactly by the clipping error
    of the maximum). The global scale, element rounding and storage are
    ModelOpt's; ties keep the `max` choice.

    On FP8 with f32 scales, `mse` picks the tensor's (or each channel's)
    scale with the least squared error among `s * (1 + i / 64)`, i = 0 ..
    63, where `s` maps the maximum to the largest finite value: one binade
    of grid alignments, none clipping; ties keep `s`. `docs/formats.md`
    section 8.

    Example: `fp4.quantize %w search<mse> : ...`
  }];
}

#endif // FP4_DIALECT_FP4_IR_FP4ENUMS_TD
