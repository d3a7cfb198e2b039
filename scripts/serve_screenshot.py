"""The README's picture of the latent explorer (docs/serve.png), made the way tests/test_serve_browser.py
drives the page: `python -m paddle_vae.serve` on a free loopback port, the system's Chromium through Playwright.

    python scripts/serve_screenshot.py --init_from_ckpt /tmp/ptb_serve_model/best --output docs/serve.png

It samples, reconstructs one sentence, interpolates between two, hovers a map point, takes the window, and
stores it with at most 256 colours (Pillow) so the picture stays small.
"""
import argparse
import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddle_vae.errors import UsageError, cli_entry  # noqa: E402
from paddle_vae.files import check_output, write_bytes_atomic  # noqa: E402
from paddle_vae.serve.process import ServerProcess  # noqa: E402


def take(url: str, args: argparse.Namespace) -> bytes:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(url)
            page.wait_for_selector("body[data-ready=yes]")
            page.fill("#sample-num", "3")
            page.fill("#sample-seed", "1")
            page.click("#sample-go")
            expect(page.locator("#sample-out li")).to_have_count(3)
            page.fill("#recon-in", args.sentence_a)
            page.click("#recon-go")
            expect(page.locator("#recon-norm")).to_contain_text("‖μ‖")
            page.fill("#interp-a", args.sentence_a)
            page.fill("#interp-b", args.sentence_b)
            page.fill("#interp-steps", "5")
            page.click("#interp-go")
            expect(page.locator("#interp-out li")).to_have_count(5)
            page.click(f"#map circle.point >> nth={args.point}")
            expect(page.locator("#map-decoded")).not_to_have_text("…")
            page.hover(f"#map circle.point >> nth={args.point}")
            page.wait_for_selector("#tooltip", state="visible")
            return page.screenshot()
        finally:
            browser.close()


@cli_entry
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--init_from_ckpt", required=True)
    p.add_argument("--output", required=True, help="the PNG to write")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--width", type=int, default=1200)
    p.add_argument("--height", type=int, default=860)
    p.add_argument("--point", type=int, default=0, help="which map point to hover and decode")
    p.add_argument("--sentence_a", default="the company said it expects to report a loss for the third quarter")
    p.add_argument("--sentence_b", default="the market fell sharply in early trading")
    args = p.parse_args(argv)
    check_output(args.output, overwrite=args.overwrite)
    if not os.access(args.chromium, os.X_OK):
        raise UsageError(f"no Chromium at {args.chromium} (apt-get install -y chromium)")
    from PIL import Image

    with ServerProcess(args.init_from_ckpt) as server:
        png = take(server.url, args)
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").quantize(256).save(out, format="PNG", optimize=True)
    write_bytes_atomic(args.output, out.getvalue())
    print(f"wrote {args.output} ({len(out.getvalue()) // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
