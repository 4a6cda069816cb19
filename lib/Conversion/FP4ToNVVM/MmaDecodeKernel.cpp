//===- MmaDecodeKernel.cpp - W4A16 matmul on BF16 tensor cores ------------===//
//
// Part of fp4-mlir.
//
// The W4A16 kernel for bf16 activations with more than a few rows: the FP4
// weights are expanded in registers to exact bf16 (code * block scale has
// at most 6 significant bits) and multiplied on the tensor cores with
// mma.sync.m16n8k16 (bf16 x bf16 -> f32), so the cost of a weight byte no
// longer grows with the activation rows. Runs on sm_80 and later (the H100
// included).
//
// A CTA of eight warps computes an output tile of 16 activation rows x 32
// weight rows (four 8-row MMA tiles sharing each activation fragment, so
// the activation is read once per 32 weight rows); the warps split K (warp
// w takes 128-code chunks w, w + 8, ...) and add their partial tiles
// through shared memory at the end.
//
// Each lane (g, t) = (lane / 4, lane % 4) loads, per chunk c, the 16 bytes
// of piece p = 4c + t (codes 32p .. 32p + 31) of weight row g and the same
// 32 elements of activation rows g and g + 8. The MMA sums over K, so K may
// be renumbered as long as A and B agree: the codes are placed straight
// into bf16 pairs p = 4w + s of elements 8w + s and 8w + s + 4
// (expandPiecePlacedBF16, as in MmaGemvKernel.cpp: 1.05-1.08x faster at
// 16x8192x8192 than expanding through f32, docs/benchmarks.md), the
// activations paired alike with one prmt per pair (pairLikePlacedBF16), and
// MMA j of a chunk (j = 0..7) takes pair 2j at the fragment's K positions
// {2t, 2t+1} and pair 2j + 1 at {2t+8, 2t+9}, for both operands. Every
// lane thus uses only what it loaded: no shuffles and no shared-memory
// staging of the operands.
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

// Eight warps split K: at M = 16, N = 8192 there are only 256 CTAs, about
// two per SM, so the warps per CTA set the warps per SM (8 instead of 4:
// 5-17% faster on the H100, docs/benchmarks.md).
constexpr int64_t kWarps = 8;      // split K
constexpr int64_t kTileM = 16;     // activation rows per CTA
constexpr int64_t kNTiles = 4;     // 8-row weight tiles per warp
constexpr int64_t kTileN = 8 * kNTiles; // weight rows per CTA
constexpr int64_t kPiece = 32;     // codes per lane and load (16 bytes)
constexpr int64_t kChunk = 4 * kPiece; // codes per weight row and chunk
constexpr int64_t kUnroll = 1;     // chunks per pipeline step

class MmaDecodeKernelBuilder : KernelBuilderBase {
public:
  MmaDecodeKernelBuilder(OpBuilder &b, Location loc, const DecodeShape &shape,
                         const MmaKind &kind)
      : KernelBuilderBase(b, loc), shape(shape), kind(kind) {}

  void build(gpu::GPUFuncOp kernel);

private:
  DecodeShape shape;
  MmaKind kind;
};

