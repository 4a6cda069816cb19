//===- Kernels.h - pieces shared by the NVVM kernel builders ---*- C++ -*-===//
//
// Part of fp4-mlir.
//
// convert-fp4-to-nvvm builds one kernel per fp4.scaled_matmul shape and
// format: the warp-tiled mma.sync kernel of sm_120a (and its sm_90a twin)
// in FP4ToNVVM.cpp, the tcgen05 kernel of sm_100a in Tcgen05Kernel.cpp.
// Both take the same arguments and read the same buffers (docs/gpu.md).
//
//===----------------------------------------------------------------------===//

#ifndef FP4_LIB_CONVERSION_FP4TONVVM_KERNELS_H
#define FP4_LIB_CONVERSION_FP4TONVVM_KERNELS_H

#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"

#include <string>
#include <tuple>

namespace mlir::fp4::nvvm_kernels {

/// Which block-scaled MMA a pair of operand formats takes on sm_120a.
struct MmaKind {
  NVVM::MMABlockScaleKind kind;
  NVVM::ScaleVecSize scaleVec;
  NVVM::BlockScaleFormat scaleFormat;
  int64_t scalesPerK64; // scale bytes per row per 64 elements of K
  bool twoLevel;        // NVFP4: global scales in the epilogue
  int64_t blockSize;    // elements per scale
  StringRef name;
  /// The activations' (A's) element type: e2m1 (W4A4), or e4m3 / e5m2
  /// (W4A8: kind::mxf8f6f4, m16n8k32, one scale byte per MMA).
  NVVM::MMATypes activation = NVVM::MMATypes::e2m1;
  int64_t mmaK = 64; // K of one MMA

