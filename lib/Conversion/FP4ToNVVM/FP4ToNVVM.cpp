//===- FP4ToNVVM.cpp - fp4 scaled matmuls to block-scaled MMA kernels -----===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"
#include "fp4/Conversion/Passes.h"
#include "fp4/Conversion/LoweringUtils.h"
#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::fp4 {
#define GEN_PASS_DEF_CONVERTFP4TONVVM
#include "fp4/Conversion/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;
using namespace mlir::fp4;
using namespace mlir::fp4::nvvm_kernels;

/// MXFP4 W4A4 on sm_90a with at most this many activation rows per batch
/// runs as W4A16 on bf16 rows (Bf16RowsKernel.cpp), with more on the FP8
/// tensor cores (Fp8WgmmaKernel.cpp)...
constexpr int64_t kW4A4AsW4A16Rows = 16;
/// ...except from 128 to 256 rows where the W4A16 prefill kernel would
/// keep the weights in registers: measured faster there on the H100
/// (128 x 8192 x 8192 44.4 against 46.6 us, 256 x 4096 x 4096 26.3
/// against 43.5; at 64 rows, and where the W4A16 kernel stages the weights
/// in shared memory, the FP8 kernel wins: docs/benchmarks.md).
constexpr int64_t kW4A4InRegistersRows[2] = {128, 256};

/// The kernel-name suffix of a split-K kernel ("s4" for four K parts),
/// empty without split-K.
static std::string splitSuffix(int64_t split) {
  return split > 1 ? "s" + std::to_string(split) : "";
}

/// The prefill kernel's kind in its name: "_w4a16wg<BN>" (wgmma),
/// "_w4a16wr<BN>" (wgmma, weights in registers) or "_w4a16pf<BN>"
/// (mma.sync) for 128-row tiles, "_w4a16wgt<BN>" and "_w4a16wrt<BN>" for
/// 256-row ("tall") ones, then the split-K suffix.
static std::string prefillKindName(const nvvm_kernels::PrefillTiling &tiling,
                                   bool wgmma) {
  return std::string(tiling.weightsInRegisters ? "_w4a16wr"
                     : wgmma                   ? "_w4a16wg"
                                               : "_w4a16pf") +
         (tiling.tileM == 256 ? "t" : "") + std::to_string(tiling.tileN) +
         splitSuffix(tiling.split) + "_";
}

namespace {

constexpr const char *kKernelModule = "fp4_kernels";

/// The registers one MMA of a 16 x 8 tile takes, in the PTX fragment
/// layout (see buildKernel): a0..a3, b0, b1, the packed scale words of A
/// row (lane % 2) * 8 + g and of B column g, and the four f32
/// accumulators. m16n8k64 (FP4 x FP4) uses the scale bytes of all of the
/// step's blocks; m16n8k32 (W4A8) the one byte `scaleByte`.
struct Fragments {
  SmallVector<Value> a, b, acc;
  Value scaleA, scaleB;
  int64_t scaleByte = 0;
};

/// The target-specific instruction behind the shared tiling, data movement,
/// scale handling and epilogue: one block-scaled multiply-add (m16n8k64,
/// or m16n8k32 with FP8 activations).
class MmaAtom {
public:
  virtual ~MmaAtom() = default;
  /// Returns the four new accumulators.
  virtual SmallVector<Value> emit(OpBuilder &b, Location loc,
                                  const Fragments &f) const = 0;
};

/// sm_120a: the block-scaled tensor-core MMA (OMMA.SF).
class BlockScaledMmaAtom : public MmaAtom {
public:
  explicit BlockScaledMmaAtom(const MmaKind &kind) : kind(kind) {}
  SmallVector<Value> emit(OpBuilder &b, Location loc,
                          const Fragments &f) const override {
    // Thread selectors 0 (CUTLASS's SM120 atoms); the byte selector picks
    // the MMA's scale byte (scale_vec::1X), else 0.
    auto i16 = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(b, loc, b.getI16Type(), v);
    };
    Value thread = i16(0), byte = i16(f.scaleByte);
    Type f32 = b.getF32Type();
    auto resultType =
        LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
    Value d = NVVM::MmaBlockScaleOp::create(
        b, loc, resultType, f.a, f.b, f.acc, f.scaleA, byte, thread, f.scaleB,
        byte, thread, ArrayRef<int64_t>{16, 8, kind.mmaK},
        std::array<NVVM::MMATypes, 2>{kind.activation, NVVM::MMATypes::e2m1},
        kind.scaleVec, kind.scaleFormat, kind.kind);
    SmallVector<Value> next;
    for (int64_t i = 0; i < 4; ++i)
      next.push_back(LLVM::ExtractValueOp::create(b, loc, d, i));
    return next;
  }

private:
  MmaKind kind;
};

/// sm_90a (Hopper has no FP4 tensor cores): the same block-scaled
/// multiply-add on CUDA cores, from the same fragments. Lane (g, t) holds A
/// rows g and g + 8 and B column g over the same K elements (8t..8t+7 and
/// 8t+32..8t+39 for m16n8k64; 4t..4t+3 and 4t+16..4t+19 for m16n8k32), so
/// for each column c it takes B's registers from lane 4c + t by shuffle,
/// multiplies the decoded elements and scales, and the quad sums its four
/// partial dot products. Every product of two elements and two scales is
/// exact in f32; only the order of the f32 sums differs from a tensor
/// core's. This twin runs the shared code on the H100.
class CudaCoreMmaAtom : public MmaAtom {
public:
  explicit CudaCoreMmaAtom(const MmaKind &kind) : kind(kind) {}
  SmallVector<Value> emit(OpBuilder &b, Location loc,
                          const Fragments &f) const override;

private:
  MmaKind kind;
};

/// The f32 value of FP8 byte `byte` (an i32 in 0..255): E5M2 is the high
/// byte of an f16; E4M3's magnitude shifted left by 7 is an f16 of its
/// value times 2^-8 (subnormals included), which a multiply by 2^8 undoes.
/// (E4M3FN's NaN, 0x7F, never comes out of the quantizer, which saturates.)
Value decodeFP8(OpBuilder &b, Location loc, Value byte, NVVM::MMATypes type) {
  auto c = [&](int64_t v) { return i32Const(b, loc, v); };
  Value bits;
  if (type == NVVM::MMATypes::e5m2) {
    bits = arith::ShLIOp::create(b, loc, byte, c(8));
  } else {
    Value magnitude = arith::ShLIOp::create(
        b, loc, arith::AndIOp::create(b, loc, byte, c(0x7F)), c(7));
    Value sign = arith::ShLIOp::create(
        b, loc, arith::AndIOp::create(b, loc, byte, c(0x80)), c(8));
    bits = arith::OrIOp::create(b, loc, magnitude, sign);
  }
  Value half = arith::BitcastOp::create(
      b, loc, b.getF16Type(),
      arith::TruncIOp::create(b, loc, b.getI16Type(), bits));
  Value value = arith::ExtFOp::create(b, loc, b.getF32Type(), half);
  if (type == NVVM::MMATypes::e5m2)
    return value;
  return arith::MulFOp::create(b, loc, value, f32Const(b, loc, 256.0f));
}

