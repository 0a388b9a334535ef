"""Policy operations of the AWS-compatible API with boto3 and awscli (reference 3.1, 9.3): create, get,
list with pagination, versions (at most five, one default), deletion preconditions, and each error a
client can trigger, with AWS's exception names and statuses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from interop_support import Server, iot_client, unique

DOCUMENT = json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]})


def error_of(call) -> tuple[str, int, dict]:
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response


@pytest.fixture(scope="module")
def iot(server):
    return iot_client(server)


def test_create_get_and_arn(iot):
    name = unique("policy")
    created = iot.create_policy(policyName=name, policyDocument=DOCUMENT)
    assert created["policyName"] == name and created["policyVersionId"] == "1"
    assert created["policyArn"] == f"arn:aws:iot:us-east-1:123456789012:policy/{name}"
    got = iot.get_policy(policyName=name)
    assert json.loads(got["policyDocument"]) == json.loads(DOCUMENT)
    assert got["defaultVersionId"] == "1" and got["generationId"]
    assert got["creationDate"].year >= 2026, "timestamps are epoch seconds botocore turns into datetimes"


def test_refusals_have_aws_names_and_statuses(iot):
    name = unique("policy")
    iot.create_policy(policyName=name, policyDocument=DOCUMENT)
    code, status, response = error_of(lambda: iot.create_policy(policyName=name, policyDocument=DOCUMENT))
    assert (code, status) == ("ResourceAlreadyExistsException", 409)
    assert response["resourceId"] == name and response["resourceArn"].endswith(f":policy/{name}")
    assert error_of(lambda: iot.get_policy(policyName=unique("missing")))[:2] == ("ResourceNotFoundException", 404)
    assert error_of(lambda: iot.create_policy(policyName=unique("bad"), policyDocument="{not json"))[:2] == ("MalformedPolicyException", 400)
    bad_effect = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "iot:*", "Resource": "*"}]})
    code, status, response = error_of(lambda: iot.create_policy(policyName=unique("bad"), policyDocument=bad_effect))
    assert (code, status) == ("MalformedPolicyException", 400)
    assert "Statement[0].Effect" in response["Error"]["Message"], response["Error"]["Message"]
    not_iot = json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}})
    assert error_of(lambda: iot.create_policy(policyName=unique("bad"), policyDocument=not_iot))[:2] == ("MalformedPolicyException", 400)
    big = json.dumps({"Version": "2012-10-17", "Statement": [], "Padding": "x" * 2100})
    assert error_of(lambda: iot.create_policy(policyName=unique("big"), policyDocument=big))[:2] == ("MalformedPolicyException", 400)


def test_versions_limit_default_and_deletion_rules(iot):
    name = unique("policy")
    iot.create_policy(policyName=name, policyDocument=DOCUMENT)
    for _ in range(4):
        iot.create_policy_version(policyName=name, policyDocument=DOCUMENT)
    code, status, _ = error_of(lambda: iot.create_policy_version(policyName=name, policyDocument=DOCUMENT))
    assert (code, status) == ("VersionsLimitExceededException", 409)
    versions = iot.list_policy_versions(policyName=name)["policyVersions"]
    assert sorted(v["versionId"] for v in versions) == ["1", "2", "3", "4", "5"]
    assert [v["versionId"] for v in versions if v["isDefaultVersion"]] == ["1"]

    assert error_of(lambda: iot.delete_policy_version(policyName=name, policyVersionId="1"))[:2] == ("DeleteConflictException", 409)
    assert error_of(lambda: iot.delete_policy(policyName=name))[:2] == ("DeleteConflictException", 409)
    iot.set_default_policy_version(policyName=name, policyVersionId="3")
    assert iot.get_policy_version(policyName=name, policyVersionId="3")["isDefaultVersion"] is True
    assert iot.get_policy(policyName=name)["defaultVersionId"] == "3"
    for version in ["1", "2", "4", "5"]:
        iot.delete_policy_version(policyName=name, policyVersionId=version)
    created = iot.create_policy_version(policyName=name, policyDocument=DOCUMENT, setAsDefault=True)
    assert created["policyVersionId"] == "6" and created["isDefaultVersion"] is True
    iot.delete_policy_version(policyName=name, policyVersionId="3")
    iot.delete_policy(policyName=name)
    assert error_of(lambda: iot.get_policy(policyName=name))[0] == "ResourceNotFoundException"
    assert error_of(lambda: iot.get_policy_version(policyName=name, policyVersionId="6"))[0] == "ResourceNotFoundException"


def test_list_policies_pages_with_markers(iot):
    prefix = unique("page")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        iot.create_policy(policyName=name, policyDocument=DOCUMENT)
    seen, marker = [], None
    while True:
        kwargs = {"pageSize": 2, "ascendingOrder": True}
        if marker:
            kwargs["marker"] = marker
        page = iot.list_policies(**kwargs)
        assert len(page["policies"]) <= 2
        seen += [p["policyName"] for p in page["policies"]]
        marker = page.get("nextMarker")
        if not marker:
            break
    assert [n for n in seen if n.startswith(prefix)] == names, "creation order, every policy once"
    paginated = [p["policyName"] for page in iot.get_paginator("list_policies").paginate(PaginationConfig={"PageSize": 2})
                 for p in page["policies"]]
    assert set(names) <= set(paginated) and len(paginated) == len(set(paginated))
    assert error_of(lambda: iot.list_policies(marker="not-a-marker"))[:2] == ("InvalidRequestException", 400)


def test_awscli_create_and_get_policy(server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(server.data_dir / "admin" / "credentials"),
               AWS_CONFIG_FILE=str(server.data_dir / "admin" / "config"))
    aws = [str(Path(sys.executable).parent / "aws"), "--profile", "portcullis", "iot"]
    document = tmp_path / "policy.json"
    document.write_text(DOCUMENT)
    name = unique("cli-policy")
    created = subprocess.run(aws + ["create-policy", "--policy-name", name, "--policy-document", f"file://{document}"],
                             capture_output=True, text=True, env=env, timeout=60)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["policyName"] == name
    got = subprocess.run(aws + ["get-policy", "--policy-name", name], capture_output=True, text=True, env=env, timeout=60)
    assert got.returncode == 0 and json.loads(json.loads(got.stdout)["policyDocument"]) == json.loads(DOCUMENT)
    missing = subprocess.run(aws + ["get-policy", "--policy-name", unique("missing")], capture_output=True, text=True, env=env, timeout=60)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr


def test_policies_survive_a_restart(portcullis_bin, tmp_path):
    srv = Server(portcullis_bin, tmp_path).start()
    try:
        iot = iot_client(srv)
        iot.create_policy(policyName="kept", policyDocument=DOCUMENT)
        iot.create_policy_version(policyName="kept", policyDocument=DOCUMENT, setAsDefault=True)
        iot.create_policy(policyName="dropped", policyDocument=DOCUMENT)
        iot.delete_policy(policyName="dropped")
        srv.stop()
        srv.start()
        iot = iot_client(srv)
        kept = iot.get_policy(policyName="kept")
        assert kept["defaultVersionId"] == "2"
        assert [p["policyName"] for p in iot.list_policies()["policies"]] == ["kept"]
        assert iot.create_policy_version(policyName="kept", policyDocument=DOCUMENT)["policyVersionId"] == "3"
    finally:
        srv.stop()
