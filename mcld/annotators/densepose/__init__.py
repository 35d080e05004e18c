"""DensePose (detectron2 DensePose R-CNN) in pure PyTorch: no detectron2, no torchvision.

Public API::

    from mcld.annotators.densepose import DensePosePredictor, DensePoseResult
    dp = DensePosePredictor.from_pretrained("R_101_FPN_DL_s1x", device="cuda")
    res = dp.detect(image_rgb)     # or dp.detect(image_rgb, boxes=np.array([[x0, y0, x1, y1]], np.float32))
    iuv = res.to_iuv()             # (H, W, 3) uint8 (I, U*255, V*255), as MCLD's densepose_interface

Submodules: ``ops`` (roi_align, nms, batched_nms), ``config``, ``backbone``,
``heads``, ``model``, ``checkpoint``, ``predictor``. Importing this package
loads no weights and downloads nothing.
"""

from .checkpoint import MODEL_ZOO, RestrictedUnpickler, load_state_dict_file, resolve_weights
from .config import MODEL_CONFIGS, DensePoseConfig
from .model import DensePoseRCNN
from .ops import batched_nms, nms, roi_align
from .predictor import TINY_CONFIG, DensePosePredictor, DensePoseResult

__all__ = [
    "DensePosePredictor",
    "DensePoseResult",
    "DensePoseConfig",
    "DensePoseRCNN",
    "MODEL_CONFIGS",
    "MODEL_ZOO",
    "TINY_CONFIG",
    "RestrictedUnpickler",
    "load_state_dict_file",
    "resolve_weights",
    "roi_align",
    "nms",
    "batched_nms",
]
