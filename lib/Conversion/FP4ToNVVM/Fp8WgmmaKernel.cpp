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
// largest block's 6 x 2^13 is E5M2's 1.5 x 2^15, the smallest block's 0.5
// lands on its smallest normal, 2^-14). So the W4A4 product of MXFP4
// operands is wgmma.m64nNk32.e5m2.e5m2 on those bytes, times
// 2^(Ra - 140) 2^(Rw - 140) per output in the epilogue: exact conversion,
// the tensor cores' own summation.
//
// Where a row's blocks span more than 27 binades (a nonzero code in a block
// more than 26 below its row's largest), the conversion cannot hold it:
// every thread notes such a code as it expands, the CTA votes after its
// loop, and a CTA with one recomputes its tile on the CUDA cores from the
// codes and scales (per block, f32; as the sm_90a twin of the block-scaled
// MMA). A scale byte of 255 (UE8M0's NaN) takes that path too. Zero codes
// never vote, so all-zero blocks with tiny scales do not count.
//
// The kernel is the weights-in-registers design of PrefillKernel.cpp with
// FP8 operands (D^T = W x^T): CTA of 256 threads, tileM activation rows
// (64, 128 or 256: wgmma's N) x 128 weight rows (two warpgroups of 64:
// wgmma's M), K in steps of 128 (four scale blocks, 128 E5M2 bytes per
// shared row, the same 128-byte swizzled rows). Per step and thread:
//   - weights: rows 16 w + g and + 8 of its warp (g = lane / 4), word q =
//     lane % 4 of each block's 16 bytes (codes 8q .. 8q + 7), expanded
//     straight into its A registers: codes 8q .. 8q + 3 to the register of
//     K 4q .. 4q + 3, codes 8q + 4 .. to that of K 16 + 4q ..;
//   - activations: one block (lane % 4) of rows tid / 4 + 64 i, expanded
//     into shared memory in the same K order (word j's first four codes in
//     the block's first 16-byte chunk, its last four in the second), so
//     wgmma's renumbering of K is the same for both operands.
// A code becomes its E5M2 byte with two prmt (8 magnitudes per block in
// two registers, from two multiply-adds of the block's exponent) and its
// sign with one more prmt, a shift and logic ops, four codes at a time.
//
// Pipeline (S = 3 shared buffers): step s
//   a. barrier (step s's activations are in buffer s % 3, fenced for the
//      async proxy; both warpgroups have retired step s - 2's wgmma);
//   b. issues the four wgmma of step s on its A registers;
//   c. waits until only step s's group is in flight;
//   d. expands step s + 1's activations (loaded a step ago) into buffer
//      (s + 1) % 3, the one step s - 2 read; loads step s + 2's codes and
//      scales; expands step s + 1's weights; fence.proxy.async.
// Two steps per loop iteration, as in PrefillKernel.cpp (ptxas serializes
// wgmma whose register A is redefined by a loop's back edge).
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
constexpr int64_t kStages = 3;
constexpr int64_t kRowBytes = 128; // a shared row: one step of E5M2 bytes
/// E5M2 exponent field of a code of 0.5 in its row's largest block.
constexpr int64_t kTopField = 27;
/// Output = sum x 2^(Ra - kFactorBias) x 2^(Rw - kFactorBias).
constexpr int64_t kFactorBias = 140;

int64_t tileMOf(const KernelShape &shape) {
  return shape.m <= 64 ? 64 : shape.m <= 128 ? 128 : 256;
}

class Fp8WgmmaKernelBuilder : SharedBufferKernelBuilderBase {
public:
  Fp8WgmmaKernelBuilder(OpBuilder &b, Location loc, const KernelShape &shape,
                        Value shared)
      : SharedBufferKernelBuilderBase(b, loc, shared), shape(shape),
        tileM(tileMOf(shape)), steps(shape.k / kStepK) {}

