#!/usr/bin/env bash
# test_torch_interop.sh -- check tools/torch_export.py and tools/torch_import.py
# against PyTorch itself.  Not a meson test: torch is never a dependency of
# linstab's build or test suite; this script runs where python3-torch is
# installed and skips (exit 0) elsewhere.
#
#   tools/test_torch_interop.sh [LINSTAB]     (default: build/tools/linstab)
#
# Checks, in float64:
#   - per-sample exact Hessians: `linstab hessians` on an exported model equals
#     torch.autograd.functional.hessian of each sample's loss (MSE, and CE for
#     one model), relative error (max |difference| / max |entry|) <= 1e-12,
#     for every activation (tanh relu sigmoid softplus gelu), with and without
#     an output activation, for a model trained in torch (Adam, float32, then
#     exported) and random ones;
#   - `linstab dynamics --optimizer gd --steps 20 --save OUT` equals 20 steps of
#     full-batch gradient descent in torch on the mean loss (parameters to 1e-12
#     relative);
#   - export -> import -> export gives byte-identical files;
#   - each refusal (unsupported module, mixed activations, shapes that do not
#     chain, GELU tanh approximation, ...) exits 2 and leaves no folder.
# Prints the figures; exit 0 when every check passes, 1 otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
linstab=${1:-$root/build/tools/linstab}
py=/usr/bin/python3
if ! "$py" -c "import torch" >/dev/null 2>&1; then
    echo "skipped: torch not installed"
    exit 0
fi
if [ ! -x "$linstab" ]; then
    echo "test_torch_interop: error: $linstab not found (build first: meson setup build && ninja -C build)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
rc=0
"$py" - "$here" "$linstab" <<'EOF' || rc=$?
import os, subprocess, sys
import numpy as np
import torch
from torch import nn
from torch.nn.utils.stateless import functional_call

tools, linstab = sys.argv[1], sys.argv[2]
sys.path.insert(0, tools)
from torch_export import export_sequential
from torch_import import import_checkpoint

EXPORT = [sys.executable, os.path.join(tools, "torch_export.py")]
IMPORT = [sys.executable, os.path.join(tools, "torch_import.py")]
TOL = 1e-12
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def sample_loss(model, names, shapes, loss):
    """theta -> loss of one sample, through the torch module itself."""
    def f(theta, x, y):
        params, k = {}, 0
        for n, s in zip(names, shapes):
            c = int(np.prod(s))
            params[n] = theta[k:k + c].reshape(s)
            k += c
        out = functional_call(model, params, (x.unsqueeze(0),))[0]
        if loss == "mse":
            return 0.5 * ((out - y) ** 2).sum()
        return nn.functional.cross_entropy(out.unsqueeze(0), y.long().unsqueeze(0))
    return f


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def hessian_case(label, model, X, Y, loss="mse"):
    """Export model (and X, Y), run linstab hessians, compare with torch."""
    d = f"m_{label}"
    export_sequential(model, d, data=X, targets=Y)
    model = model.double()
    r = run([linstab, "hessians", "--model", d, "--data", f"{d}/X.npy", "--targets", f"{d}/Y.npy",
             "--loss", loss, "--out", f"{d}/H.npy", "--quiet"])
    if r.returncode != 0:
        check(False, f"hessians {label}: linstab exited {r.returncode}: {r.stderr.strip()}")
        return d, model
    H = np.load(f"{d}/H.npy")
    names = [n for n, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for p in model.parameters()]
    f = sample_loss(model, names, shapes, loss)
    theta = flat(model)
    Xd, Yd = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(Y, dtype=torch.float64)
    worst = 0.0
    for i in range(Xd.shape[0]):
        Ht = torch.autograd.functional.hessian(lambda t: f(t, Xd[i], Yd[i]), theta).numpy()
        scale = np.abs(Ht).max()
        worst = max(worst, np.abs(H[i] - Ht).max() / (scale if scale > 0 else 1.0))
    check(H.shape == (Xd.shape[0], theta.numel(), theta.numel()) and worst <= TOL,
          f"hessians {label:28s} n={Xd.shape[0]} p={theta.numel()}: max rel err {worst:.2e} (<= {TOL:g})")
    return d, model


