"""The learning-rate plateau schedule and early stopping: rewinds to the best weights, halvings, the stop."""

import numpy as np
import pytest

from conftest import TINY
from helpers import read_log


def _plateau_trainer(tmp_path, *flags):
    from paddle_vae import train

    args = train.parse_args(TINY + ["--dataset", "sample", "--model_path", str(tmp_path), "--lr_decay", "plateau",
                                    "--decay_patience", "2", *flags])
    return train.Trainer(args)


def test_lr_plateau_rewinds_to_the_best_weights_and_halves_the_rate(tmp_path):
    trainer = _plateau_trainer(tmp_path, "--max_decays", "2")
    weight = trainer.net.decoder.output_fc.weight
    trainer.record_dev(10.0, 1.0)  # best so far: saved
    best_value = weight.numpy().copy()
    lrs = []
    for nll in (11.0, 10.5):  # two epochs without a better dev NLL, weights drifting meanwhile
        weight.set_value(weight.numpy() + 1.0)
        trainer.record_dev(nll, 1.0)
        lrs.append(trainer.optimizer.get_lr())
    assert lrs[0] == pytest.approx(1e-3) and lrs[1] == pytest.approx(5e-4)
    np.testing.assert_array_equal(weight.numpy(), best_value)
    assert not trainer.control.stop
    trainer.record_dev(10.2, 1.0)
    trainer.record_dev(10.1, 1.0)  # the second plateau is the last one allowed
    assert trainer.optimizer.get_lr() == pytest.approx(2.5e-4)
    assert trainer.control.stop and trainer.model.stop_training
    decays = [r for r in read_log(tmp_path) if r["event"] == "lr_decay"]
    assert [d["rewound_to_step"] for d in decays] == [0, 0]


def test_early_stopping_ends_the_run_after_patience_epochs(tmp_path):
    trainer = _plateau_trainer(tmp_path, "--max_decays", "5", "--patience", "3")
    for nll in (10.0, 11.0, 10.5):
        trainer.record_dev(nll, 1.0)
        assert not trainer.control.stop
    trainer.record_dev(10.5, 1.0)
    assert trainer.control.stop and trainer.model.stop_training
    assert (tmp_path / "best" / "model.safetensors").is_file()


def test_plateau_rewind_reads_no_disk_and_restores_the_adam_moments(tmp_path):
    """A rank that is not rank 0 writes no best/ bundle; its in-memory copy serves the rewind."""
    trainer = _plateau_trainer(tmp_path, "--decay_patience", "1")
    trainer.is_main = False
    net, optimizer, loss_fn = trainer.net, trainer.optimizer, trainer.loss_fn

    def step():
        src, src_length, trg, trg_length, label = next(iter(trainer.corpus.loader("train", 32)))
        loss_fn(*net(src, src_length, trg, trg_length), label).backward()
        optimizer.step()
        net.clear_gradients()

    step()
    trainer.record_dev(10.0, 1.0)
    best_weights = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    best_moments = {k: v.numpy().copy() for k, v in optimizer.state_dict().items()}
    step()
    trainer.record_dev(11.0, 1.0)
    assert not (tmp_path / "best").exists()
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), best_weights[key])
    for key, value in optimizer.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), best_moments[key])
    assert optimizer.get_lr() == pytest.approx(5e-4)
