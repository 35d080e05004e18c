"""CPU-side benchmark: annotators on real photos, app start-up, cold start (imports, weight loading).

Measures, each as the median of ``--runs`` runs (after one untimed warm-up call
that builds the MediaPipe graphs / lookup tables):

* **MediaPipe pose**: ``mcld.annotators.mediapipe_pose.detect_people`` on every
  photo in ``../shared/images``.
* **Human parsing**: the coarse MediaPipe fallback
  (``MediaPipeCoarseParser``) on every photo (photos where it finds nobody
  are skipped and counted).
* **UV texture**: ``build_uv_texture`` (scatter -> inpaint -> SMPL-UV
  re-layout) on every photo, with an IUV from the **tiny random DensePose in
  given-box mode** (box = the whole photo minus a 5 % margin); its part
  labels are random-looking, so this measures the texture code path, not a
  real body's coverage.
* **App start-up**: wall time from launching ``MCLD_TINY=1 python app.py`` to
  the first HTTP answer on its port (skipped if ``app.py`` does not exist).
* **Cold start, imports**: fresh ``python -c "import mcld; import
  mcld.pipeline_mcld"`` (wall clock) and the slowest top-level imports from
  ``python -X importtime``.
* **Cold start, weights**: random full-size float16 safetensors of the four
  MCLD modules (denoising UNet, reference UNet, pose guider, face Resampler;
  about 3.5 GB) are written once to a temporary folder, then
  ``mcld.weights.load_component_weights`` loads them into meta-device modules
  (as ``MCLDPipeline.from_mcld_checkpoints`` does); the folder is deleted afterwards.
  The files were just written, so they are in the page cache: this is the
  warm-disk number. safetensors maps a file lazily, so the load alone reads
  almost nothing: two more rows copy every tensor after loading (as moving
  the weights to the GPU reads them), first warm, then with the files
  evicted from the page cache before each run
  (``posix_fadvise(POSIX_FADV_DONTNEED)``, Linux, no root needed): the
  cold-disk number.

Usage::

    python bench/bench_cpu.py --out bench/results/cpu.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere (bench only)
    sys.path.insert(0, str(REPO))

IMAGES = REPO.parent / "shared" / "images"


def _median_time(fn: Callable[[], Any], runs: int) -> Dict[str, float]:
    """Call ``fn`` once untimed, then ``runs`` timed times; median/min/max seconds."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": runs}


def load_photos() -> List[tuple]:
    """``[(name, (H, W, 3) uint8 RGB)]`` for every photo in ``../shared/images``."""
    from PIL import Image

    paths = sorted(glob.glob(str(IMAGES / "*.png")) + glob.glob(str(IMAGES / "*.jpg")))
    return [(Path(p).name, np.asarray(Image.open(p).convert("RGB"))) for p in paths]


# Annotators -----------------------------------------------------------------------


def bench_pose(photos, runs: int) -> Dict[str, Any]:
    """MediaPipe ``detect_people`` per photo (first call, graph build, reported separately)."""
    from mcld.annotators.mediapipe_pose import MediaPipePoseDetector, detect_people
    from mcld.errors import NoPersonError

    detector = MediaPipePoseDetector()
    t0 = time.perf_counter()
    try:
        detect_people(photos[0][1], detector=detector)
    except NoPersonError:
        pass
    first = time.perf_counter() - t0
    per_photo, found = {}, {}
    for name, image in photos:
        def call(image=image, name=name):
            try:
                found[name] = len(detect_people(image, detector=detector))
            except NoPersonError:
                found[name] = 0
        per_photo[name] = _median_time(call, runs)["median_s"]
    detector.close()
    return {"first_call_s": first, "per_photo_s": per_photo, "people": found,
            "median_s": statistics.median(per_photo.values())}


def bench_parsing(photos, runs: int) -> Dict[str, Any]:
    """Coarse MediaPipe human parsing per photo."""
    from mcld.annotators.human_parsing import MediaPipeCoarseParser
    from mcld.errors import NoPersonError

    t0 = time.perf_counter()
    parser = MediaPipeCoarseParser()
    build = time.perf_counter() - t0
    per_photo, skipped = {}, []
    for name, image in photos:
        try:
            parser.detect(image)
        except NoPersonError:
            skipped.append(name)
            continue
        per_photo[name] = _median_time(lambda image=image: parser.detect(image), runs)["median_s"]
    parser.close()
    return {"build_s": build, "per_photo_s": per_photo, "skipped_no_person": skipped,
            "median_s": statistics.median(per_photo.values()) if per_photo else None}


