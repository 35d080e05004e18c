"""Command line: ``python -m mcld generate | batch | grid | evaluate``.

Examples::

    python -m mcld generate --source person.jpg --target-pose pose.jpg --out out.png
    python -m mcld generate --tiny --source a.png --target-pose b.png --out c.png --steps 4
    python -m mcld generate --source a.jpg --gallery t_pose --edit upper_garment=b.jpg --edit shoes=c.jpg --out d.png
    python -m mcld batch --pairs data/test.csv --image-dir dataset/fashion/test --out-dir results/mcld
    python -m mcld batch --pairs pairs.csv --out-dir results/
    python -m mcld grid --source person.jpg --pose pose1.jpg --pose gallery:t_pose --pose iuv:pose_iuv.png \\
        --axis seed=0,1 --axis ablation=none,face_tokens --out-dir grid/
    python -m mcld evaluate --pred results/mcld --gt results/gt --size 256x176

``batch`` reads two CSV formats, told apart by their header:

* upstream's ``data/test.csv`` (columns ``from,to``; other columns, such as
  pandas' unnamed index, are ignored): file names relative to
  ``--image-dir``; writes ``<out-dir>/256/<from[:-4]>_2_<to[:-4]>.png`` and
  ``<out-dir>/512/...``, exactly the names upstream ``test.py`` gives
  (``save_image_name`` of ``src/dataset/deepfashion_dataset.py``), so
  upstream's ``evaluate.py`` and ``python -m mcld evaluate`` read them
  unchanged. A pair whose two files both exist is skipped (resumable).
  The inputs are upstream's: whole frames squashed to 512x512 (no person
  crop; :func:`upstream_source_conditions`, :func:`upstream_target_conditions`),
  so the results are pixel-aligned with the ground truth that ``--gt-dir``
  writes as upstream's dataset makes it. ``--iuv-dir``, ``--texture-dir``
  and ``--face-dir`` read upstream's ``test_densepose/``, ``test_texture/``
  and ``test_face/`` instead of computing them. ``--person-crop`` is our
  mode instead (the person cropped as ``generate`` does; not the paper's
  protocol). A source's conditions are reused by its consecutive rows. The
  seed (``--seed``) is the same for every pair, as upstream's one global seed.
* ours (columns ``source,target`` and optionally ``out``, ``seed``): one
  image per row at ``--size`` into ``--out-dir``.

Each row is independent: a bad row is reported and skipped, the others
still run. Exit status: 0 when every row succeeded, 1 otherwise, 2 for usage
errors. Progress bars (tqdm) go to stderr, results as JSON lines to stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from . import defaults
from .errors import MCLDError

__all__ = [
    "main", "build_parser", "upstream_result_name", "upstream_source_conditions", "upstream_target_conditions",
    "write_upstream_gt",
]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (documented in ``--help``)."""
    p = argparse.ArgumentParser(prog="python -m mcld", description="MCLD pose-guided person image synthesis")
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--tiny", action="store_true", help="tiny random weights (offline smoke test; not a real result)")
        sp.add_argument(
            "--tiny-model-size", type=int, default=defaults.TINY_MODEL_SIZE,
            help=f"sampling size of --tiny (default {defaults.TINY_MODEL_SIZE})",
        )  # fmt: skip
        sp.add_argument("--weights", default="Lotior/mcld", help="Hub repo id or folder with the MCLD .pth files")
        sp.add_argument("--vae", default="stabilityai/sd-vae-ft-mse")
        sp.add_argument("--image-encoder", default="lambdalabs/sd-image-variations-diffusers")
        sp.add_argument("--densepose", default="R_101_FPN_DL_s1x", help="model name, .pkl/.safetensors path or URL")
        sp.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")

    def common(sp: argparse.ArgumentParser, sizes=("512x352", "256x176", "512x512")) -> None:
        sp.add_argument(
            "--steps", type=int, default=defaults.NUM_INFERENCE_STEPS,
            help=f"DDIM steps (default {defaults.NUM_INFERENCE_STEPS}, as upstream)",
        )  # fmt: skip
        sp.add_argument(
            "--guidance", type=float, default=defaults.GUIDANCE_SCALE,
            help=f"classifier-free guidance scale (default {defaults.GUIDANCE_SCALE})",
        )  # fmt: skip
        sp.add_argument("--seed", type=int, default=defaults.SEED, help=f"noise seed (default {defaults.SEED})")
        sp.add_argument("--scheduler", default=defaults.SCHEDULER, help="ddim (upstream), dpm++2m, euler or unipc")
        sp.add_argument("--size", choices=list(sizes), default=defaults.OUTPUT_SIZE, help="saved size")
        model_args(sp)

    g = sub.add_parser("generate", help="one source photo + one target pose (photo or gallery) -> one image")
    g.add_argument("--source", required=True, help="photo of the person")
    pose = g.add_mutually_exclusive_group(required=True)
    pose.add_argument("--target-pose", help="photo showing the target pose")
    pose.add_argument("--gallery", metavar="NAME", help="a pose of the gallery (examples/poses, assets/poses) by name")
    g.add_argument("--out", required=True, help="output image path (.png)")
    g.add_argument("--mirror", action="store_true", help="mirror the target pose")
    g.add_argument("--align", action="store_true", help="fit the target pose to the source person's size and position")
    g.add_argument(
        "--edit", action="append", default=[], metavar="REGION=PHOTO",
        help="take a region from another photo, repeatable: face, hair, upper_garment, lower_garment, shoes, "
        "appearance (CLIP) or identity (face embedding)",
    )  # fmt: skip
    g.add_argument(
        "--parsing-attention", action="store_true",
        help="parsing-guided reference attention (per DensePose part; with --edit, per photo)",
    )  # fmt: skip
    common(g)

    b = sub.add_parser("batch", help="many pairs from a CSV: upstream's from,to (256/ and 512/ layout) or source,target")
    b.add_argument("--pairs", required=True, help="CSV file")
    b.add_argument("--out-dir", required=True, help="folder for the results (created)")
    b.add_argument("--image-dir", default=None, help="folder the from,to file names are relative to (upstream format)")
    b.add_argument("--iuv-dir", default=None, help="upstream format: IUVs <iuv-dir>/<stem>.png (upstream's test_densepose/) instead of DensePose")
    b.add_argument("--texture-dir", default=None, help="upstream format: source textures <texture-dir>/<from stem>.png (upstream's test_texture/)")
    b.add_argument("--face-dir", default=None, help="upstream format: face embeddings <face-dir>/<from stem>.npy (upstream's test_face/; missing: zeros)")
    b.add_argument("--gt-dir", default=None, help="upstream format: also write the ground truth <gt-dir>/256|512/<name>.png as upstream's dataset makes it")
    b.add_argument(
        "--person-crop", action="store_true",
        help="upstream format: crop each person (MediaPipe) as generate does instead of the paper's whole-frame resize; "
        "outputs are then not pixel-aligned with the ground truth",
    )  # fmt: skip
    common(b)

    r = sub.add_parser("grid", help="one source, up to 6 poses, up to 2 axes of settings -> one captioned sheet")
    r.add_argument("--source", required=True, help="photo of the person")
    r.add_argument(
        "--pose", action="append", required=True,
        help="target pose, repeatable (1..6): a photo path, gallery:NAME (examples/poses) or iuv:PATH (upstream *_iuv.png)",
    )
    r.add_argument(
        "--axis", action="append", default=[],
        help="NAME=V1,V2 (up to 2): seed, guidance, steps, scheduler or ablation "
        "(none, face_tokens, source_clip, texture_clip, reference_attention, parsing_attention)",
    )
    r.add_argument("--ablation", default="none", help="ablation of every cell when it is not an axis")
    r.add_argument("--align", action="store_true", help="fit photo/gallery poses to the source person")
    r.add_argument("--out-dir", required=True, help="folder for grid.png, grid.json, grid.csv and grid_cells/")
    common(r, sizes=("512x352", "256x176"))

    e = sub.add_parser("evaluate", help="SSIM, PSNR (LPIPS, FID if installed) of generated vs ground-truth folders")
    e.add_argument("--pred", required=True, help="generated images (a folder, or one with 256/ and 512/)")
    e.add_argument("--gt", required=True, help="ground-truth images, same file names")
    e.add_argument("--size", choices=["256x176", "512x352"], default=None, help="use DIR/256 or DIR/512 and check sizes")
    e.add_argument("--json", default=None, help="write the results here (default <pred>/metrics_<size>.json)")
    e.add_argument("--fid-real", default=None, help="real images for FID (default: --gt)")
    e.add_argument("--no-lpips", action="store_true")
    e.add_argument("--no-fid", action="store_true")
    e.add_argument("--device", default="cpu", help="device for LPIPS / FID")
    return p


