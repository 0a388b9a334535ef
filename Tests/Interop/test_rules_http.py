"""The rules engine's http action and topic rule destinations (issue 18): a destination is confirmed by the token
the gateway posts to its URL (the enableUrl opened unsigned enables it; ConfirmTopicRuleDestination leaves it
DISABLED, as AWS's guide says); only then does an http action post there; AWS's retries on 5xx end in the error
action; batching sends a JSON array; SigV4 signing uses the configured rules key; https only unless allowed."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from interop_support import PahoClient, Server, aws_error, iot_client, unique, wait_until

ROLE = "arn:aws:iam::123456789012:role/rules"
SIGNING_KEY, SIGNING_SECRET = "AKIARULESSIGNING0001", "rules-signing-secret-for-tests-only-000"


class Endpoint:
    """A local HTTP server that records every request; `status` picks the answer per path prefix."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status: dict[str, int] = {}
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with endpoint.lock:
                    endpoint.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                    status = next((code for prefix, code in endpoint.status.items() if self.path.startswith(prefix)), 200)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def received(self, prefix: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(prefix)]

    def posts(self, prefix: str) -> list[dict]:
        """What the http actions sent under `prefix` (not the destinations' confirmation messages)."""
        return [r for r in self.received(prefix) if "confirmationToken=" not in r["path"]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def endpoint():
    server = Endpoint()
    yield server
    server.close()


@pytest.fixture(scope="module")
def gw(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("rules-http"),
                 config={"rules": {"allowInsecureURLs": True, "signingAccessKeyID": SIGNING_KEY, "signingSecretAccessKey": SIGNING_SECRET,
                                   "statisticsIntervalSeconds": 1}})
    srv.start()
    yield srv
    srv.stop()


def rule_name() -> str:
    return unique("rule").replace("-", "_")


def confirmation(endpoint: Endpoint, prefix: str) -> dict:
    """The confirmation message the gateway posted under `prefix`."""
    got = wait_until(lambda: [r for r in endpoint.received(prefix) if "confirmationToken=" in r["path"]])
    return got[-1]


def destination(iot, url: str) -> dict:
    found = [d for d in iot.list_topic_rule_destinations()["destinationSummaries"] if d.get("httpUrlSummary", {}).get("confirmationUrl") == url]
    assert len(found) == 1, found
    return found[0]


def open_enable_url(gw: Server, url: str) -> int:
    """Browse to the enableUrl: a plain, unsigned GET."""
    context = ssl.create_default_context(cafile=str(gw.ca_cert))
    with urllib.request.urlopen(url, context=context, timeout=10) as answer:
        return answer.status


def test_a_confirmed_destination_lets_the_http_action_post(gw, endpoint):
    iot = iot_client(gw)
    tag = unique("h")
    base = f"{endpoint.base}/{tag}/"
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT reading, topic(2) AS room FROM '{tag}/+/data'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"http": {"url": f"{base}ingest/${{topic(2)}}", "confirmationUrl": base,
                              "headers": [{"key": "x-room", "value": "${topic(2)}"}]}}],
        "errorAction": {"republish": {"roleArn": ROLE, "topic": f"{tag}/errors"}}})
    # The rule implied a destination for its confirmationUrl, IN_PROGRESS, and the token went to the URL.
    sent = confirmation(endpoint, f"/{tag}/")
    assert sent["path"].startswith(f"/{tag}/?confirmationToken=")
    body = json.loads(sent["body"])
    summary = destination(iot, base)
    assert summary["status"] == "IN_PROGRESS"
    assert body["arn"] == summary["arn"] and body["messageType"] == "DestinationConfirmation"
    assert sent["headers"]["x-amz-rules-engine-message-type"] == "DestinationConfirmation"
    assert sent["headers"]["x-amz-rules-engine-destination-arn"] == summary["arn"]
    assert urllib.parse.unquote(sent["path"].split("confirmationToken=", 1)[1]) == body["confirmationToken"]
    assert body["enableUrl"].endswith(f"/confirmdestination/{body['confirmationToken']}")

    device = gw.mint("http-device")
    client = PahoClient(gw, device, unique("sensor")).connect()
    try:
        # Not confirmed yet: nothing is posted, and the error action says why (awaited, so the early message is
        # done with before the destination is enabled, however busy the machine).
        client.subscribe(f"{tag}/errors")
        assert client.publish(f"{tag}/early/data", json.dumps({"reading": 1}), qos=1) == 0
        early = json.loads(client.wait_message(f"{tag}/errors").payload)
        assert "No ENABLED topic rule destination" in early["failures"][0]["errorMessage"]
        # Browsing to the enableUrl (unsigned) enables it.
        assert open_enable_url(gw, body["enableUrl"]) == 200
        assert iot.get_topic_rule_destination(arn=summary["arn"])["topicRuleDestination"]["status"] == "ENABLED"
        # A spent token does not confirm again.
        with pytest.raises(urllib.error.HTTPError) as spent:
            open_enable_url(gw, body["enableUrl"])
        assert spent.value.code == 400
        assert client.publish(f"{tag}/kitchen/data", json.dumps({"reading": 42}), qos=1) == 0
        posted = wait_until(lambda: endpoint.posts(f"/{tag}/ingest/"))
        assert [p["path"] for p in posted] == [f"/{tag}/ingest/kitchen"], "the early message was never sent"
        assert json.loads(posted[0]["body"]) == {"reading": 42, "room": "kitchen"}
        assert posted[0]["headers"]["content-type"] == "application/json"
        assert posted[0]["headers"]["x-room"] == "kitchen"
    finally:
        client.close()


