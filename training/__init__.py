"""Training learned-router models: distillation, quality heads, calibration, export.

Used from a checkout of the repository (it needs the ``train`` extra); the
runtime wheel does not ship it. Commands: ``python -m training --help``; the
whole lifecycle: docs/architecture.md.
"""
