//===- PrefillKernel.cpp - W4A16 matmul for many activation rows ----------===//
//
// Part of fp4-mlir.
//
// The W4A16 kernel for bf16 activations with many rows (prefill, and the
// compute-bound shapes). MmaDecodeKernel.cpp expands the FP4 weights in the
// registers of the lanes that use them, so each weight is expanded once per
// 16 activation rows; here a CTA expands a 64-element slice of its weight
// rows once into shared memory, and eight warps read it there for 128
// activation rows.
//
// CTA: 256 threads, an output tile of 128 activation rows x BN weight rows
// (BN = 128 or 64, chosen to fill the SMs; with split-K S CTAs of a
// cluster share a tile, each over 1/S of K, and add their partial tiles
// through distributed shared memory), or with wgmma 256 x 128 where there
// are CTAs enough; with wgmma, tiles 128 wide keep the weights in registers
// instead (see "Weights in registers" below); K in steps of 64; S = 2
// shared-memory buffers (dynamic shared memory). In step s every thread
//   - issues the loads of step s + 2: one 16-byte piece of codes (32
//     elements of one weight row) per 128 rows of BN, with its scale bytes
//     (pipelinedLoop);
//   - multiplies buffer s % S: on sm_90a each of the two warpgroups issues
//     wgmma.mma_async m64nBNk16 (bf16 x bf16 -> f32) for each m64 block of
//     its rows, four K slices, reading both operands from shared memory;
//     elsewhere warp (wm, wn) of the 2 x 4 grid computes its 64 x BN/4
//     part with ldmatrix.x4 and mma.sync.m16n8k16;
//   - meanwhile copies its 16-byte chunks of step s + S - 1's activation
//     tile (rows x 64 bf16) into buffer (s + S - 1) % S with cp.async, and
//     stores its piece of step s + 1 expanded exactly to bf16 into buffer
//     (s + 1) % S (expandPieceToBF16);
//   - waits for its wgmma and for the copies of step s + 1, and meets the
//     others at one barrier.
//
// Shared memory holds rows of 64 bf16 (128 bytes, eight 16-byte chunks);
// chunk c of row r is stored at chunk c ^ (r % 8), so the eight row
// addresses of an ldmatrix (eight consecutive rows, one chunk) fall in
// eight different bank groups. That is also wgmma's K-major 128-byte
// swizzle, given 1024-byte aligned buffers.
//
// Fragments (PTX ISA, mma.m16n8k16 with .bf16): ldmatrix.x4 of a 16 x 16
// activation block, lane l giving row l % 16 at chunk 2kk + l / 16, returns
// a0..a3 in order; of two 8-row weight blocks (weight rows are the columns
// of B, K-major in memory as B's "col" layout wants), lane l giving row
// 8 (l / 16) + l % 8 at chunk 2kk + (l / 8) % 2, it returns b0, b1 of the
// first block and b0, b1 of the second.
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

constexpr int64_t kTileM = 128;   // activation rows per CTA (wgmma: or 256)
constexpr int64_t kTileK = 64;    // K per step
constexpr int64_t kWarpsM = 2, kWarpsN = 4;
constexpr int64_t kThreads = 32 * kWarpsM * kWarpsN;
constexpr int64_t kRowBytes = 2 * kTileK; // a shared row: 8 chunks of 16 B
constexpr int64_t kMTiles = kTileM / kWarpsM / 16; // m16 tiles per warp
constexpr int64_t kPiece = 32; // codes per 16-byte piece
constexpr int64_t kMinSplitSteps = 8; // K steps per split-K part, at least

/// The bytes of shared memory before the TMA mbarriers (one per buffer):
/// the buffers, or the split-K partials (every thread's tileM / 128 x tileN
/// / 2 f32 accumulators) where those take more.
int64_t bytesBeforeBarriers(const PrefillTiling &tiling) {
  int64_t staging =
      tiling.stages *
      (tiling.tileM + (tiling.weightsInRegisters ? 0 : tiling.tileN)) *
      kRowBytes;
  int64_t partials =
      tiling.split > 1 ? kThreads * tiling.tileM / kTileM * tiling.tileN / 2 * 4
                       : 0;
  return std::max(staging, partials);
}

class PrefillKernelBuilder : SharedBufferKernelBuilderBase {
public:
  PrefillKernelBuilder(OpBuilder &b, Location loc, const DecodeShape &shape,
                       const MmaKind &kind, Value shared,
                       const PrefillTiling &tiling, bool wgmma)
      : SharedBufferKernelBuilderBase(b, loc, shared), shape(shape), kind(kind),
        tileM(tiling.tileM), tileN(tiling.tileN), nTiles(tileN / kWarpsN / 8),
        split(tiling.split), stages(tiling.stages), wgmma(wgmma),
        weightsInRegisters(tiling.weightsInRegisters) {}

  void build(Block &entry);

private:
  /// The byte offset of 16-byte chunk `chunk` of shared row `row` in the
  /// region starting at `base`, swizzled (see the file comment).
  Value chunkOffset(Value base, Value row, Value chunk) {
    return swizzledChunk(base, row, chunk);
  }
  /// The first byte of the buffer of step `step`.
  Value bufferOf(Value step) {
    return mul(arith::RemUIOp::create(b, loc, step, idx(stages)), stageBytes());
  }
  int64_t stageBytes() const {
    return (weightsInRegisters ? tileM : tileM + tileN) * kRowBytes;
  }
  /// Where the weights start in each buffer (after the activation rows).
  int64_t weightOffset() const { return tileM * kRowBytes; }
  /// wgmma: the m64 blocks of activation rows each warpgroup multiplies
  /// (tileM / 2 rows per warpgroup).
  int64_t blocksPerWarpgroup() const { return tileM / 2 / 64; }
  /// 16-byte pieces of codes per thread and step (two per weight row).
  int64_t piecesPerThread() const {
    return std::max<int64_t>(1, 2 * tileN / kThreads);
  }
  /// ldmatrix.x4 (b16, not transposed) at `offset`: four i32 registers.
  SmallVector<Value, 4> loadMatrices(Value offset);
  /// Stores a step's loaded operands into the buffer at `buffer`.
  void stage(ArrayRef<Value> loaded, Value buffer);
  /// The warp's MMAs over the K step staged at `buffer` (mma.sync).
  SmallVector<Value> multiply(ValueRange acc, Value buffer);
  /// Issues the warpgroup's MMAs over the K step staged at `buffer`
  /// (wgmma; wait with wgmma.wait_group): `acc` holds one struct of
  /// m64nBNk16 accumulators per m64 block of the warpgroup's rows.
  SmallVector<Value> multiplyWarpgroup(ValueRange acc, Value buffer);
  /// The descriptor of the rows `chunkOffset` writes, at byte `offset`.
  Value descriptor(Value offset) { return swizzledRowsDescriptor(offset); }
  /// Stores the accumulators: tile (mt, nt) of 16 x 8, element i at row
  /// rowBase + 16 mt + 8 (i / 2), column columnBase + 8 nt + i % 2 (the
  /// fragment layout of both mma.sync and wgmma).
  /// Null entries of `sums` are skipped (another CTA of the cluster stores
  /// them).
  void epilogue(ArrayRef<Value> sums, Value rowBase, Value columnBase,
                int64_t mTiles, int64_t tilesN);
  /// Split-K: sums this thread's accumulators over the cluster's CTAs (its
  /// K parts) and stores them. Each CTA writes its accumulators into its
  /// shared memory; after a cluster barrier, CTA r of the cluster adds slice
  /// r of every thread's accumulators over all the CTAs (in rank order, so
  /// the result is deterministic) and stores it through `store`.
  void reduceAcrossCluster(ArrayRef<Value> sums,
                           function_ref<void(ArrayRef<Value>)> store);

