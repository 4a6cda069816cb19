//===- Calibrate.cpp - fp4-calibrate's driver as a library ----------------===//
//
// Part of fp4-mlir.
//
// Decides the precision (fp4-assign-precision), runs the float program with
// observers (fp4-insert-observers) through the JIT over the calibration
// data, writes the statistics (JSON) and records a static amax for every
// observed activation and KV cache (fp4-apply-calibration). The module
// stays float with those decisions; fp4-quantize-pipeline then emits static
// scales from them (docs/calibration.md).
//
//===----------------------------------------------------------------------===//

#include "fp4/Tools/Calibrate.h"
#include "fp4/Calibration/Calibration.h"
#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "fp4/Runtime/CPURuntime.h"
#include "fp4/Tools/JIT.h"
#include "fp4/Tools/ToolSetup.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>

using namespace mlir;
using namespace mlir::fp4;
namespace cal = ::fp4::calibration;

namespace {

double seconds(std::chrono::steady_clock::time_point a,
               std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

/// One calibration: the options, the data, and the first error met.
class Calibrator {
public:
  Calibrator(const CalibrateOptions &options, const CalibrationData &data,
             std::string &error)
      : options(options), data(data), error(error) {}

  LogicalResult run(ModuleOp module);

private:
  LogicalResult fail(const Twine &message) {
    error = message.str();
    return failure();
  }
  llvm::raw_ostream &progress() {
    return options.progress ? *options.progress : llvm::nulls();
  }
  FailureOr<int64_t> batchesOf(const ::fp4::NdArray &array,
                               const std::string &name, const TensorSpec &spec);
  FailureOr<cal::StatsTable> observe(ModuleOp annotated, func::FuncOp func);
  LogicalResult runPass(ModuleOp module, std::unique_ptr<Pass> pass,
                        StringRef what) {
    PassManager pm(module.getContext());
    pm.addPass(std::move(pass));
    if (failed(pm.run(module)))
      return fail(what + " failed (see the errors above)");
    return success();
  }

  const CalibrateOptions &options;
  const CalibrationData &data;
  std::string &error;
};

/// The batches `array` holds for an argument of `spec`: its shape (one
/// batch) or [S, ...shape] (S batches), of its dtype, finite if float.
FailureOr<int64_t> Calibrator::batchesOf(const ::fp4::NdArray &array,
                                         const std::string &name,
                                         const TensorSpec &spec) {
  const std::vector<int64_t> &shape = array.shape;
  if (array.dtype != spec.dtype)
    return fail(name + ": expected " + ::fp4::dtypeName(spec.dtype) +
                " data for " + spec.text + ", got " +
                ::fp4::dtypeName(array.dtype));
  int64_t batches = 0;
  if (shape == spec.shape) {
    batches = 1;
  } else if (shape.size() == spec.shape.size() + 1 &&
             std::equal(spec.shape.begin(), spec.shape.end(),
                        shape.begin() + 1)) {
    batches = shape[0];
  } else {
    std::string got;
    for (int64_t d : shape)
      got += (got.empty() ? "" : "x") + std::to_string(d);
    return fail(name + ": expected " + spec.text +
                " or [S, ...] batches of it, got shape " +
                (got.empty() ? "()" : got));
  }
  if (batches == 0)
    return fail(name + ": holds no batches");
  if (spec.dtype == ::fp4::DType::F32 || spec.dtype == ::fp4::DType::F16 ||
      spec.dtype == ::fp4::DType::BF16)
    for (int64_t i = 0; i < array.numElements(); ++i)
      if (!std::isfinite(::fp4::loadAsFloat(array, i)))
        return fail(name + ": element " + Twine(i) +
                    " is NaN or infinite; calibration data must be finite");
  return batches;
}

/// Runs the observed float program over every calibration batch and
/// returns the statistics by observer name.
FailureOr<cal::StatsTable> Calibrator::observe(ModuleOp annotated,
                                               func::FuncOp func) {
  OwningOpRef<ModuleOp> instrumented = annotated.clone();
  if (failed(runPass(*instrumented, createFP4InsertObservers(),
                     "inserting observers")))
    return failure();
  std::vector<std::string> names;
  instrumented->walk([&](ObserveOp op) {
    if (static_cast<size_t>(op.getId()) >= names.size())
      names.resize(op.getId() + 1);
    names[op.getId()] = op.getName().str();
  });
  if (names.empty())
    return fail("nothing to calibrate: the policy quantizes no activation "
                "with a per-tensor scale and there is no KV cache");
  std::vector<TensorSpec> argSpecs, resultSpecs;
  if (std::string message = entrySpecs(func, argSpecs, resultSpecs);
      !message.empty())
    return fail(message);
  if (data.count == 0)
    return fail("no calibration data: give inputs (one per argument of '" +
                options.entry + "') or statistics to read");

  auto start = std::chrono::steady_clock::now();
  std::string lowerError;
  if (failed(lowerForCPU(*instrumented, false, "", lowerError)))
    return fail(lowerError);
  auto engine = jitForHost(*instrumented, options.entry);
  if (!engine)
    return fail("JIT compilation failed: " +
                llvm::toString(engine.takeError()));
  progress() << "fp4-calibrate: " << names.size() << " observers; compiled in "
             << llvm::format("%.2f",
                             seconds(start, std::chrono::steady_clock::now()))
             << " s\n";

  ::fp4::runtime::resetObservers(names.size());
  int64_t totalBatches = 0, totalBytes = 0;
  auto runStart = std::chrono::steady_clock::now();
  auto lastReport = runStart;
  std::vector<int64_t> resultBuffer;
  for (size_t index = 0; index < data.count; ++index) {
    CalibrationSample sample;
    if (!data.load(index, sample, error))
      return failure();
    if (sample.arguments.size() != argSpecs.size())
      return fail("'" + options.entry + "' takes " + Twine(argSpecs.size()) +
                  " arguments, got " + Twine(sample.arguments.size()) +
                  " inputs");
    int64_t batches = 0;
    for (size_t i = 0; i < argSpecs.size(); ++i) {
      FailureOr<int64_t> count =
          batchesOf(sample.arguments[i], sample.names[i], argSpecs[i]);
      if (failed(count))
        return failure();
      if (i > 0 && *count != batches)
        return fail(sample.names[i] + ": " + Twine(*count) + " batches, but " +
                    sample.names[0] + " has " + Twine(batches));
      batches = *count;
    }
    for (int64_t b = 0; b < batches; ++b) {
      // Each argument's batch b, as an array of the argument's shape.
      std::vector<::fp4::NdArray> batch(argSpecs.size());
      std::vector<const ::fp4::NdArray *> arguments;
      for (size_t i = 0; i < argSpecs.size(); ++i) {
        const ::fp4::NdArray &all = sample.arguments[i];
        size_t bytes = all.bytes.size() / batches;
        batch[i].dtype = argSpecs[i].dtype;
        batch[i].shape = argSpecs[i].shape;
        batch[i].bytes.assign(all.bytes.begin() + b * bytes,
                              all.bytes.begin() + (b + 1) * bytes);
        arguments.push_back(&batch[i]);
        totalBytes += bytes;
      }
      if (llvm::Error err = invokeEntry(**engine, options.entry, arguments,
                                        resultSpecs, resultBuffer))
        return fail("running '" + options.entry +
                    "' failed: " + llvm::toString(std::move(err)));
      freeResults(resultBuffer.data(), resultSpecs, arguments);
      const ::fp4::runtime::ObserverFailure &failure =
          ::fp4::runtime::observerFailure();
      if (failure.id >= 0)
        return fail(sample.names[0] + " (batch " + Twine(b) + "): observer '" +
                    names[failure.id] + "' saw " + failure.message);
      ++totalBatches;
      auto now = std::chrono::steady_clock::now();
      if (seconds(lastReport, now) >= 1.0) {
        double elapsed = seconds(runStart, now);
        progress() << llvm::format(
            "fp4-calibrate: %lld batches, %.1f batches/s, %.2f MB/s\n",
            static_cast<long long>(totalBatches), totalBatches / elapsed,
            totalBytes / elapsed / 1e6);
        lastReport = now;
      }
    }
  }
  double elapsed =
      std::max(seconds(runStart, std::chrono::steady_clock::now()), 1e-9);
  progress() << llvm::format(
      "fp4-calibrate: ran %lld batches in %.3f s (%.1f batches/s, %.2f MB/s "
      "of inputs)\n",
      static_cast<long long>(totalBatches), elapsed, totalBatches / elapsed,
      totalBytes / elapsed / 1e6);

  cal::StatsTable table;
  const std::vector<::fp4::runtime::ObserverStats> &stats =
      ::fp4::runtime::observers();
  for (size_t id = 0; id < names.size(); ++id)
    table[names[id]] = stats[id];
  return table;
}

LogicalResult Calibrator::run(ModuleOp module) {
  if (!cal::parseMethod(options.method))
    return fail("method '" + options.method +
                "' is not one of max, percentile, mse");
  auto func = module.lookupSymbol<func::FuncOp>(options.entry);
  if (!func)
    return fail("no function '" + options.entry + "' in the module");
  if (!options.readStats.empty() && !options.writeStats.empty())
    return fail("writing statistics needs statistics gathered by running "
                "the model; with statistics to read nothing is gathered");
  if (!options.readStats.empty() && options.smoothAlpha > 0.0)
    return fail("smoothing needs calibration data (the statistics of the "
                "smoothed model), not statistics to read");

  // Decide first: the policy says which activations are quantized.
  FP4AssignPrecisionOptions assignOptions;
  assignOptions.preset = options.preset;
  assignOptions.policyFile = options.policyFile;
  if (failed(runPass(module, createFP4AssignPrecision(assignOptions),
                     "fp4-assign-precision")))
    return failure();

  // Temporary statistics files, removed on every way out.
  llvm::SmallVector<llvm::SmallString<128>, 2> temporaries;
  llvm::scope_exit cleanup([&] {
    for (auto &path : temporaries)
      llvm::sys::fs::remove(path);
  });
  auto temporary = [&](StringRef prefix) -> FailureOr<std::string> {
    temporaries.emplace_back();
    if (llvm::sys::fs::createTemporaryFile(prefix, "json", temporaries.back()))
      return fail("cannot create a temporary statistics file");
    return temporaries.back().str().str();
  };

  if (options.smoothAlpha > 0.0) {
    // Smooth with the float model's per-channel maxima, then observe the
    // smoothed model: its activations are what will be quantized.
    FailureOr<cal::StatsTable> table = observe(module, func);
    FailureOr<std::string> first = temporary("fp4-smooth");
    if (failed(table) || failed(first))
      return failure();
    if (std::string message = cal::writeStats(*first, *table); !message.empty())
      return fail(message);
    FP4SmoothOptions smoothOptions;
    smoothOptions.statsFile = *first;
    smoothOptions.alpha = options.smoothAlpha;
    smoothOptions.foldIntoWeights = options.smoothFoldIntoWeights;
    if (failed(runPass(module, createFP4Smooth(smoothOptions), "fp4-smooth")))
      return failure();
  }
  std::string statsPath = options.readStats;
  if (statsPath.empty()) {
    FailureOr<cal::StatsTable> table = observe(module, func);
    if (failed(table))
      return failure();
    statsPath = options.writeStats;
    if (statsPath.empty()) {
      FailureOr<std::string> path = temporary("fp4-calibrate");
      if (failed(path))
        return failure();
      statsPath = *path;
    }
    // Statistics of a smoothed model say so: they fit only that model.
    std::optional<double> smoothedWith;
    if (auto alpha = module->getAttrOfType<FloatAttr>("fp4.smoothed"))
      smoothedWith = alpha.getValueAsDouble();
    if (std::string message = cal::writeStats(statsPath, *table, smoothedWith);
        !message.empty())
      return fail(message);
  }

  FP4ApplyCalibrationOptions applyOptions;
  applyOptions.statsFile = statsPath;
  applyOptions.method = options.method;
  applyOptions.percentile = options.percentile;
  return runPass(module, createFP4ApplyCalibration(applyOptions),
                 "applying the calibration");
}

} // namespace

LogicalResult mlir::fp4::calibrateModule(ModuleOp module,
                                         const CalibrateOptions &options,
                                         const CalibrationData &data,
                                         std::string &error) {
  return Calibrator(options, data, error).run(module);
}
