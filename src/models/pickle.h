// A small pickle interpreter for the subset torch.save and LibTorch's pickler emit (protocols 2 to 5), for files
// from anywhere: values live in an arena (no recursive destruction, no leak on a cycle), every length is checked
// against the bytes left, and a pickle is refused when it holds more values or nests deeper than any torch file
// does (LibTorch's own unpickler, run afterwards on checked files, destroys values recursively).
// Internal to the models layer: pytorch_state_dict.cpp and torch_archive.cpp use it.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace masnn::pickle {

enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Object, Storage, Tensor };

const char* kind_name(Kind kind);

struct Node {
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;                            ///< String / Bytes; Global: module; Object: class; Storage: key
  std::string name;                            ///< Global: the name inside the module
  std::vector<Node*> items;                    ///< Tuple, List
  std::vector<std::pair<Node*, Node*>> entries;  ///< Dict, in insertion order
  std::vector<Node*> hidden;  ///< values held but not interpreted (an object's arguments and state): for the depth
  at::ScalarType dtype = at::kFloat;  ///< Storage
  int64_t numel = 0;                  ///< Storage (elements of dtype)
  Node* storage = nullptr;            ///< Tensor
  int64_t offset = 0;                 ///< Tensor, in elements
  std::vector<int64_t> sizes, strides;  ///< Tensor
  int depth = 0;                        ///< set by the depth check
};

/// Owns every value of one or more pickles; nodes are destroyed with it, in a loop.
class Arena {
 public:
  Node* make(Kind kind) {
    nodes_.emplace_back();
    nodes_.back().kind = kind;
    return &nodes_.back();
  }
  size_t size() const { return nodes_.size(); }
  Node& at(size_t i) { return nodes_[i]; }

 private:
  std::deque<Node> nodes_;
};

/// More values than any torch file's pickle holds (a ResNet-104 checkpoint's has tens of thousands); bounds the
/// arena at about 500 MB.
constexpr size_t kMaxValues = size_t{1} << 21;
/// Deeper nesting than any torch file's pickle has (a state dict: 5 levels; Python's own limit is 1000).
constexpr int kMaxDepth = 1000;

/// The element type of a torch storage class (torch.FloatStorage, ...); false for other names.
bool storage_dtype(const std::string& cls, at::ScalarType* dtype);
/// The storage class torch.save names for an element type; empty when it has none.
std::string storage_class(at::ScalarType dtype);

/// The storage a torch persistent id names: ('storage', torch.XStorage, key, location, numel[, view]). Throws naming
/// `where`.
Node* storage_from_pid(const std::string& where, const Node* pid, Arena& arena);

/// Runs one pickle (up to STOP) and returns its value. Errors name `where` and the byte offset.
class Unpickler {
 public:
  using PersistentLoad = std::function<Node*(Node* pid)>;

  Unpickler(std::string where, const char* data, size_t size, Arena& arena, PersistentLoad persistent_load);
  /// The pickle's value, after checking the values it made: at most kMaxValues, nested at most kMaxDepth deep,
  /// no value inside itself.
  Node* run();
  /// Bytes consumed so far.
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }

 private:
  [[noreturn]] void fail(const std::string& what, size_t at) const;
  [[noreturn]] void fail(const std::string& what) const { fail(what, offset()); }
  Node* make(Kind kind);
  const char* bytes(size_t n);
  char byte() { return *bytes(1); }
  uint64_t uint_le(size_t n);
  std::string line(size_t at);
  void push(Node* n) { stack_.push_back(n); }
  void push_int(int64_t v);
  void push_long(uint64_t n);
  void push_text(Kind kind, uint64_t n);
  Node* pop(size_t at);
  Node* top(size_t at);
  std::vector<Node*> pop_mark(size_t at);
  Node* memo_get(uint64_t key, size_t at);
  void add_entries(Node* dict, const std::vector<Node*>& kv, size_t at);
  Node* object_of(const Node* cls, std::vector<Node*> held);
  int64_t as_int(const Node* n, const char* what, size_t at) const;
  std::vector<int64_t> as_ints(const Node* n, const char* what, size_t at) const;
  Node* reduce(Node* callable, Node* args, size_t at);
  void check_nesting(size_t first) const;

  std::string where_;
  const char* begin_;
  const char* p_;
  const char* end_;
  Arena& arena_;
  PersistentLoad load_;
  std::vector<Node*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Node*> memo_;
};

}  // namespace masnn::pickle
