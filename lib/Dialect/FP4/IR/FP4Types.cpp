//===- FP4Types.cpp - fp4 dialect types ----------------------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::fp4;

#define GET_TYPEDEF_CLASSES
#include "fp4/Dialect/FP4/IR/FP4Types.cpp.inc"

void FP4Dialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "fp4/Dialect/FP4/IR/FP4Types.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Element formats
//===----------------------------------------------------------------------===//

static bool isFP8(Type type) {
  return isa<Float8E4M3FNType, Float8E5M2Type>(type);
}

/// 4-bit element formats with a float (sign/exponent/mantissa) encoding.
static bool isFourBitFloat(Type type) {
  return isa<Float4E2M1FNType, E1M2Type, E3M0Type>(type);
}

bool mlir::fp4::isFourBitElementType(Type type) {
  return isFourBitFloat(type) || isa<NF4Type>(type);
}

bool mlir::fp4::isQuantizedElementType(Type type) {
  return isFourBitElementType(type) || isFP8(type);
}

//===----------------------------------------------------------------------===//
// Presets
//===----------------------------------------------------------------------===//

namespace {
/// A named preset: which elements it accepts and the scaling it stands for.
struct Preset {
  StringRef name;
  StringRef expectedElement; // for diagnostics
  bool (*acceptsElement)(Type);
  int64_t minRank;
  /// The scaling on a tensor of `shape` (null if the shape cannot take it).
  ScalingAttr (*scaling)(MLIRContext *, ArrayRef<int64_t> shape);
};
} // namespace

static const Preset kPresets[] = {
    {"nvfp4", "f4E2M1FN", [](Type t) { return isa<Float4E2M1FNType>(t); }, 1,
     [](MLIRContext *ctx, ArrayRef<int64_t> shape) {
       int64_t rank = shape.size();
       return ScalingAttr::getPerBlock(ctx, rank - 1, 16, ScaleFormat::UE4M3,
                                       ScaleFormat::F32);
     }},
    {"mxfp4", "f4E2M1FN", [](Type t) { return isa<Float4E2M1FNType>(t); }, 1,
     [](MLIRContext *ctx, ArrayRef<int64_t> shape) {
       int64_t rank = shape.size();
       return ScalingAttr::getPerBlock(ctx, rank - 1, 32, ScaleFormat::UE8M0);
     }},
    {"mxfp8", "f8E4M3FN or f8E5M2", isFP8, 1,
     [](MLIRContext *ctx, ArrayRef<int64_t> shape) {
       int64_t rank = shape.size();
       return ScalingAttr::getPerBlock(ctx, rank - 1, 32, ScaleFormat::UE8M0);
     }},
    {"fp8", "f8E4M3FN or f8E5M2", isFP8, 1,
     [](MLIRContext *ctx, ArrayRef<int64_t>) {
       return ScalingAttr::get(ctx, ScaleFormat::F32);
     }},
    {"fp8_per_channel", "f8E4M3FN or f8E5M2", isFP8, 2,
     [](MLIRContext *ctx, ArrayRef<int64_t> shape) {
       int64_t rank = shape.size();
       return ScalingAttr::getPerChannel(ctx, rank - 2, ScaleFormat::F32);
     }},
    // One FP32 scale per row of the [..., K] view: blocks as long as the
    // last dimension (per token for activations and KV caches, per expert
    // and output channel for stacked [E, N, K] weights).
    {"fp8_per_row", "f8E4M3FN or f8E5M2", isFP8, 1,
     [](MLIRContext *ctx, ArrayRef<int64_t> shape) {
       int64_t rank = shape.size();
       if (ShapedType::isDynamic(shape.back()) || shape.back() <= 0)
         return ScalingAttr();
       return ScalingAttr::getPerBlock(ctx, rank - 1, shape.back(),
                                       ScaleFormat::F32);
     }},
    {"nf4", "!fp4.nf4", [](Type t) { return isa<NF4Type>(t); }, 1,
     [](MLIRContext *ctx, ArrayRef<int64_t> shape) {
       int64_t rank = shape.size();
       return ScalingAttr::getPerBlock(ctx, rank - 1, 64, ScaleFormat::F32);
     }},
};

static const Preset *lookupPreset(StringRef name) {
  for (const Preset &preset : kPresets)
    if (preset.name == name)
      return &preset;
  return nullptr;
}

std::optional<StringRef> QuantizedTensorType::getPresetName() const {
  for (const Preset &preset : kPresets) {
    if (getRank() < preset.minRank || !preset.acceptsElement(getElementType()))
      continue;
    if (preset.scaling(getContext(), getShape()) == getScaling())
      return preset.name;
  }
  return std::nullopt;
}

