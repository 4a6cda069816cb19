//===- FP4ToNVVM.cpp - fp4 scaled matmuls to block-scaled MMA kernels -----===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Conversion/Passes.h"
#include "fp4/Conversion/StorageParts.h"
#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::fp4 {
#define GEN_PASS_DEF_CONVERTFP4TONVVM
#include "fp4/Conversion/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;
using namespace mlir::fp4;

namespace {

constexpr const char *kKernelModule = "fp4_kernels";

/// Which block-scaled MMA a pair of operand formats takes on sm_120a.
struct MmaKind {
  NVVM::MMABlockScaleKind kind;
  NVVM::ScaleVecSize scaleVec;
  NVVM::BlockScaleFormat scaleFormat;
  int64_t scalesPerK64; // scale bytes per row per 64 elements of K
  bool twoLevel;        // NVFP4: global scales in the epilogue
  StringRef name;
};

/// The MMA kind of `type` (both operands must have the same), or a reason.
FailureOr<MmaKind> mmaKindOf(QuantizedTensorType type, std::string &why) {
  ScalingAttr scaling = type.getScaling();
  bool e2m1 = isa<Float4E2M1FNType>(type.getElementType());
  bool lastAxisBlocks = scaling.isPerBlock() &&
                        scaling.getAxis() == type.getRank() - 1 &&
                        !scaling.isSwizzled();
  if (e2m1 && lastAxisBlocks && scaling.getBlockSize() == 16 &&
      scaling.getScaleFormat() == ScaleFormat::UE4M3 && scaling.isTwoLevel())
    return MmaKind{NVVM::MMABlockScaleKind::MXF4NVF4, NVVM::ScaleVecSize::X4,
                   NVVM::BlockScaleFormat::UE4M3, 4, true, "nvfp4"};
  if (e2m1 && lastAxisBlocks && scaling.getBlockSize() == 32 &&
      scaling.getScaleFormat() == ScaleFormat::UE8M0)
    return MmaKind{NVVM::MMABlockScaleKind::MXF4, NVVM::ScaleVecSize::X2,
                   NVVM::BlockScaleFormat::UE8M0, 2, false, "mxfp4"};
  why = "the sm_120a kernels take NVFP4 or MXFP4 operands with linear scales "
        "along K";
  return failure();
}

/// Checks the chip up front; the error names what to use instead.
LogicalResult checkChip(StringRef chip, Location loc) {
  if (chip == "sm_120a")
    return success();
  if (chip == "sm_120" || chip == "sm_121" || chip == "sm_100" ||
      chip == "sm_101" || chip == "sm_103")
    return emitError(loc) << "convert-fp4-to-nvvm: '" << chip
                          << "' has no block-scaled MMA in PTX; use the "
                             "architecture-specific target '"
                          << chip << "a'";
  if (chip == "sm_100a" || chip == "sm_90a")
    return emitError(loc) << "convert-fp4-to-nvvm: the " << chip
                          << " kernels (" << (chip == "sm_100a" ? "tcgen05" : "wgmma on expanded operands")
                          << ") are not implemented yet; use chip=sm_120a";
  return emitError(loc) << "convert-fp4-to-nvvm: unknown chip '" << chip
                        << "' (supported: sm_120a)";
}

/// Loads `bytes` (2 or 4) consecutive bytes at `index` of a 1-D i8 buffer
/// as one little-endian i32 (byte 0 lowest), or 0 where `valid` is false.
/// Every index is a multiple of `bytes` (rows hold multiples of 32 bytes
/// and 4 or 2 scale bytes per 64 elements), so the load is one aligned
/// word, given buffers aligned that much (allocations are).
Value loadWord(OpBuilder &b, Location loc, Value buffer, Value index,
               Value valid, int64_t bytes) {
  Value zeroIndex = arith::ConstantIndexOp::create(b, loc, 0);
  Value safe = arith::SelectOp::create(b, loc, valid, index, zeroIndex);
  auto i8 = b.getI8Type();
  Value raw = vector::LoadOp::create(b, loc, VectorType::get({bytes}, i8),
                                     buffer, ValueRange{safe},
                                     /*nontemporal=*/false,
                                     llvm::MaybeAlign(bytes));
  Type word = b.getIntegerType(8 * bytes);
  Value packed = vector::BitCastOp::create(b, loc, VectorType::get({1}, word),
                                           raw);
  Value value = vector::ExtractOp::create(b, loc, packed, ArrayRef<int64_t>{0});
  if (bytes != 4)
    value = arith::ExtUIOp::create(b, loc, b.getI32Type(), value);
  Value zero = arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0);
  return arith::SelectOp::create(b, loc, valid, value, zero);
}