  void build(Block &entry);

private:
  Value constI32(uint32_t v) { return i32(int64_t(v)); }
  /// The largest scale byte (an i32) of row `globalRow` of `scales` (K / 32
  /// bytes per row); 0 where `valid` is false.
  Value largestScale(Value scales, Value globalRow, Value valid);
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
  Value bufferOf(Value step) {
    return mul(arith::RemUIOp::create(b, loc, step, idx(kStages)),
               tileM * kRowBytes);
  }
  int64_t largestOffset() const { return kStages * tileM * kRowBytes; }
  void fenceForWgmma() {
    NVVM::FenceProxyOp::create(
        b, loc, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
  }
  /// The tile on the CUDA cores, exactly as the block-scaled MMA defines it
  /// (the path of CTAs whose scales the E5M2 window cannot hold).
  void storeOnCudaCores();

  KernelShape shape;
  int64_t tileM, steps;
  Value a, sa, w, sw, alpha, out, bias, tid, n0, m0, xRows, wRows;
};

Value Fp8WgmmaKernelBuilder::largestScale(Value scales, Value globalRow,
                                          Value valid) {
  int64_t bytes = shape.k / kBlock;
  int64_t group = bytes % 16 == 0 ? 16 : bytes % 8 == 0 ? 8 : 4;
  auto type = VectorType::get({group}, b.getI8Type());
  Value start = mul(globalRow, bytes);
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

std::pair<Value, Value> Fp8WgmmaKernelBuilder::magnitudes(Value scale,
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
Fp8WgmmaKernelBuilder::expandWord(Value word, std::pair<Value, Value> table) {
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

Value Fp8WgmmaKernelBuilder::noteOutside(Value bad, Value scale,
                                         Value largest, Value codes) {
  // F = 27 + s - R < 1.
  Value outside = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::sgt,
      arith::SubIOp::create(b, loc, largest, scale), i32(kTopField - 1));
  Value magnitude =
      arith::AndIOp::create(b, loc, codes, constI32(0x77777777u));
  return arith::OrIOp::create(
      b, loc, bad, arith::SelectOp::create(b, loc, outside, magnitude, i32(0)));
}

Value Fp8WgmmaKernelBuilder::pow2(Value exponent) {
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

void Fp8WgmmaKernelBuilder::storeOnCudaCores() {
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
        auto blocks = scf::ForOp::create(
            b, loc, idx(0), idx(shape.k / kBlock), idx(1),
            ValueRange{f32Const(b, loc, 0.0f)},
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
        storeOutput(ok, blocks.getResult(0), alpha, out, bias, xRows, wRows,
                    row, column, shape.n);
        scf::YieldOp::create(b, loc);
      });
}

void Fp8WgmmaKernelBuilder::build(Block &entry) {
  MLIRContext *ctx = b.getContext();
  Type i32Type = b.getI32Type();
  a = entry.getArgument(0);
  sa = entry.getArgument(1);
  w = entry.getArgument(2);
  sw = entry.getArgument(3);
  alpha = entry.getArgument(4);
  bias = optionalArguments(entry, 4, /*gathered=*/false, shape.bias).bias;
  out = outputArgument(entry);
  Value lane, warp;
  std::tie(tid, lane, warp) = threadLaneWarp();
  Value warpgroup = arith::DivUIOp::create(b, loc, warp, idx(4));
  Value warpInGroup = arith::RemUIOp::create(b, loc, warp, idx(4));
  Value g = arith::DivUIOp::create(b, loc, lane, idx(4));
  Value q = arith::RemUIOp::create(b, loc, lane, idx(4));
  n0 = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x), kTileN);
  m0 = mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y), tileM);
  std::tie(xRows, wRows) = batchRowOffsets(shape.m, shape.n, shape.batched);
  // The dynamic shared memory from a 1024-byte boundary (the swizzle
  // repeats every 1024 bytes; the launch adds 1024 bytes).
  Value base = LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), shared);
  Value pad = arith::AndIOp::create(
      b, loc, arith::SubIOp::create(b, loc, i64(0), base), i64(1023));
  shared = LLVM::GEPOp::create(b, loc, shared.getType(), b.getI8Type(), shared,
                               ValueRange{pad});

  // The thread's two weight rows (A fragment rows g and g + 8) and its
  // activation rows (one block of each, tileM / 64 of them).
  Value firstW = add(n0, add(add(mul(warpgroup, 64), mul(warpInGroup, 16)), g));
  SmallVector<Value> wRow = {firstW, add(firstW, idx(8))}, wOk, wGlobal;
  for (Value row : wRow) {
    wOk.push_back(below(row, shape.n));
    wGlobal.push_back(add(row, wRows));
  }
  int64_t pairs = tileM / 64;
  Value block = arith::RemUIOp::create(b, loc, tid, idx(4));
  SmallVector<Value> aRowInTile, aOk, aGlobal;
  for (int64_t i = 0; i < pairs; ++i) {
    Value rowInTile =
        add(arith::DivUIOp::create(b, loc, tid, idx(4)), idx(64 * i));
    Value row = add(m0, rowInTile);
    aRowInTile.push_back(rowInTile);
    aOk.push_back(below(row, shape.m));
    aGlobal.push_back(add(row, xRows));
  }

  // Each row's largest scale byte (R); the activation rows' also in shared
  // memory for the epilogue (the four threads of a row store the same).
  // A byte of 255 (NaN) sends the CTA to the CUDA cores.
  Value bad = i32(0);
  auto noteNaN = [&](Value largest) {
    Value nan = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                      largest, i32(255));
    bad = arith::OrIOp::create(
        b, loc, bad, arith::ExtUIOp::create(b, loc, i32Type, nan));
  };
  SmallVector<Value> wLargest, aLargest;
  for (int64_t r = 0; r < 2; ++r) {
    wLargest.push_back(largestScale(sw, wGlobal[r], wOk[r]));
    noteNaN(wLargest.back());
  }
  for (int64_t i = 0; i < pairs; ++i) {
    aLargest.push_back(largestScale(sa, aGlobal[i], aOk[i]));
    noteNaN(aLargest.back());
    LLVM::StoreOp::create(
        b, loc, aLargest.back(),
        sharedAt(add(idx(largestOffset()), mul(aRowInTile[i], 4))),
        /*alignment=*/4);
  }

  // A step's weight words (rows r = 0, 1: word q of each block, then the
  // step's scale word) and activation blocks (16 bytes and a scale byte
  // per row): zeros past the last step and the last row.
  auto loadWeights = [&](Value step) {
    SmallVector<Value> loaded;
    Value stepOk = below(step, steps);
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
  auto i8x16 = VectorType::get({16}, b.getI8Type());
  auto loadActivations = [&](Value step) {
    SmallVector<Value> loaded;
    Value stepOk = below(step, steps);
    for (int64_t i = 0; i < pairs; ++i) {
      Value ok = both(stepOk, aOk[i]);
      loaded.push_back(guardedLoad(
          i8x16, a,
          add(add(mul(aGlobal[i], shape.k / 2), mul(step, 64)), mul(block, 16)),
          ok));
      loaded.push_back(loadWord(
          b, loc, sa,
          add(add(mul(aGlobal[i], shape.k / kBlock), mul(step, 4)), block), ok,
          1));
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
  auto i32x4 = VectorType::get({4}, i32Type);
  // The step's activation blocks, expanded into the buffer at `buffer`.
  auto stageActivations = [&](ArrayRef<Value> loaded, Value buffer,
                              Value &bad) {
    for (int64_t i = 0; i < pairs; ++i) {
      Value v = vector::BitCastOp::create(b, loc, i32x4, loaded[2 * i]);
      Value scale = loaded[2 * i + 1];
      auto table = magnitudes(scale, aLargest[i]);
      SmallVector<Value> firsts, seconds;
      Value any = i32(0);
      for (int64_t j = 0; j < 4; ++j) {
        Value word = vector::ExtractOp::create(b, loc, v, ArrayRef<int64_t>{j});
        auto [first, second] = expandWord(word, table);
        firsts.push_back(first);
        seconds.push_back(second);
        any = arith::OrIOp::create(b, loc, any, word);
      }
      bad = noteOutside(bad, scale, aLargest[i], any);
      Value chunk = mul(block, 2);
      LLVM::StoreOp::create(
          b, loc, vector::FromElementsOp::create(b, loc, i32x4, firsts),
          sharedAt(swizzledChunk(buffer, aRowInTile[i], chunk)),
          /*alignment=*/16);
      LLVM::StoreOp::create(
          b, loc, vector::FromElementsOp::create(b, loc, i32x4, seconds),
          sharedAt(swizzledChunk(buffer, aRowInTile[i], add(chunk, idx(1)))),
          /*alignment=*/16);
    }
  };

  // Prologue: step 0 staged and expanded, step 1 loaded.
  stageActivations(loadActivations(idx(0)), bufferOf(idx(0)), bad);
  SmallVector<Value> init = {LLVM::ZeroOp::create(
      b, loc,
      LLVM::LLVMStructType::getLiteral(
          ctx, SmallVector<Type>(tileM / 2, b.getF32Type())))};
  SmallVector<Value> firstA = expandWeights(loadWeights(idx(0)), bad);
  init.push_back(bad);
  append_range(init, firstA);
  append_range(init, loadWeights(idx(1)));
  append_range(init, loadActivations(idx(1)));
  fenceForWgmma();
  int64_t weightWords = 10, activationValues = 2 * pairs;
  auto oneStep = [&](Value step, ValueRange args) {
    Value acc = args[0], stepBad = args[1];
    ValueRange regs = args.slice(2, 16),
               nextWeights = args.slice(18, weightWords),
               nextActivations = args.slice(18 + weightWords, activationValues);
    // a.
    gpu::BarrierOp::create(b, loc);
    // b. K slice s starts 32 bytes further into each swizzled row; the
    // descriptors before the fence (see PrefillKernel.cpp).
    SmallVector<Value> descB = {swizzledRowsDescriptor(bufferOf(step))};
    for (int64_t slice = 1; slice < 4; ++slice)
      descB.push_back(arith::AddIOp::create(b, loc, descB[0], i64(2 * slice)));
    NVVM::WgmmaFenceAlignedOp::create(b, loc);
    for (int64_t slice = 0; slice < 4; ++slice)
      acc = wgmmaRegisterA(acc, SmallVector<Value>(regs.slice(4 * slice, 4)),
                           descB[slice], tileM, 32, ".f32.e5m2.e5m2",
                           /*scale A, scale B*/ "1, 1");
    NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
    // c.
    NVVM::WgmmaWaitGroupSyncOp::create(b, loc, b.getI64IntegerAttr(1));
    // d.
    Value next = add(step, idx(1));
    stageActivations(SmallVector<Value>(nextActivations), bufferOf(next),
                     stepBad);
    SmallVector<Value> weights = loadWeights(add(step, idx(2)));
    SmallVector<Value> activations = loadActivations(add(step, idx(2)));
    SmallVector<Value> nextA =
        expandWeights(SmallVector<Value>(nextWeights), stepBad);
    fenceForWgmma();
    SmallVector<Value> yielded = {acc, stepBad};
    append_range(yielded, nextA);
    append_range(yielded, weights);
    append_range(yielded, activations);
    return yielded;
  };
  auto loop = scf::ForOp::create(
      b, loc, idx(0), idx(steps - steps % 2), idx(2), init,
      [&](OpBuilder &lb, Location, Value step, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(lb.getInsertionBlock(), lb.getInsertionPoint());
        SmallVector<Value> mid = oneStep(step, args);
        scf::YieldOp::create(b, loc, oneStep(add(step, idx(1)), mid));
      });
  SmallVector<Value> last =
      steps % 2 ? oneStep(idx(steps - 1), loop.getResults())
                : SmallVector<Value>(loop.getResults());
  NVVM::WgmmaWaitGroupSyncOp::create(b, loc, b.getI64IntegerAttr(0));
  Value acc = last[0];
  // Any code outside the window in the CTA: the CUDA-core path for all.
  Value anyBad = NVVM::BarrierOp::create(
      b, loc, i32Type, /*barrierId=*/Value(), /*numberOfThreads=*/Value(),
      NVVM::BarrierReductionAttr::get(ctx, NVVM::BarrierReduction::OR),
      arith::ExtUIOp::create(
          b, loc, i32Type,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, last[1],
                                i32(0))))
                     .getRes();
  auto ifOp = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, anyBad, i32(0)),
      /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    storeOnCudaCores();
    b.setInsertionPointToStart(ifOp.elseBlock());
    // Accumulator 4 j + i: weight row (D row) g + 8 (i / 2) of the warp's
    // 16, activation row (D column) 8 j + 2 q + i % 2; times
    // 2^(Rw - 140) and 2^(Ra - 140), the larger first (the smaller may be
    // subnormal).
    SmallVector<Value> wFactor;
    for (int64_t r = 0; r < 2; ++r)
      wFactor.push_back(pow2(arith::SubIOp::create(b, loc, wLargest[r],
                                                   i32(kFactorBias))));
    Value columnOfFirst =
        add(n0, add(mul(warpgroup, 64), mul(warpInGroup, 16)));
    for (int64_t j = 0; j < tileM / 8; ++j)
      for (int64_t i = 0; i < 4; ++i) {
        Value rowInTile = add(mul(q, 2), idx(8 * j + i % 2));
        Value largest = LLVM::LoadOp::create(
            b, loc, i32Type,
            sharedAt(add(idx(largestOffset()), mul(rowInTile, 4))),
            /*alignment=*/4);
        Value aFactor = pow2(
            arith::SubIOp::create(b, loc, largest, i32(kFactorBias)));
        Value larger =
            arith::MaximumFOp::create(b, loc, aFactor, wFactor[i / 2]);
        Value smaller =
            arith::MinimumFOp::create(b, loc, aFactor, wFactor[i / 2]);
        Value sum = arith::MulFOp::create(
            b, loc,
            arith::MulFOp::create(
                b, loc, LLVM::ExtractValueOp::create(b, loc, acc, 4 * j + i),
                larger),
            smaller);
        Value row = add(m0, rowInTile);
        Value column = add(columnOfFirst, add(g, idx(8 * (i / 2))));
        storeOutput(both(below(row, shape.m), below(column, shape.n)), sum,
                    alpha, out, bias, xRows, wRows, row, column, shape.n);
      }
  }
  gpu::ReturnOp::create(b, loc);
}

} // namespace

