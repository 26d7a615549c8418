"""s.yaml, template.yml, openapi.yaml and functions/ describe the same deployment.

The same functions (one per folder with an index.py), handlers that import, runtime, size and timeout, the same
environment variable names (each one that config.py reads), HTTP triggers that accept every method a function
serves, a least-privilege RAM policy, and one custom domain whose routes send every contract path to the
function that serves it. Routes are checked with a matcher that implements Function Compute's documented
custom-domain rules (exact paths; a trailing '*' matches every path that begins with the part before it; exact
wins over wildcard; the longest wildcard prefix wins).
"""

from __future__ import annotations

import copy
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "index.py").exists())
OPENAPI = yaml.safe_load((ROOT / "openapi.yaml").read_text())
S_YAML = yaml.safe_load((ROOT / "s.yaml").read_text())
ROS = yaml.safe_load((ROOT / "template.yml").read_text())

RUNTIME = "python3.12"
CODE_PACKAGE = "dist/upload-broker.zip"
HEALTHZ = "/healthz"
# Served by every function (GET/HEAD /healthz) and the CORS preflight on every route.
EVERY_FUNCTION_SERVES = {"GET", "HEAD", "OPTIONS"}
# Variables config.py reads that a deployment does not set, and why.
NOT_DEPLOYED = {
    "PORT": "the local server's port; FC runs the handler, not a server",
    "VOD_ENDPOINT": "endpoint override for local fakes; on FC the region's endpoint is used",
    "ICE_ENDPOINT": "endpoint override for local fakes; on FC the region's endpoint is used",
    "WANGSU_ENDPOINT": "endpoint override for local fakes; the public endpoint is the default",
    "BROKER_UPSTREAM_CONNECT_TIMEOUT": "tuning; the defaults fit the 15 s function timeout",
    "BROKER_UPSTREAM_READ_TIMEOUT": "tuning; the defaults fit the 15 s function timeout",
    "BROKER_UPSTREAM_BUDGET_SECONDS": "tuning; the defaults fit the 15 s function timeout",
}
# Set by Function Compute itself in every instance (the role's temporary credentials, FC_FUNCTION_NAME, ...).
SET_BY_FC_PREFIXES = ("ALIBABA_CLOUD_", "FC_")


def _config_variables() -> set[str]:
    source = (ROOT / "shared" / "upload_broker" / "config.py").read_text()
    return set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', source))


CONFIG_VARIABLES = _config_variables()


def _operations() -> dict[str, object]:
    return {folder: importlib.import_module(f"functions.{folder}.operation").operation for folder in FOLDERS}


OPERATIONS = _operations()


def _folder_of(handler: str) -> str:
    # FC's documented Python form, "file name.method name"; make package writes <folder>.py at the code root.
    found = re.fullmatch(r"(\w+)\.handler", handler)
    assert found and found.group(1) in FOLDERS, f"handler {handler!r} is not <folder>.handler"
    return found.group(1)


# --- s.yaml: Serverless Devs 3 variables, template/extend ------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^{}]*)\}")
_ENV_CALL = re.compile(r"""env\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*(?:,\s*'([^']*)'\s*)?\)""")


def _deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _raw_props(name: str) -> dict:
    resource = S_YAML["resources"][name]
    props = resource.get("props", {})
    if "extend" in resource:
        base = copy.deepcopy(S_YAML["template"][resource["extend"]["name"]])
        for ignored in resource["extend"].get("ignore", ()):
            base.pop(ignored, None)
        props = _deep_merge(base, props)
    return props


def _resolve(value, depth: int = 0):
    """Serverless Devs 3 variables as the deployer's empty environment would give them (env() -> default)."""
    assert depth < 10, "circular ${...} reference"
    if isinstance(value, dict):
        return {key: _resolve(item, depth) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, depth) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(found: re.Match) -> str:
        expression = found.group(1).strip()
        env = _ENV_CALL.fullmatch(expression)
        if env:
            return env.group(2) or ""
        if expression.startswith("vars."):
            return str(_resolve(S_YAML["vars"][expression[len("vars."):]], depth + 1))
        parts = expression.split(".")
        if parts[0] == "resources" and parts[2] == "props":
            node = _raw_props(parts[1])
            for part in parts[3:]:
                node = node[part]
            return str(_resolve(node, depth + 1))
        if parts[0] == "resources" and parts[2] == "output":
            return f"<output {parts[1]}.{'.'.join(parts[3:])}>"
        raise AssertionError(f"unknown Serverless Devs variable ${{{expression}}}")

    return _VARIABLE.sub(substitute, value)


