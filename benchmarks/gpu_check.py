"""GPU check: the PyTorch S6 scans and S4D on the device against CPU float64, timings at paper shapes,
and training throughput per model (docs/gpu-check.md).

    bash benchmarks/gpu_check.sh gpu-check.md                          # a CUDA machine, < 8 minutes
    python benchmarks/gpu_check.py --dry-run --out /tmp/gpu-check.md   # every row on CPU, tiny shapes

Prints one markdown table and writes it to ``--out``. Sections:

- ``check``: the S6 scan (loop, chunked, mamba-ssm kernel where it imports) and the S4D layer in
  float32 on the device against the same computation in float64 on the CPU: outputs and gradients
  (TF32 off), relative to the largest reference value. ``ok`` within 1e-4 (outputs) and 1e-3
  (gradients).
- ``fwd+bwd``: median forward and forward+backward time of the study's models at their paper
  training shapes (read from the paper config): E2 S4D and S6 (every scan backend), S6 at τ = 1/8
  (L 8192, the evaluation batch), E3 Transformer and linear attention, E5 S4D at Path-X length.
- ``train``: a fixed number of AdamW steps per model of E2, E3 and E5 on random data of the paper
  shapes (backend "auto"), its time per step, sequences per second and the projected epoch time.

CUDA-only baselines and the mamba-ssm kernel give a row "not importable: <reason>" where they cannot
run. A row that fails says "error: ..." and the others still run; rows past ``--budget-s`` seconds
say "skipped". Timings are wall clock after one warm-up, with the device synchronized.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from contlaws.config import batch_size_for, paper_config
from contlaws.experiments.subsampling import model_config as e5_model_config
from contlaws.models.baselines import GPU_LAYERS
from contlaws.models.registry import availability, build_model, optimizer_param_groups
from contlaws.models.s4d import S4D
from contlaws.models.scan import PARALLEL_CHUNK, cuda_scan_unavailable_reason, selective_scan, selective_scan_cuda

COLUMNS = ("section", "row", "shape", "result", "forward ms", "fwd+bwd / step ms", "seq/s", "peak GiB")
VALUE_TOL, GRAD_TOL = 1e-4, 1e-3
E5_TASK = "pathx"  # the longest E5 task (LRA Path-X, 16384 pixels), 1 channel, 2 classes
E5_LENGTH, E5_CLASSES, E5_TRAIN = 16384, 2, 128_000  # 80 % of Path-X's 160 000 images


@dataclass
class Shapes:
    """Every size the check uses: the paper's (from the paper config), or tiny ones for a dry run."""

    tiny: bool
    cfg: dict
    model_cfg: dict = field(default_factory=dict)
    e5_cfg: dict = field(default_factory=dict)

    def __post_init__(self):
        cfg = self.cfg
        self.model_cfg = dict(cfg["model"])
        self.e5_cfg = e5_model_config(cfg["subsampling"])
        self.length = cfg["regression"]["length"]  # 1024 at τ = 1
        self.fine_length = round(self.length / min(cfg["regression"]["taus"]))  # 8192 at τ = 1/8
        self.e5_length, self.e5_batch = E5_LENGTH, cfg["subsampling"]["batch_size"]
        self.eval_batch = max(1, cfg["train"]["eval_max_elements"] // (self.fine_length * self.model_cfg["d_model"]))
        self.check = (4, self.length, 64, 16)  # scan check: B, L, D, N
        self.s4d_check = (4, 128, self.length, 64)  # B, H, L, d_state
        self.steps, self.repeats, self.warmup = 10, 3, 2
        if self.tiny:
            small = {"d_model": 16, "n_layers": 2, "transformer": {"n_heads": 2, "d_ff": 32},
                     "linear_attention": {"n_heads": 2}}  # fmt: skip
            self.model_cfg = {**self.model_cfg, **small}
            self.e5_cfg = {**self.e5_cfg, "d_model": 16, "n_layers": 2, "s4d": {**self.e5_cfg["s4d"], "d_state": 4}}
            self.length, self.fine_length, self.e5_length, self.e5_batch, self.eval_batch = 32, 64, 128, 2, 2
            self.check, self.s4d_check = (2, 16, 4, 3), (2, 8, 16, 4)
            self.steps, self.repeats, self.warmup = 1, 1, 0

    def batch(self, model: str) -> int:
        return 2 if self.tiny else batch_size_for(self.cfg, model)


class Table:
    """Rows of the one table; the time budget; the device. The file ``out`` is rewritten after every
    row, so a run stopped from outside still leaves the rows it finished."""

    def __init__(self, device: torch.device, budget_s: float, out: Path, title: str):
        self.device, self.rows, self.out, self.title = device, [], out, title
        self.start = time.monotonic()
        self.deadline = self.start + budget_s
        self.budget_s = budget_s

    def run(self, section: str, name: str, shape: str, fn) -> None:
        """Run one row: ``fn()`` returns a dict of column values (result, forward ms, ...)."""
        row = {"section": section, "row": name, "shape": shape}
        if time.monotonic() > self.deadline:
            row["result"] = f"skipped: time budget of {self.budget_s:g} s spent"
        else:
            try:
                row.update(fn())
            except Exception as err:  # noqa: BLE001  (one failing row must not hide the others)
                traceback.print_exc(file=sys.stderr)
                row["result"] = f"error: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
            finally:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
        self.rows.append(row)
        print(f"  {section:8s} {name:40s} {row.get('result', '')}", file=sys.stderr, flush=True)
        self.write()

    def write(self) -> str:
        """The title and the table so far, written atomically to ``out`` (a reader never sees half a table)."""
        text = f"{self.title}; {time.monotonic() - self.start:.0f} s in all\n\n{self.markdown()}"
        tmp = self.out.with_name(self.out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(self.out)
        return text

    def markdown(self) -> str:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for row in self.rows:
            lines.append("| " + " | ".join(str(row.get(c, "")).replace("|", "/") for c in COLUMNS) + " |")
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn, device: torch.device, repeats: int, warmup: int) -> float:
    """Median wall time of ``fn()`` after ``warmup`` calls, the device synchronized."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_gib(device: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f}" if device.type == "cuda" else ""


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """max |value − reference| / max |reference|, computed in float64 on the CPU."""
    value, reference = value.detach().double().cpu(), reference.detach().double().cpu()
    return float((value - reference).abs().max() / reference.abs().max().clamp(min=1e-300))


def verdict(value_err: float, grad_err: float) -> str:
    ok = value_err <= VALUE_TOL and grad_err <= GRAD_TOL and math.isfinite(value_err + grad_err)
    return f"{'ok' if ok else 'MISMATCH'}: outputs {value_err:.1e}, gradients {grad_err:.1e}"


class NoTF32:
    """TF32 off for the correctness rows (a float32 check, not a TF32 one); restored afterwards."""

    def __enter__(self):
        self.saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False

    def __exit__(self, *exc):
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.saved


def scan_inputs(batch: int, length: int, d: int, n: int, seed: int = 0) -> list[torch.Tensor]:
    """x, Δ, A, B, C, D in float64 on the CPU, Δ at S6's initial range, A_{d,n} = −n."""
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, length, d, dtype=torch.float64, generator=g),
        1e-3 + 0.1 * torch.rand(batch, length, d, dtype=torch.float64, generator=g),
        -torch.arange(1, n + 1, dtype=torch.float64).repeat(d, 1),
        torch.randn(batch, length, n, dtype=torch.float64, generator=g),
        torch.randn(batch, length, n, dtype=torch.float64, generator=g),
        torch.randn(d, dtype=torch.float64, generator=g),
    ]


