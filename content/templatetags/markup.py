from django import template
from django.utils.safestring import SafeString, mark_safe

from content.rendering import render_markdown, render_plain

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Markdown+LaTeX to sanitised HTML (see content/rendering.py): authored content and the tutor."""
    return mark_safe(render_markdown(text))


@register.filter
def plain(text: str) -> SafeString:
    """Student text as typed, escaped, with only its math rendered (see content/rendering.py)."""
    return mark_safe(render_plain(text))
