//===- MemRef.h - call compiled functions on arrays -------------*- C++ -*-===//
//
// Part of fp4-mlir. No MLIR or LLVM dependency: fp4-run uses it to call
// compiled libraries on machines without LLVM (the GPU machine).
//
// Compiled functions take MLIR's ranked memref descriptors
// { T *allocated, T *aligned, int64_t offset, int64_t sizes[R],
//   int64_t strides[R] } (docs/runtime.md). Their C interface is
//   void _mlir_ciface_f(Results *out, Memref *arg0, ...);
// with `out` one descriptor (one result) or a struct of them.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_SUPPORT_MEMREF_H
#define FP4_SUPPORT_MEMREF_H

#include "fp4/Support/Npy.h"

#include <optional>
#include <string>
#include <vector>

namespace fp4 {

/// A statically shaped tensor argument or result of a compiled function.
struct TensorSpec {
  DType dtype;
  std::vector<int64_t> shape;
  std::string text; // e.g. f32:1x8x64 or tensor<1x8x64xf32>, for messages
};

/// The NumPy dtype of a boundary type name: f32, f16, bf16, i64, i32, i8,
/// u8 (8-bit floats travel as their bytes).
std::optional<DType> dtypeNamed(const std::string &name);

/// Parses fp4-compile's signature text "f32:1x8x64,i64:1x8->f32:1x8x96".
bool parseSignature(const std::string &text, std::vector<TensorSpec> &args,
                    std::vector<TensorSpec> &results);

/// A memref descriptor of any rank, all words 8 bytes wide, over a
/// row-major array (not copied).
struct MemRefDescriptor {
  std::vector<int64_t> words;
  explicit MemRefDescriptor(const NdArray &array);
};

/// Words of the result descriptors of `specs`.
int64_t resultWords(const std::vector<TensorSpec> &specs);

/// Copies the results a compiled function wrote to `buffer` (one
/// descriptor per result, in order) into arrays, following their strides.
std::vector<NdArray> readResults(const int64_t *buffer,
                                 const std::vector<TensorSpec> &specs);

/// Frees the result buffers the compiled code allocated, except any that
/// lies inside one of `arguments` (a result that is an argument updated in
/// place) or is a returned constant.
void freeResults(const int64_t *buffer, const std::vector<TensorSpec> &specs,
                 const std::vector<const NdArray *> &arguments);

/// The most pointers callCInterface passes.
constexpr size_t kMaxCInterfaceArguments = 16;

/// Calls a C-interface entry point `void f(void *, void *, ...)` with
/// `pointers`; false when there are more than kMaxCInterfaceArguments.
bool callCInterface(void *function, const std::vector<void *> &pointers);

/// Calls `function` (the C interface of a function of argument and result
/// specs `args` and `results`) on `arguments`; `resultBuffer` receives the
/// result descriptors (readResults). False with `error` set on a bad call.
bool callOnArrays(void *function, const std::vector<const NdArray *> &arguments,
                  const std::vector<TensorSpec> &results,
                  std::vector<int64_t> &resultBuffer, std::string &error);

} // namespace fp4

#endif // FP4_SUPPORT_MEMREF_H
