from django.urls import path

from dashboard.consumers import FunctionFlowConsumer, RunConsumer, RunsConsumer

ENV = "ws/<slug:org_slug>/<slug:env_slug>/"

websocket_urlpatterns = [
    path(ENV + "runs/", RunsConsumer.as_asgi()),
    path(ENV + "runs/<str:run_id>/", RunConsumer.as_asgi()),
    path(ENV + "functions/<str:function_id>/", FunctionFlowConsumer.as_asgi()),
]
