"""A stand-in for the einops package where it is missing (Debian has none): the rearrange patterns that the
reference Attention-SNN code's attention modules use. Imported by the reference benchmarks beside this file."""
import sys
import types


def install():
    """Makes `import einops` work: the real package when installed, else this stand-in."""
    try:
        import einops  # noqa: F401
        return
    except ImportError:
        pass
    shim = types.ModuleType("einops")

    def rearrange(x, pattern):
        if pattern in ("b f c h w -> b c f h w", "b c f h w -> b f c h w"):
            return x.permute(0, 2, 1, 3, 4)
        if pattern == "b f c h w -> b (f c) h w":
            return x.reshape(x.shape[0], x.shape[1] * x.shape[2], x.shape[3], x.shape[4])
        raise NotImplementedError(pattern)

    def repeat(*args, **kwargs):  # imported by the reference's attention module, never called by these benchmarks
        raise NotImplementedError("einops.repeat (install einops)")

    shim.rearrange = rearrange
    shim.repeat = repeat
    sys.modules["einops"] = shim
