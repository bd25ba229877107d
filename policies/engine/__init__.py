"""Pure policy evaluation: fact catalog, operators, compiled policies. No Django, no database."""

from policies.engine.catalog import CATALOG, FactSpec, FactType, fact_spec, operators_for
from policies.engine.evaluator import CompiledCondition, CompiledConstraint, CompiledPolicy, compile_policy, evaluate

__all__ = [
    "CATALOG",
    "CompiledCondition",
    "CompiledConstraint",
    "CompiledPolicy",
    "FactSpec",
    "FactType",
    "compile_policy",
    "evaluate",
    "fact_spec",
    "operators_for",
]
