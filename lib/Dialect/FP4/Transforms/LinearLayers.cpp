//===- LinearLayers.cpp - linear layers in torch-mlir's linalg ------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "LinearLayers.h"
#include "fp4/Dialect/FP4/IR/FP4Ops.h"

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

/// Is `generic` a pure copy: all loops parallel, one input, the output map
/// the identity, the body `linalg.yield %in`?
static bool isCopyGeneric(linalg::GenericOp generic) {
  if (generic.getNumDpsInputs() != 1 || generic.getNumDpsInits() != 1 ||
      generic.getNumReductionLoops() != 0 ||
      !generic.getIndexingMapsArray().back().isIdentity())
    return false;
  Block &body = generic.getRegion().front();
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  return yield && body.getOperations().size() == 1 &&
         yield.getNumOperands() == 1 &&
         yield.getOperand(0) == body.getArgument(0);
}

/// True if `value` is a fill of 0: linalg.fill, or its generalized form (a
/// copy of a scalar).
static bool isZeroFill(Value value) {
  Value scalar;
  if (auto fill = value.getDefiningOp<linalg::FillOp>())
    scalar = fill.getInputs()[0];
  else if (auto generic = value.getDefiningOp<linalg::GenericOp>();
           generic && isCopyGeneric(generic) &&
           generic.getIndexingMapsArray().front().getNumResults() == 0)
    scalar = generic.getInputs()[0];
  else
    return false;
  return matchPattern(scalar, m_AnyZeroFloat()) ||
         matchPattern(scalar, m_Zero());
}

/// For an op that only copies its input into a transposed and/or broadcast
/// result, the input dimension each result dimension reads, or -1 for a
/// broadcast one: linalg.transpose, linalg.broadcast, or their generalized
/// form (a copy through a projected-permutation input map).
static std::optional<SmallVector<int64_t>> copySourceDims(Operation *op) {
  if (auto transpose = dyn_cast_or_null<linalg::TransposeOp>(op))
    return llvm::to_vector(transpose.getPermutation());
  if (auto broadcast = dyn_cast_or_null<linalg::BroadcastOp>(op)) {
    int64_t rank = broadcast.getInit().getType().getRank();
    SmallVector<int64_t> sources(rank, -1);
    int64_t next = 0;
    for (int64_t d = 0; d < rank; ++d)
      if (!llvm::is_contained(broadcast.getDimensions(), d))
        sources[d] = next++;
    return sources;
  }
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!generic || !isCopyGeneric(generic))
    return std::nullopt;
  AffineMap input = generic.getIndexingMapsArray().front();
  if (!input.isProjectedPermutation() || input.getNumResults() == 0)
    return std::nullopt;
  // Input dim j is read at loop (= result dim) input.getDimPosition(j).
  SmallVector<int64_t> sources(generic.getNumLoops(), -1);
  for (unsigned j = 0; j < input.getNumResults(); ++j)
    sources[input.getDimPosition(j)] = j;
  return sources;
}