/// The kernel for one shape and kind:
///   (a, sa, b, sb : memref<?xi8>, alpha : f32, out : memref<?xf32>)
/// grid (ceil(N / 8), ceil(M / 16)), one warp per block.
gpu::GPUFuncOp buildKernel(OpBuilder &b, Location loc, StringRef name,
                           int64_t m, int64_t n, int64_t k,
                           const MmaKind &kind) {
  MLIRContext *ctx = b.getContext();
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  auto floats = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
  auto type = FunctionType::get(
      ctx, {bytes, bytes, bytes, bytes, b.getF32Type(), floats}, {});
  auto kernel = gpu::GPUFuncOp::create(b, loc, name, type);
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  Block &entry = kernel.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  Value a = entry.getArgument(0), sa = entry.getArgument(1),
        bb = entry.getArgument(2), sb = entry.getArgument(3),
        alpha = entry.getArgument(4), out = entry.getArgument(5);
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value lane = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value tileN = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value tileM = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  Value g = arith::DivUIOp::create(b, loc, lane, c(4));
  Value t = arith::RemUIOp::create(b, loc, lane, c(4));
  Value m0 = arith::MulIOp::create(b, loc, tileM, c(16));
  Value n0 = arith::MulIOp::create(b, loc, tileN, c(8));
  auto add = [&](Value x, Value y) -> Value {
    return arith::AddIOp::create(b, loc, x, y);
  };
  auto mul = [&](Value x, int64_t y) -> Value {
    return arith::MulIOp::create(b, loc, x, c(y));
  };
  auto below = [&](Value x, int64_t bound) -> Value {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x,
                                 c(bound));
  };
  // Rows of A this lane loads (g, g + 8), the row of its A scales, and the
  // column of B (and of its B scales).
  Value rowLo = add(m0, g), rowHi = add(rowLo, c(8));
  Value scaleRow =
      add(add(m0, mul(arith::RemUIOp::create(b, loc, lane, c(2)), 8)), g);
  Value col = add(n0, g);
  Value rowLoOk = below(rowLo, m), rowHiOk = below(rowHi, m),
        scaleRowOk = below(scaleRow, m), colOk = below(col, n);
  int64_t rowBytes = k / 2, scaleBytes = k / 64 * kind.scalesPerK64;
  Value t4 = mul(t, 4);

  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  SmallVector<Value> init(4, zero);
  auto loop = scf::ForOp::create(
      b, loc, c(0), c(k), c(64), init,
      [&](OpBuilder &lb, Location l, Value k0, ValueRange acc) {
        OpBuilder::InsertionGuard inner(b);
        b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
        Value kByte = arith::DivUIOp::create(b, l, k0, c(2));
        auto at = [&](Value row, int64_t extra) -> Value {
          return add(add(mul(row, rowBytes), kByte), add(t4, c(extra)));
        };
        SmallVector<Value> aRegs = {
            loadWord(b, l, a, at(rowLo, 0), rowLoOk, 4),
            loadWord(b, l, a, at(rowHi, 0), rowHiOk, 4),
            loadWord(b, l, a, at(rowLo, 16), rowLoOk, 4),
            loadWord(b, l, a, at(rowHi, 16), rowHiOk, 4)};
        SmallVector<Value> bRegs = {loadWord(b, l, bb, at(col, 0), colOk, 4),
                                    loadWord(b, l, bb, at(col, 16), colOk, 4)};
        Value kScale = mul(arith::DivUIOp::create(b, l, k0, c(64)),
                           kind.scalesPerK64);
        Value scaleA = loadWord(b, l, sa, add(mul(scaleRow, scaleBytes), kScale),
                                scaleRowOk, kind.scalesPerK64);
        Value scaleB = loadWord(b, l, sb, add(mul(col, scaleBytes), kScale),
                                colOk, kind.scalesPerK64);
        Value selector = arith::ConstantIntOp::create(b, l, b.getI16Type(), 0);
        Type f32 = b.getF32Type();
        auto resultType =
            LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
        Value d = NVVM::MmaBlockScaleOp::create(
            b, l, resultType, aRegs, bRegs, acc, scaleA, selector, selector,
            scaleB, selector, selector, ArrayRef<int64_t>{16, 8, 64},
            std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::e2m1,
                                          NVVM::MMATypes::e2m1},
            kind.scaleVec, kind.scaleFormat, kind.kind);
        SmallVector<Value> next;
        for (int64_t i = 0; i < 4; ++i)
          next.push_back(LLVM::ExtractValueOp::create(b, l, d, i));
        scf::YieldOp::create(b, l, next);
      });
  // Epilogue: d0, d1 at row g, columns 2t, 2t + 1; d2, d3 at row g + 8.
  Value outCol = add(n0, mul(t, 2));
  for (int64_t i = 0; i < 4; ++i) {
    Value row = i < 2 ? rowLo : rowHi;
    Value column = add(outCol, c(i % 2));
    Value ok = arith::AndIOp::create(b, loc, i < 2 ? rowLoOk : rowHiOk,
                                     below(column, n));
    Value scaled =
        arith::MulFOp::create(b, loc, loop.getResult(i), alpha);
    auto store = scf::IfOp::create(b, loc, ok, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard then(b);
    b.setInsertionPointToStart(store.thenBlock());
    memref::StoreOp::create(b, loc, scaled, out,
                            ValueRange{add(mul(row, n), column)});
  }
  gpu::ReturnOp::create(b, loc);
  return kernel;
}

