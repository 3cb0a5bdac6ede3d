"""Who is asking, for whom, and why: passed to every repository call.

The repository hands this context to the policy at one place before any data is touched, so
authorisation, consent and audit are enforced there and never in HTTP handlers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RequestContext:
    subject: str
    """Authenticated user name or OAuth client id ("system" for internal jobs)."""
    kind: str = "user"
    """"user", "client" or "system"."""
    role: str | None = None
    organization: str | None = None
    region: str | None = None
    purpose: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    request_id: str | None = None
    patients: tuple[str, ...] = ()
    """Residents: the Patient ids whose records are theirs (own and dependants'), from ``user_patients``."""

    @property
    def source(self) -> str:
        """The data source a write comes from: the OAuth client id of a feed, else ``kind:subject``
        (``system:<purpose>`` for in-process jobs), used for per-source validation settings."""
        if self.kind == "client":
            return self.subject
        if self.kind == "system":
            return f"system:{self.purpose or self.subject}"
        return f"{self.kind}:{self.subject}"

    @classmethod
    def system(cls, purpose: str = "internal") -> RequestContext:
        """Context for trusted in-process jobs (loaders, migrations, the demo seeder)."""
        return cls(subject="system", kind="system", purpose=purpose, scopes=frozenset({"system/*.*"}))
