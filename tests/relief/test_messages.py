"""The one catalogue (relief.platform.messages) against the code base: every error raised has a
Chinese and an English text, with the numbers the raise passes; every error code the API can
answer with has a text; every validator message a person can see has one. No database needed.

The scan reads the source (ast), so an error added anywhere (by anyone) without a catalogue
entry fails here before it reaches a user.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from relief.platform.errors import InsufficientStock, InvalidInput, ReliefError
from relief.platform.messages import CATALOGUE, LANGS, placeholders, render

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("relief", "supplies", "dispatch", "exchange", "web", "seed")
NOT_PARAMS = {"field", "also", "details"}


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "tools" in path.relative_to(ROOT).parts:
                continue
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _error_classes() -> dict[str, type[ReliefError]]:
    """Every ReliefError subclass in the code base, by class name."""
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if ".tools" not in info.name and not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    found: dict[str, type[ReliefError]] = {}
    todo: list[type[ReliefError]] = [ReliefError]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


def _raised_name(call: ast.Call) -> tuple[str | None, bool]:
    """(class name, via .of) of ``raise X(...)`` / ``raise X.of(...)``."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "of":
        target = func.value
        name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
        return name, True
    if isinstance(func, ast.Name):
        return func.id, False
    if isinstance(func, ast.Attribute):
        return func.attr, False
    return None, False


def test_every_error_raised_in_the_code_base_has_texts_with_its_numbers() -> None:
    """Each ``raise`` of a ReliefError names a catalogue key (``X.of("key", ...)``) that has a
    Chinese and an English text, and passes every parameter both texts use."""
    classes = _error_classes()
    problems, seen = [], 0
    for path, tree in _modules():
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            name, keyed = _raised_name(node.exc)
            if name not in classes:
                continue
            seen += 1
            if not keyed:
                problems.append(f"{where}:{node.lineno}: {name}(...) without a catalogue key: "
                                f"raise {name}.of('key', ...)")
                continue
            args = node.exc.args
            if not args or not isinstance(args[0], ast.Constant) or not isinstance(
                    args[0].value, str):
                problems.append(f"{where}:{node.lineno}: the key must be a literal")
                continue
            key = f"err.{args[0].value}"
            if key not in CATALOGUE:
                problems.append(f"{where}:{node.lineno}: no catalogue entry {key}")
                continue
            passed = {k.arg for k in node.exc.keywords if k.arg} - NOT_PARAMS
            needed = set().union(*(placeholders(text) for text in CATALOGUE[key]))
            if needed - passed:
                problems.append(f"{where}:{node.lineno}: {key} needs {sorted(needed - passed)}")
    assert problems == []
    assert seen > 90  # the scan really found the raises


def test_every_error_code_the_api_answers_with_has_a_text() -> None:
    """The code of every ReliefError class, and every code literal handed to error_envelope,
    has a ``code.<code>`` entry in both languages."""
    codes = {cls.code for cls in _error_classes().values()}
    for _, tree in _modules():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "error_envelope"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                codes.add(str(node.args[0].value))
    assert {"insufficient_stock", "invalid_input", "constraint_violation"} <= codes
    missing = sorted(c for c in codes if f"code.{c}" not in CATALOGUE)
    assert missing == []


def test_every_validator_message_has_a_text() -> None:
    """A model validator's error a person can see is a PydanticCustomError whose type has a
    ``pyd.<type>`` entry (a bare ValueError would show English only)."""
    problems = []
    for path, tree in _modules():
        if "planning" in path.parts or path.name == "settings.py":
            continue  # the planning contract's errors (for scenario files) and the settings'
            # (for whoever starts the service) are read by operators, not console users
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            decorators = {getattr(getattr(d, "func", d), "id", getattr(getattr(d, "func", d),
                                                                        "attr", ""))
                          for d in node.decorator_list}
            if not decorators & {"model_validator", "field_validator"}:
                continue
            for inner in ast.walk(node):
                if not (isinstance(inner, ast.Raise) and isinstance(inner.exc, ast.Call)):
                    continue
                name = getattr(inner.exc.func, "id", getattr(inner.exc.func, "attr", ""))
                where = f"{path.relative_to(ROOT)}:{inner.lineno}"
                if name == "ValueError":
                    problems.append(f"{where}: ValueError in a validator (no Chinese text)")
                elif name == "PydanticCustomError":
                    kind = inner.exc.args[0]
                    if not (isinstance(kind, ast.Constant) and f"pyd.{kind.value}" in CATALOGUE):
                        problems.append(f"{where}: no catalogue entry for its type")
    assert problems == []


def test_templates_fill_in_both_languages_and_words_come_from_label_groups() -> None:
    """Every error template formats with its own parameters in both languages; a value shown
    through a label group ({status:shipment}) comes out as the group's word."""
    for key, texts in CATALOGUE.items():
        if not key.startswith("err."):
            continue
        params = {name: 7 for text in texts for name in placeholders(text)}
        for lang in LANGS:
            assert render(key, lang, params), key
    words = render("err.shipment.not_planned", "zh", {"shipment": 5, "status": "departed"})
    assert words == "运输任务 5 在途,不能出发"


def test_an_error_carries_both_texts_and_its_numbers() -> None:
    """The envelope has the English message, the Chinese message with the numbers, the
    message at the field in both languages, and the numbers in details."""
    error = InsufficientStock.of("stock.short", field="quantity", available=12, requested=50)
    body = error.envelope()["error"]
    assert body["code"] == "insufficient_stock" and body["key"] == "stock.short"
    assert body["message"] == "only 12 available, 50 requested"
    assert body["message_zh"] == "可用 12,申请 50"
    assert body["fields"] == [{"field": "quantity", "message": "only 12 available, 50 requested",
                               "message_zh": "可用 12,申请 50"}]
    assert body["details"] == {"available": 12, "requested": 50}
    bad = InvalidInput.of("lot.expiry_required", field="expiry", item="1040101")
    assert bad.message.startswith("expiry: item 1040101") and bad.field == "expiry"
    assert bad.text("zh") == "物资 1040101 有保质期,必须填写有效期"
    with pytest.raises(TypeError):
        InvalidInput.of("lot.expiry_required", item="x")
