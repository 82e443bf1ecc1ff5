"""Tests of the Python module (run by ctest as python.pytest; MASNN_CLI names the masnn command, MASNN_SOURCE_DIR
the source tree). Every expected value comes from an independent computation: hand-made event files, a plain
PyTorch LIF written from REFERENCE.md, the masnn command on the same inputs, torch.load of exported files."""

import os
import subprocess

import numpy as np
import pytest
import torch

import masnn

CLI = os.environ.get("MASNN_CLI", "masnn")
SOURCE = os.environ.get("MASNN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DVS_CHECKPOINT = os.path.join(SOURCE, "tests", "fixtures", "checkpoints", "dvs_checkpoint_1.13.pt")


def write_nmnist_bin(path, events):
    """N-MNIST's 40-bit records: x, y, then polarity (bit 7) and a 23-bit timestamp, big-endian."""
    with open(path, "wb") as f:
        for t, x, y, p in events:
            f.write(bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF]))


EVENTS = [(10, 1, 2, 1), (20, 3, 4, 0), (35, 33, 0, 1), (70000, 0, 33, 0), (70001, 5, 5, 1)]


def test_read_events_of_a_hand_made_file(tmp_path):
    path = tmp_path / "sample.bin"
    write_nmnist_bin(path, EVENTS)
    events, info = masnn.read_events(path, return_info=True)
    assert events.dtype == masnn.EVENT_DTYPE
    assert [tuple(int(v) for v in e) for e in events] == EVENTS
    assert info["format"] == "nmnist-bin" and info["events"] == len(EVENTS)
    assert "aedat4" in masnn.event_formats()


def test_every_written_format_reads_back_the_same_events(tmp_path):
    source = tmp_path / "sample.bin"
    write_nmnist_bin(source, EVENTS)
    expected = masnn.read_events(source)
    for name in ["copy.aedat4", "copy.aedat", "copy.npy"]:
        subprocess.run([CLI, "convert", str(source), str(tmp_path / name)], check=True, capture_output=True)
    np.testing.assert_array_equal(masnn.read_events(tmp_path / "copy.aedat4"), expected)
    np.testing.assert_array_equal(masnn.read_events(tmp_path / "copy.aedat"), expected)
    np.testing.assert_array_equal(np.load(tmp_path / "copy.npy"), expected)  # the layout other tools read


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(RuntimeError, match="nonexistent"):
        masnn.read_events(tmp_path / "nonexistent.aedat4")
    garbage = tmp_path / "garbage.dat"
    garbage.write_bytes(b"\x00\x01 not an event file")
    with pytest.raises((RuntimeError, ValueError), match="garbage.dat"):
        masnn.read_events(garbage)
    with pytest.raises(ValueError, match="format"):
        masnn.read_events(garbage, format="no-such-format")


def test_frames_count_events_per_polarity_and_bin():
    events = np.array([(0, 0, 0, 1), (10, 1, 0, 1), (20, 3, 3, 0), (99, 3, 3, 0)], dtype=masnn.EVENT_DTYPE)
    frames = masnn.events_to_frames(events, steps=2, width=4, height=4, slicing="time-bins")
    assert frames.shape == (2, 2, 4, 4)
    expected = torch.zeros(2, 2, 4, 4)
    expected[0, 1, 0, 0] = expected[0, 1, 0, 1] = expected[0, 0, 3, 3] = 1  # t 0..49
    expected[1, 0, 3, 3] = 1                                                # t 50..99
    assert torch.equal(frames, expected)
    pooled = masnn.events_to_frames(events, steps=1, width=4, height=4, ds=2)
    assert pooled[0, 1, 0, 0] == 2 and pooled[0, 0, 1, 1] == 2
    with pytest.raises(ValueError, match="outside the 2x2 sensor"):
        masnn.events_to_frames(events, steps=1, width=2, height=2)


