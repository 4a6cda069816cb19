//===- FreeHostBuffers.cpp - free the host buffers of GPU host code -------===//
//
// Part of fp4-mlir.
//
// Host code with GPU launches cannot go through ownership-based buffer
// deallocation: it refuses gpu.wait (unknown memory effects) and would
// free the device buffers of gpu.alloc and the runtime's resident weights
// too. The host buffers that bufferization allocates are simple, though:
// allocated in the function's body, read by host loops and by asynchronous
// copies that a gpu.wait completes before the function returns. This pass
// frees each such buffer just before the return, unless it (or a view of
// it) is returned.
//
//===----------------------------------------------------------------------===//

#include "fp4/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/BufferViewFlowAnalysis.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/CallInterfaces.h"

namespace mlir::fp4 {
#define GEN_PASS_DEF_FP4FREEHOSTBUFFERS
#include "fp4/Conversion/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;

namespace {

struct FP4FreeHostBuffersPass
    : public mlir::fp4::impl::FP4FreeHostBuffersBase<FP4FreeHostBuffersPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    // One block (structured control flow): every return is in it, after
    // every allocation of the body.
    if (func.isExternal() || !func.getBody().hasOneBlock())
      return;
    Block &body = func.getBody().front();
    auto ret = dyn_cast<func::ReturnOp>(body.getTerminator());
    if (!ret)
      return;
    BufferViewFlowAnalysis aliases(func);
    OpBuilder b(ret);
    for (auto alloc : body.getOps<memref::AllocOp>()) {
      // Kept: a buffer returned; passed to a call that returns a memref
      // (which might be the buffer: the analysis does not look into calls);
      // whose pointer leaves as a non-memref value (the analysis cannot
      // follow it); or already freed.
      bool kept = false;
      for (Value alias : aliases.resolve(alloc.getResult())) {
        kept |= llvm::is_contained(ret.getOperands(), alias);
        for (Operation *user : alias.getUsers()) {
          if (auto call = dyn_cast<CallOpInterface>(user))
            kept |= llvm::any_of(call->getResultTypes(),
                                 llvm::IsaPred<BaseMemRefType>);
          kept |= isa<memref::DeallocOp, memref::ExtractAlignedPointerAsIndexOp,
                      memref::ExtractStridedMetadataOp,
                      UnrealizedConversionCastOp>(user);
        }
      }
      if (!kept)
        memref::DeallocOp::create(b, alloc.getLoc(), alloc.getResult());
    }
  }
};

} // namespace
