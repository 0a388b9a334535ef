"""The device shadow from outside (reference 5): the AWS IoT Device SDK v2's shadow client as the device
(mutual TLS, MQTT 3.1.1 with IotShadowClient and MQTT 5 with IotShadowClientV2), paho-mqtt for MQTT 5 errors, boto3's iot-data as the app; classic and named shadows,
deltas, versions and error documents, authorization by policies, a restart, and a thing's deletion."""

from __future__ import annotations

import json
import threading
import time

import boto3
import botocore.config
import pytest

from interop_support import V5, V311, PahoClient, Server, aws_error, endpoint, iot_client, unique, wait_until
from test_data_plane_keys import make_key

ACCOUNT_ARN = "arn:aws:iot:us-east-1:123456789012"


def data_client(server, key=None, secret=None):
    from interop_support import admin_keys
    default_key, default_secret = admin_keys(server)
    return boto3.client("iot-data", region_name="us-east-1", endpoint_url=endpoint(server), verify=str(server.ca_cert),
                        aws_access_key_id=key or default_key, aws_secret_access_key=secret or default_secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def shadow_of(data, thing: str, name: str | None = None) -> dict:
    kwargs = {"thingName": thing} if name is None else {"thingName": thing, "shadowName": name}
    return json.loads(data.get_thing_shadow(**kwargs)["payload"].read())


class SDKDevice:
    """The AWS IoT Device SDK v2 for Python as a device: an MQTT 3.1.1 connection over mutual TLS and
    its IotShadowClient, with every callback recorded."""

    def __init__(self, server, device, thing: str):
        from awscrt import mqtt
        from awsiot import iotshadow, mqtt_connection_builder
        self.mqtt, self.shadow_api, self.thing = mqtt, iotshadow, thing
        self.connection = mqtt_connection_builder.mtls_from_path(
            endpoint="localhost", port=server.port, cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
            ca_filepath=str(server.ca_cert), client_id=thing, clean_session=True, keep_alive_secs=30)
        self.connection.connect().result(15)
        self.client = iotshadow.IotShadowClient(self.connection)
        self.events: dict[str, list] = {}
        self.cond = threading.Condition()

    def record(self, kind: str):
        def callback(response):
            with self.cond:
                self.events.setdefault(kind, []).append(response)
                self.cond.notify_all()
        return callback

    def wait(self, kind: str, count: int = 1, timeout: float = 10.0) -> list:
        with self.cond:
            self.cond.wait_for(lambda: len(self.events.get(kind, [])) >= count, timeout)
            got = list(self.events.get(kind, []))
        assert len(got) >= count, f"{kind}: {len(got)} of {count} within {timeout}s ({list(self.events)})"
        return got

    def subscribe(self, name: str | None = None):
        s, q, t = self.shadow_api, self.mqtt.QoS.AT_LEAST_ONCE, self.thing
        if name is None:
            pairs = [
                (self.client.subscribe_to_update_shadow_accepted, s.UpdateShadowSubscriptionRequest(thing_name=t), "update/accepted"),
                (self.client.subscribe_to_update_shadow_rejected, s.UpdateShadowSubscriptionRequest(thing_name=t), "update/rejected"),
                (self.client.subscribe_to_shadow_delta_updated_events, s.ShadowDeltaUpdatedSubscriptionRequest(thing_name=t), "delta"),
                (self.client.subscribe_to_shadow_updated_events, s.ShadowUpdatedSubscriptionRequest(thing_name=t), "documents"),
                (self.client.subscribe_to_get_shadow_accepted, s.GetShadowSubscriptionRequest(thing_name=t), "get/accepted"),
                (self.client.subscribe_to_get_shadow_rejected, s.GetShadowSubscriptionRequest(thing_name=t), "get/rejected"),
                (self.client.subscribe_to_delete_shadow_accepted, s.DeleteShadowSubscriptionRequest(thing_name=t), "delete/accepted"),
                (self.client.subscribe_to_delete_shadow_rejected, s.DeleteShadowSubscriptionRequest(thing_name=t), "delete/rejected"),
            ]
        else:
            pairs = [
                (self.client.subscribe_to_update_named_shadow_accepted,
                 s.UpdateNamedShadowSubscriptionRequest(thing_name=t, shadow_name=name), f"{name}:update/accepted"),
                (self.client.subscribe_to_named_shadow_delta_updated_events,
                 s.NamedShadowDeltaUpdatedSubscriptionRequest(thing_name=t, shadow_name=name), f"{name}:delta"),
                (self.client.subscribe_to_get_named_shadow_accepted,
                 s.GetNamedShadowSubscriptionRequest(thing_name=t, shadow_name=name), f"{name}:get/accepted"),
                (self.client.subscribe_to_delete_named_shadow_accepted,
                 s.DeleteNamedShadowSubscriptionRequest(thing_name=t, shadow_name=name), f"{name}:delete/accepted"),
            ]
        for subscribe, request, kind in pairs:
            future, _ = subscribe(request=request, qos=q, callback=self.record(kind))
            future.result(10)

    def close(self):
        try:
            self.connection.disconnect().result(10)
        except Exception:
            pass


@pytest.fixture
def sdk_device(server):
    made = []

    def make(thing: str | None = None):
        thing = thing or unique("shadow-thing")
        iot_client(server).create_thing(thingName=thing)
        device = SDKDevice(server, server.mint(unique("shadow-cert")), thing)
        made.append(device)
        return device
    yield make
    for device in made:
        device.close()


def test_sdk_device_and_boto3_app_on_the_classic_shadow(server, sdk_device):
    device = sdk_device()
    s, q = device.shadow_api, device.mqtt.QoS.AT_LEAST_ONCE
    device.subscribe()
    data = data_client(server)

    # The device asks for a shadow that does not exist yet.
    device.client.publish_get_shadow(s.GetShadowRequest(thing_name=device.thing, client_token="g1"), q).result(10)
    rejected = device.wait("get/rejected")[0]
    assert rejected.code == 404 and rejected.message == f"No shadow exists with name: '{device.thing}'" and rejected.client_token == "g1"

    # The device reports; the app sets desired; the device hears the delta.
    device.client.publish_update_shadow(s.UpdateShadowRequest(thing_name=device.thing, client_token="r1",
                                                              state=s.ShadowState(reported={"on": False, "fw": "1.0"})), q).result(10)
    accepted = device.wait("update/accepted")[0]
    assert accepted.version == 1 and accepted.state.reported == {"on": False, "fw": "1.0"} and accepted.client_token == "r1"
    assert accepted.metadata.reported["on"]["timestamp"] > 0
    response = data.update_thing_shadow(thingName=device.thing, payload=json.dumps({"state": {"desired": {"on": True}}}).encode())
    body = json.loads(response["payload"].read())
    assert body["version"] == 2 and body["state"] == {"desired": {"on": True}}
    delta = device.wait("delta")[0]
    assert delta.state == {"on": True} and delta.version == 2
    documents = device.wait("documents", 2)[1]
    assert documents.previous.version == 1 and documents.current.version == 2
    assert documents.current.state.desired == {"on": True} and documents.current.state.reported == {"on": False, "fw": "1.0"}

    # The device catches up: no delta left.
    device.client.publish_update_shadow(s.UpdateShadowRequest(thing_name=device.thing, state=s.ShadowState(reported={"on": True})), q).result(10)
    device.wait("update/accepted", 2)
    shadow = shadow_of(data, device.thing)
    assert shadow["state"] == {"desired": {"on": True}, "reported": {"on": True, "fw": "1.0"}}
    assert "delta" not in shadow["state"] and shadow["version"] == 3
    device.client.publish_get_shadow(s.GetShadowRequest(thing_name=device.thing, client_token="g2"), q).result(10)
    got = device.wait("get/accepted")[0]
    assert got.version == 3 and got.state.reported == {"on": True, "fw": "1.0"} and got.state.delta is None

    # A stale version is refused with AWS's error document; the shadow is unchanged.
    device.client.publish_update_shadow(s.UpdateShadowRequest(thing_name=device.thing, version=1, client_token="stale",
                                                              state=s.ShadowState(reported={"on": False})), q).result(10)
    conflict = device.wait("update/rejected")[0]
    assert conflict.code == 409 and conflict.message == "Version conflict" and conflict.client_token == "stale"
    assert shadow_of(data, device.thing)["version"] == 3

    # Delete: the version stays, the next update continues from it.
    device.client.publish_delete_shadow(s.DeleteShadowRequest(thing_name=device.thing, client_token="d"), q).result(10)
    deleted = device.wait("delete/accepted")[0]
    assert deleted.version == 3 and deleted.client_token == "d"
    assert aws_error(lambda: data.get_thing_shadow(thingName=device.thing)) == ("ResourceNotFoundException", 404)
    again = json.loads(data.update_thing_shadow(thingName=device.thing, payload=b'{"state":{"reported":{"x":1}}}')["payload"].read())
    assert again["version"] == 4


def test_named_shadows_and_their_listing(server, sdk_device):
    device = sdk_device()
    s, q = device.shadow_api, device.mqtt.QoS.AT_LEAST_ONCE
    device.subscribe("config")
    data = data_client(server)
    data.update_thing_shadow(thingName=device.thing, shadowName="config", payload=b'{"state":{"desired":{"rate":5}}}')
    assert device.wait("config:delta")[0].state == {"rate": 5}
    device.client.publish_update_named_shadow(s.UpdateNamedShadowRequest(thing_name=device.thing, shadow_name="config",
                                                                          state=s.ShadowState(reported={"rate": 5})), q).result(10)
    updates = device.wait("config:update/accepted", 2)
    assert [u.version for u in updates] == [1, 2], "the app's HTTPS update is published too"
    assert shadow_of(data, device.thing, "config")["state"] == {"desired": {"rate": 5}, "reported": {"rate": 5}}
    assert aws_error(lambda: data.get_thing_shadow(thingName=device.thing)) == ("ResourceNotFoundException", 404), \
        "the classic shadow is separate"
    for name in ("alarm", "bee"):
        data.update_thing_shadow(thingName=device.thing, shadowName=name, payload=b'{"state":{"reported":{"x":1}}}')
    first = data.list_named_shadows_for_thing(thingName=device.thing, pageSize=2)
    assert first["results"] == ["alarm", "bee"] and first["nextToken"]
    rest = data.list_named_shadows_for_thing(thingName=device.thing, pageSize=2, nextToken=first["nextToken"])
    assert rest["results"] == ["config"] and "nextToken" not in rest
    data.delete_thing_shadow(thingName=device.thing, shadowName="bee")
    assert data.list_named_shadows_for_thing(thingName=device.thing)["results"] == ["alarm", "config"]
    device.client.publish_get_named_shadow(s.GetNamedShadowRequest(thing_name=device.thing, shadow_name="config"), q).result(10)
    assert device.wait("config:get/accepted")[0].state.desired == {"rate": 5}


class SDKDeviceV5:
    """The same SDK as a device over MQTT 5: an awscrt mqtt5 client over mutual TLS and the request-response
    IotShadowClientV2 (correlation by clientToken, wildcard reply subscriptions, streams for delta/documents)."""

    def __init__(self, server, device, thing: str):
        from awscrt import mqtt5, mqtt_request_response
        from awsiot import iotshadow, mqtt5_client_builder
        self.shadow_api, self.rr, self.thing = iotshadow, mqtt_request_response, thing
        connected = threading.Event()
        self.client = mqtt5_client_builder.mtls_from_path(
            endpoint="localhost", port=server.port, cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
            ca_filepath=str(server.ca_cert), client_id=thing, clean_start=mqtt5.ClientSessionBehaviorType.CLEAN,
            on_lifecycle_connection_success=lambda event: connected.set())
        self.client.start()
        assert connected.wait(15), "the MQTT 5 client connects"
        self.shadow = iotshadow.IotShadowClientV2(self.client, mqtt_request_response.ClientOptions(
            max_request_response_subscriptions=4, max_streaming_subscriptions=4, operation_timeout_in_seconds=10))
        self.events: dict[str, list] = {}
        self.cond = threading.Condition()
        self.streams = []

    def stream(self, kind: str, create, request):
        from awsiot import ServiceStreamOptions
        established = threading.Event()

        def on_status(event):
            if event.type == self.rr.SubscriptionStatusEventType.SUBSCRIPTION_ESTABLISHED:
                established.set()

        def on_event(event):
            with self.cond:
                self.events.setdefault(kind, []).append(event)
                self.cond.notify_all()
        operation = create(request, ServiceStreamOptions(incoming_event_listener=on_event, subscription_status_listener=on_status))
        operation.open()
        self.streams.append(operation)
        assert established.wait(10), f"the {kind} stream is subscribed"

    def wait(self, kind: str, count: int = 1, timeout: float = 10.0) -> list:
        with self.cond:
            self.cond.wait_for(lambda: len(self.events.get(kind, [])) >= count, timeout)
            got = list(self.events.get(kind, []))
        assert len(got) >= count, f"{kind}: {len(got)} of {count} within {timeout}s"
        return got

    def refused(self, future) -> tuple[int, str]:
        """The modeled error of a request the service rejected (code, message)."""
        from awsiot import V2ServiceException
        with pytest.raises(V2ServiceException) as caught:
            future.result(15)
        error = caught.value.modeled_error
        assert error is not None, f"rejected by the service, not by a timeout: {caught.value.inner_error}"
        return error.code, error.message

    def close(self):
        self.streams.clear()
        try:
            self.client.stop()
        except Exception:
            pass


def test_sdk_mqtt5_shadow_client_v2_and_boto3_app(server):
    """Reference 5 in MQTT 5 with the SDK's IotShadowClientV2: get, report, desired from the app, delta,
    catch up, version conflict, delete, and the same for a named shadow."""
    thing = unique("shadow-v5-sdk")
    iot_client(server).create_thing(thingName=thing)
    device = SDKDeviceV5(server, server.mint(unique("shadow-v5-cert")), thing)
    s, data = device.shadow_api, data_client(server)
    try:
        device.stream("delta", device.shadow.create_shadow_delta_updated_stream, s.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing))
        device.stream("documents", device.shadow.create_shadow_updated_stream, s.ShadowUpdatedSubscriptionRequest(thing_name=thing))
        device.stream("cfg:delta", device.shadow.create_named_shadow_delta_updated_stream,
                      s.NamedShadowDeltaUpdatedSubscriptionRequest(thing_name=thing, shadow_name="cfg"))

        assert device.refused(device.shadow.get_shadow(s.GetShadowRequest(thing_name=thing))) == \
            (404, f"No shadow exists with name: '{thing}'")
        reported = device.shadow.update_shadow(s.UpdateShadowRequest(
            thing_name=thing, state=s.ShadowState(reported={"on": False, "fw": "2.0"}))).result(15)
        assert reported.version == 1 and reported.state.reported == {"on": False, "fw": "2.0"}
        assert reported.metadata.reported["fw"]["timestamp"] > 0

        data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"desired": {"on": True, "rate": 7}}}).encode())
        delta = device.wait("delta")[0]
        assert delta.state == {"on": True, "rate": 7} and delta.version == 2
        documents = device.wait("documents", 2)[1]
        assert (documents.previous.version, documents.current.version) == (1, 2)

        # A partial catch-up still misses desired: the delta comes again with what is left.
        device.shadow.update_shadow(s.UpdateShadowRequest(thing_name=thing, state=s.ShadowState(reported={"on": True}))).result(15)
        assert device.wait("delta", 2)[1].state == {"rate": 7}
        device.shadow.update_shadow(s.UpdateShadowRequest(thing_name=thing, state=s.ShadowState(reported={"rate": 7}))).result(15)
        got = device.shadow.get_shadow(s.GetShadowRequest(thing_name=thing)).result(15)
        assert got.version == 4 and got.state.delta is None
        assert got.state.desired == {"on": True, "rate": 7} and got.state.reported == {"on": True, "fw": "2.0", "rate": 7}
        assert len(device.events["delta"]) == 2, "no delta once desired and reported agree"

        assert device.refused(device.shadow.update_shadow(s.UpdateShadowRequest(
            thing_name=thing, version=1, state=s.ShadowState(reported={"on": False})))) == (409, "Version conflict")
        deleted = device.shadow.delete_shadow(s.DeleteShadowRequest(thing_name=thing)).result(15)
        assert deleted.version == 4
        assert aws_error(lambda: data.get_thing_shadow(thingName=thing)) == ("ResourceNotFoundException", 404)
        assert device.refused(device.shadow.delete_shadow(s.DeleteShadowRequest(thing_name=thing)))[0] == 404

        # A named shadow, the same way.
        data.update_thing_shadow(thingName=thing, shadowName="cfg", payload=b'{"state":{"desired":{"interval":30}}}')
        assert device.wait("cfg:delta")[0].state == {"interval": 30}
        named = device.shadow.update_named_shadow(s.UpdateNamedShadowRequest(
            thing_name=thing, shadow_name="cfg", state=s.ShadowState(reported={"interval": 30}))).result(15)
        assert named.version == 2
        got = device.shadow.get_named_shadow(s.GetNamedShadowRequest(thing_name=thing, shadow_name="cfg")).result(15)
        assert got.state.reported == {"interval": 30} and got.state.delta is None
        assert device.shadow.delete_named_shadow(s.DeleteNamedShadowRequest(thing_name=thing, shadow_name="cfg")).result(15).version == 2
        assert data.list_named_shadows_for_thing(thingName=thing)["results"] == []
        assert device.refused(device.shadow.get_named_shadow(s.GetNamedShadowRequest(thing_name=thing, shadow_name="cfg"))) == \
            (404, "No shadow exists with name: 'cfg'")
    finally:
        device.close()