def _load(args):
    from .pose_transfer import PoseTransfer

    if args.tiny:
        return PoseTransfer.tiny(device=args.device or "cpu", model_size=args.tiny_model_size)
    return PoseTransfer.from_pretrained(
        args.weights, vae=args.vae, image_encoder=args.image_encoder, densepose=args.densepose, device=args.device
    )


def _message(err: Exception) -> str:
    return getattr(err, "user_message", None) or str(err)


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=None)


def _edit_plan(specs: list[str]):
    """``--edit REGION=PHOTO`` values -> ``(photos, selection, labels)`` (checked before any model loads).

    Each distinct photo is one extra photo, labelled by its path.
    """
    from .editing import REGION_LABELS, RegionSelection

    if not specs:
        return [], None, None
    choices: dict[str, str] = {}
    for spec in specs:
        region, sep, photo = spec.partition("=")
        if not sep or not photo:
            raise ValueError(f"--edit takes REGION=PHOTO, got {spec!r}")
        if region not in REGION_LABELS:
            raise ValueError(f"--edit: unknown region {region!r}; choose from {', '.join(REGION_LABELS)}")
        if not Path(photo).is_file():
            raise ValueError(f"--edit {region}: no such photo {photo!r}")
        choices[region] = photo
    photos = list(dict.fromkeys(choices.values()))
    selection, _ = RegionSelection.from_choices(choices, ["Source", *photos])
    return photos, selection, ["Source", *photos]


