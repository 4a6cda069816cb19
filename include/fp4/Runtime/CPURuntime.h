//===- CPURuntime.h - functions compiled CPU code calls ----------*- C++ -*-===//
//
// Part of fp4-mlir. No MLIR dependency. Compiled modules call these through
// MLIR's C interface (`_mlir_ciface_` names, unranked memref descriptors):
// convert-fp4-to-linalg lowers run-time fp4.quantize to them, so activations
// are quantized by the same numerics library as weights.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_RUNTIME_CPURUNTIME_H
#define FP4_RUNTIME_CPURUNTIME_H

#include <cstdint>

extern "C" {

/// MLIR's unranked memref: a rank and a pointer to the ranked descriptor
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
struct FP4UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};

/// Quantizes `input` (float32, contiguous, viewed as [rows, last dim]) into
/// `data` (packed codes) and `scales` (one byte per scale, for UE4M3/UE8M0
/// schemes) and `global` (float32 scalar, two-level schemes), with the
/// scheme, element, rule and block-scale search numbered as fp4::numerics'
/// enums, and `staticAmax` a calibrated amax (0: measure the input;
/// QuantConfig).
/// Aborts with a message on non-finite input.
void _mlir_ciface_fp4rt_quantize_byte_scales(FP4UnrankedMemRef *input,
                                             FP4UnrankedMemRef *data,
                                             FP4UnrankedMemRef *scales,
                                             FP4UnrankedMemRef *global,
                                             int32_t scheme, int32_t element,
                                             int32_t rule,
                                             int32_t blockScales,
                                             float staticAmax);

/// The same for schemes with float32 scales (FP8 per tensor / channel, NF4).
void _mlir_ciface_fp4rt_quantize_f32_scales(FP4UnrankedMemRef *input,
                                            FP4UnrankedMemRef *data,
                                            FP4UnrankedMemRef *scales,
                                            int32_t scheme, int32_t element,
                                            int32_t rule, int32_t perChannel,
                                            float staticAmax);
}

#endif // FP4_RUNTIME_CPURUNTIME_H
