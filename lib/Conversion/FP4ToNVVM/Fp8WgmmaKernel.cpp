//===- Fp8WgmmaKernel.cpp - MXFP4 x MXFP4 on sm_90a's FP8 tensor cores ----===//
//
// Part of fp4-mlir.
//
// Hopper has no FP4 tensor cores, but it multiplies FP8 at twice the bf16
// rate, and an MXFP4 value, an E2M1 code times 2^e, is exactly an E5M2
// value once 2^e is split into a per-row power of two and the rest: with R
// the largest scale byte of the row (over all of K) and s a block's byte,
//
//   code x 2^(s - 127) = E5M2(code x 2^(s - R + 13)) x 2^(R - 140),
//
// and the E5M2 byte exists, exactly, for every code while s >= R - 26 (the
// largest block's 6 x 2^13 is E5M2's 1.5 x 2^15, a block 26 lower maps 0.5
// to its smallest normal, 2^-14): 27 scale values per row. So the W4A4
// product of MXFP4 operands is wgmma.m64nNk32.e5m2.e5m2 on those bytes,
// times 2^(Ra + Rw - 280) per output in the epilogue: exact operands, the
// tensor cores' own summation (which on Hopper keeps fewer bits than f32).
//
// A nonzero code in a block more than 26 below its row's largest has no
// such byte, and a scale byte of 255 (UE8M0's NaN encoding) no meaning
// here; neither is approximated. The rows kernel marks such an activation
// row -1; the matmul kernel notes such weight codes as it expands them;
// the CTA votes after its loop, and a CTA with one recomputes its tile on
// the CUDA cores from the codes and scales (per block, f32; as the sm_90a
// twin of the block-scaled MMA, which decodes byte 255 as 2^128). Zero
// codes never vote, so all-zero blocks with tiny scales do not count
// (blocks with large scales still set R).
//
// Two kernels:
//   - the rows kernel (one warp per activation row) writes the row's codes
//     as E5M2 bytes, each block's 32 in the order the matmul kernel's K
//     renumbering wants (word j's first four codes at 4 j, its last four
//     at 16 + 4 j), and the row's R (or -1);
//   - the matmul kernel: the weights-in-registers design of
//     PrefillKernel.cpp with FP8 operands (D^T = W x^T). CTA of 256
//     threads, tileM activation rows (64, 128 or 256: wgmma's N) x 128
//     weight rows (two warpgroups of 64: wgmma's M), K in steps of 128
//     (four scale blocks; 128 E5M2 bytes per shared row, 128-byte
//     swizzle). A thread expands rows 16 w + g and + 8 of its warp (g =
//     lane / 4), word q = lane % 4 of each block's 16 bytes (codes 8q ..
//     8q + 7), straight into its A registers: codes 8q .. 8q + 3 to the
//     register of K 4q .. 4q + 3, codes 8q + 4 .. to that of K 16 + 4q ..
//     (the 8-bit A fragment of mma.m16n8k32), the same renumbering as the
//     rows kernel's.
// A code becomes its E5M2 byte with two prmt (8 magnitudes per block in
// two registers, from two multiply-adds of the block's exponent) and its
// sign with one more prmt, a shift and logic ops, four codes at a time.
//
// Matmul pipeline (S = 4 buffers of E5M2 activation rows, copied by
// cp.async two steps ahead; weights loaded three steps ahead): step s
//   a. waits for its copies, fence.proxy.async, barrier (after which both
//      warpgroups have retired step s - 2's wgmma);
//   b. copies step s + 2's rows into buffer (s + 2) % 4, the one step
//      s - 2 read;
//   c. issues the four wgmma of step s on its A registers;
//   d. waits until only step s's group is in flight;
//   e. loads step s + 3's weight words and expands step s + 1's.
// Two steps per loop iteration, as in PrefillKernel.cpp (ptxas serializes
// wgmma whose register A is redefined by a loop's back edge).
//
// Staged weights (stagesWeights: from kStagedWeightsMinRows activation
// rows on, unsplit): the rows kernel runs on the weights too, so the
// expansion costs one pass over N x K bytes instead of one per CTA row of
// tiles, and the matmul kernel copies both operands' E5M2 rows into each
// buffer (tileM activation rows, then 128 weight rows) by cp.async: steps
// a, b, the four wgmma with A from shared memory too, d. It takes the
// weight rows' largest bytes (or -1: the CUDA-core path) from that rows
// kernel. 1.2-1.5x faster at 1024 .. 8192 rows on the H100
// (docs/benchmarks.md), for an N x K byte workspace per call.
//
// Split-K (splitOf): where the tiles leave SMs idle, S CTAs of a cluster
// share a tile, each over 1/S of K with its own weight R, vote and
// fallback; each keeps its scaled partial tile in shared memory and the
// cluster adds them in rank order (sumAcrossCluster).
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::fp4;
using namespace mlir::fp4::nvvm_kernels;