  /// Issues the asynchronous copies (cp.async.cg, 16 bytes, zero-filled
  /// past the activation's rows or this part's K steps) of step `step`'s
  /// activation tile into the buffer at `buffer`.
  void copyActivations(Value step, Value buffer);

  /// The main loop and epilogue with the weights as wgmma's A operand in
  /// registers (see "Weights in registers" below); `warp` is the warp's
  /// index in the CTA, `steps` the K steps.
  void buildWeightsInRegisters(Value warp, int64_t steps);

  DecodeShape shape;
  MmaKind kind;
  int64_t tileM, tileN, nTiles, split, stages;
  bool wgmma, weightsInRegisters;
  Value xGlobal;   // x's first element, as a global pointer
  Value firstStep; // this K part's first step
  // Set up by build().
  Value x, w, sw, alpha, out, tid, lane, warpM, warpN, m0, n0, xRows, wRows,
      rank;
  Value bias; // the kernel's bias argument, or null
};

SmallVector<Value, 4> PrefillKernelBuilder::loadMatrices(Value offset) {
  MLIRContext *ctx = b.getContext();
  Type i32 = b.getI32Type();
  auto type = LLVM::LLVMStructType::getLiteral(ctx, {i32, i32, i32, i32});
  Value loaded = NVVM::LdMatrixOp::create(
      b, loc, type, sharedAt(offset), /*num=*/4, NVVM::MMALayout::row,
      NVVM::LdStMatrixShapeAttr::get(ctx, 8, 8), NVVM::LdStMatrixEltType::B16);
  SmallVector<Value, 4> registers;
  for (int64_t i = 0; i < 4; ++i)
    registers.push_back(LLVM::ExtractValueOp::create(b, loc, loaded, i));
  return registers;
}

void PrefillKernelBuilder::stage(ArrayRef<Value> loaded, Value buffer) {
  auto store = [&](Value value, Value offset) {
    LLVM::StoreOp::create(b, loc, value, sharedAt(offset), /*alignment=*/16);
  };
  // Piece id = t + 256 p of thread t: half id % 2 of weight row id / 2.
  for (int64_t p = 0; p < piecesPerThread(); ++p) {
    Value id = add(tid, idx(kThreads * p));
    auto expandAndStore = [&]() {
      SmallVector<Value> pairs =
          expandPieceToBF16(b, loc, loaded[2 * p], loaded[2 * p + 1], kind);
      Value row = arith::DivUIOp::create(b, loc, id, idx(2));
      Value half = arith::RemUIOp::create(b, loc, id, idx(2));
      auto i32x4 = VectorType::get({4}, b.getI32Type());
      for (int64_t j = 0; j < 4; ++j)
        store(vector::FromElementsOp::create(
                  b, loc, i32x4, ArrayRef<Value>(pairs).slice(4 * j, 4)),
              chunkOffset(add(buffer, idx(weightOffset())), row,
                          add(mul(half, 4), idx(j))));
    };
    if (2 * tileN >= kThreads * (p + 1)) {
      expandAndStore();
      continue;
    }
    auto ifOp = scf::IfOp::create(b, loc, below(id, 2 * tileN),
                                  /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    expandAndStore();
  }
}

void PrefillKernelBuilder::copyActivations(Value step, Value buffer) {
  Value stepOk = below(step, shape.k / kTileK / split);
  Value k0 = mul(add(firstStep, step), kTileK);
  copySwizzledTile(
      xGlobal, tid, kThreads, tileM, buffer, [&](Value rowInTile, Value chunk) {
        Value row = add(m0, rowInTile);
        Value element =
            add(mul(add(row, xRows), shape.k), add(k0, mul(chunk, 8)));
        return std::make_pair(both(stepOk, below(row, shape.m)),
                              mul(element, 2));
      });
}

SmallVector<Value> PrefillKernelBuilder::multiply(ValueRange acc,
                                                  Value buffer) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
  SmallVector<Value> c(acc.begin(), acc.end());
  Value low8 = arith::RemUIOp::create(b, loc, lane, idx(8));
  Value aRow = arith::RemUIOp::create(b, loc, lane, idx(16));
  Value aHalf = arith::DivUIOp::create(b, loc, lane, idx(16));
  Value bRow = add(mul(aHalf, 8), low8);
  Value bHalf = arith::RemUIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, lane, idx(8)), idx(2));
  Value aBase = mul(warpM, kMTiles * 16);
  Value bBase = mul(warpN, nTiles * 8);
  for (int64_t kk = 0; kk < kTileK / 16; ++kk) {
    SmallVector<SmallVector<Value, 4>> a, bFrag;
    for (int64_t mt = 0; mt < kMTiles; ++mt)
      a.push_back(loadMatrices(
          chunkOffset(buffer, add(aBase, add(aRow, idx(16 * mt))),
                      add(aHalf, idx(2 * kk)))));
    for (int64_t np = 0; np < nTiles / 2; ++np) {
      SmallVector<Value, 4> r = loadMatrices(chunkOffset(
          add(buffer, idx(weightOffset())), add(bBase, add(bRow, idx(16 * np))),
          add(bHalf, idx(2 * kk))));
      bFrag.push_back({r[0], r[1]});
      bFrag.push_back({r[2], r[3]});
    }
    for (int64_t mt = 0; mt < kMTiles; ++mt)
      for (int64_t nt = 0; nt < nTiles; ++nt) {
        int64_t first = 4 * (mt * nTiles + nt);
        SmallVector<Value> acc4(c.begin() + first, c.begin() + first + 4);
        Value d = NVVM::MmaOp::create(
            b, loc, resultType, NVVM::MMAShapeAttr::get(ctx, 16, 8, 16),
            /*b1Op=*/nullptr, /*intOverflowBehavior=*/nullptr,
            NVVM::MMALayout::row, NVVM::MMALayout::col,
            NVVM::MMATypesAttr::get(ctx, NVVM::MMATypes::bf16),
            NVVM::MMATypesAttr::get(ctx, NVVM::MMATypes::bf16), a[mt],
            bFrag[nt], acc4);
        for (int64_t i = 0; i < 4; ++i)
          c[first + i] = LLVM::ExtractValueOp::create(b, loc, d, i);
      }
  }
  return c;
}

