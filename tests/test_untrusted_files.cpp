// Files from anywhere: damaged or hostile zip archives, pickles, checkpoints and tensor files get one clear error
// naming the file, never a crash, a hang, an allocation of what they declare, or weights silently changed.
#include <gtest/gtest.h>

#include <algorithm>
#include <sys/stat.h>
#include <unistd.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "data/dataset_cache.h"
#include "masnn/data/event_file.h"
#include "masnn/data/gesture_labels.h"
#include "masnn/models/pytorch_state_dict.h"
#include "masnn/models/registry.h"
#include "masnn/models/torch_archive.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/config.h"
#include "masnn/util/chunked_file.h"
#include "masnn/util/file_io.h"
#include "util/zip_archive.h"
#include "module_state.h"
#include "test_support.h"

using namespace masnn;
using namespace masnn::train;
using masnn::testing::expect_error;
using masnn::testing::rewrite_torch_zip;
using masnn::testing::TempDir;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(MASNN_SOURCE_DIR) / "tests" / "fixtures";

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// A pickle of `depth` nested lists: MARK x depth, EMPTY_LIST, LIST x depth, STOP.
std::string deep_pickle(size_t depth) {
  return std::string("\x80\x02", 2) + std::string(depth, '(') + "]" + std::string(depth, 'l') + ".";
}

struct SmallCheckpoint {
  TempDir dir{"untrusted"};
  std::string path = dir.file("last.pt");
  ModelSpec spec = masnn::testing::small_spec("dvs-small");
  torch::nn::AnyModule model;

  SmallCheckpoint() {
    torch::manual_seed(3);
    model = build_model(spec);
    CheckpointInfo info;
    info.spec = spec;
    save_checkpoint(path, *model.ptr(), nullptr, info);
  }
  // Loads `path` into a fresh network: the error, or "" with `same` telling whether the weights are the saved ones.
  std::string load(const std::string& file, bool* same) {
    torch::manual_seed(99);
    auto fresh = build_model(spec);
    try {
      load_checkpoint(file, *fresh.ptr(), nullptr, false);
    } catch (const std::exception& e) {
      return e.what();
    }
    const auto a = masnn::testing::named_state(*model.ptr()), b = masnn::testing::named_state(*fresh.ptr());
    *same = a.size() == b.size();
    for (const auto& [name, t] : a) *same = *same && b.count(name) && torch::equal(t, b.at(name));
    return {};
  }
};

}  // namespace

