//===- DecodeKernel.cpp - W4A16 matmul for few rows (decode) --------------===//
//
// Part of fp4-mlir.
//
// The kernel of convert-fp4-to-nvvm for FP4 weights with float activations
// (W4A16: bf16, f16 or f32) when the activation has few rows, as in LLM
// decoding. Such a matmul is bound by the weight bytes, so the weights stay
// packed in memory and are expanded in registers; it uses only CUDA cores,
// so it runs on every target (sm_90a, sm_100a, sm_120a).
//
// A CTA of four warps covers 4 * R weight rows (output columns) and up to
// 16 activation rows (grid y walks further rows). Lane l of a warp reads
// 16-byte pieces l, l + 32, ... of each of its R weight rows (32 codes
// each; with R rows, R independent 16-byte loads in flight per lane),
// decodes them with integer operations and multiplies them in f32 with the
// activation's matching 32 elements, which all R rows share. A piece holds
// whole scale blocks (two NVFP4 blocks of 16, one MXFP4 block of 32): each
// block's dot product is scaled once. The warp then sums its lanes.
//
// Decoding: decodePieceTimes2PowMinus14 (KernelUtils.cpp); the 2^14 goes
// into the epilogue's scale.
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

constexpr int64_t kWarps = 4;
constexpr int64_t kMaxRowsPerCTA = 16; // activation rows per CTA
constexpr int64_t kPiece = 32;          // codes per lane and load (16 bytes)

int64_t activationRowsPerCTA(const DecodeShape &shape) {
  return std::min(shape.m, kMaxRowsPerCTA);
}

/// Weight rows per warp: more rows share each activation load, fewer keep
/// the decoded rows (32 f32 each) and accumulators in registers.
int64_t weightRowsPerWarp(const DecodeShape &shape) {
  return activationRowsPerCTA(shape) <= 4 ? 4 : 2;
}

/// Pieces per weight row a lane loads per pipeline step: 2 for up to 4
/// activation rows, 1 where more registers hold activations.
int64_t piecesInFlight(const DecodeShape &shape) {
  return activationRowsPerCTA(shape) <= 4 ? 2 : 1;
}

class DecodeKernelBuilder : KernelBuilderBase {
public:
  DecodeKernelBuilder(OpBuilder &b, Location loc, const DecodeShape &shape,
                      const MmaKind &kind)
      : KernelBuilderBase(b, loc), shape(shape), kind(kind),
        rowsM(activationRowsPerCTA(shape)), rowsR(weightRowsPerWarp(shape)) {}

  void build(Block &entry);

private:
  DecodeShape shape;
  MmaKind kind;
  int64_t rowsM, rowsR;
};

