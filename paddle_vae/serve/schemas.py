"""Request and answer models of the JSON API: the fields are `VAEGenerator`'s parameters, with its defaults.

`POST /sample {"num": 3, "strategy": "greedy"}` reads as `vae.sample(num=3, strategy="greedy")`. The models
are strict (no "5" for 5, no unknown field, so a misspelt `temprature` is an error instead of being ignored) and
reject what no model could run: a NaN or negative temperature, an empty list, a latent code of the wrong size.
How much a request may ask for is `limits.py`'s business.
"""
from typing import Annotated, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

# `paddle_vae.models.decoding.STRATEGIES`, spelt out so that the OpenAPI page lists them; test_serve checks
# that the two agree.
Strategy = Literal["sampling", "greedy", "beam"]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Sentences = Field(min_length=1, description="raw sentences, tokenised as the bundle's corpus was")


class Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class DecodeOptions(Request):
    strategy: Strategy = "greedy"
    beam_size: int = Field(4, ge=1)
    max_len: int = Field(50, ge=1, description="tokens per decoded sentence")
    temperature: float = Field(1.0, gt=0, allow_inf_nan=False)
    seed: Optional[int] = Field(None, ge=0, lt=2 ** 32, description="the same seed gives the same answer")


class SampleRequest(DecodeOptions):
    num: int = Field(10, ge=1)
    strategy: Strategy = "sampling"


class ReconstructRequest(DecodeOptions):
    sentences: List[str] = Sentences


class DecodeRequest(DecodeOptions):
    latent_z: List[List[FiniteFloat]] = Field(min_length=1, description="latent codes, one row of latent_size each")


class InterpolateRequest(Request):
    """`VAEGenerator.interpolate` has no temperature: the path is decoded as it is asked for."""
    sentence_a: str = Field(min_length=1)
    sentence_b: str = Field(min_length=1)
    steps: int = Field(5, ge=2)
    strategy: Strategy = "greedy"
    beam_size: int = Field(4, ge=1)
    max_len: int = Field(50, ge=1)
    seed: Optional[int] = Field(None, ge=0, lt=2 ** 32)


class EncodeRequest(Request):
    sentences: List[str] = Sentences


class ScoreRequest(Request):
    sentences: List[str] = Sentences
    iw_samples: int = Field(100, ge=1)
    seed: Optional[int] = Field(1, ge=0, lt=2 ** 32)


class MapRequest(Request):
    sentences: List[str] = Field(min_length=3, description="the sentences to place on the map (3 or more)")


# -- answers ---------------------------------------------------------------------------------------------------
class SentencesAnswer(BaseModel):
    sentences: List[str]


class EncodeAnswer(BaseModel):
    posterior_means: List[List[float]]
    norms: List[float] = Field(description="Euclidean norm of each posterior mean")


class ReconstructAnswer(EncodeAnswer):
    reconstructions: List[str]


class InterpolateAnswer(BaseModel):
    sentences: List[str] = Field(description="the path from sentence_a to sentence_b, `steps` sentences")
    posterior_means: List[List[float]] = Field(description="the posterior means of sentence_a and sentence_b")


class ScoreAnswer(BaseModel):
    nll: List[float] = Field(description="per-sentence negative log-likelihood in nats (importance sampled)")


class MapPoint(BaseModel):
    sentence: str
    label: Optional[str] = None
    x: float
    y: float
    z: List[float] = Field(description="the posterior mean the point stands for")


class MapAnswer(BaseModel):
    source: Optional[str] = Field(description="where the sentences come from; null when the map is empty")
    center: List[float] = Field(description="the plane's origin: a latent code z projects to (z - center) @ axes.T")
    axes: List[List[float]]
    explained_variance: List[float] = Field(description="share of the means' variance along each axis")
    points: List[MapPoint]
