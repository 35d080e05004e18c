"""Multi-person body pose with MediaPipe's legacy single-person Pose graph.

MediaPipe's legacy ``mp.solutions.pose.Pose`` finds at most one person per
call. :class:`MediaPipePoseDetector` finds everyone by proposing person
regions first, then running Pose on each (padded) region:

1. Proposals: the whole image; each connected component of the
   SelfieSegmentation person mask (probability > 0.5, at least 0.5 % of the
   image); and a body-sized region below each full-range face detection
   (``FaceDetection(model_selection=1)``), which separates people whose
   segmentation masks touch.
2. Pose (``static_image_mode=True``, ``model_complexity=1``) on each
   proposal, landmarks mapped back to full-image coordinates and converted to
   COCO-18 (:func:`~.keypoints.blazepose_to_coco18`).
3. Candidates with a score (mean visibility of the 12 limb keypoints) below
   ``min_score`` are dropped; duplicates (same person found from two
   proposals: median distance of shared visible keypoints below 20 % of the
   person's torso size) keep the higher score.
4. Person box: bounding box of the visible keypoints (raised to cover the top
   of the head), joined with the segmentation-mask pixels near it.
5. People are sorted **left to right** by the x of their box centre.
"""

from __future__ import annotations

import threading

import numpy as np

from ...errors import NoPersonError
from ...image_utils import to_numpy_rgb
from .keypoints import PersonPose, blazepose_to_coco18

__all__ = ["MediaPipePoseDetector", "detect_people", "pick_person", "get_default_detector"]

_LIMBS = np.arange(2, 14)  # shoulders .. ankles in COCO-18


def _import_mediapipe():
    try:
        import mediapipe as mp
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError("MediaPipe pose needs the `mediapipe` package: pip install mediapipe==0.10.21") from err
    return mp


