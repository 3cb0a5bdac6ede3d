"""The ``Issue`` record and every bilingual (English / Simplified Chinese) message the validator emits.

Messages live in one place so that wording stays consistent and translators have one file to review.
Builders return a ``Problem`` (severity, code, diagnostics, text_zh) without a location: the walker
knows the expression and turns a problem into an ``Issue`` only when something is actually wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Issue", "Problem", "issue"]

Problem = tuple[str, str, str, str]
"""``(severity, code, diagnostics, text_zh)``: an issue still missing its expression."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding, shaped like an OperationOutcome.issue (``code`` is a FHIR IssueType code)."""

    severity: str
    code: str
    expression: str
    diagnostics: str
    text_zh: str


def issue(problem: Problem, expression: str) -> Issue:
    """Attach a location to a problem."""
    return Issue(problem[0], problem[1], expression, problem[2], problem[3])


_MAX_SHOWN = 60

_JSON_KIND = {
    str: ("string", "字符串"),
    bool: ("boolean", "布尔值"),
    int: ("number", "数字"),
    float: ("number", "数字"),
    Decimal: ("number", "数字"),
    dict: ("object", "对象"),
    list: ("array", "数组"),
    type(None): ("null", "null"),
}

PRIMITIVE_ZH = {
    "base64Binary": "Base64 数据",
    "boolean": "布尔值",
    "canonical": "规范 URL",
    "code": "代码",
    "date": "日期",
    "dateTime": "日期时间",
    "decimal": "小数",
    "id": "标识符（id）",
    "instant": "时间戳",
    "integer": "整数",
    "markdown": "Markdown 文本",
    "oid": "OID",
    "positiveInt": "正整数",
    "string": "字符串",
    "time": "时间",
    "unsignedInt": "非负整数",
    "uri": "URI",
    "url": "URL",
    "uuid": "UUID",
    "xhtml": "XHTML",
}


def json_kind(value: object) -> tuple[str, str]:
    """The JSON kind of a parsed value, in English and Chinese (dict/list subclasses included)."""
    kind = _JSON_KIND.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, dict):
        return _JSON_KIND[dict]
    if isinstance(value, list):
        return _JSON_KIND[list]
    return (type(value).__name__, type(value).__name__)