/// The constant a weight operand views, through transposes and broadcasts
/// (named or generalized) and reshapes that only add or drop unit
/// dimensions, as torch-mlir emits around einsum and matmul: `dims[i]` is
/// the constant's dimension that operand dimension i runs along, or -1 for
/// an added (unit or broadcast) dimension.
static arith::ConstantOp traceConstant(Value value,
                                       SmallVectorImpl<int64_t> &dims,
                                       int depth = 8) {
  dims.clear();
  Operation *def = value.getDefiningOp();
  if (!def || depth == 0)
    return {};
  if (auto constant = dyn_cast<arith::ConstantOp>(def)) {
    auto type = dyn_cast<RankedTensorType>(constant.getType());
    if (!type || !isa<ElementsAttr>(constant.getValue()))
      return {};
    llvm::append_range(dims, llvm::seq<int64_t>(0, type.getRank()));
    return constant;
  }
  SmallVector<int64_t> in;
  if (std::optional<SmallVector<int64_t>> sources = copySourceDims(def)) {
    arith::ConstantOp constant = traceConstant(def->getOperand(0), in, depth - 1);
    if (!constant)
      return {};
    for (int64_t source : *sources)
      dims.push_back(source < 0 ? -1 : in[source]);
    return constant;
  }
  auto isUnit = [](int64_t size) { return size == 1; };
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(def)) {
    arith::ConstantOp constant = traceConstant(expand.getSrc(), in, depth - 1);
    if (!constant || !expand.getResultType().hasStaticShape())
      return {};
    ArrayRef<int64_t> shape = expand.getResultType().getShape();
    for (auto [src, group] :
         llvm::enumerate(expand.getReassociationIndices())) {
      // One dimension of the group carries the source's, the rest are units.
      unsigned carriers = llvm::count_if(group, [&](int64_t d) {
        return !isUnit(shape[d]);
      });
      if (carriers > 1)
        return {};
      bool placed = false;
      for (int64_t d : group) {
        bool carries = carriers ? !isUnit(shape[d]) : !placed;
        dims.push_back(carries ? in[src] : -1);
        placed |= carries;
      }
    }
    return constant;
  }
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(def)) {
    arith::ConstantOp constant = traceConstant(collapse.getSrc(), in, depth - 1);
    if (!constant || !collapse.getSrcType().hasStaticShape())
      return {};
    ArrayRef<int64_t> shape = collapse.getSrcType().getShape();
    for (ReassociationIndices &group : collapse.getReassociationIndices()) {
      // At most one dimension of the group is more than a unit, or at most
      // one is the constant's own.
      SmallVector<int64_t> carried;
      for (int64_t d : group)
        if (!isUnit(shape[d]))
          carried.push_back(in[d]);
      if (carried.empty())
        for (int64_t d : group)
          if (in[d] >= 0)
            carried.push_back(in[d]);
      if (carried.size() > 1)
        return {};
      dims.push_back(carried.empty() ? -1 : carried.front());
    }
    return constant;
  }
  return {};
}

/// The constant `value` views with its dimensions in the order `dims` (see
/// traceConstant), or null.
static arith::ConstantOp tracedConstant(Value value, ArrayRef<int64_t> dims) {
  SmallVector<int64_t> found;
  arith::ConstantOp constant = traceConstant(value, found);
  return constant && ArrayRef<int64_t>(found) == dims ? constant
                                                      : arith::ConstantOp();
}

/// The constant `value` views through a pure permutation of its dimensions
/// (operand dim i = constant dim permutation[i]), or null.
static arith::ConstantOp constantThroughTranspose(
    Value value, SmallVectorImpl<int64_t> &permutation) {
  arith::ConstantOp constant = traceConstant(value, permutation);
  if (!constant)
    return {};
  auto rank = cast<RankedTensorType>(constant.getType()).getRank();
  SmallVector<int64_t> sorted(permutation.begin(), permutation.end());
  llvm::sort(sorted);
  if (sorted != llvm::to_vector(llvm::seq<int64_t>(0, rank)))
    return {};
  return constant;
}

bool mlir::fp4::isConstantWeight(Value value) {
  SmallVector<int64_t> dims;
  return static_cast<bool>(traceConstant(value, dims));
}

bool mlir::fp4::isGenericContraction(Operation *op) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  return generic && generic.getNumDpsInputs() == 2 &&
         generic.getNumDpsInits() == 1 &&
         linalg::isaContractionOpInterface(cast<linalg::LinalgOp>(op));
}

