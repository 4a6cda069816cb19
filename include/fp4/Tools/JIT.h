//===- JIT.h - call compiled modules on .npy arrays --------------*- C++ -*-===//
//
// Part of fp4-mlir. Shared by fp4-run and fp4-calibrate: the boundary types
// of compiled functions, memref descriptors over arrays, and a JIT for this
// host with the fp4 runtime's symbols.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_TOOLS_JIT_H
#define FP4_TOOLS_JIT_H

#include "fp4/Support/MemRef.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::fp4 {

// The LLVM-free pieces (fp4/Support/MemRef.h), under their usual names.
using ::fp4::dtypeNamed;
using ::fp4::freeResults;
using ::fp4::MemRefDescriptor;
using ::fp4::readResults;
using ::fp4::resultWords;
using ::fp4::TensorSpec;

/// The spec of a statically shaped tensor of a boundary type, or nullopt.
std::optional<TensorSpec> tensorSpecOf(Type type);

/// The specs of `func`'s arguments and results. Returns "" or a message
/// naming the first tensor that is not statically shaped of a boundary type.
std::string entrySpecs(func::FuncOp func, std::vector<TensorSpec> &args,
                       std::vector<TensorSpec> &results);

/// JIT-compiles `lowered` (from lowerForCPU) for this host at
/// kLLVMOptLevel, with the fp4 runtime's entry points and MLIR's C runner
/// utilities, and compiles `entry` (looking it up materializes it).
/// engine->lookup("_mlir_ciface_" + entry) is then its C interface.
llvm::Expected<std::unique_ptr<ExecutionEngine>>
jitForHost(ModuleOp lowered, StringRef entry);

/// Calls the C interface of `entry` with `arguments` (checked against its
/// argument specs by the caller); `resultBuffer` must hold the result
/// descriptors of `resultSpecs`.
llvm::Error invokeEntry(ExecutionEngine &engine, StringRef entry,
                        ArrayRef<const ::fp4::NdArray *> arguments,
                        ArrayRef<TensorSpec> resultSpecs,
                        std::vector<int64_t> &resultBuffer);

} // namespace mlir::fp4

#endif // FP4_TOOLS_JIT_H
