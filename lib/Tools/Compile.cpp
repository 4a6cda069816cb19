//===- Compile.cpp - fp4-compile's driver as a library --------------------===//
//
// Part of fp4-mlir.
//
// A whole program becomes a shared library that exports, for every public
// function @f of the module, the C entry point
//
//   void _mlir_ciface_f(Results *out, Memref_0 *arg0, Memref_1 *arg1, ...);
//
// where each Memref_r is MLIR's ranked memref descriptor
// { T *allocated, T *aligned, int64_t offset, int64_t sizes[r],
//   int64_t strides[r] } and `out` points to one such descriptor (one
// result) or to a struct of them (several results); docs/runtime.md.
//
//===----------------------------------------------------------------------===//

#include "fp4/Tools/Compile.h"
#include "fp4/Conversion/Passes.h"
#include "fp4/Tools/ToolSetup.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::fp4;

namespace {

/// One compilation: the options, and the first error met.
class Compiler {
public:
  Compiler(const CompileOptions &options, const std::string &outputFile,
           std::string &error)
      : options(options), outputFile(outputFile), error(error) {}

  LogicalResult run(ModuleOp module);

private:
  LogicalResult fail(const llvm::Twine &message) {
    error = message.str();
    return failure();
  }
  bool gpu() const { return options.target != "cpu"; }
  std::string findPtxas() const;
  FailureOr<std::string> assembleCubin(llvm::StringRef ptx);
  LogicalResult compileKernels(ModuleOp module, bool embedCubins);
  LogicalResult writeText(llvm::StringRef text, bool binary);
  LogicalResult emitProgram(ModuleOp module);

