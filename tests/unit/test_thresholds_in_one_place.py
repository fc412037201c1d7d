"""Every similarity threshold comes from the threshold service (pipeline/similarity/): no module of the library
outside it compares a similarity with a number written in the code, or keeps one under a similarity's name.

The scan reads each module's syntax tree and reports:
- a comparison with a float literal, or with a module constant holding one, on lines that deal with
  similarities (similar, cosine, dot products, einsum, ``@``);
- a module or class constant with a similarity's name (SAME_PERSON, *SIMILARITY*, *THRESHOLD*, ...)
  assigned a float;
- a function parameter with a similarity's name whose default is a float.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "pipeline"
SERVICE = LIBRARY / "similarity"  # the one place thresholds are made
SIMILARITY_WORDS = re.compile(r"similar|cosine|\bcos\b|\bdot\b|einsum|@|\binner\b", re.IGNORECASE)
SIMILARITY_NAME = re.compile(r"similar|cosine|threshold|same_person|closer_by|odd_one_out|pass_on", re.IGNORECASE)
SIMILARITY_PARAMETER = re.compile(r"similar|cosine|same_person", re.IGNORECASE)


def _is_float(node: ast.AST, constants: set[str]) -> bool:
    """A float literal (fingerprinted or not) or the name of a module constant holding one."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    if isinstance(node, ast.Constant):
        return isinstance(node.value, float)
    return isinstance(node, ast.Name) and node.id in constants


def _assigned(statement: ast.stmt) -> list[tuple[str, ast.AST]]:
    """(name, value) of a plain assignment statement (``a = b = 1.0``, ``a: float = 1.0``)."""
    if isinstance(statement, ast.Assign):
        return [(t.id, statement.value) for t in statement.targets if isinstance(t, ast.Name)]
    if isinstance(statement, ast.AnnAssign) and statement.value is not None and isinstance(statement.target, ast.Name):
        return [(statement.target.id, statement.value)]
    return []


def bare_thresholds(source: str) -> list[tuple[int, str]]:
    """(line, what) of each similarity compared with, or kept as, a number written in ``source``."""
    tree = ast.parse(source)
    lines = source.splitlines()
    found = []
    constants = {name for statement in tree.body for name, value in _assigned(statement) if _is_float(value, set())}
    bodies = [tree.body, *(node.body for node in ast.walk(tree) if isinstance(node, ast.ClassDef))]
    for body in bodies:
        for statement in body:
            for name, value in _assigned(statement):
                if SIMILARITY_NAME.search(name) and _is_float(value, set()):
                    found.append((statement.lineno, f"constant {name} = {ast.unparse(value)}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            with_number = any(_is_float(part, constants) for operand in operands for part in ast.walk(operand))
            text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            if with_number and SIMILARITY_WORDS.search(text):
                found.append((node.lineno, f"comparison {ast.unparse(node)}"))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = node.args
            positional = [*arguments.posonlyargs, *arguments.args]
            defaults = [*[None] * (len(positional) - len(arguments.defaults)), *arguments.defaults]
            for argument, default in [*zip(positional, defaults), *zip(arguments.kwonlyargs, arguments.kw_defaults)]:
                if default is not None and SIMILARITY_PARAMETER.search(argument.arg) and _is_float(default, set()):
                    found.append((node.lineno, f"parameter {argument.arg}={ast.unparse(default)}"))
    return sorted(found)


@pytest.mark.parametrize(
    "snippet",
    [
        'SAME_PERSON = 0.5\nsame = np.einsum("ij,ij->i", a, b) >= SAME_PERSON\n',  # dedup/pairs.py before the service
        "CLOSER_BY = 0.1\ncrowded = (other >= same_person) & (other > same + CLOSER_BY)\n",  # tags/suspects.py before
        "named = similarities[rows, first] >= best - 0.1\n",
        "LIMIT = 0.4\nkeep = (faces @ faces.T).max(axis=1) > LIMIT\n",
        "def judge(vectors, similarity=0.5):\n    return vectors\n",
        "class Rule:\n    MATCH_THRESHOLD: float = 0.35\n",
        "close = np.dot(a, b) < -0.2\n",
    ],
)
def test_the_scan_catches_a_bare_similarity_threshold(snippet: str) -> None:
    assert bare_thresholds(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "keep = scores >= 0.6  # detection scores\n",
        "same = similarity >= threshold\n",
        "FRAMED_BELOW = 0.7\nshrunk = content < FRAMED_BELOW\n",
        "def detect(image, score_threshold=0.6):\n    return image\n",
    ],
)
def test_the_scan_leaves_other_numbers_alone(snippet: str) -> None:
    assert not bare_thresholds(snippet), snippet


def test_no_similarity_threshold_is_written_outside_the_service() -> None:
    modules = [path for path in sorted(LIBRARY.rglob("*.py")) if SERVICE not in path.parents]
    assert len(modules) > 50 and (LIBRARY / "dedup" / "pairs.py") in modules
    found = [
        f"{path.relative_to(LIBRARY.parent)}:{line}: {what}"
        for path in modules
        for line, what in bare_thresholds(path.read_text())
    ]
    assert not found, "similarity thresholds outside pipeline/similarity/ (ask the threshold service):\n" + "\n".join(
        found
    )
