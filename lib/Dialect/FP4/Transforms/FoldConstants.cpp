//===- FoldConstants.cpp - quantize constant weights at compile time ------===//
//
// Part of fp4-mlir. Implements fp4-fold-constants with the numerics library,
// so the bytes equal those fp4-quant writes for the same tensor and rule.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/Transforms/FoldConstants.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "fp4/Numerics/Quantize.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/MathExtras.h"

namespace mlir::fp4 {
#define GEN_PASS_DEF_FP4FOLDCONSTANTS
#include "fp4/Dialect/FP4/Transforms/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;
using namespace mlir::fp4;
namespace nx = ::fp4::numerics;

nx::BlockScales mlir::fp4::toNumerics(BlockScaleSearch search) {
  switch (search) {
  case BlockScaleSearch::Max:
    return nx::BlockScales::Max;
  case BlockScaleSearch::FourOverSix:
    return nx::BlockScales::FourOverSix;
  case BlockScaleSearch::MSE:
    return nx::BlockScales::MSE;
  }
  llvm_unreachable("unknown block-scale search");
}

FailureOr<nx::QuantConfig> mlir::fp4::getQuantConfig(QuantizeOp op,
                                                     std::string &why) {
  FailureOr<nx::QuantConfig> config =
      getQuantConfig(op.getType(), op.getRule(), why);
  if (failed(config))
    return failure();
  if (std::optional<BlockScaleSearch> search = op.getSearch())
    config->blockScales = toNumerics(*search);
  if (std::optional<APFloat> amax = op.getAmax())
    config->staticAmax = amax->convertToFloat();
  return config;
}

FailureOr<nx::QuantConfig>
mlir::fp4::getQuantConfig(QuantizedTensorType type,
                          std::optional<ScaleRule> rule, std::string &why) {
  ScalingAttr scaling = type.getScaling();
  Type element = type.getElementType();
  int64_t rank = type.getRank();
  auto fail = [&](const std::string &reason) {
    why = reason;
    return failure();
  };
  if (scaling.isPerBlock() && scaling.getAxis() != rank - 1)
    return fail("blocks must run along the last axis");
  if (scaling.isPerChannel() && !(rank == 2 && scaling.getAxis() == 0))
    return fail("per-channel folding needs a rank-2 weight scaled along axis 0");

  nx::QuantConfig config;
  ScaleFormat scale = scaling.getScaleFormat();
  int64_t block = scaling.isPerBlock() ? scaling.getBlockSize() : 0;
  bool fp8 = isa<Float8E4M3FNType, Float8E5M2Type>(element);
  nx::ElementFormat fp8Element = isa<Float8E4M3FNType>(element)
                                     ? nx::ElementFormat::E4M3
                                     : nx::ElementFormat::E5M2;
  if (isa<Float4E2M1FNType>(element) && block == 16 &&
      scale == ScaleFormat::UE4M3 && scaling.isTwoLevel()) {
    config = *nx::QuantConfig::forScheme(nx::Scheme::NVFP4);
  } else if (isa<Float4E2M1FNType>(element) && block == 32 &&
             scale == ScaleFormat::UE8M0) {
    config = *nx::QuantConfig::forScheme(nx::Scheme::MXFP4);
  } else if (fp8 && block == 32 && scale == ScaleFormat::UE8M0) {
    config = *nx::QuantConfig::forScheme(nx::Scheme::MXFP8);
    config.element = fp8Element;
  } else if (fp8 && block && block == type.getShape().back() &&
             scale == ScaleFormat::F32) {
    // Blocks as long as a row: one scale per row, the library's per-channel.
    config = *nx::QuantConfig::forScheme(nx::Scheme::FP8);
    config.element = fp8Element;
    config.perChannel = true;
  } else if (fp8 && !block && scale == ScaleFormat::F32) {
    config = *nx::QuantConfig::forScheme(nx::Scheme::FP8);
    config.element = fp8Element;
    config.perChannel = scaling.isPerChannel();
  } else if (isa<NF4Type>(element) && block == 64 &&
             scale == ScaleFormat::F32) {
    config = *nx::QuantConfig::forScheme(nx::Scheme::NF4);
  } else {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << "no quantization rule implements " << scaling << " on " << element;
    return fail(text);
  }
  if (rule) {
    switch (*rule) {
    case ScaleRule::ModelOpt:
      config.rule = nx::Rule::ModelOpt;
      break;
    case ScaleRule::TorchAO:
      config.rule = nx::Rule::TorchAO;
      break;
    case ScaleRule::CompressedTensors:
      config.rule = nx::Rule::CompressedTensors;
      break;
    case ScaleRule::Floor:
      config.rule = nx::Rule::Floor;
      break;
    case ScaleRule::RCeil:
      config.rule = nx::Rule::RCeil;
      break;
    }
  }
  return config;
}

FailureOr<ArrayRef<char>> mlir::fp4::getRawBytes(ElementsAttr attr,
                                                 std::vector<char> &storage,
                                                 std::string &why) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    ArrayRef<char> raw = dense.getRawData();
    if (!dense.isSplat())
      return raw;
    int64_t count = dense.getNumElements();
    storage.resize(raw.size() * count);
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(storage.data() + i * raw.size(), raw.data(), raw.size());
    return ArrayRef<char>(storage);
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob) {
      why = "the dense_resource blob '" +
            resource.getRawHandle().getKey().str() + "' is not loaded";
      return failure();
    }
    ShapedType type = resource.getType();
    size_t expected = type.getNumElements() *
                      llvm::divideCeil(type.getElementTypeBitWidth(), 8);
    if (blob->getData().size() != expected) {
      why = "the dense_resource blob holds " +
            std::to_string(blob->getData().size()) + " bytes, its type needs " +
            std::to_string(expected);
      return failure();
    }
    return blob->getData();
  }
  why = "the constant is neither dense nor dense_resource";
  return failure();
}

