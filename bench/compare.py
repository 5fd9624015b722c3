"""A path measured beside its peers and its bare limit in one run, with repetitions and medians."""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

SIDES = ("ours", "peer_db", "peer_redis", "bare")


@dataclass
class Comparison:
    """One row of the report: figures of each side (one per repetition, higher is better) and what is aimed at."""

    key: str
    path: str
    unit: str
    peer_target: float | None = None  # ours / peer (DB backend) at least this
    bare_target: float | None = None  # ours / bare at least this
    p99_target_ms: float | None = None
    bare_label: str = ""
    notes: str = ""
    runs: dict[str, list[float]] = field(default_factory=dict)
    p99_ms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, side: str, value: float, p99_ms: float | None = None) -> None:
        self.runs.setdefault(side, []).append(value)
        if p99_ms is not None:
            self.p99_ms.setdefault(side, []).append(p99_ms)

    def median(self, side: str) -> float | None:
        values = self.runs.get(side)
        return statistics.median(values) if values else None

    def p99(self, side: str) -> float | None:
        values = self.p99_ms.get(side)
        return statistics.median(values) if values else None

    def ratio(self, side: str) -> float | None:
        ours, other = self.median("ours"), self.median(side)
        return ours / other if ours is not None and other else None

    def verdicts(self) -> list[tuple[str, bool]]:
        checks = []
        if self.peer_target is not None and self.ratio("peer_db") is not None:
            checks.append((f">= {self.peer_target:g}x the DB-backend peer", self.ratio("peer_db") >= self.peer_target))
        if self.bare_target is not None and self.ratio("bare") is not None:
            checks.append((f">= {self.bare_target:g}x bare", self.ratio("bare") >= self.bare_target))
        if self.p99_target_ms is not None and self.p99("ours") is not None:
            checks.append((f"p99 <= {self.p99_target_ms:g} ms", self.p99("ours") <= self.p99_target_ms))
        return checks

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "medians": {side: self.median(side) for side in SIDES},
                "ratios": {side: self.ratio(side) for side in SIDES[1:]},
                "verdicts": [{"target": target, "met": met} for target, met in self.verdicts()]}
