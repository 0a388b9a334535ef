import Foundation
import Hummingbird
import Registry

/// UpdateEventConfigurations (`PATCH /event-configurations`) and DescribeEventConfigurations
/// (`GET /event-configurations`): which registry event types are published (reference 4.8).
extension ControlPlane {
    static func addEventConfigurationRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.patch("/event-configurations") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            guard let configurations = body["eventConfigurations"] as? [String: Any] else {
                throw AWSErrorResponse.invalidRequest("eventConfigurations must be a map of event type to {\"Enabled\": true|false}.")
            }
            var changes: [String: Bool] = [:]
            for (type, value) in configurations {
                guard let entry = value as? [String: Any], let enabled = entry["Enabled"] as? Bool else {
                    throw AWSErrorResponse.invalidRequest("eventConfigurations.\(type.prefix(64)) must be {\"Enabled\": true|false}.")
                }
                changes[type] = enabled
            }
            let now = Date().timeIntervalSince1970
            let requested = changes
            try await registry.perform { state throws(RegistryError) in try state.updateEventConfigurations(requested, now: now) }
            return try json([:])
        }
        router.get("/event-configurations") { _, context in
            try requireControlPlane(context)
            let summary = try await registry.read { state throws(RegistryError) in state.eventConfigurationSummary }
            var out: [String: Any] = ["eventConfigurations": summary.enabled.mapValues { ["Enabled": $0] }]
            if let created = summary.createdAt { out["creationDate"] = created }
            if let modified = summary.lastModifiedAt { out["lastModifiedDate"] = modified }
            return try json(out)
        }
    }
}
