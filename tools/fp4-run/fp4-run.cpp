//===- fp4-run.cpp - run a module on the CPU through the JIT --------------===//
//
// Part of fp4-mlir.
//
//   fp4-run model.mlir --entry forward --input x.npy [--input ...]
//           [--output y.npy ...] [--quantize PIPELINE-OPTIONS] [--repeat N]
//   fp4-run model.so   --entry forward --input x.npy ...
//
// A module is lowered with fp4-lower-to-cpu (after fp4-quantize-pipeline
// when --quantize is given) and JIT-compiled; a library from fp4-compile is
// loaded, its signature read from `__fp4_signature_<entry>`. Either way the
// entry function is called on the .npy inputs and each result written to an
// .npy file, with timing lines.
//
//===----------------------------------------------------------------------===//

#include "fp4/Conversion/Passes.h"
#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "fp4/Runtime/CPURuntime.h"
#include "fp4/Tools/JIT.h"
#include "fp4/Tools/ToolSetup.h"
#include "fp4/Support/Npy.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"

#include "llvm/ADT/StringSwitch.h"

#include <chrono>
#include <dlfcn.h>

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> inputFile(cl::Positional,
                                      cl::desc("<module.mlir or library.so>"),
                                      cl::Required);
static cl::opt<std::string> entry("entry", cl::desc("Function to call"),
                                  cl::init("forward"));
static cl::list<std::string> inputs("input", cl::desc("An argument (.npy), in order"));
static cl::list<std::string> outputs("output", cl::desc("Where to write each result (.npy)"));
static cl::opt<std::string> quantize(
    "quantize",
    cl::desc("Run fp4-quantize-pipeline first, with these options "
             "(e.g. 'preset=nvfp4-weight-only')"),
    cl::init(""));
static cl::opt<bool> quantizeDefault("quantize-default",
                                     cl::desc("Run fp4-quantize-pipeline with its defaults first"),
                                     cl::init(false));
static cl::opt<unsigned> repeat("repeat", cl::desc("Calls to time"), cl::init(1));