/// A tensor's buffer as 1-D memref<?xT>.
Value flatBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  Type element = type.getElementType();
  if (!element.isInteger(8) && element.getIntOrFloatBitWidth() == 8) {
    // f8 scale tensors: their bytes, as i8.
    Value init = tensor::EmptyOp::create(b, loc, type.getShape(), b.getI8Type());
    tensor = linalg::GenericOp::create(
                 b, loc, init.getType(), ValueRange{tensor}, ValueRange{init},
                 SmallVector<AffineMap>(2, b.getMultiDimIdentityMap(type.getRank())),
                 SmallVector<utils::IteratorType>(type.getRank(),
                                                  utils::IteratorType::parallel),
                 [&](OpBuilder &nb, Location l, ValueRange args) {
                   linalg::YieldOp::create(
                       nb, l, arith::BitcastOp::create(nb, l, nb.getI8Type(),
                                                       args[0])
                                  .getResult());
                 })
                 .getResult(0);
    type = cast<RankedTensorType>(tensor.getType());
  }
  Value buffer = bufferization::ToBufferOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
      /*readOnly=*/true);
  ReassociationIndices all;
  for (int64_t i = 0; i < type.getRank(); ++i)
    all.push_back(i);
  Value flat = memref::CollapseShapeOp::create(b, loc, buffer,
                                               ArrayRef<ReassociationIndices>{all});
  return memref::CastOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, type.getElementType()),
      flat);
}

