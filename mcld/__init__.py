"""mcld: MCLD pose-guided person image synthesis (CVPR 2025) as a package and a Space."""

__version__ = "0.1.0"
