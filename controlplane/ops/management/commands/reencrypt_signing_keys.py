from django.core.management.base import BaseCommand

from controlplane.keys.services import signing_keys_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every signing key with the first key in ENCRYPTION_KEY. Rotate the encryption "
        "key by prepending a new one (ENCRYPTION_KEY=new,old), running this, then dropping the old."
    )

    def handle(self, *args, **options):
        count = signing_keys_reencrypt()
        self.stdout.write(f"Re-encrypted {count} signing keys.")
