//===- Smooth.cpp - migrate activation outliers into the weights ----------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "Calibration.h"
#include "fp4/Calibration/Calibration.h"
#include "fp4/Dialect/FP4/Transforms/FoldConstants.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/MapVector.h"

#include <cmath>

namespace mlir::fp4 {
#define GEN_PASS_DEF_FP4SMOOTH
#include "fp4/Dialect/FP4/Transforms/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;
using namespace mlir::fp4;
namespace cal = ::fp4::calibration;

namespace {

/// The f32 values of a weight constant, or failure with a reason.
FailureOr<std::vector<float>> weightValues(arith::ConstantOp constant,
                                           std::string &why) {
  auto elements = dyn_cast<ElementsAttr>(constant.getValue());
  auto type = dyn_cast<RankedTensorType>(constant.getType());
  if (!elements || !type || !type.getElementType().isF32()) {
    why = "its weights are not f32 constants";
    return failure();
  }
  std::vector<char> splat;
  FailureOr<ArrayRef<char>> bytes = getRawBytes(elements, splat, why);
  if (failed(bytes))
    return failure();
  std::vector<float> values(type.getNumElements());
  std::memcpy(values.data(), bytes->data(), values.size() * sizeof(float));
  return values;
}

/// x * v along the last dimension, v a constant vector.
Value scaleLastDim(OpBuilder &b, Location loc, Value x,
                   ArrayRef<float> factors) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  auto vectorType =
      RankedTensorType::get({type.getShape().back()}, b.getF32Type());
  Value vector = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(vectorType, factors));
  Value init = tensor::EmptyOp::create(b, loc, type.getShape(),
                                       type.getElementType());
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(rank, ctx),
      AffineMap::get(rank, 0, {getAffineDimExpr(rank - 1, ctx)}, ctx),
      AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{x, vector}, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value factor = args[1];
               if (args[0].getType() != factor.getType())
                 factor = arith::TruncFOp::create(nb, l, args[0].getType(),
                                                  factor);
               linalg::YieldOp::create(
                   nb, l, arith::MulFOp::create(nb, l, args[0], factor)
                              .getResult());
             })
      .getResult(0);
}

/// `value` traced back through single-use reshapes that keep the last
/// dimension (so channel j stays channel j).
Value throughChannelReshapes(Value value) {
  auto keepsLastDim = [](ArrayRef<ReassociationIndices> groups) {
    return !groups.empty() && groups.back().size() == 1;
  };
  while (Operation *producer = value.getDefiningOp()) {
    Value source;
    if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(producer)) {
      if (!keepsLastDim(collapse.getReassociationIndices()))
        break;
      source = collapse.getSrc();
    } else if (auto expand = dyn_cast<tensor::ExpandShapeOp>(producer)) {
      if (!keepsLastDim(expand.getReassociationIndices()))
        break;
      source = expand.getSrc();
    } else {
      break;
    }
    if (!source.hasOneUse())
      break;
    value = source;
  }
  return value;
}

/// Replaces `constant` by one of the same type holding `values`, keeping its
/// discardable attributes (fp4.param_name).
void replaceConstant(OpBuilder &b, arith::ConstantOp constant,
                     ArrayRef<float> values) {
  b.setInsertionPoint(constant);
  auto scaled = arith::ConstantOp::create(
      b, constant.getLoc(),
      DenseElementsAttr::get(cast<RankedTensorType>(constant.getType()),
                             values));
  scaled->setDiscardableAttrs(constant->getDiscardableAttrDictionary());
  constant.replaceAllUsesWith(scaled.getResult());
  constant.erase();
}

/// The elementwise product behind `activation` (through reshapes that keep
/// its last dimension): a linalg.generic without reductions whose body
/// multiplies its two inputs. Null when there is none, or when something
/// besides the group's layers reads the activation.
linalg::GenericOp productBehind(Value activation,
                                ArrayRef<ObservationPoint> points) {
  for (Operation *user : activation.getUsers())
    if (llvm::none_of(points, [&](const ObservationPoint &point) {
          return point.layer == user;
        }))
      return {};
  auto generic =
      throughChannelReshapes(activation).getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 2 ||
      generic.getNumResults() != 1 || generic.getNumReductionLoops() != 0)
    return {};
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto mul = yield.getValues().front().getDefiningOp<arith::MulFOp>();
  if (!mul || &body.front() != mul.getOperation() ||
      !llvm::is_contained(ValueRange{mul.getLhs(), mul.getRhs()},
                          body.getArgument(0)) ||
      !llvm::is_contained(ValueRange{mul.getLhs(), mul.getRhs()},
                          body.getArgument(1)))
    return {};
  return generic;
}

