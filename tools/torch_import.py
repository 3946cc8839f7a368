#!/usr/bin/python3
"""torch_import.py -- read a linstab checkpoint folder as a PyTorch model.

The reverse of torch_export.py: model.json {"layers": [d0, ..., dL],
"activation": A, "bias": true|false [, "output_activation": B]} and
W1.npy (d1 x d0), b1.npy, ... become the float64 nn.Sequential
  Linear(d0, d1), Act, Linear(d1, d2), Act, ..., Linear(d_{L-1}, dL) [, OutAct]
(Act: nn.Tanh, nn.ReLU, nn.Sigmoid, nn.Softplus() or nn.GELU() -- the exact
erf form, as linstab's gelu), with the checkpoint's weights copied exactly.
Module names are nn.Sequential's '0', '1', '2', ..., so the state dict's
keys are '0.weight', '0.bias', '2.weight', ...

Command line:
  torch_import.py DIR OUT.pt [--state-dict] [--force]
writes torch.save(model) (or, with --state-dict, torch.save(model.state_dict())),
atomically (a temporary file renamed).  Exit status: 0, 1 I/O error,
2 usage error or a folder that is not a valid checkpoint.

As a module: from torch_import import import_checkpoint
  model = import_checkpoint("DIR")       # raises CheckpointError (a ValueError)
"""

import json
import os
import sys
import tempfile

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - reported by main()
    torch = None
    nn = None

MAX_LAYERS = 16
ACTIVATIONS = ("tanh", "relu", "sigmoid", "softplus", "gelu")


class CheckpointError(ValueError):
    """A folder that is not a linstab checkpoint linstab itself would load."""


def _module(name):
    return {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus,
            "gelu": lambda: nn.GELU()}[name]()


def read_checkpoint(dirpath):
    """(meta, [(W, b or None), ...]) of the folder, checked as linstab_mlp_load does."""
    path = os.path.join(dirpath, "model.json")
    try:
        with open(path) as fp:
            meta = json.load(fp)
    except OSError as e:
        raise CheckpointError(f"{path}: {e.strerror}") from None
    except ValueError as e:
        raise CheckpointError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    layers = meta.get("layers")
    if not (isinstance(layers, list) and 2 <= len(layers) <= MAX_LAYERS + 1
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in layers)):
        raise CheckpointError(f"{path}: \"layers\" must be 2 to {MAX_LAYERS + 1} positive integers")
    act = meta.get("activation")
    if act not in ACTIVATIONS:
        raise CheckpointError(f"{path}: unknown activation {act!r} (expected {', '.join(ACTIVATIONS)})")
    bias = meta.get("bias", True)
    if not isinstance(bias, bool):
        raise CheckpointError(f"{path}: \"bias\" must be true or false")
    out = meta.get("output_activation", "none")
    if out != "none" and out not in ACTIVATIONS:
        raise CheckpointError(f"{path}: unknown output_activation {out!r} (expected none, "
                              f"{', '.join(ACTIVATIONS)})")
    params = []
    for l in range(1, len(layers)):
        pair = []
        for kind, shape in (("W", (layers[l], layers[l - 1])), ("b", (layers[l],))):
            if kind == "b" and not bias:
                pair.append(None)
                continue
            f = os.path.join(dirpath, f"{kind}{l}.npy")
            try:
                a = np.load(f, allow_pickle=False)
            except OSError as e:
                raise CheckpointError(f"{f}: {e.strerror or e}") from None
            except ValueError as e:
                raise CheckpointError(f"{f}: {e}") from None
            if a.dtype not in (np.float64, np.float32):
                raise CheckpointError(f"{f}: dtype {a.dtype}: linstab reads float64 or float32")
            if a.shape != shape:
                raise CheckpointError(f"{f}: shape {a.shape} does not chain with layers (want {shape})")
            if not np.all(np.isfinite(a)):
                raise CheckpointError(f"{f}: entry {int(np.flatnonzero(~np.isfinite(a.ravel()))[0])} "
                                      "is not finite")
            pair.append(np.ascontiguousarray(a, dtype=np.float64))
        params.append(tuple(pair))
    meta = {"layers": layers, "activation": act, "bias": bias, "output_activation": out}
    return meta, params


def import_checkpoint(dirpath):
    """The linstab checkpoint folder dirpath as a float64 nn.Sequential.
    Raises CheckpointError."""
    meta, params = read_checkpoint(dirpath)
    layers, mods = meta["layers"], []
    L = len(layers) - 1
    for l, (W, b) in enumerate(params, start=1):
        lin = nn.Linear(layers[l - 1], layers[l], bias=meta["bias"]).to(torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            if b is not None:
                lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if l < L:
            mods.append(_module(meta["activation"]))
    if meta["output_activation"] != "none":
        mods.append(_module(meta["output_activation"]))
    return nn.Sequential(*mods)


USAGE = """usage: torch_import.py DIR OUT.pt [--state-dict] [--force]

Read the linstab checkpoint folder DIR (model.json, W1.npy, b1.npy, ...) as a
float64 nn.Sequential and save it with torch.save to OUT.pt (load it with
torch.load(OUT.pt, weights_only=False) on torch >= 2.6).
  --state-dict   save model.state_dict() instead ('0.weight', '0.bias', ...)
  --force        replace an existing OUT.pt
  -h, --help     this help
Exit status: 0, 1 I/O error, 2 usage error or invalid checkpoint."""


def main(argv):
    if torch is None:
        print("torch_import: error: PyTorch (python3-torch) is not installed", file=sys.stderr)
        return 2
    pos, sd, force = [], False, False
    for a in argv:
        if a in ("-h", "--help"):
            print(USAGE)
            return 0
        if a == "--state-dict":
            sd = True
        elif a == "--force":
            force = True
        elif a.startswith("-") and a != "-":
            print(f"torch_import: error: unknown option {a}\n{USAGE}", file=sys.stderr)
            return 2
        else:
            pos.append(a)
    if len(pos) != 2:
        print(f"torch_import: error: expected DIR OUT.pt, got {len(pos)} argument(s)\n{USAGE}", file=sys.stderr)
        return 2
    dirpath, outpath = pos
    if os.path.lexists(outpath) and not force:
        print(f"torch_import: error: {outpath} exists (use --force to replace it)", file=sys.stderr)
        return 2
    try:
        model = import_checkpoint(dirpath)
    except CheckpointError as e:
        print(f"torch_import: error: {e}", file=sys.stderr)
        return 2
    parent = os.path.dirname(os.path.abspath(outpath))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(outpath) + ".tmp-", dir=parent)
        os.close(fd)
        try:
            torch.save(model.state_dict() if sd else model, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, outpath)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        print(f"torch_import: error: {e}", file=sys.stderr)
        return 1
    kind = "state dict" if sd else "nn.Sequential"
    print(f"torch_import: wrote {outpath} ({kind}, {len(model)} modules, float64)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