/// The E2M1 value of the 4-bit code `code` (an i32 in 0..15).
Value decodeE2M1(OpBuilder &b, Location loc, Value code) {
  auto bits = [&](Value v, int64_t shift, int64_t mask) -> Value {
    Value shifted = arith::ShRUIOp::create(b, loc, v, i32Const(b, loc, shift));
    return arith::AndIOp::create(b, loc, shifted, i32Const(b, loc, mask));
  };
  Value e = bits(code, 1, 3), m = bits(code, 0, 1), sign = bits(code, 3, 1);
  Value mf = arith::UIToFPOp::create(b, loc, b.getF32Type(), m);
  auto eq = [&](Value v, int64_t c) -> Value {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, v,
                                 i32Const(b, loc, c));
  };
  // e == 0: m / 2; else (2 + m) * 2^(e - 2).
  Value sub = arith::MulFOp::create(b, loc, mf, f32Const(b, loc, 0.5f));
  Value power = arith::SelectOp::create(
      b, loc, eq(e, 1), f32Const(b, loc, 0.5f),
      arith::SelectOp::create(b, loc, eq(e, 2), f32Const(b, loc, 1.0f),
                              f32Const(b, loc, 2.0f)));
  Value normal = arith::MulFOp::create(
      b, loc, arith::AddFOp::create(b, loc, mf, f32Const(b, loc, 2.0f)), power);
  Value magnitude = arith::SelectOp::create(b, loc, eq(e, 0), sub, normal);
  return arith::SelectOp::create(b, loc, eq(sign, 1),
                                 arith::NegFOp::create(b, loc, magnitude),
                                 magnitude);
}

SmallVector<Value> CudaCoreMmaAtom::emit(OpBuilder &b, Location loc,
                                         const Fragments &f) const {
  Type i32 = b.getI32Type();
  Value lane = arith::IndexCastOp::create(
      b, loc, i32, gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
  Value g = arith::DivUIOp::create(b, loc, lane, i32Const(b, loc, 4));
  Value t = arith::RemUIOp::create(b, loc, lane, i32Const(b, loc, 4));
  Value width = i32Const(b, loc, 32);
  // llvm.intr.fma (fma.rn.f32), not math.fma: that lowers to libdevice's
  // __nv_fmaf, which would need libdevice linked.
  auto shuffleFrom = [&](Value v, Value source) -> Value {
    return gpu::ShuffleOp::create(b, loc, v, source, width,
                                  gpu::ShuffleMode::IDX)
        .getShuffleResult();
  };
  auto add = [&](Value x, Value y) -> Value {
    return arith::AddIOp::create(b, loc, x, y);
  };
  // The scale byte of each half of this lane's K elements: NVFP4 blocks of
  // 16 (bytes t / 2 and t / 2 + 2), MXFP4 blocks of 32 (bytes 0 and 1); an
  // m16n8k32 MMA has one block, byte `scaleByte`.
  SmallVector<Value> byteOfHalf;
  bool fp8 = kind.fp8Activations();
  if (fp8) {
    byteOfHalf.assign(2, i32Const(b, loc, f.scaleByte));
  } else if (kind.scalesPerK64 == 4) {
    Value half = arith::DivUIOp::create(b, loc, t, i32Const(b, loc, 2));
    byteOfHalf = {half, add(half, i32Const(b, loc, 2))};
  } else {
    byteOfHalf = {i32Const(b, loc, 0), i32Const(b, loc, 1)};
  }
  // A's scale words of rows g (lane 4g) and g + 8 (lane 4g + 1).
  Value quad = arith::MulIOp::create(b, loc, g, i32Const(b, loc, 4));
  Value scaleALo = shuffleFrom(f.scaleA, quad);
  Value scaleAHi = shuffleFrom(f.scaleA, add(quad, i32Const(b, loc, 1)));
  SmallVector<Value> aScaleLo, aScaleHi;
  for (Value index : byteOfHalf) {
    aScaleLo.push_back(decodeScale(b, loc, scaleALo, index, kind.scaleFormat));
    aScaleHi.push_back(decodeScale(b, loc, scaleAHi, index, kind.scaleFormat));
  }
  // Element i of a register: a nibble (packed E2M1), or a byte (FP8; an
  // E2M1 code in bits 5..2 of its byte for kind::mxf8f6f4).
  int64_t perWord = fp8 ? 4 : 8;
  auto field = [&](Value word, int64_t shift, int64_t mask) -> Value {
    return arith::AndIOp::create(
        b, loc, arith::ShRUIOp::create(b, loc, word, i32Const(b, loc, shift)),
        i32Const(b, loc, mask));
  };
  auto decodeA = [&](Value word, int64_t i) -> Value {
    if (fp8)
      return decodeFP8(b, loc, field(word, 8 * i, 255), kind.activation);
    return decodeE2M1(b, loc, field(word, 4 * i, 15));
  };
  auto decodeB = [&](Value word, int64_t i) -> Value {
    return decodeE2M1(
        b, loc, fp8 ? field(word, 8 * i + 2, 15) : field(word, 4 * i, 15));
  };
  // A's elements, decoded once: [register][element].
  SmallVector<SmallVector<Value>> aValues;
  for (Value word : f.a) {
    aValues.emplace_back();
    for (int64_t i = 0; i < perWord; ++i)
      aValues.back().push_back(decodeA(word, i));
  }
  SmallVector<Value> acc(f.acc.begin(), f.acc.end());
  Value twoT = arith::MulIOp::create(b, loc, t, i32Const(b, loc, 2));
  for (int64_t c = 0; c < 8; ++c) {
    Value source = add(i32Const(b, loc, 4 * c), t);
    Value b0 = shuffleFrom(f.b[0], source), b1 = shuffleFrom(f.b[1], source);
    Value scaleB = shuffleFrom(f.scaleB, i32Const(b, loc, 4 * c));
    Value lo = f32Const(b, loc, 0.0f), hi = f32Const(b, loc, 0.0f);
    // Half 0: a0 (row g), a1 (row g + 8) with b0; half 1: a2, a3 with b1.
    for (int64_t half = 0; half < 2; ++half) {
      Value bWord = half ? b1 : b0;
      Value sB = decodeScale(b, loc, scaleB, byteOfHalf[half], kind.scaleFormat);
      Value dotLo = f32Const(b, loc, 0.0f), dotHi = f32Const(b, loc, 0.0f);
      for (int64_t i = 0; i < perWord; ++i) {
        Value bv = decodeB(bWord, i);
        dotLo = LLVM::FMAOp::create(b, loc, aValues[2 * half][i], bv, dotLo);
        dotHi = LLVM::FMAOp::create(b, loc, aValues[2 * half + 1][i], bv, dotHi);
      }
      lo = LLVM::FMAOp::create(
          b, loc, dotLo, arith::MulFOp::create(b, loc, aScaleLo[half], sB), lo);
      hi = LLVM::FMAOp::create(
          b, loc, dotHi, arith::MulFOp::create(b, loc, aScaleHi[half], sB), hi);
    }
    // Sum over the quad's four K ranges.
    for (int64_t offset : {1, 2}) {
      Value off = i32Const(b, loc, offset);
      lo = arith::AddFOp::create(
          b, loc, lo,
          gpu::ShuffleOp::create(b, loc, lo, off, width, gpu::ShuffleMode::XOR)
              .getShuffleResult());
      hi = arith::AddFOp::create(
          b, loc, hi,
          gpu::ShuffleOp::create(b, loc, hi, off, width, gpu::ShuffleMode::XOR)
              .getShuffleResult());
    }
    // Column c is this lane's d0/d2 (c == 2t) or d1/d3 (c == 2t + 1).
    for (int64_t j = 0; j < 2; ++j) {
      Value mine = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::eq, i32Const(b, loc, c),
          add(twoT, i32Const(b, loc, j)));
      acc[j] = arith::SelectOp::create(
          b, loc, mine, arith::AddFOp::create(b, loc, acc[j], lo), acc[j]);
      acc[2 + j] = arith::SelectOp::create(
          b, loc, mine, arith::AddFOp::create(b, loc, acc[2 + j], hi),
          acc[2 + j]);
    }
  }
  return acc;
}

