//===- QuantizeLinalg.cpp - linear layers to fp4 ops -----------------------===//
//
// Part of fp4-mlir. fp4-assign-precision decides, fp4-quantize-linalg
// rewrites and reports.
//
//===----------------------------------------------------------------------===//

#include "Calibration.h"
#include "KVCache.h"
#include "LinearLayers.h"
#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "fp4/Dialect/FP4/Transforms/FoldConstants.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "fp4/Dialect/FP4/Transforms/Policy.h"
#include "fp4/Numerics/Quantize.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

namespace mlir::fp4 {
#define GEN_PASS_DEF_FP4ASSIGNPRECISION
#define GEN_PASS_DEF_FP4QUANTIZELINALG
#include "fp4/Dialect/FP4/Transforms/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;
using namespace mlir::fp4;
namespace nx = ::fp4::numerics;

namespace {

struct FP4AssignPrecisionPass
    : public mlir::fp4::impl::FP4AssignPrecisionBase<FP4AssignPrecisionPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string error;
    FailureOr<Policy> policy = policyFile.empty()
                                   ? Policy::preset(preset, error)
                                   : Policy::load(policyFile, error);
    if (failed(policy)) {
      module.emitError(error);
      return signalPassFailure();
    }
    Builder b(module.getContext());
    module->setAttr("fp4.kv_cache", b.getStringAttr(policy->kvCache()));
    module.walk([&](func::FuncOp func) {
      SmallVector<LinearLayer> layers;
      func.walk([&](Operation *op) {
        if (!isa<linalg::MatmulOp, linalg::BatchMatmulOp>(op) &&
            !isGenericContraction(op))
          return;
        std::string why;
        FailureOr<LinearLayer> layer = matchLinearLayer(op, why);
        if (succeeded(layer)) {
          layers.push_back(*layer);
          return;
        }
        // Say why a contraction with a constant operand stays in float.
        bool hasConstant = llvm::any_of(
            cast<linalg::LinalgOp>(op).getDpsInputs(), isConstantWeight);
        if (hasConstant)
          op->emitRemark("left in float: not a linear layer fp4 can take: ")
              << why;
      });
      for (const LinearLayer &layer : layers) {
        Role role = inferRole(layer, layers);
        Decision decision = policy->decide(layer.name, role);
        Operation *op = layer.op;
        // A decision already on the op (written by hand or by an earlier
        // tool) overrides the policy.
        if (auto weights = op->getAttrOfType<StringAttr>(kWeights)) {
          decision.weights = weights.str();
          auto activations = op->getAttrOfType<StringAttr>(kActivations);
          decision.activations = activations ? activations.str() : "none";
          decision.reason = "per-op override";
        }
        op->setAttr(kRole, b.getStringAttr(stringifyRole(role)));
        if (!layer.name.empty())
          op->setAttr(kParam, b.getStringAttr(layer.name));
        // Per-channel scaling has one axis, so on stacked experts [E, N, K]
        // it would share a row's scale across experts: one scale per
        // (expert, output channel) is fp8_per_row.
        if (decision.weights == "fp8_per_channel" &&
            cast<RankedTensorType>(
                arith::ConstantOp(layer.weight).getType())
                    .getRank() == 3) {
          decision.weights = "fp8_per_row";
          decision.reason += "; fp8_per_row: one scale per expert and output "
                             "channel";
        }
        std::string why;
        QuantizedTensorType weightType, activationType;
        if (!decision.keep() &&
            failed(layerTypes(layer, decision.weights, decision.activations,
                              weightType, activationType, why))) {
          decision.reason += "; " + why;
          decision.weights = "keep";
          decision.activations = "none";
        }
        op->setAttr(kWeights, b.getStringAttr(decision.keep()
                                                  ? StringRef("keep")
                                                  : StringRef(decision.weights)));
        op->setAttr(kActivations, b.getStringAttr(decision.activations));
        op->setAttr(kReason, b.getStringAttr(decision.reason));
        if (decision.keep())
          op->emitRemark("kept in float: ")
              << (layer.name.empty() ? "" : "'" + layer.name + "' ") << "role "
              << stringifyRole(role) << " (" << decision.reason << ")";
      }
    });
  }
};

