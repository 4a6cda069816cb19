//===- MmaGemvKernel.cpp - W4A16 for 1-8 rows on BF16 tensor cores --------===//
//
// Part of fp4-mlir.
//
// The W4A16 kernel for up to 8 bf16 activation rows (LLM decoding): the
// weights are mma.sync's A operand (16 weight rows), the activation rows
// its B (the MMA's 8 columns; with fewer rows, the lanes of the missing
// ones load the last row again and their outputs are dropped). On the CUDA
// cores such a matmul costs about five instructions per code (f16 decode,
// f16 -> f32, one FMA each: DecodeKernel.cpp); here a pair of codes costs
// three integer operations and one or two bf16 multiplies, and the MMA
// does the products and the sums.
//
// A warp owns 16 weight rows and a 1/S part of K (S warps of a CTA share
// the rows). Lane (g, t) = (lane / 4, lane % 4) loads, per chunk c of 128
// codes, the 16-byte piece 4c + t of weight rows g and g + 8 and the same
// 32 elements of its activation row (g, or the last row), and uses only
// what it loaded: the MMA sums over K, so K may be renumbered as long as A
// and B agree. A piece's 32 codes become 16 bf16 pairs p = 4w + s
// (elements 8w + s and 8w + s + 4 of 4-byte word w: nibbles 16 bits apart,
// which one mask, one multiply by two powers of two and one more mask
// place as bf16 halves); MMA j of a chunk takes pairs 2j (fragment K 2t,
// 2t + 1) and 2j + 1 (K 2t + 8, 2t + 9) of both rows, and the same
// elements of the activation, paired with one prmt each.
//
// Exactness: a placed code is its value times 2^-126 (magnitude bits at
// bf16 bits 6-8: the 0.5 code is the subnormal 2^-127), so one
// mul.rn.bf16x2 by an NVFP4 scale times 2^118 gives code x scale x 2^-8
// (the 2^8 goes into the epilogue's alpha), and two, by 2^126 then the
// UE8M0 scale, give code x scale for MXFP4: products of at most 6
// significant bits, exact in bf16 within the W4A16 kernels' range limits
// (docs/gpu.md). The MMA adds them in f32.
//
// W4A4 (DecodeShape::packedActivations): the activations come as FP4
// codes and scale bytes, and each warp expands its part of K of every
// activation row into shared memory once, while its first weight loads
// are in flight, with the bf16 rows kernel's expansion and shift
// (Bf16RowsKernel.cpp); its steps then read the bf16 pieces from there.
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

constexpr int64_t kMaxActivationRows = 8; // the MMA's N
constexpr int64_t kWeightRows = 16;       // per warp: the MMA's M
constexpr int64_t kPiece = 32;            // codes per lane and load (16 bytes)
constexpr int64_t kChunk = 4 * kPiece;    // codes per weight row and step
constexpr int64_t kMinWarps = 4;          // per CTA
constexpr int64_t kMaxSplit = 16;
/// A dependent launch with at most this many steps per warp issues every
/// step's weight loads before it waits for the rows kernel (W4A4 MXFP4
/// 1 x 4096 x 4096, two steps: 6.52 -> 6.41 us on the H100; NVFP4 the
/// same; docs/benchmarks.md); so does packed activations' expansion.
constexpr int64_t kMaxStepsLoadedFirst = 4;
/// The warps the split aims for: about 24 per SM of an H100 (132 SMs).
/// Measured there (docs/benchmarks.md; M x K x N): 1x4096x4096 is fastest
/// with S = 16 (4096 warps), 1x8192x8192 with S = 8 (4096), 1x4096x14336
/// with S = 4 (3584).
constexpr int64_t kWarpsPerWave = 132 * 24;

/// S: the warps that share 16 weight rows, each over 1/S of K; the smallest
/// power of two that reaches kWarpsPerWave (or one chunk per warp).
int64_t gemvSplit(const DecodeShape &shape) {
  int64_t groups = (shape.n + kWeightRows - 1) / kWeightRows * shape.batch;
  int64_t chunks = (shape.k + kChunk - 1) / kChunk;
  int64_t split = 1;
  while (split < kMaxSplit && 2 * split <= chunks &&
         groups * split < kWarpsPerWave)
    split *= 2;
  return split;
}

