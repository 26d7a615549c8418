"""template.yml is a plain ROS template of Function Compute 3.0 resources with the documented property names.

Property names are those of the ROS resource type references (ALIYUN::FC3::Function, ALIYUN::FC3::Trigger,
ALIYUN::FC3::CustomDomain, ALIYUN::RAM::Role, ALIYUN::RAM::ManagedPolicy, ALIYUN::OTS::Instance); a misspelt one
would only fail when a stack is created. Agreement with s.yaml, openapi.yaml and functions/ (the ledger's
policy against the calls the Tablestore backend makes included) is tests/unit/test_deploy_agreement.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from upload_broker.ledger import parse_tablestore_url
from upload_broker.ledger.tablestore import TABLES

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "template.yml").read_text()
TEMPLATE = yaml.safe_load(TEXT)
PARAMETERS = TEMPLATE["Parameters"]
RESOURCES = TEMPLATE["Resources"]
CONDITIONS = TEMPLATE.get("Conditions", {})
RULES = TEMPLATE.get("Rules", {})

# https://www.alibabacloud.com/help/en/ros/developer-reference/aliyun-fc3-function (and the other three pages)
PROPERTIES = {
    "ALIYUN::FC3::Function": {
        "required": {"FunctionName", "Handler", "Runtime"},
        "allowed": {"FunctionName", "Handler", "Runtime", "Cpu", "CustomContainerConfig", "Code",
                    "CustomRuntimeConfig", "CustomDns", "Description", "DiskSize", "EnvironmentVariables",
                    "GpuConfig", "InstanceLifecycleConfig", "InternetAccess", "InstanceConcurrency", "Layers",
                    "LogConfig", "MemorySize", "NasConfig", "OssMountConfig", "Role", "TracingConfig", "Timeout",
                    "VpcConfig", "DisableOndemand", "SessionAffinityConfig", "InstanceIsolationMode",
                    "SessionAffinity", "Tags"},
        "attributes": {"ARN", "FunctionId", "FunctionName"},
    },
    "ALIYUN::FC3::Trigger": {
        "required": {"FunctionName", "TriggerType", "TriggerName", "TriggerConfig"},
        "allowed": {"FunctionName", "TriggerType", "TriggerName", "TriggerConfig", "Description",
                    "InvocationRole", "Qualifier", "SourceArn"},
        "attributes": {"FunctionName", "UrlIntranet", "TriggerName", "TriggerId", "UrlInternet"},
    },
    "ALIYUN::FC3::CustomDomain": {
        "required": {"AuthConfig", "DomainName", "Protocol"},
        "allowed": {"AuthConfig", "DomainName", "Protocol", "CertConfig", "RouteConfig", "TlsConfig", "WafConfig"},
        "attributes": {"DomainName"},
    },
    "ALIYUN::RAM::Role": {
        "required": {"RoleName", "AssumeRolePolicyDocument"},
        "allowed": {"RoleName", "Description", "AssumeRolePolicyDocument", "Policies", "MaxSessionDuration",
                    "DeletionForce", "IgnoreExisting", "Path", "PolicyAttachments"},
        "attributes": {"RoleId", "RoleName", "Arn"},
    },
    # https://www.alibabacloud.com/help/en/ros/developer-reference/aliyun-ram-managedpolicy
    "ALIYUN::RAM::ManagedPolicy": {
        "required": {"PolicyName"},
        "allowed": {"PolicyName", "Description", "Roles", "PolicyDocumentUnchecked", "PolicyDocument", "Groups",
                    "Users", "IgnoreExisting"},
        "attributes": {"PolicyName"},
    },
    # https://www.alibabacloud.com/help/en/ros/developer-reference/aliyun-ots-instance
    "ALIYUN::OTS::Instance": {
        "required": {"InstanceName"},
        "allowed": {"InstanceName", "ClusterType", "Network", "Description", "Tags"},
        "attributes": {"InstanceName", "PublicEndpoint", "PrivateEndpoint", "VpcEndpoint"},
    },
}
# Resource attributes besides Type and Properties. DeletionPolicy Retain keeps a resource when the stack is deleted
# or no longer declares it (https://help.aliyun.com/en/ros/user-guide/remove-a-resource-from-a-stack).
RESOURCE_KEYS = {"Type", "Properties", "Condition", "DependsOn", "Metadata", "DeletionPolicy"}
ROUTE_KEYS = {"Path", "FunctionName", "Qualifier", "RewriteConfig", "Methods"}
LOG_CONFIG_KEYS = {"Project", "Logstore", "LogBeginRule", "EnableInstanceMetrics", "EnableRequestMetrics"}
VPC_CONFIG_KEYS = {"VpcId", "VSwitchIds", "SecurityGroupId"}
PSEUDO_PARAMETERS = {"ALIYUN::NoValue", "ALIYUN::StackName", "ALIYUN::StackId", "ALIYUN::Region",
                     "ALIYUN::AccountId"}
SECRETS = ("JwtSecret", "WangsuAccessKey", "WangsuSecretKey", "LedgerUrl", "DomainPrivateKey",
           "VodCallbackAuthKey")


def _walk(node):
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _of_type(resource_type: str) -> dict[str, dict]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == resource_type}


def _if_branches(node, condition: str) -> tuple[object, object]:
    assert isinstance(node, dict) and set(node) == {"Fn::If"}, node
    name, when_true, when_false = node["Fn::If"]
    assert name == condition
    return when_true, when_false


def test_template_is_a_plain_ros_template():
    assert TEMPLATE["ROSTemplateFormatVersion"] == "2015-09-01"
    assert "Transform" not in TEMPLATE
    assert {r["Type"] for r in RESOURCES.values()} == set(PROPERTIES)
    # Long-form functions only, so yaml.safe_load (and any YAML parser) reads the template as ROS does.
    assert "!Ref" not in TEXT and "!GetAtt" not in TEXT and "!If" not in TEXT


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_resources_use_the_documented_property_names(name):
    resource = RESOURCES[name]
    spec = PROPERTIES[resource["Type"]]
    properties = set(resource["Properties"])
    assert spec["required"] <= properties, spec["required"] - properties
    assert properties <= spec["allowed"], properties - spec["allowed"]
    assert set(resource) <= RESOURCE_KEYS
    assert resource.get("DeletionPolicy", "Delete") in ("Delete", "Retain")


def test_every_reference_resolves():
    for node in _walk(TEMPLATE):
        if not isinstance(node, dict):
            continue
        if set(node) == {"Ref"}:
            assert node["Ref"] in PARAMETERS or node["Ref"] in RESOURCES or node["Ref"] in PSEUDO_PARAMETERS, node
        if "Fn::GetAtt" in node:
            logical_id, attribute = node["Fn::GetAtt"]
            assert attribute in PROPERTIES[RESOURCES[logical_id]["Type"]]["attributes"], node
        if "Fn::If" in node:
            assert node["Fn::If"][0] in CONDITIONS, node
    for resource in RESOURCES.values():
        if "Condition" in resource:
            assert resource["Condition"] in CONDITIONS
    for output in TEMPLATE["Outputs"].values():
        if "Condition" in output:
            assert output["Condition"] in CONDITIONS
    # Rules (https://www.alibabacloud.com/help/en/ros/user-guide/rules) refer to parameters only.
    for rule in RULES.values():
        assert set(rule) <= {"RuleCondition", "Assertions"}
        for assertion in rule["Assertions"]:
            assert set(assertion) <= {"Assert", "AssertDescription"}
        for node in _walk(rule):
            if isinstance(node, dict) and set(node) == {"Ref"}:
                assert node["Ref"] in PARAMETERS, node


def _references(node, under: frozenset[str] = frozenset()):
    """(logical id, the conditions known true there) for every Ref and Fn::GetAtt of a resource under ``node``."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in RESOURCES:
            yield node["Ref"], under
        if "Fn::GetAtt" in node:
            yield node["Fn::GetAtt"][0], under
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            yield from _references(when_true, under | {name})
            yield from _references(when_false, under)
            return
        for value in node.values():
            yield from _references(value, under)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value, under)


