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

/// A memref descriptor of any rank: {allocated, aligned, offset, sizes[R],
/// strides[R]}, all 8 bytes wide.
struct Descriptor {
  std::vector<int64_t> words;
  explicit Descriptor(int64_t rank) : words(3 + 2 * rank) {}
  void set(void *data, ArrayRef<int64_t> shape) {
    int64_t rank = shape.size();
    words[0] = words[1] = reinterpret_cast<int64_t>(data);
    words[2] = 0;
    int64_t stride = 1;
    for (int64_t i = rank - 1; i >= 0; --i) {
      words[3 + i] = shape[i];
      words[3 + rank + i] = stride;
      stride *= shape[i];
    }
  }
};

/// The NumPy dtype of a boundary type name (mlir::fp4::boundaryTypeName).
std::optional<::fp4::DType> dtypeNamed(StringRef name) {
  return llvm::StringSwitch<std::optional<::fp4::DType>>(name)
      .Case("f32", ::fp4::DType::F32)
      .Case("f16", ::fp4::DType::F16)
      .Case("bf16", ::fp4::DType::BF16)
      .Case("i64", ::fp4::DType::I64)
      .Case("i32", ::fp4::DType::I32)
      .Case("i8", ::fp4::DType::I8)
      .Case("u8", ::fp4::DType::U8)
      .Default(std::nullopt);
}

/// A statically shaped tensor argument or result.
struct Spec {
  ::fp4::DType dtype;
  std::vector<int64_t> shape;
  std::string text; // e.g. tensor<1x8x64xf32>, for messages
};