namespace {

constexpr int64_t kThreads = 256;
constexpr int64_t kTileN = 128; // weight rows per CTA
constexpr int64_t kStepK = 128; // K per step: four blocks of 32
constexpr int64_t kBlock = 32;
static_assert(kBlock == kActivationRowItemCodes,
              "a block is an item of activationRowsLaunch");
constexpr int64_t kRowBytes = 128; // a shared row: one step of E5M2 bytes
/// Activation buffers, and how many steps ahead their copies go (the
/// buffer a copy fills was read two steps before: see the pipeline).
constexpr int64_t kStages = 4;
constexpr int64_t kAhead = kStages - 2;
/// E5M2 exponent field of a code of 0.5 in its row's largest block.
constexpr int64_t kTopField = 27;
/// Output = sum x 2^(Ra - kFactorBias) x 2^(Rw - kFactorBias).
constexpr int64_t kFactorBias = 140;
constexpr int64_t kMinSplitSteps = 8; // K steps per split-K part, at least
/// From this many activation rows (per batch) on, the weights too become
/// E5M2 rows first (a rows kernel over them) and the matmul kernel copies
/// both operands into shared memory: expanding the weights in every CTA
/// costs the MMA warps more than the one pass over N x K bytes.
constexpr int64_t kStagedWeightsMinRows = 1024;

int64_t tileMOf(const KernelShape &shape) {
  return shape.m <= 64 ? 64 : shape.m <= 128 ? 128 : 256;
}

/// The CTAs that share each output tile, each over 1/S of K (a cluster;
/// 1: no split). The kernel takes all of an SM's registers, so one CTA per
/// SM: K is halved while the CTAs still fit in one wave, each part keeps
/// kMinSplitSteps steps, and a cluster has at most 8 CTAs.
int64_t splitOf(const KernelShape &shape) {
  int64_t tiles = shape.batch * ((shape.n + kTileN - 1) / kTileN) *
                  ((shape.m + tileMOf(shape) - 1) / tileMOf(shape));
  int64_t steps = shape.k / kStepK, split = 1;
  while (split < 8 && 2 * split * tiles <= kHopperSMs &&
         steps % (2 * split) == 0 && steps / (2 * split) >= kMinSplitSteps)
    split *= 2;
  return split;
}

/// Whether the weights go through the rows kernel too (then the tile
/// covers all of K: no split).
bool stagesWeights(const KernelShape &shape) {
  return shape.m >= kStagedWeightsMinRows && splitOf(shape) == 1;
}

/// The conversion of MXFP4 codes to E5M2 bytes, shared by the two kernels.
class E5M2KernelBuilderBase : protected SharedBufferKernelBuilderBase {
protected:
  E5M2KernelBuilderBase(OpBuilder &b, Location loc, const KernelShape &shape,
                        Value shared)
      : SharedBufferKernelBuilderBase(b, loc, shared), shape(shape) {}

  Value constI32(uint32_t v) { return i32(int64_t(v)); }
  /// The largest scale byte (an i32) of `count` bytes from byte `first` of
  /// row `globalRow` of `scales` (K / 32 bytes per row); 0 where `valid` is
  /// false. `count` and `first` are multiples of 4, `first` of the
  /// largest power of two up to 16 that divides `count`.
  Value largestScale(Value scales, Value globalRow, Value first, int64_t count,
                     Value valid);
  /// The E5M2 bytes of magnitudes 0..7 of a block with scale byte `scale`
  /// in a row whose largest is `largest`: {codes 0-3, codes 4-7}.
  std::pair<Value, Value> magnitudes(Value scale, Value largest);
  /// The E5M2 bytes of the eight codes of `word` (code i in nibble i):
  /// {codes 0-3, codes 4-7}, byte i of each the code i (+4).
  std::pair<Value, Value> expandWord(Value word,
                                     std::pair<Value, Value> table);
  /// `bad` or'ed with the magnitudes of `codes` where the block's exponent
  /// is outside the window (nonzero: a code E5M2 cannot hold).
  Value noteOutside(Value bad, Value scale, Value largest, Value codes);
  /// 2^(exponent) as f32, for an i32 exponent in [-149, 127].
  Value pow2(Value exponent);

  KernelShape shape;
};

/// The rows kernel: MXFP4 activation rows to E5M2 bytes and each row's
/// largest scale byte (or -1).
class E5M2RowsKernelBuilder : E5M2KernelBuilderBase {
public:
  E5M2RowsKernelBuilder(OpBuilder &b, Location loc, const KernelShape &shape,
                        Value shared)
      : E5M2KernelBuilderBase(b, loc, shape, shared) {}
  /// The E5M2 bytes of a warp's chunk of a row (its staging buffer).
  static constexpr int64_t kChunkBytes = kActivationRowChunk * kBlock;
  void build(Block &entry);
};

class Fp8WgmmaKernelBuilder : E5M2KernelBuilderBase {
public:
  Fp8WgmmaKernelBuilder(OpBuilder &b, Location loc, const KernelShape &shape,
                        Value shared)
      : E5M2KernelBuilderBase(b, loc, shape, shared), tileM(tileMOf(shape)),
        split(splitOf(shape)), steps(shape.k / kStepK / split),
        staged(stagesWeights(shape)) {}

  void build(Block &entry);

private:
  /// Step `step`'s buffer: its tileM activation rows, then (staged) its
  /// kTileN weight rows, each region a multiple of 1024 bytes.
  Value bufferOf(Value step) {
    return mul(arith::RemUIOp::create(b, loc, step, idx(kStages)),
               (tileM + (staged ? kTileN : 0)) * kRowBytes);
  }
  /// The tile over this CTA's K part on the CUDA cores, exactly as the
  /// block-scaled MMA defines it (the path of CTAs whose scales the E5M2
  /// window cannot hold): `sink(inBounds, row, column, sum)` for each
  /// output.
  void sumOnCudaCores(function_ref<void(Value, Value, Value, Value)> sink);

  /// The tile's K parts (split-K) and the K steps of each.
  int64_t tileM, split, steps;
  /// The weights arrive as E5M2 rows (w8, with their largest scale bytes
  /// in wInfo) and are copied like the activations: wgmma's A from shared
  /// memory.
  bool staged;
  Value a, sa, w, sw, alpha, out, bias, tid, n0, m0, xRows, wRows;
  /// This CTA's K part: its rank in the cluster and its first K step.
  Value rank, firstStep;
};

Value E5M2KernelBuilderBase::largestScale(Value scales, Value globalRow,
                                          Value first, int64_t count,
                                          Value valid) {
  int64_t bytes = count;
  int64_t group = bytes % 16 == 0 ? 16 : bytes % 8 == 0 ? 8 : 4;
  auto type = VectorType::get({group}, b.getI8Type());
  Value start = add(mul(globalRow, shape.k / kBlock), first);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(type));
  auto loop = scf::ForOp::create(
      b, loc, idx(0), idx(bytes / group), idx(1), ValueRange{zero},
      [&](OpBuilder &lb, Location, Value i, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
        Value v = guardedLoad(type, scales, add(start, mul(i, group)), valid,
                              group);
        scf::YieldOp::create(
            b, loc, arith::MaxUIOp::create(b, loc, args[0], v).getResult());
      });
  Value largest = vector::ReductionOp::create(
      b, loc, vector::CombiningKind::MAXUI, loop.getResult(0));
  return arith::ExtUIOp::create(b, loc, b.getI32Type(), largest);
}

