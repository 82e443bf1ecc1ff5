// SHA-256 (OpenSSL's libcrypto): the per-tensor checksums of checkpoints.
#pragma once

#include <cstddef>
#include <string>

namespace masnn {

/// The SHA-256 of `size` bytes as 64 lowercase hex digits.
std::string sha256_hex(const void* data, size_t size);

}  // namespace masnn
