"""Times training steps of the reference Res-SNN (the BICLab Attention-SNN ImageNet code, Att_Res_SNN), for
comparison with `masnn bench res-step` on the same machine.

Set-up: a checkout of github.com/BICLab/Attention-SNN (any path) and PyTorch (Debian: python3-torch). Where the
einops package is missing, a stand-in for the two rearrange patterns the reference's attention uses is installed.

usage: python3 res_step_bench.py REF_CHECKOUT [--net resnet18] [--T 1 4] [--batch 8] [--size 224] [--steps 3]
                                 [--warmup 1] [--threads 2]
One step, as `masnn bench res-step` does it: forward of random normal images (the reference repeats the image T
times and runs every conv once per step), cross-entropy with label smoothing 0.1, backward, SGD (lr 0.1, momentum
0.9, weight decay 1e-5). Prints per T the median ms per step, images/s and the peak RSS so far.
"""
import argparse
import os
import resource
import statistics
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("ref")
p.add_argument("--net", default="resnet18", choices=["resnet18", "resnet34", "resnet104"])
p.add_argument("--T", type=int, nargs="+", default=[1, 4])
p.add_argument("--batch", type=int, default=8)
p.add_argument("--size", type=int, default=224)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--warmup", type=int, default=1)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_einops  # noqa: E402

reference_einops.install()
sys.path.insert(0, os.path.join(a.ref, "Att_Res_SNN"))
import torch  # noqa: E402

torch.set_num_threads(a.threads)
import models.resnet_2 as R  # noqa: E402

print("reference %s, batch %d, %dx%d, threads %d, median of %d steps after %d warm-up" % (
    a.net, a.batch, a.size, a.size, a.threads, a.steps, a.warmup))
for T in a.T:
    R.time_window = T  # the reference reads T from this module global
    torch.manual_seed(0)
    net = getattr(R, a.net)()
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-5)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, 1000, (a.batch,))
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = criterion(net(x), y)
        loss.backward()
        opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    ms = 1000 * statistics.median(times)
    print("T %d: %d parameters, %.1f ms per step (min %.1f, max %.1f), %.2f images/s, peak RSS %.0f MiB" % (
        T, sum(q.numel() for q in net.parameters()), ms, 1000 * min(times), 1000 * max(times), 1000 * a.batch / ms,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
