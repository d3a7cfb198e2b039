"""The `python -m paddle_vae.serve` command: its --help, a bad flag or a taken port in one line (exit 2, before
the bundle is read), and a server that SIGTERM stops cleanly ("stopped", exit 0)."""
import socket
import subprocess
import sys

import pytest

from conftest import ROOT
from helpers import demo_bundle

pytest.importorskip("uvicorn")


def serve_command(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paddle_vae.serve", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return demo_bundle(tmp_path_factory.mktemp("serve_cmd"), "--max_epoch", "1")


def test_help_lists_the_server_the_limits_and_the_process_flags(capsys):
    from paddle_vae.serve.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m paddle_vae.serve")
    for flag in ("--init_from_ckpt", "--host", "--port", "--cors_origin", "--max_num", "--max_steps", "--max_tokens",
                 "--max_sentences", "--max_body_bytes", "--max_waiting", "--request_timeout", "--num_threads"):
        assert f"  {flag}" in out, flag


@pytest.mark.parametrize("argv, message", [
    (["--max_num", "0"], "error: --max_num must be positive"),
    (["--request_timeout", "-1", "--max_waiting", "0"], "error: --max_waiting, --request_timeout must be positive"),
    (["--port", "70000"], "error: --port must be in 0-65535, got 70000"),
    (["--map_sentences", "-1"], "error: --map_sentences must be >= 0, got -1"),
    ([], "error: --init_from_ckpt is required: the bundle folder to serve, e.g. model/best"),
])
def test_a_bad_flag_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    from paddle_vae.serve.__main__ import main

    argv = (["--init_from_ckpt", str(tmp_path / "no_bundle")] if argv else []) + argv
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]


def test_a_missing_bundle_is_one_line_and_exit_2(tmp_path):
    proc = serve_command("--init_from_ckpt", str(tmp_path / "nothing"), "--port", "0")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nothing" in lines[0]


def test_a_taken_port_is_one_line_and_exit_2_before_the_bundle_is_read(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = serve_command("--init_from_ckpt", str(tmp_path / "not_read"), "--port", str(port))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_the_listening_socket_makes_asyncio_accept_connections_with_tcp_nodelay():
    """Without TCP_NODELAY each keep-alive answer (headers, then body) waited ~40 ms for a delayed ACK."""
    import asyncio

    from paddle_vae.serve.__main__ import listen

    async def accepted_nodelay() -> int:
        sock = listen("127.0.0.1", 0)
        found = asyncio.get_running_loop().create_future()

        async def on_connect(reader, writer):
            raw = writer.get_extra_info("socket")
            found.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            value = await asyncio.wait_for(found, 10)
            writer.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0


def test_sigterm_stops_the_server_cleanly(bundle):
    import httpx

    from paddle_vae.serve.process import ServerProcess

    server = ServerProcess(str(bundle), ["--map_sentences", "0"])
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(server.url + "health", timeout=30).json()["status"] == "ok"
        assert "reachable from the network" not in server.output
    finally:
        code = server.stop()
    assert code == 0
    assert server.output.strip().splitlines()[-1] == "stopped" and "Traceback" not in server.output


def test_listening_beyond_loopback_is_said_in_one_line(bundle):
    from paddle_vae.serve.process import ServerProcess

    with ServerProcess(str(bundle), ["--host", "0.0.0.0", "--map_sentences", "0"]) as server:
        pass
    warning = [line for line in server.lines if "reachable from the network" in line]
    assert warning == ["warning: listening on 0.0.0.0: the model is reachable from the network, by anyone who can "
                       "reach this port (there is no authentication)\n"]


def test_the_serving_page_lists_every_limit_flag_with_its_default():
    import dataclasses

    from paddle_vae.serve.limits import Limits

    page = (ROOT / "docs" / "serving.md").read_text(encoding="utf-8")
    for field in dataclasses.fields(Limits):
        assert f"| `--{field.name}` | {field.default} |" in page, field.name
