// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_100a | FileCheck %s

// sm_100a: one CTA of 128 threads per 128 x 128 output tile (grid
// ceil(N/128) x ceil(M/128)); 18480 bytes of shared memory (two stages of
// A, B and their scale blocks, four mbarriers, the tensor-memory slot).
// The host encodes A's (34 rows of 64 bytes, from the address of its
// device buffer's first element) and B's (18 rows) TMA tensor maps (boxes
// of 16 bytes x 128 rows, no swizzle) through the GPU runtime, copies them to the device with the call
// and passes them before the output; the host maps are freed after the
// stream's wait.
// Set-up: thread 0 initializes the mbarriers, warp 0 allocates 256
// tensor-memory columns and gives up its permit.
// CHECK: func.func private @fp4gpuEncodeTensorMap(memref<?xi8>, index, i64, i64, i64, i64, i64) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @nvfp4(
// CHECK: %[[ALPHA:.*]] = arith.mulf
// CHECK: %[[MAPA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<128xi8>
// CHECK: %[[ADDRA:.*]] = arith.addi %{{.*}}, %{{.*}} : index
// CHECK: call @fp4gpuEncodeTensorMap(%{{.*}}, %[[ADDRA]], %c34_i64, %c64_i64, %c16_i64, %c128_i64, %c0_i64) : (memref<?xi8>, index, i64, i64, i64, i64, i64) -> ()
// CHECK: gpu.memcpy async [%{{.*}}] %{{.*}}, %[[MAPA]] : memref<128xi8>, memref<128xi8>
// CHECK: call @fp4gpuEncodeTensorMap(%{{.*}}, %{{.*}}, %c18_i64, %c64_i64{{.*}}, %c16_i64{{.*}}, %c128_i64{{.*}}, %c0_i64{{.*}})
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_mma_34x18x128 blocks in (%c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c128, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) args({{.*}} : f32, %{{.*}} : memref<?xi8>, %{{.*}} : memref<?xi8>, %{{.*}} : memref<?xf32>)
// CHECK: gpu.wait [%{{.*}}]
// CHECK-NEXT: memref.dealloc %[[MAPA]]
// CHECK-NEXT: memref.dealloc
// CHECK: gpu.module @fp4_kernels [#nvvm.target<chip = "sm_100a", features = "+ptx88">]
// CHECK: llvm.mlir.global internal @fp4_nvfp4_mma_34x18x128_smem() {addr_space = 3 : i32, alignment = 1024 : i64} : !llvm.array<18480 x i8>
// CHECK: gpu.func @fp4_nvfp4_mma_34x18x128(
// CHECK-COUNT-2: llvm.addrspacecast %{{.*}} : !llvm.ptr<1> to !llvm.ptr
// CHECK-COUNT-4: nvvm.mbarrier.init
// CHECK: nvvm.tcgen05.alloc %{{.*}}, %c256_i32 : !llvm.ptr<3>, i32
// CHECK-NEXT: nvvm.tcgen05.relinquish_alloc_permit
// CHECK: nvvm.tcgen05.fence <before>
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: nvvm.tcgen05.fence <after>
// The K loop (K = 128: two steps). Refilling a stage waits for the MMA
// that read it; thread 0 announces the stage's 8192 operand bytes on its
// load barrier and issues four TMA boxes of 16 bytes x 128 rows (A's two
// columns, then B's); every thread stores its scale words, then the
// async-proxy fence and a barrier.
// CHECK: scf.for
// CHECK: scf.while
// CHECK: nvvm.mbarrier.try_wait
// CHECK: nvvm.mbarrier.arrive.expect_tx %[[LOADED:.*]], %c8192_i32
// CHECK-COUNT-4: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %{{.*}}, %[[LOADED]], box[%{{.*}}, %{{.*}}] {isCTAOnly = true} : !llvm.ptr<3>, !llvm.ptr
// CHECK-NOT: vector<16xi8>
// CHECK: vector.load {{.*}} {alignment = 4 : i64} : memref<?xi8>, vector<4xi8>
// CHECK: llvm.store {{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<3>
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// Thread 0: waits for the stage's loads, copies both scale blocks into
// tensor memory, then the MMA with the instruction descriptor 0x08200480
// (E2M1 x E2M1, N = 128, M = 128, UE4M3), committed to the stage's mbarrier.
// CHECK: nvvm.mbarrier.try_wait
// CHECK: nvvm.tcgen05.cp {{.*}} {multicast = #nvvm.tcgen05_cp_multicast<warpx4>, shape = #nvvm.tcgen05_cp_shape<shape_32x128b>}
// CHECK: nvvm.tcgen05.cp {{.*}} {multicast = #nvvm.tcgen05_cp_multicast<warpx4>, shape = #nvvm.tcgen05_cp_shape<shape_32x128b>}
// CHECK: nvvm.tcgen05.mma.block_scale {{.*}}, %c136316032_i32, {{.*}} {blockScale = #nvvm.tcgen05_mma_block_scale<block16>, ctaGroup = #nvvm.cta_group<cta_1>, kind = #nvvm.block_scale_kind<mxf4nvf4>} : (!llvm.ptr<6>, i64, i64, i32, i1, !llvm.ptr<6>, !llvm.ptr<6>)
// CHECK-NOT: nvvm.
// CHECK: nvvm.tcgen05.commit
// Epilogue: wait for the last MMA, four 32-column loads per thread,
// scaled by alpha; then warp 0 frees the tensor memory.
// CHECK: nvvm.mbarrier.try_wait
// CHECK: nvvm.tcgen05.ld {{.*}} {shape = #nvvm.tcgen05_ldst_shape<shape_32x32b>} : vector<32xi32>
// CHECK-NEXT: nvvm.tcgen05.wait <load>
// CHECK: arith.mulf %{{.*}}, %arg4 : f32
// CHECK: memref.store
// CHECK-COUNT-3: nvvm.tcgen05.ld
// CHECK: nvvm.tcgen05.fence <before>
// CHECK-NEXT: gpu.barrier
// CHECK: nvvm.tcgen05.dealloc %{{.*}}, %c256_i32 : !llvm.ptr<6>, i32
func.func @nvfp4(%ad: tensor<34x64xi8>, %as: tensor<34x8xf8E4M3FN>, %ag: tensor<f32>,
                 %bd: tensor<18x64xi8>, %bs: tensor<18x8xf8E4M3FN>, %bg: tensor<f32>) -> tensor<34x18xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<34x64xi8>, tensor<34x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<34x128xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<18x64xi8>, tensor<18x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<18x128xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<34x128xf4E2M1FN, nvfp4>, !fp4.qtensor<18x128xf4E2M1FN, nvfp4> -> tensor<34x18xf32>
  return %y : tensor<34x18xf32>
}

