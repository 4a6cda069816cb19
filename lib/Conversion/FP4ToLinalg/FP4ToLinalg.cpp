//===- FP4ToLinalg.cpp - fp4 ops to linalg for the CPU --------------------===//
//
// Part of fp4-mlir. Dequantization reads every value from tables computed by
// the numerics library, so the CPU path decodes exactly as fp4-quant does.
//
//===----------------------------------------------------------------------===//

#include "fp4/Conversion/Passes.h"
#include "fp4/Conversion/LoweringUtils.h"
#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "fp4/Dialect/FP4/Transforms/FoldConstants.h"
#include "fp4/Numerics/ElementFormats.h"
#include "fp4/Numerics/Quantize.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::fp4 {
#define GEN_PASS_DEF_CONVERTFP4TOLINALG
#include "fp4/Conversion/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;
using namespace mlir::fp4;
namespace nx = ::fp4::numerics;

namespace {

/// `value` (a float scalar) as f32: arith.extf unless it is one already.
Value widenToF32(OpBuilder &b, Location loc, Value value) {
  if (value.getType().isF32())
    return value;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), value);
}

using Storage = StorageParts;

constexpr const char *kQuantizeByteScales = "fp4rt_quantize_byte_scales";
constexpr const char *kQuantizeF32Scales = "fp4rt_quantize_f32_scales";
constexpr const char *kObserve = "fp4rt_observe";

/// Run-time quantization (activations): a call into the CPU runtime, which
/// runs the numerics library, on buffers that become the storage tensors.
FailureOr<Storage> quantizeAtRunTime(PatternRewriter &rewriter, Location loc,
                                     QuantizeOp op) {
  QuantizedTensorType type = op.getType();
  std::string why;
  FailureOr<::fp4::numerics::QuantConfig> config = getQuantConfig(op, why);
  if (failed(config) || !type.hasStaticShape() ||
      type.getScaling().isSwizzled())
    return failure();
  auto memrefOf = [](RankedTensorType t) {
    return MemRefType::get(t.getShape(), t.getElementType());
  };
  auto unranked = [&](Value memref) -> Value {
    auto element = cast<MemRefType>(memref.getType()).getElementType();
    return memref::CastOp::create(rewriter, loc,
                                  UnrankedMemRefType::get(element, 0), memref);
  };
  Value input = convertElementType(rewriter, loc, op.getInput(),
                                   rewriter.getF32Type());
  auto inputType = cast<RankedTensorType>(input.getType());
  Value inputBuffer = bufferization::ToBufferOp::create(
      rewriter, loc, memrefOf(inputType), input, /*readOnly=*/true);
  RankedTensorType dataType = type.getDataType();
  RankedTensorType scalesType = type.getScalesType();
  bool byteScales = config->scaleFormat() == ::fp4::numerics::ScaleFormat::UE4M3 ||
                    config->scaleFormat() == ::fp4::numerics::ScaleFormat::UE8M0;
  if (byteScales) // the runtime writes raw bytes; dequantization reads them
    scalesType = RankedTensorType::get(scalesType.getShape(),
                                       rewriter.getI8Type());
  Value data = memref::AllocOp::create(rewriter, loc, memrefOf(dataType));
  Value scales = memref::AllocOp::create(rewriter, loc, memrefOf(scalesType));
  Value global;
  if (RankedTensorType globalType = type.getGlobalScaleType())
    global = memref::AllocOp::create(rewriter, loc, memrefOf(globalType));
  auto i32 = [&](int64_t v) -> Value {
    return arith::ConstantIntOp::create(rewriter, loc, rewriter.getI32Type(), v);
  };
  SmallVector<Value> args = {unranked(inputBuffer), unranked(data),
                             unranked(scales)};
  if (byteScales) {
    if (!global) // a one-element placeholder the runtime leaves alone
      global = memref::AllocOp::create(
          rewriter, loc, MemRefType::get({}, rewriter.getF32Type()));
    args.push_back(unranked(global));
  }
  args.append({i32(int(config->scheme)), i32(int(config->element)),
               i32(int(config->rule))});
  if (!byteScales)
    args.push_back(i32(config->perChannel));
  args.push_back(i32(int(config->blockScales)));
  args.push_back(arith::ConstantOp::create(
      rewriter, loc, rewriter.getF32FloatAttr(config->staticAmax)));
  func::CallOp::create(rewriter, loc,
                       byteScales ? kQuantizeByteScales : kQuantizeF32Scales,
                       TypeRange{}, args);
  auto toTensor = [&](Value memref, RankedTensorType t) -> Value {
    return bufferization::ToTensorOp::create(rewriter, loc, t, memref,
                                             /*restrict=*/true,
                                             /*writable=*/true);
  };
  Storage storage{toTensor(data, dataType), toTensor(scales, scalesType), {}};
  if (RankedTensorType globalType = type.getGlobalScaleType())
    storage.global = toTensor(global, globalType);
  return storage;
}