def gd_case(label, d, model, X, Y, eta=0.1, steps=20):
    r = run([linstab, "dynamics", "--model", d, "--data", f"{d}/X.npy", "--targets", f"{d}/Y.npy", "--loss", "mse",
             "--optimizer", "gd", "--eta", str(eta), "--steps", str(steps), "--save", f"{d}_gd"])
    if r.returncode != 0:
        check(False, f"dynamics {label}: linstab exited {r.returncode}: {r.stderr.strip()}")
        return
    m = import_checkpoint(f"{d}_gd")
    theta_l = flat(m)
    mt = import_checkpoint(d)  # the exported start, float64
    Xd, Yd = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(Y, dtype=torch.float64)
    for _ in range(steps):
        mt.zero_grad()
        loss = 0.5 * ((mt(Xd) - Yd) ** 2).sum(dim=1).mean()
        loss.backward()
        with torch.no_grad():
            for p in mt.parameters():
                p -= eta * p.grad
    theta_t = flat(mt)
    moved = (theta_t - flat(import_checkpoint(d))).abs().max().item()
    err = ((theta_l - theta_t).abs().max() / theta_t.abs().max()).item()
    # the same difference against the distance travelled (a stricter scale near a minimum)
    err_step = ((theta_l - theta_t).abs().max() / moved).item() if moved > 0 else float("inf")
    check(err <= TOL and moved > 1e-5 and err_step <= 1e-9,
          f"dynamics {label:28s} gd eta={eta} {steps} steps: max rel err {err:.2e} (<= {TOL:g}); "
          f"vs the distance moved ({moved:.1e}) {err_step:.1e} (<= 1e-9)")


def files(d):
    return sorted(f for f in os.listdir(d))


def roundtrip_case(label, d):
    r1 = run(IMPORT + [d, f"{d}.pt"])
    r2 = run(EXPORT + [f"{d}.pt", f"{d}_rt"])
    if r1.returncode or r2.returncode:
        check(False, f"round trip {label}: {r1.stderr.strip()} {r2.stderr.strip()}")
        return
    fs = [f for f in files(d) if f not in ("X.npy", "Y.npy", "H.npy")]
    same = fs == files(f"{d}_rt") and all(open(f"{d}/{f}", "rb").read() == open(f"{d}_rt/{f}", "rb").read()
                                          for f in fs)
    check(same, f"round trip {label:26s} export -> import -> export: {len(fs)} files byte-identical")


torch.manual_seed(0)
rng = np.random.default_rng(1)
n = 6
X = rng.standard_normal((n, 3))
Y = rng.standard_normal((n, 2))

# 1. a model trained in torch (float32, Adam), exported as it is
acts = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus, "gelu": nn.GELU}
trained = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
opt = torch.optim.Adam(trained.parameters(), lr=0.02)
Xf, Yf = torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)
for _ in range(200):
    opt.zero_grad()
    l = 0.5 * ((trained(Xf) - Yf) ** 2).sum(dim=1).mean()
    l.backward()
    opt.step()
print(f"trained 3-8-2 tanh (float32, Adam, 200 steps): mean loss {l.item():.3e}")
d, m = hessian_case("trained-tanh", trained, X, Y)
gd_case("trained-tanh", d, m, X, Y)
roundtrip_case("trained-tanh", d)

# 2. random float64 models: every activation, without and with an output activation
for name, A in acts.items():
    for out in (None, "tanh", "sigmoid"):
        if out == "sigmoid" and name != "gelu":
            continue
        mods = [nn.Linear(3, 6), A(), nn.Linear(6, 4), A(), nn.Linear(4, 2)]
        if out:
            mods.append(acts[out]())
        model = nn.Sequential(*mods).double()
        label = f"{name}" + (f"+out-{out}" if out else "")
        d, m = hessian_case(label, model, X, Y)
        if name in ("tanh", "gelu"):
            gd_case(label, d, m, X, Y)
        if out or name == "relu":
            roundtrip_case(label, d)

# 3. cross-entropy and a model without biases
labels = rng.integers(0, 3, n).astype(np.float64)
model = nn.Sequential(nn.Linear(3, 5), nn.Softplus(), nn.Linear(5, 3)).double()
hessian_case("softplus-ce", model, X, labels, loss="ce")
model = nn.Sequential(nn.Linear(3, 5, bias=False), nn.Tanh(), nn.Linear(5, 2, bias=False)).double()
d, m = hessian_case("tanh-nobias", model, X, Y)
roundtrip_case("tanh-nobias", d)

# 4. the state-dict path gives the same folder as the model path
ref = nn.Sequential(nn.Linear(3, 6), nn.GELU(), nn.Linear(6, 2), nn.Tanh()).double()
export_sequential(ref, "sd_ref")
torch.save(ref.state_dict(), "sd.pt")
r = run(EXPORT + ["--state-dict", "sd.pt", "--activation", "gelu", "--output-activation", "tanh",
                  "--layers", "3,6,2", "sd_out"])
same = r.returncode == 0 and files("sd_ref") == files("sd_out") and all(
    open(f"sd_ref/{f}", "rb").read() == open(f"sd_out/{f}", "rb").read() for f in files("sd_ref"))
check(same, "state dict --state-dict ... --activation gelu --output-activation tanh == model export")
# a nested Sequential with Identity and Dropout (skipped) exports as the flat one
nested = nn.Sequential(nn.Sequential(ref[0], nn.Dropout(0.1)), nn.Identity(), ref[1], nn.Sequential(ref[2], ref[3]))
torch.save(nested, "nested.pt")
r = run(EXPORT + ["nested.pt", "nested_out"])
same = r.returncode == 0 and all(open(f"sd_ref/{f}", "rb").read() == open(f"nested_out/{f}", "rb").read()
                                 for f in files("sd_ref"))
