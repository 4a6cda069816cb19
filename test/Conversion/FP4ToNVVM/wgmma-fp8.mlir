// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90a | FileCheck %s
// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90a | FileCheck %s --check-prefix=ROWS
// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm=chip=sm_90 | FileCheck %s --check-prefix=SM90

// MXFP4 x MXFP4 on sm_90a: the rows kernel turns the activations into E5M2
// rows (300 x 384 bytes) and each row's largest scale byte (300 i32), in
// device buffers, then the matmul kernel multiplies them on the FP8 tensor
// cores: 256 x 128 tiles (two of each for 300 x 200), 256 threads, four
// buffers of 256 rows of 128 bytes plus 1 KB.
// CHECK: gpu.alloc async [%{{.*}}] () : memref<115200xi8>
// CHECK: gpu.alloc async [%{{.*}}] () : memref<300xi32>
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_e5m2rows_300x384 blocks in (%c38{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}, %c1{{.*}}, %c1{{.*}})
// CHECK-NOT: fp4gpuLaunchNextAsDependent
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_f8wg256_300x200x384_bf16 blocks in (%c2{{.*}}, %c2{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}, %c1{{.*}}, %c1{{.*}}) dynamic_shared_memory_size %c132096_i32
// CHECK: gpu.func @fp4_mxfp4_f8wg256_300x200x384_bf16(%{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: f32, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xbf16>)
// CHECK-NOT: nvvm.griddepcontrol
// The first two steps' activation rows on their way: 8 cp.async of 16
// bytes per thread and step, one group each.
// CHECK-COUNT-8: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = {{ *}}cg
// CHECK-NEXT: nvvm.cp.async.commit.group
// CHECK-COUNT-8: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = {{ *}}cg
// CHECK-NEXT: nvvm.cp.async.commit.group
// Step 0's weight codes to E5M2: the magnitude table's exponent field F = s - R + 27
// (times 0x04040400 and 0x04040404), the bytes picked by prmt.
// CHECK: arith.addi %{{.*}}, %c27_i32 : i32
// CHECK: arith.muli %{{.*}}, %c67372032_i32 : i32
// CHECK: nvvm.prmt <default>
// CHECK: scf.for
// Step s: its copies landed, fenced for wgmma, barrier; step s + 2's
// copies; four wgmma m64n256k32 on E5M2 with A (the weights) in registers.
// CHECK: nvvm.cp.async.wait.group 1
// CHECK-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK-COUNT-8: nvvm.cp.async.shared.global
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: llvm.inline_asm has_side_effects "wgmma.mma_async.sync.aligned.m64n256k32.f32.e5m2.e5m2 {{.*}}, 1, 1, 1;"
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: scf.yield
// After the loop: a CTA with a code E5M2 cannot hold votes for the
// CUDA-core path (barrier with an or-reduction).
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: nvvm.barrier #nvvm.reduction<or>
// CHECK: scf.if
// The rows kernel: a warp per chunk of up to 32 blocks of a row; the row's
// largest and smallest scale bytes by xor shuffles, the warp's blocks as
// 32 E5M2 bytes each, staged in the warp's 1 KB of shared memory (two
// 16-byte stores per lane) and written back as two 16-byte stores per
// lane that each cover 512 contiguous bytes; chunk 0's warp reads the
// whole row for codes outside the window only where the bytes span more
// than it, and writes the largest byte, or -1 for an unusable row.
// ROWS: llvm.mlir.global internal @fp4_mxfp4_e5m2rows_300x384_smem() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<8192 x i8>
// ROWS: gpu.func @fp4_mxfp4_e5m2rows_300x384(%{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi32>) kernel
// ROWS-COUNT-10: gpu.shuffle  xor
// ROWS: arith.constant 26 : i32
// ROWS-COUNT-2: llvm.store %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// ROWS: nvvm.bar.warp.sync
// ROWS: llvm.load %{{.*}} : !llvm.ptr<3> -> vector<16xi8>
// ROWS: vector.store %{{.*}} : memref<?xi8>, vector<16xi8>
// ROWS: llvm.load %{{.*}} : !llvm.ptr<3> -> vector<16xi8>
// ROWS: vector.store %{{.*}} : memref<?xi8>, vector<16xi8>
// ROWS: scf.if
// ROWS: scf.for
// ROWS: gpu.shuffle  xor
// ROWS: arith.constant -1 : i32
// ROWS: memref.store %{{.*}} : memref<?xi32>
// sm_90 (without a) has no wgmma: W4A4 as W4A16 (the mma.sync prefill
// kernel).
// SM90: @fp4_kernels::@fp4_mxfp4_w4a4x16pf64_300x200x384_bf16
// SM90-NOT: e5m2
func.func @w4a4(%ad: tensor<300x192xi8>, %as: tensor<300x12xf8E8M0FNU>, %bd: tensor<200x192xi8>, %bs: tensor<200x12xf8E8M0FNU>) -> tensor<300x200xbf16> {
  %a = fp4.assemble %ad, %as : tensor<300x192xi8>, tensor<300x12xf8E8M0FNU> -> !fp4.qtensor<300x384xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<200x192xi8>, tensor<200x12xf8E8M0FNU> -> !fp4.qtensor<200x384xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<300x384xf4E2M1FN, mxfp4>, !fp4.qtensor<200x384xf4E2M1FN, mxfp4> -> tensor<300x200xbf16>
  return %y : tensor<300x200xbf16>
}