struct ConvertFP4ToNVVMPass
    : public mlir::fp4::impl::ConvertFP4ToNVVMBase<ConvertFP4ToNVVMPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(checkChip(chip, module.getLoc())))
      return signalPassFailure();
    SmallVector<ScaledMatmulOp> matmuls;
    module.walk([&](ScaledMatmulOp op) { matmuls.push_back(op); });
    if (matmuls.empty())
      return;
    OpBuilder b(&getContext());
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    b.getUnitAttr());
    auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModule);
    if (!kernels) {
      b.setInsertionPointToEnd(module.getBody());
      kernels = gpu::GPUModuleOp::create(
          b, module.getLoc(), kKernelModule,
          b.getArrayAttr({NVVM::NVVMTargetAttr::get(
              &getContext(), /*optLevel=*/2, "nvptx64-nvidia-cuda", chip,
              "+ptx88")}));
    }
    SymbolTable symbols(kernels);
    for (ScaledMatmulOp op : matmuls)
      if (failed(convert(op, kernels, symbols)))
        return signalPassFailure();
  }

  LogicalResult convert(ScaledMatmulOp op, gpu::GPUModuleOp kernels,
                        SymbolTable &symbols) {
    auto lhsType = dyn_cast<QuantizedTensorType>(op.getLhs().getType());
    auto rhsType = dyn_cast<QuantizedTensorType>(op.getRhs().getType());
    auto resultType = cast<RankedTensorType>(op.getType());
    if (!lhsType || !rhsType)
      return op.emitError("convert-fp4-to-nvvm: the sm_120a kernels are W4A4: "
                          "both operands must be quantized (quantize the "
                          "activation, e.g. preset=nvfp4)");
    if (lhsType.getRank() != 2 || rhsType.getRank() != 2 ||
        !lhsType.hasStaticShape() || !rhsType.hasStaticShape())
      return op.emitError("convert-fp4-to-nvvm: expects statically shaped "
                          "2-D operands [M, K] x [N, K] (batched and expert "
                          "matmuls are not lowered yet)");
    std::string why;
    FailureOr<MmaKind> lhsKind = mmaKindOf(lhsType, why);
    FailureOr<MmaKind> rhsKind = mmaKindOf(rhsType, why);
    if (failed(lhsKind) || failed(rhsKind))
      return op.emitError("convert-fp4-to-nvvm: ") << why;
    if (lhsKind->kind != rhsKind->kind)
      return op.emitError("convert-fp4-to-nvvm: operands in ")
             << lhsKind->name << " and " << rhsKind->name
             << " cannot meet in one block-scaled MMA; quantize both alike";
    int64_t m = lhsType.getShape()[0], k = lhsType.getShape()[1];
    int64_t n = rhsType.getShape()[0];
    if (k % 64 != 0)
      return op.emitError("convert-fp4-to-nvvm: K = ")
             << k << " is not a multiple of 64 (the MMA's K); pad K";
    if (!resultType.getElementType().isF32())
      return op.emitError("convert-fp4-to-nvvm: the epilogue writes f32 "
                          "results");

    Location loc = op.getLoc();
    OpBuilder b(op);
    FailureOr<StorageParts> lhs = getStorageParts(b, loc, op.getLhs());
    FailureOr<StorageParts> rhs = getStorageParts(b, loc, op.getRhs());
    if (failed(lhs) || failed(rhs))
      return op.emitError("convert-fp4-to-nvvm: the operands must come from "
                          "fp4.assemble or fp4.constant (activation "
                          "quantization on the GPU arrives with issue #7)");

    // The kernel, once per shape and kind.
    std::string name = ("fp4_" + lhsKind->name + "_mma_" + Twine(m) + "x" +
                        Twine(n) + "x" + Twine(k))
                           .str();
    if (!symbols.lookup(name)) {
      // In program order: appended after the kernels before it.
      auto kb = OpBuilder::atBlockEnd(kernels.getBody());
      symbols.insert(buildKernel(kb, loc, name, m, n, k, *lhsKind));
    }

    // Host side: buffers, the launch, the result.
    auto c = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value alpha = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0f));
    if (lhsKind->twoLevel) {
      Value ga = tensor::ExtractOp::create(b, loc, lhs->global, ValueRange{});
      Value gb = tensor::ExtractOp::create(b, loc, rhs->global, ValueRange{});
      alpha = arith::MulFOp::create(b, loc, ga, gb);
    }
    auto outType = MemRefType::get({m * n}, b.getF32Type());
    Value out = memref::AllocOp::create(b, loc, outType);
    Value outFlat = memref::CastOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()), out);
    SmallVector<Value> args = {flatBuffer(b, loc, lhs->data),
                               flatBuffer(b, loc, lhs->scales),
                               flatBuffer(b, loc, rhs->data),
                               flatBuffer(b, loc, rhs->scales), alpha, outFlat};
    auto kernelRef = SymbolRefAttr::get(
        kernels.getSymNameAttr(), {FlatSymbolRefAttr::get(b.getContext(), name)});
    gpu::LaunchFuncOp::create(
        b, loc, kernelRef,
        gpu::KernelDim3{c((n + 7) / 8), c((m + 15) / 16), c(1)},
        gpu::KernelDim3{c(32), c(1), c(1)}, /*dynamicSharedMemorySize=*/Value(),
        args);
    Value shaped = memref::ExpandShapeOp::create(
        b, loc, MemRefType::get({m, n}, b.getF32Type()), out,
        ArrayRef<ReassociationIndices>{{0, 1}});
    Value result = bufferization::ToTensorOp::create(
        b, loc, resultType, shaped, /*restrict=*/true, /*writable=*/true);
    op.replaceAllUsesWith(result);
    op.erase();
    return success();
  }
};

} // namespace

void mlir::fp4::buildLowerToNVVMPipeline(OpPassManager &pm, StringRef chip) {
  ConvertFP4ToNVVMOptions options;
  options.chip = chip.str();
  pm.addPass(createConvertFP4ToNVVM(options));
  // The kernels, to NVVM and the LLVM dialect.
  if (failed(parsePassPipeline(
          "gpu.module(convert-scf-to-cf,convert-vector-to-llvm,"
          "expand-strided-metadata,convert-gpu-to-nvvm,"
          "canonicalize,cse,reconcile-unrealized-casts)",
          pm)))
    llvm::report_fatal_error("fp4-lower-to-nvvm: bad pipeline text");
}
