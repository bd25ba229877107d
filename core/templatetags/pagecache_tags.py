"""`{% unlessuser id %}…{% endunlessuser %}`: content every user but `id` sees (core/pagecache.py).

Outside a shared render it is `{% if id != user.pk %}`; in a shared render the content is kept, marked
with the id, and cut out per requester when the cached page is served.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.template.context import Context

from core.pagecache import marks, shared_render

register = template.Library()


class UnlessUserNode(template.Node):
    def __init__(self, owner: FilterExpression, nodelist: NodeList) -> None:
        self.owner, self.nodelist = owner, nodelist

    def render(self, context: Context) -> str:
        owner: Any = self.owner.resolve(context)
        request = context.get("request")
        if request is not None and shared_render(request):
            m = marks()
            return f"{m.unless_open}{int(owner or 0)}-->{self.nodelist.render(context)}{m.unless_close}"
        user = context.get("user")
        if user is not None and owner is not None and owner == user.pk:
            return ""
        return self.nodelist.render(context)


@register.tag
def unlessuser(parser: Parser, token: Token) -> UnlessUserNode:
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("{% unlessuser <user id> %} takes one argument")
    nodelist = parser.parse(("endunlessuser",))
    parser.delete_first_token()
    return UnlessUserNode(parser.compile_filter(bits[1]), nodelist)