SmallVector<Value> PrefillKernelBuilder::multiplyWarpgroup(ValueRange acc,
                                                           Value buffer) {
  NVVM::WgmmaFenceAlignedOp::create(b, loc);
  // Warpgroup w takes activation rows w tileM / 2 .. (w + 1) tileM / 2 - 1,
  // in m64 blocks of 8 KB.
  Value warpgroup = arith::DivUIOp::create(b, loc, tid, idx(128));
  Value aRows = add(buffer, mul(warpgroup, tileM / 2 * kRowBytes));
  SmallVector<Value> c(acc.begin(), acc.end());
  // The descriptors of the step's first A and B blocks; the others are
  // those plus their byte offset >> 4 (the start address field, bits 0-13,
  // holds shared addresses >> 4, and every shared address is below 256 KB,
  // so the sum never carries out of it): one add each in the loop.
  Value firstA = descriptor(aRows);
  Value firstB = descriptor(add(buffer, idx(weightOffset())));
  auto advance = [&](Value desc, int64_t bytes) {
    return bytes ? arith::AddIOp::create(b, loc, desc, i64(bytes >> 4))
                       .getResult()
                 : desc;
  };
  for (int64_t kk = 0; kk < kTileK / 16; ++kk) {
    // K slice kk starts 32 bytes further into each (swizzled) row.
    Value descB = advance(firstB, 32 * kk);
    for (int64_t j = 0; j < blocksPerWarpgroup(); ++j) {
      Value descA = advance(firstA, 64 * j * kRowBytes + 32 * kk);
      c[j] = wgmmaShared(c[j], descA, descB, tileN, 16, NVVM::WGMMATypes::bf16);
    }
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
  return c;
}

void PrefillKernelBuilder::epilogue(ArrayRef<Value> sums, Value rowBase,
                                    Value columnBase, int64_t mTiles,
                                    int64_t tilesN) {
  for (int64_t mt = 0; mt < mTiles; ++mt)
    for (int64_t nt = 0; nt < tilesN; ++nt)
      for (int64_t i = 0; i < 4; ++i) {
        if (!sums[4 * (mt * tilesN + nt) + i])
          continue;
        Value row = add(rowBase, idx(16 * mt + 8 * (i / 2)));
        Value column = add(columnBase, idx(8 * nt + i % 2));
        storeOutput(both(below(row, shape.m), below(column, shape.n)),
                    sums[4 * (mt * tilesN + nt) + i], alpha, out, bias, xRows,
                    wRows, row, column, shape.n);
      }
}

void PrefillKernelBuilder::reduceAcrossCluster(
    ArrayRef<Value> sums, function_ref<void(ArrayRef<Value>)> store) {
  // The staging buffers are free: the last step's MMAs completed before a
  // barrier, and every copy since before another.
  for (auto [i, sum] : llvm::enumerate(sums))
    LLVM::StoreOp::create(b, loc, sum,
                          sharedAt(partialOffset(tid, i, kThreads)),
                          /*alignment=*/4);
  sumAcrossCluster(tid, kThreads, sums.size(), split, rank, store);
}

void PrefillKernelBuilder::build(Block &entry) {
  assert(!shape.gathered && "gathered experts take the decode kernel");
  std::tie(x, w, sw, alpha, out, std::ignore, bias) =
      w4a16Operands(entry, shape);
  Value warp;
  std::tie(tid, lane, warp) = threadLaneWarp();
  warpM = arith::DivUIOp::create(b, loc, warp, idx(kWarpsN));
  warpN = arith::RemUIOp::create(b, loc, warp, idx(kWarpsN));
  // Grid x: tile x / split, K part x % split (the rank in its cluster).
  Value blockX = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  n0 = mul(arith::DivUIOp::create(b, loc, blockX, idx(split)), tileN);
  rank = arith::RemUIOp::create(b, loc, blockX, idx(split));
  m0 = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y), tileM);
  std::tie(xRows, wRows) = batchRowOffsets(shape.m, shape.n, shape.batched);
  int64_t steps = shape.k / kTileK / split;
  firstStep = mul(rank, steps);
  int64_t scaleBytesPerRow = shape.k / kind.blockSize;
  int64_t scaleBytesPerPiece = kPiece / kind.blockSize;
  Value wBytes = globalBytes(w);
  // Per step: the thread's pieces of codes and their scale words (zeros
  // past the end and for idle threads). The activations go by cp.async.
  auto load = [&](Value step) {
    SmallVector<Value> loaded;
    Value stepOk = below(step, steps);
    Value k0 = mul(add(firstStep, step), kTileK);
    for (int64_t p = 0; p < piecesPerThread(); ++p) {
      Value id = add(tid, idx(kThreads * p));
      Value row = add(n0, arith::DivUIOp::create(b, loc, id, idx(2)));
      Value half = arith::RemUIOp::create(b, loc, id, idx(2));
      Value ok = both(both(stepOk, below(id, 2 * tileN)), below(row, shape.n));
      Value globalRow = add(row, wRows);
      Value element = add(k0, mul(half, kPiece));
      Value byte = add(mul(globalRow, shape.k / 2),
                       arith::DivUIOp::create(b, loc, element, idx(2)));
      // Past L1 for 128-row tiles (M = 128: 12% faster on the H100); the
      // 256-row tiles were 1-2% slower so (docs/benchmarks.md).
      loaded.push_back(
          tileM == 256
              ? guardedLoad(VectorType::get({16}, b.getI8Type()), w, byte, ok)
              : streamedLoad16(wBytes, byte, ok));
      loaded.push_back(loadWord(
          b, loc, sw,
          add(mul(globalRow, scaleBytesPerRow),
              arith::DivUIOp::create(b, loc, element, idx(kind.blockSize))),
          ok, scaleBytesPerPiece));
    }
    return loaded;
  };
  // The dynamic shared memory, from a 1024-byte boundary (the swizzle
  // repeats every 1024 bytes of address; the launch adds 1024 bytes).
  Value base = LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), shared);
  Value pad = arith::AndIOp::create(
      b, loc, arith::SubIOp::create(b, loc, i64(0), base), i64(1023));
  shared = LLVM::GEPOp::create(b, loc, shared.getType(), b.getI8Type(), shared,
                               ValueRange{pad});
  {
    Value elements =
        memref::ExtractStridedMetadataOp::create(b, loc, x).getOffset();
    Value address =
        add(memref::ExtractAlignedPointerAsIndexOp::create(b, loc, x),
            mul(elements, 2));
    xGlobal = LLVM::IntToPtrOp::create(
        b, loc, LLVM::LLVMPointerType::get(b.getContext(), 1),
        arith::IndexCastOp::create(b, loc, b.getI64Type(), address)
            .getResult());
  }
  if (weightsInRegisters)
    return buildWeightsInRegisters(warp, steps);
  // Issues step `step`'s activation copies into `buffer` as one group.
  auto copyAhead = [&](Value step, Value buffer) {
    copyActivations(step, buffer);
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
  };
  // Ends a step: the next step's copies (the oldest of the stages - 1
  // groups in flight) and this step's stores visible to the next step's
  // MMAs.
  auto arrive = [&]() {
    NVVM::CpAsyncWaitGroupOp::create(b, loc, stages - 2);
    if (wgmma)
      fenceForWgmma();
    gpu::BarrierOp::create(b, loc);
  };
  // The activations of steps 0 .. S - 2 (S buffers) and the weights of
  // step 0 first; then step s multiplies buffer s % S while it copies the
  // activations of step s + S - 1 into buffer (s + S - 1) % S (S - 2 steps'
  // time to arrive) and expands the weights of step s + 1 (loaded during
  // step s - 1) into the next buffer. Buffer (s + S - 1) % S was last read
  // by the MMAs of step s - 1, done then.
  for (int64_t ahead = 0; ahead < stages - 1; ++ahead)
    copyAhead(idx(ahead), bufferOf(idx(ahead)));
  stage(load(idx(0)), bufferOf(idx(0)));
  arrive();
  auto loadNext = [&](Value step) { return load(add(step, idx(1))); };
  auto compute = [&](ArrayRef<Value> loaded, ValueRange acc, Value step) {
    Value buffer = bufferOf(step);
    SmallVector<Value> c =
        wgmma ? multiplyWarpgroup(acc, buffer) : multiply(acc, buffer);
    Value ahead = add(step, idx(stages - 1));
    copyAhead(ahead, bufferOf(ahead));
    stage(loaded, bufferOf(add(step, idx(1))));
    // This step's MMAs must be done before the next step stages over
    // their buffer.
    if (wgmma)
      NVVM::WgmmaWaitGroupSyncOp::create(b, loc, b.getI64IntegerAttr(0));
    arrive();
    return c;
  };
  Value g = arith::DivUIOp::create(b, loc, lane, idx(4));
  Value t2 = mul(arith::RemUIOp::create(b, loc, lane, idx(4)), 2);
  SmallVector<Value> sums;
  if (wgmma) {
    // One m64nBNk16 accumulator per m64 block of the warpgroup's rows: BN / 2
    // f32 per thread each.
    Type f32 = b.getF32Type();
    auto accType = LLVM::LLVMStructType::getLiteral(
        b.getContext(), SmallVector<Type>(tileN / 2, f32));
    SmallVector<Value> init(blocksPerWarpgroup(),
                            LLVM::ZeroOp::create(b, loc, accType));
    for (Value acc : pipelinedLoop(b, loc, steps, init, loadNext, compute))
      for (int64_t i = 0; i < tileN / 2; ++i)
        sums.push_back(LLVM::ExtractValueOp::create(b, loc, acc, i));
  } else {
    SmallVector<Value> init(4 * kMTiles * nTiles, f32Const(b, loc, 0.0f));
    sums = pipelinedLoop(b, loc, steps, init, loadNext, compute);
  }
  auto store = [&](ArrayRef<Value> values) {
    if (wgmma) {
      // Warp w of warpgroup v holds rows 16 w .. 16 w + 15 of each of the
      // warpgroup's m64 blocks.
      Value warpgroup = arith::DivUIOp::create(b, loc, warp, idx(4));
      Value rows =
          add(add(m0, mul(warpgroup, tileM / 2)),
              add(mul(arith::RemUIOp::create(b, loc, warp, idx(4)), 16), g));
      for (int64_t j = 0; j < blocksPerWarpgroup(); ++j)
        epilogue(values.slice(j * tileN / 2, tileN / 2), add(rows, idx(64 * j)),
                 add(n0, t2), 1, tileN / 8);
    } else
      epilogue(values, add(m0, add(mul(warpM, kMTiles * 16), g)),
               add(n0, add(mul(warpN, nTiles * 8), t2)), kMTiles, nTiles);
  };
  // The last step left groups of copies in flight (zero-filling buffers
  // past the last step): done before shared memory is reused.
  NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
  if (split > 1) {
    gpu::BarrierOp::create(b, loc);
    reduceAcrossCluster(sums, store);
  } else {
    store(sums);
  }
  gpu::ReturnOp::create(b, loc);
}