  bool fp8Activations() const { return activation != NVVM::MMATypes::e2m1; }
};

/// The MMA kind of `type` (both operands must have the same), or failure
/// with a reason in `why`.
FailureOr<MmaKind> mmaKindOf(QuantizedTensorType type, std::string &why);

/// The W4A8 kind (kind::mxf8f6f4) of MXFP8 activations `lhs` (E4M3 or
/// E5M2, blocks of 32 along K) against MXFP4 weights of kind `rhs` (the
/// only FP4 weights with blocks of 32), or failure with a reason in `why`.
FailureOr<MmaKind> w4a8KindOf(QuantizedTensorType lhs, const MmaKind &rhs,
                              std::string &why);

/// Loads `bytes` (1, 2 or 4) consecutive bytes at `index` of a 1-D i8 buffer
/// as one little-endian i32 (byte 0 lowest), or 0 where `valid` is false
/// (a null `valid`: always loaded).
/// Every index is a multiple of `bytes` (rows hold multiples of 32 bytes
/// and 4 or 2 scale bytes per 64 elements), so the load is one aligned
/// word, given buffers aligned that much (allocations are).
Value loadWord(OpBuilder &b, Location loc, Value buffer, Value index,
               Value valid, int64_t bytes);

/// A kernel's output argument: its last (workgroup buffers, also block
/// arguments of `entry`, come after it).
Value outputArgument(Block &entry);

Value i32Const(OpBuilder &b, Location loc, int64_t v);
Value f32Const(OpBuilder &b, Location loc, float v);
/// The f32 value of scale byte `index` (an i32, not known when building) of
/// the packed little-endian word `word`, in `format` (UE4M3 or UE8M0;
/// UE8M0's byte 0 is 2^-127): decodeScaleBytes of the word shifted down.
Value decodeScale(OpBuilder &b, Location loc, Value word, Value index,
                  NVVM::BlockScaleFormat format);

struct DecodeShape;

/// Index arithmetic and guarded loads for the kernel builders.
class KernelBuilderBase {
protected:
  KernelBuilderBase(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value i32(int64_t v) { return i32Const(b, loc, v); }
  Value i64(int64_t v) {
    return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, int64_t y) {
    return arith::MulIOp::create(b, loc, x, idx(y));
  }
  Value below(Value x, int64_t bound) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x,
                                 idx(bound));
  }
  Value eqIndex(Value x, int64_t v) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, idx(v));
  }
  Value both(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  /// Builds `body` where `condition` holds.
  void runIf(Value condition, function_ref<void()> body);
  /// The arguments of a W4A16 kernel for `shape` (w4a16KernelType): the
  /// activations, the weight codes, the weight scales, alpha, the output,
  /// and where the shape has them the expert indices and the bias (null
  /// otherwise); its row scales, where it has them, go to `rowScales`, and
  /// packed activations' scale bytes to `activationScales` (x: their codes).
  std::tuple<Value, Value, Value, Value, Value, Value, Value>
  w4a16Operands(Block &entry, const DecodeShape &shape);
  /// The 16-byte piece `piece` (codes 32 piece .. 32 piece + 31) of weight
  /// row `globalRow` (K codes per row, streamed past L1) and its scale
  /// bytes as one word (blocks of `blockSize`), zeros where `ok` is false.
  std::pair<Value, Value> loadWeightPiece(Value wBytes, Value scales,
                                          Value globalRow, Value piece,
                                          Value ok, int64_t k,
                                          int64_t blockSize);
  /// griddepcontrol.wait: until the grids this one depends on (launched
  /// before it as a programmatic dependent) have completed and their
  /// memory is visible. At once for a kernel launched plainly.
  void waitForPrerequisiteGrids() {
    NVVM::GriddepcontrolOp::create(b, loc, NVVM::GridDepActionKind::wait);
  }
  /// griddepcontrol.launch_dependents: the next kernel, launched as a
  /// programmatic dependent, may start once every CTA of this grid has
  /// said so (it waits for this grid's completion before reading what it
  /// writes: waitForPrerequisiteGrids).
  void allowDependentLaunch() {
    NVVM::GriddepcontrolOp::create(b, loc,
                                   NVVM::GridDepActionKind::launch_dependents);
  }
  /// threadIdx.x, its lane and its warp.
  std::tuple<Value, Value, Value> threadLaneWarp() {
    Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    return {tid, arith::RemUIOp::create(b, loc, tid, idx(32)),
            arith::DivUIOp::create(b, loc, tid, idx(32))};
  }
  /// The first rows of this CTA's batch (grid z) in the W4A16 operands:
  /// {activation rows, weight rows}; both 0 for unbatched weights.
  std::pair<Value, Value> batchRowOffsets(int64_t m, int64_t n, bool batched) {
    if (!batched)
      return {idx(0), idx(0)};
    Value batch = gpu::BlockIdOp::create(b, loc, gpu::Dimension::z);
    return {mul(batch, m), mul(batch, n)};
  }
  /// The sum, in order from 0.0, of the f32 values of the shared-memory
  /// `partials` at indices indexOf(0) .. indexOf(count - 1): split-K parts,
  /// added in a fixed order so that results do not depend on timing.
  Value sumInOrder(Value partials, int64_t count,
                   function_ref<Value(int64_t)> indexOf) {
    Value sum = f32Const(b, loc, 0.0f);
    for (int64_t j = 0; j < count; ++j)
      sum = arith::AddFOp::create(
          b, loc, sum,
          memref::LoadOp::create(b, loc, partials, ValueRange{indexOf(j)}));
    return sum;
  }
  /// Runs `step(s, values)` for s = 0 .. steps - 1, each returning the
  /// values the next takes: two steps per scf.for iteration, an odd last
  /// one after the loop (the wgmma kernels' loop: a step's register A
  /// operands must be written after the next step's wait, so the values an
  /// iteration carries come from its second step; see PrefillKernel.cpp).
  /// Returns the last step's values.
  SmallVector<Value> twoStepsPerIteration(
      int64_t steps, ValueRange init,
      function_ref<SmallVector<Value>(Value, ValueRange)> step);
  /// `v` combined over the warp's 32 lanes by xor shuffles (every lane
  /// gets the result).
  Value warpReduce(Value v, function_ref<Value(Value, Value)> combine);
  /// A loop over `count` items, lane `lane` taking lane, lane + 32, ...:
  /// `body(item, valid, carried)` (valid: `ok` and item < count) returns
  /// the i32 carried to the next (0 first); returns the last.
  Value forEachLaneStrided(
      Value lane, Value ok, int64_t count,
      function_ref<Value(Value item, Value valid, Value carried)> body);
  /// Where a warp of an activation rows kernel (E5M2 rows, bf16 rows)
  /// works: each row's items (16 bytes of codes, 32 codes) are cut into
  /// chunks of kActivationRowChunk, one warp per chunk, lane l taking the
  /// chunk's item l (activationRowsLaunch).
  struct ActivationRowChunk {
    Value lane;
    Value row;   ///< the activation row
    Value rowOk; ///< whether `row` is one of the rows
    Value item;  ///< this lane's item of the row
    Value valid; ///< rowOk and the item is one of the row's
    Value first; ///< rowOk and chunk 0: the warp that writes the row entry
  };
  ActivationRowChunk activationRowChunk(int64_t rows, int64_t items);
  /// {largest, smallest} of the `bytes` UE8M0 scale bytes of row `row` of
  /// `scales` (i32s, in every lane), read by the warp's lanes in turn;
  /// {0, 255} where `ok` is false.
  std::pair<Value, Value> warpScaleByteRange(Value scales, Value row,
                                             int64_t bytes, Value lane,
                                             Value ok);
  /// For the warp of chunk 0 where `needed` (warp-uniform): `check(item,
  /// valid, bad)` over every item of the row, or'ed over the warp; 0
  /// elsewhere. (The rows kernels' check of codes their format cannot
  /// hold, which only rows with a wide range of scales need.)
  Value
  wholeRowCheck(const ActivationRowChunk &chunk, Value needed, int64_t items,
                function_ref<Value(Value item, Value valid, Value bad)> check);
  /// The rows kernels' end: lane 0 of chunk 0's warp stores `entry` at
  /// `entries[row]`, then the kernel returns.
  void storeRowEntryAndReturn(const ActivationRowChunk &chunk, Value entry,
                              Value entries);
  /// The W4A16 epilogue's value of `sum` at (row, column) (of the kernel's
  /// operand `xRows`/`wRows` rows on), in `out`'s element type: times
  /// rowScales[xRows + row] where set, then through scaleForOutput with the
  /// bias of weight row wRows + column.
  Value outputValue(Value sum, Value alpha, Value out, Value bias, Value xRows,
                    Value wRows, Value row, Value column);
  /// The W4A16 epilogue's store: where `inBounds`, `sum` through
  /// scaleForOutput (the bias of weight row wRows + column) to the row-major
  /// output at (xRows + row, column), `n` columns wide.
  /// With `rowScales` set (W4A4 through the W4A16 kernels), `sum` is
  /// first multiplied by rowScales[xRows + row].
  void storeOutput(Value inBounds, Value sum, Value alpha, Value out,
                   Value bias, Value xRows, Value wRows, Value row,
                   Value column, int64_t n);
  /// Loads `type` at `index` of `buffer`, or zeros where `valid` is false
  /// (the load itself reads index 0 then, so it never leaves the buffer);
  /// a null `valid` loads unguarded.
  Value guardedLoad(VectorType type, Value buffer, Value index, Value valid,
                    int64_t align = 16);
  /// A global-memory pointer to the first byte of the 1-D i8 `buffer` (its
  /// aligned pointer plus its offset), for streamedLoad16; computed once,
  /// before the loops.
  Value globalBytes(Value buffer);
  /// The 16 bytes (a vector<16xi8>) at byte `index` of `base` (a
  /// globalBytes pointer), or zeros where `valid` is false (reading byte 0
  /// then), with `ld.global.nc.L1::no_allocate`: for FP4 weights, which a
  /// kernel reads once and nothing writes while it runs, so that they do
  /// not displace what L1 serves again (activations, scale bytes;
  /// docs/benchmarks.md). `index` must be a multiple of 16. `qualifiers`
  /// replace the cache qualifiers; a null `valid` loads unguarded.
  Value streamedLoad16(Value base, Value index, Value valid,
                       StringRef qualifiers = ".nc.L1::no_allocate");

  OpBuilder &b;
  Location loc;
  /// The W4A16 kernels' optional row scales (see DecodeShape::rowScales).
  Value rowScales;
  /// The W4A16 kernels' optional activation tensor map
  /// (DecodeShape::activationMap).
  Value activationMap;
  /// The FP4 activations' scale bytes (DecodeShape::packedActivations; the
  /// codes are w4a16Operands' x).
  Value activationScales;
};