def test_a_conditional_resource_is_referred_to_only_where_its_condition_holds():
    # A resource whose condition is false does not exist: a Ref or Fn::GetAtt to it must sit in a resource or
    # output with the same condition, or in the true branch of an Fn::If on it.
    places = [(r, frozenset({r["Condition"]}) if "Condition" in r else frozenset())
              for r in (*RESOURCES.values(), *TEMPLATE["Outputs"].values())]
    for place, conditions in places:
        for logical_id, under in _references(place, conditions):
            needed = RESOURCES[logical_id].get("Condition")
            assert needed is None or needed in under, f"{logical_id} is referred to outside {needed}"


def test_secret_parameters_are_not_echoed():
    for name in SECRETS:
        assert PARAMETERS[name].get("NoEcho") is True, name


def test_the_source_replace_switch_takes_only_what_the_broker_reads():
    # BROKER_ALLOW_SOURCE_REPLACE: a String (environment variables are text) that ROS checks before creating.
    parameter = PARAMETERS["AllowSourceReplace"]
    assert parameter["Type"] == "String"
    assert sorted(parameter["AllowedValues"]) == ["false", "true"] and parameter["Default"] == "false"


# --- the ledger: a Tablestore instance by default, Redis when LedgerUrl is given -------------------------------

def test_the_ledger_is_tablestore_unless_a_url_is_given():
    assert PARAMETERS["LedgerUrl"]["Default"] == ""
    assert CONDITIONS["UseTablestore"] == {"Fn::Equals": ["", {"Ref": "LedgerUrl"}]}
    (instance,) = _of_type("ALIYUN::OTS::Instance").values()
    (policy,) = _of_type("ALIYUN::RAM::ManagedPolicy").values()
    assert instance["Condition"] == policy["Condition"] == "UseTablestore"
    # The instance keeps the ownership records and the audit trail: deleting the stack must not delete them.
    assert instance["DeletionPolicy"] == "Retain"
    assert instance["Properties"] == {"InstanceName": {"Ref": "LedgerInstanceName"}, "ClusterType": "SSD",
                                      "Network": "NORMAL", "Description": instance["Properties"]["Description"]}
    assert policy["Properties"]["Roles"] == [{"Fn::GetAtt": ["FunctionRole", "RoleName"]}]