FailureOr<Storage> getStorage(PatternRewriter &rewriter, Location loc,
                              Value quantized) {
  if (FailureOr<Storage> parts = getStorageParts(rewriter, loc, quantized);
      succeeded(parts))
    return parts;
  if (auto quantize = quantized.getDefiningOp<QuantizeOp>())
    return quantizeAtRunTime(rewriter, loc, quantize);
  return failure();
}

/// A constant f32 table of `decode(code)` for every code.
Value decodeTable(PatternRewriter &rewriter, Location loc, unsigned numCodes,
                  llvm::function_ref<float(uint8_t)> decode) {
  SmallVector<float> values;
  for (unsigned code = 0; code < numCodes; ++code)
    values.push_back(decode(static_cast<uint8_t>(code)));
  auto type = RankedTensorType::get({int64_t(numCodes)}, rewriter.getF32Type());
  return arith::ConstantOp::create(
      rewriter, loc, DenseElementsAttr::get(type, ArrayRef<float>(values)));
}

std::optional<nx::ElementFormat> elementFormatOf(Type type) {
  if (isa<Float4E2M1FNType>(type))
    return nx::ElementFormat::E2M1;
  if (isa<Float8E4M3FNType>(type))
    return nx::ElementFormat::E4M3;
  if (isa<Float8E5M2Type>(type))
    return nx::ElementFormat::E5M2;
  if (isa<NF4Type>(type))
    return nx::ElementFormat::NF4;
  if (isa<E1M2Type>(type))
    return nx::ElementFormat::E1M2;
  if (isa<E3M0Type>(type))
    return nx::ElementFormat::E3M0;
  return std::nullopt;
}

