#!/usr/bin/python3
"""torch_export.py -- write a PyTorch MLP as a linstab checkpoint folder.

The folder linstab reads (`--model DIR`): model.json
  {"layers": [d0, ..., dL], "activation": "tanh", "bias": true}
(plus "output_activation": "tanh" when the network ends in an activation)
and W1.npy (d1 x d0), b1.npy (d1,), W2.npy, ... as float64 in C order.
The weights are torch's own: nn.Linear's weight is (out, in), linstab's W_l
is (d_l, d_{l-1}), the same matrix.

Accepted models (from torch.save(model) of an nn.Sequential, nested
Sequentials flattened):
  Linear, activation, Linear, activation, ..., Linear [, activation]
with one hidden activation module type throughout, chosen from
  nn.Tanh, nn.ReLU, nn.Sigmoid, nn.Softplus (beta = 1), nn.GELU
  (approximate='none' only: linstab's gelu is the exact x Phi(x), erf form;
  the tanh approximation is refused).
A trailing activation after the last Linear is linstab's output
activation (it may differ from the hidden one).  Either every Linear has a
bias or none has.  nn.Identity and nn.Dropout are skipped: a checkpoint is
the deterministic network (torch's eval mode), which is what linstab
differentiates; a skipped Dropout with p > 0 is reported on stderr.
Everything else is refused (Conv, BatchNorm, LayerNorm, LeakyReLU,
Softmax/LogSoftmax -- linstab's `--loss ce` applies the softmax itself --,
two activations in a row, two Linears without one between them, a leading
activation, shapes that do not chain, non-finite weights).
nn.Softplus: torch switches to the identity where x > threshold (20 by
default); linstab evaluates log(1 + e^x) everywhere (the two differ by less
than e^-threshold).

From a state_dict (--state-dict sd.pt, or a model.pt that holds a dict):
the layers are the entries '<prefix>.weight' (2-D) and '<prefix>.bias',
ordered by their prefixes ('0', '2', '4', ... as nn.Sequential names them;
numeric parts compared as numbers); the activation must be given
(--activation), --output-activation optionally, --layers d0,...,dL
optionally (then checked against the shapes).

Command line:
  torch_export.py model.pt DIR [--data X.pt|X.npy] [--targets Y.pt|Y.npy] [--force]
  torch_export.py --state-dict sd.pt --activation tanh [--output-activation A]
                  [--layers 3,8,2] DIR [--data ...] [--targets ...] [--force]
--data writes DIR/X.npy (n x d0, float64; checked against d0), --targets
DIR/Y.npy (float64, n rows).  The folder is written in a temporary folder
beside DIR and renamed into place: on any error nothing is left.  An
existing DIR is refused unless --force (then replaced).
Exit status: 0, 1 (I/O error), 2 (usage error or a model linstab cannot
represent; the message names the module or key).

As a module (tools/ on sys.path):
  from torch_export import export_sequential, export_state_dict
  export_sequential(model, "DIR", data=X, targets=Y)   # raises ExportError
"""

import json
import os
import re
import shutil
import sys
import tempfile

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - reported by main()
    torch = None
    nn = None

MAX_LAYERS = 16  # LINSTAB_MLP_MAX_LAYERS (include/linstab/mlp.h)
ACTIVATIONS = ("tanh", "relu", "sigmoid", "softplus", "gelu")


class ExportError(ValueError):
    """A model, state dict or data set linstab's checkpoint cannot hold."""


def _activation_name(mod, where):
    """linstab's name of an activation module, None if mod is not one;
    ExportError for a variant linstab does not implement."""
    if isinstance(mod, nn.Tanh):
        return "tanh"
    if isinstance(mod, nn.ReLU):
        return "relu"
    if isinstance(mod, nn.Sigmoid):
        return "sigmoid"
    if isinstance(mod, nn.Softplus):
        if float(mod.beta) != 1.0:
            raise ExportError(f"{where}: Softplus(beta={mod.beta}): linstab's softplus is log(1 + e^x) (beta = 1)")
        return "softplus"
    if isinstance(mod, nn.GELU):
        approx = getattr(mod, "approximate", "none")
        if approx != "none":
            raise ExportError(f"{where}: GELU(approximate='{approx}'): linstab's gelu is the exact x Phi(x) "
                              "(erf form, GELU(approximate='none')); the tanh approximation is not implemented")
        return "gelu"
    return None


