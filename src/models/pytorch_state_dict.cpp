// Reading torch.save files without Python: a small pickle interpreter for the subset torch.save emits,
// plus the two containers (zip archive, legacy stream). Writing emits the zip archive torch.save writes.
#include "masnn/models/pytorch_state_dict.h"

#include "masnn/util/file_io.h"

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

namespace masnn {

namespace {

// ---------------------------------------------------------------------------------------------------
// Pickle values. Only what a torch.save file can hold; anything else becomes an opaque Object.

enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Object, Storage, Tensor };

struct Node;
using NodePtr = std::shared_ptr<Node>;

struct Node {
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;                                  ///< String / Bytes; Global: module; Object: class; Storage: key
  std::string name;                                  ///< Global: the name inside the module
  std::vector<NodePtr> items;                        ///< Tuple, List
  std::vector<std::pair<NodePtr, NodePtr>> entries;  ///< Dict, in insertion order
  at::ScalarType dtype = at::kFloat;                 ///< Storage
  int64_t numel = 0;                                 ///< Storage (elements of dtype)
  NodePtr storage;                                   ///< Tensor
  int64_t offset = 0;                                ///< Tensor, in elements
  std::vector<int64_t> sizes, strides;               ///< Tensor
};

NodePtr make(Kind kind) {
  auto n = std::make_shared<Node>();
  n->kind = kind;
  return n;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "class";
    case Kind::Object: return "object";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

// The storage classes of torch (torch.FloatStorage, ...) and their element types; the first class of a type is the
// one torch.save writes for it (UntypedStorage, read as bytes, is never written).
constexpr std::pair<const char*, at::ScalarType> kStorageClasses[] = {
    {"FloatStorage", at::kFloat},
    {"DoubleStorage", at::kDouble},
    {"HalfStorage", at::kHalf},
    {"BFloat16Storage", at::kBFloat16},
    {"LongStorage", at::kLong},
    {"IntStorage", at::kInt},
    {"ShortStorage", at::kShort},
    {"CharStorage", at::kChar},
    {"ByteStorage", at::kByte},
    {"BoolStorage", at::kBool},
    {"ComplexFloatStorage", at::kComplexFloat},
    {"ComplexDoubleStorage", at::kComplexDouble},
    {"UntypedStorage", at::kByte},
};

bool storage_dtype(const std::string& cls, at::ScalarType* dtype) {
  for (const auto& [name, type] : kStorageClasses) {
    if (cls == name) {
      *dtype = type;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------
// The interpreter: runs one pickle (up to STOP) and returns its value.

class Unpickler {
 public:
  using PersistentLoad = std::function<NodePtr(const NodePtr& pid)>;

  Unpickler(std::string where, const char* data, size_t size, PersistentLoad persistent_load)
      : where_(std::move(where)), begin_(data), p_(data), end_(data + size), load_(std::move(persistent_load)) {}

  NodePtr run() {
    for (;;) {
      const size_t at = offset();
      const auto op = static_cast<unsigned char>(byte());
      switch (op) {
        case 0x80: byte(); break;    // PROTO
        case 0x95: bytes(8); break;  // FRAME (the frame length; frames are not needed)
        case '.':                    // STOP
          if (stack_.size() != 1) fail("STOP with " + std::to_string(stack_.size()) + " values on the stack", at);
          return stack_.back();
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0': pop(at); break;                          // POP
        case '1': pop_mark(at); break;                     // POP_MARK
        case '2': push(top(at)); break;                    // DUP
        case 'N': push(make(Kind::None)); break;
        case 0x88: push_bool(true); break;                            // NEWTRUE
        case 0x89: push_bool(false); break;                           // NEWFALSE
        case 'J': push_int(static_cast<int32_t>(uint_le(4))); break;  // BININT
        case 'K': push_int(static_cast<int64_t>(uint_le(1))); break;  // BININT1
        case 'M': push_int(static_cast<int64_t>(uint_le(2))); break;  // BININT2
        case 0x8a: push_long(uint_le(1), at); break;                  // LONG1
        case 0x8b: push_long(uint_le(4), at); break;                  // LONG4
        case 'G': {                                                   // BINFLOAT, big-endian
          uint64_t bits = 0;
          const char* b = bytes(8);
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<unsigned char>(b[k]);
          auto n = make(Kind::Float);
          std::memcpy(&n->real, &bits, 8);
          push(n);
          break;
        }
        case 'X': push_text(Kind::String, uint_le(4)); break;   // BINUNICODE
        case 0x8c: push_text(Kind::String, uint_le(1)); break;  // SHORT_BINUNICODE
        case 0x8d: push_text(Kind::String, uint_le(8)); break;  // BINUNICODE8
        case 'T': push_text(Kind::String, uint_le(4)); break;   // BINSTRING (Python 2 str)
        case 'U': push_text(Kind::String, uint_le(1)); break;   // SHORT_BINSTRING
        case 'B': push_text(Kind::Bytes, uint_le(4)); break;    // BINBYTES
        case 'C': push_text(Kind::Bytes, uint_le(1)); break;    // SHORT_BINBYTES
        case 0x8e: push_text(Kind::Bytes, uint_le(8)); break;   // BINBYTES8
        case ')': push(make(Kind::Tuple)); break;               // EMPTY_TUPLE
        case 't': {                                             // TUPLE
          auto n = make(Kind::Tuple);
          n->items = pop_mark(at);
          push(n);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          auto n = make(Kind::Tuple);
          n->items.resize(op - 0x84);
          for (size_t k = n->items.size(); k-- > 0;) n->items[k] = pop(at);
          push(n);
          break;
        }
        case ']': push(make(Kind::List)); break;  // EMPTY_LIST
        case 'l': {                               // LIST
          auto n = make(Kind::List);
          n->items = pop_mark(at);
          push(n);
          break;
        }
        case 'a': {  // APPEND
          auto v = pop(at);
          auto list = top(at);
          if (list->kind == Kind::List) list->items.push_back(v);
          break;
        }
        case 'e':
        case 0x90: {  // APPENDS, ADDITEMS
          auto vs = pop_mark(at);
          auto list = top(at);
          if (list->kind == Kind::List) list->items.insert(list->items.end(), vs.begin(), vs.end());
          break;
        }
        case 0x8f: push(make(Kind::List)); break;  // EMPTY_SET (kept as a list)
        case 0x91: {                               // FROZENSET
          auto n = make(Kind::List);
          n->items = pop_mark(at);
          push(n);
          break;
        }
        case '}': push(make(Kind::Dict)); break;  // EMPTY_DICT
        case 'd': {                               // DICT
          auto n = make(Kind::Dict);
          add_entries(n, pop_mark(at), at);
          push(n);
          break;
        }
        case 's': {  // SETITEM
          auto v = pop(at);
          auto k = pop(at);
          auto dict = top(at);
          if (dict->kind == Kind::Dict) dict->entries.emplace_back(k, v);
          break;
        }
        case 'u': {  // SETITEMS
          auto kv = pop_mark(at);
          add_entries(top(at), kv, at);
          break;
        }
        case 'c': {  // GLOBAL: "module\nname\n"
          auto n = make(Kind::Global);
          n->text = line(at);
          n->name = line(at);
          push(n);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop(at);
          auto module = pop(at);
          if (module->kind != Kind::String || name->kind != Kind::String) fail("STACK_GLOBAL needs two strings", at);
          auto n = make(Kind::Global);
          n->text = module->text;
          n->name = name->text;
          push(n);
          break;
        }
        case 'R': {  // REDUCE
          auto args = pop(at);
          auto callable = pop(at);
          push(reduce(callable, args, at));
          break;
        }
        case 'b': pop(at); break;  // BUILD: object state (an OrderedDict's _metadata, ...) is not needed
        case 0x81: {               // NEWOBJ
          pop(at);
          push(object_of(pop(at)));
          break;
        }
        case 0x92: {  // NEWOBJ_EX
          pop(at);
          pop(at);
          push(object_of(pop(at)));
          break;
        }
        case 'q': memo_[uint_le(1)] = top(at); break;     // BINPUT
        case 'r': memo_[uint_le(4)] = top(at); break;     // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(at); break;  // MEMOIZE
        case 'h': push(memo_get(uint_le(1), at)); break;  // BINGET
        case 'j': push(memo_get(uint_le(4), at)); break;  // LONG_BINGET
        case 'Q': {                                       // BINPERSID
          auto pid = pop(at);
          if (!load_) fail("persistent id outside a torch.save file", at);
          push(load_(pid));
          break;
        }
        default: {
          std::ostringstream s;
          s << "unsupported pickle opcode 0x" << std::hex << static_cast<int>(op)
            << " (expected the binary pickle protocol 2..5 that torch.save writes)";
          fail(s.str(), at);
        }
      }
    }
  }

  size_t offset() const { return static_cast<size_t>(p_ - begin_); }

 private:
  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw std::runtime_error(where_ + ": " + what + " at byte " + std::to_string(at));
  }
  [[noreturn]] void fail(const std::string& what) const { fail(what, offset()); }

  const char* bytes(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) fail("truncated pickle (wanted " + std::to_string(n) + " more bytes)");
    const char* b = p_;
    p_ += n;
    return b;
  }
  char byte() { return *bytes(1); }
  uint64_t uint_le(size_t n) {
    const char* b = bytes(n);
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = (v << 8) | static_cast<unsigned char>(b[k]);
    return v;
  }
  std::string line(size_t at) {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
    if (!nl) fail("unterminated GLOBAL name", at);
    std::string s(p_, nl);
    p_ = nl + 1;
    return s;
  }

  void push(NodePtr n) { stack_.push_back(std::move(n)); }
  void push_bool(bool b) {
    auto n = make(Kind::Bool);
    n->boolean = b;
    push(n);
  }
  void push_int(int64_t v) {
    auto n = make(Kind::Int);
    n->integer = v;
    push(n);
  }
  void push_long(uint64_t n, size_t at) {
    const char* b = bytes(n);
    if (n > 8) {  // too big for int64 (never a tensor size): an opaque int with its little-endian bytes
      auto o = make(Kind::Object);
      o->text = "int";
      o->name.assign(b, n);
      push(o);
      return;
    }
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = (v << 8) | static_cast<unsigned char>(b[k]);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign
    push_int(static_cast<int64_t>(v));
    (void)at;
  }
  void push_text(Kind kind, uint64_t n) {
    auto t = make(kind);
    const char* b = bytes(n);
    t->text.assign(b, n);
    push(t);
  }
  NodePtr pop(size_t at) {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("pickle stack underflow", at);
    auto n = stack_.back();
    stack_.pop_back();
    return n;
  }
  const NodePtr& top(size_t at) {
    if (stack_.empty()) fail("pickle stack underflow", at);
    return stack_.back();
  }
  std::vector<NodePtr> pop_mark(size_t at) {
    if (marks_.empty()) fail("pickle MARK missing", at);
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<NodePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  NodePtr memo_get(uint64_t key, size_t at) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("pickle memo entry " + std::to_string(key) + " missing", at);
    return it->second;
  }
  void add_entries(const NodePtr& dict, const std::vector<NodePtr>& kv, size_t at) {
    if (kv.size() % 2) fail("odd number of dict items", at);
    if (dict->kind != Kind::Dict) return;  // items of an opaque mapping
    for (size_t k = 0; k < kv.size(); k += 2) dict->entries.emplace_back(kv[k], kv[k + 1]);
  }
  static NodePtr object_of(const NodePtr& cls) {
    auto o = make(Kind::Object);
    o->text = cls->kind == Kind::Global ? cls->text + "." + cls->name : "object";
    return o;
  }

  int64_t as_int(const NodePtr& n, const char* what, size_t at) const {
    if (n->kind != Kind::Int) fail(std::string("tensor ") + what + ": expected an int, got " + kind_name(n->kind), at);
    return n->integer;
  }
  std::vector<int64_t> as_ints(const NodePtr& n, const char* what, size_t at) const {
    if (n->kind != Kind::Tuple && n->kind != Kind::List)
      fail(std::string("tensor ") + what + ": expected a tuple of ints, got " + kind_name(n->kind), at);
    std::vector<int64_t> v;
    for (const auto& i : n->items) v.push_back(as_int(i, what, at));
    return v;
  }

  NodePtr reduce(const NodePtr& callable, const NodePtr& args, size_t at) {
    if (callable->kind != Kind::Global) return object_of(callable);
    const std::string& module = callable->text;
    const std::string& name = callable->name;
    const auto& a = args->items;
    if (module == "collections" && name == "OrderedDict") {
      auto d = make(Kind::Dict);
      if (!a.empty() && a[0]->kind == Kind::List)
        for (const auto& pair : a[0]->items)
          if (pair->kind == Kind::Tuple && pair->items.size() == 2)
            d->entries.emplace_back(pair->items[0], pair->items[1]);
      return d;
    }
    if (module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_tensor")) {
      if (args->kind != Kind::Tuple || a.size() < 4)
        fail("torch._utils." + name + ": expected at least 4 arguments", at);
      if (a[0]->kind != Kind::Storage) fail("torch._utils." + name + ": expected a storage first", at);
      auto t = make(Kind::Tensor);
      t->storage = a[0];
      t->offset = as_int(a[1], "offset", at);
      t->sizes = as_ints(a[2], "size", at);
      t->strides = as_ints(a[3], "stride", at);
      if (t->sizes.size() != t->strides.size()) fail("tensor size and stride differ in length", at);
      return t;
    }
    if (module == "torch.jit._pickle") {  // LibTorch's pickler: typed containers (torch::pickle_save)
      if (name == "restore_type_tag" || name.rfind("build_", 0) == 0) {
        if (a.empty()) fail("torch.jit._pickle." + name + ": no arguments", at);
        return a[0];
      }
    }
    if (module == "torch._utils" && (name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state")) {
      if (a.empty()) fail("torch._utils." + name + ": no arguments", at);
      return a[0];  // the data of an nn.Parameter
    }
    if (module == "torch._tensor" && name == "_rebuild_from_type_v2") {
      if (a.size() < 3) fail("torch._tensor._rebuild_from_type_v2: expected 4 arguments", at);
      return reduce(a[0], a[2], at);  // a tensor subclass: rebuild the plain tensor
    }
    if ((module == "builtins" || module == "__builtin__") && (name == "set" || name == "frozenset")) {
      auto l = make(Kind::List);
      if (!a.empty() && a[0]->kind == Kind::List) l->items = a[0]->items;
      return l;
    }
    return object_of(callable);
  }

  std::string where_;
  const char* begin_;
  const char* p_;
  const char* end_;
  PersistentLoad load_;
  std::vector<NodePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, NodePtr> memo_;
};

// A persistent id of torch.save: ('storage', torch.XStorage, key, location, numel[, view_metadata]).
NodePtr storage_from_pid(const std::string& where, const NodePtr& pid) {
  const auto& a = pid->items;
  if (pid->kind != Kind::Tuple || a.size() < 5 || a[0]->kind != Kind::String || a[0]->text != "storage")
    throw std::runtime_error(where + ": unexpected persistent id (expected ('storage', type, key, location, numel))");
  if (a[1]->kind != Kind::Global) throw std::runtime_error(where + ": storage type is not a class");
  auto s = make(Kind::Storage);
  if (!storage_dtype(a[1]->name, &s->dtype))
    throw std::runtime_error(where + ": unsupported storage type " + a[1]->text + "." + a[1]->name);
  if (a[2]->kind != Kind::String || a[4]->kind != Kind::Int)
    throw std::runtime_error(where + ": storage key must be a string and its size an int");
  if (a.size() > 5 && a[5]->kind != Kind::None)
    throw std::runtime_error(where + ": storage views (a pre-1.0 torch.save feature) are not supported");
  s->text = a[2]->text;
  s->numel = a[4]->integer;
  if (s->numel < 0) throw std::runtime_error(where + ": negative storage size");
  return s;
}

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

bool is_tensor_dict(const NodePtr& n) {
  if (n->kind != Kind::Dict || n->entries.empty()) return false;
  for (const auto& [k, v] : n->entries)
    if (k->kind != Kind::String || v->kind != Kind::Tensor) return false;
  return true;
}

// The state dict inside the file's top-level value.
const Node& find_state_dict(const NodePtr& root, const std::string& where) {
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

std::map<std::string, torch::Tensor> read_zip(const std::string& path, const std::vector<char>& buf) {
  auto adapter = std::make_shared<caffe2::serialize::MemoryReadAdapter>(buf.data(), static_cast<off_t>(buf.size()));
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(adapter);
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": not a readable torch.save zip archive (" + e.what_without_backtrace() + ")");
  }
  if (!reader->hasRecord("data.pkl"))
    throw std::runtime_error(path +
                             ": zip archive without data.pkl; expected a file of torch.save (a TorchScript "
                             "module from torch.jit.save is not a state dict)");
  if (reader->hasRecord("byteorder")) {
    auto [ptr, n] = reader->getRecord("byteorder");
    if (std::string(static_cast<const char*>(ptr.get()), n) != "little")
      throw std::runtime_error(path + ": written on a big-endian machine; only little-endian files are supported");
  }
  auto [pkl, pkl_size] = reader->getRecord("data.pkl");
  Unpickler unpickler(path + " (data.pkl)", static_cast<const char*>(pkl.get()), pkl_size,
                      [&](const NodePtr& pid) { return storage_from_pid(path, pid); });
  NodePtr root = unpickler.run();
  const Node& dict = find_state_dict(root, path);
  Materializer materialize(path, [&](const Node& s) {
    const std::string record = "data/" + s.text;
    if (!reader->hasRecord(record)) throw std::runtime_error(path + ": record " + record + " is missing");
    auto [ptr, n] = reader->getRecord(record);
    return storage_tensor(s, static_cast<const char*>(ptr.get()), n, path);
  });
  return to_tensors(dict, materialize);
}

// The legacy stream: pickles of the magic number, the protocol version and system info, then the value,
// then the list of storage keys, then each storage as an int64 element count and its raw bytes.
std::map<std::string, torch::Tensor> read_legacy(const std::string& path, const std::vector<char>& buf) {
  size_t pos = 0;
  auto next_pickle = [&](const char* what, Unpickler::PersistentLoad load) {
    Unpickler u(path + " (" + what + ")", buf.data() + pos, buf.size() - pos, std::move(load));
    NodePtr v = u.run();
    pos += u.offset();
    return v;
  };
  NodePtr magic = next_pickle("magic number", nullptr);
  static const char magic_bytes[] = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";  // 0x1950a86a20f9469cfc6c
  if (magic->kind != Kind::Object || magic->text != "int" || magic->name != std::string(magic_bytes, 10))
    throw std::runtime_error(path +
                             ": a pickle, but not a file of torch.save (its legacy format starts with the "
                             "magic number 0x1950a86a20f9469cfc6c)");
  NodePtr version = next_pickle("protocol version", nullptr);
  if (version->kind != Kind::Int || version->integer != 1001)
    throw std::runtime_error(path + ": legacy torch.save protocol version " +
                             (version->kind == Kind::Int ? std::to_string(version->integer) : std::string("?")) +
                             " is not supported (expected 1001)");
  NodePtr info = next_pickle("system info", nullptr);
  for (const auto& [k, v] : info->entries)
    if (k->kind == Kind::String && k->text == "little_endian" && v->kind == Kind::Bool && !v->boolean)
      throw std::runtime_error(path + ": written on a big-endian machine; only little-endian files are supported");
  std::map<std::string, NodePtr> storages;
  NodePtr root = next_pickle("data", [&](const NodePtr& pid) {
    NodePtr s = storage_from_pid(path, pid);
    auto [it, inserted] = storages.emplace(s->text, s);
    return it->second;
  });
  NodePtr keys = next_pickle("storage keys", nullptr);
  if (keys->kind != Kind::List) throw std::runtime_error(path + ": expected the list of storage keys after the data");
  std::map<std::string, torch::Tensor> data;
  for (const auto& k : keys->items) {
    if (k->kind != Kind::String) throw std::runtime_error(path + ": storage key is not a string");
    auto it = storages.find(k->text);
    if (it == storages.end()) throw std::runtime_error(path + ": storage " + k->text + " is not used by any tensor");
    const Node& s = *it->second;
    if (buf.size() - pos < 8) throw std::runtime_error(path + ": truncated before storage " + k->text);
    int64_t count = 0;
    std::memcpy(&count, buf.data() + pos, 8);
    pos += 8;
    const size_t element = c10::elementSize(s.dtype);
    if (count < 0 || static_cast<size_t>(count) > (buf.size() - pos) / element)
      throw std::runtime_error(path + ": truncated in storage " + k->text);
    const size_t nbytes = static_cast<size_t>(count) * element;
    if (count != s.numel)
      throw std::runtime_error(path + ": storage " + k->text + " holds " + std::to_string(count) +
                               " elements, its tensor expected " + std::to_string(s.numel));
    data[k->text] = storage_tensor(s, buf.data() + pos, nbytes, path);
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
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error(path + ": read error");
  static const unsigned char zip_magic[] = {'P', 'K', 3, 4};
  if (buf.size() >= sizeof zip_magic && std::memcmp(buf.data(), zip_magic, sizeof zip_magic) == 0)
    return read_zip(path, buf);
  if (!buf.empty() && static_cast<unsigned char>(buf[0]) == 0x80)  // a pickle (PROTO): the legacy format
    return read_legacy(path, buf);
  throw std::runtime_error(path + ": not a file of torch.save (expected a zip archive or the legacy torch.save " +
                           "format, found " + (buf.empty() ? std::string("an empty file") : "other data") + ")");
}

namespace {

// The storage class torch.save names for an element type (storage_dtype's inverse).
std::string storage_class(at::ScalarType dtype, const std::string& path, const std::string& name) {
  for (const auto& [cls, type] : kStorageClasses)
    if (type == dtype) return cls;
  throw std::runtime_error(path + ": tensor '" + name + "' has an element type torch.save cannot name (" +
                           c10::toString(dtype) + ")");
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
