"""Coarse human parsing from MediaPipe's bundled models (no extra weights).

A fallback for when the SCHP weights are missing. It is a geometric guess,
far rougher than a trained parser; results say so with
``source == "mediapipe-coarse"``.

Whose body it is: the person decision is detection's. Given the person's
:class:`~mcld.annotators.mediapipe_pose.PersonPose` (``person=``, e.g.
:attr:`mcld.pose_transfer.PersonCrop.pose`), its BlazePose landmarks and its
face decision are used; otherwise the photo goes through the same multi-person
detection (:class:`~mcld.annotators.mediapipe_pose.MediaPipePoseDetector`)
and the largest person is parsed. So a photo where detection finds a person
(e.g. one whose head is cut by the frame) is parsed, not refused.

How a pixel gets its region (the person mask gates everything):

* **person**: selfie segmentation (general model) probability > 0.5.
* **face**: convex hull of the face-mesh face oval, only for a person whose
  face the face finder found (``PersonPose.face_box``).
* **hair**: a head ellipse around the face oval (or around the pose head
  points when no face mesh is found, e.g. a back view) plus a band on both
  sides of the face down to the shoulders (long hair); the face wins.
* **upper_garment**: the torso quadrilateral (shoulders to hips, widened),
  and the non-skin pixels of the arm bands (sleeves).
* **arms**: skin-coloured pixels of bands along shoulder-elbow-wrist-hand.
* **lower_garment**: the hip quadrilateral down to the knees and the
  non-skin pixels of the leg bands.
* **legs**: skin-coloured pixels of the leg bands.
* **shoes**: non-skin pixels around heel, ankle and toe of visible feet.
* **dress**: never produced (a dress shows as upper_garment above the hips
  and lower_garment below).
* person pixels left over (neck, loose clothing) take the nearest non-face
  region.

"Skin-coloured" compares chroma (Cr, Cb of YCrCb) with the face's (fixed
skin range when no face is found).

Source:
    Our own heuristic on MediaPipe Solutions (legacy ``mp.solutions``):
    ``selfie_segmentation``, ``face_mesh`` (``FACEMESH_FACE_OVAL``) and
    ``pose`` (33 BlazePose landmarks); Bazarevsky et al., "BlazePose",
    CVPR-W 2020.
"""

from __future__ import annotations

import threading

import numpy as np

from .regions import REGION_IDS, ParsingResult

__all__ = ["MediaPipeCoarseParser"]

# BlazePose landmark ids.
_NOSE, _L_EYE, _R_EYE, _L_EAR, _R_EAR = 0, 2, 5, 7, 8
_L_SH, _R_SH, _L_EL, _R_EL, _L_WR, _R_WR = 11, 12, 13, 14, 15, 16
_L_PINKY, _R_PINKY, _L_INDEX, _R_INDEX = 17, 18, 19, 20
_L_HIP, _R_HIP, _L_KNEE, _R_KNEE, _L_ANK, _R_ANK = 23, 24, 25, 26, 27, 28
_L_HEEL, _R_HEEL, _L_FOOT, _R_FOOT = 29, 30, 31, 32


