#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan) into build-fuzz/ and runs each for SECONDS
# (default 120) on a corpus seeded from the tests' files: the torch files of tests/fixtures, their pickles, and a
# small synthetic AEDAT 3.1 recording. Prints each target's executions; a finding fails with the crashing input.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (targets: torch_archive torch_loader pickle aedat3 aedat2 gait_text aedat4 evt2 evt3
#                                               dat nmnist_bin aedat3_stream)
#   scripts/fuzz.sh --runs N [TARGET...]      N inputs per target from a fixed seed (CI's smoke run: repeatable)
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time="${1:-120}")
label="${1:-120} s"
if [ "${1:-}" = --runs ]; then
  limit=(-runs="$2" -seed=1)
  label="$2 inputs"
  runs="$2"
  shift
fi
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(torch_archive torch_loader pickle aedat3 aedat2 gait_text aedat4 evt2 evt3 dat nmnist_bin aedat3_stream)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DMASNN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null
corpus=build-fuzz/corpus
mkdir -p "$corpus"/{torch_archive,torch_loader,pickle,aedat3,aedat2,gait_text,aedat4,evt2,evt3,dat,nmnist_bin,aedat3_stream}
for f in tests/fixtures/*/*.pt; do
  cp "$f" "$corpus/torch_archive/$(echo "$f" | tr / _)"
  # The pickles inside a zip archive, and a legacy stream's own bytes.
  # torch_loader's inputs are a pickle of the harness's template checkpoint, after the byte that picks which.
  python3 - "$f" "$corpus/pickle" "$corpus/torch_loader" <<'PY'
import sys, zipfile, os
path, out, loader = sys.argv[1], sys.argv[2], sys.argv[3]
name = path.replace('/', '_')
if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as z:
        for i, e in enumerate(n for n in z.namelist() if n.endswith('.pkl')):
            open(os.path.join(out, f'{name}_{i}'), 'wb').write(z.read(e))
            open(os.path.join(loader, f'{name}_{i}'), 'wb').write(bytes([i]) + z.read(e))
else:
    open(os.path.join(out, name), 'wb').write(open(path, 'rb').read()[:65536])
PY
done
if [ -x build/masnn ] && [ ! -e build-fuzz/synth ]; then
  build/masnn synth --out build-fuzz/synth --users 2 >/dev/null
fi
find build-fuzz/synth -name '*.aedat' 2>/dev/null | head -n 2 | while read -r f; do
  head -c 200000 "$f" > "$corpus/aedat3/$(basename "$f")"
  { printf '\x09'; head -c 200000 "$f"; } > "$corpus/aedat3_stream/$(basename "$f")"
done
printf '# t x y p\n1000 3 4 1\n1500 5 6 0\n' > "$corpus/gait_text/seed.txt"
# The other formats: a short recording converted by masnn itself (each seed starts with the harness's piece byte).
first=$(find build-fuzz/synth -name '*.aedat' 2>/dev/null | head -n 1)
if [ -n "$first" ]; then
  build/masnn convert "$first" build-fuzz/seed.aedat4 --to-us 200000 --rebase >/dev/null
  build/masnn convert "$first" build-fuzz/seed_zstd.aedat4 --to-us 200000 --rebase --compression zstd >/dev/null
  # Several packets, so that reading with threads decompresses some at once (the harness's third decoding).
  build/masnn convert "$first" build-fuzz/seed_packets.aedat4 --to-us 1700000 --rebase --compression zstd >/dev/null
  for f in build-fuzz/seed.aedat4 build-fuzz/seed_zstd.aedat4 build-fuzz/seed_packets.aedat4; do
    { printf '\x07'; cat "$f"; } > "$corpus/aedat4/$(basename "$f")"
  done
fi
python3 - "$corpus" <<'PY'
import struct, sys, os
corpus = sys.argv[1]
def seed(target, name, data):
    open(os.path.join(corpus, target, name), 'wb').write(b'\x05' + data)
evt2 = b'% evt 2.0\n% format EVT2;height=480;width=640\n% end\n' + struct.pack(
    '<6I', 0x80000010, (1 << 28) | (5 << 22) | (100 << 11) | 200, (63 << 22) | (639 << 11) | 479,
    0xA0000000 | (2 << 8) | 1, 0x8FFFFFFF, 0x80000000)
seed('evt2', 'seed.raw', evt2)
evt3 = b'% evt 3.0\n% geometry 1280x720\n% end\n' + struct.pack(
    '<12H', 0x8001, 0x6005, 100, 0x2800 | 10, 0x3000 | 20, 0x4805, 0x4000, 0x5081, 0xA201, 0x8FFF, 0x8000, 0x6001)
seed('evt3', 'seed.raw', evt3)
dat = b'% Data file containing CD events.\n% Version 2\n% Width 304\n% Height 240\n\x00\x08' + struct.pack(
    '<6I', 0, 25 | (8 << 14), 35, 67 | (35 << 14), 152, 56 | (27 << 14) | (1 << 28))
seed('dat', 'seed.dat', dat)
seed('nmnist_bin', 'seed.bin', bytes([7, 15, 0x80, 2, 0x8e, 19, 18, 0, 0x0b, 0xb7, 0, 240, 0, 0, 0, 21, 17, 0, 0x0b, 0xc9]))
PY
status=0
for t in "${targets[@]}"; do
  log="build-fuzz/fuzz_$t.log"
  this_limit=("${limit[@]}")
  this_label="$label"
  # torch_loader runs LibTorch's loader on a whole checkpoint per input (about 40 a second): a twentieth of the runs.
  if [ "$t" = torch_loader ] && [ -n "${runs:-}" ]; then
    this_limit=(-runs="$((runs / 20))" -seed=1)
    this_label="$((runs / 20)) inputs"
  fi
  if build-fuzz/fuzz/fuzz_"$t" "${this_limit[@]}" -rss_limit_mb=4096 -print_final_stats=1 \
      "$corpus/$t" >"$log" 2>&1; then
    echo "fuzz_$t: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') executions (${this_label}), no finding"
  else
    status=1
    echo "fuzz_$t: FINDING (the input is saved as crash-*/leak-*/oom-* here):"
    grep -E "ERROR|SUMMARY|runtime error|==[0-9]+==" "$log" | head -n 20
  fi
done
exit $status