/// Warps per CTA (S of them per 16 weight rows).
int64_t gemvWarps(int64_t split) { return std::max(kMinWarps, split); }

/// Steps (chunks of 128 codes) of each warp's part of K.
int64_t gemvSteps(const DecodeShape &shape, int64_t split) {
  int64_t chunks = (shape.k / kPiece + 3) / 4;
  return (chunks + split - 1) / split;
}

/// Packed activations (DecodeShape::packedActivations): a warp's bf16
/// expansion of one activation row, as i32 pairs: its part of K, then
/// four words of padding so that the next row starts one 16-byte unit
/// further along the banks (the two rows of a quarter-warp's lanes on
/// different banks; lanes t and t + 2 still share theirs, a 2-way
/// conflict that an XOR swizzle removed at no measurable gain:
/// docs/benchmarks.md).
int64_t expandedRowWords(const DecodeShape &shape, int64_t split) {
  return gemvSteps(shape, split) * kChunk / 2 + 4;
}

/// The static shared memory of a CTA (48 KB at most without an opt-in):
/// the split-K partials, and packed activations' expansion (every warp's
/// rows) after them.
int64_t partialFloats(int64_t split) {
  return split > 1 ? 32 * gemvWarps(split) * 4 : 0;
}
int64_t expandedWords(const DecodeShape &shape, int64_t split) {
  return gemvWarps(split) * shape.m * expandedRowWords(shape, split);
}
constexpr int64_t kStaticSharedBytes = 48 * 1024;

/// `shared`: packed activations' expansion, a static buffer of the kernel
/// (null otherwise).
class MmaGemvKernelBuilder : SharedBufferKernelBuilderBase {
public:
  MmaGemvKernelBuilder(OpBuilder &b, Location loc, const DecodeShape &shape,
                       const MmaKind &kind, Value shared)
      : SharedBufferKernelBuilderBase(b, loc, shared), shape(shape), kind(kind),
        split(gemvSplit(shape)) {}

  void build(gpu::GPUFuncOp kernel);

private:
  /// Packed activations: each MXFP4 row's shift, max(0, R - 240) for its
  /// largest scale byte R (the bf16 rows kernel's, read by every warp), as
  /// i32s; none for NVFP4.
  SmallVector<Value> activationRowShifts(Value lane, Value xRows);
  /// Packed activations: the warp's part of K of every activation row,
  /// from `firstChunk` on, expanded to bf16 into the shared buffer from
  /// i32 word `base` on, as
  /// the bf16 rows kernel expands them (each 8 codes with their block's
  /// scale byte, less the row's shift); a code lost below the shift
  /// becomes NaN, which makes its row's outputs NaN as the rows kernel's
  /// NaN row scale does. Each lane takes words of 8 codes lane, lane + 32,
  /// ... of the warp's rows: every load first, then the rows' shifts
  /// (activationRowShifts, returned for the epilogue), the expansions and
  /// 16-byte stores; then the warp synchronizes.
  SmallVector<Value> expandActivations(Value codes, Value base, Value lane,
                                       Value xRows, Value firstChunk);
  /// `values[row]` (one per activation row, warp-uniform) for `row`.
  Value pickRow(ArrayRef<Value> values, Value row);

  DecodeShape shape;
  MmaKind kind;
  int64_t split;
};

SmallVector<Value> MmaGemvKernelBuilder::activationRowShifts(Value lane,
                                                             Value xRows) {
  SmallVector<Value> shifts;
  if (kind.scaleFormat != NVVM::BlockScaleFormat::UE8M0)
    return shifts;
  Value always = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
  for (int64_t r = 0; r < shape.m; ++r) {
    Value largest = warpScaleByteRange(activationScales, add(xRows, idx(r)),
                                       shape.k / kind.blockSize, lane, always)
                        .first;
    shifts.push_back(activationRowShift(b, loc, largest));
  }
  return shifts;
}

Value MmaGemvKernelBuilder::pickRow(ArrayRef<Value> values, Value row) {
  Value picked = values.back();
  for (int64_t r = static_cast<int64_t>(values.size()) - 2; r >= 0; --r)
    picked =
        arith::SelectOp::create(b, loc, eqIndex(row, r), values[r], picked);
  return picked;
}