def test_api_confirmation_disables_and_update_enables_resends_and_deletes(gw, endpoint):
    iot = iot_client(gw)
    tag = unique("d")
    url = f"{endpoint.base}/{tag}/"
    made = iot.create_topic_rule_destination(destinationConfiguration={"httpUrlConfiguration": {"confirmationUrl": url}})["topicRuleDestination"]
    assert made["status"] == "IN_PROGRESS" and made["httpUrlProperties"] == {"confirmationUrl": url}
    assert made["arn"].startswith("arn:aws:iot:us-east-1:") and ":ruledestination/http/" in made["arn"]
    assert aws_error(lambda: iot.create_topic_rule_destination(
        destinationConfiguration={"httpUrlConfiguration": {"confirmationUrl": url}}))[0] == "ResourceAlreadyExistsException"
    # Enabling before confirmation is refused.
    assert aws_error(lambda: iot.update_topic_rule_destination(arn=made["arn"], status="ENABLED"))[0] == "InvalidRequestException"
    token = json.loads(confirmation(endpoint, f"/{tag}/")["body"])["confirmationToken"]
    iot.confirm_topic_rule_destination(confirmationToken=token)
    assert iot.get_topic_rule_destination(arn=made["arn"])["topicRuleDestination"]["status"] == "DISABLED"
    iot.update_topic_rule_destination(arn=made["arn"], status="ENABLED")
    assert iot.get_topic_rule_destination(arn=made["arn"])["topicRuleDestination"]["status"] == "ENABLED"
    # IN_PROGRESS sends a new challenge with a new token.
    iot.update_topic_rule_destination(arn=made["arn"], status="IN_PROGRESS")
    second = wait_until(lambda: [r for r in endpoint.received(f"/{tag}/") if "confirmationToken=" in r["path"]][1:])
    assert json.loads(second[-1]["body"])["confirmationToken"] != token
    assert aws_error(lambda: iot.confirm_topic_rule_destination(confirmationToken=token))[0] == "InvalidRequestException"
    iot.delete_topic_rule_destination(arn=made["arn"])
    code, status = aws_error(lambda: iot.get_topic_rule_destination(arn=made["arn"]))
    assert (code, status) == ("UnauthorizedException", 401)
    assert aws_error(lambda: iot.delete_topic_rule_destination(arn=made["arn"]))[0] == "UnauthorizedException"


