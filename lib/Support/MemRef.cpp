//===- MemRef.cpp - call compiled functions on arrays ---------------------===//
//
// Part of fp4-mlir. No MLIR or LLVM dependency.
//
//===----------------------------------------------------------------------===//

#include "fp4/Support/MemRef.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <utility>

using namespace fp4;

std::optional<DType> fp4::dtypeNamed(const std::string &name) {
  static const std::pair<const char *, DType> names[] = {
      {"f32", DType::F32}, {"f16", DType::F16}, {"bf16", DType::BF16},
      {"i64", DType::I64}, {"i32", DType::I32}, {"i8", DType::I8},
      {"u8", DType::U8}};
  for (auto &[text, dtype] : names)
    if (name == text)
      return dtype;
  return std::nullopt;
}

static std::vector<std::string> split(const std::string &text, char by) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, by))
    parts.push_back(part);
  return parts;
}

static bool parseSpecs(const std::string &list, std::vector<TensorSpec> &specs) {
  if (list.empty())
    return true;
  for (const std::string &item : split(list, ',')) {
    size_t colon = item.find(':');
    if (colon == std::string::npos)
      return false;
    std::optional<DType> dtype = dtypeNamed(item.substr(0, colon));
    if (!dtype)
      return false;
    std::string name = item.substr(0, colon), dims = item.substr(colon + 1);
    TensorSpec spec{*dtype, {}, "tensor<"};
    if (!dims.empty())
      for (const std::string &part : split(dims, 'x')) {
        char *end = nullptr;
        long long dim = std::strtoll(part.c_str(), &end, 10);
        if (part.empty() || *end || dim < 0)
          return false;
        spec.shape.push_back(dim);
        spec.text += part + "x";
      }
    spec.text += name + ">";
    specs.push_back(std::move(spec));
  }
  return true;
}

bool fp4::parseSignature(const std::string &text, std::vector<TensorSpec> &args,
                         std::vector<TensorSpec> &results) {
  size_t arrow = text.find("->");
  if (arrow == std::string::npos)
    return false;
  return parseSpecs(text.substr(0, arrow), args) &&
         parseSpecs(text.substr(arrow + 2), results);
}

MemRefDescriptor::MemRefDescriptor(const NdArray &array)
    : words(3 + 2 * array.shape.size()) {
  int64_t rank = array.shape.size();
  words[0] = words[1] = reinterpret_cast<int64_t>(array.bytes.data());
  words[2] = 0;
  int64_t stride = 1;
  for (int64_t i = rank - 1; i >= 0; --i) {
    words[3 + i] = array.shape[i];
    words[3 + rank + i] = stride;
    stride *= array.shape[i];
  }
}

int64_t fp4::resultWords(const std::vector<TensorSpec> &specs) {
  int64_t words = 0;
  for (const TensorSpec &spec : specs)
    words += 3 + 2 * int64_t(spec.shape.size());
  return words;
}

std::vector<NdArray> fp4::readResults(const int64_t *buffer,
                                      const std::vector<TensorSpec> &specs) {
  std::vector<NdArray> results;
  int64_t word = 0;
  for (const TensorSpec &spec : specs) {
    int64_t rank = spec.shape.size();
    const int64_t *d = buffer + word;
    word += 3 + 2 * rank;
    NdArray out;
    out.dtype = spec.dtype;
    out.shape = spec.shape;
    size_t size = dtypeSize(out.dtype);
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

void fp4::freeResults(const int64_t *buffer,
                      const std::vector<TensorSpec> &specs,
                      const std::vector<const NdArray *> &arguments) {
  std::vector<void *> freed;
  int64_t word = 0;
  for (const TensorSpec &spec : specs) {
    auto *allocated = reinterpret_cast<char *>(buffer[word]);
    word += 3 + 2 * int64_t(spec.shape.size());
    bool isArgument =
        std::any_of(arguments.begin(), arguments.end(), [&](const NdArray *a) {
          const char *begin = reinterpret_cast<const char *>(a->bytes.data());
          return allocated >= begin && allocated < begin + a->bytes.size();
        });
    // A returned constant (memref.get_global) carries MLIR's 0xdeadbeef
    // marker instead of a heap pointer; the lowering mallocs every other
    // result.
    if (!allocated || isArgument ||
        std::find(freed.begin(), freed.end(), allocated) != freed.end() ||
        reinterpret_cast<uintptr_t>(allocated) == 0xdeadbeef)
      continue;
    freed.push_back(allocated);
    std::free(allocated);
  }
}

namespace {
template <size_t>
using Pointer = void *;

/// Calls `function` as `void (*)(void *, ... N times)`.
template <size_t... I>
void callWith(void *function, void *const *pointers,
              std::index_sequence<I...>) {
  reinterpret_cast<void (*)(Pointer<I>...)>(function)(pointers[I]...);
}

template <size_t... N>
constexpr auto callTable(std::index_sequence<N...>) {
  using Caller = void (*)(void *, void *const *);
  return std::array<Caller, sizeof...(N)>{
      [](void *f, void *const *p) { callWith(f, p, std::make_index_sequence<N>()); }...};
}
} // namespace

bool fp4::callCInterface(void *function, const std::vector<void *> &pointers) {
  static constexpr auto table =
      callTable(std::make_index_sequence<kMaxCInterfaceArguments + 1>());
  if (pointers.size() > kMaxCInterfaceArguments)
    return false;
  table[pointers.size()](function, pointers.data());
  return true;
}

bool fp4::callOnArrays(void *function,
                       const std::vector<const NdArray *> &arguments,
                       const std::vector<TensorSpec> &results,
                       std::vector<int64_t> &resultBuffer, std::string &error) {
  resultBuffer.assign(std::max<int64_t>(resultWords(results), 1), 0);
  std::vector<MemRefDescriptor> descriptors;
  for (const NdArray *array : arguments)
    descriptors.emplace_back(*array);
  std::vector<void *> pointers;
  if (!results.empty())
    pointers.push_back(resultBuffer.data());
  for (MemRefDescriptor &d : descriptors)
    pointers.push_back(d.words.data());
  if (callCInterface(function, pointers))
    return true;
  error = "the function takes " + std::to_string(pointers.size()) +
          " pointers (results and arguments); at most " +
          std::to_string(kMaxCInterfaceArguments) + " can be passed";
  return false;
}