//===----------------------------------------------------------------------===//
// Weights in registers (sm_90a, 256 x 128 and 128 x 128 tiles)
//===----------------------------------------------------------------------===//
//
// The problem transposed: D^T = W x^T, so the weights are wgmma's A, which
// may come from registers, and the activations its B, from shared memory.
// Warpgroup v takes weight rows 64 v .. 64 v + 63 of the tile against all
// its 256 (or 128) activation rows: one m64n256k16 (m64n128k16) per K
// slice; with split-K, the K parts of a tile add their accumulators through
// distributed shared memory after the loop (reduceAcrossCluster). Each thread
// expands exactly the weights of its own A fragments (PTX ISA, wgmma register
// fragments of A, as mma.m16n8k16 per warp: warp w of the warpgroup holds
// rows 16 w + g and 16 w + g + 8, g = lane / 4; in each K slice of 16,
// register 0 the pair k = 2q, 2q + 1 of the first row, q = lane % 4,
// register 1 the same pair of the second row, registers 2 and 3 the pair
// k = 2q + 8, 2q + 9), so no expanded weight goes through shared memory
// and no barrier waits for one. Per step of 64 and row, a thread's codes
// are byte q of each 4-byte word of the row's 32 bytes: it loads the whole
// row (the four threads of a quad load the same bytes, merged by the
// memory system) and picks them out with three prmt per 8 codes.
//
// Pipeline (S = 4 buffers of the tile's activation rows x 128 bytes;
// activations copied D = S - 2 steps ahead; one wgmma group per K slice, four
// left in flight): step s
//   a. waits for its activation tile (TMA, the buffer's mbarrier), barrier
//      (after which every warpgroup has finished the MMAs of step s - 2);
//   b. issues the wgmma of each K slice of step s on A registers expanded
//      earlier, and after each
//   c. (after the first) copies step s + D's activations into buffer
//      (s + D) % S, the one step s - 2 read (or at a.'s end:
//      prefillActivationCopy), picks out step s + 1's codes and loads
//      step s + 2's;
//   d. waits for step s - 1's wgmma of the same slice and expands step
//      s + 1's slice into the registers it read,
// so the tensor cores keep about a step of this warpgroup's work queued
// while its threads expand (docs/benchmarks.md, "The weights-in-registers
// loop, slice by slice").

