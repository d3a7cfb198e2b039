"""`create_app(generator, limits)`: the FastAPI application around one loaded `VAEGenerator`.

Every answer is JSON with a one-sentence `detail` on failure, never a traceback:
- 422: the request is malformed or asks for more than the limits (`schemas.py`, `limits.py`);
- 400: the library refused it (a `UsageError`, or another `ValueError` it raises: an empty sentence, a
  max_len past a Transformer's positions), or the bundle is a language model and the operation needs a latent
  space;
- 413: the body is over --max_body_bytes;
- 503 with Retry-After: the model is busy past --max_waiting, or the request ran past --request_timeout.
The model runs on one worker thread (`worker.py`), where like requests waiting together share one library call
(`operations.py`); the handlers only check requests and wait for their answers.
"""
import logging
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Sequence

import paddle
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse

from .. import __version__, runtime
from ..errors import PaddleVAEError
from ..evaluation.metrics import active_units
from ..evaluation.row_cap import is_lm
from . import operations as ops
from . import schemas as s
from .about import describe_bundle, test_split_file
from .latent_map import empty_map, map_answer, read_split
from .limits import Limits, over_limit
from .worker import Busy, ModelWorker

if TYPE_CHECKING:  # annotations only: the command loads the generator and hands it over
    from ..generator import VAEGenerator

logger = logging.getLogger("paddle_vae")
LATENT_OPERATIONS = ("reconstruct", "interpolate", "encode", "decode", "map")
# The page loads nothing from elsewhere; the browser is told to refuse anything that would.
PAGE_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
               "img-src data:")


