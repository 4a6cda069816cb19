//===- RunJIT.h - fp4-run's JIT, loaded on demand ----------------*- C -*-===//
//
// Part of fp4-mlir. The one entry point of lib/libfp4_run_jit.so, which
// fp4-run loads with dlopen for .mlir inputs (lib/Tools/RunJIT.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef FP4_TOOLS_RUNJIT_H
#define FP4_TOOLS_RUNJIT_H

#ifdef __cplusplus
extern "C" {
#endif

/// Parses `file`, runs fp4-quantize-pipeline{quantizeOptions} unless it is
/// null, lowers for the CPU and JIT-compiles. Returns 0 with `*function` the
/// C interface of `entry` and `*signature` its fp4-compile signature text
/// ("f32:1x8x64->f32:1x8x96"); else 1 with `*error` set. The strings live
/// until the next call.
int fp4_run_jit_compile(const char *file, const char *entry,
                        const char *quantizeOptions, void **function,
                        const char **signature, const char **error);

#ifdef __cplusplus
}
#endif

#endif // FP4_TOOLS_RUNJIT_H