std::pair<Value, Value> E5M2KernelBuilderBase::magnitudes(Value scale,
                                                          Value largest) {
  // Exponent field F of 0.5 x 2^(s - R + 13): 27 + s - R. Then 1 and 1.5
  // have F + 1 (mantissa 0 and 2), 2 and 3 F + 2, 4 and 6 F + 3.
  Value field = arith::AddIOp::create(
      b, loc, arith::SubIOp::create(b, loc, scale, largest), i32(kTopField));
  auto table = [&](uint32_t perField, uint32_t constant) {
    return arith::AddIOp::create(
               b, loc,
               arith::MulIOp::create(b, loc, field, constI32(perField)),
               constI32(constant))
        .getResult();
  };
  return {table(0x04040400u, 0x06040000u), table(0x04040404u, 0x0E0C0A08u)};
}

std::pair<Value, Value>
E5M2KernelBuilderBase::expandWord(Value word, std::pair<Value, Value> table) {
  Type i32Type = b.getI32Type();
  auto prmt = [&](Value lo, Value hi, Value selector) {
    return NVVM::PermuteOp::create(b, loc, i32Type, lo, hi, selector,
                                   NVVM::PermuteMode::DEFAULT)
        .getResult();
  };
  auto shr16 = [&](Value v) {
    return arith::ShRUIOp::create(b, loc, v, i32(16)).getResult();
  };
  // prmt's selector nibbles pick a byte by bits 0-2 (bit 3, here the
  // code's sign, would replicate the byte's bit 7: cleared). The signs:
  // bytes {b, b, b', b'} of the word's codes put nibble 2i + 1's sign at
  // bit 7 of byte 2i + 1, and nibble 2i's at bit 3 of byte 2i, moved to
  // bit 7 by a shift. (prmt's sign replication with constant 0x7F bytes
  // would do it in one; ptxas folds that prmt to the constant.)
  Value magnitude = arith::AndIOp::create(b, loc, word, constI32(0x77777777u));
  auto withSign = [&](Value bytes, uint32_t pairSelector) {
    Value pairs = prmt(word, i32(0), constI32(pairSelector));
    Value odd = arith::AndIOp::create(b, loc, pairs, constI32(0x80008000u));
    Value even = arith::AndIOp::create(
        b, loc, arith::ShLIOp::create(b, loc, pairs, i32(4)),
        constI32(0x00800080u));
    return arith::OrIOp::create(b, loc, bytes,
                                arith::OrIOp::create(b, loc, odd, even))
        .getResult();
  };
  return {withSign(prmt(table.first, table.second, magnitude), 0x1100u),
          withSign(prmt(table.first, table.second, shr16(magnitude)),
                   0x3322u)};
}

Value E5M2KernelBuilderBase::noteOutside(Value bad, Value scale, Value largest,
                                         Value codes) {
  // F = 27 + s - R < 1.
  Value outside = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::sgt,
      arith::SubIOp::create(b, loc, largest, scale), i32(kTopField - 1));
  Value magnitude =
      arith::AndIOp::create(b, loc, codes, constI32(0x77777777u));
  return arith::OrIOp::create(
      b, loc, bad, arith::SelectOp::create(b, loc, outside, magnitude, i32(0)));
}

Value E5M2KernelBuilderBase::pow2(Value exponent) {
  Value normal = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                       exponent, i32(-126));
  Value normalBits = arith::ShLIOp::create(
      b, loc, arith::AddIOp::create(b, loc, exponent, i32(127)), i32(23));
  // Below 2^-126: the subnormal with only bit (exponent + 149) set.
  Value subnormalBits = arith::ShLIOp::create(
      b, loc, i32(1),
      arith::MaxSIOp::create(
          b, loc, arith::AddIOp::create(b, loc, exponent, i32(149)), i32(0)));
  return arith::BitcastOp::create(
      b, loc, b.getF32Type(),
      arith::SelectOp::create(b, loc, normal, normalBits, subnormalBits));
}