// -----

// Where E5M2 cannot hold the products exactly, or K is not a multiple of
// 128, W4A4 runs as W4A16 on bf16 rows instead (w4a4-as-w4a16.mlir):
// NVFP4 (UE4M3 scales: code times scale has up to five significant bits),
// and K = 192.
// CHECK-LABEL: func.func @others
// CHECK: @fp4_kernels::@fp4_nvfp4_w4a4x16wg64_64x64x128
// CHECK: @fp4_kernels::@fp4_mxfp4_w4a4x16wg64_64x64x192
// CHECK-NOT: e5m2rows
func.func @others(%ad: tensor<64x64xi8>, %as: tensor<64x8xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<64x64xi8>, %bs: tensor<64x8xf8E4M3FN>, %bg: tensor<f32>,
                  %cd: tensor<64x96xi8>, %cs: tensor<64x6xf8E8M0FNU>, %dd: tensor<64x96xi8>, %ds: tensor<64x6xf8E8M0FNU>) -> (tensor<64x64xf32>, tensor<64x64xf32>) {
  %a = fp4.assemble %ad, %as, %ag : tensor<64x64xi8>, tensor<64x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<64x128xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<64x64xi8>, tensor<64x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<64x128xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<64x128xf4E2M1FN, nvfp4>, !fp4.qtensor<64x128xf4E2M1FN, nvfp4> -> tensor<64x64xf32>
  %c = fp4.assemble %cd, %cs : tensor<64x96xi8>, tensor<64x6xf8E8M0FNU> -> !fp4.qtensor<64x192xf4E2M1FN, mxfp4>
  %d = fp4.assemble %dd, %ds : tensor<64x96xi8>, tensor<64x6xf8E8M0FNU> -> !fp4.qtensor<64x192xf4E2M1FN, mxfp4>
  %z = fp4.scaled_matmul %c, %d : !fp4.qtensor<64x192xf4E2M1FN, mxfp4>, !fp4.qtensor<64x192xf4E2M1FN, mxfp4> -> tensor<64x64xf32>
  return %y, %z : tensor<64x64xf32>, tensor<64x64xf32>
}

// -----

// Split-K: 32 x 4096 x 4096 has 32 tiles of 128 weight rows, too few for
// the H100's 132 SMs (one CTA each), so four CTAs share each tile, each
// over 8 of the 32 K steps, as a cluster of four (grid x 4 x 32 = 128).
// After the vote each CTA keeps its scaled partial tile (32 f32 per thread)
// in its shared memory, on either path; then CTA r adds slice r of every
// thread's partials over the cluster (mapa to each peer, rank order) and
// stores it.
// CHECK-LABEL: func.func @split
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_f8wg64s4_32x4096x4096 blocks in (%c128{{.*}}, %c1{{.*}}, %c1{{.*}})
// CHECK: gpu.func @fp4_mxfp4_f8wg64s4_32x4096x4096({{.*}}) kernel attributes {nvvm.cluster_dim = array<i32: 4, 1, 1>
// CHECK: nvvm.barrier #nvvm.reduction<or>
// CHECK: scf.if
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : f32, !llvm.ptr<3>
// CHECK: } else {
// CHECK-COUNT-32: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : f32, !llvm.ptr<3>
// CHECK: nvvm.cluster.arrive {aligned}
// CHECK-NEXT: nvvm.cluster.wait {aligned}
// CHECK-COUNT-4: nvvm.mapa
// CHECK: scf.if
// CHECK-COUNT-4: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr -> f32
// CHECK: nvvm.cluster.arrive {aligned}
// CHECK-NEXT: nvvm.cluster.wait {aligned}
// CHECK-NEXT: gpu.return
func.func @split(%ad: tensor<32x2048xi8>, %as: tensor<32x128xf8E8M0FNU>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x128xf8E8M0FNU>) -> tensor<32x4096xf32> {
  %a = fp4.assemble %ad, %as : tensor<32x2048xi8>, tensor<32x128xf8E8M0FNU> -> !fp4.qtensor<32x4096xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<4096x2048xi8>, tensor<4096x128xf8E8M0FNU> -> !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<32x4096xf4E2M1FN, mxfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4> -> tensor<32x4096xf32>
  return %y : tensor<32x4096xf32>
}