check(same and "Dropout" in r.stderr, "nested Sequential with Identity and Dropout (noted) == flat export")

# 5. refusals: exit 2, a message, no folder, no temporary left
L = nn.Linear
refusals = {
    "conv": nn.Sequential(nn.Conv1d(1, 2, 3), nn.Tanh(), L(2, 2)),
    "batchnorm": nn.Sequential(L(3, 4), nn.BatchNorm1d(4), nn.Tanh(), L(4, 2)),
    "mixed-activations": nn.Sequential(L(3, 4), nn.Tanh(), L(4, 4), nn.ReLU(), L(4, 2)),
    "shapes-do-not-chain": nn.Sequential(L(3, 4), nn.Tanh(), L(5, 2)),
    "gelu-tanh-approximation": nn.Sequential(L(3, 4), nn.GELU(approximate="tanh"), L(4, 2)),
    "no-activation-between": nn.Sequential(L(3, 4), L(4, 2)),
    "two-activations": nn.Sequential(L(3, 4), nn.Tanh(), nn.Tanh(), L(4, 2)),
    "leading-activation": nn.Sequential(nn.Tanh(), L(3, 4), nn.Tanh(), L(4, 2)),
    "leaky-relu": nn.Sequential(L(3, 4), nn.LeakyReLU(), L(4, 2)),
    "softmax-tail": nn.Sequential(L(3, 4), nn.Tanh(), L(4, 2), nn.Softmax(dim=-1)),
    "mixed-bias": nn.Sequential(L(3, 4), nn.Tanh(), L(4, 2, bias=False)),
    "softplus-beta2": nn.Sequential(L(3, 4), nn.Softplus(beta=2), L(4, 2)),
    "non-finite": nn.Sequential(L(3, 4), nn.Tanh(), L(4, 2)),
    "not-sequential": L(3, 2),
}
with torch.no_grad():
    refusals["non-finite"][2].weight[0, 0] = float("nan")
cases = []
for name, model in refusals.items():
    torch.save(model, f"bad_{name}.pt")
    cases.append((name, EXPORT + [f"bad_{name}.pt", f"out_{name}"], f"out_{name}"))
good = nn.Sequential(L(3, 4), nn.Tanh(), L(4, 2))
torch.save(good, "good.pt")
torch.save(good.state_dict(), "good_sd.pt")
torch.save(nn.Sequential(L(3, 4), nn.BatchNorm1d(4), nn.Tanh(), L(4, 2)).state_dict(), "bn_sd.pt")
np.save("X_wrong.npy", np.zeros((5, 4)))
cases += [
    ("state-dict-no-activation", EXPORT + ["--state-dict", "good_sd.pt", "out_sd1"], "out_sd1"),
    ("state-dict-layers-mismatch", EXPORT + ["--state-dict", "good_sd.pt", "--activation", "tanh",
                                             "--layers", "3,5,2", "out_sd2"], "out_sd2"),
    ("state-dict-batchnorm", EXPORT + ["--state-dict", "bn_sd.pt", "--activation", "tanh", "out_sd3"], "out_sd3"),
    ("data-wrong-width", EXPORT + ["good.pt", "out_data", "--data", "X_wrong.npy"], "out_data"),
    ("existing-folder", EXPORT + ["good.pt", "sd_ref"], None),
    ("unknown-option", EXPORT + ["good.pt", "out_opt", "--bogus"], "out_opt"),
]
before = set(os.listdir("."))
for name, cmd, out in cases:
    r = run(cmd)
    msg = r.stderr.strip().splitlines()[0] if r.stderr.strip() else ""
    ok = r.returncode == 2 and "error" in msg and (out is None or not os.path.lexists(out))
    check(ok, f"refusal {name:27s} exit {r.returncode}: {msg[:110]}")
left = [f for f in set(os.listdir(".")) - before if ".tmp-" in f or f.startswith("out_")]
check(not left, f"refusals left no folder or temporary ({left or 'none'})")
check(sorted(files("sd_ref")) == sorted(files("sd_out")), "an existing folder is not touched without --force")
torch.save(torch.tensor(X), "X.pt")
r1 = run(EXPORT + ["good.pt", "forced", "--data", "X.pt"])
r2 = run(EXPORT + ["nested.pt", "forced", "--force"])
check(r1.returncode == 0 and r2.returncode == 0 and files("forced") == files("nested_out")
      and np.array_equal(np.load("nested_out/W1.npy"), np.load("forced/W1.npy")),
      "--data X.pt writes X.npy; --force replaces a folder whole")
r = run(IMPORT + ["sd_ref/nowhere", "x.pt"])
check(r.returncode == 2 and not os.path.exists("x.pt"), f"import of a missing folder exits 2: {r.stderr.strip()}")

print(f"{len(failures)} failed" if failures else "all torch interop checks passed")
sys.exit(1 if failures else 0)
EOF
exit $rc
