"""Load test of the Space in tiny-weights mode: concurrency, bad inputs, memory.

Starts ``MCLD_TINY=1 python app.py`` on a free loopback port, then:

1. **Concurrent phase**: ``--clients`` gradio_client clients (threads, one
   ``Client`` each) send ``--per-client`` ``/generate`` requests each, mixing
   good pairs and bad uploads (empty, text renamed ``.jpg``, truncated JPEG,
   1x1 px, no person, damaged PNG). Every good request must return a PNG of
   the requested size; every bad one its clear message; every request is
   accounted for (ok / clear error / queue full / other).
2. **Sequential phase**: ``--warmup`` requests, then ``--sequential`` requests
   (every ``--good-every``-th a full generation, the others bad uploads) while
   the server's RSS (process + children, psutil) is sampled; growth is
   reported against the first sample after the warm-up.

Bounded: fixed request counts, a per-request timeout, and ``--max-minutes``
for the whole run. Writes a Markdown report (``--report``).

Run (from the repository root)::

    .venv/bin/python bench/load_test.py --report bench/results/load_test.md

Generation uses 1 DDIM step and the 256x176 output (the tiny model samples
at 256x256, ``PoseTransfer.tiny``) so that 2 CPU cores finish in minutes.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

GOOD_SOURCE = "test.jpg"
GOOD_TARGET = "reference_img_1.png"
#: Bad uploads used in the mix: corpus case name -> expected message fragment.
BAD_CASES = (
    "empty_upload",
    "text_renamed_jpg",
    "truncated_jpeg",
    "tiny_1x1",
    "no_person_noise",
    "corrupt_png",
)
OUTPUT_SIZE = (176, 256)


def _rss_mb(pid: int) -> float:
    """RSS of a process and its children, MiB."""
    import psutil

    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


class Runner:
    """Sends requests and classifies their outcomes."""

    def __init__(self, url: str, images: Path, corpus: dict, timeout_s: float, deadline: float):
        self.url = url
        self.images = images
        self.corpus = corpus
        self.timeout_s = timeout_s
        self.deadline = deadline
        self.lock = threading.Lock()

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False)

    def request(self, client, kind: str, seed: int) -> dict:
        """One ``/generate`` call; ``kind`` is ``"good"`` or a corpus case name."""
        from PIL import Image

        from tools.appserver import generate_kwargs

        if time.monotonic() > self.deadline:
            return {"kind": kind, "outcome": "skipped (time limit)", "latency_s": 0.0}
        if kind == "good":
            kwargs = generate_kwargs(self.images / GOOD_SOURCE, self.images / GOOD_TARGET, seed=seed)
        else:
            kwargs = generate_kwargs(self.corpus[kind].path, self.images / GOOD_TARGET, seed=seed)
        t0 = time.perf_counter()
        try:
            job = client.submit(**kwargs)
            out = job.result(timeout=self.timeout_s)
        except Exception as err:  # AppError, TimeoutError, connection errors
            latency = time.perf_counter() - t0
            text = str(err)
            if "queue is full" in text.lower():
                outcome = "queue full"
            elif kind != "good" and self.corpus[kind].fragment in text.lower() and "verbose error" not in text:
                outcome = "clear error"
            else:
                outcome = f"WRONG: {type(err).__name__}: {text[:160]}"
            return {"kind": kind, "outcome": outcome, "latency_s": latency}
        latency = time.perf_counter() - t0
        if kind != "good":
            return {"kind": kind, "outcome": "WRONG: bad input accepted", "latency_s": latency}
        item = out[0][0]
        path = item["image"] if isinstance(item["image"], str) else item["image"]["path"]
        size = Image.open(path).size
        outcome = "ok" if size == OUTPUT_SIZE else f"WRONG: image size {size}"
        return {"kind": kind, "outcome": outcome, "latency_s": latency}


def _mix(n: int, offset: int, good_every: int) -> list[str]:
    kinds = []
    for i in range(n):
        j = i + offset
        kinds.append("good" if j % good_every == 0 else BAD_CASES[j % len(BAD_CASES)])
    return kinds


def _summary(results: list[dict]) -> dict:
    counts: dict[str, int] = {}
    for r in results:
        key = f"{r['kind'] if r['kind'] == 'good' else 'bad'}: {r['outcome']}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _latency_line(results: list[dict], kind_filter) -> str:
    lat = sorted(r["latency_s"] for r in results if kind_filter(r["kind"]) and not r["outcome"].startswith("skipped"))
    if not lat:
        return "n/a"
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    return f"median {statistics.median(lat):.2f} s, p95 {p95:.2f} s, max {lat[-1]:.2f} s (n={len(lat)})"


def main(argv: list[str] | None = None) -> int:
    """Run the load test; exit status 0 when every request was accounted for correctly."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--per-client", type=int, default=5)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--sequential", type=int, default=200)
    p.add_argument("--good-every", type=int, default=4, help="every N-th request is a good generation")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    p.add_argument("--max-minutes", type=float, default=40.0, help="stop sending after this long")
    p.add_argument("--report", type=Path, default=None, help="Markdown report to write")
    args = p.parse_args(argv)

    from tests.conftest import SHARED
    from tools.appserver import run_app
    from tests.robustness.corpus import build_image_corpus

    images = SHARED / "images"
    started = dt.datetime.now(dt.timezone.utc)
    deadline = time.monotonic() + args.max_minutes * 60
    work = Path(tempfile.mkdtemp(prefix="mcld_load_"))
    corpus = {c.name: c for c in build_image_corpus(images, work / "corpus")}
    log_path = work / "app.log"
    report: dict = {}
    with run_app(log_path) as (url, proc):
        runner = Runner(url, images, corpus, args.timeout, deadline)
        rss_start = _rss_mb(proc.pid)
        # 1. concurrent phase
        n_total = args.clients * args.per_client
        t0 = time.perf_counter()

        def client_job(ci: int) -> list[dict]:
            client = runner.client()
            kinds = _mix(args.per_client, ci * args.per_client + ci, args.good_every)
            return [runner.request(client, k, seed=ci * 100 + i) for i, k in enumerate(kinds)]

        with cf.ThreadPoolExecutor(args.clients) as pool:
            concurrent_results = [r for rs in pool.map(client_job, range(args.clients)) for r in rs]
        report["concurrent_wall_s"] = time.perf_counter() - t0
        report["concurrent"] = concurrent_results
        report["rss_after_concurrent"] = _rss_mb(proc.pid)
        print(f"concurrent: {_summary(concurrent_results)} in {report['concurrent_wall_s']:.0f} s", flush=True)

        # 2. sequential phase
        client = runner.client()
        warm = [runner.request(client, k, seed=i) for i, k in enumerate(_mix(args.warmup, 0, args.good_every))]
        rss_samples = [_rss_mb(proc.pid)]
        seq = []
        t1 = time.perf_counter()
        for i, kind in enumerate(_mix(args.sequential, 0, args.good_every)):
            seq.append(runner.request(client, kind, seed=1000 + i))
            rss_samples.append(_rss_mb(proc.pid))
            if (i + 1) % 50 == 0:
                print(f"sequential {i + 1}/{args.sequential}: RSS {rss_samples[-1]:.0f} MiB", flush=True)
        report["sequential_wall_s"] = time.perf_counter() - t1
        report["warmup"] = warm
        report["sequential"] = seq
        report["rss"] = rss_samples
        report["rss_start"] = rss_start
    server_log = log_path.read_text(errors="replace")
    report["server_5xx"] = sum(1 for line in server_log.splitlines() if '" 50' in line or " 500 " in line)
    report["server_tracebacks"] = server_log.count("Traceback")
    report["server_gr_errors"] = sum(1 for line in server_log.splitlines() if line.startswith("gradio.exceptions.Error"))

    all_results = concurrent_results + warm + seq
    wrong = [r for r in all_results if r["outcome"].startswith(("WRONG", "skipped"))]
    growth = (rss_samples[-1] - rss_samples[0]) / rss_samples[0] * 100
    ok = (
        not wrong
        and len(concurrent_results) == n_total
        and len(seq) == args.sequential
        and report["server_5xx"] == 0
        and report["server_tracebacks"] == report["server_gr_errors"]
        and growth <= 5.0
    )
    text = _markdown(args, started, report, growth, wrong, ok, n_total)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text)
    return 0 if ok else 1


