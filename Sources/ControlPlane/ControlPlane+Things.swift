import Foundation
import Hummingbird
import Registry

/// CreateThing, DescribeThing, ListThings, UpdateThing and DeleteThing, with botocore's URIs and
/// shapes (reference 9.2, 9.3).
extension ControlPlane {
    static func addThingRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/things/:thingName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingName")
            let body = try await jsonBody(request, context)
            let typeName = try optionalString(body, "thingTypeName")
            let billing = try optionalString(body, "billingGroupName")
            let (attributes, _) = try attributePayload(body)
            let now = Date().timeIntervalSince1970
            let thing = try await registry.perform { state throws(RegistryError) in
                try state.createThing(name: name, thingTypeName: typeName, attributes: attributes ?? [:], billingGroupName: billing, now: now)
            }
            let arns = await registry.arns
            return try json(["thingName": thing.name, "thingArn": arns.thing(thing.name), "thingId": thing.thingID])
        }
        router.get("/things/:thingName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingName")
            let thing = try await registry.read { state throws(RegistryError) in try state.thing(named: name) }
            let arns = await registry.arns
            var out: [String: Any] = ["defaultClientId": thing.name, "thingName": thing.name, "thingId": thing.thingID,
                                      "thingArn": arns.thing(thing.name), "attributes": thing.attributes, "version": thing.version]
            if let type = thing.thingTypeName { out["thingTypeName"] = type }
            if let billing = thing.billingGroupName { out["billingGroupName"] = billing }
            return try json(out)
        }
        router.get("/things") { request, context in
            try requireControlPlane(context)
            let query = request.uri.queryParameters
            let token = query["nextToken"].map(String.init)
            let maxResults = try intParameter(request, "maxResults")
            let attributeName = query["attributeName"].map(String.init)
            let attributeValue = query["attributeValue"].map(String.init)
            let typeName = query["thingTypeName"].map(String.init)
            let prefix = try boolParameter(request, "usePrefixAttributeValue") ?? false
            let (things, next) = try await registry.read { state throws(RegistryError) in
                try state.listThings(nextToken: token, maxResults: maxResults, attributeName: attributeName, attributeValue: attributeValue,
                                     usePrefixAttributeValue: prefix, thingTypeName: typeName)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["things": things.map { thing -> [String: Any] in
                var entry: [String: Any] = ["thingName": thing.name, "thingArn": arns.thing(thing.name),
                                            "attributes": thing.attributes, "version": thing.version]
                if let type = thing.thingTypeName { entry["thingTypeName"] = type }
                return entry
            }]
            if let next { out["nextToken"] = next }
            return try json(out)
        }
        router.patch("/things/:thingName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingName")
            let body = try await jsonBody(request, context)
            let typeName = try optionalString(body, "thingTypeName")
            let (attributes, merge) = try attributePayload(body)
            let expectedVersion = try optionalInt(body, "expectedVersion")
            let removeType = (body["removeThingType"] as? Bool) ?? false
            try await registry.perform { state throws(RegistryError) in
                try state.updateThing(name: name, thingTypeName: typeName, removeThingType: removeType, attributes: attributes,
                                      merge: merge, expectedVersion: expectedVersion)
            }
            return try json([:])
        }
        router.delete("/things/:thingName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingName")
            let expectedVersion = try intParameter(request, "expectedVersion")
            try await registry.perform { state throws(RegistryError) in try state.deleteThing(name: name, expectedVersion: expectedVersion) }
            return try json([:])
        }
    }

    /// `attributePayload: {attributes: {name: value}, merge: bool}`; nil attributes when absent.
    static func attributePayload(_ body: [String: Any]) throws -> ([String: String]?, Bool) {
        guard let payload = body["attributePayload"] else { return (nil, false) }
        guard let object = payload as? [String: Any] else { throw AWSErrorResponse.invalidRequest("attributePayload must be an object.") }
        let merge = (object["merge"] as? Bool) ?? false
        guard let raw = object["attributes"] else { return (nil, merge) }
        guard let attributes = raw as? [String: String] else {
            throw AWSErrorResponse.invalidRequest("attributePayload.attributes must map names to string values.")
        }
        return (attributes, merge)
    }
}