/// If `activation` is, through reshapes that keep its last dimension, the
/// result of a per-channel multiply by a constant vector (a norm's weight,
/// as torch-mlir emits RMSNorm and LayerNorm) that nothing else reads,
/// returns that constant: scaling it folds the smoothing into the norm.
arith::ConstantOp perChannelFactor(Value activation,
                                   ArrayRef<ObservationPoint> points) {
  linalg::GenericOp generic = productBehind(activation, points);
  if (!generic || !generic.getResult(0).hasOneUse())
    return {};
  Value value = generic.getResult(0);
  int64_t rank = cast<RankedTensorType>(value.getType()).getRank();
  AffineMap lastDim = AffineMap::get(
      rank, 0, {getAffineDimExpr(rank - 1, generic.getContext())},
      generic.getContext());
  // The other input and the output must be the identity, so that the
  // vector's j scales channel j of the activation.
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, generic.getContext());
  if (generic.getMatchingIndexingMap(generic.getDpsInitOperand(0)) != identity)
    return {};
  for (OpOperand *input : generic.getDpsInputOperands()) {
    auto constant = input->get().getDefiningOp<arith::ConstantOp>();
    OpOperand *other = generic.getDpsInputOperand(
        input->getOperandNumber() == 0 ? 1 : 0);
    if (constant && constant->hasOneUse() &&
        generic.getMatchingIndexingMap(input) == lastDim &&
        generic.getMatchingIndexingMap(other) == identity &&
        cast<RankedTensorType>(constant.getType()).getElementType().isF32())
      return constant;
  }
  return {};
}

bool onlyFeeds(arith::ConstantOp constant, Operation *layer);

/// The layer whose weight rows make an activation's channels: channel j of
/// the activation is row `rowOffset + j` of the weight ([N, K], or [E, N, K]
/// for stacked experts, where it holds in each expert).
struct ProducingRows {
  LinearLayer layer;
  int64_t rowOffset = 0;
};

/// The static range [offset, offset + size) that `slice` takes of its
/// source's last dimension when it takes every other dimension whole with
/// unit strides; nullopt otherwise.
std::optional<std::pair<int64_t, int64_t>>
lastDimRange(tensor::ExtractSliceOp slice) {
  auto sourceType = cast<RankedTensorType>(slice.getSourceType());
  int64_t rank = sourceType.getRank();
  if (!slice.hasUnitStride() || slice.getType().getRank() != rank ||
      ShapedType::isDynamicShape(sourceType.getShape()))
    return std::nullopt;
  ArrayRef<int64_t> offsets = slice.getStaticOffsets();
  ArrayRef<int64_t> sizes = slice.getStaticSizes();
  for (int64_t d = 0; d < rank; ++d) {
    if (ShapedType::isDynamic(offsets[d]) || ShapedType::isDynamic(sizes[d]))
      return std::nullopt;
    if (d + 1 < rank && (offsets[d] != 0 || sizes[d] != sourceType.getDimSize(d)))
      return std::nullopt;
  }
  return std::make_pair(offsets.back(), sizes.back());
}

/// If `activation` is, through reshapes that keep its last dimension, the
/// elementwise product of two tensors one of which is a linear layer's
/// output (SwiGLU: silu(gate) * up, as torch-mlir emits it), or a slice of
/// its last dimension (stacked gate/up weights, sliced), and nothing else
/// reads any of it, returns that layer's rows: scaling the weight's row of
/// channel j scales channel j of the activation, so the smoothing folds
/// into it. A slice's source may be read by other slices of other rows.
FailureOr<ProducingRows> productOfLayer(Value activation,
                                        ArrayRef<ObservationPoint> points) {
  linalg::GenericOp generic = productBehind(activation, points);
  Value value = generic ? generic.getResult(0) : Value();
  if (!generic || (value != activation && !value.hasOneUse()) ||
      !llvm::all_of(generic.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isIdentity(); }))
    return failure();
  for (OpOperand *input : generic.getDpsInputOperands()) {
    if (!input->get().hasOneUse())
      continue;
    Value source = throughChannelReshapes(input->get());
    int64_t rowOffset = 0;
    if (auto slice = source.getDefiningOp<tensor::ExtractSliceOp>()) {
      auto range = lastDimRange(slice);
      if (!range || !source.hasOneUse())
        continue;
      rowOffset = range->first;
      // Other readers of the layer's output must take other rows.
      bool disjoint = llvm::all_of(slice.getSource().getUsers(), [&](Operation *user) {
        if (user == slice.getOperation())
          return true;
        auto other = dyn_cast<tensor::ExtractSliceOp>(user);
        auto otherRange = other ? lastDimRange(other) : std::nullopt;
        return otherRange &&
               (otherRange->first + otherRange->second <= range->first ||
                range->first + range->second <= otherRange->first);
      });
      if (!disjoint)
        continue;
      source = slice.getSource();
    } else if (!source.hasOneUse()) {
      continue;
    }
    Operation *producer = source.getDefiningOp();
    if (!producer)
      continue;
    std::string why;
    FailureOr<LinearLayer> layer = matchLinearLayer(producer, why);
    if (succeeded(layer) && layer->weight &&
        onlyFeeds(layer->weight, producer))
      return ProducingRows{*layer, rowOffset};
  }
  return failure();
}

