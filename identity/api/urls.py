from django.urls import path

from identity.api import views

urlpatterns = [
    path("authenticate", views.AuthenticateView.as_view(), name="authenticate"),
    path(
        "authenticate/callback",
        views.AuthenticateCallbackView.as_view(),
        name="authenticate-callback",
    ),
    path("authenticate/token", views.AuthenticateTokenView.as_view(), name="authenticate-token"),
]