/// A kernel builder whose kernel owns one shared-memory buffer (a global in
/// the shared address space; `shared` is its address).
class SharedBufferKernelBuilderBase : protected KernelBuilderBase {
protected:
  SharedBufferKernelBuilderBase(OpBuilder &b, Location loc, Value shared)
      : KernelBuilderBase(b, loc), shared(shared) {}

  /// A pointer `offset` bytes into the shared buffer.
  Value sharedAt(Value offset) {
    Value off = arith::IndexCastOp::create(b, loc, b.getI64Type(), offset);
    return LLVM::GEPOp::create(b, loc, shared.getType(), b.getI8Type(), shared,
                               ValueRange{off});
  }
  Value sharedAt(int64_t offset) { return sharedAt(idx(offset)); }
  /// Mbarrier `index` of the array of 8-byte mbarriers at byte `barriers`.
  Value mbarrierAt(int64_t barriers, Value index) {
    return sharedAt(add(idx(barriers), mul(index, 8)));
  }
  /// Thread `tid` 0 initialises the `count` mbarriers at byte `barriers`
  /// for one arrival each and fences the initialisation.
  void initMBarriers(Value tid, int64_t barriers, int64_t count);
  /// Loads the 2-D box of tensor map `map` (a generic pointer) at byte
  /// `column`, row `row` (i32s) by TMA into shared `dst`, its bytes counted
  /// on mbarrier `barrier`; with `predicate`, only where it holds (the
  /// predicated form takes the cluster window, which holds this CTA's
  /// shared memory at the same addresses).
  void loadBoxByTma(Value dst, Value map, Value column, Value row,
                    Value barrier, Value predicate = Value());
  /// The 32-bit shared-window address of byte `offset` of the buffer (what
  /// matrix descriptors hold).
  Value sharedAddress(Value offset) {
    return add(LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), shared),
               arith::IndexCastOp::create(b, loc, b.getI64Type(), offset));
  }
  Value sharedAddress(int64_t offset) {
    return add(LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), shared),
               i64(offset));
  }
  /// The 64-bit shared-memory matrix descriptor of wgmma and tcgen05 at
  /// shared-window `address`: start >> 4 (bits 0-13), leading byte offset
  /// >> 4 (bits 16-29), stride byte offset >> 4 (bits 32-45), and
  /// `otherBits` (tcgen05's version, bit 46; the swizzle mode, from bit 61
  /// or 62).
  Value matrixDescriptor(Value address, int64_t leadingBytes,
                         int64_t strideBytes, int64_t otherBits);
  /// Rows of 128 bytes (eight 16-byte chunks) in wgmma's K-major 128-byte
  /// swizzle, given a 1024-byte aligned region: the byte offset of chunk
  /// `chunk` of row `row` in the region at `base`, stored at chunk
  /// chunk ^ (row % 8). (For ldmatrix that also puts eight consecutive
  /// rows' chunk in eight different bank groups.)
  Value swizzledChunk(Value base, Value row, Value chunk);
  /// Makes this thread's shared-memory stores and completed cp.async copies
  /// visible to wgmma (the async proxy) once the barrier that follows has
  /// passed.
  void fenceForWgmma() {
    NVVM::FenceProxyOp::create(
        b, loc, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
  }
  /// Issues one cp.async.cg of 16 bytes per (row, chunk) of a tile of
  /// `rows` such rows at shared `buffer` (8 chunks per row; thread `tid` of
  /// `threads` takes ids tid, tid + threads, ...): `source(rowInTile,
  /// chunk)` gives {whether to copy, the byte index into the global i8
  /// pointer `base`}; where not, 0 bytes are read from `base` and 16 zeros
  /// written. A null `whether` copies unguarded. A nonzero `rowStride`
  /// (unguarded copies of rows `rowStride` bytes apart in `base`) asks
  /// `source` for the thread's first chunk only and addresses the others
  /// by constant offsets from it.
  void copySwizzledTile(
      Value base, Value tid, int64_t threads, int64_t rows, Value buffer,
      function_ref<std::pair<Value, Value>(Value rowInTile, Value chunk)>
          source,
      int64_t rowStride = 0);
  /// The wgmma descriptor of such rows at byte `offset`: leading byte
  /// offset 16 (unused by this layout), stride byte offset 1024 between
  /// 8-row groups, layout type 1 = 128-byte swizzle (bits 62-63).
  Value swizzledRowsDescriptor(Value offset);
  /// wgmma.mma_async m64nNkK with A from registers (four i32 `a`) and B,
  /// K-major, at shared descriptor `descB`, accumulating (scale-d 1): `acc`,
  /// a struct of n / 2 f32, in and out; `types` names D, A and B
  /// (".f32.bf16.bf16"), `immediates` what follows scale-d (16-bit types:
  /// scale A, scale B and B's transpose flag; 8-bit ones: the two scales).
  /// Inline PTX: upstream's nvvm.wgmma.mma_async takes A by descriptor only.
  Value wgmmaRegisterA(Value acc, ArrayRef<Value> a, Value descB, int64_t n,
                       int64_t k, StringRef types, StringRef immediates);
  /// wgmma.mma_async m64nNkK with A and B, both K-major, of element type
  /// `type` at shared descriptors `descA` and `descB`, accumulating in f32
  /// (scale-d 1): `acc`, a struct of n / 2 f32, in and out.
  Value wgmmaShared(Value acc, Value descA, Value descB, int64_t n, int64_t k,
                    NVVM::WGMMATypes type);
  /// Split-K through distributed shared memory. Each of `threads` threads
  /// has `count` f32 partial sums; value i of thread t is kept at byte
  /// partialOffset(t, i, threads) of the buffer (conflict-free).
  Value partialOffset(Value thread, Value i, int64_t threads) {
    return mul(add(thread, mul(i, threads)), 4);
  }
  Value partialOffset(Value thread, int64_t i, int64_t threads) {
    return mul(add(thread, idx(i * threads)), 4);
  }
  /// With every thread's partials stored there, in each of the `split`
  /// CTAs of the cluster (the K parts of one tile; `rank` is this one's):
  /// after a cluster barrier, CTA r adds values r * count / split .. (r + 1)
  /// * count / split - 1 of thread `tid` over all the CTAs, in rank order
  /// (so the result does not depend on timing), and passes them to `store`
  /// (the other entries null); a last cluster barrier keeps each CTA's
  /// shared memory until the others have read it.
  void sumAcrossCluster(Value tid, int64_t threads, int64_t count,
                        int64_t split, Value rank,
                        function_ref<void(ArrayRef<Value>)> store);

  Value shared;
};