void Fp8WgmmaKernelBuilder::sumOnCudaCores(
    function_ref<void(Value, Value, Value, Value)> sink) {
  // Thread t: weight row t % 128 against activation rows t / 128 + 2 j.
  auto i8x16 = VectorType::get({16}, b.getI8Type());
  Value column = add(n0, arith::RemUIOp::create(b, loc, tid, idx(kTileN)));
  Value columnOk = below(column, shape.n);
  Value globalColumn = add(column, wRows);
  Value firstRow = add(m0, arith::DivUIOp::create(b, loc, tid, idx(kTileN)));
  scf::ForOp::create(
      b, loc, idx(0), idx(tileM / 2), idx(1), ValueRange{},
      [&](OpBuilder &lb, Location, Value j, ValueRange) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
        Value row = add(firstRow, mul(j, 2));
        Value ok = both(columnOk, below(row, shape.m));
        Value globalRow = add(row, xRows);
        Value firstBlock = mul(firstStep, kStepK / kBlock);
        auto blocks = scf::ForOp::create(
            b, loc, firstBlock, add(firstBlock, idx(steps * kStepK / kBlock)),
            idx(1), ValueRange{f32Const(b, loc, 0.0f)},
            [&](OpBuilder &ib, Location, Value kb, ValueRange sum) {
              OpBuilder::InsertionGuard inner(b);
              b.setInsertionPoint(ib.getInsertionBlock(),
                                  ib.getInsertionPoint());
              auto codes = [&](Value buffer, Value r) {
                return decodePieceTimes2PowMinus14(
                    b, loc,
                    guardedLoad(i8x16, buffer,
                                add(mul(r, shape.k / 2), mul(kb, 16)), ok));
              };
              auto scale = [&](Value buffer, Value r) {
                return decodeScaleBytes(
                    b, loc,
                    loadWord(b, loc, buffer, add(mul(r, shape.k / kBlock), kb),
                             ok, 1),
                    1, NVVM::BlockScaleFormat::UE8M0, 16384.0f)[0];
              };
              SmallVector<Value> x = codes(a, globalRow),
                                 y = codes(w, globalColumn);
              // Products of codes times 2^-28, summed exactly in f32.
              Value partial = f32Const(b, loc, 0.0f);
              for (int64_t i = 0; i < kBlock; ++i)
                partial = arith::AddFOp::create(
                    b, loc, partial,
                    arith::MulFOp::create(b, loc, x[i], y[i]));
              Value scales = arith::MulFOp::create(b, loc, scale(sa, globalRow),
                                                   scale(sw, globalColumn));
              scf::YieldOp::create(
                  b, loc,
                  arith::AddFOp::create(
                      b, loc, sum[0],
                      arith::MulFOp::create(b, loc, partial, scales))
                      .getResult());
            });
        sink(ok, row, column, blocks.getResult(0));
        scf::YieldOp::create(b, loc);
      });
}

