"""template.yml is a plain ROS template of Function Compute 3.0 resources with the documented property names.

Property names are those of the ROS resource type references (ALIYUN::FC3::Function, ALIYUN::FC3::Trigger,
ALIYUN::FC3::CustomDomain, ALIYUN::RAM::Role); a misspelt one would only fail when a stack is created.
Agreement with s.yaml, openapi.yaml and functions/ is tests/unit/test_deploy_agreement.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "template.yml").read_text()
TEMPLATE = yaml.safe_load(TEXT)
PARAMETERS = TEMPLATE["Parameters"]
RESOURCES = TEMPLATE["Resources"]
CONDITIONS = TEMPLATE.get("Conditions", {})

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
}
ROUTE_KEYS = {"Path", "FunctionName", "Qualifier", "RewriteConfig", "Methods"}
LOG_CONFIG_KEYS = {"Project", "Logstore", "LogBeginRule", "EnableInstanceMetrics", "EnableRequestMetrics"}
VPC_CONFIG_KEYS = {"VpcId", "VSwitchIds", "SecurityGroupId"}
PSEUDO_PARAMETERS = {"ALIYUN::NoValue", "ALIYUN::StackName", "ALIYUN::StackId", "ALIYUN::Region",
                     "ALIYUN::AccountId"}
SECRETS = ("JwtSecret", "WangsuAccessKey", "WangsuSecretKey", "LedgerUrl", "DomainPrivateKey")


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
    assert set(resource) <= {"Type", "Properties", "Condition", "DependsOn", "Metadata"}


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


def test_secret_parameters_are_not_echoed():
    for name in SECRETS:
        assert PARAMETERS[name].get("NoEcho") is True, name


def test_the_ledger_url_is_required():
    # Without it a function refuses to start on FC (the SQLite ledger is for local use only).
    assert "Default" not in PARAMETERS["LedgerUrl"]


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
