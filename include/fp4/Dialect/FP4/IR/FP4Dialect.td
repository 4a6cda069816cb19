//===- FP4Dialect.td - fp4 dialect definition ------------*- tablegen -*-===//
//
// Part of fp4-mlir. The `fp4` dialect: quantized tensors in 4-bit and 8-bit
// floating-point formats with their scales.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_IR_FP4DIALECT_TD
#define FP4_DIALECT_FP4_IR_FP4DIALECT_TD

include "mlir/IR/OpBase.td"

def FP4_Dialect : Dialect {
  let name = "fp4";
  let cppNamespace = "::mlir::fp4";
  let summary = "Block-scaled FP4/FP8 quantized tensors and the ops on them";
  let description = [{
    The `fp4` dialect represents tensors quantized to narrow floating-point
    formats together with the scales that give them meaning:

    * element formats: E2M1 (builtin `f4E2M1FN`), FP8 E4M3 (`f8E4M3FN`) and
      E5M2 (`f8E5M2`), the NF4 codebook (`!fp4.nf4`) and the research 4-bit
      variants E1M2 (`!fp4.e1m2`) and E3M0 (`!fp4.e3m0`, CPU/emulation only);
    * scale formats: FP32, BF16, UE4M3 and UE8M0;
    * granularities: per-tensor, per-channel (along one axis), per-block
      (blocks of `size` consecutive elements along one axis) and two-level
      block scaling (an NVFP4 UE4M3 block scale under a per-tensor FP32 scale).

    A value of type `!fp4.qtensor` is the logical (dequantized) tensor; its
    storage form is a tuple of ordinary tensors (packed data, scales and an
    optional global scale) that `fp4.disassemble` views and `fp4.assemble`
    builds. `docs/formats.md` explains every format with a worked example.
  }];
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
  private:
    void registerAttributes();
    void registerTypes();
  }];
}

#endif // FP4_DIALECT_FP4_IR_FP4DIALECT_TD