def test_an_unreachable_confirmation_url_puts_the_destination_in_error(gw):
    iot = iot_client(gw)
    # A port nothing listens on (bound, then closed).
    import socket
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    made = iot.create_topic_rule_destination(
        destinationConfiguration={"httpUrlConfiguration": {"confirmationUrl": f"http://127.0.0.1:{port}/nobody/"}})["topicRuleDestination"]
    got = wait_until(lambda: (d := iot.get_topic_rule_destination(arn=made["arn"])["topicRuleDestination"])["status"] == "ERROR" and d,
                     timeout=30)
    assert "could not be delivered" in got["statusReason"]


def enabled_destination(iot, gw: Server, endpoint: Endpoint, url: str) -> None:
    made = iot.create_topic_rule_destination(destinationConfiguration={"httpUrlConfiguration": {"confirmationUrl": url}})["topicRuleDestination"]
    path = urllib.parse.urlparse(url).path
    body = json.loads(confirmation(endpoint, path)["body"])
    assert open_enable_url(gw, body["enableUrl"]) == 200
    assert iot.get_topic_rule_destination(arn=made["arn"])["topicRuleDestination"]["status"] == "ENABLED"


def test_server_errors_are_retried_then_go_to_the_error_action(gw, endpoint):
    iot = iot_client(gw)
    tag = unique("r")
    url = f"{endpoint.base}/{tag}/"
    enabled_destination(iot, gw, endpoint, url)
    endpoint.status[f"/{tag}/broken"] = 503
    name = rule_name()
    iot.create_topic_rule(ruleName=name, topicRulePayload={
        "sql": f"SELECT * FROM '{tag}/in'",
        "actions": [{"http": {"url": f"{url}broken"}}, {"http": {"url": f"{url}fine"}}],
        "errorAction": {"republish": {"roleArn": ROLE, "topic": f"{tag}/errors"}}})
    device = gw.mint("retry-device")
    client = PahoClient(gw, device, unique("retry")).connect()
    try:
        client.subscribe(f"{tag}/errors")
        assert client.publish(f"{tag}/in", b'{"v": 1}', qos=1) == 0
        error = json.loads(client.wait_message(f"{tag}/errors", timeout=30).payload)
        assert error["ruleName"] == name and error["topic"] == f"{tag}/in"
        assert [f["failedAction"] for f in error["failures"]] == ["HttpAction"]
        assert error["failures"][0]["failedResource"] == f"{url}broken"
        assert "StatusCode: 503" in error["failures"][0]["errorMessage"] and "after 2 retries" in error["failures"][0]["errorMessage"]
        # Three tries at the broken URL, one at the fine one (each constant url also implied a destination of
        # its own, whose confirmation was posted there: those are not counted).
        assert len(endpoint.posts(f"/{tag}/broken")) == 3
        assert len(endpoint.posts(f"/{tag}/fine")) == 1
    finally:
        client.close()


def test_an_http_action_without_an_enabled_destination_fails_into_the_error_action(gw, endpoint):
    iot = iot_client(gw)
    tag = unique("n")
    # The url's destination is implied (IN_PROGRESS) but never confirmed.
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT * FROM '{tag}/in'", "actions": [{"http": {"url": f"{endpoint.base}/{tag}/x"}}],
        "errorAction": {"republish": {"roleArn": ROLE, "topic": f"{tag}/errors"}}})
    device = gw.mint("unconfirmed-device")
    client = PahoClient(gw, device, unique("u")).connect()
    try:
        client.subscribe(f"{tag}/errors")
        assert client.publish(f"{tag}/in", b"{}", qos=1) == 0
        error = json.loads(client.wait_message(f"{tag}/errors").payload)
        assert "No ENABLED topic rule destination" in error["failures"][0]["errorMessage"]
        assert endpoint.posts(f"/{tag}/") == []
    finally:
        client.close()


