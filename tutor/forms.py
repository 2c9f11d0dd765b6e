from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError


class SignupForm(UserCreationForm):
    """Self sign-up makes a student; teacher and researcher roles are granted by an administrator."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)


class LoginForm(AuthenticationForm):
    """Sign-in that says so when the rate limit (``tutor.ratelimit``) refused the attempt."""

    @property
    def rate_limited(self) -> bool:
        return bool(getattr(self.request, "login_rate_limited", False))

    def get_invalid_login_error(self) -> ValidationError:
        if self.rate_limited:
            return ValidationError(
                "Too many failed sign-in attempts. Please wait a few minutes before trying again.",
                code="rate_limited",
            )
        return super().get_invalid_login_error()