QuantizedTensorType QuantizedTensorType::getPreset(MLIRContext *ctx,
                                                  StringRef name,
                                                  ArrayRef<int64_t> shape,
                                                  Type elementType,
                                                  std::string &why) {
  const Preset *preset = lookupPreset(name);
  if (!preset) {
    why = "unknown scheme '" + name.str() +
          "' (expected nvfp4, mxfp4, mxfp8, fp8, fp8_per_channel, fp8_per_row "
          "or nf4)";
    return {};
  }
  if (!elementType) {
    if (name == "nvfp4" || name == "mxfp4")
      elementType = Float4E2M1FNType::get(ctx);
    else if (name == "nf4")
      elementType = NF4Type::get(ctx);
    else
      elementType = Float8E4M3FNType::get(ctx);
  }
  int64_t rank = shape.size();
  if (rank < preset->minRank || !preset->acceptsElement(elementType)) {
    why = "scheme '" + name.str() + "' does not apply to a rank-" +
          std::to_string(rank) + " tensor of this element type";
    return {};
  }
  // The constraints a preset can still violate (checked here so that no
  // diagnostic is emitted): a static, divisible blocked dimension and an even
  // last dimension for 4-bit codes.
  ScalingAttr scaling = preset->scaling(ctx, shape);
  if (!scaling) {
    why = "scheme '" + name.str() + "' needs a static last dimension";
    return {};
  }
  int64_t last = shape.back();
  if (ShapedType::isDynamic(last) ||
      (scaling.isPerBlock() && last % scaling.getBlockSize() != 0) ||
      (isFourBitElementType(elementType) && last % 2 != 0)) {
    why = "scheme '" + name.str() + "' needs the last dimension (" +
          (ShapedType::isDynamic(last) ? std::string("?")
                                       : std::to_string(last)) +
          ") to be static" +
          (scaling.isPerBlock()
               ? " and a multiple of " + std::to_string(scaling.getBlockSize())
               : std::string());
    return {};
  }
  return get(ctx, shape, elementType, scaling);
}

//===----------------------------------------------------------------------===//
// Parsing and printing
//===----------------------------------------------------------------------===//

/// Grammar: `<` dimension-list element-type `,` (preset | scaling-attr) `>`.
Type QuantizedTensorType::parse(AsmParser &parser) {
  SMLoc start = parser.getCurrentLocation();
  SmallVector<int64_t> shape;
  Type elementType;
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/true,
                                /*withTrailingX=*/true) ||
      parser.parseType(elementType) || parser.parseComma())
    return {};

  MLIRContext *ctx = parser.getContext();
  ScalingAttr scaling;
  SMLoc schemeLoc = parser.getCurrentLocation();
  StringRef presetName;
  if (succeeded(parser.parseOptionalKeyword(&presetName))) {
    const Preset *preset = lookupPreset(presetName);
    if (!preset) {
      parser.emitError(schemeLoc, "unknown preset '")
          << presetName
          << "', expected nvfp4, mxfp4, mxfp8, fp8, fp8_per_channel, "
             "fp8_per_row, nf4 or a #fp4.scaling attribute";
      return {};
    }
    if (!preset->acceptsElement(elementType)) {
      parser.emitError(schemeLoc, "preset '")
          << presetName << "' expects element type " << preset->expectedElement
          << ", got " << elementType;
      return {};
    }
    if (static_cast<int64_t>(shape.size()) < preset->minRank) {
      parser.emitError(schemeLoc, "preset '")
          << presetName << "' expects rank >= " << preset->minRank << ", got "
          << shape.size();
      return {};
    }
    scaling = preset->scaling(ctx, shape);
    if (!scaling) {
      parser.emitError(schemeLoc, "preset '")
          << presetName << "' needs a static last dimension";
      return {};
    }
  } else {
    Attribute attr;
    if (parser.parseAttribute(attr))
      return {};
    scaling = dyn_cast<ScalingAttr>(attr);
    if (!scaling) {
      parser.emitError(schemeLoc, "expects a preset name or a #fp4.scaling "
                                  "attribute, got ")
          << attr;
      return {};
    }
  }
  if (parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(start); }, ctx, shape,
                    elementType, scaling);
}

void QuantizedTensorType::print(AsmPrinter &printer) const {
  printer << '<';
  for (int64_t dim : getShape()) {
    if (ShapedType::isDynamic(dim))
      printer << '?';
    else
      printer << dim;
    printer << 'x';
  }
  printer << getElementType() << ", ";
  if (std::optional<StringRef> preset = getPresetName())
    printer << *preset;
  else
    printer.printAttribute(getScaling());
  printer << '>';
}

//===----------------------------------------------------------------------===//
// Verification
//===----------------------------------------------------------------------===//