TEST(Zip, EntriesAreCheckedAndReadBack) {
  const TempDir dir("zip");
  write_pytorch_state_dict({{"w", torch::arange(6, torch::kFloat)}}, dir.file("w.pt"));
  const auto bytes = read_file_bytes(dir.file("w.pt"));
  const auto entries = read_zip_entries("w.pt", bytes.data(), bytes.size());
  ASSERT_GE(entries.size(), 3u);
  bool found = false;
  for (const ZipEntry& e : entries) {
    if (e.name != "archive/data/0") continue;
    found = true;
    const auto data = zip_entry_bytes("w.pt", bytes.data(), e);
    ASSERT_EQ(data.size(), 24u);
    float v[6];
    std::memcpy(v, data.data(), 24);
    EXPECT_EQ(v[5], 5.0f);
  }
  EXPECT_TRUE(found);
  // Every truncation is one clear error; the end record is searched, never read past.
  for (size_t n : {size_t{0}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    const std::string m = expect_error([&] { read_zip_entries("cut.pt", bytes.data(), n); });
    EXPECT_NE(m.find("cut.pt: "), std::string::npos) << m;
  }
  EXPECT_NE(expect_error([&] {
              const auto junk = bytes_of(std::string("PK\x03\x04", 4) + std::string(5000, 'x'));
              read_zip_entries("junk.pt", junk.data(), junk.size());
            }).find("junk.pt: not a zip archive (no end-of-central-directory record)"),
            std::string::npos);
}

TEST(Zip, ALieAboutSizesIsRefusedBeforeAllocating) {
  const TempDir dir("zip_sizes");
  write_pytorch_state_dict({{"w", torch::ones({4})}}, dir.file("w.pt"));
  auto bytes = read_file_bytes(dir.file("w.pt"));
  // The end record declares a central directory of 2^32 - 2 bytes: reaches past the end of the file.
  const size_t end = bytes.size() - 22;
  ASSERT_EQ(bytes[end], 'P');
  bytes[end + 12] = bytes[end + 13] = bytes[end + 14] = 0xff;
  bytes[end + 15] = 0xfe;
  const std::string m = expect_error([&] { read_zip_entries("w.pt", bytes.data(), bytes.size()); });
  EXPECT_NE(m.find("w.pt: truncated or corrupt zip archive (central directory"), std::string::npos) << m;
}

// A deflated entry declaring 2 GiB (its 2.1 MB of data could, by ratio alone, inflate that far): refused before
// anything is allocated or inflated.
TEST(Zip, ADeflatedEntryDeclaringGigabytesIsRefusedBeforeInflating) {
  const std::string name = "a/data.pkl";
  const uint32_t compressed = 2100000, size = 1u << 31;
  std::vector<uint8_t> z;
  auto le = [&](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) z.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  le(0x04034b50, 4), le(20, 2), le(0, 2), le(8, 2), le(0, 4), le(0, 4), le(compressed, 4), le(size, 4);
  le(name.size(), 2), le(0, 2);
  z.insert(z.end(), name.begin(), name.end());
  z.resize(z.size() + compressed, 0x55);
  const size_t directory = z.size();
  le(0x02014b50, 4), le(20, 2), le(20, 2), le(0, 2), le(8, 2), le(0, 4), le(0, 4), le(compressed, 4), le(size, 4);
  le(name.size(), 2), le(0, 2), le(0, 2), le(0, 2), le(0, 2), le(0, 4), le(0, 4);
  z.insert(z.end(), name.begin(), name.end());
  const size_t directory_size = z.size() - directory;
  le(0x06054b50, 4), le(0, 2), le(0, 2), le(1, 2), le(1, 2), le(directory_size, 4), le(directory, 4), le(0, 2);
  const std::string m = expect_error([&] { read_zip_entries("bomb.pt", z.data(), z.size()); });
  EXPECT_NE(m.find("bomb.pt: zip entry 'a/data.pkl' would inflate to 2147483648 bytes, more than the 1 GiB"),
            std::string::npos)
      << m;
}

TEST(Pickle, DeepNestingManyValuesAndCyclesAreRefused) {
  const TempDir dir("pickle");
  // A legacy torch.save stream starts with a pickle: 100,000 nested lists in it are refused without recursion.
  std::ofstream(dir.file("deep.pt"), std::ios::binary) << deep_pickle(100000);
  std::string m = expect_error([&] { read_pytorch_state_dict(dir.file("deep.pt")); });
  EXPECT_NE(m.find("deep.pt (magic number): values nested more than 1000 deep"), std::string::npos) << m;
  std::ofstream(dir.file("ok.pt"), std::ios::binary) << deep_pickle(900);  // deep but allowed: not a torch file
  m = expect_error([&] { read_pytorch_state_dict(dir.file("ok.pt")); });
  EXPECT_NE(m.find("ok.pt: a pickle, but not a file of torch.save"), std::string::npos) << m;
  // 3 million Nones: more values than any torch file holds.
  std::ofstream(dir.file("many.pt"), std::ios::binary)
      << std::string("\x80\x02(", 3) << std::string(3000000, 'N') << "l.";
  m = expect_error([&] { read_pytorch_state_dict(dir.file("many.pt")); });
  EXPECT_NE(m.find("more than 2097152 values"), std::string::npos) << m;
  // A list appended to itself (EMPTY_LIST, DUP, APPEND).
  std::ofstream(dir.file("cycle.pt"), std::ios::binary) << std::string("\x80\x02]2a.", 6);
  m = expect_error([&] { read_pytorch_state_dict(dir.file("cycle.pt")); });
  EXPECT_NE(m.find("a value contains itself"), std::string::npos) << m;
}

TEST(Checkpoint, EveryFlippedBitIsRefusedOrHarmless) {
  SmallCheckpoint c;
  bool same = false;
  ASSERT_EQ(c.load(c.path, &same), "");
  ASSERT_TRUE(same);
  const auto original = read_file_bytes(c.path);
  const std::string flipped = c.dir.file("flipped.pt");
  int refused = 0, harmless = 0, silent = 0;
  const size_t flips = 199;
  for (size_t k = 0; k < flips; ++k) {
    auto bytes = original;
    const size_t at = (k * 7919 + 13) % bytes.size();
    bytes[at] ^= static_cast<uint8_t>(1u << (k % 8));
    write_file_atomic(flipped, bytes);
    const std::string error = c.load(flipped, &same);
    if (!error.empty()) {
      ++refused;
      EXPECT_NE(error.find("flipped.pt"), std::string::npos) << "byte " << at << ": " << error;
    } else if (same) {
      ++harmless;  // e.g. a zip field nobody reads (the "version made by")
    } else {
      ++silent;
      ADD_FAILURE() << "a flipped bit at byte " << at << " changed the weights silently";
    }
  }
  EXPECT_EQ(silent, 0);
  EXPECT_GT(refused, 150) << harmless << " harmless";
  std::printf("%zu bit flips: %d refused, %d harmless, %d silent\n", flips, refused, harmless, silent);
}

TEST(Checkpoint, ATensorAlteredWithMendedCrcsIsRefusedByName) {
  SmallCheckpoint c;
  const auto original = read_file_bytes(c.path);
  // One weight record changed and the zip rewritten with CRC-32s that match: only the SHA-256 can tell.
  int records = 0;
  const auto edited = rewrite_torch_zip(original, [&](const std::string& record, std::string& data) {
    if (record.rfind("data/", 0) == 0 && data.size() >= 64 && records++ == 0) data[10] ^= 0x40;
  });
  write_file_atomic(c.dir.file("edited.pt"), edited);
  bool same = true;
  const std::string m = c.load(c.dir.file("edited.pt"), &same);
  EXPECT_NE(m.find("edited.pt: tensor '"), std::string::npos) << m;
  EXPECT_NE(m.find("' does not match its SHA-256 in the checkpoint"), std::string::npos) << m;
}

TEST(Checkpoint, DeclaredSizesAndDepthAreCheckedBeforeLibTorchReads) {
  SmallCheckpoint c;
  const auto original = read_file_bytes(c.path);
  // A storage that declares 6 billion floats (24 GB) where its record holds a few: refused, nothing mapped.
  const auto huge = rewrite_torch_zip(original, [](const std::string& record, std::string& data) {
    if (record != "data.pkl") return;
    // The first persistent id: ..., 'cpu' (then a BINPUT of it, 2 bytes), numel.
    const std::string cpu("X\x03\x00\x00\x00" "cpu", 8);
    const auto at = data.find(cpu);
    ASSERT_NE(at, std::string::npos);
    const size_t numel = at + cpu.size() + (data[at + cpu.size()] == 'q' ? 2 : 0);
    ASSERT_TRUE(data[numel] == 'J' || data[numel] == 'K' || data[numel] == 'M') << data[numel];
    const std::string six_billion("\x8a\x05\x00\xbc\xa0\x65\x01", 7);  // LONG1 5 bytes: 6,000,000,000
    const size_t width = data[numel] == 'J' ? 5 : data[numel] == 'M' ? 3 : 2;
    data.replace(numel, width, six_billion);
  });
  write_file_atomic(c.dir.file("huge.pt"), huge);
  bool same = false;
  std::string m = c.load(c.dir.file("huge.pt"), &same);
  EXPECT_NE(m.find("huge.pt (data.pkl): storage 'data/0' declares 6000000000 elements of Float, its record holds 2304"), std::string::npos) << m;
  // data.pkl replaced by 100,000 nested lists: refused before LibTorch (whose values are destroyed recursively).
  const auto deep = rewrite_torch_zip(original, [](const std::string& record, std::string& data) {
    if (record == "data.pkl") data = deep_pickle(100000);
  });
  write_file_atomic(c.dir.file("deep.pt"), deep);
  m = c.load(c.dir.file("deep.pt"), &same);
  EXPECT_NE(m.find("deep.pt (data.pkl): values nested more than 1000 deep"), std::string::npos) << m;
  EXPECT_NE(expect_error([&] { read_checkpoint_info(c.dir.file("deep.pt")); }).find("nested more than"),
            std::string::npos);
}

TEST(Checkpoint, ThoseOfEarlierBuildsLoadWithANote) {
  const std::string old = (kFixtures / "checkpoints" / "dvs_checkpoint_1.13.pt").string();
  const CheckpointInfo info = read_checkpoint_info(old);
  EXPECT_TRUE(info.tensor_sha256.empty());
  auto model = build_model(info.spec);
  ::testing::internal::CaptureStderr();
  load_checkpoint(old, *model.ptr(), nullptr, false);
  const std::string note = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(note.find("dvs_checkpoint_1.13.pt: written by an earlier masnn without tensor checksums"),
            std::string::npos)
      << note;
}

TEST(TensorFile, ChecksComeFirst) {
  const TempDir dir("tensor_file");
  write_tensor_file(dir.file("x.pt"), torch::arange(12, torch::kFloat).reshape({3, 4}));
  EXPECT_TRUE(torch::equal(read_tensor_file(dir.file("x.pt")), torch::arange(12, torch::kFloat).reshape({3, 4})));
  const auto deep = rewrite_torch_zip(read_file_bytes(dir.file("x.pt")), [](const std::string& record, std::string& data) {
    if (record == "data.pkl") data = deep_pickle(100000);
  });
  write_file_atomic(dir.file("deep.pt"), deep);
  EXPECT_NE(expect_error([&] { read_tensor_file(dir.file("deep.pt")); }).find("deep.pt (data.pkl): values nested"),
            std::string::npos);
}

TEST(DataFiles, AFifoOrAFolderIsRefusedAtOnceNeverWaitedOn) {
  const TempDir dir("fifo");
  const std::string fifo = dir.file("events.aedat");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);  // nobody writes to it: opening it for reading would block
  EXPECT_NE(expect_error([&] { read_file_bytes(fifo); }).find("events.aedat: expected a regular file, found a FIFO"),
            std::string::npos);
  EXPECT_NE(expect_error([&] { data::detect_format(fifo); }).find("found a FIFO"), std::string::npos);
  EXPECT_NE(expect_error([&] { data::read_gesture_labels(fifo); }).find("found a FIFO"), std::string::npos);
  EXPECT_NE(expect_error([&] { read_pytorch_state_dict(fifo); }).find("found a FIFO"), std::string::npos);
  EXPECT_NE(expect_error([&] { read_file_bytes(dir.path.string()); }).find("expected a regular file, found a folder"),
            std::string::npos);
}