std::optional<Spec> specOf(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return std::nullopt;
  const char *name = mlir::fp4::boundaryTypeName(tensor.getElementType());
  std::optional<::fp4::DType> dtype =
      name ? dtypeNamed(name) : std::optional<::fp4::DType>();
  if (!dtype)
    return std::nullopt;
  std::string text;
  llvm::raw_string_ostream os(text);
  os << tensor;
  return Spec{*dtype, {tensor.getShape().begin(), tensor.getShape().end()},
              text};
}

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
      std::optional<::fp4::DType> dtype = dtypeNamed(name);
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
    for (auto [i, t] : llvm::enumerate(func.getFunctionType().getInputs())) {
      std::optional<Spec> spec = specOf(t);
      if (!spec)
        fail("argument " + Twine(i) + " of '" + entry +
             "' is not a statically shaped tensor of f32, f16, bf16, "
             "i64/i32/i8 or 8-bit floats (as uint8)");
      argSpecs.push_back(*spec);
    }
    for (Type t : func.getFunctionType().getResults()) {
      std::optional<Spec> spec = specOf(t);
      if (!spec)
        fail("the results of '" + entry +
             "' must be statically shaped tensors of f32, f16, bf16, "
             "i64/i32/i8 or 8-bit floats (as uint8)");
      resultSpecs.push_back(*spec);
    }
  }
  if (argSpecs.size() != inputs.size())
    fail("'" + entry + "' takes " + Twine(argSpecs.size()) +
         " arguments, got " + Twine(inputs.size()) + " --input files");
  if (!outputs.empty() && outputs.size() != resultSpecs.size())
    fail("'" + entry + "' returns " + Twine(resultSpecs.size()) +
         " results, got " + Twine(outputs.size()) + " --output files");

  // Read and check every input against the signature.
  std::vector<::fp4::NdArray> arrays(inputs.size());
  std::vector<Descriptor> argDescs;
  for (auto [i, spec] : llvm::enumerate(argSpecs)) {
    std::string error;
    if (!::fp4::readNpy(inputs[i], arrays[i], error))
      fail(error);
    if (arrays[i].dtype != spec.dtype || arrays[i].shape != spec.shape)
      fail(inputs[i] + ": expected " + spec.text + " data, got " +
           ::fp4::dtypeName(arrays[i].dtype) + " of another shape or type");
    argDescs.emplace_back(spec.shape.size());
    argDescs.back().set(arrays[i].bytes.data(), spec.shape);
  }

  if (!library) {
    // Lower: optionally quantize, then to LLVM for the CPU.
    std::string error;
    if (failed(mlir::fp4::lowerForCPU(*module,
                                      quantizeDefault || !quantize.empty(),
                                      quantize, error)))
      fail(inputFile + ": " + error);
    // ExecutionEngineOptions::transformer is a function_ref: keep the
    // function it refers to alive for the whole create().
    // Optimize for this host: without a target machine LLVM's vectorizer
    // has no cost model for the CPU and leaves the matmul loops narrow.
    auto hostBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!hostBuilder)
      fail("cannot describe this host to LLVM: " +
           llvm::toString(hostBuilder.takeError()));
    hostBuilder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Default);
    auto host = hostBuilder->createTargetMachine();
    if (!host)
      fail("cannot create a target machine for this host: " +
           llvm::toString(host.takeError()));
    std::function<llvm::Error(llvm::Module *)> optimize =
        makeOptimizingTransformer(mlir::fp4::kLLVMOptLevel, 0, host->get());
    ExecutionEngineOptions options;
    options.transformer = optimize;
    options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Default;
    // memref.copy and friends lower to calls into MLIR's C runner utilities.
    SmallVector<StringRef> libs = {FP4_MLIR_C_RUNNER_UTILS};
    options.sharedLibPaths = libs;
    auto created = ExecutionEngine::create(*module, options);
    if (!created)
      fail("JIT compilation failed: " + llvm::toString(created.takeError()));
    engine = std::move(*created);
    // Run-time quantization calls the numerics library linked into this tool.
    engine->registerSymbols([](llvm::orc::MangleAndInterner interner) {
      llvm::orc::SymbolMap symbols;
      auto add = [&](const char *name, void *address) {
        symbols[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                   llvm::JITSymbolFlags::Exported};
      };
      add("_mlir_ciface_fp4rt_quantize_byte_scales",
          reinterpret_cast<void *>(&_mlir_ciface_fp4rt_quantize_byte_scales));
      add("_mlir_ciface_fp4rt_quantize_f32_scales",
          reinterpret_cast<void *>(&_mlir_ciface_fp4rt_quantize_f32_scales));
      return symbols;
    });
    // Looking the entry up materializes (compiles) the code, so the timing
    // below separates compilation from the call.
    if (auto entryPoint = engine->lookupPacked("_mlir_ciface_" + entry);
        !entryPoint)
      fail("no entry point for '" + entry +
           "': " + llvm::toString(entryPoint.takeError()));
  }
  auto compiled = std::chrono::steady_clock::now();
  llvm::errs() << "fp4-run: " << (library ? "loaded " : "compiled ")
               << inputFile << " in "
               << llvm::format("%.2f", seconds(start, compiled)) << " s\n";

  // Results come back through one struct of descriptors (several results) or
  // one descriptor.
  int64_t resultWords = 0;
  for (const Spec &spec : resultSpecs)
    resultWords += 3 + 2 * int64_t(spec.shape.size());
  std::vector<int64_t> resultBuffer(std::max<int64_t>(resultWords, 1));
  SmallVector<void *> argPointers;
  for (Descriptor &d : argDescs)
    argPointers.push_back(d.words.data());
  SmallVector<void *> packed;
  void *resultPointer = resultBuffer.data();
  if (!resultSpecs.empty())
    packed.push_back(&resultPointer);
  for (void *&pointer : argPointers)
    packed.push_back(&pointer);

  double best = 1e30;
  for (unsigned r = 0; r < std::max(1u, unsigned(repeat)); ++r) {
    auto before = std::chrono::steady_clock::now();
    if (library) {
      SmallVector<void *> direct;
      if (!resultSpecs.empty())
        direct.push_back(resultPointer);
      direct.append(argPointers.begin(), argPointers.end());
      if (!callEntry(libraryEntry, direct))
        fail("'" + entry + "' has too many arguments for fp4-run (at most 7)");
    } else if (llvm::Error error =
                   engine->invokePacked("_mlir_ciface_" + entry, packed)) {
      fail("calling '" + entry + "' failed: " + llvm::toString(std::move(error)));
    }
    best = std::min(best, seconds(before, std::chrono::steady_clock::now()));
  }
  llvm::errs() << "fp4-run: " << entry << " ran in "
               << llvm::format("%.3f", best * 1e3) << " ms"
               << (repeat > 1 ? " (best of " + std::to_string(repeat) + ")" : "")
               << "\n";

  // Copy each result out (following its strides) and write it.
  int64_t word = 0;
  for (auto [i, spec] : llvm::enumerate(resultSpecs)) {
    int64_t rank = spec.shape.size();
    const int64_t *d = resultBuffer.data() + word;
    word += 3 + 2 * rank;
    ::fp4::NdArray out;
    out.dtype = spec.dtype;
    out.shape = spec.shape;
    size_t size = ::fp4::dtypeSize(out.dtype);
    out.bytes.resize(out.numElements() * size);
    const char *base = reinterpret_cast<const char *>(d[1]) + d[2] * size;
    for (int64_t linear = 0; linear < out.numElements(); ++linear) {
      int64_t rest = linear, offset = 0;
      for (int64_t dim = rank - 1; dim >= 0; --dim) {
        offset += (rest % d[3 + dim]) * d[3 + rank + dim];
        rest /= d[3 + dim];
      }
      std::memcpy(&out.bytes[linear * size], base + offset * size, size);
    }
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