namespace {

} // namespace

nx::TensorView mlir::fp4::constantTensorView(ElementsAttr attr,
                                             ArrayRef<char> bytes) {
  auto type = cast<ShapedType>(attr.getType());
  Type floatType = type.getElementType();
  nx::TensorView view;
  view.data = bytes.data();
  view.type = floatType.isF32()   ? nx::InputType::F32
              : floatType.isF16() ? nx::InputType::F16
                                  : nx::InputType::BF16;
  view.cols = type.getRank() ? type.getShape().back() : 1;
  view.rows = view.cols ? attr.getNumElements() / view.cols : 0;
  return view;
}

namespace {

/// Storage part `bytes` as an attribute of `type`: dense when small, else a
/// dense_resource blob named after `name`.
ElementsAttr makeElements(RankedTensorType type, ArrayRef<char> bytes,
                          StringRef name, int64_t inlineLimit) {
  if (static_cast<int64_t>(bytes.size()) <= inlineLimit)
    return DenseElementsAttr::getFromRawBuffer(type, bytes);
  AsmResourceBlob blob =
      HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(uint64_t));
  return DenseResourceElementsAttr::get(type, name, std::move(blob));
}

/// True if every user of `value` is an fp4 op (so its type may change).
bool onlyFP4Users(Value value) {
  return llvm::all_of(value.getUsers(), [](Operation *user) {
    return isa<FP4Dialect>(user->getDialect());
  });
}

} // namespace

