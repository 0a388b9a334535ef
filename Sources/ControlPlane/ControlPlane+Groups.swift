import Foundation
import Hummingbird
import Registry

/// Thing types, static thing groups and their membership, and tags, with botocore's URIs and shapes.
extension ControlPlane {
    static func addThingTypeRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/thing-types/:thingTypeName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingTypeName")
            let body = try await jsonBody(request, context)
            let (description, searchable) = try thingTypeProperties(body)
            let tags = try tagList(body)
            let now = Date().timeIntervalSince1970
            let type = try await registry.perform { state throws(RegistryError) in
                let type = try state.createThingType(name: name, description: description, searchableAttributes: searchable ?? [], now: now)
                if let tags { try state.tagResource(arn: state.arns.thingType(type.name), tags: tags) }
                return type
            }
            let arns = await registry.arns
            return try json(["thingTypeName": type.name, "thingTypeArn": arns.thingType(type.name), "thingTypeId": type.thingTypeID])
        }
        router.get("/thing-types/:thingTypeName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingTypeName")
            let type = try await registry.read { state throws(RegistryError) in try state.thingType(named: name) }
            let arns = await registry.arns
            var out = describe(type, arns: arns)
            out["thingTypeId"] = type.thingTypeID
            return try json(out)
        }
        router.get("/thing-types") { request, context in
            try requireControlPlane(context)
            let token = request.uri.queryParameters["nextToken"].map(String.init)
            let maxResults = try intParameter(request, "maxResults")
            let filter = request.uri.queryParameters["thingTypeName"].map(String.init)
            let (types, next) = try await registry.read { state throws(RegistryError) in
                try state.listThingTypes(nextToken: token, maxResults: maxResults, thingTypeName: filter)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["thingTypes": types.map { describe($0, arns: arns) }]
            if let next { out["nextToken"] = next }
            return try json(out)
        }
        router.patch("/thing-types/:thingTypeName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingTypeName")
            let (description, searchable) = try thingTypeProperties(try await jsonBody(request, context))
            try await registry.perform { state throws(RegistryError) in
                try state.updateThingType(name: name, description: description, searchableAttributes: searchable)
            }
            return try json([:])
        }
        router.post("/thing-types/:thingTypeName/deprecate") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingTypeName")
            let undo = (try await jsonBody(request, context))["undoDeprecate"] as? Bool ?? false
            let now = Date().timeIntervalSince1970
            try await registry.perform { state throws(RegistryError) in try state.deprecateThingType(name: name, undo: undo, now: now) }
            return try json([:])
        }
        router.delete("/thing-types/:thingTypeName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingTypeName")
            let now = Date().timeIntervalSince1970
            try await registry.perform { state throws(RegistryError) in try state.deleteThingType(name: name, now: now) }
            return try json([:])
        }
    }

    static func describe(_ type: ThingType, arns: ARNs) -> [String: Any] {
        var properties: [String: Any] = ["searchableAttributes": type.searchableAttributes]
        if let description = type.description { properties["thingTypeDescription"] = description }
        var metadata: [String: Any] = ["deprecated": type.deprecated, "creationDate": type.createdAt]
        if let date = type.deprecatedAt { metadata["deprecationDate"] = date }
        return ["thingTypeName": type.name, "thingTypeArn": arns.thingType(type.name), "thingTypeProperties": properties,
                "thingTypeMetadata": metadata]
    }

    static func thingTypeProperties(_ body: [String: Any]) throws -> (String?, [String]?) {
        guard let raw = body["thingTypeProperties"] else { return (nil, nil) }
        guard let properties = raw as? [String: Any] else { throw AWSErrorResponse.invalidRequest("thingTypeProperties must be an object.") }
        let description = try optionalString(properties, "thingTypeDescription")
        guard let searchable = properties["searchableAttributes"] else { return (description, nil) }
        guard let names = searchable as? [String] else { throw AWSErrorResponse.invalidRequest("searchableAttributes must be a list of names.") }
        return (description, names)
    }

    // MARK: dynamic thing groups

    static func addDynamicThingGroupRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/dynamic-thing-groups/:thingGroupName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingGroupName")
            let body = try await jsonBody(request, context)
            let (description, attributes, _) = try groupProperties(body)
            let query = try requiredString(body, "queryString")
            let index = try optionalString(body, "indexName")
            let version = try optionalString(body, "queryVersion")
            let tags = try tagList(body)
            let now = Date().timeIntervalSince1970
            let group = try await registry.perform { state throws(RegistryError) in
                let group = try state.createDynamicThingGroup(name: name, description: description, attributes: attributes ?? [:], indexName: index,
                                                              queryString: query, queryVersion: version, now: now)
                if let tags { try state.tagResource(arn: state.arns.thingGroup(group.name), tags: tags) }
                return group
            }
            let arns = await registry.arns
            return try json(["thingGroupName": group.name, "thingGroupArn": arns.thingGroup(group.name), "thingGroupId": group.thingGroupID,
                             "indexName": group.indexName ?? "AWS_Things", "queryString": query, "queryVersion": group.queryVersion ?? "2017-09-30"])
        }
        router.patch("/dynamic-thing-groups/:thingGroupName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingGroupName")
            let body = try await jsonBody(request, context)
            guard body["thingGroupProperties"] != nil else { throw AWSErrorResponse.invalidRequest("thingGroupProperties is required.") }
            let (description, attributes, merge) = try groupProperties(body)
            let query = try optionalString(body, "queryString")
            let index = try optionalString(body, "indexName")
            let queryVersion = try optionalString(body, "queryVersion")
            let expectedVersion = try optionalInt(body, "expectedVersion")
            let version = try await registry.perform { state throws(RegistryError) in
                try state.updateDynamicThingGroup(name: name, description: description, attributes: attributes, merge: merge, queryString: query,
                                                  queryVersion: queryVersion, indexName: index, expectedVersion: expectedVersion)
            }
            return try json(["version": version])
        }
        router.delete("/dynamic-thing-groups/:thingGroupName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingGroupName")
            let expectedVersion = try intParameter(request, "expectedVersion")
            try await registry.perform { state throws(RegistryError) in try state.deleteDynamicThingGroup(name: name, expectedVersion: expectedVersion) }
            return try json([:])
        }
    }

    // MARK: thing groups

    static func addThingGroupRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/thing-groups/:thingGroupName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingGroupName")
            let body = try await jsonBody(request, context)
            let parent = try optionalString(body, "parentGroupName")
            let (description, attributes, _) = try groupProperties(body)
            let tags = try tagList(body)
            let now = Date().timeIntervalSince1970
            let group = try await registry.perform { state throws(RegistryError) in
                let group = try state.createThingGroup(name: name, parentName: parent, description: description, attributes: attributes ?? [:], now: now)
                if let tags { try state.tagResource(arn: state.arns.thingGroup(group.name), tags: tags) }
                return group
            }
            let arns = await registry.arns
            return try json(["thingGroupName": group.name, "thingGroupArn": arns.thingGroup(group.name), "thingGroupId": group.thingGroupID])
        }
        router.get("/thing-groups/:thingGroupName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingGroupName")
            let (group, ancestors) = try await registry.read { state throws(RegistryError) in
                let group = try state.thingGroup(named: name)
                return (group, state.ancestors(of: name))
            }
            let arns = await registry.arns
            var properties: [String: Any] = ["attributePayload": ["attributes": group.attributes]]
            if let description = group.description { properties["thingGroupDescription"] = description }
            var metadata: [String: Any] = ["creationDate": group.createdAt,
                                           "rootToParentThingGroups": ancestors.reversed().map { ["groupName": $0.name, "groupArn": arns.thingGroup($0.name)] }]
            if let parent = group.parentName { metadata["parentGroupName"] = parent }
            var out: [String: Any] = ["thingGroupName": group.name, "thingGroupId": group.thingGroupID, "thingGroupArn": arns.thingGroup(group.name),
                                      "version": group.version, "thingGroupProperties": properties, "thingGroupMetadata": metadata]
            if let query = group.queryString {
                out["queryString"] = query
                out["indexName"] = group.indexName ?? "AWS_Things"
                out["queryVersion"] = group.queryVersion ?? "2017-09-30"
                out["status"] = "ACTIVE"
            }
            return try json(out)
        }
        router.get("/thing-groups") { request, context in
            try requireControlPlane(context)
            let query = request.uri.queryParameters
            let token = query["nextToken"].map(String.init)
            let maxResults = try intParameter(request, "maxResults")
            let parent = query["parentGroup"].map(String.init)
            let prefix = query["namePrefixFilter"].map(String.init)
            let recursive = try boolParameter(request, "recursive")
            let (groups, next) = try await registry.read { state throws(RegistryError) in
                try state.listThingGroups(nextToken: token, maxResults: maxResults, parentGroup: parent, namePrefix: prefix, recursive: recursive)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["thingGroups": groups.map { ["groupName": $0.name, "groupArn": arns.thingGroup($0.name)] }]
            if let next { out["nextToken"] = next }
            return try json(out)
        }
        router.patch("/thing-groups/:thingGroupName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingGroupName")
            let body = try await jsonBody(request, context)
            guard body["thingGroupProperties"] != nil else { throw AWSErrorResponse.invalidRequest("thingGroupProperties is required.") }
            let (description, attributes, merge) = try groupProperties(body)
            let expectedVersion = try optionalInt(body, "expectedVersion")
            let version = try await registry.perform { state throws(RegistryError) in
                try state.updateThingGroup(name: name, description: description, attributes: attributes, merge: merge, expectedVersion: expectedVersion)
            }
            return try json(["version": version])
        }
        router.delete("/thing-groups/:thingGroupName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingGroupName")
            let expectedVersion = try intParameter(request, "expectedVersion")
            try await registry.perform { state throws(RegistryError) in
                // Dynamic groups have their own delete operation (AWS's words).
                if let group = try? state.thingGroup(named: name), group.isDynamic {
                    throw RegistryError(.invalidRequest, "This operation does not support dynamic thing groups. Thing group arn: \(state.arns.thingGroup(name))")
                }
                try state.deleteThingGroup(name: name, expectedVersion: expectedVersion)
            }
            return try json([:])
        }
        router.put("/thing-groups/addThingToThingGroup") { request, context in
            try requireControlPlane(context)
            let (group, thing) = try await membershipNames(try await jsonBody(request, context), registry: registry)
            try await registry.perform { state throws(RegistryError) in try state.addThingToThingGroup(thingName: thing, groupName: group) }
            return try json([:])
        }
        router.put("/thing-groups/removeThingFromThingGroup") { request, context in
            try requireControlPlane(context)
            let (group, thing) = try await membershipNames(try await jsonBody(request, context), registry: registry)
            try await registry.perform { state throws(RegistryError) in try state.removeThingFromThingGroup(thingName: thing, groupName: group) }
            return try json([:])
        }
        router.put("/thing-groups/updateThingGroupsForThing") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let thing = try requiredString(body, "thingName")
            guard let add = (body["thingGroupsToAdd"] ?? [String]()) as? [String], let remove = (body["thingGroupsToRemove"] ?? [String]()) as? [String] else {
                throw AWSErrorResponse.invalidRequest("thingGroupsToAdd and thingGroupsToRemove must be lists of names.")
            }
            try await registry.perform { state throws(RegistryError) in
                for group in remove { try state.removeThingFromThingGroup(thingName: thing, groupName: group) }
                for group in add { try state.addThingToThingGroup(thingName: thing, groupName: group) }
            }
            return try json([:])
        }
        router.get("/thing-groups/:thingGroupName/things") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingGroupName")
            let recursive = try boolParameter(request, "recursive") ?? false
            let token = request.uri.queryParameters["nextToken"].map(String.init)
            let maxResults = try intParameter(request, "maxResults")
            let (things, next) = try await registry.read { state throws(RegistryError) in
                try state.listThingsInThingGroup(groupName: name, recursive: recursive, nextToken: token, maxResults: maxResults)
            }
            var out: [String: Any] = ["things": things]
            if let next { out["nextToken"] = next }
            return try json(out)
        }
        router.get("/things/:thingName/thing-groups") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingName")
            let token = request.uri.queryParameters["nextToken"].map(String.init)
            let maxResults = try intParameter(request, "maxResults")
            let (groups, next) = try await registry.read { state throws(RegistryError) in
                try state.listThingGroupsForThing(thingName: name, nextToken: token, maxResults: maxResults)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["thingGroups": groups.map { ["groupName": $0, "groupArn": arns.thingGroup($0)] }]
            if let next { out["nextToken"] = next }
            return try json(out)
        }
    }

    /// `thingGroupProperties: {thingGroupDescription, attributePayload: {attributes, merge}}`.
    static func groupProperties(_ body: [String: Any]) throws -> (String?, [String: String]?, Bool) {
        guard let raw = body["thingGroupProperties"] else { return (nil, nil, false) }
        guard let properties = raw as? [String: Any] else { throw AWSErrorResponse.invalidRequest("thingGroupProperties must be an object.") }
        let description = try optionalString(properties, "thingGroupDescription")
        let (attributes, merge) = try attributePayload(properties)
        return (description, attributes, merge)
    }

    /// The group and thing of AddThingToThingGroup / RemoveThingFromThingGroup, by name or by ARN.
    static func membershipNames(_ body: [String: Any], registry: Registry) async throws -> (group: String, thing: String) {
        let arns = await registry.arns
        let group = try optionalString(body, "thingGroupName") ?? optionalString(body, "thingGroupArn").flatMap { arns.thingGroupName(inARN: $0) }
        let thingPrefix = arns.thing("")
        let thing = try optionalString(body, "thingName")
            ?? optionalString(body, "thingArn").flatMap { $0.hasPrefix(thingPrefix) ? String($0.dropFirst(thingPrefix.count)) : nil }
        guard let group else { throw AWSErrorResponse.invalidRequest("thingGroupName or thingGroupArn (of this account and region) is required.") }
        guard let thing else { throw AWSErrorResponse.invalidRequest("thingName or thingArn (of this account and region) is required.") }
        return (group, thing)
    }

    // MARK: tags

    static func addTagRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/tags") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let arn = try requiredString(body, "resourceArn")
            guard let tags = try tagList(body) else { throw AWSErrorResponse.invalidRequest("tags is required.") }
            try await registry.perform { state throws(RegistryError) in try state.tagResource(arn: arn, tags: tags) }
            return try json([:])
        }
        router.post("/untag") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let arn = try requiredString(body, "resourceArn")
            guard let keys = body["tagKeys"] as? [String] else { throw AWSErrorResponse.invalidRequest("tagKeys must be a list of keys.") }
            try await registry.perform { state throws(RegistryError) in try state.untagResource(arn: arn, keys: keys) }
            return try json([:])
        }
        router.get("/tags") { request, context in
            try requireControlPlane(context)
            guard let arn = request.uri.queryParameters["resourceArn"].map(String.init) else {
                throw AWSErrorResponse.invalidRequest("resourceArn is required.")
            }
            let token = request.uri.queryParameters["nextToken"].map(String.init)
            let (tags, next) = try await registry.read { state throws(RegistryError) in try state.listTags(arn: arn, nextToken: token) }
            var out: [String: Any] = ["tags": tags.map { ["Key": $0.key, "Value": $0.value] }]
            if let next { out["nextToken"] = next }
            return try json(out)
        }
    }

    /// AWS's tag list, `[{"Key": k, "Value": v}]`; nil when absent.
    static func tagList(_ body: [String: Any]) throws -> [String: String]? {
        guard let raw = body["tags"], !(raw is NSNull) else { return nil }
        guard let list = raw as? [[String: Any]] else { throw AWSErrorResponse.invalidRequest("tags must be a list of {Key, Value}.") }
        var tags: [String: String] = [:]
        for entry in list {
            guard let key = entry["Key"] as? String else { throw AWSErrorResponse.invalidRequest("Every tag needs a Key.") }
            guard let value = (entry["Value"] ?? "") as? String else { throw AWSErrorResponse.invalidRequest("A tag Value must be a string.") }
            tags[key] = value
        }
        return tags
    }
}
