// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm -verify-diagnostics | FileCheck %s

// NVFP4 x NVFP4: the launch on the storage buffers (f8 scales as bytes),
// grid (ceil(N/8), ceil(M/16)) of one warp, the global scales' product as
// alpha; the kernel loads A rows g and g + 8 at bytes 4t and 4t + 16 of
// each 32-byte K step, the scale row (lane % 2) * 8 + g, and issues the
// m16n8k64 block-scaled MMA with UE4M3 scales, 4 per row and K step.
// CHECK-LABEL: module attributes {gpu.container_module}
// CHECK: func.func @nvfp4(
// CHECK-DAG: %[[GA:.*]] = tensor.extract %arg2[] : tensor<f32>
// CHECK-DAG: %[[GB:.*]] = tensor.extract %arg5[] : tensor<f32>
// CHECK: %[[ALPHA:.*]] = arith.mulf %[[GA]], %[[GB]] : f32
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<612xf32>
// CHECK: arith.bitcast %{{.*}} : f8E4M3FN to i8
// The operands are copied to device memory on one stream, the result back,
// and the host waits before it reads the result.
// CHECK: %[[S0:.*]] = gpu.wait async
// CHECK: %[[DA:.*]], %[[T0:.*]] = gpu.alloc async [%[[S0]]] () : memref<2176xi8>
// CHECK: %[[T1:.*]] = gpu.memcpy async [%[[T0]]] %[[DA]], %{{.*}} : memref<2176xi8>, memref<2176xi8>
// CHECK: %[[DOUT:.*]], %[[T2:.*]] = gpu.alloc async [%{{.*}}] () : memref<612xf32>
// CHECK: %[[L:.*]] = gpu.launch_func async [%[[T2]]] @fp4_kernels::@fp4_nvfp4_mma_34x18x128 blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}})  args({{.*}} : memref<?xi8>, {{.*}} : memref<?xi8>, {{.*}} : memref<?xi8>, {{.*}} : memref<?xi8>, %[[ALPHA]] : f32, {{.*}} : memref<?xf32>)
// CHECK: %[[BACK:.*]] = gpu.memcpy async [%[[L]]] %[[OUT]], %[[DOUT]] : memref<612xf32>, memref<612xf32>
// CHECK: gpu.dealloc async [%[[BACK]]] %[[DA]]
// CHECK: %[[FREED:.*]] = gpu.dealloc async [%{{.*}}] %[[DOUT]]
// CHECK-NEXT: gpu.wait [%[[FREED]]]
// CHECK: memref.expand_shape %[[OUT]] {{\[}}[0, 1]] output_shape [34, 18]
// CHECK: gpu.module @fp4_kernels [#nvvm.target<chip = "sm_120a", features = "+ptx88">]
// CHECK: gpu.func @fp4_nvfp4_mma_34x18x128({{.*}}) kernel
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args
// CHECK: vector.load {{.*}} {alignment = 4 : i64} : memref<?xi8>, vector<4xi8>
// CHECK: nvvm.mma.block_scale
// CHECK-SAME: blockScaleFormat = #nvvm.block_scale_format<ue4m3>
// CHECK-SAME: kind = #nvvm.block_scale_kind<mxf4nvf4>
// CHECK-SAME: multiplicandAPtxType = #nvvm.mma_type<e2m1>
// CHECK-SAME: scaleVecSize = #nvvm.scale_vec_size<x4>
// CHECK-SAME: shape = #nvvm.shape<m = 16, n = 8, k = 64>
// CHECK: scf.if
// CHECK: memref.store
func.func @nvfp4(%ad: tensor<34x64xi8>, %as: tensor<34x8xf8E4M3FN>, %ag: tensor<f32>,
                 %bd: tensor<18x64xi8>, %bs: tensor<18x8xf8E4M3FN>, %bg: tensor<f32>) -> tensor<34x18xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<34x64xi8>, tensor<34x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<34x128xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<18x64xi8>, tensor<18x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<18x128xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<34x128xf4E2M1FN, nvfp4>, !fp4.qtensor<18x128xf4E2M1FN, nvfp4> -> tensor<34x18xf32>
  return %y : tensor<34x18xf32>
}

// -----

