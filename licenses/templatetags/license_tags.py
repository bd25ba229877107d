from django import template

register = template.Library()

_THREAT_BADGE = {
    "permissive": "ok",
    "weak-copyleft": "low",
    "copyleft": "moderate",
    "ai-restricted": "severe",
    "non-commercial": "fail",
    "proprietary": "fail",
    "unknown": "unscannable",
}
_MATCH_BADGE = {"exact": "ok", "modified": "warn", "header": "warn", "partial": "warn", "reference": "info",
                "policy": "low", "gated-prompt": "info"}  # fmt: skip
_STATUS_BADGE = {"open": "warn", "acknowledged": "info", "selected": "ok", "overridden": "severe", "confirmed": "ok",
                 "fulfilled": "ok", "not_applicable": "outline"}  # fmt: skip


@register.filter
def threat_badge(group: str) -> str:
    return _THREAT_BADGE.get(group, "outline")


@register.filter
def match_badge(kind: str) -> str:
    return _MATCH_BADGE.get(kind, "outline")


@register.filter
def status_badge(status: str) -> str:
    return _STATUS_BADGE.get(status, "outline")


@register.filter
def blocking(reason: str) -> bool:
    return reason.startswith("not permitted")
