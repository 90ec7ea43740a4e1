"""The OpenAPI document flattened for a readable page: operations, then the schemas they use."""


def _type(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema:
        return " | ".join(f"“{v}”" for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema['items'])}"
    kinds = kind if isinstance(kind, list) else [kind]
    if schema.get("format") == "date-time":
        kinds = ["time" if k == "string" else k for k in kinds]
    return " or ".join(kinds)


def _ok_schema(operation: dict) -> dict:
    return operation["responses"]["200"]["content"]["application/json"]["schema"]


def operations(document: dict) -> list[dict]:
    rows = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            rows.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation["summary"],
                    "description": operation["responses"]["200"]["description"],
                    "parameters": [
                        {**p, "type": _type(p["schema"])} for p in operation["parameters"]
                    ],
                    "body": _fields(body["schema"]) if body else [],
                    "returns": _type(_ok_schema(operation)["properties"]["data"]),
                    "statuses": sorted(operation["responses"]),
                }
            )
    return rows


def _fields(schema: dict) -> list[dict]:
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": _type(field),
            "required": name in required,
            "description": field.get("description", ""),
        }
        for name, field in schema["properties"].items()
    ]


def schemas(document: dict) -> list[dict]:
    return [
        {"name": name, "fields": _fields(schema)}
        for name, schema in document["components"]["schemas"].items()
    ]