/// The 32 E2M1 codes of a 16-byte piece (a vector<16xi8>, two codes per
/// byte, the even element in the low nibble) as f32 values times 2^-14:
/// nibbles k and k + 4 of each 32-bit word, moved into the halves of an
/// f16x2 (magnitude bits to 11-9, sign to 15), are exactly that (0.5 is an
/// f16 subnormal), and one conversion widens the pair.
SmallVector<Value> decodePieceTimes2PowMinus14(OpBuilder &b, Location loc,
                                               Value piece);

/// Nibbles `s` and `s + 4` (s < 4) of a 32-bit word of eight E2M1 codes
/// as a bf16 pair (an i32, element s in the low half), each the code's
/// value times 2^-126 exactly: one mask keeps the two nibbles (16 bits
/// apart), one multiply by 2^(6 - 4r) + 2^(12 - 4r) (r = s % 2) puts two
/// copies of each side by side, one mask keeps the magnitude at bf16 bits
/// 6-8 and the sign at 15 (0.5 is the subnormal 2^-127). `high` is the
/// word shifted right by 8, shared by s = 2 and 3.
Value placeNibblePairBF16(OpBuilder &b, Location loc, Value word, Value high,
                          int64_t s);

/// The `count` low scale bytes of `word` as bf16 pairs (i32) that
/// scalePlacedPairBF16 multiplies placed codes by: UE8M0 2^(E - 127) exactly
/// (bits E << 7, the subnormal 0x40 for E = 0), UE4M3 the scale times 2^118
/// (at most 448 x 2^118: finite, exact).
SmallVector<Value> blockScalePairsBF16(OpBuilder &b, Location loc, Value word,
                                       int64_t count,
                                       NVVM::BlockScaleFormat format);

/// A placed pair (placeNibblePairBF16) times its block scale pair
/// (blockScalePairsBF16), exactly (products of at most 6 significant bits,
/// within the W4A16 range limits of docs/gpu.md): UE4M3 one mul.rn.bf16x2,
/// which leaves code x scale x 2^-8 (the 2^8 belongs in the epilogue's
/// alpha); UE8M0 two, by 2^126 and then the scale: code x scale.
Value scalePlacedPairBF16(OpBuilder &b, Location loc, Value placed,
                          Value scalePair, NVVM::BlockScaleFormat format);

