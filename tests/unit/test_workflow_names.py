"""Every workflow type is named explicitly, with the name running workflows already have (the class name).

A workflow type that takes its name from the class breaks every running workflow of it when the class is
renamed: the server keeps dispatching the old name, and no worker knows it any more.
"""

from __future__ import annotations

import re
from pathlib import Path

from temporalio.workflow import _Definition

from worker import WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]


def test_every_workflow_decorator_names_its_type():
    for path in sorted((ROOT / "workflows").glob("*.py")):
        for match in re.finditer(r"^@workflow\.defn(.*)$", path.read_text(), flags=re.M):
            assert 'name="' in match.group(1), f"{path.name}: {match.group(0)} does not name the workflow type"


def test_the_names_are_the_ones_running_workflows_have():
    names = {_Definition.must_from_class(cls).name: cls.__name__ for cls in WORKFLOWS}
    assert len(names) == len(WORKFLOWS)
    for name, class_name in names.items():
        assert name == class_name, f"{class_name} is registered as {name!r}; running workflows know {class_name!r}"
