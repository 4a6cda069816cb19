// Every constraint of #fp4.scaling and !fp4.qtensor, violated once.
// RUN: fp4-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{expects a granularity (tensor, channel or block), got 'row'}}
func.func private @f() attributes {a = #fp4.scaling<row, scale = f32>}

// -----

// expected-error @+1 {{unknown scaling key 'stride', expected axis, size, scale, global or layout}}
func.func private @f() attributes {a = #fp4.scaling<block, stride = 2, scale = f32>}

// -----

// expected-error @+1 {{duplicate 'axis' in scaling}}
func.func private @f() attributes {a = #fp4.scaling<channel, axis = 0, axis = 1, scale = f32>}

// -----

// expected-error @+1 {{expects a scale format: 'scale = f32|bf16|ue4m3|ue8m0'}}
func.func private @f() attributes {a = #fp4.scaling<channel, axis = 0>}

// -----

// expected-error @+1 {{expects a scale format (f32, bf16, ue4m3 or ue8m0), got 'fp16'}}
func.func private @f() attributes {a = #fp4.scaling<tensor, scale = fp16>}

// -----

// expected-error @+1 {{channel scaling expects 'axis = N'}}
func.func private @f() attributes {a = #fp4.scaling<channel, scale = f32>}

// -----

// expected-error @+1 {{block scaling expects 'size = N'}}
func.func private @f() attributes {a = #fp4.scaling<block, axis = 1, scale = ue8m0>}

// -----

// expected-error @+1 {{per-tensor scaling takes no axis, got 0}}
func.func private @f() attributes {a = #fp4.scaling<tensor, axis = 0, scale = f32>}

// -----

// expected-error @+1 {{expects a non-negative axis for block scaling, got -2}}
func.func private @f() attributes {a = #fp4.scaling<block, axis = -2, size = 32, scale = ue8m0>}

// -----

// expected-error @+1 {{channel scaling takes no block size, got 16}}
func.func private @f() attributes {a = #fp4.scaling<channel, axis = 0, size = 16, scale = f32>}

// -----

// expected-error @+1 {{tensor scaling takes no block size, got 16}}
func.func private @f() attributes {a = #fp4.scaling<tensor, size = 16, scale = f32>}

// -----

// expected-error @+1 {{expects a positive block size, got 0}}
func.func private @f() attributes {a = #fp4.scaling<block, axis = 0, size = 0, scale = f32>}

// -----

// expected-error @+1 {{scale format ue4m3 expects block granularity, got tensor}}
func.func private @f() attributes {a = #fp4.scaling<tensor, scale = ue4m3>}

// -----

// expected-error @+1 {{scale format ue8m0 expects block granularity, got channel}}
func.func private @f() attributes {a = #fp4.scaling<channel, axis = 0, scale = ue8m0>}

// -----

// expected-error @+1 {{a global scale expects block granularity, got channel}}
func.func private @f() attributes {a = #fp4.scaling<channel, axis = 0, scale = f32, global = f32>}

// -----

// expected-error @+1 {{two-level scaling expects ue4m3 block scales, got ue8m0}}
func.func private @f() attributes {a = #fp4.scaling<block, axis = 0, size = 32, scale = ue8m0, global = f32>}

// -----

// expected-error @+1 {{expects an f32 global scale, got bf16}}
func.func private @f() attributes {a = #fp4.scaling<block, axis = 0, size = 16, scale = ue4m3, global = bf16>}

// -----

// expected-error @+1 {{expects a quantized element type (f4E2M1FN, f8E4M3FN, f8E5M2, !fp4.nf4, !fp4.e1m2 or !fp4.e3m0), got 'i4'}}
func.func private @f(!fp4.qtensor<4x32xi4, #fp4.scaling<tensor, scale = f32>>)

// -----

// expected-error @+1 {{expects rank >= 1}}
func.func private @f(!fp4.qtensor<f8E4M3FN, #fp4.scaling<tensor, scale = f32>>)

// -----

// expected-error @+1 {{expects scaling axis 2 to be less than the rank 2}}
func.func private @f(!fp4.qtensor<4x32xf8E4M3FN, #fp4.scaling<channel, axis = 2, scale = f32>>)

// -----

// expected-error @+1 {{expects the blocked dimension 1 to be static}}
func.func private @f(!fp4.qtensor<4x?xf8E4M3FN, mxfp8>)

// -----

// expected-error @+1 {{expects block size 16 to divide dimension 1 (40)}}
func.func private @f(!fp4.qtensor<4x40xf4E2M1FN, nvfp4>)

// -----

// expected-error @+1 {{expects the last dimension of a 4-bit tensor to be static and even (two codes per byte), got 7}}
func.func private @f(!fp4.qtensor<4x7xf4E2M1FN, #fp4.scaling<tensor, scale = f32>>)

// -----

// expected-error @+1 {{expects the last dimension of a 4-bit tensor to be static and even (two codes per byte), got ?}}
func.func private @f(!fp4.qtensor<32x?x!fp4.e1m2, #fp4.scaling<block, axis = 0, size = 32, scale = ue8m0>>)

// -----

// expected-error @+1 {{scale format ue4m3 expects a 4-bit float element (f4E2M1FN, !fp4.e1m2 or !fp4.e3m0), got 'f8E4M3FN'}}
func.func private @f(!fp4.qtensor<4x32xf8E4M3FN, #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3>>)

// -----

// expected-error @+1 {{scale format ue4m3 expects a 4-bit float element (f4E2M1FN, !fp4.e1m2 or !fp4.e3m0), got '!fp4.nf4'}}
func.func private @f(!fp4.qtensor<4x64x!fp4.nf4, #fp4.scaling<block, axis = 1, size = 64, scale = ue4m3>>)

// -----

// expected-error @+1 {{!fp4.nf4 expects per-block f32 (absmax) scales}}
func.func private @f(!fp4.qtensor<4x64x!fp4.nf4, #fp4.scaling<channel, axis = 0, scale = f32>>)

// -----

// expected-error @+1 {{!fp4.nf4 expects per-block f32 (absmax) scales}}
func.func private @f(!fp4.qtensor<4x64x!fp4.nf4, #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0>>)

// -----

// expected-error @+1 {{unknown preset 'nvfp8', expected nvfp4, mxfp4, mxfp8, fp8, fp8_per_channel, fp8_per_row, nf4 or a #fp4.scaling attribute}}
func.func private @f(!fp4.qtensor<4x32xf4E2M1FN, nvfp8>)

// -----

// expected-error @+1 {{preset 'nvfp4' expects element type f4E2M1FN, got 'f8E4M3FN'}}
func.func private @f(!fp4.qtensor<4x32xf8E4M3FN, nvfp4>)

// -----

// expected-error @+1 {{preset 'mxfp4' expects element type f4E2M1FN, got '!fp4.e1m2'}}
func.func private @f(!fp4.qtensor<4x32x!fp4.e1m2, mxfp4>)

// -----

// expected-error @+1 {{preset 'mxfp8' expects element type f8E4M3FN or f8E5M2, got 'f4E2M1FN'}}
func.func private @f(!fp4.qtensor<4x32xf4E2M1FN, mxfp8>)

// -----

// expected-error @+1 {{preset 'fp8' expects element type f8E4M3FN or f8E5M2, got 'bf16'}}
func.func private @f(!fp4.qtensor<4x32xbf16, fp8>)

// -----

// expected-error @+1 {{preset 'fp8_per_channel' expects rank >= 2, got 1}}
func.func private @f(!fp4.qtensor<32xf8E4M3FN, fp8_per_channel>)

// -----

// expected-error @+1 {{preset 'nf4' expects element type !fp4.nf4, got 'f4E2M1FN'}}
func.func private @f(!fp4.qtensor<4x64xf4E2M1FN, nf4>)

// -----

// expected-error @+1 {{expects a preset name or a #fp4.scaling attribute, got 42 : i64}}
func.func private @f(!fp4.qtensor<4x64xf4E2M1FN, 42>)

// -----

// expected-error @+1 {{expects block size 64 to divide dimension 1 (32)}}
func.func private @f(!fp4.qtensor<4x32x!fp4.nf4, nf4>)

// -----

// expected-error @+1 {{expects a scale layout (linear or swizzled), got 'tiled'}}
func.func private @f() attributes {a = #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3, layout = tiled>}

// -----

// expected-error @+1 {{a swizzled scale layout expects block granularity with ue4m3 or ue8m0 scales}}
func.func private @f() attributes {a = #fp4.scaling<block, axis = 1, size = 16, scale = f32, layout = swizzled>}

// -----

// expected-error @+1 {{a swizzled scale layout expects block granularity with ue4m3 or ue8m0 scales}}
func.func private @f() attributes {a = #fp4.scaling<channel, axis = 0, scale = f32, layout = swizzled>}

// -----

// expected-error @+1 {{a swizzled scale layout expects blocks along the last axis of a tensor of rank >= 2}}
func.func private @f(!fp4.qtensor<32x64xf4E2M1FN, #fp4.scaling<block, axis = 0, size = 32, scale = ue8m0, layout = swizzled>>)

// -----

// expected-error @+1 {{a swizzled scale layout expects blocks along the last axis of a tensor of rank >= 2}}
func.func private @f(!fp4.qtensor<64xf4E2M1FN, #fp4.scaling<block, axis = 0, size = 32, scale = ue8m0, layout = swizzled>>)
