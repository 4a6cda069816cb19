//===- Tcgen05Kernel.cpp - sm_100a block-scaled MMA in tensor memory ------===//
//
// Part of fp4-mlir.
//
// The sm_100a kernel of convert-fp4-to-nvvm. One CTA of 128 threads (four
// warps) computes a 128 x 128 tile of D = A * B^T:
//
//   1. Warp 0 allocates 256 tensor-memory columns: 128 for the f32
//      accumulator (row i of the tile in lane i) and, per stage, 4 columns
//      of A scales and 4 of B scales.
//   2. For each 64-wide K step (two shared-memory stages), the operand
//      tiles go to the layout tcgen05 reads, K-major without swizzle
//      (8-row x 16-byte core matrices): W4A4 by TMA (thread 0 issues one
//      box of 16 bytes x 128 rows per core-matrix column, counted in on
//      the stage's load mbarrier; the tensor maps come from the host),
//      W4A8 by every thread through registers (one row of A and of B).
//      Every thread stores its rows' scale bytes in the 32 x 16-byte
//      blocks of tcgen05.cp.32x128b.warpx4. Thread 0 waits for the loads,
//      copies the scales into tensor memory (tcgen05.cp), issues
//      tcgen05.mma.block_scale and commits it to the stage's mbarrier. A
//      stage is refilled only after the MMA that read it has completed, so
//      the loads of step i + 1 overlap the MMA of step i.
//   3. Epilogue: warp w reads lanes 32w..32w+31 (tcgen05.ld 32x32b), scales
//      by alpha (the product of NVFP4's global scales) and stores f32.
//   4. Warp 0 frees the tensor memory.
//
// The descriptor and layout encodings follow the PTX ISA (tcgen05 "Shared
// Memory Descriptor", "Instruction descriptor" for kind::mxf4 and
// kind::mxf4nvf4, "Block Scaling for tcgen05.mma"); docs/gpu.md lists them
// with what has and has not been checked (no Blackwell machine here).
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::fp4;
using namespace mlir::fp4::nvvm_kernels;

namespace {

constexpr int64_t kTileM = 128, kTileN = 128, kStepK = 64;
constexpr int64_t kThreads = 128;
constexpr int64_t kScaleBlockBytes = 512; // 128 rows x 4 bytes
constexpr int64_t kStages = 2;
// Tensor memory: the accumulator, then 8 scale columns per stage.
constexpr int64_t kAccColumns = kTileN;
constexpr int64_t kTmemColumns = 256; // a power of two >= 128 + 2 * 8

/// Where one stage's operands and scales sit in shared memory, and where
/// the mbarriers and the tensor-memory slot follow the stages. A row of a
/// K step (64 elements) is 32 bytes of packed E2M1 codes (W4A4), or 64
/// bytes (W4A8, kind::mxf8f6f4): A's FP8 bytes, and B's codes in the
/// padded form that kind reads for E2M1, 16 codes in the low 8 bytes of
/// each 16. With TMA, a second mbarrier per stage counts its bytes in.
struct StageLayout {
  StageLayout(const MmaKind &kind, bool tma)
      : rowBytes(kind.fp8Activations() ? 64 : 32), tma(tma) {}
  int64_t rowBytes;
  bool tma;
  /// 16-byte core-matrix columns of a row, and the bytes between them.
  int64_t chunks() const { return rowBytes / 16; }
  static int64_t chunkStride(int64_t rows) { return rows * 16; }
  int64_t aTile() const { return kTileM * rowBytes; }
  int64_t bTile() const { return kTileN * rowBytes; }
  int64_t scalesA() const { return aTile() + bTile(); }
  int64_t scalesB() const { return scalesA() + kScaleBlockBytes; }
  int64_t stage() const { return scalesB() + kScaleBlockBytes; }
  /// Per stage: the barrier of its MMA's completion, then (TMA) that of
  /// its loads.
  int64_t barriers() const { return kStages * stage(); }
  int64_t loadBarriers() const { return barriers() + 8 * kStages; }
  int64_t tmemSlot() const { return barriers() + 8 * kStages * (tma ? 2 : 1); }
  int64_t shared() const { return tmemSlot() + 16; }
};

/// The instruction descriptor of kind::mxf4nvf4 (NVFP4), kind::mxf4
/// (MXFP4) or kind::mxf8f6f4 (W4A8), M = 128, N = kTileN, both operands
/// K-major, dense: A format (bits 7-9) and B format (bits 10-12), E2M1 = 1
/// for the FP4 kinds, E4M3 = 0, E5M2 = 1 and E2M1 = 5 for mxf8f6f4; N >> 3
/// (bits 17-22), scale type UE8M0 (bit 23; 0 is UE4M3), M >> 4 (bits
/// 24-28); the scale-factor ids, which byte of a scale column the MMA
/// reads, of B (bits 4-5) and of A (bits 29-30).
int32_t instructionDescriptor(const MmaKind &kind, int64_t scaleId) {
  uint32_t formatA = 1, formatB = 1;
  if (kind.fp8Activations()) {
    formatA = kind.activation == NVVM::MMATypes::e4m3 ? 0 : 1;
    formatB = 5;
  }
  uint32_t d = (formatA << 7) | (formatB << 10) |
               (uint32_t(kTileN >> 3) << 17) | (uint32_t(kTileM >> 4) << 24) |
               (uint32_t(scaleId) << 4) | (uint32_t(scaleId) << 29);
  if (kind.scaleFormat == NVVM::BlockScaleFormat::UE8M0)
    d |= 1u << 23;
  return static_cast<int32_t>(d);
}

/// Builds the kernel body; `b` is inside the kernel's entry block.
class Tcgen05KernelBuilder : SharedBufferKernelBuilderBase {
public:
  Tcgen05KernelBuilder(OpBuilder &b, Location loc, const KernelShape &shape,
                       const MmaKind &kind, Value shared)
      : SharedBufferKernelBuilderBase(b, loc, shared), shape(shape), kind(kind),
        layout(kind, shape.tensorMaps) {}