class MediaPipePoseDetector:
    """Owns the MediaPipe graphs (built lazily on first use, reused after).

    Args:
        min_detection_confidence: Passed to the Pose and FaceDetection graphs.
        min_score: Candidates whose mean limb visibility is below this are
            dropped.

    Graph calls are serialised with a lock (MediaPipe graphs are not
    thread-safe). Call :meth:`close` to free them.

    Source:
        MediaPipe legacy solutions API (``mp.solutions.pose``,
        ``selfie_segmentation``, ``face_detection``), mediapipe 0.10.21.
    """

    def __init__(self, min_detection_confidence: float = 0.5, min_score: float = 0.3):
        self.min_detection_confidence = min_detection_confidence
        self.min_score = min_score
        self._pose = None
        self._seg = None
        self._faces = None
        self._lock = threading.Lock()

    # -- graphs -------------------------------------------------------------
    def _get_pose(self):
        if self._pose is None:
            mp = _import_mediapipe()
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=True,
                model_complexity=1,
                enable_segmentation=False,
                min_detection_confidence=self.min_detection_confidence,
            )
        return self._pose

    def _get_seg(self):
        if self._seg is None:
            mp = _import_mediapipe()
            self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        return self._seg

    def _get_faces(self):
        if self._faces is None:
            mp = _import_mediapipe()
            self._faces = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=self.min_detection_confidence
            )
        return self._faces

    def close(self) -> None:
        """Free the MediaPipe graphs (they are rebuilt on next use)."""
        with self._lock:
            for graph in (self._pose, self._seg, self._faces):
                if graph is not None:
                    graph.close()
            self._pose = self._seg = self._faces = None

    # -- single-model helpers ------------------------------------------------
    def segment(self, image) -> np.ndarray:
        """Person probability from SelfieSegmentation (general model).

        Args:
            image: PIL image or ``(H, W, 3)`` uint8 RGB array.

        Returns:
            ``(H, W)`` float32 in ``[0, 1]`` (probability of "person").
        """
        rgb = np.ascontiguousarray(to_numpy_rgb(image))
        with self._lock:
            mask = self._get_seg().process(rgb).segmentation_mask
        return np.asarray(mask, dtype=np.float32)

    def detect_faces(self, image) -> list[tuple[np.ndarray, float]]:
        """Full-range face boxes.

        Args:
            image: PIL image or ``(H, W, 3)`` uint8 RGB array.

        Returns:
            List of ``(box (4,) float32 XYXY pixels, score in [0, 1])``,
            highest score first.
        """
        rgb = np.ascontiguousarray(to_numpy_rgb(image))
        h, w = rgb.shape[:2]
        with self._lock:
            result = self._get_faces().process(rgb)
        faces = []
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            box = np.array([rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h], np.float32)
            faces.append((box, float(det.score[0])))
        faces.sort(key=lambda f: -f[1])
        return faces

    def _pose_in_region(self, rgb: np.ndarray, region: tuple[int, int, int, int]) -> PersonPose | None:
        x0, y0, x1, y1 = region
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        with self._lock:
            result = self._get_pose().process(crop)
        if result.pose_landmarks is None:
            return None
        cw, ch = x1 - x0, y1 - y0
        h, w = rgb.shape[:2]
        lm = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark], dtype=np.float32)
        # crop-normalised -> full-image normalised
        lm[:, 0] = (lm[:, 0] * cw + x0) / w
        lm[:, 1] = (lm[:, 1] * ch + y0) / h
        kps, vis = blazepose_to_coco18(lm)
        score = float(vis[_LIMBS].mean())
        pose = PersonPose(kps, vis, np.zeros(4, np.float32), score, (w, h))
        return pose

    def __call__(self, input_image, detect_resolution: int = 512, image_resolution: int = 512, output_type: str = "pil"):
        """Annotator contract: OpenPose skeleton image of everyone in a photo.

        Args:
            input_image: PIL image or ``(H, W, 3)`` uint8 RGB array.
            detect_resolution: The photo is resized so its shorter side is this
                many pixels before detection (aspect kept).
            image_resolution: Shorter side of the returned skeleton image.
            output_type: ``"pil"`` or ``"np"``.

        Returns:
            Skeletons on black (:func:`~.draw.draw_openpose`), PIL RGB image or
            ``(H, W, 3)`` uint8 array, with the photo's aspect.

        Raises:
            NoPersonError: nobody was found.
            ValueError: unknown ``output_type``.
        """
        from PIL import Image

        from .draw import draw_openpose

        if output_type not in ("pil", "np"):
            raise ValueError(f"output_type must be 'pil' or 'np', got {output_type!r}")
        rgb = to_numpy_rgb(input_image)
        h, w = rgb.shape[:2]
        k = detect_resolution / min(h, w)
        small = np.asarray(Image.fromarray(rgb).resize((max(1, round(w * k)), max(1, round(h * k))), Image.BILINEAR))
        people = self.detect_people(small)
        k = image_resolution / min(h, w)
        canvas = draw_openpose((max(1, round(w * k)), max(1, round(h * k))), people)
        return Image.fromarray(canvas) if output_type == "pil" else canvas

    # -- main entry ----------------------------------------------------------
    def detect_people(self, image, *, max_people: int = 8) -> list[PersonPose]:
        """Find every person in a photo and estimate their COCO-18 pose.

        Args:
            image: PIL image or ``(H, W, 3)`` uint8 RGB array (any size; use
                :func:`mcld.image_utils.load_image` for uploads).
            max_people: Keep at most this many people (highest scores).

        Returns:
            List of :class:`PersonPose` in full-image coordinates, sorted left
            to right by box centre x; never empty.

        Raises:
            NoPersonError: nobody was found.
            InputImageError: ``image`` is not an image.
        """
        rgb = np.ascontiguousarray(to_numpy_rgb(image))
        h, w = rgb.shape[:2]
        prob = self.segment(rgb)
        mask = prob > 0.5
        regions = [(0, 0, w, h)]
        regions += _mask_regions(mask)
        regions += [_face_body_region(box, (w, h)) for box, _ in self.detect_faces(rgb)]

        candidates: list[PersonPose] = []
        seen: set = set()
        for region in regions:
            region = _pad_region(region, (w, h), 0.15)
            if region in seen or (region[2] - region[0]) < 16 or (region[3] - region[1]) < 16:
                continue
            seen.add(region)
            pose = self._pose_in_region(rgb, region)
            if pose is not None and pose.score >= self.min_score:
                candidates.append(pose)

        people = _dedupe(candidates)[:max_people]
        if not people:
            raise NoPersonError(
                "No person was found in this photo; please use a photo showing one person's body, standing, fully in frame.",
                detail=f"{len(regions)} regions tried",
            )
        for pose in people:
            pose.box = _person_box(pose, mask)
        people.sort(key=lambda p: float(p.box[0] + p.box[2]) / 2.0)
        return people


def _mask_regions(mask: np.ndarray, min_frac: float = 0.005) -> list[tuple[int, int, int, int]]:
    import cv2

    h, w = mask.shape
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if area >= min_frac * h * w:
            out.append((int(x), int(y), int(x + bw), int(y + bh)))
    return out


