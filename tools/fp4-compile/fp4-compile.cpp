//===- fp4-compile.cpp - compile a module into a runnable artifact --------===//
//
// Part of fp4-mlir.
//
//   fp4-compile model.mlir --target=cpu [--quantize OPTIONS] -o model.so
//   fp4-compile model.mlir --emit=mlir|llvm|obj -o OUT
//   fp4-compile model.mlir --target=sm_100a|sm_120a|sm_90a
//   --emit=ptx|cubin|mlir -o OUT fp4-compile model.mlir --target=sm_90a
//   [--quantize OPTIONS] -o model.so
//
// The work is mlir::fp4::compileModule (lib/Tools/Compile.cpp), which the
// Python package calls too; this is its command line.
//
//===----------------------------------------------------------------------===//

#include "fp4/Tools/Compile.h"
#include "fp4/Tools/ToolSetup.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<module.mlir>"),
                                      cl::Required);
static cl::opt<std::string> outputFile("o", cl::desc("Output file"),
                                       cl::Required);
static cl::opt<std::string> target("target", cl::desc("cpu, or a GPU chip: sm_100a, sm_120a, sm_90a"),
                                   cl::init("cpu"));
static cl::opt<std::string> emit("emit", cl::desc("so (default), obj, llvm or mlir; for a GPU target also ptx or cubin (its kernels alone; mlir is then the kernels' NVVM)"),
                                 cl::init("so"));
static cl::opt<std::string> quantize(
    "quantize", cl::desc("Run fp4-quantize-pipeline first with these options"),
    cl::init(""));
static cl::opt<bool> residentWeights(
    "resident-weights",
    cl::desc("GPU targets: keep the weights on the device after the first "
             "call (default); =false copies them on every call"),
    cl::init(true));
static cl::opt<bool> quantizeDefault(
    "quantize-default", cl::desc("Run fp4-quantize-pipeline with its defaults first"),
    cl::init(false));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::fp4::registerAllFP4Passes();
  cl::ParseCommandLineOptions(argc, argv, "fp4-mlir compile driver\n");

  DialectRegistry registry;
  mlir::fp4::registerAllFP4Dialects(registry);
  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  // Located errors and remarks (layers kept in float, matmuls left on the
  // CPU by a GPU target) on stderr.
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  auto fail = [](const std::string &message) {
    llvm::errs() << "fp4-compile: error: " << message << "\n";
    return 1;
  };
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(inputFile, sourceMgr, &context);
  if (!module)
    return fail("cannot parse '" + inputFile + "'");

  mlir::fp4::CompileOptions options;
  options.target = target;
  options.emit = emit;
  options.quantize = quantizeDefault || !quantize.empty();
  options.quantizeOptions = quantize;
  options.residentWeights = residentWeights;
  options.sourceName = inputFile;
  std::string error;
  if (failed(mlir::fp4::compileModule(*module, options, outputFile, error)))
    return fail(error);
  return 0;
}
