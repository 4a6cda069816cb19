//===- KernelUtils.cpp - pieces shared by the NVVM kernel builders --------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fp4;
using namespace mlir::fp4::nvvm_kernels;

/// Why mmaKindOf / w4a8KindOf refuse an operand.
static constexpr const char *kUnsupportedFormats =
    "the kernels take NVFP4 or MXFP4 operands (MXFP8 activations with MXFP4 "
    "weights) with linear scales along K";

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
                   NVVM::BlockScaleFormat::UE4M3, 4, true, 16, "nvfp4"};
  if (e2m1 && lastAxisBlocks && scaling.getBlockSize() == 32 &&
      scaling.getScaleFormat() == ScaleFormat::UE8M0)
    return MmaKind{NVVM::MMABlockScaleKind::MXF4, NVVM::ScaleVecSize::X2,
                   NVVM::BlockScaleFormat::UE8M0, 2, false, 32, "mxfp4"};
  why = kUnsupportedFormats;
  return failure();
}

FailureOr<MmaKind> mlir::fp4::nvvm_kernels::w4a8KindOf(QuantizedTensorType lhs,
                                                       const MmaKind &rhs,
                                                       std::string &why) {
  ScalingAttr scaling = lhs.getScaling();
  Type element = lhs.getElementType();
  bool mxfp8 = isa<Float8E4M3FNType, Float8E5M2Type>(element) &&
               scaling.isPerBlock() && scaling.getAxis() == lhs.getRank() - 1 &&
               !scaling.isSwizzled() && scaling.getBlockSize() == 32 &&
               scaling.getScaleFormat() == ScaleFormat::UE8M0;
  if (!mxfp8) {
    why = kUnsupportedFormats;
    return failure();
  }
  // The verifier's equal block sizes leave MXFP4 weights (blocks of 32).
  assert(rhs.kind == NVVM::MMABlockScaleKind::MXF4 && "MXFP8 x NVFP4");
  bool e4m3 = isa<Float8E4M3FNType>(element);
  MmaKind kind = rhs;
  kind.kind = NVVM::MMABlockScaleKind::MXF8F6F4;
  kind.scaleVec = NVVM::ScaleVecSize::X1;
  kind.activation = e4m3 ? NVVM::MMATypes::e4m3 : NVVM::MMATypes::e5m2;
  kind.mmaK = 32;
  kind.name = e4m3 ? "mxfp4_e4m3" : "mxfp4_e5m2";
  return kind;
}

Value mlir::fp4::nvvm_kernels::loadWord(OpBuilder &b, Location loc, Value buffer, Value index,
               Value valid, int64_t bytes) {
  Value safe = index;
  if (valid)
    safe = arith::SelectOp::create(b, loc, valid, index,
                                   arith::ConstantIndexOp::create(b, loc, 0));
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
  if (!valid)
    return value;
  Value zero = arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0);
  return arith::SelectOp::create(b, loc, valid, value, zero);
}

/// The kernel arguments after alpha, in optionalArguments' order: the
/// expert indices (gathered experts), the bias, the output.
static void appendOptionalAndOutput(OpBuilder &b, SmallVector<Type> &inputs,
                                    bool gathered, bool bias, Type result,
                                    bool rowScales = false,
                                    bool activationMap = false) {
  auto dynamic = [](Type element) {
    return MemRefType::get({ShapedType::kDynamic}, element);
  };
  if (gathered)
    inputs.push_back(dynamic(b.getI32Type()));
  if (bias)
    inputs.push_back(dynamic(b.getF32Type()));
  if (rowScales)
    inputs.push_back(dynamic(b.getF32Type()));
  if (activationMap)
    inputs.push_back(dynamic(b.getI8Type()));
  inputs.push_back(dynamic(result));
}

gpu::GPUFuncOp mlir::fp4::nvvm_kernels::createKernelFunc(
    OpBuilder &b, Location loc, StringRef name, const KernelShape &shape) {
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  SmallVector<Type> inputs = {bytes, bytes, bytes, bytes, b.getF32Type()};
  appendOptionalAndOutput(b, inputs, shape.gathered, shape.bias, shape.result);
  if (shape.tensorMaps)
    inputs.insert(inputs.end() - 1, {bytes, bytes});
  auto type = FunctionType::get(b.getContext(), inputs, {});
  auto kernel = gpu::GPUFuncOp::create(b, loc, name, type);
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  return kernel;
}

Value mlir::fp4::nvvm_kernels::scaleForOutput(OpBuilder &b, Location loc,
                                              Value sum, Value alpha, Value out,
                                              Value bias, Value biasIndex) {
  Value scaled = arith::MulFOp::create(b, loc, sum, alpha);
  if (bias)
    scaled = arith::AddFOp::create(
        b, loc, scaled,
        memref::LoadOp::create(b, loc, bias, ValueRange{biasIndex}));
  Type element = cast<MemRefType>(out.getType()).getElementType();
  if (element == scaled.getType())
    return scaled;
  return arith::TruncFOp::create(b, loc, element, scaled);
}

/// The number of arguments of the kernel whose entry block is `entry`.
static unsigned kernelArguments(Block &entry) {
  return cast<gpu::GPUFuncOp>(entry.getParentOp())
      .getFunctionType()
      .getNumInputs();
}

Value mlir::fp4::nvvm_kernels::outputArgument(Block &entry) {
  return entry.getArgument(kernelArguments(entry) - 1);
}