  const CompileOptions &options;
  const std::string &outputFile;
  std::string &error;
};

/// ptxas: $FP4_PTXAS, else on PATH, else the CUDA toolkit's default place.
std::string Compiler::findPtxas() const {
  if (const char *env = std::getenv("FP4_PTXAS"))
    return env;
  if (llvm::ErrorOr<std::string> found = llvm::sys::findProgramByName("ptxas"))
    return *found;
  if (llvm::sys::fs::exists("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  return "";
}

/// ptxas -arch=<target> on `ptx`: the cubin's bytes.
FailureOr<std::string> Compiler::assembleCubin(llvm::StringRef ptx) {
  std::string ptxas = findPtxas();
  if (ptxas.empty())
    return fail("a cubin (--emit=cubin|so|obj|llvm for " + options.target +
                ") needs ptxas (CUDA 12.8 or later for sm_100a / sm_120a); "
                "put it on PATH or set FP4_PTXAS, or use --emit=ptx");
  llvm::SmallString<128> ptxFile, cubinFile;
  if (llvm::sys::fs::createTemporaryFile("fp4-compile", "ptx", ptxFile) ||
      llvm::sys::fs::createTemporaryFile("fp4-compile", "cubin", cubinFile))
    return fail("cannot create a temporary file");
  std::error_code ec;
  {
    llvm::raw_fd_ostream ptxOut(ptxFile, ec);
    ptxOut << ptx;
  }
  std::string arch = "-arch=" + options.target;
  llvm::SmallVector<llvm::StringRef> args = {ptxas, arch, ptxFile, "-o",
                                             cubinFile};
  std::string message;
  int rc =
      llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, {}, 0, 0, &message);
  llvm::sys::fs::remove(ptxFile);
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> cubin =
      llvm::MemoryBuffer::getFile(cubinFile);
  llvm::sys::fs::remove(cubinFile);
  if (rc != 0 || !cubin)
    return fail("ptxas rejected the " + options.target + " PTX (exit " +
                llvm::Twine(rc) + (message.empty() ? "" : ", " + message) +
                ")");
  return (*cubin)->getBuffer().str();
}

LogicalResult Compiler::writeText(llvm::StringRef text, bool binary) {
  std::error_code ec;
  llvm::ToolOutputFile out(
      outputFile, ec, binary ? llvm::sys::fs::OF_None : llvm::sys::fs::OF_Text);
  if (ec)
    return fail(outputFile + ": " + ec.message());
  out.os() << text;
  out.keep();
  return success();
}

/// The device side of the GPU path: fp4-lower-to-nvvm, then
/// gpu-module-to-binary. With `embedCubins`, each gpu.binary's PTX is
/// replaced by the cubin ptxas makes of it (so the host code loads it with
/// mgpuModuleLoad, no JIT on the device); else the PTX, cubin or MLIR of the
/// kernels is written out (--emit=ptx|cubin|mlir).
LogicalResult Compiler::compileKernels(ModuleOp module, bool embedCubins) {
  PassManager pm(module.getContext());
  if (options.quantize &&
      failed(parsePassPipeline(
          "fp4-quantize-pipeline{" + options.quantizeOptions + "}", pm)))
    return fail("bad quantize options '" + options.quantizeOptions + "'");
  // A whole program keeps on the CPU what the kernels cannot take.
  buildLowerToNVVMPipeline(pm, options.target, /*cpuFallback=*/embedCubins,
                           options.residentWeights);
  if (options.emit != "mlir" &&
      failed(parsePassPipeline("gpu-module-to-binary{format=isa}", pm)))
    return fail("gpu-module-to-binary is not registered");
  if (failed(pm.run(module)))
    return fail(options.sourceName + ": lowering for " + options.target +
                " failed (see the errors above)");
  MLIRContext *ctx = module.getContext();
  if (embedCubins) {
    SmallVector<gpu::BinaryOp> binaries(module.getOps<gpu::BinaryOp>());
    for (gpu::BinaryOp binary : binaries) {
      SmallVector<Attribute> objects;
      for (Attribute attr : binary.getObjects()) {
        auto object = cast<gpu::ObjectAttr>(attr);
        FailureOr<std::string> cubin =
            assembleCubin(object.getObject().getValue());
        if (failed(cubin))
          return failure();
        objects.push_back(gpu::ObjectAttr::get(
            ctx, object.getTarget(), gpu::CompilationTarget::Binary,
            StringAttr::get(ctx, *cubin), object.getProperties(),
            object.getKernels()));
      }
      binary.setObjectsAttr(ArrayAttr::get(ctx, objects));
    }
    return success();
  }
  std::string text;
  if (options.emit == "mlir") {
    llvm::raw_string_ostream os(text);
    module.print(os);
    return writeText(text, /*binary=*/false);
  }
  module.walk([&](gpu::BinaryOp binary) {
    for (Attribute object : binary.getObjects())
      text += cast<gpu::ObjectAttr>(object).getObject().getValue().str();
  });
  if (text.empty())
    return fail(options.sourceName + ": no fp4.scaled_matmul to compile for " +
                options.target);
  if (options.emit == "cubin") {
    FailureOr<std::string> cubin = assembleCubin(text);
    if (failed(cubin))
      return failure();
    text = std::move(*cubin);
  }
  return writeText(text, options.emit == "cubin");
}

/// Whether the host code only copies `value` to the device: every use views
/// it (bufferization.to_buffer, memref shape casts) or is the source of a
/// gpu.memcpy. The host code then never reads it, so a caller may pass
/// device memory for it.
bool onlyCopiedToDevice(Value value) {
  for (OpOperand &use : value.getUses()) {
    Operation *user = use.getOwner();
    if (isa<bufferization::ToBufferOp, memref::CollapseShapeOp,
            memref::ExpandShapeOp, memref::CastOp>(user)) {
      if (!onlyCopiedToDevice(user->getResult(0)))
        return false;
      continue;
    }
    auto copy = dyn_cast<gpu::MemcpyOp>(user);
    if (!copy || &use != &copy.getSrcMutable())
      return false;
  }
  return true;
}

/// One character per argument of a host function after convert-fp4-to-nvvm:
/// '1' where the argument may be device memory (onlyCopiedToDevice, and
/// used), else '0'. Recorded as `__fp4_device_args_<name>` (docs/runtime.md).
std::string deviceArguments(func::FuncOp func) {
  std::string flags;
  for (BlockArgument argument : func.getArguments())
    flags += !argument.use_empty() && onlyCopiedToDevice(argument) ? '1' : '0';
  return flags;
}

/// The lowered whole program to LLVM IR, an object file or a shared
/// library.
LogicalResult Compiler::emitProgram(ModuleOp module) {
  // Signatures of the public functions, for fp4-run on the library.
  std::vector<std::pair<std::string, std::string>> signatures;
  for (auto func : module.getOps<func::FuncOp>())
    if (func.isPublic() && !func.isExternal())
      signatures.push_back(
          {func.getSymName().str(), formatSignature(func.getFunctionType())});
  if (gpu() && failed(compileKernels(module, /*embedCubins=*/true)))
    return failure();
  // Which arguments a GPU program's functions only copy to the device.
  std::vector<std::pair<std::string, std::string>> deviceArgs;
  if (gpu())
    for (auto func : module.getOps<func::FuncOp>())
      if (func.isPublic() && !func.isExternal())
        deviceArgs.push_back({func.getSymName().str(), deviceArguments(func)});
  std::string lowerError;
  if (failed(lowerForCPU(module, !gpu() && options.quantize,
                         options.quantizeOptions, lowerError,
                         /*gpuLaunches=*/gpu())))
    return fail(options.sourceName + ": " + lowerError);
  if (options.emit == "mlir") {
    std::string text;
    llvm::raw_string_ostream os(text);
    module.print(os);
    return writeText(text, /*binary=*/false);
  }

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return fail("translation to LLVM IR failed");
  auto addString = [&](const std::string &symbol, const std::string &value) {
    llvm::Constant *text =
        llvm::ConstantDataArray::getString(llvmContext, value);
    new llvm::GlobalVariable(*llvmModule, text->getType(), /*isConstant=*/true,
                             llvm::GlobalValue::ExternalLinkage, text, symbol);
  };
  for (auto &[name, signature] : signatures)
    if (!signature.empty())
      addString("__fp4_signature_" + name, signature);
  for (auto &[name, flags] : deviceArgs)
    addString("__fp4_device_args_" + name, flags);
  std::string tripleText = llvm::sys::getProcessTriple(), message;
  llvm::Triple triple(tripleText);
  const llvm::Target *llvmTarget =
      llvm::TargetRegistry::lookupTarget(triple, message);
  if (!llvmTarget)
    return fail("no LLVM target for " + tripleText + ": " + message);
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      triple, "generic", "", llvm::TargetOptions(), llvm::Reloc::PIC_));
  llvmModule->setTargetTriple(triple);
  llvmModule->setDataLayout(machine->createDataLayout());
  if (llvm::Error err = makeOptimizingTransformer(
          kLLVMOptLevel, 0, machine.get())(llvmModule.get()))
    return fail("LLVM optimization failed: " + llvm::toString(std::move(err)));

