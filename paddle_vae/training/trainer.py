"""The training recipe: data -> model -> CrossEntropyWithKL + Adam(clip) -> paddle.Model.fit -> bundles.

`Trainer` composes the pieces (callbacks, remedies, the plateau rule, the run
folder) into one run; `paddle_vae.train` is its command line.

Randomness (dropout, z samples) is reseeded from (seed, global step) before
every step, and batch order from (seed, epoch), so a run resumed from any
bundle replays exactly what an uninterrupted run would have done.
"""
import logging
import math
import os
from typing import Any, Dict, List, Optional

import paddle
from paddle.callbacks import Callback

from ..bundle import load_optimizer, load_weights, read_bundle
from ..optimizer_state import MemoryBundle
from .callbacks import BoundedLoader, StopOnSignals, TrainControl, TrainingDiverged, VAEProgBar, VAETrainCallback
from ..data.corpus import Corpus, load_and_encode, vocab_from_tokens, vocab_tokens
from ..errors import CheckpointError
from ..models.loss import CrossEntropyWithKL, HapiLoss, NegativeLogLoss, Perplexity
from ..evaluation.metrics import evaluate_loader
from ..config import ModelConfig
from ..models.networks import build_network
from ..models.vae import TrainingOptions
from .schedules import make_adam, use_optimizer
from .state import PlateauRule
from .run_dir import RunDir, restore_before_resume
from .remedies import AggressiveInference, DecoderReset, dev_mi, endless_batches, fresh_decoder_parameters
from .schedules import build_kl_schedule
from .state import TrainState

logger = logging.getLogger("paddle_vae")

# --final_eval: the splits the end-of-training summary evaluates the final and best bundles on.
FINAL_EVAL_SPLITS = {"none": (), "dev": ("valid",), "test": ("test",), "both": ("valid", "test")}


