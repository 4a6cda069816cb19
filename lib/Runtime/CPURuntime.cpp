//===- CPURuntime.cpp - functions compiled CPU code calls -----------------===//
//
// Part of fp4-mlir. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#include "fp4/Runtime/CPURuntime.h"
#include "fp4/Numerics/Quantize.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace fp4::numerics;

namespace {

/// The aligned data pointer and element count of a contiguous memref.
struct View {
  char *data;
  int64_t elements, lastDim;
};

View viewOf(FP4UnrankedMemRef *memref, size_t elementSize) {
  const int64_t *d = static_cast<const int64_t *>(memref->descriptor);
  int64_t rank = memref->rank;
  // d[0] allocated, d[1] aligned, d[2] offset, d[3..] sizes, strides.
  char *aligned = reinterpret_cast<char *>(d[1]);
  View view{aligned + d[2] * elementSize, 1, rank ? d[3 + rank - 1] : 1};
  for (int64_t i = 0; i < rank; ++i)
    view.elements *= d[3 + i];
  return view;
}

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "fp4 runtime: error: %s\n", message.c_str());
  std::abort();
}

QuantizedTensor run(FP4UnrankedMemRef *input, int32_t scheme, int32_t element,
                    int32_t rule, bool perChannel, int32_t blockScales,
                    float staticAmax) {
  View in = viewOf(input, sizeof(float));
  QuantConfig config;
  config.scheme = static_cast<Scheme>(scheme);
  config.element = static_cast<ElementFormat>(element);
  config.rule = static_cast<Rule>(rule);
  config.perChannel = perChannel;
  config.blockScales = static_cast<BlockScales>(blockScales);
  config.staticAmax = staticAmax;
  config.threads = 1; // compiled code owns the threading
  TensorView view{in.data, InputType::F32, in.lastDim ? in.elements / in.lastDim : 0,
                  in.lastDim};
  QuantizedTensor q;
  std::string error = quantize(view, config, q);
  if (!error.empty())
    fail(error);
  return q;
}

void copyOut(const std::vector<uint8_t> &bytes, FP4UnrankedMemRef *memref,
             size_t elementSize, const char *what) {
  View out = viewOf(memref, elementSize);
  if (static_cast<size_t>(out.elements) * elementSize != bytes.size())
    fail(std::string("the ") + what + " buffer holds " +
         std::to_string(out.elements * elementSize) + " bytes, the quantizer "
         "produced " + std::to_string(bytes.size()));
  std::memcpy(out.data, bytes.data(), bytes.size());
}

} // namespace

extern "C" void _mlir_ciface_fp4rt_quantize_byte_scales(
    FP4UnrankedMemRef *input, FP4UnrankedMemRef *data,
    FP4UnrankedMemRef *scales, FP4UnrankedMemRef *global, int32_t scheme,
    int32_t element, int32_t rule, int32_t blockScales, float staticAmax) {
  QuantizedTensor q =
      run(input, scheme, element, rule, false, blockScales, staticAmax);
  copyOut(q.data, data, 1, "data");
  copyOut(q.scales, scales, 1, "scales");
  if (global && global->rank >= 0 && global->descriptor) {
    View g = viewOf(global, sizeof(float));
    if (g.elements == 1)
      std::memcpy(g.data, &q.globalScale, sizeof(float));
  }
}

extern "C" void _mlir_ciface_fp4rt_quantize_f32_scales(
    FP4UnrankedMemRef *input, FP4UnrankedMemRef *data,
    FP4UnrankedMemRef *scales, int32_t scheme, int32_t element, int32_t rule,
    int32_t perChannel, float staticAmax) {
  QuantizedTensor q =
      run(input, scheme, element, rule, perChannel != 0, 0, staticAmax);
  copyOut(q.data, data, 1, "data");
  copyOut(q.scales, scales, 4, "scales");
}
