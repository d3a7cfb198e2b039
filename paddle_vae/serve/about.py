"""What a bundle records about itself: its config, its training summary and its evaluations (GET /info).

A run folder written by `paddle_vae.train` (and the experiments runner) looks like

    RUN/best/config.json          the served bundle: the model's config and the training flags
    RUN/train_summary.json        steps, epochs, and the final/best bundles' metrics when --final_eval ran
    RUN/eval_500.json             `paddle_vae.evaluate --output_json`: KL, MI, active units, NLL; its
                                  "checkpoint" names the bundle it evaluated

The page shows one headline from these (decoder, KL, active units), so a user knows whether z carries anything
before reading its samples. Nothing here imports Paddle.
"""
import glob
import json
import os
from typing import Any, Dict, List, Optional

from ..data.corpus import SAMPLE_DIR, SPLIT_FILES

SUMMARY_FILE = "train_summary.json"
HEADLINE_KEYS = ("nll_elbo", "nll_iw", "kl", "mi", "au", "bleu_greedy")


def _read_json(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError):  # absent, unreadable or cut short: the bundle just records less
        return None
    return value if isinstance(value, dict) else None


def _name(path: str) -> str:
    return os.path.basename(os.path.normpath(path))


def hide_paths(value: Any) -> Any:
    """Absolute paths reduced to their last part: /info is for clients, the server's folders are not theirs."""
    if isinstance(value, dict):
        return {k: hide_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hide_paths(v) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        return _name(value)
    return value


def evaluations(bundle_dir: str) -> List[Dict[str, Any]]:
    """The `evaluate --output_json` files beside the bundle (or in it) that evaluated this bundle."""
    found = []
    for folder in (os.path.dirname(os.path.normpath(bundle_dir)), bundle_dir):
        for path in sorted(glob.glob(os.path.join(folder, "eval*.json"))):
            metrics = _read_json(path)
            if metrics and _name(str(metrics.get("checkpoint", ""))) == _name(bundle_dir):
                found.append(dict(metrics, file=os.path.basename(path)))
    return found


def headline(config: Dict[str, Any], summary: Optional[Dict[str, Any]], evals: List[Dict[str, Any]],
             bundle_name: str) -> Dict[str, Any]:
    """Decoder, sizes, and KL / active units / NLL from the best source at hand, which it names."""
    out = {"model": config.get("model", "vae"), "decoder": config.get("decoder", "lstm"),
           "latent_size": config.get("latent_size"), "vocab_size": config.get("vocab_size"),
           "dataset": config.get("train_args", {}).get("dataset") or config.get("dataset")}
    if summary:
        out.update(steps=summary.get("steps"), epochs=summary.get("epochs"))
    metrics, source = None, None
    if evals:  # the most importance samples: the tightest NLL
        metrics = max(evals, key=lambda e: e.get("iw_samples", 0))
        source = f"{metrics['file']} ({metrics.get('split', '?')} split)"
    elif summary and isinstance(summary.get(bundle_name), dict):
        per_split = summary[bundle_name]
        split = "test" if "test" in per_split else next(iter(per_split), None)
        if split:
            metrics, source = per_split[split], f"{SUMMARY_FILE}, {bundle_name} bundle, {split} split"
    if metrics:
        out.update({k: metrics[k] for k in HEADLINE_KEYS if k in metrics}, source=source)
    return out


def describe_bundle(config: Dict[str, Any], bundle_dir: Optional[str]) -> Dict[str, Any]:
    """Everything /info shows about the model: config, training flags, summary, evaluations and a headline."""
    summary = _read_json(os.path.join(os.path.dirname(os.path.normpath(bundle_dir)), SUMMARY_FILE)
                         ) if bundle_dir else None
    evals = evaluations(bundle_dir) if bundle_dir else []
    about = {"model": {k: v for k, v in config.items() if k != "train_args"},
             "train_args": config.get("train_args", {}), "training": summary, "evaluation": evals,
             "headline": headline(config, summary, evals, _name(bundle_dir) if bundle_dir else "")}
    return hide_paths(about)


def test_split_file(config: Dict[str, Any]) -> Optional[str]:
    """The bundle's test split as a file, when its corpus is at hand (the demo corpus always is)."""
    train_args = config.get("train_args", {})
    dataset = train_args.get("dataset") or config.get("dataset")
    data_dir = train_args.get("data_dir") or (str(SAMPLE_DIR) if dataset == "sample" else None)
    if dataset not in SPLIT_FILES or not data_dir:
        return None  # e.g. PTB fetched through paddlenlp: its cache is not ours to search
    path = os.path.join(data_dir, SPLIT_FILES[dataset]["test"])
    return path if os.path.isfile(path) else None