def test_an_instance_name_is_required_when_no_ledger_url_is_given():
    # A rule, checked before anything is created; the name is not required when Redis is the ledger.
    (rule,) = [r for r in RULES.values() if r.get("RuleCondition") == CONDITIONS["UseTablestore"]]
    asserted = [a["Assert"] for a in rule["Assertions"]]
    assert {"Fn::Not": {"Fn::Equals": ["", {"Ref": "LedgerInstanceName"}]}} in asserted
    assert PARAMETERS["LedgerInstanceName"]["Default"] == ""


@pytest.mark.parametrize("name", sorted(_of_type("ALIYUN::FC3::Function")))
def test_every_function_gets_the_tablestore_url_of_that_instance_or_the_given_url(name):
    url = RESOURCES[name]["Properties"]["EnvironmentVariables"]["BROKER_LEDGER_URL"]
    tablestore, given = _if_branches(url, "UseTablestore")
    assert given == {"Ref": "LedgerUrl"}
    assert tablestore == {"Fn::Join": ["", [
        "tablestore://", {"Fn::GetAtt": ["LedgerInstance", "InstanceName"]}, ".", {"Ref": "ALIYUN::Region"},
        ".ots.aliyuncs.com/", {"Ref": "LedgerTablePrefix"}]]}
    # The function is created after the instance: it refers to the instance's attribute (no DependsOn needed).
    assert "DependsOn" not in RESOURCES[name]


@pytest.mark.parametrize("name", ["myledger", "broker-ledger-01", "abc", "a2345678901234z9"])
def test_an_instance_name_the_template_accepts_is_one_the_broker_accepts(name):
    assert re.fullmatch(PARAMETERS["LedgerInstanceName"]["AllowedPattern"], name)
    location = parse_tablestore_url(f"tablestore://{name}.cn-shanghai.ots.aliyuncs.com")
    assert location.instance == name


@pytest.mark.parametrize("name", ["ab", "My-Ledger", "1ledger", "ledger-", "a23456789012345z9", "my_ledger"])
def test_the_template_refuses_a_name_tablestore_would(name):
    # 3-16 characters, a letter first, no trailing hyphen (CreateInstance); lowercase, as RAM resource names want
    # it (https://www.alibabacloud.com/help/en/tablestore/tablestore-ram-policy/).
    assert not re.fullmatch(PARAMETERS["LedgerInstanceName"]["AllowedPattern"], name)


