//===- FP4Types.td - fp4 dialect types -------------------*- tablegen -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_IR_FP4TYPES_TD
#define FP4_DIALECT_FP4_IR_FP4TYPES_TD

include "fp4/Dialect/FP4/IR/FP4Attrs.td"
include "mlir/IR/AttrTypeBase.td"

class FP4_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<FP4_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

//===----------------------------------------------------------------------===//
// Element formats that MLIR has no builtin type for
//===----------------------------------------------------------------------===//

def FP4_NF4Type : FP4_Type<"NF4", "nf4"> {
  let summary = "4-bit NormalFloat codebook element (bitsandbytes NF4)";
  let description = [{
    A 4-bit index into the 16-entry NF4 codebook of bitsandbytes (quantiles
    of a unit normal distribution, normalized to [-1, 1], with an exact 0).
    Scaled per block of 64 by an FP32 absolute maximum. Emulation only: no
    hardware consumes NF4 directly.

    Example: `!fp4.qtensor<64x128x!fp4.nf4, nf4>`
  }];
}

def FP4_E1M2Type : FP4_Type<"E1M2", "e1m2"> {
  let summary = "4-bit float with 1 exponent and 2 mantissa bits (research)";
  let description = [{
    Sign, 1 exponent bit (bias 1), 2 mantissa bits, no Inf or NaN.
    Magnitudes {0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75}. CPU/emulation only.

    Example: `!fp4.qtensor<64x128x!fp4.e1m2, #fp4.scaling<block, axis = 1, size = 32, scale = f32>>`
  }];
}

def FP4_E3M0Type : FP4_Type<"E3M0", "e3m0"> {
  let summary = "4-bit float with 3 exponent bits and no mantissa (research)";
  let description = [{
    Sign and 3 exponent bits (bias 3), no mantissa, no Inf or NaN: code 0 is
    zero and codes 1..7 are the powers of two 2^-2 .. 2^4.
    CPU/emulation only.

    Example: `!fp4.qtensor<64x128x!fp4.e3m0, #fp4.scaling<block, axis = 1, size = 32, scale = f32>>`
  }];
}

//===----------------------------------------------------------------------===//
// QuantizedTensorType
//===----------------------------------------------------------------------===//