// MXFP4 x MXFP4: kind::mxf4 with two UE8M0 scales per row and K step
// (a 2-byte load), alpha 1.
// CHECK-LABEL: func.func @mxfp4(
// CHECK: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_mma_16x8x64 {{.*}}%[[ONE]] : f32
// CHECK: vector.load {{.*}} {alignment = 2 : i64} : memref<?xi8>, vector<2xi8>
// CHECK: nvvm.mma.block_scale
// CHECK-SAME: blockScaleFormat = #nvvm.block_scale_format<ue8m0>
// CHECK-SAME: kind = #nvvm.block_scale_kind<mxf4>
// CHECK-SAME: scaleVecSize = #nvvm.scale_vec_size<x2>
func.func @mxfp4(%ad: tensor<16x32xi8>, %as: tensor<16x2xf8E8M0FNU>,
                 %bd: tensor<8x32xi8>, %bs: tensor<8x2xf8E8M0FNU>) -> tensor<16x8xf32> {
  %a = fp4.assemble %ad, %as : tensor<16x32xi8>, tensor<16x2xf8E8M0FNU> -> !fp4.qtensor<16x64xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<8x32xi8>, tensor<8x2xf8E8M0FNU> -> !fp4.qtensor<8x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x64xf4E2M1FN, mxfp4>, !fp4.qtensor<8x64xf4E2M1FN, mxfp4> -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}

// -----

func.func @k_not_64(%a: !fp4.qtensor<16x32xf4E2M1FN, nvfp4>, %b: !fp4.qtensor<8x32xf4E2M1FN, nvfp4>) -> tensor<16x8xf32> {
  // expected-error @+1 {{convert-fp4-to-nvvm: K = 32 is not a multiple of 64 (the MMA's K); pad K}}
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x32xf4E2M1FN, nvfp4>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4> -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}

// -----

