//===- GPURuntime.cpp - what compiled host code calls on the GPU ----------===//
//
// Part of fp4-mlir. No LLVM or MLIR dependency: builds wherever the CUDA
// toolkit's cuda.h is, links only libcuda (the driver API).
//
// Implements the functions MLIR 22's GPU host lowering calls (gpu-to-llvm
// plus the gpu.binary translation, with the ABI read off their output):
//
//   ptr  mgpuModuleLoad(ptr blob, i64 size)        void mgpuModuleUnload(ptr)
//   ptr  mgpuModuleGetFunction(ptr module, ptr name)
//   void mgpuLaunchKernel(ptr fn, i64 gx, gy, gz, bx, by, bz, i32 smem,
//                         ptr stream, ptr params, ptr extra, i64 nparams)
//   ptr  mgpuStreamCreate()  void mgpuStreamDestroy(ptr)
//   void mgpuStreamSynchronize(ptr)  void mgpuStreamWaitEvent(ptr, ptr)
//   ptr  mgpuEventCreate()  void mgpuEventDestroy(ptr)
//   void mgpuEventSynchronize(ptr)  void mgpuEventRecord(ptr, ptr)
//   ptr  mgpuMemAlloc(i64 bytes, ptr stream, i8 hostShared)
//   void mgpuMemFree(ptr, ptr stream)
//   void mgpuMemcpy(ptr dst, ptr src, i64 bytes, ptr stream)
//   void mgpuMemset32(ptr dst, i32 value, i64 count, ptr stream)
//
// fp4's own, for the host code of W4A4 matmuls on Hopper (the matmul
// kernel launched as a programmatic dependent of its rows kernel):
//
//   void _mlir_ciface_fp4gpuLaunchNextAsDependent()
//
// and for hosts that pass device memory (fp4mlir.Library):
//
//   i32  fp4gpuSynchronize()       i32 fp4gpuCopyToHost(ptr host, ptr dev, i64)
//
// and one for constants (weights) that stay on the device:
//
//   void _mlir_ciface_fp4gpuResidentBytes(Memref1D *device, Memref1D *host)
//   (and ..._fp4gpuResidentE4M3, ..._fp4gpuResidentE8M0 for scale bytes)
//
// and, for the sm_100a kernels' TMA loads,
//
//   void _mlir_ciface_fp4gpuEncodeTensorMap(Memref1D *map, i64 address,
//       i64 rows, i64 rowBytes, i64 boxBytes, i64 boxRows, i64 swizzle)
//
// which writes into `map` (128 host bytes) the CUtensorMap of a row-major
// rows x rowBytes byte tensor at device `address`, read in boxes of
// boxBytes x boxRows with out-of-bounds bytes as zeros, swizzled in
// shared memory by 0 (none) or 128 bytes.
//
// fp4gpuResidentBytes returns (as a 1-D i8 memref descriptor) a device copy of
// the host bytes, made on the first call for that host buffer (address and
// size) and kept until a module is unloaded (a library's unloading unloads its
// module). The host code passes only constants, whose addresses are those of
// the library's globals.
//
// With FP4_GPU_POISON set in the environment, every allocation is filled
// with 0xff bytes (NaN) first: the device tests use it.
//
// When an allocation for a launch fails, that launch and its copies are
// skipped (the error is recorded): a kernel on a null buffer would fault
// and poison the whole context.
//
// Per-call costs are kept low: streams are pooled (mgpuStreamDestroy returns
// one to the pool), and allocations with a stream are stream-ordered
// (cuMemAllocAsync / cuMemFreeAsync) from the device's memory pool, which
// keeps freed memory for the next call.
//
// Everything runs in device 0's primary context (fp4gpuSetDevice picks
// another). A failing driver call is reported on stderr with its name and
// the driver's error name, and remembered: fp4gpuLastError() returns the
// first message since fp4gpuClearError(), so a host can check after a call
// into compiled code instead of the process aborting.
//
//===----------------------------------------------------------------------===//

#include <cuda.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

/// Set on this thread when an allocation of the current launch failed: its
/// copies and the launch are skipped (a null buffer would fault the kernel
/// and poison the whole context). Cleared when the next launch's stream is
/// taken (mgpuStreamCreate).
thread_local bool launchFailed = false;

