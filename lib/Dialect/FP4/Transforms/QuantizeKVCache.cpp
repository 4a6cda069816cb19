//===- QuantizeKVCache.cpp - KV caches stored in FP8 ----------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "KVCache.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

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
  int64_t bytes =
      stored ? stored.getStorageBytes()
             : slice.getNumElements() *
                   static_cast<int64_t>(
                       llvm::divideCeil(slice.getElementTypeBitWidth(), 8));
  return bytes / std::max<int64_t>(tokens, 1);
}

namespace {

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
    if (kvFormat != "fp8") {
      module.emitError("fp4-quantize-kv-cache: format '")
          << kvFormat << "' is not supported (use fp8 or keep)";
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
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
        rewrite(func, cache, ctx);
    }
  }

  void rewrite(func::FuncOp func, KVCache &cache, MLIRContext *ctx) {
    BlockArgument arg = func.getArgument(cache.argIndex);
    auto type = cast<RankedTensorType>(arg.getType());
    std::string why;
    auto qtype = QuantizedTensorType::getPreset(ctx, "fp8_per_row",
                                                type.getShape(), Type(), why);
    tensor::InsertSliceOp update = cache.update;
    auto sliceQType = QuantizedTensorType::getPreset(
        ctx, "fp8_per_row", update.getSourceType().getShape(), Type(), why);
    if (!qtype || !sliceQType) {
      update.emitRemark("KV cache left in float: ") << why;
      return;
    }
    // Before `update` is replaced below.
    int64_t before = kvCacheBytesPerToken(type, update.getSourceType());
    int64_t after =
        kvCacheBytesPerToken(type, update.getSourceType(), sliceQType);
    RankedTensorType dataType = qtype.getDataType();
    RankedTensorType scalesType = qtype.getScalesType();
    Location loc = update.getLoc();

    // The argument becomes (codes, scales).
    if (failed(func.insertArgument(cache.argIndex + 1, scalesType, {}, loc)))
      return signalPassFailure();
    BlockArgument scalesArg = func.getArgument(cache.argIndex + 1);
    arg.setType(dataType);

    IRRewriter rewriter(ctx);
    rewriter.setInsertionPoint(update);
    Value quantized = QuantizeOp::create(rewriter, loc, sliceQType,
                                         update.getSource(), nullptr);
    auto parts = DisassembleOp::create(
        rewriter, loc, TypeRange(sliceQType.getStorageTypes()), quantized);
    SmallVector<OpFoldResult> offsets = update.getMixedOffsets();
    SmallVector<OpFoldResult> sizes = update.getMixedSizes();
    SmallVector<OpFoldResult> strides = update.getMixedStrides();
    Value newData = tensor::InsertSliceOp::create(
        rewriter, loc, parts.getData(), arg, offsets, sizes, strides);
    // Scales have one column: offset 0, size 1 in the last dimension.
    offsets.back() = rewriter.getIndexAttr(0);
    sizes.back() = rewriter.getIndexAttr(1);
    Value newScales = tensor::InsertSliceOp::create(
        rewriter, loc, parts.getScales(), scalesArg, offsets, sizes, strides);
    Value assembled = AssembleOp::create(rewriter, loc, qtype, newData,
                                         newScales, Value());
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

    func.setArgAttr(cache.argIndex, kKVCacheAttr,
                    DictionaryAttr::get(
                        ctx, {rewriter.getNamedAttr(
                                  "format", rewriter.getStringAttr("fp8_per_row")),
                              rewriter.getNamedAttr(
                                  "bytes_per_token_before",
                                  rewriter.getI64IntegerAttr(before)),
                              rewriter.getNamedAttr(
                                  "bytes_per_token_after",
                                  rewriter.getI64IntegerAttr(after))}));
    func.emitRemark("KV cache argument #")
        << cache.argIndex << " stored as fp8_per_row (codes i8, one f32 scale "
        << "per row): " << before << " -> " << after
        << " bytes per token";
  }
};

} // namespace
