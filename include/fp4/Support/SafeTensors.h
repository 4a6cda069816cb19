//===- SafeTensors.h - read and write .safetensors checkpoints --*- C++ -*-===//
//
// Part of fp4-mlir. No MLIR dependency.
//
// The format: an 8-byte little-endian header length, a JSON header mapping
// each tensor name to {dtype, shape, data_offsets} (plus an optional
// "__metadata__" map of strings), then the tensor bytes. Tensors are read one
// at a time from the file, so a checkpoint never has to fit in memory.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_SUPPORT_SAFETENSORS_H
#define FP4_SUPPORT_SAFETENSORS_H

#include "fp4/Support/Npy.h"

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fp4 {

/// safetensors dtypes beyond those of NdArray are carried as raw bytes.
struct TensorInfo {
  std::string name;
  std::string dtype; // "F32", "BF16", "U8", "F8_E4M3", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0; // byte offsets into the data section
};

class SafeTensorsReader {
public:
  /// Opens `path` and parses its header; on failure returns null and sets
  /// `error` to a message naming the file and the problem.
  static std::unique_ptr<SafeTensorsReader> open(const std::string &path,
                                                 std::string &error);
  ~SafeTensorsReader();

  const std::vector<TensorInfo> &tensors() const { return infos; }
  const std::map<std::string, std::string> &metadata() const { return meta; }
  const TensorInfo *find(const std::string &name) const;
  /// Reads one tensor. Dtypes F32/F16/BF16/U8/I8/I32/I64/F64 become that
  /// NdArray dtype; F8_E4M3 / F8_E5M2 / BOOL are read as U8.
  bool read(const TensorInfo &info, NdArray &array, std::string &error) const;

private:
  SafeTensorsReader() = default;
  std::string path;
  std::FILE *file = nullptr;
  uint64_t dataStart = 0;
  std::vector<TensorInfo> infos;
  std::map<std::string, std::string> meta;
};

/// One tensor to write: its safetensors dtype and its bytes.
struct OutputTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

/// Writes `tensors` (sorted by name, as the reference writer does) and
/// `metadata` to `path`.
bool writeSafeTensors(const std::string &path,
                      const std::vector<OutputTensor> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error);

/// The safetensors dtype string of an NdArray dtype.
const char *safetensorsDType(DType dtype);

} // namespace fp4

#endif // FP4_SUPPORT_SAFETENSORS_H
