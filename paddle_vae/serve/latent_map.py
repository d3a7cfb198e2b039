"""The page's latent map: a 2-D PCA plane through the posterior means of a set of sentences.

The plane (its center and two axes) goes to the page with the points, so the page itself places any later
latent code on the same map (a typed sentence's mean, the points of an interpolation path: a projection is
linear) and lifts a clicked spot back to a latent code (center + x * axis_1 + y * axis_2) to decode it.
"""
import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from ..data.reading import read_text


@dataclass
class Plane:
    center: np.ndarray  # [latent_size]
    axes: np.ndarray  # [2, latent_size], orthonormal rows
    explained_variance: List[float]  # share of the means' variance along each axis

    def project(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, dtype="float64") - self.center) @ self.axes.T


def fit_plane(means: np.ndarray) -> Plane:
    """The two directions of largest variance; a collapsed posterior (all means alike) gives a zero share."""
    means = np.asarray(means, dtype="float64")
    center = means.mean(axis=0)
    _, singular, axes = np.linalg.svd(means - center, full_matrices=False)
    # Fewer than two directions (one sentence, or latent_size 1): the missing axes are zero.
    axes = np.vstack([axes[:2], np.zeros((max(0, 2 - len(axes)), means.shape[1]))])
    axes *= np.where(axes[np.arange(2), np.abs(axes).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]  # a fixed sign
    variance = singular ** 2
    total = float(variance.sum())
    shares = [float(v / total) if total > 0 else 0.0 for v in variance[:2]] + [0.0] * max(0, 2 - len(variance))
    return Plane(center, axes, shares)


def map_answer(source: Optional[str], sentences: Sequence[str], labels: Optional[Sequence[str]],
               means: np.ndarray) -> dict:
    """The MapAnswer fields for sentences and their posterior means (rounded: the page only draws them)."""
    plane = fit_plane(means)
    xy = plane.project(means)
    points = [{"sentence": s, "label": labels[i] if labels else None, "x": round(float(xy[i, 0]), 4),
               "y": round(float(xy[i, 1]), 4), "z": [round(float(v), 5) for v in means[i]]}
              for i, s in enumerate(sentences)]
    return {"source": source, "center": plane.center.round(5).tolist(), "axes": plane.axes.round(5).tolist(),
            "explained_variance": [round(v, 4) for v in plane.explained_variance], "points": points}


def empty_map(latent_size: int) -> dict:
    return {"source": None, "center": [0.0] * latent_size, "axes": [[0.0] * latent_size] * 2,
            "explained_variance": [0.0, 0.0], "points": []}


def read_split(path: str, limit: int, fits: Callable[[str], bool]) -> Tuple[List[str], Optional[List[str]]]:
    """The first `limit` sentences of a split file that `fits` accepts, with their labels when a `.labels` file
    lies beside it (the demo corpus: `topic<TAB>tense`; the map colours points by the topic)."""
    lines = read_text(path).splitlines()
    labels_path = path[:-len(".txt")] + ".labels" if path.endswith(".txt") else None
    labels = read_text(labels_path).splitlines() if labels_path and os.path.isfile(labels_path) else None
    if labels is not None and len(labels) != len(lines):
        labels = None  # not aligned with the sentences: better no colours than wrong ones
    keep = [i for i, line in enumerate(lines) if line.strip() and fits(line)][:limit]
    return [lines[i] for i in keep], [labels[i] for i in keep] if labels is not None else None