def test_batching_posts_a_json_array(gw, endpoint):
    iot = iot_client(gw)
    tag = unique("b")
    url = f"{endpoint.base}/{tag}/"
    enabled_destination(iot, gw, endpoint, url)
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT n FROM '{tag}/in'",
        "actions": [{"http": {"url": f"{url}batch", "enableBatching": True, "batchConfig": {"maxBatchSize": 3, "maxBatchOpenMs": 200}}}]})
    device = gw.mint("batch-device")
    client = PahoClient(gw, device, unique("b")).connect()
    try:
        # Six messages in a burst: they go as JSON arrays of at most 3 (how they split depends on how fast the
        # machine takes them within the 200 ms window, so only the bounds are checked, and that batches formed).
        for n in range(6):
            client.publish(f"{tag}/in", json.dumps({"n": n}), qos=0)

        def batched():
            posts = endpoint.posts(f"/{tag}/batch")
            return posts if sum(len(json.loads(p["body"])) for p in posts) >= 6 else None
        posted = wait_until(batched)
        bodies = [json.loads(p["body"]) for p in posted]
        assert all(isinstance(body, list) and 1 <= len(body) <= 3 for body in bodies), bodies
        assert sorted(item["n"] for body in bodies for item in body) == list(range(6))
        assert len(bodies) < 6, "nothing was batched"
        assert all(p["headers"]["content-type"] == "application/json" for p in posted)
    finally:
        client.close()


def test_sigv4_signs_with_the_configured_rules_key(gw, endpoint):
    iot = iot_client(gw)
    tag = unique("s")
    url = f"{endpoint.base}/{tag}/"
    enabled_destination(iot, gw, endpoint, url)
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT * FROM '{tag}/in'",
        "actions": [{"http": {"url": f"{url}signed?x=1", "auth": {"sigv4": {"signingRegion": "eu-west-1", "serviceName": "execute-api",
                                                                          "roleArn": ROLE}}}}]})
    device = gw.mint("sigv4-device")
    client = PahoClient(gw, device, unique("s")).connect()
    try:
        assert client.publish(f"{tag}/in", b'{"a": 1}', qos=1) == 0
        request = wait_until(lambda: endpoint.posts(f"/{tag}/signed"))[0]
    finally:
        client.close()
    headers = request["headers"]
    authorization = headers["authorization"]
    amz_date = headers["x-amz-date"]
    scope = f"{amz_date[:8]}/eu-west-1/execute-api/aws4_request"
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={SIGNING_KEY}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, ")
    # The signature, computed here independently from the request as received.
    payload_hash = hashlib.sha256(request["body"]).hexdigest()
    assert headers["x-amz-content-sha256"] == payload_hash
    canonical = "\n".join(["POST", f"/{tag}/signed", "x=1", f"host:{headers['host']}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n",
                           "host;x-amz-content-sha256;x-amz-date", payload_hash])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SIGNING_SECRET).encode()
    for part in (amz_date[:8], "eu-west-1", "execute-api", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert authorization.endswith("Signature=" + hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest())


def test_plain_http_is_refused_unless_allowed(portcullis_bin, tmp_path, endpoint):
    srv = Server(portcullis_bin, tmp_path / "https-only").start()
    try:
        iot = iot_client(srv)
        code, status = aws_error(lambda: iot.create_topic_rule_destination(
            destinationConfiguration={"httpUrlConfiguration": {"confirmationUrl": f"{endpoint.base}/x/"}}))
        assert (code, status) == ("InvalidRequestException", 400)
        code, _ = aws_error(lambda: iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
            "sql": "SELECT * FROM 'a'", "actions": [{"http": {"url": f"{endpoint.base}/x/y"}}]}))
        assert code == "InvalidRequestException"
        # An https URL is fine: the destination waits for its confirmation.
        made = iot.create_topic_rule_destination(
            destinationConfiguration={"httpUrlConfiguration": {"confirmationUrl": "https://127.0.0.1:1/x/"}})["topicRuleDestination"]
        assert made["status"] == "IN_PROGRESS"
        # A VPC destination needs no confirmation here.
        vpc = iot.create_topic_rule_destination(destinationConfiguration={"vpcConfiguration": {
            "subnetIds": ["subnet-1"], "vpcId": "vpc-1", "roleArn": ROLE}})["topicRuleDestination"]
        assert vpc["status"] == "ENABLED" and vpc["vpcProperties"]["vpcId"] == "vpc-1" and ":ruledestination/vpc/" in vpc["arn"]
    finally:
        srv.stop()