/// One line of the report.
struct ReportEntry {
  std::string name, role, weights, activations, location;
  int64_t elements = 0, bytesBefore = 0, bytesAfter = 0;
  double sqnrDb = 0;
};

/// One KV cache of the report: quantized by fp4-quantize-kv-cache (its codes
/// argument carries kKVCacheAttr) or still in float.
struct KVCacheEntry {
  std::string function, format;
  unsigned argument = 0;
  int64_t bytesBefore = 0, bytesAfter = 0;
};

std::vector<KVCacheEntry> collectKVCaches(ModuleOp module) {
  std::vector<KVCacheEntry> entries;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    for (BlockArgument arg : func.getArguments()) {
      KVCacheEntry entry;
      entry.function = func.getSymName().str();
      entry.argument = arg.getArgNumber();
      if (auto attr = func.getArgAttrOfType<DictionaryAttr>(arg.getArgNumber(),
                                                            kKVCacheAttr)) {
        // Its form is checked by the fp4 dialect's verifier.
        entry.format = attr.getAs<StringAttr>("format").str();
        entry.bytesBefore =
            attr.getAs<IntegerAttr>("bytes_per_token_before").getInt();
        entry.bytesAfter =
            attr.getAs<IntegerAttr>("bytes_per_token_after").getInt();
      } else if (std::optional<KVCache> cache = matchKVCache(arg)) {
        entry.format = "float";
        entry.bytesBefore = entry.bytesAfter =
            kvCacheBytesPerToken(cast<RankedTensorType>(arg.getType()),
                                 cache->update.getSourceType());
      } else {
        continue;
      }
      entries.push_back(entry);
    }
  }
  return entries;
}

/// Bytes of a tensor type's data.
int64_t tensorBytes(RankedTensorType type) {
  return type.getNumElements() *
         static_cast<int64_t>(llvm::divideCeil(type.getElementTypeBitWidth(), 8));
}

/// SQNR (dB) of quantizing the constant `weight` to `type`, through the
/// numerics library (so exactly what fp4-fold-constants will store).
std::optional<double> weightSqnr(arith::ConstantOp weight,
                                 QuantizedTensorType type,
                                 BlockScaleSearchAttr search) {
  std::string why;
  FailureOr<nx::QuantConfig> config = getQuantConfig(type, std::nullopt, why);
  if (failed(config))
    return std::nullopt;
  if (search)
    config->blockScales = toNumerics(search.getValue());
  auto elements = cast<ElementsAttr>(weight.getValue());
  std::vector<char> splat;
  FailureOr<ArrayRef<char>> bytes = getRawBytes(elements, splat, why);
  if (failed(bytes))
    return std::nullopt;
  nx::TensorView view = constantTensorView(elements, *bytes);
  nx::QuantizedTensor q;
  if (!nx::quantize(view, *config, q).empty())
    return std::nullopt;
  std::vector<float> back(view.rows * view.cols), original(back.size());
  nx::dequantize(q, back.data());
  double signal = 0, noise = 0;
  for (size_t i = 0; i < back.size(); ++i) {
    float x;
    if (view.type == nx::InputType::F32) {
      std::memcpy(&x, bytes->data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, bytes->data() + 2 * i, 2);
      x = view.type == nx::InputType::BF16 ? nx::bf16ToFloat(h)
                                           : nx::halfToFloat(h);
    }
    signal += double(x) * x;
    noise += (double(x) - back[i]) * (double(x) - back[i]);
  }
  return noise == 0 ? INFINITY : 10.0 * std::log10(signal / noise);
}