def show(value: object) -> str:
    """A short rendering of a value for messages (long strings such as base64 are cut)."""
    if isinstance(value, str):
        text = value
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        text = json_kind(value)[0]
    else:
        text = str(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _zh(prim: str) -> str:
    return PRIMITIVE_ZH.get(prim, prim)


def _allowed(codes: frozenset[str], limit: int = 12) -> tuple[str, str]:
    if not codes or len(codes) > limit:
        return "", ""
    listed = ", ".join(sorted(codes))
    return f" (allowed: {listed})", f"（允许值：{listed}）"


# ---------------------------------------------------------------- resource level


def not_object(got: object) -> Problem:
    en, zh = json_kind(got)
    return ("error", "structure", f"Expected a JSON object, got {en}", f"应为 JSON 对象，实际为{zh}")


MISSING_RESOURCE_TYPE: Problem = ("error", "required", "Missing 'resourceType'", "缺少 resourceType（资源类型）")


def resource_type_not_string(got: object) -> Problem:
    en, zh = json_kind(got)
    return (
        "error",
        "structure",
        f"'resourceType' must be a string, got {en}",
        f"resourceType 必须为字符串，实际为{zh}",
    )


def unknown_resource_type(rtype: str) -> Problem:
    return ("error", "invalid", f"Unknown resource type '{show(rtype)}'", f"未知的资源类型：'{show(rtype)}'")


def abstract_resource_type(rtype: str) -> Problem:
    return (
        "error",
        "invalid",
        f"Resource type '{rtype}' is abstract and cannot be used for a resource",
        f"资源类型 '{rtype}' 是抽象类型，不能直接使用",
    )


def unexpected_resource_type(rtype: str, expected: str) -> Problem:
    return (
        "error",
        "invalid",
        f"Expected resource type {expected} here, got '{rtype}'",
        f"此处应为 {expected} 资源，实际为 '{rtype}'",
    )


TOO_DEEP: Problem = ("error", "structure", "Resource is nested too deeply to validate", "资源嵌套层级过深，无法校验")


# ---------------------------------------------------------------- elements and cardinality


def unknown_element(key: str) -> Problem:
    return ("error", "structure", f"Unknown element '{show(key)}'", f"未知元素：'{show(key)}'")


def unknown_choice_type(key: str, label: str, suffix: str) -> Problem:
    return (
        "error",
        "structure",
        f"Unknown element '{show(key)}': '{show(suffix)}' is not an allowed type for {label}",
        f"未知元素：'{show(key)}'（{label} 不允许类型 '{show(suffix)}'）",
    )


def choice_without_type(key: str, label: str, types: tuple[str, ...]) -> Problem:
    base = label[:-3]
    names = ", ".join(base + t[0].upper() + t[1:] for t in types[:4]) + (", ..." if len(types) > 4 else "")
    return (
        "error",
        "structure",
        f"Unknown element '{key}': {label} needs its type in the name ({names})",
        f"未知元素：'{key}'（{label} 的名称必须带类型后缀，如 {names}）",
    )


def missing_required(label: str) -> Problem:
    return ("error", "required", f"Missing required element '{label}'", f"缺少必填元素：'{label}'")


def must_be_array(key: str) -> Problem:
    return (
        "error",
        "structure",
        f"Element '{key}' repeats and must be a JSON array",
        f"元素 '{key}' 可重复，必须为 JSON 数组",
    )


def must_not_be_array(key: str) -> Problem:
    return (
        "error",
        "structure",
        f"Element '{key}' allows at most one value and must not be an array",
        f"元素 '{key}' 最多只能有一个值，不能为数组",
    )


def too_many(key: str, count: int, maximum: int) -> Problem:
    return (
        "error",
        "structure",
        f"Element '{key}' has {count} values, at most {maximum} allowed",
        f"元素 '{key}' 有 {count} 个值，最多允许 {maximum} 个",
    )


def too_few(key: str, count: int, minimum: int) -> Problem:
    return (
        "error",
        "required",
        f"Element '{key}' has {count} values, at least {minimum} required",
        f"元素 '{key}' 有 {count} 个值，至少需要 {minimum} 个",
    )


def choice_conflict(label: str, first: str, second: str) -> Problem:
    return (
        "error",
        "structure",
        f"Only one type of {label} is allowed, found '{first}' and '{second}'",
        f"{label} 只能使用一种类型，但同时出现了 '{first}' 和 '{second}'",
    )


NULL: Problem = ("error", "structure", "null is not allowed here", "此处不允许为 null")
EMPTY_OBJECT: Problem = ("error", "structure", "Empty object is not allowed", "不允许空对象")
EMPTY_ARRAY: Problem = ("error", "structure", "Empty array is not allowed", "不允许空数组")
EMPTY_STRING: Problem = ("error", "structure", "Empty string is not allowed", "不允许空字符串")


def null_without_extension(key: str) -> Problem:
    return (
        "error",
        "structure",
        f"null in '{key}' is only allowed as a placeholder for an extension at the same position in '_{key}'",
        f"'{key}' 中的 null 只能作为 '_{key}' 中相同位置扩展的占位",
    )


def extension_without_value(key: str) -> Problem:
    return (
        "error",
        "structure",
        f"null in '_{key}' is only allowed where '{key}' has a value at the same position",
        f"'_{key}' 中的 null 只能出现在 '{key}' 相同位置有值的地方",
    )


def not_aligned(key: str) -> Problem:
    return (
        "error",
        "structure",
        f"'_{key}' must have the same number of items as '{key}'",
        f"'_{key}' 的条目数必须与 '{key}' 相同",
    )


# ---------------------------------------------------------------- primitive values


def wrong_json_type(prim: str, expected: tuple[str, str], got: object) -> Problem:
    en, zh = json_kind(got)
    code = "structure" if isinstance(got, (dict, list)) else "value"
    return (
        "error",
        code,
        f"Expected a JSON {expected[0]} for {prim}, got {en}",
        f"{_zh(prim)}应为 JSON {expected[1]}，实际为{zh}",
    )


def invalid_value(prim: str, value: object, reason: tuple[str, str] | None = None) -> Problem:
    en_reason, zh_reason = (f": {reason[0]}", f"（{reason[1]}）") if reason else ("", "")
    return (
        "error",
        "value",
        f"Invalid {prim} '{show(value)}'{en_reason}",
        f"{_zh(prim)}格式无效：'{show(value)}'{zh_reason}",
    )


NO_SUCH_DAY = ("no such day in that month", "该月没有这一天")
NOT_WHOLE = ("must be a whole number without a decimal point or exponent", "必须为不带小数点或指数的整数")
NOT_FINITE = ("must be a finite number", "必须为有限数值")


def out_of_range(prim: str, value: int, low: int, high: int) -> Problem:
    return (
        "error",
        "value",
        f"Value {value} is out of range for {prim} ({low}..{high})",
        f"{_zh(prim)}超出取值范围（{low}..{high}）：{value}",
    )


def too_long(prim: str, length: int, limit: int) -> Problem:
    return (
        "error",
        "value",
        f"The {prim} is {length} characters long, at most {limit} allowed",
        f"{_zh(prim)}长度为 {length} 个字符，最多允许 {limit} 个",
    )


def control_characters(prim: str) -> Problem:
    return (
        "warning",
        "value",
        f"The {prim} contains control characters (below U+0020, other than tab, CR and LF)",
        f"{_zh(prim)}包含控制字符（除制表符、回车和换行外的 U+0020 以下字符）",
    )


# ---------------------------------------------------------------- required bindings


def code_not_in_valueset(code: str, url: str, codes: frozenset[str]) -> Problem:
    en, zh = _allowed(codes)
    return (
        "error",
        "code-invalid",
        f"Code '{show(code)}' is not in the required value set {url}{en}",
        f"代码 '{show(code)}' 不在必需值集 {url} 中{zh}",
    )


def coding_not_in_valueset(system: str, code: str, url: str) -> Problem:
    return (
        "error",
        "code-invalid",
        f"Code '{show(code)}' from system '{show(system)}' is not in the required value set {url}",
        f"代码系统 '{show(system)}' 的代码 '{show(code)}' 不在必需值集 {url} 中",
    )


def concept_not_in_valueset(url: str, given: list[str]) -> Problem:
    listed = ", ".join(given) if given else "-"
    return (
        "error",
        "code-invalid",
        f"None of the codings ({listed}) is from the required value set {url}",
        f"没有任何编码（{listed}）来自必需值集 {url}",
    )
