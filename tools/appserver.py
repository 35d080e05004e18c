"""Start ``app.py`` in tiny-weights mode on a free loopback port (tests, load test).

The one launcher used by the app tests (``tests/app``), the robustness tests
(``tests/robustness``) and the benchmarks (``bench/load_test.py``,
``bench/bench_cpu.py`` start-up timing).
The server is a child process of the caller; it is stopped (terminate, then
kill) when the context manager exits.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parents[1]

__all__ = ["free_port", "run_app", "generate_kwargs", "measure_startup"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def run_app(log_path: Path, *, timeout_s: float = 240.0, extra_env: dict | None = None,
            app_path: Path | None = None, poll_s: float = 0.5, tiny: bool = True) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``MCLD_TINY=1 python app.py`` (or full mode) on loopback until the block ends.

    Always with ``HF_HUB_OFFLINE=1``: full mode then starts offline (nothing
    can be downloaded; the page says so).

    Args:
        log_path: File receiving the server's stdout and stderr.
        timeout_s: How long to wait for the first HTTP 200.
        extra_env: More environment variables (e.g. ``MCLD_QUEUE_SIZE``).
        app_path: The app script (default the repository's ``app.py``).
        poll_s: Seconds between HTTP probes while waiting (start-up timing
            uses a small value).
        tiny: Tiny random weights (``MCLD_TINY=1``); ``False``: full mode.

    Yields:
        ``(url, process)``.

    Raises:
        RuntimeError: the server exited or did not answer in time (the end of
            its log is in the message).
    """
    port = free_port()
    env = dict(
        os.environ,
        MCLD_TINY="1" if tiny else "0",
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        **(extra_env or {}),
    )
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("MCLD_EXAMPLES_DATASET", None)
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(app_path or REPO_ROOT / "app.py")], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"app.py exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(url, timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"app.py did not answer on {url} within {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(poll_s)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def generate_kwargs(source: str | Path, target: str | Path | None, *, steps: int = 1, seed: int = 0,
                    output_size: str = "256x176") -> dict:
    """Keyword arguments of the app's ``/generate`` endpoint for ``Client.predict``."""
    from gradio_client import handle_file

    return dict(
        source_path=handle_file(str(source)),
        source_person=-1,
        target_mode="photo",
        target_path=handle_file(str(target)) if target is not None else None,
        target_person=-1,
        gallery_pose="",
        mirror=False,
        align=False,
        num_inference_steps=steps,
        guidance_scale=3.5,
        seed=seed,
        scheduler="ddim",
        output_size=output_size,
        texture_map="upstream (default)",
        api_name="/generate",
    )


def measure_startup(log_path: Path, *, tiny: bool = False, extra_env: dict | None = None) -> dict:
    """Start the app once and time it: to the log line ``start-up: imports
    done`` (the app's imports) and to the first HTTP 200.

    Returns:
        ``{"imports_s", "first_200_s", "over_imports_s"}`` in seconds.
    """
    import datetime as dt

    start = time.time()
    with run_app(log_path, poll_s=0.05, tiny=tiny, extra_env=extra_env):
        first_200 = time.time() - start
    stamp = next(
        line[:23] for line in Path(log_path).read_text().splitlines() if "start-up: imports done" in line
    )
    imported = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp() - start
    return {"imports_s": imported, "first_200_s": first_200, "over_imports_s": first_200 - imported}


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="Time the app's start-up (offline, HF_HUB_OFFLINE=1) to the first HTTP 200.")
    parser.add_argument("--tiny", action="store_true", help="tiny mode instead of full mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        times = measure_startup(Path(folder) / "app.log", tiny=args.tiny)
    print(
        f"{'tiny' if args.tiny else 'full (offline)'} mode: imports {times['imports_s']:.1f} s, first HTTP 200 "
        f"{times['first_200_s']:.1f} s, {times['over_imports_s']:.1f} s over the imports"
    )