def _markdown(args, started, report, growth, wrong, ok, n_total) -> str:
    import psutil

    conc, seq, rss = report["concurrent"], report["sequential"], report["rss"]
    cmd = "MCLD_TINY=1 (set by the script) .venv/bin/python bench/load_test.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "report"
    ) + (f" --report {args.report}" if args.report else "")

    def table(counts: dict) -> str:
        return "\n".join(f"| {k} | {v} |" for k, v in sorted(counts.items()))

    lines = [
        "# Load test: MCLD Space in tiny-weights mode",
        "",
        f"- **Result: {'PASS' if ok else 'FAIL'}**",
        f"- Date (UTC): {started:%Y-%m-%d %H:%M}",
        f"- Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU cores, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, no GPU; "
        "other jobs were running on the same machine, so latencies are indicative only.",
        f"- Command: `{cmd}`",
        "- Server: `app.py` with `MCLD_TINY=1` on 127.0.0.1 (queue `max_size` 20, `default_concurrency_limit` 1, "
        "as in `app.py`); requests: `/generate` with 1 DDIM step, output 256x176 (tiny mode samples at "
        "256x256, `PoseTransfer.tiny`); bad uploads: " + ", ".join(BAD_CASES) + ".",
        "",
        f"## 1. Concurrent: {args.clients} clients x {args.per_client} requests = {n_total}",
        "",
        f"Accounted for: {len(conc)}/{n_total}; wall time {report['concurrent_wall_s']:.0f} s.",
        "",
        "| outcome | requests |",
        "|---|---|",
        table(_summary(conc)),
        "",
        f"Latency, good: {_latency_line(conc, lambda k: k == 'good')}; bad: {_latency_line(conc, lambda k: k != 'good')}"
        " (includes waiting in the queue).",
        "",
        f"## 2. Sequential: {args.warmup} warm-up + {args.sequential} measured (every {args.good_every}th a generation)",
        "",
        "| outcome | requests |",
        "|---|---|",
        table(_summary(seq)),
        "",
        f"Latency, good: {_latency_line(seq, lambda k: k == 'good')}; bad: {_latency_line(seq, lambda k: k != 'good')}.",
        f"Wall time {report['sequential_wall_s']:.0f} s.",
        "",
        "## Server memory (RSS, process + children)",
        "",
        f"- at start (model not built yet): {report['rss_start']:.0f} MiB",
        f"- after the concurrent phase: {report['rss_after_concurrent']:.0f} MiB",
        f"- after warm-up (baseline): {rss[0]:.0f} MiB",
        "- after request "
        + " / ".join(str(i) for i in (50, 100, 150) if i < len(rss) - 1)
        + f" / {len(rss) - 1}: "
        + " / ".join(f"{rss[i]:.0f}" for i in (50, 100, 150, len(rss) - 1) if i <= len(rss) - 1)
        + " MiB",
        f"- max during the sequential phase: {max(rss):.0f} MiB",
        f"- **growth over {args.sequential} sequential requests: {growth:+.2f} %** (target <= 5 %)",
        "",
        "## Server log",
        "",
        f"- HTTP 5xx lines: {report['server_5xx']}; tracebacks: {report['server_tracebacks']}, of which "
        f"{report['server_gr_errors']} are Gradio logging our `gr.Error`s (the bad uploads) and "
        f"{report['server_tracebacks'] - report['server_gr_errors']} anything else",
    ]
    if wrong:
        lines += ["", "## Wrong outcomes", ""] + [f"- {r['kind']}: {r['outcome']}" for r in wrong[:30]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
