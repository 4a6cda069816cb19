//===- fp4-calibrate.cpp - calibrate static scales by running the model ---===//
//
// Part of fp4-mlir.
//
//   fp4-calibrate model.mlir --data DIR [--input a.npy ...]
//       [--preset P | --policy FILE] [--method max|percentile|mse]
//       [--percentile 99.99] [--write-stats stats.json] -o calibrated.mlir
//   fp4-calibrate model.mlir --read-stats stats.json [...] -o calibrated.mlir
//   fp4-calibrate model.mlir --data DIR --smooth-alpha 0.5 [...] -o out.mlir
//
// Decides the precision (fp4-assign-precision), runs the float program with
// observers (fp4-insert-observers) through the JIT over the calibration
// inputs, writes the statistics (JSON) and records a static amax for every
// observed activation and KV cache (fp4-apply-calibration). The output is
// the float module with those decisions; fp4-quantize-pipeline then emits
// static scales from them (docs/calibration.md).
//
//===----------------------------------------------------------------------===//

#include "fp4/Calibration/Calibration.h"
#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "fp4/Runtime/CPURuntime.h"
#include "fp4/Support/Npy.h"
#include "fp4/Tools/JIT.h"
#include "fp4/Tools/ToolSetup.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"

#include <chrono>
#include <cmath>
#include <map>

using namespace mlir;
namespace cl = llvm::cl;
namespace cal = ::fp4::calibration;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.mlir>"),
                                      cl::Required);
static cl::opt<std::string> outputFile("o", cl::desc("The calibrated module"),
                                       cl::Required);
static cl::opt<std::string> entry("entry", cl::desc("Function to run"),
                                  cl::init("forward"));
static cl::opt<std::string> dataDir(
    "data", cl::desc("A directory of calibration inputs: NAME.input<i>.npy "
                     "per argument i (any *.npy for one argument)"),
    cl::init(""));
static cl::list<std::string> inputs(
    "input", cl::desc("Calibration input per argument, in order (shape of "
                      "the argument, or [S, ...] for S batches)"));
static cl::opt<std::string> preset("preset", cl::desc("Precision preset"),
                                   cl::init("moe-fp4-fp8"));
static cl::opt<std::string> policy("policy", cl::desc("Policy file"),
                                   cl::init(""));
static cl::opt<std::string> method("method",
                                   cl::desc("max (default), percentile or mse"),
                                   cl::init("max"));
static cl::opt<double> percentile("percentile",
                                  cl::desc("percentile: percent of values "
                                           "under the amax"),
                                  cl::init(99.99));
static cl::opt<double> smoothAlpha(
    "smooth-alpha",
    cl::desc("Migrate activation outliers into the weights first "
             "(fp4-smooth, SmoothQuant) with this alpha, then calibrate "
             "the smoothed model (0: off)"),
    cl::init(0.0));
static cl::opt<bool> smoothFoldIntoWeights(
    "smooth-fold-into-weights",
    cl::desc("With --smooth-alpha: also fold 1/s into the weight rows of the "
             "layer producing a factor of the activation (SwiGLU's up "
             "projection; fp4-smooth{fold-into-weights})"),
    cl::init(false));
static cl::opt<std::string> statsOut("write-stats",
                                     cl::desc("Write the statistics (JSON)"),
                                     cl::init(""));
static cl::opt<std::string> statsIn(
    "read-stats", cl::desc("Use these statistics (JSON) instead of running"),
    cl::init(""));

