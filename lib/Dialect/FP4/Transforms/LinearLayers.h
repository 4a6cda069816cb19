//===- LinearLayers.h - linear layers in torch-mlir's linalg ----*- C++ -*-===//
//
// Part of fp4-mlir. Private to the fp4 transforms.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_LIB_DIALECT_FP4_TRANSFORMS_LINEARLAYERS_H
#define FP4_LIB_DIALECT_FP4_TRANSFORMS_LINEARLAYERS_H

#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Dialect/FP4/Transforms/Policy.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Operation.h"

#include <string>

namespace mlir::fp4 {

/// y = x * W^T with a constant weight, as torch-mlir emits nn.Linear:
/// linalg.matmul(x, transpose(W)) or linalg.batch_matmul(x, transpose(W_e))
/// or linalg.batch_matmul(x, broadcast(transpose(W))), into a zero fill.
struct LinearLayer {
  Operation *op = nullptr;
  Value activation;          // [M, K] or [B, M, K]
  arith::ConstantOp weight;  // [N, K] or [E, N, K]
  std::string name;          // parameter name, empty if unknown
  int64_t outFeatures = 0;   // N
  int64_t inFeatures = 0;    // K
  /// Routed experts: the expert of each row, [T] integers, when torch-mlir
  /// gathers the weight by index (`W[ids]` or `index_select(W, 0, ids)`,
  /// then bmm); the layer becomes fp4.gathered_matmul. Null otherwise.
  Value indices;
  /// Whether that gather maps a negative index i to i + E (`W[ids]` does,
  /// index_select does not).
  bool wrapsNegative = false;
};

/// Is `value` a constant, directly or through transposes and broadcasts
/// (named or generalized)?
bool isConstantWeight(Value value);

/// A linalg.generic multiply-add of two inputs (a candidate linear layer).
bool isGenericContraction(Operation *op);

/// Matches `op`: linalg.matmul / batch_matmul as above, routed experts
/// (linalg.batch_matmul of a gathered constant [E, N, K] and the rows [T, K]
/// expanded to [T, K, 1]; see LinearLayer::indices), or a linalg.generic
/// multiply-add of an activation (rows, K) and a constant [N, K] or [E, N, K]
/// weight (directly or through a transpose, named or generalized) into a zero
/// fill. On failure `why` says what did not match.
FailureOr<LinearLayer> matchLinearLayer(Operation *op, std::string &why);

/// torch-mlir's gather of rows of a constant by index (`T[ids]`,
/// `index_select(T, 0, ids)`): a linalg.generic of parallel loops from `ids`
/// [R] (map d0) to [R, d1, ..] whose body yields `tensor.extract %T[id',
/// linalg.index 1, ..]` of a constant T [E, d1, ..] of rank `rank`, where id'
/// is the id (index_select) or `select(id < 0, id + E, id)` (T[ids]).
struct ExpertGather {
  arith::ConstantOp table; // [E, ...]
  Value indices;           // [R] integers
  bool wrapsNegative = false;
};
FailureOr<ExpertGather> matchExpertGather(Value value, int64_t rank);

/// The bias add that follows a linear layer's result `sum` ([M, N], or
/// [E, M, N] with expert weights), as torch-mlir emits nn.Linear's bias: a
/// linalg.generic of parallel loops adding, elementwise, `sum` (directly or
/// through a tensor.expand_shape that keeps N a dimension of its own) and a
/// `bias` broadcast along everything but N ([N]) or, for expert weights,
/// indexed by expert and N ([E, N]).
struct BiasAdd {
  Operation *add = nullptr;     // the linalg.generic
  tensor::ExpandShapeOp expand; // between `sum` and `add`, or null
  tensor::CollapseShapeOp collapse; // routed experts: [T, N, 1] -> [T, N]
  Value bias;                   // [N] or [E, N]
};
FailureOr<BiasAdd> matchBiasAdd(Value sum, bool expertWeights);

/// The bias of routed experts (`layer.indices` set), as torch-mlir emits
/// `bmm(W[ids], x.unsqueeze(-1)).squeeze(-1) + b[ids]`: the layer's result
/// [T, N, 1] collapsed to [T, N], then an elementwise add of the gather of
/// a constant b [E, N] by the same indices (and the same wrap). `bias` is b.
FailureOr<BiasAdd> matchGatheredBiasAdd(Value sum, const LinearLayer &layer);

/// The structural role of `layer` among all `layers` of its function.
Role inferRole(const LinearLayer &layer, ArrayRef<LinearLayer> layers);

/// What fp4-assign-precision leaves on each linear layer (and the passes
/// after it read): role, parameter name, weight and activation formats (a
/// preset name, "keep" / "none"), and why.
constexpr const char *kRole = "fp4.role";
constexpr const char *kParam = "fp4.param";
constexpr const char *kWeights = "fp4.weights";
constexpr const char *kActivations = "fp4.activations";
constexpr const char *kReason = "fp4.reason";

/// The quantized types of `layer` under `weights` / `activations` (preset
/// names; activations "none" leaves `activationType` null), or why they do
/// not apply.
LogicalResult layerTypes(const LinearLayer &layer, StringRef weights,
                         StringRef activations, QuantizedTensorType &weightType,
                         QuantizedTensorType &activationType, std::string &why);

/// The parameter name of a weight constant: its `fp4.param_name` attribute,
/// or its name location.
std::string parameterName(arith::ConstantOp constant);

} // namespace mlir::fp4

#endif // FP4_LIB_DIALECT_FP4_TRANSFORMS_LINEARLAYERS_H
