"""template.yml declares every function folder, and every declared handler imports."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml.safe_load((ROOT / "template.yml").read_text())
SERVICE = TEMPLATE["Resources"]["upload-broker"]
FUNCTIONS = {name: spec for name, spec in SERVICE.items() if isinstance(spec, dict)
             and spec.get("Type") == "Aliyun::Serverless::Function"}
FOLDERS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "index.py").exists())


def test_template_is_a_fun_ros_template():
    assert TEMPLATE["ROSTemplateFormatVersion"] == "2015-09-01"
    assert TEMPLATE["Transform"] == "Aliyun::Serverless-2018-04-03"
    assert SERVICE["Type"] == "Aliyun::Serverless::Service"


def test_every_function_folder_is_declared_once():
    handlers = sorted(spec["Properties"]["Handler"] for spec in FUNCTIONS.values())
    assert handlers == sorted(f"functions.{folder}.index.handler" for folder in FOLDERS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_has_runtime_limits_trigger_and_environment(name):
    props = FUNCTIONS[name]["Properties"]
    assert props["Runtime"].startswith("python3")
    assert props["Timeout"] >= 10 and props["MemorySize"] >= 128 and props["InstanceConcurrency"] >= 1
    assert FUNCTIONS[name]["Events"]["http"]["Type"] == "HTTP"
    assert {"POST", "OPTIONS"} <= set(FUNCTIONS[name]["Events"]["http"]["Properties"]["Methods"])
    env = props["EnvironmentVariables"]
    for variable, ref in env.items():
        assert ref["Ref"] in TEMPLATE["Parameters"], variable


def test_ram_policy_lists_exactly_the_actions_used():
    statements = SERVICE["Properties"]["Policies"][0]["Statement"]
    actions = {a for s in statements for a in s["Action"]}
    used = set()
    from upload_broker.local import discover_operations

    for operation in discover_operations():
        if operation.provider in ("vod", "ice"):
            used.add(f"{operation.provider}:{operation.action}")
    assert actions == used
    assert all(s["Resource"] == "*" for s in statements)


def test_secret_parameters_are_not_echoed():
    for name in ("JwtSecret", "WangsuAccessKey", "WangsuSecretKey", "LedgerUrl"):
        assert TEMPLATE["Parameters"][name].get("NoEcho") is True


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_declared_handler_imports_and_answers(name, monkeypatch):
    handler_path = FUNCTIONS[name]["Properties"]["Handler"]
    module_name, _, attribute = handler_path.rpartition(".")
    monkeypatch.setenv("BROKER_JWT_SECRET", "x" * 40)
    monkeypatch.setenv("BROKER_LEDGER_URL", "sqlite:///:memory:")
    module = importlib.import_module(module_name)
    handler = getattr(module, attribute)

    seen = {}
    body = b"".join(handler({"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "wsgi.input": None},
                            lambda status, headers: seen.update(status=status)))
    assert seen["status"].startswith("200") and b'"ok"' in body
    assert callable(module.event_handler)
