from django.urls import path

from portal.identity import views

urlpatterns = [
    path("authenticate", views.AuthenticateView.as_view(), name="authenticate"),
    path(
        "authenticate/callback",
        views.AuthenticateCallbackView.as_view(),
        name="authenticate-callback",
    ),
    path("authenticate/token", views.AuthenticateTokenView.as_view(), name="authenticate-token"),
    path("me", views.MeView.as_view(), name="me"),
]
