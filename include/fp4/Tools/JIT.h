//===- JIT.h - call compiled modules on .npy arrays --------------*- C++ -*-===//
//
// Part of fp4-mlir. Shared by fp4-run and fp4-calibrate: the boundary types
// of compiled functions, memref descriptors over arrays, and a JIT for this
// host with the fp4 runtime's symbols.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_TOOLS_JIT_H
#define FP4_TOOLS_JIT_H

#include "fp4/Support/Npy.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::fp4 {

/// A statically shaped tensor argument or result of a compiled function.
struct TensorSpec {
  ::fp4::DType dtype;
  std::vector<int64_t> shape;
  std::string text; // e.g. tensor<1x8x64xf32>, for messages
};

/// The NumPy dtype of a boundary type name (boundaryTypeName).
std::optional<::fp4::DType> dtypeNamed(StringRef name);
/// The spec of a statically shaped tensor of a boundary type, or nullopt.
std::optional<TensorSpec> tensorSpecOf(Type type);

/// The specs of `func`'s arguments and results. Returns "" or a message
/// naming the first tensor that is not statically shaped of a boundary type.
std::string entrySpecs(func::FuncOp func, std::vector<TensorSpec> &args,
                       std::vector<TensorSpec> &results);

/// A memref descriptor of any rank: {allocated, aligned, offset, sizes[R],
/// strides[R]}, all 8 bytes wide, over a row-major array (not copied).
struct MemRefDescriptor {
  std::vector<int64_t> words;
  explicit MemRefDescriptor(const ::fp4::NdArray &array);
};

/// Copies the results a compiled function wrote to `buffer` (one
/// descriptor per result, in order) into arrays, following their strides.
std::vector<::fp4::NdArray> readResults(const int64_t *buffer,
                                        ArrayRef<TensorSpec> specs);

/// Frees the result buffers the compiled code allocated, except any that
/// lies inside one of `arguments` (a result that is an argument updated in
/// place).
void freeResults(const int64_t *buffer, ArrayRef<TensorSpec> specs,
                 ArrayRef<const ::fp4::NdArray *> arguments);

/// JIT-compiles `lowered` (from lowerForCPU) for this host at
/// kLLVMOptLevel, with the fp4 runtime's entry points and MLIR's C runner
/// utilities, and compiles `entry` (looking it up materializes it).
llvm::Expected<std::unique_ptr<ExecutionEngine>>
jitForHost(ModuleOp lowered, StringRef entry);

/// Calls the C interface of `entry` with `arguments` (checked against its
/// argument specs by the caller); `resultBuffer` must hold the result
/// descriptors of `resultSpecs`.
llvm::Error invokeEntry(ExecutionEngine &engine, StringRef entry,
                        ArrayRef<const ::fp4::NdArray *> arguments,
                        ArrayRef<TensorSpec> resultSpecs,
                        std::vector<int64_t> &resultBuffer);

/// Words of the result descriptors of `specs`.
int64_t resultWords(ArrayRef<TensorSpec> specs);

} // namespace mlir::fp4

#endif // FP4_TOOLS_JIT_H
