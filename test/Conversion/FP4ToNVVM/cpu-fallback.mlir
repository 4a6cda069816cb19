// RUN: fp4-opt %s -split-input-file -convert-fp4-to-nvvm="chip=sm_90a cpu-fallback" -verify-diagnostics | FileCheck %s
// RUN: fp4-opt %s -split-input-file -fp4-lower-to-nvvm="chip=sm_90a cpu-fallback" -verify-diagnostics -o /dev/null

// With cpu-fallback, what the kernels cannot take stays for the CPU
// lowering, with a remark that says why; the rest is launched.

// CHECK-LABEL: func.func @mixed(
// CHECK: gpu.launch_func async [%{{.*}}] @fp4_kernels::@fp4_nvfp4_w4a16_16x8x64_f32_f32
// CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} : !fp4.qtensor<16x64xf8E4M3FN, fp8>
// CHECK: fp4.scaled_matmul %{{.*}}, %{{.*}} : tensor<16x32xf32>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4>
// CHECK: gpu.module @fp4_kernels
func.func @mixed(%x: tensor<16x64xf32>, %w: !fp4.qtensor<8x64xf4E2M1FN, nvfp4>,
                 %a: !fp4.qtensor<16x64xf8E4M3FN, fp8>, %b: !fp4.qtensor<8x64xf8E4M3FN, fp8_per_channel>,
                 %x32: tensor<16x32xf32>, %w32: !fp4.qtensor<8x32xf4E2M1FN, nvfp4>)
    -> (tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) {
  %y0 = fp4.scaled_matmul %x, %w : tensor<16x64xf32>, !fp4.qtensor<8x64xf4E2M1FN, nvfp4> -> tensor<16x8xf32>
  // expected-remark @+1 {{stays on the CPU (cpu-fallback): convert-fp4-to-nvvm: the kernels take NVFP4 or MXFP4 operands (MXFP8 activations with MXFP4 weights) with linear scales along K}}
  %y1 = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x64xf8E4M3FN, fp8>, !fp4.qtensor<8x64xf8E4M3FN, fp8_per_channel> -> tensor<16x8xf32>
  // expected-remark @+1 {{stays on the CPU (cpu-fallback): convert-fp4-to-nvvm: K = 32 is not a multiple of 64 (the MMA's K); pad K}}
  %y2 = fp4.scaled_matmul %x32, %w32 : tensor<16x32xf32>, !fp4.qtensor<8x32xf4E2M1FN, nvfp4> -> tensor<16x8xf32>
  return %y0, %y1, %y2 : tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>
}

// -----

// Nothing the kernels take: no kernel module is left behind.
// CHECK-LABEL: func.func @none(
// CHECK-NOT: gpu.module
func.func @none(%a: !fp4.qtensor<16x64xf8E4M3FN, fp8>, %b: !fp4.qtensor<8x64xf8E4M3FN, fp8_per_channel>) -> tensor<16x8xf32> {
  // expected-remark @+1 {{stays on the CPU (cpu-fallback)}}
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x64xf8E4M3FN, fp8>, !fp4.qtensor<8x64xf8E4M3FN, fp8_per_channel> -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}
