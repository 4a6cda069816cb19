//===- LinearLayers.cpp - linear layers in torch-mlir's linalg ------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "LinearLayers.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <deque>

using namespace mlir;
using namespace mlir::fp4;

std::string mlir::fp4::parameterName(arith::ConstantOp constant) {
  if (auto name = constant->getAttrOfType<StringAttr>("fp4.param_name"))
    return name.str();
  if (auto loc = dyn_cast<NameLoc>(constant.getLoc()))
    return loc.getName().str();
  return "";
}

/// True if `value` is a linalg.fill of 0.
static bool isZeroFill(Value value) {
  auto fill = value.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  Value scalar = fill.getInputs()[0];
  return matchPattern(scalar, m_AnyZeroFloat()) ||
         matchPattern(scalar, m_Zero());
}

/// `value` = linalg.transpose(constant) with `permutation`.
static arith::ConstantOp transposedConstant(Value value,
                                            ArrayRef<int64_t> permutation) {
  auto transpose = value.getDefiningOp<linalg::TransposeOp>();
  if (!transpose || transpose.getPermutation() != permutation)
    return {};
  auto constant = transpose.getInput().getDefiningOp<arith::ConstantOp>();
  if (!constant || !isa<ElementsAttr>(constant.getValue()))
    return {};
  return constant;
}

FailureOr<LinearLayer> mlir::fp4::matchLinearLayer(Operation *op,
                                                   std::string &why) {
  LinearLayer layer;
  layer.op = op;
  if (auto matmul = dyn_cast<linalg::MatmulOp>(op)) {
    if (!matmul.getIndexingMaps().empty() &&
        matmul.getIndexingMapsArray() != matmul.getDefaultIndexingMaps(op->getContext())) {
      why = "the matmul has non-default indexing maps";
      return failure();
    }
    layer.activation = matmul.getInputs()[0];
    layer.weight = transposedConstant(matmul.getInputs()[1], {1, 0});
    if (!layer.weight) {
      why = "the right operand is not linalg.transpose of a constant [N, K]";
      return failure();
    }
    if (!isZeroFill(matmul.getOutputs()[0])) {
      why = "the accumulator is not a zero linalg.fill";
      return failure();
    }
  } else if (auto bmm = dyn_cast<linalg::BatchMatmulOp>(op)) {
    layer.activation = bmm.getInputs()[0];
    Value rhs = bmm.getInputs()[1];
    layer.weight = transposedConstant(rhs, {0, 2, 1});
    if (!layer.weight) {
      // A weight shared by the batch: broadcast(transpose(W)).
      if (auto broadcast = rhs.getDefiningOp<linalg::BroadcastOp>())
        if (broadcast.getDimensions() == ArrayRef<int64_t>{0})
          layer.weight = transposedConstant(broadcast.getInput(), {1, 0});
    }
    if (!layer.weight) {
      why = "the right operand is neither linalg.transpose of constant expert "
            "weights [E, N, K] nor a broadcast of linalg.transpose of a "
            "constant [N, K]";
      return failure();
    }
    if (!isZeroFill(bmm.getOutputs()[0])) {
      why = "the accumulator is not a zero linalg.fill";
      return failure();
    }
  } else {
    why = "not a linalg.matmul or linalg.batch_matmul";
    return failure();
  }
  auto weightType = cast<RankedTensorType>(arith::ConstantOp(layer.weight).getType());
  auto activationType = dyn_cast<RankedTensorType>(layer.activation.getType());
  if (!activationType || !weightType.hasStaticShape()) {
    why = "the operands are not ranked tensors with a static weight";
    return failure();
  }
  Type element = weightType.getElementType();
  if (!element.isF32() && !element.isF16() && !element.isBF16()) {
    why = "the weight is not f32, f16 or bf16";
    return failure();
  }
  layer.outFeatures = weightType.getShape()[weightType.getRank() - 2];
  layer.inFeatures = weightType.getShape().back();
  layer.name = parameterName(layer.weight);
  return layer;
}

/// Ops that only move or reshape data (or apply elementwise maps, like
/// RoPE) between a projection and the attention contraction.
static bool isShapeLike(Operation *op) {
  if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::CastOp,
          linalg::TransposeOp, linalg::BroadcastOp, tensor::ExtractSliceOp,
          tensor::InsertSliceOp, tensor::ConcatOp>(op))
    return true;
  if (auto generic = dyn_cast<linalg::GenericOp>(op))
    return generic.getNumReductionLoops() == 0;
  return false;
}

/// A contraction of two run-time values (attention scores or the
/// probability-weighted sum of values).
static bool isActivationContraction(Operation *op) {
  if (!isa<linalg::MatmulOp, linalg::BatchMatmulOp>(op)) {
    auto generic = dyn_cast<linalg::GenericOp>(op);
    if (!generic || generic.getNumReductionLoops() == 0 ||
        generic.getNumDpsInputs() < 2)
      return false;
  }
  auto linalgOp = cast<linalg::LinalgOp>(op);
  for (OpOperand *input : linalgOp.getDpsInputOperands()) {
    Operation *def = input->get().getDefiningOp();
    // Walk back through shape-like ops to a constant.
    while (def && isShapeLike(def) && def->getNumOperands() > 0)
      def = def->getOperand(0).getDefiningOp();
    if (def && isa<arith::ConstantOp>(def))
      return false;
  }
  return true;
}