def _s_resources(component: str) -> dict[str, dict]:
    return {name: _resolve(_raw_props(name)) for name, resource in S_YAML["resources"].items()
            if resource["component"] == component}


S_FUNCTIONS = {_folder_of(props["handler"]): props for props in _s_resources("fc3").values()}
S_FUNCTION_KEYS = {name: _folder_of(_resolve(_raw_props(name))["handler"])
                   for name, r in S_YAML["resources"].items() if r["component"] == "fc3"}
S_FOLDER_BY_NAME = {props["functionName"]: folder for folder, props in S_FUNCTIONS.items()}


# --- template.yml: ROS intrinsic functions ------------------------------------------------------------

def _ros_value(node):
    """A ROS value with parameters at their defaults (Ref, Fn::Join); other functions are returned as they are."""
    if isinstance(node, dict) and set(node) == {"Ref"}:
        name = node["Ref"]
        if name in ROS["Parameters"]:
            return ROS["Parameters"][name].get("Default")
        return node
    if isinstance(node, dict) and set(node) == {"Fn::Join"}:
        separator, items = node["Fn::Join"]
        return separator.join(str(_ros_value(item)) for item in items)
    return node


ROS_RESOURCES = ROS["Resources"]
ROS_FUNCTIONS = {_folder_of(r["Properties"]["Handler"]): r["Properties"]
                 for r in ROS_RESOURCES.values() if r["Type"] == "ALIYUN::FC3::Function"}
ROS_FOLDER_BY_LOGICAL_ID = {logical: _folder_of(r["Properties"]["Handler"])
                            for logical, r in ROS_RESOURCES.items() if r["Type"] == "ALIYUN::FC3::Function"}


def _ros_function_folder(node) -> str:
    """The function folder behind {"Fn::GetAtt": [<function logical id>, "FunctionName"]}."""
    assert isinstance(node, dict) and set(node) == {"Fn::GetAtt"}, f"expected Fn::GetAtt, got {node!r}"
    logical_id, attribute = node["Fn::GetAtt"]
    assert attribute == "FunctionName"
    return ROS_FOLDER_BY_LOGICAL_ID[logical_id]


# --- the two deployments, side by side -----------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    path: str
    folder: str
    methods: frozenset[str]


def _s_routes() -> list[Route]:
    domains = _s_resources("fc3-domain")
    assert len(domains) == 1, "one custom domain"
    (domain,) = domains.values()
    return [Route(r["path"], S_FOLDER_BY_NAME[r["functionName"]], frozenset(r["methods"]))
            for r in domain["routeConfig"]["routes"]]


def _ros_routes() -> list[Route]:
    domains = [r for r in ROS_RESOURCES.values() if r["Type"] == "ALIYUN::FC3::CustomDomain"]
    assert len(domains) == 1, "one custom domain"
    return [Route(r["Path"], _ros_function_folder(r["FunctionName"]), frozenset(r["Methods"]))
            for r in domains[0]["Properties"]["RouteConfig"]["Routes"]]


def _s_triggers() -> dict[str, list[dict]]:
    return {folder: props.get("triggers", []) for folder, props in S_FUNCTIONS.items()}


def _ros_triggers() -> dict[str, list[dict]]:
    triggers: dict[str, list[dict]] = {folder: [] for folder in ROS_FUNCTIONS}
    for resource in ROS_RESOURCES.values():
        if resource["Type"] == "ALIYUN::FC3::Trigger":
            props = resource["Properties"]
            triggers[_ros_function_folder(props["FunctionName"])].append(
                {"triggerName": props["TriggerName"], "triggerType": props["TriggerType"],
                 "qualifier": props.get("Qualifier"), "triggerConfig": props["TriggerConfig"]})
    return triggers


DEPLOYMENTS = {
    "s.yaml": {"functions": S_FUNCTIONS, "routes": _s_routes, "triggers": _s_triggers},
    "template.yml": {"functions": ROS_FUNCTIONS, "routes": _ros_routes, "triggers": _ros_triggers},
}