/// Expands a quantized tensor of `type` to float32:
/// value = decode(code) * (decode(scale) * global). With `transposed`, the
/// result has its last two dimensions swapped.
FailureOr<Value> dequantizeToF32(PatternRewriter &rewriter, Location loc,
                                 QuantizedTensorType type, Value quantized,
                                 Operation *user, bool transposed = false) {
  ScalingAttr scaling = type.getScaling();
  if (scaling.isSwizzled())
    return rewriter.notifyMatchFailure(
        user, "swizzled scales are for the GPU; the CPU path needs linear ones");
  FailureOr<Storage> storage = getStorage(rewriter, loc, quantized);
  if (failed(storage))
    return rewriter.notifyMatchFailure(
        user, "the quantized operand does not come from fp4.constant or "
              "fp4.assemble");
  std::optional<nx::ElementFormat> format =
      elementFormatOf(type.getElementType());
  if (!format)
    return rewriter.notifyMatchFailure(user, "unknown element format");
  MLIRContext *ctx = rewriter.getContext();
  int64_t rank = type.getRank();
  bool fourBit = type.getElementBitWidth() == 4;

  // Indexing maps over the logical iteration space (d0 .. d{rank-1}).
  SmallVector<AffineExpr> dims;
  for (int64_t i = 0; i < rank; ++i)
    dims.push_back(getAffineDimExpr(i, ctx));
  SmallVector<AffineExpr> dataExprs(dims);
  if (fourBit)
    dataExprs.back() = dims.back().floorDiv(2);
  SmallVector<AffineExpr> scaleExprs;
  if (scaling.isPerChannel()) {
    scaleExprs.push_back(dims[scaling.getAxis()]);
  } else if (scaling.isPerBlock()) {
    scaleExprs.assign(dims.begin(), dims.end());
    scaleExprs[scaling.getAxis()] =
        dims[scaling.getAxis()].floorDiv(scaling.getBlockSize());
  }
  SmallVector<AffineMap> maps = {
      AffineMap::get(rank, 0, dataExprs, ctx),
      AffineMap::get(rank, 0, scaleExprs, ctx)};
  SmallVector<Value> inputs = {storage->data, storage->scales};
  if (storage->global) {
    inputs.push_back(storage->global);
    maps.push_back(AffineMap::get(rank, 0, {}, ctx));
  }
  SmallVector<AffineExpr> outExprs(dims);
  SmallVector<int64_t> outShape(type.getShape());
  if (transposed) {
    std::swap(outExprs[rank - 2], outExprs[rank - 1]);
    std::swap(outShape[rank - 2], outShape[rank - 1]);
  }
  maps.push_back(AffineMap::get(rank, 0, outExprs, ctx));

  Value codeTable = decodeTable(rewriter, loc, fourBit ? 16 : 256,
                                [&](uint8_t code) {
                                  return nx::decode(*format, code);
                                });
  ScaleFormat scaleFormat = scaling.getScaleFormat();
  Value scaleTable;
  if (scaleFormat == ScaleFormat::UE4M3)
    scaleTable = decodeTable(rewriter, loc, 256, nx::decodeUE4M3);
  else if (scaleFormat == ScaleFormat::UE8M0)
    scaleTable = decodeTable(rewriter, loc, 256, nx::decodeUE8M0);

  Value init = tensor::EmptyOp::create(rewriter, loc, outShape,
                                       rewriter.getF32Type());
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      rewriter, loc, init.getType(), inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Type i32 = b.getI32Type();
        // The code: a byte, or one nibble of it (even element low).
        Value code = arith::ExtUIOp::create(b, l, i32, args[0]);
        if (fourBit) {
          Value index = linalg::IndexOp::create(b, l, rank - 1);
          Value parity = arith::IndexCastOp::create(b, l, i32, index);
          Value one = arith::ConstantIntOp::create(b, l, i32, 1);
          Value four = arith::ConstantIntOp::create(b, l, i32, 4);
          Value fifteen = arith::ConstantIntOp::create(b, l, i32, 15);
          Value shift = arith::MulIOp::create(
              b, l, arith::AndIOp::create(b, l, parity, one), four);
          code = arith::AndIOp::create(
              b, l, arith::ShRUIOp::create(b, l, code, shift), fifteen);
        }
        Value codeIndex =
            arith::IndexCastOp::create(b, l, b.getIndexType(), code);
        Value value = tensor::ExtractOp::create(b, l, codeTable, codeIndex);
        // The scale: a byte format through its table, or a float.
        Value scale = args[1];
        if (scaleTable) {
          Value byte = scale.getType().isInteger(8)
                           ? scale
                           : arith::BitcastOp::create(b, l, b.getI8Type(), scale)
                                 .getResult();
          Value wide = arith::ExtUIOp::create(b, l, i32, byte);
          Value scaleIndex =
              arith::IndexCastOp::create(b, l, b.getIndexType(), wide);
          scale = tensor::ExtractOp::create(b, l, scaleTable, scaleIndex);
        } else {
          scale = widenToF32(b, l, scale);
        }
        if (storage->global)
          scale = arith::MulFOp::create(b, l, scale, args[2]);
        linalg::YieldOp::create(b, l,
                                arith::MulFOp::create(b, l, value, scale).getResult());
      });
  if (transposed)
    generic->setAttr(kCPUTransposeAttr, rewriter.getUnitAttr());
  return generic.getResult(0);
}

/// The weight of a scaled matmul as float32 [.., K, N] (decoded straight into
/// that layout when quantized), or the float weight transposed to it.
FailureOr<Value> weightAsF32KN(PatternRewriter &rewriter, Location loc,
                               Value weight, Operation *user) {
  if (auto type = dyn_cast<QuantizedTensorType>(weight.getType()))
    return dequantizeToF32(rewriter, loc, type, weight, user,
                           /*transposed=*/true);
  auto type = cast<RankedTensorType>(weight.getType());
  int64_t rank = type.getRank();
  SmallVector<int64_t> permutation =
      llvm::to_vector(llvm::seq<int64_t>(0, rank));
  std::swap(permutation[rank - 2], permutation[rank - 1]);
  SmallVector<OpFoldResult> shape =
      tensor::getMixedSizes(rewriter, loc, weight);
  std::swap(shape[rank - 2], shape[rank - 1]);
  Value init =
      tensor::EmptyOp::create(rewriter, loc, shape, type.getElementType());
  return linalg::TransposeOp::create(rewriter, loc, weight, init, permutation)
      .getResult()[0];
}

