//===- DecodeKernel.cpp - W4A16 matmul for few rows (decode) --------------===//
//
// Part of fp4-mlir.
//
// The kernel of convert-fp4-to-nvvm for FP4 weights with float activations
// (W4A16: bf16, f16 or f32) when the activation has few rows, as in LLM
// decoding. Such a matmul is bound by the weight bytes, so the weights stay
// packed in memory and are expanded in registers; it uses only CUDA cores,
// so it runs on every target (sm_90a, sm_100a, sm_120a). Bf16 activations
// take the tensor-core kernels instead (MmaGemvKernel.cpp up to 8 rows,
// MmaDecodeKernel.cpp beyond), except gathered experts.
//
// A CTA of four warps covers 4 / S * R weight rows (output columns) and up
// to 16 activation rows (grid y walks further rows). Lane l of a warp reads
// 16-byte pieces l, l + 32, ... of each of its R weight rows (32 codes
// each; with R rows, R independent 16-byte loads in flight per lane),
// decodes them with integer operations and multiplies them in f32 with the
// activation's matching 32 elements, which all R rows share. A piece holds
// whole scale blocks (two NVFP4 blocks of 16, one MXFP4 block of 32): each
// block's dot product is scaled once. The warp then sums its lanes. With
// S > 1 (one activation row and K over 4096: `decodeTiling`), S warps share
// R rows, each over 1/S of K, and add their sums through shared memory.
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

/// How a CTA divides its work.
struct DecodeTiling {
  int64_t rowsM;  // activation rows
  int64_t rowsR;  // weight rows per warp
  int64_t unroll; // pieces per weight row a lane loads per pipeline step
  int64_t split;  // warps sharing R weight rows, each over 1/split of K
  int64_t weightRowsPerCTA() const { return kWarps / split * rowsR; }
};

/// One activation row: 2 weight rows per warp with all of a warp's loads
/// for up to 4096 codes per row issued at once, and K beyond that split
/// over 2 or 4 warps (measured on the H100, docs/benchmarks.md: 5-10%
/// faster than 4 rows of 2 pieces per step). More activation rows keep
/// more registers for activations: 4 weight rows of 2 pieces for up to 4,
/// else 2 rows of 1 piece.
DecodeTiling decodeTiling(const DecodeShape &shape) {
  int64_t rowsM = std::min(shape.m, kMaxRowsPerCTA);
  if (rowsM > 1)
    return {rowsM, rowsM <= 4 ? 4 : 2, rowsM <= 4 ? 2 : 1, 1};
  int64_t pieces = shape.k / kPiece;
  int64_t split = 1;
  while (split < kWarps && pieces > split * 32 * 4)
    split *= 2;
  return {1, 2, 4, split};
}

class DecodeKernelBuilder : KernelBuilderBase {
public:
  DecodeKernelBuilder(OpBuilder &b, Location loc, const DecodeShape &shape,
                      const MmaKind &kind, Value partials)
      : KernelBuilderBase(b, loc), shape(shape), kind(kind),
        tiling(decodeTiling(shape)), rowsM(tiling.rowsM), rowsR(tiling.rowsR),
        partials(partials) {}

  void build(Block &entry);

private:
  DecodeShape shape;
  MmaKind kind;
  DecodeTiling tiling;
  int64_t rowsM, rowsR;
  Value partials; // split-K: kWarps x rowsM x rowsR floats of shared memory
};