OptionalArguments mlir::fp4::nvvm_kernels::optionalArguments(
    Block &entry, unsigned alpha, bool gathered, bool bias, unsigned tensorMaps,
    bool rowScales) {
  assert(kernelArguments(entry) ==
             alpha + 2 + gathered + bias + tensorMaps + rowScales &&
         "the kernel's signature has these arguments");
  OptionalArguments args;
  unsigned next = alpha + 1;
  if (gathered)
    args.indices = entry.getArgument(next++);
  if (bias)
    args.bias = entry.getArgument(next++);
  if (rowScales)
    args.rowScales = entry.getArgument(next++);
  if (tensorMaps > 0)
    args.mapA = entry.getArgument(next++);
  if (tensorMaps > 1)
    args.mapB = entry.getArgument(next);
  return args;
}

void mlir::fp4::nvvm_kernels::waitMBarrier(OpBuilder &b, Location loc,
                                           Value barrier, Value parity) {
  scf::WhileOp::create(
      b, loc, TypeRange{}, ValueRange{},
      [&](OpBuilder &nb, Location l, ValueRange) {
        Value done = NVVM::MBarrierTryWaitOp::create(
            nb, l, nb.getI1Type(), barrier, parity, /*ticks=*/Value(),
            NVVM::MemScopeKindAttr::get(nb.getContext(),
                                        NVVM::MemScopeKind::CTA));
        Value notDone = arith::XOrIOp::create(
            nb, l, done,
            arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 1));
        scf::ConditionOp::create(nb, l, notDone, ValueRange{});
      },
      [&](OpBuilder &nb, Location l, ValueRange) {
        scf::YieldOp::create(nb, l);
      });
}

Value mlir::fp4::nvvm_kernels::expertWeightRows(OpBuilder &b, Location loc,
                                                Value indices, int64_t experts,
                                                int64_t n, Value &alpha) {
  Value batch = gpu::BlockIdOp::create(b, loc, gpu::Dimension::z);
  Value id = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      memref::LoadOp::create(b, loc, indices, ValueRange{batch}));
  Value valid =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, id,
                            arith::ConstantIndexOp::create(b, loc, experts));
  alpha = arith::SelectOp::create(b, loc, valid, alpha,
                                  f32Const(b, loc, std::nanf("")));
  Value safe = arith::SelectOp::create(
      b, loc, valid, id, arith::ConstantIndexOp::create(b, loc, 0));
  return arith::MulIOp::create(b, loc, safe,
                               arith::ConstantIndexOp::create(b, loc, n));
}

MemRefType mlir::fp4::nvvm_kernels::workgroupFloats(MLIRContext *ctx,
                                                    int64_t count) {
  return MemRefType::get({count}, Float32Type::get(ctx),
                         MemRefLayoutAttrInterface(),
                         gpu::AddressSpaceAttr::get(
                             ctx, gpu::GPUDialect::getWorkgroupAddressSpace()));
}

Value mlir::fp4::nvvm_kernels::i32Const(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
}

Value mlir::fp4::nvvm_kernels::f32Const(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

Value mlir::fp4::nvvm_kernels::decodeScale(OpBuilder &b, Location loc,
                                          Value word, Value index,
                                          NVVM::BlockScaleFormat format) {
  Value shift = arith::MulIOp::create(b, loc, index, i32Const(b, loc, 8));
  Value shifted = arith::ShRUIOp::create(b, loc, word, shift);
  return decodeScaleBytes(b, loc, shifted, /*count=*/1, format).front();
}

SmallVector<Value> mlir::fp4::nvvm_kernels::pipelinedLoop(
    OpBuilder &b, Location loc, int64_t steps, ValueRange init,
    function_ref<SmallVector<Value>(Value step)> load,
    function_ref<SmallVector<Value>(ArrayRef<Value> loaded, ValueRange acc,
                                    Value step)>
        compute,
    bool peelLast, function_ref<void()> afterFirstLoad, int64_t loadAllUpTo) {
  auto idx = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  if (steps <= loadAllUpTo) {
    SmallVector<SmallVector<Value>> loaded;
    for (int64_t s = 0; s < steps; ++s)
      loaded.push_back(load(idx(s)));
    if (afterFirstLoad)
      afterFirstLoad();
    SmallVector<Value> acc(init.begin(), init.end());
    for (int64_t s = 0; s < steps; ++s)
      acc = compute(loaded[s], acc, idx(s));
    return acc;
  }
  SmallVector<Value> first = load(idx(0));
  if (afterFirstLoad)
    afterFirstLoad();
  SmallVector<Value> carried(init.begin(), init.end());
  size_t accumulators = carried.size();
  carried.append(first);
  int64_t looped = peelLast ? steps - 1 : steps;
  auto loop = scf::ForOp::create(
      b, loc, idx(0), idx(looped), idx(1), carried,
      [&](OpBuilder &lb, Location l, Value step, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
        SmallVector<Value> next =
            load(arith::AddIOp::create(b, loc, step, idx(1)));
        SmallVector<Value> yielded =
            compute(SmallVector<Value>(args.drop_front(accumulators)),
                    args.take_front(accumulators), step);
        yielded.append(next);
        scf::YieldOp::create(b, loc, yielded);
      });
  if (!peelLast)
    return SmallVector<Value>(loop.getResults().take_front(accumulators));
  ValueRange results = loop.getResults();
  return compute(SmallVector<Value>(results.drop_front(accumulators)),
                 results.take_front(accumulators), idx(steps - 1));
}

Value KernelBuilderBase::guardedLoad(VectorType type, Value buffer,
                                     Value index, Value valid, int64_t align) {
  Value safe =
      valid ? arith::SelectOp::create(b, loc, valid, index, idx(0)) : index;
  Value raw = vector::LoadOp::create(b, loc, type, buffer, ValueRange{safe},
                                     /*nontemporal=*/false,
                                     llvm::MaybeAlign(align));
  if (!valid)
    return raw;
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
  return arith::SelectOp::create(b, loc, valid, raw, zero);
}

SmallVector<Value> KernelBuilderBase::twoStepsPerIteration(
    int64_t steps, ValueRange init,
    function_ref<SmallVector<Value>(Value, ValueRange)> step) {
  auto loop = scf::ForOp::create(
      b, loc, idx(0), idx(steps - steps % 2), idx(2), init,
      [&](OpBuilder &lb, Location, Value s, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
        SmallVector<Value> mid = step(s, args);
        scf::YieldOp::create(b, loc, step(add(s, idx(1)), mid));
      });
  if (steps % 2)
    return step(idx(steps - 1), loop.getResults());
  return SmallVector<Value>(loop.getResults());
}

void SharedBufferKernelBuilderBase::sumAcrossCluster(
    Value tid, int64_t threads, int64_t count, int64_t split, Value rank,
    function_ref<void(ArrayRef<Value>)> store) {
  // Every thread of the cluster's CTAs (aligned): releases this CTA's
  // stores, acquires the others'.
  auto clusterBarrier = [&]() {
    NVVM::ClusterArriveOp::create(b, loc, b.getUnitAttr());
    NVVM::ClusterWaitOp::create(b, loc, b.getUnitAttr());
  };
  clusterBarrier();
  auto generic = LLVM::LLVMPointerType::get(b.getContext());
  Value local = LLVM::AddrSpaceCastOp::create(b, loc, generic, shared);
  SmallVector<Value> peers;
  for (int64_t j = 0; j < split; ++j)
    peers.push_back(NVVM::MapaOp::create(b, loc, generic, local, i32(j)));
  int64_t slice = count / split;
  Type f32 = b.getF32Type();
  for (int64_t r = 0; r < split; ++r) {
    auto ifOp = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rank, idx(r)),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    SmallVector<Value> mine(count);
    for (int64_t i = r * slice; i < (r + 1) * slice; ++i) {
      Value offset = arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                                partialOffset(tid, i, threads));
      Value sum;
      for (Value peer : peers) {
        Value part = LLVM::LoadOp::create(
            b, loc, f32,
            LLVM::GEPOp::create(b, loc, generic, b.getI8Type(), peer,
                                ValueRange{offset}),
            /*alignment=*/4);
        sum = sum ? arith::AddFOp::create(b, loc, sum, part).getResult() : part;
      }
      mine[i] = sum;
    }
    store(mine);
  }
  // No CTA may leave (freeing its shared memory) while another reads it.
  clusterBarrier();
}