/// A matmul's operands for the CPU: `lhs` as is (float) or dequantized to
/// f32, `rhs` decoded to f32 and transposed to [.., K, N].
FailureOr<std::pair<Value, Value>> matmulOperands(PatternRewriter &rewriter,
                                                  Location loc, Value lhs,
                                                  Value rhs, Operation *user) {
  FailureOr<Value> lhsF32 = lhs;
  if (auto type = dyn_cast<QuantizedTensorType>(lhs.getType()))
    lhsF32 = dequantizeToF32(rewriter, loc, type, lhs, user);
  if (failed(lhsF32))
    return failure();
  FailureOr<Value> rhsKN = weightAsF32KN(rewriter, loc, rhs, user);
  if (failed(rhsKN))
    return failure();
  return std::make_pair(*lhsF32, *rhsKN);
}

struct DequantizeToLinalg : public OpRewritePattern<DequantizeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DequantizeOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<Value> f32 = dequantizeToF32(
        rewriter, op.getLoc(), op.getInput().getType(), op.getInput(), op);
    if (failed(f32))
      return failure();
    rewriter.replaceOp(op, convertElementType(rewriter, op.getLoc(), *f32,
                                      op.getType().getElementType()));
    return success();
  }
};

/// The storage parts of a quantized value become its tensors.
struct DisassembleToStorage : public OpRewritePattern<DisassembleOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DisassembleOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<Storage> storage =
        getStorage(rewriter, op.getLoc(), op.getInput());
    if (failed(storage))
      return rewriter.notifyMatchFailure(op, "unknown producer");
    SmallVector<Value> parts = {storage->data, storage->scales};
    if (op.getGlobalScale())
      parts.push_back(storage->global);
    // Run-time quantization writes scale bytes as i8; the result may name
    // them f8E4M3FN / f8E8M0FNU.
    for (auto [part, result] : llvm::zip(parts, op.getResults()))
      part = convertElementType(
          rewriter, op.getLoc(), part,
          cast<RankedTensorType>(result.getType()).getElementType());
    rewriter.replaceOp(op, parts);
    return success();
  }
};

/// fp4.observe: the tensor, as float32, goes to the runtime's observer.
struct ObserveToRuntime : public OpRewritePattern<ObserveOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ObserveOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = convertElementType(rewriter, loc, op.getInput(),
                                     rewriter.getF32Type());
    auto type = cast<RankedTensorType>(input.getType());
    if (!type.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic shape");
    Value buffer = bufferization::ToBufferOp::create(
        rewriter, loc, MemRefType::get(type.getShape(), type.getElementType()),
        input, /*readOnly=*/true);
    Value unranked = memref::CastOp::create(
        rewriter, loc, UnrankedMemRefType::get(rewriter.getF32Type(), 0),
        buffer);
    Value id = arith::ConstantIntOp::create(rewriter, loc,
                                            rewriter.getI64Type(), op.getId());
    func::CallOp::create(rewriter, loc, kObserve, TypeRange{},
                         ValueRange{unranked, id});
    rewriter.eraseOp(op);
    return success();
  }
};

