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
   person's torso size, comparing keypoints as they are or with left and
   right swapped) keep the higher score. The swap matters for a body whose
   face is out of frame or hidden: one proposal can read it as a front view
   and another as a back view, which gives the same body twice with left
   and right exchanged.
4. Silhouette and person box: the segmentation mask decides the extent, the
   keypoints only choose which part of it is whose. Every mask pixel goes to
   the person whose skeleton (visible limbs) is nearest; of a person's share,
   the connected pieces within a quarter torso of the skeleton, and pieces
   within that distance of those (up to three rounds), are the silhouette.
   The box is the silhouette's bounding box joined with the visible
   keypoints, so a long skirt or gown far below legs MediaPipe does not see
   is kept. Without silhouette pixels it falls back to the keypoint box
   (raised to cover the top of the head).
5. Face: the face finder (:meth:`MediaPipePoseDetector.find_faces`:
   full-range face detection confirmed by the face mesh; also what
   :func:`mcld.annotators.face.embedding.detect_face_box_mediapipe` uses)
   decides whether a person shows a face; a face is the person's when the
   person's nose lies in the face box grown 1.5x, and a person without one
   gets a second look at a square around the head. A person without a face
   gets ``face_box=None``, visibility 0 on the face keypoints and the note
   :data:`~.keypoints.NO_FACE_NOTE`.
6. Keypoints outside the photo get visibility 0 (they stay hidden in a padded
   crop); a silhouette that reaches the photo's bottom edge with no visible
   ankle, heel or toe gets :data:`~.keypoints.FEET_OUT_OF_FRAME_NOTE`.