def _flatten(model, prefix=""):
    """(name, module) of the leaves of nested Sequentials, in order."""
    out = []
    for name, mod in model.named_children():
        full = f"{prefix}{name}"
        if isinstance(mod, nn.Sequential):
            out.extend(_flatten(mod, full + "."))
        else:
            out.append((full, mod))
    return out


def _as_f64(t, where):
    a = np.ascontiguousarray(t.detach().cpu().to(torch.float64).numpy()) if torch.is_tensor(t) \
        else np.ascontiguousarray(np.asarray(t, dtype=np.float64))
    if not np.all(np.isfinite(a)):
        bad = int(np.flatnonzero(~np.isfinite(a.ravel()))[0])
        raise ExportError(f"{where}: entry {bad} is not finite")
    return a


def _check_layers(Ws, bs, act, out_act, layers=None):
    """Check the chain of shapes, biases and names; return [d0..dL]."""
    if not Ws:
        raise ExportError("no Linear layer (weights) found")
    if len(Ws) > MAX_LAYERS:
        raise ExportError(f"{len(Ws)} Linear layers: linstab takes at most {MAX_LAYERS}")
    if act not in ACTIVATIONS:
        raise ExportError(f"activation '{act}': expected one of {', '.join(ACTIVATIONS)}")
    if out_act is not None and out_act != "none" and out_act not in ACTIVATIONS:
        raise ExportError(f"output activation '{out_act}': expected none or one of {', '.join(ACTIVATIONS)}")
    sizes = [Ws[0][1].shape[1]]
    for l, (name, W) in enumerate(Ws, start=1):
        if W.ndim != 2 or W.shape[0] == 0 or W.shape[1] == 0:
            raise ExportError(f"{name}: weight of shape {tuple(W.shape)}: expected a non-empty matrix (out, in)")
        if W.shape[1] != sizes[-1]:
            raise ExportError(f"{name}: weight {W.shape[0]} x {W.shape[1]} takes {W.shape[1]} inputs but the "
                              f"layer before gives {sizes[-1]}: the shapes do not chain")
        sizes.append(W.shape[0])
    have = [b is not None for _, b in bs]
    if any(have) and not all(have):
        names = [n for (n, b) in bs if b is None]
        raise ExportError(f"{names[0]}: no bias while other layers have one: linstab needs all or none")
    for (name, b), d in zip(bs, sizes[1:]):
        if b is not None and (b.ndim != 1 or b.shape[0] != d):
            raise ExportError(f"{name}: bias of shape {tuple(b.shape)}: expected ({d},)")
    if layers is not None and list(layers) != sizes:
        raise ExportError(f"--layers {','.join(map(str, layers))} does not match the weights' "
                          f"{','.join(map(str, sizes))}")
    return sizes


def _load_array(path, what):
    if path.endswith(".npy"):
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ExportError(f"{what} {path}: {e}") from None
    else:
        try:
            a = _torch_load(path)
        except Exception as e:  # noqa: BLE001 - torch raises many types
            raise ExportError(f"{what} {path}: cannot load: {e}") from None
        if not torch.is_tensor(a):
            raise ExportError(f"{what} {path}: holds a {type(a).__name__}, expected a tensor")
    return _as_f64(a, f"{what} {path}")