class ReferenceSpike(torch.autograd.Function):
    """Heaviside with the rectangular surrogate of width a (REFERENCE.md 1.1), in plain PyTorch."""

    @staticmethod
    def forward(ctx, v, width, at_equal):
        ctx.save_for_backward(v)
        ctx.width = width
        return (v >= 0 if at_equal else v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * (v.abs() < ctx.width / 2).to(grad.dtype) / ctx.width, None, None


def reference_lif(x, n, state=None):
    """REFERENCE.md 1.1 / 1.3 (hard reset to v_reset, then decay), one PyTorch op at a time."""
    h = torch.zeros_like(x[0]) if state is None else state
    spikes = []
    for t in range(x.shape[0]):
        u = h + x[t]
        s = ReferenceSpike.apply(u - n["threshold"], n["surrogate_width"], n["fire_at_equal"])
        r = s.detach() if n["detach_reset"] else s
        h = n["decay"] * (r * n["v_reset"] + (1 - r) * u)
        spikes.append(s)
    return torch.stack(spikes), h


@pytest.mark.parametrize("neuron", [masnn.DVS_NEURON, masnn.RES_SNN_NEURON], ids=["dvs", "res-snn"])
def test_lif_values_and_surrogate_gradients_equal_plain_pytorch(neuron):
    torch.manual_seed(0)
    x = (torch.rand(6, 3, 4, 5, dtype=torch.float64) * 0.8 - 0.1).requires_grad_()
    h0 = torch.rand(3, 4, 5, dtype=torch.float64) * 0.2
    g_spikes, g_state = torch.randn(6, 3, 4, 5, dtype=torch.float64), torch.randn(3, 4, 5, dtype=torch.float64)

    spikes, state = masnn.lif(x, state=h0, **neuron)
    ((spikes * g_spikes).sum() + (state * g_state).sum()).backward()
    grad, x.grad = x.grad.clone(), None
    ref_spikes, ref_state = reference_lif(x, neuron, h0)
    ((ref_spikes * g_spikes).sum() + (ref_state * g_state).sum()).backward()

    assert 0.05 < spikes.mean().item() < 0.95  # both sides of the threshold are exercised
    assert torch.equal(spikes, ref_spikes)
    torch.testing.assert_close(state, ref_state)
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, x.grad)


def test_lif_gradcheck_where_no_neuron_is_near_its_threshold():
    # A surrogate gradient is not the derivative of a step function, so finite differences can check only the
    # smooth part: inputs that keep every membrane below the surrogate's window (the leaky integration).
    x = (torch.rand(5, 2, 3, dtype=torch.float64) * 0.1 - 0.09).requires_grad_()
    h0 = (torch.rand(2, 3, dtype=torch.float64) * 0.01).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, h: masnn.lif(x, state=h), (x, h0))