/// A linalg.generic multiply-add that computes x * W^T: loops (e?, rows...,
/// n, k) with the activation indexed (e?, rows..., k), the output (e?,
/// rows..., n) and the constant weight, in its own layout after undoing a
/// transpose, (e?, n, k). `e` is an expert dimension shared by all three;
/// rows are one or two loops (a 2-D weight shared by a batch).
static LogicalResult matchGenericLinear(linalg::GenericOp generic,
                                        LinearLayer &layer, std::string &why) {
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  if (!llvm::all_of(maps, [](AffineMap m) { return m.isProjectedPermutation(); })) {
    why = "the contraction's indexing maps are not projected permutations";
    return failure();
  }
  // The weight is the input that is a (transposed) constant.
  SmallVector<int64_t> permutation;
  unsigned weightIndex = 1;
  layer.weight = constantThroughTranspose(generic.getInputs()[1], permutation);
  if (!layer.weight) {
    weightIndex = 0;
    layer.weight = constantThroughTranspose(generic.getInputs()[0], permutation);
  }
  if (!layer.weight) {
    why = "neither operand of the contraction is a constant (or a transposed "
        "constant)";
    return failure();
  }
  layer.activation = generic.getInputs()[1 - weightIndex];
  AffineMap act = maps[1 - weightIndex], weight = maps[weightIndex],
            out = maps[2];

  // Classify the loops by the operands that index them.
  SmallVector<unsigned> rows;
  std::optional<unsigned> expert, n, k;
  for (unsigned d = 0; d < generic.getNumLoops(); ++d) {
    bool inAct = act.isFunctionOfDim(d), inWeight = weight.isFunctionOfDim(d),
         inOut = out.isFunctionOfDim(d);
    std::optional<unsigned> *slot = nullptr;
    if (inAct && inWeight && !inOut)
      slot = &k;
    else if (!inAct && inWeight && inOut)
      slot = &n;
    else if (inAct && inWeight && inOut)
      slot = &expert;
    else if (inAct && !inWeight && inOut) {
      rows.push_back(d);
      continue;
    }
    if (!slot || slot->has_value()) {
      why = "the contraction is not x * W^T: it has more than one reduction, "
            "output-feature or batch loop, or a loop only one operand reads";
      return failure();
    }
    *slot = d;
  }
  if (!k || !n || rows.empty() || rows.size() > (expert ? 1u : 2u)) {
    why = "the contraction is not x * W^T (it needs one reduction loop, one "
          "output-feature loop and one or two row loops)";
    return failure();
  }
  auto dims = [](AffineMap map) {
    SmallVector<unsigned> result;
    for (unsigned i = 0; i < map.getNumResults(); ++i)
      result.push_back(map.getDimPosition(i));
    return result;
  };
  SmallVector<unsigned> wantAct, wantOut, wantWeight;
  if (expert) {
    wantAct.push_back(*expert);
    wantOut.push_back(*expert);
    wantWeight.push_back(*expert);
  }
  llvm::append_range(wantAct, rows);
  llvm::append_range(wantOut, rows);
  wantAct.push_back(*k);
  wantOut.push_back(*n);
  wantWeight.append({*n, *k});
  // The constant's dims: operand dim i is the constant's dim permutation[i].
  SmallVector<unsigned> operandDims = dims(weight), constantDims(operandDims.size());
  for (auto [i, j] : llvm::enumerate(permutation))
    constantDims[j] = operandDims[i];
  if (dims(act) != wantAct || dims(out) != wantOut) {
    why = "the activation is not indexed (rows, K) and the result (rows, N) "
          "in that order";
    return failure();
  }
  if (constantDims != wantWeight) {
    why = "the constant weight is not laid out [N, K] (or [E, N, K])";
    return failure();
  }
  if (!isZeroFill(generic.getOutputs()[0])) {
    why = "the accumulator is not a zero fill";
    return failure();
  }
  return success();
}

/// Shape of a layer's weight.
static ArrayRef<int64_t> weightShape(const LinearLayer &layer) {
  return cast<RankedTensorType>(arith::ConstantOp(layer.weight).getType())
      .getShape();
}

/// Is `generic` an elementwise add (parallel loops, `yield in0 + in1` in
/// either order) of `value` (input `sumIndex`) and another tensor, with the
/// result typed like `value`?
static bool isAddTo(linalg::GenericOp generic, Value value,
                    unsigned &sumIndex) {
  if (generic.getNumDpsInputs() != 2 || generic.getNumDpsInits() != 1 ||
      generic.getNumLoops() != generic.getNumParallelLoops() ||
      generic.getResult(0).getType() != value.getType())
    return false;
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto addf = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  if (!addf || &body.front() != addf.getOperation())
    return false;
  Value in0 = body.getArgument(0), in1 = body.getArgument(1);
  if (!((addf.getLhs() == in0 && addf.getRhs() == in1) ||
        (addf.getLhs() == in1 && addf.getRhs() == in0)))
    return false;
  sumIndex = generic.getInputs()[0] == value ? 0 : 1;
  return generic.getInputs()[sumIndex] == value &&
         generic.getInputs()[1 - sumIndex] != value;
}