/// Set at exit: a library's destructor then unloads its module after the
/// CUDA driver may have shut down, and nothing needs freeing any more.
std::atomic<bool> exiting{false};

std::mutex errorMutex;
/// Never destroyed: driver calls made at exit (a library's destructor
/// unloading its module) may still report.
std::string &firstError = *new std::string;
int device = 0;

/// Keeps `message` for fp4gpuLastError unless an earlier error is kept.
void recordError(const std::string &message) {
  std::lock_guard<std::mutex> lock(errorMutex);
  if (firstError.empty())
    firstError = message;
}

void report(const char *call, CUresult result) {
  const char *name = nullptr;
  if (cuGetErrorName(result, &name) != CUDA_SUCCESS || !name)
    name = "unknown CUDA error";
  std::string message = std::string(call) + " failed: " + name;
  std::fprintf(stderr, "fp4 GPU runtime: %s\n", message.c_str());
  recordError(message);
}

bool check(const char *call, CUresult result) {
  if (result == CUDA_SUCCESS)
    return true;
  report(call, result);
  return false;
}

/// Makes the chosen device's primary context current on this thread.
bool ensureContext() {
  static std::once_flag initialized;
  static bool initOk = false;
  std::call_once(initialized, [] {
    initOk = check("cuInit", cuInit(/*flags=*/0));
    // Registered after the libraries' destructors, so it runs before them.
    std::atexit([] { exiting = true; });
  });
  if (!initOk)
    return false;
  thread_local CUcontext current = nullptr;
  thread_local int currentDevice = -1;
  if (current && currentDevice == device)
    return true;
  CUdevice handle;
  if (!check("cuDeviceGet", cuDeviceGet(&handle, device)) ||
      !check("cuDevicePrimaryCtxRetain",
             cuDevicePrimaryCtxRetain(&current, handle)) ||
      !check("cuCtxSetCurrent", cuCtxSetCurrent(current)))
    return false;
  currentDevice = device;
  // The pool behind cuMemAllocAsync keeps freed memory instead of giving it
  // back at every synchronization: the next call's buffers come from it.
  CUmemoryPool pool;
  if (cuDeviceGetDefaultMemPool(&pool, handle) == CUDA_SUCCESS) {
    cuuint64_t keep = ~cuuint64_t(0);
    cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep);
  }
  return true;
}

/// Streams the host code is done with, per device, for the next
/// mgpuStreamCreate (creating one costs more than a launch). Never
/// destroyed, like the other state below.
struct StreamPool {
  std::mutex mutex;
  std::map<int, std::vector<CUstream>> free;
};
StreamPool &streamPool() {
  static auto *pool = new StreamPool;
  return *pool;
}

/// Allocations made by cuMemAllocAsync (mgpuMemAlloc with a stream).
std::mutex &asyncMutex = *new std::mutex;
std::set<CUdeviceptr> &asyncAllocations = *new std::set<CUdeviceptr>;

/// The dynamic shared memory each kernel has been allowed beyond the
/// default 48 KB (cuFuncSetAttribute), so that it is set once.
struct SharedLimits {
  std::mutex mutex;
  std::map<void *, int32_t> allowed;
};
SharedLimits &sharedLimits = *new SharedLimits;

/// Device copies of constants, by host address and size
/// (fp4gpuResidentBytes). Cleared when a module is unloaded: a library's
/// globals go with it, and another library may reuse their addresses.
/// Never destroyed: a library's destructor unloads its module (and so
/// calls dropResidentCopies) at exit, possibly after this file's statics
/// would have been destroyed.
struct ResidentCopies {
  std::mutex mutex;
  // By device, host address and size.
  std::map<std::tuple<int, const void *, int64_t>, CUdeviceptr> copies;
};
ResidentCopies &residentCopies() {
  static auto *copies = new ResidentCopies;
  return *copies;
}

void dropResidentCopies() {
  ResidentCopies &resident = residentCopies();
  std::lock_guard<std::mutex> lock(resident.mutex);
  // At exit the driver may be shut down already: errors are not reported.
  for (auto &[key, pointer] : resident.copies)
    cuMemFree(pointer);
  resident.copies.clear();
}

/// Set by fp4gpuLaunchNextAsDependent for the next launch on this thread.
thread_local bool launchNextAsDependent = false;

} // namespace