void DecodeKernelBuilder::build(Block &entry) {
  Value x, w, sw, alpha, out;
  std::tie(x, w, sw, alpha, out) = w4a16Args(entry);
  Type f32 = b.getF32Type();
  Value lane, warp;
  std::tie(std::ignore, lane, warp) = threadLaneWarp();
  Value n0 = add(mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
                     kWarps * rowsR),
                 mul(warp, rowsR));
  Value m0 = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y), rowsM);
  Value xRows, wRows;
  std::tie(xRows, wRows) = batchRowOffsets(shape.m, shape.n, shape.batched);
  int64_t pieces = shape.k / kPiece;
  int64_t blocksPerPiece = kPiece / kind.blockSize;
  int64_t scaleBytesPerRow = shape.k / kind.blockSize;

  Value zero = f32Const(b, loc, 0.0f);
  SmallVector<Value> init(rowsM * rowsR, zero);
  // Each step, a lane issues the loads of `unroll` pieces of each of its R
  // rows for the next step, then decodes and multiplies this step's (a
  // software pipeline: enough bytes in flight to cover memory latency).
  int64_t unroll = piecesInFlight(shape);
  int64_t steps = (pieces + 32 * unroll - 1) / (32 * unroll);
  auto words = VectorType::get({16}, b.getI8Type());
  // The piece a lane reads in step `step`, round u, and whether it exists.
  auto pieceAt = [&](Value step, int64_t u) {
    Value piece = add(lane, add(mul(step, 32 * unroll), idx(32 * u)));
    return std::make_pair(piece, below(piece, pieces));
  };
  // Per step: [u][r] the raw words and the scale word of row r.
  auto load = [&](Value step) {
    SmallVector<Value> loaded;
    for (int64_t u = 0; u < unroll; ++u) {
      auto [piece, pieceOk] = pieceAt(step, u);
      for (int64_t r = 0; r < rowsR; ++r) {
        Value row = add(n0, idx(r));
        Value ok = both(pieceOk, below(row, shape.n));
        Value globalRow = add(row, wRows);
        loaded.push_back(guardedLoad(
            words, w,
            add(mul(globalRow, shape.k / 2), mul(piece, kPiece / 2)), ok, 16));
        loaded.push_back(loadWord(b, loc, sw,
                                  add(mul(globalRow, scaleBytesPerRow),
                                      mul(piece, blocksPerPiece)),
                                  ok, blocksPerPiece));
      }
    }
    return loaded;
  };
  auto compute = [&](ArrayRef<Value> loaded, ValueRange acc, Value step) {
    auto xType = VectorType::get(
        {kPiece}, cast<MemRefType>(x.getType()).getElementType());
    // The 32 activation elements of row mi matching piece u, as f32.
    auto loadX = [&](int64_t u, int64_t mi) {
      auto [piece, pieceOk] = pieceAt(step, u);
      Value xRow = add(m0, idx(mi));
      Value ok = both(pieceOk, below(xRow, shape.m));
      Value values = guardedLoad(
          xType, x, add(mul(add(xRow, xRows), shape.k), mul(piece, kPiece)),
          ok, 16);
      if (!xType.getElementType().isF32())
        values = arith::ExtFOp::create(b, loc, VectorType::get({kPiece}, f32),
                                       values);
      SmallVector<Value> xs;
      for (int64_t e = 0; e < kPiece; ++e)
        xs.push_back(
            vector::ExtractOp::create(b, loc, values, ArrayRef<int64_t>{e}));
      return xs;
    };
    auto decodeRow = [&](int64_t u, int64_t r) {
      Value raw = loaded[2 * (u * rowsR + r)];
      Value scaleWord = loaded[2 * (u * rowsR + r) + 1];
      SmallVector<Value> scales = decodeScaleBytes(
          b, loc, scaleWord, blocksPerPiece, kind.scaleFormat);
      return std::make_pair(decodePieceTimes2PowMinus14(b, loc, raw), scales);
    };
    SmallVector<Value> next(acc.begin(), acc.end());
    // sum += sum over blocks of scale * (codes . xs).
    auto multiply = [&](Value &sum, ArrayRef<Value> codes,
                        ArrayRef<Value> scales, ArrayRef<Value> xs) {
      for (int64_t blk = 0; blk < blocksPerPiece; ++blk) {
        // Two independent chains per block, for instruction-level
        // parallelism.
        Value dot[2] = {zero, zero};
        for (int64_t e = 0; e < kind.blockSize; ++e) {
          int64_t element = blk * kind.blockSize + e;
          dot[e % 2] = LLVM::FMAOp::create(b, loc, codes[element], xs[element],
                                           dot[e % 2]);
        }
        Value blockDot = arith::AddFOp::create(b, loc, dot[0], dot[1]);
        sum = LLVM::FMAOp::create(b, loc, blockDot, scales[blk], sum);
      }
    };
    for (int64_t u = 0; u < unroll; ++u) {
      if (rowsM <= 4) {
        // Few activation rows: all of them in registers, each weight row
        // decoded once and used by every activation row.
        SmallVector<SmallVector<Value>> xs;
        for (int64_t mi = 0; mi < rowsM; ++mi)
          xs.push_back(loadX(u, mi));
        for (int64_t r = 0; r < rowsR; ++r) {
          auto [codes, scales] = decodeRow(u, r);
          for (int64_t mi = 0; mi < rowsM; ++mi)
            multiply(next[mi * rowsR + r], codes, scales, xs[mi]);
        }
        continue;
      }
      // Up to 16 activation rows: the R decoded weight rows stay in
      // registers, each activation row is loaded once.
      SmallVector<std::pair<SmallVector<Value>, SmallVector<Value>>> rows;
      for (int64_t r = 0; r < rowsR; ++r)
        rows.push_back(decodeRow(u, r));
      for (int64_t mi = 0; mi < rowsM; ++mi) {
        SmallVector<Value> xs = loadX(u, mi);
        for (int64_t r = 0; r < rowsR; ++r)
          multiply(next[mi * rowsR + r], rows[r].first, rows[r].second, xs);
      }
    }
    return next;
  };
  SmallVector<Value> sums = pipelinedLoop(b, loc, steps, init, load, compute);

  // The warp's sum of each output; lane 0 stores it times alpha * 2^14.
  Value width = i32(32);
  Value outScale = arith::MulFOp::create(b, loc, alpha,
                                         f32Const(b, loc, 16384.0f));
  Value isLane0 = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                        lane, idx(0));
  Type resultType = cast<MemRefType>(out.getType()).getElementType();
  for (int64_t mi = 0; mi < rowsM; ++mi) {
    for (int64_t r = 0; r < rowsR; ++r) {
      Value v = sums[mi * rowsR + r];
      for (int64_t offset : {16, 8, 4, 2, 1})
        v = arith::AddFOp::create(
            b, loc, v,
            gpu::ShuffleOp::create(b, loc, v, i32(offset), width,
                                   gpu::ShuffleMode::XOR)
                .getShuffleResult());
      Value xRow = add(m0, idx(mi)), column = add(n0, idx(r));
      Value ok = both(isLane0,
                      both(below(xRow, shape.m), below(column, shape.n)));
      auto store = scf::IfOp::create(b, loc, ok, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(store.thenBlock());
      Value result = arith::MulFOp::create(b, loc, v, outScale);
      if (resultType != f32)
        result = arith::TruncFOp::create(b, loc, resultType, result);
      memref::StoreOp::create(
          b, loc, result, out,
          ValueRange{add(mul(add(xRow, xRows), shape.n), column)});
    }
  }
  gpu::ReturnOp::create(b, loc);
}

} // namespace

std::array<int64_t, 3>
mlir::fp4::nvvm_kernels::decodeLaunch(const DecodeShape &shape) {
  int64_t columns = kWarps * weightRowsPerWarp(shape);
  int64_t rows = activationRowsPerCTA(shape);
  return {(shape.n + columns - 1) / columns, (shape.m + rows - 1) / rows,
          32 * kWarps};
}

gpu::GPUFuncOp mlir::fp4::nvvm_kernels::buildDecodeKernel(
    OpBuilder &b, Location loc, StringRef name, const DecodeShape &shape,
    const MmaKind &kind) {
  auto kernel =
      gpu::GPUFuncOp::create(b, loc, name, w4a16KernelType(b, shape));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  Block &entry = kernel.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  DecodeKernelBuilder(b, loc, shape, kind).build(entry);
  return kernel;
}
