//===- Facade.cpp - the MLIR side of the Python bindings ------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "Facade.h"

#include "fp4/Tools/Calibrate.h"
#include "fp4/Tools/Compile.h"
#include "fp4/Tools/ToolSetup.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <mutex>

using namespace mlir;

struct fp4py::ModuleState {
  std::unique_ptr<MLIRContext> context;
  OwningOpRef<ModuleOp> module;
};

namespace {

/// Every fp4 and upstream dialect, extension and pass, once per process.
std::unique_ptr<MLIRContext> makeContext() {
  static std::once_flag registered;
  std::call_once(registered, [] { mlir::fp4::registerAllFP4Passes(); });
  DialectRegistry registry;
  mlir::fp4::registerAllFP4Dialects(registry);
  auto context = std::make_unique<MLIRContext>(registry);
  // Passes run on the caller's thread: no thread pool per module.
  context->disableMultithreading();
  return context;
}

std::string severityName(DiagnosticSeverity severity) {
  switch (severity) {
  case DiagnosticSeverity::Error:
    return "error";
  case DiagnosticSeverity::Warning:
    return "warning";
  case DiagnosticSeverity::Remark:
    return "remark";
  case DiagnosticSeverity::Note:
    return "note";
  }
  return "note";
}

/// Collects the diagnostics emitted while it lives (and their notes).
class Collector {
public:
  Collector(MLIRContext *context, std::vector<fp4py::Diagnostic> &out)
      : handler(context, [&out](mlir::Diagnostic &d) {
          auto add = [&](mlir::Diagnostic &one) {
            std::string location;
            llvm::raw_string_ostream os(location);
            one.getLocation().print(os);
            out.push_back({severityName(one.getSeverity()), location,
                           one.str()});
          };
          add(d);
          for (mlir::Diagnostic &note : d.getNotes())
            add(note);
          return success();
        }) {}

private:
  ScopedDiagnosticHandler handler;
};

} // namespace

fp4py::ModulePtr fp4py::parseModule(const std::string &text,
                                    const std::string &bufferName,
                                    std::vector<Diagnostic> &diagnostics) {
  auto state = std::make_shared<ModuleState>();
  state->context = makeContext();
  Collector collect(state->context.get(), diagnostics);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(text, bufferName), llvm::SMLoc());
  state->module = parseSourceFile<ModuleOp>(sourceMgr, state->context.get());
  if (!state->module)
    return nullptr;
  return state;
}

std::string fp4py::printModule(const ModuleState &module, bool generic) {
  std::string text;
  llvm::raw_string_ostream os(text);
  OpPrintingFlags flags;
  if (generic)
    flags.printGenericOpForm();
  ModuleOp(module.module.get()).print(os, flags);
  return text;
}

fp4py::ModulePtr fp4py::cloneModule(const ModuleState &module) {
  std::vector<Diagnostic> diagnostics;
  return parseModule(printModule(module, /*generic=*/true), "<clone>",
                     diagnostics);
}

bool fp4py::runPipeline(ModuleState &module, const std::string &pipeline,
                        std::vector<Diagnostic> &diagnostics,
                        std::string &error) {
  MLIRContext *context = module.context.get();
  Collector collect(context, diagnostics);
  PassManager pm(context);
  std::string message;
  llvm::raw_string_ostream errors(message);
  // "builtin.module(P)" (mlir-opt's --pass-pipeline form) and a bare "P"
  // both run P on the module.
  llvm::StringRef text = pipeline;
  text = text.trim();
  if (text.consume_front("builtin.module(") && text.consume_back(")"))
    text = text.trim();
  else
    text = llvm::StringRef(pipeline).trim();
  if (failed(parsePassPipeline(text, pm, errors))) {
    error = message.empty() ? "cannot parse the pipeline '" + pipeline + "'"
                            : message;
    return false;
  }
  return succeeded(pm.run(*module.module));
}

std::vector<std::string> fp4py::publicFunctions(const ModuleState &module) {
  std::vector<std::string> names;
  for (auto func : ModuleOp(module.module.get()).getOps<func::FuncOp>())
    if (func.isPublic() && !func.isExternal())
      names.push_back(func.getSymName().str());
  return names;
}

std::string fp4py::functionSignature(const ModuleState &module,
                                     const std::string &name) {
  auto func = ModuleOp(module.module.get()).lookupSymbol<func::FuncOp>(name);
  if (!func)
    return "";
  return mlir::fp4::formatSignature(func.getFunctionType());
}

bool fp4py::compileModule(const ModuleState &module,
                          mlir::fp4::CompileOptions options,
                          const std::string &output,
                          std::vector<Diagnostic> &diagnostics,
                          std::string &error) {
  // Lowering rewrites the module: work on a copy in the same context.
  MLIRContext *context = module.context.get();
  Collector collect(context, diagnostics);
  OwningOpRef<ModuleOp> copy(ModuleOp(module.module.get()).clone());
  options.sourceName = "the module";
  return succeeded(mlir::fp4::compileModule(*copy, options, output, error));
}

fp4py::ModulePtr fp4py::calibrateModule(
    const ModuleState &module, const mlir::fp4::CalibrateOptions &options,
    std::vector<::fp4::NdArray> inputs, std::vector<Diagnostic> &diagnostics,
    std::string &error) {
  ModulePtr copy = cloneModule(module);
  if (!copy) {
    error = "the module does not parse back (left invalid by a failed "
            "pipeline?)";
    return nullptr;
  }
  Collector collect(copy->context.get(), diagnostics);
  // One sample: each argument's array of S batches.
  mlir::fp4::CalibrationData data;
  data.count = inputs.empty() ? 0 : 1;
  data.load = [&](size_t, mlir::fp4::CalibrationSample &sample, std::string &) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      sample.names.push_back("input " + std::to_string(i));
      sample.arguments.push_back(std::move(inputs[i]));
    }
    return true;
  };
  if (failed(mlir::fp4::calibrateModule(*copy->module, options, data, error)))
    return nullptr;
  return copy;
}
