//===- fp4-compile.cpp - compile a module into a runnable artifact --------===//
//
// Part of fp4-mlir.
//
//   fp4-compile model.mlir --target=cpu [--quantize OPTIONS] -o model.so
//   fp4-compile model.mlir --emit=mlir|llvm|obj -o OUT
//   fp4-compile model.mlir --target=sm_100a|sm_120a|sm_90a --emit=ptx|cubin|mlir -o OUT
//   fp4-compile model.mlir --target=sm_90a [--quantize OPTIONS] -o model.so
//
// The shared library exports, for every public function @f of the module,
// the C entry point
//
//   void _mlir_ciface_f(Results *out, Memref_0 *arg0, Memref_1 *arg1, ...);
//
// where each Memref_r is MLIR's ranked memref descriptor
// { T *allocated, T *aligned, int64_t offset, int64_t sizes[r],
//   int64_t strides[r] } and `out` points to one such descriptor (one
// result) or to a struct of them (several results); docs/runtime.md.
//
//===----------------------------------------------------------------------===//

#include "fp4/Conversion/Passes.h"
#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "fp4/Tools/ToolSetup.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

#include <cstdlib>

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

[[noreturn]] static void fail(const llvm::Twine &message) {
  llvm::errs() << "fp4-compile: error: " << message << "\n";
  std::exit(1);
}

