import Foundation
import Hummingbird
import Registry

/// Billing groups with botocore's URIs and shapes: Create/Describe/List/Update/DeleteBillingGroup,
/// AddThingToBillingGroup, RemoveThingFromBillingGroup, ListThingsInBillingGroup.
extension ControlPlane {
    static func addBillingGroupRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/billing-groups/:billingGroupName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "billingGroupName")
            let body = try await jsonBody(request, context)
            let description = try billingGroupDescription(body)
            let tags = try tagList(body)
            let now = Date().timeIntervalSince1970
            let group = try await registry.perform { state throws(RegistryError) in
                let group = try state.createBillingGroup(name: name, description: description, now: now)
                if let tags { try state.tagResource(arn: state.arns.billingGroup(group.name), tags: tags) }
                return group
            }
            let arns = await registry.arns
            return try json(["billingGroupName": group.name, "billingGroupArn": arns.billingGroup(group.name), "billingGroupId": group.billingGroupID])
        }
        router.get("/billing-groups/:billingGroupName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "billingGroupName")
            let group = try await registry.read { state throws(RegistryError) in try state.billingGroup(named: name) }
            let arns = await registry.arns
            var properties: [String: Any] = [:]
            if let description = group.description { properties["billingGroupDescription"] = description }
            return try json(["billingGroupName": group.name, "billingGroupId": group.billingGroupID, "billingGroupArn": arns.billingGroup(group.name),
                             "version": group.version, "billingGroupProperties": properties,
                             "billingGroupMetadata": ["creationDate": group.createdAt]])
        }
        router.get("/billing-groups") { request, context in
            try requireControlPlane(context)
            let query = request.uri.queryParameters
            let token = query["nextToken"].map(String.init)
            let maxResults = try intParameter(request, "maxResults")
            let prefix = query["namePrefixFilter"].map(String.init)
            let (groups, next) = try await registry.read { state throws(RegistryError) in
                try state.listBillingGroups(nextToken: token, maxResults: maxResults, namePrefix: prefix)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["billingGroups": groups.map { ["groupName": $0.name, "groupArn": arns.billingGroup($0.name)] }]
            if let next { out["nextToken"] = next }
            return try json(out)
        }
        router.patch("/billing-groups/:billingGroupName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "billingGroupName")
            let body = try await jsonBody(request, context)
            guard body["billingGroupProperties"] != nil else { throw AWSErrorResponse.invalidRequest("billingGroupProperties is required.") }
            let description = try billingGroupDescription(body)
            let expectedVersion = try optionalInt(body, "expectedVersion")
            let version = try await registry.perform { state throws(RegistryError) in
                try state.updateBillingGroup(name: name, description: description, expectedVersion: expectedVersion)
            }
            return try json(["version": version])
        }
        router.delete("/billing-groups/:billingGroupName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "billingGroupName")
            let expectedVersion = try intParameter(request, "expectedVersion")
            try await registry.perform { state throws(RegistryError) in try state.deleteBillingGroup(name: name, expectedVersion: expectedVersion) }
            return try json([:])
        }
        // AddThingToBillingGroup and RemoveThingFromBillingGroup: the group and the thing by name or ARN.
        let membership: [(String, @Sendable (inout RegistryState, String, String) throws(RegistryError) -> Void)] = [
            ("addThingToBillingGroup", { state, thing, group throws(RegistryError) in try state.addThingToBillingGroup(thingName: thing, groupName: group) }),
            ("removeThingFromBillingGroup", { state, thing, group throws(RegistryError) in
                try state.removeThingFromBillingGroup(thingName: thing, groupName: group)
            }),
        ]
        for (operation, change) in membership {
            router.put("/billing-groups/\(operation)") { request, context in
                try requireControlPlane(context)
                let (group, thing) = try billingMembership(try await jsonBody(request, context))
                try await registry.perform { state throws(RegistryError) in
                    try change(&state, try state.thingName(name: thing.name, arn: thing.arn), try state.billingGroupName(name: group.name, arn: group.arn))
                }
                return try json([:])
            }
        }
        router.get("/billing-groups/:billingGroupName/things") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "billingGroupName")
            let token = request.uri.queryParameters["nextToken"].map(String.init)
            let maxResults = try intParameter(request, "maxResults")
            let (things, next) = try await registry.read { state throws(RegistryError) in
                try state.listThingsInBillingGroup(groupName: name, nextToken: token, maxResults: maxResults)
            }
            var out: [String: Any] = ["things": things]
            if let next { out["nextToken"] = next }
            return try json(out)
        }
    }

    static func billingGroupDescription(_ body: [String: Any]) throws -> String? {
        guard let raw = body["billingGroupProperties"], !(raw is NSNull) else { return nil }
        guard let properties = raw as? [String: Any] else { throw AWSErrorResponse.invalidRequest("billingGroupProperties must be an object.") }
        return try optionalString(properties, "billingGroupDescription")
    }

    static func billingMembership(_ body: [String: Any]) throws -> (group: (name: String?, arn: String?), thing: (name: String?, arn: String?)) {
        ((try optionalString(body, "billingGroupName"), try optionalString(body, "billingGroupArn")),
         (try optionalString(body, "thingName"), try optionalString(body, "thingArn")))
    }
}
