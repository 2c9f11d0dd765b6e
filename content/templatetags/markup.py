from django import template
from django.utils.safestring import SafeString, mark_safe

from content.rendering import render_markdown

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Markdown+LaTeX to sanitised HTML (see content/rendering.py)."""
    return mark_safe(render_markdown(text))
