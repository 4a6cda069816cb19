//===- Calibration.cpp - observers and calibrated scales ------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "Calibration.h"
#include "KVCache.h"
#include "fp4/Calibration/Calibration.h"
#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "fp4/Dialect/FP4/Transforms/FoldConstants.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/StringSet.h"

namespace mlir::fp4 {
#define GEN_PASS_DEF_FP4INSERTOBSERVERS
#define GEN_PASS_DEF_FP4APPLYCALIBRATION
#include "fp4/Dialect/FP4/Transforms/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;
using namespace mlir::fp4;
namespace cal = ::fp4::calibration;

std::vector<ObservationPoint>
mlir::fp4::collectObservationPoints(ModuleOp module) {
  std::vector<ObservationPoint> points;
  llvm::StringSet<> used;
  auto unique = [&](std::string name) {
    std::string candidate = name;
    for (int k = 2; !used.insert(candidate).second; ++k)
      candidate = name + "#" + std::to_string(k);
    return candidate;
  };
  int64_t unnamed = 0;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    // KV caches: the new entries of each cache argument.
    for (BlockArgument arg : func.getArguments()) {
      std::optional<KVCache> cache = matchKVCache(arg);
      if (!cache)
        continue;
      std::string why;
      auto type = QuantizedTensorType::getPreset(
          module.getContext(), "nvfp4",
          cache->update.getSourceType().getShape(), Type(), why);
      ObservationPoint point;
      point.name = unique(func.getSymName().str() + ":kv_cache:arg" +
                          std::to_string(arg.getArgNumber()));
      point.tensor = cache->update.getSource();
      point.before = cache->update;
      point.func = func;
      point.argIndex = arg.getArgNumber();
      point.type = type;
      points.push_back(point);
    }
    // Linear layers whose activations are quantized with a per-tensor
    // quantity.
    func.walk([&](Operation *op) {
      auto weights = op->getAttrOfType<StringAttr>(kWeights);
      auto activations = op->getAttrOfType<StringAttr>(kActivations);
      if (!weights || !activations || weights.getValue() == "keep" ||
          activations.getValue() == "none")
        return;
      std::string why;
      FailureOr<LinearLayer> layer = matchLinearLayer(op, why);
      if (failed(layer))
        return;
      QuantizedTensorType weightType, activationType;
      if (failed(layerTypes(*layer, weights.getValue(), activations.getValue(),
                            weightType, activationType, why)) ||
          !activationType ||
          !activationType.getScaling().hasPerTensorQuantity())
        return;
      ObservationPoint point;
      point.name = unique((layer->name.empty()
                               ? "layer" + std::to_string(unnamed++)
                               : layer->name) +
                          ":input");
      point.tensor = layer->activation;
      point.before = op;
      point.layer = op;
      point.type = activationType;
      points.push_back(point);
    });
  }
  return points;
}

namespace {

struct FP4InsertObserversPass
    : public mlir::fp4::impl::FP4InsertObserversBase<FP4InsertObserversPass> {
  void runOnOperation() override {
    OpBuilder builder(&getContext());
    int64_t id = 0;
    for (ObservationPoint &point : collectObservationPoints(getOperation())) {
      builder.setInsertionPoint(point.before);
      ObserveOp::create(builder, point.before->getLoc(), point.tensor, id++,
                        point.name);
    }
  }
};

} // namespace

LogicalResult mlir::fp4::readStatsForModule(ModuleOp module,
                                            StringRef statsFile,
                                            StringRef pass,
                                            cal::StatsTable &table,
                                            bool *floatStatsOnSmoothed) {
  std::optional<double> statsAlpha;
  if (std::string error = cal::readStats(statsFile.str(), table, &statsAlpha);
      !error.empty())
    return module.emitError(pass) << ": " << error;
  auto marked = module->getAttrOfType<FloatAttr>(kSmoothedAttr);
  std::optional<double> moduleAlpha;
  if (marked)
    moduleAlpha = marked.getValueAsDouble();
  if (floatStatsOnSmoothed)
    *floatStatsOnSmoothed = moduleAlpha && !statsAlpha;
  if (moduleAlpha == statsAlpha || (floatStatsOnSmoothed && *floatStatsOnSmoothed))
    return success();
  auto describe = [](std::optional<double> alpha) {
    return alpha ? "a model smoothed with alpha " + std::to_string(*alpha)
                 : std::string("the unsmoothed model");
  };
  return module.emitError(pass)
         << ": the statistics in '" << statsFile << "' were gathered on "
         << describe(statsAlpha) << ", this module is " << describe(moduleAlpha)
         << "; gather statistics on this module (fp4-calibrate "
         << (moduleAlpha ? "--smooth-alpha" : "without --smooth-alpha") << ")";
}