SmallVector<Value>
MmaGemvKernelBuilder::expandActivations(Value codes, Value base, Value lane,
                                        Value xRows, Value firstChunk) {
  constexpr int64_t kWordCodes = 8;
  int64_t rowWords = expandedRowWords(shape, split);
  int64_t wordsPerRow = gemvSteps(shape, split) * kChunk / kWordCodes;
  int64_t items = shape.m * wordsPerRow;
  int64_t rowCodeWords = shape.k / kWordCodes;
  Value firstWord = mul(firstChunk, kChunk / kWordCodes);
  struct Item {
    Value row, word, rowOk, codes, scaleByte;
  };
  SmallVector<Item> loaded;
  for (int64_t i = 0; i < (items + 31) / 32; ++i) {
    Value item = add(lane, idx(32 * i));
    Item it;
    it.row = arith::DivUIOp::create(b, loc, item, idx(wordsPerRow));
    it.word = arith::RemUIOp::create(b, loc, item, idx(wordsPerRow));
    it.rowOk = items % 32 == 0 ? Value() : below(item, items);
    Value word = add(firstWord, it.word);
    Value valid = below(word, rowCodeWords);
    if (it.rowOk)
      valid = both(valid, it.rowOk);
    Value row = add(xRows, it.row);
    it.codes = loadWord(b, loc, codes, add(mul(row, shape.k / 2), mul(word, 4)),
                        valid, 4);
    it.scaleByte =
        loadWord(b, loc, activationScales,
                 add(mul(row, shape.k / kind.blockSize),
                     arith::DivUIOp::create(b, loc, word,
                                            idx(kind.blockSize / kWordCodes))),
                 valid, 1);
    loaded.push_back(it);
  }
  SmallVector<Value> shifts = activationRowShifts(lane, xRows);
  auto i32x4 = VectorType::get({4}, b.getI32Type());
  for (Item &it : loaded) {
    Value shift, lost;
    if (!shifts.empty()) {
      shift = pickRow(shifts, it.row);
      lost = both(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                        it.scaleByte, shift),
                  arith::CmpIOp::create(
                      b, loc, arith::CmpIPredicate::ne,
                      arith::AndIOp::create(b, loc, it.codes, i32(0x77777777)),
                      i32(0)));
    }
    Value scale =
        shiftedActivationScale(b, loc, it.scaleByte, shift, kind.scaleFormat);
    if (lost)
      scale = arith::SelectOp::create(
          b, loc, lost,
          arith::BitcastOp::create(b, loc, b.getF32Type(), i32(0x7FC00000)),
          scale);
    Value pairs = vector::FromElementsOp::create(
        b, loc, i32x4, expandWordToBF16(b, loc, it.codes, scale));
    Value at = add(base, add(mul(it.row, rowWords), mul(it.word, 4)));
    auto store = [&] {
      LLVM::StoreOp::create(b, loc, pairs, sharedAt(mul(at, 4)),
                            /*alignment=*/16);
    };
    if (it.rowOk)
      runIf(it.rowOk, store);
    else
      store();
  }
  NVVM::SyncWarpOp::create(b, loc, i32(-1));
  return shifts;
}