def _face_body_region(face_box: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A standing body below a face: ~6 face widths wide, ~8 face heights tall."""
    w, h = size
    fx0, fy0, fx1, fy1 = face_box
    fw, fh = fx1 - fx0, fy1 - fy0
    cx = (fx0 + fx1) / 2.0
    return (
        int(max(0, cx - 3.0 * fw)),
        int(max(0, fy0 - 0.5 * fh)),
        int(min(w, cx + 3.0 * fw)),
        int(min(h, fy1 + 8.0 * fh)),
    )


def _pad_region(region, size, frac) -> tuple[int, int, int, int]:
    w, h = size
    x0, y0, x1, y1 = region
    px, py = frac * (x1 - x0), frac * (y1 - y0)
    return (
        int(max(0, np.floor(x0 - px))),
        int(max(0, np.floor(y0 - py))),
        int(min(w, np.ceil(x1 + px))),
        int(min(h, np.ceil(y1 + py))),
    )


def _torso_size(pose: PersonPose) -> float:
    k = pose.keypoints_px
    neck = k[1]
    hips = (k[8] + k[11]) / 2.0
    return float(max(np.linalg.norm(neck - hips), np.linalg.norm(k[2] - k[5]), 1.0))


def _same_person(a: PersonPose, b: PersonPose) -> bool:
    shared = a.visible & b.visible
    if shared.sum() < 3:
        shared = (a.visibility > 0.2) & (b.visibility > 0.2)
    if shared.sum() == 0:
        return False
    dist = np.linalg.norm(a.keypoints_px[shared] - b.keypoints_px[shared], axis=1)
    return float(np.median(dist)) < 0.2 * min(_torso_size(a), _torso_size(b))


def _dedupe(candidates: list[PersonPose]) -> list[PersonPose]:
    kept: list[PersonPose] = []
    for pose in sorted(candidates, key=lambda p: -p.score):
        if not any(_same_person(pose, other) for other in kept):
            kept.append(pose)
    return kept


def _person_box(pose: PersonPose, mask: np.ndarray) -> np.ndarray:
    """Keypoint box (head top added) joined with nearby person-mask pixels."""
    w, h = pose.image_size
    k = pose.keypoints_px
    vis = pose.visibility >= 0.5
    if vis.sum() < 2:
        vis = pose.visibility >= 0.0
    pts = k[vis]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    # The top of the head is about one nose-to-neck distance above the nose.
    head = float(np.linalg.norm(k[0] - k[1]))
    y0 = min(y0, k[0, 1] - 1.0 * head)
    bw, bh = x1 - x0, y1 - y0
    ex0, ey0 = int(max(0, x0 - 0.3 * bw)), int(max(0, y0 - 0.15 * bh))
    ex1, ey1 = int(min(w, x1 + 0.3 * bw)), int(min(h, y1 + 0.3 * bh))
    near = mask[ey0:ey1, ex0:ex1]
    if near.any():
        ys, xs = np.nonzero(near)
        x0, y0 = min(x0, xs.min() + ex0), min(y0, ys.min() + ey0)
        x1, y1 = max(x1, xs.max() + ex0 + 1), max(y1, ys.max() + ey0 + 1)
    box = np.array([max(0, x0), max(0, y0), min(w, x1), min(h, y1)], dtype=np.float32)
    return box


_DEFAULT: MediaPipePoseDetector | None = None
_DEFAULT_LOCK = threading.Lock()


def get_default_detector() -> MediaPipePoseDetector:
    """The process-wide :class:`MediaPipePoseDetector` (built on first call)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = MediaPipePoseDetector()
        return _DEFAULT


def detect_people(image, *, detector: MediaPipePoseDetector | None = None, max_people: int = 8) -> list[PersonPose]:
    """Find every person in a photo: COCO-18 keypoints, box and score each.

    Args:
        image: PIL image or ``(H, W, 3)`` uint8 RGB array.
        detector: Graphs to use; default :func:`get_default_detector`.
        max_people: Keep at most this many people.

    Returns:
        Non-empty list of :class:`PersonPose` (keypoints normalised to
        ``[0, 1]`` of the full image, box in pixels), sorted left to right by
        box centre x. See the module docstring for the method.

    Raises:
        NoPersonError: nobody was found.
        InputImageError: ``image`` is not an image.

    Source:
        Our own proposal-then-pose scheme around MediaPipe BlazePose
        (Bazarevsky et al., 2020, arXiv:2006.10204).
    """
    return (detector or get_default_detector()).detect_people(image, max_people=max_people)


def pick_person(people: list[PersonPose], x: float, y: float) -> int:
    """Index of the person a click at ``(x, y)`` pixels points at.

    The distance from the click to each person's box is used (0 inside); ties
    (e.g. a click inside overlapping boxes) go to the person with the nearest
    visible keypoint.

    Args:
        people: Result of :func:`detect_people` (all in one image).
        x: Click x in image pixels.
        y: Click y in image pixels.

    Returns:
        Index into ``people``.

    Raises:
        NoPersonError: ``people`` is empty.

    Source:
        Our own.
    """
    if not people:
        raise NoPersonError("No person was found in this photo, so there is nobody to pick.")
    click = np.array([x, y], dtype=np.float64)

    def key(pose: PersonPose) -> tuple[float, float]:
        x0, y0, x1, y1 = pose.box.astype(np.float64)
        dx = max(x0 - click[0], 0.0, click[0] - x1)
        dy = max(y0 - click[1], 0.0, click[1] - y1)
        pts = pose.keypoints_px[pose.visible] if pose.visible.any() else pose.keypoints_px
        return (float(np.hypot(dx, dy)), float(np.linalg.norm(pts - click, axis=1).min()))

    return min(range(len(people)), key=lambda i: key(people[i]))
