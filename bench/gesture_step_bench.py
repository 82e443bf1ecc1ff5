"""Times training steps of the reference DVS128 Gesture MA-SNN (the BICLab Attention-SNN PyTorch code, MA_SNN), for
comparison with `masnn bench train-step` on the same machine (docs/benchmarks.md).

Set-up: a checkout of github.com/BICLab/Attention-SNN (any path) and PyTorch (Debian: python3-torch); where the
einops package is missing, reference_einops.py beside this file stands in for it.

usage: python3 gesture_step_bench.py REF_CHECKOUT [--attention TCSA] [--T 16] [--batch 8] [--steps 3]
                                     [--threads 2] [--device cpu|cuda]
One step as the reference trains: random spike counts (5% of positions 2), random one-hot labels, the reference's
MSE loss and Adam. Prints the parameters, ms per step (mean of --steps after one warm-up), samples/s and the peak
memory (RSS on the CPU, allocated memory on CUDA).
"""
import argparse
import os
import resource
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("ref")
p.add_argument("--attention", default="TCSA")
p.add_argument("--T", type=int, default=16)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--device", default="cpu")
a = p.parse_args()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_einops  # noqa: E402

reference_einops.install()
sys.path.insert(0, os.path.join(a.ref, "MA_SNN"))
import torch  # noqa: E402

torch.set_num_threads(a.threads)
torch.manual_seed(0)
from DVSGestures.CNN.Config import configs  # noqa: E402
from DVSGestures.CNN.Networks.Att_SNN import create_net  # noqa: E402

config = configs()
config.attention, config.T = a.attention, a.T
config.device = torch.device(a.device)
config.device_ids = None
create_net(config)
net = config.model.module if hasattr(config.model, "module") else config.model
x = ((torch.rand(a.batch, a.T, 2, 32, 32) < 0.05).float() * 2).to(config.device)
y = torch.nn.functional.one_hot(torch.randint(0, 11, (a.batch,)), 11).float().to(config.device)


def synchronize():
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()


def step():
    config.optimizer.zero_grad()
    config.criterion(net(x), y).backward()
    config.optimizer.step()


step()
synchronize()
start = time.perf_counter()
for _ in range(a.steps):
    step()
synchronize()
seconds = (time.perf_counter() - start) / a.steps
print("reference dvs-gesture, attention %s, T %d, batch %d, %d threads, %s: %d parameters" % (
    a.attention, a.T, a.batch, a.threads, a.device, sum(q.numel() for q in net.parameters())))
print("%.1f ms per step, %.2f samples/s" % (1000 * seconds, a.batch / seconds))
if a.device.startswith("cuda"):
    print("peak allocated %.0f MiB" % (torch.cuda.max_memory_allocated() / 2**20))
print("peak RSS %.0f MiB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
