// The IDX format of MNIST and Fashion-MNIST: a 4-byte magic (0, 0, element type, number of dimensions), the
// dimensions as big-endian 32-bit integers, then the elements in row-major order. Only unsigned bytes (type 0x08)
// are read, the type both datasets use. Files may be gzip-compressed (as distributions ship them): a file that
// starts with the gzip signature is inflated first, whatever its name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace masnn::data {

/// An array of unsigned bytes read from an IDX file.
struct IdxArray {
  std::vector<int64_t> dims;  ///< e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<uint8_t> data;  ///< product(dims) values, row-major
};

/// Parses the bytes of an (uncompressed) IDX file; `name` names the file in messages. Throws std::runtime_error
/// naming the file for a wrong magic, an element type other than unsigned byte, or a size that does not match
/// the dimensions.
IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name);
/// Reads an IDX file, gzip-compressed or plain. Throws std::runtime_error naming the file.
IdxArray read_idx(const std::string& path);
/// Writes an IDX file of unsigned bytes (gzip-compressed when `gzip`), atomically. Throws std::invalid_argument
/// when the data does not match the dimensions.
void write_idx(const std::string& path, const IdxArray& array, bool gzip);

/// The bytes of a file, inflated when it starts with the gzip signature. Throws std::runtime_error naming the file
/// when it cannot be read or the compressed data is corrupt or truncated.
std::vector<uint8_t> read_maybe_gzip(const std::string& path);
/// Gzip-compresses bytes (for writing .gz files).
std::vector<uint8_t> gzip_compress(const std::vector<uint8_t>& bytes);

}  // namespace masnn::data