FailureOr<BiasAdd> mlir::fp4::matchGatheredBiasAdd(Value sum,
                                                   const LinearLayer &layer) {
  if (!layer.indices || !sum.hasOneUse())
    return failure();
  auto collapse = dyn_cast<tensor::CollapseShapeOp>(*sum.user_begin());
  SmallVector<ReassociationIndices> rowColumns = {{0}, {1, 2}};
  if (!collapse || collapse.getReassociationIndices() != rowColumns ||
      !collapse.getResult().hasOneUse())
    return failure();
  Value rows = collapse.getResult();
  auto generic = dyn_cast<linalg::GenericOp>(*rows.user_begin());
  unsigned sumIndex;
  if (!generic || !isAddTo(generic, rows, sumIndex) ||
      !llvm::all_of(generic.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isIdentity(); }))
    return failure();
  FailureOr<ExpertGather> gather =
      matchExpertGather(generic.getInputs()[1 - sumIndex], 2);
  int64_t experts = weightShape(layer)[0];
  if (failed(gather) || gather->indices != layer.indices ||
      gather->wrapsNegative != layer.wrapsNegative ||
      gather->table.getType() !=
          RankedTensorType::get(
              {experts, layer.outFeatures},
              cast<RankedTensorType>(rows.getType()).getElementType()))
    return failure();
  BiasAdd match;
  match.add = generic;
  match.bias = gather->table;
  match.collapse = collapse;
  return match;
}

FailureOr<BiasAdd> mlir::fp4::matchBiasAdd(Value sum, bool expertWeights) {
  BiasAdd match;
  Value value = sum;
  if (!value.hasOneUse())
    return failure();
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(*value.user_begin())) {
    // N must stay a dimension of its own: [M, N] -> [1, M, N] is fine,
    // [M, N] -> [M, H, D] (heads) is not.
    if (expand.getReassociationIndices().back().size() != 1 ||
        !expand.getResult().hasOneUse())
      return failure();
    match.expand = expand;
    value = expand.getResult();
  }
  auto generic = dyn_cast<linalg::GenericOp>(*value.user_begin());
  unsigned sumIndex;
  if (!generic || !isAddTo(generic, value, sumIndex))
    return failure();
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  int64_t rank = generic.getNumLoops();
  if (!maps[sumIndex].isIdentity() || !maps[2].isIdentity())
    return failure();
  // The bias is read as fp4.scaled_matmul reads it: [N], or [E, N] by
  // expert (then the sum is not reshaped).
  if (expertWeights && match.expand)
    return failure();
  if (maps[1 - sumIndex] !=
      ScaledMatmulOp::getBiasMap(generic.getContext(), rank, expertWeights))
    return failure();
  match.add = generic;
  match.bias = generic.getInputs()[1 - sumIndex];
  return match;
}

FailureOr<ExpertGather> mlir::fp4::matchExpertGather(Value value,
                                                     int64_t rank) {
  auto generic = value.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 1 ||
      generic.getNumDpsInits() != 1 || generic.getNumReductionLoops() != 0)
    return failure();
  Value ids = generic.getDpsInputOperand(0)->get();
  auto idsType = dyn_cast<RankedTensorType>(ids.getType());
  auto outType = dyn_cast<RankedTensorType>(generic.getResult(0).getType());
  MLIRContext *ctx = generic.getContext();
  if (!idsType || idsType.getRank() != 1 ||
      !idsType.getElementType().isSignlessInteger() || !outType ||
      outType.getRank() != rank ||
      generic.getIndexingMapsArray() !=
          SmallVector<AffineMap>{
              AffineMap::get(rank, 0, getAffineDimExpr(0, ctx)),
              AffineMap::getMultiDimIdentityMap(rank, ctx)})
    return failure();
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto extract = yield.getOperand(0).getDefiningOp<tensor::ExtractOp>();
  if (!extract || int64_t(extract.getIndices().size()) != rank)
    return failure();
  auto table = extract.getTensor().getDefiningOp<arith::ConstantOp>();
  auto tableType =
      table ? dyn_cast<RankedTensorType>(table.getType()) : nullptr;
  if (!tableType || tableType.getRank() != rank ||
      tableType.getShape().drop_front() != outType.getShape().drop_front())
    return failure();
  for (int64_t dim = 1; dim < rank; ++dim) {
    auto index = extract.getIndices()[dim].getDefiningOp<linalg::IndexOp>();
    if (!index || index.getDim() != uint64_t(dim))
      return failure();
  }
  auto cast = extract.getIndices()[0].getDefiningOp<arith::IndexCastOp>();
  if (!cast)
    return failure();
  Value id = cast.getIn();
  BlockArgument in = body.getArgument(0);
  bool wraps = false;
  if (auto select = id.getDefiningOp<arith::SelectOp>()) {
    // select(id < 0, id + E, id)
    auto isConstant = [](Value v, int64_t expected) {
      APInt constant;
      return matchPattern(v, m_ConstantInt(&constant)) &&
             constant.getSExtValue() == expected;
    };
    auto cmp = select.getCondition().getDefiningOp<arith::CmpIOp>();
    auto add = select.getTrueValue().getDefiningOp<arith::AddIOp>();
    if (!cmp || cmp.getPredicate() != arith::CmpIPredicate::slt ||
        cmp.getLhs() != in || !isConstant(cmp.getRhs(), 0) || !add ||
        add.getLhs() != in ||
        !isConstant(add.getRhs(), tableType.getShape()[0]) ||
        select.getFalseValue() != in)
      return failure();
    wraps = true;
  } else if (id != in) {
    return failure();
  }
  return ExpertGather{table, ids, wraps};
}

