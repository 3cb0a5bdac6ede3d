"""The one exception that carries an OperationOutcome, its factories, and status mapping.

Handlers raise ``FhirError``; the HTTP adapter turns it into a response. Only real bugs produce a 500.
Messages are bilingual: ``details.text`` is Simplified Chinese for users, ``diagnostics`` English.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["FhirError", "OutcomeIssue", "outcome"]


@dataclass(frozen=True, slots=True)
class OutcomeIssue:
    severity: str
    code: str
    diagnostics: str
    text_zh: str | None = None
    expression: str | None = None

    def to_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.text_zh:
            issue["details"] = {"text": self.text_zh}
        issue["diagnostics"] = self.diagnostics
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


def outcome(issues: Iterable[OutcomeIssue]) -> dict[str, Any]:
    """Build an OperationOutcome resource from issues."""
    items = [i.to_json() for i in issues]
    if not items:
        items = [{"severity": "information", "code": "informational", "diagnostics": "All OK"}]
    return {"resourceType": "OperationOutcome", "issue": items}


class FhirError(Exception):
    """A client-visible failure: HTTP status plus OperationOutcome issues."""

    def __init__(self, status: int, issues: list[OutcomeIssue], headers: dict[str, str] | None = None):
        super().__init__(issues[0].diagnostics if issues else str(status))
        self.status = status
        self.issues = issues
        self.headers = headers or {}

    def outcome(self) -> dict[str, Any]:
        return outcome(self.issues)

    @classmethod
    def of(
        cls,
        status: int,
        code: str,
        diagnostics: str,
        text_zh: str,
        expression: str | None = None,
        severity: str = "error",
    ) -> FhirError:
        return cls(status, [OutcomeIssue(severity, code, diagnostics, text_zh, expression)])

    @classmethod
    def bad_request(cls, diagnostics: str, text_zh: str = "请求无效", expression: str | None = None) -> FhirError:
        return cls.of(400, "invalid", diagnostics, text_zh, expression)

    @classmethod
    def invalid(cls, issues: list[OutcomeIssue], status: int = 400) -> FhirError:
        return cls(status, issues)

    @classmethod
    def not_found(cls, what: str) -> FhirError:
        return cls.of(404, "not-found", f"{what} not found", f"未找到资源：{what}")

    @classmethod
    def gone(cls, what: str, headers: dict[str, str] | None = None) -> FhirError:
        err = cls.of(410, "deleted", f"{what} has been deleted", f"资源已删除：{what}")
        err.headers = headers or {}
        return err

    @classmethod
    def conflict(cls, diagnostics: str, text_zh: str = "资源冲突") -> FhirError:
        return cls.of(409, "conflict", diagnostics, text_zh)

    @classmethod
    def precondition_failed(cls, diagnostics: str, text_zh: str = "前置条件不满足") -> FhirError:
        return cls.of(412, "conflict", diagnostics, text_zh)

    @classmethod
    def multiple_matches(cls, diagnostics: str) -> FhirError:
        return cls.of(412, "multiple-matches", diagnostics, "条件匹配到多个资源")

    @classmethod
    def not_supported(cls, diagnostics: str, status: int = 400) -> FhirError:
        return cls.of(status, "not-supported", diagnostics, "不支持的操作或参数")

    @classmethod
    def forbidden(cls, diagnostics: str, text_zh: str = "无权访问") -> FhirError:
        return cls.of(403, "forbidden", diagnostics, text_zh)

    @classmethod
    def unauthorized(cls, diagnostics: str) -> FhirError:
        return cls.of(401, "login", diagnostics, "需要登录或令牌无效", None)

    @classmethod
    def too_large(cls, diagnostics: str) -> FhirError:
        return cls.of(413, "too-costly", diagnostics, "请求过大")

    @classmethod
    def too_costly(cls, diagnostics: str) -> FhirError:
        return cls.of(400, "too-costly", diagnostics, "查询代价过高，请缩小范围")
