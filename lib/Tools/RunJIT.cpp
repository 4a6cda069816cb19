//===- RunJIT.cpp - fp4-run's JIT, loaded on demand -----------------------===//
//
// Part of fp4-mlir.
//
// fp4-run itself needs no LLVM, so that it runs compiled libraries where
// LLVM is not installed (the GPU machine). For an .mlir input it loads this
// library (lib/libfp4_run_jit.so next to its bin/), which parses the module,
// optionally quantizes it, lowers it for the CPU and JIT-compiles it.
//
//===----------------------------------------------------------------------===//

#include "fp4/Tools/RunJIT.h"
#include "fp4/Tools/JIT.h"
#include "fp4/Tools/ToolSetup.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

namespace {
/// What the compiled entry point needs alive: the context, the module and
/// the engine. One compilation per process. Never destroyed: at exit, its
/// destructors would run after those of LLVM's own statics.
struct Session {
  std::unique_ptr<MLIRContext> context;
  OwningOpRef<ModuleOp> module;
  std::unique_ptr<ExecutionEngine> engine;
  std::string signature, error;
};
Session &session() {
  static Session *instance = new Session;
  return *instance;
}

int failWith(const std::string &message, const char **error) {
  session().error = message;
  *error = session().error.c_str();
  return 1;
}
} // namespace

extern "C" int fp4_run_jit_compile(const char *file, const char *entry,
                                   const char *quantizeOptions, void **function,
                                   const char **signature, const char **error) {
  mlir::fp4::registerAllFP4Passes();
  Session &s = session();
  DialectRegistry registry;
  mlir::fp4::registerAllFP4Dialects(registry);
  s.context = std::make_unique<MLIRContext>(registry);
  s.context->loadAllAvailableDialects();

  llvm::SourceMgr sourceMgr;
  s.module = parseSourceFile<ModuleOp>(file, sourceMgr, s.context.get());
  if (!s.module)
    return failWith("cannot parse '" + std::string(file) + "'", error);
  auto func = s.module->lookupSymbol<func::FuncOp>(entry);
  if (!func)
    return failWith("no function '" + std::string(entry) + "' in " + file,
                    error);
  std::vector<mlir::fp4::TensorSpec> args, results;
  if (std::string message = mlir::fp4::entrySpecs(func, args, results);
      !message.empty())
    return failWith(message, error);
  s.signature = mlir::fp4::formatSignature(func.getFunctionType());

  std::string lowerError;
  if (failed(mlir::fp4::lowerForCPU(*s.module, quantizeOptions != nullptr,
                                    quantizeOptions ? quantizeOptions : "",
                                    lowerError)))
    return failWith(std::string(file) + ": " + lowerError, error);
  auto engine = mlir::fp4::jitForHost(*s.module, entry);
  if (!engine)
    return failWith("JIT compilation failed: " +
                        llvm::toString(engine.takeError()),
                    error);
  s.engine = std::move(*engine);
  auto address = s.engine->lookup("_mlir_ciface_" + std::string(entry));
  if (!address)
    return failWith("JIT compilation failed: " +
                        llvm::toString(address.takeError()),
                    error);
  *function = *address;
  *signature = s.signature.c_str();
  return 0;
}