extern "C" {

void fp4gpuSetDevice(int32_t ordinal) { device = ordinal; }

const char *fp4gpuLastError() {
  std::lock_guard<std::mutex> lock(errorMutex);
  return firstError.empty() ? nullptr : firstError.c_str();
}

void fp4gpuClearError() {
  std::lock_guard<std::mutex> lock(errorMutex);
  firstError.clear();
}

// For hosts that hold device memory of their own (Python's DLPack tensors):
// wait for all work on the device, and copy device bytes to host memory.
// Both return 0 on success, else record the error and return 1.

int32_t fp4gpuSynchronize() {
  return ensureContext() && check("cuCtxSynchronize", cuCtxSynchronize()) ? 0
                                                                          : 1;
}

int32_t fp4gpuCopyToHost(void *host, const void *device, uint64_t bytes) {
  return ensureContext() &&
                 check("cuMemcpyDtoH",
                       cuMemcpyDtoH(host, reinterpret_cast<CUdeviceptr>(device),
                                    bytes))
             ? 0
             : 1;
}

void *mgpuModuleLoad(void *data, size_t /*size*/) {
  CUmodule module = nullptr;
  if (!ensureContext() ||
      !check("cuModuleLoadData", cuModuleLoadData(&module, data)))
    return nullptr;
  return module;
}

void mgpuModuleUnload(void *module) {
  if (!module || exiting || !ensureContext())
    return;
  dropResidentCopies();
  {
    // Its functions' handles may be reused by a module loaded later.
    std::lock_guard<std::mutex> lock(sharedLimits.mutex);
    sharedLimits.allowed.clear();
  }
  check("cuModuleUnload", cuModuleUnload(static_cast<CUmodule>(module)));
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  CUfunction function = nullptr;
  if (!module) {
    recordError(std::string("kernel '") + name +
                "' requested from a module that did not load");
    return nullptr;
  }
  if (!check("cuModuleGetFunction",
             cuModuleGetFunction(&function, static_cast<CUmodule>(module),
                                 name)))
    return nullptr;
  return function;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t sharedBytes, void *stream,
                      void **params, void **extra, size_t /*paramCount*/) {
  // fp4gpuLaunchNextAsDependent's flag is this launch's, whether or not it
  // goes ahead.
  bool dependent = launchNextAsDependent;
  launchNextAsDependent = false;
  if (!function) {
    // The module or the kernel did not load (reported then); say so at
    // every launch too, so that a host checking fp4gpuLastError after a
    // call sees it.
    std::fprintf(stderr, "fp4 GPU runtime: launch of a kernel that did not "
                         "load\n");
    recordError("launch of a kernel that did not load (the module or "
                "function failed to load)");
    return;
  }
  if (launchFailed || !ensureContext())
    return;
  // More dynamic shared memory than the default 48 KB must be allowed per
  // kernel first (the prefill kernels' two buffers), once per kernel and
  // size.
  if (sharedBytes > 48 * 1024) {
    std::lock_guard<std::mutex> lock(sharedLimits.mutex);
    int32_t &limit = sharedLimits.allowed[function];
    if (limit < sharedBytes) {
      if (!check("cuFuncSetAttribute",
                 cuFuncSetAttribute(
                     static_cast<CUfunction>(function),
                     CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                     sharedBytes)))
        return;
      limit = sharedBytes;
    }
  }
  // A dependent launch is a programmatic dependent of the kernel before it
  // on the stream: it may start once that grid's CTAs allow it, and waits
  // (griddepcontrol.wait) for that grid's end before it reads what the
  // grid writes.
  CUlaunchAttribute attribute = {};
  attribute.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
  attribute.value.programmaticStreamSerializationAllowed = 1;
  CUlaunchConfig config = {};
  config.gridDimX = gridX;
  config.gridDimY = gridY;
  config.gridDimZ = gridZ;
  config.blockDimX = blockX;
  config.blockDimY = blockY;
  config.blockDimZ = blockZ;
  config.sharedMemBytes = sharedBytes;
  config.hStream = static_cast<CUstream>(stream);
  config.attrs = &attribute;
  config.numAttrs = dependent ? 1 : 0;
  check("cuLaunchKernelEx",
        cuLaunchKernelEx(&config, static_cast<CUfunction>(function), params,
                         extra));
}

// The next mgpuLaunchKernel on this thread launches its kernel as a
// programmatic dependent of the kernel before it (W4A4's rows kernel and
// the matmul after it: the matmul's weight loads overlap the rows kernel).
// The kernel must wait for the grid before it with griddepcontrol.wait.
void _mlir_ciface_fp4gpuLaunchNextAsDependent() {
  launchNextAsDependent = true;
}

void *mgpuStreamCreate() {
  launchFailed = false;
  if (!ensureContext())
    return nullptr;
  StreamPool &pool = streamPool();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    std::vector<CUstream> &free = pool.free[device];
    if (!free.empty()) {
      CUstream stream = free.back();
      free.pop_back();
      return stream;
    }
  }
  CUstream stream = nullptr;
  if (!check("cuStreamCreate", cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING)))
    return nullptr;
  return stream;
}