/// The shared memory of one SM of `chip` (sm_120-class parts have 128 KB
/// of L1 and shared memory, of which 100 KB can be shared; sm_90 and
/// sm_100 228 KB).
int64_t sharedMemoryPerSM(StringRef chip) {
  return chip.starts_with("sm_12") ? 100 * 1024 : 228 * 1024;
}

/// Checks the chip up front; the error names what to use instead.
LogicalResult checkChip(StringRef chip, Location loc) {
  if (chip == "sm_100a" || chip == "sm_120a" || chip == "sm_90a" ||
      chip == "sm_90")
    return success();
  if (chip == "sm_120" || chip == "sm_121" || chip == "sm_100" ||
      chip == "sm_101" || chip == "sm_103")
    return emitError(loc) << "convert-fp4-to-nvvm: '" << chip
                          << "' has no block-scaled MMA in PTX; use the "
                             "architecture-specific target '"
                          << chip << "a'";
  return emitError(loc) << "convert-fp4-to-nvvm: unknown chip '" << chip
                        << "' (supported: sm_100a, sm_120a, sm_90a)";
}

/// The atom of `chip` (checked): block-scaled MMA on Blackwell, its CUDA-core
/// twin on Hopper.
std::unique_ptr<MmaAtom> atomFor(StringRef chip, const MmaKind &kind) {
  if (chip == "sm_120a")
    return std::make_unique<BlockScaledMmaAtom>(kind);
  return std::make_unique<CudaCoreMmaAtom>(kind);
}

/// Four packed E2M1 codes (the low 16 bits of `word`, element 0 in the low
/// nibble) in the bytes of an i32, each code in bits 5..2 of its byte: the
/// container kind::mxf8f6f4 expects.
Value unpackCodesToBytes(OpBuilder &b, Location loc, Value word) {
  Value result = i32Const(b, loc, 0);
  for (int64_t i = 0; i < 4; ++i) {
    Value code =
        arith::AndIOp::create(b, loc, word, i32Const(b, loc, 0xF << (4 * i)));
    result = arith::OrIOp::create(
        b, loc, result,
        arith::ShLIOp::create(b, loc, code, i32Const(b, loc, 4 * i + 2)));
  }
  return result;
}

/// The kernel for one shape and kind:
///   (a, sa, b, sb : memref<?xi8>, alpha : f32, out : memref<?xf32|bf16>)
/// grid (ceil(N / 8), ceil(M / 16)), one warp per block.
gpu::GPUFuncOp buildKernel(OpBuilder &b, Location loc, StringRef name,
                           const KernelShape &shape, const MmaKind &kind,
                           const MmaAtom &atom) {
  int64_t m = shape.m, n = shape.n, k = shape.k;
  bool batched = shape.batched;
  gpu::GPUFuncOp kernel = createKernelFunc(b, loc, name, shape);
  Block &entry = kernel.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  Value a = entry.getArgument(0), sa = entry.getArgument(1),
        bb = entry.getArgument(2), sb = entry.getArgument(3),
        alpha = entry.getArgument(4), out = outputArgument(entry);
  OptionalArguments optional =
      optionalArguments(entry, 4, shape.gathered, shape.bias);
  Value bias = optional.bias;
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
  // Batched ([E, M, K] x [E, N, K]): block z is the batch e; its rows of A
  // and of the output start e * M further, its rows of B e * N further.
  Value batch = batched ? gpu::BlockIdOp::create(b, loc, gpu::Dimension::z)
                              .getResult()
                        : c(0);
  Value aRows = mul(batch, m), bRows = mul(batch, n);
  if (shape.gathered)
    bRows = expertWeightRows(b, loc, optional.indices, shape.experts, n, alpha);
  Value rowLo = add(m0, g), rowHi = add(rowLo, c(8));
  Value scaleRow =
      add(add(m0, mul(arith::RemUIOp::create(b, loc, lane, c(2)), 8)), g);
  Value col = add(n0, g);
  Value rowLoOk = below(rowLo, m), rowHiOk = below(rowHi, m),
        scaleRowOk = below(scaleRow, m), colOk = below(col, n);
  // Packed E2M1 rows of K / 2 bytes; FP8 activation rows of K bytes.
  int64_t rowBytes = k / 2, scaleBytes = k / 64 * kind.scalesPerK64;
  int64_t rowBytesA = kind.fp8Activations() ? k : rowBytes;
  Value t4 = mul(t, 4), t2 = mul(t, 2);

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
        Value aLo = add(rowLo, aRows), aHi = add(rowHi, aRows);
        Value bCol = add(col, bRows);
        Value kScale = mul(arith::DivUIOp::create(b, l, k0, c(64)),
                           kind.scalesPerK64);
        Value scaleA = loadWord(
            b, l, sa, add(mul(add(scaleRow, aRows), scaleBytes), kScale),
            scaleRowOk, kind.scalesPerK64);
        Value scaleB =
            loadWord(b, l, sb, add(mul(bCol, scaleBytes), kScale), colOk,
                     kind.scalesPerK64);
        if (!kind.fp8Activations()) {
          // One m16n8k64: eight codes per register.
          SmallVector<Value> aRegs = {
              loadWord(b, l, a, at(aLo, 0), rowLoOk, 4),
              loadWord(b, l, a, at(aHi, 0), rowHiOk, 4),
              loadWord(b, l, a, at(aLo, 16), rowLoOk, 4),
              loadWord(b, l, a, at(aHi, 16), rowHiOk, 4)};
          SmallVector<Value> bRegs = {
              loadWord(b, l, bb, at(bCol, 0), colOk, 4),
              loadWord(b, l, bb, at(bCol, 16), colOk, 4)};
          Fragments fragments{aRegs, bRegs, SmallVector<Value>(acc), scaleA,
                              scaleB};
          scf::YieldOp::create(b, l, atom.emit(b, l, fragments));
          return;
        }
        // W4A8: two m16n8k32, over K halves h = 0, 1 of the step (scale
        // byte h). A: four FP8 per register, elements 4t.. and 16 + 4t..
        // of the half; B: the same elements of column g, each E2M1 code in
        // bits 5..2 of its own byte (kind::mxf8f6f4), from two bytes of
        // packed codes.
        auto atA = [&](Value row, int64_t extra) -> Value {
          return add(add(mul(row, rowBytesA), k0), add(t4, c(extra)));
        };
        auto atB = [&](int64_t extra) -> Value {
          return add(add(mul(bCol, rowBytes), kByte), add(t2, c(extra)));
        };
        SmallVector<Value> sums(acc.begin(), acc.end());
        for (int64_t h = 0; h < 2; ++h) {
          SmallVector<Value> aRegs = {
              loadWord(b, l, a, atA(aLo, 32 * h), rowLoOk, 4),
              loadWord(b, l, a, atA(aHi, 32 * h), rowHiOk, 4),
              loadWord(b, l, a, atA(aLo, 32 * h + 16), rowLoOk, 4),
              loadWord(b, l, a, atA(aHi, 32 * h + 16), rowHiOk, 4)};
          SmallVector<Value> bRegs = {
              unpackCodesToBytes(b, l,
                                 loadWord(b, l, bb, atB(16 * h), colOk, 2)),
              unpackCodesToBytes(
                  b, l, loadWord(b, l, bb, atB(16 * h + 8), colOk, 2))};
          Fragments fragments{aRegs, bRegs, sums, scaleA, scaleB, h};
          sums = atom.emit(b, l, fragments);
        }
        scf::YieldOp::create(b, l, sums);
      });
  // Epilogue: d0, d1 at row g, columns 2t, 2t + 1; d2, d3 at row g + 8.
  Value outCol = add(n0, mul(t, 2));
  for (int64_t i = 0; i < 4; ++i) {
    Value row = i < 2 ? rowLo : rowHi;
    Value column = add(outCol, c(i % 2));
    Value ok = arith::AndIOp::create(b, loc, i < 2 ? rowLoOk : rowHiOk,
                                     below(column, n));
    auto store = scf::IfOp::create(b, loc, ok, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard then(b);
    b.setInsertionPointToStart(store.thenBlock());
    Value scaled = scaleForOutput(b, loc, loop.getResult(i), alpha, out, bias,
                                  add(bRows, column));
    memref::StoreOp::create(b, loc, scaled, out,
                            ValueRange{add(mul(add(row, aRows), n), column)});
  }
  gpu::ReturnOp::create(b, loc);
  return kernel;
}