void PrefillKernelBuilder::buildWeightsInRegisters(Value warp, int64_t steps) {
  assert(wgmma && (tileM == 256 || tileM == 128) && tileN == 128 &&
         "256 or 128 x 128 tiles, two warpgroups of 64 weight rows");
  MLIRContext *ctx = b.getContext();
  Type i32Type = b.getI32Type();
  int64_t lookahead = stages - 2;
  Value warpgroup = arith::DivUIOp::create(b, loc, warp, idx(4));
  Value warpInGroup = arith::RemUIOp::create(b, loc, warp, idx(4));
  Value g = arith::DivUIOp::create(b, loc, lane, idx(4));
  Value q = arith::RemUIOp::create(b, loc, lane, idx(4));
  // A ragged last tile moves back to end at the operand's edge (where the
  // operand has a whole tile), overlapping the tile before it: both compute
  // the overlap alike and store the same values, and none of its rows is
  // past the edge. Operands smaller than a tile keep theirs, with rows past
  // the edge clamped.
  bool clampM = shape.m < tileM, clampN = shape.n < tileN;
  if (shape.m % tileM && !clampM)
    m0 = arith::MinUIOp::create(b, loc, m0, idx(shape.m - tileM));
  if (shape.n % tileN && !clampN)
    n0 = arith::MinUIOp::create(b, loc, n0, idx(shape.n - tileN));
  // The thread's two weight rows (A fragment rows g and g + 8).
  Value firstRow =
      add(n0, add(add(mul(warpgroup, 64), mul(warpInGroup, 16)), g));
  // Nothing is guarded, only clamped to the operands: a row past N (or an
  // activation row past M) only meets its own accumulators, which the
  // epilogue does not store, and a step past the last is loaded, expanded
  // or copied but never multiplied (the loop ends first). So no select
  // per load or copy, and the copies' addresses are one base plus
  // constants where no row is clamped.
  auto clamp = [&](Value v, int64_t bound) -> Value {
    return arith::MinUIOp::create(b, loc, v, idx(bound - 1));
  };
  Value rows[2] = {firstRow, add(firstRow, idx(8))};
  if (clampN)
    for (Value &row : rows)
      row = clamp(row, shape.n);
  int64_t scaleBytesPerStep = kTileK / kind.blockSize; // 4 (NVFP4) or 2
  auto i8x16 = VectorType::get({16}, b.getI8Type());
  // A thread reads 32 bytes of each of its two rows per step, the rows K / 2
  // bytes apart. 128-row tiles (M = 128, memory-bound) ask L2 to fetch 256
  // bytes, four steps of the row, per miss and load past L1: NVFP4
  // 128 x 8192 x 8192 1.085x, MXFP4 1.013x on the H100; the 256-row tiles
  // were 0.995-1.012x with `.L2::256B` and 0.72-0.92x with `.nc` as well
  // (docs/benchmarks.md, "The bf16 rows kernel and the weight loads").
  bool prefetchRows = tileM == kTileM;
  Value wBytes = prefetchRows ? globalBytes(w) : Value();
  // A step's codes of the two rows (two 16-byte halves each) and their
  // scale bytes.
  auto loadCodes = [&](Value step) {
    SmallVector<Value> loaded;
    Value k0 = mul(add(firstStep, clamp(step, steps)), kTileK);
    for (Value row : rows) {
      Value globalRow = add(row, wRows);
      Value byte = add(mul(globalRow, shape.k / 2),
                       arith::DivUIOp::create(b, loc, k0, idx(2)));
      for (int64_t half = 0; half < 2; ++half) {
        Value at = half ? add(byte, idx(16)) : byte;
        loaded.push_back(prefetchRows
                             ? streamedLoad16(wBytes, at, Value(),
                                              ".nc.L1::no_allocate.L2::256B")
                             : guardedLoad(i8x16, w, at, Value()));
      }
      loaded.push_back(
          loadWord(b, loc, sw,
                   add(mul(globalRow, shape.k / kind.blockSize),
                       arith::DivUIOp::create(b, loc, k0, idx(kind.blockSize))),
                   Value(), scaleBytesPerStep));
    }
    return loaded;
  };
  // prmt selector: byte q of the first word, byte q of the second.
  Value q32 = arith::IndexCastOp::create(b, loc, i32Type, q);
  Value pick = arith::OrIOp::create(
      b, loc, q32,
      arith::ShLIOp::create(b, loc, arith::AddIOp::create(b, loc, q32, i32(4)),
                            i32(4)));
  auto prmt = [&](Value lo, Value hi, Value selector) {
    return NVVM::PermuteOp::create(b, loc, i32Type, lo, hi, selector,
                                   NVVM::PermuteMode::DEFAULT)
        .getResult();
  };
  // The thread's codes of a step, picked from its loaded rows: word 2 r + h
  // holds row r's codes of slices 2 h and 2 h + 1, its bytes (slice 2 h,
  // k 2q..), (2 h + 1, k 2q..), (2 h, k 2q + 8..), (2 h + 1, k 2q + 8..), so
  // that nibble pairs 0 and 1 of the word (placeNibblePairBF16)
  // are slice 2 h's codes and pairs 2 and 3 slice 2 h + 1's. Then the rows'
  // scale words.
  auto pickWords = [&](ArrayRef<Value> loaded) {
    SmallVector<Value> words;
    auto i32x4 = VectorType::get({4}, i32Type);
    for (int64_t r = 0; r < 2; ++r) {
      SmallVector<Value> rowWords;
      for (int64_t half = 0; half < 2; ++half) {
        Value v =
            vector::BitCastOp::create(b, loc, i32x4, loaded[3 * r + half]);
        for (int64_t i = 0; i < 4; ++i)
          rowWords.push_back(
              vector::ExtractOp::create(b, loc, v, ArrayRef<int64_t>{i}));
      }
      // Word 2 s + i of the row: slice s, k 8 i + 2q, 8 i + 2q + 1.
      for (int64_t h = 0; h < 2; ++h)
        words.push_back(prmt(
            prmt(rowWords[4 * h], rowWords[4 * h + 2], pick),
            prmt(rowWords[4 * h + 1], rowWords[4 * h + 3], pick), i32(0x5410)));
    }
    words.push_back(loaded[2]);
    words.push_back(loaded[5]);
    return words;
  };
  // The four A registers of K slice `slice` (register 2 hi + r: row r's
  // pair k = 2q + 8 hi, 2q + 8 hi + 1), from the step's picked words:
  // codes placed straight into bf16 and multiplied by their scales
  // (placeNibblePairBF16, scalePlacedPairBF16). `scales` holds each row's
  // scale pairs of the slice pair, decoded at its even slice.
  auto expandSlice = [&](ArrayRef<Value> words, int64_t slice,
                         SmallVector<Value>(&scales)[2]) {
    int64_t h = slice / 2, parity = slice % 2;
    bool nvfp4 = kind.blockSize == 16;
    if (parity == 0)
      for (int64_t r = 0; r < 2; ++r) {
        // NVFP4: bytes 2 h, 2 h + 1 (one per slice); MXFP4: byte h.
        Value word = words[4 + r];
        int64_t shift = nvfp4 ? 16 * h : 8 * h;
        if (shift)
          word = arith::ShRUIOp::create(b, loc, word, i32(shift));
        scales[r] =
            blockScalePairsBF16(b, loc, word, nvfp4 ? 2 : 1, kind.scaleFormat);
      }
    SmallVector<Value> regs(4);
    for (int64_t r = 0; r < 2; ++r) {
      Value word = words[2 * r + h];
      Value high =
          parity ? arith::ShRUIOp::create(b, loc, word, i32(8)).getResult()
                 : word;
      // Pair 2 parity: the low nibbles of bytes parity (k 2q) and parity + 2
      // (k 2q + 8); pair 2 parity + 1 their high nibbles (k 2q + 1, 2q + 9).
      Value scale = scales[r][nvfp4 ? parity : 0];
      auto expanded = [&](int64_t s) {
        return scalePlacedPairBF16(b, loc,
                                   placeNibblePairBF16(b, loc, word, high, s),
                                   scale, kind.scaleFormat);
      };
      Value low = expanded(2 * parity), highNibbles = expanded(2 * parity + 1);
      regs[r] = prmt(low, highNibbles, i32(0x5410));
      regs[2 + r] = prmt(low, highNibbles, i32(0x7632));
    }
    return regs;
  };
  auto expandStep = [&](ArrayRef<Value> words) {
    SmallVector<Value> a, scales[2];
    for (int64_t slice = 0; slice < kTileK / 16; ++slice)
      append_range(a, expandSlice(words, slice, scales));
    return a;
  };
  // TMA: thread 0 loads each step's activation tile as one box (128 bytes
  // of K x tileM rows, swizzled as copySwizzledTile stores them; rows past
  // x read zeros) counted in on the buffer's mbarrier.
  ActivationCopy copy = prefillActivationCopy(shape, kind, wgmma);
  assert(copy.byTma && "the weights-in-registers kernels load x by TMA");
  int64_t barriers = bytesBeforeBarriers(
      {tileM, tileN, split, stages, /*weightsInRegisters=*/true});
  auto barrierOf = [&](Value step) {
    return mbarrierAt(barriers,
                      arith::RemUIOp::create(b, loc, step, idx(stages)));
  };
  Value xMap = LLVM::AddrSpaceCastOp::create(
      b, loc, LLVM::LLVMPointerType::get(ctx), globalBytes(activationMap));
  initMBarriers(tid, barriers, stages);
  gpu::BarrierOp::create(b, loc);
  auto toI32 = [&](Value v) {
    return arith::IndexCastOp::create(b, loc, i32Type, v).getResult();
  };
  auto copyAhead = [&](Value step) {
    // (Steps past the last load the last again; the loop's end waits for
    // them.)
    Value barrier = barrierOf(step);
    Value column = toI32(mul(add(firstStep, clamp(step, steps)), kRowBytes));
    Value row = toI32(add(m0, xRows));
    runIf(eqIndex(tid, 0), [&] {
      NVVM::MBarrierArriveExpectTxOp::create(
          b, loc, /*res=*/Type(), barrier, i32(tileM * kRowBytes),
          NVVM::MemScopeKind::CTA, /*relaxed=*/false, /*predicate=*/Value());
      loadBoxByTma(sharedAt(bufferOf(step)), xMap, column, row, barrier,
                   /*predicate=*/Value());
    });
  };
  // Launched as a programmatic dependent of the bf16 rows kernel (W4A4):
  // the rows are x, so wait for that grid before the first copy of x.
  // Launching early saves the gap between the two kernels (NVFP4 W4A4 128 x
  // 8192 x 8192 44.9 -> 43.9 us, 4096^3 202.8 -> 201.4; issuing the first
  // weight loads before the wait was no faster: docs/benchmarks.md).
  if (shape.dependent)
    waitForPrerequisiteGrids();
  for (int64_t ahead = 0; ahead < lookahead; ++ahead)
    copyAhead(idx(ahead));
  SmallVector<Value> init = {LLVM::ZeroOp::create(
      b, loc,
      LLVM::LLVMStructType::getLiteral(
          ctx, SmallVector<Type>(tileM / 2, b.getF32Type())))};
  append_range(init, expandStep(pickWords(loadCodes(idx(0)))));
  append_range(init, loadCodes(idx(1)));
  // One step: `args` holds the accumulators, the step's A registers and
  // the next step's codes; returns them for the next step.
  auto oneStep = [&](Value step, ValueRange args) {
    Value acc = args[0];
    ValueRange a = args.slice(1, 16), next = args.drop_front(17);
    // a.
    Value phase = arith::RemUIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, step, idx(stages)), idx(2));
    waitMBarrier(b, loc, barrierOf(step), toI32(phase));
    NVVM::SyncWarpOp::create(b, loc, i32(-1));
    gpu::BarrierOp::create(b, loc);
    // c.'s copy here, or after slice 0's wgmma (prefillActivationCopy).
    if (copy.atStepStart)
      copyAhead(add(step, idx(lookahead)));
    // K slice s starts 32 bytes further into each swizzled row. The
    // descriptors first: an instruction defining a wgmma operand between
    // the fence and the wait serializes the group (ptxas).
    SmallVector<Value> descB = {descriptor(bufferOf(step))};
    for (int64_t slice = 1; slice < kTileK / 16; ++slice)
      descB.push_back(arith::AddIOp::create(b, loc, descB[0], i64(2 * slice)));
    SmallVector<Value> words, loaded, expanded, scales[2];
    for (int64_t slice = 0; slice < kTileK / 16; ++slice) {
      // b. One group per K slice.
      NVVM::WgmmaFenceAlignedOp::create(b, loc);
      acc = wgmmaRegisterA(acc, SmallVector<Value>(a.slice(4 * slice, 4)),
                           descB[slice], tileM, 16, ".f32.bf16.bf16",
                           // A and B not negated, B K-major.
                           "1, 1, 0");
      NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
      if (slice == 0) {
        // c.
        if (!copy.atStepStart)
          copyAhead(add(step, idx(lookahead)));
        words = pickWords(SmallVector<Value>(next));
        loaded = loadCodes(add(step, idx(2)));
      }
      // d. Step s - 1's group of this slice retired (four groups younger
      // than it issued since): its A registers take step s + 1's slice.
      NVVM::WgmmaWaitGroupSyncOp::create(b, loc,
                                         b.getI64IntegerAttr(kTileK / 16));
      append_range(expanded, expandSlice(words, slice, scales));
    }
    SmallVector<Value> yielded = {acc};
    append_range(yielded, expanded);
    append_range(yielded, loaded);
    return yielded;
  };
  // Two steps per iteration. Step s's wgmma group reads its A registers
  // until the wait of step s + 1; the registers an iteration carries over
  // are redefined as the next one starts, so they must be written after
  // that wait: by the iteration's second step, after its wait. (With one
  // step per iteration ptxas serializes the wgmma, C7513.) An odd last
  // step follows the loop.
  Value acc = twoStepsPerIteration(steps, init, oneStep)[0];
  NVVM::WgmmaWaitGroupSyncOp::create(b, loc, b.getI64IntegerAttr(0));
  // The copies of the steps past the last, still in flight, land before
  // shared memory is reused or the CTA exits.
  for (int64_t step = steps; step < steps + lookahead; ++step)
    waitMBarrier(b, loc, barrierOf(idx(step)), i32(step / stages % 2));
  // Accumulator 4 j + i: weight row (D row) g + 8 (i / 2) of the warp's 16,
  // activation row (D column) 8 j + 2 q + i % 2.
  Value columnOfFirst = add(n0, add(mul(warpgroup, 64), mul(warpInGroup, 16)));
  Value outScale = placedOutputScale(b, loc, alpha, kind.scaleFormat);
  // One element per store (null entries are another CTA's).
  auto storeEach = [&](ArrayRef<Value> sums) {
    for (int64_t j = 0; j < tileM / 8; ++j)
      for (int64_t i = 0; i < 4; ++i) {
        if (!sums[4 * j + i])
          continue;
        Value row = add(m0, add(mul(q, 2), idx(8 * j + i % 2)));
        Value column = add(columnOfFirst, add(g, idx(8 * (i / 2))));
        storeOutput(both(below(row, shape.m), below(column, shape.n)),
                    sums[4 * j + i], outScale, out, bias, xRows, wRows, row,
                    column, shape.n);
      }
  };
  if (split > 1 || clampN || shape.n % 8) {
    SmallVector<Value> sums;
    for (int64_t i = 0; i < tileM / 2; ++i)
      sums.push_back(LLVM::ExtractValueOp::create(b, loc, acc, i));
    if (split > 1) {
      // Split K: the activation buffers are free once both warpgroups'
      // wgmma are done.
      gpu::BarrierOp::create(b, loc);
      reduceAcrossCluster(sums, storeEach);
    } else {
      storeEach(sums);
    }
    gpu::ReturnOp::create(b, loc);
    return;
  }
  // Where N has a whole tile (and rows of 16-byte multiples), the tile goes
  // out through shared memory (the
  // activation buffers, free once both warpgroups' wgmma are done) in
  // 16-byte rows pieces instead of one element per store: element (row,
  // column) of the tile at row x rowBytes, 16-byte chunk column x bytes / 16
  // XOR x(row), where x(row) = (row / 2) % 8 (bf16) or 2 ((row / 2) % 4)
  // (f32) puts the four row pairs a warp's store writes at once in
  // different banks.
  gpu::BarrierOp::create(b, loc);
  Type outType = cast<MemRefType>(out.getType()).getElementType();
  int64_t bytes = outType.getIntOrFloatBitWidth() / 8;
  int64_t rowBytes = tileN * bytes, chunksPerRow = rowBytes / 16;
  assert(tileM * rowBytes <= stages * stageBytes() && "the tile fits");
  auto swizzleOf = [&](Value halfRow) -> Value {
    return bytes == 2
               ? arith::AndIOp::create(b, loc, halfRow, idx(7)).getResult()
               : mul(arith::AndIOp::create(b, loc, halfRow, idx(3)), 2);
  };
  auto byteOf = [&](Value row, Value columnByte, Value swizzle) {
    Value chunk = arith::XOrIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, columnByte, idx(16)), swizzle);
    return add(add(mul(row, rowBytes), mul(chunk, 16)),
               arith::RemUIOp::create(b, loc, columnByte, idx(16)));
  };
  Value columnInTile = add(mul(warpgroup, 64), mul(warpInGroup, 16));
  for (int64_t j = 0; j < tileM / 8; ++j)
    for (int64_t i = 0; i < 4; ++i) {
      Value sum = LLVM::ExtractValueOp::create(b, loc, acc, 4 * j + i);
      // Row 8 j + 2 q + i % 2 (row / 2 = 4 j + q), column g + 8 (i / 2).
      Value rowInTile = add(mul(q, 2), idx(8 * j + i % 2));
      Value column = add(columnInTile, add(g, idx(8 * (i / 2))));
      // (Rows past M, clamped, are written but never stored.)
      Value row = add(m0, rowInTile);
      if (clampM)
        row = clamp(row, shape.m);
      Value result = outputValue(sum, outScale, out, bias, xRows, wRows, row,
                                 add(n0, column));
      Value at =
          byteOf(rowInTile, mul(column, bytes), swizzleOf(add(q, idx(4 * j))));
      LLVM::StoreOp::create(b, loc, result, sharedAt(at));
    }
  gpu::BarrierOp::create(b, loc);
  // Thread t stores chunk t % chunksPerRow of rows t / chunksPerRow +
  // (256 / chunksPerRow) i: the swizzle of its rows does not change.
  Value chunk = arith::RemUIOp::create(b, loc, tid, idx(chunksPerRow));
  Value storeRow = arith::DivUIOp::create(b, loc, tid, idx(chunksPerRow));
  int64_t rowsApart = kThreads / chunksPerRow;
  Value from =
      byteOf(storeRow, mul(chunk, 16),
             swizzleOf(arith::DivUIOp::create(b, loc, storeRow, idx(2))));
  auto i32x4 = VectorType::get({4}, i32Type);
  auto piece = VectorType::get({16 / bytes}, outType);
  for (int64_t i = 0; i < tileM / rowsApart; ++i) {
    Value row = add(m0, add(storeRow, idx(rowsApart * i)));
    OpBuilder::InsertionGuard guard(b);
    if (clampM) {
      auto ifOp = scf::IfOp::create(b, loc, below(row, shape.m),
                                    /*withElseRegion=*/false);
      b.setInsertionPointToStart(ifOp.thenBlock());
    }
    Value loaded = LLVM::LoadOp::create(
        b, loc, i32x4, sharedAt(add(from, idx(rowsApart * rowBytes * i))), 16);
    vector::StoreOp::create(
        b, loc, vector::BitCastOp::create(b, loc, piece, loaded), out,
        ValueRange{add(mul(add(row, xRows), shape.n),
                       add(n0, mul(chunk, 16 / bytes)))},
        /*nontemporal=*/false, llvm::MaybeAlign(16));
  }
  gpu::ReturnOp::create(b, loc);
}

} // namespace

