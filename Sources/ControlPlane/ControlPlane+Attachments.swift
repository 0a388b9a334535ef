import Foundation
import HTTPTypes
import Hummingbird
import Registry

/// AttachPolicy, DetachPolicy, ListAttachedPolicies, ListTargetsForPolicy; AttachThingPrincipal,
/// DetachThingPrincipal, ListThingPrincipals(V2), ListPrincipalThings(V2), with botocore's URIs.
extension ControlPlane {
    static let principalHeader = HTTPField.Name("x-amzn-principal")!
    static let iotPrincipalHeader = HTTPField.Name("x-amzn-iot-principal")!
    static let iotPolicyHeader = HTTPField.Name("x-amzn-iot-policy")!

    static func header(_ request: Request, _ name: HTTPField.Name) throws -> String {
        guard let value = request.headers[name], !value.isEmpty else {
            throw AWSErrorResponse.invalidRequest("The \(name) header is required.")
        }
        return value
    }

    static func addAttachmentRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.put("/target-policies/:policyName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let target = try requiredString(try await jsonBody(request, context), "target")
            try await registry.perform { state throws(RegistryError) in try state.attachPolicy(name: name, target: target) }
            return try json([:])
        }
        router.post("/target-policies/:policyName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let target = try requiredString(try await jsonBody(request, context), "target")
            try await registry.perform { state throws(RegistryError) in try state.detachPolicy(name: name, target: target) }
            return try json([:])
        }
        router.post("/attached-policies/:target") { request, context in
            try requireControlPlane(context)
            let target = try pathParameter(context, "target")
            let (marker, pageSize, _) = try markerPage(request)
            let recursive = try boolParameter(request, "recursive") ?? false
            let (policies, next) = try await registry.read { state throws(RegistryError) in
                try state.listAttachedPolicies(target: target, recursive: recursive, marker: marker, pageSize: pageSize)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["policies": policies.map { ["policyName": $0.name, "policyArn": arns.policy($0.name)] }]
            if let next { out["nextMarker"] = next }
            return try json(out)
        }
        router.post("/policy-targets/:policyName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let (marker, pageSize, _) = try markerPage(request)
            let (targets, next) = try await registry.read { state throws(RegistryError) in
                try state.listTargetsForPolicy(name: name, marker: marker, pageSize: pageSize)
            }
            var out: [String: Any] = ["targets": targets]
            if let next { out["nextMarker"] = next }
            return try json(out)
        }

        // The deprecated principal-policy operations older scripts and awscli commands still use.
        router.put("/principal-policies/:policyName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let principal = try header(request, iotPrincipalHeader)
            // Only certificates: AttachPolicy is the operation for thing groups.
            if principal.hasPrefix("arn:"), !principal.contains(":cert/") {
                throw AWSErrorResponse.invalidRequest("The given ARN does not represent a cert")
            }
            try await registry.perform { state throws(RegistryError) in try state.attachPolicy(name: name, target: principal) }
            return try json([:])
        }
        router.delete("/principal-policies/:policyName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let principal = try header(request, iotPrincipalHeader)
            try await registry.perform { state throws(RegistryError) in try state.detachPolicy(name: name, target: principal) }
            return try json([:])
        }
        router.get("/principal-policies") { request, context in
            try requireControlPlane(context)
            let principal = try header(request, iotPrincipalHeader)
            let (marker, pageSize, _) = try markerPage(request)
            // Sorted by name; isAscendingOrder=false reverses it.
            let ascending = try boolParameter(request, "isAscendingOrder") ?? true
            let (policies, next) = try await registry.read { state throws(RegistryError) in
                try state.listAttachedPolicies(target: principal, marker: marker, pageSize: pageSize, ascending: ascending)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["policies": policies.map { ["policyName": $0.name, "policyArn": arns.policy($0.name)] }]
            if let next { out["nextMarker"] = next }
            return try json(out)
        }
        router.get("/policy-principals") { request, context in
            try requireControlPlane(context)
            let name = try header(request, iotPolicyHeader)
            let (marker, pageSize, _) = try markerPage(request)
            let ascending = try boolParameter(request, "isAscendingOrder") ?? true
            let (targets, next) = try await registry.read { state throws(RegistryError) in
                try state.listTargetsForPolicy(name: name, marker: marker, pageSize: pageSize, ascending: ascending)
            }
            var out: [String: Any] = ["principals": targets]
            if let next { out["nextMarker"] = next }
            return try json(out)
        }

        router.put("/things/:thingName/principals") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingName")
            let principal = try principalHeader(request)
            let type = try principalType(request) ?? .nonExclusive
            try await registry.perform { state throws(RegistryError) in
                try state.attachThingPrincipal(thingName: name, principal: principal, type: type)
            }
            return try json([:])
        }
        router.delete("/things/:thingName/principals") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "thingName")
            let principal = try principalHeader(request)
            try await registry.perform { state throws(RegistryError) in try state.detachThingPrincipal(thingName: name, principal: principal) }
            return try json([:])
        }
        router.get("/things/:thingName/principals") { request, context in
            try requireControlPlane(context)
            return try await listThingPrincipals(request, context, registry: registry, v2: false)
        }
        router.get("/things/:thingName/principals-v2") { request, context in
            try requireControlPlane(context)
            return try await listThingPrincipals(request, context, registry: registry, v2: true)
        }
        router.get("/principals/things") { request, context in
            try requireControlPlane(context)
            return try await listPrincipalThings(request, registry: registry, v2: false)
        }
        router.get("/principals/things-v2") { request, context in
            try requireControlPlane(context)
            return try await listPrincipalThings(request, registry: registry, v2: true)
        }
    }

    static func principalHeader(_ request: Request) throws -> String { try header(request, principalHeader) }

    static func principalType(_ request: Request) throws -> ThingPrincipalType? {
        guard let value = request.uri.queryParameters["thingPrincipalType"] else { return nil }
        guard let type = ThingPrincipalType(rawValue: String(value)) else {
            throw AWSErrorResponse.invalidRequest("thingPrincipalType must be EXCLUSIVE_THING or NON_EXCLUSIVE_THING.")
        }
        return type
    }

    static func listThingPrincipals(_ request: Request, _ context: ControlPlaneContext, registry: Registry, v2: Bool) async throws -> Response {
        let name = try pathParameter(context, "thingName")
        let token = request.uri.queryParameters["nextToken"].map(String.init)
        let maxResults = try intParameter(request, "maxResults")
        let type = v2 ? try principalType(request) : nil
        let (principals, next) = try await registry.read { state throws(RegistryError) in
            try state.listThingPrincipals(thingName: name, nextToken: token, maxResults: maxResults, type: type)
        }
        var out: [String: Any] = v2
            ? ["thingPrincipalObjects": principals.map { ["principal": $0.principal, "thingPrincipalType": $0.type.rawValue] }]
            : ["principals": principals.map(\.principal)]
        if let next { out["nextToken"] = next }
        return try json(out)
    }

    static func listPrincipalThings(_ request: Request, registry: Registry, v2: Bool) async throws -> Response {
        let principal = try principalHeader(request)
        let token = request.uri.queryParameters["nextToken"].map(String.init)
        let maxResults = try intParameter(request, "maxResults")
        let type = v2 ? try principalType(request) : nil
        let (things, next) = try await registry.read { state throws(RegistryError) in
            try state.listPrincipalThings(principal: principal, nextToken: token, maxResults: maxResults, type: type)
        }
        var out: [String: Any] = v2
            ? ["principalThingObjects": things.map { ["thingName": $0.thingName, "thingPrincipalType": $0.type.rawValue] }]
            : ["things": things.map(\.thingName)]
        if let next { out["nextToken"] = next }
        return try json(out)
    }
}
