"""The HTTP API of `python -m paddle_vae.serve`, through FastAPI's TestClient on tiny demo-trained bundles: every
endpoint answers what the library answers, every bad request is a 4xx with one sentence, the limits and the
busy / slow model are 4xx and 503 (with Retry-After), and a language model serves what it can."""
import inspect
import json
import re
import threading
import time

import numpy as np
import pytest

from helpers import demo_bundle

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

SENTENCE_A = "the old man walked to the market in the morning ."
SENTENCE_B = "she plays the piano every evening ."


@pytest.fixture(scope="module")
def vae_bundle(tmp_path_factory):
    return demo_bundle(tmp_path_factory.mktemp("serve_vae"), "--warm_up", "1")


@pytest.fixture(scope="module")
def generator(vae_bundle):
    from paddle_vae.generator import VAEGenerator

    return VAEGenerator.from_pretrained(str(vae_bundle))


def make_client(generator, bundle_dir=None, **limits):
    from paddle_vae.serve.app import create_app
    from paddle_vae.serve.limits import Limits

    return TestClient(create_app(generator, Limits(**limits), bundle_dir=bundle_dir and str(bundle_dir)))


@pytest.fixture(scope="module")
def client(generator, vae_bundle):
    with make_client(generator, vae_bundle) as c:
        yield c


def one_sentence(response) -> str:
    """The error's `detail`: one line, a sentence (not a list of pydantic errors, not a trace)."""
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail and "Traceback" not in detail
    return detail


# -- every endpoint answers as the library does ------------------------------------------------------------------
def test_health_and_info_describe_the_model_its_training_and_the_limits(client, vae_bundle):
    assert client.get("/health").json() == {"status": "ok", "model": "vae", "waiting": 0}
    info = client.get("/info").json()
    assert info["model"]["latent_size"] == 8 and info["model"]["decoder"] == "lstm"
    assert info["training"]["steps"] > 0 and info["train_args"]["dataset"] == "sample"
    assert info["headline"]["decoder"] == "lstm" and "kl" in info["headline"] and "au" in info["headline"]
    assert info["limits"]["max_num"] == 64 and info["operations"] == [
        "sample", "reconstruct", "interpolate", "encode", "decode", "map", "score"]
    assert info["map"]["sentences"] == 300 and isinstance(info["map"]["active_units"], int)
    assert str(vae_bundle.parent) not in json.dumps(info)  # the server's folders are not shown to clients


def test_sample_is_the_librarys_sample_with_the_same_arguments(client, generator):
    answer = client.post("/sample", json={"num": 3, "seed": 7, "temperature": 0.8})
    assert answer.status_code == 200
    assert answer.json()["sentences"] == generator.sample(num=3, seed=7, temperature=0.8, progress=False)
    greedy = client.post("/sample", json={"num": 2, "strategy": "beam", "beam_size": 2, "seed": 1}).json()
    assert len(greedy["sentences"]) == 2