def _write_folder(dirpath, sizes, act, out_act, Ws, bs, data, targets, force):
    """Write everything into a temporary folder beside dirpath, then rename."""
    dirpath = os.path.normpath(dirpath)
    if os.path.lexists(dirpath) and not force:
        raise ExportError(f"{dirpath} exists (use --force / force=True to replace it)")
    if os.path.lexists(dirpath) and not os.path.isdir(dirpath):
        raise ExportError(f"{dirpath} exists and is not a folder")
    parent = os.path.dirname(dirpath) or "."
    if not os.path.isdir(parent):
        raise ExportError(f"{parent}: no such folder")
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(dirpath) + ".tmp-", dir=parent)
    try:
        for l, ((_, W), (_, b)) in enumerate(zip(Ws, bs), start=1):
            np.save(os.path.join(tmp, f"W{l}.npy"), W)
            if b is not None:
                np.save(os.path.join(tmp, f"b{l}.npy"), b)
        if data is not None:
            np.save(os.path.join(tmp, "X.npy"), data)
        if targets is not None:
            np.save(os.path.join(tmp, "Y.npy"), targets)
        meta = {"layers": sizes, "activation": act, "bias": bs[0][1] is not None}
        if out_act is not None and out_act != "none":
            meta["output_activation"] = out_act
        with open(os.path.join(tmp, "model.json"), "w") as fp:
            fp.write(json.dumps(meta) + "\n")
        os.chmod(tmp, 0o755)
        if os.path.isdir(dirpath):
            old = tempfile.mkdtemp(prefix="." + os.path.basename(dirpath) + ".old-", dir=parent)
            os.rename(dirpath, os.path.join(old, "d"))
            os.rename(tmp, dirpath)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dirpath)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_data(data, targets, sizes):
    if data is not None:
        if data.ndim != 2 or data.shape[1] != sizes[0]:
            raise ExportError(f"data of shape {tuple(data.shape)}: expected (n, {sizes[0]}) for this model")
    if targets is not None:
        if targets.ndim not in (1, 2):
            raise ExportError(f"targets of shape {tuple(targets.shape)}: expected (n,) labels or (n, k)")
        if data is not None and targets.shape[0] != data.shape[0]:
            raise ExportError(f"targets have {targets.shape[0]} rows, data {data.shape[0]}")


def _data_arrays(data, targets):
    d = None if data is None else _as_f64(data, "data")
    t = None if targets is None else _as_f64(targets, "targets")
    return d, t


def describe_sequential(model):
    """(sizes, activation, output activation or None, Ws, bs, notes) of an
    nn.Sequential; ExportError when linstab cannot represent it."""
    if not isinstance(model, nn.Sequential):
        raise ExportError(f"a {type(model).__name__}: expected an nn.Sequential of Linear layers and activations")
    Ws, bs, notes = [], [], []
    act = None          # the hidden activation's name
    pending = None      # the activation after the last Linear seen
    pending_where = None
    for name, mod in _flatten(model):
        where = f"module '{name}' ({type(mod).__name__})"
        if isinstance(mod, nn.Linear):
            if Ws and pending is None:
                raise ExportError(f"{where}: two Linear layers without an activation between them "
                                  "(linstab applies one activation after every hidden layer)")
            if pending is not None:
                if act is not None and pending != act:
                    raise ExportError(f"{pending_where}: mixed hidden activations ({act}, then {pending}): "
                                      "linstab uses one activation for every hidden layer")
                act = pending
            pending = None
            Ws.append((where, _as_f64(mod.weight, f"{name}.weight")))
            bs.append((where, None if mod.bias is None else _as_f64(mod.bias, f"{name}.bias")))
            continue
        if isinstance(mod, (nn.Identity,)):
            continue
        if isinstance(mod, nn.Dropout):
            if mod.p > 0:
                notes.append(f"{where}: skipped (Dropout(p={mod.p}) is the identity in eval mode; "
                             "linstab analyses the deterministic network)")
            continue
        a = _activation_name(mod, where)
        if a is None:
            hint = " (linstab's --loss ce applies the softmax itself: drop it)" \
                if isinstance(mod, (nn.Softmax, nn.LogSoftmax)) else ""
            raise ExportError(f"{where}: not supported: linstab takes Linear layers and one of the "
                              f"activations Tanh, ReLU, Sigmoid, Softplus, GELU{hint}")
        if not Ws:
            raise ExportError(f"{where}: an activation before the first Linear layer")
        if pending is not None:
            raise ExportError(f"{where}: two activations in a row ({pending}, then {a})")
        pending, pending_where = a, where
    out_act = pending
    if act is None:  # a single Linear layer: the hidden activation is unused
        act = "tanh"
    sizes = _check_layers(Ws, bs, act, out_act)
    return sizes, act, out_act, Ws, bs, notes


