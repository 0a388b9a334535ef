#!/usr/bin/env python3
"""Generates sigv4-botocore.json: requests signed by botocore's own signer at a frozen clock.

Run with any botocore (the fixture records the version it was made with):
    python3 Tests/AWSSigV4Tests/Fixtures/generate.py > Tests/AWSSigV4Tests/Fixtures/sigv4-botocore.json

Two groups:
- "suite": the AWS SigV4 test suite's request shapes (credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z,
  us-east-1, service "service"), signed with botocore.auth.SigV4Auth. get-vanilla is checked against the
  suite's published signature, so the generator itself is checked.
- "clients": what the real `iot` and `iot-data` clients send (endpoint https://localhost:8443), captured
  before sending, in the header form and, for GET operations, the presigned-query form. The iot-data
  paths carry percent-encoded `$` and `/` (topics), where the canonical URI is built from the raw path.
"""
import datetime
import hashlib
import json
import sys

import botocore
import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FROZEN = datetime.datetime(2015, 8, 30, 12, 36, 0, tzinfo=datetime.timezone.utc)
botocore.auth.get_current_datetime = lambda: FROZEN
SUITE_KEY = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
GET_VANILLA_SIGNATURE = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


def record(name, request, body=b"", note=""):
    from urllib.parse import urlsplit
    parts = urlsplit(request.url)
    headers = [[k, v if isinstance(v, str) else v.decode()] for k, v in request.headers.items()]
    # botocore signs the host from the URL; the HTTP client adds the header on the wire.
    if not any(k.lower() == "host" for k, _ in headers):
        headers.append(["Host", parts.netloc])
    return {
        "name": name,
        "note": note,
        "method": request.method,
        "path": parts.path or "/",
        "query": parts.query,
        "headers": headers,
        "bodyBase64": __import__("base64").b64encode(body).decode(),
        "bodySHA256": hashlib.sha256(body).hexdigest(),
    }


def suite():
    creds = Credentials(*SUITE_KEY)
    cases = [
        ("get-vanilla", "GET", "https://example.amazonaws.com/", {}, b""),
        ("get-vanilla-query-order", "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", {}, b""),
        ("get-vanilla-query-order-value", "GET", "https://example.amazonaws.com/?Param1=value2&Param1=Value1", {}, b""),
        ("get-vanilla-query-unreserved", "GET",
         "https://example.amazonaws.com/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", {}, b""),
        ("get-vanilla-empty-query-key", "GET", "https://example.amazonaws.com/?Param1=value1", {}, b""),
        ("get-utf8", "GET", "https://example.amazonaws.com/%E1%88%B4", {}, b""),
        ("get-space", "GET", "https://example.amazonaws.com/example%20space/", {}, b""),
        ("get-slash", "GET", "https://example.amazonaws.com//example/", {}, b""),
        ("get-slashes", "GET", "https://example.amazonaws.com//example//", {}, b""),
        ("get-relative", "GET", "https://example.amazonaws.com/example/..", {}, b""),
        ("get-relative-relative", "GET", "https://example.amazonaws.com/example1/example2/../..", {}, b""),
        ("get-slash-dot-slash", "GET", "https://example.amazonaws.com/./", {}, b""),
        ("get-header-value-trim", "GET", "https://example.amazonaws.com/", {"My-Header1": " value1", "My-Header2": ' "a   b   c"'}, b""),
        ("get-header-key-duplicate", "GET", "https://example.amazonaws.com/", {"My-Header1": "value2,value2,value1"}, b""),
        ("post-vanilla", "POST", "https://example.amazonaws.com/", {}, b""),
        ("post-vanilla-query", "POST", "https://example.amazonaws.com/?Param1=value1", {}, b""),
        ("post-header-key-case", "POST", "https://example.amazonaws.com/", {}, b""),
        ("post-header-value-case", "POST", "https://example.amazonaws.com/", {"My-Header1": "VALUE1"}, b""),
        ("post-x-www-form-urlencoded", "POST", "https://example.amazonaws.com/",
         {"Content-Type": "application/x-www-form-urlencoded"}, b"Param1=value1"),
        ("post-x-www-form-urlencoded-parameters", "POST", "https://example.amazonaws.com/",
         {"Content-Type": "application/x-www-form-urlencoded; charset=utf8"}, b"Param1=value1"),
    ]
    out = []
    for name, method, url, headers, body in cases:
        request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
        botocore.auth.SigV4Auth(creds, "service", "us-east-1").add_auth(request)
        if name == "get-vanilla":
            assert request.headers["Authorization"].endswith("Signature=" + GET_VANILLA_SIGNATURE), "botocore disagrees with the suite"
        out.append(record(name, request, body))
    return out


