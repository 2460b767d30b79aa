"""Gradient probes (gridlstm/probe/gradients.py), decay summary and theory (decay.py), gradcheck files/CLI.

References are independent of the code under test: the cell equations of tests/reference.py,
a hand-written backward recursion for the tanh RNN, and central finite differences.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.config import ModelConfig, TaskConfig, dump_config, load_config
from gridlstm.nn import registry
from gridlstm.nn.model import RecurrentModel
from gridlstm.probe import decay
from gridlstm.probe.gradcheck import load_source, run_gradcheck, write_outputs
from gridlstm.probe.gradients import block_inputs, measure, memory_gates, probe_gradients
from gridlstm.probe.verify import Nudge
from gridlstm.runs.folder import save_checkpoint
from gridlstm.tasks import make_task

from . import reference

KINDS = registry.cases()  # every cell kind, variant and covered option set
MEMORY_INPUT, PAPER = "grid memory_input", "grid paper"


def tiny(kind: str, task: str = "adding", T: int = 6, H: int = 4, D: int = 2, tied: bool = False,
         schedule: str = "wavefront", seed: int = 0):
    torch.manual_seed(seed)
    t = make_task(TaskConfig(name=task, length=T))
    cfg = ModelConfig(hidden=H, layers=D, tied=tied, schedule=schedule, **KINDS[kind])
    model = RecurrentModel(cfg, t.input_size, t.output_size).double()
    x, y = t.sample(3, torch.Generator().manual_seed(seed))
    return model, t, x.double(), (y.double() if y.is_floating_point() else y)


# ----------------------------------------------------------------------------- reference model


def reference_forward(model, x, task):
    """The equations of tests/reference.py (the tests' one transcription), through the readout."""
    top, S = reference.forward(model, x)  # (B, T, H), {name: [[state (B,H)]*D]*T}
    return model.readout(top[:, -1] if task.scores == "last" else top), S


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("schedule,task,tied", [("wavefront", "adding", False), ("naive", "copy", True)])
def test_probe_equals_autograd_of_reference_states(kind, schedule, task, tied):
    model, t, x, y = tiny(kind, task, T=5 if task == "adding" else 3, tied=tied, schedule=schedule)
    pg = probe_gradients(model, t, x, y)
    out, S = reference_forward(model, x, t)
    loss = t.loss(out, y)
    assert math.isclose(loss.item(), pg.loss, rel_tol=1e-12)
    names = list(S)
    assert set(names) == set(pg.states) - {"x"}, (names, list(pg.states))
    flat = [S[n][ti][d] for n in names for ti in range(x.shape[1]) for d in range(model.cfg.layers)]
    grads = torch.autograd.grad(loss * x.shape[0], flat, allow_unused=True, materialize_grads=True)
    i = 0
    for n in names:
        for ti in range(x.shape[1]):
            for d in range(model.cfg.layers):
                torch.testing.assert_close(pg.grads[n][ti, d], grads[i], rtol=1e-9, atol=1e-12)
                torch.testing.assert_close(pg.states[n][ti, d], S[n][ti][d].detach(), rtol=1e-12, atol=1e-12)
                i += 1
    # the memory-input grid's time h feeds its own block's depth LSTM: the total must include that use
    if kind == MEMORY_INPUT:
        assert pg.grads["h"][-1, -1].abs().max() > 0
        assert pg.outgoing["h"][-1, -1].abs().max() == 0


def test_rnn_matches_hand_written_backward_recursion():
    """δ_T = 2(out - y)·w_readout;  δ_{t-1} = ((1 - h_t²) ⊙ δ_t) W_hh  (row-vector convention)."""
    model, t, x, y = tiny("rnn", T=12, H=5, D=1)
    pg = probe_gradients(model, t, x, y)
    W, b = (p.detach().numpy() for p in model.cell.transform.layer_weight(0))
    P, pb = model.proj.weight.detach().numpy(), model.proj.bias.detach().numpy()
    wr, br = model.readout.weight.detach().numpy(), model.readout.bias.detach().numpy()
    xs, H = x.numpy(), 5
    h = np.zeros((xs.shape[0], H))
    hs = []
    for ti in range(xs.shape[1]):
        h = np.tanh(np.concatenate([xs[:, ti] @ P.T + pb, h], 1) @ W + b)
        hs.append(h)
    out = hs[-1] @ wr.T + br
    delta = 2 * (out - y.numpy()) * wr  # (B, H): ∂ℓ_b/∂h_T
    for ti in range(xs.shape[1] - 1, -1, -1):
        np.testing.assert_allclose(pg.grads["h"][ti, 0].numpy(), delta, rtol=1e-9, atol=1e-14)
        delta = ((1 - hs[ti] ** 2) * delta) @ W[H:].T  # ∂ℓ/∂h_{t-1} through z_t = [P x_t; h_{t-1}] W + b


def test_outgoing_gradients_equal_finite_differences_at_every_step():
    """Brute force: one central difference per (t, d) of a nudge added where the probe sits."""
    model, t, x, y = tiny("lstm", T=5, H=3, D=2)
    pg = probe_gradients(model, t, x, y)
    eps, b, j = 1e-6, 1, 2
    for i, name in enumerate(model.cell.state_names):
        for ti in range(5):
            for d in range(2):
                with torch.no_grad():
                    lp = t.loss(model(x, t.scores, probe=Nudge(i, ti, d, b, j, eps)), y).item()
                    lm = t.loss(model(x, t.scores, probe=Nudge(i, ti, d, b, j, -eps)), y).item()
                fd = x.shape[0] * (lp - lm) / (2 * eps)
                assert fd == pytest.approx(pg.outgoing[name][ti, d, b, j].item(), rel=1e-5, abs=1e-11)


def test_norms_are_per_example_and_batch_independent():
    model, t, x, y = tiny(MEMORY_INPUT, T=6)
    whole = measure(model, t, x, y)
    parts = [measure(model, t, x[i:i + 1], y[i:i + 1]) for i in range(x.shape[0])]
    for name in model.cell.state_names:
        torch.testing.assert_close(whole.norms[name], sum(p.norms[name] for p in parts) / len(parts))
    torch.testing.assert_close(whole.x, sum(p.x for p in parts) / len(parts))
    g = probe_gradients(model, t, x, y).grads["c"]
    torch.testing.assert_close(whole.norms["c"], g.norm(dim=-1).mean(-1))


def test_probe_leaves_parameter_grads_and_outputs_alone():
    model, t, x, y = tiny(PAPER, T=6)
    plain = model(x, t.scores)
    measure(model, t, x, y)
    assert all(p.grad is None for p in model.parameters())
    torch.testing.assert_close(model(x, t.scores), plain)


@pytest.mark.parametrize("init,D", [("default", 1), ("orthogonal", 1), ("default", 2)])
def test_rnn_bound_holds_step_by_step(init, D):
    torch.manual_seed(1)
    t = make_task(TaskConfig(name="adding", length=30))
    model = RecurrentModel(ModelConfig(kind="rnn", hidden=8, layers=D, init=init), 2, 1)
    x, y = t.sample(16, torch.Generator().manual_seed(2))
    g = measure(model, t, x, y).norms["h"][:, D - 1].numpy()  # top layer, (T,)
    gs = decay.sigma_max(model.cell)[D - 1]  # γ = 1
    assert np.all(g[:-1] <= gs * g[1:] * (1 + 1e-5))
    assert decay.rnn_bound_holds(g[::-1], gs)
    assert not decay.rnn_bound_holds(g[::-1], 0.05 * gs)  # the check can fail


def test_sigma_max_and_spectral_radius_against_numpy():
    model, *_ = tiny("rnn", H=6, D=2)
    for d, W in enumerate(model.cell.jacobian_bound().matrices):
        Wn = model.cell.transform.weight[d, 6:].detach().numpy()
        np.testing.assert_allclose(W.numpy(), Wn)
        assert decay.sigma_max(model.cell)[d] == pytest.approx(np.linalg.svd(Wn, compute_uv=False)[0])
        assert decay.spectral_radius(model.cell)[d] == pytest.approx(np.abs(np.linalg.eigvals(Wn)).max())


@pytest.mark.parametrize("kind", list(KINDS))
def test_reference_on_the_captured_states_rebuilds_every_block(kind):
    """The block inputs rebuilt from the captured states, through the cell's reference formulation,
    give back every state (so the memory gates it returns are the ones the memories ran with)."""
    model, t, x, y = tiny(kind, T=5, D=3)
    pg = probe_gradients(model, t, x, y)
    px = model.proj(x).transpose(0, 1)
    for d in range(3):
        block = model.cell.reference(*block_inputs(model.cell, px, pg.states, d), d, d + 1)
        for name, s in zip(model.cell.state_names, block.states, strict=True):
            torch.testing.assert_close(s.view(5, 3, -1), pg.states[name][:, d])
    gates = memory_gates(model, x, pg.states)
    assert set(gates) == set(model.cell.memories)
    th = decay.theory(model, x, pg.states)
    for name, a in gates.items():
        assert a.shape == pg.states[name].shape and torch.all((a > 0) & (a < 1))
        assert th.forget[name][0] == pytest.approx(a[:, 0].mean().item())
        assert th.log10_forget[name][0] == pytest.approx(torch.log10(a[:, 0]).mean().item())


def test_decay_stats_on_a_known_profile():
    g = np.concatenate([10.0 ** (-0.4 * np.arange(20)), [1e-40, 0.0]])
    s = decay.decay_stats(g, tiny=1.17e-38)
    assert s["slope_decades_per_step"] == pytest.approx(-0.4)
    assert (s["steps_to_1e-3"], s["steps_to_1e-6"]) == (8, 16)  # 10^-3.2 < 1e-3 at s = 8
    assert s["steps_to_1e-12"] == 20  # only the underflowed tail is that small
    assert s["underflow_step"] == 20 and s["fit_points"] == 20 and s["ref_step"] == 0
    assert s["first_last_ratio"] == 0.0
    late = decay.decay_stats(np.concatenate([[0.0, 0.0], 10.0 ** (-0.5 * np.arange(10))]), tiny=1e-38)
    assert late["ref_step"] == 2 and late["steps_to_1e-3"] == 9  # counted as steps back from the loss
    assert late["slope_decades_per_step"] == pytest.approx(-0.5) and late["underflow_step"] is None
    zeros = decay.decay_stats(np.zeros(5), tiny=1e-38)  # no path to the loss at all: not underflow
    assert zeros["underflow_step"] is None and zeros["structural_zero_step"] == 0


# ----------------------------------------------------------------------------- files and CLI


def tiny_config(tmp_path: Path, kind: str = "grid", extra: tuple[str, ...] = ()) -> Path:
    cfg = load_config(None, [f"model.kind={kind}", "model.hidden=6", "model.layers=2", "task.length=12",
                             "train.batch_size=4", *extra])
    path = tmp_path / f"{kind}.yaml"
    path.write_text(dump_config(cfg))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("kind", ["rnn", "grid"])
def test_gradcheck_files_hold_the_measured_summary(tmp_path, kind):
    """The files hold what was measured, exactly. The statistics themselves (how seeds combine,
    slopes, 1e-k steps, underflow, structural zeros) are checked on hand-made profiles in
    test_decay_stats_on_a_known_profile and tests/test_decay_stats.py."""
    from gridlstm.formatting import csv_cell

    result = run_gradcheck(load_source(tiny_config(tmp_path, kind), []), seeds=2, device="cpu")
    write_outputs(result, tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "gradients.csv")
    assert list(rows[0]) == ["step", "seed", "state", "layer", "t", "norm"]
    states = {"rnn": ["h"], "grid": ["h", "c", "h_depth", "c_depth"]}[kind]
    assert {(r["state"], r["layer"], r["t"], r["seed"]) for r in rows} == {
        (s, str(d), str(t), str(seed)) for s in states for d in (1, 2) for t in range(1, 13) for seed in (0, 1)
    } | {("x", "0", str(t), str(seed)) for t in range(1, 13) for seed in (0, 1)}
    summary = read_csv(tmp_path / "out" / "summary.csv")
    assert [(r["state"], r["layer"]) for r in summary] == [(s, str(d)) for s in states for d in (1, 2)] + [("x", "0")]
    for written, measured in zip(summary, result.summary, strict=True):
        assert written == {k: csv_cell(measured.get(k)) for k in written}, written["state"]
    h_top = next(r for r in summary if r["state"] == "h" and r["layer"] == "2")
    assert float(h_top["slope_decades_per_step"]) < 0  # the gradient decays going back in time
    if kind == "rnn":
        h2 = next(r for r in summary if r["state"] == "h" and r["layer"] == "2")
        assert h2["theory_kind"] == "sigma_max_bound" and h2["bound_holds"] == "yes"
        assert float(h2["theory_slope"]) == pytest.approx(math.log10(float(h2["sigma_max"])), abs=0.02)
    else:
        kinds = {r["state"]: r["theory_kind"] for r in summary}
        assert kinds["c"] == "forget_gate" and kinds["h"] == "" and kinds["c_depth"] == "forget_gate_depth"
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert (meta["T"], meta["D"], meta["scores"], meta["source"], meta["step"]) == (12, 2, "last", "config", 0)
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "Steps back" in md and "Theory beside measurement" in md


def fake_run(tmp_path: Path, kind_in_config: str, kind_in_checkpoint: str) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    cfg = load_config(tiny_config(tmp_path, kind_in_config))
    run.joinpath("config.yaml").write_text(dump_config(cfg))
    ck = load_config(tiny_config(tmp_path, kind_in_checkpoint))
    model = RecurrentModel(ck.model, 2, 1)
    save_checkpoint(run / "checkpoint.pt", {"format": 1, "config": ck.to_dict(), "model": model.state_dict(),
                                            "step": 7})
    return run


def test_cli_on_a_run_folder_writes_into_it(tmp_path):
    run = fake_run(tmp_path, "lstm", "lstm")
    res = CliRunner().invoke(cli, ["gradcheck", str(run), "--batch", "3", "--length", "9", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().splitlines()[-1] == str(run / "gradients")
    rows = read_csv(run / "gradients" / "gradients.csv")
    assert {r["step"] for r in rows} == {"7"} and max(int(r["t"]) for r in rows) == 9
    assert_summaries_agree(run / "gradients", {"h", "c"}, layers=2)


def test_cli_errors_are_one_line(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["gradcheck", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "no such run folder or config" in res.output
    res = runner.invoke(cli, ["gradcheck", str(fake_run(tmp_path, "rnn", "lstm"))])
    assert res.exit_code == 2 and "holds lstm" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["gradcheck", str(tmp_path / "run"), "model.hidden=9"])
    assert res.exit_code == 2 and "checkpoint" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(cli, ["gradcheck", str(empty)])
    assert res.exit_code == 2 and "not a run folder" in res.output


def test_cli_config_to_out_dir(tmp_path):
    res = CliRunner().invoke(cli, ["gradcheck", str(tiny_config(tmp_path, "rnn")), "--out", str(tmp_path / "o"),
                                   "--device", "cpu", "--seeds", "2"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "o"
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["model"], meta["seeds"], meta["source"], meta["T"]) == ("rnn", [0, 1], "config", 12)
    rows = read_csv(out / "gradients.csv")
    assert len(rows) == 2 * (2 * 12 + 12)  # seeds × (layers × T of h + T of x)
    assert all(float(r["norm"]) >= 0 for r in rows)
    assert_summaries_agree(out, {"h"}, layers=2)
    assert "bound slope log10(γσ_max)" in res.output


def assert_summaries_agree(out: Path, states: set[str], layers: int) -> None:
    """summary.csv has one row per state kind and layer (plus the input x), each with a finite slope,
    and summary.md shows the same slopes."""
    summary = read_csv(out / "summary.csv")
    assert {(r["state"], r["layer"]) for r in summary} == (
        {(s, str(d)) for s in states for d in range(1, layers + 1)} | {("x", "0")})
    md_rows = {tuple(c.strip() for c in line.strip("|").split("|")[:3])
               for line in (out / "summary.md").read_text().splitlines() if line.startswith("| ")}
    for r in summary:
        slope = float(r["slope_decades_per_step"])
        assert math.isfinite(slope)
        assert (r["state"], r["layer"], f"{slope:+.3g}") in {(a, b, c.split("±")[0]) for a, b, c in md_rows}


def test_training_records_profiles_at_the_chosen_steps(tmp_path):
    from gridlstm.train.lifecycle import start_run as train
    cfg = load_config(tiny_config(tmp_path, "lstm"), ["train.steps=4", "train.eval_every=2",
                                                      "gradients.at_steps=[0, 2]", "gradients.seeds=2"])
    summary = train(cfg, tmp_path / "runs", "cpu", argv=["test"])
    rows = read_csv(Path(summary.run_dir) / "gradients" / "profiles.csv")
    assert list(rows[0]) == ["step", "seed", "state", "layer", "t", "norm"]
    # profiles only: training's records skip gradcheck's spectrum (no prediction, no extra cost)
    assert [p.name for p in (Path(summary.run_dir) / "gradients").iterdir()] == ["profiles.csv"]
    assert sorted({int(r["step"]) for r in rows}) == [0, 2, 4]  # at_steps, then the end
    assert {r["state"] for r in rows} == {"h", "c", "x"} and {r["seed"] for r in rows} == {"0", "1"}
    assert len(rows) == 3 * 2 * (2 * 2 * 12 + 12)  # steps × seeds × (states × layers × T + x)
