"""The AWS-compatible API on the wire (reference 9.1, 2.8): awscli and boto3 against `portcullis serve`
with the generated admin profile, and the refusals for unsigned, wrongly signed, expired and unknown
requests, each in AWS's error shape (status, `x-amzn-ErrorType`, body `__type` and `message`).
"""

from __future__ import annotations

import configparser
import datetime
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.auth
import botocore.config
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from interop_support import send_request as send, Server, admin_keys, endpoint, iot_client


def signed(server: Server, method: str, path: str, *, service: str = "iot", key: str | None = None,
           secret: str | None = None, at: datetime.datetime | None = None) -> AWSRequest:
    request = AWSRequest(method=method, url=endpoint(server) + path)
    default_key, default_secret = admin_keys(server)
    original = botocore.auth.get_current_datetime
    if at is not None:
        botocore.auth.get_current_datetime = lambda: at
    try:
        botocore.auth.SigV4Auth(Credentials(key or default_key, secret or default_secret), service, "us-east-1").add_auth(request)
    finally:
        botocore.auth.get_current_datetime = original
    return request


def assert_aws_error(status: int, headers: dict, body: dict, expected_status: int, expected_type: str) -> None:
    assert status == expected_status, (status, headers, body)
    assert headers.get("x-amzn-errortype") == expected_type
    assert body.get("__type") == expected_type and body.get("message"), body
    assert headers.get("x-amzn-requestid"), "every answer carries a request id"


def test_the_first_start_writes_an_admin_profile(server):
    credentials = server.data_dir / "admin" / "credentials"
    assert credentials.stat().st_mode & 0o077 == 0, "the secret is readable by its owner only"
    key, secret = admin_keys(server)
    assert key.startswith("AKIA") and len(key) == 20 and len(secret) == 40
    config = configparser.ConfigParser()
    config.read(server.data_dir / "admin" / "config")
    profile = config["profile portcullis"]
    assert profile["endpoint_url"] == endpoint(server)
    assert profile["region"] == "us-east-1"
    assert Path(profile["ca_bundle"]).read_text() == server.ca_cert.read_text()


def test_awscli_describe_endpoint_with_the_generated_profile(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(server.data_dir / "admin" / "credentials"),
               AWS_CONFIG_FILE=str(server.data_dir / "admin" / "config"))
    aws = Path(sys.executable).parent / "aws"
    result = subprocess.run([str(aws), "--profile", "portcullis", "iot", "describe-endpoint", "--endpoint-type", "iot:Data-ATS"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"endpointAddress": "localhost"}


def test_boto3_describe_endpoint_and_a_bad_endpoint_type(server):
    client = iot_client(server)
    assert client.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] == "localhost"
    with pytest.raises(ClientError) as refused:
        client.describe_endpoint(endpointType="iot:Nonsense")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_presigned_url_works_and_expires_in_the_signature(server):
    url = iot_client(server).generate_presigned_url("describe_endpoint", Params={"endpointType": "iot:Data-ATS"}, ExpiresIn=60)
    status, _, body = send(server, AWSRequest(method="GET", url=url))
    assert status == 200 and body == {"endpointAddress": "localhost"}
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=600")
    status, headers, body = send(server, AWSRequest(method="GET", url=tampered))
    assert_aws_error(status, headers, body, 403, "InvalidSignatureException")


def test_an_unsigned_request_is_refused(server):
    status, headers, body = send(server, AWSRequest(method="GET", url=endpoint(server) + "/endpoint"))
    assert_aws_error(status, headers, body, 403, "MissingAuthenticationTokenException")


def test_a_wrong_secret_is_an_invalid_signature(server):
    key, _ = admin_keys(server)
    with pytest.raises(ClientError) as refused:
        iot_client(server, key=key, secret="x" * 40).describe_endpoint()
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_unknown_access_key_is_unrecognized(server):
    with pytest.raises(ClientError) as refused:
        iot_client(server, key="AKIAAAAAAAAAAAAAAAAA", secret="y" * 40).describe_endpoint()
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_another_region_is_another_namespace(server):
    # Any AWS region name is served (test_namespaces.py has the rest); a name that is none is refused.
    assert iot_client(server, region="eu-west-1").describe_endpoint()["endpointAddress"] == "iot.eu-west-1.localhost"
    with pytest.raises(ClientError) as refused:
        iot_client(server, region="moon").describe_endpoint()
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_a_signature_older_than_fifteen_minutes_has_expired(server):
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    status, headers, body = send(server, signed(server, "GET", "/endpoint", at=old))
    assert_aws_error(status, headers, body, 403, "InvalidSignatureException")
    assert "expired" in body["message"].lower()
    recent = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    status, _, _ = send(server, signed(server, "GET", "/endpoint", at=recent))
    assert status == 200, "within the clock-skew window"


def test_unknown_operations_and_the_wrong_api_are_aws_shaped(server):
    status, headers, body = send(server, signed(server, "GET", "/no-such-operation"))
    assert_aws_error(status, headers, body, 404, "UnknownOperationException")
    status, headers, body = send(server, signed(server, "GET", "/endpoint", service="iotdata"))
    assert_aws_error(status, headers, body, 404, "UnknownOperationException")


def test_a_configured_key_pair_is_used_instead_of_a_generated_one(portcullis_bin, tmp_path):
    srv = Server(portcullis_bin, tmp_path, env={"PORTCULLIS_API_ACCESS_KEY_ID": "AKIAPORTCULLISTEST01",
                                                "PORTCULLIS_API_SECRET_ACCESS_KEY": "test-secret-key-0123456789"}).start()
    try:
        assert not (srv.data_dir / "admin" / "credentials").exists(), "nothing secret written when configured"
        client = boto3.client("iot", region_name="us-east-1", endpoint_url=endpoint(srv), verify=str(srv.ca_cert),
                              aws_access_key_id="AKIAPORTCULLISTEST01", aws_secret_access_key="test-secret-key-0123456789")
        assert client.describe_endpoint()["endpointAddress"] == "localhost"
    finally:
        srv.stop()