def FP4_QuantizedTensorType : FP4_Type<"QuantizedTensor", "qtensor"> {
  let summary = "a tensor quantized to a narrow float format, with its scales";
  let description = [{
    A ranked tensor whose elements are stored in a narrow float format and
    scaled as `scaling` describes. The shape is the logical shape (the shape
    of the dequantized tensor). Syntax, in full or as a named preset:

    ```
    !fp4.qtensor<128x256xf4E2M1FN, #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3, global = f32>>
    !fp4.qtensor<128x256xf4E2M1FN, nvfp4>     // the same type
    !fp4.qtensor<128x256xf4E2M1FN, mxfp4>
    !fp4.qtensor<128x256xf8E5M2, mxfp8>
    !fp4.qtensor<128x256xf8E4M3FN, fp8>
    !fp4.qtensor<128x256xf8E4M3FN, fp8_per_channel>
    !fp4.qtensor<8x128x256xf8E4M3FN, fp8_per_row>
    !fp4.qtensor<128x256x!fp4.nf4, nf4>
    ```

    Presets (blocks always run along the last axis, the reduction axis of a
    weight laid out `[..., N, K]` and of an activation `[..., M, K]`):

    | preset | element | scaling |
    |---|---|---|
    | `nvfp4` | `f4E2M1FN` | blocks of 16, `ue4m3`, `global = f32` |
    | `mxfp4` | `f4E2M1FN` | blocks of 32, `ue8m0` |
    | `mxfp8` | `f8E4M3FN` or `f8E5M2` | blocks of 32, `ue8m0` |
    | `fp8` | `f8E4M3FN` or `f8E5M2` | per-tensor `f32` |
    | `fp8_per_channel` | `f8E4M3FN` or `f8E5M2` | per-channel `f32` along axis `rank - 2` (rank >= 2) |
    | `fp8_per_row` | `f8E4M3FN` or `f8E5M2` | one `f32` scale per row: blocks as long as the (static) last dimension |
    | `nf4` | `!fp4.nf4` | blocks of 64, `f32` (absmax) |

    The printer uses the preset name whenever the type is exactly a preset.

    **Storage form.** The type's storage is a tuple of ordinary tensors,
    built by `fp4.assemble` and viewed by `fp4.disassemble`:
    * `data`: `i8`. 4-bit formats pack two codes per byte along the last
      axis, the even-indexed element in the low nibble, so the last
      dimension is halved; 8-bit formats store one code per byte.
    * `scales`: per-tensor `tensor<T>`; per-channel `tensor<DxT>` with `D`
      the size of the channel axis; per-block the logical shape with the
      blocked dimension divided by the block size. `T` is `f32`, `bf16`,
      `f8E4M3FN` (for `ue4m3`) or `f8E8M0FNU` (for `ue8m0`).
    * `global_scale` (two-level only): `tensor<f32>`.

    Constraints enforced by the verifier:
    * the element type is `f4E2M1FN`, `f8E4M3FN`, `f8E5M2`, `!fp4.nf4`,
      `!fp4.e1m2` or `!fp4.e3m0`;
    * rank >= 1; dimensions are static or dynamic (`?`), never negative;
    * a channel or block `axis` is less than the rank;
    * the blocked dimension is static and `size` divides it;
    * 4-bit formats have a static, even last dimension (two codes per byte);
    * `ue4m3` block scales need a 4-bit float element (`f4E2M1FN`,
      `!fp4.e1m2`, `!fp4.e3m0`);
    * `!fp4.nf4` needs per-block `f32` scales;
    * a preset name fits its element type (`nvfp4` and `mxfp4` need
      `f4E2M1FN`, `mxfp8`, `fp8`, `fp8_per_channel` and `fp8_per_row` an FP8
      element, `nf4` `!fp4.nf4`), the rank it needs, and (`fp8_per_row`) a
      static last dimension.
  }];
  let parameters = (ins
    ArrayRefParameter<"int64_t">:$shape,
    "Type":$elementType,
    "ScalingAttr":$scaling);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let skipDefaultBuilders = 0;
  let extraClassDeclaration = [{
    int64_t getRank() const { return getShape().size(); }
    bool hasStaticShape() const;

    /// Bits per stored element code: 4 or 8.
    unsigned getElementBitWidth() const;

    /// The logical tensor type with `elementType`, e.g. the result of a
    /// dequantization to `bf16`.
    RankedTensorType getLogicalType(Type elementType) const;

    /// Storage form: the packed codes, the scales and, for two-level
    /// scaling, the global scale (null otherwise).
    RankedTensorType getDataType() const;
    RankedTensorType getScalesType() const;
    RankedTensorType getGlobalScaleType() const;
    /// The two or three storage types, in the order fp4.assemble takes them.
    SmallVector<Type, 3> getStorageTypes() const;
    /// Bytes of the storage form: codes, scales and global scale together.
    int64_t getStorageBytes() const;

    /// The builtin type that stores one scale of `format`.
    static Type getScaleStorageType(MLIRContext *ctx, ScaleFormat format);

    /// The named preset this type is exactly, if any ("nvfp4", ...).
    std::optional<StringRef> getPresetName() const;

    /// The type of preset `name` on `shape` with `elementType` (null: the
    /// preset's default element, f4E2M1FN / f8E4M3FN / !fp4.nf4). Returns
    /// null, with a reason in `why`, if the preset does not apply.
    static QuantizedTensorType getPreset(MLIRContext *ctx, StringRef name,
                                         ArrayRef<int64_t> shape,
                                         Type elementType, std::string &why);
  }];
}

#endif // FP4_DIALECT_FP4_IR_FP4TYPES_TD
