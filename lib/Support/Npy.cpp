//===- Npy.cpp - read and write NumPy .npy files --------------------------===//
//
// Part of fp4-mlir. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#include "fp4/Support/Npy.h"
#include "fp4/Numerics/ElementFormats.h"

#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace fp4;

size_t fp4::dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::U8:
  case DType::I8:
    return 1;
  case DType::I64:
  case DType::F64:
    return 8;
  }
  return 0;
}

const char *fp4::npyDescr(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "<f4";
  case DType::F16:
    return "<f2";
  case DType::BF16:
    return "<V2"; // NumPy has no bfloat16; ml_dtypes' is written as 2 raw bytes
  case DType::U8:
    return "|u1";
  case DType::I8:
    return "|i1";
  case DType::I32:
    return "<i4";
  case DType::I64:
    return "<i8";
  case DType::F64:
    return "<f8";
  }
  return "";
}

const char *fp4::dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "float32";
  case DType::F16:
    return "float16";
  case DType::BF16:
    return "bfloat16";
  case DType::U8:
    return "uint8";
  case DType::I8:
    return "int8";
  case DType::I32:
    return "int32";
  case DType::I64:
    return "int64";
  case DType::F64:
    return "float64";
  }
  return "?";
}

int64_t NdArray::numElements() const {
  int64_t n = 1;
  for (int64_t dim : shape)
    n *= dim;
  return n;
}

float fp4::loadAsFloat(const NdArray &array, int64_t i) {
  switch (array.dtype) {
  case DType::F32:
    return array.data<float>()[i];
  case DType::F16:
    return numerics::halfToFloat(array.data<uint16_t>()[i]);
  case DType::BF16:
    return numerics::bf16ToFloat(array.data<uint16_t>()[i]);
  default:
    return 0.0f;
  }
}

namespace {

/// Value of `key` in a header dict like {'descr': '<f4', 'fortran_order':
/// False, 'shape': (3, 4), }. Returns the raw text of the value.
bool findValue(const std::string &header, const std::string &key,
               std::string &value) {
  size_t pos = header.find("'" + key + "'");
  if (pos == std::string::npos)
    return false;
  pos = header.find(':', pos);
  if (pos == std::string::npos)
    return false;
  ++pos;
  while (pos < header.size() && header[pos] == ' ')
    ++pos;
  size_t end = pos;
  if (header[pos] == '(') {
    end = header.find(')', pos);
    if (end == std::string::npos)
      return false;
    ++end;
  } else if (header[pos] == '\'') {
    end = header.find('\'', pos + 1);
    if (end == std::string::npos)
      return false;
    ++end;
  } else {
    while (end < header.size() && header[end] != ',' && header[end] != '}')
      ++end;
  }
  value = header.substr(pos, end - pos);
  return true;
}

bool parseDescr(const std::string &descr, DType &dtype) {
  static const struct {
    const char *text;
    DType dtype;
  } table[] = {{"'<f4'", DType::F32}, {"'<f2'", DType::F16},
               {"'|u1'", DType::U8},  {"'<u1'", DType::U8},
               {"'|i1'", DType::I8},  {"'<i1'", DType::I8},
               {"'<i4'", DType::I32}, {"'<i8'", DType::I64},
               {"'<f8'", DType::F64}, {"'<V2'", DType::BF16},
               {"'|V2'", DType::BF16}, {"'bfloat16'", DType::BF16}};
  for (const auto &entry : table)
    if (descr == entry.text) {
      dtype = entry.dtype;
      return true;
    }
  return false;
}

} // namespace

/// Parses the header of a .npy image; sets the dtype and shape of `array`
/// (not its bytes) and the offset of the data.
static bool parseNpyHeader(const uint8_t *data, size_t size, NdArray &array,
                           size_t &dataOffset, std::string &error);

bool fp4::parseNpy(const uint8_t *data, size_t size, NdArray &array,
                   std::string &error) {
  size_t dataOffset;
  if (!parseNpyHeader(data, size, array, dataOffset, error))
    return false;
  array.bytes.assign(data + dataOffset, data + size);
  return true;
}

std::unique_ptr<MappedNpy> MappedNpy::open(const std::string &path,
                                           std::string &error) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    error = path + ": cannot open file";
    return nullptr;
  }
  struct stat info;
  if (fstat(fd, &info) != 0 || info.st_size == 0) {
    ::close(fd);
    error = path + ": not a .npy file (empty)";
    return nullptr;
  }
  std::unique_ptr<MappedNpy> mapped(new MappedNpy());
  mapped->mappingSize = static_cast<size_t>(info.st_size);
  mapped->mapping =
      mmap(nullptr, mapped->mappingSize, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped->mapping == MAP_FAILED) {
    mapped->mapping = nullptr;
    error = path + ": cannot map file";
    return nullptr;
  }
  const uint8_t *bytes = static_cast<const uint8_t *>(mapped->mapping);
  NdArray header;
  size_t dataOffset;
  if (!parseNpyHeader(bytes, mapped->mappingSize, header, dataOffset, error)) {
    error = path + ": " + error;
    return nullptr;
  }
  mapped->dtype = header.dtype;
  mapped->shape = header.shape;
  mapped->data = bytes + dataOffset;
  mapped->size = mapped->mappingSize - dataOffset;
  return mapped;
}

