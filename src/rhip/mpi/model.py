"""Fellegi–Sunter model: m/u per comparison level, the prior, thresholds, JSON with a version.

Match weight of a level = log2(m/u) (null level: 0). Score of a pair = log2(prior odds) + Σ level
weights: the log2 odds that the pair is a match; probability = 2^w / (1 + 2^w). A model is data; it
names the :class:`~rhip.mpi.spec.LinkSpec` it belongs to and checks on load that the spec's
comparisons and level labels are the ones it was trained with.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from rhip.mpi.spec import LinkSpec

FORMAT = "rhip-mpi-model/1"
_FLOOR = 1e-6  # no level is impossible: keeps weights finite when a level was never seen in training


@dataclass(frozen=True)
class LevelParams:
    """m = P(level | match), u = P(level | non-match) of one comparison level."""

    label: str
    m: float
    u: float

    @property
    def weight(self) -> float:
        """log2(m/u); 0 for the null level."""
        if self.label == "null":
            return 0.0
        return math.log2(max(self.m, _FLOOR) / max(self.u, _FLOOR))


@dataclass(frozen=True)
class ComparisonParams:
    """Parameters of one comparison, levels in the spec's order (null first, else last)."""

    name: str
    levels: tuple[LevelParams, ...]


@dataclass(frozen=True)
class MatchModel:
    """A trained (or hand-set) model for one spec. ``version`` changes whenever a parameter does."""

    spec: str
    prior: float  # probability that two random records match (Splink's λ)
    comparisons: tuple[ComparisonParams, ...]
    auto_link: float
    review: float
    trained: Mapping[str, Any] = field(default_factory=dict)  # summary of the training run (informative)

    @cached_property
    def version(self) -> str:
        """``<spec>:<12 hex digits of SHA-256 over the parameters>``: stored with every decision (computed
        once per model object: it is read on every Patient write)."""
        body = json.dumps(self._params(), sort_keys=True, separators=(",", ":"))
        return f"{self.spec}:{hashlib.sha256(body.encode()).hexdigest()[:12]}"

    @property
    def prior_weight(self) -> float:
        """log2 prior odds."""
        return math.log2(self.prior / (1.0 - self.prior))

    def weight_tables(self) -> list[npt.NDArray[np.float64]]:
        """Per comparison, the weight of each level (index = level)."""
        return [np.array([lv.weight for lv in c.levels], dtype=np.float64) for c in self.comparisons]

    def scores(self, gammas: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
        """Match weights of pairs given their level matrix (pairs × comparisons)."""
        total = np.full(gammas.shape[0], self.prior_weight, dtype=np.float64)
        for k, table in enumerate(self.weight_tables()):
            total += table[gammas[:, k]]
        return total

    def with_thresholds(self, *, auto_link: float, review: float) -> MatchModel:
        """The same parameters with other thresholds (a new version)."""
        return replace(self, auto_link=auto_link, review=review)

    def check(self, spec: LinkSpec) -> None:
        """Raise ValueError unless the model was built for ``spec`` (same comparisons and level labels)."""
        if spec.name != self.spec:
            raise ValueError(f"model is for spec {self.spec!r}, not {spec.name!r}")
        ours = [(c.name, tuple(lv.label for lv in c.levels)) for c in self.comparisons]
        theirs = [(c.name, c.labels) for c in spec.comparisons]
        if ours != theirs:
            raise ValueError(f"model levels {ours} do not match spec levels {theirs}")

    def _params(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "prior": self.prior,
            "auto_link": self.auto_link,
            "review": self.review,
            "comparisons": [{"name": c.name, "levels": [asdict(lv) for lv in c.levels]} for c in self.comparisons],
        }

    def to_json(self) -> str:
        """Serialise (format string, version, parameters, training summary)."""
        doc = {"format": FORMAT, "version": self.version, **self._params(), "trained": dict(self.trained)}
        return json.dumps(doc, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> MatchModel:
        """Load a model written by :meth:`to_json`; refuses other formats and altered parameters."""
        doc = json.loads(text)
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        model = cls(
            spec=doc["spec"],
            prior=float(doc["prior"]),
            comparisons=tuple(
                ComparisonParams(
                    c["name"], tuple(LevelParams(lv["label"], float(lv["m"]), float(lv["u"])) for lv in c["levels"])
                )
                for c in doc["comparisons"]
            ),
            auto_link=float(doc["auto_link"]),
            review=float(doc["review"]),
            trained=doc.get("trained") or {},
        )
        if doc.get("version") not in (None, model.version):
            raise ValueError(f"version {doc['version']} does not match the parameters ({model.version})")
        return model


def model_from_arrays(
    spec: LinkSpec,
    prior: float,
    m: Sequence[npt.NDArray[np.float64]],
    u: Sequence[npt.NDArray[np.float64]],
    trained: Mapping[str, Any] | None = None,
) -> MatchModel:
    """Build a model from per-comparison m and u arrays (index = level, null level ignored)."""
    comps = []
    for c, mk, uk in zip(spec.comparisons, m, u, strict=True):
        levels = tuple(
            LevelParams(label, 0.0 if i == 0 else round(float(mk[i]), 10), 0.0 if i == 0 else round(float(uk[i]), 10))
            for i, label in enumerate(c.labels)
        )
        comps.append(ComparisonParams(c.name, levels))
    return MatchModel(
        spec=spec.name,
        prior=prior,
        comparisons=tuple(comps),
        auto_link=spec.auto_link,
        review=spec.review,
        trained=dict(trained or {}),
    )