def _gallery_plan(name: str | None):
    """``--gallery NAME`` -> the gallery pose (``GalleryPoseError`` lists the valid names)."""
    if name is None:
        return None
    from .gallery import find_gallery_pose, load_gallery

    return find_gallery_pose(load_gallery(), name)


def _run_one(pt, args, source, target, out: Path, seed: int, mirror=False, align=False, edit=([], None, None)) -> dict:
    photos, selection, labels = edit
    job = pt.prepare(
        source, target, photos=photos, selection=selection, labels=labels, mirror=mirror, align=align,
        num_inference_steps=args.steps, guidance_scale=args.guidance, seed=seed, scheduler=args.scheduler,
        parsing_attention=bool(getattr(args, "parsing_attention", False)),
    )  # fmt: skip
    result = pt.run(job)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.image(args.size).save(out)
    notes = [*job.notes, *(result.source.warnings if selection is None else result.notes)]
    for note in dict.fromkeys(notes):
        print(f"note: {note}", file=sys.stderr)
    return {"out": str(out), **result.settings, **({"gallery_pose": job.gallery_pose} if job.gallery_pose else {})}


def upstream_result_name(from_name: str, to_name: str) -> str:
    """The file stem upstream gives the result of a pair: ``from[:-4] + "_2_" + to[:-4]``.

    ``[:-4]`` drops a 4-character extension such as ``.jpg`` (as upstream
    does, so a ``.jpeg`` name keeps its dot).

    Source:
        Upstream ``src/dataset/deepfashion_dataset.py`` (``combined_image_name``,
        the ``save_image_name`` that ``test.py`` saves as ``256/<name>.png``
        and ``512/<name>.png``).
    """
    return from_name[:-4] + "_2_" + to_name[:-4]


def _read_pil_iuv(path: Path):
    """Upstream ``*_iuv.png`` (cv2 order ``(I, U, V)``, PIL reads ``(V, U, I)``) -> ``(H, W, 3)`` ``(I, U, V)``."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.ascontiguousarray(np.asarray(image.convert("RGB"))[..., ::-1])


#: Side of the square frame upstream's dataset squashes every test input to
#: (``Image.resize((512, 512))``, PIL bicubic), before the pipeline sees it.
UPSTREAM_FRAME = 512


def _squash(image: Image.Image) -> np.ndarray:
    """A whole frame -> ``(512, 512, 3)`` uint8 as upstream's dataset resizes it (PIL bicubic, aspect not kept)."""
    import numpy as np
    from PIL import Image

    return np.asarray(image.convert("RGB").resize((UPSTREAM_FRAME, UPSTREAM_FRAME), Image.BICUBIC))