void MmaGemvKernelBuilder::build(gpu::GPUFuncOp kernel) {
  Block &entry = kernel.getBody().front();
  assert(!shape.gathered && "gathered experts take the decode kernel");
  Value x, w, sw, alpha, out, indices, bias;
  std::tie(x, w, sw, alpha, out, indices, bias) = w4a16Operands(entry, shape);
  bool packed = shape.packedActivations;
  assert(!(packed && shape.dependent) &&
         "packed activations need no rows kernel to wait for");
  Type f32 = b.getF32Type();
  Type i32Type = b.getI32Type();
  Value tid, lane, warp;
  std::tie(tid, lane, warp) = threadLaneWarp();
  Value g = arith::DivUIOp::create(b, loc, lane, idx(4));
  Value t = arith::RemUIOp::create(b, loc, lane, idx(4));
  // Warp w: row group w / S of the CTA, K part w % S.
  Value part = arith::RemUIOp::create(b, loc, warp, idx(split));
  int64_t groupsPerCTA = gemvWarps(split) / split;
  Value group =
      add(mul(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x), groupsPerCTA),
          arith::DivUIOp::create(b, loc, warp, idx(split)));
  Value xRows, wRows;
  std::tie(xRows, wRows) = batchRowOffsets(shape.m, shape.n, shape.batched);
  int64_t pieces = shape.k / kPiece;
  // Guards the shape makes always true are not emitted.
  Value always = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
  bool rowsExact = shape.n % (kWeightRows * groupsPerCTA) == 0;
  // This lane's weight rows g and g + 8 of the warp's 16.
  Value rowLo = add(mul(group, kWeightRows), g);
  Value rowHi = add(rowLo, idx(8));
  Value rowLoOk = rowsExact ? always : below(rowLo, shape.n);
  Value rowHiOk = rowsExact ? always : below(rowHi, shape.n);
  // Its activation row: g, or the last row (those columns are dropped).
  Value xRow =
      shape.m == 1
          ? idx(0)
          : arith::MinUIOp::create(b, loc, g, idx(shape.m - 1)).getResult();

  // Part p takes chunks [p * steps, (p + 1) * steps), one per step.
  int64_t chunks = (pieces + 3) / 4;
  int64_t steps = gemvSteps(shape, split);
  bool piecesExact = pieces % 4 == 0 && chunks % split == 0;
  Value firstChunk = mul(part, steps);
  // The lane's piece in `step` and whether it is one of the row's (a step
  // never passes its part's end: the pipeline asks for no step past the
  // last).
  auto pieceAt = [&](Value step) {
    Value piece = add(mul(add(firstChunk, step), 4), t);
    Value ok = piecesExact
                   ? always
                   : arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           piece, idx(pieces))
                         .getResult();
    return std::make_pair(piece, ok);
  };
  Value wBytes = globalBytes(w);
  // Per step: the raw piece and the scale word of rows g and g + 8. (The
  // activations are loaded where they are used, from L1, where every warp
  // of the SM reads them; packed ones from the warp's shared buffer.)
  auto load = [&](Value step) {
    SmallVector<Value> loaded;
    auto [piece, pieceOk] = pieceAt(step);
    for (auto [row, rowOk] :
         {std::pair(rowLo, rowLoOk), std::pair(rowHi, rowHiOk)}) {
      Value ok = rowsExact ? pieceOk : both(pieceOk, rowOk);
      auto [raw, scaleWord] = loadWeightPiece(
          wBytes, sw, add(row, wRows), piece, ok, shape.k, kind.blockSize);
      loaded.append({raw, scaleWord});
    }
    return loaded;
  };
  MLIRContext *ctx = b.getContext();
  auto resultType = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
  auto i32x4 = VectorType::get({4}, i32Type);
  auto xType = VectorType::get({8}, shape.activation);
  // Packed activations: the warp's rows expanded in the shared buffer
  // (from i32 word expandedBase on); each MXFP4 row's shift.
  Value expandedBase;
  SmallVector<Value> shifts;
  if (packed)
    expandedBase = mul(warp, shape.m * expandedRowWords(shape, split));
  // Accumulators: two sets of four (MMAs j even and odd: half as long a
  // chain of dependent MMAs).
  auto compute = [&](ArrayRef<Value> loaded, ValueRange acc, Value step) {
    SmallVector<Value> c(acc.begin(), acc.end());
    // The activation's 32 elements of the piece as 16 words (word i:
    // elements 2i, 2i + 1).
    auto [piece, pieceOk] = pieceAt(step);
    SmallVector<Value> xWords;
    for (int64_t q = 0; q < 4; ++q) {
      // Packed: the piece's 16 words in shared memory (zeros past K), four
      // at a time: words 16 (4 step + t) + 4q of the expanded row.
      Value v;
      if (packed) {
        Value word = add(expandedBase,
                         add(mul(xRow, expandedRowWords(shape, split)),
                             add(mul(add(mul(step, 4), t), 16), idx(4 * q))));
        v = LLVM::LoadOp::create(b, loc, i32x4, sharedAt(mul(word, 4)),
                                 /*alignment=*/16);
      } else {
        v = vector::BitCastOp::create(
            b, loc, i32x4,
            guardedLoad(xType, x,
                        add(mul(add(xRow, xRows), shape.k),
                            add(mul(piece, kPiece), idx(8 * q))),
                        pieceOk, 16));
      }
      for (int64_t e = 0; e < 4; ++e)
        xWords.push_back(
            vector::ExtractOp::create(b, loc, v, ArrayRef<int64_t>{e}));
    }
    // Paired as the weights: elements 8w + s and 8w + s + 4.
    auto xPair = [&](int64_t p) {
      return pairLikePlacedBF16(b, loc, xWords, p);
    };
    SmallVector<Value> lo =
        expandPiecePlacedBF16(b, loc, loaded[0], loaded[1], kind);
    SmallVector<Value> hi =
        expandPiecePlacedBF16(b, loc, loaded[2], loaded[3], kind);
    for (int64_t j = 0; j < 8; ++j) {
      SmallVector<Value> a = {lo[2 * j], hi[2 * j], lo[2 * j + 1],
                              hi[2 * j + 1]};
      SmallVector<Value> bFrag = {xPair(2 * j), xPair(2 * j + 1)};
      int64_t first = 4 * (j % 2);
      SmallVector<Value> acc4(c.begin() + first, c.begin() + first + 4);
      Value d = NVVM::MmaOp::create(
          b, loc, resultType, NVVM::MMAShapeAttr::get(ctx, 16, 8, 16),
          /*b1Op=*/nullptr, /*intOverflowBehavior=*/nullptr,
          NVVM::MMALayout::row, NVVM::MMALayout::col,
          NVVM::MMATypesAttr::get(ctx, NVVM::MMATypes::bf16),
          NVVM::MMATypesAttr::get(ctx, NVVM::MMATypes::bf16), a, bFrag, acc4);
      for (int64_t i = 0; i < 4; ++i)
        c[first + i] = LLVM::ExtractValueOp::create(b, loc, d, i);
    }
    return c;
  };
  SmallVector<Value> init(8, f32Const(b, loc, 0.0f));
  // A dependent launch waits for the rows kernel, whose output the
  // activations are, after its first weight loads; with few steps, after
  // all of them. Packed activations are expanded at the same point, while
  // those weight loads are in flight.
  auto beforeCompute = [&] {
    if (packed)
      shifts = expandActivations(x, expandedBase, lane, xRows, firstChunk);
    else
      waitForPrerequisiteGrids();
  };
  bool prepares = shape.dependent || packed;
  SmallVector<Value> sums =
      pipelinedLoop(b, loc, steps, init, load, compute, /*peelLast=*/true,
                    prepares ? function_ref<void()>(beforeCompute) : nullptr,
                    /*loadAllUpTo=*/prepares ? kMaxStepsLoadedFirst : 0);
  // Output i: c0, c1 at weight row g, activation rows 2t, 2t + 1; c2, c3
  // at weight row g + 8.
  SmallVector<Value> outputs;
  for (int64_t i = 0; i < 4; ++i)
    outputs.push_back(arith::AddFOp::create(b, loc, sums[i], sums[4 + i]));
  // Which a lane holds: with one activation row, c0 and c2 only.
  auto used = [&](int64_t i) { return shape.m > 1 || i % 2 == 0; };
  scf::IfOp part0;
  if (split > 1) {
    // Split K: every warp leaves its outputs in shared memory; after a
    // barrier, part 0 of each row group adds the parts in order and stores.
    Value partials = kernel.getWorkgroupAttributions().front();
    for (int64_t i = 0; i < 4; ++i)
      if (used(i))
        memref::StoreOp::create(b, loc, outputs[i], partials,
                                ValueRange{add(mul(tid, 4), idx(i))});
    gpu::BarrierOp::create(b, loc);
    part0 = scf::IfOp::create(b, loc, eqIndex(part, 0),
                              /*withElseRegion=*/false);
    b.setInsertionPointToStart(part0.thenBlock());
    Value first = arith::SubIOp::create(b, loc, warp, part);
    for (int64_t i = 0; i < 4; ++i)
      if (used(i))
        outputs[i] = sumInOrder(partials, split, [&](int64_t p) {
          return add(mul(add(mul(add(first, idx(p)), 32), lane), 4), idx(i));
        });
  }
  // Packed MXFP4: each sum times its activation row's 2^shift, as the
  // rows kernel's row scale multiplies it.
  if (!shifts.empty())
    for (int64_t i = 0; i < 4; ++i)
      outputs[i] = arith::MulFOp::create(
          b, loc, outputs[i],
          arith::BitcastOp::create(
              b, loc, f32,
              rowScaleBits(
                  b, loc,
                  pickRow(shifts, arith::MinUIOp::create(
                                      b, loc, add(mul(t, 2), idx(i % 2)),
                                      idx(shape.m - 1))))));
  Value outScale = placedOutputScale(b, loc, alpha, kind.scaleFormat);
  for (int64_t i = 0; i < 4; ++i) {
    if (!used(i))
      continue;
    Value xOut = add(mul(t, 2), idx(i % 2));
    Value ok = both(below(xOut, shape.m), i < 2 ? rowLoOk : rowHiOk);
    storeOutput(ok, outputs[i], outScale, out, bias, xRows, wRows, xOut,
                i < 2 ? rowLo : rowHi, shape.n);
  }
  if (part0)
    b.setInsertionPointAfter(part0);
  gpu::ReturnOp::create(b, loc);
}

} // namespace