bool mlir::fp4::nvvm_kernels::useFp8WgmmaKernel(const KernelShape &shape,
                                                const MmaKind &kind) {
  return !kind.fp8Activations() && !kind.twoLevel &&
         kind.scaleFormat == NVVM::BlockScaleFormat::UE8M0 &&
         kind.blockSize == kBlock && !shape.gathered && !shape.tensorMaps &&
         shape.k % kStepK == 0;
}

std::string mlir::fp4::nvvm_kernels::fp8WgmmaKindName(const KernelShape &shape) {
  return "_f8wg" + std::to_string(tileMOf(shape)) + "_";
}

std::array<int64_t, 3>
mlir::fp4::nvvm_kernels::fp8WgmmaLaunch(const KernelShape &shape) {
  int64_t tileM = tileMOf(shape);
  return {(shape.n + kTileN - 1) / kTileN, (shape.m + tileM - 1) / tileM,
          kThreads};
}

int64_t mlir::fp4::nvvm_kernels::fp8WgmmaSharedBytes(const KernelShape &shape) {
  int64_t tileM = tileMOf(shape);
  // The buffers, each activation row's largest scale byte (an i32), and
  // the slack that aligns the buffers to 1024 bytes.
  return kStages * tileM * kRowBytes + 4 * tileM + 1024;
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
  gpu::GPUFuncOp kernel = createKernelFunc(b, loc, name, shape);
  kernel->setAttr(NVVM::NVVMDialect::getMaxntidAttrName(),
                  b.getDenseI32ArrayAttr({kThreads, 1, 1}));
  Block &entry = kernel.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  Value shared = LLVM::AddressOfOp::create(
      b, loc, LLVM::LLVMPointerType::get(ctx, 3), sharedName);
  Fp8WgmmaKernelBuilder(b, loc, shape, shared).build(entry);
  return kernel;
}
