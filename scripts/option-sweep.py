#!/usr/bin/env python3
"""Every command-line option of masnn given bad values: each must end in one clear error that names the option
(or the value, file or key), never a crash, a hang or a silent success.

    scripts/option-sweep.py [--masnn build/masnn] [--timeout 60] [--keep DIR]

Makes its own fixtures in a temporary folder (a small synthetic gesture set, a one-epoch checkpoint, an event
file), then runs each case under a time limit and an 8 GB address-space limit, and prints one line per case that is
not a clear error, then the totals. Exit status 1 when any case crashed, hung, was accepted, or failed without
naming what was wrong.
"""
import argparse
import gzip
import os
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Values tried per kind of option. A case is (command words, option, bad value); the other arguments of the
# command are valid, so the error can only be about the option under test.
BAD = {
    "count": ["-1", "0", "abc", "1.5", "99999999999999999999"],   # a positive integer
    "natural": ["-1", "abc", "99999999999999999999"],                # an integer >= 0
    "int": ["abc", "1.5", "99999999999999999999"],                   # any integer
    "real": ["nan", "inf", "-1", "abc"],                              # a positive or >= 0 number
    "fraction": ["nan", "-0.5", "1.5", "abc"],                        # a number in [0, 1]
    "file": ["/proc/masnn-none/x", "{tmp}", "/dev/null"],                 # an existing file to read
    "out": ["/proc/masnn-none/x", "/proc/version/x"],                 # a file or folder to write (root cannot either)
    "choice": ["bogus", ""],
    "set": ["noequals", "model.nokey=1", "train.lr=abc", "data.steps=-1"],
}


def commands(f):
    """Yields (words, {option: kind}) per command; f() expands the fixtures' paths."""
    ck, data, ev, cfg, out = f("ckpt"), f("data"), f("events"), f("config"), f("out")
    common = ["--checkpoint", ck, "--data", data]
    yield ["eval", *common], {"--clips": "count", "--json": "out", "--frames": "file",
                              "--sparse": "choice", "--set": "set", "--checkpoint": "file", "--data": "file"}
    yield ["analyze", *common, "--samples", "2", "--report", out + "/r"], {
        "--samples": "natural", "--report": "out", "--compare": "file", "--sample-index": "natural",
        "--raster-neurons": "count", "--frame-steps": "count", "--e-mac": "real", "--e-ac": "real", "--set": "set"}
    yield ["prune", *common, "--setting", "ta-keep=0.5"], {  # top-k 0 keeps all
        "--ta-topk": "natural", "--ta-threshold": "fraction", "--ta-keep": "fraction", "--ca-topk": "natural",
        "--ca-threshold": "fraction", "--ca-keep": "fraction", "--setting": "choice", "--clips": "count",
        "--batch": "count", "--json": "out", "--set": "set"}
    yield ["stream", "--checkpoint", ck, "--input", ev, "--max-steps", "8", "-q"], {
        "--input": "file", "--format": "choice", "--window": "count", "--hop": "count", "--state": "choice",
        "--attention": "choice", "--sparse": "choice", "--max-steps": "natural", "--idle-timeout": "real",
        "--start-us": "int", "--labels": "file", "--set": "set"}
    yield ["inspect", ev], {"--format": "choice", "--json": "out", "--width": "natural", "--height": "natural"}
    yield ["convert", ev, out + "/c.npy"], {"--format": "choice", "--to": "choice", "--from-us": "int",
                                            "--to-us": "int", "--width": "natural", "--height": "natural",
                                            "--compression": "choice"}
    yield ["export", "--checkpoint", ck, "--pytorch", out + "/e.pt"], {"--pytorch": "out", "--checkpoint": "file"}
    yield ["model", "dvs-small"], {"--attention": "choice", "--placement": "choice", "--T": "count",
                                   "--classes": "count", "--input-size": "count", "--set": "set"}
    yield ["config", "--config", cfg], {"--config": "file", "--set": "set"}
    yield ["synth", "--out", out + "/s", "--users", "2", "--quiet"], {
        "--out": "out", "--users": "count", "--test-users": "natural", "--repeats": "count",
        "--gesture-seconds": "real", "--noise-hz": "real", "--workers": "natural"}
    yield ["simulate", "--dataset", "fashion-mnist", "--root", f("fmnist"), "--limit", "1", "--split", "test",
           "--out", out + "/sim", "--quiet"], {
        "--root": "file", "--out": "out", "--format": "choice", "--split": "choice", "--limit": "natural",
        "--workers": "count", "--on-threshold": "real", "--off-threshold": "real", "--threshold-sigma": "real",
        "--refractory-us": "natural", "--leak-hz": "real", "--shot-noise-hz": "real", "--sensor-width": "count",
        "--sensor-height": "count", "--saccade-ms": "real", "--frame-us": "count"}
    yield ["sweep", "--config", cfg, "--grid", "train.lr=0.001", "--seeds", "1", "--out", out + "/sw", "--quiet",
           "--set", "train.epochs=1"], {
        "--config": "file", "--grid": "set", "--seeds": "count", "--seed-base": "natural", "--out": "out",
        "--jobs": "count", "--baseline": "set", "--analyze-samples": "natural", "--set": "set"}
    yield ["train", "--config", cfg, "--set", "train.epochs=1"], {"--config": "file", "--set": "set",
                                                                  "--resume": "file"}
    yield ["import", "--pytorch", f("statedict"), "--model", "dvs-gesture", "--T", "4", "--t-ratio", "4",
           "--out", out + "/i.pt"], {
        "--pytorch": "file", "--model": "choice", "--attention": "choice", "--T": "count", "--t-ratio": "count",
        "--c-ratio": "count", "--classes": "count", "--input-size": "count", "--in-channels": "count",
        "--out": "out"}