MappedNpy::~MappedNpy() {
  if (mapping)
    munmap(mapping, mappingSize);
}

static bool parseNpyHeader(const uint8_t *data, size_t size, NdArray &array,
                           size_t &dataOffset, std::string &error) {
  static const char magic[] = "\x93NUMPY";
  if (size < 10 || std::memcmp(data, magic, 6) != 0) {
    error = "not a .npy file (bad magic)";
    return false;
  }
  uint8_t major = data[6];
  size_t headerLen, offset;
  if (major == 1) {
    headerLen = data[8] | (data[9] << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) {
      error = "truncated .npy header";
      return false;
    }
    headerLen = data[8] | (data[9] << 8) | (data[10] << 16) |
                (static_cast<size_t>(data[11]) << 24);
    offset = 12;
  } else {
    error = "unsupported .npy version " + std::to_string(major);
    return false;
  }
  if (offset + headerLen > size) {
    error = "truncated .npy header";
    return false;
  }
  std::string header(reinterpret_cast<const char *>(data + offset), headerLen);
  std::string descr, fortran, shapeText;
  if (!findValue(header, "descr", descr) ||
      !findValue(header, "fortran_order", fortran) ||
      !findValue(header, "shape", shapeText)) {
    error = "malformed .npy header: " + header;
    return false;
  }
  if (!parseDescr(descr, array.dtype)) {
    error = "unsupported dtype " + descr +
            " (expected float32, float16, bfloat16, uint8, int8, int32, "
            "int64 or float64, little-endian)";
    return false;
  }
  if (fortran != "False") {
    error = "Fortran-order arrays are not supported";
    return false;
  }
  array.shape.clear();
  std::string inner = shapeText.substr(1, shapeText.size() - 2);
  std::stringstream stream(inner);
  std::string item;
  while (std::getline(stream, item, ',')) {
    size_t first = item.find_first_not_of(' ');
    if (first == std::string::npos)
      continue;
    char *end = nullptr;
    long long dim = std::strtoll(item.c_str() + first, &end, 10);
    if (end == item.c_str() + first || dim < 0) {
      error = "malformed shape " + shapeText;
      return false;
    }
    array.shape.push_back(dim);
  }
  dataOffset = offset + headerLen;
  // Guard the element count against overflow before multiplying by the size.
  uint64_t count = 1;
  for (int64_t dim : array.shape) {
    if (dim != 0 && count > (UINT64_MAX / 16) / static_cast<uint64_t>(dim)) {
      error = "shape " + shapeText + " is too large";
      return false;
    }
    count *= static_cast<uint64_t>(dim);
  }
  uint64_t expected = count * dtypeSize(array.dtype);
  if (size - dataOffset != expected) {
    error = "data holds " + std::to_string(size - dataOffset) +
            " bytes, shape " + shapeText + " needs " + std::to_string(expected);
    return false;
  }
  return true;
}

bool fp4::readNpy(const std::string &path, NdArray &array,
                  std::string &error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = path + ": cannot open file";
    return false;
  }
  file.seekg(0, std::ios::end);
  std::vector<uint8_t> content(static_cast<size_t>(file.tellg()));
  file.seekg(0, std::ios::beg);
  file.read(reinterpret_cast<char *>(content.data()), content.size());
  if (!file) {
    error = path + ": read failed";
    return false;
  }
  if (!parseNpy(content.data(), content.size(), array, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

bool fp4::writeNpy(const std::string &path, const NdArray &array,
                   std::string &error) {
  std::string header = "{'descr': '";
  header += npyDescr(array.dtype);
  header += "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < array.shape.size(); ++i)
    header += (i ? ", " : "") + std::to_string(array.shape[i]);
  if (array.shape.size() == 1)
    header += ','; // (3,) is a tuple, (3) is not
  header += "), }";
  // Pad so that the data starts on a 64-byte boundary, ending in '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream file(path, std::ios::binary);
  if (!file) {
    error = path + ": cannot open file for writing";
    return false;
  }
  const char magic[] = "\x93NUMPY\x01\x00";
  file.write(magic, 8);
  uint16_t len = static_cast<uint16_t>(header.size());
  char lenBytes[2] = {static_cast<char>(len & 0xFF),
                      static_cast<char>(len >> 8)};
  file.write(lenBytes, 2);
  file.write(header.data(), header.size());
  file.write(reinterpret_cast<const char *>(array.bytes.data()),
             array.bytes.size());
  if (!file) {
    error = path + ": write failed";
    return false;
  }
  return true;
}