/// lhs x rhs^T accumulated in float32: out[b, m, n] += lhs[b, m, k] *
/// rhs[b, n, k] (rhs without b when shared). The weight is decoded once into
/// [.., K, N] and the loops run ([b,] k, m, n): the innermost loop is then a
/// contiguous multiply-add over n that LLVM vectorizes without reassociating
/// anything, and each output still sums its products in k order.
struct ScaledMatmulToLinalg : public OpRewritePattern<ScaledMatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScaledMatmulOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    FailureOr<std::pair<Value, Value>> operands =
        matmulOperands(rewriter, loc, op.getLhs(), op.getRhs(), op);
    if (failed(operands))
      return failure();
    Value lhs = operands->first, rhs = operands->second;
    auto resultType = op.getType();
    int64_t lhsRank = cast<ShapedType>(lhs.getType()).getRank();
    int64_t rhsRank = cast<ShapedType>(rhs.getType()).getRank();
    bool batched = lhsRank == 3;
    MLIRContext *ctx = rewriter.getContext();
    int64_t loops = batched ? 4 : 3;
    auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
    // Loop order: [b,] k, m, n.
    int64_t k = batched ? 1 : 0, m = k + 1, n = k + 2;
    SmallVector<AffineExpr> lhsExprs, rhsExprs, outExprs;
    if (batched)
      lhsExprs.push_back(d(0)), outExprs.push_back(d(0));
    lhsExprs.append({d(m), d(k)});
    if (rhsRank == 3)
      rhsExprs.push_back(d(0));
    rhsExprs.append({d(k), d(n)});
    outExprs.append({d(m), d(n)});
    SmallVector<AffineMap> maps = {AffineMap::get(loops, 0, lhsExprs, ctx),
                                   AffineMap::get(loops, 0, rhsExprs, ctx),
                                   AffineMap::get(loops, 0, outExprs, ctx)};
    SmallVector<utils::IteratorType> iterators(loops,
                                               utils::IteratorType::parallel);
    iterators[k] = utils::IteratorType::reduction;

    SmallVector<OpFoldResult> outShape;
    for (int64_t i = 0; i < resultType.getRank(); ++i) {
      if (resultType.isDynamicDim(i))
        outShape.push_back(
            tensor::DimOp::create(rewriter, loc, lhs, i).getResult());
      else
        outShape.push_back(rewriter.getIndexAttr(resultType.getDimSize(i)));
    }
    Value empty = tensor::EmptyOp::create(rewriter, loc, outShape,
                                          rewriter.getF32Type());
    Value zero = arith::ConstantOp::create(rewriter, loc,
                                           rewriter.getF32FloatAttr(0.0f));
    Value acc = linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0);
    auto contraction = linalg::GenericOp::create(
        rewriter, loc, acc.getType(), ValueRange{lhs, rhs}, ValueRange{acc},
        maps, iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          Value a = widenToF32(b, l, args[0]), w = widenToF32(b, l, args[1]);
          Value product = arith::MulFOp::create(b, l, a, w);
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, args[2], product).getResult());
        });
    contraction->setAttr(kCPUContractionAttr, rewriter.getUnitAttr());
    Value sum = contraction.getResult(0);
    if (Value bias = op.getBias())
      sum = addBias(rewriter, loc, sum, bias, rhsRank == 3);
    rewriter.replaceOp(op, convertElementType(rewriter, loc, sum,
                                              resultType.getElementType()));
    return success();
  }

  /// sum[.., n] + bias[n] (or bias[b, n] with batched weights), in f32,
  /// before the result's one rounding.
  static Value addBias(OpBuilder &b, Location loc, Value sum, Value bias,
                       bool batchedBias) {
    auto type = cast<RankedTensorType>(sum.getType());
    int64_t rank = type.getRank();
    AffineMap identity = b.getMultiDimIdentityMap(rank);
    SmallVector<AffineMap> maps = {
        identity, ScaledMatmulOp::getBiasMap(b.getContext(), rank, batchedBias),
        identity};
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    return linalg::GenericOp::create(
               b, loc, type, ValueRange{sum, bias}, ValueRange{sum}, maps,
               iterators,
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 linalg::YieldOp::create(
                     nb, l,
                     arith::AddFOp::create(nb, l, args[0],
                                           widenToF32(nb, l, args[1]))
                         .getResult());
               })
        .getResult(0);
  }
};