def bench_texture(photos, runs: int) -> Dict[str, Any]:
    """``build_uv_texture`` per photo with a tiny-random-DensePose IUV (given-box mode)."""
    from mcld.annotators.densepose import DensePosePredictor
    from mcld.annotators.uv_texture import build_uv_texture

    densepose = DensePosePredictor.tiny(seed=0)
    per_photo, coverage = {}, {}
    t0 = time.perf_counter()
    first_done = False
    for name, image in photos:
        h, w = image.shape[:2]
        box = np.array([[0.05 * w, 0.05 * h, 0.95 * w, 0.95 * h]], np.float32)
        iuv = densepose.detect(image, boxes=box).to_iuv(0)
        coverage[name] = float((iuv[..., 0] > 0).mean())
        if not first_done:
            build_uv_texture(image, iuv)  # mapping tables, once per process
            first_done = True
            first = time.perf_counter() - t0
        per_photo[name] = _median_time(lambda image=image, iuv=iuv: build_uv_texture(image, iuv), runs)["median_s"]
    return {"first_call_incl_tables_s": first, "per_photo_s": per_photo, "iuv_body_fraction": coverage,
            "iuv_source": "tiny random DensePose, given-box mode",
            "median_s": statistics.median(per_photo.values())}


# App and cold start ---------------------------------------------------------------


def bench_app_startup(runs: int, timeout: float = 180.0) -> Optional[Dict[str, Any]]:
    """Seconds from ``MCLD_TINY=1 python app.py`` to the first HTTP answer; ``None`` without app.py.

    Uses the shared launcher :func:`tools.appserver.run_app` (probing every 0.1 s).
    """
    import tempfile

    from tools.appserver import run_app

    if not (REPO / "app.py").is_file():
        return None
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            t0 = time.perf_counter()
            with run_app(Path(tmp) / f"app_{i}.log", timeout_s=timeout, poll_s=0.1):
                times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "runs_s": times}


def bench_imports(runs: int) -> Dict[str, Any]:
    """Fresh-process import of ``mcld`` + ``mcld.pipeline_mcld``: wall clock and ``-X importtime`` top entries."""
    code = "import mcld, mcld.pipeline_mcld"
    baseline_code = "pass"
    wall, base = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
        wall.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", baseline_code], cwd=REPO, check=True)
        base.append(time.perf_counter() - t0)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPO, check=True,
                          capture_output=True, text=True)
    top_level = _importtime_top(proc.stderr)
    return {"median_s": statistics.median(wall), "python_startup_s": statistics.median(base),
            "import_only_s": statistics.median(wall) - statistics.median(base),
            "importtime_top_level": top_level}


HEAVY_IMPORTS = ("torch", "diffusers", "transformers", "numpy", "PIL", "cv2", "safetensors", "huggingface_hub")


def _importtime_top(stderr: str) -> List[tuple]:
    """Cumulative seconds of the heavy packages (first import, any depth) in a ``-X importtime`` log."""
    seen: Dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        fields = line[len("import time:"):].split("|")
        if len(fields) != 3:
            continue
        name = fields[2].strip()
        if name in HEAVY_IMPORTS and name not in seen:
            seen[name] = int(fields[1]) / 1e6
    return sorted(seen.items(), key=lambda x: -x[1])


