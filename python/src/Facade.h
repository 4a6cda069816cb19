//===- Facade.h - the MLIR side of the Python bindings ----------*- C++ -*-===//
//
// Part of fp4-mlir. The pybind11 module (Module.cpp, built with RTTI and
// exceptions) sees MLIR only through these functions and std types; the
// MLIR side (Facade.cpp) is built like the rest of the project.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_PYTHON_FACADE_H
#define FP4_PYTHON_FACADE_H

#include "fp4/Support/Npy.h"
#include "fp4/Tools/DriverOptions.h"

#include <memory>
#include <string>
#include <vector>

namespace fp4py {

/// A parsed module with the context that owns it.
struct ModuleState;
using ModulePtr = std::shared_ptr<ModuleState>;

/// A diagnostic the parser or a pass emitted.
struct Diagnostic {
  std::string severity; // "error", "warning", "remark" or "note"
  std::string location; // e.g. "model.mlir":12:3
  std::string message;
};

/// Parses `text` (named `bufferName` in locations). Null on failure, with
/// the parser's diagnostics in `diagnostics`.
ModulePtr parseModule(const std::string &text, const std::string &bufferName,
                      std::vector<Diagnostic> &diagnostics);

/// The module's text: custom assembly, or the generic form.
std::string printModule(const ModuleState &module, bool generic);

/// A deep copy in a context of its own.
ModulePtr cloneModule(const ModuleState &module);

/// Runs a textual pass pipeline ("fp4-quantize-pipeline{preset=nvfp4}" or
/// "builtin.module(...)") on the module. False when the pipeline does not
/// parse or a pass fails; `diagnostics` gets everything emitted (remarks
/// too), and `error` the pipeline parser's message if any.
bool runPipeline(ModuleState &module, const std::string &pipeline,
                 std::vector<Diagnostic> &diagnostics, std::string &error);

/// Compiles a copy of the module (the module itself is left as it is) into
/// `output`, in process, with fp4-compile's driver and `options`. False on
/// failure, with the reason in `error` and the located diagnostics in
/// `diagnostics`.
bool compileModule(const ModuleState &module, mlir::fp4::CompileOptions options,
                   const std::string &output,
                   std::vector<Diagnostic> &diagnostics, std::string &error);

/// Calibrates a copy of the module in process, with fp4-calibrate's driver
/// and `options`, on
/// `inputs` (one array per argument of the entry: its shape, or [S, ...]
/// for S batches). Returns the calibrated copy, or null with the reason in
/// `error` and the located diagnostics in `diagnostics`.
ModulePtr calibrateModule(const ModuleState &module,
                          const mlir::fp4::CalibrateOptions &options,
                          std::vector<::fp4::NdArray> inputs,
                          std::vector<Diagnostic> &diagnostics,
                          std::string &error);

/// The public functions with a body, in order.
std::vector<std::string> publicFunctions(const ModuleState &module);

/// fp4-compile's signature text of function `name` ("f32:1x8x64->f32:1x8x64"),
/// or "" when it has no such signature (not found, dynamic shapes, ...).
std::string functionSignature(const ModuleState &module,
                              const std::string &name);

} // namespace fp4py

#endif // FP4_PYTHON_FACADE_H
