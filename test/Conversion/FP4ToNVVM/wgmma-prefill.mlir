// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90a | FileCheck %s
// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90 | FileCheck %s --check-prefix=SM90
// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90a | FileCheck %s --check-prefix=WIDE
// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90a | FileCheck %s --check-prefix=SPLIT
// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90a | FileCheck %s --check-prefix=WIDEMX

// The prefill kernel on sm_90a: each warpgroup multiplies its 64 rows with
// wgmma.mma_async m64nBNk16, both operands read from shared memory through
// descriptors; the stores reach it through fence.proxy.async before the
// barrier, and wgmma.wait_group 0 keeps a buffer until its MMAs are done.
// Two buffers of (128 + 64) rows of 128 bytes, plus 1 KB: 50176 bytes.
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_w4a16wg64_256x192x128_bf16_f32 blocks in (%c3{{.*}}, %c2{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c50176_i32
// CHECK: gpu.func @fp4_mxfp4_w4a16wg64_256x192x128_bf16_f32(
// The dynamic shared memory from a 1024-byte boundary (the swizzle repeats
// every 1024 bytes of address), and the descriptors' fixed bits: leading
// byte offset 1 (bit 16), stride byte offset 1024 >> 4 (bits 32-45), the
// 128-byte swizzle (layout type 1, bits 62-63), over the start address's
// 18 bits >> 4.
// CHECK: %[[PAD:.*]] = arith.andi %{{.*}}, %c1023_i64 : i64
// CHECK: llvm.getelementptr %{{.*}}[%[[PAD]]]
// The activation tile of step 0: four 16-byte cp.async per thread (16
// bytes copied, or 0 and zero-filled past M or the last step), then the
// weights.
// CHECK-COUNT-4: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK-NEXT: nvvm.cp.async.commit.group
// CHECK: llvm.store {{.*}} : vector<4xi32>, !llvm.ptr<3>
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK: llvm.mlir.zero : !llvm.struct<(f32, f32,
// CHECK: scf.for
// Step s reads buffer s % 2 (of 24576 bytes).
// CHECK: %[[BUF:.*]] = arith.remui %arg{{[0-9]+}}, %c2
// CHECK: arith.muli %[[BUF]], %c24576
// CHECK: nvvm.wgmma.fence.aligned
// The first descriptors: address bits 4-17, leading byte offset 1 (bit
// 16), stride byte offset 1024 >> 4, 128-byte swizzle; the others add
// their byte offset >> 4 (32 bytes per K slice: 2).
// CHECK: %[[MASKED:.*]] = arith.andi %{{.*}}, %c262143_i64 : i64
// CHECK: %[[START:.*]] = arith.shrui %[[MASKED]], %c4_i64 : i64
// CHECK: %[[DESC:.*]] = arith.ori %[[START]], %c4611686293305360384_i64 : i64
// CHECK: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK: arith.addi %[[DESC]], %c2_i64{{.*}} : i64
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 64, k = 16>
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// While the MMAs run: the activation copies and the weights of step s + 1.
// CHECK-COUNT-4: nvvm.cp.async.shared.global
// CHECK-NEXT: nvvm.cp.async.commit.group
// CHECK: llvm.store {{.*}} : vector<4xi32>, !llvm.ptr<3>
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NEXT: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK: scf.yield
// sm_90 (without a) has no wgmma: the mma.sync kernel.
// SM90: @fp4_kernels::@fp4_mxfp4_w4a16pf64_256x192x128_bf16_f32
// SM90-NOT: nvvm.wgmma
func.func @prefill(%x: tensor<256x128xbf16>, %bd: tensor<192x64xi8>, %bs: tensor<192x4xf8E8M0FNU>) -> tensor<256x192xf32> {
  %b = fp4.assemble %bd, %bs : tensor<192x64xi8>, tensor<192x4xf8E8M0FNU> -> !fp4.qtensor<192x128xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<256x128xbf16>, !fp4.qtensor<192x128xf4E2M1FN, mxfp4> -> tensor<256x192xf32>
  return %y : tensor<256x192xf32>
}

// -----

// Enough CTAs for two waves of 256 x 128 tiles (9 x 32 of them): the
// weights in registers as wgmma's A (kind "wrt"), the activations its B,
// loaded by TMA (NVFP4): the host encodes x's tensor map (2100 rows of 384
// bytes, boxes of 128 bytes x 256 rows, 128-byte swizzle) and passes it
// before the output; four buffers of 256 rows of 128 bytes, their four
// mbarriers, plus 1 KB: 132128 bytes; one CTA per SM (no nvvm.minctasm).
// WIDE: call @fp4gpuEncodeTensorMap(%{{.*}}, %{{.*}}, %c2100_i64, %c384_i64, %c128_i64, %c256_i64, %c128_i64{{.*}})
// WIDE: @fp4_kernels::@fp4_nvfp4_w4a16wrt128_2100x4096x192_bf16_bf16 blocks in (%c32{{.*}}, %c9{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c132128_i32
// WIDE: gpu.func @fp4_nvfp4_w4a16wrt128_2100x4096x192_bf16_bf16(%arg0: memref<?xbf16>, %arg1: memref<?xi8>, %arg2: memref<?xi8>, %arg3: f32, %arg4: memref<?xi8>, %arg5: memref<?xbf16>) kernel attributes {nvvm.maxntid = array<i32: 256, 1, 1>}
// Nothing is guarded: M = 2100 is ragged, so the last row tile starts at
// 2100 - 256 = 1844 (overlapping the one before); steps past the last are
// clamped to it (none of what they read reaches a stored output).
// WIDE-NOT: arith.select
// WIDE: arith.minui %{{.*}}, %c1844
// WIDE-NOT: arith.minui %{{.*}}, %c2099
// Thread 0 initialises the buffers' mbarriers (after the 131072 bytes of
// buffers, 8 bytes apart) for one arrival each.
// WIDE: scf.if
// WIDE: arith.constant 131072 : index
// WIDE: nvvm.mbarrier.init %{{.*}}, %c1_i32
// WIDE-COUNT-3: nvvm.mbarrier.init
// WIDE-NEXT: nvvm.fence.mbarrier.init
// WIDE-NEXT: }
// WIDE-NEXT: gpu.barrier
// The activations of steps 0 and 1: thread 0, in a branch, expects 256
// rows of 128 bytes on the buffer's mbarrier and issues the box at (128 x
// step, the tile's first row) into the buffer (32768 bytes each); then
// step 0's codes (two 16-byte loads and a scale word per row) picked out
// of the thread's two rows (three prmt per word of 8 codes; 0x5410 = 21520
// joins two halves) and expanded.
// WIDE-NOT: nvvm.cp.async.shared.global
// WIDE: %[[ISSUE:.*]] = arith.cmpi eq, %thread_id_x, %{{.*}} : index
// WIDE-NEXT: scf.if %[[ISSUE]] {
// WIDE-NEXT: arith.constant 32768 : i32
// WIDE-NEXT: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c32768_i32
// WIDE: arith.constant 32768 : index
// WIDE: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %{{.*}}, %{{.*}}, box[%{{.*}}, %{{.*}}] {isCTAOnly = true} : !llvm.ptr<3>, !llvm.ptr
// WIDE-NEXT: }
// WIDE: scf.if
// WIDE: nvvm.mbarrier.arrive.expect_tx
// WIDE: nvvm.cp.async.bulk.tensor.shared.cluster.global
// WIDE-NOT: nvvm.cp.async.shared.global
// WIDE-COUNT-2: vector.load %arg1
// WIDE: vector.load %arg2
// WIDE-COUNT-2: vector.load %arg1
// WIDE: vector.load %arg2
// WIDE-COUNT-2: nvvm.prmt <default>
// WIDE-NEXT: nvvm.prmt <default> %c21520_i32
// WIDE-NOT: arith.select
// Three K steps: one iteration of two steps, then the odd last step.
// WIDE: scf.for %{{.*}} = %c0{{.*}} to %c2{{.*}} step %c2
// Each step: every thread waits on the buffer's mbarrier for phase (step
// / 4) % 2 (the TMA's bytes arrived), the warp reconverges, a barrier; the
// descriptors of the four K slices (32 bytes apart in the 128-byte-swizzled
// rows).
// WIDE: arith.divui %{{.*}}, %c4
// WIDE-NEXT: arith.remui %{{.*}}, %c2
// WIDE: scf.while
// WIDE-NEXT: nvvm.mbarrier.try_wait
// WIDE: nvvm.bar.warp.sync %c-1_i32
// WIDE-NEXT: gpu.barrier
// WIDE: arith.remui %{{.*}}, %c4
// WIDE-NEXT: arith.constant 32768
// WIDE: arith.addi %{{.*}}, %c2_i64
// WIDE: arith.addi %{{.*}}, %c4_i64
// WIDE: arith.addi %{{.*}}, %c6_i64
// K slice 0: one m64n256k16 (A from registers, B K-major) as its own
// group; then step s + 2's activation copies (its step clamped to the
// last, 2) into buffer (s + 2) % 4, step s + 1's codes picked, step s + 2's
// loaded; the wait for step s - 1's slice-0 group (the four younger ones
// stay in flight) and slice 0 of step s + 1 expanded into its registers.
// WIDE-NEXT: nvvm.wgmma.fence.aligned
// WIDE: llvm.inline_asm has_side_effects "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {$0, {{.*}} $127}, {$128, $129, $130, $131}, $132, 1, 1, 1, 0;"
// WIDE-NEXT: nvvm.wgmma.commit.group.sync.aligned
// WIDE: %[[AHEAD:.*]] = arith.addi %{{.*}}, %c2
// WIDE: arith.minui %[[AHEAD]], %c2
// WIDE: scf.if
// WIDE-NEXT: arith.constant 32768 : i32
// WIDE-NEXT: nvvm.mbarrier.arrive.expect_tx
// WIDE: nvvm.cp.async.bulk.tensor.shared.cluster.global
// WIDE: nvvm.prmt <default> %c21520
// WIDE-NOT: L2::256B
// WIDE: vector.load %arg1
// Expanded straight into bf16: the slice pair's two UE4M3 scales of a row
// times 2^118 (8.50705917E+37) as bf16 pairs; then per row, the low
// nibbles of two bytes (mask 0x000F000F = 983055) and their high ones
// (0x00F000F0 = 15728880), each multiplied into two copies (2^6 + 2^12,
// 2^2 + 2^8) and masked to bf16 magnitude and sign (0x81C081C0), times
// the scale (one bf16x2 multiply), the halves regrouped by prmt 0x5410
// and 0x7632 (30258) into the k 2q and k 2q + 8 registers.
// WIDE: nvvm.wgmma.wait.group.sync.aligned 4
// WIDE: arith.constant 8.50705917E+37
// WIDE: arith.andi %{{.*}}, %c983055_i32
// WIDE: arith.muli %{{.*}}, %c4160_i32
// WIDE: arith.andi %{{.*}}, %c-2118090304_i32
// WIDE: arith.mulf %{{.*}}, %{{.*}} : vector<2xbf16>
// WIDE: arith.andi %{{.*}}, %c15728880_i32
// WIDE: arith.muli %{{.*}}, %c260_i32
// WIDE: arith.andi %{{.*}}, %c-2118090304_i32
// WIDE: arith.mulf %{{.*}}, %{{.*}} : vector<2xbf16>
// WIDE-NOT: arith.mulf
// WIDE: nvvm.prmt <default> %c21520_i32
// WIDE-NEXT: arith.constant 30258
// WIDE-NEXT: nvvm.prmt <default> %c30258_i32
// Slices 1 to 3 alike, without the copies and loads.
// WIDE-NOT: vector.load
// WIDE: nvvm.wgmma.fence.aligned
// WIDE: wgmma.mma_async.sync.aligned.m64n256k16
// WIDE-NEXT: nvvm.wgmma.commit.group.sync.aligned
// WIDE-NEXT: nvvm.wgmma.wait.group.sync.aligned 4
// WIDE-NOT: vector.load
// WIDE: wgmma.mma_async.sync.aligned.m64n256k16
// WIDE-NEXT: nvvm.wgmma.commit.group.sync.aligned
// WIDE-NEXT: nvvm.wgmma.wait.group.sync.aligned 4
// WIDE-NOT: vector.load
// WIDE: wgmma.mma_async.sync.aligned.m64n256k16
// WIDE-NEXT: nvvm.wgmma.commit.group.sync.aligned
// WIDE-NEXT: nvvm.wgmma.wait.group.sync.aligned 4
// WIDE: scf.yield
// The odd last step after the loop: four groups, each waited for down to
// four, then every group; then the two boxes still in flight (steps 3 and
// 4, clamped copies of step 2) land before shared memory is reused.
// WIDE: nvvm.mbarrier.try_wait
// WIDE: gpu.barrier
// WIDE-COUNT-4: nvvm.wgmma.wait.group.sync.aligned 4
// WIDE-NOT: wgmma.mma_async
// WIDE: nvvm.wgmma.wait.group.sync.aligned 0
// WIDE-NOT: nvvm.cp.async
// WIDE: nvvm.mbarrier.try_wait
// WIDE: nvvm.mbarrier.try_wait
// WIDE-NOT: nvvm.mbarrier.try_wait
// After the last step, the epilogue: alpha x 256 (NVFP4's products carry
// 2^-8); N = 4096 is a multiple of the tiles' 128 columns, so once both
// warpgroups are done the thread's 128 results go to shared memory (16-byte
// chunks XOR-swizzled), and after a barrier each thread stores 16 chunks of
// 16 bytes (8 bf16) of the tile's rows (all below M: no guard).
// WIDE: %[[C256:.*]] = arith.constant 2.560000e+02 : f32
// WIDE-NEXT: arith.mulf %arg3, %[[C256]] : f32
// WIDE: gpu.barrier
// WIDE-COUNT-128: llvm.store %{{.*}}, %{{.*}} : bf16, !llvm.ptr<3>
// WIDE-NEXT: gpu.barrier
// WIDE-NOT: memref.store
// WIDE-COUNT-16: vector.store %{{.*}}, %arg5[%{{.*}}] {alignment = 16 : i64} : memref<?xbf16>, vector<8xbf16>
// WIDE-NOT: store
// WIDE: gpu.return
func.func @wide(%x: tensor<2100x192xbf16>, %bd: tensor<4096x96xi8>, %bs: tensor<4096x12xf8E4M3FN>, %g: tensor<f32>) -> tensor<2100x4096xbf16> {
  %b = fp4.assemble %bd, %bs, %g : tensor<4096x96xi8>, tensor<4096x12xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4096x192xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<2100x192xbf16>, !fp4.qtensor<4096x192xf4E2M1FN, nvfp4> -> tensor<2100x4096xbf16>
  return %y : tensor<2100x4096xbf16>
}

// -----

// The same tiles with MXFP4 weights: TMA too, but each step issues step
// s + 2's box as it starts, right after its barrier, before the first
// wgmma (the schedule measured fastest for MXFP4: prefillActivationCopy).
// WIDEMX-LABEL: func.func @wide_mxfp4(
// WIDEMX: call @fp4gpuEncodeTensorMap(%{{.*}}, %{{.*}}, %c2100_i64, %c384_i64, %c128_i64, %c256_i64, %c128_i64{{.*}})
// WIDEMX: @fp4_kernels::@fp4_mxfp4_w4a16wrt128_2100x4096x192_bf16_bf16 blocks in (%c32{{.*}}, %c9{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c132128_i32
// WIDEMX: gpu.func @fp4_mxfp4_w4a16wrt128_2100x4096x192_bf16_bf16(%arg0: memref<?xbf16>, %arg1: memref<?xi8>, %arg2: memref<?xi8>, %arg3: f32, %arg4: memref<?xi8>, %arg5: memref<?xbf16>)
// WIDEMX-NOT: nvvm.cp.async.shared.global
// WIDEMX: scf.for %{{.*}} = %c0{{.*}} to %c2{{.*}} step %c2
// WIDEMX: nvvm.mbarrier.try_wait
// WIDEMX: nvvm.bar.warp.sync
// WIDEMX-NEXT: gpu.barrier
// WIDEMX-NOT: nvvm.wgmma.fence.aligned
// WIDEMX: scf.if
// WIDEMX-NEXT: arith.constant 32768 : i32
// WIDEMX-NEXT: nvvm.mbarrier.arrive.expect_tx
// WIDEMX: nvvm.cp.async.bulk.tensor.shared.cluster.global {{.*}} {isCTAOnly = true}
// WIDEMX-NEXT: }
// WIDEMX-NOT: nvvm.cp.async.bulk.tensor
// WIDEMX: nvvm.wgmma.fence.aligned
// WIDEMX-NOT: nvvm.cp.async.bulk.tensor
// WIDEMX: wgmma.mma_async.sync.aligned.m64n256k16
// WIDEMX-NOT: nvvm.cp.async.bulk.tensor
// WIDEMX: nvvm.mbarrier.try_wait
// WIDEMX: gpu.return
func.func @wide_mxfp4(%x: tensor<2100x192xbf16>, %bd: tensor<4096x96xi8>, %bs: tensor<4096x6xf8E8M0FNU>) -> tensor<2100x4096xbf16> {
  %b = fp4.assemble %bd, %bs : tensor<4096x96xi8>, tensor<4096x6xf8E8M0FNU> -> !fp4.qtensor<4096x192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<2100x192xbf16>, !fp4.qtensor<4096x192xf4E2M1FN, mxfp4> -> tensor<2100x4096xbf16>
  return %y : tensor<2100x4096xbf16>
}

// -----

// Split-K: 4 tiles of 128 would leave most SMs idle, so 8 CTAs share each
// tile (a cluster of 8, K part = block x % 8, 8 of the 64 K steps each),
// with the weights in registers (m64n128k16: the tile's 128 activation
// rows), one CTA per SM (no minctasm): grid x = 4 x 8; dynamic shared
// memory = the larger of the staging buffers (4 x 128 rows of 128 bytes)
// and the partials (256 threads x 64 floats), the four mbarriers, plus
// 1 KB. The activations come by TMA (boxes of 128 bytes x 128 rows,
// 16384 bytes per step), issued by thread 0 in a branch. After the loop
// (two steps per iteration) each CTA stores its accumulators (float i of
// thread t at 4 (t + 256 i)), meets the cluster, maps the 8 CTAs' shared
// memory, and sums its slice over them in rank order.
// SPLIT: call @fp4gpuEncodeTensorMap(%{{.*}}, %{{.*}}, %c128_i64, %c8192_i64, %c128_i64{{.*}}, %c128_i64{{.*}}, %c128_i64{{.*}})
// SPLIT: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_w4a16wr128s8_128x512x4096_bf16_bf16 blocks in (%c32{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c66592_i32
// SPLIT: gpu.func @fp4_nvfp4_w4a16wr128s8_128x512x4096_bf16_bf16({{.*}}) kernel attributes {nvvm.cluster_dim = array<i32: 8, 1, 1>, nvvm.maxntid = array<i32: 256, 1, 1>}
// SPLIT: %[[X:.*]] = gpu.block_id x
// SPLIT: arith.divui %[[X]], %c8
// SPLIT: %[[PART:.*]] = arith.remui %[[X]], %c8
// SPLIT: %[[FIRST:.*]] = arith.muli %[[PART]], %c8
// SPLIT-COUNT-4: nvvm.mbarrier.init
// SPLIT: %[[ISSUE:.*]] = arith.cmpi eq, %thread_id_x
// SPLIT-NEXT: scf.if %[[ISSUE]]
// SPLIT: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c16384_i32{{.*}} : !llvm.ptr<3>, i32
// SPLIT: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %{{.*}}, %{{.*}}, box[%{{.*}}, %{{.*}}] {isCTAOnly = true}
// SPLIT: nvvm.mbarrier.arrive.expect_tx
// 128-row tiles load their weights past L1, 256 bytes per L2 miss: steps 0
// and 1 of the thread's two rows before the loop, two steps ahead in it.
// SPLIT-NOT: vector.load %arg1
// SPLIT-COUNT-8: llvm.inline_asm "ld.global.nc.L1::no_allocate.L2::256B.v4.u32
// SPLIT-NOT: vector.load %arg1
// SPLIT: scf.for %{{.*}} = %c0{{.*}} to %c8{{.*}} step %c2
// SPLIT-COUNT-4: llvm.inline_asm "ld.global.nc.L1::no_allocate.L2::256B.v4.u32
// SPLIT-COUNT-8: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// SPLIT: scf.yield
// SPLIT: gpu.barrier
// SPLIT-COUNT-64: llvm.store %{{.*}} : f32, !llvm.ptr<3>
// SPLIT-NEXT: nvvm.cluster.arrive {aligned}
// SPLIT-NEXT: nvvm.cluster.wait {aligned}
// SPLIT-NEXT: %[[LOCAL:.*]] = llvm.addrspacecast %{{.*}} : !llvm.ptr<3> to !llvm.ptr
// SPLIT-COUNT-8: nvvm.mapa %[[LOCAL]], %{{.*}} : !llvm.ptr -> !llvm.ptr
// SPLIT: arith.cmpi eq, %[[PART]], %c0
// SPLIT-NEXT: scf.if
// SPLIT-COUNT-8: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr -> f32
// SPLIT: arith.mulf
// SPLIT: memref.store
// SPLIT: arith.cmpi eq, %[[PART]], %c7
// SPLIT: nvvm.cluster.arrive {aligned}
// SPLIT-NEXT: nvvm.cluster.wait {aligned}
// SPLIT-NEXT: gpu.return
func.func @split(%x: tensor<128x4096xbf16>, %bd: tensor<512x2048xi8>, %bs: tensor<512x256xf8E4M3FN>, %g: tensor<f32>) -> tensor<128x512xbf16> {
  %b = fp4.assemble %bd, %bs, %g : tensor<512x2048xi8>, tensor<512x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<512x4096xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<128x4096xbf16>, !fp4.qtensor<512x4096xf4E2M1FN, nvfp4> -> tensor<128x512xbf16>
  return %y : tensor<128x512xbf16>
}

// -----

// MXFP4 weights in 128-row tiles load x by TMA too, issued after the
// step's first wgmma (not at the step start as in 256-row tiles): the
// tensor map (boxes of 128 bytes x 128 rows), mbarriers, no cp.async.
// WIDEMX-LABEL: func.func @split_mxfp4(
// WIDEMX: call @fp4gpuEncodeTensorMap(%{{.*}}, %{{.*}}, %c128_i64, %c8192_i64, %c128_i64{{.*}}, %c128_i64{{.*}}, %c128_i64{{.*}})
// WIDEMX: @fp4_kernels::@fp4_mxfp4_w4a16wr128s8_128x512x4096_bf16_bf16 blocks in (%c32{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c66592_i32
// WIDEMX: gpu.func @fp4_mxfp4_w4a16wr128s8_128x512x4096_bf16_bf16(%arg0: memref<?xbf16>, %arg1: memref<?xi8>, %arg2: memref<?xi8>, %arg3: f32, %arg4: memref<?xi8>, %arg5: memref<?xbf16>)
// WIDEMX-NOT: nvvm.cp.async.shared.global
// WIDEMX-COUNT-4: nvvm.mbarrier.init
// WIDEMX: scf.for %{{.*}} = %c0{{.*}} to %c8{{.*}} step %c2
// WIDEMX: nvvm.mbarrier.try_wait
// WIDEMX: nvvm.bar.warp.sync
// WIDEMX-NEXT: gpu.barrier
// WIDEMX-NOT: nvvm.cp.async.bulk.tensor
// WIDEMX: nvvm.wgmma.fence.aligned
// WIDEMX-NOT: nvvm.cp.async.bulk.tensor
// WIDEMX: wgmma.mma_async.sync.aligned.m64n128k16
// WIDEMX: scf.if
// WIDEMX: nvvm.mbarrier.arrive.expect_tx
// WIDEMX: nvvm.cp.async.bulk.tensor.shared.cluster.global {{.*}} {isCTAOnly = true}
// WIDEMX: scf.yield
// WIDEMX: nvvm.wgmma.wait.group.sync.aligned 0
// WIDEMX-NOT: nvvm.cp.async.shared.global
// WIDEMX: nvvm.mbarrier.try_wait
// WIDEMX: gpu.return
func.func @split_mxfp4(%x: tensor<128x4096xbf16>, %bd: tensor<512x2048xi8>, %bs: tensor<512x128xf8E8M0FNU>) -> tensor<128x512xbf16> {
  %b = fp4.assemble %bd, %bs : tensor<512x2048xi8>, tensor<512x128xf8E8M0FNU> -> !fp4.qtensor<512x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<128x4096xbf16>, !fp4.qtensor<512x4096xf4E2M1FN, mxfp4> -> tensor<128x512xbf16>
  return %y : tensor<128x512xbf16>
}

// -----

// K = 1088 is 17 steps, which do not halve: no split-K, and so 64-wide
// tiles: 16 CTAs rather than 8 of 128.
// SPLIT: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_w4a16wg64_128x1024x1088_bf16_bf16 blocks in (%c16{{.*}}, %c1{{.*}}, %c1{{.*}})
// SPLIT: gpu.func @fp4_nvfp4_w4a16wg64_128x1024x1088_bf16_bf16({{.*}}) kernel attributes {nvvm.maxntid = array<i32: 256, 1, 1>, nvvm.minctasm = 2 : i32}
// SPLIT-NOT: nvvm.cluster
// SPLIT: gpu.return
func.func @odd_steps(%x: tensor<128x1088xbf16>, %bd: tensor<1024x544xi8>, %bs: tensor<1024x68xf8E4M3FN>, %g: tensor<f32>) -> tensor<128x1024xbf16> {
  %b = fp4.assemble %bd, %bs, %g : tensor<1024x544xi8>, tensor<1024x68xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<1024x1088xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<128x1088xbf16>, !fp4.qtensor<1024x1088xf4E2M1FN, nvfp4> -> tensor<128x1024xbf16>
  return %y : tensor<128x1024xbf16>
}
