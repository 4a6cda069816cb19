// RUN: fp4-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(fp4-free-host-buffers))' | FileCheck %s

// Host code of a GPU launch after bufferization: the bf16 intermediate is
// freed before the return (after the gpu.wait that completes the copies);
// the result, returned through a view, is not; nor are the device buffers.
// CHECK-LABEL: func.func @launch(
// CHECK: %[[TMP:.*]] = memref.alloc() {alignment = 64 : i64} : memref<256x128xbf16>
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<49152xf32>
// CHECK: gpu.wait [%{{.*}}]
// CHECK-NEXT: %[[VIEW:.*]] = memref.expand_shape %[[OUT]]
// CHECK-NEXT: memref.dealloc %[[TMP]] : memref<256x128xbf16>
// CHECK-NOT: memref.dealloc
// CHECK: return %[[VIEW]]
func.func @launch(%x: memref<256x128xbf16>) -> memref<256x192xf32> {
  %tmp = memref.alloc() {alignment = 64 : i64} : memref<256x128xbf16>
  memref.copy %x, %tmp : memref<256x128xbf16> to memref<256x128xbf16>
  %out = memref.alloc() : memref<49152xf32>
  %flat = memref.collapse_shape %tmp [[0, 1]] : memref<256x128xbf16> into memref<32768xbf16>
  %t0 = gpu.wait async
  %d, %t1 = gpu.alloc async [%t0] () : memref<32768xbf16>
  %t2 = gpu.memcpy async [%t1] %d, %flat : memref<32768xbf16>, memref<32768xbf16>
  %r, %t3 = gpu.alloc async [%t2] () : memref<49152xf32>
  %t4 = gpu.memcpy async [%t3] %out, %r : memref<49152xf32>, memref<49152xf32>
  %t5 = gpu.dealloc async [%t4] %d : memref<32768xbf16>
  %t6 = gpu.dealloc async [%t5] %r : memref<49152xf32>
  gpu.wait [%t6]
  %view = memref.expand_shape %out [[0, 1]] output_shape [256, 192] : memref<49152xf32> into memref<256x192xf32>
  return %view : memref<256x192xf32>
}

// -----

// A buffer passed to a call that returns a memref may come back through it:
// kept. One passed to a call that returns nothing is freed.
// CHECK-LABEL: func.func @calls(
// CHECK: %[[A:.*]] = memref.alloc() : memref<16xi8>
// CHECK: %[[B:.*]] = memref.alloc() : memref<16xi8>
// CHECK: call @consume(%[[B]])
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK-NEXT: return
func.func private @view(memref<16xi8>) -> memref<16xi8>
func.func private @consume(memref<16xi8>)
func.func @calls() -> memref<16xi8> {
  %a = memref.alloc() : memref<16xi8>
  %b = memref.alloc() : memref<16xi8>
  %v = call @view(%a) : (memref<16xi8>) -> memref<16xi8>
  call @consume(%b) : (memref<16xi8>) -> ()
  return %v : memref<16xi8>
}

// -----

// Aliases through scf.if and a returned subview keep the buffer; a buffer
// already freed, or whose pointer leaves as an index, is not freed (again).
// CHECK-LABEL: func.func @aliases(
// CHECK-NOT: memref.dealloc
// CHECK: %[[F:.*]] = memref.alloc() : memref<16xf32>
// CHECK-NEXT: memref.dealloc %[[F]]
// CHECK-NOT: memref.dealloc
// CHECK: %[[T:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: memref.dealloc %[[T]]
// CHECK-NEXT: return
func.func @aliases(%c: i1) -> (memref<8xf32>, memref<4xf32, strided<[1], offset: 2>>, index) {
  %a = memref.alloc() : memref<8xf32>
  %b = memref.alloc() : memref<8xf32>
  %r = scf.if %c -> memref<8xf32> {
    scf.yield %a : memref<8xf32>
  } else {
    scf.yield %b : memref<8xf32>
  }
  %s = memref.alloc() : memref<8xf32>
  %v = memref.subview %s[2] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: 2>>
  %freed = memref.alloc() : memref<16xf32>
  memref.dealloc %freed : memref<16xf32>
  %p = memref.alloc() : memref<32xf32>
  %i = memref.extract_aligned_pointer_as_index %p : memref<32xf32> -> index
  %t = memref.alloc() : memref<8xf32>
  return %r, %v, %i : memref<8xf32>, memref<4xf32, strided<[1], offset: 2>>, index
}