def outputs_and_grads(fn, inputs):
    inputs = [t.detach().requires_grad_() for t in inputs]
    y = fn(*inputs)
    weight = torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).view_as(y)
    return y, torch.autograd.grad((y * weight).sum(), inputs)


def shape_text(*dims) -> str:
    return "×".join(str(d) for d in dims)


# ------------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------------
def check_scan(device, shapes: Shapes, method: str, discretization: str):
    """The float32 scan on ``device`` against the float64 loop scan on the CPU."""
    if method == "cuda":
        reason = cuda_scan_unavailable_reason() if device.type == "cuda" else "needs CUDA (checking on CPU)"
        if reason:
            return {"result": f"not importable: {reason}"}
    inputs = scan_inputs(*shapes.check)
    y_ref, g_ref = outputs_and_grads(lambda *t: selective_scan(*t, discretization=discretization), inputs)
    if method == "cuda":
        fn = selective_scan_cuda
    else:
        def fn(*t):
            return selective_scan(*t, discretization=discretization, method=method)
    with NoTF32():
        y, g = outputs_and_grads(fn, [t.float().to(device) for t in inputs])
    return {"result": verdict(relative_error(y, y_ref), max(relative_error(a, b) for a, b in zip(g, g_ref)))}


def check_s4d(device, shapes: Shapes, discretization: str):
    batch, h, length, d_state = shapes.s4d_check
    torch.manual_seed(0)
    layer = S4D(h, d_state=d_state, discretization=discretization, a_imag_init="lin").double()
    u = torch.randn(batch, h, length, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y_ref, g_ref = outputs_and_grads(lambda t: layer(t, 0.5), [u])
    p_ref = torch.autograd.grad(layer(u, 0.5).square().sum(), list(layer.parameters()))
    layer_dev = S4D(h, d_state=d_state, discretization=discretization, a_imag_init="lin").to(device)
    layer_dev.load_state_dict({k: v.float() for k, v in layer.state_dict().items()})
    with NoTF32():
        y, g = outputs_and_grads(lambda t: layer_dev(t, 0.5), [u.float().to(device)])
        p = torch.autograd.grad(layer_dev(u.float().to(device), 0.5).square().sum(), list(layer_dev.parameters()))
    grad_err = max(relative_error(a, b) for a, b in zip((*g, *p), (*g_ref, *p_ref)))
    return {"result": verdict(relative_error(y, y_ref), grad_err)}


def model_and_batch(name, shapes: Shapes, device, experiment: str, length: int, batch: int, **s6):
    """A registry model of ``experiment`` (E2 regression, E3 causal forecaster, E5 classifier) and a random batch."""
    torch.manual_seed(0)
    cfg = shapes.cfg
    if experiment == "E2":
        model_cfg = {**shapes.model_cfg, "s6": {**shapes.model_cfg["s6"], **s6}}
        model = build_model(name, d_input=1, d_output=1, model_cfg=model_cfg)
        x, y = torch.randn(batch, length, 1), torch.randn(batch, 1)
    elif experiment == "E3":
        obs = cfg["forecasting"]["obs_dim"]
        d_out = obs * cfg["forecasting"]["horizon"]
        model_cfg = {**shapes.model_cfg, "s6": {**shapes.model_cfg["s6"], **s6}}
        model = build_model(name, d_input=obs, d_output=d_out, model_cfg=model_cfg, causal=True,
                            increment=cfg["eta_performance"]["increment"])  # fmt: skip
        x, y = torch.randn(batch, length, obs), torch.randn(batch, length, d_out)
    else:  # E5: the S4D classifier, log_dt frozen as in training
        model = build_model(name, d_input=1, d_output=E5_CLASSES, model_cfg=shapes.e5_cfg)
        for module in model.modules():
            if isinstance(module, S4D):
                module.log_dt.requires_grad_(False)
        x, y = torch.randn(batch, length, 1), torch.randint(0, E5_CLASSES, (batch,))
    return model.to(device), x.to(device), y.to(device)


def loss_of(experiment: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y) if experiment == "E5" else F.mse_loss(out, y)


def unavailable(name: str) -> str | None:
    ok, reason = availability(name)
    return None if ok else f"not importable: {reason}"


def time_model(name, shapes: Shapes, device, experiment: str, length: int, batch: int, backward=True, **s6):
    """Median forward (no grad) and forward+backward ms of a model at one shape."""
    if (reason := unavailable(name)) or (s6.get("backend") == "cuda" and (reason := kernel_reason(device))):
        return {"result": reason}
    model, x, y = model_and_batch(name, shapes, device, experiment, length, batch, **s6)
    reset_peak(device)

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        model.zero_grad(set_to_none=True)
        loss_of(experiment, model(x), y).backward()

    fwd = median_seconds(forward, device, shapes.repeats, min(shapes.warmup, 1))
    row = {"result": "ok", "forward ms": f"{1e3 * fwd:.1f}"}
    if backward:
        fwd_bwd = median_seconds(forward_backward, device, shapes.repeats, min(shapes.warmup, 1))
        row.update({"fwd+bwd / step ms": f"{1e3 * fwd_bwd:.1f}", "seq/s": f"{batch / fwd_bwd:.0f}"})
    return {**row, "peak GiB": peak_gib(device)}


def kernel_reason(device) -> str | None:
    reason = cuda_scan_unavailable_reason() if device.type == "cuda" else "needs CUDA (checking on CPU)"
    return f"not importable: {reason}" if reason else None


def train_steps(name, shapes: Shapes, device, experiment: str, length: int, batch: int, n_train: int):
    """``shapes.steps`` AdamW steps (after ``shapes.warmup`` more) on random data; throughput, projected epoch."""
    if reason := unavailable(name):
        return {"result": reason}
    model, x, y = model_and_batch(name, shapes, device, experiment, length, batch)
    cfg = shapes.cfg
    lr, wd = (cfg["subsampling"]["lr"], cfg["subsampling"]["weight_decay"]) if experiment == "E5" else (
        cfg["train"]["lr"], cfg["train"]["weight_decay"])  # fmt: skip
    model_cfg = shapes.e5_cfg if experiment == "E5" else shapes.model_cfg
    optimizer = torch.optim.AdamW(optimizer_param_groups(model, lr, wd, model_cfg))
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(experiment, model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(shapes.warmup):
        step()
    sync(device)
    reset_peak(device)
    start = time.perf_counter()
    for _ in range(shapes.steps):
        loss = step()
    sync(device)
    per_step = (time.perf_counter() - start) / shapes.steps
    if not math.isfinite(loss.item()):
        return {"result": f"error: non-finite loss {loss.item()}"}
    steps_per_epoch = math.ceil(n_train / batch)
    backend = ""
    if name == "s6":
        backend = f", scan backend {model.layers[0].scan_backend(x[:1, :1].expand(1, 1, shapes.model_cfg['d_model']))}"
    return {
        "result": f"ok: {shapes.steps} steps{backend}; epoch of {n_train} ≈ {steps_per_epoch * per_step:.0f} s",
        "fwd+bwd / step ms": f"{1e3 * per_step:.1f}",
        "seq/s": f"{batch / per_step:.0f}",
        "peak GiB": peak_gib(device),
    }


# ------------------------------------------------------------------------------------------------
def run_checks(table: Table, shapes: Shapes) -> None:
    device, cfg = table.device, shapes.cfg
    dev = device.type

    # 1. correctness on the device against CPU float64
    for method in ("loop", "chunked", "cuda"):
        for disc in ("zoh", "bilinear") if method != "cuda" else ("zoh",):
            label = {"loop": "S6 scan, loop", "chunked": f"S6 scan, chunked T={PARALLEL_CHUNK}",
                     "cuda": "S6 scan, mamba-ssm kernel"}[method]  # fmt: skip
            table.run("check", f"{label}, {disc}, {dev} fp32 vs cpu fp64", shape_text(*shapes.check),
                      lambda m=method, d=disc: check_scan(device, shapes, m, d))  # fmt: skip
    for disc in ("zoh", "bilinear"):
        table.run("check", f"S4D layer, {disc}, {dev} fp32 vs cpu fp64", shape_text(*shapes.s4d_check),
                  lambda d=disc: check_s4d(device, shapes, d))  # fmt: skip

    # 2. forward and forward+backward at the paper training shapes
    L, L_fine, d = shapes.length, shapes.fine_length, shapes.model_cfg["d_model"]
    n_layers = shapes.model_cfg["n_layers"]
    s4d_b, s6_b = shapes.batch("s4d"), shapes.batch("s6")
    table.run("fwd+bwd", f"E2 S4D, {n_layers} layers", shape_text(s4d_b, L, d),
              lambda: time_model("s4d", shapes, device, "E2", L, s4d_b))  # fmt: skip
    s6_backends = [("loop", {"backend": "torch"})]
    s6_backends += [(f"chunked T={t}", {"backend": "chunked"}, t) for t in sorted({4, PARALLEL_CHUNK, 16})]
    s6_backends += [("mamba-ssm kernel", {"backend": "cuda"})]
    for label, s6, *chunk in s6_backends:
        extra = {"parallel_chunk": chunk[0]} if chunk else {}
        table.run("fwd+bwd", f"E2 S6, {n_layers} layers, {label}", shape_text(s6_b, L, d),
                  lambda s=s6, e=extra: time_model_s6(shapes, device, L, s6_b, s, e))  # fmt: skip
    for label, s6 in (("loop", {"backend": "torch"}), (f"chunked T={PARALLEL_CHUNK}", {"backend": "chunked"}),
                      ("mamba-ssm kernel", {"backend": "cuda"})):  # fmt: skip
        table.run("fwd+bwd", f"E2 S6 at τ=1/8 (eval batch), {label}", shape_text(shapes.eval_batch, L_fine, d),
                  lambda s=s6: time_model_s6(shapes, device, L_fine, shapes.eval_batch, s, {}))  # fmt: skip
    for name in ("transformer", "linear_attention"):
        b = shapes.batch(name)
        table.run("fwd+bwd", f"E3 {name} (causal), {n_layers} layers", shape_text(b, L, d),
                  lambda n=name, b=b: time_model(n, shapes, device, "E3", L, b))  # fmt: skip
    e5_layers = shapes.e5_cfg["n_layers"]
    table.run("fwd+bwd", f"E5 S4D {E5_TASK}, {e5_layers} layers, d_state {shapes.e5_cfg['s4d']['d_state']}",
              shape_text(shapes.e5_batch, shapes.e5_length, shapes.e5_cfg["d_model"]),
              lambda: time_model("s4d", shapes, device, "E5", shapes.e5_length, shapes.e5_batch))  # fmt: skip

    # 3. a fixed number of optimizer steps per model, throughput and projected epoch
    n_e2, n_e3 = cfg["regression"]["n_train"], cfg["forecasting"]["n_train"]
    for name in cfg["refinement_trained"]["models"]:
        b = shapes.batch(name)
        table.run("train", f"E2 {name}", shape_text(b, L, d),
                  lambda n=name, b=b: train_steps(n, shapes, device, "E2", L, b, n_e2))  # fmt: skip
    e3_models = sorted(cfg["eta_performance"]["models"], key=lambda n: n in GPU_LAYERS)  # CUDA-only last:
    for name in [n for n in e3_models if n not in GPU_LAYERS]:  # their Triton autotuning takes longest
        b = shapes.batch(name)
        table.run("train", f"E3 {name} (causal)", shape_text(b, L, d),
                  lambda n=name, b=b: train_steps(n, shapes, device, "E3", L, b, n_e3))  # fmt: skip
    table.run("train", f"E5 s4d {E5_TASK}", shape_text(shapes.e5_batch, shapes.e5_length, shapes.e5_cfg["d_model"]),
              lambda: train_steps("s4d", shapes, device, "E5", shapes.e5_length, shapes.e5_batch,
                                  E5_TRAIN))  # fmt: skip
    for name in [n for n in e3_models if n in GPU_LAYERS]:
        b = shapes.batch(name)
        table.run("train", f"E3 {name} (causal)", shape_text(b, L, d),
                  lambda n=name, b=b: train_steps(n, shapes, device, "E3", L, b, n_e3))  # fmt: skip


def time_model_s6(shapes, device, length, batch, s6, extra):
    return time_model("s6", shapes, device, "E2", length, batch, **s6, **extra)


def header(device: torch.device, shapes: Shapes) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    scale = "tiny shapes (dry run)" if shapes.tiny else "paper shapes"
    return (f"GPU check on {device.type} ({name}), torch {torch.__version__}, CUDA {torch.version.cuda}, "
            f"Python {platform.python_version()}, {scale}")  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="write the markdown table here")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny shapes, 2 steps (every row, seconds on a CPU)")
    p.add_argument("--dry-run", action="store_true", help="the same as --device cpu --tiny")
    p.add_argument("--budget-s", type=float, default=420.0,
                   help="rows that would start after this many seconds are skipped")  # fmt: skip
    args = p.parse_args(argv)
    if args.dry_run:
        args.device, args.tiny = "cpu", True
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda but CUDA is not available here (use --dry-run on a CPU)", file=sys.stderr)
        return 2
    if not args.out.parent.is_dir():
        print(f"gpu_check: --out {args.out}: folder {args.out.parent} does not exist", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(min(2, torch.get_num_threads()))
    shapes = Shapes(tiny=args.tiny, cfg=paper_config())
    table = Table(device, args.budget_s, args.out, header(device, shapes))
    run_checks(table, shapes)
    print(table.write(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