def test_unsigned_requests_reach_only_the_confirmation_and_find_its_region(gw, endpoint):
    context = ssl.create_default_context(cafile=str(gw.ca_cert))
    api = f"https://localhost:{gw.api_port}"

    def unsigned(path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(api + path, context=context, timeout=10) as answer:
                return answer.status, {}
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read() or b"{}")

    # Nothing else answers without a signature.
    status, _ = unsigned("/destinations")
    assert status == 403
    # A made-up token is refused, in AWS's shape, whatever namespace it names.
    for token in ["nonsense", "123456789012.eu-west-1.AAAA", "999999999999.us-west-2.AAAA"]:
        status, body = unsigned(f"/confirmdestination/{token}")
        assert status == 400 and "confirmation token" in body.get("message", ""), (token, status, body)
    # A destination of another region is confirmed in its own namespace.
    eu = iot_client(gw, region="eu-west-1")
    tag = unique("eu")
    made = eu.create_topic_rule_destination(
        destinationConfiguration={"httpUrlConfiguration": {"confirmationUrl": f"{endpoint.base}/{tag}/"}})["topicRuleDestination"]
    assert made["arn"].startswith("arn:aws:iot:eu-west-1:")
    body = json.loads(confirmation(endpoint, f"/{tag}/")["body"])
    assert body["confirmationToken"].split(".")[1] == "eu-west-1"
    assert open_enable_url(gw, body["enableUrl"]) == 200
    assert eu.get_topic_rule_destination(arn=made["arn"])["topicRuleDestination"]["status"] == "ENABLED"
    assert aws_error(lambda: iot_client(gw).get_topic_rule_destination(arn=made["arn"]))[0] == "UnauthorizedException"


def test_each_rule_logs_what_it_did(gw, endpoint):
    iot = iot_client(gw)
    tag, name = unique("st"), rule_name()
    iot.create_topic_rule(ruleName=name, topicRulePayload={
        "sql": f"SELECT * FROM '{tag}/in' WHERE n > 0", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/out"}}, {"http": {"url": f"{endpoint.base}/{tag}/never-confirmed"}}],
        "errorAction": {"republish": {"roleArn": ROLE, "topic": f"{tag}/errors"}}})
    device = gw.mint("stats-device")
    client = PahoClient(gw, device, unique("st")).connect()
    try:
        for n in (1, 2, 0):  # the last one fails WHERE: matched, not evaluated
            assert client.publish(f"{tag}/in", json.dumps({"n": n}), qos=1) == 0

        def totals():
            lines = gw.find_log(message="topic rule statistics", ruleName=name)
            keys = ("matched", "evaluated", "actionsSucceeded", "actionsFailed", "errorActions")
            return {k: sum(int(line[k]) for line in lines) for k in keys}
        expected = {"matched": 3, "evaluated": 2, "actionsSucceeded": 2, "actionsFailed": 2, "errorActions": 2}
        assert wait_until(lambda: totals() == expected, timeout=15), totals()
        line = gw.find_log(message="topic rule statistics", ruleName=name)[0]
        assert line["region"] == "us-east-1" and line["account"] == "123456789012"
    finally:
        client.close()
