//===- FP4Attrs.cpp - fp4 dialect attributes -----------------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::fp4;

#include "fp4/Dialect/FP4/IR/FP4Enums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "fp4/Dialect/FP4/IR/FP4Attrs.cpp.inc"

void FP4Dialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "fp4/Dialect/FP4/IR/FP4Attrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// ScalingAttr
//===----------------------------------------------------------------------===//

ScalingAttr ScalingAttr::getPerChannel(MLIRContext *ctx, int64_t axis,
                                       ScaleFormat scale) {
  return get(ctx, Granularity::Channel, axis, 0, scale, std::nullopt,
             ScaleLayout::Linear);
}

ScalingAttr ScalingAttr::getPerBlock(MLIRContext *ctx, int64_t axis,
                                     int64_t blockSize, ScaleFormat scale,
                                     std::optional<ScaleFormat> global,
                                     ScaleLayout layout) {
  return get(ctx, Granularity::Block, axis, blockSize, scale, global, layout);
}

LogicalResult
ScalingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                    Granularity granularity, int64_t axis, int64_t blockSize,
                    ScaleFormat scale, std::optional<ScaleFormat> global,
                    ScaleLayout layout) {
  StringRef gran = stringifyGranularity(granularity);
  if (granularity == Granularity::Tensor && axis != -1)
    return emitError() << "per-tensor scaling takes no axis, got " << axis;
  if (granularity != Granularity::Tensor && axis < 0)
    return emitError() << "expects a non-negative axis for " << gran
                       << " scaling, got " << axis;
  if (granularity != Granularity::Block && blockSize != 0)
    return emitError() << gran << " scaling takes no block size, got "
                       << blockSize;
  if (granularity == Granularity::Block && blockSize <= 0)
    return emitError() << "expects a positive block size, got " << blockSize;
  if ((scale == ScaleFormat::UE4M3 || scale == ScaleFormat::UE8M0) &&
      granularity != Granularity::Block)
    return emitError() << "scale format " << stringifyScaleFormat(scale)
                       << " expects block granularity, got " << gran;
  if (global) {
    if (granularity != Granularity::Block)
      return emitError() << "a global scale expects block granularity, got "
                         << gran;
    if (scale != ScaleFormat::UE4M3)
      return emitError()
             << "two-level scaling expects ue4m3 block scales, got "
             << stringifyScaleFormat(scale);
    if (*global != ScaleFormat::F32)
      return emitError() << "expects an f32 global scale, got "
                         << stringifyScaleFormat(*global);
  }
  if (layout == ScaleLayout::Swizzled &&
      (granularity != Granularity::Block ||
       (scale != ScaleFormat::UE4M3 && scale != ScaleFormat::UE8M0)))
    return emitError() << "a swizzled scale layout expects block granularity "
                          "with ue4m3 or ue8m0 scales";
  return success();
}

/// Parses `name` `=` a scale-format keyword.
static FailureOr<ScaleFormat> parseScaleFormat(AsmParser &parser) {
  StringRef keyword;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseKeyword(&keyword))
    return failure();
  std::optional<ScaleFormat> format = symbolizeScaleFormat(keyword);
  if (!format)
    return parser.emitError(loc, "expects a scale format (f32, bf16, ue4m3 "
                                 "or ue8m0), got '")
           << keyword << "'";
  return *format;
}

/// Grammar: `<` granularity (`,` key `=` value)* `>` with keys `axis`, `size`,
/// `scale` (required), `global` and `layout`, each at most once.
Attribute ScalingAttr::parse(AsmParser &parser, Type) {
  SMLoc start = parser.getCurrentLocation();
  StringRef granKeyword;
  if (parser.parseLess())
    return {};
  SMLoc granLoc = parser.getCurrentLocation();
  if (parser.parseKeyword(&granKeyword))
    return {};
  std::optional<Granularity> granularity = symbolizeGranularity(granKeyword);
  if (!granularity) {
    parser.emitError(granLoc, "expects a granularity (tensor, channel or "
                              "block), got '")
        << granKeyword << "'";
    return {};
  }

  int64_t axis = -1, blockSize = 0;
  std::optional<ScaleFormat> scale, global;
  ScaleLayout layout = ScaleLayout::Linear;
  llvm::StringSet<> seen;
  while (succeeded(parser.parseOptionalComma())) {
    SMLoc keyLoc = parser.getCurrentLocation();
    StringRef key;
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return {};
    if (!seen.insert(key).second) {
      parser.emitError(keyLoc, "duplicate '") << key << "' in scaling";
      return {};
    }
    if (key == "axis" || key == "size") {
      int64_t value = 0;
      if (parser.parseInteger(value))
        return {};
      (key == "axis" ? axis : blockSize) = value;
    } else if (key == "scale" || key == "global") {
      FailureOr<ScaleFormat> format = parseScaleFormat(parser);
      if (failed(format))
        return {};
      (key == "scale" ? scale : global) = *format;
    } else if (key == "layout") {
      SMLoc valueLoc = parser.getCurrentLocation();
      StringRef value;
      if (parser.parseKeyword(&value))
        return {};
      std::optional<ScaleLayout> parsed = symbolizeScaleLayout(value);
      if (!parsed) {
        parser.emitError(valueLoc, "expects a scale layout (linear or "
                                   "swizzled), got '")
            << value << "'";
        return {};
      }
      layout = *parsed;
    } else {
      parser.emitError(keyLoc, "unknown scaling key '")
          << key << "', expected axis, size, scale, global or layout";
      return {};
    }
  }
  if (parser.parseGreater())
    return {};
  if (*granularity != Granularity::Tensor && !seen.contains("axis")) {
    parser.emitError(start) << granKeyword << " scaling expects 'axis = N'";
    return {};
  }
  if (*granularity == Granularity::Block && !seen.contains("size")) {
    parser.emitError(start, "block scaling expects 'size = N'");
    return {};
  }
  if (!scale) {
    parser.emitError(start, "expects a scale format: 'scale = f32|bf16|ue4m3|"
                            "ue8m0'");
    return {};
  }
  return getChecked([&] { return parser.emitError(start); },
                    parser.getContext(), *granularity, axis, blockSize,
                    *scale, global, layout);
}

void ScalingAttr::print(AsmPrinter &printer) const {
  printer << '<' << stringifyGranularity(getGranularity());
  if (!isPerTensor())
    printer << ", axis = " << getAxis();
  if (isPerBlock())
    printer << ", size = " << getBlockSize();
  printer << ", scale = " << stringifyScaleFormat(getScaleFormat());
  if (isTwoLevel())
    printer << ", global = " << stringifyScaleFormat(*getGlobalScaleFormat());
  if (isSwizzled())
    printer << ", layout = " << stringifyScaleLayout(getLayout());
  printer << '>';
}
