"""Remedies for posterior collapse that change how training proceeds, as hapi callbacks the trainer composes.

    DecoderReset         Li et al. 2019: after `--pretrain_ae_epochs` epochs at KL weight 0 (an
                         autoencoder; the KL schedule holds the weight at 0), re-initialise the decoder
                         and the z -> state layer, keep the encoder, and start a fresh optimizer
    AggressiveInference  He et al. 2019: while it helps, update the inference network on fresh
                         batches until its loss stops falling before each decoder-only update

Free bits and BN-VAE change the objective or the network, so they live in
`models/vae.py`; the KL schedules live in `schedules.py`. Each remedy gets the run as a `RemedyHost`.
"""
import itertools
import logging
from typing import Any, Callable, Iterable, Iterator, List, Protocol

import numpy as np
import paddle
from paddle.callbacks import Callback

from ..config import ModelConfig
from ..evaluation.metrics import mutual_information
from ..models.loss import CrossEntropyWithKL
from ..models.vae import VAESeq2SeqModel, build_decoder, z_to_state_layer
from .state import TrainState

logger = logging.getLogger("paddle_vae")

# He et al.: at most 100 inner encoder steps; every 15, stop if the loss over the last 15 rose.
AGGRESSIVE_MAX_INNER = 100
AGGRESSIVE_WINDOW = 15


class RemedyHost(Protocol):
    """What the remedies ask of the run (`trainer.Trainer` implements it). `state` holds each remedy's own
    progress (decoder_reset; aggressive, aggressive_best_mi, aggressive_inner_steps), which every bundle
    saves, so that a resumed run goes on with the remedy where it was; a remedy writes no other field."""

    net: paddle.nn.Layer
    state: TrainState
    loss_fn: CrossEntropyWithKL
    optimizer: paddle.optimizer.Optimizer  # the joint one (replaced by `reset_optimizer`)

    def make_optimizer(self, parameters: List[paddle.Tensor]) -> paddle.optimizer.Optimizer: ...

    def use_optimizer(self, optimizer: paddle.optimizer.Optimizer) -> None: ...

    def reset_optimizer(self) -> None: ...

    def log_event(self, kind: str, **values: Any) -> None: ...


def decoder_parameters(net: VAESeq2SeqModel) -> List[paddle.Tensor]:
    """The generative side: the decoder and (LSTM) the z -> initial-state layer."""
    return list(net.decoder.parameters()) + (list(net.fc.parameters()) if net.fc is not None else [])


def encoder_parameters(net: VAESeq2SeqModel) -> List[paddle.Tensor]:
    """The inference side: encoder LSTM and embedding, the posterior layer and BN-VAE's shift."""
    params = list(net.encoder.parameters()) + list(net.distributed_fc.parameters())
    if getattr(net, "mean_bn", None) is not None:
        params += [p for p in net.mean_bn.parameters() if not p.stop_gradient]
    return params


def fresh_decoder_parameters(cfg: ModelConfig, seed: int) -> List[paddle.Tensor]:
    """Newly initialised decoder (and LSTM z -> state layer) parameters, in `decoder_parameters` order,
    drawn after `paddle.seed(seed)`."""
    paddle.seed(seed)
    decoder = build_decoder(cfg, cfg.latent_size)
    fc = z_to_state_layer(cfg) if cfg.decoder == "lstm" else None
    return list(decoder.parameters()) + (list(fc.parameters()) if fc is not None else [])


def reinitialize(params: List[paddle.Tensor], fresh: List[paddle.Tensor]) -> None:
    if len(params) != len(fresh):
        raise ValueError(f"{len(fresh)} fresh parameters for {len(params)}")
    for param, value in zip(params, fresh):
        param.set_value(value)


class DecoderReset(Callback):
    """At the start of epoch `pretrain_epochs`: fresh decoder weights (same initialisers) and a fresh optimizer.

    `make_fresh_decoder()` returns newly initialised decoder parameters in
    `decoder_parameters` order; `reset_optimizer()` swaps in a new optimizer.
    The trainer's state records that the reset happened, so a resumed run
    does not repeat it.
    """

    def __init__(self, trainer: RemedyHost, pretrain_epochs: int,
                 make_fresh_decoder: Callable[[], List[paddle.Tensor]]):
        super().__init__()
        self.t, self.pretrain_epochs, self.make_fresh_decoder = trainer, pretrain_epochs, make_fresh_decoder

    def on_epoch_begin(self, epoch, logs=None):
        state = self.t.state
        if state.epoch < self.pretrain_epochs or state.decoder_reset:
            return
        reinitialize(decoder_parameters(self.t.net), self.make_fresh_decoder())
        self.t.reset_optimizer()
        state.decoder_reset = True
        self.t.log_event("decoder_reset", pretrain_epochs=self.pretrain_epochs)