void Fp8WgmmaKernelBuilder::build(Block &entry) {
  MLIRContext *ctx = b.getContext();
  Type i32Type = b.getI32Type();
  // (a, sa, w, sw, alpha, [bias,] a8, rows, [w8, wInfo,] out):
  // buildFp8WgmmaKernel.
  a = entry.getArgument(0);
  sa = entry.getArgument(1);
  w = entry.getArgument(2);
  sw = entry.getArgument(3);
  alpha = entry.getArgument(4);
  unsigned next = 5;
  if (shape.bias)
    bias = entry.getArgument(next++);
  Value a8 = entry.getArgument(next++), rowInfo = entry.getArgument(next++);
  Value w8, wInfo;
  if (staged) {
    w8 = entry.getArgument(next++);
    wInfo = entry.getArgument(next++);
  }
  out = entry.getArgument(next);
  // Entry `row` of `info` (an i32), or 0 where `ok` is false.
  auto loadInfo = [&](Value info, Value row, Value ok) {
    Value v = memref::LoadOp::create(
        b, loc, info,
        ValueRange{arith::SelectOp::create(b, loc, ok, row, idx(0))});
    return arith::SelectOp::create(b, loc, ok, v, i32(0)).getResult();
  };
  auto loadRowInfo = [&](Value row, Value ok) {
    return loadInfo(rowInfo, row, ok);
  };
  auto isNegative = [&](Value v) {
    return arith::ExtUIOp::create(
        b, loc, i32Type,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, v, i32(0)));
  };
  Value lane, warp;
  std::tie(tid, lane, warp) = threadLaneWarp();
  Value warpgroup = arith::DivUIOp::create(b, loc, warp, idx(4));
  Value warpInGroup = arith::RemUIOp::create(b, loc, warp, idx(4));
  Value g = arith::DivUIOp::create(b, loc, lane, idx(4));
  Value q = arith::RemUIOp::create(b, loc, lane, idx(4));
  // Grid x: tile x / split, K part x % split (the rank in its cluster).
  Value blockX = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  n0 = mul(arith::DivUIOp::create(b, loc, blockX, idx(split)), kTileN);
  rank = arith::RemUIOp::create(b, loc, blockX, idx(split));
  firstStep = mul(rank, steps);
  m0 = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y), tileM);
  std::tie(xRows, wRows) = batchRowOffsets(shape.m, shape.n, shape.batched);
  // The dynamic shared memory from a 1024-byte boundary (the swizzle
  // repeats every 1024 bytes; the launch adds 1024 bytes).
  Value base = LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), shared);
  Value pad = arith::AndIOp::create(
      b, loc, arith::SubIOp::create(b, loc, i64(0), base), i64(1023));
  shared = LLVM::GEPOp::create(b, loc, shared.getType(), b.getI8Type(), shared,
                               ValueRange{pad});

  // The thread's two weight rows (A fragment rows g and g + 8) and their
  // largest scale bytes in this K part (each part's sum is scaled apart);
  // a byte of 255 (NaN) sends the CTA to the CUDA cores, as does an
  // activation row the expansion could not hold (its rows entry is -1).
  // Staged weights: the rows kernel's entries, likewise.
  Value firstW = add(n0, add(add(mul(warpgroup, 64), mul(warpInGroup, 16)), g));
  SmallVector<Value> wOk, wGlobal, wLargest;
  Value bad = i32(0);
  for (Value row : {firstW, add(firstW, idx(8))}) {
    wOk.push_back(below(row, shape.n));
    wGlobal.push_back(add(row, wRows));
    if (staged) {
      wLargest.push_back(loadInfo(wInfo, wGlobal.back(), wOk.back()));
      bad = arith::OrIOp::create(b, loc, bad, isNegative(wLargest.back()));
      continue;
    }
    wLargest.push_back(largestScale(sw, wGlobal.back(),
                                    mul(firstStep, kStepK / kBlock),
                                    steps * kStepK / kBlock, wOk.back()));
    bad = arith::OrIOp::create(
        b, loc, bad,
        arith::ExtUIOp::create(
            b, loc, i32Type,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                  wLargest.back(), i32(255))));
  }
  for (int64_t i = 0; i < (tileM + kThreads - 1) / kThreads; ++i) {
    Value row = add(m0, add(tid, idx(kThreads * i)));
    Value ok = below(row, shape.m);
    if (tileM < kThreads)
      ok = both(ok, below(tid, tileM));
    Value info = loadRowInfo(add(row, xRows), ok);
    bad = arith::OrIOp::create(b, loc, bad, isNegative(info));
  }

  // A step's weight words (rows r = 0, 1: word q of each block, then the
  // step's scale word): zeros past the last step and the last row.
  auto loadWeights = [&](Value step) {
    SmallVector<Value> loaded;
    Value stepOk = below(step, steps);
    step = add(firstStep, step);
    for (int64_t r = 0; r < 2; ++r) {
      Value ok = both(stepOk, wOk[r]);
      Value first = add(add(mul(wGlobal[r], shape.k / 2), mul(step, 64)),
                        mul(q, 4));
      for (int64_t blk = 0; blk < 4; ++blk)
        loaded.push_back(loadWord(b, loc, w, add(first, idx(16 * blk)), ok, 4));
      loaded.push_back(loadWord(
          b, loc, sw, add(mul(wGlobal[r], shape.k / kBlock), mul(step, 4)), ok,
          4));
    }
    return loaded;
  };
  // The step's A registers (register i of K slice s at 4 s + i: rows g and
  // g + 8 of K 4q.., then of K 16 + 4q..) from its loaded words.
  auto expandWeights = [&](ArrayRef<Value> loaded, Value &bad) {
    SmallVector<Value> regs(16);
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t blk = 0; blk < 4; ++blk) {
        Value scale = arith::AndIOp::create(
            b, loc,
            arith::ShRUIOp::create(b, loc, loaded[5 * r + 4], i32(8 * blk)),
            i32(255));
        Value word = loaded[5 * r + blk];
        auto [first, second] =
            expandWord(word, magnitudes(scale, wLargest[r]));
        regs[4 * blk + r] = first;
        regs[4 * blk + 2 + r] = second;
        bad = noteOutside(bad, scale, wLargest[r], word);
      }
    return regs;
  };
  // Step `step`'s E5M2 activation rows (128 bytes each, expanded by the
  // rows kernel in the same K order) into its buffer, by cp.async.cg in
  // 16-byte chunks as one group: zeros past the last step and row. Staged
  // weights: their rows too, after the activations'.
  Value a8Bytes = globalBytes(a8);
  Value w8Bytes = staged ? globalBytes(w8) : Value();
  auto copyStep = [&](Value step) {
    Value stepOk = below(step, steps);
    Value buffer = bufferOf(step);
    step = add(firstStep, step);
    auto copyRows = [&](Value bytes, int64_t rows, Value at, Value first,
                        Value batchRows, int64_t limit) {
      copySwizzledTile(
          bytes, tid, kThreads, rows, at, [&](Value rowInTile, Value chunk) {
            Value row = add(first, rowInTile);
            Value index =
                add(add(mul(add(row, batchRows), shape.k), mul(step, kStepK)),
                    mul(chunk, 16));
            return std::make_pair(both(stepOk, below(row, limit)), index);
          });
    };
    copyRows(a8Bytes, tileM, buffer, m0, xRows, shape.m);
    if (staged)
      copyRows(w8Bytes, kTileN, add(buffer, idx(tileM * kRowBytes)), n0, wRows,
               shape.n);
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
  };
  // The descriptors of a step's four K slices of the swizzled rows at
  // `offset` (slice s 32 bytes further into each row: +2 in the address
  // field), made before the wgmma fence (see PrefillKernel.cpp).
  auto sliceDescriptors = [&](Value offset) {
    SmallVector<Value> desc = {swizzledRowsDescriptor(offset)};
    for (int64_t slice = 1; slice < 4; ++slice)
      desc.push_back(arith::AddIOp::create(b, loc, desc[0], i64(2 * slice)));
    return desc;
  };
  // Staged weights: step s's wgmma, both operands in its buffer (the
  // warpgroup's 64 weight rows are 8 KB apart).
  auto multiplyStaged = [&](Value acc, Value step) {
    Value buffer = bufferOf(step);
    SmallVector<Value> descA = sliceDescriptors(add(
        buffer, add(idx(tileM * kRowBytes), mul(warpgroup, 64 * kRowBytes))));
    SmallVector<Value> descB = sliceDescriptors(buffer);
    NVVM::WgmmaFenceAlignedOp::create(b, loc);
    for (int64_t slice = 0; slice < 4; ++slice)
      acc = wgmmaShared(acc, descA[slice], descB[slice], tileM, 32,
                        NVVM::WGMMATypes::e5m2);
    NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
    return acc;
  };

  // Steps a and b of step s (see the pipeline): its copies landed (kAhead -
  // 1 younger groups may be in flight), visible to wgmma after the barrier,
  // which also means every warpgroup retired step s - 2's wgmma; then step
  // s + kAhead's copies into the buffer step s - 2 read.
  auto awaitAndCopyAhead = [&](Value step) {
    NVVM::CpAsyncWaitGroupOp::create(b, loc, kAhead - 1);
    fenceForWgmma();
    gpu::BarrierOp::create(b, loc);
    copyStep(add(step, idx(kAhead)));
  };
  // Prologue: the first kAhead steps' copies on their way.
  for (int64_t ahead = 0; ahead < kAhead; ++ahead)
    copyStep(idx(ahead));
  SmallVector<Value> init = {LLVM::ZeroOp::create(
      b, loc,
      LLVM::LLVMStructType::getLiteral(
          ctx, SmallVector<Type>(tileM / 2, b.getF32Type())))};
  SmallVector<Value> last;
  if (staged) {
    // A step: a, b, its wgmma (both operands in shared memory), d. (`bad`
    // is known before the loop.)
    last = twoStepsPerIteration(steps, init, [&](Value step, ValueRange args) {
      awaitAndCopyAhead(step);
      Value acc = multiplyStaged(args[0], step);
      NVVM::WgmmaWaitGroupSyncOp::create(b, loc, b.getI64IntegerAttr(1));
      return SmallVector<Value>{acc};
    });
    last.push_back(bad);
  } else {
    // Step 0's weights expanded, steps 1 and 2 loaded.
    SmallVector<Value> firstA = expandWeights(loadWeights(idx(0)), bad);
    init.push_back(bad);
    append_range(init, firstA);
    append_range(init, loadWeights(idx(1)));
    append_range(init, loadWeights(idx(2)));
    int64_t weightWords = 2 * (4 + 1); // loadWeights: 2 rows x 5 words
    auto oneStep = [&](Value step, ValueRange args) {
      Value acc = args[0], stepBad = args[1];
      ValueRange regs = args.slice(2, 16),
                 nextWeights = args.slice(18, weightWords),
                 laterWeights = args.slice(18 + weightWords, weightWords);
      awaitAndCopyAhead(step);
      // c.
      SmallVector<Value> descB = sliceDescriptors(bufferOf(step));
      NVVM::WgmmaFenceAlignedOp::create(b, loc);
      for (int64_t slice = 0; slice < 4; ++slice)
        acc = wgmmaRegisterA(acc, SmallVector<Value>(regs.slice(4 * slice, 4)),
                             descB[slice], tileM, 32, ".f32.e5m2.e5m2",
                             /*scale A, scale B*/ "1, 1");
      NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
      // d.
      NVVM::WgmmaWaitGroupSyncOp::create(b, loc, b.getI64IntegerAttr(1));
      // e. Step s + 3's weights loaded, step s + 1's expanded.
      SmallVector<Value> weights = loadWeights(add(step, idx(3)));
      SmallVector<Value> nextA =
          expandWeights(SmallVector<Value>(nextWeights), stepBad);
      SmallVector<Value> yielded = {acc, stepBad};
      append_range(yielded, nextA);
      append_range(yielded, laterWeights);
      append_range(yielded, weights);
      return yielded;
    };
    last = twoStepsPerIteration(steps, init, oneStep);
  }
  NVVM::WgmmaWaitGroupSyncOp::create(b, loc, b.getI64IntegerAttr(0));
  NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
  Value acc = last[0];
  // Any code outside the window in the CTA: the CUDA-core path for all.
  Value anyBad =
      NVVM::BarrierOp::create(
          b, loc, i32Type, /*barrierId=*/Value(), /*numberOfThreads=*/Value(),
          NVVM::BarrierReductionAttr::get(ctx, NVVM::BarrierReduction::OR),
          arith::ExtUIOp::create(b, loc, i32Type,
                                 arith::CmpIOp::create(b, loc,
                                                       arith::CmpIPredicate::ne,
                                                       last[1], i32(0))))
          .getRes();
  // Accumulator i = 4 j + h: weight row (D row) g + 8 (h / 2) of the
  // warp's 16, activation row (D column) 8 j + 2 q + h % 2.
  Value columnOfFirst = add(n0, add(mul(warpgroup, 64), mul(warpInGroup, 16)));
  auto rowOf = [&](int64_t i) {
    return add(m0, add(mul(q, 2), idx(8 * (i / 4) + i % 2)));
  };
  auto columnOf = [&](int64_t i) {
    return add(columnOfFirst, add(g, idx(8 * (i % 4 / 2))));
  };
  auto store = [&](Value inBounds, Value row, Value column, Value sum) {
    storeOutput(inBounds, sum, alpha, out, bias, xRows, wRows, row, column,
                shape.n);
  };
  // Split-K: value i of thread t of the CTA's partial tile at
  // partialOffset(t, i) (the buffers are free: every wgmma and copy
  // completed before the vote's barrier).
  auto keepPartial = [&](Value thread, Value i, Value sum) {
    LLVM::StoreOp::create(b, loc, sum,
                          sharedAt(partialOffset(thread, i, kThreads)),
                          /*alignment=*/4);
  };
  auto ifOp = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, anyBad, i32(0)),
      /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    if (split == 1)
      sumOnCudaCores(store);
    else
      // The thread and accumulator index that hold output (row, column)
      // on the tensor path (the inverse of rowOf and columnOf).
      sumOnCudaCores([&](Value, Value row, Value column, Value sum) {
        Value r = arith::SubIOp::create(b, loc, row, m0);
        Value c = arith::SubIOp::create(b, loc, column, n0);
        auto div = [&](Value x, int64_t y) {
          return arith::DivUIOp::create(b, loc, x, idx(y)).getResult();
        };
        auto rem = [&](Value x, int64_t y) {
          return arith::RemUIOp::create(b, loc, x, idx(y)).getResult();
        };
        Value thread =
            add(add(mul(div(c, 64), 128), mul(div(rem(c, 64), 16), 32)),
                add(mul(rem(c, 8), 4), div(rem(r, 8), 2)));
        Value i =
            add(add(mul(div(r, 8), 4), mul(div(rem(c, 16), 8), 2)), rem(r, 2));
        keepPartial(thread, i, sum);
      });
    b.setInsertionPointToStart(ifOp.elseBlock());
    // Each sum times 2^E, E = Ra + Rw - 280, in one multiply where 2^E is
    // an f32, else in two halves (the result may still be one; the true
    // value's rounding is the same).
    for (int64_t j = 0; j < tileM / 8; ++j) {
      Value aLargest[2];
      for (int64_t h = 0; h < 2; ++h) {
        Value row = rowOf(4 * j + h);
        aLargest[h] = loadRowInfo(add(row, xRows), below(row, shape.m));
      }
      for (int64_t h = 0; h < 4; ++h) {
        int64_t i = 4 * j + h;
        Value exponent = arith::SubIOp::create(
            b, loc,
            arith::AddIOp::create(b, loc, aLargest[h % 2], wLargest[h / 2]),
            i32(2 * kFactorBias));
        Value single =
            both(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                       exponent, i32(-149)),
                 arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                       exponent, i32(127)));
        Value half = arith::ShRSIOp::create(b, loc, exponent, i32(1));
        Value first = arith::SelectOp::create(b, loc, single, exponent, half);
        Value second = arith::SelectOp::create(
            b, loc, single, i32(0),
            arith::SubIOp::create(b, loc, exponent, half));
        Value sum = arith::MulFOp::create(
            b, loc,
            arith::MulFOp::create(b, loc,
                                  LLVM::ExtractValueOp::create(b, loc, acc, i),
                                  pow2(first)),
            pow2(second));
        if (split == 1)
          store(both(below(rowOf(i), shape.m), below(columnOf(i), shape.n)),
                rowOf(i), columnOf(i), sum);
        else
          keepPartial(tid, idx(i), sum);
      }
    }
  }
  if (split > 1)
    sumAcrossCluster(
        tid, kThreads, tileM / 2, split, rank, [&](ArrayRef<Value> sums) {
          for (auto [i, sum] : llvm::enumerate(sums))
            if (sum)
              store(both(below(rowOf(i), shape.m), below(columnOf(i), shape.n)),
                    rowOf(i), columnOf(i), sum);
        });
  gpu::ReturnOp::create(b, loc);
}

