from django.urls import path

from dashboard.views import (
    api,
    apps,
    auth,
    bulk,
    environments,
    events,
    flow,
    functions,
    keys,
    members,
    organizations,
    runs,
)

app_name = "dashboard"

ORG = "<slug:org_slug>/"
ENV = "<slug:org_slug>/<slug:env_slug>/"

urlpatterns = [
    path("", organizations.home, name="home"),
    path("setup/", auth.setup, name="setup"),
    path("orgs/new/", organizations.organization_new, name="organization-new"),
    path("invite/<str:token>/", members.invitation_open, name="invitation"),
    # Organization pages
    path(ORG, organizations.organization_home, name="organization-home"),
    path(ORG + "settings/", organizations.organization_settings, name="organization-settings"),
    path(ORG + "settings/audit/", organizations.audit_log, name="audit-log"),
    path(ORG + "settings/members/", members.members, name="members"),
    path(ORG + "settings/members/invite/", members.member_invite, name="member-invite"),
    path(ORG + "settings/members/<str:member_id>/role/", members.member_role, name="member-role"),
    path(
        ORG + "settings/members/<str:member_id>/remove/",
        members.member_remove,
        name="member-remove",
    ),
    path(
        ORG + "settings/invitations/<str:invitation_id>/revoke/",
        members.invitation_cancel,
        name="invitation-revoke",
    ),
    path(ORG + "settings/environments/", environments.environment_list, name="environments"),
    path(
        ORG + "settings/environments/<slug:env_slug>/",
        environments.environment_edit,
        name="environment-edit",
    ),
    # Environment pages
    path(ENV, environments.environment_home, name="environment-home"),
    path(ENV + "keys/", keys.keys, name="keys"),
    path(ENV + "keys/event/new/", keys.event_key_new, name="event-key-new"),
    path(ENV + "keys/event/<str:key_id>/edit/", keys.event_key_edit, name="event-key-edit"),
    path(ENV + "keys/event/<str:key_id>/toggle/", keys.event_key_toggle, name="event-key-toggle"),
    path(ENV + "keys/event/<str:key_id>/delete/", keys.event_key_remove, name="event-key-delete"),
    path(ENV + "keys/signing/next/", keys.signing_key_next, name="signing-key-next"),
    path(ENV + "keys/signing/promote/", keys.signing_key_activate, name="signing-key-promote"),
    path(
        ENV + "keys/signing/<str:key_id>/revoke/",
        keys.signing_key_delete,
        name="signing-key-revoke",
    ),
    path(
        ENV + "keys/signing/<str:key_id>/reveal/", keys.signing_key_show, name="signing-key-reveal"
    ),
    path(ENV + "api/", api.api_keys, name="api-keys"),
    path(ENV + "api/keys/new/", api.api_key_new, name="api-key-new"),
    path(ENV + "api/keys/<str:key_id>/revoke/", api.api_key_delete, name="api-key-revoke"),
    path(ENV + "api/reference/", api.api_reference, name="api-reference"),
    path(ENV + "apps/", apps.app_list, name="apps"),
    path(ENV + "apps/sync/", apps.app_sync_new, name="app-sync-new"),
    path(ENV + "apps/<str:app_id>/", apps.app_detail, name="app-detail"),
    path(ENV + "apps/<str:app_id>/resync/", apps.app_resync, name="app-resync"),
    path(ENV + "apps/<str:app_id>/archive/", apps.app_archive, name="app-archive"),
    path(ENV + "syncs/<str:sync_id>/", apps.sync_detail, name="sync-detail"),
    path(ENV + "functions/", functions.function_list, name="functions"),
    path(ENV + "functions/<str:function_id>/", functions.function_detail, name="function-detail"),
    path(ENV + "functions/<str:function_id>/flow/", flow.function_flow, name="function-flow"),
    path(
        ENV + "functions/<str:function_id>/pause/", flow.function_pause_view, name="function-pause"
    ),
    path(
        ENV + "functions/<str:function_id>/resume/",
        flow.function_resume_view,
        name="function-resume",
    ),
    path(
        ENV + "functions/<str:function_id>/replay-skipped/",
        flow.skipped_replay_view,
        name="function-replay-skipped",
    ),
    path(
        ENV + "functions/<str:function_id>/bulk/cancel/",
        bulk.bulk_new,
        {"kind": "cancel"},
        name="function-bulk-cancel",
    ),
    path(
        ENV + "functions/<str:function_id>/bulk/replay/",
        bulk.bulk_new,
        {"kind": "replay"},
        name="function-bulk-replay",
    ),
    path(ENV + "bulk/", bulk.bulk_list, name="bulk-list"),
    path(ENV + "bulk/<str:bulk_id>/", bulk.bulk_detail, name="bulk-detail"),
    path(ENV + "bulk/<str:bulk_id>/stop/", bulk.bulk_stop, name="bulk-stop"),
    path(ENV + "events/", events.event_list, name="events"),
    # Before the detail route, whose <str:event_id> would match these words.
    path(ENV + "events/send/", events.event_send, name="event-send"),
    path(ENV + "events/names/", events.event_names, name="event-names"),
    path(ENV + "events/<str:event_id>/", events.event_detail, name="event-detail"),
    path(ENV + "runs/", runs.run_list, name="runs"),
    path(ENV + "runs/<str:run_id>/", runs.run_detail, name="run-detail"),
    path(ENV + "runs/<str:run_id>/actions/", runs.run_actions, name="run-actions"),
    path(ENV + "runs/<str:run_id>/cancel/", runs.run_cancel, name="run-cancel"),
    path(ENV + "runs/<str:run_id>/replay/", runs.run_replay_view, name="run-replay"),
]
