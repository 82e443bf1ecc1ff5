#!/usr/bin/env bash
# The installed package as another project sees it (ctest: package.consumer): installs this build into a fresh
# prefix, builds examples/ against it with find_package(masnn), runs the three examples on tiny settings, and runs
# the installed command and Python module.
#   package_test.sh BUILD_DIR SOURCE_DIR WORK_DIR CXX_COMPILER TORCH_DIR [PYTHON]
set -euo pipefail
build=$1 source=$2 work=$3 cxx=$4 torch_dir=$5 python=${6:-}
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"

# Libraries with a SONAME and a version; the command runs from the prefix (its RPATH finds them).
# (No `| grep -q` under pipefail: grep leaving early can kill the writer with SIGPIPE and fail the pipeline.)
for layer in util neuron attention models data train analysis serve apps; do
  dynamic=$(readelf -d "$prefix/lib/libmasnn_$layer.so")
  [[ $dynamic == *"Library soname: [libmasnn_$layer.so.0.1]"* ]] ||
    { echo "libmasnn_$layer.so has no SONAME libmasnn_$layer.so.0.1"; exit 1; }
done
"$prefix/bin/masnn" --version

launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$source/examples" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DTorch_DIR="$torch_dir" \
  -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" > "$work/configure.log"
cmake --build "$work/build" -j2 > "$work/build.log"

echo "== custom_network"
"$work/build/custom_network" TCSA | tee "$work/custom.txt"
grep -q "SpikingConvBlock" "$work/custom.txt"
grep -Eq "^conv1.lif +firing rate 0\.[0-9]+" "$work/custom.txt"
# The network learns the pattern: the loss falls.
awk '/^loss:/ { gsub(",", ""); if (!($7 < $4)) exit 1 }' "$work/custom.txt"

echo "== train_on_dataset"
"$prefix/bin/masnn" synth --out "$work/data" --users 3 --test-users 1 --gesture-seconds 1 --quiet
"$work/build/train_on_dataset" "$prefix/share/masnn/configs/demo.toml" "data.root=\"$work/data\"" \
  "train.out_dir=\"$work/run\"" train.epochs=1 data.steps=8 data.dt_ms=100 data.ds=8 model.t_ratio=2 \
  data.clips=1 train.batch_size=4 train.quiet=true data.workers=1 | tee "$work/train.txt"
grep -q "best test accuracy" "$work/train.txt"
test -f "$work/run/best.pt"

echo "== classify_events"
recordings=("$work"/data/DvsGesture/*.aedat)
recording=${recordings[0]}
"$work/build/classify_events" "$work/run/best.pt" "$recording" 0 2000000 | tee "$work/classify.txt"
grep -Eq "^(class [0-9]+ \(rate [0-9.]+\)|no class neuron fired .*); rates:( [0-9.]+){11}$" "$work/classify.txt"

if [ -n "$python" ]; then
  echo "== the installed Python module"
  init=$(find "$prefix" -name '__init__.py' -path '*/masnn/*')
  pydir=$(dirname "${init%%$'\n'*}")
  PYTHONPATH=$(dirname "$pydir") "$python" -c "
import masnn, sys
net = masnn.load(sys.argv[1])
print(net, masnn.__file__)
assert masnn.__file__.startswith(sys.argv[2])
" "$work/run/best.pt" "$prefix"
fi
echo "package test passed"