/// Breadth-first over users (forward) or producers (backward) through
/// shape-like ops, up to `depth` hops: does it meet an activation
/// contraction?
static bool meetsAttention(Value start, bool forward, int depth) {
  std::deque<std::pair<Value, int>> work{{start, 0}};
  llvm::SmallPtrSet<Operation *, 16> seen;
  while (!work.empty()) {
    auto [value, hops] = work.front();
    work.pop_front();
    if (hops > depth)
      continue;
    SmallVector<Operation *> next;
    if (forward)
      next.append(value.getUsers().begin(), value.getUsers().end());
    else if (Operation *def = value.getDefiningOp())
      next.push_back(def);
    for (Operation *op : next) {
      if (!seen.insert(op).second)
        continue;
      if (isActivationContraction(op))
        return true;
      if (!isShapeLike(op))
        continue;
      if (forward)
        for (Value result : op->getResults())
          work.push_back({result, hops + 1});
      else
        for (Value operand : op->getOperands())
          work.push_back({operand, hops + 1});
    }
  }
  return false;
}

/// Does `value` reach the enclosing function's return through shape-like
/// ops?
static bool reachesReturn(Value value, int depth) {
  std::deque<std::pair<Value, int>> work{{value, 0}};
  while (!work.empty()) {
    auto [v, hops] = work.front();
    work.pop_front();
    if (hops > depth)
      continue;
    for (Operation *user : v.getUsers()) {
      if (isa<func::ReturnOp>(user))
        return true;
      if (isShapeLike(user))
        for (Value result : user->getResults())
          work.push_back({result, hops + 1});
    }
  }
  return false;
}

/// Shape of a layer's weight.
static ArrayRef<int64_t> weightShape(const LinearLayer &layer) {
  return cast<RankedTensorType>(arith::ConstantOp(layer.weight).getType())
      .getShape();
}

/// An up-projection of per-expert weights: at least four layers with the
/// same weight shape read the same activation (every expert sees every
/// token in torch's dense MoE formulations).
static bool isPerExpertUp(const LinearLayer &layer,
                          ArrayRef<LinearLayer> layers) {
  return llvm::count_if(layers, [&](const LinearLayer &other) {
           return other.activation == layer.activation &&
                  weightShape(other) == weightShape(layer);
         }) >= 4;
}

/// Is `value` computed, through shape-like ops, from the result of `op`?
static bool derivesFrom(Value value, Operation *op, int depth) {
  std::deque<std::pair<Value, int>> work{{value, 0}};
  while (!work.empty()) {
    auto [v, hops] = work.front();
    work.pop_front();
    Operation *def = v.getDefiningOp();
    if (!def || hops > depth)
      continue;
    if (def == op)
      return true;
    if (isShapeLike(def))
      for (Value operand : def->getOperands())
        work.push_back({operand, hops + 1});
  }
  return false;
}

/// Row counts of embedding tables: rank-2 constants read by tensor.extract
/// (how torch-mlir lowers nn.Embedding).
static SmallVector<int64_t> vocabularySizes(Operation *func) {
  SmallVector<int64_t> sizes;
  func->walk([&](tensor::ExtractOp extract) {
    if (auto constant = extract.getTensor().getDefiningOp<arith::ConstantOp>())
      if (auto type = dyn_cast<RankedTensorType>(constant.getType());
          type && type.getRank() == 2)
        sizes.push_back(type.getShape()[0]);
  });
  return sizes;
}

Role mlir::fp4::inferRole(const LinearLayer &layer,
                          ArrayRef<LinearLayer> layers) {
  if (weightShape(layer).size() == 3)
    return Role::Expert;
  if (isPerExpertUp(layer, layers))
    return Role::Expert;
  for (const LinearLayer &other : layers)
    if (isPerExpertUp(other, layers) &&
        derivesFrom(layer.activation, other.op, 4))
      return Role::Expert; // a down-projection of an expert
  for (const LinearLayer &other : layers) {
    ArrayRef<int64_t> shape = weightShape(other);
    if (shape.size() == 3 && shape[0] == layer.outFeatures)
      return Role::Router; // scores one column per stacked expert
    if (other.activation == layer.activation && isPerExpertUp(other, layers))
      return Role::Router; // reads what the per-expert layers read
  }
  Operation *func = layer.op->getParentOp();
  if (llvm::is_contained(vocabularySizes(func), layer.outFeatures))
    return Role::LMHead;
  if (layers.size() > 1 && reachesReturn(layer.op->getResult(0), 4) &&
      llvm::all_of(layers, [&](const LinearLayer &other) {
        return other.op == layer.op || other.outFeatures < layer.outFeatures;
      }))
    return Role::LMHead;
  if (meetsAttention(layer.op->getResult(0), /*forward=*/true, 10) ||
      meetsAttention(layer.activation, /*forward=*/false, 6))
    return Role::Attention;
  return Role::Linear;
}