bool mlir::fp4::nvvm_kernels::useMmaGemvKernel(const DecodeShape &shape) {
  return shape.activation.isBF16() && !shape.gathered &&
         shape.m <= kMaxActivationRows;
}

bool mlir::fp4::nvvm_kernels::gemvExpandsActivations(const DecodeShape &shape) {
  int64_t split = gemvSplit(shape);
  return useMmaGemvKernel(shape) &&
         4 * (partialFloats(split) + expandedWords(shape, split)) <=
             kStaticSharedBytes;
}

std::string mlir::fp4::nvvm_kernels::mmaGemvKindName(const DecodeShape &shape) {
  int64_t split = gemvSplit(shape);
  return "mv" + (split > 1 ? "s" + std::to_string(split) : std::string());
}

std::array<int64_t, 3>
mlir::fp4::nvvm_kernels::mmaGemvLaunch(const DecodeShape &shape) {
  int64_t split = gemvSplit(shape);
  int64_t rowsPerCTA = kWeightRows * (gemvWarps(split) / split);
  return {(shape.n + rowsPerCTA - 1) / rowsPerCTA, 1, 32 * gemvWarps(split)};
}

gpu::GPUFuncOp mlir::fp4::nvvm_kernels::buildMmaGemvKernel(
    OpBuilder &b, Location loc, StringRef name, const DecodeShape &shape,
    const MmaKind &kind) {
  int64_t split = gemvSplit(shape);
  assert((!shape.packedActivations || gemvExpandsActivations(shape)) &&
         "the packed activations' expansion fits");
  // Packed activations: their expansion, a static shared buffer (16-byte
  // aligned for vector loads and stores).
  std::string sharedName = (name + "_smem").str();
  if (shape.packedActivations)
    LLVM::GlobalOp::create(
        b, loc,
        LLVM::LLVMArrayType::get(b.getI8Type(),
                                 4 * expandedWords(shape, split)),
        /*isConstant=*/false, LLVM::Linkage::Internal, sharedName,
        /*value=*/Attribute(), /*alignment=*/16, /*addrSpace=*/3);
  // Split K: the warps' outputs in shared memory, 4 f32 per thread.
  SmallVector<Type> workgroup;
  if (split > 1)
    workgroup.push_back(workgroupFloats(b.getContext(), partialFloats(split)));
  auto kernel = gpu::GPUFuncOp::create(b, loc, name, w4a16KernelType(b, shape),
                                       workgroup, TypeRange{});
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&kernel.getBody().front());
  Value shared;
  if (shape.packedActivations)
    shared = LLVM::AddressOfOp::create(
        b, loc, LLVM::LLVMPointerType::get(b.getContext(), 3), sharedName);
  MmaGemvKernelBuilder(b, loc, shape, kind, shared).build(kernel);
  return kernel;
}
