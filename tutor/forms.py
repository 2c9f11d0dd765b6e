from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Self sign-up makes a student; teacher and researcher roles are granted by an administrator."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)
