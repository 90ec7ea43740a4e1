from django.db import models

from controlplane.ids import new_ulid


def public_id_field() -> models.CharField:
    """The id a row shows to the outside world (URLs, APIs): a ULID, never the primary key."""
    return models.CharField(max_length=26, unique=True, default=new_ulid, editable=False)