def run(argv, timeout):
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
    try:
        p = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout,
                           preexec_fn=limits, env=dict(os.environ, OMP_NUM_THREADS="1"))
    except subprocess.TimeoutExpired:
        return None, ""
    return p.returncode, (p.stderr + p.stdout).strip()


def make_fixtures(masnn, tmp, timeout):
    """The files every case starts from: made by masnn itself, in seconds."""
    paths = {"data": f"{tmp}/gesture", "out": f"{tmp}/out", "config": f"{tmp}/tiny.toml",
             "fmnist": f"{tmp}/fmnist"}
    os.makedirs(paths["out"], exist_ok=True)
    with open(paths["config"], "w") as c, open(f"{REPO}/configs/demo.toml") as demo:
        # The reference's gesture network (so that import reads what export writes) on the synthetic recordings
        # read as DVS128 Gesture (so that a missing folder is an error, not a new synthetic set), tiny.
        c.write(demo.read().replace('out_dir = "runs/demo"', f'out_dir = "{tmp}/runs"')
                .replace('"dvs-small"', '"dvs-gesture"').replace('"synthetic-gesture"', '"dvs128-gesture"')
                .replace("epochs = 8", "epochs = 1")
                .replace("steps = 16", f'steps = 4\nlimit_train = 8\nlimit_test = 4\nroot = "{tmp}/gesture"'))
    made = os.path.exists(f"{tmp}/runs") and os.path.exists(f"{tmp}/sd.pt")  # --keep: made by an earlier sweep
    steps = [] if made else [["synth", "--out", paths["data"], "--users", "3", "--quiet"],
             ["train", "--config", paths["config"], "-q"]]
    for argv in steps:
        rc, text = run([masnn, *argv], timeout * 10)
        if rc != 0:
            sys.exit(f"option-sweep: fixture step {' '.join(argv)} failed ({rc}): {text[-2000:]}")
    paths["ckpt"] = f"{tmp}/runs/best.pt"
    if not os.path.exists(paths["ckpt"]):
        found = [os.path.join(d, n) for d, _, ns in os.walk(f"{tmp}/runs") for n in ns if n == "best.pt"]
        paths["ckpt"] = found[0]
    paths["events"] = next(os.path.join(d, n) for d, _, ns in os.walk(paths["data"]) for n in sorted(ns)
                           if n.endswith(".aedat"))
    rc, text = run([masnn, "export", "--checkpoint", paths["ckpt"], "--pytorch", f"{tmp}/sd.pt"], timeout)
    if rc != 0:
        sys.exit(f"option-sweep: fixture step export failed ({rc}): {text[-2000:]}")
    paths["statedict"] = f"{tmp}/sd.pt"
    # A Fashion-MNIST folder of one test image (IDX files), for simulate.
    os.makedirs(paths["fmnist"], exist_ok=True)
    with gzip.open(f'{paths["fmnist"]}/t10k-images-idx3-ubyte.gz', "wb") as g:
        g.write(struct.pack(">IIII", 2051, 1, 28, 28) + bytes(range(256)) * 3 + bytes(784 - 768))
    with gzip.open(f'{paths["fmnist"]}/t10k-labels-idx1-ubyte.gz', "wb") as g:
        g.write(struct.pack(">II", 2049, 1) + bytes([3]))
    return paths


def classify(rc, text, option, value):
    if rc is None:
        return "hang"
    if rc < 0 or rc >= 128:
        return "crash"
    if rc == 0:
        return "accepted"
    last = text.splitlines()[-1] if text else ""
    named = [option.lstrip("-"), value] if value not in ("", "0", "-1") else [option.lstrip("-")]
    if option == "--set" and "=" in value:
        named.append(value.split("=")[0])
    if any(n and n in text for n in named) or re.search(r"'/|/dev/null|/proc/", last):
        return "clear"
    return "unnamed"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--masnn", default=f"{REPO}/build/masnn")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--keep", help="make the fixtures in this folder and keep them")
    ap.add_argument("--only", help="only commands whose name starts with this")
    a = ap.parse_args()
    tmp = a.keep or tempfile.mkdtemp(prefix="masnn-sweep-")
    os.makedirs(tmp, exist_ok=True)
    try:
        paths = make_fixtures(os.path.abspath(a.masnn), tmp, a.timeout)
        expand = lambda k: paths[k]  # noqa: E731
        totals = {}
        for words, options in commands(expand):
            if a.only and not words[0].startswith(a.only):
                continue
            for option, kind in options.items():
                for value in BAD[kind]:
                    value = value.replace("{tmp}", tmp)
                    argv = list(words)
                    if option in argv:  # replace the valid value the command was given
                        argv[argv.index(option) + 1] = value
                    else:
                        argv += [option, value]
                    shutil.rmtree(paths["out"], ignore_errors=True)
                    os.makedirs(paths["out"])
                    rc, text = run([a.masnn, *argv], a.timeout)
                    verdict = classify(rc, text, option, value)
                    totals[verdict] = totals.get(verdict, 0) + 1
                    if verdict != "clear":
                        last = text.splitlines()[-1] if text else ""
                        print(f"{verdict:9s} rc={rc} masnn {' '.join(argv)}\n          {last[:300]}")
        print("option-sweep:", sum(totals.values()), "cases:",
              ", ".join(f"{totals.get(k, 0)} {k}" for k in ("clear", "unnamed", "accepted", "crash", "hang")))
        return 1 if any(totals.get(k) for k in ("unnamed", "accepted", "crash", "hang")) else 0
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
