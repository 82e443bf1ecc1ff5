"""masnn from Python: event files, masnn's fused spiking kernels inside any PyTorch model, and trained networks.

    import masnn
    events = masnn.read_events("user01_fluorescent.aedat")    # NumPy structured array (t, x, y, p)
    frames = masnn.events_to_frames(events, steps=16, width=128, height=128, ds=4)   # torch [T, 2, 32, 32]
    spikes, state = masnn.lif(membrane_input)                   # fused LIF, an autograd function
    net = masnn.load("runs/demo/best.pt")                       # a masnn checkpoint
    outputs, layers = net.run(frames.unsqueeze(1))              # outputs and per-layer spike counts

Tensors are time-major, [T, B, ...], as in masnn's C++ library. See docs/python.md.
"""

import numpy as np
import torch  # loads LibTorch's Python bindings before masnn's, which use them

from . import _masnn

__version__ = _masnn.__version__

#: The layout of event arrays: the one `masnn convert OUT.npy` writes and Tonic reads (p 1 = ON).
EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])

#: The DVS networks' neuron (REFERENCE.md 1.1): the defaults of lif() and scaled_lif().
DVS_NEURON = dict(threshold=0.3, v_reset=0.3, decay=0.3, fire_at_equal=True, surrogate="rectangular",
                  surrogate_width=0.5, reset="hard", detach_reset=False)
#: The Res-SNN neuron (REFERENCE.md 1.2).
RES_SNN_NEURON = dict(threshold=0.5, v_reset=0.0, decay=0.25, fire_at_equal=False, surrogate="rectangular",
                      surrogate_width=1.0, reset="hard", detach_reset=True)


def event_formats():
    """The format names read_events(format=...) takes."""
    return _masnn.event_formats()


def read_events(path, format=None, return_info=False):
    """The events of a file in any format masnn reads (AEDAT 2.0/3.1/4.0, Prophesee EVT 2.0/3.0 and DAT, N-MNIST
    .bin, DVS128 Gait text), as a structured array of EVENT_DTYPE sorted by time (t in microseconds).

    format: one of event_formats(); None detects it from the file's content (a headerless .bin: N-MNIST).
    return_info: also return a dict of what the reader found (format, sensor size the file states, counts).
    """
    t, x, y, p, info = _masnn._read_event_columns(str(path), format or "")
    events = np.empty(len(t), dtype=EVENT_DTYPE)
    events["t"], events["x"], events["y"], events["p"] = t, x, y, p
    return (events, info) if return_info else events


def events_to_frames(events, steps, width, height, slicing="time-bins", dt_us=25000, ds=1, binary=False,
                     start_us=None):
    """Event counts per polarity in `steps` frames, a float tensor [steps, 2, height // ds, width // ds]
    (channel 0 OFF, 1 ON), as masnn's datasets make them.

    slicing: "time-bins" (steps equal bins over the events' time span), "time-window" (windows of dt_us from
    start_us, default the first event) or "event-count" (steps runs of equal event count).
    """
    return _masnn._frames_of_columns(events["t"], events["x"], events["y"], events["p"], steps, width, height,
                                     slicing, dt_us, ds, binary, -1 if start_us is None else start_us)


def _neuron(overrides):
    neuron = dict(DVS_NEURON)
    unknown = set(overrides) - set(neuron)
    if unknown:
        raise TypeError(f"unknown neuron settings {sorted(unknown)}; known: {sorted(neuron)}")
    neuron.update(overrides)
    return neuron


def lif(x, state=None, **neuron):
    """Multi-step LIF neuron over a time-major input x [T, B, ...] (masnn's fused CPU kernel, one autograd node):
    returns (spikes [T, B, ...], membrane state after the last step [B, ...]). Starts from `state` (default: at
    rest). Settings: DVS_NEURON's keys (threshold, v_reset, decay, fire_at_equal, surrogate, surrogate_width, reset,
    detach_reset); the gradient of the spikes is the surrogate's.
    """
    return _masnn.lif(x, _neuron(neuron), state)


def scaled_lif(x, a, w=None, relu=True, **neuron):
    """The LIF over relu(x * a * w) from rest in one pass, never storing the scaled input or the membrane:
    x [T, B, C, H, W], a [T, B, C] (temporal x channel attention), w [B, H, W] (spatial attention) or None.
    Returns the spikes [T, B, C, H, W]; gradients flow to x, a and w.
    """
    return _masnn.scaled_lif(x, a, w, relu, _neuron(neuron))


class MultiDimAttention(torch.nn.Module):
    """Multi-dimensional attention at Conv-POST (TA, CA, SA and their composites, REFERENCE.md 2) on a time-major
    x [T, B, C, H, W]: returns relu(x * weights), the same shape. Its parameters are masnn's own tensors, registered
    here: optimisers, state_dict() and .double() work on them as on any module's.
    """

    def __init__(self, type, steps, channels, t_ratio=5, c_ratio=8, kernel_size=3, per_step=False, relu=True):
        super().__init__()
        self._impl = _masnn._Attention(type, steps, channels, t_ratio, c_ratio, kernel_size, per_step, relu)
        for name, tensor in self._impl.named_parameters():
            tensor._is_param = True  # the same tensor as masnn's, counted as an nn.Parameter
            self.register_parameter(name.replace(".", "_"), tensor)

    def forward(self, x):
        return self._impl.forward(x)

    def extra_repr(self):
        return repr(self._impl)


class Network:
    """A trained masnn network (a checkpoint written by `masnn train`, `masnn import` or the library).

    spec: name, attention, steps (T), in_channels, input_size, num_classes, time_major_input.
    Input: the DVS networks take time-major frames [T, B, 2, H, W] (events_to_frames of each sample, stacked on
    dim 1); the Res-SNNs take images [B, 3, H, W]. Outputs: [B, classes] (DVS: firing rates; Res-SNN: logits).
    """

    def __init__(self, path):
        self.path = str(path)
        self._impl = _masnn._Network(self.path)
        self.spec = self._impl.spec()

    def __call__(self, x):
        """The outputs for x, without autograd."""
        return self._impl.forward(x)

    def run(self, x):
        """(outputs, layers): layers maps each neuron layer's module name to its spikes, spikes_per_sample,
        firing_rate, neurons, steps and spikes_per_step for this input."""
        return self._impl.run(x)

    @property
    def config_toml(self):
        """The settings the network was trained with."""
        return self._impl.config_toml()

    def state_dict(self):
        """masnn's own parameters and buffers by module name."""
        return self._impl.state_dict()

    def reference_state_dict(self):
        """The weights in the reference PyTorch code's naming (BICLab/Attention-SNN), as `masnn export` writes."""
        return self._impl.reference_state_dict()

    def export(self, path):
        """Writes reference_state_dict() as a PyTorch file that torch.load(path, weights_only=True) reads."""
        self._impl.export_reference_state_dict(str(path))

    def __repr__(self):
        s = self.spec
        return (f"masnn.Network({self.path!r}: {s['name']}, attention {s['attention']}, T {s['steps']}, "
                f"{s['num_classes']} classes)")


def load(path):
    """The network a masnn checkpoint holds (masnn.Network)."""
    return Network(path)