/// The epilogue's scale of sums of placed pairs (scalePlacedPairBF16):
/// alpha x 256 for UE4M3 scales (their products carry 2^-8: the scale's
/// 2^118 against the code's 2^-126), alpha for UE8M0.
Value placedOutputScale(OpBuilder &b, Location loc, Value alpha,
                        NVVM::BlockScaleFormat format);

/// The 32 weight values of a 16-byte piece of codes (a vector<16xi8>) times
/// their block scales (the piece's 32 / blockSize scale bytes, low first,
/// in `scaleWord`) as 16 placed bf16 pairs (placeNibblePairBF16,
/// scalePlacedPairBF16: NVFP4's carry 2^-8): pair p = 4w + s holds elements
/// 8w + s (low half) and 8w + s + 4 (high).
SmallVector<Value> expandPiecePlacedBF16(OpBuilder &b, Location loc,
                                         Value piece, Value scaleWord,
                                         const MmaKind &kind);

/// Pair `p` of 32 bf16 activation elements given as 16 words (word i:
/// elements 2i, 2i + 1), paired as expandPiecePlacedBF16 pairs the weights:
/// pair p = 4w + s holds elements 8w + s and 8w + s + 4 (one prmt).
Value pairLikePlacedBF16(OpBuilder &b, Location loc, ArrayRef<Value> words,
                         int64_t p);

/// The 32 weight values of a 16-byte piece of codes (a vector<16xi8>) times
/// their block scales (the piece's 32 / blockSize scale bytes, low first,
/// in `scaleWord`), exactly, as 16 bf16 pairs, each an i32: pair q holds
/// elements 2q (low half) and 2q + 1.
SmallVector<Value> expandPieceToBF16(OpBuilder &b, Location loc, Value piece,
                                     Value scaleWord, const MmaKind &kind);

/// The 8 values of a 32-bit word of E2M1 codes times `scale` (an f32: the
/// block scale times 2^14, as decodeScaleBytes gives it with factor 2^14),
/// exactly, as 4 bf16 pairs in expandPieceToBF16's order.
SmallVector<Value> expandWordToBF16(OpBuilder &b, Location loc, Value word,
                                    Value scale);

/// The signature of the W4A16 kernels:
///   (x : memref<?xA>, w, sw : memref<?xi8>, alpha : f32,
///    [indices : memref<?xi32>,] [bias : memref<?xf32>,] out : memref<?xR>)
struct DecodeShape;
FunctionType w4a16KernelType(OpBuilder &b, const DecodeShape &shape);

/// A software-pipelined loop of `steps` steps: `load(step)` issues the
/// loads a step needs (guarded: past the end they read zeros) and returns
/// their values; `compute(loaded, acc, step)` returns the new accumulators.
/// The loads of step s + 1 are issued before the compute of step s, so
/// memory latency overlaps the arithmetic. With `peelLast`, the last step's
/// compute follows the loop, so that `load` is never asked for step
/// `steps` (its loads need no guard for it). `afterFirstLoad`, where given,
/// builds what follows step 0's loads and comes before every compute (a
/// programmatic dependent's griddepcontrol.wait, so that those loads overlap
/// the grid before; the GEMV's activation expansion). With at most
/// `loadAllUpTo` steps, every step's loads come first, then
/// `afterFirstLoad`, then the computes, with no loop. Returns the final
/// accumulators.
SmallVector<Value>
pipelinedLoop(OpBuilder &b, Location loc, int64_t steps, ValueRange init,
              function_ref<SmallVector<Value>(Value step)> load,
              function_ref<SmallVector<Value>(ArrayRef<Value> loaded,
                                              ValueRange acc, Value step)>
                  compute,
              bool peelLast = false,
              function_ref<void()> afterFirstLoad = nullptr,
              int64_t loadAllUpTo = 0);

/// The f32 values of the first `count` (1 or 2) scale bytes of the packed
/// little-endian word `word`: UE4M3 bytes (bit 7, a sign, ignored) shifted left by 7 into the halves
/// of an f16x2 are their
/// values times 2^-8 exactly (E4M3 subnormals become f16 subnormals), one
/// conversion widens them and a multiply by 2^8 restores them; UE8M0 bytes
/// shifted into an f32's exponent are 2^(byte - 127) (byte 0, 2^-127, is
/// selected apart). The values come multiplied by `factor` (a power of
/// two, so exactly), at no cost for UE4M3.
SmallVector<Value> decodeScaleBytes(OpBuilder &b, Location loc, Value word,
                                    int64_t count,
                                    NVVM::BlockScaleFormat format,
                                    float factor = 1.0f);

/// The shape of one kernel: [E x] [M, K] x [N, K], K a multiple of 64.
struct KernelShape {
  int64_t m, n, k;
  bool batched; // grid z walks E stacked operands
  Type result;  // f32 or bf16 (the epilogue rounds once)
  bool bias = false; // the epilogue adds bias[e * N + n]
  /// Gathered experts: batch z (M = 1) uses expert indices[z] of `experts`.
  bool gathered = false;
  int64_t experts = 0;
  /// sm_100a W4A4: A and B arrive by TMA, through two tensor maps (128
  /// bytes each, in device memory) passed before the output.
  bool tensorMaps = false;
  int64_t batch = 1; // E for batched operands (grid z)
};