def test_scaled_lif_equals_the_lif_of_the_scaled_input():
    torch.manual_seed(1)
    x = torch.randn(4, 2, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    a = torch.rand(4, 2, 3, dtype=torch.float64, requires_grad=True)
    w = torch.rand(2, 5, 5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(4, 2, 3, 5, 5, dtype=torch.float64)
    spikes = masnn.scaled_lif(x, a, w)
    (spikes * g).sum().backward()
    grads = [t.grad.clone() for t in (x, a, w)]
    for t in (x, a, w):
        t.grad = None
    ref, _ = reference_lif(torch.relu(x * a[..., None, None] * w[None, :, None]), masnn.DVS_NEURON)
    (ref * g).sum().backward()
    assert torch.equal(spikes, ref)
    for mine, theirs in zip(grads, (x.grad, a.grad, w.grad)):
        torch.testing.assert_close(mine, theirs)
    with pytest.raises(ValueError, match=r"a must be \[T,B,C\]"):
        masnn.scaled_lif(x, a[0], w)


def test_lif_errors_name_the_argument():
    with pytest.raises(TypeError, match="thresold"):
        masnn.lif(torch.zeros(2, 2), thresold=1.0)
    with pytest.raises(ValueError, match="state must be"):
        masnn.lif(torch.zeros(2, 3), state=torch.zeros(4))
    with pytest.raises(ValueError, match="surrogate"):
        masnn.lif(torch.zeros(2, 3), surrogate="nonsense")


def test_attention_is_a_module_with_masnn_parameters_and_passes_gradcheck():
    torch.manual_seed(2)
    attention = masnn.MultiDimAttention("TCSA", steps=4, channels=8, t_ratio=2, c_ratio=4).double()
    names = [n for n, _ in attention.named_parameters()]
    assert len(names) == 5 and set(attention.state_dict()) == set(names)  # TA and CA MLPs (2 each), SA's conv
    x = torch.randn(4, 2, 8, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(attention, (x,))
    # The parameters a PyTorch optimiser holds are the ones masnn computes with.
    y0 = attention(x).detach()
    optimiser = torch.optim.SGD(attention.parameters(), lr=1.0)
    attention(x).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in attention.parameters())
    optimiser.step()
    assert not torch.allclose(attention(x), y0)


def test_attention_inside_a_plain_pytorch_network_trains():
    torch.manual_seed(3)
    T, B, C = 4, 8, 6
    conv = torch.nn.Conv2d(2, C, 3, padding=1)
    attention = masnn.MultiDimAttention("TCSA", steps=T, channels=C, t_ratio=2, c_ratio=2)
    head = torch.nn.Linear(C * 8 * 8, 2)
    model = torch.nn.ModuleList([conv, attention, head])
    frames = (torch.rand(T, B, 2, 8, 8) < 0.2).float()
    labels = torch.arange(B) % 2
    frames[:, labels == 1, :, :4] = 1.0
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        membrane = attention(conv(frames.flatten(0, 1)).unflatten(0, (T, B)))
        spikes, _ = masnn.lif(membrane)
        loss = torch.nn.functional.cross_entropy(head(spikes.mean(0).flatten(1)), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_a_checkpoint_runs_like_the_masnn_command(tmp_path):
    net = masnn.load(DVS_CHECKPOINT)
    spec = net.spec
    assert spec["time_major_input"] and spec["num_classes"] > 1
    torch.manual_seed(4)
    frames = (torch.rand(2, spec["steps"], spec["in_channels"], spec["input_size"], spec["input_size"]) < 0.3).float()
    outputs, layers = net.run(frames.transpose(0, 1).contiguous())
    assert outputs.shape == (2, spec["num_classes"])
    assert torch.equal(outputs, net(frames.transpose(0, 1).contiguous()))
    assert layers and all(v["neurons"] > 0 and 0 <= v["firing_rate"] <= 1 for v in layers.values())
    assert sum(v["spikes"] for v in layers.values()) > 0
    # `masnn eval --frames` on the same frames ([B,T,C,H,W] in a torch file) gives the same outputs.
    torch.save(frames, tmp_path / "frames.pt")
    subprocess.run([CLI, "eval", "--checkpoint", DVS_CHECKPOINT, "--frames", str(tmp_path / "frames.pt"),
                    "--outputs", str(tmp_path / "outputs.pt")], check=True, capture_output=True)
    torch.testing.assert_close(outputs, torch.load(tmp_path / "outputs.pt"))


def test_export_loads_with_weights_only(tmp_path):
    net = masnn.load(DVS_CHECKPOINT)
    net.export(tmp_path / "state.pt")
    loaded = torch.load(tmp_path / "state.pt", weights_only=True)
    reference = net.reference_state_dict()
    assert set(loaded) == set(reference) and len(loaded) > 0
    assert all(torch.equal(loaded[k], reference[k]) for k in reference)
    assert len(net.state_dict()) >= len(reference)


def test_a_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(RuntimeError, match="missing.pt"):
        masnn.load(tmp_path / "missing.pt")