/// A tensor's buffer, collapsed to 1-D (memref<NxT>), and whether it is a
/// constant (a weight's codes or scales) to keep resident on the device.
struct HostBuffer {
  Value flat;
  bool constant = false;
};

/// The GPU runtime's entry that returns the resident device copy of a
/// constant of `element` type (each reads the bytes as they are: i8 codes,
/// UE4M3 / UE8M0 scales), or "" where there is none.
StringRef residentEntry(Type element) {
  return element.isInteger(8)              ? "fp4gpuResidentBytes"
         : isa<Float8E4M3FNType>(element)  ? "fp4gpuResidentE4M3"
         : isa<Float8E8M0FNUType>(element) ? "fp4gpuResidentE8M0"
                                           : "";
}

/// With `resident`, a constant the runtime can keep (residentEntry) is
/// marked so and keeps its element type: its resident copy is made from the
/// bytes as they are (residentCopy).
HostBuffer flatBuffer(OpBuilder &b, Location loc, Value tensor,
                      bool resident) {
  auto type = cast<RankedTensorType>(tensor.getType());
  bool isConstant = resident && !residentEntry(type.getElementType()).empty() &&
                    matchPattern(tensor, m_Constant());
  // f8 scale tensors: their bytes, as i8.
  if (!isConstant && isa<FloatType>(type.getElementType()) &&
      type.getElementType().getIntOrFloatBitWidth() == 8) {
    tensor = convertElementType(b, loc, tensor, b.getI8Type());
    type = cast<RankedTensorType>(tensor.getType());
  }
  Value buffer = bufferization::ToBufferOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
      /*readOnly=*/true);
  ReassociationIndices all;
  for (int64_t i = 0; i < type.getRank(); ++i)
    all.push_back(i);
  return {memref::CollapseShapeOp::create(b, loc, buffer,
                                          ArrayRef<ReassociationIndices>{all}),
          isConstant};
}

/// The kernels' view of a 1-D buffer: memref<?xT>.
Value dynamicView(OpBuilder &b, Location loc, Value flat) {
  auto type = cast<MemRefType>(flat.getType());
  return memref::CastOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, type.getElementType()),
      flat);
}

/// The host code around one launch. Kernels read and write device memory,
/// so every buffer is copied to a device allocation first and the result
/// copied back; all of it on one stream, in order, waited for before the
/// host reads the result (gpu-to-llvm: mgpuStreamCreate, mgpuMemAlloc,
/// mgpuMemcpy, mgpuLaunchKernel, mgpuStreamSynchronize).
class DeviceTransfers {
public:
  DeviceTransfers(OpBuilder &b, Location loc, ModuleOp module)
      : b(b), loc(loc), module(module) {
    token = gpu::WaitOp::create(b, loc, b.getType<gpu::AsyncTokenType>(),
                                ValueRange{})
                .getAsyncToken();
  }

  /// A device buffer like `host` (static 1-D), filled from it when `copy`.
  Value deviceCopy(Value host, bool copy = true) {
    Value buffer = deviceBuffer(cast<MemRefType>(host.getType()));
    if (copy)
      memcpy(buffer, host);
    return buffer;
  }

  /// A device buffer of `type` (static 1-D), freed with the others.
  Value deviceBuffer(MemRefType type) {
    auto alloc = gpu::AllocOp::create(
        b, loc, type, b.getType<gpu::AsyncTokenType>(), ValueRange{token},
        ValueRange{}, ValueRange{}, /*hostShared=*/false);
    token = alloc.getAsyncToken();
    allocations.push_back(alloc.getMemref());
    return alloc.getMemref();
  }

  /// The device copy of a constant's bytes (memref<?xi8>), made by the GPU
  /// runtime on the first call and kept: weights are not copied again. The
  /// element type must have a residentEntry.
  Value residentCopy(Value host) {
    Type element = cast<MemRefType>(host.getType()).getElementType();
    StringRef name = residentEntry(element);
    assert(!name.empty() && "flatBuffer marks only what the runtime keeps");
    auto dynamic = [&](Type t) {
      return MemRefType::get({ShapedType::kDynamic}, t);
    };
    func::FuncOp callee = runtimeFunction(
        name, b.getFunctionType({dynamic(element)}, {dynamic(b.getI8Type())}));
    Value view = memref::CastOp::create(b, loc, dynamic(element), host);
    return func::CallOp::create(b, loc, callee, ValueRange{view}).getResult(0);
  }