/// The H100's SMs: the sm_90a kernels choose tile sizes and split-K to
/// fill them.
constexpr int64_t kHopperSMs = 132;

/// The kernel signature every W4A4 builder produces, for `result` f32 or
/// bf16:
///   (a, sa, b, sb : memref<?xi8>, alpha : f32, [indices : memref<?xi32>,]
///    [bias : memref<?xf32>,] [mapA, mapB : memref<?xi8>,]
///    out : memref<?xresult>)
gpu::GPUFuncOp createKernelFunc(OpBuilder &b, Location loc, StringRef name,
                                const KernelShape &shape);

/// The optional arguments between alpha (argument number `alpha`) and the
/// output: the expert index of each batch (memref<?xi32>) with gathered
/// experts, then the bias (memref<?xf32>), then A's and B's tensor maps;
/// null where absent.
/// W4A4 through the W4A16 kernels: the row scales (memref<?xf32>) after
/// the bias.
struct OptionalArguments {
  Value indices, bias, mapA, mapB, rowScales;
};
/// The optional arguments after alpha; `tensorMaps` (0, 1 or 2) of them
/// after the row scales are TMA tensor maps (mapA, then mapB).
OptionalArguments optionalArguments(Block &entry, unsigned alpha, bool gathered,
                                    bool bias, unsigned tensorMaps = 0,
                                    bool rowScales = false);

/// Spins until phase `parity` (an i32, 0 or 1) of the mbarrier at shared
/// `barrier` has completed.
void waitMBarrier(OpBuilder &b, Location loc, Value barrier, Value parity);

/// Gathered experts: the first weight row of the expert that batch z's
/// index names, indices[z] * n. An index outside [0, experts) reads expert
/// 0 and makes `alpha` NaN, so that its row's outputs are NaN.
Value expertWeightRows(OpBuilder &b, Location loc, Value indices,
                       int64_t experts, int64_t n, Value &alpha);

/// The epilogue's value for `out`: `sum` times `alpha`, plus `bias` at
/// `biasIndex` (the weight row, e * N + n) when there is a bias, rounded
/// once to `out`'s element type (f32 or bf16). Emitted where the output is
/// in bounds: it loads the bias.
Value scaleForOutput(OpBuilder &b, Location loc, Value sum, Value alpha,
                     Value out, Value bias = {}, Value biasIndex = {});

/// A buffer of `count` f32 in workgroup (shared) memory, for a gpu.func's
/// workgroup attribution: the split-K kernels' partial sums.
MemRefType workgroupFloats(MLIRContext *ctx, int64_t count);

/// sm_100a: one 128 x 128 output tile per CTA of 128 threads, accumulated
/// in tensor memory by tcgen05.mma.block_scale (Tcgen05Kernel.cpp).
gpu::GPUFuncOp buildTcgen05Kernel(OpBuilder &b, Location loc, StringRef name,
                                  const KernelShape &shape,
                                  const MmaKind &kind);
/// sm_90a W4A4 with MXFP4 operands on the FP8 tensor cores (each code
/// times its block's power of two, relative to its row's largest, is an
/// E5M2 byte; Fp8WgmmaKernel.cpp): for MXFP4 x MXFP4, K a multiple of 128,
/// not gathered.
bool useFp8WgmmaKernel(const KernelShape &shape, const MmaKind &kind);
/// "_f8wg<tileM>[s<split>]_", or "_f8ws<tileM>_" where the weights are
/// staged: the kernel name's kind.
std::string fp8WgmmaKindName(const KernelShape &shape);
/// Whether the weights, too, go through the rows kernel first (many
/// activation rows: the matmul kernel then copies both operands' E5M2 rows
/// into shared memory instead of expanding the weights in every CTA).
bool fp8WgmmaStagesWeights(const KernelShape &shape);
std::array<int64_t, 3> fp8WgmmaLaunch(const KernelShape &shape);
int64_t fp8WgmmaSharedBytes(const KernelShape &shape);
/// The matmul kernel:
///   (a, sa, w, sw : memref<?xi8>, alpha : f32, [bias : memref<?xf32>,]
///    a8 : memref<?xi8>, rows : memref<?xi32>, [w8 : memref<?xi8>,
///    wInfo : memref<?xi32>,] out : memref<?xresult>)
/// where a8 and rows are what the rows kernel made of a and sa, and w8
/// and wInfo (staged weights) what it made of w and sw.
gpu::GPUFuncOp buildFp8WgmmaKernel(OpBuilder &b, Location loc, StringRef name,
                                   const KernelShape &shape);
/// The rows kernel, run before it on the activations: (a, sa, a8 :
/// memref<?xi8>, rows : memref<?xi32>) writes each of `rows` MXFP4 rows of
/// K codes as K E5M2 bytes (a8) and its largest scale byte (rows; -1 where
/// the row's blocks span more than E5M2 holds, or a scale is NaN).
std::string e5m2RowsName(int64_t rows, int64_t k);
gpu::GPUFuncOp buildE5M2RowsKernel(OpBuilder &b, Location loc, StringRef name,
                                   int64_t rows, int64_t k);