class RequestProblem(Exception):
    """A request this server will not run, with its HTTP status and one sentence saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def validation_sentence(errors: Sequence[Dict[str, Any]]) -> str:
    """Pydantic's list of problems as one sentence: the first, where it is, and how many more there are."""
    if not errors:
        return "the request is not valid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    if first.get("type") == "json_invalid":
        text = "the request body is not valid JSON"
    elif not where and first.get("type") == "missing":
        text = "the request needs a JSON body"
    elif not where and first.get("type") in ("dict_type", "model_attributes_type"):
        text = "the request body must be a JSON object, sent with Content-Type: application/json"
    else:
        text = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid request")
    more = len(errors) - 1
    return text + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` is answered 413 before the app reads it as JSON."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        messages, size = [], 0
        while True:  # read it all (at most max_bytes), then hand it on
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
            if not message.get("more_body"):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send):
        response = JSONResponse({"detail": f"the request body is over {self.max_bytes} bytes (--max_body_bytes)"},
                                status_code=413)
        await response(scope, receive, send)


def _test_split_map(generator, worker: ModelWorker, limit: int, fits: Callable[[str], bool]):
    """(the map, its /info entry) for the first `limit` sentences of the bundle's test split, or None when its
    corpus is not at hand. The active units counted here tell the page whether z carries anything even when
    the bundle records no evaluation."""
    split = test_split_file(generator.config)
    if not split:
        return None
    try:
        sentences, labels = read_split(split, limit, fits)
    except PaddleVAEError as exc:
        logger.warning("no latent map from the test split: %s", exc)
        return None
    if len(sentences) < 3:
        return None
    means = worker.call(lambda: generator.encode(sentences))
    dataset = generator.config.get("train_args", {}).get("dataset", "?")
    source = f"the first {len(sentences)} sentences of the test split ({dataset})"
    return (map_answer(source, sentences, labels, means),
            {"source": source, "sentences": len(sentences), "active_units": active_units(means)})


def create_app(generator: "VAEGenerator", limits: Optional[Limits] = None, bundle_dir: Optional[str] = None,
               num_threads: Optional[int] = None, cors_origins: Sequence[str] = (),
               map_sentences: int = 500) -> FastAPI:
    """The app serving `generator` (a `VAEGenerator`, VAE or LM) within `limits`.

    `bundle_dir` is where the bundle was read from: /info then also shows its run's training summary and
    evaluations, and the map starts from its test split. `num_threads` is Paddle's thread count on the model's
    thread; `cors_origins` (none by default) may call the API from other pages."""
    limits = limits or Limits()
    language_model = is_lm(generator.net)
    worker = ModelWorker(limits.max_waiting, limits.request_timeout,
                         thread_init=(lambda: runtime.set_threads(num_threads)) if num_threads else None)

    def count_tokens(sentence: str) -> int:
        return len(generator.tokenize(sentence))

    def library(call: Callable[..., Any]) -> Callable[..., Any]:
        """The call, with the library's refusals turned into a 400."""

        def run(*args):
            try:
                return call(*args)
            except (PaddleVAEError, ValueError) as exc:  # anything else is a bug: a 500, logged with its trace
                raise RequestProblem(400, _first_line(exc)) from None

        return run

    def require_latent(operation: str) -> None:
        if language_model:
            raise RequestProblem(400, f"this bundle is a language model (--model lm) and has no latent space, so "
                                      f"it cannot {operation}; it serves /sample and /score")

    def check(request, operation: str, list_limit: Optional[str] = None) -> None:
        if operation in LATENT_OPERATIONS:
            require_latent(operation)
        problem = over_limit(request, limits, count_tokens, list_limit)
        if problem:
            raise RequestProblem(422, problem)

    async def answer(request, operation: str, job: Callable[[], Any], list_limit: Optional[str] = None):
        check(request, operation, list_limit)
        return await worker.run(library(job))

    async def shared(request, operation: str, call, payload: Sequence, max_size: int):
        """`call([payload])[0]`, in one call with the like requests waiting (operations.py)."""
        check(request, operation)
        size = payload if isinstance(payload, int) else len(payload)
        return await worker.run_batched(ops.batch_key(operation, request), payload, size, library(call), max_size)

    info = describe_bundle(generator.config, bundle_dir)
    info.update(operations=["sample", "score"] if language_model else ["sample", *LATENT_OPERATIONS, "score"],
                limits=limits.as_dict(), map=None,
                versions={"paddle_vae": __version__, "paddle": paddle.__version__})
    default_map = empty_map(int(generator.config.get("latent_size", 0)))
    if not language_model and map_sentences > 0:
        found = _test_split_map(generator, worker, map_sentences, lambda t: count_tokens(t) <= limits.max_tokens)
        if found:
            default_map, info["map"] = found

    @asynccontextmanager
    async def lifespan(_app):
        yield
        worker.close()

    app = FastAPI(title="paddle_vae", version=__version__, lifespan=lifespan,
                  description="A trained text VAE: sample, reconstruct, interpolate, encode, decode and score "
                              "sentences. The fields are `paddle_vae.VAEGenerator`'s parameters.")
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"])
    app.state.worker = worker
    app.state.kind = "language model" if language_model else f"VAE, {info['headline']['decoder']} decoder"
    page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError):
        return JSONResponse({"detail": validation_sentence(exc.errors())}, status_code=422)

    @app.exception_handler(RequestProblem)
    async def _refused(_request, exc: RequestProblem):
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(Busy)
    async def _busy(_request, exc: Busy):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def explorer_page():
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_POLICY})

    @app.get("/health")
    async def health() -> Dict[str, Any]:
        return {"status": "ok", "model": "lm" if language_model else "vae", "waiting": worker.waiting}

    @app.get("/info")
    async def about() -> Dict[str, Any]:
        """The model's config, training flags, training summary, evaluations, limits and operations."""
        return info

    @app.post("/sample", response_model=s.SentencesAnswer)
    async def sample(req: s.SampleRequest):
        return await shared(req, "sample", ops.sample_call(generator, req), req.num, limits.max_num)

    @app.post("/reconstruct", response_model=s.ReconstructAnswer)
    async def reconstruct(req: s.ReconstructRequest):
        return await shared(req, "reconstruct", ops.reconstruct_call(generator, req), req.sentences,
                            limits.max_sentences)

    @app.post("/interpolate", response_model=s.InterpolateAnswer)
    async def interpolate(req: s.InterpolateRequest):
        def job():
            path = generator.interpolate(req.sentence_a, req.sentence_b, steps=req.steps, strategy=req.strategy,
                                         beam_size=req.beam_size, max_len=req.max_len, seed=req.seed)
            return {"sentences": path, "posterior_means": generator.encode([req.sentence_a, req.sentence_b]).tolist()}

        return await answer(req, "interpolate", job)

    @app.post("/encode", response_model=s.EncodeAnswer)
    async def encode(req: s.EncodeRequest):
        return await shared(req, "encode", ops.encode_call(generator), req.sentences, limits.max_sentences)

    @app.post("/decode", response_model=s.SentencesAnswer)
    async def decode(req: s.DecodeRequest):
        require_latent("decode")
        size = int(generator.config["latent_size"])
        wrong = next((i for i, row in enumerate(req.latent_z) if len(row) != size), None)
        if wrong is not None:
            raise RequestProblem(422, f"latent_z.{wrong} has {len(req.latent_z[wrong])} values; this model's "
                                      f"latent codes have {size}")
        return await shared(req, "decode", ops.decode_call(generator, req), req.latent_z, limits.max_sentences)

    @app.post("/score", response_model=s.ScoreAnswer)
    async def score(req: s.ScoreRequest):
        return await answer(req, "score", lambda: {"nll": [float(v) for v in generator.score(
            req.sentences, iw_samples=req.iw_samples, seed=req.seed, progress=False)]})

    @app.get("/map", response_model=s.MapAnswer)
    async def test_split_map():
        """The map of the bundle's test split (empty when its corpus is not at hand: POST sentences then)."""
        require_latent("map")
        return default_map

    @app.post("/map", response_model=s.MapAnswer)
    async def pasted_map(req: s.MapRequest):
        def job():
            means = generator.encode(req.sentences)
            return map_answer(f"{len(req.sentences)} pasted sentences", req.sentences, None, means)

        return await answer(req, "map", job, list_limit="max_map_sentences")

    return app