FailureOr<ConstantOp>
mlir::fp4::foldQuantizeOfConstant(RewriterBase &rewriter, QuantizeOp op,
                                  const FoldConstantsOptions &options,
                                  std::string &why) {
  auto constant = op.getInput().getDefiningOp<arith::ConstantOp>();
  if (!constant) {
    why = "the input is not an arith.constant";
    return failure();
  }
  QuantizedTensorType type = op.getResult().getType();
  if (!type.hasStaticShape()) {
    why = "the result type has a dynamic shape";
    return failure();
  }
  FailureOr<nx::QuantConfig> config = getQuantConfig(op, why);
  if (failed(config))
    return failure();
  config->threads = options.threads;

  auto elements = cast<ElementsAttr>(constant.getValue());
  std::vector<char> splat;
  FailureOr<ArrayRef<char>> bytes = getRawBytes(elements, splat, why);
  if (failed(bytes))
    return failure();

  nx::TensorView view = constantTensorView(elements, *bytes);
  nx::QuantizedTensor q;
  std::string error = nx::quantize(view, *config, q);
  if (!error.empty()) {
    op.emitError("cannot quantize the constant weight: ") << error;
    why.clear();
    return failure();
  }

  // Swizzle each [rows, cols] scale matrix on its own (one per leading
  // index, e.g. per expert), as the type's storage form lays them out.
  ScalingAttr scaling = type.getScaling();
  bool swizzle = scaling.isSwizzled();
  if (!swizzle && options.swizzleScales && scaling.isPerBlock() &&
      type.getRank() >= 2 &&
      (scaling.getScaleFormat() == ScaleFormat::UE4M3 ||
       scaling.getScaleFormat() == ScaleFormat::UE8M0) &&
      onlyFP4Users(op.getResult())) {
    swizzle = true;
    scaling = ScalingAttr::getPerBlock(
        rewriter.getContext(), scaling.getAxis(), scaling.getBlockSize(),
        scaling.getScaleFormat(), scaling.getGlobalScaleFormat(),
        ScaleLayout::Swizzled);
    type = QuantizedTensorType::get(rewriter.getContext(), type.getShape(),
                                    type.getElementType(), scaling);
  }
  std::vector<uint8_t> scales = std::move(q.scales);
  if (swizzle) {
    int64_t rows = type.getShape()[type.getRank() - 2];
    int64_t cols = q.scaleCols;
    int64_t matrices = q.scaleRows / rows;
    size_t matrixBytes = nx::swizzledScaleBytes(rows, cols);
    std::vector<uint8_t> swizzled(matrixBytes * matrices);
    for (int64_t m = 0; m < matrices; ++m)
      nx::swizzleScales(scales.data() + m * rows * cols, rows, cols,
                        swizzled.data() + m * matrixBytes);
    scales = std::move(swizzled);
  }

  std::string base = "fp4_weight";
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(elements))
    base = resource.getRawHandle().getKey().str();
  auto asChars = [](const std::vector<uint8_t> &v) {
    return ArrayRef<char>(reinterpret_cast<const char *>(v.data()), v.size());
  };
  ElementsAttr dataAttr = makeElements(type.getDataType(), asChars(q.data),
                                       base + "_fp4_data", options.inlineLimit);
  ElementsAttr scalesAttr =
      makeElements(type.getScalesType(), asChars(scales),
                   base + "_fp4_scales", options.inlineLimit);
  ElementsAttr globalAttr;
  if (RankedTensorType globalType = type.getGlobalScaleType())
    globalAttr = DenseElementsAttr::get(globalType, q.globalScale);

  rewriter.setInsertionPoint(op);
  auto folded = ConstantOp::create(rewriter, op.getLoc(), type, dataAttr,
                                   scalesAttr, globalAttr);
  rewriter.replaceOp(op, folded.getResult());
  if (constant->use_empty())
    rewriter.eraseOp(constant);
  return folded;
}

namespace {

struct FP4FoldConstantsPass
    : public mlir::fp4::impl::FP4FoldConstantsBase<FP4FoldConstantsPass> {
  using Base::Base;

  void runOnOperation() override {
    FoldConstantsOptions options;
    options.swizzleScales = swizzleScales;
    options.threads = threads;
    options.inlineLimit = inlineLimit;
    SmallVector<QuantizeOp> candidates;
    getOperation()->walk([&](QuantizeOp op) {
      if (op.getInput().getDefiningOp<arith::ConstantOp>())
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    bool failedAny = false;
    for (QuantizeOp op : candidates) {
      std::string why;
      if (succeeded(foldQuantizeOfConstant(rewriter, op, options, why)))
        continue;
      if (why.empty())
        failedAny = true; // an error was emitted on the op
      else
        op.emitRemark("constant weight left unfolded: ") << why;
    }
    if (failedAny)
      signalPassFailure();
  }
};

} // namespace