namespace {

struct FP4ApplyCalibrationPass
    : public mlir::fp4::impl::FP4ApplyCalibrationBase<FP4ApplyCalibrationPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<cal::Method> parsed = cal::parseMethod(method);
    if (!parsed) {
      module.emitError("fp4-apply-calibration: method '")
          << method << "' is not one of max, percentile, mse";
      return signalPassFailure();
    }
    if (statsFile.empty()) {
      module.emitError("fp4-apply-calibration: no statistics file (stats=...)");
      return signalPassFailure();
    }
    cal::StatsTable table;
    bool floatStatsOnSmoothed = false;
    if (failed(readStatsForModule(module, statsFile, "fp4-apply-calibration",
                                  table, &floatStatsOnSmoothed)))
      return signalPassFailure();
    // The float model's statistics fit a smoothed module only through its
    // maxima: channel j of a smoothed activation is the float one times
    // 1/s_j, so its maximum is max_j c_j / s_j. Percentiles and sampled
    // errors do not follow from the float model's.
    if (floatStatsOnSmoothed && *parsed != cal::Method::Max) {
      module.emitError("fp4-apply-calibration: the statistics in '")
          << statsFile << "' were gathered on the unsmoothed model and this "
          << "module is smoothed: only method max can use them (the smoothed "
          << "maxima follow from channel_amax); for " << method
          << ", gather statistics on this module (fp4-calibrate "
          << "--smooth-alpha)";
      return signalPassFailure();
    }
    cal::MethodOptions options{*parsed, percentile};
    Builder b(&getContext());
    llvm::StringSet<> matched;
    for (ObservationPoint &point : collectObservationPoints(module)) {
      auto stats = table.find(point.name);
      if (stats == table.end()) {
        point.before->emitRemark("no calibration statistics for '")
            << point.name << "': quantized with a dynamic scale";
        continue;
      }
      matched.insert(point.name);
      std::string why;
      FailureOr<::fp4::numerics::QuantConfig> config =
          point.type ? getQuantConfig(point.type, std::nullopt, why)
                     : FailureOr<::fp4::numerics::QuantConfig>(failure());
      if (failed(config)) {
        point.before->emitRemark("'") << point.name << "' not calibrated: "
                                      << (why.empty() ? "no format" : why);
        continue;
      }
      const cal::ObserverStats *observed = &stats->second;
      cal::ObserverStats smoothed;
      Attribute record =
          point.layer ? point.layer->getAttr(kSmoothInverseAttr) : Attribute();
      auto inverse = dyn_cast_or_null<DenseElementsAttr>(record);
      if (floatStatsOnSmoothed && point.layer && !record) {
        // Neither smoothed nor left alone by fp4-smooth: the record was
        // lost, so the float maximum might be the wrong one.
        point.before->emitError("fp4-apply-calibration: layer '")
            << point.name << "' of the smoothed module has no record of its "
            << "smoothing (" << kSmoothInverseAttr << "), so the float "
            << "model's statistics in '" << statsFile << "' cannot be "
            << "adjusted for it; gather statistics on this module "
            << "(fp4-calibrate --smooth-alpha)";
        return signalPassFailure();
      }
      if (floatStatsOnSmoothed && inverse) {
        if (static_cast<int64_t>(observed->channelAmax.size()) !=
            inverse.getNumElements()) {
          point.before->emitRemark("'")
              << point.name << "' not calibrated: the layer is smoothed and "
              << "the statistics have no channel_amax of "
              << inverse.getNumElements()
              << " channels to derive its maximum from";
          continue;
        }
        smoothed.amax = 0.0f;
        for (auto [c, inv] : llvm::zip_equal(observed->channelAmax,
                                             inverse.getValues<float>()))
          smoothed.amax = std::max(smoothed.amax, c * inv);
        observed = &smoothed;
      }
      std::optional<float> amax =
          cal::chooseAmax(*observed, options, *config, why);
      if (!amax) {
        point.before->emitRemark("'")
            << point.name << "' not calibrated: " << why;
        continue;
      }
      FloatAttr attr = b.getF32FloatAttr(*amax);
      if (point.layer)
        point.layer->setAttr(kActivationAmaxAttr, attr);
      else
        point.func.setArgAttr(point.argIndex, kKVCacheAmaxAttr, attr);
      point.before->emitRemark("'")
          << point.name << "': amax " << *amax << " (" << method
          << (observed == &smoothed ? ", smoothed from the float model's "
                                      "channel maxima, "
                                    : ", ")
          << "observed max " << stats->second.amax << ")";
    }
    int64_t unused = 0;
    for (const auto &entry : table)
      unused += !matched.contains(entry.first);
    if (unused)
      module.emitRemark("fp4-apply-calibration: ")
          << unused << " observer(s) of the statistics file are not in this "
          << "module";
  }
};

} // namespace
