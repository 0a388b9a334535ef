import Foundation
import Hummingbird
import Registry

/// CreatePolicy, GetPolicy, ListPolicies, DeletePolicy and the version operations, with botocore's
/// URIs and shapes (reference 9.3).
extension ControlPlane {
    static func addPolicyRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/policies/:policyName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let body = try await jsonBody(request, context)
            let document = try requiredString(body, "policyDocument")
            let tags = try tagList(body)
            let now = Date().timeIntervalSince1970
            let policy = try await registry.perform { state throws(RegistryError) in
                let policy = try state.createPolicy(name: name, document: document, now: now)
                if let tags { try state.tagResource(arn: state.arns.policy(policy.name), tags: tags) }
                return policy
            }
            let arns = await registry.arns
            return try json(["policyName": policy.name, "policyArn": arns.policy(policy.name),
                             "policyDocument": policy.defaultVersion.document, "policyVersionId": policy.defaultVersionID])
        }
        router.get("/policies/:policyName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let policy = try await registry.read { state throws(RegistryError) in try state.policy(named: name) }
            let arns = await registry.arns
            return try json(["policyName": policy.name, "policyArn": arns.policy(policy.name),
                             "policyDocument": policy.defaultVersion.document, "defaultVersionId": policy.defaultVersionID,
                             "creationDate": policy.createdAt, "lastModifiedDate": policy.lastModifiedAt,
                             "generationId": policy.generationID])
        }
        router.delete("/policies/:policyName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            try await registry.perform { state throws(RegistryError) in try state.deletePolicy(name: name) }
            return try json([:])
        }
        router.get("/policies") { request, context in
            try requireControlPlane(context)
            let (marker, pageSize, ascending) = try markerPage(request)
            let (policies, next) = try await registry.read { state throws(RegistryError) in
                try state.listPolicies(marker: marker, pageSize: pageSize, ascending: ascending)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["policies": policies.map { ["policyName": $0.name, "policyArn": arns.policy($0.name)] }]
            if let next { out["nextMarker"] = next }
            return try json(out)
        }
        router.post("/policies/:policyName/version") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let setAsDefault = try boolParameter(request, "setAsDefault") ?? false
            let document = try requiredString(try await jsonBody(request, context), "policyDocument")
            let now = Date().timeIntervalSince1970
            let (policy, version) = try await registry.perform { state throws(RegistryError) in
                try state.createPolicyVersion(name: name, document: document, setAsDefault: setAsDefault, now: now)
            }
            let arns = await registry.arns
            return try json(["policyArn": arns.policy(policy.name), "policyDocument": version.document,
                             "policyVersionId": version.versionID, "isDefaultVersion": policy.defaultVersionID == version.versionID])
        }
        router.get("/policies/:policyName/version") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let policy = try await registry.read { state throws(RegistryError) in try state.policy(named: name) }
            return try json(["policyVersions": policy.versions.reversed().map {
                ["versionId": $0.versionID, "isDefaultVersion": $0.versionID == policy.defaultVersionID, "createDate": $0.createdAt] as [String: Any]
            }])
        }
        router.get("/policies/:policyName/version/:policyVersionId") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let versionID = try pathParameter(context, "policyVersionId")
            let (policy, version) = try await registry.read { state throws(RegistryError) in try state.policyVersion(name: name, versionID: versionID) }
            let arns = await registry.arns
            return try json(["policyArn": arns.policy(policy.name), "policyName": policy.name, "policyDocument": version.document,
                             "policyVersionId": version.versionID, "isDefaultVersion": policy.defaultVersionID == version.versionID,
                             "creationDate": version.createdAt, "lastModifiedDate": policy.lastModifiedAt,
                             "generationId": policy.generationID])
        }
        router.patch("/policies/:policyName/version/:policyVersionId") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let versionID = try pathParameter(context, "policyVersionId")
            let now = Date().timeIntervalSince1970
            try await registry.perform { state throws(RegistryError) in try state.setDefaultPolicyVersion(name: name, versionID: versionID, now: now) }
            return try json([:])
        }
        router.delete("/policies/:policyName/version/:policyVersionId") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "policyName")
            let versionID = try pathParameter(context, "policyVersionId")
            try await registry.perform { state throws(RegistryError) in try state.deletePolicyVersion(name: name, versionID: versionID) }
            return try json([:])
        }
    }
}