void MmaDecodeKernelBuilder::build(gpu::GPUFuncOp kernel) {
  Block &entry = kernel.getBody().front();
  assert(!shape.gathered && "gathered experts take the decode kernel");
  Value x, w, sw, alpha, out, indices, bias;
  std::tie(x, w, sw, alpha, out, indices, bias) = w4a16Operands(entry, shape);
  Value partials = kernel.getWorkgroupAttributions().front();
  Type f32 = b.getF32Type();
  Value tid, lane, warp;
  std::tie(tid, lane, warp) = threadLaneWarp();
  Value g = arith::DivUIOp::create(b, loc, lane, idx(4));
  Value t = arith::RemUIOp::create(b, loc, lane, idx(4));
  Value n0 = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x), kTileN);
  Value m0 = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y), kTileM);
  Value xRows, wRows;
  std::tie(xRows, wRows) = batchRowOffsets(shape.m, shape.n, shape.batched);
  int64_t pieces = shape.k / kPiece;
  // This lane's weight row in each 8-row tile.
  SmallVector<Value> wRow, wRowOk;
  for (int64_t nt = 0; nt < kNTiles; ++nt) {
    wRow.push_back(add(n0, add(g, idx(8 * nt))));
    wRowOk.push_back(below(wRow.back(), shape.n));
  }
  Value xRowLo = add(m0, g), xRowHi = add(xRowLo, idx(8));
  Value xLoOk = below(xRowLo, shape.m), xHiOk = below(xRowHi, shape.m);

  // Warp w takes chunks w, w + 8, ...; a step loads kUnroll of them.
  int64_t chunks = (shape.k + kChunk - 1) / kChunk;
  int64_t perStep = kWarps * kUnroll;
  int64_t steps = (chunks + perStep - 1) / perStep;
  Value zero = f32Const(b, loc, 0.0f);
  SmallVector<Value> init(4 * kNTiles, zero);
  auto xType = VectorType::get({kPiece}, shape.activation);
  Value wBytes = globalBytes(w);
  // Per step: for each of kUnroll chunks, the raw words and the scale word
  // of each 8-row tile, then the activation rows g and g + 8.
  // A dependent launch waits for the rows kernel after the first step's
  // weight loads, before its activation loads.
  int64_t perChunk = 2 * kNTiles + 2;
  bool waited = !shape.dependent;
  auto load = [&](Value step) {
    // Chunk u's weights, then (after the wait, in a dependent launch's
    // first step) its activation rows g and g + 8.
    SmallVector<SmallVector<Value>> weights(kUnroll), activations(kUnroll);
    SmallVector<Value> pieceOf, pieceOkOf;
    auto loadActivations = [&](int64_t u) {
      for (auto [row, rowOk] :
           {std::pair(xRowLo, xLoOk), std::pair(xRowHi, xHiOk)})
        activations[u].push_back(guardedLoad(
            xType, x,
            add(mul(add(row, xRows), shape.k), mul(pieceOf[u], kPiece)),
            both(pieceOkOf[u], rowOk)));
    };
    for (int64_t u = 0; u < kUnroll; ++u) {
      Value chunk = add(mul(step, perStep), add(warp, idx(kWarps * u)));
      pieceOf.push_back(add(mul(chunk, 4), t));
      pieceOkOf.push_back(below(pieceOf[u], pieces));
      for (int64_t nt = 0; nt < kNTiles; ++nt) {
        Value ok = both(pieceOkOf[u], wRowOk[nt]);
        auto [raw, scaleWord] =
            loadWeightPiece(wBytes, sw, add(wRow[nt], wRows), pieceOf[u], ok,
                            shape.k, kind.blockSize);
        weights[u].append({raw, scaleWord});
      }
      if (waited)
        loadActivations(u);
    }
    if (!waited) {
      waitForPrerequisiteGrids();
      for (int64_t u = 0; u < kUnroll; ++u)
        loadActivations(u);
      waited = true;
    }
    SmallVector<Value> loaded;
    for (int64_t u = 0; u < kUnroll; ++u)
      llvm::append_range(loaded,
                         llvm::concat<Value>(weights[u], activations[u]));
    return loaded;
  };
  auto compute = [&](ArrayRef<Value> loaded, ValueRange acc, Value) {
    SmallVector<Value> c(acc.begin(), acc.end());
    auto i32x16 = VectorType::get({16}, b.getI32Type());
    MLIRContext *ctx = b.getContext();
    auto resultType =
        LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
    for (int64_t u = 0; u < kUnroll; ++u) {
      ArrayRef<Value> item = loaded.slice(u * perChunk, perChunk);
      // Activation rows g and g + 8, paired as the weights.
      SmallVector<Value> lo, hi;
      for (auto [pairs, piece] : {std::pair(&lo, item[2 * kNTiles]),
                                  std::pair(&hi, item[2 * kNTiles + 1])}) {
        Value v = vector::BitCastOp::create(b, loc, i32x16, piece);
        SmallVector<Value> words;
        for (int64_t i = 0; i < 16; ++i)
          words.push_back(
              vector::ExtractOp::create(b, loc, v, ArrayRef<int64_t>{i}));
        for (int64_t p = 0; p < 16; ++p)
          pairs->push_back(pairLikePlacedBF16(b, loc, words, p));
      }
      for (int64_t nt = 0; nt < kNTiles; ++nt) {
        SmallVector<Value> weights =
            expandPiecePlacedBF16(b, loc, item[2 * nt], item[2 * nt + 1], kind);
        for (int64_t j = 0; j < 8; ++j) {
          // a0, a1, a2, a3 = rows g, g + 8 at pair 2j, then 2j + 1.
          SmallVector<Value> a = {lo[2 * j], hi[2 * j], lo[2 * j + 1],
                                  hi[2 * j + 1]};
          SmallVector<Value> bFrag = {weights[2 * j], weights[2 * j + 1]};
          SmallVector<Value> acc4(c.begin() + 4 * nt, c.begin() + 4 * nt + 4);
          Value d = NVVM::MmaOp::create(
              b, loc, resultType, NVVM::MMAShapeAttr::get(ctx, 16, 8, 16),
              /*b1Op=*/nullptr, /*intOverflowBehavior=*/nullptr,
              NVVM::MMALayout::row, NVVM::MMALayout::col,
              NVVM::MMATypesAttr::get(ctx, NVVM::MMATypes::bf16),
              NVVM::MMATypesAttr::get(ctx, NVVM::MMATypes::bf16), a, bFrag,
              acc4);
          for (int64_t i = 0; i < 4; ++i)
            c[4 * nt + i] = LLVM::ExtractValueOp::create(b, loc, d, i);
        }
      }
    }
    return c;
  };
  SmallVector<Value> sums = pipelinedLoop(b, loc, steps, init, load, compute);

  // Split-K reduction: every warp writes its tiles, warp 0 adds them.
  int64_t perThread = 4 * kNTiles;
  for (int64_t i = 0; i < perThread; ++i)
    memref::StoreOp::create(b, loc, sums[i], partials,
                            ValueRange{add(mul(tid, perThread), idx(i))});
  gpu::BarrierOp::create(b, loc);
  auto isWarp0 = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, warp,
                                       idx(0));
  auto ifOp = scf::IfOp::create(b, loc, isWarp0, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value outScale = placedOutputScale(b, loc, alpha, kind.scaleFormat);
  // Tile nt: c0, c1 at row g, columns 8nt + 2t, 8nt + 2t + 1; c2, c3 at
  // row g + 8.
  for (int64_t i = 0; i < perThread; ++i) {
    Value sum = sumInOrder(partials, kWarps, [&](int64_t other) {
      return add(mul(add(lane, idx(32 * other)), perThread), idx(i));
    });
    int64_t nt = i / 4, slot = i % 4;
    Value row = slot < 2 ? xRowLo : xRowHi;
    Value column = add(add(n0, mul(t, 2)), idx(8 * nt + slot % 2));
    Value ok = both(slot < 2 ? xLoOk : xHiOk, below(column, shape.n));
    storeOutput(ok, sum, outScale, out, bias, xRows, wRows, row, column,
                shape.n);
  }
  b.setInsertionPointAfter(ifOp);
  gpu::ReturnOp::create(b, loc);
}

} // namespace

bool mlir::fp4::nvvm_kernels::useMmaDecodeKernel(const DecodeShape &shape) {
  return shape.activation.isBF16() && shape.m > 8;
}

std::array<int64_t, 3>
mlir::fp4::nvvm_kernels::mmaDecodeLaunch(const DecodeShape &shape) {
  return {(shape.n + kTileN - 1) / kTileN, (shape.m + kTileM - 1) / kTileM,
          32 * kWarps};
}

gpu::GPUFuncOp mlir::fp4::nvvm_kernels::buildMmaDecodeKernel(
    OpBuilder &b, Location loc, StringRef name, const DecodeShape &shape,
    const MmaKind &kind) {
  FunctionType type = w4a16KernelType(b, shape);
  // The split-K partial tiles: 4 f32 per thread and tile.
  MemRefType partials =
      workgroupFloats(b.getContext(), 32 * kWarps * 4 * kNTiles);
  auto kernel = gpu::GPUFuncOp::create(b, loc, name, type,
                                       TypeRange{partials}, TypeRange{});
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&kernel.getBody().front());
  MmaDecodeKernelBuilder(b, loc, shape, kind).build(kernel);
  return kernel;
}
