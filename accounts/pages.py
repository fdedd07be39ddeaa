"""Sign-up, sign-in and sign-out pages of the web UI."""

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from chat_project.errors import ChatError

from .forms import SignInForm, SignUpForm
from .services import signup_open, user_sign_up


class SignInView(auth_views.LoginView):
    template_name = "accounts/signin.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs, open_signup=signup_open())


class SignOutView(auth_views.LogoutView):
    pass


@require_http_methods(["GET", "POST"])
def signup(request):
    if not signup_open():  # CHAT_OPEN_SIGNUP off: a page that says so, and a 404
        return render(request, "accounts/signup_closed.html", status=404)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_sign_up(user_id=form.cleaned_data["user_id"],
                                password=form.cleaned_data["password"],
                                nick=form.cleaned_data["nick"])
        except ChatError as exc:
            form.add_error("user_id", exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("chat")
    return render(request, "accounts/signup.html", {"form": form})