// -----

// MXFP4: kind::mxf4 with block32 scales (UE8M0: descriptor bit 23,
// 0x08A00480); two scale bytes per row and K step, zero-padded to the
// word tcgen05.cp copies. Stacked experts: grid z = E, 300 x 200 gives a
// 2 x 3 grid of tiles.
// CHECK-LABEL: func.func @mxfp4_experts(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_mma_E4x300x200x64 blocks in (%c2{{(_[0-9]+)?}}, %c3{{(_[0-9]+)?}}, %c4{{(_[0-9]+)?}})
// CHECK: gpu.func @fp4_mxfp4_mma_E4x300x200x64(
// CHECK: gpu.block_id  z
// CHECK: vector.load {{.*}} {alignment = 2 : i64} : memref<?xi8>, vector<2xi8>
// CHECK: nvvm.tcgen05.mma.block_scale {{.*}}, %c144704640_i32, {{.*}} {blockScale = #nvvm.tcgen05_mma_block_scale<block32>, ctaGroup = #nvvm.cta_group<cta_1>, kind = #nvvm.block_scale_kind<mxf4>}
func.func @mxfp4_experts(%ad: tensor<4x300x32xi8>, %as: tensor<4x300x2xf8E8M0FNU>,
                         %bd: tensor<4x200x32xi8>, %bs: tensor<4x200x2xf8E8M0FNU>) -> tensor<4x300x200xf32> {
  %a = fp4.assemble %ad, %as : tensor<4x300x32xi8>, tensor<4x300x2xf8E8M0FNU> -> !fp4.qtensor<4x300x64xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<4x200x32xi8>, tensor<4x200x2xf8E8M0FNU> -> !fp4.qtensor<4x200x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<4x300x64xf4E2M1FN, mxfp4>, !fp4.qtensor<4x200x64xf4E2M1FN, mxfp4> -> tensor<4x300x200xf32>
  return %y : tensor<4x300x200xf32>
}

// -----

// A bf16 result: after tcgen05.ld, each value is scaled by alpha in f32 and
// rounded once into the bf16 output.
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_mma_130x70x64_bf16 blocks
// CHECK: gpu.func @fp4_mxfp4_mma_130x70x64_bf16({{.*}}, %{{.*}}: f32, {{.*}}, %[[OUT:[^:]*]]: memref<?xbf16>) kernel
// CHECK: nvvm.tcgen05.ld
// CHECK: %[[SCALED:.*]] = arith.mulf
// CHECK-NEXT: %[[ROUNDED:.*]] = arith.truncf %[[SCALED]] : f32 to bf16
// CHECK-NEXT: memref.store %[[ROUNDED]], %[[OUT]]
func.func @mxfp4_bf16(%ad: tensor<130x32xi8>, %as: tensor<130x2xf8E8M0FNU>,
                      %bd: tensor<70x32xi8>, %bs: tensor<70x2xf8E8M0FNU>) -> tensor<130x70xbf16> {
  %a = fp4.assemble %ad, %as : tensor<130x32xi8>, tensor<130x2xf8E8M0FNU> -> !fp4.qtensor<130x64xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<70x32xi8>, tensor<70x2xf8E8M0FNU> -> !fp4.qtensor<70x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<130x64xf4E2M1FN, mxfp4>, !fp4.qtensor<70x64xf4E2M1FN, mxfp4> -> tensor<130x70xbf16>
  return %y : tensor<130x70xbf16>
}

