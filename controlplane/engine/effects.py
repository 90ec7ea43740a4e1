"""Internal events a state change produces, emitted after the change in the same transaction.

Finishing a run emits `inngest/function.finished`, which may trigger or cancel other runs,
which emit more events: services append to an Effects list instead of calling each other, and
`settle` works the list down.
"""

from dataclasses import dataclass, field

from controlplane.tenancy.models import Environment


@dataclass
class Effects:
    events: list[tuple[Environment, dict]] = field(default_factory=list)

    def emit(self, environment: Environment, payload: dict) -> None:
        self.events.append((environment, payload))
