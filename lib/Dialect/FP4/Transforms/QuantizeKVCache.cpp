//===- QuantizeKVCache.cpp - KV caches stored in FP8 or NVFP4 -------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "Calibration.h"
#include "KVCache.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

namespace mlir::fp4 {
#define GEN_PASS_DEF_FP4QUANTIZEKVCACHE
#include "fp4/Dialect/FP4/Transforms/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;
using namespace mlir::fp4;

std::optional<KVCache> mlir::fp4::matchKVCache(BlockArgument arg) {
  auto type = dyn_cast<RankedTensorType>(arg.getType());
  if (!type || !type.hasStaticShape() || !isa<FloatType>(type.getElementType()))
    return std::nullopt;
  if (!arg.hasOneUse())
    return std::nullopt;
  auto update = dyn_cast<tensor::InsertSliceOp>(*arg.getUsers().begin());
  if (!update || update.getDest() != arg || !update.hasUnitStride() ||
      update.getSourceType().getRank() != type.getRank() ||
      !update.getSourceType().hasStaticShape())
    return std::nullopt;
  bool returned = false;
  for (OpOperand &use : update.getResult().getUses()) {
    if (isa<tensor::ExtractSliceOp>(use.getOwner()))
      continue;
    if (isa<func::ReturnOp>(use.getOwner()) && !returned) {
      returned = true;
      continue;
    }
    return std::nullopt;
  }
  if (!returned)
    return std::nullopt;
  return KVCache{arg.getArgNumber(), update};
}

int64_t mlir::fp4::kvCacheBytesPerToken(RankedTensorType cache,
                                        RankedTensorType slice,
                                        QuantizedTensorType stored) {
  int64_t tokens = 1;
  for (auto [full, part] : llvm::zip(cache.getShape(), slice.getShape()))
    if (full != part)
      tokens = part;
  auto bytesOf = [](RankedTensorType t) {
    return t.getNumElements() *
           static_cast<int64_t>(llvm::divideCeil(t.getElementTypeBitWidth(), 8));
  };
  // A global (second-level) scale is one per cache, not per token.
  int64_t bytes = stored ? bytesOf(stored.getDataType()) +
                               bytesOf(stored.getScalesType())
                         : bytesOf(slice);
  return bytes / std::max<int64_t>(tokens, 1);
}

namespace {

/// The storage preset of each cache format, and what it says in remarks.
struct KVFormat {
  StringRef preset;
  StringRef description;
};

std::optional<KVFormat> kvFormatNamed(StringRef name) {
  if (name == "fp8")
    return KVFormat{"fp8_per_row", "codes i8, one f32 scale per row"};
  if (name == "nvfp4")
    return KVFormat{"nvfp4", "E2M1 codes two per byte, one E4M3 scale per 16 "
                             "elements, static global scale"};
  return std::nullopt;
}

struct FP4QuantizeKVCachePass
    : public mlir::fp4::impl::FP4QuantizeKVCacheBase<FP4QuantizeKVCachePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string kvFormat = format;
    if (kvFormat.empty())
      if (auto attr = module->getAttrOfType<StringAttr>("fp4.kv_cache"))
        kvFormat = attr.str();
    if (kvFormat.empty() || kvFormat == "keep")
      return;
    std::optional<KVFormat> storage = kvFormatNamed(kvFormat);
    if (!storage) {
      module.emitError("fp4-quantize-kv-cache: format '")
          << kvFormat << "' is not supported (use fp8, nvfp4 or keep)";
      return signalPassFailure();
    }
    if (!std::isfinite(amax) || amax <= 0.0f) {
      module.emitError("fp4-quantize-kv-cache: amax must be finite and "
                       "positive, got ")
          << amax;
      return signalPassFailure();
    }
    for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>())) {
      if (func.isExternal())
        continue;
      // Collect first: rewriting changes the argument numbering.
      SmallVector<KVCache> caches;
      for (BlockArgument arg : func.getArguments())
        if (std::optional<KVCache> cache = matchKVCache(arg))
          caches.push_back(*cache);
      // Last argument first, so earlier indices stay valid.
      for (KVCache &cache : llvm::reverse(caches))
        if (failed(rewrite(func, cache, *storage)))
          return signalPassFailure();
    }
  }

  LogicalResult rewrite(func::FuncOp func, KVCache &cache,
                        const KVFormat &storage) {
    MLIRContext *ctx = &getContext();
    BlockArgument arg = func.getArgument(cache.argIndex);
    auto type = cast<RankedTensorType>(arg.getType());
    tensor::InsertSliceOp update = cache.update;
    RankedTensorType sliceType = update.getSourceType();
    // Each stored row (the last dimension) is written whole: its scales are
    // derived from it.
    std::optional<int64_t> lastOffset =
        getConstantIntValue(update.getMixedOffsets().back());
    if (!lastOffset || *lastOffset != 0 ||
        sliceType.getShape().back() != type.getShape().back()) {
      update.emitRemark("KV cache left in float: the update does not write "
                        "whole rows of the last dimension");
      return success();
    }
    std::string why;
    auto qtype = QuantizedTensorType::getPreset(ctx, storage.preset,
                                                type.getShape(), Type(), why);
    auto sliceQType = QuantizedTensorType::getPreset(
        ctx, storage.preset, sliceType.getShape(), Type(), why);
    if (!qtype || !sliceQType) {
      update.emitRemark("KV cache left in float: ") << why;
      return success();
    }
    // Before `update` is replaced below.
    int64_t before = kvCacheBytesPerToken(type, sliceType);
    int64_t after = kvCacheBytesPerToken(type, sliceType, sliceQType);
    RankedTensorType dataType = qtype.getDataType();
    RankedTensorType scalesType = qtype.getScalesType();
    Location loc = update.getLoc();

    // The argument becomes (codes, scales).
    if (failed(func.insertArgument(cache.argIndex + 1, scalesType, {}, loc)))
      return failure();
    BlockArgument scalesArg = func.getArgument(cache.argIndex + 1);
    arg.setType(dataType);

    IRRewriter rewriter(ctx);
    rewriter.setInsertionPoint(update);
    // A two-level format's global scale is static: every call writes with
    // the same one, so old and new entries decode alike.
    FloatAttr staticAmax;
    if (sliceQType.getScaling().isTwoLevel()) {
      // Calibrated (fp4-apply-calibration), else the pass option.
      staticAmax = func.getArgAttrOfType<FloatAttr>(cache.argIndex,
                                                    kKVCacheAmaxAttr);
      if (!staticAmax)
        staticAmax = rewriter.getF32FloatAttr(amax);
    }
    Value quantized =
        QuantizeOp::create(rewriter, loc, sliceQType, update.getSource(),
                           /*rule=*/nullptr, /*search=*/nullptr, staticAmax);
    auto parts = DisassembleOp::create(
        rewriter, loc, TypeRange(sliceQType.getStorageTypes()), quantized);
    SmallVector<OpFoldResult> offsets = update.getMixedOffsets();
    SmallVector<OpFoldResult> strides = update.getMixedStrides();
    // Both parts are inserted with the update's offsets and sizes, except in
    // the last dimension, which they hold whole.
    auto insertPart = [&](Value part, Value into) -> Value {
      SmallVector<OpFoldResult> sizes = update.getMixedSizes();
      sizes.back() = rewriter.getIndexAttr(
          cast<RankedTensorType>(part.getType()).getShape().back());
      return tensor::InsertSliceOp::create(rewriter, loc, part, into, offsets,
                                           sizes, strides);
    };
    Value newData = insertPart(parts.getData(), arg);
    Value newScales = insertPart(parts.getScales(), scalesArg);
    Value assembled = AssembleOp::create(rewriter, loc, qtype, newData,
                                         newScales, parts.getGlobalScale());
    Value read = DequantizeOp::create(rewriter, loc, type, assembled);

    // Returns get (codes, scales); reads get the dequantized cache.
    auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    // Found again here: rewriting an earlier cache may have moved it.
    unsigned resultIndex = 0;
    for (OpOperand &operand : ret->getOpOperands())
      if (operand.get() == update.getResult())
        resultIndex = operand.getOperandNumber();
    SmallVector<Value> results(ret.getOperands());
    results[resultIndex] = newData;
    results.insert(results.begin() + resultIndex + 1, newScales);
    rewriter.setInsertionPoint(ret);
    func::ReturnOp::create(rewriter, ret.getLoc(), results);
    rewriter.eraseOp(ret);
    rewriter.replaceOp(update, read);

    SmallVector<Type> resultTypes(func.getFunctionType().getResults());
    resultTypes[resultIndex] = dataType;
    resultTypes.insert(resultTypes.begin() + resultIndex + 1, scalesType);
    func.setType(FunctionType::get(
        ctx, func.getBody().front().getArgumentTypes(), resultTypes));

    func.setArgAttr(
        cache.argIndex, kKVCacheAttr,
        DictionaryAttr::get(
            ctx, {rewriter.getNamedAttr("format",
                                        rewriter.getStringAttr(storage.preset)),
                  rewriter.getNamedAttr("bytes_per_token_before",
                                        rewriter.getI64IntegerAttr(before)),
                  rewriter.getNamedAttr("bytes_per_token_after",
                                        rewriter.getI64IntegerAttr(after))}));
    mlir::emitRemark(func.getLoc(), "KV cache argument #")
        << cache.argIndex << " stored as " << storage.preset << " ("
        << storage.description << "): " << before << " -> " << after
        << " bytes per token";
    return success();
  }
};

} // namespace