void mgpuStreamDestroy(void *stream) {
  // Back to the pool: work still queued on it stays ordered before the next
  // user's.
  if (!stream)
    return;
  StreamPool &pool = streamPool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  pool.free[device].push_back(static_cast<CUstream>(stream));
}

void mgpuStreamSynchronize(void *stream) {
  if (ensureContext())
    check("cuStreamSynchronize",
          cuStreamSynchronize(static_cast<CUstream>(stream)));
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  check("cuStreamWaitEvent",
        cuStreamWaitEvent(static_cast<CUstream>(stream),
                          static_cast<CUevent>(event), /*flags=*/0));
}

void *mgpuEventCreate() {
  CUevent event = nullptr;
  if (!ensureContext() ||
      !check("cuEventCreate", cuEventCreate(&event, CU_EVENT_DISABLE_TIMING)))
    return nullptr;
  return event;
}

void mgpuEventDestroy(void *event) {
  if (event)
    check("cuEventDestroy", cuEventDestroy(static_cast<CUevent>(event)));
}

void mgpuEventSynchronize(void *event) {
  check("cuEventSynchronize",
        cuEventSynchronize(static_cast<CUevent>(event)));
}

void mgpuEventRecord(void *event, void *stream) {
  check("cuEventRecord", cuEventRecord(static_cast<CUevent>(event),
                                       static_cast<CUstream>(stream)));
}

void *mgpuMemAlloc(uint64_t bytes, void *stream, bool hostShared) {
  if (!ensureContext())
    return nullptr;
  CUdeviceptr pointer = 0;
  if (bytes == 0)
    return nullptr;
  auto cuStream = static_cast<CUstream>(stream);
  bool ok;
  if (hostShared) {
    ok = check("cuMemAllocManaged",
               cuMemAllocManaged(&pointer, bytes, CU_MEM_ATTACH_GLOBAL));
  } else if (cuStream) {
    // Stream-ordered, from the device's pool (kept between calls).
    ok = check("cuMemAllocAsync", cuMemAllocAsync(&pointer, bytes, cuStream));
    if (ok) {
      std::lock_guard<std::mutex> lock(asyncMutex);
      asyncAllocations.insert(pointer);
    }
  } else {
    ok = check("cuMemAlloc", cuMemAlloc(&pointer, bytes));
  }
  // Tests poison fresh buffers (all bytes 0xff: NaN in f32, f16 and bf16)
  // so that an element a kernel fails to write cannot pass for a result.
  static const bool poison = std::getenv("FP4_GPU_POISON") != nullptr;
  if (ok && poison)
    ok = check("cuMemsetD8Async",
               cuMemsetD8Async(pointer, 0xff, bytes, cuStream));
  if (!ok)
    launchFailed = true;
  return ok ? reinterpret_cast<void *>(pointer) : nullptr;
}

void mgpuMemFree(void *pointer, void *stream) {
  if (!pointer)
    return;
  auto address = reinterpret_cast<CUdeviceptr>(pointer);
  bool pooled;
  {
    std::lock_guard<std::mutex> lock(asyncMutex);
    pooled = asyncAllocations.erase(address) > 0;
  }
  // cuMemFreeAsync takes only pool memory; cuMemFree takes both (waiting).
  if (pooled && stream)
    check("cuMemFreeAsync",
          cuMemFreeAsync(address, static_cast<CUstream>(stream)));
  else
    check("cuMemFree", cuMemFree(address));
}