/// Both rows kernels run one warp per chunk of kActivationRowChunk items
/// (32 codes each) of an activation row, kActivationWarpsPerCTA per CTA:
/// 16 bytes of codes per lane (the E5M2 rows kernel an item, the bf16 rows
/// kernel four words 128 bytes apart), so that every load of the kernel is
/// in flight at once.
constexpr int64_t kActivationRowChunk = 32;
constexpr int64_t kActivationWarpsPerCTA = 8;
/// Codes per item (16 bytes of E2M1 codes) of both rows kernels.
constexpr int64_t kActivationRowItemCodes = 32;
/// Their launch geometry for `rows` rows of K codes: {grid x, 1, block x}.
inline std::array<int64_t, 3> activationRowsLaunch(int64_t rows, int64_t k) {
  int64_t chunks = (k / kActivationRowItemCodes + kActivationRowChunk - 1) /
                   kActivationRowChunk;
  return {(rows * chunks + kActivationWarpsPerCTA - 1) / kActivationWarpsPerCTA,
          1, 32 * kActivationWarpsPerCTA};
}

/// The largest UE8M0 byte that W4A4's activation expansion to bf16 takes
/// as it is (expandWordToBF16 with the scale times 2^14: 2^(240 - 127 +
/// 14) is still a finite f32); rows with larger bytes are shifted by
/// max(0, R - 240) for their largest byte R (Bf16RowsKernel.cpp, and the
/// GEMV kernel's own expansion, MmaGemvKernel.cpp, which must agree).
constexpr int64_t kLargestUnshiftedByte = 240;
/// Both expansions' pieces of that shift, i32 values: the shift of a row
/// whose largest byte is `largest`, max(0, largest - 240); the scale
/// (times 2^14, as expandWordToBF16 takes it) of byte `byte` of a row
/// shifted by `shift` (null for NVFP4, which is never shifted), decoded as
/// max(0, byte - shift); and the bits of the f32 2^shift, the row's scale.
Value activationRowShift(OpBuilder &b, Location loc, Value largest);
Value shiftedActivationScale(OpBuilder &b, Location loc, Value byte,
                             Value shift, NVVM::BlockScaleFormat format);
Value rowScaleBits(OpBuilder &b, Location loc, Value shift);

/// W4A4 as W4A16 on chips without FP4 tensor cores (Bf16RowsKernel.cpp):
/// the bf16 rows kernel (a, sa : memref<?xi8>, x : memref<?xbf16>,
/// rowScales : memref<?xf32>) writes each of `rows` FP4 activation rows of
/// K codes as K bf16 values, exactly (MXFP4 rows with scale bytes above
/// 240 shifted down by a power of two, their row scale), for a W4A16
/// decode kernel with DecodeShape::rowScales.
std::string bf16RowsName(const MmaKind &kind, int64_t rows, int64_t k);
gpu::GPUFuncOp buildBf16RowsKernel(OpBuilder &b, Location loc, StringRef name,
                                   int64_t rows, int64_t k,
                                   const MmaKind &kind);

/// A W4A16 matmul: [E x] [M, K] float activations x [N, K] FP4 weights.
struct DecodeShape {
  int64_t m, n, k;
  bool batched;    // grid z walks E stacked operands
  Type activation; // bf16, f16 or f32
  Type result;     // f32 or bf16 (the epilogue rounds once)
  int64_t batch = 1; // E for batched operands (grid z)
  bool bias = false; // the epilogue adds bias[e * N + n]
  /// Gathered experts (decode kernel only): batch z (M = 1) uses expert
  /// indices[z] of `experts`.
  bool gathered = false;
  int64_t experts = 0;
  /// W4A4 run by a W4A16 kernel (decode, tensor-core decode or prefill) on the
  /// activations expanded to bf16 by the bf16 rows kernel: an argument
  /// rowScales (memref<?xf32>, one per activation row of all batches)
  /// after the bias, each output row's sum multiplied by its entry.
  bool rowScales = false;
  /// Launched as a programmatic dependent of the kernel before it (W4A4's
  /// bf16 rows kernel): waits for that grid (griddepcontrol.wait) before it
  /// reads the activations or the row scales. The decode, GEMV and
  /// tensor-core decode kernels wait after their first step's weight loads
  /// (the GEMV with at most four steps after all of them), the
  /// weights-in-registers prefill kernels before any load.
  bool dependent = false;
  /// The activation tiles come by TMA (the wgmma prefill kernels with the
  /// weights in registers, prefillActivationCopy): an argument (memref<?xi8>)
  /// after the row scales holds x's tensor map (prefillActivationMap).
  bool activationMap = false;
  /// W4A4 on the GEMV kernel without a rows kernel (gemvExpandsActivations):
  /// the FP4 activations, codes and scale bytes (memref<?xi8> each, in the
  /// weights' format), take x's place, and each warp expands its part of
  /// them to bf16 in shared memory, exactly as the bf16 rows kernel would
  /// (MXFP4 rows shifted alike, the shift applied by the epilogue).
  bool packedActivations = false;
};

/// The W4A16 kernel for few activation rows (DecodeKernel.cpp):
///   (x : memref<?xA>, w, sw : memref<?xi8>, alpha : f32, out : memref<?xR>)
/// CUDA cores only, so it runs on every chip.
gpu::GPUFuncOp buildDecodeKernel(OpBuilder &b, Location loc, StringRef name,
                                 const DecodeShape &shape,
                                 const MmaKind &kind);