LogicalResult
QuantizedTensorType::verify(function_ref<InFlightDiagnostic()> emitError,
                            ArrayRef<int64_t> shape, Type elementType,
                            ScalingAttr scaling) {
  if (!isQuantizedElementType(elementType))
    return emitError() << "expects a quantized element type (f4E2M1FN, "
                          "f8E4M3FN, f8E5M2, !fp4.nf4, !fp4.e1m2 or "
                          "!fp4.e3m0), got "
                       << elementType;
  if (!scaling)
    return emitError() << "expects a scaling attribute";
  int64_t rank = shape.size();
  if (rank == 0)
    return emitError() << "expects rank >= 1";
  for (int64_t dim : shape)
    if (dim < 0 && !ShapedType::isDynamic(dim))
      return emitError() << "expects non-negative dimensions, got " << dim;

  if (!scaling.isPerTensor()) {
    int64_t axis = scaling.getAxis();
    if (axis >= rank)
      return emitError() << "expects scaling axis " << axis
                         << " to be less than the rank " << rank;
    if (scaling.isPerBlock()) {
      int64_t dim = shape[axis];
      if (ShapedType::isDynamic(dim))
        return emitError() << "expects the blocked dimension " << axis
                           << " to be static";
      if (dim % scaling.getBlockSize() != 0)
        return emitError() << "expects block size " << scaling.getBlockSize()
                           << " to divide dimension " << axis << " (" << dim
                           << ")";
    }
  }

  if (scaling.isSwizzled() &&
      (rank < 2 || scaling.getAxis() != rank - 1))
    return emitError() << "a swizzled scale layout expects blocks along the "
                          "last axis of a tensor of rank >= 2";

  if (isFourBitElementType(elementType)) {
    int64_t last = shape.back();
    if (ShapedType::isDynamic(last) || last % 2 != 0)
      return emitError() << "expects the last dimension of a 4-bit tensor to "
                            "be static and even (two codes per byte), got "
                         << (ShapedType::isDynamic(last) ? std::string("?")
                                                         : std::to_string(last));
  }

  ScaleFormat scale = scaling.getScaleFormat();
  if (scale == ScaleFormat::UE4M3 && !isFourBitFloat(elementType))
    return emitError() << "scale format ue4m3 expects a 4-bit float element "
                          "(f4E2M1FN, !fp4.e1m2 or !fp4.e3m0), got "
                       << elementType;
  if (isa<NF4Type>(elementType) &&
      (!scaling.isPerBlock() || scale != ScaleFormat::F32))
    return emitError() << "!fp4.nf4 expects per-block f32 (absmax) scales";
  return success();
}

//===----------------------------------------------------------------------===//
// Storage form
//===----------------------------------------------------------------------===//

bool QuantizedTensorType::hasStaticShape() const {
  return llvm::none_of(getShape(), ShapedType::isDynamic);
}

unsigned QuantizedTensorType::getElementBitWidth() const {
  return isFourBitElementType(getElementType()) ? 4 : 8;
}

RankedTensorType QuantizedTensorType::getLogicalType(Type elementType) const {
  return RankedTensorType::get(getShape(), elementType);
}

Type QuantizedTensorType::getScaleStorageType(MLIRContext *ctx,
                                              ScaleFormat format) {
  switch (format) {
  case ScaleFormat::F32:
    return Float32Type::get(ctx);
  case ScaleFormat::BF16:
    return BFloat16Type::get(ctx);
  case ScaleFormat::UE4M3:
    return Float8E4M3FNType::get(ctx);
  case ScaleFormat::UE8M0:
    return Float8E8M0FNUType::get(ctx);
  }
  llvm_unreachable("unknown scale format");
}

RankedTensorType QuantizedTensorType::getDataType() const {
  SmallVector<int64_t> shape(getShape());
  if (getElementBitWidth() == 4)
    shape.back() /= 2;
  return RankedTensorType::get(shape, IntegerType::get(getContext(), 8));
}

RankedTensorType QuantizedTensorType::getScalesType() const {
  ScalingAttr scaling = getScaling();
  Type elementType = getScaleStorageType(getContext(), scaling.getScaleFormat());
  SmallVector<int64_t> shape;
  switch (scaling.getGranularity()) {
  case Granularity::Tensor:
    break;
  case Granularity::Channel:
    shape.push_back(getShape()[scaling.getAxis()]);
    break;
  case Granularity::Block:
    shape.assign(getShape().begin(), getShape().end());
    shape[scaling.getAxis()] /= scaling.getBlockSize();
    break;
  }
  // Swizzled: each [rows, cols] scale matrix is padded to 128-row, 4-column
  // tiles (docs/formats.md, "Blackwell scale layout").
  if (scaling.isSwizzled()) {
    int64_t &rows = shape[shape.size() - 2], &cols = shape.back();
    if (!ShapedType::isDynamic(rows))
      rows = llvm::alignTo(rows, 128);
    cols = llvm::alignTo(cols, 4);
  }
  return RankedTensorType::get(shape, elementType);
}

RankedTensorType QuantizedTensorType::getGlobalScaleType() const {
  std::optional<ScaleFormat> global = getScaling().getGlobalScaleFormat();
  if (!global)
    return {};
  return RankedTensorType::get({}, getScaleStorageType(getContext(), *global));
}

SmallVector<Type, 3> QuantizedTensorType::getStorageTypes() const {
  SmallVector<Type, 3> types = {getDataType(), getScalesType()};
  if (RankedTensorType global = getGlobalScaleType())
    types.push_back(global);
  return types;
}

int64_t QuantizedTensorType::getStorageBytes() const {
  int64_t bytes = 0;
  for (Type part : getStorageTypes()) {
    auto tensor = cast<RankedTensorType>(part);
    bytes += tensor.getNumElements() *
             static_cast<int64_t>(
                 llvm::divideCeil(tensor.getElementTypeBitWidth(), 8));
  }
  return bytes;
}
