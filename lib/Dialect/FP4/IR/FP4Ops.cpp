//===- FP4Ops.cpp - fp4 dialect operations -------------------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::fp4;

#define GET_OP_CLASSES
#include "fp4/Dialect/FP4/IR/FP4Ops.cpp.inc"

/// Formats a shape the way tensor types spell it: `4x?x8`.
static std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleave(
      shape, os,
      [&](int64_t dim) {
        if (ShapedType::isDynamic(dim))
          os << '?';
        else
          os << dim;
      },
      "x");
  return text;
}

/// Checks that `got` are exactly the storage types of `type`, in the order
/// data, scales, global scale. `what` names them ("operand", "result", ...).
static LogicalResult verifyStorageTypes(Operation *op,
                                        QuantizedTensorType type,
                                        TypeRange got, StringRef what) {
  SmallVector<Type, 3> expected = type.getStorageTypes();
  if (got.size() < expected.size())
    return op->emitOpError("expects a global scale ")
           << what << " for two-level scaling";
  if (got.size() > expected.size())
    return op->emitOpError("expects no global scale ")
           << what << ": the scaling of " << type << " is not two-level";
  static const char *const names[] = {"data", "scales", "global scale"};
  for (auto [index, pair] : llvm::enumerate(llvm::zip(expected, got))) {
    auto [want, have] = pair;
    if (want != have)
      return op->emitOpError("expects ")
             << names[index] << " " << what << " of type " << want
             << ", got " << have;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verify() {
  QuantizedTensorType type = getResult().getType();
  ArrayRef<int64_t> inputShape = getInput().getType().getShape();
  if (failed(verifyCompatibleShape(inputShape, type.getShape())))
    return emitOpError("expects the input shape ")
           << formatShape(inputShape) << " to match the result's logical shape "
           << formatShape(type.getShape());

  ScalingAttr scaling = type.getScaling();
  if (std::optional<APFloat> amax = getAmax()) {
    if (!amax->isFinite() || amax->isNegative() || amax->isZero())
      return emitOpError("expects a finite, positive amax");
    if (!scaling.hasPerTensorQuantity())
      return emitOpError("amax sets a per-tensor scale: it applies to "
                         "per-tensor or two-level scaling, got ")
             << scaling;
  }
  std::optional<ScaleRule> rule = getRule();
  std::optional<BlockScaleSearch> search = getSearch();
  bool nvfp4ModelOpt = scaling.isTwoLevel() &&
                       scaling.getScaleFormat() == ScaleFormat::UE4M3 &&
                       (!rule || *rule == ScaleRule::ModelOpt);
  // FP8 with f32 scales per tensor, per channel or per row.
  Type element = getType().getElementType();
  bool fp8F32 = isa<Float8E4M3FNType, Float8E5M2Type>(element) &&
                scaling.getScaleFormat() == ScaleFormat::F32 &&
                (!scaling.isPerBlock() ||
                 scaling.getBlockSize() == getType().getShape().back());
  if (search && *search == BlockScaleSearch::FourOverSix && !nvfp4ModelOpt)
    return emitOpError("search<four_over_six> chooses NVFP4 block scales: it "
                       "needs two-level ue4m3 scaling and the modelopt rule");
  if (search && *search == BlockScaleSearch::MSE && !nvfp4ModelOpt) {
    if (!fp8F32)
      return emitOpError("search<mse> chooses NVFP4 block scales (two-level "
                         "ue4m3 scaling, modelopt rule) or FP8 tensor or "
                         "channel scales (f32), got ")
             << scaling << " on " << element;
    if (getAmax())
      return emitOpError("search<mse> and amax both set the FP8 scale: use "
                         "one");
  }
  if (!rule)
    return success();
  switch (*rule) {
  case ScaleRule::ModelOpt:
  case ScaleRule::TorchAO:
  case ScaleRule::CompressedTensors:
    if (!scaling.isTwoLevel())
      return emitOpError("rule '")
             << stringifyScaleRule(*rule)
             << "' expects two-level ue4m3 scaling (nvfp4), got " << scaling;
    return success();
  case ScaleRule::Floor:
  case ScaleRule::RCeil:
    if (scaling.getScaleFormat() != ScaleFormat::UE8M0)
      return emitOpError("rule '")
             << stringifyScaleRule(*rule)
             << "' expects ue8m0 block scales (mxfp4, mxfp8), got " << scaling;
    return success();
  }
  llvm_unreachable("unknown scale rule");
}

//===----------------------------------------------------------------------===//
// ObserveOp
//===----------------------------------------------------------------------===//

LogicalResult ObserveOp::verify() {
  // I64Attr's accessor is unsigned: read the signed value.
  if (getIdAttr().getInt() < 0)
    return emitOpError("expects a non-negative observer id, got ")
           << getIdAttr().getInt();
  if (getName().empty())
    return emitOpError("expects a non-empty observer name");
  return success();
}

//===----------------------------------------------------------------------===//
// DequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult DequantizeOp::verify() {
  ArrayRef<int64_t> logical = getInput().getType().getShape();
  ArrayRef<int64_t> resultShape = getResult().getType().getShape();
  if (failed(verifyCompatibleShape(logical, resultShape)))
    return emitOpError("expects the result shape ")
           << formatShape(resultShape) << " to match the input's logical shape "
           << formatShape(logical);
  return success();
}

//===----------------------------------------------------------------------===//
// ScaledMatmulOp
//===----------------------------------------------------------------------===//

static ArrayRef<int64_t> getMatmulOperandShape(Type type) {
  if (auto quantized = dyn_cast<QuantizedTensorType>(type))
    return quantized.getShape();
  return cast<RankedTensorType>(type).getShape();
}

static bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// The reduction axis is the last axis of each operand: blocks must run
/// along it, and a per-channel scale must not.
static LogicalResult verifyMatmulOperandScaling(Operation *op, Type type,
                                                StringRef name) {
  auto quantized = dyn_cast<QuantizedTensorType>(type);
  if (!quantized)
    return success();
  ScalingAttr scaling = quantized.getScaling();
  int64_t reduction = quantized.getRank() - 1;
  if (scaling.isPerBlock() && scaling.getAxis() != reduction)
    return op->emitOpError("expects ")
           << name << " to be blocked along its reduction axis " << reduction
           << ", got axis " << scaling.getAxis();
  if (scaling.isPerChannel() && scaling.getAxis() == reduction)
    return op->emitOpError("expects ")
           << name << " per-channel scales along a non-reduction axis (a scale "
           << "along the reduction axis " << reduction
           << " cannot be factored out of the sum)";
  return success();
}

/// Block-scaled on both sides, the operands' blocks must match along K.
static LogicalResult verifyEqualBlockSizes(Operation *op, Type lhsType,
                                           Type rhsType) {
  auto lhsQ = dyn_cast<QuantizedTensorType>(lhsType);
  auto rhsQ = dyn_cast<QuantizedTensorType>(rhsType);
  if (lhsQ && rhsQ && lhsQ.getScaling().isPerBlock() &&
      rhsQ.getScaling().isPerBlock() &&
      lhsQ.getScaling().getBlockSize() != rhsQ.getScaling().getBlockSize())
    return op->emitOpError("expects equal block sizes along the reduction "
                           "axis, got ")
           << lhsQ.getScaling().getBlockSize() << " (lhs) and "
           << rhsQ.getScaling().getBlockSize() << " (rhs)";
  return success();
}

/// An optional bias must have shape `expected` (`what`: "[N]", ...).
static LogicalResult verifyBiasShape(Operation *op, Value bias,
                                     ArrayRef<int64_t> expected,
                                     StringRef what) {
  if (!bias)
    return success();
  ArrayRef<int64_t> actual = cast<RankedTensorType>(bias.getType()).getShape();
  if (failed(verifyCompatibleShape(expected, actual)))
    return op->emitOpError("expects a bias ")
           << what << " of shape " << formatShape(expected) << ", got "
           << formatShape(actual);
  return success();
}

AffineMap ScaledMatmulOp::getBiasMap(MLIRContext *ctx, int64_t resultRank,
                                     bool perBatch) {
  SmallVector<AffineExpr> exprs;
  if (perBatch)
    exprs.push_back(getAffineDimExpr(0, ctx));
  exprs.push_back(getAffineDimExpr(resultRank - 1, ctx));
  return AffineMap::get(resultRank, 0, exprs, ctx);
}

LogicalResult ScaledMatmulOp::verify() {
  Type lhsType = getLhs().getType(), rhsType = getRhs().getType();
  auto lhsQ = dyn_cast<QuantizedTensorType>(lhsType);
  auto rhsQ = dyn_cast<QuantizedTensorType>(rhsType);
  if (!lhsQ && !rhsQ)
    return emitOpError("expects at least one quantized operand (use "
                       "linalg.matmul for float operands)");

  ArrayRef<int64_t> lhs = getMatmulOperandShape(lhsType);
  ArrayRef<int64_t> rhs = getMatmulOperandShape(rhsType);
  int64_t lhsRank = lhs.size(), rhsRank = rhs.size();
  if (lhsRank != 2 && lhsRank != 3)
    return emitOpError("expects lhs of rank 2 or 3, got rank ") << lhsRank;
  if (rhsRank != 2 && rhsRank != 3)
    return emitOpError("expects rhs of rank 2 or 3, got rank ") << rhsRank;
  if (rhsRank == 3 && lhsRank != 3)
    return emitOpError("expects a rank-3 lhs with a rank-3 (batched) rhs, got "
                       "lhs rank ")
           << lhsRank;
  if (!dimsCompatible(lhs.back(), rhs.back()))
    return emitOpError("expects the reduction dimensions of lhs and rhs to "
                       "match, got ")
           << lhs.back() << " and " << rhs.back();
  if (rhsRank == 3 && !dimsCompatible(lhs[0], rhs[0]))
    return emitOpError("expects the batch dimensions of lhs and rhs to match, "
                       "got ")
           << lhs[0] << " and " << rhs[0];

  SmallVector<int64_t> expected(lhs.drop_back());
  expected.push_back(rhs[rhsRank - 2]);
  ArrayRef<int64_t> result = getResult().getType().getShape();
  if (failed(verifyCompatibleShape(expected, result)))
    return emitOpError("expects result shape ")
           << formatShape(expected) << ", got " << formatShape(result);

  if (failed(verifyMatmulOperandScaling(*this, lhsType, "lhs")) ||
      failed(verifyMatmulOperandScaling(*this, rhsType, "rhs")) ||
      failed(verifyEqualBlockSizes(*this, lhsType, rhsType)))
    return failure();
  // [N], or [B, N]: one bias per batch of weights.
  SmallVector<int64_t> biasShape;
  if (rhsRank == 3)
    biasShape.push_back(rhs[0]);
  biasShape.push_back(rhs[rhsRank - 2]);
  return verifyBiasShape(*this, getBias(), biasShape,
                         rhsRank == 3 ? "[B, N]" : "[N]");
}

//===----------------------------------------------------------------------===//
// GatheredMatmulOp
//===----------------------------------------------------------------------===//

LogicalResult GatheredMatmulOp::verify() {
  ArrayRef<int64_t> lhs = getMatmulOperandShape(getLhs().getType());
  ArrayRef<int64_t> rhs = getRhs().getType().getShape();
  ArrayRef<int64_t> indices = getIndices().getType().getShape();
  if (lhs.size() != 2)
    return emitOpError("expects lhs [T, K], got rank ") << lhs.size();
  if (rhs.size() != 3)
    return emitOpError(
               "expects stacked expert weights rhs [E, N, K], got rank ")
           << rhs.size();
  if (indices.size() != 1 || !dimsCompatible(indices[0], lhs[0]))
    return emitOpError("expects indices [T] with T = ")
           << lhs[0] << " (the rows of lhs), got " << formatShape(indices);
  if (!dimsCompatible(lhs[1], rhs[2]))
    return emitOpError("expects the reduction dimensions of lhs and rhs to "
                       "match, got ")
           << lhs[1] << " and " << rhs[2];
  SmallVector<int64_t> expected = {lhs[0], rhs[1]};
  ArrayRef<int64_t> result = getResult().getType().getShape();
  if (failed(verifyCompatibleShape(expected, result)))
    return emitOpError("expects result shape ")
           << formatShape(expected) << ", got " << formatShape(result);
  Type lhsType = getLhs().getType(), rhsType = getRhs().getType();
  if (failed(verifyMatmulOperandScaling(*this, lhsType, "lhs")) ||
      failed(verifyMatmulOperandScaling(*this, rhsType, "rhs")) ||
      failed(verifyEqualBlockSizes(*this, lhsType, rhsType)))
    return failure();
  return verifyBiasShape(*this, getBias(), {rhs[0], rhs[1]}, "[E, N]");
}

//===----------------------------------------------------------------------===//
// ConstantOp
//===----------------------------------------------------------------------===//

/// A `dense_resource` blob must hold exactly the bytes its type says; MLIR
/// itself does not check this. Elided blobs (not loaded) are not checked.
static LogicalResult verifyResourceSize(Operation *op, ElementsAttr attr,
                                        StringRef name) {
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!resource)
    return success();
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  if (!blob)
    return success();
  ShapedType type = resource.getType();
  int64_t expected = type.getNumElements() *
                     llvm::divideCeil(type.getElementTypeBitWidth(), 8);
  int64_t actual = blob->getData().size();
  if (actual != expected)
    return op->emitOpError("expects ")
           << name << " resource '" << resource.getRawHandle().getKey()
           << "' to hold " << expected << " bytes for " << type << ", got "
           << actual;
  return success();
}

