"""Swappable samplers for :class:`~mcld.pipeline_mcld.MCLDPipeline`.

MCLD was trained with v-prediction on a zero-terminal-SNR schedule and upstream
samples with DDIM (``trailing`` spacing, 20 steps). Other diffusers schedulers
work when they are built from the same config (same betas, prediction type and
spacing), which :func:`set_scheduler` does.

Source: diffusers ``SchedulerMixin.from_config``; zero-SNR / trailing per
Lin et al., "Common Diffusion Noise Schedules and Sample Steps are Flawed" (2024).
"""

from __future__ import annotations

__all__ = ["SCHEDULERS", "make_scheduler", "set_scheduler"]

#: UI name -> (diffusers class name, extra config).
SCHEDULERS: dict[str, tuple[str, dict]] = {
    "ddim": ("DDIMScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "euler": ("EulerDiscreteScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}


def make_scheduler(name: str, base_config):
    """Build scheduler ``name`` from the pipeline's (upstream DDIM) config.

    Args:
        name: A key of :data:`SCHEDULERS`.
        base_config: ``pipe.scheduler.config``.

    Returns:
        A diffusers scheduler with the same betas, ``prediction_type`` and
        ``timestep_spacing``.

    Raises:
        ValueError: unknown ``name``.
    """
    import diffusers

    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {sorted(SCHEDULERS)}")
    cls_name, extra = SCHEDULERS[name]
    cls = getattr(diffusers, cls_name)
    return cls.from_config(dict(base_config), **extra)


def set_scheduler(pipe, name: str) -> None:
    """Replace ``pipe.scheduler`` by :func:`make_scheduler` ``(name, ...)``.

    Keeps the original DDIM config on ``pipe`` so that switching back and
    forth never drifts.
    """
    base = getattr(pipe, "_mcld_base_scheduler_config", None)
    if base is None:
        base = dict(pipe.scheduler.config)
        pipe._mcld_base_scheduler_config = base
    pipe.scheduler = make_scheduler(name, base)