def export_sequential(model, dirpath, data=None, targets=None, force=False, quiet=False):
    """Write the nn.Sequential `model` as the linstab checkpoint folder
    dirpath (and, if given, data as X.npy, targets as Y.npy).  Returns the
    list of layer sizes.  Raises ExportError (nothing written)."""
    sizes, act, out_act, Ws, bs, notes = describe_sequential(model)
    d, t = _data_arrays(data, targets)
    _check_data(d, t, sizes)
    if not quiet:
        for n in notes:
            print("torch_export: note: " + n, file=sys.stderr)
    _write_folder(dirpath, sizes, act, out_act, Ws, bs, d, t, force)
    return sizes


def _natural_key(prefix):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.]", prefix)]


def describe_state_dict(sd, activation, output_activation=None, layers=None):
    if not isinstance(sd, dict):
        raise ExportError(f"a {type(sd).__name__}: expected a state dict (name -> tensor)")
    if activation is None:
        raise ExportError("a state dict needs --activation (tanh, relu, sigmoid, softplus or gelu)")
    groups = {}
    for key, val in sd.items():
        if not torch.is_tensor(val):
            raise ExportError(f"state dict entry '{key}': a {type(val).__name__}, expected a tensor")
        prefix, dot, kind = key.rpartition(".")
        if not dot or kind not in ("weight", "bias"):
            raise ExportError(f"state dict entry '{key}': expected '<layer>.weight' or '<layer>.bias' "
                              "(a model of Linear layers has no other parameters or buffers)")
        groups.setdefault(prefix, {})[kind] = val
    Ws, bs = [], []
    for prefix in sorted(groups, key=_natural_key):
        g = groups[prefix]
        if "weight" not in g:
            raise ExportError(f"state dict: '{prefix}.bias' without '{prefix}.weight'")
        if g["weight"].dim() != 2:
            raise ExportError(f"state dict entry '{prefix}.weight': shape {tuple(g['weight'].shape)} is not a "
                              "Linear layer's (out, in) (BatchNorm, LayerNorm, Conv are not supported)")
        Ws.append((f"state dict layer '{prefix}'", _as_f64(g["weight"], f"{prefix}.weight")))
        bs.append((f"state dict layer '{prefix}'", _as_f64(g["bias"], f"{prefix}.bias") if "bias" in g else None))
    sizes = _check_layers(Ws, bs, activation, output_activation, layers)
    return sizes, Ws, bs


def export_state_dict(sd, dirpath, activation, output_activation=None, layers=None, data=None, targets=None,
                      force=False):
    """Write a state dict of Linear layers ('0.weight', '0.bias', '2.weight',
    ...) with the given activations as the checkpoint folder dirpath.
    Returns the layer sizes.  Raises ExportError (nothing written)."""
    sizes, Ws, bs = describe_state_dict(sd, activation, output_activation, layers)
    d, t = _data_arrays(data, targets)
    _check_data(d, t, sizes)
    _write_folder(dirpath, sizes, activation, output_activation, Ws, bs, d, t, force)
    return sizes