std::array<int64_t, 3> decodeLaunch(const DecodeShape &shape);
/// The warps that share each weight row of the decode kernel, each over
/// 1/S of K (1: no split).
int64_t decodeSplitK(const DecodeShape &shape);

/// The W4A16 kernel on bf16 tensor cores (MmaDecodeKernel.cpp), same
/// signature: bf16 activations with more than 8 rows (mma.sync needs sm_80).
bool useMmaDecodeKernel(const DecodeShape &shape);
gpu::GPUFuncOp buildMmaDecodeKernel(OpBuilder &b, Location loc, StringRef name,
                                    const DecodeShape &shape,
                                    const MmaKind &kind);
std::array<int64_t, 3> mmaDecodeLaunch(const DecodeShape &shape);

/// The W4A16 kernel for up to 8 bf16 activation rows on bf16 tensor cores
/// (MmaGemvKernel.cpp), same signature: the weights as mma.sync's A
/// operand, 16 weight rows per warp, S warps of a CTA splitting K. Takes
/// the shapes of the decode and tensor-core decode kernels with bf16
/// activations and at most 8 rows (gathered experts excepted).
bool useMmaGemvKernel(const DecodeShape &shape);
gpu::GPUFuncOp buildMmaGemvKernel(OpBuilder &b, Location loc, StringRef name,
                                  const DecodeShape &shape,
                                  const MmaKind &kind);
std::array<int64_t, 3> mmaGemvLaunch(const DecodeShape &shape);
/// That kernel's kind in its name: "mv", then "s<S>" where S warps share
/// each 16 weight rows, each over 1/S of K.
std::string mmaGemvKindName(const DecodeShape &shape);
/// Whether the GEMV kernel for `shape` (bf16 activations) can take W4A4's
/// FP4 activations itself (DecodeShape::packedActivations): their bf16
/// expansion and the split-K partials fit in 48 KB of static shared memory
/// per CTA.
bool gemvExpandsActivations(const DecodeShape &shape);

/// The W4A16 kernel for many activation rows (PrefillKernel.cpp), same
/// signature: output tiles of 128 (or, with wgmma, 256) activation rows,
/// the weights expanded once per CTA into shared memory, eight warps on
/// bf16 tensor cores. Its tiling is part of the kernel's name.
bool usePrefillKernel(const DecodeShape &shape);
/// The prefill kernel's output tile (activation rows x weight rows: 256 x
/// 128 with wgmma, 128 x 128 or 128 x 64, the largest that still fills the
/// SMs), the number of CTAs that split K for each tile (a cluster), and
/// the shared-memory buffers the K steps rotate through.
struct PrefillTiling {
  int64_t tileM, tileN, split, stages;
  /// wgmma with the expanded weights as operand A in registers (256 x 128
  /// and 128 x 128 tiles on sm_90a): shared memory holds only the
  /// activations.
  bool weightsInRegisters = false;
};
PrefillTiling prefillTiling(const DecodeShape &shape, bool wgmma);
/// How and when a prefill kernel copies its activation tiles to shared
/// memory.
struct ActivationCopy {
  /// Thread 0 issues one TMA box per step in a branch, counted in on the
  /// buffer's mbarrier (the kernels with the weights in registers); else
  /// every thread copies 16-byte pieces with cp.async.
  bool byTma = false;
  /// Step s + 2's copy is issued as step s starts (after its barrier), not
  /// after step s's first wgmma.
  bool atStepStart = false;
};
/// The activation copy of the prefill kernel of `shape` with weights of
/// `kind`: by TMA for those with the weights in registers, at the step's
/// start or after its first wgmma, each the fastest measured on the H100
/// for its format and tile (a ptxas schedule of the same loop;
/// docs/benchmarks.md). With TMA the shape must have activationMap set and
/// the caller pass x's tensor map (e * M rows of 2 K bytes, boxes of 128
/// bytes x tileM rows, 128-byte swizzle).
ActivationCopy prefillActivationCopy(const DecodeShape &shape,
                                     const MmaKind &kind, bool wgmma);
/// With `wgmma` (sm_90a only), each of the two warpgroups multiplies its
/// half of the rows with wgmma.mma_async reading both operands from shared
/// memory, instead of ldmatrix + mma.sync.
/// `sharedPerSM` is the chip's shared memory per SM: two CTAs per SM are
/// asked of ptxas (128 registers) only where their buffers fit.
gpu::GPUFuncOp buildPrefillKernel(OpBuilder &b, Location loc, StringRef name,
                                  const DecodeShape &shape,
                                  const MmaKind &kind, bool wgmma,
                                  int64_t sharedPerSM);
std::array<int64_t, 3> prefillLaunch(const DecodeShape &shape, bool wgmma);
/// The dynamic shared memory the prefill kernel needs at its launch (its
/// buffers, or the split-K partials, and alignment slack: more than the
/// default 48 KB, which the runtime raises for the kernel).
int64_t prefillSharedBytes(const DecodeShape &shape, bool wgmma);

/// The launch geometry of buildTcgen05Kernel's kernel for `shape`:
/// {grid x, grid y, block x}.
std::array<int64_t, 3> tcgen05Launch(const KernelShape &shape);

} // namespace mlir::fp4::nvvm_kernels

#endif // FP4_LIB_CONVERSION_FP4TONVVM_KERNELS_H