/// Does `constant` reach `layer` through single-use values only (the
/// weight's transposes and broadcasts), so that scaling it changes nothing
/// else?
bool onlyFeeds(arith::ConstantOp constant, Operation *layer) {
  Value value = constant.getResult();
  while (value.hasOneUse()) {
    Operation *user = *value.getUsers().begin();
    if (user == layer)
      return true;
    if (user->getNumResults() != 1)
      return false;
    value = user->getResult(0);
  }
  return false;
}

struct FP4SmoothPass : public mlir::fp4::impl::FP4SmoothBase<FP4SmoothPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!(alpha >= 0.0 && alpha <= 1.0)) {
      module.emitError("fp4-smooth: alpha must be in [0, 1], got ") << alpha;
      return signalPassFailure();
    }
    if (auto done = module->getAttrOfType<FloatAttr>(kSmoothedAttr)) {
      module.emitError("fp4-smooth: the module is already smoothed (alpha ")
          << done.getValueAsDouble()
          << "); smoothing twice would compound the factors";
      return signalPassFailure();
    }
    if (statsFile.empty()) {
      module.emitError("fp4-smooth: no statistics file (stats=..., or the "
                       "pipeline's calibration=...)");
      return signalPassFailure();
    }
    // The factors come from the float model's channel maxima.
    cal::StatsTable table;
    if (failed(readStatsForModule(module, statsFile, "fp4-smooth", table)))
      return signalPassFailure();
    // The layers reading each activation.
    llvm::MapVector<Value, SmallVector<ObservationPoint>> groups;
    for (ObservationPoint &point : collectObservationPoints(module))
      if (point.layer)
        groups[point.tensor].push_back(point);
    bool changed = false;
    for (auto &[activation, points] : groups)
      changed |= smooth(activation, points, table);
    if (changed)
      module->setAttr(kSmoothedAttr, FloatAttr::get(Float64Type::get(
                                                        &getContext()),
                                                    double(alpha)));
  }

  /// Smooths one activation and its layers; returns whether it did.
  bool smooth(Value activation, ArrayRef<ObservationPoint> points,
              const cal::StatsTable &table) {
    Operation *first = points.front().layer;
    auto skip = [&](const std::string &why) {
      first->emitRemark("fp4-smooth: '")
          << points.front().name << "' not smoothed: " << why;
      // Recorded, so that fp4-apply-calibration can tell a layer left
      // alone from one whose record was lost.
      for (const ObservationPoint &point : points)
        point.layer->setAttr(kSmoothInverseAttr, UnitAttr::get(&getContext()));
      return false;
    };
    auto type = cast<RankedTensorType>(activation.getType());
    int64_t k = type.getShape().back();
    if (ShapedType::isDynamic(k))
      return skip("the activation's last dimension is dynamic");
    // Activation channel maxima: the same tensor under every layer's name.
    std::vector<float> a(k, 0.0f);
    bool found = false;
    for (const ObservationPoint &point : points) {
      auto stats = table.find(point.name);
      if (stats == table.end() || stats->second.channelAmax.empty())
        continue;
      if (static_cast<int64_t>(stats->second.channelAmax.size()) != k)
        return skip("channel_amax has " +
                    std::to_string(stats->second.channelAmax.size()) +
                    " channels, the activation " + std::to_string(k));
      for (int64_t j = 0; j < k; ++j)
        a[j] = std::max(a[j], stats->second.channelAmax[j]);
      found = true;
    }
    if (!found)
      return skip("no channel_amax in the statistics");
    // Weight channel maxima over every layer of the group.
    std::vector<float> w(k, 0.0f);
    SmallVector<std::pair<arith::ConstantOp, std::vector<float>>> weights;
    for (const ObservationPoint &point : points) {
      std::string why;
      FailureOr<LinearLayer> layer = matchLinearLayer(point.layer, why);
      if (failed(layer))
        return skip(why);
      arith::ConstantOp constant = layer->weight;
      if (!onlyFeeds(constant, point.layer))
        return skip("a weight constant (or a view of it) has other users");
      auto weightType = cast<RankedTensorType>(constant.getType());
      if (weightType.getShape().back() != k)
        return skip("the weight's last dimension is not the activation's");
      FailureOr<std::vector<float>> values = weightValues(constant, why);
      if (failed(values))
        return skip(why);
      for (size_t i = 0; i < values->size(); ++i)
        w[i % k] = std::max(w[i % k], std::fabs((*values)[i]));
      weights.push_back({constant, std::move(*values)});
    }
    std::vector<float> s(k), inverse(k);
    float largest = 1.0f, smallest = 1.0f;
    for (int64_t j = 0; j < k; ++j) {
      double factor = std::pow(double(a[j]), double(alpha)) /
                      std::pow(double(w[j]), 1.0 - double(alpha));
      s[j] = (a[j] > 0.0f && w[j] > 0.0f && std::isfinite(factor) &&
              factor > 0.0)
                 ? static_cast<float>(factor)
                 : 1.0f;
      inverse[j] = 1.0f / s[j];
      largest = std::max(largest, s[j]);
      smallest = std::min(smallest, s[j]);
    }
    // Weights: W * s along the last dimension, in new constants.
    OpBuilder b(&getContext());
    // The layers keep 1/s, from which fp4-apply-calibration derives the
    // smoothed maxima from the float model's statistics.
    auto inverseAttr = DenseElementsAttr::get(
        RankedTensorType::get({k}, b.getF32Type()), ArrayRef<float>(inverse));
    for (const ObservationPoint &point : points)
      point.layer->setAttr(kSmoothInverseAttr, inverseAttr);
    for (auto &[constant, values] : weights) {
      for (size_t i = 0; i < values.size(); ++i)
        values[i] *= s[i % k];
      replaceConstant(b, constant, values);
    }
    // Activation: 1/s folded into the norm's weight when one produces it,
    // else x * (1/s) before the first layer (points come in program order).
    bool folded = false;
    if (arith::ConstantOp norm = perChannelFactor(activation, points)) {
      std::string why;
      FailureOr<std::vector<float>> values = weightValues(norm, why);
      if (succeeded(values)) {
        for (int64_t j = 0; j < k; ++j)
          (*values)[j] *= inverse[j];
        replaceConstant(b, norm, *values);
        folded = true;
      }
    }
    std::string foldedInto = "the preceding per-channel multiply";
    if (!folded && foldIntoWeights) {
      // Else into the rows of the layer whose output the activation is a
      // product of (SwiGLU's up projection): row j scales channel j.
      FailureOr<ProducingRows> producer = productOfLayer(activation, points);
      std::string why;
      FailureOr<std::vector<float>> values =
          succeeded(producer) ? weightValues(producer->layer.weight, why)
                              : FailureOr<std::vector<float>>(failure());
      ArrayRef<int64_t> shape =
          succeeded(producer)
              ? cast<RankedTensorType>(producer->layer.weight.getType())
                    .getShape()
              : ArrayRef<int64_t>();
      int64_t rank = shape.size();
      if (succeeded(values) && (rank == 2 || rank == 3) &&
          producer->rowOffset + k <= shape[rank - 2]) {
        // Element i is in row (i / K) % N of its expert.
        int64_t rowLength = shape[rank - 1], rows = shape[rank - 2];
        for (size_t i = 0; i < values->size(); ++i) {
          int64_t channel = (int64_t(i) / rowLength) % rows - producer->rowOffset;
          if (channel >= 0 && channel < k)
            (*values)[i] *= inverse[channel];
        }
        replaceConstant(b, producer->layer.weight, *values);
        folded = true;
        const std::string &name = producer->layer.name;
        foldedInto = (name.empty() ? std::string("the rows of the producing layer")
                                   : "the rows of '" + name + "'") +
                     (producer->rowOffset || k < rows
                          ? " (" + std::to_string(producer->rowOffset) + " to " +
                                std::to_string(producer->rowOffset + k - 1) + ")"
                          : std::string());
      }
    }
    if (!folded) {
      b.setInsertionPoint(first);
      Value smoothed = scaleLastDim(b, first->getLoc(), activation, inverse);
      for (const ObservationPoint &point : points)
        point.layer->replaceUsesOfWith(activation, smoothed);
    }
    first->emitRemark("fp4-smooth: '")
        << points.front().name << "'" << (points.size() > 1 ? " and " : "")
        << (points.size() > 1 ? std::to_string(points.size() - 1) + " more" : "")
        << ": factors " << smallest << " to " << largest << " (alpha " << alpha
        << "), 1/s "
        << (folded ? "folded into " + foldedInto
                   : std::string("as a multiply before the layers"));
    return true;
  }
};

} // namespace