  /// The TMA tensor map (memref<?xi8>, in device memory) of the row-major
  /// `rows` x `rowBytes` bytes of the 1-D device buffer `tensor`, read in
  /// boxes of `boxBytes` x `boxRows`, swizzled by `swizzle` (0 or 128)
  /// bytes: encoded on the host by the GPU runtime (fp4gpuEncodeTensorMap)
  /// and copied to the device with the call's other buffers.
  Value tensorMap(Value tensor, int64_t rows, int64_t rowBytes,
                  int64_t boxBytes, int64_t boxRows, int64_t swizzle) {
    auto dynamicBytes = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
    Type index = b.getIndexType(), i64Type = b.getI64Type();
    func::FuncOp callee =
        runtimeFunction("fp4gpuEncodeTensorMap",
                        b.getFunctionType({dynamicBytes, index, i64Type,
                                           i64Type, i64Type, i64Type, i64Type},
                                          {}));
    // CUtensorMap is 128 bytes, 64-byte aligned.
    Value map = memref::AllocOp::create(
        b, loc, MemRefType::get({128}, b.getI8Type()), b.getI64IntegerAttr(64));
    hostAllocations.push_back(map);
    auto i64 = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(b, loc, i64Type, v);
    };
    // The first element's address: the aligned pointer plus the offset.
    auto type = cast<MemRefType>(tensor.getType());
    Value offset =
        memref::ExtractStridedMetadataOp::create(b, loc, tensor).getOffset();
    Value address = arith::AddIOp::create(
        b, loc, memref::ExtractAlignedPointerAsIndexOp::create(b, loc, tensor),
        arith::MulIOp::create(b, loc, offset,
                              arith::ConstantIndexOp::create(
                                  b, loc, type.getElementTypeBitWidth() / 8)));
    func::CallOp::create(
        b, loc, callee,
        ValueRange{memref::CastOp::create(b, loc, dynamicBytes, map), address,
                   i64(rows), i64(rowBytes), i64(boxBytes), i64(boxRows),
                   i64(swizzle)});
    return dynamicView(b, loc, deviceCopy(map));
  }

  /// The next launch (of a kernel that waits with griddepcontrol.wait) as
  /// a programmatic dependent of the kernel before it: the GPU runtime's
  /// fp4gpuLaunchNextAsDependent, called just before it.
  void launchNextAsDependent() {
    func::CallOp::create(b, loc,
                         runtimeFunction("fp4gpuLaunchNextAsDependent",
                                         b.getFunctionType({}, {})),
                         ValueRange{});
  }

  void memcpy(Value dst, Value src) {
    token = gpu::MemcpyOp::create(b, loc, b.getType<gpu::AsyncTokenType>(),
                                  ValueRange{token}, dst, src)
                .getAsyncToken();
  }

  /// After the launch: the result back into `hostResult`, the device
  /// buffers freed, and the stream waited for.
  void finish(Value deviceResult, Value hostResult) {
    memcpy(hostResult, deviceResult);
    for (Value buffer : allocations)
      token = gpu::DeallocOp::create(b, loc, b.getType<gpu::AsyncTokenType>(),
                                     ValueRange{token}, buffer)
                  .getAsyncToken();
    gpu::WaitOp::create(b, loc, Type(), ValueRange{token});
    // Host buffers the copies read (tensor maps), once they are done.
    for (Value buffer : hostAllocations)
      memref::DeallocOp::create(b, loc, buffer);
  }

  Value token;

private:
  /// The GPU runtime's entry `name` of `type`, declared once at the top of
  /// the module with a C interface (`_mlir_ciface_<name>`).
  func::FuncOp runtimeFunction(StringRef name, FunctionType type) {
    if (auto callee = module.lookupSymbol<func::FuncOp>(name))
      return callee;
    OpBuilder top = OpBuilder::atBlockBegin(module.getBody());
    auto callee = func::FuncOp::create(top, loc, name, type);
    callee.setPrivate();
    callee->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                    top.getUnitAttr());
    return callee;
  }

  OpBuilder &b;
  Location loc;
  ModuleOp module;
  SmallVector<Value> allocations, hostAllocations;
};

