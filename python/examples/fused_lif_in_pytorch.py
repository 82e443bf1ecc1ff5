"""masnn's fused LIF inside a plain PyTorch network, timed against the same network with the LIF written in
PyTorch (the usual way: a loop over time steps, one autograd node per operation).

    PYTHONPATH=build/python python3 python/examples/fused_lif_in_pytorch.py [--steps 16] [--batch 16] [--threads 1]

The two networks share their weights and compute the same spikes and gradients (checked before timing). Timed: the
neuron layers alone, and the whole training step, whose other layers (convolutions) are the same in both.
"""

import argparse
import time

import torch

import masnn


class SpikeFn(torch.autograd.Function):
    """Heaviside with the rectangular surrogate gradient (width 0.5): the DVS networks' neuron."""

    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * (v.abs() < 0.25).to(grad.dtype) / 0.5


def plain_lif(x):
    """The same neuron in plain PyTorch (REFERENCE.md 1.1): u = h + x; s = u >= 0.3; h = 0.3 (s 0.3 + (1 - s) u)."""
    h = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        u = h + x[t]
        s = SpikeFn.apply(u - 0.3)
        h = 0.3 * (s * 0.3 + (1 - s) * u)
        out.append(s)
    return torch.stack(out)


def fused_lif(x):
    return masnn.lif(x)[0]


class Net(torch.nn.Module):
    """Two spiking conv layers and a spiking linear head on time-major event frames [T, B, 2, 32, 32]."""

    def __init__(self, neuron):
        super().__init__()
        self.neuron = neuron
        self.conv1 = torch.nn.Conv2d(2, 32, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
        self.fc = torch.nn.Linear(64 * 8 * 8, 11)

    def forward(self, x):
        T, B = x.shape[:2]
        x = self.neuron(torch.nn.functional.avg_pool2d(self.conv1(x.flatten(0, 1)), 2).unflatten(0, (T, B)))
        x = self.neuron(torch.nn.functional.avg_pool2d(self.conv2(x.flatten(0, 1)), 2).unflatten(0, (T, B)))
        return self.neuron(self.fc(x.flatten(2))).mean(0)


def best_seconds(runs, repeats):
    """For each of `runs`, the fastest of `repeats` calls after a warm-up, the runs interleaved so that other work
    on the machine disturbs them alike."""
    for run in runs:
        run()
    times = [[] for _ in runs]
    for _ in range(repeats):
        for run, t in zip(runs, times):
            start = time.perf_counter()
            run()
            t.append(time.perf_counter() - start)
    return [min(t) for t in times]


def training_step(net, frames, labels):
    loss = torch.nn.functional.mse_loss(net(frames), labels)
    net.zero_grad()
    loss.backward()


def neurons_only(neuron, inputs, grads):
    """Forward and backward of the network's three neuron layers alone, on inputs of their shapes."""
    for x, g in zip(inputs, grads):
        neuron(x).backward(g)
        x.grad = None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    plain, fused = Net(plain_lif), Net(fused_lif)
    fused.load_state_dict(plain.state_dict())
    frames = (torch.rand(args.steps, args.batch, 2, 32, 32) < 0.1).float()
    labels = torch.nn.functional.one_hot(torch.arange(args.batch) % 11, 11).float()

    # Same outputs and gradients first.
    for net in (plain, fused):
        net.zero_grad()
        torch.nn.functional.mse_loss(net(frames), labels).backward()
    assert torch.equal(plain(frames), fused(frames))
    for (name, p), q in zip(plain.named_parameters(), fused.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=f"gradient of {name}")

    # The neuron layers' inputs: [T,B,32,16,16], [T,B,64,8,8], [T,B,11].
    shapes = [(32, 16, 16), (64, 8, 8), (11,)]
    inputs = [(torch.rand(args.steps, args.batch, *s) * 0.6).requires_grad_() for s in shapes]
    grads = [torch.randn(args.steps, args.batch, *s) for s in shapes]
    rows = [("the neuron layers alone", lambda neuron: (lambda: neurons_only(neuron, inputs, grads))),
            ("the whole training step", lambda neuron: (lambda: training_step(plain if neuron is plain_lif else fused,
                                                                               frames, labels)))]
    print(f"T {args.steps}, batch {args.batch}, {args.threads} thread(s), forward + backward, best of "
          f"{args.repeats}:")
    print(f"  {'':26}{'LIF in PyTorch':>16}{'masnn.lif':>12}")
    for what, make in rows:
        t_plain, t_fused = best_seconds([make(plain_lif), make(fused_lif)], args.repeats)
        print(f"  {what:26}{1000 * t_plain:13.1f} ms{1000 * t_fused:9.1f} ms   {t_plain / t_fused:5.2f}x faster")


if __name__ == "__main__":
    main()