namespace {

[[noreturn]] void fail(const Twine &message) {
  llvm::errs() << "fp4-calibrate: error: " << message << "\n";
  std::exit(1);
}

/// One argument's calibration data: S batches of the argument's shape.
struct ArgumentData {
  std::string path;
  ::fp4::NdArray array;
  int64_t batches = 0;
};

/// Reads `path` for an argument of `spec`: its shape (one batch) or
/// [S, ...shape] (S batches), its dtype, finite if float.
ArgumentData readArgument(const std::string &path,
                          const mlir::fp4::TensorSpec &spec) {
  ArgumentData data;
  data.path = path;
  std::string error;
  if (!::fp4::readNpy(path, data.array, error))
    fail(error);
  const std::vector<int64_t> &shape = data.array.shape;
  if (data.array.dtype != spec.dtype)
    fail(path + ": expected " + ::fp4::dtypeName(spec.dtype) + " data for " +
         spec.text + ", got " + ::fp4::dtypeName(data.array.dtype));
  if (shape == spec.shape) {
    data.batches = 1;
  } else if (shape.size() == spec.shape.size() + 1 &&
             std::equal(spec.shape.begin(), spec.shape.end(),
                        shape.begin() + 1)) {
    data.batches = shape[0];
  } else {
    std::string got;
    for (int64_t d : shape)
      got += (got.empty() ? "" : "x") + std::to_string(d);
    fail(path + ": expected " + spec.text + " or [S, ...] batches of it, got " +
         "shape " + (got.empty() ? "()" : got));
  }
  if (data.batches == 0)
    fail(path + ": holds no batches");
  if (spec.dtype == ::fp4::DType::F32 || spec.dtype == ::fp4::DType::F16 ||
      spec.dtype == ::fp4::DType::BF16)
    for (int64_t i = 0; i < data.array.numElements(); ++i)
      if (!std::isfinite(::fp4::loadAsFloat(data.array, i)))
        fail(path + ": element " + std::to_string(i) +
             " is NaN or infinite; calibration data must be finite");
  return data;
}

/// The calibration files, one list per argument (directory or --input).
std::vector<std::vector<std::string>> calibrationFiles(size_t numArgs) {
  std::vector<std::vector<std::string>> files(numArgs);
  if (!inputs.empty()) {
    if (inputs.size() != numArgs)
      fail("'" + entry + "' takes " + Twine(numArgs) + " arguments, got " +
           Twine(inputs.size()) + " --input files");
    for (size_t i = 0; i < numArgs; ++i)
      files[i].push_back(inputs[i]);
    return files;
  }
  if (dataDir.empty())
    fail("no calibration data: give --data DIR, --input FILE per argument, "
         "or --read-stats FILE");
  std::error_code ec;
  std::vector<std::string> names;
  for (llvm::sys::fs::directory_iterator it(dataDir, ec), end;
       it != end && !ec; it.increment(ec))
    if (llvm::StringRef(it->path()).ends_with(".npy"))
      names.push_back(it->path());
  if (ec)
    fail(dataDir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  // NAME.input<i>.npy groups by NAME; a one-argument function takes any
  // .npy file as one sample.
  std::map<std::string, std::vector<std::string>> samples;
  for (const std::string &path : names) {
    llvm::StringRef stem = llvm::sys::path::stem(path);
    size_t dot = stem.rfind(".input");
    unsigned index = 0;
    if (dot != llvm::StringRef::npos &&
        !stem.substr(dot + 6).getAsInteger(10, index)) {
      auto &group = samples[stem.substr(0, dot).str()];
      if (group.size() <= index)
        group.resize(index + 1);
      group[index] = path;
    } else if (numArgs == 1) {
      samples[stem.str()] = {path};
    }
  }
  if (samples.empty())
    fail(dataDir + ": no calibration inputs (*.npy, named NAME.input<i>.npy "
                   "for a function of several arguments)");
  for (const auto &[name, group] : samples) {
    if (group.size() != numArgs ||
        llvm::any_of(group, [](const std::string &p) { return p.empty(); }))
      fail(dataDir + ": sample '" + name + "' has " + Twine(group.size()) +
           " of the " + Twine(numArgs) + " inputs " + name + ".input<i>.npy");
    for (size_t i = 0; i < numArgs; ++i)
      files[i].push_back(group[i]);
  }
  return files;
}

double seconds(std::chrono::steady_clock::time_point a,
               std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

/// Runs the observed float program over every calibration batch and
/// returns the statistics by observer name.
cal::StatsTable observe(ModuleOp annotated, func::FuncOp func) {
  OwningOpRef<ModuleOp> instrumented = annotated.clone();
  PassManager pm(annotated.getContext());
  pm.addPass(mlir::fp4::createFP4InsertObservers());
  if (failed(pm.run(*instrumented)))
    fail("inserting observers failed");
  std::vector<std::string> names;
  instrumented->walk([&](mlir::fp4::ObserveOp op) {
    if (static_cast<size_t>(op.getId()) >= names.size())
      names.resize(op.getId() + 1);
    names[op.getId()] = op.getName().str();
  });
  if (names.empty())
    fail("nothing to calibrate: the policy quantizes no activation with a "
         "per-tensor scale and there is no KV cache");

  std::vector<mlir::fp4::TensorSpec> argSpecs, resultSpecs;
  if (std::string error = mlir::fp4::entrySpecs(func, argSpecs, resultSpecs);
      !error.empty())
    fail(error);
  std::vector<std::vector<std::string>> files =
      calibrationFiles(argSpecs.size());

  auto start = std::chrono::steady_clock::now();
  std::string error;
  if (failed(mlir::fp4::lowerForCPU(*instrumented, false, "", error)))
    fail(inputFile + ": " + error);
  auto engine = mlir::fp4::jitForHost(*instrumented, entry);
  if (!engine)
    fail("JIT compilation failed: " + llvm::toString(engine.takeError()));
  llvm::errs() << "fp4-calibrate: " << names.size() << " observers; compiled in "
               << llvm::format("%.2f", seconds(start, std::chrono::steady_clock::now()))
               << " s\n";

  ::fp4::runtime::resetObservers(names.size());
  int64_t totalBatches = 0, totalBytes = 0;
  auto runStart = std::chrono::steady_clock::now();
  auto lastReport = runStart;
  std::vector<int64_t> resultBuffer;
  for (size_t sample = 0; sample < files[0].size(); ++sample) {
    std::vector<ArgumentData> data;
    for (size_t i = 0; i < argSpecs.size(); ++i)
      data.push_back(readArgument(files[i][sample], argSpecs[i]));
    int64_t batches = data[0].batches;
    for (const ArgumentData &d : data)
      if (d.batches != batches)
        fail(d.path + ": " + Twine(d.batches) + " batches, but " +
             data[0].path + " has " + Twine(batches));
    for (int64_t b = 0; b < batches; ++b) {
      // Each argument's batch b, as an array of the argument's shape.
      std::vector<::fp4::NdArray> batch(data.size());
      std::vector<const ::fp4::NdArray *> arguments;
      for (size_t i = 0; i < data.size(); ++i) {
        size_t bytes = data[i].array.bytes.size() / batches;
        batch[i].dtype = argSpecs[i].dtype;
        batch[i].shape = argSpecs[i].shape;
        batch[i].bytes.assign(data[i].array.bytes.begin() + b * bytes,
                              data[i].array.bytes.begin() + (b + 1) * bytes);
        arguments.push_back(&batch[i]);
        totalBytes += bytes;
      }
      if (llvm::Error err = mlir::fp4::invokeEntry(
              **engine, entry, arguments, resultSpecs, resultBuffer))
        fail("running '" + entry + "' failed: " + llvm::toString(std::move(err)));
      mlir::fp4::freeResults(resultBuffer.data(), resultSpecs, arguments);
      const ::fp4::runtime::ObserverFailure &failure =
          ::fp4::runtime::observerFailure();
      if (failure.id >= 0)
        fail(data[0].path + " (batch " + Twine(b) + "): observer '" +
             names[failure.id] + "' saw " + failure.message);
      ++totalBatches;
      auto now = std::chrono::steady_clock::now();
      if (seconds(lastReport, now) >= 1.0) {
        double elapsed = seconds(runStart, now);
        llvm::errs() << llvm::format(
            "fp4-calibrate: %lld batches, %.1f batches/s, %.2f MB/s\n",
            static_cast<long long>(totalBatches), totalBatches / elapsed,
            totalBytes / elapsed / 1e6);
        lastReport = now;
      }
    }
  }
  double elapsed = std::max(seconds(runStart, std::chrono::steady_clock::now()), 1e-9);
  llvm::errs() << llvm::format(
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

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  mlir::fp4::registerAllFP4Passes();
  cl::ParseCommandLineOptions(argc, argv, "fp4-mlir calibration\n");
  if (!cal::parseMethod(method))
    fail("--method '" + method + "' is not one of max, percentile, mse");

  DialectRegistry registry;
  mlir::fp4::registerAllFP4Dialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(inputFile, sourceMgr, &context);
  if (!module)
    fail("cannot parse '" + inputFile + "'");
  auto func = module->lookupSymbol<func::FuncOp>(entry);
  if (!func)
    fail("no function '" + entry + "' in " + inputFile);

  // Decide first: the policy says which activations are quantized.
  PassManager assign(&context);
  mlir::fp4::FP4AssignPrecisionOptions assignOptions;
  assignOptions.preset = preset;
  assignOptions.policyFile = policy;
  assign.addPass(mlir::fp4::createFP4AssignPrecision(assignOptions));
  if (failed(assign.run(*module)))
    fail("fp4-assign-precision failed (see the errors above)");

  std::string statsPath = statsIn;
  llvm::SmallString<128> temporary;
  if (statsPath.empty() && smoothAlpha > 0.0) {
    // Smooth with the float model's per-channel maxima, then observe the
    // smoothed model: its activations are what will be quantized.
    llvm::SmallString<128> first;
    if (llvm::sys::fs::createTemporaryFile("fp4-smooth", "json", first))
      fail("cannot create a temporary statistics file");
    if (std::string error = cal::writeStats(first.str().str(),
                                            observe(*module, func));
        !error.empty())
      fail(error);
    PassManager smooth(&context);
    mlir::fp4::FP4SmoothOptions smoothOptions;
    smoothOptions.statsFile = first.str().str();
    smoothOptions.alpha = smoothAlpha;
    smoothOptions.foldIntoWeights = smoothFoldIntoWeights;
    smooth.addPass(mlir::fp4::createFP4Smooth(smoothOptions));
    LogicalResult smoothed = smooth.run(*module);
    llvm::sys::fs::remove(first);
    if (failed(smoothed))
      fail("fp4-smooth failed (see the errors above)");
  } else if (smoothAlpha > 0.0) {
    fail("--smooth-alpha needs calibration data (the statistics of the "
         "smoothed model), not --read-stats");
  }
  if (!statsIn.empty() && !statsOut.empty())
    fail("--write-stats writes statistics gathered by running the model; "
         "with --read-stats nothing is gathered");
  if (statsPath.empty()) {
    cal::StatsTable table = observe(*module, func);
    statsPath = statsOut;
    if (statsPath.empty()) {
      if (llvm::sys::fs::createTemporaryFile("fp4-calibrate", "json",
                                             temporary))
        fail("cannot create a temporary statistics file");
      statsPath = temporary.str().str();
    }
    // Statistics of a smoothed model say so: they fit only that model.
    std::optional<double> smoothedWith;
    if (auto alpha = (*module)->getAttrOfType<FloatAttr>("fp4.smoothed"))
      smoothedWith = alpha.getValueAsDouble();
    if (std::string error = cal::writeStats(statsPath, table, smoothedWith);
        !error.empty())
      fail(error);
  }

  PassManager apply(&context);
  mlir::fp4::FP4ApplyCalibrationOptions applyOptions;
  applyOptions.statsFile = statsPath;
  applyOptions.method = method;
  applyOptions.percentile = percentile;
  apply.addPass(mlir::fp4::createFP4ApplyCalibration(applyOptions));
  LogicalResult applied = apply.run(*module);
  if (!temporary.empty())
    llvm::sys::fs::remove(temporary);
  if (failed(applied))
    fail("applying the calibration failed (see the errors above)");

  std::error_code ec;
  llvm::ToolOutputFile out(outputFile, ec, llvm::sys::fs::OF_Text);
  if (ec)
    fail(outputFile + ": " + ec.message());
  module->print(out.os());
  out.keep();
  return 0;
}
