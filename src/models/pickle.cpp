// The pickle interpreter: opcodes of protocols 2 to 5 that torch.save and LibTorch's pickler write.
#include "pickle.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace masnn::pickle {
namespace {

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

// The values directly inside `n`, for the depth check: items, dict keys and values, hidden values, the storage.
size_t child_count(const Node& n) {
  return n.items.size() + 2 * n.entries.size() + n.hidden.size() + (n.storage ? 1 : 0);
}
Node* child(const Node& n, size_t k) {
  if (k < n.items.size()) return n.items[k];
  k -= n.items.size();
  if (k < 2 * n.entries.size()) return k % 2 ? n.entries[k / 2].second : n.entries[k / 2].first;
  k -= 2 * n.entries.size();
  if (k < n.hidden.size()) return n.hidden[k];
  return n.storage;
}

}  // namespace

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

bool storage_dtype(const std::string& cls, at::ScalarType* dtype) {
  for (const auto& [name, type] : kStorageClasses) {
    if (cls == name) {
      *dtype = type;
      return true;
    }
  }
  return false;
}

std::string storage_class(at::ScalarType dtype) {
  for (const auto& [cls, type] : kStorageClasses)
    if (type == dtype) return cls;
  return {};
}

Node* storage_from_pid(const std::string& where, const Node* pid, Arena& arena) {
  const auto& a = pid->items;
  if (pid->kind != Kind::Tuple || a.size() < 5 || a[0]->kind != Kind::String || a[0]->text != "storage")
    throw std::runtime_error(where + ": unexpected persistent id (expected ('storage', type, key, location, numel))");
  if (a[1]->kind != Kind::Global) throw std::runtime_error(where + ": storage type is not a class");
  Node* s = arena.make(Kind::Storage);
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

Unpickler::Unpickler(std::string where, const char* data, size_t size, Arena& arena, PersistentLoad persistent_load)
    : where_(std::move(where)),
      begin_(data),
      p_(data),
      end_(data + size),
      arena_(arena),
      load_(std::move(persistent_load)) {}

Node* Unpickler::run() {
  const size_t first = arena_.size();
  for (;;) {
    const size_t at = offset();
    const auto op = static_cast<unsigned char>(byte());
    switch (op) {
      case 0x80: byte(); break;    // PROTO
      case 0x95: bytes(8); break;  // FRAME (the frame length; frames are not needed)
      case '.':                    // STOP
        if (stack_.size() != 1) fail("STOP with " + std::to_string(stack_.size()) + " values on the stack", at);
        check_nesting(first);
        return stack_.back();
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0': pop(at); break;                          // POP
      case '1': pop_mark(at); break;                     // POP_MARK
      case '2': push(top(at)); break;                    // DUP
      case 'N': push(make(Kind::None)); break;
      case 0x88:  // NEWTRUE
      case 0x89: {  // NEWFALSE
        Node* n = make(Kind::Bool);
        n->boolean = op == 0x88;
        push(n);
        break;
      }
      case 'J': push_int(static_cast<int32_t>(uint_le(4))); break;  // BININT
      case 'K': push_int(static_cast<int64_t>(uint_le(1))); break;  // BININT1
      case 'M': push_int(static_cast<int64_t>(uint_le(2))); break;  // BININT2
      case 0x8a: push_long(uint_le(1)); break;                      // LONG1
      case 0x8b: push_long(uint_le(4)); break;                      // LONG4
      case 'G': {                                                   // BINFLOAT, big-endian
        uint64_t bits = 0;
        const char* b = bytes(8);
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<unsigned char>(b[k]);
        Node* n = make(Kind::Float);
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
        Node* n = make(Kind::Tuple);
        n->items = pop_mark(at);
        push(n);
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        Node* n = make(Kind::Tuple);
        n->items.resize(op - 0x84);
        for (size_t k = n->items.size(); k-- > 0;) n->items[k] = pop(at);
        push(n);
        break;
      }
      case ']':   // EMPTY_LIST
      case 0x8f:  // EMPTY_SET (kept as a list)
        push(make(Kind::List));
        break;
      case 'l':     // LIST
      case 0x91: {  // FROZENSET
        Node* n = make(Kind::List);
        n->items = pop_mark(at);
        push(n);
        break;
      }
      case 'a': {  // APPEND
        Node* v = pop(at);
        Node* list = top(at);
        (list->kind == Kind::List ? list->items : list->hidden).push_back(v);
        break;
      }
      case 'e':
      case 0x90: {  // APPENDS, ADDITEMS
        const auto vs = pop_mark(at);
        Node* list = top(at);
        auto& into = list->kind == Kind::List ? list->items : list->hidden;
        into.insert(into.end(), vs.begin(), vs.end());
        break;
      }
      case '}': push(make(Kind::Dict)); break;  // EMPTY_DICT
      case 'd': {                               // DICT
        Node* n = make(Kind::Dict);
        add_entries(n, pop_mark(at), at);
        push(n);
        break;
      }
      case 's': {  // SETITEM
        Node* v = pop(at);
        Node* k = pop(at);
        add_entries(top(at), {k, v}, at);
        break;
      }
      case 'u': {  // SETITEMS
        const auto kv = pop_mark(at);
        add_entries(top(at), kv, at);
        break;
      }
      case 'c': {  // GLOBAL: "module\nname\n"
        Node* n = make(Kind::Global);
        n->text = line(at);
        n->name = line(at);
        push(n);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        Node* name = pop(at);
        Node* module = pop(at);
        if (module->kind != Kind::String || name->kind != Kind::String) fail("STACK_GLOBAL needs two strings", at);
        Node* n = make(Kind::Global);
        n->text = module->text;
        n->name = name->text;
        push(n);
        break;
      }
      case 'R': {  // REDUCE
        Node* args = pop(at);
        Node* callable = pop(at);
        push(reduce(callable, args, at));
        break;
      }
      case 'b': {  // BUILD: an object's state (an OrderedDict's _metadata, ...) is not interpreted
        Node* state = pop(at);
        top(at)->hidden.push_back(state);
        break;
      }
      case 0x81: {  // NEWOBJ
        Node* args = pop(at);
        push(object_of(pop(at), {args}));
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        Node* kwargs = pop(at);
        Node* args = pop(at);
        push(object_of(pop(at), {args, kwargs}));
        break;
      }
      case 'q': memo_[uint_le(1)] = top(at); break;     // BINPUT
      case 'r': memo_[uint_le(4)] = top(at); break;     // LONG_BINPUT
      case 0x94: memo_[memo_.size()] = top(at); break;  // MEMOIZE
      case 'h': push(memo_get(uint_le(1), at)); break;  // BINGET
      case 'j': push(memo_get(uint_le(4), at)); break;  // LONG_BINGET
      case 'Q': {                                       // BINPERSID
        Node* pid = pop(at);
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

void Unpickler::fail(const std::string& what, size_t at) const {
  throw std::runtime_error(where_ + ": " + what + " at byte " + std::to_string(at));
}

Node* Unpickler::make(Kind kind) {
  if (arena_.size() >= kMaxValues)
    fail("more than " + std::to_string(kMaxValues) + " values, more than any torch file holds");
  return arena_.make(kind);
}

const char* Unpickler::bytes(size_t n) {
  if (static_cast<size_t>(end_ - p_) < n) fail("truncated pickle (wanted " + std::to_string(n) + " more bytes)");
  const char* b = p_;
  p_ += n;
  return b;
}

uint64_t Unpickler::uint_le(size_t n) {
  const char* b = bytes(n);
  uint64_t v = 0;
  for (size_t k = n; k-- > 0;) v = (v << 8) | static_cast<unsigned char>(b[k]);
  return v;
}

std::string Unpickler::line(size_t at) {
  const char* nl = static_cast<const char*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
  if (!nl) fail("unterminated GLOBAL name", at);
  std::string s(p_, nl);
  p_ = nl + 1;
  return s;
}

void Unpickler::push_int(int64_t v) {
  Node* n = make(Kind::Int);
  n->integer = v;
  push(n);
}

void Unpickler::push_long(uint64_t n) {
  const char* b = bytes(n);
  if (n > 8) {  // too big for int64 (never a tensor size): an opaque int with its little-endian bytes
    Node* o = make(Kind::Object);
    o->text = "int";
    o->name.assign(b, n);
    push(o);
    return;
  }
  uint64_t v = 0;
  for (size_t k = n; k-- > 0;) v = (v << 8) | static_cast<unsigned char>(b[k]);
  if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign
  push_int(static_cast<int64_t>(v));
}

void Unpickler::push_text(Kind kind, uint64_t n) {
  const char* b = bytes(n);  // checked against the bytes left before anything is allocated
  Node* t = make(kind);
  t->text.assign(b, n);
  push(t);
}

Node* Unpickler::pop(size_t at) {
  if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("pickle stack underflow", at);
  Node* n = stack_.back();
  stack_.pop_back();
  return n;
}

Node* Unpickler::top(size_t at) {
  if (stack_.empty()) fail("pickle stack underflow", at);
  return stack_.back();
}

std::vector<Node*> Unpickler::pop_mark(size_t at) {
  if (marks_.empty()) fail("pickle MARK missing", at);
  const size_t m = marks_.back();
  marks_.pop_back();
  std::vector<Node*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
  stack_.resize(m);
  return items;
}

Node* Unpickler::memo_get(uint64_t key, size_t at) {
  auto it = memo_.find(key);
  if (it == memo_.end()) fail("pickle memo entry " + std::to_string(key) + " missing", at);
  return it->second;
}

void Unpickler::add_entries(Node* dict, const std::vector<Node*>& kv, size_t at) {
  if (kv.size() % 2) fail("odd number of dict items", at);
  if (dict->kind != Kind::Dict) {  // items of an opaque mapping
    dict->hidden.insert(dict->hidden.end(), kv.begin(), kv.end());
    return;
  }
  for (size_t k = 0; k < kv.size(); k += 2) dict->entries.emplace_back(kv[k], kv[k + 1]);
}

Node* Unpickler::object_of(const Node* cls, std::vector<Node*> held) {
  Node* o = make(Kind::Object);
  o->text = cls->kind == Kind::Global ? cls->text + "." + cls->name : "object";
  o->hidden = std::move(held);
  return o;
}

int64_t Unpickler::as_int(const Node* n, const char* what, size_t at) const {
  if (n->kind != Kind::Int) fail(std::string("tensor ") + what + ": expected an int, got " + kind_name(n->kind), at);
  return n->integer;
}

std::vector<int64_t> Unpickler::as_ints(const Node* n, const char* what, size_t at) const {
  if (n->kind != Kind::Tuple && n->kind != Kind::List)
    fail(std::string("tensor ") + what + ": expected a tuple of ints, got " + kind_name(n->kind), at);
  std::vector<int64_t> v;
  v.reserve(n->items.size());
  for (const Node* i : n->items) v.push_back(as_int(i, what, at));
  return v;
}

Node* Unpickler::reduce(Node* callable, Node* args, size_t at) {
  if (callable->kind != Kind::Global) return object_of(callable, {args});
  const std::string& module = callable->text;
  const std::string& name = callable->name;
  const auto& a = args->items;
  if (module == "collections" && name == "OrderedDict") {
    Node* d = make(Kind::Dict);
    d->hidden.push_back(args);
    if (!a.empty() && a[0]->kind == Kind::List)
      for (Node* pair : a[0]->items)
        if (pair->kind == Kind::Tuple && pair->items.size() == 2) d->entries.emplace_back(pair->items[0], pair->items[1]);
    return d;
  }
  if (module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_tensor")) {
    if (args->kind != Kind::Tuple || a.size() < 4) fail("torch._utils." + name + ": expected at least 4 arguments", at);
    if (a[0]->kind != Kind::Storage) fail("torch._utils." + name + ": expected a storage first", at);
    Node* t = make(Kind::Tensor);
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
    if (a[0]->kind == Kind::Global && a[0]->text == "torch._tensor" && a[0]->name == "_rebuild_from_type_v2")
      fail("torch._tensor._rebuild_from_type_v2 rebuilds through itself", at);
    return reduce(a[0], a[2], at);  // a tensor subclass: rebuild the plain tensor
  }
  if ((module == "builtins" || module == "__builtin__") && (name == "set" || name == "frozenset")) {
    Node* l = make(Kind::List);
    if (!a.empty() && a[0]->kind == Kind::List) l->items = a[0]->items;
    return l;
  }
  return object_of(callable, {args});
}

// Longest chain of values inside values among those this run made, by an explicit depth-first walk (each value
// once), so that neither this check nor anything run after it recurses deeper than kMaxDepth.
void Unpickler::check_nesting(size_t first) const {
  constexpr int kOnPath = -1;
  std::vector<std::pair<Node*, size_t>> path;  // a value and how many of its children were walked
  for (size_t i = first; i < arena_.size(); ++i) {
    Node* root = &arena_.at(i);
    if (root->depth != 0) continue;
    root->depth = kOnPath;
    path.emplace_back(root, 0);
    while (!path.empty()) {
      auto& [node, walked] = path.back();
      if (walked < child_count(*node)) {
        Node* next = child(*node, walked++);
        if (next->depth == kOnPath) fail("a value contains itself, which no torch file does", offset());
        if (next->depth == 0) {
          next->depth = kOnPath;
          path.emplace_back(next, 0);
        }
        continue;
      }
      int depth = 1;
      for (size_t k = 0; k < child_count(*node); ++k) depth = std::max(depth, child(*node, k)->depth + 1);
      if (depth > kMaxDepth)
        fail("values nested more than " + std::to_string(kMaxDepth) + " deep, deeper than any torch file", offset());
      node->depth = depth;
      path.pop_back();
    }
  }
}

}  // namespace masnn::pickle