bool mlir::fp4::nvvm_kernels::usePrefillKernel(const DecodeShape &shape) {
  return shape.activation.isBF16() && shape.m >= 64;
}

/// Whether `tiles` CTAs are too few for the SMs: fewer than 90% of them busy.
static bool leavesSMsIdle(int64_t tiles) { return tiles * 10 < kHopperSMs * 9; }

/// Whether `steps` K steps, already in `split` parts, can be halved again:
/// evenly, with at least kMinSplitSteps steps per part.
static bool canSplitFurther(int64_t steps, int64_t split) {
  return split < 8 && steps % (2 * split) == 0 &&
         steps / (2 * split) >= kMinSplitSteps;
}

PrefillTiling mlir::fp4::nvvm_kernels::prefillTiling(const DecodeShape &shape,
                                                     bool wgmma) {
  auto rowTiles = [&](int64_t tileM) {
    return shape.batch * ((shape.m + tileM - 1) / tileM);
  };
  auto tiles = [&](int64_t tileM, int64_t tileN) {
    return rowTiles(tileM) * ((shape.n + tileN - 1) / tileN);
  };
  // Each weight element is expanded once per CTA, for tileM activation
  // rows, and each activation tile is read once per tileN weight rows (the
  // traffic from L2): large tiles, as long as there are enough CTAs to fill
  // the SMs. With wgmma, 256 x 128 (one CTA per SM) given two waves, the
  // weights in registers and four activation buffers: 1.33x faster at
  // 4096^3 and 1.15x at 8192^3 than 256 x 128 with both operands in shared
  // memory, itself 6% faster than 128 x 256 (docs/benchmarks.md). Else
  // 128 x 128 given two CTAs per SM, or split along K where 128 would
  // leave SMs idle and K splits, else 128 x 64.
  // Two buffers for the 128-row tiles that stage the weights in shared
  // memory (with three, 128 x 8192 x 8192 split in two took 5% less time
  // with NVFP4 weights and 5% more with MXFP4; and sm_120a's 100 KB would
  // not hold three of 128 x 128).
  PrefillTiling tiling{kTileM, 64, 1, 2};
  if (wgmma && tiles(256, 128) >= 2 * kHopperSMs)
    tiling = {256, 128, 1, 4, /*weightsInRegisters=*/true};
  else if (tiles(kTileM, 128) >= 2 * kHopperSMs ||
           (leavesSMsIdle(tiles(kTileM, 128)) &&
            canSplitFurther(shape.k / kTileK, 1)))
    tiling.tileN = 128;
  // Split K until one CTA per SM (the H100, 128 x 8192 x 8192: 64 tiles of
  // 128; two parts 70 us, four 84-89 us, eight 82 us, docs/benchmarks.md):
  // each part must keep kMinSplitSteps steps, and the parts of a tile form
  // one cluster (at most 8, the portable size).
  int64_t count = tiles(tiling.tileM, tiling.tileN);
  while (leavesSMsIdle(count * tiling.split) &&
         canSplitFurther(shape.k / kTileK, tiling.split))
    tiling.split *= 2;
  // With wgmma, 128-row tiles 128 wide keep the weights in registers too
  // (four buffers, one CTA per SM): 128 x 8192 x 8192 split in two took
  // 50.4-50.6 us on the H100 against 57.9-59.4 us with the weights in
  // shared memory (docs/benchmarks.md; before the slice-by-slice loop it
  // was 5-7% slower).
  if (wgmma && tiling.tileN == 128) {
    tiling.weightsInRegisters = true;
    tiling.stages = 4;
  }
  return tiling;
}