7. People are sorted **left to right** by the x of their box centre.
"""

from __future__ import annotations

import threading

import numpy as np

from ...errors import NoPersonError
from ...image_utils import to_numpy_rgb
from .keypoints import COCO18_FLIP_PAIRS, FACE_KEYPOINTS, FEET_OUT_OF_FRAME_NOTE, NO_FACE_NOTE, PersonPose, blazepose_to_coco18

__all__ = ["MediaPipePoseDetector", "detect_people", "pick_person"]

_LIMBS = np.arange(2, 14)  # shoulders .. ankles in COCO-18
_BLAZE_FACE = np.arange(0, 11)  # nose, eyes, ears, mouth in BlazePose
_BLAZE_FEET = np.arange(27, 33)  # ankles, heels, foot index in BlazePose
#: COCO-18 order with left and right exchanged (a front view read as a back view).
_SWAP_SIDES = np.arange(18)
_SWAP_SIDES[[i for pair in COCO18_FLIP_PAIRS for i in pair]] = [i for pair in COCO18_FLIP_PAIRS for i in pair[::-1]]
#: Longest side of the working copy of the mask the silhouettes are cut from.
_SILHOUETTE_SIDE = 384


def _import_mediapipe():
    try:
        import mediapipe as mp
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError("MediaPipe pose needs the `mediapipe` package: pip install mediapipe==0.10.21") from err
    return mp


class MediaPipePoseDetector:
    """Multi-person MediaPipe pose annotator; owns its MediaPipe graphs
    (built lazily on first use, reused after, freed by :meth:`close`).

    The annotator contract (as every annotator of :mod:`mcld.annotators`):
    :meth:`from_pretrained` (the models bundled with the ``mediapipe``
    package), :meth:`to`, :meth:`detect` (a list of :class:`PersonPose`) and
    ``__call__`` (the OpenPose skeleton image).

    Args:
        min_detection_confidence: Passed to the Pose and FaceDetection graphs.
        min_score: Candidates whose mean limb visibility is below this are
            dropped.

    Graph calls are serialised with a lock (MediaPipe graphs are not
    thread-safe). Nothing is shared between instances.

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
        self._mesh = None
        self._near_faces = None
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, pretrained_model_or_path=None, **kwargs) -> "MediaPipePoseDetector":
        """The detector on the models bundled with ``mediapipe`` (nothing to fetch).

        Args:
            pretrained_model_or_path: Must be ``None`` (or ``"mediapipe"``):
                the legacy solutions load only their bundled ``.tflite`` files.
            **kwargs: :class:`MediaPipePoseDetector` arguments.

        Returns:
            A new detector (graphs built on first use).

        Raises:
            ValueError: a model path or repo was given.
        """
        if pretrained_model_or_path not in (None, "mediapipe"):
            raise ValueError(
                "MediaPipe pose runs the models bundled with the mediapipe package; "
                f"it cannot load {pretrained_model_or_path!r} (pass None)"
            )
        return cls(**kwargs)

    def to(self, device) -> "MediaPipePoseDetector":
        """Kept for the annotator contract: MediaPipe's legacy graphs run on the CPU.

        Args:
            device: Any device name (``"cpu"``, ``"cuda"``); ignored.

        Returns:
            ``self``.
        """
        return self

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

    def _get_near_faces(self):
        if self._near_faces is None:
            mp = _import_mediapipe()
            self._near_faces = mp.solutions.face_detection.FaceDetection(
                model_selection=0, min_detection_confidence=self.min_detection_confidence
            )
        return self._near_faces

    def _get_mesh(self):
        if self._mesh is None:
            mp = _import_mediapipe()
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=4, refine_landmarks=False, min_detection_confidence=0.5
            )
        return self._mesh

    def close(self) -> None:
        """Free the MediaPipe graphs (they are rebuilt on next use)."""
        with self._lock:
            for graph in (self._pose, self._seg, self._faces, self._mesh, self._near_faces):
                if graph is not None:
                    graph.close()
            self._pose = self._seg = self._faces = self._mesh = self._near_faces = None

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

    def detect_faces(self, image, *, near: bool = False) -> list[tuple[np.ndarray, float]]:
        """Full-range face boxes.

        Args:
            image: PIL image or ``(H, W, 3)`` uint8 RGB array.
            near: Use the short-range model instead (faces that fill much of
                the image; it also sees some tilted faces the full-range one
                misses).

        Returns:
            List of ``(box (4,) float32 XYXY pixels, score in [0, 1])``,
            highest score first.
        """
        rgb = np.ascontiguousarray(to_numpy_rgb(image))
        h, w = rgb.shape[:2]
        with self._lock:
            result = (self._get_near_faces() if near else self._get_faces()).process(rgb)
        faces = []
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            box = np.array([rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h], np.float32)
            faces.append((box, float(det.score[0])))
        faces.sort(key=lambda f: -f[1])
        return faces

    def find_faces(self, image) -> list[tuple[np.ndarray, float]]:
        """The face finder: visible faces, the one decision on "face or not".

        A full-range face detection (:meth:`detect_faces`), or a short-range
        one not overlapping those, counts as a face when MediaPipe's face mesh also finds a face centred in its box, on
        the whole image or on a square 2.5 times the box scaled to 256 px.
        The mesh confirms that the face itself is seen: the back of a head,
        which the full-range detector can take for a face, gives no mesh.

        Args:
            image: PIL image or ``(H, W, 3)`` uint8 RGB array.

        Returns:
            List of ``(box (4,) float32 XYXY pixels, score in [0, 1])``,
            highest score first (the detector's box and score).

        Raises:
            InputImageError: ``image`` is not an image.

        Source:
            MediaPipe ``face_detection`` (BlazeFace, full range) and
            ``face_mesh``; the confirmation rule is ours.
        """
        import cv2

        rgb = np.ascontiguousarray(to_numpy_rgb(image))
        h, w = rgb.shape[:2]
        faces = self.detect_faces(rgb)
        faces += [f for f in self.detect_faces(rgb, near=True) if all(_box_iou(f[0], g[0]) < 0.3 for g in faces)]
        if not faces:
            return []
        with self._lock:
            meshes = self._get_mesh().process(rgb).multi_face_landmarks or []
        centres = [np.array([[p.x, p.y] for p in m.landmark]).mean(axis=0) * [w, h] for m in meshes]
        found = []
        for box, score in faces:
            x0, y0, x1, y1 = (float(v) for v in box)
            if any(x0 <= c[0] <= x1 and y0 <= c[1] <= y1 for c in centres):
                found.append((box, score))
                continue
            cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, 2.5 * max(x1 - x0, y1 - y0, 4.0)
            k = 256.0 / side
            affine = np.array([[k, 0.0, -k * (cx - side / 2)], [0.0, k, -k * (cy - side / 2)]])
            region = cv2.warpAffine(rgb, affine, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            with self._lock:
                mesh = self._get_mesh().process(region).multi_face_landmarks
            if not mesh:
                continue
            centre = np.array([[p.x, p.y] for p in mesh[0].landmark]).mean(axis=0) * 256.0 / k + [cx - side / 2, cy - side / 2]
            if x0 <= centre[0] <= x1 and y0 <= centre[1] <= y1:
                found.append((box, score))
        return found

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
        pose = PersonPose(kps, vis, np.zeros(4, np.float32), score, (w, h), blazepose=lm)
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

        Source:
            huggingface/controlnet_aux ``open_pose/__init__.py``
            (``detect_resolution`` / ``image_resolution`` / ``output_type``).
        """
        from PIL import Image

        from ..common import check_output_type, to_output
        from .draw import draw_openpose

        check_output_type(output_type)
        rgb = to_numpy_rgb(input_image)
        h, w = rgb.shape[:2]
        k = detect_resolution / min(h, w)
        small = np.asarray(Image.fromarray(rgb).resize((max(1, round(w * k)), max(1, round(h * k))), Image.BILINEAR))
        people = self.detect(small)
        k = image_resolution / min(h, w)
        canvas = draw_openpose((max(1, round(w * k)), max(1, round(h * k))), people)
        return to_output(canvas, output_type)

    # -- main entry ----------------------------------------------------------
    def detect_people(self, image, *, max_people: int = 8) -> list[PersonPose]:
        """Same as :meth:`detect` (the older name, kept for existing callers)."""
        return self.detect(image, max_people=max_people)

    def detect(self, input_image, *, max_people: int = 8) -> list[PersonPose]:
        """Find every person in a photo and estimate their COCO-18 pose.

        Args:
            input_image: PIL image or ``(H, W, 3)`` uint8 RGB array (any size; use
                :func:`mcld.image_utils.load_image` for uploads).
            max_people: Keep at most this many people (highest scores).

        Returns:
            List of :class:`PersonPose` in full-image coordinates, sorted left
            to right by box centre x; never empty.

        Raises:
            NoPersonError: nobody was found.
            InputImageError: ``input_image`` is not an image.

        Source:
            Our own proposal-then-pose scheme (module docstring) around
            MediaPipe BlazePose (Bazarevsky et al., 2020, arXiv:2006.10204).
        """
        rgb = np.ascontiguousarray(to_numpy_rgb(input_image))
        h, w = rgb.shape[:2]
        prob = self.segment(rgb)
        mask = prob > 0.5
        faces = self.detect_faces(rgb)
        regions = [(0, 0, w, h)]
        regions += _mask_regions(mask)
        regions += [_face_body_region(box, (w, h)) for box, _ in faces]

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
        for pose, silhouette in zip(people, _silhouette_boxes(people, mask)):
            pose.box = _person_box(pose, silhouette)
        self._assign_faces(rgb, people, self.find_faces(rgb))
        for pose in people:
            _finish_person(pose)
        people.sort(key=lambda p: float(p.box[0] + p.box[2]) / 2.0)
        return people

    def _assign_faces(self, rgb: np.ndarray, people: list[PersonPose], faces: list[tuple[np.ndarray, float]]) -> None:
        """Set each person's ``face_box`` from the face finder (module docstring, step 5)."""
        h, w = rgb.shape[:2]
        free = list(faces)
        for pose in sorted(people, key=lambda p: -p.score):
            nose = pose.keypoints_px[0].astype(np.float64)
            if not (0 <= nose[0] < w and 0 <= nose[1] < h):
                continue  # the head is out of the photo: no face to find
            found = _face_at(nose, free)
            if found is None:
                # Second look: a square around the head (small faces in a big photo).
                side = 3.0 * max(_torso_size(pose) * 0.5, 16.0)
                x0, y0 = int(max(0, nose[0] - side / 2)), int(max(0, nose[1] - side / 2))
                x1, y1 = int(min(w, nose[0] + side / 2)), int(min(h, nose[1] + side / 2))
                if x1 - x0 >= 16 and y1 - y0 >= 16:
                    local = [(box + np.array([x0, y0, x0, y0], np.float32), score) for box, score in self.find_faces(rgb[y0:y1, x0:x1])]
                    found = _face_at(nose, local)
            else:
                free = [f for f in free if f is not found]
            if found is not None:
                pose.face_box = np.clip(found[0], 0, [w, h, w, h]).astype(np.float32)


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
    """Whether ``b`` is ``a`` found again: as it is, or with left and right
    swapped (module docstring, step 3)."""
    limit = 0.2 * min(_torso_size(a), _torso_size(b))
    for order in (np.arange(18), _SWAP_SIDES):
        b_pts, b_vis = b.keypoints_px[order], b.visibility[order]
        shared = a.visible & b.visible[order]
        if shared.sum() < 3:
            shared = (a.visibility > 0.2) & (b_vis > 0.2)
        if shared.sum() == 0:
            continue
        dist = np.linalg.norm(a.keypoints_px[shared] - b_pts[shared], axis=1)
        if float(np.median(dist)) < limit:
            return True
    return False


def _dedupe(candidates: list[PersonPose]) -> list[PersonPose]:
    kept: list[PersonPose] = []
    for pose in sorted(candidates, key=lambda p: -p.score):
        if not any(_same_person(pose, other) for other in kept):
            kept.append(pose)
    return kept


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, float(x1 - x0)) * max(0.0, float(y1 - y0))
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def _face_at(nose: np.ndarray, faces: list[tuple[np.ndarray, float]]) -> tuple[np.ndarray, float] | None:
    """The best-scoring face whose box, grown 1.5x about its centre, holds ``nose``."""
    best = None
    for face in faces:
        x0, y0, x1, y1 = (float(v) for v in face[0])
        cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, 0.75 * (x1 - x0), 0.75 * (y1 - y0)
        if abs(nose[0] - cx) <= hw and abs(nose[1] - cy) <= hh and (best is None or face[1] > best[1]):
            best = face
    return best


