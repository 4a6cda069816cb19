//===- Npy.h - read and write NumPy .npy files ------------------*- C++ -*-===//
//
// Part of fp4-mlir. No MLIR dependency.
//
// Version 1.0/2.0/3.0 .npy files with a little-endian, C-order array of one
// of the dtypes below. Errors are returned as messages, never thrown.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_SUPPORT_NPY_H
#define FP4_SUPPORT_NPY_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fp4 {

enum class DType : uint8_t { F32, F16, BF16, U8, I8, I32, I64, F64 };

/// Bytes per element; the NumPy descr ("<f4", "|u1", ...); the dtype name
/// ("float32", ...).
size_t dtypeSize(DType dtype);
const char *npyDescr(DType dtype);
const char *dtypeName(DType dtype);

/// An n-dimensional array held as raw little-endian bytes.
struct NdArray {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  int64_t numElements() const;
  template <typename T> const T *data() const {
    return reinterpret_cast<const T *>(bytes.data());
  }
  template <typename T> T *data() { return reinterpret_cast<T *>(bytes.data()); }
};

/// A read-only memory map of a .npy file: the array's bytes are used in
/// place, so a tensor larger than memory can be streamed through.
class MappedNpy {
public:
  /// Maps `path`; on failure returns null and sets `error`.
  static std::unique_ptr<MappedNpy> open(const std::string &path,
                                         std::string &error);
  ~MappedNpy();
  MappedNpy(const MappedNpy &) = delete;
  MappedNpy &operator=(const MappedNpy &) = delete;

  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr; // the array's first byte
  size_t size = 0;               // bytes of array data

private:
  MappedNpy() = default;
  void *mapping = nullptr;
  size_t mappingSize = 0;
};

/// Reads `path`; on failure returns false and sets `error` to a message that
/// names the file and the problem.
bool readNpy(const std::string &path, NdArray &array, std::string &error);
/// Parses an in-memory .npy image (e.g. from a zip member).
bool parseNpy(const uint8_t *data, size_t size, NdArray &array,
              std::string &error);
bool writeNpy(const std::string &path, const NdArray &array,
              std::string &error);

/// Element `i` of a float32, float16 or bfloat16 array as float.
float loadAsFloat(const NdArray &array, int64_t i);

} // namespace fp4

#endif // FP4_SUPPORT_NPY_H