// -----

// From 1024 activation rows on, the weights go through the rows kernel too
// (260 rows of 512 E5M2 bytes and their largest scale bytes), and the
// matmul kernel copies both operands into shared memory: four buffers of
// 256 activation rows and 128 weight rows of 128 bytes plus 1 KB.
// CHECK-LABEL: func.func @staged
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_e5m2rows_1100x512 blocks in (%c138{{.*}}, %c1{{.*}}, %c1{{.*}})
// CHECK: gpu.alloc async [%{{.*}}] () : memref<133120xi8>
// CHECK: gpu.alloc async [%{{.*}}] () : memref<260xi32>
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_e5m2rows_260x512 blocks in (%c33{{.*}}, %c1{{.*}}, %c1{{.*}})
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_f8ws256_1100x260x512_bias blocks in (%c3{{.*}}, %c5{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}, %c1{{.*}}, %c1{{.*}}) dynamic_shared_memory_size %c197632_i32
// CHECK: gpu.func @fp4_mxfp4_f8ws256_1100x260x512_bias(%{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: f32, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xf32>)
// The first two steps' rows on their way: 8 activation and 4 weight
// chunks of 16 bytes per thread and step, one group each; no weight codes
// expanded in this kernel.
// CHECK-COUNT-12: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = {{ *}}cg
// CHECK-NEXT: nvvm.cp.async.commit.group
// CHECK-COUNT-12: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = {{ *}}cg
// CHECK-NEXT: nvvm.cp.async.commit.group
// CHECK-NOT: nvvm.prmt
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 1
// CHECK-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK-COUNT-12: nvvm.cp.async.shared.global
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: nvvm.wgmma.mma_async {{.*}}, <m = 64, n = 256, k = 32>, D[<f32>, <one>], A[<e5m2>, <one>, <row>], B[<e5m2>, <one>, <col>]
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: scf.yield
// CHECK: nvvm.barrier #nvvm.reduction<or>
// Staged kernels keep a plain launch per tile (no split) and the rows
// kernel's largest bytes in place of the per-CTA scan.
func.func @staged(%ad: tensor<1100x256xi8>, %as: tensor<1100x16xf8E8M0FNU>, %bd: tensor<260x256xi8>, %bs: tensor<260x16xf8E8M0FNU>, %bias: tensor<260xf32>) -> tensor<1100x260xf32> {
  %a = fp4.assemble %ad, %as : tensor<1100x256xi8>, tensor<1100x16xf8E8M0FNU> -> !fp4.qtensor<1100x512xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<260x256xi8>, tensor<260x16xf8E8M0FNU> -> !fp4.qtensor<260x512xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<260xf32>) : !fp4.qtensor<1100x512xf4E2M1FN, mxfp4>, !fp4.qtensor<260x512xf4E2M1FN, mxfp4> -> tensor<1100x260xf32>
  return %y : tensor<1100x260xf32>
}

// -----

// From 128 to 256 rows, where the W4A16 prefill kernel on bf16 rows keeps
// the weights in registers, MXFP4 W4A4 takes that route (measured faster
// on the H100); at 64 rows the FP8 kernel stays.
// CHECK-LABEL: func.func @middle
// CHECK: @fp4_kernels::@fp4_mxfp4_bf16rows_128x4096
// CHECK: @fp4_kernels::@fp4_mxfp4_w4a4x16wr128s4_128x4096x4096_bf16
// CHECK: @fp4_kernels::@fp4_mxfp4_e5m2rows_64x4096
// CHECK: @fp4_kernels::@fp4_mxfp4_f8wg64s4_64x4096x4096_bf16
func.func @middle(%ad: tensor<128x2048xi8>, %as: tensor<128x128xf8E8M0FNU>, %cd: tensor<64x2048xi8>, %cs: tensor<64x128xf8E8M0FNU>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x128xf8E8M0FNU>) -> (tensor<128x4096xbf16>, tensor<64x4096xbf16>) {
  %a = fp4.assemble %ad, %as : tensor<128x2048xi8>, tensor<128x128xf8E8M0FNU> -> !fp4.qtensor<128x4096xf4E2M1FN, mxfp4>
  %c = fp4.assemble %cd, %cs : tensor<64x2048xi8>, tensor<64x128xf8E8M0FNU> -> !fp4.qtensor<64x4096xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<4096x2048xi8>, tensor<4096x128xf8E8M0FNU> -> !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<128x4096xf4E2M1FN, mxfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4> -> tensor<128x4096xbf16>
  %z = fp4.scaled_matmul %c, %b : !fp4.qtensor<64x4096xf4E2M1FN, mxfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4> -> tensor<64x4096xbf16>
  return %y, %z : tensor<128x4096xbf16>, tensor<64x4096xbf16>
}
