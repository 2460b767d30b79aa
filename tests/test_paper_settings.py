"""The published papers' own training settings as config keys: Glorot-uniform init, no input
projection, RMSProp's decay, element-wise clipping and a fixed training set (Arjovsky, Shah &
Bengio 2016's code), each checked against its definition."""
from __future__ import annotations

import math

import pytest
import torch

from gridlstm.config import ModelConfig, build_config
from gridlstm.errors import ConfigError
from gridlstm.nn.model import RecurrentModel, count_parameters
from gridlstm.train.trainer import Trainer

from .test_resume import assert_same_run, interrupted_run, resume, train

CPU = torch.device("cpu")


def make(**model) -> RecurrentModel:
    torch.manual_seed(0)
    return RecurrentModel(ModelConfig(**model), 2, 1)


def test_glorot_draws_every_matrix_within_its_own_bound():
    m = make(kind="lstm", hidden=128, layers=1, init="glorot", input_projection=False)
    W = m.cell.transform.weight[0].detach()                    # (2 + 128, 4·128)
    for k in range(4):
        for rows, fan_in in ((slice(0, 2), 2), (slice(2, None), 128)):
            block = W[rows, k * 128:(k + 1) * 128]
            bound = math.sqrt(6 / (fan_in + 128))
            assert block.abs().max() <= bound
            assert block.abs().max() > 0.9 * bound            # uniform: reaches near the bound
            assert block.var().item() == pytest.approx(bound ** 2 / 3, rel=0.2 if fan_in == 2 else 0.05)
    assert math.sqrt(6 / 256) == pytest.approx(0.153, abs=1e-3)  # the ±0.153 of a 128 × 128 matrix
    r = m.readout.weight.detach()
    assert r.abs().max() <= math.sqrt(6 / 129)
    assert m.cell.transform.bias[0, 0, 128:256].eq(1.0).all()  # the forget bias is kept
    default = make(kind="lstm", hidden=128, layers=1)
    assert default.cell.transform.weight.abs().max() <= 1 / math.sqrt(128) < math.sqrt(6 / 256)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("schedule", ["layerwise", "wavefront"])
def test_without_a_projection_the_cell_reads_the_task_input_as_torch_does(kind, schedule):
    H, n_in = 6, 2
    m = make(kind=kind, hidden=H, layers=1, input_projection=False, schedule=schedule).double()
    gates = 4 if kind == "lstm" else 1
    assert count_parameters(m) == gates * H * (n_in + H) + gates * H + H + 1   # cell + readout, no P
    ref = (torch.nn.LSTM if kind == "lstm" else torch.nn.RNN)(n_in, H, batch_first=True).double()
    W, b = m.cell.transform.layer_weight(0)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(W[:n_in].T)
        ref.weight_hh_l0.copy_(W[n_in:].T)
        ref.bias_ih_l0.copy_(b)
        ref.bias_hh_l0.zero_()
    x = torch.randn(3, 7, n_in, dtype=torch.float64)
    torch.testing.assert_close(m.features(x), ref(x)[0], rtol=1e-10, atol=1e-12)


def config(**train):
    return build_config({"name": "s", "seed": 3, "task": {"name": "adding", "length": 6},
                         "model": {"kind": "lstm", "hidden": 5, "layers": 1},
                         "train": {"steps": 30, "batch_size": 8, "eval_every": 10, "eval_batches": 1,
                                   "log_every": 1, "checkpoint_every": 7, "early_stop": False, **train}})


def test_rmsprop_alpha_is_the_decay_of_the_squared_gradient_average():
    t = Trainer(config(optimizer="rmsprop", rmsprop_alpha=0.9, clip_norm=0), CPU)
    assert t.optimizer.param_groups[0]["alpha"] == 0.9
    t.train_step()
    for p in t.model.parameters():   # after one step: v = (1 − α)·g²
        torch.testing.assert_close(t.optimizer.state[p]["square_avg"], 0.1 * p.grad ** 2)


def test_clip_value_bounds_every_gradient_element():
    t = Trainer(config(clip_value=1e-3, clip_norm=0), CPU)
    t.train_step()
    grads = torch.cat([p.grad.flatten() for p in t.model.parameters()])
    assert grads.abs().max() <= 1e-3 and (grads.abs() == 1e-3).any()
    t = Trainer(config(clip_norm=0), CPU)
    t.train_step()
    assert max(p.grad.abs().max() for p in t.model.parameters()) > 1e-3   # it was clipping


def test_a_fixed_training_set_is_sampled_once_and_visited_once_per_epoch():
    t = Trainer(config(train_set=20), CPU)
    data = t.train_data
    assert data.x.shape == (20, 6, 2)
    seen = torch.cat([data.indices(s) for s in range(5)])          # 40 examples: two epochs
    assert sorted(seen[:20].tolist()) == list(range(20)) == sorted(seen[20:].tolist())
    assert seen[:20].tolist() != seen[20:].tolist()                # each epoch in a fresh order
    x, y = data.batch(2)
    assert torch.equal(x, data.x[data.indices(2)]) and torch.equal(y, data.y[data.indices(2)])
    assert torch.equal(Trainer(config(train_set=20), CPU).train_data.x, data.x)   # from the seed


@pytest.mark.slow
def test_a_fixed_training_set_resumes_exactly(tmp_path):
    cfg = config(train_set=20)
    reference = train(cfg, tmp_path / "ref", "cpu", argv=["test"])
    run_dir = interrupted_run(cfg, tmp_path / "cut", 11)
    assert resume(run_dir, device="cpu", argv=["test"]).status == "completed"
    assert_same_run(run_dir, type(run_dir)(reference.run_dir))


@pytest.mark.parametrize("data, message", [
    ({"train": {"optimizer": "adam", "rmsprop_alpha": 0.9}}, "train.rmsprop_alpha applies only to train.optimizer rmsprop"),
    ({"model": {"kind": "grid", "input_projection": False}}, "model.input_projection false needs model.layers 1"),
    ({"model": {"kind": "lstm", "layers": 2, "input_projection": False}}, "model.kind rnn|lstm"),
    ({"model": {"kind": "gru", "init": "glorot"}}, "model.init glorot applies only to"),
    ({"train": {"clip_value": -1}}, "train.clip_value"),
])
def test_the_settings_refuse_what_they_cannot_mean(data, message):
    with pytest.raises(ConfigError) as e:
        build_config(data)
    assert message in str(e.value)