Value KernelBuilderBase::warpReduce(Value v,
                                    function_ref<Value(Value, Value)> combine) {
  for (int64_t offset : {16, 8, 4, 2, 1})
    v = combine(v, gpu::ShuffleOp::create(b, loc, v, i32(offset), i32(32),
                                          gpu::ShuffleMode::XOR)
                       .getShuffleResult());
  return v;
}

Value KernelBuilderBase::forEachLaneStrided(
    Value lane, Value ok, int64_t count,
    function_ref<Value(Value item, Value valid, Value carried)> body) {
  return scf::ForOp::create(
             b, loc, idx(0), idx((count + 31) / 32), idx(1), ValueRange{i32(0)},
             [&](OpBuilder &lb, Location, Value i, ValueRange args) {
               OpBuilder::InsertionGuard guard(b);
               b.setInsertionPoint(lb.getInsertionBlock(),
                                   lb.getInsertionPoint());
               Value item = add(mul(i, 32), lane);
               scf::YieldOp::create(
                   b, loc, body(item, both(ok, below(item, count)), args[0]));
             })
      .getResult(0);
}

KernelBuilderBase::ActivationRowChunk
KernelBuilderBase::activationRowChunk(int64_t rows, int64_t items) {
  auto [tid, lane, warp] = threadLaneWarp();
  std::ignore = tid;
  int64_t chunks = (items + kActivationRowChunk - 1) / kActivationRowChunk;
  Value global = add(mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
                         kActivationWarpsPerCTA),
                     warp);
  Value row = arith::DivUIOp::create(b, loc, global, idx(chunks));
  Value chunk = arith::RemUIOp::create(b, loc, global, idx(chunks));
  Value rowOk = below(row, rows);
  Value item = add(mul(chunk, kActivationRowChunk), lane);
  return {lane,
          row,
          rowOk,
          item,
          both(rowOk, below(item, items)),
          both(rowOk, eqIndex(chunk, 0))};
}

std::pair<Value, Value>
KernelBuilderBase::warpScaleByteRange(Value scales, Value row, int64_t bytes,
                                      Value lane, Value ok) {
  // Words of four bytes where the rows allow it (aligned), else bytes.
  int64_t per = bytes % 4 == 0 ? 4 : 1;
  Value largest = i32(0), smallest = i32(255);
  auto scan = scf::ForOp::create(
      b, loc, idx(0), idx((bytes / per + 31) / 32), idx(1),
      ValueRange{largest, smallest},
      [&](OpBuilder &lb, Location, Value i, ValueRange range) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
        Value word = add(mul(i, 32), lane);
        Value valid = both(ok, below(word, bytes / per));
        Value value = loadWord(
            b, loc, scales, add(mul(row, bytes), mul(word, per)), valid, per);
        Value large = range[0], small = range[1];
        for (int64_t j = 0; j < per; ++j) {
          Value byte = arith::AndIOp::create(
              b, loc, arith::ShRUIOp::create(b, loc, value, i32(8 * j)),
              i32(0xFF));
          large = arith::MaxUIOp::create(b, loc, large, byte);
          small = arith::MinUIOp::create(
              b, loc, small,
              arith::SelectOp::create(b, loc, valid, byte, i32(255)));
        }
        scf::YieldOp::create(b, loc, ValueRange{large, small});
      });
  return {warpReduce(scan.getResult(0),
                     [&](Value x, Value y) {
                       return arith::MaxUIOp::create(b, loc, x, y).getResult();
                     }),
          warpReduce(scan.getResult(1), [&](Value x, Value y) {
            return arith::MinUIOp::create(b, loc, x, y).getResult();
          })};
}

