import Foundation
import Hummingbird
import IoTPolicy
import Registry

/// TestAuthorization and GetEffectivePolicies (reference 3.7): the policy engine's decision for a
/// principal, with the policies that allowed or denied and the context values that were missing.
extension ControlPlane {
    static func addAuthorizationRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/test-authorization") { request, context in
            try requireControlPlane(context)
            let clientID = request.uri.queryParameters["clientId"].map(String.init)
            let body = try await jsonBody(request, context)
            let principal = try requiredString(body, "principal")
            guard let infos = body["authInfos"] as? [[String: Any]], (1...10).contains(infos.count) else {
                throw AWSErrorResponse.invalidRequest("authInfos must be a list of 1 to 10 {actionType, resources}.")
            }
            let requests: [(type: String, action: IoTAction, resources: [String])] = try infos.map { info in
                let type = try requiredString(info, "actionType")
                let actions: [String: IoTAction] = ["PUBLISH": .publish, "SUBSCRIBE": .subscribe, "RECEIVE": .receive, "CONNECT": .connect]
                guard let action = actions[type] else { throw AWSErrorResponse.invalidRequest("actionType must be PUBLISH, SUBSCRIBE, RECEIVE or CONNECT.") }
                guard let resources = info["resources"] as? [String], (1...100).contains(resources.count) else {
                    throw AWSErrorResponse.invalidRequest("resources must be a list of 1 to 100 ARNs.")
                }
                return (type, action, resources)
            }
            let toAdd = (body["policyNamesToAdd"] as? [String]) ?? []
            let toSkip = Set((body["policyNamesToSkip"] as? [String]) ?? [])
            let (policies, authorizationContext) = try await registry.read { state throws(RegistryError) in
                let certificate = try state.certificateForPrincipalARN(principal)
                var policies = state.effectivePolicies(certificateID: certificate.certificateID, clientID: clientID).filter { !toSkip.contains($0.name) }
                for name in toAdd where !policies.contains(where: { $0.name == name }) { policies.append(try state.policy(named: name)) }
                return (policies, state.authorizationContext(certificateID: certificate.certificateID, clientID: clientID, sourceIP: nil))
            }
            let arns = await registry.arns
            // Compiled once for the whole request (up to 10 x 100 resources), not once per resource.
            let compiled = CompiledPolicySet(policies: RegistryState.namedPolicies(policies), context: authorizationContext)
            let now = Date()
            func list(_ names: [String]) -> [String: Any] {
                ["policies": Array(Set(names)).sorted().map { ["policyName": $0, "policyArn": arns.policy($0)] }]
            }
            let results: [[String: Any]] = requests.map { entry in
                let decisions = entry.resources.map { compiled.decide(entry.action, resource: $0, now: now) }
                let effect: AuthorizationDecision.Effect = decisions.contains { $0.effect == .explicitDeny } ? .explicitDeny
                    : decisions.allSatisfy(\.isAllowed) ? .allowed : .implicitDeny
                let allowedBy = decisions.filter(\.isAllowed).flatMap { $0.statements.map(\.policyName) }
                let deniedBy = decisions.filter { $0.effect == .explicitDeny }.flatMap { $0.statements.map(\.policyName) }
                var missing: [String] = []
                for name in decisions.flatMap(\.missingContextValues) where !missing.contains(name) { missing.append(name) }
                // Beyond AWS's shape (clients ignore unknown members): per resource, which policy,
                // version and statement decided, with the variable values used.
                let explanations: [[String: Any]] = zip(entry.resources, decisions).map { resource, decision in
                    ["resource": resource, "authDecision": decision.effect.rawValue,
                     "explanation": decision.explanation(action: entry.action, resource: resource, policyCount: policies.count)]
                }
                return [
                    "authInfo": ["actionType": entry.type, "resources": entry.resources],
                    "portcullisExplanations": explanations,
                    "allowed": list(effect == .allowed ? allowedBy : []),
                    "denied": ["implicitDeny": list(effect == .implicitDeny ? policies.map(\.name) : []), "explicitDeny": list(deniedBy)],
                    "authDecision": effect.rawValue,
                    "missingContextValues": missing,
                ]
            }
            return try json(["authResults": results])
        }
        router.post("/effective-policies") { request, context in
            try requireControlPlane(context)
            let thingName = request.uri.queryParameters["thingName"].map(String.init)
            let body = try await jsonBody(request, context)
            let principal = try requiredString(body, "principal")
            let policies = try await registry.read { state throws(RegistryError) in
                let certificate = try state.certificateForPrincipalARN(principal)
                if let thingName { _ = try state.thing(named: thingName) }
                return state.effectivePolicies(certificateID: certificate.certificateID, clientID: thingName)
            }
            let arns = await registry.arns
            return try json(["effectivePolicies": policies.map {
                ["policyName": $0.name, "policyArn": arns.policy($0.name), "policyDocument": $0.defaultVersion.document]
            }])
        }
    }
}
