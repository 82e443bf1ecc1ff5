// Reading torch.save files without Python: the two containers (the zip archive, checked entry by entry, and the
// legacy stream) over masnn's pickle interpreter (pickle.h). Writing emits the zip archive torch.save writes.
#include "masnn/models/pytorch_state_dict.h"

#include "masnn/util/file_io.h"
#include "util/zip_archive.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "pickle.h"
#include "torch_zip.h"

namespace masnn {

namespace {

using pickle::Arena;
using pickle::Kind;
using pickle::kind_name;
using pickle::Node;
using pickle::Unpickler;

// Tensor nodes -> tensors, with storages fetched (once each) by `fetch`.
class Materializer {
 public:
  using Fetch = std::function<torch::Tensor(const Node& storage)>;
  Materializer(std::string where, Fetch fetch) : where_(std::move(where)), fetch_(std::move(fetch)) {}

  torch::Tensor operator()(const std::string& name, const Node& t) {
    const Node& s = *t.storage;
    auto it = cache_.find(s.text);
    if (it == cache_.end()) it = cache_.emplace(s.text, fetch_(s)).first;
    const torch::Tensor& storage = it->second;
    if (storage.scalar_type() != s.dtype)
      throw std::runtime_error(where_ + ": storage " + s.text + " is used with two element types");
    // Sizes and strides come from the file: every product and sum is checked, an overflow is an error.
    int64_t last = t.offset, count = 1;
    bool overflow = false;
    for (size_t d = 0; d < t.sizes.size(); ++d) {
      if (t.sizes[d] < 0 || t.strides[d] < 0)
        throw std::runtime_error(where_ + ": tensor '" + name + "' has a negative size or stride");
      int64_t reach = 0;
      overflow = overflow || __builtin_mul_overflow(count, t.sizes[d], &count);
      if (t.sizes[d] > 0)
        overflow = overflow || __builtin_mul_overflow(t.sizes[d] - 1, t.strides[d], &reach) ||
                   __builtin_add_overflow(last, reach, &last);
    }
    if (overflow)
      throw std::runtime_error(where_ + ": tensor '" + name + "' has sizes or strides too large for any storage");
    if (t.offset < 0 || (count > 0 && last >= storage.numel()))
      throw std::runtime_error(where_ + ": tensor '" + name + "' reaches past the end of its storage (" +
                               std::to_string(storage.numel()) + " elements)");
    return storage.as_strided(t.sizes, t.strides, t.offset).clone(at::MemoryFormat::Contiguous);
  }

 private:
  std::string where_;
  Fetch fetch_;
  std::map<std::string, torch::Tensor> cache_;
};

torch::Tensor storage_tensor(const Node& s, const char* data, size_t nbytes, const std::string& where) {
  const size_t element = c10::elementSize(s.dtype);
  const size_t expected = static_cast<size_t>(s.numel) * element;
  if (static_cast<size_t>(s.numel) > nbytes / element || nbytes != expected)
    throw std::runtime_error(where + ": storage " + s.text + " holds " + std::to_string(nbytes) + " bytes, expected " +
                             std::to_string(expected) + " (" + std::to_string(s.numel) + " elements of " +
                             c10::toString(s.dtype) + ")");
  torch::Tensor t = torch::empty({s.numel}, torch::TensorOptions().dtype(s.dtype));
  if (nbytes) std::memcpy(t.data_ptr(), data, nbytes);
  return t;
}

bool is_tensor_dict(const Node* n) {
  if (n->kind != Kind::Dict || n->entries.empty()) return false;
  for (const auto& [k, v] : n->entries)
    if (k->kind != Kind::String || v->kind != Kind::Tensor) return false;
  return true;
}

// The state dict inside the file's top-level value.
const Node& find_state_dict(const Node* root, const std::string& where) {
  if (is_tensor_dict(root)) return *root;
  static const char* wrappers[] = {"state_dict", "model_state_dict", "model", "net", "state"};
  std::string keys;
  if (root->kind == Kind::Dict) {
    for (const char* w : wrappers)
      for (const auto& [k, v] : root->entries)
        if (k->kind == Kind::String && k->text == w && is_tensor_dict(v)) return *v;
    for (const auto& [k, v] : root->entries) {
      if (!keys.empty()) keys += ", ";
      keys += k->kind == Kind::String ? "'" + k->text + "'" : std::string(kind_name(k->kind));
    }
  }
  throw std::runtime_error(
      where +
      ": expected a state dict (a dict of name -> tensor) or a checkpoint dict holding one "
      "under 'state_dict', 'model_state_dict', 'model', 'net' or 'state'; found " +
      (root->kind == Kind::Dict ? "a dict with keys [" + keys + "]" : std::string("a ") + kind_name(root->kind)));
}

std::map<std::string, torch::Tensor> to_tensors(const Node& dict, Materializer& materialize) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, v] : dict.entries) out[k->text] = materialize(k->text, *v);
  bool all_prefixed = !out.empty();
  for (const auto& [k, v] : out) all_prefixed = all_prefixed && k.rfind("module.", 0) == 0;
  if (!all_prefixed) return out;
  std::map<std::string, torch::Tensor> stripped;
  for (auto& [k, v] : out) stripped[k.substr(7)] = v;
  return stripped;
}