TEST(DataFiles, ABoundedReadReturnsTheFirstBytesOnly) {
  const TempDir dir("bounded");
  std::vector<uint8_t> bytes(200000);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
  const std::string path = dir.write("big.bin", bytes);
  const auto head = read_file_bytes(path, 70000);  // more than one 64 KB chunk, less than the file
  ASSERT_EQ(head.size(), 70000u);
  EXPECT_TRUE(std::equal(head.begin(), head.end(), bytes.begin()));
  EXPECT_EQ(read_file_bytes(path, 1u << 30), bytes);  // a bound past the end: the whole file
  EXPECT_TRUE(read_file_bytes(path, 0).empty());
}

TEST(DataFiles, ChunksCoverTheFileExactlyAndAShrunkFileIsNamed) {
  const TempDir dir("chunks");
  EXPECT_NE(expect_error([&] { ChunkedFile(dir.path.string()); }).find("found a folder"), std::string::npos);
  for (size_t size : {0, 1, 99, 100, 101, 1000}) {
    std::vector<uint8_t> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 13 + 1);
    const std::string path = dir.write("f" + std::to_string(size), bytes);
    ChunkedFile file(path, 100);
    ASSERT_EQ(file.size(), size);
    std::vector<uint8_t> back;
    size_t chunks = 0;
    for (auto [data, n] = file.next(); n > 0; std::tie(data, n) = file.next(), ++chunks) {
      EXPECT_LE(n, 100u);
      back.insert(back.end(), data, data + n);
    }
    EXPECT_EQ(back, bytes);
    EXPECT_EQ(chunks, (size + 99) / 100);
    EXPECT_EQ(file.position(), size);
    uint8_t three[3] = {};
    EXPECT_EQ(file.read_at(size > 2 ? size - 2 : size, three, 3), size > 2 ? 2u : 0u);  // clipped at the end
  }
  // Another process truncates the file while it is read: an error naming it (a mapping would fault with SIGBUS).
  const std::string path = dir.write("shrinks", std::vector<uint8_t>(1000, 7));
  ChunkedFile file(path, 300);
  file.next();
  fs::resize_file(path, 500);  // bytes 300 .. 600 come next, of which 500 .. 600 are gone
  EXPECT_NE(expect_error([&] { file.next(); }).find("shrinks: the file shrank while it was read (it ends at byte 500"),
            std::string::npos);
}