  std::error_code ec;
  if (options.emit == "llvm") {
    std::string text;
    llvm::raw_string_ostream os(text);
    llvmModule->print(os, nullptr);
    return writeText(text, /*binary=*/false);
  }

  std::string objectFile =
      options.emit == "obj" ? outputFile : outputFile + ".o";
  {
    llvm::ToolOutputFile out(objectFile, ec, llvm::sys::fs::OF_None);
    if (ec)
      return fail(objectFile + ": " + ec.message());
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, out.os(), nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      return fail("the target cannot emit object files");
    codegen.run(*llvmModule);
    out.keep();
  }
  if (options.emit == "obj")
    return success();

  // Link: the runtime archives (PIC), MLIR's C runner utilities (memref
  // copies; dropped where unused), libstdc++ for the runtime. A GPU program
  // adds the GPU runtime and the CUDA driver (libcuda.so.1 where it runs).
  std::string command = "c++ -shared -o '" + outputFile + "' '" + objectFile +
                        "' " + FP4_RUNTIME_ARCHIVES + " -L" +
                        FP4_MLIR_LIBRARY_DIR +
                        " -Wl,--as-needed"
                        " -lmlir_c_runner_utils -Wl,-rpath," +
                        FP4_MLIR_LIBRARY_DIR + " -lpthread";
#ifdef FP4_GPU_RUNTIME_ARCHIVE
  if (gpu())
    command += std::string(" ") + FP4_GPU_RUNTIME_ARCHIVE + " -L" +
               FP4_CUDA_DRIVER_DIR + " -lcuda";
#endif
  int status = std::system(command.c_str());
  llvm::sys::fs::remove(objectFile);
  if (status != 0)
    return fail("linking failed: " + command);
  return success();
}

LogicalResult Compiler::run(ModuleOp module) {
  initializeNativeTarget();
  // A GPU target's ptx, cubin or mlir is its kernels alone; so, obj and
  // llvm are the whole program: host code on the CPU that launches them.
  const std::string &emit = options.emit;
  bool kernelsOnly =
      gpu() && (emit == "ptx" || emit == "cubin" || emit == "mlir");
  if (emit != "so" && emit != "obj" && emit != "llvm" && emit != "mlir" &&
      !kernelsOnly)
    return fail("--emit expects so, obj, llvm or mlir" +
                std::string(gpu() ? ", or for a GPU target ptx or cubin" : "") +
                ", got '" + emit + "'");
#ifndef FP4_GPU_RUNTIME_ARCHIVE
  if (gpu() && emit == "so")
    return fail("--target=" + options.target +
                " --emit=so links the GPU runtime, which this build lacks (no "
                "CUDA toolkit when it was configured); use "
                "--emit=ptx|cubin|obj");
#endif
  if (kernelsOnly)
    return compileKernels(module, /*embedCubins=*/false);
  return emitProgram(module);
}

} // namespace

LogicalResult mlir::fp4::compileModule(ModuleOp module,
                                       const CompileOptions &options,
                                       const std::string &outputFile,
                                       std::string &error) {
  return Compiler(options, outputFile, error).run(module);
}