def _read_frame(path: Path) -> Image.Image:
    """The whole photo as upstream opens it: PIL, full size (no person crop, no downscaling), RGB."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def _whole_frame_iuv(pt, frame: np.ndarray) -> np.ndarray:
    """DensePose IUV ``(H, W, 3)`` ``(I, U*255, V*255)`` of the whole frame, as upstream's ``prepare_pose``.

    Upstream keeps detection 0 (the highest score) of detectron2's detector on
    the whole image and pastes its IUV box into a black frame
    (``preprocess_data/densepose_interface.py`` ``process_output``). Without a
    detector (tiny weights) the box is the whole frame.

    Raises:
        NoPersonError: the detector finds nobody.
    """
    import numpy as np

    from .errors import NoPersonError

    if not pt.use_detector:
        height, width = frame.shape[:2]
        return pt.densepose.detect(frame, boxes=np.array([[0, 0, width, height]], np.float32)).to_iuv(0)
    res = pt.densepose.detect(frame)
    if len(res.boxes) == 0:
        raise NoPersonError("DensePose found no person in this photo.")
    return res.to_iuv(0)


def upstream_source_conditions(
    pt, path, *, iuv_dir=None, texture_dir=None, face_dir=None, texture_fill: str = "upstream"
):
    """The source conditions upstream ``test.py`` feeds for one test photo (paper protocol).

    No person crop: the whole DeepFashion frame is squashed to 512x512 with
    PIL bicubic, as upstream's dataset does
    (jqliu09/MCLD@6279ff7c601c11dff5e075410ed34df2973da088
    ``src/dataset/deepfashion_dataset.py``, ``DeepFashionBaseline.__getitem__``,
    lines 134 and 148: ``Image.open(...).resize((512, 512))``). That image is
    the CLIP source image (``img_input``; ``texture_clip_condition: False`` in
    ``configs/train/train.yaml``); the texture map is the ReferenceNet input
    and the second CLIP image (``texture_unet_condition: True``).

    Args:
        pt: A :class:`mcld.pose_transfer.PoseTransfer`.
        path: The source photo (upstream: ``dataset/fashion/test/<from>``).
        iuv_dir: Upstream's ``test_densepose/``: the texture is built from
            ``<iuv_dir>/<stem>.png`` (cv2 channel order) when that file
            exists; otherwise our DensePose runs on the whole frame
            (:func:`_whole_frame_iuv`).
        texture_dir: Upstream's ``test_texture/``: ``<texture_dir>/<stem>.png``
            (RGB as PIL reads it) is the texture, resized to 512x512 as upstream
            does (line 148); ``None``: built from the whole frame and its IUV
            with :func:`mcld.annotators.uv_texture.build_uv_texture`, as
            upstream's ``prepare_dataset.py`` ``prepare_texture_mp`` does.
        face_dir: Upstream's ``test_face/``: ``<face_dir>/<stem>.npy`` (a
            ``(512,)`` insightface embedding); a missing file gives zeros, as
            upstream (lines 187-193). ``None``: :meth:`PoseTransfer.face_embedding`
            of the whole frame (upstream's ``prepare_face`` also runs on the
            whole image).
        texture_fill: As :meth:`PoseTransfer.prepare_source` (when the
            texture is built here).

    Returns:
        :class:`mcld.conditions.SourceConditions` whose ``crop`` is the
        ``(512, 512, 3)`` uint8 squashed whole frame (not a person crop; the
        pipeline at 512x512 takes it unchanged), ``iuv`` the whole frame's IUV
        at its own size, ``texture`` ``(512, 512, 3)`` uint8, ``pose`` and
        ``crop_info`` ``None``.

    Raises:
        OSError: a missing or unreadable file. NoPersonError: DensePose finds
        nobody. ValueError: an IUV whose size is not the photo's.
    """
    import numpy as np

    from .annotators.densepose.iuv import read_iuv_png
    from .annotators.uv_texture import build_uv_texture
    from .conditions import SourceConditions

    path = Path(path)
    photo = _read_frame(path)
    frame = np.asarray(photo)
    iuv_file = Path(iuv_dir) / f"{path.stem}.png" if iuv_dir else None
    iuv = read_iuv_png(iuv_file) if iuv_file is not None and iuv_file.is_file() else None
    if iuv is not None and iuv.shape[:2] != frame.shape[:2]:
        raise ValueError(f"{iuv_file} is {iuv.shape[1]}x{iuv.shape[0]}, the photo {frame.shape[1]}x{frame.shape[0]}")
    notes: list = []
    approximate = False
    if texture_dir:
        texture = _squash(_read_frame(Path(texture_dir) / f"{path.stem}.png"))
    else:
        if iuv is None:
            iuv = _whole_frame_iuv(pt, frame)
        template = pt.texture_template() if texture_fill == "upstream" else None
        uv = build_uv_texture(frame, iuv, fill=texture_fill, template=template)
        texture, approximate, notes = uv.texture, uv.approximate, list(uv.notes)
    face_crop = None
    if face_dir:
        face_file = Path(face_dir) / f"{path.stem}.npy"
        found = face_file.is_file()
        embeds = np.load(face_file).astype(np.float32).reshape(1, 512) if found else np.zeros((1, 512), np.float32)
        status = "ok" if found else "no_face"
    else:
        embeds, status, face_crop, note = pt.face_embedding(frame)
        if note:
            notes.append(note)
    return SourceConditions(
        photo=photo, people=[], person_index=0, crop=_squash(photo), crop_info=None, pose=None,
        iuv=iuv if iuv is not None else np.zeros((*frame.shape[:2], 3), np.uint8), texture=texture,
        face_embeds=embeds, face_status=status, face_crop=face_crop, warnings=notes, texture_fill=texture_fill,
        texture_approximate=approximate,
    )  # fmt: skip


def upstream_target_conditions(pt, path, *, iuv_dir=None):
    """The target pose upstream ``test.py`` feeds for one test photo (paper protocol).

    The whole frame's DensePose IUV, squashed to 512x512 with PIL bicubic as
    upstream's dataset resizes ``test_densepose/<to stem>.png``
    (jqliu09/MCLD@6279ff7c601c11dff5e075410ed34df2973da088
    ``src/dataset/deepfashion_dataset.py`` lines 143, 150 and 161:
    ``Image.open(pose_path)``, ``pose_img.resize((512, 512))``; upstream
    interpolates part indices too, and so does this).

    Args:
        pt: A :class:`mcld.pose_transfer.PoseTransfer`.
        path: The target photo (upstream: ``dataset/fashion/test/<to>``).
        iuv_dir: Upstream's ``test_densepose/``: ``<iuv_dir>/<stem>.png``
            (cv2 channel order); ``None``: our DensePose on the whole frame
            (:func:`_whole_frame_iuv`), the photo is then read.

    Returns:
        :class:`mcld.conditions.TargetConditions` with ``iuv`` ``(512, 512, 3)``
        uint8 ``(I, U*255, V*255)``; ``photo`` is ``None`` with ``iuv_dir``.

    Raises:
        OSError: a missing or unreadable file. NoPersonError: DensePose finds nobody.
    """
    import numpy as np
    from PIL import Image

    from .annotators.densepose.iuv import read_iuv_png
    from .conditions import TargetConditions

    path = Path(path)
    if iuv_dir:
        photo, iuv = None, read_iuv_png(Path(iuv_dir) / f"{path.stem}.png")
    else:
        photo = _read_frame(path)
        iuv = _whole_frame_iuv(pt, np.asarray(photo))
    return TargetConditions(photo=photo, people=[], person_index=0, pose=None, iuv=_squash(Image.fromarray(iuv)))


def write_upstream_gt(target_path, outs: dict) -> None:
    """Write a pair's ground truth as upstream's dataset makes it: the whole
    target frame PIL-bicubic-resized to 256x176 and 512x352
    (jqliu09/MCLD@6279ff7c601c11dff5e075410ed34df2973da088
    ``src/dataset/deepfashion_dataset.py`` lines 73-81 and 168-169,
    ``gt_256`` / ``gt_512``: torchvision ``Resize`` of a PIL image is PIL's
    bicubic resize), saved as PNG.

    Args:
        target_path: The target photo (upstream: ``dataset/fashion/test/<to>``).
        outs: ``{"256x176": path, "512x352": path}``; existing files are kept.

    Raises:
        OSError: a missing or unreadable photo.
    """
    from PIL import Image

    frame = None
    for size, out in outs.items():
        if Path(out).exists():
            continue
        if frame is None:
            frame = _read_frame(Path(target_path))
        height, width = (int(v) for v in size.split("x"))
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        frame.resize((width, height), Image.BICUBIC).save(out)


def _batch_upstream(pt, args, rows: list[dict]) -> int:
    """``batch`` on upstream's ``from,to`` CSV: the paper's protocol unless ``--person-crop``.

    Default (paper protocol): each pair's conditions are
    :func:`upstream_source_conditions` and :func:`upstream_target_conditions`
    (whole frames squashed to 512x512, as upstream ``test.py`` feeds them
    through ``src/dataset/deepfashion_dataset.py``), so the outputs are
    pixel-aligned with DeepFashion's ground truth (``--gt-dir`` writes it).
    ``--person-crop``: our mode for photos in the wild, not the paper's: the
    source and target are cropped around the person (MediaPipe +
    :class:`mcld.conditions.PersonCrop`) as ``generate`` does, and an
    ``--iuv-dir`` IUV is padded into the crop frame; those outputs are not
    aligned with the ground truth.

    Both write ``<out>/256/<name>.png`` and ``<out>/512/<name>.png`` (the
    pipeline's upstream post-processing of its 512x512 output), skip pairs
    whose two files exist, and reuse a source's conditions for its
    consecutive rows.
    """
    from .grid import iuv_to_crop_frame
    from .pose_transfer import TargetConditions

    image_dir, out_dir = Path(args.image_dir), Path(args.out_dir)
    dirs = {size: out_dir / sub for size, sub in (("256x176", "256"), ("512x352", "512"))}
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    gt_dirs = {size: Path(args.gt_dir) / folder.name for size, folder in dirs.items()} if args.gt_dir else None
    failures = 0
    last_source: tuple = (None, None)  # upstream's test.csv lists each source's pairs together
    with _progress(len(rows), "batch") as bar:
        for i, row in enumerate(rows):
            name = upstream_result_name(row["from"], row["to"])
            outs = {size: folder / f"{name}.png" for size, folder in dirs.items()}
            try:
                if gt_dirs:
                    write_upstream_gt(image_dir / row["to"], {s: d / f"{name}.png" for s, d in gt_dirs.items()})
                if all(p.exists() for p in outs.values()):
                    print(json.dumps({"row": i, "name": name, "skipped": "exists"}))
                    bar.update()
                    continue
                if args.person_crop:
                    if last_source[0] != row["from"]:
                        last_source = (row["from"], pt.prepare_source(image_dir / row["from"]))
                    if args.iuv_dir:
                        iuv = iuv_to_crop_frame(_read_pil_iuv(Path(args.iuv_dir) / (Path(row["to"]).stem + ".png")))
                        tgt = TargetConditions(photo=None, people=[], person_index=0, pose=None, iuv=iuv)
                    else:
                        tgt = pt.prepare_target(image_dir / row["to"])
                else:
                    if last_source[0] != row["from"]:
                        src = upstream_source_conditions(
                            pt, image_dir / row["from"], iuv_dir=args.iuv_dir, texture_dir=args.texture_dir,
                            face_dir=args.face_dir,
                        )  # fmt: skip
                        last_source = (row["from"], src)
                    tgt = upstream_target_conditions(pt, image_dir / row["to"], iuv_dir=args.iuv_dir)
                result = pt.generate(
                    last_source[1], tgt, num_inference_steps=args.steps, guidance_scale=args.guidance,
                    seed=args.seed, scheduler=args.scheduler,
                )  # fmt: skip
                result.image_256x176.save(outs["256x176"])
                result.image_512x352.save(outs["512x352"])
                protocol = "person_crop" if args.person_crop else "upstream"
                print(json.dumps({"row": i, "name": name, "protocol": protocol, **result.settings}))
            except (MCLDError, ValueError, OSError) as err:
                failures += 1
                print(json.dumps({"row": i, "name": name, "error": _message(err)}))
            bar.update()
    return 1 if failures else 0


def _batch_ours(pt, args, rows: list[dict]) -> int:
    out_dir = Path(args.out_dir)
    failures = 0
    with _progress(len(rows), "batch") as bar:
        for i, row in enumerate(rows):
            out = out_dir / (row.get("out") or f"{i:05d}.png")
            seed = int(row["seed"]) if row.get("seed") else args.seed
            try:
                info = _run_one(pt, args, row["source"], row["target"], out, seed)
                print(json.dumps({"row": i, **info}))
            except (MCLDError, ValueError) as err:
                failures += 1
                print(json.dumps({"row": i, "error": _message(err)}))
            bar.update()
    return 1 if failures else 0


def _grid_targets(specs: list[str]):
    from .pose_gallery import load_gallery

    targets = []
    for spec in specs:
        kind, sep, rest = spec.partition(":")
        if sep and kind == "gallery":
            poses = {p.name: p for p in load_gallery()}
            if rest not in poses:
                raise ValueError(f"no gallery pose {rest!r}; choose from {sorted(poses)}")
            targets.append(poses[rest])
        elif sep and kind == "iuv":
            targets.append(_read_pil_iuv(Path(rest)))
        else:
            targets.append(spec)
    return targets


def _grid_plan(args):
    """Axes, targets and cell plan of ``grid`` (checked before any model loads)."""
    from .grid import parse_axis, plan_grid

    axes = [parse_axis(a) for a in args.axis]
    targets = _grid_targets(args.pose)
    base = dict(num_inference_steps=args.steps, guidance_scale=args.guidance, seed=args.seed,
                scheduler=args.scheduler, ablation=args.ablation)
    return axes, targets, base, plan_grid(len(targets), axes, **base)


def _grid(pt, args, axes, targets, base, plan) -> int:
    from .grid import grid_gpu_seconds, run_grid

    labels = [Path(s.partition(":")[2] if s.startswith(("iuv:", "gallery:")) else s).stem for s in args.pose]
    n_photos = sum(1 for s in args.pose if not s.startswith(("iuv:", "gallery:")))
    print(f"{len(plan)} images; about {grid_gpu_seconds(plan, n_photos):.0f} s on a ZeroGPU H200", file=sys.stderr)
    with _progress(len(plan), "grid") as bar:
        result = run_grid(
            pt, args.source, targets, axes, **base, size=args.size, align=args.align, pose_labels=labels,
            callback=lambda done, total: bar.update(done - bar.n),
        )
    paths = result.save(args.out_dir)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps({k: str(v) for k, v in paths.items()} | {"cells": len(result.cells)}))
    return 0


def _evaluate(args) -> int:
    from .metrics import evaluate_folders, format_table, write_json

    with _progress(0, "evaluate") as bar:
        def step(done, total):
            bar.total = total
            bar.update(done - bar.n)

        result = evaluate_folders(
            args.pred, args.gt, args.size, lpips=not args.no_lpips, fid=not args.no_fid, fid_real=args.fid_real,
            device=args.device, callback=step,
        )
    print(format_table(result))
    out = Path(args.json) if args.json else Path(args.pred) / f"metrics_{args.size or 'any'}.json"
    write_json(result, out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point. Returns the process exit status (0 ok, 1 failures, 2 usage)."""
    args = build_parser().parse_args(argv)
    if args.command == "evaluate":
        try:
            return _evaluate(args)
        except MCLDError as err:
            print(f"error: {err.user_message}", file=sys.stderr)
            return 2
    rows: list[dict] = []
    if args.command == "batch":
        with open(args.pairs, newline="") as fh:
            rows = list(csv.DictReader(fh))
        columns = set(rows[0]) if rows else set()
        if not ({"from", "to"} <= columns or {"source", "target"} <= columns):
            print("error: the CSV needs a header with the columns from,to (upstream) or source,target", file=sys.stderr)
            return 2
        if {"from", "to"} <= columns and not args.image_dir:
            print("error: the from,to format needs --image-dir (the folder its file names are relative to)", file=sys.stderr)
            return 2
    grid_plan = None
    if args.command == "generate":
        try:
            generate_plan = (_gallery_plan(args.gallery), _edit_plan(args.edit))
        except (MCLDError, ValueError) as err:
            print(f"error: {_message(err)}", file=sys.stderr)
            return 2
    if args.command == "grid":
        try:
            grid_plan = _grid_plan(args)
        except (MCLDError, ValueError, OSError) as err:
            print(f"error: {_message(err)}", file=sys.stderr)
            return 2
    try:
        pt = _load(args)
    except MCLDError as err:
        print(f"error: {err.user_message}", file=sys.stderr)
        return 1
    if args.command == "generate":
        try:
            pose, edit = generate_plan
            target = pose if pose is not None else args.target_pose
            info = _run_one(pt, args, args.source, target, Path(args.out), args.seed, args.mirror, args.align, edit)
        except (MCLDError, ValueError) as err:
            print(f"error: {_message(err)}", file=sys.stderr)
            return 1
        print(json.dumps(info))
        return 0
    if args.command == "grid":
        try:
            return _grid(pt, args, *grid_plan)
        except (MCLDError, ValueError) as err:
            print(f"error: {_message(err)}", file=sys.stderr)
            return 1
    if {"from", "to"} <= set(rows[0]):
        return _batch_upstream(pt, args, rows)
    return _batch_ours(pt, args, rows)
