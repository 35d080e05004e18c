"""The glue of a demo's ``spaces.GPU`` functions: their durations (functions
taking the GPU function's own arguments, as ``spaces.GPU(duration=...)``
calls them) and the progress each reports.

Source:
    Our own (the Gradio Space of this repository); ZeroGPU's
    ``spaces.GPU(duration=callable)`` contract.
"""

from __future__ import annotations

__all__ = ["grid_gpu_seconds", "job_gpu_seconds", "run_compare", "run_job"]


def job_gpu_seconds(job, progress=None) -> int:
    """Seconds to reserve for one Generate or edit job (:meth:`Job.gpu_seconds <mcld.conditions.Job.gpu_seconds>`)."""
    return job.gpu_seconds()


def grid_gpu_seconds(request, progress=None) -> int:
    """Seconds to reserve for a :class:`mcld.demo.CompareRequest` (:func:`mcld.grid.grid_gpu_duration`).

    Raises:
        mcld.grid.GridTooLargeError: the grid does not fit one GPU call.
    """
    from ..grid import grid_gpu_duration

    return grid_gpu_duration(request.plan, request.photos)


def _reporter(progress, desc: str):
    def report(i: int, n: int) -> None:
        if progress is not None:
            progress((i, n), desc=desc.format(i=i, n=n))

    return report


def run_job(pose_transfer, job, progress=None):
    """The GPU half of Generate and Generate edit: :meth:`PoseTransfer.run
    <mcld.pose_transfer.PoseTransfer.run>` (DensePose, texture, composition,
    sampling), ``"Denoising step i/n"`` reported to ``progress``.

    Returns:
        The picklable :class:`~mcld.conditions.GenerationResult`.
    """
    return pose_transfer.run(job, callback=_reporter(progress, "Denoising step {i}/{n}"))


def run_compare(pose_transfer, request, progress=None):
    """A whole Compare grid (:func:`mcld.grid.run_grid`: each target's
    conditions once, then every cell), ``"Grid image i/n"`` reported.

    Args:
        pose_transfer: The :class:`~mcld.pose_transfer.PoseTransfer`.
        request: A :class:`mcld.demo.CompareRequest` (:func:`mcld.demo.compare_request`).
        progress: Gradio progress tracker, or ``None``.

    Returns:
        The :class:`mcld.grid.GridResult`.
    """
    from ..grid import run_grid

    callback = _reporter(progress, "Grid image {i}/{n}")
    return run_grid(pose_transfer, request.source, request.targets, request.axes, callback=callback, **request.settings)
