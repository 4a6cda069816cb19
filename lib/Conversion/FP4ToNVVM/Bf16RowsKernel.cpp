//===- Bf16RowsKernel.cpp - FP4 activation rows to bf16, exactly ----------===//
//
// Part of fp4-mlir.
//
// W4A4 on chips without FP4 tensor cores (sm_90a, sm_90) runs as W4A16:
// this kernel expands the FP4 activation rows to bf16, exactly, and the
// W4A16 kernels (DecodeKernel.cpp, MmaDecodeKernel.cpp, MmaGemvKernel.cpp,
// PrefillKernel.cpp) multiply them by the FP4 weights, which they expand
// themselves. (Up to 8 rows, the GEMV kernel mostly expands the
// activations itself, with the same expandWordToBF16 and shift: the two
// must stay in step.) A code times its block scale has at most 2 + 4
// significant bits (E2M1 x UE4M3) or 2 (E2M1 x UE8M0), so bf16 holds it exactly
// wherever its exponent fits (expandPieceToBF16, which works with the
// scale times 2^14: UE8M0 bytes up to 240).
//
// MXFP4 rows with larger bytes (values of 2^113 and more, which no
// quantization of bf16 data produces but a hand-made tensor may hold) are
// shifted: with R the row's largest byte, every byte of the row is taken
// as s - max(0, R - 240) and the row's scale entry is 2^max(0, R - 240),
// which the W4A16 kernel's epilogue multiplies each output of the row by.
// A nonzero code in a block whose byte is below that shift has no such
// value (the row would span more than 240 binades): the row's entry is NaN,
// so its outputs are NaN rather than wrong. NVFP4 rows need no shift
// (entries 1; the global scales are in alpha).
//
// One warp per chunk of 32 16-byte pieces (1024 codes) of a row
// (activationRowChunk), eight per CTA of 256 threads; lane l expands the
// chunk's 32-bit words l, l + 32, l + 64 and l + 96 (8 codes each, one
// scale byte each) into 16 bytes of bf16 each, so that every load and
// store of the warp is contiguous (a piece per lane, stored as four
// 16-byte pieces 64 bytes apart, took twice the kernel's byte floor at
// 4096 and 8192 rows). Every warp of a row reads the
// row's scale bytes for the shift; the warp of chunk 0 writes the row
// scale, and reads the whole row for lost codes when a byte of the row is
// below the shift.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::fp4;
using namespace mlir::fp4::nvvm_kernels;

