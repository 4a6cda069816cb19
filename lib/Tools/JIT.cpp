//===- JIT.cpp - call compiled modules on .npy arrays ---------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Tools/JIT.h"
#include "fp4/Runtime/CPURuntime.h"
#include "fp4/Tools/ToolSetup.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Object/ELFObjectFile.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <utility>
#include <vector>

using namespace mlir;
using namespace mlir::fp4;

std::optional<TensorSpec> mlir::fp4::tensorSpecOf(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return std::nullopt;
  const char *name = boundaryTypeName(tensor.getElementType());
  std::optional<::fp4::DType> dtype =
      name ? dtypeNamed(name) : std::optional<::fp4::DType>();
  if (!dtype)
    return std::nullopt;
  std::string text;
  llvm::raw_string_ostream os(text);
  os << tensor;
  return TensorSpec{*dtype,
                    {tensor.getShape().begin(), tensor.getShape().end()},
                    text};
}

std::string mlir::fp4::entrySpecs(func::FuncOp func,
                                  std::vector<TensorSpec> &args,
                                  std::vector<TensorSpec> &results) {
  const char *kinds = "a statically shaped tensor of f32, f16, bf16, "
                      "i64/i32/i8 or 8-bit floats (as uint8)";
  for (auto [i, t] : llvm::enumerate(func.getFunctionType().getInputs())) {
    std::optional<TensorSpec> spec = tensorSpecOf(t);
    if (!spec)
      return "argument " + std::to_string(i) + " of '" +
             func.getSymName().str() + "' is not " + kinds;
    args.push_back(*spec);
  }
  for (auto [i, t] : llvm::enumerate(func.getFunctionType().getResults())) {
    std::optional<TensorSpec> spec = tensorSpecOf(t);
    if (!spec)
      return "result " + std::to_string(i) + " of '" +
             func.getSymName().str() + "' is not " + kinds;
    results.push_back(*spec);
  }
  return "";
}

/// The functions MLIR's C runner utilities export (memrefCopy and the
/// like, which lowerings outside fp4's may call), by name. The library is
/// opened RTLD_LOCAL here instead of through ExecutionEngine's
/// sharedLibPaths, which opens it RTLD_GLOBAL: it depends on libMLIR and
/// libLLVM, and in the global scope those would capture the LLVM symbols of
/// any LLVM loaded later in the same process (torch-mlir's, in Python),
/// which then aborts on its command-line options "registered more than
/// once". Loaded once; empty if the library is missing.
static const std::vector<std::pair<std::string, void *>> &cRunnerUtilities() {
  static const auto *functions = [] {
    auto *found = new std::vector<std::pair<std::string, void *>>;
    void *handle = dlopen(FP4_MLIR_C_RUNNER_UTILS, RTLD_NOW | RTLD_LOCAL);
    auto object =
        llvm::object::ObjectFile::createObjectFile(FP4_MLIR_C_RUNNER_UTILS);
    if (!handle || !object) {
      llvm::consumeError(object.takeError());
      return found;
    }
    auto *elf = dyn_cast<llvm::object::ELFObjectFileBase>(object->getBinary());
    if (!elf)
      return found;
    for (const llvm::object::ELFSymbolRef &symbol :
         elf->getDynamicSymbolIterators()) {
      llvm::Expected<uint32_t> flags = symbol.getFlags();
      llvm::Expected<llvm::StringRef> name = symbol.getName();
      if (!flags || !name) {
        llvm::consumeError(flags.takeError());
        llvm::consumeError(name.takeError());
        continue;
      }
      // Defined, exported functions only (not the imports).
      if (symbol.getELFType() != llvm::ELF::STT_FUNC ||
          (*flags & llvm::object::SymbolRef::SF_Undefined) ||
          !(*flags & llvm::object::SymbolRef::SF_Global) || name->empty())
        continue;
      if (void *address = dlsym(handle, name->str().c_str()))
        found->push_back({name->str(), address});
    }
    return found;
  }();
  return *functions;
}

llvm::Expected<std::unique_ptr<ExecutionEngine>>
mlir::fp4::jitForHost(ModuleOp lowered, StringRef entry) {
  initializeNativeTarget();
  // Optimize for this host: without a target machine LLVM's vectorizer
  // has no cost model for the CPU and leaves the matmul loops narrow.
  auto hostBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!hostBuilder)
    return hostBuilder.takeError();
  hostBuilder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Default);
  auto host = hostBuilder->createTargetMachine();
  if (!host)
    return host.takeError();
  // ExecutionEngineOptions::transformer is a function_ref: keep the
  // function it refers to alive for the whole create().
  std::function<llvm::Error(llvm::Module *)> optimize =
      makeOptimizingTransformer(kLLVMOptLevel, 0, host->get());
  ExecutionEngineOptions options;
  options.transformer = optimize;
  options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Default;
  auto engine = ExecutionEngine::create(lowered, options);
  if (!engine)
    return engine.takeError();
  // Run-time quantization and observers call the runtime linked into this
  // tool.
  (*engine)->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap symbols;
    auto add = [&](const char *name, void *address) {
      symbols[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                 llvm::JITSymbolFlags::Exported};
    };
    add("_mlir_ciface_fp4rt_quantize_byte_scales",
        reinterpret_cast<void *>(&_mlir_ciface_fp4rt_quantize_byte_scales));
    add("_mlir_ciface_fp4rt_quantize_f32_scales",
        reinterpret_cast<void *>(&_mlir_ciface_fp4rt_quantize_f32_scales));
    add("_mlir_ciface_fp4rt_observe",
        reinterpret_cast<void *>(&_mlir_ciface_fp4rt_observe));
    // Lowerings outside fp4's may still call MLIR's C runner utilities.
    for (const auto &[name, address] : cRunnerUtilities())
      add(name.c_str(), address);
    return symbols;
  });
  // Looking the entry up materializes (compiles) the code.
  if (auto entryPoint = (*engine)->lookupPacked(("_mlir_ciface_" + entry).str());
      !entryPoint)
    return entryPoint.takeError();
  return std::move(*engine);
}

llvm::Error mlir::fp4::invokeEntry(ExecutionEngine &engine, StringRef entry,
                                   ArrayRef<const ::fp4::NdArray *> arguments,
                                   ArrayRef<TensorSpec> resultSpecs,
                                   std::vector<int64_t> &resultBuffer) {
  auto function = engine.lookup(("_mlir_ciface_" + entry).str());
  if (!function)
    return function.takeError();
  std::string error;
  if (!::fp4::callOnArrays(*function, arguments.vec(), resultSpecs.vec(),
                           resultBuffer, error))
    return llvm::createStringError(error);
  return llvm::Error::success();
}