Value KernelBuilderBase::wholeRowCheck(
    const ActivationRowChunk &chunk, Value needed, int64_t items,
    function_ref<Value(Value item, Value valid, Value bad)> check) {
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{b.getI32Type()},
                                both(chunk.first, needed),
                                /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value bad = forEachLaneStrided(chunk.lane, chunk.rowOk, items, check);
  scf::YieldOp::create(b, loc, warpReduce(bad, [&](Value x, Value y) {
                         return arith::OrIOp::create(b, loc, x, y).getResult();
                       }));
  b.setInsertionPointToStart(ifOp.elseBlock());
  scf::YieldOp::create(b, loc, i32(0));
  return ifOp.getResult(0);
}

void KernelBuilderBase::storeRowEntryAndReturn(const ActivationRowChunk &chunk,
                                               Value entry, Value entries) {
  auto ifOp =
      scf::IfOp::create(b, loc, both(chunk.first, eqIndex(chunk.lane, 0)),
                        /*withElseRegion=*/false);
  gpu::ReturnOp::create(b, loc);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  memref::StoreOp::create(b, loc, entry, entries, ValueRange{chunk.row});
}

void KernelBuilderBase::storeOutput(Value inBounds, Value sum, Value alpha,
                                    Value out, Value bias, Value xRows,
                                    Value wRows, Value row, Value column,
                                    int64_t n) {
  auto ifOp = scf::IfOp::create(b, loc, inBounds, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  memref::StoreOp::create(
      b, loc, outputValue(sum, alpha, out, bias, xRows, wRows, row, column),
      out, ValueRange{add(mul(add(row, xRows), n), column)});
}

Value KernelBuilderBase::outputValue(Value sum, Value alpha, Value out,
                                     Value bias, Value xRows, Value wRows,
                                     Value row, Value column) {
  if (rowScales)
    sum = arith::MulFOp::create(
        b, loc, sum,
        memref::LoadOp::create(b, loc, rowScales, ValueRange{add(row, xRows)}));
  return scaleForOutput(b, loc, sum, alpha, out, bias, add(wRows, column));
}

Value KernelBuilderBase::globalBytes(Value buffer) {
  Value offset =
      memref::ExtractStridedMetadataOp::create(b, loc, buffer).getOffset();
  Value address = add(
      memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer), offset);
  return LLVM::IntToPtrOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext(), 1),
      arith::IndexCastOp::create(b, loc, b.getI64Type(), address).getResult());
}

std::tuple<Value, Value, Value, Value, Value, Value, Value>
KernelBuilderBase::w4a16Operands(Block &entry, const DecodeShape &shape) {
  // Packed activations: their scale bytes after the codes, the rest one on.
  unsigned packed = shape.packedActivations ? 1 : 0;
  OptionalArguments optional =
      optionalArguments(entry, 3 + packed, shape.gathered, shape.bias,
                        shape.activationMap ? 1 : 0, shape.rowScales);
  rowScales = optional.rowScales;
  activationMap = optional.mapA;
  if (packed)
    activationScales = entry.getArgument(1);
  return {entry.getArgument(0),
          entry.getArgument(1 + packed),
          entry.getArgument(2 + packed),
          entry.getArgument(3 + packed),
          outputArgument(entry),
          optional.indices,
          optional.bias};
}

void KernelBuilderBase::runIf(Value condition, function_ref<void()> body) {
  auto ifOp = scf::IfOp::create(b, loc, condition, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  body();
}

void SharedBufferKernelBuilderBase::initMBarriers(Value tid, int64_t barriers,
                                                  int64_t count) {
  runIf(eqIndex(tid, 0), [&] {
    for (int64_t i = 0; i < count; ++i)
      NVVM::MBarrierInitOp::create(b, loc, sharedAt(barriers + 8 * i), i32(1),
                                   /*predicate=*/Value());
    NVVM::FenceMbarrierInitOp::create(b, loc);
  });
}

void SharedBufferKernelBuilderBase::loadBoxByTma(Value dst, Value map,
                                                 Value column, Value row,
                                                 Value barrier,
                                                 Value predicate) {
  NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
      b, loc, dst, map, ValueRange{column, row}, barrier,
      /*im2colOffsets=*/ValueRange{}, /*multicastMask=*/Value(),
      /*l2CacheHint=*/Value(), NVVM::TMALoadMode::TILE,
      /*isCTAOnly=*/!predicate, /*group=*/nullptr, predicate);
}

std::pair<Value, Value>
KernelBuilderBase::loadWeightPiece(Value wBytes, Value scales, Value globalRow,
                                   Value piece, Value ok, int64_t k,
                                   int64_t blockSize) {
  constexpr int64_t kPiece = 32;
  int64_t blocksPerPiece = kPiece / blockSize;
  Value raw = streamedLoad16(
      wBytes, add(mul(globalRow, k / 2), mul(piece, kPiece / 2)), ok);
  Value scaleWord =
      loadWord(b, loc, scales,
               add(mul(globalRow, k / blockSize), mul(piece, blocksPerPiece)),
               ok, blocksPerPiece);
  return {raw, scaleWord};
}