def _skeleton_distance(pose: PersonPose, shape: tuple[int, int], scale: float) -> np.ndarray:
    """``(h, w)`` float32 distance (working pixels) to the person's visible limbs and keypoints."""
    import cv2

    from .draw import OPENPOSE_LIMBS

    h, w = shape
    canvas = np.full((h, w), 255, np.uint8)
    pts = pose.keypoints_px.astype(np.float64) * scale
    vis = pose.visibility >= 0.5
    if vis.sum() < 2:
        vis = pose.visibility >= 0.0
    ipts = [tuple(int(round(v)) for v in np.clip(p, -4 * max(h, w), 4 * max(h, w))) for p in pts]
    for a, b in OPENPOSE_LIMBS:
        if vis[a] and vis[b]:
            cv2.line(canvas, ipts[a], ipts[b], 0, thickness=1)
    for i in np.nonzero(vis)[0]:
        if 0 <= ipts[i][0] < w and 0 <= ipts[i][1] < h:
            canvas[ipts[i][1], ipts[i][0]] = 0
    if canvas.min() > 0:  # nothing of the skeleton inside the image
        return np.full((h, w), np.inf, np.float32)
    return cv2.distanceTransform(canvas, cv2.DIST_L2, 3)


def _silhouette_boxes(people: list[PersonPose], mask: np.ndarray) -> list[np.ndarray | None]:
    """Each person's silhouette box ``(4,)`` float32 XYXY photo pixels, or
    ``None`` (no mask pixels of theirs); see the module docstring, step 4."""
    import cv2

    h, w = mask.shape
    scale = min(1.0, _SILHOUETTE_SIDE / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(mask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) if scale < 1 else mask.astype(np.uint8)
    if not small.any():
        return [None] * len(people)
    dist = np.stack([_skeleton_distance(p, (sh, sw), scale) for p in people])
    owner = np.argmin(dist, axis=0) if len(people) > 1 else np.zeros((sh, sw), np.int64)
    out: list[np.ndarray | None] = []
    for k, pose in enumerate(people):
        share = (small > 0) & (owner == k)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(share.astype(np.uint8), connectivity=8)
        if n <= 1:
            out.append(None)
            continue
        reach = max(0.25 * _torso_size(pose) * scale, 3.0)
        flat = labels.ravel()
        near = np.full(n, np.inf)
        np.minimum.at(near, flat, dist[k].ravel())
        chosen = near <= reach
        chosen[0] = False
        for _ in range(3):  # pieces near the chosen ones (a hem under a belt, shoes below a gown)
            if not chosen.any():
                break
            d = cv2.distanceTransform(np.where(chosen[labels], 0, 255).astype(np.uint8), cv2.DIST_L2, 3)
            near = np.full(n, np.inf)
            np.minimum.at(near, flat, d.ravel())
            grown = (near <= reach) & ~chosen
            grown[0] = False
            if not grown.any():
                break
            chosen |= grown
        if not chosen.any():
            out.append(None)
            continue
        idx = np.nonzero(chosen)[0]
        x0 = stats[idx, cv2.CC_STAT_LEFT].min()
        y0 = stats[idx, cv2.CC_STAT_TOP].min()
        x1 = (stats[idx, cv2.CC_STAT_LEFT] + stats[idx, cv2.CC_STAT_WIDTH]).max()
        y1 = (stats[idx, cv2.CC_STAT_TOP] + stats[idx, cv2.CC_STAT_HEIGHT]).max()
        box = np.array([x0 / scale, y0 / scale, x1 / scale, y1 / scale], np.float64)
        out.append(np.clip(box, 0, [w, h, w, h]).astype(np.float32))
    return out


def _person_box(pose: PersonPose, silhouette: np.ndarray | None) -> np.ndarray:
    """The silhouette box joined with the visible keypoints; without a
    silhouette, the keypoint box raised to cover the top of the head."""
    w, h = pose.image_size
    k = pose.keypoints_px
    vis = pose.visibility >= 0.5
    if vis.sum() < 2:
        vis = pose.visibility >= 0.0
    pts = k[vis]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    if silhouette is None:
        # The top of the head is about one nose-to-neck distance above the nose.
        head = float(np.linalg.norm(k[0] - k[1]))
        y0 = min(y0, k[0, 1] - 1.0 * head)
    else:
        x0, y0 = min(x0, silhouette[0]), min(y0, silhouette[1])
        x1, y1 = max(x1, silhouette[2]), max(y1, silhouette[3])
    return np.array([max(0, x0), max(0, y0), min(w, x1), min(h, y1)], dtype=np.float32)


def _finish_person(pose: PersonPose) -> None:
    """Hide keypoints outside the photo and face keypoints without a face;
    add the person's notes (module docstring, steps 5 and 6)."""
    w, h = pose.image_size
    inside = np.all((pose.keypoints >= 0.0) & (pose.keypoints <= 1.0), axis=1)
    pose.visibility = np.where(inside, pose.visibility, 0.0).astype(np.float32)
    if pose.blazepose is not None:
        b = pose.blazepose
        b_inside = np.all((b[:, :2] >= 0.0) & (b[:, :2] <= 1.0), axis=1)
        b[:, 2] = np.where(b_inside, b[:, 2], 0.0)
    notes = []
    feet_seen = False
    if pose.blazepose is not None:
        feet_seen = bool((pose.blazepose[_BLAZE_FEET, 2] >= 0.5).any())
    else:
        feet_seen = bool((pose.visibility[[10, 13]] >= 0.5).any())
    if pose.box[3] >= h - max(2.0, 0.01 * h) and not feet_seen:
        notes.append(FEET_OUT_OF_FRAME_NOTE)
    if pose.face_box is None:
        pose.visibility[list(FACE_KEYPOINTS)] = 0.0
        if pose.blazepose is not None:
            pose.blazepose[_BLAZE_FACE, 2] = 0.0
        notes.append(NO_FACE_NOTE)
    pose.notes = notes


def detect_people(image, *, detector: MediaPipePoseDetector | None = None, max_people: int = 8) -> list[PersonPose]:
    """Find every person in a photo: COCO-18 keypoints, box and score each.

    Args:
        image: PIL image or ``(H, W, 3)`` uint8 RGB array.
        detector: Graphs to use. ``None`` builds a
            :class:`MediaPipePoseDetector` for this call and closes it after:
            the graphs are built again every time (about 0.3-1 s on a CPU), so
            callers that detect more than once should own a detector and pass
            it (as :class:`mcld.pose_transfer.PoseTransfer` does).
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
    if detector is not None:
        return detector.detect(image, max_people=max_people)
    own = MediaPipePoseDetector()
    try:
        return own.detect(image, max_people=max_people)
    finally:
        own.close()


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
