"""Reading one sample out of Prometheus' text exposition format, as a scraper would."""

import re


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of the first sample of ``name`` whose labels include ``labels`` (0 when there is none)."""
    for line in text.splitlines():
        if not line.startswith((name + "{", name + " ")):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