  void build(Block &entry);

private:
  /// Tensor-memory pointer to column `column` of lane `lane` past `base`.
  Value tmemAt(Value base, Value laneColumn) {
    Value address = add(base, laneColumn);
    return LLVM::IntToPtrOp::create(
        b, loc, LLVM::LLVMPointerType::get(b.getContext(), 6), address);
  }
  /// Spins until phase `parity` of the mbarrier of `stage` in the array at
  /// shared byte `barriers` has completed.
  void waitBarrier(int64_t barriers, Value stage, Value parity);
  /// Thread 0: the TMA loads of one K step's A and B tiles (16-byte columns
  /// of 128 rows; rows past the tensor read as zeros), counted in by the
  /// stage's load barrier.
  void loadTilesByTma(Value k0, Value stage, Value stageBase);
  /// Every thread: its row of the A and B tiles, through registers (and,
  /// for mxf8f6f4, B's padding).
  void storeTilesByThreads(Value k0, Value stageBase);
  /// The 64-bit shared-memory matrix descriptor of K-major data without
  /// swizzle at `address`: start >> 4 (bits 0-13), leading byte offset
  /// >> 4 (bits 16-29: the stride between core matrices along K), stride
  /// byte offset >> 4 (bits 32-45: between 8-row groups), version 1
  /// (bit 46).
  Value descriptor(Value address, int64_t leading, int64_t stride);
  /// One K step: fills stage `stage` and, on thread 0, issues the MMA.
  void step(Value k0, Value stage, Value first);

  /// Stores `value` (16 bytes) as row `row`'s chunk `chunk` of the tile of
  /// `rows` rows at stage byte `tile` of `stageBase`.
  void storeChunk(Value value, Value stageBase, int64_t tile, int64_t rows,
                  int64_t chunk, Value row);