int64_t mlir::fp4::nvvm_kernels::prefillSharedBytes(const DecodeShape &shape,
                                                   bool wgmma) {
  PrefillTiling tiling = prefillTiling(shape, wgmma);
  return bytesBeforeBarriers(tiling) +
         (shape.activationMap ? 8 * tiling.stages : 0) + 1024;
}

ActivationCopy mlir::fp4::nvvm_kernels::prefillActivationCopy(
    const DecodeShape &shape, const MmaKind &kind, bool wgmma) {
  PrefillTiling tiling = prefillTiling(shape, wgmma);
  if (!wgmma || !tiling.weightsInRegisters)
    return {};
  // TMA in a branch on thread 0, measured on the H100 against cp.async and
  // a TMA predicated on thread 0 with no branch (docs/benchmarks.md, "TMA
  // for the activations" and "The bf16 rows kernel and the weight loads"):
  // 256-row tiles 1.06-1.09x, issued after the step's first wgmma for
  // NVFP4 and at the step's start for MXFP4 (0.89-0.97x and 0.80-0.89x the
  // other way round); 128-row tiles, since their weight loads ask L2 for
  // 256 bytes, after the first wgmma for both (MXFP4 1.16x against
  // cp.async at the step start, NVFP4 1.01x against the predicated TMA).
  bool nvfp4 = kind.scaleFormat == NVVM::BlockScaleFormat::UE4M3;
  return {/*byTma=*/true, /*atStepStart=*/tiling.tileM == 256 && !nvfp4};
}