std::map<std::string, torch::Tensor> read_zip(const std::string& path, const std::vector<uint8_t>& buf) {
  const TorchZip zip(path, buf);
  if (!zip.has("data.pkl"))
    throw std::runtime_error(path +
                             ": zip archive without data.pkl; expected a file of torch.save (a TorchScript "
                             "module from torch.jit.save is not a state dict)");
  if (zip.has("byteorder")) {
    const auto order = zip.read("byteorder");
    if (std::string(order.begin(), order.end()) != "little")
      throw std::runtime_error(path + ": written on a big-endian machine; only little-endian files are supported");
  }
  const std::vector<uint8_t> pkl = zip.read("data.pkl");
  Arena arena;
  Unpickler unpickler(path + " (data.pkl)", reinterpret_cast<const char*>(pkl.data()), pkl.size(), arena,
                      [&](const Node* pid) { return pickle::storage_from_pid(path, pid, arena); });
  const Node& dict = find_state_dict(unpickler.run(), path);
  Materializer materialize(path, [&](const Node& s) {
    const std::vector<uint8_t> data = zip.read("data/" + s.text);
    return storage_tensor(s, reinterpret_cast<const char*>(data.data()), data.size(), path);
  });
  return to_tensors(dict, materialize);
}

// The legacy stream: pickles of the magic number, the protocol version and system info, then the value,
// then the list of storage keys, then each storage as an int64 element count and its raw bytes.
std::map<std::string, torch::Tensor> read_legacy(const std::string& path, const std::vector<uint8_t>& bytes) {
  const char* buf_data = reinterpret_cast<const char*>(bytes.data());
  const size_t buf_size = bytes.size();
  size_t pos = 0;
  Arena arena;
  auto next_pickle = [&](const char* what, Unpickler::PersistentLoad load) {
    Unpickler u(path + " (" + what + ")", buf_data + pos, buf_size - pos, arena, std::move(load));
    Node* v = u.run();
    pos += u.offset();
    return v;
  };
  Node* magic = next_pickle("magic number", nullptr);
  static const char magic_bytes[] = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";  // 0x1950a86a20f9469cfc6c
  if (magic->kind != Kind::Object || magic->text != "int" || magic->name != std::string(magic_bytes, 10))
    throw std::runtime_error(path +
                             ": a pickle, but not a file of torch.save (its legacy format starts with the "
                             "magic number 0x1950a86a20f9469cfc6c)");
  Node* version = next_pickle("protocol version", nullptr);
  if (version->kind != Kind::Int || version->integer != 1001)
    throw std::runtime_error(path + ": legacy torch.save protocol version " +
                             (version->kind == Kind::Int ? std::to_string(version->integer) : std::string("?")) +
                             " is not supported (expected 1001)");
  Node* info = next_pickle("system info", nullptr);
  for (const auto& [k, v] : info->entries)
    if (k->kind == Kind::String && k->text == "little_endian" && v->kind == Kind::Bool && !v->boolean)
      throw std::runtime_error(path + ": written on a big-endian machine; only little-endian files are supported");
  std::map<std::string, Node*> storages;
  Node* root = next_pickle("data", [&](const Node* pid) {
    Node* s = pickle::storage_from_pid(path, pid, arena);
    auto [it, inserted] = storages.emplace(s->text, s);
    return it->second;
  });
  Node* keys = next_pickle("storage keys", nullptr);
  if (keys->kind != Kind::List) throw std::runtime_error(path + ": expected the list of storage keys after the data");
  std::map<std::string, torch::Tensor> data;
  for (const auto& k : keys->items) {
    if (k->kind != Kind::String) throw std::runtime_error(path + ": storage key is not a string");
    auto it = storages.find(k->text);
    if (it == storages.end()) throw std::runtime_error(path + ": storage " + k->text + " is not used by any tensor");
    const Node& s = *it->second;
    if (buf_size - pos < 8) throw std::runtime_error(path + ": truncated before storage " + k->text);
    int64_t count = 0;
    std::memcpy(&count, buf_data + pos, 8);
    pos += 8;
    const size_t element = c10::elementSize(s.dtype);
    if (count < 0 || static_cast<size_t>(count) > (buf_size - pos) / element)
      throw std::runtime_error(path + ": truncated in storage " + k->text);
    const size_t nbytes = static_cast<size_t>(count) * element;
    if (count != s.numel)
      throw std::runtime_error(path + ": storage " + k->text + " holds " + std::to_string(count) +
                               " elements, its tensor expected " + std::to_string(s.numel));
    data[k->text] = storage_tensor(s, buf_data + pos, nbytes, path);
    pos += nbytes;
  }
  const Node& dict = find_state_dict(root, path);
  Materializer materialize(path, [&](const Node& s) {
    auto it = data.find(s.text);
    if (it == data.end()) throw std::runtime_error(path + ": data of storage " + s.text + " is missing");
    return it->second;
  });
  return to_tensors(dict, materialize);
}

}  // namespace