TEST(DataFiles, ACacheThatCannotBeWrittenBesideTheDataGoesToTheUserCache) {
  const TempDir dir("cache_folder");
  const fs::path data = dir.path / "gestures";
  fs::create_directories(data);
  EXPECT_EQ(data::dataset_cache_folder(data.string()), (data / ".masnn-cache").string());
  // .masnn-cache taken by a file: nothing can be written there (as a read-only dataset, also for root).
  fs::remove_all(data / ".masnn-cache");
  std::ofstream(data / ".masnn-cache") << "not a folder";
  const char* saved = std::getenv("XDG_CACHE_HOME");
  const std::string saved_value = saved ? saved : "";
  ::setenv("XDG_CACHE_HOME", (dir.path / "xdg").c_str(), 1);
  ::testing::internal::CaptureStderr();
  const std::string folder = data::dataset_cache_folder(data.string());
  const std::string note = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(folder.rfind((dir.path / "xdg" / "masnn" / "datasets" / "gestures-").string(), 0), 0u) << folder;
  EXPECT_TRUE(fs::is_directory(folder));
  EXPECT_NE(note.find("cannot be written; the dataset cache is in " + folder), std::string::npos) << note;
  // Neither writable: one error naming both folders and the way out.
  std::ofstream(dir.path / "file") << "x";
  ::setenv("XDG_CACHE_HOME", (dir.path / "file" / "sub").c_str(), 1);
  const std::string m = expect_error([&] { data::dataset_cache_folder(data.string()); });
  EXPECT_NE(m.find("the dataset cache can be written neither in " + (data / ".masnn-cache").string()),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("set data.cache = false"), std::string::npos) << m;
  if (saved) ::setenv("XDG_CACHE_HOME", saved_value.c_str(), 1);
  else ::unsetenv("XDG_CACHE_HOME");
}

