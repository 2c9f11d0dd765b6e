from django.urls import path

from tutor import consumers

websocket_urlpatterns = [
    path("ws/sessions/<int:session_id>/", consumers.TutorConsumer.as_asgi()),
]