namespace {

[[noreturn]] void fail(const Twine &message) {
  llvm::errs() << "fp4-run: error: " << message << "\n";
  std::exit(1);
}

using Spec = mlir::fp4::TensorSpec;

/// Parses fp4-compile's "f32:1x8x64,i64:1x8->f32:1x8x96".
bool parseSignature(StringRef text, std::vector<Spec> &args,
                    std::vector<Spec> &results) {
  auto [in, out] = text.split("->");
  auto parseList = [](StringRef list, std::vector<Spec> &specs) {
    if (list.empty())
      return true;
    SmallVector<StringRef> items;
    list.split(items, ',');
    for (StringRef item : items) {
      auto [name, dims] = item.split(':');
      std::optional<::fp4::DType> dtype = mlir::fp4::dtypeNamed(name);
      if (!dtype)
        return false;
      Spec spec{*dtype, {}, item.str()};
      SmallVector<StringRef> parts;
      if (!dims.empty())
        dims.split(parts, 'x');
      for (StringRef part : parts) {
        int64_t dim;
        if (part.getAsInteger(10, dim))
          return false;
        spec.shape.push_back(dim);
      }
      specs.push_back(spec);
    }
    return true;
  };
  return parseList(in, args) && parseList(out, results);
}

/// Calls a C-interface entry point with its pointer arguments.
bool callEntry(void *function, ArrayRef<void *> pointers) {
  using P = void *;
  switch (pointers.size()) {
  case 1:
    reinterpret_cast<void (*)(P)>(function)(pointers[0]);
    return true;
  case 2:
    reinterpret_cast<void (*)(P, P)>(function)(pointers[0], pointers[1]);
    return true;
  case 3:
    reinterpret_cast<void (*)(P, P, P)>(function)(pointers[0], pointers[1],
                                                  pointers[2]);
    return true;
  case 4:
    reinterpret_cast<void (*)(P, P, P, P)>(function)(
        pointers[0], pointers[1], pointers[2], pointers[3]);
    return true;
  case 5:
    reinterpret_cast<void (*)(P, P, P, P, P)>(function)(
        pointers[0], pointers[1], pointers[2], pointers[3], pointers[4]);
    return true;
  case 6:
    reinterpret_cast<void (*)(P, P, P, P, P, P)>(function)(
        pointers[0], pointers[1], pointers[2], pointers[3], pointers[4],
        pointers[5]);
    return true;
  case 7:
    reinterpret_cast<void (*)(P, P, P, P, P, P, P)>(function)(
        pointers[0], pointers[1], pointers[2], pointers[3], pointers[4],
        pointers[5], pointers[6]);
    return true;
  case 8:
    reinterpret_cast<void (*)(P, P, P, P, P, P, P, P)>(function)(
        pointers[0], pointers[1], pointers[2], pointers[3], pointers[4],
        pointers[5], pointers[6], pointers[7]);
    return true;
  default:
    return false;
  }
}

double seconds(std::chrono::steady_clock::time_point a,
               std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  mlir::fp4::registerAllFP4Passes();
  cl::ParseCommandLineOptions(argc, argv, "fp4-mlir JIT runner\n");

  DialectRegistry registry;
  mlir::fp4::registerAllFP4Dialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  auto start = std::chrono::steady_clock::now();
  bool library = StringRef(inputFile).ends_with(".so");
  std::vector<Spec> argSpecs, resultSpecs;
  OwningOpRef<ModuleOp> module;
  std::unique_ptr<ExecutionEngine> engine;
  void *libraryEntry = nullptr;
  if (library) {
    if (quantizeDefault || !quantize.empty())
      fail("--quantize applies to .mlir inputs; " + inputFile +
           " is already compiled");
    void *handle = dlopen(inputFile.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      fail("cannot load '" + inputFile + "': " + dlerror());
    auto *signature = static_cast<const char *>(
        dlsym(handle, ("__fp4_signature_" + entry).c_str()));
    libraryEntry = dlsym(handle, ("_mlir_ciface_" + entry).c_str());
    if (!signature || !libraryEntry)
      fail("no function '" + entry + "' in " + inputFile +
           " (libraries from fp4-compile export _mlir_ciface_" + entry +
           " and its signature)");
    if (!parseSignature(signature, argSpecs, resultSpecs))
      fail(inputFile + ": malformed signature '" + signature + "'");
  } else {
    llvm::SourceMgr sourceMgr;
    module = parseSourceFile<ModuleOp>(inputFile, sourceMgr, &context);
    if (!module)
      fail("cannot parse '" + inputFile + "'");
    auto func = module->lookupSymbol<func::FuncOp>(entry);
    if (!func)
      fail("no function '" + entry + "' in " + inputFile);
    if (std::string error = mlir::fp4::entrySpecs(func, argSpecs, resultSpecs);
        !error.empty())
      fail(error);
  }
  if (argSpecs.size() != inputs.size())
    fail("'" + entry + "' takes " + Twine(argSpecs.size()) +
         " arguments, got " + Twine(inputs.size()) + " --input files");
  if (!outputs.empty() && outputs.size() != resultSpecs.size())
    fail("'" + entry + "' returns " + Twine(resultSpecs.size()) +
         " results, got " + Twine(outputs.size()) + " --output files");

  // Read and check every input against the signature.
  std::vector<::fp4::NdArray> arrays(inputs.size());
  for (auto [i, spec] : llvm::enumerate(argSpecs)) {
    std::string error;
    if (!::fp4::readNpy(inputs[i], arrays[i], error))
      fail(error);
    if (arrays[i].dtype != spec.dtype || arrays[i].shape != spec.shape)
      fail(inputs[i] + ": expected " + spec.text + " data, got " +
           ::fp4::dtypeName(arrays[i].dtype) + " of another shape or type");
  }
  std::vector<const ::fp4::NdArray *> arguments;
  for (::fp4::NdArray &array : arrays)
    arguments.push_back(&array);

  if (!library) {
    // Lower: optionally quantize, then to LLVM for the CPU.
    std::string error;
    if (failed(mlir::fp4::lowerForCPU(*module,
                                      quantizeDefault || !quantize.empty(),
                                      quantize, error)))
      fail(inputFile + ": " + error);
    auto created = mlir::fp4::jitForHost(*module, entry);
    if (!created)
      fail("JIT compilation failed: " + llvm::toString(created.takeError()));
    engine = std::move(*created);
  }
  auto compiled = std::chrono::steady_clock::now();
  llvm::errs() << "fp4-run: " << (library ? "loaded " : "compiled ")
               << inputFile << " in "
               << llvm::format("%.2f", seconds(start, compiled)) << " s\n";

  // Results come back through one struct of descriptors (several results) or
  // one descriptor.
  std::vector<int64_t> resultBuffer;
  double best = 1e30;
  for (unsigned r = 0; r < std::max(1u, unsigned(repeat)); ++r) {
    auto before = std::chrono::steady_clock::now();
    if (library) {
      resultBuffer.assign(
          std::max<int64_t>(mlir::fp4::resultWords(resultSpecs), 1), 0);
      std::vector<mlir::fp4::MemRefDescriptor> descriptors;
      SmallVector<void *> direct;
      if (!resultSpecs.empty())
        direct.push_back(resultBuffer.data());
      for (const ::fp4::NdArray &array : arrays)
        descriptors.emplace_back(array);
      for (mlir::fp4::MemRefDescriptor &d : descriptors)
        direct.push_back(d.words.data());
      if (!callEntry(libraryEntry, direct))
        fail("'" + entry + "' has too many arguments for fp4-run (at most 7)");
    } else if (llvm::Error error = mlir::fp4::invokeEntry(
                   *engine, entry, arguments, resultSpecs, resultBuffer)) {
      fail("calling '" + entry + "' failed: " + llvm::toString(std::move(error)));
    }
    best = std::min(best, seconds(before, std::chrono::steady_clock::now()));
  }
  llvm::errs() << "fp4-run: " << entry << " ran in "
               << llvm::format("%.3f", best * 1e3) << " ms"
               << (repeat > 1 ? " (best of " + std::to_string(repeat) + ")" : "")
               << "\n";

  // Copy each result out (following its strides) and write it.
  std::vector<::fp4::NdArray> results =
      mlir::fp4::readResults(resultBuffer.data(), resultSpecs);
  for (auto [i, out] : llvm::enumerate(results)) {
    if (i < outputs.size()) {
      std::string error;
      if (!::fp4::writeNpy(outputs[i], out, error))
        fail(error);
    } else if (out.dtype == ::fp4::DType::F32) {
      // No --output: print a short summary.
      const float *v = out.data<float>();
      llvm::outs() << "result " << i << ": [";
      for (int64_t k = 0; k < std::min<int64_t>(8, out.numElements()); ++k)
        llvm::outs() << (k ? ", " : "") << v[k];
      llvm::outs() << (out.numElements() > 8 ? ", ...]" : "]") << "\n";
    }
  }
  return 0;
}