Value KernelBuilderBase::streamedLoad16(Value base, Value index, Value valid,
                                        StringRef qualifiers) {
  Type i32 = b.getI32Type();
  Value safe =
      valid ? arith::SelectOp::create(b, loc, valid, index, idx(0)).getResult()
            : index;
  Value pointer = LLVM::GEPOp::create(
      b, loc, base.getType(), b.getI8Type(), base,
      ValueRange{arith::IndexCastOp::create(b, loc, b.getI64Type(), safe)});
  auto words =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {i32, i32, i32, i32});
  auto load = LLVM::InlineAsmOp::create(
      b, loc, words, ValueRange{pointer},
      ("ld.global" + qualifiers + ".v4.u32 {$0, $1, $2, $3}, [$4];").str(),
      "=r,=r,=r,=r,l", /*has_side_effects=*/false, /*is_align_stack=*/false,
      LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
  SmallVector<Value> parts;
  for (int64_t i = 0; i < 4; ++i)
    parts.push_back(LLVM::ExtractValueOp::create(b, loc, load.getResult(0), i));
  auto type = VectorType::get({16}, b.getI8Type());
  Value raw = vector::BitCastOp::create(
      b, loc, type,
      vector::FromElementsOp::create(b, loc, VectorType::get({4}, i32), parts));
  if (!valid)
    return raw;
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
  return arith::SelectOp::create(b, loc, valid, raw, zero);
}

/// Elements `s` and `s + 4` (s < 4) of a 32-bit word of eight E2M1 codes,
/// as decodePieceTimes2PowMinus14 decodes them.
static std::pair<Value, Value> decodeNibblePairTimes2PowMinus14(OpBuilder &b,
                                                                Location loc,
                                                                Value word,
                                                                int64_t s) {
  // Magnitude bits 4s..4s+2 (and +16) to 9..11 (and 25..27), sign bit
  // 4s + 3 (and +16) to 15 (and 31); ptxas fuses the mask and the or into
  // one LOP3.
  auto shift = [&](int64_t by) -> Value {
    if (by == 0)
      return word;
    Value amount = i32Const(b, loc, by > 0 ? by : -by);
    return by > 0 ? arith::ShLIOp::create(b, loc, word, amount).getResult()
                  : arith::ShRUIOp::create(b, loc, word, amount).getResult();
  };
  Value bits = arith::OrIOp::create(
      b, loc,
      arith::AndIOp::create(b, loc, shift(9 - 4 * s),
                            i32Const(b, loc, 0x0E000E00)),
      arith::AndIOp::create(
          b, loc, shift(12 - 4 * s),
          i32Const(b, loc, static_cast<int32_t>(0x80008000u))));
  Value halves = vector::BitCastOp::create(
      b, loc, VectorType::get({2}, b.getF16Type()),
      vector::BroadcastOp::create(b, loc, VectorType::get({1}, b.getI32Type()),
                                  bits));
  Value wide = arith::ExtFOp::create(
      b, loc, VectorType::get({2}, b.getF32Type()), halves);
  return {vector::ExtractOp::create(b, loc, wide, ArrayRef<int64_t>{0}),
          vector::ExtractOp::create(b, loc, wide, ArrayRef<int64_t>{1})};
}

/// The 8 E2M1 codes of a 32-bit word (the even element in the low nibble)
/// as f32 values times 2^-14, in element order.
static SmallVector<Value> decodeWordTimes2PowMinus14(OpBuilder &b, Location loc,
                                                     Value word) {
  SmallVector<Value> values(8);
  for (int64_t s = 0; s < 4; ++s)
    std::tie(values[s], values[s + 4]) =
        decodeNibblePairTimes2PowMinus14(b, loc, word, s);
  return values;
}

SmallVector<Value>
mlir::fp4::nvvm_kernels::decodePieceTimes2PowMinus14(OpBuilder &b, Location loc,
                                                     Value piece) {
  Value words = vector::BitCastOp::create(
      b, loc, VectorType::get({4}, b.getI32Type()), piece);
  SmallVector<Value> values;
  for (int64_t w = 0; w < 4; ++w)
    append_range(values, decodeWordTimes2PowMinus14(
                             b, loc,
                             vector::ExtractOp::create(b, loc, words,
                                                       ArrayRef<int64_t>{w})));
  return values;
}

Value mlir::fp4::nvvm_kernels::placeNibblePairBF16(OpBuilder &b, Location loc,
                                                   Value word, Value high,
                                                   int64_t s) {
  auto c = [&](uint32_t v) {
    return i32Const(b, loc, static_cast<int32_t>(v));
  };
  int64_t r = s % 2;
  Value nibbles = arith::AndIOp::create(b, loc, s < 2 ? word : high,
                                        c(0x000F000Fu << (4 * r)));
  Value copies = arith::MulIOp::create(
      b, loc, nibbles, c((1u << (6 - 4 * r)) + (1u << (12 - 4 * r))));
  return arith::AndIOp::create(b, loc, copies, c(0x81C081C0u));
}

/// The bf16x2 product of two pairs held as i32.
static Value multiplyPairsBF16(OpBuilder &b, Location loc, Value lhs,
                               Value rhs) {
  auto bf16x2 = VectorType::get({2}, b.getBF16Type());
  auto i32x1 = VectorType::get({1}, b.getI32Type());
  auto asPair = [&](Value v) {
    return vector::BitCastOp::create(
        b, loc, bf16x2, vector::BroadcastOp::create(b, loc, i32x1, v));
  };
  Value product = arith::MulFOp::create(b, loc, asPair(lhs), asPair(rhs));
  return vector::ExtractOp::create(
      b, loc, vector::BitCastOp::create(b, loc, i32x1, product),
      ArrayRef<int64_t>{0});
}

