"""One Generate with a photo target is exactly one ``spaces.GPU`` call, and
nothing before it (upload, click, Mirror, Align, gallery) calls the GPU.

``spaces.GPU`` is wrapped before ``app.py`` is imported, so every function the
app decorates with it counts its calls; the app's own code is not replaced.
"""

from __future__ import annotations

import importlib.util
import os
from collections import Counter

import pytest
import spaces

from tools.appserver import REPO_ROOT


def _no_progress(*args, **kwargs) -> None:
    """Stands in for ``gr.Progress`` outside a Gradio event."""


@pytest.fixture(scope="module")
def counted_app(monkeypatch_module):
    """``app.py`` imported in tiny mode with ``spaces.GPU`` counting its functions' calls."""
    calls: Counter = Counter()
    real_gpu = spaces.GPU

    def counting(fn):
        def gpu_function(*args, **kwargs):
            calls[fn.__name__] += 1
            return fn(*args, **kwargs)

        gpu_function.__wrapped__ = fn
        return gpu_function

    def counting_gpu(task=None, **kwargs):
        if callable(task):
            return counting(real_gpu(task, **kwargs))
        return lambda fn: counting(real_gpu(**kwargs)(fn))

    monkeypatch_module.setattr(spaces, "GPU", counting_gpu)
    monkeypatch_module.setenv("MCLD_TINY", "1")
    spec = importlib.util.spec_from_file_location("mcld_space_app_counted", REPO_ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TINY and os.environ["MCLD_TINY"] == "1"
    return module, calls


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_one_generate_with_a_photo_target_is_one_gpu_call(counted_app, images_dir):
    app, calls = counted_app
    src, tgt = str(images_dir / "reference_img_0.png"), str(images_dir / "reference_img_1.png")
    # Everything a visitor does before Generate: no GPU call.
    app.detect_source(src)
    overlay, index, note = app.detect_target(tgt)
    app.pick_target(tgt, overlay.shape[1] / 2, overlay.shape[0] / 2)
    for mirror, align in ((False, False), (True, False), (True, True)):
        picture, note = app.preview_target("photo", tgt, index, None, mirror, align, src, -1)
        assert picture.shape == (512, 352, 3) and "Generate" in note
    app.preview_target("gallery", None, -1, "t_pose", True, True, src, -1)
    assert sum(calls.values()) == 0, f"GPU calls before Generate: {dict(calls)}"
    out = app.generate(
        src, -1, "photo", tgt, -1, None, True, True, 1, 3.5, 0, "ddim", "256x176", "upstream (default)", [], _no_progress
    )  # fmt: skip
    assert out[-1].startswith("Done:"), out[-1]
    assert dict(calls) == {"run_on_gpu": 1}, dict(calls)
    # The target IUV DensePose made inside that call comes back with the result.
    assert out[7].shape == (512, 352, 3) and out[7].any()