def test_mqtt5_requests_and_error_documents(server, device):
    thing = unique("shadow-v5")
    prefix = f"$aws/things/{thing}/shadow"
    client = PahoClient(server, device, unique("shadow-v5"), V5)
    client.connect()
    try:
        client.subscribe([f"{prefix}/update/accepted", f"{prefix}/update/rejected", f"{prefix}/update/delta"], 1)
        assert client.publish(f"{prefix}/update", json.dumps({"state": {"desired": {"level": 3}}, "clientToken": "v5"}), qos=1) == 0
        accepted = json.loads(client.wait_message(f"{prefix}/update/accepted").payload)
        assert accepted["version"] == 1 and accepted["clientToken"] == "v5"
        assert json.loads(client.wait_message(f"{prefix}/update/delta").payload)["state"] == {"level": 3}
        for payload, code, message in [
            (b"not json", 400, "Invalid JSON"),
            (b'{"state":{"reported":{"a":1,}}}', 400, "Invalid JSON"),
            (b'{"state":{"reported":{"a":"\\ud800"}}}', 400, "Invalid JSON"),
            (b"[" * 30000 + b"]" * 30000, 400, "Invalid JSON"),
            (b'{"desired":{}}', 400, "Missing required node: state"),
            (b'{"state":{"desired":1}}', 400, "Desired node must be an object"),
            (b'{"state":{"reported":{"a":1}},"version":"x"}', 400, "Invalid version"),
            (json.dumps({"state": {"reported": {"a": "x" * 9000}}}).encode(), 413, "The payload exceeds the maximum size allowed"),
            (b'{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}}}', 400, "JSON contains too many levels of nesting; maximum is 6"),
        ]:
            before = len(client.received(f"{prefix}/update/rejected"))
            client.publish(f"{prefix}/update", payload, qos=1)
            error = json.loads(client.wait_messages(before + 1, f"{prefix}/update/rejected")[-1].payload)
            assert (error["code"], error["message"]) == (code, message)
            assert isinstance(error["timestamp"], int)
        assert client.publish(f"{prefix}/update/accepted", b"{}", qos=1) == 0x87, "the reply topics are the service's"
        # An HTTPS publish to the request topic is a request too (the service answers on MQTT).
        data_client(server).publish(topic=f"{prefix}/update", qos=1, payload=b'{"state":{"reported":{"via":"https"}}}')
        assert json.loads(client.wait_messages(2, f"{prefix}/update/accepted")[-1].payload)["state"] == {"reported": {"via": "https"}}
        assert client.publish(f"{prefix}/update", b'{"state":{"reported":{"r":1}}}', qos=1, retain=True) == 0
        assert json.loads(client.wait_messages(3, f"{prefix}/update/accepted")[-1].payload)["version"] == 3
        assert aws_error(lambda: data_client(server).get_retained_message(topic=f"{prefix}/update")) == ("ResourceNotFoundException", 404), \
            "a request is answered, not retained"
    finally:
        client.close()