LogicalResult ConstantOp::verify() {
  QuantizedTensorType type = getResult().getType();
  if (!type.hasStaticShape())
    return emitOpError("expects a static shape, got ") << type;
  SmallVector<Type, 3> got = {getData().getType(), getScales().getType()};
  if (std::optional<ElementsAttr> global = getGlobalScale())
    got.push_back(global->getType());
  if (failed(verifyStorageTypes(*this, type, got, "attribute")) ||
      failed(verifyResourceSize(*this, getData(), "data")) ||
      failed(verifyResourceSize(*this, getScales(), "scales")))
    return failure();
  if (std::optional<ElementsAttr> global = getGlobalScale())
    return verifyResourceSize(*this, *global, "global scale");
  return success();
}

//===----------------------------------------------------------------------===//
// AssembleOp / DisassembleOp
//===----------------------------------------------------------------------===//

LogicalResult AssembleOp::verify() {
  return verifyStorageTypes(*this, getResult().getType(),
                            getOperandTypes(), "operand");
}

OpFoldResult AssembleOp::fold(FoldAdaptor) {
  auto parts = getData().getDefiningOp<DisassembleOp>();
  if (!parts || parts.getInput().getType() != getType() ||
      parts.getData() != getData() || parts.getScales() != getScales() ||
      parts.getGlobalScale() != getGlobalScale())
    return {};
  return parts.getInput();
}

LogicalResult DisassembleOp::verify() {
  return verifyStorageTypes(*this, getInput().getType(), getResultTypes(),
                            "result");
}

LogicalResult DisassembleOp::fold(FoldAdaptor,
                                  SmallVectorImpl<OpFoldResult> &results) {
  auto whole = getInput().getDefiningOp<AssembleOp>();
  if (!whole)
    return failure();
  results.push_back(whole.getData());
  results.push_back(whole.getScales());
  if (Value global = whole.getGlobalScale())
    results.push_back(global);
  return success();
}