void E5M2RowsKernelBuilder::build(Block &entry) {
  // (a, sa, a8, rows): a warp per chunk of a row (activationRowChunk).
  Value a = entry.getArgument(0), sa = entry.getArgument(1),
        a8 = entry.getArgument(2), rowInfo = entry.getArgument(3);
  int64_t blocks = shape.k / kBlock;
  ActivationRowChunk chunk =
      activationRowChunk(shape.m, blocks); // every batch's rows
  Value row = chunk.row;
  auto [largest, smallest] =
      warpScaleByteRange(sa, row, blocks, chunk.lane, chunk.rowOk);
  // Only a row whose bytes span more than the window can have a code
  // outside it.
  Value mayFallOutside = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::sgt,
      arith::SubIOp::create(b, loc, largest, smallest), i32(kTopField - 1));
  auto i8x16 = VectorType::get({16}, b.getI8Type());
  auto i32x4 = VectorType::get({4}, b.getI32Type());
  // Block `blk` of the row: where `expand`, its 32 codes to 32 bytes, those
  // of word j's first four codes at 4 j, of its last four at 16 + 4 j;
  // returns `bad` or'ed with its codes outside the window.
  auto visit = [&](Value blk, Value valid, Value bad, bool expand) {
    Value codes = vector::BitCastOp::create(
        b, loc, i32x4,
        guardedLoad(i8x16, a, add(mul(row, shape.k / 2), mul(blk, 16)), valid));
    Value scale = loadWord(b, loc, sa, add(mul(row, blocks), blk), valid, 1);
    SmallVector<Value> words;
    Value any = i32(0);
    for (int64_t j = 0; j < 4; ++j) {
      words.push_back(
          vector::ExtractOp::create(b, loc, codes, ArrayRef<int64_t>{j}));
      any = arith::OrIOp::create(b, loc, any, words.back());
    }
    bad = noteOutside(bad, scale, largest, any);
    if (!expand)
      return bad;
    auto table = magnitudes(scale, largest);
    SmallVector<Value> firsts, seconds;
    for (Value word : words) {
      auto [first, second] = expandWord(word, table);
      firsts.push_back(first);
      seconds.push_back(second);
    }
    // Through the warp's kChunkBytes of shared memory, so that each
    // 16-byte store of the warp writes 512 contiguous bytes (lane l's block
    // at 32 l, bytes 16 l and 512 + 16 l back), not half of every 32-byte
    // sector (a lane writing its block's 32 bytes as two 16-byte halves).
    Value warpBuffer = mul(std::get<2>(threadLaneWarp()), kChunkBytes);
    for (int64_t half = 0; half < 2; ++half)
      LLVM::StoreOp::create(
          b, loc,
          vector::FromElementsOp::create(b, loc, i32x4,
                                         half ? seconds : firsts),
          sharedAt(
              add(warpBuffer, add(mul(chunk.lane, kBlock), idx(16 * half)))),
          /*alignment=*/16);
    NVVM::SyncWarpOp::create(b, loc, i32(-1));
    Value firstBlock = arith::SubIOp::create(b, loc, blk, chunk.lane);
    for (int64_t part = 0; part < 2; ++part) {
      Value offset = add(mul(chunk.lane, 16), idx(kChunkBytes / 2 * part));
      Value bytes =
          LLVM::LoadOp::create(b, loc, i8x16, sharedAt(add(warpBuffer, offset)),
                               /*alignment=*/16);
      // Granule `offset` is half of block offset / 32 of the chunk.
      Value ok =
          both(chunk.rowOk,
               below(add(firstBlock,
                         arith::DivUIOp::create(b, loc, offset, idx(kBlock))),
                     blocks));
      auto ifOp = scf::IfOp::create(b, loc, ok, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      vector::StoreOp::create(
          b, loc, bytes, a8,
          ValueRange{
              add(add(mul(row, shape.k), mul(firstBlock, kBlock)), offset)},
          /*nontemporal=*/false, llvm::MaybeAlign(16));
    }
    return bad;
  };
  visit(chunk.item, chunk.valid, i32(0), /*expand=*/true);
  Value bad = wholeRowCheck(chunk, mayFallOutside, blocks,
                            [&](Value blk, Value valid, Value badSoFar) {
                              return visit(blk, valid, badSoFar,
                                           /*expand=*/false);
                            });
  // Chunk 0's lane 0: the largest byte, or -1 where a code fell outside the
  // window or a scale is 255 (NaN).
  Value unusable = arith::OrIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, bad, i32(0)),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, largest,
                            i32(255)));
  storeRowEntryAndReturn(
      chunk, arith::SelectOp::create(b, loc, unusable, i32(-1), largest),
      rowInfo);
}

} // namespace

