"""Test settings: the real settings with faster hashing and test-friendly static files.

DATABASE_URL / REDIS_URL are honoured, so the same suite runs on SQLite and on PostgreSQL + Redis.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("ENCRYPTION_KEY", "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyEhISE=")

from controlplane.settings import *  # noqa: E402,F403
from controlplane.settings import DATABASES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Served straight from the finders, so tests need no collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so servers in threads and worker processes see the test data. A
    # fresh clone has no var/ yet (only `make run` creates it).
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

# django-otp's per-device backoff (1 s after a wrong code, doubling) is exercised by its own
# test; elsewhere tests type a right code right after a wrong one.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# Drift learning would let one boundary-crossing code shift the device's clock for later
# codes in the same test; real phones keep it on.
OTP_TOTP_SYNC = False
