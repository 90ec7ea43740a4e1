import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from controlplane.accounts.models import User, normalize_email
from controlplane.accounts.services import user_create
from controlplane.keys.selectors import active_signing_key
from controlplane.keys.services import event_key_create
from controlplane.tenancy.models import Organization, Role
from controlplane.tenancy.services import organization_create

BOOTSTRAP_KEY_NAME = "bootstrap"


class Command(BaseCommand):
    help = "Create (or find) an owner and their organization, for scripted installs. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization name")
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="Print the result as JSON"
        )

    @transaction.atomic
    def handle(self, *args, org, email, password, as_json: bool, **options):
        user = User.objects.filter(email__iexact=normalize_email(email)).first()
        if user is None:
            try:
                user = user_create(email=email, password=password)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
        organization = Organization.objects.filter(slug=slugify(org)).first()
        if organization is None:
            organization = organization_create(name=org, owner=user)
        elif not organization.memberships.filter(user=user, role=Role.OWNER).exists():
            raise CommandError(
                f"Organization {organization.slug!r} exists and {user.email} is not its owner."
            )
        result = {
            "organization": organization.slug,
            "environments": {
                env.slug: self._environment_keys(env, user)
                for env in organization.environments.order_by("id")
            },
        }
        if as_json:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(f"Organization {organization.slug} is ready; owner {user.email}.")

    def _environment_keys(self, environment, user) -> dict:
        """The environment's id, a fresh `bootstrap` event key (the previous one is replaced:
        a key is only ever shown once) and the active signing key."""
        environment.event_keys.filter(name=BOOTSTRAP_KEY_NAME).delete()
        _event_key, secret = event_key_create(
            environment=environment, actor=user, name=BOOTSTRAP_KEY_NAME
        )
        return {
            "id": environment.public_id,
            "event_key": secret,
            "signing_key": active_signing_key(environment),
        }