bool mlir::fp4::nvvm_kernels::useFp8WgmmaKernel(const KernelShape &shape,
                                                const MmaKind &kind) {
  return !kind.fp8Activations() && !kind.twoLevel &&
         kind.scaleFormat == NVVM::BlockScaleFormat::UE8M0 &&
         kind.blockSize == kBlock && !shape.gathered && shape.k % kStepK == 0;
}

std::string mlir::fp4::nvvm_kernels::fp8WgmmaKindName(const KernelShape &shape) {
  int64_t split = splitOf(shape);
  return (stagesWeights(shape) ? "_f8ws" : "_f8wg") +
         std::to_string(tileMOf(shape)) +
         (split > 1 ? "s" + std::to_string(split) : "") + "_";
}

std::array<int64_t, 3>
mlir::fp4::nvvm_kernels::fp8WgmmaLaunch(const KernelShape &shape) {
  int64_t tileM = tileMOf(shape);
  return {(shape.n + kTileN - 1) / kTileN * splitOf(shape),
          (shape.m + tileM - 1) / tileM, kThreads};
}

int64_t mlir::fp4::nvvm_kernels::fp8WgmmaSharedBytes(const KernelShape &shape) {
  // The buffers (or split-K's partial tile, tileM / 2 f32 per thread:
  // as large) and the slack that aligns them to 1024 bytes.
  int64_t partials = splitOf(shape) > 1 ? kThreads * tileMOf(shape) / 2 * 4 : 0;
  int64_t rows = tileMOf(shape) + (stagesWeights(shape) ? kTileN : 0);
  return std::max(kStages * rows * kRowBytes, partials) + 1024;
}