// -----

// W4A8: MXFP8 activations x MXFP4 weights, kind::mxf8f6f4. A K step's row
// is 64 bytes: A's FP8 bytes in four 16-byte loads, B's 32 code bytes in
// two, each 8 bytes (16 codes) padded with 8 zero bytes to a 16-byte
// column (the E2M1 form this kind reads). Two stages of 2 x 8192 operand
// bytes and two scale blocks: 34848 bytes of shared memory. Two MMAs of
// K = 32 per step, the second always accumulating; their descriptors,
// 0x08A01400 and 0x28A01410 (E4M3 x E2M1 = 5, UE8M0), differ in the
// scale-factor ids of A (bits 29-30) and B (bits 4-5): scale byte 0, then 1.
// CHECK-LABEL: func.func @w4a8_e4m3(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_e4m3_mma_17x9x128 blocks in (%c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c128
// CHECK: llvm.mlir.global internal @fp4_mxfp4_e4m3_mma_17x9x128_smem() {{.*}} : !llvm.array<34848 x i8>
// CHECK: gpu.func @fp4_mxfp4_e4m3_mma_17x9x128(
// CHECK: scf.for
// CHECK-COUNT-4: vector.load %arg0{{.*}} : memref<?xi8>, vector<16xi8>
// CHECK: %[[B0:.*]] = vector.load %arg2{{.*}} : memref<?xi8>, vector<16xi8>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31]
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31]
// CHECK: vector.load %arg2{{.*}} : memref<?xi8>, vector<16xi8>
// CHECK-COUNT-2: vector.shuffle
// CHECK: nvvm.tcgen05.cp
// CHECK: nvvm.tcgen05.cp
// CHECK: nvvm.tcgen05.mma.block_scale {{.*}}, %c144708608_i32, %{{.*}} {blockScale = #nvvm.tcgen05_mma_block_scale<block32>, ctaGroup = #nvvm.cta_group<cta_1>, kind = #nvvm.block_scale_kind<mxf8f6f4>}
// CHECK: nvvm.tcgen05.mma.block_scale {{.*}}, %c681579536_i32, %true{{.*}} {blockScale = #nvvm.tcgen05_mma_block_scale<block32>, ctaGroup = #nvvm.cta_group<cta_1>, kind = #nvvm.block_scale_kind<mxf8f6f4>}
// CHECK-NOT: nvvm.tcgen05.mma
// CHECK: nvvm.tcgen05.commit
func.func @w4a8_e4m3(%ad: tensor<17x128xi8>, %as: tensor<17x4xf8E8M0FNU>, %bd: tensor<9x64xi8>, %bs: tensor<9x4xf8E8M0FNU>) -> tensor<17x9xf32> {
  %a = fp4.assemble %ad, %as : tensor<17x128xi8>, tensor<17x4xf8E8M0FNU> -> !fp4.qtensor<17x128xf8E4M3FN, mxfp8>
  %b = fp4.assemble %bd, %bs : tensor<9x64xi8>, tensor<9x4xf8E8M0FNU> -> !fp4.qtensor<9x128xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<17x128xf8E4M3FN, mxfp8>, !fp4.qtensor<9x128xf4E2M1FN, mxfp4> -> tensor<17x9xf32>
  return %y : tensor<17x9xf32>
}

// -----

// E5M2 activations: A format 1 (0x08A01480, then 0x28A01490).
// CHECK-LABEL: func.func @w4a8_e5m2(
// CHECK: nvvm.tcgen05.mma.block_scale {{.*}}, %c144708736_i32, {{.*}}kind = #nvvm.block_scale_kind<mxf8f6f4>}
// CHECK: nvvm.tcgen05.mma.block_scale {{.*}}, %c681579664_i32, {{.*}}kind = #nvvm.block_scale_kind<mxf8f6f4>}
func.func @w4a8_e5m2(%ad: tensor<32x64xi8>, %as: tensor<32x2xf8E8M0FNU>, %bd: tensor<24x32xi8>, %bs: tensor<24x2xf8E8M0FNU>) -> tensor<32x24xbf16> {
  %a = fp4.assemble %ad, %as : tensor<32x64xi8>, tensor<32x2xf8E8M0FNU> -> !fp4.qtensor<32x64xf8E5M2, mxfp8>
  %b = fp4.assemble %bd, %bs : tensor<24x32xi8>, tensor<24x2xf8E8M0FNU> -> !fp4.qtensor<24x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<32x64xf8E5M2, mxfp8>, !fp4.qtensor<24x64xf4E2M1FN, mxfp4> -> tensor<32x24xbf16>
  return %y : tensor<32x24xbf16>
}
