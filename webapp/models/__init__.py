"""All models, imported here so Flask-Migrate and the app see every table."""
from webapp.models.cookie_access import CookieAccess
from webapp.models.event import Event
from webapp.models.invite import GuestSession, Invite, Upload
from webapp.models.job import Job, JobFile, Submission
from webapp.models.job_log import JobLog
from webapp.models.job_metadata import JobMetadata
from webapp.models.notification import NotificationDelivery, NotificationTarget
from webapp.models.periodic_claim import PeriodicClaim
from webapp.models.preset import Preset
from webapp.models.setting import Setting
from webapp.models.subscription import Subscription, SubscriptionItem, SubscriptionRun
from webapp.models.user import ApiToken, LoginSession, User

__all__ = ["ApiToken", "CookieAccess", "Event", "GuestSession", "Invite", "Upload", "Job", "JobFile", "JobLog", "JobMetadata", "NotificationDelivery", "NotificationTarget", "PeriodicClaim", "Preset", "LoginSession", "Setting", "Submission", "Subscription", "SubscriptionItem", "SubscriptionRun",
           "User"]