/// ptxas: $FP4_PTXAS, else on PATH, else the CUDA toolkit's default place.
static std::string findPtxas() {
  if (const char *env = std::getenv("FP4_PTXAS"))
    return env;
  if (llvm::ErrorOr<std::string> found = llvm::sys::findProgramByName("ptxas"))
    return *found;
  if (llvm::sys::fs::exists("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  return "";
}

/// ptxas -arch=<target> on `ptx`: the cubin's bytes.
static std::string assembleCubin(llvm::StringRef ptx) {
  std::string ptxas = findPtxas();
  if (ptxas.empty())
    fail("a cubin (--emit=cubin|so|obj|llvm for " + target +
         ") needs ptxas (CUDA 12.8 or later for sm_100a / sm_120a); put it "
         "on PATH or set FP4_PTXAS, or use --emit=ptx");
  llvm::SmallString<128> ptxFile, cubinFile;
  if (llvm::sys::fs::createTemporaryFile("fp4-compile", "ptx", ptxFile) ||
      llvm::sys::fs::createTemporaryFile("fp4-compile", "cubin", cubinFile))
    fail("cannot create a temporary file");
  std::error_code ec;
  {
    llvm::raw_fd_ostream ptxOut(ptxFile, ec);
    ptxOut << ptx;
  }
  std::string arch = "-arch=" + target.getValue();
  llvm::SmallVector<llvm::StringRef> args = {ptxas, arch, ptxFile, "-o",
                                             cubinFile};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, {}, 0, 0,
                                     &message);
  llvm::sys::fs::remove(ptxFile);
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> cubin =
      llvm::MemoryBuffer::getFile(cubinFile);
  llvm::sys::fs::remove(cubinFile);
  if (rc != 0 || !cubin)
    fail("ptxas rejected the " + target + " PTX (exit " + llvm::Twine(rc) +
         (message.empty() ? "" : ", " + message) + ")");
  return (*cubin)->getBuffer().str();
}

/// The device side of the GPU path: fp4-lower-to-nvvm, then
/// gpu-module-to-binary. With `embedCubins`, each gpu.binary's PTX is
/// replaced by the cubin ptxas makes of it (so the host code loads it with
/// mgpuModuleLoad, no JIT on the device); else the PTX, cubin or MLIR of the
/// kernels is written out (--emit=ptx|cubin|mlir).
static void compileKernels(ModuleOp module, bool embedCubins) {
  PassManager pm(module.getContext());
  if (quantizeDefault || !quantize.empty())
    if (failed(parsePassPipeline(
            "fp4-quantize-pipeline{" + quantize.getValue() + "}", pm)))
      fail("bad --quantize options '" + quantize + "'");
  // A whole program keeps on the CPU what the kernels cannot take.
  mlir::fp4::buildLowerToNVVMPipeline(pm, target, /*cpuFallback=*/embedCubins,
                                      residentWeights);
  if (emit != "mlir" &&
      failed(parsePassPipeline("gpu-module-to-binary{format=isa}", pm)))
    fail("gpu-module-to-binary is not registered");
  if (failed(pm.run(module)))
    fail(inputFile + ": lowering for " + target +
         " failed (see the errors above)");
  std::string text;
  if (embedCubins) {
    module.walk([&](gpu::BinaryOp binary) {
      SmallVector<Attribute> objects;
      for (Attribute attr : binary.getObjects()) {
        auto object = cast<gpu::ObjectAttr>(attr);
        std::string cubin = assembleCubin(object.getObject().getValue());
        objects.push_back(gpu::ObjectAttr::get(
            module.getContext(), object.getTarget(),
            gpu::CompilationTarget::Binary,
            StringAttr::get(module.getContext(), cubin),
            object.getProperties(), object.getKernels()));
      }
      binary.setObjectsAttr(ArrayAttr::get(module.getContext(), objects));
    });
    return;
  }
  if (emit == "mlir") {
    llvm::raw_string_ostream os(text);
    module.print(os);
  } else {
    module.walk([&](gpu::BinaryOp binary) {
      for (Attribute object : binary.getObjects())
        text += cast<gpu::ObjectAttr>(object).getObject().getValue().str();
    });
    if (text.empty())
      fail(inputFile + ": no fp4.scaled_matmul to compile for " + target);
  }
  if (emit == "cubin")
    text = assembleCubin(text);
  std::error_code ec;
  llvm::ToolOutputFile out(outputFile, ec, llvm::sys::fs::OF_None);
  if (ec)
    fail(outputFile + ": " + ec.message());
  out.os() << text;
  out.keep();
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  mlir::fp4::registerAllFP4Passes();
  cl::ParseCommandLineOptions(argc, argv, "fp4-mlir compile driver\n");

  bool gpu = target != "cpu";
  // A GPU target's ptx, cubin or mlir is its kernels alone; so, obj and
  // llvm are the whole program: host code on the CPU that launches them.
  bool kernelsOnly =
      gpu && (emit == "ptx" || emit == "cubin" || emit == "mlir");
  if (emit != "so" && emit != "obj" && emit != "llvm" && emit != "mlir" &&
      !kernelsOnly)
    fail("--emit expects so, obj, llvm or mlir" +
         std::string(gpu ? ", or for a GPU target ptx or cubin" : "") +
         ", got '" + emit + "'");
#ifndef FP4_GPU_RUNTIME_ARCHIVE
  if (gpu && emit == "so")
    fail("--target=" + target + " --emit=so links the GPU runtime, which "
         "this build lacks (no CUDA toolkit when it was configured); use "
         "--emit=ptx|cubin|obj");
#endif

  DialectRegistry registry;
  mlir::fp4::registerAllFP4Dialects(registry);
  MLIRContext context(registry);

  llvm::SourceMgr sourceMgr;
  // Located errors and remarks (layers kept in float, matmuls left on the
  // CPU by a GPU target) on stderr.
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(inputFile, sourceMgr, &context);
  if (!module)
    fail("cannot parse '" + inputFile + "'");
  if (kernelsOnly) {
    compileKernels(*module, /*embedCubins=*/false);
    return 0;
  }
  // Signatures of the public functions, for fp4-run on the library.
  std::vector<std::pair<std::string, std::string>> signatures;
  for (auto func : module->getOps<func::FuncOp>())
    if (func.isPublic() && !func.isExternal())
      signatures.push_back({func.getSymName().str(),
                            mlir::fp4::formatSignature(func.getFunctionType())});
  std::string lowerError;
  if (gpu)
    compileKernels(*module, /*embedCubins=*/true);
  if (failed(mlir::fp4::lowerForCPU(
          *module, !gpu && (quantizeDefault || !quantize.empty()), quantize,
          lowerError, /*gpuLaunches=*/gpu)))
    fail(inputFile + ": " + lowerError);

  std::error_code ec;
  if (emit == "mlir") {
    llvm::ToolOutputFile out(outputFile, ec, llvm::sys::fs::OF_Text);
    if (ec)
      fail(outputFile + ": " + ec.message());
    module->print(out.os());
    out.keep();
    return 0;
  }

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext);
  if (!llvmModule)
    fail("translation to LLVM IR failed");
  for (auto &[name, signature] : signatures) {
    if (signature.empty())
      continue;
    llvm::Constant *text =
        llvm::ConstantDataArray::getString(llvmContext, signature);
    new llvm::GlobalVariable(*llvmModule, text->getType(), /*isConstant=*/true,
                             llvm::GlobalValue::ExternalLinkage, text,
                             "__fp4_signature_" + name);
  }
  std::string tripleText = llvm::sys::getProcessTriple(), error;
  llvm::Triple triple(tripleText);
  const llvm::Target *llvmTarget = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!llvmTarget)
    fail("no LLVM target for " + tripleText + ": " + error);
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      triple, "generic", "", llvm::TargetOptions(), llvm::Reloc::PIC_));
  llvmModule->setTargetTriple(triple);
  llvmModule->setDataLayout(machine->createDataLayout());
  if (llvm::Error err = makeOptimizingTransformer(
          mlir::fp4::kLLVMOptLevel, 0, machine.get())(llvmModule.get()))
    fail("LLVM optimization failed: " + llvm::toString(std::move(err)));

  if (emit == "llvm") {
    llvm::ToolOutputFile out(outputFile, ec, llvm::sys::fs::OF_Text);
    if (ec)
      fail(outputFile + ": " + ec.message());
    llvmModule->print(out.os(), nullptr);
    out.keep();
    return 0;
  }

  std::string objectFile = emit == "obj" ? outputFile.getValue() : outputFile + ".o";
  {
    llvm::ToolOutputFile out(objectFile, ec, llvm::sys::fs::OF_None);
    if (ec)
      fail(objectFile + ": " + ec.message());
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, out.os(), nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      fail("the target cannot emit object files");
    codegen.run(*llvmModule);
    out.keep();
  }
  if (emit == "obj")
    return 0;

  // Link: the runtime archives (PIC), MLIR's C runner utilities (memref
  // copies; dropped where unused), libstdc++ for the runtime. A GPU program
  // adds the GPU runtime and the CUDA driver (libcuda.so.1 where it runs).
  std::string command = "c++ -shared -o '" + outputFile.getValue() + "' '" +
                        objectFile + "' " + FP4_RUNTIME_ARCHIVES + " -L" +
                        FP4_MLIR_LIBRARY_DIR + " -Wl,--as-needed"
                        " -lmlir_c_runner_utils -Wl,-rpath," +
                        FP4_MLIR_LIBRARY_DIR + " -lpthread";
#ifdef FP4_GPU_RUNTIME_ARCHIVE
  if (gpu)
    command += std::string(" ") + FP4_GPU_RUNTIME_ARCHIVE + " -L" +
               FP4_CUDA_DRIVER_DIR + " -lcuda";
#endif
  int status = std::system(command.c_str());
  llvm::sys::fs::remove(objectFile);
  if (status != 0)
    fail("linking failed: " + command);
  return 0;
}
