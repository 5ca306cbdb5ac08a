"""Public pages of a brand's host without an API key: the signed unsubscribe page, ESP webhooks."""

from django.urls import include, path

from notifications.views import click_redirect, open_pixel, unsubscribe_page

urlpatterns = [
    path("unsubscribe/<str:token>/", unsubscribe_page, name="unsubscribe"),
    path("t/o/<str:token>/", open_pixel, name="message-open"),
    path("t/c/<str:token>/", click_redirect, name="message-click"),
    # anymail's tracking webhooks (/anymail/<esp>/tracking/), authenticated by ANYMAIL WEBHOOK_SECRET.
    path("anymail/", include("anymail.urls")),
]
