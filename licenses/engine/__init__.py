"""Pure license-attribution engine: no Django imports.

Layers (one module each): `declared` (card metadata → expression), `observed` (file texts → evidence,
through a shingle index of the catalog texts), `inherit` (lineage and trained-on-outputs), `resolve`
(effective expression, obligations, conflicts) and `usefit` (obligations vs an application's use
profile). `catalog` holds the immutable catalog they all read; `analyse()` runs the whole chain.
"""

from licenses.engine.analyse import AnalysisInput, AnalysisResult, BaseInput, analyse
from licenses.engine.catalog import Catalog, LicenseSpec, load_catalog

__all__ = ["AnalysisInput", "AnalysisResult", "BaseInput", "Catalog", "LicenseSpec", "analyse", "load_catalog"]
