"""The latent explorer in a real headless Chromium (Playwright driving the system's browser, no download): the
server runs as a user starts it, on a free loopback port, and the test samples, reconstructs, interpolates two
typed sentences, hovers and clicks a map point, reading each result from the page and checking it against the
JSON API. It skips, saying why, only where Chromium or Playwright cannot be had (.ci/run installs both)."""
import os
import shutil

import pytest

from helpers import demo_bundle

CHROMIUM = os.environ.get("PADDLE_VAE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SENTENCE_A = "the old man walked to the market in the morning ."
SENTENCE_B = "she plays the piano every evening ."


def _browser_or_skip():
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; .ci/run's EXTRA_PIP has it)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run installs it)")
    return sync_playwright, expect


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from paddle_vae.serve.process import ServerProcess

    _browser_or_skip()
    bundle = demo_bundle(tmp_path_factory.mktemp("serve_browser"), "--warm_up", "1")
    with ServerProcess(str(bundle), ["--num_threads", "1"]) as running:
        yield running
    assert running.returncode == 0, running.output


def test_the_explorer_samples_reconstructs_interpolates_and_maps_in_a_real_browser(server, tmp_path):
    import httpx

    # Waits are Playwright's locator assertions: the page's Content-Security-Policy forbids evaluating strings,
    # which wait_for_function would do.
    sync_playwright, expect = _browser_or_skip()
    api = httpx.Client(base_url=server.url, timeout=60)
    outside, problems = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: None if r.url.startswith(server.url) else outside.append(r.url))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(server.url)
            page.wait_for_selector("body[data-ready=yes]")
            facts = page.text_content("#model-line")
            assert "VAE · lstm decoder · latent size 8" in facts and "KL " in facts and "active units" in facts

            # sample: three sentences, the API's own for the same arguments
            page.fill("#sample-num", "3")
            page.fill("#sample-seed", "11")
            page.click("#sample-go")
            expect(page.locator("#sample-out li")).to_have_count(3)
            expected = api.post("/sample", json={"num": 3, "seed": 11, "strategy": "sampling", "temperature": 1.0})
            assert page.locator("#sample-out li").all_text_contents() == [
                s or "(empty)" for s in expected.json()["sentences"]]

            # reconstruct: the decoding, the norm of the posterior mean, and a mark on the map
            page.fill("#recon-in", SENTENCE_A)
            page.click("#recon-go")
            expect(page.locator("#recon-norm")).to_contain_text("‖μ‖")
            expected = api.post("/reconstruct", json={"sentences": [SENTENCE_A]}).json()
            assert page.text_content("#recon-out") == (expected["reconstructions"][0] or "(empty)")
            assert f"‖μ‖ = {expected['norms'][0]:.2f}" in page.text_content("#recon-norm")
            assert page.locator("#map .typed").count() == 1

            # interpolate two typed sentences: the path as a list, and on the map
            page.fill("#interp-a", SENTENCE_A)
            page.fill("#interp-b", SENTENCE_B)
            page.fill("#interp-steps", "4")
            page.click("#interp-go")
            expect(page.locator("#interp-out li")).to_have_count(4)
            expected = api.post("/interpolate", json={"sentence_a": SENTENCE_A, "sentence_b": SENTENCE_B, "steps": 4})
            assert page.locator("#interp-out li").all_text_contents() == [
                s or "(empty)" for s in expected.json()["sentences"]]
            assert page.locator("#map .path-point").count() == 4

            # the map: hover a point to read its sentence, click it to decode its posterior mean
            points = api.get("/map").json()["points"]
            assert page.locator("#map circle.point").count() == len(points) == 300
            page.hover("#map circle.point >> nth=0")
            page.wait_for_selector("#tooltip", state="visible")
            assert page.text_content("#tooltip").startswith(points[0]["sentence"])
            decoded = api.post("/decode", json={"latent_z": [points[0]["z"]], "strategy": "greedy"}).json()
            page.click("#map circle.point >> nth=0")
            expect(page.locator("#map-decoded")).to_have_text(decoded["sentences"][0] or "(empty)")
            assert page.locator("#map .clicked").count() == 1

            shot = tmp_path / "explorer.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert not outside, f"the page fetched from elsewhere: {outside}"
    assert not problems, problems
