"""s.yaml, template.yml, openapi.yaml and functions/ describe the same deployment.

The same functions (one per folder with an index.py), handlers that import, runtime, size and timeout, the same
environment variable names (each one that config.py reads), HTTP triggers that accept every method a function
serves, a least-privilege RAM policy, the same ledger (a Tablestore instance by default, with a policy of exactly
the Tablestore operations the backend calls on the tables it names; the deployer's Redis URL instead when given),
and one custom domain whose routes send every contract path to the function that serves it. Routes are checked
with a matcher that implements Function Compute's documented custom-domain rules (exact paths; a trailing '*'
matches every path that begins with the part before it; exact wins over wildcard; the longest wildcard prefix
wins). The ledger is checked by evaluating both templates' intrinsic functions for the same choices.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from upload_broker.call import Operation
from upload_broker.ledger import DEFAULT_TABLE_PREFIX, parse_tablestore_url
from upload_broker.ledger.tablestore import TABLES
from upload_broker.local import discover_functions, discover_operations

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


# Every function folder's declaration (an upstream Operation, or a function that calls no upstream: a user's
# uploads, VOD's callbacks).
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


# The deployer's environment the checks below assume unless they say otherwise: the one setting a deployment
# with the default (Tablestore) ledger needs, everything else unset (docs/deploy.md).
DEPLOY_ENV = {"BROKER_LEDGER_INSTANCE": "myledger"}


class EnvNotFound(Exception):
    """env('NAME') without a default, NAME unset: Serverless Devs stops with "env('NAME') not found"."""


def _expression(expression: str, environ: dict[str, str], depth: int):
    """A JavaScript expression inside ${...}, the subset s.yaml uses: a ? b : c, 'a' + b, env(...), vars.x, 'text'.

    env(NAME, default) as Serverless Devs 3.1.10 defines it (its bundled lib/index.js): the variable's value when
    it is set and not empty, else the default when one is given, else the "not found" error.
    """
    ternary = re.fullmatch(r"(.+?)\s+\?\s+(.+?)\s+:\s+(.+)", expression)
    if ternary:
        test, when_true, when_false = ternary.groups()
        chosen = when_true if _expression(test, environ, depth) else when_false
        return _expression(chosen, environ, depth)

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return value(node.left) + value(node.right)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "env":
            name, *default = [value(arg) for arg in node.args]  # JavaScript evaluates the default first
            if environ.get(name):
                return environ[name]
            if default:
                return default[0]
            raise EnvNotFound(name)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "vars":
            return str(_resolve(S_YAML["vars"][node.attr], environ, depth + 1))
        raise AssertionError(f"unsupported Serverless Devs expression ${{{expression}}}")

    return value(ast.parse(expression, mode="eval").body)


def _resolve(value, environ: dict[str, str] | None = None, depth: int = 0):
    """Serverless Devs 3 variables as the deployer's environment ``environ`` (default DEPLOY_ENV) gives them."""
    assert depth < 10, "circular ${...} reference"
    environ = DEPLOY_ENV if environ is None else environ
    if isinstance(value, dict):
        return {key: _resolve(item, environ, depth) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, environ, depth) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(found: re.Match) -> str:
        expression = found.group(1).strip()
        parts = expression.split(".")
        if parts[0] == "resources" and parts[2] == "props":
            node = _raw_props(parts[1])
            for part in parts[3:]:
                node = node[part]
            return str(_resolve(node, environ, depth + 1))
        if parts[0] == "resources" and parts[2] == "output":
            return f"<output {parts[1]}.{'.'.join(parts[3:])}>"
        return str(_expression(expression, environ, depth))

    return _VARIABLE.sub(substitute, value)


