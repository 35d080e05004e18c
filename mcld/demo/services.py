"""What a demo's handlers share: the models built at start-up, a model-less
person locator, the human parser and the pose gallery, each built once, on
first use, per :class:`DemoServices` instance (thread-safe; no module globals).

Source:
    Our own (the Gradio Space of this repository).
"""

from __future__ import annotations

import logging
import os
import threading

from .errors import DemoInputError

__all__ = ["DemoServices"]


class DemoServices:
    """The lazily built models and data of one demo.

    Args:
        options: The demo's :class:`mcld.demo.DemoOptions` (``tiny`` chooses
            tiny random weights and offline mode).
        logger: Where the start-up's Hub check is logged.

    Examples:
        >>> services = DemoServices(DemoOptions(tiny=True))
        >>> services.gallery_pose("t_pose").name
        't_pose'
    """

    def __init__(self, options, logger: logging.Logger | None = None):
        self.options = options
        self.logger = logger or logging.getLogger("mcld.demo")
        self._startup = None
        self._locator = None
        self._coarse_parser = None
        self._gallery = None
        self._lock = threading.RLock()

    def start_up(self, hub_timeout_s: float | None = None):
        """Run once in the main thread before ``launch()``: in full mode ask
        the Hub once whether it is reachable (unreachable -> offline mode for
        the whole process), then fetch and build every model
        (:func:`mcld.startup.preload`, progress in the log).

        Side effects, for the whole process: in tiny mode, or when the Hub is
        not reachable, :func:`mcld.startup.use_offline_mode` sets
        ``HF_HUB_OFFLINE=1`` and ``MCLD_OFFLINE=1`` in ``os.environ`` and
        ``huggingface_hub.constants.HF_HUB_OFFLINE = True`` (every later Hub
        call of huggingface_hub, transformers and diffusers fails at once).

        Args:
            hub_timeout_s: Seconds the Hub check waits (default
                ``$MCLD_HUB_TIMEOUT_S`` or 3).

        Returns:
            The :class:`mcld.startup.Startup`, also kept for :attr:`startup`.
        """
        from ..startup import check_hub, preload, use_offline_mode

        hub = None
        if self.options.tiny:
            use_offline_mode()  # tiny mode downloads nothing
        else:
            timeout = hub_timeout_s if hub_timeout_s is not None else float(os.environ.get("MCLD_HUB_TIMEOUT_S", "3"))
            hub = check_hub(timeout_s=timeout)
            self.logger.info("start-up: Hugging Face Hub %s", "reachable" if hub.reachable else f"NOT reachable ({hub.reason})")
            if not hub.reachable:
                use_offline_mode()
        with self._lock:
            self._startup = preload(tiny=self.options.tiny, hub=hub)
            return self._startup

    @property
    def startup(self):
        """What the start-up built. In tiny mode a demo used without
        :meth:`start_up` (in-process tests) builds it on first use (CPU-only
        tiny models); in full mode nothing is loaded then, and Generate says so."""
        from ..startup import HubStatus, Startup, preload

        with self._lock:
            if self._startup is None:
                if not self.options.tiny:
                    return Startup("full", HubStatus(False, "", "app.py was imported, not started"))
                self._startup = preload(tiny=True)
            return self._startup

    def pose_transfer(self):
        """The :class:`~mcld.pose_transfer.PoseTransfer` built at start-up.

        Raises:
            DemoInputError: its models did not load (the sentence names what
                is missing, where it comes from, and ``make demo-tiny``).
        """
        startup = self.startup
        if startup.pose_transfer is None:
            raise DemoInputError(startup.generate_unavailable)
        return startup.pose_transfer

    def locator(self):
        """The :class:`~mcld.pose_transfer.PoseTransfer` that finds people:
        the start-up's (its per-file detection cache also serves Generate),
        else one without models (MediaPipe and the crop only)."""
        startup = self.startup
        if startup.pose_transfer is not None:
            return startup.pose_transfer
        with self._lock:
            if self._locator is None:
                from ..pose_transfer import PoseTransfer

                self._locator = PoseTransfer(None, None)
            return self._locator

    def parser(self):
        """The human parser loaded at start-up (SCHP) or, when it did not
        load, the coarse MediaPipe parser (CPU, no weights). Its results name
        which one ran."""
        parser = self.startup.parser
        if parser is not None:
            return parser
        with self._lock:
            if self._coarse_parser is None:
                from ..annotators.human_parsing import HumanParser

                self._coarse_parser = HumanParser.from_pretrained("mediapipe-coarse")
            return self._coarse_parser

    def gallery(self) -> list:
        """The pose gallery prepared at start-up (photo entries with their
        DensePose IUV), else the gallery files as they are (loaded once per
        instance, on first use)."""
        from ..gallery import load_gallery

        gallery = self.startup.gallery
        if gallery is not None:
            return gallery
        with self._lock:
            if self._gallery is None:
                self._gallery = load_gallery()
            return self._gallery

    def gallery_pose(self, name: str | None):
        """The gallery pose named ``name`` (its name or label).

        Raises:
            DemoInputError: no name.
            mcld.gallery.GalleryPoseError: unknown name (lists the valid names).
        """
        from ..gallery import find_gallery_pose

        if not name:
            raise DemoInputError("Choose a pose in the gallery first.")
        return find_gallery_pose(self.gallery(), name)

    def parser_name(self) -> str:
        """The shown name of the parser chosen at start-up (the overlays' label)."""
        from .captions import parsing_name

        parser = self.startup.parser
        return parsing_name(parser.source if parser is not None else "mediapipe-coarse")
