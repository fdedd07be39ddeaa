from django.urls import path

from . import pages

app_name = "accounts"

urlpatterns = [
    path("signin/", pages.SignInView.as_view(), name="signin"),
    path("signout/", pages.SignOutView.as_view(), name="signout"),
    path("signup/", pages.signup, name="signup"),
]