/// Row t of lhs times expert indices[t] of rhs, in float32: the weights are
/// decoded once into [E, K, N] and each row's products read its expert's
/// slice (tensor.extract in the contraction's body), summed in k order. An
/// index outside [0, E) reads expert 0 and its row becomes NaN.
struct GatheredMatmulToLinalg : public OpRewritePattern<GatheredMatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GatheredMatmulOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    FailureOr<std::pair<Value, Value>> operands =
        matmulOperands(rewriter, loc, op.getLhs(), op.getRhs(), op);
    if (failed(operands))
      return failure();
    Value lhs = operands->first, rhs = operands->second;
    RankedTensorType resultType = op.getType();
    if (!resultType.hasStaticShape())
      return op.emitError("convert-fp4-to-linalg: fp4.gathered_matmul needs "
                          "static shapes on the CPU"),
             failure();
    int64_t experts = op.getRhs().getType().getShape()[0];
    MLIRContext *ctx = rewriter.getContext();
    auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
    Type f32 = rewriter.getF32Type();
    // The expert of row t (as an index), and whether it exists.
    auto expertOf = [&](OpBuilder &b, Location l, Value raw) {
      Value id = arith::IndexCastOp::create(b, l, b.getIndexType(), raw);
      Value valid =
          arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, id,
                                arith::ConstantIndexOp::create(b, l, experts));
      Value safe = arith::SelectOp::create(
          b, l, valid, id, arith::ConstantIndexOp::create(b, l, 0));
      return std::make_pair(safe, valid);
    };
    Value empty =
        tensor::EmptyOp::create(rewriter, loc, resultType.getShape(), f32);
    Value zero =
        arith::ConstantOp::create(rewriter, loc, rewriter.getF32FloatAttr(0));
    Value acc = linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0);
    // Loops (t, k, n): the innermost runs over one expert's contiguous row.
    SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {d(0), d(1)}, ctx),
                                   AffineMap::get(3, 0, {d(0)}, ctx),
                                   AffineMap::get(3, 0, {d(0), d(2)}, ctx)};
    SmallVector<utils::IteratorType> iterators = {
        utils::IteratorType::parallel, utils::IteratorType::reduction,
        utils::IteratorType::parallel};
    Value sums =
        linalg::GenericOp::create(
            rewriter, loc, acc.getType(), ValueRange{lhs, op.getIndices()},
            ValueRange{acc}, maps, iterators,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value a = widenToF32(b, l, args[0]);
              Value expert = expertOf(b, l, args[1]).first;
              Value w = tensor::ExtractOp::create(
                  b, l, rhs,
                  ValueRange{expert, linalg::IndexOp::create(b, l, 1),
                             linalg::IndexOp::create(b, l, 2)});
              linalg::YieldOp::create(
                  b, l,
                  arith::AddFOp::create(b, l, args[2],
                                        arith::MulFOp::create(b, l, a, w))
                      .getResult());
            })
            .getResult(0);
    // The epilogue over (t, n): the expert's bias, NaN for a bad index.
    Value bias = op.getBias();
    SmallVector<Value> inputs = {sums, op.getIndices()};
    SmallVector<AffineMap> epilogueMaps = {
        AffineMap::get(2, 0, {d(0), d(1)}, ctx),
        AffineMap::get(2, 0, {d(0)}, ctx)};
    epilogueMaps.push_back(epilogueMaps[0]);
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, acc.getType(), inputs, ValueRange{empty},
            epilogueMaps,
            SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
            [&](OpBuilder &b, Location l, ValueRange args) {
              auto [expert, valid] = expertOf(b, l, args[1]);
              Value v = args[0];
              if (bias) {
                Value add = tensor::ExtractOp::create(
                    b, l, bias,
                    ValueRange{expert, linalg::IndexOp::create(b, l, 1)});
                v = arith::AddFOp::create(b, l, v, widenToF32(b, l, add));
              }
              Value nan = arith::ConstantOp::create(
                  b, l, b.getF32FloatAttr(std::nanf("")));
              linalg::YieldOp::create(
                  b, l,
                  arith::SelectOp::create(b, l, valid, v, nan).getResult());
            })
            .getResult(0);
    rewriter.replaceOp(op, convertElementType(rewriter, loc, result,
                                              resultType.getElementType()));
    return success();
  }
};