def test_reconstruct_gives_the_decoding_and_the_posterior_means_norm(client, generator):
    answer = client.post("/reconstruct", json={"sentences": [SENTENCE_A, SENTENCE_B]}).json()
    means = generator.encode([SENTENCE_A, SENTENCE_B])
    assert answer["reconstructions"] == generator.reconstruct([SENTENCE_A, SENTENCE_B], progress=False)
    np.testing.assert_allclose(answer["posterior_means"], means, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(answer["norms"], np.linalg.norm(means, axis=1), rtol=1e-5)


def test_interpolate_is_the_librarys_path_with_its_two_ends(client, generator):
    answer = client.post("/interpolate", json={"sentence_a": SENTENCE_A, "sentence_b": SENTENCE_B, "steps": 4}).json()
    assert answer["sentences"] == generator.interpolate(SENTENCE_A, SENTENCE_B, steps=4)
    np.testing.assert_allclose(answer["posterior_means"], generator.encode([SENTENCE_A, SENTENCE_B]), rtol=1e-5,
                               atol=1e-6)


def test_encode_decode_and_score_match_the_library(client, generator):
    encoded = client.post("/encode", json={"sentences": [SENTENCE_A]}).json()
    np.testing.assert_allclose(encoded["posterior_means"], generator.encode([SENTENCE_A]), rtol=1e-5, atol=1e-6)
    z = encoded["posterior_means"]
    decoded = client.post("/decode", json={"latent_z": z}).json()
    assert decoded["sentences"] == generator.decode(np.asarray(z, dtype="float32"), progress=False)
    scored = client.post("/score", json={"sentences": [SENTENCE_A, SENTENCE_B], "iw_samples": 5, "seed": 3}).json()
    np.testing.assert_allclose(scored["nll"], generator.score([SENTENCE_A, SENTENCE_B], iw_samples=5, seed=3,
                                                             progress=False), rtol=1e-5)


def test_the_map_places_the_test_split_and_pasted_sentences_on_one_plane(client, generator):
    split = client.get("/map").json()
    assert "test split" in split["source"] and len(split["points"]) == 300
    point = split["points"][0]
    assert point["label"] and point["sentence"]
    plane = np.asarray(split["axes"])
    xy = (np.asarray(point["z"]) - np.asarray(split["center"])) @ plane.T  # the page projects new codes so
    np.testing.assert_allclose(xy, [point["x"], point["y"]], atol=1e-3)
    pasted = client.post("/map", json={"sentences": [SENTENCE_A, SENTENCE_B, "the cat sat ."]}).json()
    assert [p["sentence"] for p in pasted["points"]] == [SENTENCE_A, SENTENCE_B, "the cat sat ."]
    assert pasted["source"] == "3 pasted sentences"


def test_the_page_is_one_self_contained_file_that_loads_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    html = page.text
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert not re.search(r"""(fetch|import)\s*\(\s*["'`](https?:)?//""", html) and "@import" not in html
    for panel in ("sample-go", "recon-go", "interp-go", "map", "tooltip", "model-line"):
        assert f'id="{panel}"' in html


def test_the_request_fields_are_the_generators_parameters(client):
    from paddle_vae.generator import VAEGenerator
    from paddle_vae.models.decoding import STRATEGIES
    from paddle_vae.serve import schemas

    for model, method in [(schemas.SampleRequest, "sample"), (schemas.ReconstructRequest, "reconstruct"),
                          (schemas.InterpolateRequest, "interpolate"), (schemas.EncodeRequest, "encode"),
                          (schemas.DecodeRequest, "decode"), (schemas.ScoreRequest, "score")]:
        parameters = inspect.signature(getattr(VAEGenerator, method)).parameters
        assert set(model.model_fields) <= set(parameters), method
        for name, field in model.model_fields.items():
            if parameters[name].default is not inspect.Parameter.empty:
                assert field.default == parameters[name].default, (method, name)
    assert schemas.Strategy.__args__ == STRATEGIES
    spec = client.get("/openapi.json").json()
    assert {"/sample", "/reconstruct", "/interpolate", "/encode", "/decode", "/score", "/map", "/health",
            "/info"} <= set(spec["paths"])
    fields = {f for schema in spec["components"]["schemas"].values() for f in schema.get("properties", {})}
    assert not {f for f in fields if re.search("path|file|dir|url", f)}  # no request names a file


# -- bad requests: a 4xx and one sentence ------------------------------------------------------------------------
@pytest.mark.parametrize("path, body, status, says", [
    ("/reconstruct", {"sentences": []}, 422, "sentences: List should have at least 1 item"),
    ("/sample", {"num": 0}, 422, "num: Input should be greater than or equal to 1"),
    ("/sample", {"num": 65}, 422, "num is 65; this server allows at most 64 (--max_num)"),
    ("/sample", {"max_len": 101}, 422, "(--max_decode_len)"),
    ("/sample", {"strategy": "beam", "beam_size": 9}, 422, "(--max_beam_size)"),
    ("/interpolate", {"sentence_a": "a", "sentence_b": "b", "steps": 21}, 422, "(--max_steps)"),
    ("/score", {"sentences": ["a"], "iw_samples": 201}, 422, "(--max_iw_samples)"),
    ("/encode", {"sentences": ["a"] * 33}, 422, "sentences holds 33 items; this server takes at most 32"),
    ("/encode", {"sentences": ["word " * 101]}, 422, "sentences[0] has more than 100 tokens (--max_tokens)"),
    ("/sample", {"temperature": float("nan")}, 422, "temperature: Input should be a finite number"),
    ("/sample", {"temperature": 0}, 422, "temperature: Input should be greater than 0"),
    ("/sample", {"temprature": 1.0}, 422, "temprature: Extra inputs are not permitted"),
    ("/sample", {"num": "5"}, 422, "num: Input should be a valid integer"),
    ("/sample", {"strategy": "topk"}, 422, "strategy: Input should be 'sampling', 'greedy' or 'beam'"),
    ("/sample", {"seed": 2 ** 32}, 422, "seed: Input should be less than"),
    ("/decode", {"latent_z": [[0.0] * 3]}, 422, "latent_z.0 has 3 values; this model's latent codes have 8"),
    ("/map", {"sentences": ["a", "b"]}, 422, "sentences: List should have at least 3 items"),
    ("/reconstruct", {"sentences": ["   "]}, 400, "sentence 0 is empty"),  # the library's UsageError
    ("/interpolate", {"sentence_a": " ", "sentence_b": "b"}, 400, "sentence 0 is empty"),
    ("/score", {"sentences": ["a", "\t"]}, 400, "sentence 1 is empty"),
])
def test_a_bad_request_is_a_4xx_with_one_sentence(client, path, body, status, says):
    response = client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert says in one_sentence(response)


@pytest.mark.parametrize("content, headers, says", [
    ("{not json", {"Content-Type": "application/json"}, "the request body is not valid JSON"),
    ("", {"Content-Type": "application/json"}, "the request needs a JSON body"),
    ("[1, 2]", {"Content-Type": "application/json"}, "the request body must be a JSON object"),
])
def test_a_body_that_is_not_a_json_object_is_one_sentence(client, content, headers, says):
    response = client.post("/sample", content=content, headers=headers)
    assert response.status_code == 422 and says in one_sentence(response)


def test_an_unknown_path_or_method_is_a_4xx(client):
    assert client.get("/nowhere").status_code == 404
    assert client.get("/sample").status_code == 405


def test_a_body_over_the_size_limit_is_413_before_it_is_read(generator):
    with make_client(generator, max_body_bytes=200) as small:
        response = small.post("/encode", json={"sentences": ["a b c d e f g h"] * 30})
        assert response.status_code == 413
        assert one_sentence(response) == "the request body is over 200 bytes (--max_body_bytes)"
        assert small.post("/encode", json={"sentences": ["a b c"]}).status_code == 200


def test_the_limits_are_the_servers_flags(generator):
    with make_client(generator, max_num=2, max_sentences=1) as narrow:
        assert narrow.post("/sample", json={"num": 2}).status_code == 200
        assert "(--max_num)" in one_sentence(narrow.post("/sample", json={"num": 3}))
        assert "(--max_sentences)" in one_sentence(narrow.post("/encode", json={"sentences": ["a", "b"]}))
        assert narrow.get("/info").json()["limits"]["max_num"] == 2


# -- a busy or slow model: 503 with Retry-After ------------------------------------------------------------------
class BlockedSample:
    """Stands in for the generator's sample until released: a request that holds the model's thread."""

    def __init__(self, monkeypatch, generator):
        self.release, self.calls = threading.Event(), 0
        original = generator.sample

        def sample(*args, **kwargs):
            self.calls += 1
            self.release.wait(10)
            return original(*args, **kwargs)

        monkeypatch.setattr(generator, "sample", sample)


def _in_background(client, path, body):
    out = {}
    thread = threading.Thread(target=lambda: out.update(response=client.post(path, json=body)))
    thread.start()
    return thread, out


def _wait_until(condition, seconds=10.0):
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_past_the_bounded_queue_the_answer_is_503_with_retry_after(generator, monkeypatch):
    blocked = BlockedSample(monkeypatch, generator)
    with make_client(generator, max_waiting=2) as busy:
        worker = busy.app.state.worker
        first = [_in_background(busy, "/sample", {"num": 1}) for _ in range(2)]
        _wait_until(lambda: worker.waiting == 2)
        over = busy.post("/sample", json={"num": 1})
        assert over.status_code == 503
        assert "(--max_waiting 2)" in one_sentence(over) and int(over.headers["Retry-After"]) >= 1
        assert busy.get("/health").json()["waiting"] == 2  # health answers without the model
        blocked.release.set()
        for thread, out in first:
            thread.join(10)
            assert out["response"].status_code == 200
        assert busy.post("/sample", json={"num": 1}).status_code == 200


def test_a_request_past_the_time_limit_is_503_and_one_that_never_started_is_not_run(generator, monkeypatch):
    blocked = BlockedSample(monkeypatch, generator)
    with make_client(generator, request_timeout=0.3) as slow:
        worker = slow.app.state.worker
        running, out = _in_background(slow, "/sample", {"num": 1})
        _wait_until(lambda: blocked.calls == 1)
        queued = slow.post("/sample", json={"num": 1})  # waits behind the first, past its own deadline
        assert queued.status_code == 503 and "Retry-After" in queued.headers
        assert one_sentence(queued) == ("the request did not finish within 0.3 s (--request_timeout); retry later "
                                        "or ask for less")
        running.join(10)
        assert out["response"].status_code == 503  # the first ran past its deadline too
        blocked.release.set()
        _wait_until(lambda: worker.waiting == 0)
        assert blocked.calls == 1  # the queued one was dropped, not run for nobody


# -- like requests waiting together share one call ---------------------------------------------------------------
def test_unseeded_requests_waiting_together_share_one_call_and_a_seeded_one_runs_alone(generator, monkeypatch):
    blocked = BlockedSample(monkeypatch, generator)
    nums = []
    counted = generator.sample
    monkeypatch.setattr(generator, "sample", lambda num, **kw: nums.append(num) or counted(num=num, **kw))
    with make_client(generator) as shared:
        worker = shared.app.state.worker
        first = _in_background(shared, "/sample", {"num": 1})
        _wait_until(lambda: blocked.calls == 1)  # the model is busy with the first
        queued = [_in_background(shared, "/sample", {"num": n}) for n in (1, 2, 1)]
        _wait_until(lambda: worker.waiting == 4)
        seeded = _in_background(shared, "/sample", {"num": 1, "seed": 5})
        _wait_until(lambda: worker.waiting == 5)
        blocked.release.set()
        answers = []
        for thread, out in [first, *queued, seeded]:
            thread.join(10)
            answers.append(out["response"].json()["sentences"])
    assert nums == [1, 4, 1]  # the first alone, the three waiting in one call, the seeded one alone
    assert [len(a) for a in answers] == [1, 1, 2, 1, 1]
    assert answers[-1] == generator.sample(num=1, seed=5, progress=False)


def test_a_bad_request_in_a_shared_call_fails_alone(generator, monkeypatch):
    blocked = BlockedSample(monkeypatch, generator)
    sentences = [[SENTENCE_A], ["   "], [SENTENCE_B, "the cat sat ."]]
    with make_client(generator) as shared:
        worker = shared.app.state.worker
        first = _in_background(shared, "/sample", {"num": 1})
        _wait_until(lambda: blocked.calls == 1)
        queued = [_in_background(shared, "/reconstruct", {"sentences": group}) for group in sentences]
        _wait_until(lambda: worker.waiting == 4)
        blocked.release.set()
        for thread, _ in [first, *queued]:
            thread.join(10)
    good, bad, other = (out["response"] for _, out in queued)
    assert bad.status_code == 400 and one_sentence(bad) == "sentence 0 is empty"
    assert good.json()["reconstructions"] == generator.reconstruct([SENTENCE_A], progress=False)
    assert other.json()["reconstructions"] == generator.reconstruct(sentences[2], progress=False)
    np.testing.assert_allclose(other.json()["norms"], np.linalg.norm(generator.encode(sentences[2]), axis=1),
                               rtol=1e-5)


# -- safety ------------------------------------------------------------------------------------------------------
def test_no_cors_by_default_and_only_the_named_origins_when_asked(client, generator):
    from paddle_vae.serve.app import create_app

    preflight = {"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/sample", headers=preflight).headers
    assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": preflight["Origin"]}).headers
    with TestClient(create_app(generator, cors_origins=["http://elsewhere.example"], map_sentences=0)) as opened:
        answer = opened.options("/sample", headers=preflight)
        assert answer.headers["access-control-allow-origin"] == "http://elsewhere.example"


def test_requests_write_nothing(client, vae_bundle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = vae_bundle.parent
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    client.post("/reconstruct", json={"sentences": ["__import__('os').system('touch pwned')", "../../etc/passwd"]})
    client.post("/score", json={"sentences": ["{{7*7}}"], "iw_samples": 2})
    client.post("/map", json={"sentences": ["a", "b", "c"]})
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before and not list(tmp_path.iterdir())


# -- a language model --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lm_client(tmp_path_factory):
    from paddle_vae.generator import VAEGenerator

    bundle = demo_bundle(tmp_path_factory.mktemp("serve_lm"), "--model", "lm", "--max_epoch", "1")
    with make_client(VAEGenerator.from_pretrained(str(bundle)), bundle) as c:
        yield c


def test_a_language_model_samples_and_scores(lm_client):
    info = lm_client.get("/info").json()
    assert info["operations"] == ["sample", "score"] and info["headline"]["model"] == "lm"
    assert lm_client.get("/health").json()["model"] == "lm"
    assert len(lm_client.post("/sample", json={"num": 2, "seed": 1}).json()["sentences"]) == 2
    assert len(lm_client.post("/score", json={"sentences": [SENTENCE_A], "iw_samples": 2}).json()["nll"]) == 1
    assert lm_client.get("/").status_code == 200


@pytest.mark.parametrize("method, path, body", [
    ("post", "/reconstruct", {"sentences": [SENTENCE_A]}),
    ("post", "/interpolate", {"sentence_a": SENTENCE_A, "sentence_b": SENTENCE_B}),
    ("post", "/encode", {"sentences": [SENTENCE_A]}),
    ("post", "/decode", {"latent_z": [[0.0] * 8]}),
    ("post", "/map", {"sentences": ["a", "b", "c"]}),
    ("get", "/map", None),
])
def test_a_language_model_says_in_a_400_what_it_cannot_do(lm_client, method, path, body):
    response = getattr(lm_client, method)(path, **({"json": body} if body else {}))
    assert response.status_code == 400
    assert "this bundle is a language model (--model lm) and has no latent space" in one_sentence(response)