class MediaPipeCoarseParser:
    """Coarse region parser built on MediaPipe selfie segmentation, face mesh
    and pose.

    Args:
        detect_resolution: Longer side, in pixels, the photo is resized to
            before the MediaPipe models run (the label map is resized back
            to the photo with nearest-neighbour).
        person_threshold: Selfie-segmentation probability above which a
            pixel is the person, in ``[0, 1]``.

    Raises:
        ImportError: mediapipe is not installed.

    Source:
        See the module docstring.
    """

    source = "mediapipe-coarse"

    def __init__(self, detect_resolution: int = 512, person_threshold: float = 0.5):
        try:
            import mediapipe as mp
        except ImportError as err:  # pragma: no cover - mediapipe is a hard dependency of the Space
            raise ImportError("The coarse human parser needs mediapipe: pip install mediapipe==0.10.21") from err
        from ..mediapipe_pose import MediaPipePoseDetector

        self.detect_resolution = int(detect_resolution)
        self.person_threshold = float(person_threshold)
        self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        self._face_mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=False, min_detection_confidence=0.5
        )
        self._detector = MediaPipePoseDetector()
        self._oval_ids = sorted({i for edge in mp.solutions.face_mesh.FACEMESH_FACE_OVAL for i in edge})
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, pretrained_model_or_path=None, **kwargs) -> "MediaPipeCoarseParser":
        """The coarse parser on the models bundled with ``mediapipe``.

        Args:
            pretrained_model_or_path: ``None`` or ``"mediapipe-coarse"``
                (nothing else can be loaded).
            **kwargs: :class:`MediaPipeCoarseParser` arguments.

        Returns:
            A new parser (its graphs are built now).

        Raises:
            ValueError: a model path or repo was given.
            ImportError: mediapipe is not installed.
        """
        if pretrained_model_or_path not in (None, "mediapipe-coarse"):
            raise ValueError(
                "The coarse parser runs the models bundled with the mediapipe package; "
                f"it cannot load {pretrained_model_or_path!r} (pass None)"
            )
        return cls(**kwargs)

    def to(self, device) -> "MediaPipeCoarseParser":
        """Kept for the annotator contract: MediaPipe's legacy graphs run on the CPU.

        Returns:
            ``self``.
        """
        return self

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        for graph in (self._segmenter, self._face_mesh):
            graph.close()
        self._detector.close()

    def __call__(self, input_image, person=None, *, output_type: str = "pil"):
        """Annotator contract: the parsing map, each region in its colour.

        Args:
            input_image: PIL image or ``(H, W, 3)`` uint8 RGB photo.
            person: As :meth:`detect`.
            output_type: ``"pil"`` or ``"np"``.

        Returns:
            ``(H, W, 3)`` uint8 RGB (:func:`~.draw.colorize_label_map`,
            background black), PIL image or array, the photo's size.

        Raises:
            ValueError: unknown ``output_type``; as :meth:`detect`.
            NoPersonError: as :meth:`detect`.

        Source:
            See the module docstring.
        """
        from ..common import check_output_type, to_output
        from .draw import colorize_label_map

        check_output_type(output_type)
        result = self.detect(input_image, person=person)
        return to_output(colorize_label_map(result.label_map, result.region_names), output_type)

    def detect(self, input_image, person=None) -> ParsingResult:
        """Parse one photo.

        Args:
            input_image: PIL image or ``(H, W, 3)`` ``uint8`` RGB photo.
            person: The person to parse as detection found them: a
                :class:`~mcld.annotators.mediapipe_pose.PersonPose` in this
                image's frame (``image_size == (W, H)``) with its BlazePose
                landmarks; ``None`` runs the same detection here.

        Returns:
            :class:`ParsingResult`, ``label_map`` ``(H, W)`` ``uint8``,
            ``source == "mediapipe-coarse"``, ``raw_labels`` ``None``.

        Raises:
            InputImageError: ``input_image`` is not an image.
            ValueError: ``person`` from another frame.
            NoPersonError: no ``person`` given and detection finds nobody
                (the same error and message as
                :func:`~mcld.annotators.mediapipe_pose.detect_people`).

        Source:
            See the module docstring.
        """
        import cv2

        from ...image_utils import to_numpy_rgb

        image_rgb = np.ascontiguousarray(to_numpy_rgb(input_image))
        h, w = image_rgb.shape[:2]
        if person is not None and tuple(int(v) for v in person.image_size) != (w, h):
            raise ValueError(f"person was detected in a {tuple(person.image_size)} image, but the image is {(w, h)}")
        scale = min(1.0, self.detect_resolution / max(h, w))
        small = image_rgb
        if scale < 1.0:
            small = cv2.resize(image_rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        if person is None or person.blazepose is None:
            # The same person decision as detection (raises its NoPersonError).
            people = self._detector.detect(image_rgb)
            person = max(people, key=lambda p: float((p.box[2] - p.box[0]) * (p.box[3] - p.box[1])))
        with self._lock:
            seg = self._segmenter.process(small).segmentation_mask
        mask = seg > self.person_threshold
        sh, sw = small.shape[:2]
        size = np.array([sw, sh], dtype=np.float64)
        landmarks = person.blazepose[:, :2].astype(np.float64) * size
        visibility = person.blazepose[:, 2].astype(np.float64)
        oval = None
        if person.face_box is not None:
            oval = self._face_oval(small, np.asarray(person.face_box, np.float64) * scale)
        label_map = _coarse_label_map(small, mask, landmarks, visibility, oval)
        if scale < 1.0:
            label_map = cv2.resize(label_map, (w, h), interpolation=cv2.INTER_NEAREST)
        return ParsingResult(label_map=label_map, source=self.source)


    def _face_oval(self, image: np.ndarray, face_box: np.ndarray) -> np.ndarray:
        """``(N, 2)`` float64 face-oval points in ``image`` pixels for the face
        the face finder put in ``face_box`` (XYXY pixels).

        The face mesh's oval whose centre lies in the box, from the whole
        image or else from a square twice the box scaled to 256 px (the mesh's
        own short-range detector misses small faces, e.g. in a padded crop);
        if neither finds it, the ellipse around the box raised by a quarter
        of its height (the finder's box stops at the brows).
        """
        import cv2

        x0, y0, x1, y1 = face_box
        cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, 2.0 * max(x1 - x0, y1 - y0, 4.0)
        k = 256.0 / side
        affine = np.array([[k, 0.0, -k * (cx - side / 2)], [0.0, k, -k * (cy - side / 2)]])
        region = cv2.warpAffine(image, affine, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        h, w = image.shape[:2]
        for picture, size, offset, factor in ((image, (w, h), (0.0, 0.0), 1.0), (region, (256, 256), (cx - side / 2, cy - side / 2), k)):
            with self._lock:
                mesh = self._face_mesh.process(np.ascontiguousarray(picture)).multi_face_landmarks
            if not mesh:
                continue
            pts = np.array([[mesh[0].landmark[i].x, mesh[0].landmark[i].y] for i in self._oval_ids]) * np.array(size, np.float64)
            pts = pts / factor + np.array(offset)
            mx, my = pts.mean(axis=0)
            if x0 <= mx <= x1 and y0 <= my <= y1:
                return pts
        t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
        fh = 1.25 * (y1 - y0)
        return np.stack([cx + (x1 - x0) / 2 * np.cos(t), y1 - fh / 2 + fh / 2 * np.sin(t)], axis=1)


# Helpers


def _poly_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    import cv2

    mask = np.zeros(shape, dtype=np.uint8)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def _band_mask(shape: tuple[int, int], points: list[np.ndarray], thickness: float) -> np.ndarray:
    """Pixels within ``thickness / 2`` of a polyline (round caps and joints)."""
    import cv2

    mask = np.zeros(shape, dtype=np.uint8)
    t = max(1, int(round(thickness)))
    pts = [tuple(int(round(v)) for v in p) for p in points]
    for a, b in zip(pts[:-1], pts[1:]):
        cv2.line(mask, a, b, 1, thickness=t, lineType=cv2.LINE_8)
    for p in pts:
        cv2.circle(mask, p, t // 2, 1, thickness=-1)
    return mask.astype(bool)


def _ellipse_mask(shape: tuple[int, int], center: np.ndarray, axes: tuple[float, float]) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    ax, ay = max(axes[0], 1.0), max(axes[1], 1.0)
    return ((xx - center[0]) / ax) ** 2 + ((yy - center[1]) / ay) ** 2 <= 1.0


def _skin_mask(image_rgb: np.ndarray, face: np.ndarray | None) -> np.ndarray:
    """Skin-coloured pixels: chroma within 3 std (floor 6 levels) of the face's."""
    import cv2

    ycrcb = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    if face is not None and face.sum() >= 30:
        inner = cv2.erode(face.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2).astype(bool)
        sample = inner if inner.sum() >= 30 else face
        cr_s, cb_s = cr[sample], cb[sample]
        cr_m, cb_m = np.median(cr_s), np.median(cb_s)
        cr_d = max(3.0 * cr_s.std(), 6.0)
        cb_d = max(3.0 * cb_s.std(), 6.0)
        return (np.abs(cr - cr_m) <= cr_d) & (np.abs(cb - cb_m) <= cb_d)
    return (cr >= 135) & (cr <= 175) & (cb >= 80) & (cb <= 125)


def _coarse_label_map(
    image_rgb: np.ndarray,
    person: np.ndarray,
    landmarks: np.ndarray,
    visibility: np.ndarray,
    oval: np.ndarray | None,
) -> np.ndarray:
    """Region ids ``(H, W)`` uint8 from the MediaPipe outputs (see module docstring)."""
    from scipy import ndimage

    shape = person.shape
    lm = landmarks
    shoulder_w = float(np.linalg.norm(lm[_L_SH] - lm[_R_SH]))
    shoulder_mid = (lm[_L_SH] + lm[_R_SH]) / 2
    hip_mid = (lm[_L_HIP] + lm[_R_HIP]) / 2
    torso_len = float(np.linalg.norm(hip_mid - shoulder_mid))
    unit = max(shoulder_w, 0.45 * torso_len, 4.0)  # body scale in pixels

    # Face and head.
    face = None
    if oval is not None:
        face = _poly_mask(shape, oval) & person
        fx0, fy0 = oval.min(axis=0)
        fx1, fy1 = oval.max(axis=0)
    else:
        head_pts = lm[[_NOSE, _L_EYE, _R_EYE, _L_EAR, _R_EAR]]
        head_w = max(float(np.ptp(head_pts[:, 0])), 0.35 * unit)
        c = head_pts.mean(axis=0)
        fx0, fx1 = c[0] - head_w / 2, c[0] + head_w / 2
        fy0, fy1 = c[1] - 0.6 * head_w, c[1] + 0.6 * head_w
    fw, fh = fx1 - fx0, fy1 - fy0
    fc = np.array([(fx0 + fx1) / 2, (fy0 + fy1) / 2])
    skin = _skin_mask(image_rgb, face)

    label = np.zeros(shape, dtype=np.uint8)

    # Hair: head ellipse + long-hair band beside the face, down to the shoulders.
    hair = _ellipse_mask(shape, fc - [0, 0.2 * fh], (0.8 * fw, 0.8 * fh))
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    band_bottom = max(shoulder_mid[1] + 0.3 * fh, fy1)
    beside = (np.abs(xx - fc[0]) <= 0.9 * fw) & (np.abs(xx - fc[0]) >= 0.35 * fw) & (yy >= fc[1]) & (yy <= band_bottom)
    label[(hair | beside) & person] = REGION_IDS["hair"]

    # Torso -> upper garment.
    out = (lm[_L_SH] - lm[_R_SH]) / max(shoulder_w, 1e-6)  # points from right to left shoulder
    up = np.array([0.0, -1.0])
    widen = 0.15 * unit
    torso = np.array(
        [
            lm[_L_SH] + out * widen + up * 0.1 * unit,
            lm[_R_SH] - out * widen + up * 0.1 * unit,
            lm[_R_HIP] - out * widen,
            lm[_L_HIP] + out * widen,
        ]
    )
    label[_poly_mask(shape, torso) & person] = REGION_IDS["upper_garment"]

    # Arms: skin -> arms, cloth -> sleeve (upper garment, only outside the torso).
    torso_mask = label == REGION_IDS["upper_garment"]
    for sh, el, wr, idx, pinky in ((_L_SH, _L_EL, _L_WR, _L_INDEX, _L_PINKY), (_R_SH, _R_EL, _R_WR, _R_INDEX, _R_PINKY)):
        hand = (lm[idx] + lm[pinky]) / 2
        band = _band_mask(shape, [lm[sh], lm[el], lm[wr], hand], 0.32 * unit) & person
        label[band & skin] = REGION_IDS["arms"]
        label[band & ~skin & ~torso_mask] = REGION_IDS["upper_garment"]

    # Hips, thighs, shins: skin -> legs, cloth -> lower garment.
    hips = np.array(
        [
            lm[_L_HIP] + out * 0.2 * unit + up * 0.1 * torso_len,
            lm[_R_HIP] - out * 0.2 * unit + up * 0.1 * torso_len,
            lm[_R_KNEE] - out * 0.1 * unit,
            lm[_L_KNEE] + out * 0.1 * unit,
        ]
    )
    lower_zone = _poly_mask(shape, hips)
    for hip, knee, ankle in ((_L_HIP, _L_KNEE, _L_ANK), (_R_HIP, _R_KNEE, _R_ANK)):
        lower_zone |= _band_mask(shape, [lm[hip], lm[knee], lm[ankle]], 0.4 * unit)
    lower_zone &= person
    label[lower_zone & ~skin] = REGION_IDS["lower_garment"]
    label[lower_zone & skin] = REGION_IDS["legs"]

    # Feet (only when seen).
    for ankle, heel, toe in ((_L_ANK, _L_HEEL, _L_FOOT), (_R_ANK, _R_HEEL, _R_FOOT)):
        pts = lm[[ankle, heel, toe]]
        inside = (pts[:, 0] >= 0).all() and (pts[:, 0] < shape[1]).all() and (pts[:, 1] >= 0).all() and (pts[:, 1] < shape[0]).all()
        if min(visibility[ankle], visibility[heel], visibility[toe]) < 0.5 or not inside:
            continue
        centre = pts.mean(axis=0)
        foot = _poly_mask(shape, centre + (pts - centre) * 1.4) & person
        label[foot & ~skin] = REGION_IDS["shoes"]
        label[foot & skin] = REGION_IDS["legs"]

    # Face last: it wins over everything.
    if face is not None:
        label[face] = REGION_IDS["face"]

    # Leftover person pixels take the nearest non-face region.
    donors = (label != 0) & (label != REGION_IDS["face"])
    leftover = person & (label == 0)
    if leftover.any() and donors.any():
        _, (iy, ix) = ndimage.distance_transform_edt(~donors, return_indices=True)
        label[leftover] = label[iy[leftover], ix[leftover]]
    label[~person] = 0
    return label