  KernelShape shape;
  MmaKind kind;
  StageLayout layout;
  // Set up by build().
  Value a, sa, bb, sb, tid, tmemBase, rowA, rowB, rowAOk, rowBOk;
  // TMA: the tensor maps (generic pointers) and the tiles' first rows.
  Value mapA, mapB, tileRowA, tileRowB;
};

void Tcgen05KernelBuilder::waitBarrier(int64_t barriers, Value stage,
                                       Value parity) {
  waitMBarrier(b, loc, mbarrierAt(barriers, stage), parity);
}

Value Tcgen05KernelBuilder::descriptor(Value address, int64_t leading,
                                       int64_t stride) {
  return matrixDescriptor(address, leading, stride, int64_t(1) << 46);
}

void Tcgen05KernelBuilder::storeChunk(Value value, Value stageBase,
                                      int64_t tile, int64_t rows, int64_t chunk,
                                      Value row) {
  Value offset =
      add(stageBase, add(idx(tile + chunk * StageLayout::chunkStride(rows)),
                         mul(row, 16)));
  LLVM::StoreOp::create(b, loc, value, sharedAt(offset), /*alignment=*/16);
}

void Tcgen05KernelBuilder::loadTilesByTma(Value k0, Value stage,
                                          Value stageBase) {
  Type i32Type = b.getI32Type();
  Value barrier = mbarrierAt(layout.loadBarriers(), stage);
  NVVM::MBarrierArriveExpectTxOp::create(
      b, loc, /*res=*/Type(), barrier, i32(layout.aTile() + layout.bTile()),
      NVVM::MemScopeKind::CTA,
      /*relaxed=*/false, /*predicate=*/Value());
  Value kByte = arith::DivUIOp::create(b, loc, k0, idx(2));
  auto load = [&](Value map, Value tileRow, int64_t tile, int64_t rows) {
    for (int64_t chunk = 0; chunk < layout.chunks(); ++chunk) {
      Value column = arith::IndexCastOp::create(b, loc, i32Type,
                                                add(kByte, idx(16 * chunk)));
      Value row = arith::IndexCastOp::create(b, loc, i32Type, tileRow);
      Value dst = sharedAt(
          add(stageBase, idx(tile + chunk * StageLayout::chunkStride(rows))));
      loadBoxByTma(dst, map, column, row, barrier);
    }
  };
  load(mapA, tileRowA, 0, kTileM);
  load(mapB, tileRowB, layout.aTile(), kTileN);
}

void Tcgen05KernelBuilder::storeTilesByThreads(Value k0, Value stageBase) {
  // Thread t copies row t of A and row t of B. Core matrix (row group g,
  // 16-byte column c) of a tile of R rows sits at c * 16 R + g * 128, so
  // row r's column c is at c * 16 R + r * 16.
  auto i8x16 = VectorType::get({16}, b.getI8Type());
  bool w4a8 = kind.fp8Activations();
  // A: packed E2M1 (K / 2 bytes a row) or FP8 (K bytes).
  int64_t aRowBytes = w4a8 ? shape.k : shape.k / 2;
  Value aByte = w4a8 ? k0 : arith::DivUIOp::create(b, loc, k0, idx(2));
  for (int64_t chunk = 0; chunk < layout.chunks(); ++chunk)
    storeChunk(
        guardedLoad(i8x16, a,
                    add(mul(rowA, aRowBytes), add(aByte, idx(16 * chunk))),
                    rowAOk),
        stageBase, 0, kTileM, chunk, tid);
  // B: packed E2M1; for mxf8f6f4 each 8 bytes (16 codes) padded to 16.
  Value bByte = arith::DivUIOp::create(b, loc, k0, idx(2));
  Value zeros = arith::ConstantOp::create(b, loc, b.getZeroAttr(i8x16));
  for (int64_t half = 0; half < 2; ++half) {
    Value codes = guardedLoad(
        i8x16, bb, add(mul(rowB, shape.k / 2), add(bByte, idx(16 * half))),
        rowBOk);
    if (!w4a8) {
      storeChunk(codes, stageBase, layout.aTile(), kTileN, half, tid);
      continue;
    }
    for (int64_t part = 0; part < 2; ++part) {
      SmallVector<int64_t> mask;
      for (int64_t i = 0; i < 16; ++i)
        mask.push_back(i < 8 ? 8 * part + i : 16 + i);
      Value padded =
          vector::ShuffleOp::create(b, loc, codes, zeros, mask).getResult();
      storeChunk(padded, stageBase, layout.aTile(), kTileN, 2 * half + part,
                 tid);
    }
  }
}

void Tcgen05KernelBuilder::step(Value k0, Value stage, Value first) {
  Value stageBase = mul(stage, layout.stage());
  // Operands: by TMA (thread 0 issues it), else by every thread.
  if (layout.tma)
    runIf(eqIndex(tid, 0), [&] { loadTilesByTma(k0, stage, stageBase); });
  else
    storeTilesByThreads(k0, stageBase);
  // Scales: row r's scale bytes of this step at 16 * (r % 32) + 4 * (r / 32)
  // of the block, the layout tcgen05.cp.32x128b.warpx4 copies into four
  // columns (column j, lane l: row 32j + l) of every lane quarter. MXFP4's
  // two bytes are padded with zeros; the MMA reads bytes 0-1 (scale id 0).
  int64_t scaleBytes = shape.k / 64 * kind.scalesPerK64;
  Value kScale = mul(arith::DivUIOp::create(b, loc, k0, idx(64)),
                     kind.scalesPerK64);
  Value slot = add(mul(arith::RemUIOp::create(b, loc, tid, idx(32)), 16),
                   mul(arith::DivUIOp::create(b, loc, tid, idx(32)), 4));
  auto storeScales = [&](Value buffer, Value row, Value ok, int64_t block) {
    Value word = loadWord(b, loc, buffer, add(mul(row, scaleBytes), kScale),
                          ok, kind.scalesPerK64);
    Value offset = add(stageBase, add(idx(block), slot));
    LLVM::StoreOp::create(b, loc, word, sharedAt(offset), /*alignment=*/4);
  };
  storeScales(sa, rowA, rowAOk, layout.scalesA());
  storeScales(sb, rowB, rowBOk, layout.scalesB());
  // The generic-proxy stores above must be visible to tcgen05's async proxy.
  NVVM::FenceProxyOp::create(
      b, loc, NVVM::ProxyKindAttr::get(b.getContext(),
                                       NVVM::ProxyKind::async_shared),
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
  gpu::BarrierOp::create(b, loc);

  runIf(eqIndex(tid, 0), [&] {
    MLIRContext *ctx = b.getContext();
    auto cta1 = NVVM::CTAGroupKindAttr::get(ctx, NVVM::CTAGroupKind::CTA_1);
    // TMA: the step's tiles have landed (phase i / 2 of the stage's load
    // barrier).
    if (layout.tma)
      waitBarrier(
          layout.loadBarriers(), stage,
          arith::IndexCastOp::create(
              b, loc, b.getI32Type(),
              arith::RemUIOp::create(
                  b, loc,
                  arith::DivUIOp::create(b, loc, k0, idx(kStepK * kStages)),
                  idx(2))));
    NVVM::Tcgen05FenceOp::create(
        b, loc, NVVM::Tcgen05FenceKindAttr::get(
                    ctx, NVVM::Tcgen05FenceKind::AFTER_THREAD_SYNC));
    Value stage32 = arith::IndexCastOp::create(b, loc, b.getI32Type(), stage);
    Value scaleColumn = add(i32(kAccColumns),
                            arith::MulIOp::create(b, loc, stage32, i32(8)));
    Value tmemScaleA = tmemAt(tmemBase, scaleColumn);
    Value tmemScaleB = tmemAt(tmemBase, add(scaleColumn, i32(4)));
    Value stageAddress = add(sharedAddress(0),
                             arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                                        stageBase));
    auto at = [&](int64_t offset) { return add(stageAddress, i64(offset)); };
    auto copyScales = [&](Value tmem, int64_t offset) {
      NVVM::Tcgen05CpOp::create(
          b, loc,
          NVVM::Tcgen05CpShapeAttr::get(ctx,
                                        NVVM::Tcgen05CpShape::SHAPE_32x128b),
          cta1,
          NVVM::Tcgen05CpMulticastAttr::get(ctx,
                                            NVVM::Tcgen05CpMulticast::WARPX4),
          /*srcFormat=*/nullptr, tmem,
          descriptor(at(offset), /*leading=*/0, /*stride=*/128));
    };
    copyScales(tmemScaleA, layout.scalesA());
    copyScales(tmemScaleB, layout.scalesB());
    // One MMA of K = 64 (FP4 kinds), or two of K = 32 (mxf8f6f4), each
    // reading two 16-byte columns of the tiles and scale byte j.
    bool nvfp4 = kind.kind == NVVM::MMABlockScaleKind::MXF4NVF4;
    Value accumulate = arith::XOrIOp::create(
        b, loc, first, arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1));
    int64_t mmas = layout.chunks() / 2;
    for (int64_t j = 0; j < mmas; ++j) {
      Value aDesc = descriptor(at(2 * j * StageLayout::chunkStride(kTileM)),
                               /*leading=*/StageLayout::chunkStride(kTileM),
                               /*stride=*/128);
      Value bDesc = descriptor(
          at(layout.aTile() + 2 * j * StageLayout::chunkStride(kTileN)),
          /*leading=*/StageLayout::chunkStride(kTileN), /*stride=*/128);
      // The second MMA of a step always accumulates.
      Value accumulateJ =
          j == 0 ? accumulate
                 : arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1)
                       .getResult();
      NVVM::Tcgen05MMABlockScaleOp::create(
          b, loc, NVVM::MMABlockScaleKindAttr::get(ctx, kind.kind), cta1,
          NVVM::Tcgen05MMABlockScaleAttr::get(
              ctx, nvfp4 ? NVVM::Tcgen05MMABlockScale::BLOCK16
                         : NVVM::Tcgen05MMABlockScale::BLOCK32),
          NVVM::Tcgen05MMACollectorOpAttr::get(
              ctx, NVVM::Tcgen05MMACollectorOp::DISCARD),
          tmemAt(tmemBase, i32(0)), aDesc, bDesc,
          i32(instructionDescriptor(kind, /*scaleId=*/j)), accumulateJ,
          tmemScaleA, tmemScaleB);
    }
    NVVM::Tcgen05CommitOp::create(
        b, loc, sharedAt(add(idx(layout.barriers()), mul(stage, 8))),
        /*multicastMask=*/Value(), cta1);
  });
}