namespace {

constexpr int64_t kPiece = 32;     // codes per 16-byte piece
static_assert(kPiece == kActivationRowItemCodes,
              "a piece is an item of activationRowsLaunch");

class Bf16RowsKernelBuilder : KernelBuilderBase {
public:
  Bf16RowsKernelBuilder(OpBuilder &b, Location loc, int64_t rows, int64_t k,
                        const MmaKind &kind)
      : KernelBuilderBase(b, loc), rows(rows), k(k), kind(kind) {}
  void build(Block &entry);

private:
  int64_t rows, k;
  MmaKind kind;
};

void Bf16RowsKernelBuilder::build(Block &entry) {
  // (a, sa, x, rowScales): a warp per chunk of a row (activationRowChunk).
  Value a = entry.getArgument(0), sa = entry.getArgument(1),
        x = entry.getArgument(2), rowScales = entry.getArgument(3);
  // The W4A16 kernel after it may start and issue its weight loads (it
  // waits for this grid's end before reading x and rowScales).
  allowDependentLaunch();
  int64_t pieces = k / kPiece;
  ActivationRowChunk chunk = activationRowChunk(rows, pieces);
  Value row = chunk.row;
  bool mx = kind.scaleFormat == NVVM::BlockScaleFormat::UE8M0;
  int64_t scaleBytesPerRow = k / kind.blockSize;
  int64_t scaleBytesPerPiece = kPiece / kind.blockSize;
  // MXFP4: the shift, max(0, R - 240), from the row's largest byte; only a
  // row with a byte below the shift can lose a code.
  Value shift = i32(0), mayLose;
  if (mx) {
    auto [largest, smallest] =
        warpScaleByteRange(sa, row, scaleBytesPerRow, chunk.lane, chunk.rowOk);
    shift = activationRowShift(b, loc, largest);
    mayLose = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, smallest,
                                    shift);
  }
  // Lane l expands words l, l + 32, l + 64 and l + 96 (8 codes each) of
  // its warp's chunk, so that each of the warp's loads reads 128
  // contiguous bytes and each of its 16-byte stores writes 512: all four
  // words' loads first, then the expansions and stores.
  constexpr int64_t kWordCodes = 8;
  constexpr int64_t kWordsPerLane = kPiece / kWordCodes;
  Value firstWord =
      mul(arith::SubIOp::create(b, loc, chunk.item, chunk.lane), kWordsPerLane);
  SmallVector<Value> words, valids, scaleBytes;
  for (int64_t q = 0; q < kWordsPerLane; ++q) {
    Value word = add(firstWord, add(idx(32 * q), chunk.lane));
    Value valid = both(chunk.rowOk, below(word, k / kWordCodes));
    words.push_back(word);
    valids.push_back(valid);
    scaleBytes.push_back(
        loadWord(b, loc, sa,
                 add(mul(row, scaleBytesPerRow),
                     arith::DivUIOp::create(b, loc, word,
                                            idx(kind.blockSize / kWordCodes))),
                 valid, 1));
  }
  SmallVector<Value> codes;
  for (int64_t q = 0; q < kWordsPerLane; ++q)
    codes.push_back(
        loadWord(b, loc, a, add(mul(row, k / 2), mul(words[q], kWordCodes / 2)),
                 valids[q], 4));
  auto i32x4 = VectorType::get({4}, b.getI32Type());
  auto bf16x8 = VectorType::get({8}, b.getBF16Type());
  for (int64_t q = 0; q < kWordsPerLane; ++q) {
    Value scale = shiftedActivationScale(
        b, loc, scaleBytes[q], mx ? shift : Value(), kind.scaleFormat);
    SmallVector<Value> pairs = expandWordToBF16(b, loc, codes[q], scale);
    auto ifOp = scf::IfOp::create(b, loc, valids[q], /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    vector::StoreOp::create(
        b, loc,
        vector::BitCastOp::create(
            b, loc, bf16x8,
            vector::FromElementsOp::create(b, loc, i32x4, pairs)),
        x, ValueRange{add(mul(row, k), mul(words[q], kWordCodes))},
        /*nontemporal=*/false, llvm::MaybeAlign(16));
  }
  // Chunk 0's lane 0: 2^shift, or NaN for a row that lost a code.
  // MXFP4: whether piece `piece` of the row has a nonzero code in a block
  // whose byte is below the shift (such a code has no bf16 value).
  Value lost = i32(0);
  if (mx)
    lost = wholeRowCheck(
        chunk, mayLose, pieces, [&](Value piece, Value valid, Value lostSoFar) {
          auto i8x16 = VectorType::get({16}, b.getI8Type());
          Value pieceCodes = guardedLoad(
              i8x16, a, add(mul(row, k / 2), mul(piece, 16)), valid);
          Value word = loadWord(
              b, loc, sa,
              add(mul(row, scaleBytesPerRow), mul(piece, scaleBytesPerPiece)),
              valid, scaleBytesPerPiece);
          Value below = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                              word, shift);
          Value nonzero = arith::CmpIOp::create(
              b, loc, arith::CmpIPredicate::ne,
              vector::ReductionOp::create(
                  b, loc, vector::CombiningKind::OR,
                  arith::AndIOp::create(
                      b, loc,
                      vector::BitCastOp::create(b, loc, i32x4, pieceCodes),
                      arith::ConstantOp::create(
                          b, loc,
                          DenseElementsAttr::get(
                              i32x4, b.getI32IntegerAttr(0x77777777)))))
                  .getResult(),
              i32(0));
          return arith::OrIOp::create(
                     b, loc, lostSoFar,
                     arith::ExtUIOp::create(b, loc, b.getI32Type(),
                                            both(below, nonzero)))
              .getResult();
        });
  Value scale = arith::BitcastOp::create(
      b, loc, b.getF32Type(),
      arith::SelectOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, lost, i32(0)),
          i32(0x7FC00000), rowScaleBits(b, loc, shift)));
  storeRowEntryAndReturn(chunk, scale, rowScales);
}

} // namespace

std::string mlir::fp4::nvvm_kernels::bf16RowsName(const MmaKind &kind,
                                                  int64_t rows, int64_t k) {
  return "fp4_" + kind.name.str() + "_bf16rows_" + std::to_string(rows) + "x" +
         std::to_string(k);
}

gpu::GPUFuncOp
mlir::fp4::nvvm_kernels::buildBf16RowsKernel(OpBuilder &b, Location loc,
                                             StringRef name, int64_t rows,
                                             int64_t k, const MmaKind &kind) {
  auto dynamic = [](Type t) {
    return MemRefType::get({ShapedType::kDynamic}, t);
  };
  Type bytes = dynamic(b.getI8Type());
  auto kernel = gpu::GPUFuncOp::create(
      b, loc, name,
      FunctionType::get(
          b.getContext(),
          {bytes, bytes, dynamic(b.getBF16Type()), dynamic(b.getF32Type())},
          {}));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  Block &entry = kernel.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  Bf16RowsKernelBuilder(b, loc, rows, k, kind).build(entry);
  return kernel;
}
