"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.websocket import SameOriginValidator  # noqa: E402
from tutor.routing import websocket_urlpatterns  # noqa: E402
from tutor.teaching.routing import websocket_urlpatterns as teaching_websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Same origin: scheme, host and port (channels' AllowedHostsOriginValidator checks the host only).
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns + teaching_websocket_urlpatterns))
        ),
    }
)