void Tcgen05KernelBuilder::build(Block &entry) {
  MLIRContext *ctx = b.getContext();
  a = entry.getArgument(0);
  sa = entry.getArgument(1);
  bb = entry.getArgument(2);
  sb = entry.getArgument(3);
  Value alpha = entry.getArgument(4), out = outputArgument(entry);
  OptionalArguments optional = optionalArguments(
      entry, 4, shape.gathered, shape.bias, shape.tensorMaps ? 2 : 0);
  Value bias = optional.bias;
  auto cta1 = NVVM::CTAGroupKindAttr::get(ctx, NVVM::CTAGroupKind::CTA_1);
  auto fence = [&](NVVM::Tcgen05FenceKind kind) {
    NVVM::Tcgen05FenceOp::create(b, loc,
                                 NVVM::Tcgen05FenceKindAttr::get(ctx, kind));
  };

  tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value warp = arith::DivUIOp::create(b, loc, tid, idx(32));
  Value n0 = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x), kTileN);
  Value m0 = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y), kTileM);
  Value batch = shape.batched
                    ? gpu::BlockIdOp::create(b, loc, gpu::Dimension::z)
                          .getResult()
                    : idx(0);
  // This thread's row of A and of B (B's row is an output column).
  Value localRowA = add(m0, tid), localRowB = add(n0, tid);
  rowAOk = below(localRowA, shape.m);
  rowBOk = below(localRowB, shape.n);
  Value aRows = mul(batch, shape.m), bRows = mul(batch, shape.n);
  if (shape.gathered)
    bRows = expertWeightRows(b, loc, optional.indices, shape.experts, shape.n,
                             alpha);
  rowA = add(localRowA, aRows);
  rowB = add(localRowB, bRows);
  if (shape.tensorMaps) {
    auto generic = [&](Value map) -> Value {
      return LLVM::AddrSpaceCastOp::create(
          b, loc, LLVM::LLVMPointerType::get(ctx), globalBytes(map));
    };
    mapA = generic(optional.mapA);
    mapB = generic(optional.mapB);
    tileRowA = add(m0, aRows);
    tileRowB = add(n0, bRows);
  }

  // Set-up: thread 0 initializes the mbarriers, warp 0 allocates tensor
  // memory (its address lands in shared memory) and gives up the right to
  // allocate more, so co-resident CTAs can allocate theirs.
  initMBarriers(tid, layout.barriers(), kStages * (layout.tma ? 2 : 1));
  runIf(eqIndex(warp, 0), [&] {
    NVVM::Tcgen05AllocOp::create(b, loc, sharedAt(layout.tmemSlot()),
                                 i32(kTmemColumns), cta1);
    NVVM::Tcgen05RelinquishAllocPermitOp::create(b, loc, cta1);
  });
  fence(NVVM::Tcgen05FenceKind::BEFORE_THREAD_SYNC);
  gpu::BarrierOp::create(b, loc);
  fence(NVVM::Tcgen05FenceKind::AFTER_THREAD_SYNC);
  tmemBase = LLVM::LoadOp::create(b, loc, b.getI32Type(),
                                  sharedAt(layout.tmemSlot()), /*alignment=*/4);

  // The K loop. Step i uses stage i % 2; before refilling a stage, wait for
  // the MMA of step i - 2 (completion i / 2 - 1 of that stage's barrier).
  int64_t steps = shape.k / kStepK;
  scf::ForOp::create(
      b, loc, idx(0), idx(steps), idx(1), ValueRange{},
      [&](OpBuilder &lb, Location l, Value i, ValueRange) {
        OpBuilder::InsertionGuard inner(b);
        b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
        Value stage = arith::RemUIOp::create(b, loc, i, idx(kStages));
        Value round = arith::DivUIOp::create(b, loc, i, idx(kStages));
        Value refill = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge,
                                             i, idx(kStages));
        runIf(refill, [&] {
          Value parity = arith::IndexCastOp::create(
              b, loc, b.getI32Type(),
              arith::RemUIOp::create(b, loc, add(round, idx(1)), idx(2)));
          waitBarrier(layout.barriers(), stage, parity);
        });
        step(mul(i, kStepK), stage, eqIndex(i, 0));
        scf::YieldOp::create(b, loc);
      });
  // The last commit covers every MMA before it.
  int64_t last = steps - 1;
  waitBarrier(layout.barriers(), idx(last % kStages),
              i32((last / kStages) % 2));
  fence(NVVM::Tcgen05FenceKind::AFTER_THREAD_SYNC);

  // Epilogue: thread t of warp w holds row 32w + t, 32 columns per load.
  Value warp32 = arith::IndexCastOp::create(b, loc, b.getI32Type(), warp);
  Value laneBase = arith::ShLIOp::create(
      b, loc, arith::MulIOp::create(b, loc, warp32, i32(32)), i32(16));
  Value row = add(m0, tid);
  Value rowOk = below(row, shape.m);
  Value outRow = mul(add(row, aRows), shape.n);
  for (int64_t chunk = 0; chunk < kTileN / 32; ++chunk) {
    Value values = NVVM::Tcgen05LdOp::create(
        b, loc, VectorType::get({32}, b.getI32Type()), /*pack=*/nullptr,
        NVVM::Tcgen05LdStShapeAttr::get(ctx,
                                        NVVM::Tcgen05LdStShape::SHAPE_32X32B),
        tmemAt(tmemBase, add(laneBase, i32(chunk * 32))), /*offset=*/Value());
    NVVM::Tcgen05WaitOp::create(
        b, loc, NVVM::Tcgen05WaitKindAttr::get(ctx, NVVM::Tcgen05WaitKind::LOAD));
    Value floats = vector::BitCastOp::create(
        b, loc, VectorType::get({32}, b.getF32Type()), values);
    for (int64_t j = 0; j < 32; ++j) {
      Value column = add(n0, idx(chunk * 32 + j));
      Value ok = arith::AndIOp::create(b, loc, rowOk, below(column, shape.n));
      Value value = vector::ExtractOp::create(b, loc, floats,
                                              ArrayRef<int64_t>{j});
      runIf(ok, [&] {
        memref::StoreOp::create(
            b, loc,
            scaleForOutput(b, loc, value, alpha, out, bias, add(bRows, column)),
            out, ValueRange{add(outRow, column)});
      });
    }
  }

  // Tear-down: every warp's loads are done before warp 0 frees the memory.
  fence(NVVM::Tcgen05FenceKind::BEFORE_THREAD_SYNC);
  gpu::BarrierOp::create(b, loc);
  runIf(eqIndex(warp, 0), [&] {
    fence(NVVM::Tcgen05FenceKind::AFTER_THREAD_SYNC);
    NVVM::Tcgen05DeallocOp::create(b, loc, tmemAt(tmemBase, i32(0)),
                                   i32(kTmemColumns), cta1);
  });
  gpu::ReturnOp::create(b, loc);
}

} // namespace