bool mlir::fp4::nvvm_kernels::fp8WgmmaStagesWeights(const KernelShape &shape) {
  return stagesWeights(shape);
}

std::string mlir::fp4::nvvm_kernels::e5m2RowsName(int64_t rows, int64_t k) {
  return "fp4_mxfp4_e5m2rows_" + std::to_string(rows) + "x" + std::to_string(k);
}

gpu::GPUFuncOp mlir::fp4::nvvm_kernels::buildE5M2RowsKernel(
    OpBuilder &b, Location loc, StringRef name, int64_t rows, int64_t k) {
  // Each warp's staging buffer for its chunk's bytes (static).
  std::string sharedName = (name + "_smem").str();
  LLVM::GlobalOp::create(
      b, loc,
      LLVM::LLVMArrayType::get(b.getI8Type(),
                               kActivationWarpsPerCTA *
                                   E5M2RowsKernelBuilder::kChunkBytes),
      /*isConstant=*/false, LLVM::Linkage::Internal, sharedName,
      /*value=*/Attribute(), /*alignment=*/16, /*addrSpace=*/3);
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  auto words = MemRefType::get({ShapedType::kDynamic}, b.getI32Type());
  auto kernel = gpu::GPUFuncOp::create(
      b, loc, name,
      FunctionType::get(b.getContext(), {bytes, bytes, bytes, words}, {}));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  Block &entry = kernel.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  KernelShape shape{rows, 0, k, false, b.getF32Type()};
  Value shared = LLVM::AddressOfOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext(), 3), sharedName);
  E5M2RowsKernelBuilder(b, loc, shape, shared).build(entry);
  return kernel;
}

gpu::GPUFuncOp mlir::fp4::nvvm_kernels::buildFp8WgmmaKernel(
    OpBuilder &b, Location loc, StringRef name, const KernelShape &shape) {
  MLIRContext *ctx = b.getContext();
  auto arrayType = LLVM::LLVMArrayType::get(b.getI8Type(), 0);
  std::string sharedName = (name + "_smem").str();
  LLVM::GlobalOp::create(b, loc, arrayType, /*isConstant=*/false,
                         LLVM::Linkage::External, sharedName,
                         /*value=*/Attribute(), /*alignment=*/16,
                         /*addrSpace=*/3);
  // (a, sa, w, sw : i8, alpha, [bias : f32,] a8 : i8, rows : i32,
  //  [w8 : i8, wInfo : i32,] out).
  auto bytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
  auto dynamic = [](Type t) {
    return MemRefType::get({ShapedType::kDynamic}, t);
  };
  SmallVector<Type> inputs = {bytes, bytes, bytes, bytes, b.getF32Type()};
  if (shape.bias)
    inputs.push_back(dynamic(b.getF32Type()));
  inputs.append({bytes, dynamic(b.getI32Type())});
  if (stagesWeights(shape))
    inputs.append({bytes, dynamic(b.getI32Type())});
  inputs.push_back(dynamic(shape.result));
  auto kernel =
      gpu::GPUFuncOp::create(b, loc, name, FunctionType::get(ctx, inputs, {}));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  kernel->setAttr(NVVM::NVVMDialect::getMaxntidAttrName(),
                  b.getDenseI32ArrayAttr({kThreads, 1, 1}));
  // Split-K: the K parts of a tile form a cluster (compile-time dimensions,
  // so a plain launch makes the clusters).
  if (int64_t split = splitOf(shape); split > 1)
    kernel->setAttr(NVVM::NVVMDialect::getClusterDimAttrName(),
                    b.getDenseI32ArrayAttr({int32_t(split), 1, 1}));
  Block &entry = kernel.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  Value shared = LLVM::AddressOfOp::create(
      b, loc, LLVM::LLVMPointerType::get(ctx, 3), sharedName);
  Fp8WgmmaKernelBuilder(b, loc, shape, shared).build(entry);
  return kernel;
}
