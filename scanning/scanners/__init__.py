"""Model file scanners. Entry points: :func:`scan_file` and :func:`scan_reader` (see ``router``)."""

from scanning.scanners.router import FORMATS, detect, scan_file, scan_reader

__all__ = ["FORMATS", "detect", "scan_file", "scan_reader"]