def fc_route(routes: list[Route], path: str) -> Route | None:
    """Function Compute's custom-domain route for ``path``.

    FC docs, "Configure a custom domain name", routing rules: exact match (a route without '*' matches only the
    identical path; /a does not match /a/); fuzzy match (a route ending in '*' matches every path that begins
    with the part before it: /login/* matches /login/a and /login/b/c/d); an exact match takes precedence over a
    fuzzy match; among fuzzy matches the longest prefix wins.
    """
    for route in routes:
        if not route.path.endswith("*") and route.path == path:
            return route
    fuzzy = [r for r in routes if r.path.endswith("*") and path.startswith(r.path[:-1])]
    return max(fuzzy, key=lambda r: len(r.path), default=None)


def _concrete(path_template: str) -> str:
    return re.sub(r"\{\w+\}", "id-0123abcd", path_template)


def _serves(folder: str, path: str) -> bool:
    if path == HEALTHZ:
        return True
    pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(OPERATIONS[folder].path)) + "$"
    return re.match(pattern, path) is not None


# --- tests ---------------------------------------------------------------------------------------------

def test_the_route_matcher_follows_the_documented_examples():
    routes = [Route("/a", "f1", frozenset()), Route("/login/*", "f2", frozenset()),
              Route("/login/a/*", "f3", frozenset()), Route("/login/x", "f4", frozenset())]
    assert fc_route(routes, "/a").folder == "f1"
    assert fc_route(routes, "/a/") is None
    assert fc_route(routes, "/login/a").folder == "f2"
    assert fc_route(routes, "/login/b/c/d").folder == "f2"
    assert fc_route(routes, "/login/a/b").folder == "f3"  # longest prefix
    assert fc_route(routes, "/login/x").folder == "f4"  # exact beats fuzzy
    assert fc_route(routes, "/login") is None


def test_s_yaml_is_a_serverless_devs_3_project():
    assert S_YAML["edition"] == "3.0.0"
    components = {r["component"] for r in S_YAML["resources"].values()}
    assert components == {"ros", "fc3", "fc3-domain"}
    # Resource keys are the folder names, so `s <folder> deploy` deploys that function.
    assert S_FUNCTION_KEYS == {folder: folder for folder in FOLDERS}


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_every_function_folder_is_one_function(deployment):
    assert sorted(DEPLOYMENTS[deployment]["functions"]) == FOLDERS


def test_both_deploy_the_same_function_names():
    ros_names = {folder: _ros_value(props["FunctionName"]) for folder, props in ROS_FUNCTIONS.items()}
    s_names = {folder: props["functionName"] for folder, props in S_FUNCTIONS.items()}
    assert ros_names == s_names
    for name in s_names.values():
        # FC: letters, digits, '_' and '-', not starting with a digit or '-', at most 64 characters.
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", name), name


@pytest.mark.parametrize("folder", FOLDERS)
def test_declared_handler_imports_and_is_callable(folder, monkeypatch):
    handlers = {S_FUNCTIONS[folder]["handler"], ROS_FUNCTIONS[folder]["Handler"]}
    assert handlers == {f"{folder}.handler"}
    monkeypatch.setenv("BROKER_JWT_SECRET", "x" * 40)
    monkeypatch.setenv("BROKER_LEDGER_URL", "sqlite:///:memory:")
    monkeypatch.delenv("FC_FUNCTION_NAME", raising=False)
    # The root module make package generates for it (tests/functional/test_package.py calls it in the zip).
    from scripts.package import HANDLER_MODULE

    namespace: dict = {}
    exec(compile(HANDLER_MODULE.format(op=folder), f"{folder}.py", "exec"), namespace)  # noqa: S102
    assert callable(namespace["handler"])
    assert namespace["handler"] is importlib.import_module(f"functions.{folder}.index").handler


