#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan) into build-fuzz/ and runs each for SECONDS
# (default 120) on a corpus seeded from the tests' files: the torch files of tests/fixtures, their pickles, and a
# small synthetic AEDAT 3.1 recording. Prints each target's executions; a finding fails with the crashing input.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (targets: torch_archive pickle aedat3 aedat2 gait_text)
#   scripts/fuzz.sh --runs N [TARGET...]      N inputs per target from a fixed seed (CI's smoke run: repeatable)
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time="${1:-120}")
label="${1:-120} s"
if [ "${1:-}" = --runs ]; then
  limit=(-runs="$2" -seed=1)
  label="$2 inputs"
  shift
fi
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(torch_archive pickle aedat3 aedat2 gait_text)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DMASNN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null
corpus=build-fuzz/corpus
mkdir -p "$corpus"/{torch_archive,pickle,aedat3,aedat2,gait_text}
for f in tests/fixtures/*/*.pt; do
  cp "$f" "$corpus/torch_archive/$(echo "$f" | tr / _)"
  # The pickles inside a zip archive, and a legacy stream's own bytes.
  python3 - "$f" "$corpus/pickle" <<'PY'
import sys, zipfile, os
path, out = sys.argv[1], sys.argv[2]
name = path.replace('/', '_')
if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as z:
        for i, e in enumerate(n for n in z.namelist() if n.endswith('.pkl')):
            open(os.path.join(out, f'{name}_{i}'), 'wb').write(z.read(e))
else:
    open(os.path.join(out, name), 'wb').write(open(path, 'rb').read()[:65536])
PY
done
if [ -x build/masnn ] && [ ! -e build-fuzz/synth ]; then
  build/masnn synth --out build-fuzz/synth --users 2 >/dev/null
fi
find build-fuzz/synth -name '*.aedat' 2>/dev/null | head -n 2 | while read -r f; do
  head -c 200000 "$f" > "$corpus/aedat3/$(basename "$f")"
done
printf '# t x y p\n1000 3 4 1\n1500 5 6 0\n' > "$corpus/gait_text/seed.txt"
status=0
for t in "${targets[@]}"; do
  log="build-fuzz/fuzz_$t.log"
  if build-fuzz/fuzz/fuzz_"$t" "${limit[@]}" -rss_limit_mb=4096 -print_final_stats=1 \
      "$corpus/$t" >"$log" 2>&1; then
    echo "fuzz_$t: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') executions (${label}), no finding"
  else
    status=1
    echo "fuzz_$t: FINDING (the input is saved as crash-*/leak-*/oom-* here):"
    grep -E "ERROR|SUMMARY|runtime error|==[0-9]+==" "$log" | head -n 20
  fi
done
exit $status