struct ConvertFP4ToLinalgPass
    : public mlir::fp4::impl::ConvertFP4ToLinalgBase<ConvertFP4ToLinalgPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The runtime entry points run-time quantization calls.
    bool needsRuntime = false;
    module.walk([&](Operation *op) {
      needsRuntime |= isa<QuantizeOp, ObserveOp>(op);
    });
    if (needsRuntime) {
      OpBuilder b(module.getBodyRegion());
      MLIRContext *ctx = &getContext();
      auto f32 = UnrankedMemRefType::get(Float32Type::get(ctx), 0);
      auto i8 = UnrankedMemRefType::get(IntegerType::get(ctx, 8), 0);
      auto i32 = IntegerType::get(ctx, 32);
      auto declare = [&](StringRef name, ArrayRef<Type> types) {
        if (module.lookupSymbol(name))
          return;
        auto func = func::FuncOp::create(b, module.getLoc(), name,
                                         FunctionType::get(ctx, types, {}));
        func.setPrivate();
        func->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
      };
      Type amax = Float32Type::get(ctx);
      declare(kQuantizeByteScales,
              {f32, i8, i8, f32, i32, i32, i32, i32, amax});
      declare(kQuantizeF32Scales,
              {f32, i8, f32, i32, i32, i32, i32, i32, amax});
      declare(kObserve, {f32, IntegerType::get(ctx, 64)});
    }
    RewritePatternSet patterns(&getContext());
    populateFP4ToLinalgPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // Anything left of fp4 is something the CPU path cannot take yet.
    WalkResult result = getOperation()->walk([](Operation *op) {
      if (!isa<FP4Dialect>(op->getDialect()))
        return WalkResult::advance();
      // Storage producers are reported at their consumers.
      if (isa<mlir::fp4::ConstantOp, AssembleOp>(op))
        return WalkResult::advance();
      bool runtimeQuantize =
          isa<QuantizeOp>(op) || llvm::any_of(op->getOperands(), [](Value v) {
            return v.getDefiningOp<QuantizeOp>() != nullptr;
          });
      op->emitError("convert-fp4-to-linalg: cannot lower this op to the CPU "
                    "yet")
          << (runtimeQuantize
                  ? " (run-time quantization on the CPU needs a statically "
                    "shaped activation, linear scales and a scheme the "
                    "numerics library implements)"
                  : " (its quantized operands must come from fp4.constant or "
                    "fp4.assemble, with linear scales)");
      return WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

Value mlir::fp4::convertElementType(OpBuilder &rewriter, Location loc,
                                    Value input, Type elementType) {
  auto type = cast<RankedTensorType>(input.getType());
  if (type.getElementType() == elementType)
    return input;
  unsigned fromWidth = type.getElementType().getIntOrFloatBitWidth();
  unsigned toWidth = elementType.getIntOrFloatBitWidth();
  Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(),
                                       elementType);
  int64_t rank = type.getRank();
  auto identity = AffineMap::getMultiDimIdentityMap(rank, rewriter.getContext());
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             rewriter, loc, init.getType(), ValueRange{input}, ValueRange{init},
             ArrayRef<AffineMap>{identity, identity}, iterators,
             [&](OpBuilder &b, Location l, ValueRange args) {
               Value converted;
               bool integers = isa<IntegerType>(type.getElementType()) &&
                               isa<IntegerType>(elementType);
               if (fromWidth == toWidth)
                 converted = arith::BitcastOp::create(b, l, elementType, args[0]);
               else if (integers && fromWidth < toWidth)
                 converted = arith::ExtSIOp::create(b, l, elementType, args[0]);
               else if (integers)
                 converted =
                     arith::TruncIOp::create(b, l, elementType, args[0]);
               else if (fromWidth < toWidth)
                 converted = arith::ExtFOp::create(b, l, elementType, args[0]);
               else
                 converted = arith::TruncFOp::create(b, l, elementType, args[0]);
               linalg::YieldOp::create(b, l, converted);
             })
      .getResult(0);
}

void mlir::fp4::populateFP4ToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<DequantizeToLinalg, DisassembleToStorage, GatheredMatmulToLinalg,
               ObserveToRuntime, ScaledMatmulToLinalg>(patterns.getContext());
}

