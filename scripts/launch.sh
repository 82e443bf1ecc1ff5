#!/usr/bin/env bash
# Starts the ranks of a distributed masnn job on this machine, as torchrun does: each process gets RANK,
# WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT (and OMP_NUM_THREADS, its share of the
# cores, unless set). When one rank fails, the others are stopped and the launcher exits with its status.
#
#   scripts/launch.sh -n 2 -- build/masnn train --config configs/demo.toml
#   scripts/launch.sh -n 4 --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 -- build/masnn train -c F.toml  (machine 0)
#   scripts/launch.sh -n 4 --nnodes 2 --node-rank 1 --master-addr 10.0.0.1 -- build/masnn train -c F.toml  (machine 1)
set -euo pipefail

usage() {
  cat >&2 <<'EOF'
usage: scripts/launch.sh -n N [--nnodes M --node-rank K] [--master-addr ADDR] [--master-port PORT] -- COMMAND...
  -n, --nproc-per-node N  processes (ranks) to start on this machine
  --nnodes M              machines in the job (default 1); run the launcher on each
  --node-rank K           this machine's place among them, 0..M-1 (default 0); machine 0 hosts the rendezvous
  --master-addr ADDR      address of machine 0 (default 127.0.0.1; required with --nnodes > 1)
  --master-port PORT      port of the rendezvous on machine 0 (default: $MASTER_PORT, else 29500)
Ranks of this machine are K*N .. K*N+N-1 of N*M. Rank 0 prints progress and writes the output folder.
EOF
  exit 2
}

nproc_per_node=""
nnodes=1
node_rank=0
master_addr=""
master_port="${MASTER_PORT:-29500}"
while [ $# -gt 0 ]; do
  case "$1" in
    -n | --nproc-per-node | --nnodes | --node-rank | --master-addr | --master-port)
      [ $# -ge 2 ] || { echo "launch.sh: $1 needs a value" >&2; usage; } ;;&
    -n | --nproc-per-node) nproc_per_node="${2:-}"; shift 2 ;;
    --nnodes) nnodes="${2:-}"; shift 2 ;;
    --node-rank) node_rank="${2:-}"; shift 2 ;;
    --master-addr) master_addr="${2:-}"; shift 2 ;;
    --master-port) master_port="${2:-}"; shift 2 ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) echo "launch.sh: unknown option '$1' (the command goes after --)" >&2; usage ;;
  esac
done
[ $# -gt 0 ] || { echo "launch.sh: no command after --" >&2; usage; }
is_count() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
is_count "$nproc_per_node" || { echo "launch.sh: -n must be a positive integer, got '$nproc_per_node'" >&2; exit 2; }
is_count "$nnodes" || { echo "launch.sh: --nnodes must be a positive integer, got '$nnodes'" >&2; exit 2; }
[[ "$node_rank" =~ ^[0-9]+$ ]] && [ "$node_rank" -lt "$nnodes" ] ||
  { echo "launch.sh: --node-rank must be in 0..$((nnodes - 1)), got '$node_rank'" >&2; exit 2; }
[[ "$master_port" =~ ^[0-9]+$ ]] && [ "$master_port" -ge 1 ] && [ "$master_port" -le 65535 ] ||
  { echo "launch.sh: --master-port must be in 1..65535, got '$master_port'" >&2; exit 2; }
if [ -z "$master_addr" ]; then
  [ "$nnodes" -eq 1 ] || { echo "launch.sh: --master-addr (machine 0's address) is required with --nnodes > 1" >&2; exit 2; }
  master_addr=127.0.0.1
fi

world=$((nproc_per_node * nnodes))
threads="${OMP_NUM_THREADS:-$(($(nproc) / nproc_per_node))}"
[ "$threads" -ge 1 ] || threads=1

pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 130' INT TERM

for ((i = 0; i < nproc_per_node; i++)); do
  rank=$((node_rank * nproc_per_node + i))
  # Rank 0's output is left as it is (its progress bar redraws a line); the others' lines are tagged.
  if [ "$rank" -eq 0 ]; then
    RANK=$rank WORLD_SIZE=$world LOCAL_RANK=$i LOCAL_WORLD_SIZE=$nproc_per_node MASTER_ADDR=$master_addr \
      MASTER_PORT=$master_port OMP_NUM_THREADS=$threads "$@" &
  else
    RANK=$rank WORLD_SIZE=$world LOCAL_RANK=$i LOCAL_WORLD_SIZE=$nproc_per_node MASTER_ADDR=$master_addr \
      MASTER_PORT=$master_port OMP_NUM_THREADS=$threads "$@" \
      > >(sed -u "s/^/[rank $rank] /") 2> >(sed -u "s/^/[rank $rank] /" >&2) &
  fi
  pids+=($!)
done

# The first rank to fail stops the job; otherwise wait for all.
running=("${pids[@]}")
while [ ${#running[@]} -gt 0 ]; do
  finished=""
  status=0
  wait -n -p finished "${running[@]}" || status=$?
  [ -n "$finished" ] || break
  left=()
  for pid in "${running[@]}"; do [ "$pid" = "$finished" ] || left+=("$pid"); done
  running=("${left[@]}")
  if [ "$status" -ne 0 ]; then
    echo "launch.sh: a rank (pid $finished) exited with status $status; stopping the others" >&2
    stop_all
    wait || true
    exit "$status"
  fi
done
wait || true