TEST(Checkpoint, AMissingOrMisShapedTensorIsNamed) {
  SmallCheckpoint c;  // dvs-small, TCSA
  ModelSpec other = c.spec;
  other.num_classes = c.spec.num_classes + 3;
  auto wider = build_model(other);
  std::string m = expect_error([&] { load_checkpoint(c.path, *wider.ptr(), nullptr, false); });
  EXPECT_NE(m.find("last.pt: tensor '"), std::string::npos) << m;
  EXPECT_NE(m.find("' has shape ["), std::string::npos) << m;
  EXPECT_NE(m.find("in the checkpoint, the network expects ["), std::string::npos) << m;
  ModelSpec plain = c.spec;
  plain.attention = AttentionType::parse("none");
  auto none = build_model(plain);
  const std::string none_path = c.dir.file("none.pt");
  CheckpointInfo info;
  info.spec = plain;
  save_checkpoint(none_path, *none.ptr(), nullptr, info);
  auto with_attention = build_model(c.spec);
  m = expect_error([&] { load_checkpoint(none_path, *with_attention.ptr(), nullptr, false); });
  EXPECT_NE(m.find("none.pt: "), std::string::npos) << m;
  EXPECT_NE(m.find("of this network is missing from the checkpoint"), std::string::npos) << m;
}

// A path that is not UTF-8 cannot be written into the run's config.toml as it is (TOML is UTF-8): refused at once.
TEST(Config, AValueThatIsNotUtf8IsRefusedNamingTheKey) {
  const std::string text = "[data]\ndataset = \"synthetic-gesture\"\n";
  const std::string m = expect_error([&] { parse_config(text, "run.toml", {"data.root=/data/caf\xe9"}); });
  EXPECT_NE(m.find("key 'data.root': the value is not UTF-8 text"), std::string::npos) << m;
  EXPECT_EQ(parse_config(text, "run.toml", {"data.root=/data/caf\xc3\xa9"}).data.root, "/data/caf\xc3\xa9");
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf8\x88\x80\x80\x80", "\xe2\x82"})  // overlong, surrogate, 5 bytes, cut
    EXPECT_NE(expect_error([&] { parse_config(text, "run.toml", {std::string("data.root=") + bad}); }).find("not UTF-8"),
              std::string::npos);
}
