"""The library calls behind the endpoints that can share one call: sample, reconstruct, encode and decode.

Each maker returns a batch call for the worker (`worker.run_batched`): the payloads of requests with the same
options (numbers of samples, lists of sentences, lists of latent codes) in, one answer per payload out. A batch
of one is exactly the library call the request names, `generator.sample(num=3, ...)`; a batch of several is
one call over all the payloads, split back. Only requests without a seed share a call (`batch_key`): a seed
promises the same answer every time, which only the request alone gives.
"""
from typing import TYPE_CHECKING, Any, Callable, Dict, Hashable, List, Optional, Sequence

import numpy as np

if TYPE_CHECKING:  # annotations only: these calls import neither the generator nor pydantic
    from ..generator import VAEGenerator
    from .schemas import DecodeOptions, DecodeRequest, ReconstructRequest, Request, SampleRequest

DECODE_OPTIONS = ("strategy", "beam_size", "max_len", "temperature")


def decode_options(request: "DecodeOptions") -> Dict[str, Any]:
    return {name: getattr(request, name) for name in DECODE_OPTIONS}


def batch_key(operation: str, request: "Request") -> Optional[Hashable]:
    """The requests that may share a call: same operation and decoding options, and no seed."""
    if getattr(request, "seed", None) is not None:
        return None
    return (operation,) + tuple(getattr(request, name, None) for name in DECODE_OPTIONS)


def split(values: Sequence, sizes: Sequence[int]) -> List:
    out, start = [], 0
    for size in sizes:
        out.append(values[start:start + size])
        start += size
    return out


def _means_answer(means: np.ndarray) -> Dict[str, Any]:
    return {"posterior_means": means.tolist(), "norms": [float(v) for v in np.linalg.norm(means, axis=1)]}


def sample_call(generator: "VAEGenerator", request: "SampleRequest"
                ) -> Callable[[Sequence[int]], List[Dict[str, Any]]]:
    def call(nums: Sequence[int]) -> List[Dict[str, Any]]:
        sentences = generator.sample(num=sum(nums), seed=request.seed, progress=False, **decode_options(request))
        return [{"sentences": part} for part in split(sentences, nums)]
    return call


def reconstruct_call(generator: "VAEGenerator", request: "ReconstructRequest"
                     ) -> Callable[[Sequence[List[str]]], List[Dict[str, Any]]]:
    """The batch call behind /reconstruct: every request's sentences encoded and decoded as one call, split back
    per request; each answer has the posterior means and their norms besides the reconstructions."""
    def call(groups: Sequence[List[str]]) -> List[Dict[str, Any]]:
        sizes = [len(group) for group in groups]
        means = generator.encode([s for group in groups for s in group])
        out = generator.decode(means, seed=request.seed, progress=False, **decode_options(request))
        return [dict(_means_answer(m), reconstructions=r) for m, r in zip(split(means, sizes), split(out, sizes))]
    return call


def encode_call(generator: "VAEGenerator") -> Callable[[Sequence[List[str]]], List[Dict[str, Any]]]:
    def call(groups: Sequence[List[str]]) -> List[Dict[str, Any]]:
        means = generator.encode([s for group in groups for s in group])
        return [_means_answer(m) for m in split(means, [len(group) for group in groups])]
    return call


def decode_call(generator: "VAEGenerator", request: "DecodeRequest"
                ) -> Callable[[Sequence[List[List[float]]]], List[Dict[str, Any]]]:
    def call(groups: Sequence[List[List[float]]]) -> List[Dict[str, Any]]:
        z = np.asarray([row for group in groups for row in group], dtype="float32")
        out = generator.decode(z, seed=request.seed, progress=False, **decode_options(request))
        return [{"sentences": part} for part in split(out, [len(group) for group in groups])]
    return call