@pytest.mark.parametrize("prefix", ["upload_broker", "staging", "_x", "a1", "p" * 63])
def test_the_tables_of_an_accepted_prefix_are_prefix_underscore_star(prefix):
    # The policy's resource is table/<prefix>_*: every table the broker names under this prefix must match it.
    assert re.fullmatch(PARAMETERS["LedgerTablePrefix"]["AllowedPattern"], prefix)
    location = parse_tablestore_url(f"tablestore://myledger.cn-shanghai.ots.aliyuncs.com/{prefix}")
    assert location.prefix == prefix + "_"
    assert all((location.prefix + spec.suffix).startswith(prefix + "_") for spec in TABLES)


@pytest.mark.parametrize("prefix", ["", "x", "staging_", "9lives", "a-b", "p" * 64])
def test_the_template_refuses_a_prefix_whose_tables_the_policy_would_not_cover(prefix):
    # A trailing "_" would give tables "staging_resources" outside "staging__*"; and what the broker refuses.
    assert not re.fullmatch(PARAMETERS["LedgerTablePrefix"]["AllowedPattern"], prefix)


def test_the_code_package_comes_from_oss_parameters():
    assert "Default" not in PARAMETERS["CodeOssBucket"]
    assert PARAMETERS["CodeOssObject"]["Default"].endswith(".zip")


@pytest.mark.parametrize("name", sorted(_of_type("ALIYUN::FC3::Function")))
def test_vpc_and_log_service_are_optional(name):
    properties = RESOURCES[name]["Properties"]
    vpc, no_vpc = _if_branches(properties["VpcConfig"], "HasVpc")
    assert set(vpc) == VPC_CONFIG_KEYS and no_vpc == {"Ref": "ALIYUN::NoValue"}
    assert vpc["VSwitchIds"] == [{"Ref": "VSwitchId"}]
    log, no_log = _if_branches(properties["LogConfig"], "HasLog")
    assert set(log) <= LOG_CONFIG_KEYS and {"Project", "Logstore"} <= set(log) and no_log == {"Ref": "ALIYUN::NoValue"}
    assert properties["InternetAccess"] is True


def test_conditions_are_on_empty_parameters():
    for condition, parameter in {"HasVpc": "VpcId", "HasLog": "LogProject", "HasDomain": "DomainName",
                                 "HasCert": "DomainCertificate"}.items():
        assert CONDITIONS[condition] == {"Fn::Not": {"Fn::Equals": ["", {"Ref": parameter}]}}
        assert PARAMETERS[parameter]["Default"] == ""
    for parameter in ("VSwitchId", "SecurityGroupId", "LogStore", "DomainCertName", "DomainPrivateKey"):
        assert PARAMETERS[parameter]["Default"] == ""
    assert set(CONDITIONS) == {"HasVpc", "HasLog", "HasDomain", "HasCert", "UseTablestore"}


def test_the_custom_domain_is_created_when_a_domain_is_given():
    (domain,) = _of_type("ALIYUN::FC3::CustomDomain").values()
    assert domain["Condition"] == "HasDomain"
    properties = domain["Properties"]
    assert properties["DomainName"] == {"Ref": "DomainName"}
    assert properties["Protocol"] == {"Fn::If": ["HasCert", "HTTP,HTTPS", "HTTP"]}
    cert, no_cert = _if_branches(properties["CertConfig"], "HasCert")
    assert set(cert) == {"CertName", "Certificate", "PrivateKey"} and no_cert == {"Ref": "ALIYUN::NoValue"}
    for route in properties["RouteConfig"]["Routes"]:
        assert set(route) <= ROUTE_KEYS and {"Path", "FunctionName", "Qualifier"} <= set(route)


def test_outputs_give_the_custom_domain_and_every_trigger_url():
    outputs = TEMPLATE["Outputs"]
    assert outputs["CustomDomain"] == {
        "Description": outputs["CustomDomain"]["Description"], "Condition": "HasDomain",
        "Value": {"Fn::GetAtt": ["CustomDomain", "DomainName"]}}
    trigger_urls = {o["Value"]["Fn::GetAtt"][0] for o in outputs.values()
                    if o["Value"].get("Fn::GetAtt", [None, None])[1] == "UrlInternet"}
    assert trigger_urls == set(_of_type("ALIYUN::FC3::Trigger"))


def test_the_role_is_assumable_by_function_compute_only():
    (role,) = _of_type("ALIYUN::RAM::Role").values()
    statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statements == [{"Action": "sts:AssumeRole", "Effect": "Allow",
                           "Principal": {"Service": ["fc.aliyuncs.com"]}}]
    for function in _of_type("ALIYUN::FC3::Function").values():
        assert function["Properties"]["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
