/*===- fp4-c/FP4.h - C API of fp4-mlir ----------------------------*- C -*-===*\
|*                                                                            *|
|* Part of fp4-mlir.                                                          *|
|*                                                                            *|
|* For hosts that use MLIR through its C API (and for language bindings):     *|
|* the fp4 dialect's handle and the registration of fp4-mlir's passes and     *|
|* pipelines, after which mlirParsePassPipeline accepts them, e.g.            *|
|* "builtin.module(fp4-quantize-pipeline{preset=moe-fp4-fp8})".              *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef FP4_C_FP4_H
#define FP4_C_FP4_H

#include "mlir-c/IR.h"

#ifdef __cplusplus
extern "C" {
#endif

/// mlirGetDialectHandle__fp4__(): register or load the fp4 dialect with
/// mlirDialectHandleRegisterDialect / mlirDialectHandleLoadDialect.
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(FP4, fp4);

/// Registers every fp4 pass and named pipeline (quantization, calibration,
/// the CPU and GPU lowerings) in the global pass registry. Idempotent.
MLIR_CAPI_EXPORTED void fp4RegisterPasses(void);

#ifdef __cplusplus
}
#endif

#endif // FP4_C_FP4_H