@pytest.mark.parametrize("folder", FOLDERS)
def test_runtime_size_timeout_and_code_agree(folder):
    s, ros = S_FUNCTIONS[folder], ROS_FUNCTIONS[folder]
    assert s["runtime"] == ros["Runtime"] == RUNTIME
    assert s["memorySize"] == ros["MemorySize"]
    assert s["cpu"] == ros["Cpu"]
    assert s["timeout"] == ros["Timeout"]
    assert s["memorySize"] % 64 == 0 and s["memorySize"] >= 128
    # FC 3.0: vCPU in steps of 0.05, and vCPU : memory (GB) between 1:1 and 1:4.
    assert round(s["cpu"] / 0.05, 6).is_integer()
    assert 1 <= (s["memorySize"] / 1024) / s["cpu"] <= 4
    # The upstream budget (8 s) fits, with head room for a cold start.
    assert 10 <= s["timeout"] <= 60
    # FC 3.0 built-in runtimes serve one request per instance: no instance concurrency is declared.
    assert "instanceConcurrency" not in s and "InstanceConcurrency" not in ros
    assert s["code"] == CODE_PACKAGE
    assert ros["Code"] == {"OssBucketName": {"Ref": "CodeOssBucket"}, "OssObjectName": {"Ref": "CodeOssObject"}}


@pytest.mark.parametrize("folder", FOLDERS)
def test_environment_variables_agree_and_are_read_by_the_broker(folder):
    s_env, ros_env = S_FUNCTIONS[folder]["environmentVariables"], ROS_FUNCTIONS[folder]["EnvironmentVariables"]
    assert set(s_env) == set(ros_env)
    for name in s_env:
        assert name in CONFIG_VARIABLES, f"{name} is not read by shared/upload_broker/config.py"
        assert name not in NOT_DEPLOYED and not name.startswith(SET_BY_FC_PREFIXES), name
    # Every s.yaml value is the deployer's variable of the same name; its default is template.yml's default.
    raw_env = _raw_props(folder)["environmentVariables"]
    for name, raw in raw_env.items():
        env = _ENV_CALL.fullmatch(raw.strip()[2:-1]) if raw.strip().startswith("${") else None
        assert env and env.group(1) == name, f"{name}: {raw!r} is not ${{env('{name}', ...)}}"
        parameter = ROS["Parameters"][ros_env[name]["Ref"]]
        if "Default" in parameter:
            assert (env.group(2) or "") == parameter["Default"], name


