//===- TileCPUContractions.cpp - cache tiling of the CPU matmuls ----------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Conversion/Passes.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Interfaces/TilingInterface.h"

namespace mlir::fp4 {
#define GEN_PASS_DEF_FP4TILECPUCONTRACTIONS
#include "fp4/Conversion/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;
using namespace mlir::fp4;

namespace {

/// Tile of transposing decodes over their loops (.., n, k): 64 output
/// columns (a 256-byte run of each written row) by 8 rows of k. Measured on
/// a 4096 x 4096 weight (docs/benchmarks.md): 56 ms, against 108 ms for
/// 32 x 32, 99 ms for 8 x 8 and 123 ms for 8 x 64; power-of-two row strides
/// make taller tiles collide in the L1 cache's sets.
constexpr int64_t kTransposeTileN = 64;
constexpr int64_t kTransposeTileK = 8;

struct FP4TileCPUContractionsPass
    : public mlir::fp4::impl::FP4TileCPUContractionsBase<
          FP4TileCPUContractionsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (mTile < 0 || nTile < 0) {
      getOperation()->emitError("fp4-tile-cpu-contractions: tile sizes must "
                                "be 0 (not tiled) or positive");
      return signalPassFailure();
    }
    SmallVector<std::pair<linalg::GenericOp, SmallVector<int64_t>>> work;
    getOperation()->walk([&](linalg::GenericOp op) {
      unsigned loops = op.getNumLoops();
      if (op->hasAttr(kCPUContractionAttr) && (loops == 3 || loops == 4) &&
          (mTile > 0 || nTile > 0)) {
        // Loops ([b,] k, m, n): one batch at a time, k whole, m and n tiled.
        SmallVector<int64_t> sizes(loops, 0);
        if (loops == 4)
          sizes[0] = 1; // one batch (expert) at a time
        sizes[loops - 2] = mTile;
        sizes[loops - 1] = nTile;
        work.push_back({op, sizes});
      } else if (op->hasAttr(kCPUTransposeAttr) && loops >= 2) {
        // A decode that writes its result transposed: small tiles keep the
        // written rows in the cache until their lines are full.
        SmallVector<int64_t> sizes(loops, 1);
        sizes[loops - 2] = kTransposeTileN;
        sizes[loops - 1] = kTransposeTileK;
        work.push_back({op, sizes});
      }
      op->removeAttr(kCPUContractionAttr);
      op->removeAttr(kCPUTransposeAttr);
    });
    IRRewriter rewriter(&getContext());
    for (auto &[op, sizes] : work) {
      auto tileable = dyn_cast<TilingInterface>(op.getOperation());
      if (!tileable)
        continue; // only a performance step: the untiled loop is correct
      scf::SCFTilingOptions options;
      options.setTileSizes(getAsIndexOpFoldResult(&getContext(), sizes));
      rewriter.setInsertionPoint(op);
      FailureOr<scf::SCFTilingResult> tiled =
          scf::tileUsingSCF(rewriter, tileable, options);
      if (failed(tiled)) {
        op.emitError("fp4-tile-cpu-contractions: tiling failed");
        return signalPassFailure();
      }
      rewriter.replaceOp(op, tiled->replacements);
    }
  }
};

} // namespace