void mlir::fp4::buildLowerToCPUPipeline(OpPassManager &pm, bool gpuLaunches) {
  // Parsed from text: the upstream passes are registered by name.
  std::string pipeline =
      "convert-fp4-to-linalg,canonicalize,fp4-tile-cpu-contractions,"
      "one-shot-bufferize{bufferize-function-boundaries "
      "function-boundary-type-conversion=identity-layout-map},cse,canonicalize,";
  // Free every buffer a call allocates and does not return (one-shot
  // bufferization frees nothing: a library leaked about 0.5 MB per call of
  // the MoE block). Results are owned by the caller, so a returned argument
  // (a KV cache updated in place) comes back as a copy (bufferization.clone,
  // lowered to an allocation and a copy). With GPU launches, the ownership
  // pass would take the device copies the runtime returns
  // (fp4gpuResidentBytes) for owned host buffers and refuses gpu.wait:
  // fp4-free-host-buffers frees the host buffers instead.
  if (gpuLaunches)
    pipeline += "func.func(fp4-free-host-buffers),";
  else
    pipeline += "ownership-based-buffer-deallocation,canonicalize,"
                "buffer-deallocation-simplification,"
                "bufferization-lower-deallocations,cse,canonicalize,"
                "convert-bufferization-to-memref,";
  pipeline +=
      "fp4-copies-to-loops,"
      "convert-linalg-to-loops,expand-strided-metadata,lower-affine,"
      // bf16 conversions as integer arithmetic (round to nearest even), so
      // that libraries need no compiler-rt helper (__truncsfbf2).
      "arith-expand{include-bf16=true},"
      "convert-scf-to-cf,convert-cf-to-llvm,convert-math-to-llvm,"
      "convert-arith-to-llvm,convert-index-to-llvm,finalize-memref-to-llvm,"
      "convert-func-to-llvm,";
  if (gpuLaunches)
    pipeline += "gpu-to-llvm,";
  pipeline += "reconcile-unrealized-casts";
  addTextPipeline(pm, pipeline, "fp4-lower-to-cpu");
}

namespace {
/// Fails with `message` on the operation it runs on (see addTextPipeline).
struct PipelineErrorPass
    : public PassWrapper<PipelineErrorPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(PipelineErrorPass)
  explicit PipelineErrorPass(std::string message)
      : message(std::move(message)) {}
  StringRef getArgument() const override { return "fp4-pipeline-error"; }
  void runOnOperation() override {
    getOperation()->emitError(message);
    signalPassFailure();
  }
  std::string message;
};
} // namespace

void mlir::fp4::addTextPipeline(OpPassManager &pm, StringRef pipeline,
                                StringRef owner) {
  if (succeeded(parsePassPipeline(pipeline, pm)))
    return;
  pm.addPass(std::make_unique<PipelineErrorPass>(
      (owner + ": an MLIR pass it runs is not registered (a host must "
               "register MLIR's passes, e.g. registerAllPasses() or "
               "mlirRegisterAllPasses(), as well as fp4's)")
          .str()));
}

namespace {
struct LowerToNVVMOptions : public PassPipelineOptions<LowerToNVVMOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("The target chip (sm_120a)"),
      llvm::cl::init("sm_120a")};
  PassOptions::Option<bool> cpuFallback{
      *this, "cpu-fallback",
      llvm::cl::desc("Leave the matmuls the kernels cannot take for the CPU"),
      llvm::cl::init(false)};
};
struct LowerToCPUOptions : public PassPipelineOptions<LowerToCPUOptions> {
  PassOptions::Option<bool> gpuLaunches{
      *this, "gpu-launches",
      llvm::cl::desc("Also lower the host side of GPU kernel launches "
                     "(gpu-to-llvm), after gpu-module-to-binary"),
      llvm::cl::init(false)};
};
} // namespace

void mlir::fp4::registerFP4ConversionPipelines() {
  PassPipelineRegistration<LowerToNVVMOptions>(
      "fp4-lower-to-nvvm",
      "Lower fp4 scaled matmuls to block-scaled MMA kernels and the kernels "
      "to NVVM (the device side; gpu-module-to-binary makes PTX or cubins)",
      [](OpPassManager &pm, const LowerToNVVMOptions &options) {
        buildLowerToNVVMPipeline(pm, options.chip, options.cpuFallback);
      });
  PassPipelineRegistration<LowerToCPUOptions>(
      "fp4-lower-to-cpu",
      "Lower a module with fp4 ops to the LLVM dialect for the CPU "
      "(convert-fp4-to-linalg, fp4-tile-cpu-contractions, bufferization, "
      "loops, LLVM)",
      [](OpPassManager &pm, const LowerToCPUOptions &options) {
        buildLowerToCPUPipeline(pm, options.gpuLaunches);
      });
}