/// `select(id < 0, id + experts, id)` over the index tensor `ids`, as the
/// gather it replaces mapped them (torch's negative indexing).
Value wrapNegativeIndices(OpBuilder &b, Location loc, Value ids,
                          int64_t experts) {
  auto type = cast<RankedTensorType>(ids.getType());
  Value empty =
      tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
  AffineMap identity = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> parallel(type.getRank(),
                                            utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{ids}, ValueRange{empty},
             ArrayRef<AffineMap>{identity, identity}, parallel,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Type t = args[0].getType();
               Value zero =
                   arith::ConstantOp::create(nb, l, t, nb.getIntegerAttr(t, 0));
               Value count = arith::ConstantOp::create(
                   nb, l, t, nb.getIntegerAttr(t, experts));
               Value negative = arith::CmpIOp::create(
                   nb, l, arith::CmpIPredicate::slt, args[0], zero);
               Value wrapped = arith::AddIOp::create(nb, l, args[0], count);
               linalg::YieldOp::create(nb, l,
                                       ValueRange{arith::SelectOp::create(
                                           nb, l, negative, wrapped, args[0])});
             })
      .getResult(0);
}

struct FP4QuantizeLinalgPass
    : public mlir::fp4::impl::FP4QuantizeLinalgBase<FP4QuantizeLinalgPass> {
  using Base::Base;

  std::optional<BlockScaleSearch> weightSearch, fp8Search;

  /// The scale search for a weight of `type`: weight-block-scales on NVFP4
  /// weights, weight-fp8-scales on FP8 weights with f32 scales (null: the
  /// maximum, the rule's own choice).
  BlockScaleSearchAttr searchFor(QuantizedTensorType type) const {
    ScalingAttr scaling = type.getScaling();
    std::optional<BlockScaleSearch> search;
    if (scaling.isTwoLevel())
      search = weightSearch;
    else if (isa<Float8E4M3FNType, Float8E5M2Type>(type.getElementType()) &&
             scaling.getScaleFormat() == ScaleFormat::F32 &&
             (!scaling.isPerBlock() ||
              scaling.getBlockSize() == type.getShape().back()))
      search = fp8Search;
    if (!search || *search == BlockScaleSearch::Max)
      return {};
    return BlockScaleSearchAttr::get(type.getContext(), *search);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    weightSearch = symbolizeBlockScaleSearch(weightBlockScales);
    if (!weightSearch) {
      module.emitError("fp4-quantize-linalg: weight-block-scales '")
          << weightBlockScales
          << "' is not one of max, four_over_six, mse";
      return signalPassFailure();
    }
    fp8Search = symbolizeBlockScaleSearch(weightFP8Scales);
    if (!fp8Search || *fp8Search == BlockScaleSearch::FourOverSix) {
      module.emitError("fp4-quantize-linalg: weight-fp8-scales '")
          << weightFP8Scales << "' is not one of max, mse";
      return signalPassFailure();
    }
    SmallVector<Operation *> annotated;
    module.walk([&](Operation *op) {
      if (op->hasAttr(kWeights))
        annotated.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    // Wrapped routing indices by (indices, experts, block).
    llvm::DenseMap<std::tuple<Value, int64_t, Block *>, Value> wrappedIds;
    std::vector<ReportEntry> report;
    int64_t keptBytes = 0;
    for (Operation *op : annotated) {
      auto weights = op->getAttrOfType<StringAttr>(kWeights);
      auto activations = op->getAttrOfType<StringAttr>(kActivations);
      auto role = op->getAttrOfType<StringAttr>(kRole);
      std::string why;
      FailureOr<LinearLayer> layer = matchLinearLayer(op, why);
      if (failed(layer)) {
        op->emitRemark("left in float: ") << why;
        continue;
      }
      auto weightTensor = cast<RankedTensorType>(layer->weight.getType());
      if (weights.getValue() == "keep") {
        keptBytes += tensorBytes(weightTensor);
        continue;
      }
      QuantizedTensorType weightType, activationType;
      if (failed(layerTypes(*layer, weights.getValue(),
                            activations ? activations.getValue() : "none",
                            weightType, activationType, why))) {
        op->emitRemark("left in float: ") << why;
        keptBytes += tensorBytes(weightTensor);
        continue;
      }
      ReportEntry entry;
      entry.name = layer->name;
      entry.role = role ? role.str() : "";
      entry.weights = weights.str();
      entry.activations = activations ? activations.str() : "none";
      std::string loc;
      llvm::raw_string_ostream locStream(loc);
      op->getLoc().print(locStream);
      entry.location = loc;
      entry.elements = weightTensor.getNumElements();
      entry.bytesBefore = tensorBytes(weightTensor);
      entry.bytesAfter = weightType.getStorageBytes();
      if (!this->report.empty()) // SQNR costs a quantization: only on request
        entry.sqnrDb =
            weightSqnr(layer->weight, weightType, searchFor(weightType))
                .value_or(NAN);
      report.push_back(entry);

      rewriter.setInsertionPoint(op);
      Location opLoc = op->getLoc();
      Value weightQ = QuantizeOp::create(
          rewriter, opLoc, weightType, layer->weight.getResult(),
          /*rule=*/nullptr, searchFor(weightType), /*amax=*/nullptr);
      Value lhs = layer->activation;
      if (activationType) {
        // A calibrated amax (fp4-apply-calibration) makes the scale static.
        auto amax = op->getAttrOfType<FloatAttr>(kActivationAmaxAttr);
        if (amax && !activationType.getScaling().hasPerTensorQuantity()) {
          op->emitRemark("calibrated amax unused: ")
              << entry.activations << " activations have no per-tensor scale";
          amax = nullptr;
        }
        lhs = QuantizeOp::create(rewriter, opLoc, activationType, lhs,
                                 /*rule=*/nullptr, /*search=*/nullptr, amax);
      }
      if (layer->indices) {
        // Routed experts: the gather and the bmm become one
        // fp4.gathered_matmul [T, N], expanded back to the bmm's [T, N, 1].
        // An index the gather could not read (outside [-E, E)) now gives a
        // NaN row instead of reading out of bounds.
        Value ids = layer->indices;
        if (layer->wrapsNegative) {
          // Experts of one block routed by the same ids (gate_up, then
          // down) share one wrap: the first, which precedes the others.
          int64_t experts = weightTensor.getShape()[0];
          Value &wrapped = wrappedIds[{ids, experts, op->getBlock()}];
          if (!wrapped)
            wrapped = wrapNegativeIndices(rewriter, opLoc, ids, experts);
          ids = wrapped;
        }
        auto bmmType = cast<RankedTensorType>(op->getResult(0).getType());
        auto rowsType = RankedTensorType::get(bmmType.getShape().drop_back(),
                                              bmmType.getElementType());
        // A per-expert bias gathered by the same indices (b[ids]) and added
        // folds in: the matmul adds bias[ids[t]] before its one rounding.
        FailureOr<BiasAdd> biasAdd =
            matchGatheredBiasAdd(op->getResult(0), *layer);
        if (succeeded(biasAdd))
          rewriter.setInsertionPoint(biasAdd->add);
        Value rows = GatheredMatmulOp::create(
            rewriter, opLoc, rowsType, lhs, weightQ, ids,
            succeeded(biasAdd) ? biasAdd->bias : Value());
        if (succeeded(biasAdd)) {
          rewriter.replaceOp(biasAdd->add, rows);
          rewriter.eraseOp(biasAdd->collapse);
          rewriter.eraseOp(op);
        } else {
          rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
              op, bmmType, rows, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
        }
        continue;
      }
      Type resultType = op->getResult(0).getType();
      Value bias;
      FailureOr<BiasAdd> biasAdd =
          matchBiasAdd(op->getResult(0), weightTensor.getRank() == 3);
      if (succeeded(biasAdd)) {
        // Where the bias is sure to be defined.
        bias = biasAdd->bias;
        rewriter.setInsertionPoint(
            biasAdd->expand ? biasAdd->expand.getOperation() : biasAdd->add);
      }
      auto matmul = ScaledMatmulOp::create(rewriter, opLoc, resultType, lhs,
                                           weightQ, bias);
      // An expand_shape between the layer and its bias add now reads the
      // matmul.
      rewriter.replaceOp(op, matmul.getResult());
      // The add folds into the matmul: the sums get the bias before their
      // one rounding, as a fused bias epilogue does.
      if (succeeded(biasAdd))
        rewriter.replaceOp(biasAdd->add, biasAdd->expand
                                             ? biasAdd->expand.getResult()
                                             : matmul.getResult());
    }
    if (!this->report.empty())
      writeReport(report, keptBytes);
  }

  void writeReport(const std::vector<ReportEntry> &entries, int64_t keptBytes) {
    std::error_code ec;
    std::unique_ptr<llvm::raw_fd_ostream> file;
    llvm::raw_ostream *os = &llvm::outs();
    if (this->report != "-") {
      file = std::make_unique<llvm::raw_fd_ostream>(this->report, ec);
      if (ec) {
        getOperation().emitError("cannot write the report to '")
            << this->report << "': " << ec.message();
        return signalPassFailure();
      }
      os = file.get();
    }
    int64_t before = keptBytes, after = keptBytes;
    llvm::json::Array layers;
    for (const ReportEntry &e : entries) {
      before += e.bytesBefore;
      after += e.bytesAfter;
      layers.push_back(llvm::json::Object{
          {"name", e.name},
          {"location", e.location},
          {"role", e.role},
          {"weights", e.weights},
          {"activations", e.activations},
          {"elements", e.elements},
          {"weight_bytes_before", e.bytesBefore},
          {"weight_bytes_after", e.bytesAfter},
          {"weight_sqnr_db", std::isfinite(e.sqnrDb) ? llvm::json::Value(e.sqnrDb)
                                                     : llvm::json::Value(nullptr)}});
    }
    std::vector<KVCacheEntry> caches = collectKVCaches(getOperation());
    int64_t kvBefore = 0, kvAfter = 0;
    llvm::json::Array kvCaches;
    for (const KVCacheEntry &c : caches) {
      kvBefore += c.bytesBefore;
      kvAfter += c.bytesAfter;
      kvCaches.push_back(llvm::json::Object{
          {"function", c.function},
          {"argument", c.argument},
          {"format", c.format},
          {"bytes_per_token_before", c.bytesBefore},
          {"bytes_per_token_after", c.bytesAfter}});
    }
    llvm::json::Object root{{"layers", std::move(layers)},
                            {"kept_weight_bytes", keptBytes},
                            {"weight_bytes_before", before},
                            {"weight_bytes_after", after},
                            {"kv_caches", std::move(kvCaches)},
                            {"kv_cache_bytes_per_token_before", kvBefore},
                            {"kv_cache_bytes_per_token_after", kvAfter}};
    *os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
    // The readable table.
    *os << llvm::formatv("{0,-36} {1,-10} {2,-16} {3,-8} {4,12} {5,12} {6,9}\n",
                         "layer", "role", "weights", "acts", "bytes before",
                         "bytes after", "SQNR dB");
    for (const ReportEntry &e : entries)
      *os << llvm::formatv("{0,-36} {1,-10} {2,-16} {3,-8} {4,12} {5,12} {6,9:f2}\n",
                           e.name.empty() ? e.location : e.name, e.role,
                           e.weights, e.activations, e.bytesBefore,
                           e.bytesAfter, e.sqnrDb);
    *os << llvm::formatv("total weights: {0} bytes -> {1} bytes ({2:f2}x smaller; "
                         "{3} bytes kept in float)\n",
                         before, after,
                         after ? double(before) / double(after) : 0.0, keptBytes);
    for (const KVCacheEntry &c : caches)
      *os << llvm::formatv("KV cache @{0} argument #{1}: {2}, {3} -> {4} bytes "
                           "per token\n",
                           c.function, c.argument, c.format, c.bytesBefore,
                           c.bytesAfter);
    if (!caches.empty())
      *os << llvm::formatv("total KV cache: {0} -> {1} bytes per token "
                           "({2:f2}x smaller)\n",
                           kvBefore, kvAfter,
                           kvAfter ? double(kvBefore) / double(kvAfter) : 0.0);
  }

};

} // namespace