/// The bits of UE8M0 byte `index` of `word`, 2^(E - 127), in a float
/// format with `mantissaBits` mantissa bits and an 8-bit exponent (f32,
/// bf16): E << mantissaBits, and for E = 0 the subnormal 2^-127 (the top
/// mantissa bit).
static Value ue8m0Bits(OpBuilder &b, Location loc, Value word, int64_t index,
                       int64_t mantissaBits) {
  auto c = [&](int64_t v) { return i32Const(b, loc, v); };
  Value byte = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, word, c(8 * index)), c(255));
  Value isZero =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, byte, c(0));
  return arith::SelectOp::create(
      b, loc, isZero, c(int64_t(1) << (mantissaBits - 1)),
      arith::ShLIOp::create(b, loc, byte, c(mantissaBits)));
}

SmallVector<Value>
mlir::fp4::nvvm_kernels::blockScalePairsBF16(OpBuilder &b, Location loc,
                                             Value word, int64_t count,
                                             NVVM::BlockScaleFormat format) {
  auto c = [&](int64_t v) { return i32Const(b, loc, v); };
  SmallVector<Value> pairs;
  if (format == NVVM::BlockScaleFormat::UE8M0) {
    for (int64_t i = 0; i < count; ++i)
      pairs.push_back(arith::MulIOp::create(
          b, loc, ue8m0Bits(b, loc, word, i, /*mantissaBits=*/7), c(0x10001)));
    return pairs;
  }
  auto bf16x2 = VectorType::get({2}, b.getBF16Type());
  auto i32x1 = VectorType::get({1}, b.getI32Type());
  for (Value scale :
       decodeScaleBytes(b, loc, word, count, format, /*factor=*/0x1p118f)) {
    Value pair = arith::TruncFOp::create(
        b, loc, bf16x2,
        vector::FromElementsOp::create(b, loc,
                                       VectorType::get({2}, b.getF32Type()),
                                       ValueRange{scale, scale}));
    pairs.push_back(vector::ExtractOp::create(
        b, loc, vector::BitCastOp::create(b, loc, i32x1, pair),
        ArrayRef<int64_t>{0}));
  }
  return pairs;
}

Value mlir::fp4::nvvm_kernels::scalePlacedPairBF16(
    OpBuilder &b, Location loc, Value placed, Value scalePair,
    NVVM::BlockScaleFormat format) {
  if (format == NVVM::BlockScaleFormat::UE8M0)
    placed = multiplyPairsBF16(b, loc, placed,
                               i32Const(b, loc, 0x7E807E80)); // 2^126 each
  return multiplyPairsBF16(b, loc, placed, scalePair);
}

Value mlir::fp4::nvvm_kernels::placedOutputScale(
    OpBuilder &b, Location loc, Value alpha, NVVM::BlockScaleFormat format) {
  if (format == NVVM::BlockScaleFormat::UE8M0)
    return alpha;
  return arith::MulFOp::create(b, loc, alpha, f32Const(b, loc, 256.0f));
}

SmallVector<Value>
mlir::fp4::nvvm_kernels::expandPiecePlacedBF16(OpBuilder &b, Location loc,
                                               Value piece, Value scaleWord,
                                               const MmaKind &kind) {
  constexpr int64_t kPiece = 32;
  SmallVector<Value> scalePairs = blockScalePairsBF16(
      b, loc, scaleWord, kPiece / kind.blockSize, kind.scaleFormat);
  Value words = vector::BitCastOp::create(
      b, loc, VectorType::get({4}, b.getI32Type()), piece);
  SmallVector<Value> pairs;
  for (int64_t w = 0; w < 4; ++w) {
    Value word = vector::ExtractOp::create(b, loc, words, ArrayRef<int64_t>{w});
    Value high = arith::ShRUIOp::create(b, loc, word, i32Const(b, loc, 8));
    for (int64_t s = 0; s < 4; ++s)
      pairs.push_back(scalePlacedPairBF16(
          b, loc, placeNibblePairBF16(b, loc, word, high, s),
          scalePairs[8 * w / kind.blockSize], kind.scaleFormat));
  }
  return pairs;
}

Value mlir::fp4::nvvm_kernels::pairLikePlacedBF16(OpBuilder &b, Location loc,
                                                  ArrayRef<Value> words,
                                                  int64_t p) {
  // The halves s % 2 of words 4w + s / 2 and 4w + 2 + s / 2.
  int64_t w = p / 4, s = p % 4;
  return NVVM::PermuteOp::create(b, loc, b.getI32Type(), words[4 * w + s / 2],
                                 words[4 * w + 2 + s / 2],
                                 i32Const(b, loc, s % 2 ? 0x7632 : 0x5410),
                                 NVVM::PermuteMode::DEFAULT)
      .getResult();
}

FunctionType mlir::fp4::nvvm_kernels::w4a16KernelType(OpBuilder &b,
                                                     const DecodeShape &shape) {
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  SmallVector<Type> inputs = {
      MemRefType::get({ShapedType::kDynamic}, shape.activation), bytes, bytes,
      b.getF32Type()};
  // Packed activations: codes and scale bytes in x's place.
  if (shape.packedActivations) {
    inputs.front() = bytes;
    inputs.insert(inputs.begin() + 1, bytes);
  }
  appendOptionalAndOutput(b, inputs, shape.gathered, shape.bias, shape.result,
                          shape.rowScales, shape.activationMap);
  return FunctionType::get(b.getContext(), inputs, {});
}

