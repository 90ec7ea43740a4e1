from django.urls import path

from dashboard.views import auth, environments, members, organizations

app_name = "dashboard"

urlpatterns = [
    path("", organizations.home, name="home"),
    path("setup/", auth.setup, name="setup"),
    path("orgs/new/", organizations.organization_new, name="organization-new"),
    path("invite/<str:token>/", members.invitation_open, name="invitation"),
    path("<slug:org_slug>/", organizations.organization_home, name="organization-home"),
    path(
        "<slug:org_slug>/settings/",
        organizations.organization_settings,
        name="organization-settings",
    ),
    path("<slug:org_slug>/settings/audit/", organizations.audit_log, name="audit-log"),
    path("<slug:org_slug>/settings/members/", members.members, name="members"),
    path("<slug:org_slug>/settings/members/invite/", members.member_invite, name="member-invite"),
    path(
        "<slug:org_slug>/settings/members/<str:member_id>/role/",
        members.member_role,
        name="member-role",
    ),
    path(
        "<slug:org_slug>/settings/members/<str:member_id>/remove/",
        members.member_remove,
        name="member-remove",
    ),
    path(
        "<slug:org_slug>/settings/invitations/<str:invitation_id>/revoke/",
        members.invitation_cancel,
        name="invitation-revoke",
    ),
    path(
        "<slug:org_slug>/<slug:env_slug>/", environments.environment_home, name="environment-home"
    ),
]