def _evict_from_page_cache(path: Path) -> None:
    """Drop ``path``'s pages from the OS page cache (Linux; no root needed): the next read comes from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def bench_weight_loading(runs: int) -> Dict[str, Any]:
    """Write random full-size fp16 safetensors of the four MCLD modules, time loading them, delete them."""
    import torch

    from mcld.models.face_resampler import FaceResampler
    from mcld.models.pose_guider import PoseGuider
    from mcld.models.unets import build_denoising_unet, build_reference_unet, load_config
    from mcld import weights

    unet_cfg = load_config("sd15_unet_config.json")
    resampler_cfg = {k: v for k, v in load_config("face_resampler_config.json").items() if not k.startswith("_")}
    pose_cfg = {k: v for k, v in load_config("pose_guider_config.json").items() if not k.startswith("_")}

    def meta_modules() -> Dict[str, torch.nn.Module]:
        with torch.device("meta"):
            return {
                "denoising_unet": build_denoising_unet(unet_cfg, device="meta"),
                "reference_unet": build_reference_unet(unet_cfg, device="meta"),
                "pose_guider": PoseGuider(**pose_cfg),
                "face_resampler": FaceResampler(**resampler_cfg),
            }

    root = Path(tempfile.mkdtemp(prefix="mcld_bench_weights_"))
    source, cache = root / "weights", root / "cache"
    source.mkdir()
    try:
        sizes = {}
        t0 = time.perf_counter()
        generator = torch.Generator().manual_seed(0)
        for name, module in meta_modules().items():
            state = {k: (torch.randn(v.shape, generator=generator, dtype=torch.float32) * 0.02).half()
                     for k, v in module.state_dict().items()}
            path = weights._cached_safetensors(name, source, cache, fp16=True)
            weights.convert_to_safetensors(state, path, metadata={"bench": "random"})
            sizes[name] = path.stat().st_size
            del state
        write_s = time.perf_counter() - t0

        def load_all(materialise: bool) -> None:
            for name, module in meta_modules().items():
                weights.load_component_weights(name, module, source=source, cache_dir=cache, fp16_cache=True,
                                               convert=False, local_files_only=True)
                if any(p.is_meta for p in module.parameters()):
                    raise RuntimeError(f"{name}: parameters still on the meta device after loading")
                if materialise:  # safetensors maps the file lazily: copy every byte, as `.to("cuda")` reads it
                    for tensor in module.state_dict().values():
                        torch.empty_like(tensor).copy_(tensor)

        files = sorted(cache.rglob("*.safetensors"))

        def cold(materialise: bool) -> Dict[str, float]:
            times = []
            for _ in range(runs):
                for path in files:
                    _evict_from_page_cache(path)
                t0 = time.perf_counter()
                load_all(materialise)
                times.append(time.perf_counter() - t0)
            return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": runs}

        timing = _median_time(lambda: load_all(False), runs)
        result = {"load_median_s": timing["median_s"], "load_min_s": timing["min_s"], "write_s": write_s,
                  "bytes": sizes, "total_gb": sum(sizes.values()) / 1e9, "page_cache": "warm (files just written)",
                  "warm_read_all": _median_time(lambda: load_all(True), runs), "cold_read_all": None}
        if hasattr(os, "posix_fadvise"):  # Linux: evict the files from the page cache before each run
            result["cold_read_all"] = cold(True)
            result["cold_method"] = "os.posix_fadvise(POSIX_FADV_DONTNEED) on each file before each run"
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


# Report ---------------------------------------------------------------------------


def markdown_table(res: Dict[str, Any]) -> str:
    """One row per measurement."""
    rows = [("| what | median s | notes |"), "|---|---|---|"]
    if "pose" in res:
        p = res["pose"]
        rows.append(f"| MediaPipe pose `detect_people` | {p['median_s']:.3f} | per photo, {len(p['per_photo_s'])} photos; "
                    f"first call (graph build) {p['first_call_s']:.2f} s |")
    if "parsing" in res:
        p = res["parsing"]
        med = "-" if p["median_s"] is None else f"{p['median_s']:.3f}"
        rows.append(f"| human parsing (coarse MediaPipe) | {med} | per photo, {len(p['per_photo_s'])} photos "
                    f"(no person: {len(p['skipped_no_person'])}); parser build {p['build_s']:.2f} s |")
    if "texture" in res:
        p = res["texture"]
        rows.append(f"| UV texture `build_uv_texture` | {p['median_s']:.3f} | per photo; IUV from {p['iuv_source']}; "
                    f"first call incl. tables {p['first_call_incl_tables_s']:.2f} s |")
    if "app" in res:
        p = res["app"]
        rows.append("| app start-up `MCLD_TINY=1 python app.py` | - | app.py not present |" if p is None else
                    f"| app start-up `MCLD_TINY=1 python app.py` | {p['median_s']:.2f} | launch to first HTTP answer |")
    if "imports" in res:
        p = res["imports"]
        top = ", ".join(f"{n} {s:.2f}" for n, s in p["importtime_top_level"][:4])
        rows.append(f"| import `mcld` + `mcld.pipeline_mcld` | {p['median_s']:.2f} | fresh process; "
                    f"minus bare interpreter {p['python_startup_s']:.2f} s = {p['import_only_s']:.2f} s; top: {top} |")
    if "weights" in res:
        p = res["weights"]
        rows.append(f"| load 4 MCLD fp16 safetensors | {p['load_median_s']:.2f} | {p['total_gb']:.2f} GB, "
                    f"`load_component_weights` into meta modules, {p['page_cache']} page cache |")
        rows.append(f"| same, then read every byte | {p['warm_read_all']['median_s']:.2f} | safetensors maps files lazily; "
                    "a copy of each tensor reads it, as moving the weights to the GPU does |")
        if p.get("cold_read_all"):
            gbps = p["total_gb"] / p["cold_read_all"]["median_s"]
            rows.append(f"| same, cold page cache | {p['cold_read_all']['median_s']:.2f} | files evicted before each run "
                        f"(`posix_fadvise` DONTNEED): {gbps:.2f} GB/s end to end from this disk |")
    return "\n".join(rows)


def main(argv=None) -> Dict[str, Any]:
    """Run the selected CPU benchmarks, print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="pose,parsing,texture,app,imports,weights",
                        help="comma list of: pose, parsing, texture, app, imports, weights")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",")}
    photos = load_photos()
    print(f"# CPU benchmark {_dt.date.today()}: {platform.machine()}, {os.cpu_count()} cores, "
          f"{len(photos)} photos, {args.runs} runs each", flush=True)
    res: Dict[str, Any] = {}
    steps = [("pose", bench_pose, True), ("parsing", bench_parsing, True), ("texture", bench_texture, True),
             ("app", bench_app_startup, False), ("imports", bench_imports, False), ("weights", bench_weight_loading, False)]
    for key, fn, needs_photos in steps:
        if key not in only:
            continue
        t0 = time.perf_counter()
        res[key] = fn(photos, args.runs) if needs_photos else fn(args.runs)
        print(f"  {key}: done in {time.perf_counter() - t0:.1f} s", flush=True)
    print()
    print(markdown_table(res))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = {"date": str(_dt.date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                  "args": vars(args), "results": res}
        Path(args.out).write_text(json.dumps(record, indent=2, default=str))
        print(f"wrote {args.out}")
    return res


if __name__ == "__main__":
    main()
