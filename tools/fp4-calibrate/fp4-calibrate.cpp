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
// The work is mlir::fp4::calibrateModule (lib/Tools/Calibrate.cpp), which
// the Python package calls too: this is its command line, with the data
// read from .npy files (docs/calibration.md).
//
//===----------------------------------------------------------------------===//

#include "fp4/Calibration/Calibration.h"
#include "fp4/Support/Npy.h"
#include "fp4/Tools/Calibrate.h"
#include "fp4/Tools/ToolSetup.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

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

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::fp4::registerAllFP4Passes();
  cl::ParseCommandLineOptions(argc, argv, "fp4-mlir calibration\n");
  // The options' own errors, named as the command line names them.
  if (!cal::parseMethod(method))
    fail("--method '" + method + "' is not one of max, percentile, mse");
  if (!statsIn.empty() && !statsOut.empty())
    fail("--write-stats writes statistics gathered by running the model; "
         "with --read-stats nothing is gathered");
  if (!statsIn.empty() && smoothAlpha > 0.0)
    fail("--smooth-alpha needs calibration data (the statistics of the "
         "smoothed model), not --read-stats");

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

  // The data: one sample per file group, read when it is used.
  mlir::fp4::CalibrationData data;
  std::vector<std::vector<std::string>> files;
  if (statsIn.empty()) {
    files = calibrationFiles(func.getNumArguments());
    data.count = files.empty() ? 0 : files[0].size();
    data.load = [&](size_t index, mlir::fp4::CalibrationSample &sample,
                    std::string &error) {
      for (const std::vector<std::string> &argument : files) {
        sample.names.push_back(argument[index]);
        sample.arguments.emplace_back();
        if (!::fp4::readNpy(argument[index], sample.arguments.back(), error))
          return false;
      }
      return true;
    };
  }
  mlir::fp4::CalibrateOptions options;
  options.entry = entry;
  options.preset = preset;
  options.policyFile = policy;
  options.method = method;
  options.percentile = percentile;
  options.smoothAlpha = smoothAlpha;
  options.smoothFoldIntoWeights = smoothFoldIntoWeights;
  options.writeStats = statsOut;
  options.readStats = statsIn;
  options.progress = &llvm::errs();
  std::string error;
  if (failed(mlir::fp4::calibrateModule(*module, options, data, error)))
    fail(error);

  std::error_code ec;
  llvm::ToolOutputFile out(outputFile, ec, llvm::sys::fs::OF_Text);
  if (ec)
    fail(outputFile + ": " + ec.message());
  module->print(out.os());
  out.keep();
  return 0;
}
