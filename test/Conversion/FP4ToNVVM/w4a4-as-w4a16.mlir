// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90a | FileCheck %s
// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90a | FileCheck %s --check-prefix=ROWS
// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90 | FileCheck %s --check-prefix=SM90
// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_100a | FileCheck %s --check-prefix=SM100

// Hopper has no FP4 tensor cores: W4A4 runs as W4A16 (except MXFP4 with
// more than 16 rows and K a multiple of 128: wgmma-fp8.mlir). With one
// activation row of 4096 the GEMV kernel (MmaGemvKernel.cpp) takes the
// MXFP4 activation itself, codes and scale bytes in place of the bf16
// rows: one launch, no rows kernel, no dependent launch.
// CHECK-LABEL: func.func @decode
// CHECK-NOT: bf16rows
// CHECK-NOT: fp4gpuLaunchNextAsDependent
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_w4a4mvs16_1x4096x4096_bf16 blocks in (%c256{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c512{{.*}}, %c1{{.*}}, %c1{{.*}}) args(%{{.*}} : memref<?xi8>, %{{.*}} : memref<?xi8>, %{{.*}} : memref<?xi8>, %{{.*}} : memref<?xi8>, %{{.*}} : f32, %{{.*}} : memref<?xbf16>)
// Each of its 16 warps expands its 256 elements of the row into a static
// shared buffer: 16 x (256 bf16 + 16 bytes of padding).
// CHECK: llvm.mlir.global internal @fp4_mxfp4_w4a4mvs16_1x4096x4096_bf16_smem() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<8448 x i8>
// CHECK: gpu.func @fp4_mxfp4_w4a4mvs16_1x4096x4096_bf16(%[[A:[^:]*]]: memref<?xi8>, %[[SA:[^:]*]]: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: f32, %{{.*}}: memref<?xbf16>)
// CHECK-NOT: nvvm.griddepcontrol
// First every weight load (two steps, two rows each), then the lane's word
// of 8 codes and its scale byte, then the row's largest scale byte (the
// scan, xor shuffles) for the shift max(0, R - 240), as the rows kernel.
// CHECK-COUNT-4: llvm.inline_asm "ld.global.nc
// CHECK: vector.load %[[A]][%{{.*}}] {alignment = 4 : i64} : memref<?xi8>, vector<4xi8>
// CHECK: vector.load %[[SA]][%{{.*}}] {alignment = 1 : i64} : memref<?xi8>, vector<1xi8>
// CHECK: scf.for
// CHECK: vector.load %[[SA]]
// CHECK: gpu.shuffle  xor
// CHECK: arith.constant 240 : i32
// A nonzero code in a block below the shift is NaN (its row's outputs
// NaN, as the rows kernel's NaN row scale makes them); one 16-byte store
// of the word's 8 bf16 values, then the warp synchronizes.
// CHECK: arith.constant 2004318071 : i32
// CHECK: arith.constant 2143289344 : i32
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// CHECK: nvvm.bar.warp.sync
// Each step reads its piece of the expanded row from shared memory.
// CHECK-NOT: vector.load %[[A]]
// CHECK-COUNT-4: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xi32>
// CHECK: nvvm.mma.sync
// CHECK-COUNT-4: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xi32>
// CHECK-NOT: vector.load %[[A]]
// CHECK: nvvm.mma.sync
// After the split-K sum, the epilogue multiplies each sum by 2^shift
// before alpha.
// CHECK: gpu.barrier
// CHECK: arith.constant 127 : i32
// CHECK: arith.shli %{{.*}}, %c23_i32{{.*}} : i32
// CHECK: arith.mulf
// sm_90 takes the same route (its W4A16 kernels run there).
// SM90: @fp4_kernels::@fp4_mxfp4_w4a4mvs16_1x4096x4096_bf16
// sm_100a has FP4 tensor cores: the tcgen05 kernel stays.
// SM100-LABEL: func.func @decode
// SM100-NOT: bf16rows
// SM100: @fp4_kernels::@fp4_mxfp4_mma_1x4096x4096_bf16
func.func @decode(%ad: tensor<1x2048xi8>, %as: tensor<1x128xf8E8M0FNU>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x128xf8E8M0FNU>) -> tensor<1x4096xbf16> {
  %a = fp4.assemble %ad, %as : tensor<1x2048xi8>, tensor<1x128xf8E8M0FNU> -> !fp4.qtensor<1x4096xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<4096x2048xi8>, tensor<4096x128xf8E8M0FNU> -> !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<1x4096xf4E2M1FN, mxfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4> -> tensor<1x4096xbf16>
  return %y : tensor<1x4096xbf16>
}

// -----

// Eight rows of 8192 do not fit the GEMV kernel's shared memory (16 warps
// x 8 rows x 512 bf16, 130 KB): the bf16 rows kernel expands the MXFP4
// activations into a device buffer of bf16 values and one f32 row scale
// per row, then the W4A16 GEMV kernel takes them in place of the FP4
// operand, the row scales before the output, and multiplies each sum by
// its row's scale.
// CHECK-LABEL: func.func @decode_8_rows
// CHECK: gpu.alloc async [%{{.*}}] () : memref<65536xbf16>
// CHECK: gpu.alloc async [%{{.*}}] () : memref<8xf32>
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_bf16rows_8x8192 blocks in (%c8{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}, %c1{{.*}}, %c1{{.*}}) args(%{{.*}} : memref<?xi8>, %{{.*}} : memref<?xi8>, %{{.*}} : memref<?xbf16>, %{{.*}} : memref<?xf32>)
// The matmul is launched as a programmatic dependent of the rows kernel
// (the runtime call just before it): it issues all its weight loads (a
// warp has four steps, two rows each: eight loads), then waits for the
// rows kernel's grid before it reads the bf16 rows; no loop.
// CHECK: call @fp4gpuLaunchNextAsDependent() : () -> ()
// CHECK-NOT: gpu.
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_w4a4x16mvs16_8x256x8192 {{.*}} args(%{{.*}} : memref<?xbf16>, %{{.*}} : memref<?xi8>, %{{.*}} : memref<?xi8>, %{{.*}} : f32, %{{.*}} : memref<?xf32>, %{{.*}} : memref<?xf32>)
// CHECK: gpu.func @fp4_mxfp4_w4a4x16mvs16_8x256x8192(%[[X:.*]]: memref<?xbf16>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: f32, %[[SCALES:.*]]: memref<?xf32>, %{{.*}}: memref<?xf32>)
// CHECK-NOT: vector.load %[[X]]
// CHECK-COUNT-8: llvm.inline_asm "ld.global.nc
// CHECK-NOT: vector.load %[[X]]
// CHECK: nvvm.griddepcontrol wait
// CHECK-NOT: scf.for
// CHECK: vector.load %[[X]]
// CHECK: scf.if
// CHECK: %[[S:.*]] = memref.load %[[SCALES]][%{{.*}}] : memref<?xf32>
// CHECK: arith.mulf %{{.*}}, %[[S]] : f32
// The rows kernel: a warp per chunk of 32 x 32 codes (the row of 8192 in
// eight: row = warp / 8); every warp reads the row's scale bytes for the
// largest R and the smallest (xor shuffles), the shift max(0, R - 240);
// each lane's 32 codes as four 16-byte stores of 8 bf16; then chunk 0's
// warp, only where a byte is below the shift, reads the whole row for
// nonzero codes in such blocks (a lost row), and its lane 0 writes
// 2^shift or NaN.
// ROWS-LABEL: gpu.func @fp4_mxfp4_bf16rows_8x8192(
// ROWS-NEXT: nvvm.griddepcontrol launch_dependents
// ROWS: arith.divui %{{.*}}, %c8{{(_[0-9]+)?}} : index
// ROWS-COUNT-10: gpu.shuffle  xor
// ROWS: arith.constant 240 : i32
// ROWS: arith.maxsi
// ROWS: arith.cmpi slt
// ROWS-COUNT-4: vector.store %{{.*}} : memref<?xbf16>, vector<8xbf16>
// ROWS: scf.if
// ROWS: scf.for
// ROWS: arith.cmpi slt
// ROWS: gpu.shuffle  xor
// ROWS: arith.constant 2143289344 : i32
// ROWS: memref.store %{{.*}} : memref<?xf32>
// SM90: @fp4_kernels::@fp4_mxfp4_w4a4x16mvs16_8x256x8192
func.func @decode_8_rows(%ad: tensor<8x4096xi8>, %as: tensor<8x256xf8E8M0FNU>, %bd: tensor<256x4096xi8>, %bs: tensor<256x256xf8E8M0FNU>) -> tensor<8x256xf32> {
  %a = fp4.assemble %ad, %as : tensor<8x4096xi8>, tensor<8x256xf8E8M0FNU> -> !fp4.qtensor<8x8192xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<256x4096xi8>, tensor<256x256xf8E8M0FNU> -> !fp4.qtensor<256x8192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<8x8192xf4E2M1FN, mxfp4>, !fp4.qtensor<256x8192xf4E2M1FN, mxfp4> -> tensor<8x256xf32>
  return %y : tensor<8x256xf32>
}

// -----

// NVFP4: the tensor-core decode kernel (bf16 mma.sync) for 16 and 17
// rows, the prefill kernel (wgmma) for 64; the rows kernel needs no shift
// (UE4M3 scales; the global scales are in alpha), so no scan.
// CHECK-LABEL: func.func @nvfp4
// The tensor-core decode kernels are programmatic dependents of the rows
// kernel (they wait after their first weight loads); the prefill kernel
// is launched plainly.
// CHECK: @fp4_kernels::@fp4_nvfp4_bf16rows_16x256
// CHECK: call @fp4gpuLaunchNextAsDependent()
// CHECK: @fp4_kernels::@fp4_nvfp4_w4a4x16tc_16x64x256
// CHECK: @fp4_kernels::@fp4_nvfp4_bf16rows_17x256
// CHECK: call @fp4gpuLaunchNextAsDependent()
// CHECK: @fp4_kernels::@fp4_nvfp4_w4a4x16tc_17x64x256
// CHECK: @fp4_kernels::@fp4_nvfp4_bf16rows_64x256
// CHECK-NOT: fp4gpuLaunchNextAsDependent
// CHECK: @fp4_kernels::@fp4_nvfp4_w4a4x16wg64_64x64x256
// The tensor-core decode kernel's first step: every chunk's weights, the
// wait, then the activation rows (bf16, arg 0).
// CHECK: gpu.func @fp4_nvfp4_w4a4x16tc_16x64x256(%[[TX:[^:]*]]: memref<?xbf16>
// CHECK-NOT: vector.load %[[TX]]
// CHECK: llvm.inline_asm "ld.global.nc
// CHECK-NOT: vector.load %[[TX]]
// CHECK: nvvm.griddepcontrol wait
// CHECK: vector.load %[[TX]]
// NVFP4 row scales are all 1: the W4A16 kernels take none.
// CHECK: gpu.func @fp4_nvfp4_w4a4x16wg64_64x64x256(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: f32, %{{.*}}: memref<?xf32>) kernel
// CHECK-NOT: nvvm.griddepcontrol
// CHECK: gpu.return
// ROWS-LABEL: gpu.func @fp4_nvfp4_bf16rows_16x256(
// ROWS-NOT: gpu.shuffle
// Lane l expands words l, l + 32, l + 64 and l + 96 of its warp's chunk:
// a scale byte per word (two words per NVFP4 block), then the four words,
// then a 16-byte store of each word's 8 bf16 values.
// ROWS-COUNT-4: arith.divui %{{.*}}, %c2{{(_[0-9]+)?}} : index
// ROWS-NOT: vector.store
// ROWS-COUNT-4: vector.load %arg0[%{{.*}}] {alignment = 4 : i64} : memref<?xi8>, vector<4xi8>
// ROWS-NOT: vector.load
// ROWS-COUNT-4: vector.store %{{.*}}, %arg2[%{{.*}}] {alignment = 16 : i64} : memref<?xbf16>, vector<8xbf16>
// ROWS-NOT: vector.store
// ROWS: gpu.return
func.func @nvfp4(%ad: tensor<16x128xi8>, %as: tensor<16x16xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<64x128xi8>, %bs: tensor<64x16xf8E4M3FN>, %bg: tensor<f32>,
                 %cd: tensor<17x128xi8>, %cs: tensor<17x16xf8E4M3FN>, %ed: tensor<64x128xi8>, %es: tensor<64x16xf8E4M3FN>) -> (tensor<16x64xf32>, tensor<17x64xf32>, tensor<64x64xf32>) {
  %a = fp4.assemble %ad, %as, %ag : tensor<16x128xi8>, tensor<16x16xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<16x256xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<64x128xi8>, tensor<64x16xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<64x256xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x256xf4E2M1FN, nvfp4>, !fp4.qtensor<64x256xf4E2M1FN, nvfp4> -> tensor<16x64xf32>
  %c = fp4.assemble %cd, %cs, %ag : tensor<17x128xi8>, tensor<17x16xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<17x256xf4E2M1FN, nvfp4>
  %z = fp4.scaled_matmul %c, %b : !fp4.qtensor<17x256xf4E2M1FN, nvfp4>, !fp4.qtensor<64x256xf4E2M1FN, nvfp4> -> tensor<17x64xf32>
  %e = fp4.assemble %ed, %es, %ag : tensor<64x128xi8>, tensor<64x16xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<64x256xf4E2M1FN, nvfp4>
  %v = fp4.scaled_matmul %e, %b : !fp4.qtensor<64x256xf4E2M1FN, nvfp4>, !fp4.qtensor<64x256xf4E2M1FN, nvfp4> -> tensor<64x64xf32>
  return %y, %z, %v : tensor<16x64xf32>, tensor<17x64xf32>, tensor<64x64xf32>
}

// -----

// MXFP4 with K % 128 != 0 (not the FP8 kernel's) and 64 rows: the prefill
// kernel, which multiplies by the row scales too.
// CHECK-LABEL: func.func @mxfp4_prefill
// CHECK: @fp4_kernels::@fp4_mxfp4_bf16rows_64x320
// CHECK: @fp4_kernels::@fp4_mxfp4_w4a4x16wg64_64x64x320
// CHECK: gpu.func @fp4_mxfp4_w4a4x16wg64_64x64x320(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: f32, %[[PS:.*]]: memref<?xf32>, %{{.*}}: memref<?xf32>)
// CHECK: memref.load %[[PS]]
func.func @mxfp4_prefill(%ad: tensor<64x160xi8>, %as: tensor<64x10xf8E8M0FNU>, %bd: tensor<64x160xi8>, %bs: tensor<64x10xf8E8M0FNU>) -> tensor<64x64xf32> {
  %a = fp4.assemble %ad, %as : tensor<64x160xi8>, tensor<64x10xf8E8M0FNU> -> !fp4.qtensor<64x320xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<64x160xi8>, tensor<64x10xf8E8M0FNU> -> !fp4.qtensor<64x320xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<64x320xf4E2M1FN, mxfp4>, !fp4.qtensor<64x320xf4E2M1FN, mxfp4> -> tensor<64x64xf32>
  return %y : tensor<64x64xf32>
}

// -----

// NVFP4 with 128 rows: the prefill kernel that keeps the weights in
// registers (128 x 128 tiles, K split in 4) is a programmatic dependent of
// the rows kernel too, waiting for it after its mbarriers are set up and
// before the first TMA copy of the rows (x, arg 0).
// CHECK-LABEL: func.func @nvfp4_in_registers
// The tensor map of the rows is encoded and copied before the rows
// kernel's launch, so that the matmul follows the rows kernel itself on
// the stream.
// CHECK: call @fp4gpuEncodeTensorMap
// CHECK: gpu.memcpy
// CHECK-NOT: gpu.
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_bf16rows_128x4096
// CHECK-NOT: gpu.
// CHECK: call @fp4gpuLaunchNextAsDependent()
// CHECK-NOT: gpu.
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_w4a4x16wr128s4_128x4096x4096_bf16
// CHECK: gpu.func @fp4_nvfp4_w4a4x16wr128s4_128x4096x4096_bf16(
// CHECK: nvvm.mbarrier.init
// CHECK-NOT: nvvm.cp.async.bulk.tensor
// CHECK: nvvm.griddepcontrol wait
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global
// SM90-LABEL: func.func @nvfp4_in_registers
// SM90-NOT: fp4gpuLaunchNextAsDependent
// SM90: @fp4_kernels::@fp4_nvfp4_w4a4x16pf
func.func @nvfp4_in_registers(%ad: tensor<128x2048xi8>, %as: tensor<128x256xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x256xf8E4M3FN>, %bg: tensor<f32>) -> tensor<128x4096xbf16> {
  %a = fp4.assemble %ad, %as, %ag : tensor<128x2048xi8>, tensor<128x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<128x4096xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<4096x2048xi8>, tensor<4096x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<128x4096xf4E2M1FN, nvfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4> -> tensor<128x4096xbf16>
  return %y : tensor<128x4096xbf16>
}
