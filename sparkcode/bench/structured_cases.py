"""Fifty structured-output requests of varied shape: (what to describe, its JSON schema).

Shared by `sparkcode bench structured` (all fifty) and tests/test_structured.py (the first
`TESTED`, with the 0.5B). Every schema stays within what the grammar converter enforces
(engine/grammar.py): no numeric bounds, one of pattern/format/length per string. Answers are short
(strings capped), so a request costs seconds on a CPU.
"""

from __future__ import annotations


def obj(props: dict, required: list | None = None, **kw) -> dict:
    return {"type": "object", "properties": props, "required": list(props) if required is None else required, **kw}


def _s(n: int = 20) -> dict:
    return {"type": "string", "maxLength": n}


S20 = _s()
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
SYSTEM = "Answer with JSON only."

CASES: list[tuple[str, dict]] = [
    ("A person named Ada who is 36.", obj({"name": S20, "age": INT})),
    ("The point (3, -1.5).", obj({"x": NUM, "y": NUM})),
    ("Is 7 a prime number?", obj({"answer": BOOL})),
    ("The colour of grass.", obj({"color": {"enum": ["red", "green", "blue"]}})),
    ("Three prime numbers.", {"type": "array", "items": INT, "minItems": 3, "maxItems": 3}),
    ("A user called bob who is active.", obj({"user": obj({"name": S20}), "active": BOOL})),
    ("Ada lives in Paris, postcode 75001.",
     obj({"person": obj({"name": S20, "address": obj({"city": S20, "zip": {"type": "string",
                                                                           "pattern": "^[0-9]{5}$"}})})})),
    ("A shopping list: 2 apples and 1 bread.",
     obj({"items": {"type": "array", "maxItems": 3, "items": obj({"name": S20, "qty": INT})}})),
    ("The film Alien from 1979.", obj({"title": S20, "subtitle": S20, "year": INT}, ["title", "year"])),
    ("Ada has no middle name.", obj({"first": S20, "middle": {"type": ["string", "null"], "maxLength": 20}})),
    ("The number forty-two.", obj({"value": {"anyOf": [INT, {"type": "string", "maxLength": 10}]}})),
    ("Version 1 of the tool ruff.", obj({"version": {"const": 1}, "name": S20})),
    ("A concert on 14 July 2025.", obj({"event": S20, "date": {"type": "string", "format": "date"}})),
    ("A new record id.", obj({"id": {"type": "string", "format": "uuid"}})),
    ("Product code ABC-123.", obj({"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"}})),
    ("The pair: name Bob, age 7.", {"type": "array", "prefixItems": [S20, INT]}),
    ("Tags for a post about a and b.", obj({"tags": {"type": "array", "items": {"enum": ["a", "b", "c"]},
                                                      "minItems": 1, "maxItems": 3}})),
    ("Two points: (1,2) and (3,4).", {**obj({"a": {"$ref": "#/$defs/pt"}, "b": {"$ref": "#/$defs/pt"}}),
                                      "$defs": {"pt": obj({"x": INT, "y": INT})}}),
    ("Word counts in 'a b a'.", {"type": "object", "additionalProperties": INT}),
    ("Log level 2 of 1-3.", obj({"level": {"enum": [1, 2, 3]}})),
    ("A password for a test account.", obj({"password": {"type": "string", "minLength": 8, "maxLength": 16}})),
    ("A yes inside three levels.", obj({"a": obj({"b": obj({"c": obj({"d": BOOL})})})})),
    ("A temperature of 21.5 degrees.", obj({"celsius": NUM, "note": _s(12)}, ["celsius"])),
    # -- beyond the test's: the shapes agent tools and workflow nodes ask for
    ("A Python function named add with parameters a and b.",
     obj({"name": S20, "params": {"type": "array", "items": _s(10), "maxItems": 4}, "returns": _s(10)})),
    ("A git commit that fixes a typo in README.md.",
     obj({"type": {"enum": ["feat", "fix", "docs", "chore"]}, "scope": _s(12), "subject": _s(40)})),
    ("An HTTP GET request to /users/7.",
     obj({"method": {"enum": ["GET", "POST", "PUT", "DELETE"]}, "path": _s(30), "status": INT})),
    ("A to-do item 'buy milk' that is not done.", obj({"id": INT, "title": S20, "done": BOOL})),
    ("A book: Dune by Frank Herbert.", obj({"title": S20, "author": obj({"first": S20, "last": S20})})),
    ("The file src/app.py has 120 lines.", obj({"path": _s(30), "lines": INT, "language": _s(12)})),
    ("A shell command that lists files.", obj({"command": _s(30), "needs_sudo": BOOL})),
    ("A red car with 4 doors.", obj({"kind": {"const": "car"}, "color": S20, "doors": INT})),
    ("Sentiment of 'I love this'.", obj({"label": {"enum": ["positive", "negative", "neutral"]}, "score": NUM})),
    ("A city and its country: Lyon, France.",
     {"type": "array", "items": obj({"city": S20, "country": S20}), "minItems": 1, "maxItems": 2}),
    ("A meeting on 2026-03-02 with two people.",
     obj({"date": {"type": "string", "format": "date"}, "people": {"type": "array", "items": S20, "maxItems": 3}})),
    ("An order with id ORD-0042.", obj({"order_id": {"type": "string", "pattern": "^ORD-[0-9]{4}$"}})),
    ("A hex colour for pure red.", obj({"hex": {"type": "string", "pattern": "^#[0-9a-f]{6}$"}})),
    ("A semantic version 2.1.0.", obj({"major": INT, "minor": INT, "patch": INT})),
    ("A weather report: sunny, 25 degrees.",
     obj({"sky": {"enum": ["sunny", "cloudy", "rain"]}, "temp": NUM, "wind": {"type": ["number", "null"]}})),
    ("A list of three even numbers.", obj({"numbers": {"type": "array", "items": INT, "minItems": 3,
                                                        "maxItems": 3}})),
    ("A key-value config: debug on, port 8080.", obj({"debug": BOOL, "port": INT}, additionalProperties=False)),
    ("A student with grades 12 and 15.", obj({"name": S20, "grades": {"type": "array", "items": NUM,
                                                                       "maxItems": 4}})),
    ("The answer: unknown.", obj({"answer": {"anyOf": [{"type": "null"}, _s(10)]}})),
    ("A tree: root with one child leaf.",
     {**obj({"root": {"$ref": "#/$defs/node"}}),
      "$defs": {"node": obj({"name": _s(10), "children": {"type": "array", "maxItems": 2,
                                                           "items": obj({"name": _s(10)})}})}}),
    ("An error: file not found, code 2.", obj({"error": obj({"message": _s(30), "code": INT})})),
    ("A product priced 9.99 euros, in stock.", obj({"price": NUM, "currency": {"enum": ["EUR", "USD"]},
                                                      "in_stock": BOOL})),
    ("A tweet-sized summary of Python.", obj({"summary": _s(60)})),
    ("The days of a weekend.", obj({"days": {"type": "array", "items": {"enum": [
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]}, "minItems": 2, "maxItems": 2}})),
    ("A user id and an optional nickname.", obj({"user_id": {"type": "string", "format": "uuid"}, "nickname": S20},
                                                 ["user_id"])),
    ("A rectangle 3 by 4 with its area.", obj({"width": NUM, "height": NUM, "area": NUM})),
    ("A yes/no vote with a reason.", {"type": "array", "prefixItems": [BOOL, _s(30)]}),
]
TESTED = 23  # the cases tests/test_structured.py runs with the 0.5B
