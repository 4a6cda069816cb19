//===- KVCache.h - KV-cache arguments and their cost -------------*- C++ -*-===//
//
// Part of fp4-mlir. Private to the fp4 transforms.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_LIB_DIALECT_FP4_TRANSFORMS_KVCACHE_H
#define FP4_LIB_DIALECT_FP4_TRANSFORMS_KVCACHE_H

#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
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

/// Bytes per token of a cache of type `cache` updated by `slice` (which
/// covers its extent, in the dimension where it is shorter than the cache,
/// of tokens): with the slice in float, or stored as `stored`.
int64_t kvCacheBytesPerToken(RankedTensorType cache, RankedTensorType slice,
                             QuantizedTensorType stored = {});

} // namespace mlir::fp4

#endif // FP4_LIB_DIALECT_FP4_TRANSFORMS_KVCACHE_H
