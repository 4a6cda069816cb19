//===- KernelUtils.cpp - pieces shared by the NVVM kernel builders --------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::fp4;
using namespace mlir::fp4::nvvm_kernels;

FailureOr<MmaKind>
mlir::fp4::nvvm_kernels::mmaKindOf(QuantizedTensorType type, std::string &why) {
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
  why = "the kernels take NVFP4 or MXFP4 operands with linear scales along K";
  return failure();
}

Value mlir::fp4::nvvm_kernels::loadWord(OpBuilder &b, Location loc, Value buffer, Value index,
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


gpu::GPUFuncOp mlir::fp4::nvvm_kernels::createKernelFunc(OpBuilder &b,
                                                        Location loc,
                                                        StringRef name) {
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  auto floats = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
  auto type = FunctionType::get(
      b.getContext(), {bytes, bytes, bytes, bytes, b.getF32Type(), floats},
      {});
  auto kernel = gpu::GPUFuncOp::create(b, loc, name, type);
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  return kernel;
}
