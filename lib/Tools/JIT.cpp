//===- JIT.cpp - call compiled modules on .npy arrays ---------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Tools/JIT.h"
#include "fp4/Runtime/CPURuntime.h"
#include "fp4/Tools/ToolSetup.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"

#include <cstdlib>
#include <cstring>

using namespace mlir;
using namespace mlir::fp4;

std::optional<::fp4::DType> mlir::fp4::dtypeNamed(StringRef name) {
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

MemRefDescriptor::MemRefDescriptor(const ::fp4::NdArray &array)
    : words(3 + 2 * array.shape.size()) {
  ArrayRef<int64_t> shape = array.shape;
  int64_t rank = shape.size();
  words[0] = words[1] = reinterpret_cast<int64_t>(array.bytes.data());
  words[2] = 0;
  int64_t stride = 1;
  for (int64_t i = rank - 1; i >= 0; --i) {
    words[3 + i] = shape[i];
    words[3 + rank + i] = stride;
    stride *= shape[i];
  }
}

int64_t mlir::fp4::resultWords(ArrayRef<TensorSpec> specs) {
  int64_t words = 0;
  for (const TensorSpec &spec : specs)
    words += 3 + 2 * int64_t(spec.shape.size());
  return words;
}

std::vector<::fp4::NdArray> mlir::fp4::readResults(const int64_t *buffer,
                                                   ArrayRef<TensorSpec> specs) {
  std::vector<::fp4::NdArray> results;
  int64_t word = 0;
  for (const TensorSpec &spec : specs) {
    int64_t rank = spec.shape.size();
    const int64_t *d = buffer + word;
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
    results.push_back(std::move(out));
  }
  return results;
}

void mlir::fp4::freeResults(const int64_t *buffer, ArrayRef<TensorSpec> specs,
                            ArrayRef<const ::fp4::NdArray *> arguments) {
  std::vector<void *> freed;
  int64_t word = 0;
  for (const TensorSpec &spec : specs) {
    auto *allocated = reinterpret_cast<char *>(buffer[word]);
    word += 3 + 2 * int64_t(spec.shape.size());
    bool isArgument = llvm::any_of(arguments, [&](const ::fp4::NdArray *a) {
      const char *begin = reinterpret_cast<const char *>(a->bytes.data());
      return allocated >= begin && allocated < begin + a->bytes.size();
    });
    // A returned constant (memref.get_global) carries MLIR's 0xdeadbeef
    // marker instead of a heap pointer; the lowering mallocs every other
    // result.
    if (!allocated || isArgument || llvm::is_contained(freed, allocated) ||
        reinterpret_cast<uintptr_t>(allocated) == 0xdeadbeef)
      continue;
    freed.push_back(allocated);
    std::free(allocated);
  }
}

llvm::Expected<std::unique_ptr<ExecutionEngine>>
mlir::fp4::jitForHost(ModuleOp lowered, StringRef entry) {
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
  // Lowerings outside fp4's may still call MLIR's C runner utilities.
  SmallVector<StringRef> libs = {FP4_MLIR_C_RUNNER_UTILS};
  options.sharedLibPaths = libs;
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
  std::vector<MemRefDescriptor> descriptors;
  for (const ::fp4::NdArray *array : arguments)
    descriptors.emplace_back(*array);
  resultBuffer.assign(std::max<int64_t>(resultWords(resultSpecs), 1), 0);
  SmallVector<void *> pointers;
  for (MemRefDescriptor &d : descriptors)
    pointers.push_back(d.words.data());
  void *resultPointer = resultBuffer.data();
  SmallVector<void *> packed;
  if (!resultSpecs.empty())
    packed.push_back(&resultPointer);
  for (void *&pointer : pointers)
    packed.push_back(&pointer);
  return engine.invokePacked(("_mlir_ciface_" + entry).str(), packed);
}
