"""The forms of the settings, account, users and token pages (Flask-WTF: each carries its CSRF token)."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length

from webapp.core.vocabulary import AUTO, GALLERY_DL, YTDLP
from webapp.models.user import ROLES
from webapp.services.admin import runtime_settings
from webapp.services.library import presets

# The engines in the order the settings offer them (runtime_settings.ENGINE_CHOICES;
# tests/test_vocabulary.py checks they are the same). The presets are rows, labelled by admins.
ENGINE_LABELS = {AUTO: "Automatic (pick per link)", GALLERY_DL: "gallery-dl", YTDLP: "yt-dlp"}
ROLE_LABELS = {"admin": "Admin", "user": "User"}


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


class DownloadsForm(FlaskForm):
    # Strings, checked by runtime_settings.validate: one set of rules and messages for every caller.
    download_concurrency = StringField("Downloads at once", validators=[InputRequired("Enter a number")])
    job_timeout_seconds = StringField("Job timeout (seconds)", validators=[InputRequired("Enter a number")])
    default_engine = SelectField("Default engine", choices=_choices(ENGINE_LABELS))
    # The presets as they are now, by label; runtime_settings.validate checks the name sent.
    default_preset = SelectField("Default preset", validate_choice=False)
    subscription_min_interval_minutes = StringField("Shortest subscription schedule (minutes)",
                                                    validators=[InputRequired("Enter a number")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_preset.choices = _choices(dict(presets.choices()))


class LimitsForm(FlaskForm):
    """The bandwidth limits and the disk guard (strings, checked by runtime_settings.validate)."""

    bandwidth_limit = StringField("Bandwidth limit (all downloads together, per second)",
                                  validators=[InputRequired("Enter a size such as 5M, or 0")])
    per_job_bandwidth_limit = StringField("Bandwidth limit per download (per second)",
                                          validators=[InputRequired("Enter a size such as 1M, or 0")])
    disk_guard_min_free_bytes = StringField("Keep free on the storage disk",
                                            validators=[InputRequired("Enter a size such as 2G, or 0")])
    disk_guard_min_free_percent = StringField("…or this percentage of it, whichever is smaller",
                                              validators=[InputRequired("Enter a number from 0 to 50")])


class AccessForm(FlaskForm):
    users_private_addresses = BooleanField("Users may download from private addresses")
    # A string, checked by runtime_settings.validate like the download numbers.
    max_streams = StringField("Live connections per user, token or guest", validators=[InputRequired("Enter a number")])


class ToolArgsForm(FlaskForm):
    gallery_dl_extra_args = TextAreaField("Extra gallery-dl arguments", validators=[Length(max=runtime_settings.MAX_ARGS_LENGTH)])
    ytdlp_extra_args = TextAreaField("Extra yt-dlp arguments", validators=[Length(max=runtime_settings.MAX_ARGS_LENGTH)])


class CookiesForm(FlaskForm):
    site = StringField("Site", validators=[Length(max=260)])
    file = FileField("cookies.txt file", validators=[FileRequired("Choose a cookies.txt file")])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password")])
    new_password = PasswordField("New password", validators=[DataRequired("Enter a new password"), Length(max=256)])
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired("Repeat the new password"), EqualTo("new_password", "The passwords differ")])
    # Unticked by default: whoever learnt the old password may have made a token with it.
    keep_tokens = BooleanField("Keep my API tokens working")


class NewUserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired("Enter a username"), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired("Enter a password"), Length(max=256)])
    role = SelectField("Role", choices=_choices({r: ROLE_LABELS[r] for r in ROLES}), default="user")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=_choices({r: ROLE_LABELS[r] for r in ROLES}))


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired("Enter a new password"), Length(max=256)])
    keep_tokens = BooleanField("Keep their API tokens")


# What a token from the settings page may do; "submit" is what a bookmarklet, the userscript or
# an iOS Shortcut should hold: it adds links and sees only what it added.
TOKEN_ACCESS = {"full": None, "submit": "submit", "read": "submit read"}


class NewTokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired("Give the token a name"), Length(max=100)])
    access = SelectField("What it may do", default="full", choices=_choices({
        "full": "Everything your account can",
        "submit": "Only send links (phone, userscript, Shortcuts)",
        "read": "Send links and read your downloads",
    }))


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token (delete, revoke, reset buttons)."""