std::array<int64_t, 3>
mlir::fp4::nvvm_kernels::prefillLaunch(const DecodeShape &shape, bool wgmma) {
  PrefillTiling tiling = prefillTiling(shape, wgmma);
  return {(shape.n + tiling.tileN - 1) / tiling.tileN * tiling.split,
          (shape.m + tiling.tileM - 1) / tiling.tileM, kThreads};
}

gpu::GPUFuncOp mlir::fp4::nvvm_kernels::buildPrefillKernel(
    OpBuilder &b, Location loc, StringRef name, const DecodeShape &shape,
    const MmaKind &kind, bool wgmma, int64_t sharedPerSM) {
  PrefillTiling tiling = prefillTiling(shape, wgmma);
  assert(shape.activationMap ==
             prefillActivationCopy(shape, kind, wgmma).byTma &&
         "the kernels loading x by TMA take its tensor map");
  MLIRContext *ctx = b.getContext();
  // Dynamic shared memory (prefillSharedBytes, given at the launch).
  auto arrayType = LLVM::LLVMArrayType::get(b.getI8Type(), 0);
  std::string sharedName = (name + "_smem").str();
  LLVM::GlobalOp::create(b, loc, arrayType, /*isConstant=*/false,
                         LLVM::Linkage::External, sharedName,
                         /*value=*/Attribute(), /*alignment=*/16,
                         /*addrSpace=*/3);
  auto kernel = gpu::GPUFuncOp::create(b, loc, name, w4a16KernelType(b, shape));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  // Two CTAs per SM, so that one's staging overlaps the other's MMAs: ptxas
  // then keeps to 128 registers (the 128-wide tile needs 168 otherwise;
  // measured 23% faster on the H100 with no spills, docs/benchmarks.md).
  kernel->setAttr(NVVM::NVVMDialect::getMaxntidAttrName(),
                  b.getDenseI32ArrayAttr({kThreads, 1, 1}));
  // Not for 256-row tiles: their 128 accumulators per thread need more.
  if (tiling.tileM == kTileM && tiling.tileN <= 128 &&
      !tiling.weightsInRegisters &&
      2 * prefillSharedBytes(shape, wgmma) <= sharedPerSM)
    kernel->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                    b.getI32IntegerAttr(2));
  // Split-K: the K parts of a tile form a cluster (compile-time dimensions,
  // so a plain launch makes the clusters).
  if (tiling.split > 1)
    kernel->setAttr(NVVM::NVVMDialect::getClusterDimAttrName(),
                    b.getDenseI32ArrayAttr({int32_t(tiling.split), 1, 1}));
  Block &entry = kernel.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  Value shared = LLVM::AddressOfOp::create(
      b, loc, LLVM::LLVMPointerType::get(ctx, 3), sharedName);
  PrefillKernelBuilder(b, loc, shape, kind, shared, tiling, wgmma).build(entry);
  return kernel;
}