std::map<std::string, torch::Tensor> read_pytorch_state_dict(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  if (starts_like_zip(bytes.data(), bytes.size()))
    return read_zip(path, bytes);
  if (!bytes.empty() && bytes[0] == 0x80)  // a pickle (PROTO): the legacy format
    return read_legacy(path, bytes);
  throw std::runtime_error(path + ": not a file of torch.save (expected a zip archive or the legacy torch.save " +
                           "format, found " + (bytes.empty() ? std::string("an empty file") : "other data") + ")");
}

namespace {

// The storage class torch.save names for an element type.
std::string storage_class(at::ScalarType dtype, const std::string& path, const std::string& name) {
  std::string cls = pickle::storage_class(dtype);
  if (cls.empty())
    throw std::runtime_error(path + ": tensor '" + name + "' has an element type torch.save cannot name (" +
                             c10::toString(dtype) + ")");
  return cls;
}

// The pickle (protocol 2) that Python's torch.save writes for an OrderedDict of tensors: only the globals that
// torch.load(weights_only=True) allows (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.XStorage).
// LibTorch's own torch::pickle_save tags its containers with torch.jit._pickle.restore_type_tag, which
// weights_only refuses.
class StateDictPickler {
 public:
  std::string out{"\x80\x02", 2};  // PROTO 2

  void op(char c) { out += c; }
  void global(const std::string& module, const std::string& name) { out += "c" + module + "\n" + name + "\n"; }
  void text(const std::string& s) {  // BINUNICODE: u32 length, UTF-8 bytes
    op('X');
    append_le(static_cast<uint32_t>(s.size()), 4);
    out += s;
  }
  void integer(int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) {  // BININT: i32
      op('J');
      append_le(static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
    } else {  // LONG1: 8 bytes, two's complement
      op('\x8a');
      op('\x08');
      append_le(static_cast<uint64_t>(v), 8);
    }
  }
  void int_tuple(at::IntArrayRef values) {
    op('(');
    for (int64_t v : values) integer(v);
    op('t');
  }
  void empty_ordered_dict() {
    global("collections", "OrderedDict");
    op(')');
    op('R');
  }

 private:
  void append_le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
};

}  // namespace

void write_pytorch_state_dict(const std::map<std::string, torch::Tensor>& state, const std::string& path) {
  std::vector<torch::Tensor> storages;
  StateDictPickler p;
  p.empty_ordered_dict();
  p.op('(');  // MARK: the entries, then SETITEMS
  for (const auto& [name, tensor] : state) {
    if (!tensor.defined()) throw std::runtime_error(path + ": tensor '" + name + "' is undefined");
    const torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const std::string key = std::to_string(storages.size());
    p.text(name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op('(');
    p.op('(');  // the persistent id ('storage', torch.XStorage, key, 'cpu', numel)
    p.text("storage");
    p.global("torch", storage_class(t.scalar_type(), path, name));
    p.text(key);
    p.text("cpu");
    p.integer(t.numel());
    p.op('t');
    p.op('Q');     // BINPERSID
    p.integer(0);  // storage offset
    p.int_tuple(t.sizes());
    p.int_tuple(t.strides());
    p.op('\x89');            // requires_grad = False
    p.empty_ordered_dict();  // backward hooks
    p.op('t');
    p.op('R');
    storages.push_back(t);
  }
  p.op('u');  // SETITEMS
  p.op('.');  // STOP

  std::vector<uint8_t> bytes;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
    const auto* b = static_cast<const uint8_t*>(data);
    bytes.insert(bytes.end(), b, b + n);
    return n;
  });
  writer.writeRecord("data.pkl", p.out.data(), p.out.size());
  writer.writeRecord("byteorder", "little", 6);
  for (size_t i = 0; i < storages.size(); ++i)
    writer.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(), storages[i].nbytes());
  writer.writeEndOfFile();
  write_file_atomic(path, bytes);
}

}  // namespace masnn
