"""An environment's apps: sync by URL, resync, archive, and the sync history with its diffs."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from controlplane.registry.selectors import (
    app_in_environment,
    apps_of,
    functions_of_app,
    sync_in_environment,
    syncs_of,
    unattached_syncs,
)
from controlplane.registry.services import app_set_archived, app_sync_from_url
from controlplane.tenancy.models import Role
from dashboard.decorators import environment_view
from dashboard.forms import AppUrlForm

TEMPLATE = "dashboard/apps.html"


def _can_sync(request) -> bool:
    return request.membership.allows(Role.MEMBER)


def _app_or_404(request, app_id):
    app = app_in_environment(environment=request.environment, public_id=app_id)
    if app is None:
        raise Http404("No such app.")
    return app


def _app_url(request, app) -> str:
    args = [request.organization.slug, request.environment.slug, app.public_id]
    return reverse("dashboard:app-detail", args=args)


def summary(sync) -> str:
    """One line for a flash message: what a successful sync changed."""
    diff = sync.diff
    parts = [f"{len(diff.get(k, []))} {k}" for k in ("added", "removed", "changed")]
    return f"Synced {sync.app.app_id}: {', '.join(parts)}."


@environment_view()
def app_list(request):
    context = {
        "apps": apps_of(request.environment),
        "unattached": unattached_syncs(request.environment),
        "form": AppUrlForm(),
        "can_sync": _can_sync(request),
    }
    return render(request, TEMPLATE, context)


@environment_view(min_role=Role.MEMBER)
@require_POST
def app_sync_new(request):
    """Sync the app at a pasted URL: to its page on success, the error in words otherwise."""
    form = AppUrlForm(request.POST)
    sync = None
    if form.is_valid():
        sync = app_sync_from_url(
            environment=request.environment, url=form.cleaned_data["url"], actor=request.user
        )
        if sync.succeeded:
            messages.success(request, summary(sync))
            target = _app_url(request, sync.app)
            if request.htmx:
                return HttpResponse(status=204, headers={"HX-Redirect": target})
            return redirect(target)
    context = {"form": form, "failed_sync": sync, "can_sync": True}
    if request.htmx:
        return render(request, f"{TEMPLATE}#sync-form", context)
    return render(request, TEMPLATE, {**context, "apps": apps_of(request.environment)})


@environment_view()
def app_detail(request, app_id):
    app = _app_or_404(request, app_id)
    context = {
        "app": app,
        "functions": functions_of_app(app),
        "syncs": syncs_of(app),
        "can_sync": _can_sync(request),
        "can_archive": request.membership.allows(Role.ADMIN),
    }
    return render(request, "dashboard/app_detail.html", context)


@environment_view(min_role=Role.MEMBER)
@require_POST
def app_resync(request, app_id):
    app = _app_or_404(request, app_id)
    sync = app_sync_from_url(
        environment=request.environment, url=app.url, actor=request.user, app=app
    )
    if sync.succeeded:
        messages.success(request, summary(sync))
    else:
        messages.error(request, f"The sync failed: {sync.error}")
    return redirect(_app_url(request, sync.app or app))


@environment_view(min_role=Role.ADMIN)
@require_POST
def app_archive(request, app_id):
    app = _app_or_404(request, app_id)
    archived = request.POST.get("archived") == "true"
    app_set_archived(app=app, actor=request.user, archived=archived)
    if archived:
        messages.success(request, f"{app.app_id} is archived: its functions start no new runs.")
    else:
        messages.success(request, f"{app.app_id} is live again.")
    return redirect(_app_url(request, app))


@environment_view()
def sync_detail(request, sync_id):
    sync = sync_in_environment(environment=request.environment, public_id=sync_id)
    if sync is None:
        raise Http404("No such sync.")
    return render(request, "dashboard/sync_detail.html", {"sync": sync})
