from django.urls import path

from dashboard.views import account, auth

app_name = "account"

urlpatterns = [
    path("login/", auth.sign_in, name="login"),
    path("login/verify/", auth.verify, name="verify"),
    path("logout/", auth.sign_out, name="logout"),
    path("confirm/", auth.reauthenticate, name="reauthenticate"),
    path("security/", account.security, name="security"),
    path("security/totp/start/", account.totp_start, name="totp-start"),
    path("security/totp/", account.totp_enroll, name="totp-enroll"),
    path("security/backup-codes/", account.backup_codes_new, name="backup-codes"),
    path("security/disable/", account.two_factor_off, name="two-factor-disable"),
    path("password/", account.password_change, name="password"),
]
