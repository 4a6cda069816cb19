//===- KVCache.h - KV-cache arguments and their cost -------------*- C++ -*-===//
//
// Part of fp4-mlir. Private to the fp4 transforms.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_LIB_DIALECT_FP4_TRANSFORMS_KVCACHE_H
#define FP4_LIB_DIALECT_FP4_TRANSFORMS_KVCACHE_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <optional>

namespace mlir::fp4 {

/// The argument attribute fp4-quantize-kv-cache leaves on a cache's codes
/// argument: {format, bytes_per_token_before, bytes_per_token_after}. The
/// report reads it.
constexpr const char *kKVCacheAttr = "fp4.kv_cache";

/// A float cache argument: updated by one insert_slice whose result is only
/// read (extract_slice) and returned once. (Its result position is not kept:
/// rewriting another cache of the same function moves it.)
struct KVCache {
  unsigned argIndex;
  tensor::InsertSliceOp update;
};

std::optional<KVCache> matchKVCache(BlockArgument arg);

/// Bytes one token adds to a cache of type `cache` updated by `slice`, in
/// float (before) and as fp8_per_row (E4M3 codes plus one f32 scale per row).
struct KVCacheBytes {
  int64_t before = 0, after = 0;
};
KVCacheBytes kvCacheBytesPerToken(RankedTensorType cache,
                                  RankedTensorType slice);

} // namespace mlir::fp4

#endif // FP4_LIB_DIALECT_FP4_TRANSFORMS_KVCACHE_H
