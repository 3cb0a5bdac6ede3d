"""The canonical base for rhip's own definitions and identifier systems (decision 0008)."""

CANONICAL = "http://rhip.cn/fhir"