struct ConvertFP4ToNVVMPass
    : public mlir::fp4::impl::ConvertFP4ToNVVMBase<ConvertFP4ToNVVMPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(checkChip(chip, module.getLoc())))
      return signalPassFailure();
    SmallVector<Operation *> matmuls;
    module.walk([&](Operation *op) {
      if (isa<ScaledMatmulOp, GatheredMatmulOp>(op))
        matmuls.push_back(op);
    });
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
    for (Operation *op : matmuls) {
      if (!cpuFallback) {
        if (failed(convert(op, kernels, symbols)))
          return signalPassFailure();
        continue;
      }
      // convert() rejects a matmul before it changes any IR; its error
      // becomes the remark.
      std::string why;
      LogicalResult converted = failure();
      {
        ScopedDiagnosticHandler capture(&getContext(), [&](Diagnostic &d) {
          if (d.getSeverity() != DiagnosticSeverity::Error)
            return failure();
          why = d.str();
          return success();
        });
        converted = convert(op, kernels, symbols);
      }
      if (failed(converted))
        op->emitRemark("stays on the CPU (cpu-fallback): ") << why;
    }
    if (kernels.getBody()->without_terminator().empty())
      kernels.erase();
  }

  /// The operands of fp4.scaled_matmul and fp4.gathered_matmul (indices
  /// null for the former).
  struct Matmul {
    Value lhs, rhs, bias, indices;
    RankedTensorType resultType;
  };
  static Matmul operandsOf(Operation *op) {
    if (auto gathered = dyn_cast<GatheredMatmulOp>(op))
      return {gathered.getLhs(), gathered.getRhs(), gathered.getBias(),
              gathered.getIndices(), gathered.getType()};
    auto matmul = cast<ScaledMatmulOp>(op);
    return {matmul.getLhs(), matmul.getRhs(), matmul.getBias(), Value(),
            matmul.getType()};
  }

  LogicalResult convert(Operation *matmulOp, gpu::GPUModuleOp kernels,
                        SymbolTable &symbols) {
    Matmul op = operandsOf(matmulOp);
    // Diagnostics at the matmul.
    auto emitError = [&](const Twine &message) {
      return matmulOp->emitError(message);
    };
    auto lhsType = dyn_cast<QuantizedTensorType>(op.lhs.getType());
    auto rhsType = dyn_cast<QuantizedTensorType>(op.rhs.getType());
    auto lhsFloat = dyn_cast<RankedTensorType>(op.lhs.getType());
    RankedTensorType resultType = op.resultType;
    bool gathered = static_cast<bool>(op.indices);
    if (!rhsType || (!lhsType && !lhsFloat))
      return emitError("convert-fp4-to-nvvm: the kernels take FP4 weights "
                       "(rhs) with FP4 (W4A4) or float (W4A16) "
                       "activations (lhs)");
    // [M, K] x [N, K]; [E, M, K] x [N, K] (a shared weight: E * M rows);
    // [E, M, K] x [E, N, K] (batched, or stacked experts: grid z = E).
    ArrayRef<int64_t> lhsShape =
        lhsType ? lhsType.getShape() : lhsFloat.getShape();
    int64_t lhsRank = lhsShape.size(), rhsRank = rhsType.getRank();
    if (gathered &&
        (ShapedType::isDynamicShape(lhsShape) || !rhsType.hasStaticShape()))
      return emitError("convert-fp4-to-nvvm: expects statically shaped "
                       "operands [T, K] and experts [E, N, K]");
    if (!gathered &&
        (ShapedType::isDynamicShape(lhsShape) || !rhsType.hasStaticShape() ||
         lhsRank < 2 || lhsRank > 3 || rhsRank < 2 || rhsRank > lhsRank))
      return emitError("convert-fp4-to-nvvm: expects statically shaped "
                       "operands [M, K] x [N, K], [E, M, K] x [N, K] or "
                       "[E, M, K] x [E, N, K]");
    std::string why;
    FailureOr<MmaKind> rhsKind = mmaKindOf(rhsType, why);
    if (failed(rhsKind))
      return emitError("convert-fp4-to-nvvm: ") << why;
    FailureOr<MmaKind> lhsKind = rhsKind;
    if (lhsType) {
      // FP8 activations (MXFP8) with MXFP4 weights: W4A8, kind::mxf8f6f4.
      lhsKind = isa<FloatType>(lhsType.getElementType()) &&
                        lhsType.getElementType().getIntOrFloatBitWidth() == 8
                    ? w4a8KindOf(lhsType, *rhsKind, why)
                    : mmaKindOf(lhsType, why);
      if (failed(lhsKind))
        return emitError("convert-fp4-to-nvvm: ") << why;
      if (!lhsKind->fp8Activations() && lhsKind->kind != rhsKind->kind)
        return emitError("convert-fp4-to-nvvm: operands in ")
               << lhsKind->name << " and " << rhsKind->name
               << " cannot meet in one block-scaled MMA; quantize both alike";
    } else if (!lhsFloat.getElementType().isBF16() &&
               !lhsFloat.getElementType().isF16() &&
               !lhsFloat.getElementType().isF32()) {
      return emitError("convert-fp4-to-nvvm: W4A16 activations must be "
                       "bf16, f16 or f32, got ")
             << lhsFloat.getElementType();
    }
    if (llvm::is_contained(lhsShape, 0) ||
        llvm::is_contained(rhsType.getShape(), 0))
      return emitError("convert-fp4-to-nvvm: expects non-empty operands");
    // Gathered experts: T batches of one row (grid z = T), each against
    // the expert its index names.
    bool batched = rhsRank == 3;
    int64_t e = batched ? lhsShape[0] : 1;
    int64_t m =
        gathered ? 1
                 : ShapedType::getNumElements(lhsShape) / lhsShape.back() / e;
    int64_t experts = gathered ? rhsType.getShape()[0] : 0;
    int64_t k = lhsShape.back();
    int64_t n = rhsType.getShape()[rhsRank - 2];
    if (k % 64 != 0)
      return emitError("convert-fp4-to-nvvm: K = ")
             << k << " is not a multiple of 64 (the MMA's K); pad K";
    Type resultElement = resultType.getElementType();
    if (!resultElement.isF32() && !resultElement.isBF16())
      return emitError("convert-fp4-to-nvvm: the epilogue writes f32 or "
                       "bf16 results, got ")
             << resultElement;

    Location loc = matmulOp->getLoc();
    OpBuilder b(matmulOp);
    // Quantized on the host (fp4.quantize of an activation, lowered for the
    // CPU), the parts are read through fp4.disassemble.
    auto storage = [&](Value quantized) {
      if (FailureOr<StorageParts> parts = getStorageParts(b, loc, quantized);
          succeeded(parts))
        return *parts;
      auto disassemble = DisassembleOp::create(
          b, loc,
          TypeRange(cast<QuantizedTensorType>(quantized.getType())
                        .getStorageTypes()),
          quantized);
      return StorageParts{disassemble.getData(), disassemble.getScales(),
                          disassemble.getGlobalScale()};
    };
    StorageParts rhs = storage(op.rhs);
    StorageParts lhs = lhsType ? storage(op.lhs) : StorageParts{};

    // The kernel, once per shape and kind: W4A16 (decode) or W4A4.
    Value bias = op.bias;
    DecodeShape decodeShape{m,
                            n,
                            k,
                            batched,
                            lhsFloat ? lhsFloat.getElementType() : Type(),
                            resultElement,
                            e,
                            bool(bias),
                            gathered,
                            experts};
    // Hopper has no FP4 tensor cores: W4A4 runs as W4A16 there, on its
    // activations expanded exactly to bf16 by the bf16 rows kernel
    // (Bf16RowsKernel.cpp; each row's power-of-two scale applied by the
    // epilogue) or, up to 8 rows, mostly by the GEMV kernel itself
    // (expandsActivations below), except MXFP4 with more rows than
    // kW4A4AsW4A16Rows where the FP8 tensor-core kernel applies (sm_90a; faster
    // there, slower for few rows: docs/benchmarks.md), but for 128-256 rows
    // where the W4A16 prefill kernel keeps the weights in registers.
    KernelShape shape{m,          n,        k,      batched, resultElement,
                      bool(bias), gathered, experts};
    shape.batch = e;
    // Whether the W4A16 prefill kernel on bf16 rows would hold the weights
    // in registers (kW4A4InRegistersRows).
    auto bf16RowsInRegisters = [&] {
      DecodeShape probe = decodeShape;
      probe.activation = b.getBF16Type();
      probe.rowScales = true;
      return m >= kW4A4InRegistersRows[0] && m <= kW4A4InRegistersRows[1] &&
             usePrefillKernel(probe) &&
             prefillTiling(probe, /*wgmma=*/true).weightsInRegisters;
    };
    bool w4a4AsW4A16 =
        lhsType && !lhsKind->fp8Activations() &&
        (chip == "sm_90a" || chip == "sm_90") &&
        (m <= kW4A4AsW4A16Rows || chip != "sm_90a" ||
         !useFp8WgmmaKernel(shape, *lhsKind) || bf16RowsInRegisters());
    if (w4a4AsW4A16) {
      decodeShape.activation = b.getBF16Type();
      // Only MXFP4 rows can be shifted; NVFP4 row scales are all 1.
      decodeShape.rowScales =
          lhsKind->scaleFormat == NVVM::BlockScaleFormat::UE8M0;
    }
    // A W4A16 kernel runs the matmul.
    bool w4a16Kernel = lhsFloat || w4a4AsW4A16;
    // Gathered experts run one row per batch: the decode kernel.
    bool prefillW4A16 =
        w4a16Kernel && !gathered && usePrefillKernel(decodeShape);
    // wgmma exists on sm_90a only; other chips take mma.sync.
    bool wgmmaPrefill = prefillW4A16 && chip == "sm_90a";
    // The decode kernels after the bf16 rows kernel start while it runs
    // (their first weight loads overlap it), and so do the prefill kernels
    // that keep the weights in registers (waiting at their start: about
    // 1 us faster at 128 x 8192 x 8192 and 4096^3). Not those staging the
    // weights in shared memory: their CTAs waiting for it were measured slower
    // (128 x 8192 x 8192: 62 -> 90 us; docs/benchmarks.md).
    decodeShape.dependent =
        w4a4AsW4A16 &&
        (!prefillW4A16 ||
         prefillTiling(decodeShape, wgmmaPrefill).weightsInRegisters);
    decodeShape.activationMap =
        prefillW4A16 &&
        prefillActivationCopy(decodeShape, *rhsKind, wgmmaPrefill).byTma;
    bool tensorCoreW4A16 = w4a16Kernel && !gathered && !prefillW4A16 &&
                           useMmaDecodeKernel(decodeShape);
    bool gemvW4A16 = w4a16Kernel && !prefillW4A16 && !tensorCoreW4A16 &&
                     useMmaGemvKernel(decodeShape);
    // W4A4 on the GEMV kernel expands the FP4 activations itself where
    // they fit in its shared memory: no rows kernel, no second launch
    // (H100, docs/benchmarks.md).
    bool expandsActivations =
        w4a4AsW4A16 && gemvW4A16 && gemvExpandsActivations(decodeShape);
    if (expandsActivations) {
      decodeShape.packedActivations = true;
      decodeShape.rowScales = false;
      decodeShape.dependent = false;
    }
    std::string w4a16Kind = "_w4a16";
    if (prefillW4A16)
      w4a16Kind = prefillKindName(prefillTiling(decodeShape, wgmmaPrefill),
                                  wgmmaPrefill);
    else if (tensorCoreW4A16)
      w4a16Kind += "tc_";
    else if (gemvW4A16)
      w4a16Kind += mmaGemvKindName(decodeShape) + "_";
    else
      w4a16Kind += splitSuffix(decodeSplitK(decodeShape)) + "_";
    // "_w4a4x16...": W4A4 through that W4A16 kernel; "_w4a4mv...": the
    // GEMV kernel expanding the activations itself.
    if (w4a4AsW4A16)
      w4a16Kind = (expandsActivations ? "_w4a4" : "_w4a4x16") +
                  w4a16Kind.substr(std::string("_w4a16").size());
    // sm_100a W4A4 loads its tiles by TMA; W4A8's padded E2M1 operand
    // (kind::mxf8f6f4) is still stored by the threads.
    shape.tensorMaps =
        chip == "sm_100a" && lhsType && !lhsKind->fp8Activations();
    // sm_90a: MXFP4 x MXFP4 on the FP8 tensor cores (E5M2 bytes).
    bool fp8Wgmma = lhsType && !w4a4AsW4A16 && chip == "sm_90a" &&
                    useFp8WgmmaKernel(shape, *lhsKind);
    std::string name =
        "fp4_" +
        (lhsType && !w4a4AsW4A16
             ? lhsKind->name.str() +
                   (fp8Wgmma ? fp8WgmmaKindName(shape) : "_mma_")
             : rhsKind->name.str() + w4a16Kind) +
        (gathered
             ? "G" + std::to_string(e) + "E" + std::to_string(experts) + "x"
         : batched ? "E" + std::to_string(e) + "x"
                   : "") +
        std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
    if (lhsFloat)
      name += "_" + typeName(lhsFloat.getElementType()) + "_" +
              typeName(resultElement);
    else if (!resultElement.isF32())
      name += "_" + typeName(resultElement);
    if (bias)
      name += "_bias";
    // The W4A16 kernels' geometry comes from their builders; sm_100a:
    // 128 x 128 tiles, 128 threads; else 16 x 8 tiles, one warp.
    std::array<int64_t, 3> launch = {(n + 7) / 8, (m + 15) / 16, 32};
    if (prefillW4A16)
      launch = prefillLaunch(decodeShape, wgmmaPrefill);
    else if (tensorCoreW4A16)
      launch = mmaDecodeLaunch(decodeShape);
    else if (gemvW4A16)
      launch = mmaGemvLaunch(decodeShape);
    else if (w4a16Kernel)
      launch = decodeLaunch(decodeShape);
    else if (fp8Wgmma)
      launch = fp8WgmmaLaunch(shape);
    else if (chip == "sm_100a")
      launch = tcgen05Launch(shape);
    if (launch[1] > 65535 || e > 65535)
      return emitError("convert-fp4-to-nvvm: ")
             << m << " activation rows (in " << e << " batches) need a grid of "
             << launch[1] << " x " << e
             << " CTAs in y and z, and a launch takes at most 65535 in each; "
                "split the matmul along its rows";
    if (!symbols.lookup(name)) {
      // In program order: appended after the kernels before it.
      auto kb = OpBuilder::atBlockEnd(kernels.getBody());
      if (prefillW4A16)
        symbols.insert(
            buildPrefillKernel(kb, loc, name, decodeShape, *rhsKind,
                               wgmmaPrefill, sharedMemoryPerSM(chip)));
      else if (tensorCoreW4A16)
        symbols.insert(
            buildMmaDecodeKernel(kb, loc, name, decodeShape, *rhsKind));
      else if (gemvW4A16)
        symbols.insert(
            buildMmaGemvKernel(kb, loc, name, decodeShape, *rhsKind));
      else if (w4a16Kernel)
        symbols.insert(
            buildDecodeKernel(kb, loc, name, decodeShape, *rhsKind));
      else if (fp8Wgmma)
        symbols.insert(buildFp8WgmmaKernel(kb, loc, name, shape));
      else if (chip == "sm_100a")
        symbols.insert(buildTcgen05Kernel(kb, loc, name, shape, *lhsKind));
      else
        symbols.insert(buildKernel(kb, loc, name, shape, *lhsKind,
                                   *atomFor(chip, *lhsKind)));
    }
    // The kernel that prepares the activation rows first, if any (one per
    // rows x K and format, shared by matmuls that differ only in N).
    std::string rowsName = fp8Wgmma ? e5m2RowsName(e * m, k)
                           : w4a4AsW4A16 && !expandsActivations
                               ? bf16RowsName(*lhsKind, e * m, k)
                               : "";
    if (!rowsName.empty() && !symbols.lookup(rowsName)) {
      auto kb = OpBuilder::atBlockEnd(kernels.getBody());
      symbols.insert(fp8Wgmma ? buildE5M2RowsKernel(kb, loc, rowsName, e * m, k)
                              : buildBf16RowsKernel(kb, loc, rowsName, e * m, k,
                                                    *lhsKind));
    }
    // Many activation rows: the weights become E5M2 rows too, by the same
    // kind of rows kernel over all their rows.
    bool stagedWeights = fp8Wgmma && fp8WgmmaStagesWeights(shape);
    int64_t weightRows = gathered ? experts * n : batched ? e * n : n;
    std::string weightRowsName =
        stagedWeights ? e5m2RowsName(weightRows, k) : "";
    if (stagedWeights && !symbols.lookup(weightRowsName)) {
      auto kb = OpBuilder::atBlockEnd(kernels.getBody());
      symbols.insert(
          buildE5M2RowsKernel(kb, loc, weightRowsName, weightRows, k));
    }

    // Host side: buffers, the launch, the result.
    auto c = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    // alpha: the product of the NVFP4 operands' global scales, else 1.
    Value alpha = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0f));
    if (rhsKind->twoLevel) {
      alpha = tensor::ExtractOp::create(b, loc, rhs.global, ValueRange{});
      if (lhsType)
        alpha = arith::MulFOp::create(
            b, loc,
            tensor::ExtractOp::create(b, loc, lhs.global, ValueRange{}),
            alpha);
    }
    auto outType = MemRefType::get({e * m * n}, resultElement);
    Value out = memref::AllocOp::create(b, loc, outType);
    auto host = [&](Value tensor) {
      return flatBuffer(b, loc, tensor, residentWeights);
    };
    SmallVector<HostBuffer> hostBuffers;
    if (lhsType)
      hostBuffers = {host(lhs.data), host(lhs.scales)};
    else
      hostBuffers = {host(op.lhs)};
    hostBuffers.append({host(rhs.data), host(rhs.scales)});
    DeviceTransfers device(b, loc, matmulOp->getParentOfType<ModuleOp>());
    SmallVector<Value> args;
    for (const HostBuffer &buffer : hostBuffers)
      args.push_back(buffer.constant
                         ? device.residentCopy(buffer.flat)
                         : dynamicView(b, loc, device.deviceCopy(buffer.flat)));
    Value deviceOut = device.deviceCopy(out, /*copy=*/false);
    args.push_back(alpha);
    // The expert of each row, as i32.
    if (gathered) {
      Value indices = convertElementType(b, loc, op.indices, b.getI32Type());
      args.push_back(dynamicView(
          b, loc,
          device.deviceCopy(
              flatBuffer(b, loc, indices, /*resident=*/false).flat)));
    }
    // The bias, in f32 (N or E * N values: copied with each call).
    if (bias) {
      Value f32Bias = convertElementType(b, loc, bias, b.getF32Type());
      args.push_back(dynamicView(
          b, loc,
          device.deviceCopy(
              flatBuffer(b, loc, f32Bias, /*resident=*/false).flat)));
    }
    auto kernelRef = [&](StringRef kernel) {
      return SymbolRefAttr::get(
          kernels.getSymNameAttr(),
          {FlatSymbolRefAttr::get(b.getContext(), kernel)});
    };
    // x (bf16) as e * m rows of 2 k bytes, in boxes of one K step's 128
    // bytes of a tile's rows, swizzled as wgmma reads them.
    auto activationMapOf = [&](Value x) {
      return device.tensorMap(x, e * m, 2 * k, 128,
                              prefillTiling(decodeShape, wgmmaPrefill).tileM,
                              128);
    };
    // A rows kernel, launched before the matmul, turns `count` FP4 rows
    // (codes and scales: args `first` and `first` + 1) into rows of
    // `element` (K per row) and one `info` per row (device buffers, freed
    // after the call). `beforeLaunch(rows)` runs between the buffers'
    // allocation and the launch, so that what it puts on the stream does
    // not come between the rows kernel and a matmul launched as its
    // programmatic dependent (which would then follow a copy, not the
    // kernel, and start only after it).
    auto rowsFirst = [&](StringRef kernel, unsigned first, int64_t count,
                         Type element, Type info,
                         function_ref<void(Value)> beforeLaunch = {})
        -> std::pair<Value, Value> {
      Value rows = dynamicView(
          b, loc, device.deviceBuffer(MemRefType::get({count * k}, element)));
      Value perRow = dynamicView(
          b, loc, device.deviceBuffer(MemRefType::get({count}, info)));
      if (beforeLaunch)
        beforeLaunch(rows);
      std::array<int64_t, 3> launch = activationRowsLaunch(count, k);
      auto rowsOp = gpu::LaunchFuncOp::create(
          b, loc, kernelRef(kernel), gpu::KernelDim3{c(launch[0]), c(1), c(1)},
          gpu::KernelDim3{c(launch[2]), c(1), c(1)}, Value(),
          ValueRange{args[first], args[first + 1], rows, perRow},
          b.getType<gpu::AsyncTokenType>(), ValueRange{device.token});
      device.token = rowsOp.getAsyncToken();
      return {rows, perRow};
    };
    if (fp8Wgmma) {
      // The activations as E5M2 rows and their largest scale bytes (then
      // the staged weights likewise).
      auto [a8, rows] =
          rowsFirst(rowsName, 0, e * m, b.getI8Type(), b.getI32Type());
      args.append({a8, rows});
      if (stagedWeights) {
        auto [w8, wInfo] = rowsFirst(weightRowsName, 2, weightRows,
                                     b.getI8Type(), b.getI32Type());
        args.append({w8, wInfo});
      }
    }
    // The activation map, where the kernel takes one: after the row
    // scales; of the bf16 rows, encoded and copied before their kernel's
    // launch.
    Value xMap;
    if (w4a4AsW4A16 && !expandsActivations) {
      // The activations as bf16 rows and their row scales; the W4A16
      // kernel takes them in place of the FP4 operand, the row scales
      // (MXFP4) before the output.
      auto [x, rowScales] = rowsFirst(rowsName, 0, e * m, b.getBF16Type(),
                                      b.getF32Type(), [&](Value x) {
                                        if (decodeShape.activationMap)
                                          xMap = activationMapOf(x);
                                      });
      args.erase(args.begin(), args.begin() + 2);
      args.insert(args.begin(), x);
      if (decodeShape.rowScales)
        args.push_back(rowScales);
    }
    if (decodeShape.activationMap)
      args.push_back(xMap ? xMap : activationMapOf(args[0]));
    if (shape.tensorMaps) {
      args.push_back(device.tensorMap(args[0], e * m, k / 2, 16, 128, 0));
      args.push_back(device.tensorMap(args[2], weightRows, k / 2, 16, 128, 0));
    }
    args.push_back(dynamicView(b, loc, deviceOut));
    Value sharedBytes;
    if (prefillW4A16)
      sharedBytes = arith::ConstantIntOp::create(
          b, loc, b.getI32Type(), prefillSharedBytes(decodeShape, wgmmaPrefill));
    else if (fp8Wgmma)
      sharedBytes = arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                                 fp8WgmmaSharedBytes(shape));
    if (decodeShape.dependent)
      device.launchNextAsDependent();
    auto launchOp = gpu::LaunchFuncOp::create(
        b, loc, kernelRef(name),
        gpu::KernelDim3{c(launch[0]), c(launch[1]), c(e)},
        gpu::KernelDim3{c(launch[2]), c(1), c(1)}, sharedBytes, args,
        b.getType<gpu::AsyncTokenType>(), ValueRange{device.token});
    device.token = launchOp.getAsyncToken();
    device.finish(deviceOut, out);
    Value shaped = memref::ExpandShapeOp::create(
        b, loc, MemRefType::get(resultType.getShape(), resultElement), out,
        ArrayRef<ReassociationIndices>{
            llvm::to_vector(llvm::seq<int64_t>(0, resultType.getRank()))});
    Value result = bufferization::ToTensorOp::create(
        b, loc, resultType, shaped, /*restrict=*/true, /*writable=*/true);
    matmulOp->getResult(0).replaceAllUsesWith(result);
    matmulOp->erase();
    return success();
  }

  static std::string typeName(Type type) {
    std::string text;
    llvm::raw_string_ostream os(text);
    type.print(os);
    return text;
  }
};

} // namespace

void mlir::fp4::buildLowerToNVVMPipeline(OpPassManager &pm, StringRef chip,
                                         bool cpuFallback,
                                         bool residentWeights) {
  ConvertFP4ToNVVMOptions options;
  options.chip = chip.str();
  options.cpuFallback = cpuFallback;
  options.residentWeights = residentWeights;
  pm.addPass(createConvertFP4ToNVVM(options));
  // The kernels, to NVVM and the LLVM dialect.
  addTextPipeline(pm,
                  "gpu.module(convert-scf-to-cf,convert-vector-to-llvm,"
                  "expand-strided-metadata,convert-gpu-to-nvvm,"
                  "convert-nvvm-to-llvm,"
                  "canonicalize,cse,reconcile-unrealized-casts)",
                  "fp4-lower-to-nvvm");
}