def _s_resources(component: str, environ: dict[str, str] | None = None) -> dict[str, dict]:
    return {name: _resolve(_raw_props(name), environ) for name, resource in S_YAML["resources"].items()
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
        if name == "BROKER_LEDGER_URL":
            # Its default is the Tablestore instance's URL, not a constant: test_both_deploy_the_same_ledger.
            assert re.fullmatch(r"\$\{env\('BROKER_LEDGER_URL', .+\)\}", raw.strip()), raw
            assert ros_env[name]["Fn::If"][2] == {"Ref": "LedgerUrl"}
            continue
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
    """Every VOD/ICE action a function calls with the role: each upstream Operation's own, and a refresh's source
    check (it asks the upstream whether the source is in before a refresh that would overwrite it). The functions
    that are no Operation (a user's uploads, from the ledger; VOD's callbacks) call no upstream."""
    actions = set()
    for operation in discover_operations():
        if operation.provider in ("vod", "ice"):
            actions.add(f"{operation.provider}:{operation.action}")
            check = getattr(operation, "source_check", None)
            if check is not None:
                actions.add(f"{operation.provider}:{check.action}")
    return actions


def test_the_actions_used_are_read_from_every_function_folder():
    # discover_operations is every folder's declaration that is an Operation; the others call no upstream.
    assert [f.function for f in discover_functions()] == FOLDERS == sorted(OPERATIONS)
    upstream = {op.function for op in discover_operations()}
    assert upstream == {folder for folder, op in OPERATIONS.items() if isinstance(op, Operation)}
    assert upstream < set(FOLDERS)  # list_uploads and vod_callback, today
    # The refreshes read the source's status first: those reads are actions of the role too.
    checks = {f"{op.provider}:{op.source_check.action}" for op in discover_operations()
              if getattr(op, "source_check", None) is not None}
    assert checks and checks <= _actions_used()


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


# --- the ledger: a Tablestore instance by default, the deployer's Redis when given ----------------------------

TABLESTORE_SOURCE = ROOT / "shared" / "upload_broker" / "ledger" / "tablestore.py"
# TablestoreLedger methods that only the operator's `python -m upload_broker.ledger.tablestore --create-tables`
# runs, with the operator's credentials: what they call is not the function role's business.
OPERATOR_ONLY = {"ensure_tables"}
# Pseudo parameters for evaluating the ROS templates: the stack's region and account.
REGION, ACCOUNT = "cn-hangzhou", "1234567890123456"
REDIS_URL = "rediss://:secret-password@r-xxxx.redis.rds.aliyuncs.com:6380/0"
# template.yml's parameters without a default (docs/deploy.md, "Deploy with ROS").
ROS_REQUIRED = {"CodeOssBucket": "my-bucket"}


# Attributes of the SDK client that are not Tablestore operations.
CLIENT_PLUMBING = {"connection"}


def _tablestore_calls() -> dict[str, set[str]]:
    """{RAM action: the TablestoreLedger methods that use it}, from every ``self._client.<operation>`` (called, or
    passed on as in ``partial(self._client.get_range, ...)``)."""
    tree = ast.parse(TABLESTORE_SOURCE.read_text())
    (ledger,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TablestoreLedger"]
    calls: dict[str, set[str]] = {}
    for method in ledger.body:
        if not isinstance(method, ast.FunctionDef):
            continue
        for node in ast.walk(method):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "_client" and isinstance(node.value.value, ast.Name)
                    and node.value.value.id == "self" and node.attr not in CLIENT_PLUMBING):
                # The SDK's method names are its operations' in snake case: batch_write_row is BatchWriteRow.
                action = "ots:" + "".join(part.capitalize() for part in node.attr.split("_"))
                calls.setdefault(action, set()).add(method.name)
    return calls


def _function_ots_actions() -> set[str]:
    return {action for action, methods in _tablestore_calls().items() if methods - OPERATOR_ONLY}


def _ros_evaluate(template: dict, params: dict[str, str]):
    """Evaluate ``template`` for a stack created with ``params`` (the others at their defaults).

    Returns (resources that exist, with their properties evaluated; outputs that exist, evaluated; whether every
    rule holds). Ref, Fn::Join, Fn::If, Fn::Equals, Fn::Not; Fn::GetAtt gives the property of the same name
    (InstanceName, RoleName), or a placeholder for an attribute that is no property (Arn).
    """
    pseudo = {"ALIYUN::Region": REGION, "ALIYUN::AccountId": ACCOUNT, "ALIYUN::NoValue": None}

    def value(node):
        if isinstance(node, list):
            return [value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"}:
            name = node["Ref"]
            if name in pseudo:
                return pseudo[name]
            return params[name] if name in params else template["Parameters"][name]["Default"]
        if set(node) == {"Fn::Join"}:
            separator, items = node["Fn::Join"]
            return separator.join(value(item) for item in items)
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return value(when_true) if condition(name) else value(when_false)
        if set(node) == {"Fn::Equals"}:
            left, right = node["Fn::Equals"]
            return value(left) == value(right)
        if set(node) == {"Fn::Not"}:
            inner = node["Fn::Not"]
            return not value(inner[0] if isinstance(inner, list) else inner)
        if set(node) == {"Fn::GetAtt"}:
            logical_id, attribute = node["Fn::GetAtt"]
            resource = template["Resources"][logical_id]
            assert exists(resource), f"Fn::GetAtt of {logical_id}, which this stack does not create"
            if attribute in resource["Properties"]:
                return value(resource["Properties"][attribute])
            return f"<{logical_id}.{attribute}>"
        return {key: value(item) for key, item in node.items()}

    def condition(name: str) -> bool:
        return bool(value(template["Conditions"][name]))

    def exists(declared: dict) -> bool:
        return "Condition" not in declared or condition(declared["Condition"])

    resources = {name: {**r, "Properties": value(r.get("Properties", {}))}
                 for name, r in template["Resources"].items() if exists(r)}
    outputs = {name: value(o["Value"]) for name, o in template.get("Outputs", {}).items() if exists(o)}
    rules_hold = all(all(value(a["Assert"]) for a in rule["Assertions"])
                     for rule in template.get("Rules", {}).values()
                     if "RuleCondition" not in rule or value(rule["RuleCondition"]))
    return resources, outputs, rules_hold


@dataclass(frozen=True)
class Ledger:
    """What a deployment does about the ledger."""

    function_urls: frozenset[str]  # every function's BROKER_LEDGER_URL
    instance: dict | None  # the Tablestore instance's properties (and DeletionPolicy), if one is created
    statements: tuple  # the statements granting ots: actions
    stack_text: str  # everything the stack is given, to look for secrets


def _ots_statements(resources: dict) -> tuple:
    found = []
    for resource in resources.values():
        documents = []
        if resource["Type"] == "ALIYUN::RAM::Role":
            documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
        elif resource["Type"] == "ALIYUN::RAM::ManagedPolicy":
            documents = [resource["Properties"]["PolicyDocument"]]
        for document in documents:
            for statement in document["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(a.startswith("ots:") or a == "*" for a in actions):
                    found.append(statement)
    return tuple(found)


def _instance(resources: dict) -> dict | None:
    instances = [r for r in resources.values() if r["Type"] == "ALIYUN::OTS::Instance"]
    assert len(instances) <= 1
    return {**instances[0]["Properties"], "DeletionPolicy": instances[0].get("DeletionPolicy")} if instances else None


def _s_ledger(environ: dict[str, str]) -> Ledger:
    """s.yaml deployed from a shell with ``environ``, its ROS stack in REGION."""
    environ = {"REGION": REGION, **environ}
    stack = _s_resources("ros", environ)["broker-role"]
    resources, _, rules_hold = _ros_evaluate(stack["template"], stack.get("parameters", {}))
    assert rules_hold
    urls = frozenset(p["environmentVariables"]["BROKER_LEDGER_URL"] for p in _s_resources("fc3", environ).values())
    return Ledger(urls, _instance(resources), _ots_statements(resources), repr(stack))


def _ros_ledger(params: dict[str, str]) -> Ledger:
    """template.yml's stack created in REGION with ``params``."""
    resources, _, rules_hold = _ros_evaluate(ROS, {**ROS_REQUIRED, **params})
    assert rules_hold
    urls = frozenset(r["Properties"]["EnvironmentVariables"]["BROKER_LEDGER_URL"] for r in resources.values()
                     if r["Type"] == "ALIYUN::FC3::Function")
    return Ledger(urls, _instance(resources), _ots_statements(resources), "")


# (s.yaml: the deployer's environment, template.yml: the stack's parameters), the same choice
LEDGER_CHOICES = {
    "tablestore": ({"BROKER_LEDGER_INSTANCE": "myledger"}, {"LedgerInstanceName": "myledger"}),
    "tablestore, own prefix": ({"BROKER_LEDGER_INSTANCE": "brokerledger", "BROKER_LEDGER_TABLE_PREFIX": "staging"},
                               {"LedgerInstanceName": "brokerledger", "LedgerTablePrefix": "staging"}),
    "redis": ({"BROKER_LEDGER_URL": REDIS_URL}, {"LedgerUrl": REDIS_URL}),
    "redis, an instance name left set": ({"BROKER_LEDGER_URL": REDIS_URL, "BROKER_LEDGER_INSTANCE": "myledger"},
                                         {"LedgerUrl": REDIS_URL, "LedgerInstanceName": "myledger"}),
}


@pytest.mark.parametrize("choice", sorted(LEDGER_CHOICES))
def test_both_deploy_the_same_ledger(choice):
    environ, params = LEDGER_CHOICES[choice]
    s, ros = _s_ledger(environ), _ros_ledger(params)
    assert s.function_urls == ros.function_urls and len(s.function_urls) == 1
    assert s.instance == ros.instance
    assert s.statements == ros.statements
    (url,) = s.function_urls
    if choice.startswith("redis"):
        assert url == REDIS_URL
        assert s.instance is None and s.statements == ()  # Redis takes a password, not a RAM right
        assert REDIS_URL not in s.stack_text and "secret-password" not in s.stack_text  # not sent to ROS
    else:
        location = parse_tablestore_url(url)
        assert location.endpoint == f"https://{s.instance['InstanceName']}.{REGION}.ots.aliyuncs.com"
        assert location.instance == s.instance["InstanceName"] == params["LedgerInstanceName"]
        assert location.prefix == params.get("LedgerTablePrefix", "upload_broker") + "_"
        assert s.instance["DeletionPolicy"] == "Retain"
        assert (s.instance["ClusterType"], s.instance["Network"]) == ("SSD", "NORMAL")


@pytest.mark.parametrize("choice", [c for c in sorted(LEDGER_CHOICES) if c.startswith("tablestore")])
def test_the_role_may_call_exactly_what_the_backend_calls_on_its_own_tables(choice):
    environ, _ = LEDGER_CHOICES[choice]
    ledger = _s_ledger(environ)
    (url,) = ledger.function_urls
    location = parse_tablestore_url(url)
    (statement,) = ledger.statements
    assert statement["Effect"] == "Allow"
    assert set(statement["Action"]) == _function_ots_actions()
    assert not any("*" in action for action in statement["Action"])  # no ots:*, no ots:Get*
    (resource,) = statement["Resource"]
    # Tablestore's resource format (https://www.alibabacloud.com/help/en/tablestore/tablestore-ram-policy/):
    # acs:ots:<region>:<account>:instance/<instance name in lowercase>/table/<table>.
    assert resource == f"acs:ots:{REGION}:{ACCOUNT}:instance/{location.instance.lower()}/table/{location.prefix}*"

    def arn(table: str) -> str:
        return f"acs:ots:{REGION}:{ACCOUNT}:instance/{location.instance}/table/{table}"

    for spec in TABLES:
        assert fnmatch.fnmatchcase(arn(location.prefix + spec.suffix), resource), spec.suffix
    for other in ("other_resources", location.prefix.rstrip("_") + "x_resources", "resources"):
        assert not fnmatch.fnmatchcase(arn(other), resource), other
    assert not fnmatch.fnmatchcase(
        f"acs:ots:{REGION}:{ACCOUNT}:instance/otherledger/table/{location.prefix}resources", resource)


def test_the_function_role_is_granted_what_the_ledger_calls_except_the_operators_command():
    calls = _tablestore_calls()
    # What TablestoreLedger calls today; a new call fails here until the policies grant it (or it is operator-only).
    assert _function_ots_actions() == {"ots:GetRow", "ots:PutRow", "ots:UpdateRow", "ots:DeleteRow",
                                       "ots:BatchWriteRow", "ots:BatchGetRow", "ots:GetRange", "ots:CreateTable"}
    assert calls["ots:ListTable"] == {"ensure_tables"}
    # ensure_tables runs only in the --create-tables command (main), never in a function.
    callers = []
    for path in (*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(function):
                    if isinstance(node, ast.Attribute) and node.attr == "ensure_tables" and not (
                            isinstance(node.value, ast.Name) and node.value.id == "self"):
                        callers.append((path.relative_to(ROOT).as_posix(), function.name))
    assert set(callers) == {("shared/upload_broker/ledger/tablestore.py", "main")}


def test_no_ots_statement_grants_everything():
    for ledger in (_s_ledger(DEPLOY_ENV), _ros_ledger({"LedgerInstanceName": "myledger"})):
        for statement in ledger.statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "ots:*" not in actions and "*" not in actions
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert "*" not in resources and not any(r.startswith("acs:ots:*") for r in resources)


def test_without_a_ledger_neither_deploys_anything():
    # s.yaml: neither BROKER_LEDGER_URL nor BROKER_LEDGER_INSTANCE stops the deploy before anything is created.
    with pytest.raises(EnvNotFound, match="BROKER_LEDGER_INSTANCE"):
        _s_resources("ros", {})
    with pytest.raises(EnvNotFound, match="BROKER_LEDGER_INSTANCE"):
        _s_resources("fc3", {})
    # template.yml: its rule refuses the stack.
    assert _ros_evaluate(ROS, ROS_REQUIRED)[2] is False


def test_both_default_to_the_backends_table_prefix_and_check_names_alike():
    s_stack = _s_resources("ros")["broker-role"]["template"]
    s_default = _ENV_CALL.fullmatch(S_YAML["vars"]["ledgerTablePrefix"].strip()[2:-1]).group(2)
    assert s_default == s_stack["Parameters"]["LedgerTablePrefix"]["Default"] == ROS["Parameters"][
        "LedgerTablePrefix"]["Default"] == "upload_broker"
    # The URL without a prefix and the deployments' default name the same tables.
    assert DEFAULT_TABLE_PREFIX == s_default + "_"
    for name in ("LedgerInstanceName", "LedgerTablePrefix"):
        assert s_stack["Parameters"][name]["AllowedPattern"] == ROS["Parameters"][name]["AllowedPattern"]
    assert s_stack["Conditions"]["UseTablestore"] == {"Fn::Not": {"Fn::Equals": ["", {"Ref": "LedgerInstanceName"}]}}


def test_both_output_the_ledger_url_for_the_create_tables_command():
    _, s_outputs, _ = _ros_evaluate(_s_resources("ros")["broker-role"]["template"], {"LedgerInstanceName": "myledger"})
    _, ros_outputs, _ = _ros_evaluate(ROS, {**ROS_REQUIRED, "LedgerInstanceName": "myledger"})
    (url,) = _ros_ledger({"LedgerInstanceName": "myledger"}).function_urls
    assert s_outputs["LedgerUrl"] == ros_outputs["LedgerUrl"] == url
    # With Redis there is no such output: the URL holds a password.
    assert "LedgerUrl" not in _ros_evaluate(ROS, {**ROS_REQUIRED, "LedgerUrl": REDIS_URL})[1]
