//===- FoldConstants.h - quantize constant weights at compile time -*- C++ -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_TRANSFORMS_FOLDCONSTANTS_H
#define FP4_DIALECT_FP4_TRANSFORMS_FOLDCONSTANTS_H

#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "mlir/IR/PatternMatch.h"

#include "fp4/Numerics/Quantize.h"

namespace mlir::fp4 {

struct FoldConstantsOptions {
  /// Emit eligible block scales in the Blackwell 128x4 tile layout.
  bool swizzleScales = false;
  /// Quantization threads (0: all hardware threads).
  unsigned threads = 0;
  /// Storage parts up to this many bytes become dense attributes, larger
  /// ones dense_resource blobs.
  int64_t inlineLimit = 256;
};

/// Replaces `op` (an fp4.quantize of an arith.constant) by an fp4.constant.
/// Returns failure, with a reason in `why`, when `op` does not qualify; emits
/// an error on `op` and returns failure with an empty `why` when the
/// constant holds NaN or Inf.
FailureOr<ConstantOp> foldQuantizeOfConstant(RewriterBase &rewriter,
                                             QuantizeOp op,
                                             const FoldConstantsOptions &options,
                                             std::string &why);

/// The numerics config that produces `type`'s storage (with `rule`), or a
/// reason in `why` when no quantizer implements it.
FailureOr<::fp4::numerics::QuantConfig>
getQuantConfig(QuantizedTensorType type, std::optional<ScaleRule> rule,
               std::string &why);

/// The numerics config of `op`: that of its result type and rule, with its
/// block-scale search and static amax.
FailureOr<::fp4::numerics::QuantConfig> getQuantConfig(QuantizeOp op,
                                                       std::string &why);

/// The numerics block-scale search of an attribute value.
::fp4::numerics::BlockScales toNumerics(BlockScaleSearch search);

/// The raw little-endian bytes of a dense or (loaded) dense_resource float
/// constant, used in place; only a splat is expanded, into `storage`.
FailureOr<ArrayRef<char>> getRawBytes(ElementsAttr attr,
                                      std::vector<char> &storage,
                                      std::string &why);

/// The numerics library's view of a float constant's bytes (from
/// getRawBytes) as [numElements / lastDim, lastDim].
::fp4::numerics::TensorView constantTensorView(ElementsAttr attr,
                                               ArrayRef<char> bytes);

} // namespace mlir::fp4

#endif // FP4_DIALECT_FP4_TRANSFORMS_FOLDCONSTANTS_H
