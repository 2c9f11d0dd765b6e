from django.urls import path

from tutor.teaching import consumers

websocket_urlpatterns = [
    path("ws/teach/classes/<int:classroom_id>/live/", consumers.ClassLiveConsumer.as_asgi()),
]