SmallVector<Value> mlir::fp4::nvvm_kernels::decodeScaleBytes(
    OpBuilder &b, Location loc, Value word, int64_t count,
    NVVM::BlockScaleFormat format, float factor) {
  auto c = [&](int64_t v) { return i32Const(b, loc, v); };
  SmallVector<Value> scales;
  if (format == NVVM::BlockScaleFormat::UE8M0) {
    for (int64_t i = 0; i < count; ++i) {
      Value scale = arith::BitcastOp::create(
          b, loc, b.getF32Type(),
          ue8m0Bits(b, loc, word, i, /*mantissaBits=*/23));
      if (factor != 1.0f)
        scale = arith::MulFOp::create(b, loc, scale, f32Const(b, loc, factor));
      scales.push_back(scale);
    }
    return scales;
  }
  // Byte 0 (bits 0..6) to bits 7..13 of the low half, byte 1 to 23..29.
  Value low = arith::ShLIOp::create(
      b, loc, arith::AndIOp::create(b, loc, word, c(0x7F)), c(7));
  Value bits = low;
  if (count > 1)
    bits = arith::OrIOp::create(
        b, loc, low,
        arith::ShLIOp::create(
            b, loc, arith::AndIOp::create(b, loc, word, c(0x7F00)), c(15)));
  auto i32x1 = VectorType::get({1}, b.getI32Type());
  Value wide = arith::ExtFOp::create(
      b, loc, VectorType::get({2}, b.getF32Type()),
      vector::BitCastOp::create(
          b, loc, VectorType::get({2}, b.getF16Type()),
          vector::BroadcastOp::create(b, loc, i32x1, bits))
          .getResult());
  for (int64_t i = 0; i < count; ++i)
    scales.push_back(arith::MulFOp::create(
        b, loc, vector::ExtractOp::create(b, loc, wide, ArrayRef<int64_t>{i}),
        f32Const(b, loc, 256.0f * factor)));
  return scales;
}

/// Elements 2q and 2q + 1 of `values` (f32 values that bf16 holds exactly)
/// as bf16 pair q, an i32 (element 2q in the low half). (A code times its
/// block scale is exact in bf16: a code has at most 2 significant bits, a
/// UE4M3 scale 4, a UE8M0 scale 1; docs/gpu.md gives the range limits.)
static SmallVector<Value> packPairsBF16(OpBuilder &b, Location loc,
                                        ArrayRef<Value> values) {
  auto f32x2 = VectorType::get({2}, b.getF32Type());
  auto i32x1 = VectorType::get({1}, b.getI32Type());
  auto bf16x2 = VectorType::get({2}, b.getBF16Type());
  SmallVector<Value> pairs;
  for (size_t q = 0; q < values.size() / 2; ++q) {
    Value pair = vector::FromElementsOp::create(
        b, loc, f32x2, ValueRange{values[2 * q], values[2 * q + 1]});
    Value narrow = arith::TruncFOp::create(b, loc, bf16x2, pair);
    pairs.push_back(vector::ExtractOp::create(
        b, loc, vector::BitCastOp::create(b, loc, i32x1, narrow),
        ArrayRef<int64_t>{0}));
  }
  return pairs;
}

SmallVector<Value> mlir::fp4::nvvm_kernels::expandPieceToBF16(
    OpBuilder &b, Location loc, Value piece, Value scaleWord,
    const MmaKind &kind) {
  constexpr int64_t kPiece = 32;
  // Block scales times 2^14 (the f16 codes below are their values * 2^-14).
  SmallVector<Value> scales =
      decodeScaleBytes(b, loc, scaleWord, kPiece / kind.blockSize,
                       kind.scaleFormat, /*factor=*/16384.0f);
  SmallVector<Value> values = decodePieceTimes2PowMinus14(b, loc, piece);
  for (int64_t element = 0; element < kPiece; ++element)
    values[element] = arith::MulFOp::create(b, loc, values[element],
                                            scales[element / kind.blockSize]);
  return packPairsBF16(b, loc, values);
}

Value mlir::fp4::nvvm_kernels::activationRowShift(OpBuilder &b, Location loc,
                                                  Value largest) {
  return arith::MaxSIOp::create(
      b, loc, i32Const(b, loc, 0),
      arith::SubIOp::create(b, loc, largest,
                            i32Const(b, loc, kLargestUnshiftedByte)));
}

Value mlir::fp4::nvvm_kernels::shiftedActivationScale(
    OpBuilder &b, Location loc, Value byte, Value shift,
    NVVM::BlockScaleFormat format) {
  if (shift)
    byte = arith::MaxSIOp::create(b, loc, i32Const(b, loc, 0),
                                  arith::SubIOp::create(b, loc, byte, shift));
  return decodeScaleBytes(b, loc, byte, 1, format, /*factor=*/16384.0f)[0];
}

Value mlir::fp4::nvvm_kernels::rowScaleBits(OpBuilder &b, Location loc,
                                            Value shift) {
  return arith::ShLIOp::create(
      b, loc, arith::AddIOp::create(b, loc, shift, i32Const(b, loc, 127)),
      i32Const(b, loc, 23));
}

SmallVector<Value> mlir::fp4::nvvm_kernels::expandWordToBF16(OpBuilder &b,
                                                             Location loc,
                                                             Value word,
                                                             Value scale) {
  SmallVector<Value> values = decodeWordTimes2PowMinus14(b, loc, word);
  for (Value &value : values)
    value = arith::MulFOp::create(b, loc, value, scale);
  return packPairsBF16(b, loc, values);
}

