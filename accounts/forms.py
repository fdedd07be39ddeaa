from django import forms
from django.contrib.auth.forms import AuthenticationForm

from .models import User, validate_user_id
from .services import is_app_admin


class SignInForm(AuthenticationForm):
    username = forms.CharField(
        label="UserID", max_length=32,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username",
                                      "autocapitalize": "none", "spellcheck": "false"}))
    password = forms.CharField(
        label="Password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def clean(self):
        # An app admin's UserID is the app's own voice: it never signs in to the chat with
        # a password (operators use /admin/). Refused before the password is checked,
        # so the answer says nothing about the password.
        if is_app_admin(self.cleaned_data.get("username")):
            raise forms.ValidationError(
                "The app admin's UserID does not sign in here; operators sign in at /admin/.",
                code="app_admin")
        return super().clean()


class SignUpForm(forms.Form):
    user_id = forms.CharField(
        label="UserID", max_length=32, validators=[validate_user_id],
        help_text="1 to 32 letters, digits or symbols; others find you by it.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username",
                                      "autocapitalize": "none", "spellcheck": "false"}))
    nick = forms.CharField(label="Nickname", max_length=100, required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "nickname"}))
    password = forms.CharField(
        min_length=6, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(
        label="Password again",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean_user_id(self):
        user_id = self.cleaned_data["user_id"]
        if User.objects.filter(user_id=user_id).exists():
            raise forms.ValidationError("This UserID is taken.")
        return user_id

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", "The passwords differ.")
        return data