std::array<int64_t, 3>
mlir::fp4::nvvm_kernels::tcgen05Launch(const KernelShape &shape) {
  return {(shape.n + kTileN - 1) / kTileN, (shape.m + kTileM - 1) / kTileM,
          kThreads};
}

gpu::GPUFuncOp mlir::fp4::nvvm_kernels::buildTcgen05Kernel(
    OpBuilder &b, Location loc, StringRef name, const KernelShape &shape,
    const MmaKind &kind) {
  // The kernel's shared memory: one global in the shared address space,
  // 1024-byte aligned (descriptors need 16).
  MLIRContext *ctx = b.getContext();
  auto arrayType = LLVM::LLVMArrayType::get(
      b.getI8Type(), StageLayout(kind, shape.tensorMaps).shared());
  std::string sharedName = (name + "_smem").str();
  LLVM::GlobalOp::create(b, loc, arrayType, /*isConstant=*/false,
                         LLVM::Linkage::Internal, sharedName,
                         /*value=*/Attribute(), /*alignment=*/1024,
                         /*addrSpace=*/3);
  gpu::GPUFuncOp kernel = createKernelFunc(b, loc, name, shape);
  Block &entry = kernel.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  Value shared = LLVM::AddressOfOp::create(
      b, loc, LLVM::LLVMPointerType::get(ctx, 3), sharedName);
  Tcgen05KernelBuilder(b, loc, shape, kind, shared).build(entry);
  return kernel;
}