def _torch_load(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # torch before 1.13 has no weights_only
        return torch.load(path, map_location="cpu")


USAGE = """usage: torch_export.py MODEL.pt DIR [--data X.pt|X.npy] [--targets Y.pt|Y.npy] [--force]
       torch_export.py --state-dict SD.pt --activation A [--output-activation A] [--layers D0,...,DL]
                       DIR [--data ...] [--targets ...] [--force]

Write a PyTorch MLP (torch.save of an nn.Sequential of Linear layers and one
activation type, Tanh|ReLU|Sigmoid|Softplus|GELU, optionally one after the
last Linear: the output activation) or a state dict of Linear layers as a
linstab checkpoint folder DIR (model.json, W1.npy, b1.npy, ...: float64).
  --state-dict SD.pt      a state dict ('0.weight', '0.bias', '2.weight', ...)
  --activation A          its hidden activation: tanh, relu, sigmoid, softplus, gelu
  --output-activation A   its output activation (default none)
  --layers D0,...,DL      its widths (optional; checked against the weights)
  --data FILE             also write DIR/X.npy (n x d0) from a tensor (.pt) or .npy
  --targets FILE          also write DIR/Y.npy
  --force                 replace an existing DIR
  -h, --help              this help
Exit status: 0, 1 I/O error, 2 usage error or unsupported model."""


def main(argv):
    if torch is None:
        print("torch_export: error: PyTorch (python3-torch) is not installed", file=sys.stderr)
        return 2
    opts = {"--state-dict": None, "--activation": None, "--output-activation": None, "--layers": None,
            "--data": None, "--targets": None}
    force = False
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(USAGE)
            return 0
        if a == "--force":
            force = True
        elif a in opts:
            if i + 1 >= len(argv):
                print(f"torch_export: error: {a} needs a value\n{USAGE}", file=sys.stderr)
                return 2
            opts[a] = argv[i + 1]
            i += 1
        elif a.startswith("--") and "=" in a and a.split("=", 1)[0] in opts:
            k, v = a.split("=", 1)
            opts[k] = v
        elif a.startswith("-") and a != "-":
            print(f"torch_export: error: unknown option {a}\n{USAGE}", file=sys.stderr)
            return 2
        else:
            pos.append(a)
        i += 1
    want = 1 if opts["--state-dict"] else 2
    if len(pos) != want:
        print(f"torch_export: error: expected {'DIR' if want == 1 else 'MODEL.pt DIR'}, got "
              f"{len(pos)} argument(s)\n{USAGE}", file=sys.stderr)
        return 2
    layers = None
    if opts["--layers"] is not None:
        try:
            layers = [int(s) for s in opts["--layers"].split(",")]
            if len(layers) < 2 or min(layers) <= 0:
                raise ValueError
        except ValueError:
            print(f"torch_export: error: --layers {opts['--layers']}: expected positive integers "
                  "D0,D1,...,DL (at least two)", file=sys.stderr)
            return 2
    src = opts["--state-dict"] or pos[0]
    dirpath = pos[-1]
    try:
        data = _load_array(opts["--data"], "--data") if opts["--data"] else None
        targets = _load_array(opts["--targets"], "--targets") if opts["--targets"] else None
        try:
            obj = _torch_load(src)
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"{src}: cannot load with torch.load: {e}") from None
        if isinstance(obj, nn.Module):
            if opts["--state-dict"] or opts["--activation"] or opts["--output-activation"] or layers:
                if opts["--state-dict"]:
                    raise ExportError(f"{src}: holds a module, not a state dict (drop --state-dict)")
                raise ExportError(f"{src}: a whole model carries its activations: drop --activation, "
                                  "--output-activation and --layers")
            sizes = export_sequential(obj, dirpath, data, targets, force)
        elif isinstance(obj, dict):
            sizes = export_state_dict(obj, dirpath, opts["--activation"], opts["--output-activation"], layers,
                                      data, targets, force)
        else:
            raise ExportError(f"{src}: holds a {type(obj).__name__}: expected an nn.Sequential or a state dict")
    except ExportError as e:
        print(f"torch_export: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"torch_export: error: {e}", file=sys.stderr)
        return 1
    print(f"torch_export: wrote {dirpath} (layers {','.join(map(str, sizes))})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