/// Routed experts as torch-mlir emits `bmm(W[ids], x.unsqueeze(-1))`:
/// linalg.batch_matmul of the gathered weights [T, N, K] and the rows
/// expanded to [T, K, 1], into a zero fill [T, N, 1].
static bool matchGatheredLinear(linalg::BatchMatmulOp bmm, LinearLayer &layer) {
  FailureOr<ExpertGather> gather = matchExpertGather(bmm.getInputs()[0], 3);
  auto expand = bmm.getInputs()[1].getDefiningOp<tensor::ExpandShapeOp>();
  SmallVector<ReassociationIndices> rowColumns = {{0}, {1, 2}};
  if (failed(gather) || !expand || expand.getSrcType().getRank() != 2 ||
      expand.getReassociationIndices() != rowColumns ||
      expand.getResultType().getShape().back() != 1 ||
      !isZeroFill(bmm.getOutputs()[0]))
    return false;
  layer.activation = expand.getSrc();
  layer.weight = gather->table;
  layer.indices = gather->indices;
  layer.wrapsNegative = gather->wrapsNegative;
  return true;
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
    layer.weight = tracedConstant(matmul.getInputs()[1], {1, 0});
    if (!layer.weight) {
      why = "the right operand is not linalg.transpose of a constant [N, K]";
      return failure();
    }
    if (!isZeroFill(matmul.getOutputs()[0])) {
      why = "the accumulator is not a zero linalg.fill";
      return failure();
    }
  } else if (auto bmm = dyn_cast<linalg::BatchMatmulOp>(op);
             bmm && matchGatheredLinear(bmm, layer)) {
    // Routed experts: checked below like any weight.
  } else if (auto bmm = dyn_cast<linalg::BatchMatmulOp>(op)) {
    layer.activation = bmm.getInputs()[0];
    Value rhs = bmm.getInputs()[1];
    layer.weight = tracedConstant(rhs, {0, 2, 1});
    // A weight [N, K] shared by the batch, viewed as [B, K, N]: broadcast
    // (transpose(W)), or torch-mlir's einsum reshapes for a batch of 1.
    if (!layer.weight)
      layer.weight = tracedConstant(rhs, {-1, 1, 0});
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
  } else if (isGenericContraction(op)) {
    if (failed(matchGenericLinear(cast<linalg::GenericOp>(op), layer, why)))
      return failure();
  } else {
    why = "not a linalg.matmul, linalg.batch_matmul or linalg.generic "
          "multiply-add contraction";
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

LogicalResult mlir::fp4::layerTypes(const LinearLayer &layer, StringRef weights,
                         StringRef activations, QuantizedTensorType &weightType,
                         QuantizedTensorType &activationType,
                         std::string &why) {
  MLIRContext *ctx = layer.op->getContext();
  auto weight = cast<RankedTensorType>(arith::ConstantOp(layer.weight).getType());
  weightType = QuantizedTensorType::getPreset(ctx, weights, weight.getShape(),
                                              Type(), why);
  if (!weightType)
    return failure();
  activationType = {};
  if (activations != "none") {
    auto activation = cast<RankedTensorType>(layer.activation.getType());
    activationType = QuantizedTensorType::getPreset(
        ctx, activations, activation.getShape(), Type(), why);
    if (!activationType)
      return failure();
    ScalingAttr a = activationType.getScaling(), w = weightType.getScaling();
    if (a.isPerBlock() && w.isPerBlock() &&
        a.getBlockSize() != w.getBlockSize()) {
      why = "activation blocks of " + std::to_string(a.getBlockSize()) +
            " and weight blocks of " + std::to_string(w.getBlockSize()) +
            " cannot meet in one block-scaled matmul";
      return failure();
    }
  }
  return success();
}
