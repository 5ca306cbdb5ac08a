from django.urls import path

from accounts.api import WhoAmIApi

urlpatterns = [
    path("me/", WhoAmIApi.as_view(), name="whoami"),
]