def clients():
    session = botocore.session.get_session()
    creds = ("AKIAPORTCULLISTEST01", "portcullis/test+secret/key0000000000000000")
    captured = []

    def capture(request, **_):
        captured.append(request)
        from botocore.awsrequest import AWSResponse

        class Raw:
            def stream(self, **_):
                yield b"{}"

        return AWSResponse(request.url, 200, {}, Raw())

    out = []
    for service in ("iot", "iot-data"):
        client = session.create_client(
            service, region_name="eu-west-1", endpoint_url="https://localhost:8443",
            aws_access_key_id=creds[0], aws_secret_access_key=creds[1])
        client.meta.events.register("before-send", capture)
        calls = {
            "iot": [
                ("CreateThing", "create_thing", {"thingName": "sensor-1", "attributePayload": {"attributes": {"room": "a/b c"}}}),
                ("ListThings", "list_things", {"maxResults": 5, "attributeName": "room", "attributeValue": "a b/c"}),
                ("DescribeThing", "describe_thing", {"thingName": "sensor:1_x-y"}),
                ("UpdateCertificate", "update_certificate", {"certificateId": "ab" * 32, "newStatus": "REVOKED"}),
                ("AttachThingPrincipal", "attach_thing_principal",
                 {"thingName": "sensor-1", "principal": "arn:aws:iot:eu-west-1:123456789012:cert/" + "ab" * 32}),
                ("CreatePolicy", "create_policy", {"policyName": "p1", "policyDocument": json.dumps({"Version": "2012-10-17", "Statement": []})}),
            ],
            "iot-data": [
                ("Publish", "publish", {"topic": "$aws/things/t1/shadow/update", "qos": 1, "payload": b'{"state":{}}'}),
                ("PublishUnicode", "publish", {"topic": "caf\u00e9/+ #/x", "payload": b"\x00\x01"}),
                ("GetThingShadow", "get_thing_shadow", {"thingName": "t1", "shadowName": "named/one"}),
                ("GetRetainedMessage", "get_retained_message", {"topic": "$aws/rules/x y"}),
            ],
        }[service]
        for name, method, params in calls:
            captured.clear()
            getattr(client, method)(**params)
            request = captured[-1]
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            out.append(record(f"{service}:{name}", request, body))
        for name, method, params in calls:
            if not method.startswith(("get_", "list_", "describe_")):
                continue
            url = client.generate_presigned_url(method, Params=params, ExpiresIn=300)
            request = AWSRequest(method="GET", url=url, headers={"Host": "localhost:8443"})
            out.append(record(f"{service}:{name}:presigned", request, b"", note="expires 300 s after the frozen clock"))
    return out, creds


client_cases, client_creds = clients()
json.dump({
    "generator": f"botocore {botocore.__version__}",
    "frozenTime": "2015-08-30T12:36:00Z",
    "suite": {"accessKeyID": SUITE_KEY[0], "secretAccessKey": SUITE_KEY[1], "region": "us-east-1", "cases": suite()},
    "clients": {"accessKeyID": client_creds[0], "secretAccessKey": client_creds[1], "region": "eu-west-1", "cases": client_cases},
}, sys.stdout, indent=1)
print()