class Trainer:
    """One training from `paddle_vae.train`'s flags: the data, network, loss and Adam built (or resumed) for `fit`."""

    def __init__(self, args):
        self.args = args
        self.rank = paddle.distributed.get_rank()
        self.world_size = paddle.distributed.get_world_size()
        self.run_dir = RunDir(args.model_path, writes=self.rank == 0)  # rank 0 alone writes the folder
        self.control = TrainControl(args.max_steps)
        self.stopped_by: Optional[str] = None  # plateau / patience, when the dev rule ended the run
        self.best_copy: Optional[MemoryBundle] = None  # every rank's own copy of the best-dev state
        self.state = TrainState()
        self.plateau = PlateauRule.from_args(args)
        resume = self._read_resume_bundle()
        self.corpus: Corpus = load_and_encode(args, vocab=resume[0] if resume else None)
        vocab = self.corpus.vocab
        self.model_config = ModelConfig.from_args(args, len(vocab), self.corpus.pad_id, self.corpus.bos_id,
                                                  self.corpus.eos_id, vocab.unk_token)
        self.net = build_network(self.model_config, TrainingOptions(
            args.decoder_impl, args.word_dropout, vocab.to_indices(vocab.unk_token), args.free_bits, args.fb_mode))
        self.steps_per_epoch = len(self.corpus.loader("train", args.batch_size))
        anneal_r = 1.0 / (args.warm_up * self.corpus.num_train_sentences / args.batch_size)
        schedule = build_kl_schedule(args.kl_schedule, kl_start=args.kl_start, anneal_r=anneal_r,
                                     total_steps=args.max_epoch * self.steps_per_epoch, cycles=args.kl_cycles,
                                     ramp=args.kl_ramp, pretrain_steps=args.pretrain_ae_epochs * self.steps_per_epoch,
                                     logistic_k=args.kl_logistic_k, logistic_x0=args.kl_logistic_x0)
        self.loss_fn = CrossEntropyWithKL(args.kl_start, anneal_r, schedule)
        self.optimizer = self.make_optimizer()
        if resume:
            self._restore(*resume[1:])
        self.model = paddle.Model(self.net)
        self.hapi_loss = HapiLoss(self.loss_fn)  # the loss as hapi calls it; its `terms` feed metrics and log
        self.metrics = [Perplexity(self.hapi_loss), NegativeLogLoss(self.hapi_loss)]
        self.model.prepare(self.optimizer, self.hapi_loss, self.metrics)

    @property
    def is_main(self) -> bool:
        """Rank 0, which writes the run folder (one flag: the run folder's)."""
        return self.run_dir.writes

    @is_main.setter
    def is_main(self, value: bool) -> None:
        self.run_dir.writes = value

    def make_optimizer(self, parameters: Optional[List[paddle.Tensor]] = None) -> paddle.optimizer.Optimizer:
        """The recipe's Adam over `parameters` (default: the whole network)."""
        return make_adam(self.net.parameters() if parameters is None else parameters, self.args.learning_rate,
                         self.args.max_grad_norm)

    def use_optimizer(self, optimizer: paddle.optimizer.Optimizer) -> None:
        """Let hapi's next steps use `optimizer` (the aggressive phase's decoder-only one, or back to ours)."""
        use_optimizer(self.model, optimizer, self.hapi_loss, self.metrics)

    def reset_optimizer(self) -> None:
        """A fresh Adam (moments and rate), as Li et al. start their VAE phase."""
        self.optimizer = self.make_optimizer()
        self.use_optimizer(self.optimizer)

    def remedy_callbacks(self) -> List[Callback]:
        """The recipe's training-procedure remedies (schedules and objectives live in the loss and the model)."""
        args, callbacks = self.args, []
        if args.pretrain_ae_epochs:
            callbacks.append(DecoderReset(self, args.pretrain_ae_epochs,
                                          lambda: fresh_decoder_parameters(self.model_config, args.seed + 7)))
        if args.aggressive:
            loader = self.corpus.loader("train", args.batch_size, shuffle=True, seed=args.seed + 1,
                                        num_replicas=self.world_size, rank=self.rank)
            dev = self.corpus.loader("valid", args.batch_size)
            callbacks.append(AggressiveInference(self, endless_batches(loader),
                                                 lambda: dev_mi(self.net, dev, args.seed)))
        return callbacks

    # -- what the training callback reports (callbacks.TrainingRun) ------------
    @property
    def global_step(self) -> int:
        return self.state.global_step

    def count_step(self, loss: float, tokens: int, seconds: float) -> None:
        self.state.count_step(loss, tokens, seconds)
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss} at step {self.state.global_step}; the newest bundle in "
                f"{self.args.model_path} is the last good one (try a lower --learning_rate or --max_grad_norm)")

    def after_step(self) -> None:
        step, save_steps = self.state.global_step, self.args.save_steps
        if save_steps and step % save_steps == 0:
            self.save_step_bundle()
        if self.control.max_steps is not None and step >= self.control.max_steps:
            self.control.request_stop(self.model)
        self.control.stop_on_signal(self)

    def finish_epoch(self) -> None:
        self.state.finish_epoch(self.steps_per_epoch)
        if self.world_size > 1 and not self.control.bundle_written:
            # hapi's eval all-gathers outputs, which packed logits of unequal length cannot do; every rank
            # holds the same weights, so each evaluates dev itself and all reach the same decisions.
            metrics = evaluate_loader(self.net, self.corpus.loader("valid", self.args.batch_size), seed=self.args.seed)
            self.dev_done(metrics["nll_elbo"], metrics["ppl_elbo"])

    def dev_done(self, dev_nll: float, dev_ppl: float) -> None:
        """A signal during the dev pass let it finish: record it, then write step_N and stop, so a resumed
        run's best/, plateau count and LR are the uninterrupted run's. After that bundle nothing counts."""
        if not self.control.bundle_written:
            self.record_dev(dev_nll, dev_ppl)
            self.control.stop_on_signal(self)

    def lr(self) -> float:
        return self.optimizer.get_lr()

    def record_dev(self, dev_nll: float, dev_ppl: float) -> None:
        """After each epoch's dev pass: log, keep the best bundle, decay the LR on a plateau, stop early."""
        state = self.state
        self.log_event("epoch", dev_nll=dev_nll, dev_ppl=dev_ppl, epoch=state.epoch,
                       train_tokens_per_s=state.train_tokens / max(state.train_seconds, 1e-9))
        verdict = self.plateau.judge(state, dev_nll)
        if verdict.improved:
            self.best_copy = MemoryBundle(self.net, self.optimizer)
            self.save("best")
            return
        if verdict.decay:
            self.decay_on_plateau()
        for reason, message in verdict.stops:
            logger.info("%s", message)
            self.stopped_by = reason
            self.control.request_stop(self.model)

    def decay_on_plateau(self) -> None:
        """Rewind to the best-dev weights and optimizer state and go on at a lower LR.

        Without the rewind the lower rate starts from weights that have
        already drifted past the best point for `--decay_patience` epochs.
        """
        new_lr = self.optimizer.get_lr() * self.plateau.decay_factor
        if self.best_copy is not None:
            self.best_copy.restore(self.net, self.optimizer)
        else:  # resumed, and dev has not improved since: the best bundle on this machine's disk
            best = self.run_dir.bundle_path("best")
            load_weights(self.net, read_bundle(best, max_bytes=None)[2], best)  # its own: no budget
            load_optimizer(self.optimizer, best, self.net)
        self.optimizer.set_lr(new_lr)
        self.log_event("lr_decay", lr=new_lr, rewound_to_step=self.state.best_step)

    # -- checkpoints ------------------------------------------------------------
    def _read_resume_bundle(self):
        if not self.args.init_from_ckpt:
            return None
        if self.rank == 0:
            restore_before_resume(self.args.model_path, self.args.init_from_ckpt)
        budget = self.args.max_bundle_mb * 2 ** 20  # --max_bundle_mb: what the bundle may declare
        config, tokens, state_dict, train_state = read_bundle(self.args.init_from_ckpt, budget)
        mismatched = ModelConfig.from_args(self.args, 0, 0, 0, 0, "").shape_mismatches(ModelConfig.from_bundle(config))
        if mismatched:
            raise CheckpointError(f"checkpoint {self.args.init_from_ckpt} does not match the flags: "
                                  + ", ".join(mismatched))
        return vocab_from_tokens(tokens, config["unk_token"]), config, state_dict, train_state

    def _restore(self, config, state_dict, train_state) -> None:
        path = self.args.init_from_ckpt
        if len(self.corpus.vocab) != config["vocab_size"]:
            raise CheckpointError(f"checkpoint {path} vocabulary ({config['vocab_size']}) does not fit the data")
        load_weights(self.net, state_dict, path)
        if self.args.finetune or train_state is None:
            logger.info("loaded weights from %s; starting a fresh schedule", path)
            return
        load_optimizer(self.optimizer, path, self.net)
        self.state = TrainState.from_json(train_state)
        self.optimizer.set_lr(train_state["lr"])
        logger.info("resuming from %s at step %d (epoch %d, batch %d)", path, self.state.global_step,
                    self.state.epoch, self.state.batch_in_epoch)

    def config(self) -> Dict[str, Any]:
        """config.json: the network's ModelConfig, plus the dataset and every training flag for the record."""
        return dict(self.model_config.to_json(), dataset=self.args.dataset,
                    train_args={k: v for k, v in vars(self.args).items() if k != "init_from_ckpt"})

    def save(self, name: str) -> Optional[str]:
        """Bundle MODEL_PATH/name of the current weights, Adam state and `TrainState` (rank 0 only)."""
        return self.run_dir.save(name, self.net, self.config(), vocab_tokens(self.corpus.vocab), self.optimizer,
                                 self.state.to_json(self.optimizer.get_lr()))

    def save_step_bundle(self) -> None:
        self.save(f"step_{self.state.global_step}")
        self.run_dir.keep_newest_steps(self.args.keep_last)

    def log_event(self, kind: str, **values) -> None:
        """A train_log.jsonl record at the current step and epoch (`values` may name another epoch)."""
        self.run_dir.log(kind, {"step": self.state.global_step, "epoch": self.state.epoch, **values})

    # -- the recipe -----------------------------------------------------------
    def fit(self) -> Dict[str, Any]:
        """Train to the flags' end, then write final/ and the summary; after a signal, a step bundle and only
        {"interrupted": ...}, so the rerun resumes instead of finding a finished run."""
        args, state = self.args, self.state
        self.run_dir.create()
        train_loader = self.corpus.loader("train", args.batch_size, shuffle=True, seed=args.seed,
                                          num_replicas=self.world_size, rank=self.rank)
        train_loader.batch_sampler.set_epoch(state.epoch, state.batch_in_epoch)  # a resumed run skips what ran
        dev_loader = self.corpus.loader("valid", args.batch_size)
        remaining_epochs = args.max_epoch - state.epoch
        if args.max_steps is not None and state.global_step >= args.max_steps or remaining_epochs <= 0:
            logger.info("nothing to train: step %d / epoch %d already reached", state.global_step, state.epoch)
        else:
            step_log = VAETrainCallback(self, self.hapi_loss, args.seed, args.log_freq, self.world_size,
                                        log_kl_objective=args.free_bits > 0)
            callbacks = [step_log, *self.remedy_callbacks(),
                         VAEProgBar(log_freq=args.log_freq, verbose=2 if self.is_main else 0, first_epoch=state.epoch)]
            if args.use_visualdl and self.is_main:
                callbacks.append(paddle.callbacks.VisualDL(log_dir=os.path.join(args.model_path, "visualdl")))
            with StopOnSignals(self.control):
                control = self.control
                eval_data = None if self.world_size > 1 else BoundedLoader(
                    dev_loader, lambda: control.bundle_written)
                self.model.fit(BoundedLoader(train_loader, lambda: control.stop), eval_data,
                               epochs=remaining_epochs, log_freq=args.log_freq, save_dir=None, verbose=0,
                               callbacks=callbacks)
        if self.control.signal_name is not None:
            self.control.stop_on_signal(self)  # a signal after the last dev pass has written nothing yet
            logger.info("stopped by %s at step %d; bundle written to %s", self.control.signal_name,
                        state.global_step, self.run_dir.bundle_path(f"step_{state.global_step}"))
            return {"interrupted": self.control.signal_name, "steps": state.global_step}
        self.save("final")
        if state.best_step is None:  # no dev pass ran (e.g. --max_steps inside the first epoch)
            self.save("best")
        return self.summarize()

    def summarize(self) -> Dict[str, Any]:
        """Metrics of the final and the best-dev model on the splits --final_eval names, to train_summary.json.

        --final_eval none / --final_eval_sentences bound what a short run spends evaluating.
        """
        args, state = self.args, self.state
        summary = {"steps": state.global_step, "epochs": state.epoch + state.batch_in_epoch / max(
            self.steps_per_epoch, 1), "last_loss": state.last_loss, "train_seconds": state.train_seconds,
                   "train_tokens": state.train_tokens, "best_step": state.best_step,
                   "steps_per_epoch": self.steps_per_epoch, "final_eval": args.final_eval,
                   "final_eval_sentences": args.final_eval_sentences, "stopped_by": self.stop_reason()}
        if not self.is_main:
            return summary
        splits = FINAL_EVAL_SPLITS[args.final_eval]
        for name in ("final", "best") if splits else ():
            if name == "best":
                _, _, best_weights, _ = read_bundle(self.run_dir.bundle_path("best"), max_bytes=None)
                load_weights(self.net, best_weights, "best")
            summary[name] = {split: evaluate_loader(self.net, self._final_eval_loader(split),
                                                    args.eval_iw_samples, args.seed) for split in splits}
        # Top-level dev/test are the final model's, as the summary asks.
        for key, split in (("dev", "valid"), ("test", "test")):
            if split in splits:
                summary[key] = summary["final"][split]
        self.run_dir.write_summary(summary)
        if "test" in splits:
            logger.info("final test: nll %.3f ppl %.3f kl %.3f | best-dev model test: nll %.3f ppl %.3f",
                        summary["test"]["nll_elbo"], summary["test"]["ppl_elbo"], summary["test"]["kl"],
                        summary["best"]["test"]["nll_elbo"], summary["best"]["test"]["ppl_elbo"])
        return summary

    def stop_reason(self) -> str:
        """Why training ended: plateau (--max_decays reached), patience, max_steps or max_epoch."""
        if self.stopped_by:
            return self.stopped_by
        if self.args.max_steps is not None and self.state.global_step >= self.args.max_steps:
            return "max_steps"
        return "max_epoch"

    def _final_eval_loader(self, split: str):
        """The split, or its first --final_eval_sentences sentences."""
        corpus, cap = self.corpus, self.args.final_eval_sentences
        if cap is not None:
            corpus = Corpus({split: corpus.splits[split][:cap]}, corpus.vocab)
        return corpus.loader(split, self.args.batch_size)