void DecodeKernelBuilder::build(Block &entry) {
  Value x, w, sw, alpha, out, indices, bias;
  std::tie(x, w, sw, alpha, out, indices, bias) = w4a16Operands(entry, shape);
  Type f32 = b.getF32Type();
  Value lane, warp;
  std::tie(std::ignore, lane, warp) = threadLaneWarp();
  // Warp w: row group w / S, K part w % S.
  int64_t split = tiling.split;
  Value part = arith::RemUIOp::create(b, loc, warp, idx(split));
  Value n0 = add(mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x),
                     tiling.weightRowsPerCTA()),
                 mul(arith::DivUIOp::create(b, loc, warp, idx(split)), rowsR));
  Value m0 = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y), rowsM);
  Value xRows, wRows;
  std::tie(xRows, wRows) = batchRowOffsets(shape.m, shape.n, shape.batched);
  if (shape.gathered)
    wRows = expertWeightRows(b, loc, indices, shape.experts, shape.n, alpha);
  int64_t pieces = shape.k / kPiece;
  int64_t blocksPerPiece = kPiece / kind.blockSize;

  Value zero = f32Const(b, loc, 0.0f);
  SmallVector<Value> init(rowsM * rowsR, zero);
  // Each step, a lane issues the loads of `unroll` pieces of each of its R
  // rows for the next step, then decodes and multiplies this step's (a
  // software pipeline: enough bytes in flight to cover memory latency).
  int64_t unroll = tiling.unroll;
  int64_t piecesPerPart = (pieces + split - 1) / split;
  int64_t steps = (piecesPerPart + 32 * unroll - 1) / (32 * unroll);
  Value firstPiece = mul(part, piecesPerPart);
  Value endPiece = arith::MinUIOp::create(
      b, loc, add(firstPiece, idx(piecesPerPart)), idx(pieces));
  // Guards the shape makes always true are not emitted (their selects fold
  // away): weight rows when N fills every CTA, pieces when every K part
  // fills its steps, activation rows when M fills every CTA row. About one
  // instruction in seven of the inner loop at M = 1.
  Value always = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
  bool rowsExact = shape.n % tiling.weightRowsPerCTA() == 0;
  bool piecesExact = pieces % split == 0 && piecesPerPart % (32 * unroll) == 0;
  bool xRowsExact = shape.m % rowsM == 0;
  // The piece a lane reads in step `step`, round u, and whether it exists
  // (in this warp's part of K).
  auto pieceAt = [&](Value step, int64_t u) {
    Value piece =
        add(firstPiece, add(lane, add(mul(step, 32 * unroll), idx(32 * u))));
    return std::make_pair(
        piece, piecesExact
                   ? always
                   : arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           piece, endPiece)
                         .getResult());
  };
  Value wBytes = globalBytes(w);
  // Per step: [u][r] the raw words and the scale word of row r.
  auto load = [&](Value step) {
    SmallVector<Value> loaded;
    for (int64_t u = 0; u < unroll; ++u) {
      auto [piece, pieceOk] = pieceAt(step, u);
      for (int64_t r = 0; r < rowsR; ++r) {
        Value row = add(n0, idx(r));
        Value ok = rowsExact ? pieceOk : both(pieceOk, below(row, shape.n));
        auto [raw, scaleWord] = loadWeightPiece(
            wBytes, sw, add(row, wRows), piece, ok, shape.k, kind.blockSize);
        loaded.append({raw, scaleWord});
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
      Value ok = xRowsExact ? pieceOk : both(pieceOk, below(xRow, shape.m));
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
  // A dependent launch waits for the rows kernel after the first loads of
  // weights, before the first activation loads (in compute).
  auto wait = [&] { waitForPrerequisiteGrids(); };
  SmallVector<Value> sums =
      pipelinedLoop(b, loc, steps, init, load, compute, /*peelLast=*/true,
                    shape.dependent ? function_ref<void()>(wait) : nullptr);

  Value outScale = arith::MulFOp::create(b, loc, alpha,
                                         f32Const(b, loc, 16384.0f));
  Value isLane0 = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                        lane, idx(0));
  // The warp's sum of each output, in every lane.
  int64_t slots = rowsM * rowsR;
  for (Value &v : sums)
    v = warpReduce(v, [&](Value lhs, Value rhs) {
      return arith::AddFOp::create(b, loc, lhs, rhs).getResult();
    });
  Value stores = isLane0;
  if (split > 1) {
    // Split K: lane 0 of every warp leaves its sums in shared memory; after
    // a barrier, part 0 of each row group adds the parts in order.
    auto leave = scf::IfOp::create(b, loc, isLane0, /*withElseRegion=*/false);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(leave.thenBlock());
      for (int64_t slot = 0; slot < slots; ++slot)
        memref::StoreOp::create(b, loc, sums[slot], partials,
                                ValueRange{add(mul(warp, slots), idx(slot))});
    }
    gpu::BarrierOp::create(b, loc);
    Value first = arith::SubIOp::create(b, loc, warp, part);
    for (int64_t slot = 0; slot < slots; ++slot)
      sums[slot] = sumInOrder(partials, split, [&](int64_t p) {
        return add(mul(add(first, idx(p)), slots), idx(slot));
      });
    stores = both(isLane0, eqIndex(part, 0));
  }
  // Lane 0 (of part 0) stores each output times alpha * 2^14.
  for (int64_t mi = 0; mi < rowsM; ++mi) {
    for (int64_t r = 0; r < rowsR; ++r) {
      Value v = sums[mi * rowsR + r];
      Value xRow = add(m0, idx(mi)), column = add(n0, idx(r));
      Value ok =
          both(stores, both(below(xRow, shape.m), below(column, shape.n)));
      storeOutput(ok, v, outScale, out, bias, xRows, wRows, xRow, column,
                  shape.n);
    }
  }
  gpu::ReturnOp::create(b, loc);
}

} // namespace

std::array<int64_t, 3>
mlir::fp4::nvvm_kernels::decodeLaunch(const DecodeShape &shape) {
  DecodeTiling tiling = decodeTiling(shape);
  int64_t columns = tiling.weightRowsPerCTA();
  return {(shape.n + columns - 1) / columns,
          (shape.m + tiling.rowsM - 1) / tiling.rowsM, 32 * kWarps};
}

int64_t mlir::fp4::nvvm_kernels::decodeSplitK(const DecodeShape &shape) {
  return decodeTiling(shape).split;
}

gpu::GPUFuncOp mlir::fp4::nvvm_kernels::buildDecodeKernel(
    OpBuilder &b, Location loc, StringRef name, const DecodeShape &shape,
    const MmaKind &kind) {
  DecodeTiling tiling = decodeTiling(shape);
  // Split K: the warps' partial sums in shared memory.
  SmallVector<Type> workgroup;
  if (tiling.split > 1)
    workgroup.push_back(
        workgroupFloats(b.getContext(), kWarps * tiling.rowsM * tiling.rowsR));
  auto kernel = gpu::GPUFuncOp::create(b, loc, name, w4a16KernelType(b, shape),
                                       workgroup, TypeRange{});
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  Block &entry = kernel.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  DecodeKernelBuilder(b, loc, shape, kind,
                      tiling.split > 1
                          ? Value(kernel.getWorkgroupAttributions().front())
                          : Value())
      .build(entry);
  return kernel;
}