Value SharedBufferKernelBuilderBase::matrixDescriptor(Value address,
                                                      int64_t leadingBytes,
                                                      int64_t strideBytes,
                                                      int64_t otherBits) {
  Value start = arith::ShRUIOp::create(
      b, loc, arith::AndIOp::create(b, loc, address, i64(0x3FFFF)), i64(4));
  int64_t fields = ((leadingBytes >> 4) << 16) | ((strideBytes >> 4) << 32) |
                   otherBits;
  return arith::OrIOp::create(b, loc, start, i64(fields));
}

Value SharedBufferKernelBuilderBase::swizzledChunk(Value base, Value row,
                                                   Value chunk) {
  Value swizzled = arith::XOrIOp::create(
      b, loc, chunk, arith::AndIOp::create(b, loc, row, idx(7)));
  return add(base, add(mul(row, 128), mul(swizzled, 16)));
}

void SharedBufferKernelBuilderBase::copySwizzledTile(
    Value base, Value tid, int64_t threads, int64_t rows, Value buffer,
    function_ref<std::pair<Value, Value>(Value, Value)> source,
    int64_t rowStride) {
  assert(rows * 8 % threads == 0 && threads % 8 == 0 &&
         "every thread copies as many chunks, always the same one of a row");
  // Chunk id tid + threads i: row tid / 8 + threads / 8 i, chunk tid % 8.
  int64_t rowsApart = threads / 8;
  Value firstRow = arith::DivUIOp::create(b, loc, tid, idx(8));
  Value chunk = arith::RemUIOp::create(b, loc, tid, idx(8));
  auto pointer = [&](Value from, Value bytes) {
    return LLVM::GEPOp::create(
        b, loc, base.getType(), b.getI8Type(), from,
        ValueRange{arith::IndexCastOp::create(b, loc, b.getI64Type(), bytes)});
  };
  if (rowStride) {
    // Copy i: copy 0's addresses plus constants (ptxas folds them into the
    // instructions); the swizzle of a row repeats every 8 rows.
    assert(rowsApart % 8 == 0 && "copies a multiple of 8 rows apart");
    auto [ok, index] = source(firstRow, chunk);
    assert(!ok && "unguarded copies only");
    Value from = pointer(base, index);
    Value to = swizzledChunk(buffer, firstRow, chunk);
    for (int64_t i = 0; i < rows * 8 / threads; ++i)
      NVVM::CpAsyncOp::create(b, loc,
                              sharedAt(add(to, idx(128 * rowsApart * i))),
                              pointer(from, idx(rowStride * rowsApart * i)), 16,
                              NVVM::LoadCacheModifierKind::CG, Value());
    return;
  }
  for (int64_t i = 0; i < rows * 8 / threads; ++i) {
    Value rowInTile = add(firstRow, idx(rowsApart * i));
    auto [ok, index] = source(rowInTile, chunk);
    Value safe =
        ok ? arith::SelectOp::create(b, loc, ok, index, idx(0)) : index;
    NVVM::CpAsyncOp::create(
        b, loc, sharedAt(swizzledChunk(buffer, rowInTile, chunk)),
        pointer(base, safe), 16, NVVM::LoadCacheModifierKind::CG,
        ok ? arith::SelectOp::create(b, loc, ok, i32(16), i32(0)).getResult()
           : Value());
  }
}

Value SharedBufferKernelBuilderBase::swizzledRowsDescriptor(Value offset) {
  return matrixDescriptor(sharedAddress(offset), /*leadingBytes=*/16,
                          /*strideBytes=*/1024, int64_t(1) << 62);
}

Value SharedBufferKernelBuilderBase::wgmmaShared(Value acc, Value descA,
                                                 Value descB, int64_t n,
                                                 int64_t k,
                                                 NVVM::WGMMATypes type) {
  return NVVM::WgmmaMmaAsyncOp::create(
      b, loc, acc.getType(), acc, descA, descB,
      NVVM::MMAShapeAttr::get(b.getContext(), 64, n, k), type, type,
      NVVM::WGMMATypes::f32, NVVM::WGMMAScaleOut::one, NVVM::WGMMAScaleIn::one,
      NVVM::WGMMAScaleIn::one, NVVM::MMALayout::row, NVVM::MMALayout::col,
      /*satfinite=*/nullptr);
}

Value SharedBufferKernelBuilderBase::wgmmaRegisterA(Value acc,
                                                    ArrayRef<Value> a,
                                                    Value descB, int64_t n,
                                                    int64_t k, StringRef types,
                                                    StringRef immediates) {
  int64_t count = n / 2;
  Type f32 = b.getF32Type();
  std::string text = "wgmma.mma_async.sync.aligned.m64n" + std::to_string(n) +
                     "k" + std::to_string(k) + types.str() + " {";
  std::string constraints;
  SmallVector<Value> operands(a.begin(), a.end());
  operands.push_back(descB);
  for (int64_t i = 0; i < count; ++i) {
    text += (i ? ", $" : "$") + std::to_string(i);
    constraints += "=f,";
  }
  text += "}, {$" + std::to_string(count) + ", $" + std::to_string(count + 1) +
          ", $" + std::to_string(count + 2) + ", $" +
          std::to_string(count + 3) + "}, $" + std::to_string(count + 4) +
          ", 1, " + immediates.str() + ";";
  constraints += "r,r,r,r,l";
  for (int64_t i = 0; i < count; ++i) {
    constraints += "," + std::to_string(i);
    operands.push_back(LLVM::ExtractValueOp::create(b, loc, acc, i));
  }
  auto type = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                               SmallVector<Type>(count, f32));
  return LLVM::InlineAsmOp::create(
             b, loc, type, operands, text, constraints,
             /*has_side_effects=*/true, /*is_align_stack=*/false,
             LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr())
      .getResult(0);
}