class AggressiveInference(Callback):
    """He et al.'s aggressive inference-network training, with its stopping rules.

    Before each training step, while aggressive: up to 100 encoder-only Adam
    steps on batches drawn afresh from the training data, stopping early when
    the mean loss of the last 15 rises; the step hapi then takes updates only
    the decoder (its optimizer is swapped for a decoder-only Adam; freezing
    parameters instead breaks the fused LSTM's backward). After each epoch the
    dev MI is measured; the first epoch it fails to rise ends the aggressive
    phase for good and training goes on as a plain VAE with the joint
    optimizer. The two phase optimizers are not in the bundles, so a run
    resumed inside the aggressive phase restarts their moments.
    """

    def __init__(self, trainer: RemedyHost, batches: Iterator, dev_mi: Callable[[], float]):
        super().__init__()
        self.t = trainer
        self.batches = batches  # an endless iterator of training batches, apart from hapi's
        self.dev_mi = dev_mi
        encoder = encoder_parameters(trainer.net)
        encoder_ids = {id(p) for p in encoder}
        decoder = [p for p in trainer.net.parameters() if id(p) not in encoder_ids and not p.stop_gradient]
        self.encoder_optimizer = trainer.make_optimizer(encoder)
        self.decoder_optimizer = trainer.make_optimizer(decoder)
        if trainer.state.aggressive is None:  # a fresh run, or one resumed from before it had the phase
            trainer.state.aggressive = True

    @property
    def active(self) -> bool:
        return bool(self.t.state.aggressive)

    def _encoder_steps(self) -> int:
        net, loss_fn = self.t.net, self.t.loss_fn
        net.train()  # hapi switches to train mode only inside its own step; the fused LSTM needs it for backward
        losses: List[float] = []
        previous = np.inf
        for i in range(AGGRESSIVE_MAX_INNER):
            src, src_length, trg, trg_length, label = next(self.batches)
            loss = loss_fn(*net(src, src_length, trg, trg_length), label)
            loss.backward()
            self.encoder_optimizer.step()
            net.clear_gradients()
            losses.append(float(loss))
            if (i + 1) % AGGRESSIVE_WINDOW == 0:
                current = float(np.mean(losses[-AGGRESSIVE_WINDOW:]))
                if current > previous:
                    break
                previous = current
        return len(losses)

    def on_train_begin(self, logs=None):
        if self.active:
            self.t.use_optimizer(self.decoder_optimizer)

    def on_train_batch_begin(self, step, logs=None):
        if self.active:
            self.t.state.aggressive_inner_steps += self._encoder_steps()

    def on_epoch_end(self, epoch, logs=None):
        state = self.t.state
        if not self.active:
            return
        mi = self.dev_mi()
        best = state.aggressive_best_mi
        if best is not None and mi <= best:
            state.aggressive = False
            self.t.use_optimizer(self.t.optimizer)
            logger.info("aggressive phase over: dev MI %.3f did not rise above %.3f", mi, best)
        else:
            state.aggressive_best_mi = mi
        self.t.log_event("aggressive", dev_mi=mi, active=bool(state.aggressive),
                         inner_steps=state.aggressive_inner_steps)


def endless_batches(loader: paddle.io.DataLoader) -> Iterator:
    """Batches from `loader` forever, reshuffled each pass (the aggressive phase's own draws)."""
    for epoch in itertools.count():
        loader.batch_sampler.set_epoch(epoch)
        yield from loader


@paddle.no_grad()
def dev_mi(net: VAESeq2SeqModel, loader: Iterable, seed: int) -> float:
    """Whole-split MI of the posterior means on `loader` (the aggressive phase's stopping signal)."""
    was_training = net.training
    net.eval()
    means, log_vars = zip(*[[t.numpy() for t in net.encode(src, src_length)]
                            for src, src_length, *_ in loader])
    if was_training:
        net.train()
    return mutual_information(np.concatenate(means).astype("float64"), np.concatenate(log_vars).astype("float64"),
                              np.random.RandomState(seed))
