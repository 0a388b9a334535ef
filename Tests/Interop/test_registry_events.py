"""Registry events (reference 4.8) from outside: enabled with boto3's update_event_configurations, seen by a paho
subscriber on $aws/events/..., with AWS's payloads; a type that is off publishes nothing."""

from __future__ import annotations

import json

from interop_support import V5, PahoClient, aws_error, iot_client, unique


def test_registry_events_follow_their_configuration(server, device):
    iot = iot_client(server)
    assert aws_error(lambda: iot.update_event_configurations(eventConfigurations={"THINGS": {"Enabled": True}})) \
        == ("InvalidRequestException", 400)
    described = iot.describe_event_configurations()["eventConfigurations"]
    assert set(described) >= {"THING", "THING_GROUP", "THING_TYPE", "THING_GROUP_MEMBERSHIP", "THING_TYPE_ASSOCIATION"}

    listener = PahoClient(server, device, unique("events"), V5)
    listener.connect()
    try:
        listener.subscribe("$aws/events/#", 1)
        thing, group, kind = unique("evt-thing"), unique("evt-group"), unique("evt-type")
        iot.update_event_configurations(eventConfigurations={"THING": {"Enabled": False}})
        quiet = unique("quiet")
        iot.create_thing(thingName=quiet)
        listener.assert_no_message(f"$aws/events/thing/{quiet}/created", within=0.5)

        iot.update_event_configurations(eventConfigurations={t: {"Enabled": True} for t in
                                                             ("THING", "THING_GROUP", "THING_GROUP_MEMBERSHIP", "THING_TYPE",
                                                              "THING_TYPE_ASSOCIATION")})
        described = iot.describe_event_configurations()
        assert described["eventConfigurations"]["THING"] == {"Enabled": True} and described["lastModifiedDate"]
        iot.create_thing(thingName=thing, attributePayload={"attributes": {"room": "lab"}})
        created = json.loads(listener.wait_message(f"$aws/events/thing/{thing}/created").payload)
        assert created["eventType"] == "THING_EVENT" and created["operation"] == "CREATED"
        assert created["thingName"] == thing and created["attributes"] == {"room": "lab"} and created["accountId"] == "123456789012"
        assert isinstance(created["timestamp"], int) and created["thingId"]

        iot.create_thing_group(thingGroupName=group)
        assert json.loads(listener.wait_message(f"$aws/events/thingGroup/{group}/created").payload)["eventType"] == "THING_GROUP_EVENT"
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
        added = json.loads(listener.wait_message(f"$aws/events/thingGroupMembership/thingGroup/{group}/thing/{thing}/added").payload)
        assert added["operation"] == "ADDED" and added["thingArn"].endswith(f":thing/{thing}")
        iot.create_thing_type(thingTypeName=kind)
        listener.wait_message(f"$aws/events/thingType/{kind}/created")
        iot.update_thing(thingName=thing, thingTypeName=kind)
        association = json.loads(listener.wait_message(f"$aws/events/thingTypeAssociation/thing/{thing}/{kind}").payload)
        assert association["operation"] == "ADDED" and association["thingTypeName"] == kind
        iot.remove_thing_from_thing_group(thingGroupName=group, thingName=thing)
        listener.wait_message(f"$aws/events/thingGroupMembership/thingGroup/{group}/thing/{thing}/removed")
        iot.update_thing(thingName=thing, removeThingType=True)
        iot.delete_thing(thingName=thing)
        deleted = json.loads(listener.wait_message(f"$aws/events/thing/{thing}/deleted").payload)
        assert deleted["operation"] == "DELETED"
    finally:
        iot.update_event_configurations(eventConfigurations={t: {"Enabled": False} for t in
                                                             ("THING", "THING_GROUP", "THING_GROUP_MEMBERSHIP", "THING_TYPE",
                                                              "THING_TYPE_ASSOCIATION")})
        listener.close()