def test_every_variable_the_broker_reads_is_deployed_or_known_to_be_local():
    deployed = set(S_FUNCTIONS[FOLDERS[0]]["environmentVariables"])
    missing = {name for name in CONFIG_VARIABLES - deployed
               if name not in NOT_DEPLOYED and not name.startswith(SET_BY_FC_PREFIXES)}
    assert not missing, (f"config.py reads {sorted(missing)}: add them to s.yaml's environmentVariables and "
                         "template.yml (a parameter + every function's EnvironmentVariables), or to NOT_DEPLOYED")


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
@pytest.mark.parametrize("folder", FOLDERS)
def test_each_function_has_one_anonymous_http_trigger_for_every_method_it_serves(deployment, folder):
    triggers = DEPLOYMENTS[deployment]["triggers"]()[folder]
    assert [t["triggerType"] for t in triggers] == ["http"]
    config = triggers[0]["triggerConfig"]
    assert config["authType"] == "anonymous"
    assert config.get("disableURLInternet", False) is False
    served = set(OPERATIONS[folder].route.methods) | EVERY_FUNCTION_SERVES
    assert served <= set(config["methods"])
    assert set(config["methods"]) <= {"HEAD", "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}


def test_both_declare_the_same_routes_and_triggers():
    assert set(_s_routes()) == set(_ros_routes())
    s_methods = {f: set(t[0]["triggerConfig"]["methods"]) for f, t in _s_triggers().items()}
    ros_methods = {f: set(t[0]["triggerConfig"]["methods"]) for f, t in _ros_triggers().items()}
    assert s_methods == ros_methods


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_route_paths_are_exact_or_end_in_a_wildcard(deployment):
    routes = DEPLOYMENTS[deployment]["routes"]()
    for route in routes:
        assert route.path.startswith("/"), route
        assert "*" not in route.path[:-1], f"{route.path}: FC's '*' is used here only as the last character"
    paths = [r.path for r in routes]
    assert len(paths) == len(set(paths)), "a path is routed twice"


def _contract_requests() -> list[tuple[str, str]]:
    """(concrete path, method) for every openapi.yaml operation and every function's own route."""
    requests = set()
    for path, item in OPENAPI["paths"].items():
        for method in item:
            if method in ("get", "head", "post", "put", "patch", "delete", "options"):
                requests.add((_concrete(path), method.upper()))
    for operation in OPERATIONS.values():
        for method in (*operation.route.methods, "OPTIONS"):
            requests.add((_concrete(operation.path), method))
    return sorted(requests)


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
@pytest.mark.parametrize(("path", "method"), _contract_requests())
def test_the_custom_domain_sends_every_contract_request_to_the_function_that_serves_it(deployment, path, method):
    route = fc_route(DEPLOYMENTS[deployment]["routes"](), path)
    assert route is not None, f"{method} {path} is not routed"
    assert _serves(route.folder, path), f"{method} {path} is routed to {route.folder}, which does not serve it"
    assert method in route.methods, f"{method} {path}: the route {route.path} does not allow {method}"
    trigger_methods = set(DEPLOYMENTS[deployment]["triggers"]()[route.folder][0]["triggerConfig"]["methods"])
    assert method in trigger_methods


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
@pytest.mark.parametrize("path", [HEALTHZ, "/", "/v1/no-such-route", "/v2/videos", "/healthz/x"])
def test_healthz_and_unknown_paths_go_where_the_local_server_sends_them(deployment, path):
    # upload_broker.local.FunctionRouter gives /healthz and unknown paths to the first function folder; so
    # does the custom domain, so an unknown path gets the broker's JSON 404, not FC's own answer.
    route = fc_route(DEPLOYMENTS[deployment]["routes"](), path)
    assert route is not None, f"{path} is not routed"
    assert route.folder == FOLDERS[0]
    assert {"GET", "HEAD", "OPTIONS"} <= route.methods


def test_every_function_is_reachable_through_the_custom_domain():
    for deployment in DEPLOYMENTS.values():
        routed = {route.folder for route in deployment["routes"]()}
        assert routed == set(FOLDERS)


def _actions_used() -> set[str]:
    return {f"{op.provider}:{op.action}" for op in OPERATIONS.values() if op.provider in ("vod", "ice")}


def _policy_statements(role_properties: dict) -> list[dict]:
    return [statement for policy in role_properties["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]]


def _s_role_properties() -> dict:
    template = _s_resources("ros")["broker-role"]["template"]
    (role,) = [r for r in template["Resources"].values() if r["Type"] == "ALIYUN::RAM::Role"]
    return role["Properties"]


def _ros_role_properties() -> dict:
    (role,) = [r for r in ROS_RESOURCES.values() if r["Type"] == "ALIYUN::RAM::Role"]
    return role["Properties"]


@pytest.mark.parametrize("role", [_s_role_properties, _ros_role_properties], ids=["s.yaml", "template.yml"])
def test_ram_policy_lists_exactly_the_actions_used(role):
    properties = role()
    statements = _policy_statements(properties)
    assert {a for s in statements for a in s["Action"]} == _actions_used()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        # VOD and ICE upload actions have no resource-level authorization.
        assert statement["Resource"] in ("*", ["*"])
    (trust,) = properties["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole" and trust["Principal"] == {"Service": ["fc.aliyuncs.com"]}


def test_functions_run_as_that_role():
    for folder in FOLDERS:
        assert S_FUNCTIONS[folder]["role"] == "<output broker-role.RoleArn>"
        assert ROS_FUNCTIONS[folder]["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
    outputs = _s_resources("ros")["broker-role"]["template"]["Outputs"]
    assert outputs["RoleArn"]["Value"] == {"Fn::GetAtt": ["Role", "Arn"]}


def test_the_custom_domain_leaves_authentication_to_the_broker():
    (s_domain,) = _s_resources("fc3-domain").values()
    assert s_domain["authConfig"] == {"authType": "anonymous"}
    (ros_domain,) = [r for r in ROS_RESOURCES.values() if r["Type"] == "ALIYUN::FC3::CustomDomain"]
    assert ros_domain["Properties"]["AuthConfig"] == {"AuthType": "anonymous"}
    for route in ros_domain["Properties"]["RouteConfig"]["Routes"]:
        assert route["Qualifier"] == "LATEST"
