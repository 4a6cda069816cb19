//===- Bf16RowsKernel.cpp - FP4 activation rows to bf16, exactly ----------===//
//
// Part of fp4-mlir.
//
// W4A4 with few activation rows on chips without FP4 tensor cores (sm_90a,
// sm_90) runs as W4A16: this kernel expands the FP4 activation rows to
// bf16, exactly, and the W4A16 decode kernels (DecodeKernel.cpp,
// MmaDecodeKernel.cpp) multiply them by the FP4 weights, which they expand
// themselves. A code times its block scale has at most 2 + 4 significant
// bits (E2M1 x UE4M3) or 2 (E2M1 x UE8M0), so bf16 holds it exactly
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
// One warp per chunk of 32 16-byte pieces (32 codes each) of a row
// (activationRowChunk), eight per CTA of 256 threads; lane l expands the
// chunk's piece l into 64 bytes of bf16. Every warp of a row reads the
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
/// The largest UE8M0 byte expandPieceToBF16 takes (its scale times 2^14
/// must be a finite f32: 2^(240 - 127 + 14) = 2^127).
constexpr int64_t kLargestByte = 240;

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
    shift = arith::MaxSIOp::create(
        b, loc, i32(0),
        arith::SubIOp::create(b, loc, largest, i32(kLargestByte)));
    mayLose = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, smallest,
                                    shift);
  }
  auto i8x16 = VectorType::get({16}, b.getI8Type());
  auto i32x4 = VectorType::get({4}, b.getI32Type());
  auto bf16x8 = VectorType::get({8}, b.getBF16Type());
  // Piece `piece` of the row: expanded into x where `expand`; returns
  // `lost` or'ed with whether it loses a code (MXFP4: a nonzero code in a
  // block below the shift has no bf16 value).
  auto visit = [&](Value piece, Value valid, Value lost, bool expand) {
    Value codes =
        guardedLoad(i8x16, a, add(mul(row, k / 2), mul(piece, 16)), valid);
    Value word = loadWord(
        b, loc, sa,
        add(mul(row, scaleBytesPerRow), mul(piece, scaleBytesPerPiece)), valid,
        scaleBytesPerPiece);
    if (mx) {
      Value below =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, word, shift);
      Value nonzero = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::ne,
          vector::ReductionOp::create(
              b, loc, vector::CombiningKind::OR,
              arith::AndIOp::create(
                  b, loc, vector::BitCastOp::create(b, loc, i32x4, codes),
                  arith::ConstantOp::create(
                      b, loc,
                      DenseElementsAttr::get(i32x4,
                                             b.getI32IntegerAttr(0x77777777)))))
              .getResult(),
          i32(0));
      lost = arith::OrIOp::create(
          b, loc, lost,
          arith::ExtUIOp::create(b, loc, b.getI32Type(), both(below, nonzero)));
      word = arith::MaxSIOp::create(b, loc, i32(0),
                                    arith::SubIOp::create(b, loc, word, shift));
    }
    if (!expand)
      return lost;
    SmallVector<Value> pairs = expandPieceToBF16(b, loc, codes, word, kind);
    auto ifOp = scf::IfOp::create(b, loc, valid, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    Value at = add(mul(row, k), mul(piece, kPiece));
    for (int64_t q = 0; q < 4; ++q) {
      Value eight = vector::BitCastOp::create(
          b, loc, bf16x8,
          vector::FromElementsOp::create(
              b, loc, i32x4, ArrayRef<Value>(pairs).slice(4 * q, 4)));
      vector::StoreOp::create(b, loc, eight, x, ValueRange{add(at, idx(8 * q))},
                              /*nontemporal=*/false, llvm::MaybeAlign(16));
    }
    return lost;
  };
  visit(chunk.item, chunk.valid, i32(0), /*expand=*/true);
  // Chunk 0's lane 0: 2^shift, or NaN for a row that lost a code.
  Value lost = i32(0);
  if (mx)
    lost = wholeRowCheck(chunk, mayLose, pieces,
                         [&](Value piece, Value valid, Value lostSoFar) {
                           return visit(piece, valid, lostSoFar,
                                        /*expand=*/false);
                         });
  Value scale = arith::BitcastOp::create(
      b, loc, b.getF32Type(),
      arith::SelectOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, lost, i32(0)),
          i32(0x7FC00000),
          arith::ShLIOp::create(b, loc,
                                arith::AddIOp::create(b, loc, shift, i32(127)),
                                i32(23))));
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