def test_shadow_traffic_is_authorized_by_policies(server):
    """Over MQTT by Publish/Subscribe/Receive on the shadow topics; over HTTPS by iot:*ThingShadow on thing/..."""
    thing = unique("guarded")
    other = unique("someone-else")
    policy = unique("shadow-policy")
    iot_client(server).create_policy(policyName=policy, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ACCOUNT_ARN}:topic/$aws/things/{thing}/shadow/*"},
        {"Effect": "Allow", "Action": ["iot:Subscribe"], "Resource": f"{ACCOUNT_ARN}:topicfilter/$aws/things/*"},
        {"Effect": "Allow", "Action": ["iot:Receive"], "Resource": f"{ACCOUNT_ARN}:topic/$aws/things/{thing}/shadow/*"},
        {"Effect": "Allow", "Action": ["iot:GetThingShadow"], "Resource": f"{ACCOUNT_ARN}:thing/{thing}"},
    ]}))
    device = server.mint(unique("guarded-cert"), policy=policy)
    client = PahoClient(server, device, unique("guarded"), V5)
    client.connect()
    try:
        client.subscribe(f"$aws/things/+/shadow/#", 1)
        assert client.publish(f"$aws/things/{thing}/shadow/update", b'{"state":{"reported":{"ok":1}}}', qos=1) == 0
        client.wait_message(f"$aws/things/{thing}/shadow/update/accepted")
        assert client.publish(f"$aws/things/{other}/shadow/update", b'{"state":{"reported":{"x":1}}}', qos=1) == 0x87
        data_client(server).update_thing_shadow(thingName=other, payload=b'{"state":{"reported":{"y":1}}}')
        client.assert_no_message(f"$aws/things/{other}/shadow/update/accepted", within=0.5)
    finally:
        client.close()
    key, secret = make_key(server, policy)
    limited = data_client(server, key, secret)
    assert shadow_of(limited, thing)["state"]["reported"] == {"ok": 1}
    assert aws_error(lambda: limited.get_thing_shadow(thingName=other)) == ("ForbiddenException", 403)
    assert aws_error(lambda: limited.update_thing_shadow(thingName=thing, payload=b'{"state":{}}')) == ("ForbiddenException", 403)


def test_a_flood_is_bounded_and_every_request_is_answered(server, device):
    thing = unique("flood")
    prefix = f"$aws/things/{thing}/shadow"
    client = PahoClient(server, device, unique("flood"), V311)
    client.connect()
    try:
        client.subscribe([f"{prefix}/update/accepted", f"{prefix}/update/rejected"], 1)
        sent = 60
        for index in range(sent):
            client.publish(f"{prefix}/update", json.dumps({"state": {"reported": {"n": index}}}), qos=0, wait=False)
        wait_until(lambda: len(client.received(f"{prefix}/update/accepted")) + len(client.received(f"{prefix}/update/rejected")) >= sent,
                   timeout=20)
        rejected = [json.loads(m.payload) for m in client.received(f"{prefix}/update/rejected")]
        assert all(error["code"] == 429 for error in rejected), rejected[:3]
        accepted = [json.loads(m.payload)["version"] for m in client.received(f"{prefix}/update/accepted")]
        assert accepted == list(range(1, len(accepted) + 1)), "answered in order, versions without gaps"
        assert shadow_of(data_client(server), thing)["version"] == len(accepted)
    finally:
        client.close()


def test_shadows_survive_a_restart_and_go_with_their_thing(portcullis_bin, tmp_path):
    srv = Server(portcullis_bin, tmp_path / "restart").start()
    try:
        iot_client(srv).create_thing(thingName="kept")
        data = data_client(srv)
        cert = srv.mint("kept-cert")
        # The SDK device (MQTT 3.1.1) reports, the app sets desired; then the gateway restarts mid-way.
        before = SDKDevice(srv, cert, "kept")
        s, q = before.shadow_api, before.mqtt.QoS.AT_LEAST_ONCE
        before.subscribe()
        before.client.publish_update_shadow(s.UpdateShadowRequest(thing_name="kept", state=s.ShadowState(reported={"on": False})), q).result(10)
        assert before.wait("update/accepted")[0].version == 1
        data.update_thing_shadow(thingName="kept", payload=b'{"state":{"desired":{"on":true}}}')
        before.wait("delta")
        before.close()
        data.update_thing_shadow(thingName="kept", shadowName="cfg", payload=b'{"state":{"reported":{"v":2}}}')
        srv.stop()
        srv.start()
        data = data_client(srv)
        shadow = shadow_of(data, "kept")
        assert shadow["version"] == 2 and shadow["state"]["delta"] == {"on": True}
        assert shadow_of(data, "kept", "cfg")["state"]["reported"] == {"v": 2}
        # After the restart the device (now MQTT 5, IotShadowClientV2) finds the shadow intact and catches up.
        after = SDKDeviceV5(srv, cert, "kept")
        try:
            v2 = after.shadow_api
            got = after.shadow.get_shadow(v2.GetShadowRequest(thing_name="kept")).result(15)
            assert got.version == 2 and got.state.delta == {"on": True} and got.state.reported == {"on": False}
            caught_up = after.shadow.update_shadow(v2.UpdateShadowRequest(thing_name="kept", state=v2.ShadowState(reported={"on": True}))).result(15)
            assert caught_up.version == 3
            assert after.shadow.get_named_shadow(v2.GetNamedShadowRequest(thing_name="kept", shadow_name="cfg")).result(15).state.reported == {"v": 2}
        finally:
            after.close()
        iot_client(srv).delete_thing(thingName="kept")
        wait_until(lambda: aws_error(lambda: data.get_thing_shadow(thingName="kept", shadowName="cfg")) == ("ResourceNotFoundException", 404))
        assert aws_error(lambda: data.get_thing_shadow(thingName="kept")) == ("ResourceNotFoundException", 404)
        assert data.list_named_shadows_for_thing(thingName="kept")["results"] == []
    finally:
        srv.stop()


def test_a_thing_deleted_and_made_again_starts_without_its_old_shadow(server):
    """The deletion of a thing's shadows is ordered before any request after DeleteThing answers."""
    iot, data = iot_client(server), data_client(server)
    for _ in range(5):
        thing = unique("reborn")
        iot.create_thing(thingName=thing)
        data.update_thing_shadow(thingName=thing, payload=b'{"state":{"reported":{"old":1}}}')
        data.update_thing_shadow(thingName=thing, shadowName="cfg", payload=b'{"state":{"reported":{"old":1}}}')
        iot.delete_thing(thingName=thing)
        iot.create_thing(thingName=thing)
        body = json.loads(data.update_thing_shadow(thingName=thing, payload=b'{"state":{"reported":{"new":1}}}')["payload"].read())
        assert body["version"] == 1
        assert shadow_of(data, thing)["state"] == {"reported": {"new": 1}}
        assert data.list_named_shadows_for_thing(thingName=thing)["results"] == []


def test_other_methods_on_a_shadow_are_method_not_allowed(server):
    """AWS's modeled MethodNotAllowedException (405) for a signed PUT or PATCH on a thing's shadow."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    import urllib3
    from interop_support import admin_keys
    key, secret = admin_keys(server)
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(server.ca_cert))
    for method in ("PUT", "PATCH"):
        url = f"{endpoint(server)}/things/lamp/shadow"
        request = botocore.awsrequest.AWSRequest(method=method, url=url, data=b"{}", headers={})
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "iotdata", "us-east-1").add_auth(request)
        response = http.request(method, url, body=b"{}", headers=dict(request.headers))
        assert response.status == 405 and response.headers["x-amzn-ErrorType"] == "MethodNotAllowedException"
        assert json.loads(response.data)["__type"] == "MethodNotAllowedException"
    assert aws_error(lambda: data_client(server).get_thing_shadow(thingName="lamp")) == ("ResourceNotFoundException", 404), \
        "nothing was created"


def test_https_refusals_are_the_modeled_exceptions(server):
    """boto3 iot-data gets AWS's modeled exceptions with the shadow service's messages, and nothing changes."""
    data = data_client(server)
    thing = unique("refused")
    data.update_thing_shadow(thingName=thing, payload=b'{"state":{"reported":{"a":1}}}')

    def refused(call):
        from botocore.exceptions import ClientError
        with pytest.raises(ClientError) as caught:
            call()
        error = caught.value.response
        return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]

    update = lambda payload, **kw: data.update_thing_shadow(thingName=thing, payload=payload, **kw)  # noqa: E731
    assert refused(lambda: update(b'{"state":{"reported":{"a":2}},"version":7}')) == ("ConflictException", 409, "Version conflict")
    assert refused(lambda: update(b'{"state":{"reported":{"a":2,}}}')) == ("InvalidRequestException", 400, "Invalid JSON")
    assert refused(lambda: update(b'{"state":{"reported":1}}')) == ("InvalidRequestException", 400, "Reported node must be an object")
    assert refused(lambda: update(b'{"state":{"reported":{"a":2}},"clientToken":"' + b"t" * 65 + b'"}')) == \
        ("InvalidRequestException", 400, "Invalid clientToken")
    assert refused(lambda: update(json.dumps({"state": {"reported": {"a": "x" * 9000}}}).encode())) == \
        ("RequestEntityTooLargeException", 413, "The payload exceeds the maximum size allowed")
    assert refused(lambda: update(b'{"state":{"reported":{"a":"\xff"}}}')) == \
        ("UnsupportedDocumentEncodingException", 415, "Unsupported documented encoding; supported encoding is UTF-8")
    assert refused(lambda: update(b'{"state":{"reported":{"a":2}}}', shadowName="bad!name"))[:2] == ("InvalidRequestException", 400)
    assert refused(lambda: data.get_thing_shadow(thingName=thing, shadowName="absent")) == \
        ("ResourceNotFoundException", 404, "No shadow exists with name: 'absent'")
    assert refused(lambda: data.list_named_shadows_for_thing(thingName=thing, nextToken="!!not base64!!"))[:2] == ("InvalidRequestException", 400)
    shadow = shadow_of(data, thing)
    assert shadow["version"] == 1 and shadow["state"]["reported"] == {"a": 1}, "no refused request changed the shadow"


def test_state_null_clears_the_shadow_and_counts_versions(server, sdk_device):
    """`{"state": null}` (issue 16, as AWS answers it): desired and reported go, the version goes up, the
    answer is `"state": null` with `"metadata": {"timestamp": ...}`, and a later get shows empty state and
    metadata. Over HTTPS (boto3) and MQTT (the SDK device's connection, its shadow client reading the
    answers), repeated, then a normal update continues from the version reached."""
    device = sdk_device()
    device.subscribe()
    data = data_client(server)
    q = device.mqtt.QoS.AT_LEAST_ONCE
    first = json.loads(data.update_thing_shadow(
        thingName=device.thing, payload=b'{"state":{"desired":{"a":1},"reported":{"b":2}}}')["payload"].read())
    assert first["version"] == 1

    cleared = json.loads(data.update_thing_shadow(thingName=device.thing, payload=b'{"state": null}')["payload"].read())
    assert cleared["state"] is None and cleared["version"] == 2
    assert set(cleared["metadata"]) == {"timestamp"} and cleared["metadata"]["timestamp"] > 0
    shadow = shadow_of(data, device.thing)
    assert shadow["state"] == {} and shadow["metadata"] == {} and shadow["version"] == 2

    topic = f"$aws/things/{device.thing}/shadow/update"
    for n, version in [(1, 3), (2, 4)]:
        device.connection.publish(topic, json.dumps({"state": None, "clientToken": f"null-{n}"}), q)[0].result(10)
        accepted = device.wait("update/accepted", n + 2)[-1]  # the two HTTPS updates were published too
        assert accepted.version == version and accepted.state is None and accepted.client_token == f"null-{n}"
    documents = device.wait("documents", 4)[-1]
    assert documents.previous.version == 3 and documents.current.version == 4
    assert not documents.current.state.desired and not documents.current.state.reported
    assert shadow_of(data, device.thing)["version"] == 4

    again = json.loads(data.update_thing_shadow(thingName=device.thing, payload=b'{"state":{"reported":{"x":1}}}')["payload"].read())
    assert again["version"] == 5 and again["state"] == {"reported": {"x": 1}}
    shadow = shadow_of(data, device.thing)
    assert shadow["state"] == {"reported": {"x": 1}} and shadow["version"] == 5
    # Other non-object states are still refused.
    assert aws_error(lambda: data.update_thing_shadow(thingName=device.thing, payload=b'{"state": 5}')) == ("InvalidRequestException", 400)
