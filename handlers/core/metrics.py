"""In-process counters, shown by `GET /metrics` in Prometheus' text format."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Metrics:
    updates_handled: Counter[str] = field(default_factory=Counter)  # by channel
    messages_sent: Counter[str] = field(default_factory=Counter)  # by channel
    errors: Counter[str] = field(default_factory=Counter)  # by where
    reminders_sent: int = 0

    def render(self, gauges: dict[str, float]) -> str:
        lines = [
            "# HELP damrongtham_updates_handled_total Incoming updates handled, by channel.",
            "# TYPE damrongtham_updates_handled_total counter",
            *(
                f'damrongtham_updates_handled_total{{channel="{c}"}} {n}'
                for c, n in sorted(self.updates_handled.items())
            ),
            "# HELP damrongtham_messages_sent_total Messages delivered to a platform, by channel.",
            "# TYPE damrongtham_messages_sent_total counter",
            *(
                f'damrongtham_messages_sent_total{{channel="{c}"}} {n}'
                for c, n in sorted(self.messages_sent.items())
            ),
            "# HELP damrongtham_reminders_sent_total Reminders queued (cases and plan).",
            "# TYPE damrongtham_reminders_sent_total counter",
            f"damrongtham_reminders_sent_total {self.reminders_sent}",
            "# HELP damrongtham_errors_total Unexpected errors, by where they happened.",
            "# TYPE damrongtham_errors_total counter",
            *(f'damrongtham_errors_total{{where="{w}"}} {n}' for w, n in sorted(self.errors.items())),
        ]
        for name, value in sorted(gauges.items()):
            lines += [f"# TYPE damrongtham_{name} gauge", f"damrongtham_{name} {value:.3f}"]
        return "\n".join(lines) + "\n"