// W4A16 (float activations): the decode kernel, CUDA cores on every chip
// (f16 or f32 activations, or up to 4 bf16 rows).
// 4 warps of R = 2 weight rows (M = 5 > 4): grid (ceil(24 / 8), 1); the
// activation's buffer, the weight's codes and scales, the weight's global
// scale as alpha, a bf16 output. Lanes load 16 bytes (32 codes) of a row,
// expand nibble pairs to f16x2, multiply in f32, and the warp sums its
// lanes. The codes are loaded past L1 (`ld.global.nc.L1::no_allocate`).
// CHECK-LABEL: func.func @weight_only(
// CHECK: %[[ALPHA:.*]] = tensor.extract %arg3[] : tensor<f32>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<120xbf16>
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_w4a16_5x24x64_f16_bf16 blocks in (%c3{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c128, %c1{{.*}}, %c1{{.*}})  args({{.*}} : memref<?xf16>, {{.*}} : memref<?xi8>, {{.*}} : memref<?xi8>, %[[ALPHA]] : f32, {{.*}} : memref<?xbf16>)
// CHECK: gpu.func @fp4_nvfp4_w4a16_5x24x64_f16_bf16(%{{.*}}: memref<?xf16>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: f32, %{{.*}}: memref<?xbf16>) kernel
// CHECK: llvm.inline_asm "ld.global.nc.L1::no_allocate.v4.u32 {$0, $1, $2, $3}, [$4];", "=r,=r,=r,=r,l" {{.*}} : (!llvm.ptr<1>) -> !llvm.struct<(i32, i32, i32, i32)>
// CHECK: vector.bitcast {{.*}} : vector<1xi32> to vector<2xf16>
// CHECK: arith.extf {{.*}} : vector<2xf16> to vector<2xf32>
// CHECK: vector.load {{.*}} {alignment = 16 : i64} : memref<?xf16>, vector<32xf16>
// CHECK: llvm.intr.fma
// CHECK: gpu.shuffle  xor
// CHECK: arith.truncf {{.*}} : f32 to bf16
func.func @weight_only(%x: tensor<5x64xf16>, %bd: tensor<24x32xi8>, %bs: tensor<24x4xf8E4M3FN>, %bg: tensor<f32>) -> tensor<5x24xbf16> {
  %b = fp4.assemble %bd, %bs, %bg : tensor<24x32xi8>, tensor<24x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<24x64xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<5x64xf16>, !fp4.qtensor<24x64xf4E2M1FN, nvfp4> -> tensor<5x24xbf16>
  return %y : tensor<5x24xbf16>
}

// -----

// One f16 activation row (the CUDA-core decode kernel; bf16 takes the
// tensor-core kernel below) and K = 8192 (256 pieces of 32 codes): 2 weight
// rows per warp, and two warps share them, each over 128 pieces (warp w:
// row group w / 2, K part w % 2), so a CTA covers 4 rows: grid ceil(20 / 4).
// Each warp sums its lanes; lane 0 of every warp leaves its two sums in
// shared memory; after a barrier, lane 0 of part 0 adds the two parts in
// order and stores.
// CHECK-LABEL: func.func @decode_split(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_w4a16s2_1x20x8192_f16_bf16 blocks in (%c5{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c128
// CHECK: gpu.func @fp4_mxfp4_w4a16s2_1x20x8192_f16_bf16({{.*}}) workgroup(%[[PARTIALS:.*]] : memref<8xf32, #gpu.address_space<workgroup>>) kernel
// CHECK: %[[WARP:.*]] = arith.divui %thread_id_x, %c32
// CHECK: %[[PART:.*]] = arith.remui %[[WARP]], %c2
// CHECK: %[[FIRST:.*]] = arith.muli %[[PART]], %c128
// CHECK: arith.minui %{{.*}}, %c256
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK: scf.if
// CHECK-COUNT-2: memref.store %{{.*}}, %[[PARTIALS]][%{{.*}}] : memref<8xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK-COUNT-4: memref.load %[[PARTIALS]]
// CHECK: arith.cmpi eq, %[[PART]], %c0
// CHECK: scf.if
// CHECK: arith.truncf {{.*}} : f32 to bf16
// CHECK: memref.store {{.*}} : memref<?xbf16>
func.func @decode_split(%x: tensor<1x8192xf16>, %bd: tensor<20x4096xi8>, %bs: tensor<20x256xf8E8M0FNU>) -> tensor<1x20xbf16> {
  %b = fp4.assemble %bd, %bs : tensor<20x4096xi8>, tensor<20x256xf8E8M0FNU> -> !fp4.qtensor<20x8192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<1x8192xf16>, !fp4.qtensor<20x8192xf4E2M1FN, mxfp4> -> tensor<1x20xbf16>
  return %y : tensor<1x20xbf16>
}

// -----

// Up to 8 bf16 activation rows: the tensor-core GEMV (MmaGemvKernel.cpp).
// 20 weight rows are two groups of 16 (one per CTA); K = 8192 is 64 chunks
// of 128 codes, split over the 16 warps of a CTA (4 steps each: 3 in the
// loop, the last peeled). A lane reads activation row min(g, 2). Each pair
// of codes: mask the nibbles 16 bits apart (0x000F000F or 0x00F000F0),
// multiply by 2^6 + 2^12 (or 2^2 + 2^8), mask to sign and magnitude
// (0x81C081C0), then x 2^126 and x the UE8M0 scale in bf16; the activation
// pairs by prmt (0x5410, 0x7632). After the barrier, part 0 adds the 16
// parts of each of its 4 outputs in order and stores.
// CHECK-LABEL: func.func @gemv(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_w4a16mvs16_3x20x8192_bf16_bf16 blocks in (%c2{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c512{{(_[0-9]+)?}},
// CHECK: gpu.func @fp4_mxfp4_w4a16mvs16_3x20x8192_bf16_bf16({{.*}}) workgroup(%[[PARTIALS:.*]] : memref<2048xf32, #gpu.address_space<workgroup>>) kernel
// CHECK: arith.minui %{{.*}}, %c2{{(_[0-9]+)?}} : index
// CHECK: scf.for %{{.*}} = %c0{{(_[0-9]+)?}} to %c3{{(_[0-9]+)?}} step %c1
// CHECK: %[[NIBBLES:.*]] = arith.andi %{{.*}}, %c983055_i32{{.*}} : i32
// CHECK: %[[COPIES:.*]] = arith.muli %[[NIBBLES]], %c4160_i32{{.*}} : i32
// CHECK: %[[PLACED:.*]] = arith.andi %[[COPIES]], %c-2118090304_i32{{.*}} : i32
// CHECK: arith.constant 2122350208 : i32
// CHECK: arith.mulf %{{.*}}, %{{.*}} : vector<2xbf16>
// CHECK: arith.mulf %{{.*}}, %{{.*}} : vector<2xbf16>
// CHECK: arith.muli %{{.*}}, %c260_i32{{.*}} : i32
// CHECK: nvvm.prmt <default> %c21520_i32
// CHECK: nvvm.prmt <default> %c30258_i32
// CHECK: nvvm.mma.sync
// CHECK: scf.yield
// CHECK-COUNT-8: nvvm.mma.sync
// CHECK-COUNT-4: memref.store %{{.*}}, %[[PARTIALS]]
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK-COUNT-64: memref.load %[[PARTIALS]]
// CHECK: arith.truncf {{.*}} : f32 to bf16
// CHECK: memref.store {{.*}} : memref<?xbf16>
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.return
func.func @gemv(%x: tensor<3x8192xbf16>, %bd: tensor<20x4096xi8>, %bs: tensor<20x256xf8E8M0FNU>) -> tensor<3x20xbf16> {
  %b = fp4.assemble %bd, %bs : tensor<20x4096xi8>, tensor<20x256xf8E8M0FNU> -> !fp4.qtensor<20x8192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<3x8192xbf16>, !fp4.qtensor<20x8192xf4E2M1FN, mxfp4> -> tensor<3x20xbf16>
  return %y : tensor<3x20xbf16>
}

// -----

// NVFP4 with 8 rows (lane g reads activation row g), K = 128 in one part.
// Each block scale is decoded times 2^118
// (the f16 route's 2^-8 and 256 x 2^118 = 2^126 in f32) and made a bf16
// pair; one bf16 multiply per pair of codes; the epilogue scales by alpha
// x 256.
// CHECK-LABEL: func.func @gemv_nvfp4_8(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_w4a16mv_8x24x128_bf16_f32 blocks in (%c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}, %c1{{(_[0-9]+)?}}) threads in (%c128{{(_[0-9]+)?}},
// CHECK: gpu.func @fp4_nvfp4_w4a16mv_8x24x128_bf16_f32(
// CHECK: arith.minui %{{.*}}, %c7{{(_[0-9]+)?}} : index
// CHECK: arith.constant 8.50705917E+37 : f32
// CHECK: arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: arith.muli %{{.*}}, %c4160_i32{{.*}} : i32
// CHECK-NOT: arith.constant 2122350208 : i32
// CHECK: arith.mulf %{{.*}}, %{{.*}} : vector<2xbf16>
// CHECK-COUNT-8: nvvm.mma.sync
// CHECK: arith.constant 2.560000e+02 : f32
// CHECK-NEXT: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK-COUNT-4: memref.store %{{.*}} : memref<?xf32>
// CHECK: gpu.return
func.func @gemv_nvfp4_8(%x: tensor<8x128xbf16>, %bd: tensor<24x64xi8>, %bs: tensor<24x8xf8E4M3FN>, %bg: tensor<f32>) -> tensor<8x24xf32> {
  %b = fp4.assemble %bd, %bs, %bg : tensor<24x64xi8>, tensor<24x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<24x128xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<8x128xbf16>, !fp4.qtensor<24x128xf4E2M1FN, nvfp4> -> tensor<8x24xf32>
  return %y : tensor<8x24xf32>
}

// -----

// W4A16 with more than 4 bf16 activation rows: the tensor-core kernel.
// 16 x 32 output tiles (grid ceil(40 / 32) x ceil(20 / 16)), 8 warps
// splitting K, partial tiles added through shared memory; the codes are
// placed straight into bf16 pairs (mask, multiply by 4160 or 260, mask)
// and multiplied by 2^126 and their UE8M0 scale (exact bf16 code * scale),
// the activation rows paired alike by prmt, then mma.sync m16n8k16, four
// weight tiles per activation fragment.
// CHECK-LABEL: func.func @weight_only_tensor_cores(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_w4a16tc_20x40x128_bf16_f32 blocks in (%c2{{.*}}, %c2{{.*}}, %c1{{.*}}) threads in (%c256
// CHECK: gpu.func @fp4_mxfp4_w4a16tc_20x40x128_bf16_f32({{.*}}) workgroup(%{{.*}} : memref<4096xf32, #gpu.address_space<workgroup>>) kernel
// CHECK: vector.load {{.*}} : memref<?xbf16>, vector<32xbf16>
// CHECK: scf.for
// CHECK-COUNT-16: nvvm.prmt <default> %c{{21520|30258}}_i32
// CHECK-NOT: arith.truncf
// CHECK: arith.muli %{{.*}}, %c4160_i32{{.*}} : i32
// CHECK: arith.constant 2122350208 : i32
// CHECK: arith.mulf %{{.*}}, %{{.*}} : vector<2xbf16>
// CHECK: arith.mulf %{{.*}}, %{{.*}} : vector<2xbf16>
// CHECK: arith.muli %{{.*}}, %c260_i32{{.*}} : i32
// CHECK-COUNT-32: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// CHECK: scf.yield
// CHECK: gpu.barrier
func.func @weight_only_tensor_cores(%x: tensor<20x128xbf16>, %bd: tensor<40x64xi8>, %bs: tensor<40x4xf8E8M0FNU>) -> tensor<20x40xf32> {
  %b = fp4.assemble %bd, %bs : tensor<40x64xi8>, tensor<40x4xf8E8M0FNU> -> !fp4.qtensor<40x128xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<20x128xbf16>, !fp4.qtensor<40x128xf4E2M1FN, mxfp4> -> tensor<20x40xf32>
  return %y : tensor<20x40xf32>
}

// -----

// W4A16 with 64 or more bf16 activation rows: the prefill kernel (here
// sm_120a's, on mma.sync; sm_90a's wgmma twin is in wgmma-prefill.mlir).
// 128-row output tiles, 64 weight rows wide here (too few CTAs for 128;
// grid ceil(200 / 64) x ceil(130 / 128)), 256 threads, two buffers of
// (128 + 64) rows of 128 bytes in dynamic shared memory plus 1 KB to align
// them. Step 0 is staged first; then each step multiplies one buffer
// (ldmatrix.x4 into mma.sync m16n8k16) and stages the next step into the
// other (activation chunks by cp.async, codes expanded to bf16), with one
// barrier.
// CHECK-LABEL: func.func @weight_only_prefill(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_w4a16pf64_130x200x128_bf16_bf16 blocks in (%c4{{.*}}, %c2{{.*}}, %c1{{.*}}) threads in (%c256{{.*}}) dynamic_shared_memory_size %c50176_i32
// CHECK: llvm.mlir.global external @fp4_nvfp4_w4a16pf64_130x200x128_bf16_bf16_smem() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
// CHECK: gpu.func @fp4_nvfp4_w4a16pf64_130x200x128_bf16_bf16({{.*}}) kernel attributes {nvvm.maxntid = array<i32: 256, 1, 1>, nvvm.minctasm = 2 : i32}
// CHECK-COUNT-4: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK-NEXT: nvvm.cp.async.commit.group
// CHECK: arith.truncf {{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: llvm.store {{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: gpu.barrier
// CHECK: scf.for
// CHECK: nvvm.ldmatrix {{.*}} {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 4 : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>} : (!llvm.ptr<3>) -> !llvm.struct<(i32, i32, i32, i32)>
// CHECK: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// CHECK-COUNT-4: nvvm.cp.async.shared.global
// CHECK-NEXT: nvvm.cp.async.commit.group
// CHECK: llvm.store {{.*}} : vector<4xi32>, !llvm.ptr<3>
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: gpu.barrier
// CHECK: scf.yield
func.func @weight_only_prefill(%x: tensor<130x128xbf16>, %bd: tensor<200x64xi8>, %bs: tensor<200x8xf8E4M3FN>, %g: tensor<f32>) -> tensor<130x200xbf16> {
  %b = fp4.assemble %bd, %bs, %g : tensor<200x64xi8>, tensor<200x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<200x128xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %b : tensor<130x128xbf16>, !fp4.qtensor<200x128xf4E2M1FN, nvfp4> -> tensor<130x200xbf16>
  return %y : tensor<130x200xbf16>
}

// -----

func.func @float_weight(%a: !fp4.qtensor<16x64xf4E2M1FN, nvfp4>, %w: tensor<8x64xf32>) -> tensor<16x8xf32> {
  // expected-error @+1 {{convert-fp4-to-nvvm: the kernels take FP4 weights (rhs) with FP4 (W4A4) or float (W4A16) activations (lhs)}}
  %y = fp4.scaled_matmul %a, %w : !fp4.qtensor<16x64xf4E2M1FN, nvfp4>, tensor<8x64xf32> -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}

// -----

// W4A4 with a bf16 result: the kernel's output buffer is bf16 and its
// name says so; the epilogue scales by alpha in f32 and rounds once.
// CHECK-LABEL: func.func @w4a4_bf16_result(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_mma_16x8x64_bf16 blocks
// CHECK-SAME: : memref<?xbf16>)
// CHECK: gpu.func @fp4_nvfp4_mma_16x8x64_bf16({{.*}}, %{{.*}}: f32, %[[OUT:.*]]: memref<?xbf16>) kernel
// CHECK: %[[SCALED:.*]] = arith.mulf
// CHECK-NEXT: %[[ROUNDED:.*]] = arith.truncf %[[SCALED]] : f32 to bf16
// CHECK: memref.store %[[ROUNDED]], %[[OUT]]
func.func @w4a4_bf16_result(%a: !fp4.qtensor<16x64xf4E2M1FN, nvfp4>, %b: !fp4.qtensor<8x64xf4E2M1FN, nvfp4>) -> tensor<16x8xbf16> {
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x64xf4E2M1FN, nvfp4>, !fp4.qtensor<8x64xf4E2M1FN, nvfp4> -> tensor<16x8xbf16>
  return %y : tensor<16x8xbf16>
}

// -----

func.func @w4a4_f16_result(%a: !fp4.qtensor<16x64xf4E2M1FN, nvfp4>, %b: !fp4.qtensor<8x64xf4E2M1FN, nvfp4>) -> tensor<16x8xf16> {
  // expected-error @+1 {{convert-fp4-to-nvvm: the epilogue writes f32 or bf16 results, got 'f16'}}
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x64xf4E2M1FN, nvfp4>, !fp4.qtensor<8x64xf4E2M1FN, nvfp4> -> tensor<16x8xf16>
  return %y : tensor<16x8xf16>
}

// -----

func.func @fp8(%a: !fp4.qtensor<16x64xf8E4M3FN, fp8>, %b: !fp4.qtensor<8x64xf8E4M3FN, fp8_per_channel>) -> tensor<16x8xf32> {
  // expected-error @+1 {{convert-fp4-to-nvvm: the kernels take NVFP4 or MXFP4 operands (MXFP8 activations with MXFP4 weights) with linear scales along K}}
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x64xf8E4M3FN, fp8>, !fp4.qtensor<8x64xf8E4M3FN, fp8_per_channel> -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}

// -----

// An activation quantized on the host: the kernel reads its parts through
// fp4.disassemble (the CPU lowering computes them).
// CHECK-LABEL: func.func @runtime_quantized(
// CHECK: %[[Q:.*]] = fp4.quantize %arg0
// CHECK: %[[DATA:.*]], %[[SCALES:.*]], %[[GLOBAL:.*]] = fp4.disassemble %[[Q]]
// CHECK: tensor.extract %[[GLOBAL]][]
// CHECK: bufferization.to_buffer %[[DATA]]
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_mma_16x8x64
func.func @runtime_quantized(%x: tensor<16x64xf32>, %b: !fp4.qtensor<8x64xf4E2M1FN, nvfp4>) -> tensor<16x8xf32> {
  %a = fp4.quantize %x : tensor<16x64xf32> -> !fp4.qtensor<16x64xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x64xf4E2M1FN, nvfp4>, !fp4.qtensor<8x64xf4E2M1FN, nvfp4> -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}

// -----

// Stacked experts: grid z is the expert, the result [E, M, N].
// CHECK-LABEL: func.func @experts(
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<768xf32>
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_mma_E2x16x24x64 blocks in (%{{.*}}, %{{.*}}, %[[E:.*]]) threads
// CHECK: memref.expand_shape %[[OUT]] {{\[}}[0, 1, 2]] output_shape [2, 16, 24]
// CHECK: gpu.func @fp4_nvfp4_mma_E2x16x24x64(
// CHECK: gpu.block_id  z
func.func @experts(%a: !fp4.qtensor<2x16x64xf4E2M1FN, nvfp4>, %bd: tensor<2x24x32xi8>, %bs: tensor<2x24x4xf8E4M3FN>, %bg: tensor<f32>, %ad: tensor<2x16x32xi8>, %as: tensor<2x16x4xf8E4M3FN>, %ag: tensor<f32>) -> tensor<2x16x24xf32> {
  %x = fp4.assemble %ad, %as, %ag : tensor<2x16x32xi8>, tensor<2x16x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<2x16x64xf4E2M1FN, nvfp4>
  %w = fp4.assemble %bd, %bs, %bg : tensor<2x24x32xi8>, tensor<2x24x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<2x24x64xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %x, %w : !fp4.qtensor<2x16x64xf4E2M1FN, nvfp4>, !fp4.qtensor<2x24x64xf4E2M1FN, nvfp4> -> tensor<2x16x24xf32>
  return %y : tensor<2x16x24xf32>
}

// -----

func.func @empty(%a: !fp4.qtensor<16x0xf4E2M1FN, nvfp4>, %b: !fp4.qtensor<8x0xf4E2M1FN, nvfp4>) -> tensor<16x8xf32> {
  // expected-error @+1 {{convert-fp4-to-nvvm: expects non-empty operands}}
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x0xf4E2M1FN, nvfp4>, !fp4.qtensor<8x0xf4E2M1FN, nvfp4> -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}

// -----

// A grid takes at most 65535 CTAs in y: more activation rows than that many
// tiles is an error before any kernel is built.
func.func @too_many_rows(%x: tensor<8388609x64xbf16>, %bd: tensor<64x32xi8>, %bs: tensor<64x2xf8E8M0FNU>) -> tensor<8388609x64xf32> {
  %b = fp4.assemble %bd, %bs : tensor<64x32xi8>, tensor<64x2xf8E8M0FNU> -> !fp4.qtensor<64x64xf4E2M1FN, mxfp4>
  // expected-error @+1 {{convert-fp4-to-nvvm: 8388609 activation rows (in 1 batches) need a grid of 65537 x 1 CTAs in y and z, and a launch takes at most 65535 in each; split the matmul along its rows}}
  %y = fp4.scaled_matmul %x, %b : tensor<8388609x64xbf16>, !fp4.qtensor<64x64xf4E2M1FN, mxfp4> -> tensor<8388609x64xf32>
  return %y : tensor<8388609x64xf32>
}

// -----

// A bias: the host widens it to f32 and copies it to the device; the kernel
// (named ..._bias) takes it just before the output and, under each store's
// bounds check, adds bias[column] to sum * alpha before the one rounding.
// CHECK-LABEL: func.func @bias_w4a4(
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: %[[DBIAS:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<9xf32>
// CHECK: gpu.memcpy async [%{{.*}}] %[[DBIAS]], %{{.*}} : memref<9xf32>, memref<9xf32>
// CHECK: %[[VIEW:.*]] = memref.cast %[[DBIAS]] : memref<9xf32> to memref<?xf32>
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_mma_17x9x64_bias {{.*}} args({{.*}}, %{{.*}} : f32, %[[VIEW]] : memref<?xf32>, %{{.*}} : memref<?xf32>)
// CHECK: gpu.func @fp4_nvfp4_mma_17x9x64_bias(%{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %[[ALPHA:.*]]: f32, %[[BIAS:.*]]: memref<?xf32>, %[[OUT:.*]]: memref<?xf32>) kernel
// CHECK-COUNT-4: scf.if %{{.*}} {
// CHECK-NEXT: %[[COLUMN:.*]] = arith.addi
// CHECK-NEXT: %[[SCALED:.*]] = arith.mulf %{{.*}}, %[[ALPHA]] : f32
// CHECK-NEXT: %[[B:.*]] = memref.load %[[BIAS]][%[[COLUMN]]] : memref<?xf32>
// CHECK-NEXT: %[[SUM:.*]] = arith.addf %[[SCALED]], %[[B]] : f32
// CHECK: memref.store %[[SUM]], %[[OUT]]
func.func @bias_w4a4(%ad: tensor<17x32xi8>, %as: tensor<17x4xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<9x32xi8>, %bs: tensor<9x4xf8E4M3FN>, %bg: tensor<f32>, %bias: tensor<9xbf16>) -> tensor<17x9xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<17x32xi8>, tensor<17x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<17x64xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<9x32xi8>, tensor<9x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<9x64xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<9xbf16>) : !fp4.qtensor<17x64xf4E2M1FN, nvfp4>, !fp4.qtensor<9x64xf4E2M1FN, nvfp4> -> tensor<17x9xf32>
  return %y : tensor<17x9xf32>
}

// -----

// W4A16 decode with one bias per expert ([E, N]): the bias index is the
// weight row, e * N + column.
// CHECK-LABEL: func.func @bias_decode_experts(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_w4a16mv_E2x1x16x64_bf16_bf16_bias
// CHECK: gpu.func @fp4_mxfp4_w4a16mv_E2x1x16x64_bf16_bf16_bias(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %{{.*}}: f32, %[[BIAS:.*]]: memref<?xf32>, %[[OUT:.*]]: memref<?xbf16>) kernel
// CHECK: %[[E:.*]] = gpu.block_id  z
// CHECK: %[[WROWS:.*]] = arith.muli %[[E]], %c16
// CHECK: scf.if
// CHECK: %[[INDEX:.*]] = arith.addi %[[WROWS]], %{{.*}} : index
// CHECK: memref.load %[[BIAS]][%[[INDEX]]] : memref<?xf32>
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @bias_decode_experts(%x: tensor<2x1x64xbf16>, %bd: tensor<2x16x32xi8>, %bs: tensor<2x16x2xf8E8M0FNU>, %bias: tensor<2x16xf32>) -> tensor<2x1x16xbf16> {
  %b = fp4.assemble %bd, %bs : tensor<2x16x32xi8>, tensor<2x16x2xf8E8M0FNU> -> !fp4.qtensor<2x16x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %x, %b bias(%bias : tensor<2x16xf32>) : tensor<2x1x64xbf16>, !fp4.qtensor<2x16x64xf4E2M1FN, mxfp4> -> tensor<2x1x16xbf16>
  return %y : tensor<2x1x16xbf16>
}

// -----

// W4A8: MXFP8 (E4M3) activations x MXFP4 weights, two m16n8k32
// kind::mxf8f6f4 MMAs per K step of 64. A: four FP8 per 32-bit load; B:
// two bytes of packed codes, each code moved to bits 5..2 of its own byte
// (shifts 2, 6, 10, 14); the scale byte of the first MMA is 0, of the
// second 1 (scale_vec::1X, one UE8M0 byte per 32 elements).
// CHECK-LABEL: func.func @w4a8(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_e4m3_mma_17x9x64 blocks in (%c2{{.*}}, %c2{{.*}}, %c1{{.*}}) threads in (%c32
// CHECK: gpu.func @fp4_mxfp4_e4m3_mma_17x9x64(
// CHECK: scf.for
// CHECK-COUNT-4: vector.load %arg0[%{{.*}}] {alignment = 4 : i64} : memref<?xi8>, vector<4xi8>
// CHECK: vector.load %arg2[%{{.*}}] {alignment = 2 : i64} : memref<?xi8>, vector<2xi8>
// CHECK: arith.shli %{{.*}}, %c2_i32
// CHECK: arith.shli %{{.*}}, %c6_i32
// CHECK: arith.shli %{{.*}}, %c10_i32
// CHECK: arith.shli %{{.*}}, %c14_i32
// CHECK: nvvm.mma.block_scale A[{{.*}}] B[{{.*}}] C[{{.*}}] scaleA[%{{.*}}, %c0_i16{{[_0-9]*}}, %c0_i16{{[_0-9]*}}] scaleB[%{{.*}}, %c0_i16{{[_0-9]*}}, %c0_i16{{[_0-9]*}}] {blockScaleFormat = #nvvm.block_scale_format<ue8m0>, kind = #nvvm.block_scale_kind<mxf8f6f4>, multiplicandAPtxType = #nvvm.mma_type<e4m3>, multiplicandBPtxType = #nvvm.mma_type<e2m1>, scaleVecSize = #nvvm.scale_vec_size<x1>, shape = #nvvm.shape<m = 16, n = 8, k = 32>}
// CHECK-COUNT-4: vector.load %arg0
// CHECK: nvvm.mma.block_scale {{.*}} scaleA[%{{.*}}, %c1_i16{{[_0-9]*}}, %c0_i16{{[_0-9]*}}] scaleB[%{{.*}}, %c1_i16{{[_0-9]*}}, %c0_i16{{[_0-9]*}}] {{.*}}kind = #nvvm.block_scale_kind<mxf8f6f4>
// CHECK: scf.yield
func.func @w4a8(%ad: tensor<17x64xi8>, %as: tensor<17x2xf8E8M0FNU>, %bd: tensor<9x32xi8>, %bs: tensor<9x2xf8E8M0FNU>) -> tensor<17x9xf32> {
  %a = fp4.assemble %ad, %as : tensor<17x64xi8>, tensor<17x2xf8E8M0FNU> -> !fp4.qtensor<17x64xf8E4M3FN, mxfp8>
  %b = fp4.assemble %bd, %bs : tensor<9x32xi8>, tensor<9x2xf8E8M0FNU> -> !fp4.qtensor<9x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<17x64xf8E4M3FN, mxfp8>, !fp4.qtensor<9x64xf4E2M1FN, mxfp4> -> tensor<17x9xf32>
  return %y : tensor<17x9xf32>
}

// -----

// Gathered experts: T = 5 batches of one row (grid z), the decode kernel;
// the host narrows the i64 indices to i32 and passes them after alpha. Each
// CTA reads its row's index, checks it against E = 4 (a bad one reads
// expert 0 and turns alpha into NaN, so its row is NaN) and starts at
// weight row index * N.
// CHECK-LABEL: func.func @gathered(
// CHECK: arith.trunci %{{.*}} : i64 to i32
// CHECK: %[[IDS:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<5xi32>
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_mxfp4_w4a16_G5E4x1x40x256_bf16_f32 blocks in (%c5{{.*}}, %c1{{.*}}, %c5{{.*}}) threads in (%c128{{.*}}) args({{.*}}, %{{.*}} : f32, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?xf32>)
// CHECK: gpu.func @fp4_mxfp4_w4a16_G5E4x1x40x256_bf16_f32(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi8>, %[[ALPHA:.*]]: f32, %[[INDICES:.*]]: memref<?xi32>, %{{.*}}: memref<?xf32>) kernel
// CHECK: %[[RAW:.*]] = memref.load %[[INDICES]][%block_id_z{{.*}}] : memref<?xi32>
// CHECK-NEXT: %[[ID:.*]] = arith.index_cast %[[RAW]] : i32 to index
// CHECK: %[[VALID:.*]] = arith.cmpi ult, %[[ID]], %c4 : index
// CHECK-NEXT: %[[NAN:.*]] = arith.constant 0x7FC00000 : f32
// CHECK-NEXT: %{{.*}} = arith.select %[[VALID]], %[[ALPHA]], %[[NAN]] : f32
// CHECK: %[[SAFE:.*]] = arith.select %[[VALID]], %[[ID]], %c0{{.*}} : index
// CHECK: arith.muli %[[SAFE]], %c40{{.*}} : index
func.func @gathered(%x: tensor<5x256xbf16>, %bd: tensor<4x40x128xi8>, %bs: tensor<4x40x8xf8E8M0FNU>, %ids: tensor<5xi64>) -> tensor<5x40xf32> {
  %b = fp4.assemble %bd, %bs : tensor<4x40x128xi8>, tensor<4x40x8xf8E8M0FNU> -> !fp4.qtensor<4x40x256xf4E2M1FN, mxfp4>
  %y = fp4.gathered_matmul %x, %b[%ids] : tensor<5x256xbf16>, !fp4.qtensor<4x40x256xf4E2M1FN, mxfp4>, tensor<5xi64> -> tensor<5x40xf32>
  return %y : tensor<5x40xf32>
}