void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream) {
  if (!launchFailed && dst && src && ensureContext())
    check("cuMemcpyAsync", cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                                         reinterpret_cast<CUdeviceptr>(src),
                                         bytes,
                                         static_cast<CUstream>(stream)));
}

void mgpuMemset32(void *dst, unsigned int value, size_t count, void *stream) {
  if (ensureContext())
    check("cuMemsetD32Async",
          cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value, count,
                           static_cast<CUstream>(stream)));
}

/// MLIR's descriptor of a 1-D memref.
struct Memref1D {
  void *allocated, *aligned;
  int64_t offset, size, stride;
};

void _mlir_ciface_fp4gpuResidentBytes(Memref1D *result, Memref1D *host) {
  // Every element is one byte, whatever its type.
  *result = {nullptr, nullptr, 0, host->size, 1};
  const char *bytes = static_cast<const char *>(host->aligned) + host->offset;
  if (host->size <= 0)
    return;
  if (!ensureContext()) {
    launchFailed = true;
    return;
  }
  ResidentCopies &resident = residentCopies();
  std::lock_guard<std::mutex> lock(resident.mutex);
  CUdeviceptr &copy = resident.copies[{device, bytes, host->size}];
  if (!copy) {
    CUdeviceptr pointer = 0;
    if (!check("cuMemAlloc", cuMemAlloc(&pointer, host->size))) {
      launchFailed = true;
      return;
    }
    // From pageable memory the copy may return before the DMA is done, and
    // the kernels run on non-blocking streams: wait for it.
    if (!check("cuMemcpyHtoD", cuMemcpyHtoD(pointer, bytes, host->size)) ||
        !check("cuCtxSynchronize", cuCtxSynchronize())) {
      cuMemFree(pointer);
      launchFailed = true;
      return;
    }
    copy = pointer;
  }
  result->allocated = result->aligned = reinterpret_cast<void *>(copy);
}

void _mlir_ciface_fp4gpuEncodeTensorMap(Memref1D *map, int64_t address,
                                        int64_t rows, int64_t rowBytes,
                                        int64_t boxBytes, int64_t boxRows,
                                        int64_t swizzle) {
  static_assert(sizeof(CUtensorMap) == 128, "the host code passes 128 bytes");
  if (map->size != int64_t(sizeof(CUtensorMap))) {
    recordError("fp4gpuEncodeTensorMap: the map buffer has " +
                std::to_string(map->size) + " bytes, a CUtensorMap 128");
    launchFailed = true;
    return;
  }
  if (swizzle != 0 && swizzle != 128) {
    recordError("fp4gpuEncodeTensorMap: swizzle " + std::to_string(swizzle) +
                " (0 or 128 bytes)");
    launchFailed = true;
    return;
  }
  if (!ensureContext()) {
    launchFailed = true;
    return;
  }
  // Dimension 0 is a row's bytes. The sm_100a kernels read 16 x 128 boxes
  // (a core-matrix column of a tile), unswizzled.
  cuuint64_t dims[2] = {cuuint64_t(rowBytes), cuuint64_t(rows)};
  cuuint64_t strides[1] = {cuuint64_t(rowBytes)};
  cuuint32_t box[2] = {cuuint32_t(boxBytes), cuuint32_t(boxRows)};
  cuuint32_t elementStrides[2] = {1, 1};
  CUtensorMap encoded;
  if (!check("cuTensorMapEncodeTiled",
             cuTensorMapEncodeTiled(&encoded, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2,
                                    reinterpret_cast<void *>(address), dims,
                                    strides, box, elementStrides,
                                    CU_TENSOR_MAP_INTERLEAVE_NONE,
                                    swizzle ? CU_TENSOR_MAP_SWIZZLE_128B
                                            : CU_TENSOR_MAP_SWIZZLE_NONE,
                                    CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                                    CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE))) {
    launchFailed = true;
    return;
  }
  std::memcpy(static_cast<char *>(map->aligned) + map->offset, &encoded,
              sizeof(encoded));
}

void _mlir_ciface_fp4gpuResidentE4M3(Memref1D *result, Memref1D *host) {
  _mlir_ciface_fp4gpuResidentBytes(result, host);
}

void _mlir_ciface_fp4gpuResidentE8M0(Memref1D *result, Memref1D *host) {
  _mlir_ciface_fp4gpuResidentBytes(result, host);
}

} // extern "C"
