import Foundation
import Hummingbird
import Registry

/// What the fleet index reads besides the registry: shadows (their searchable fields under `shadow.`,
/// and the document SearchIndex answers) and a thing's connectivity from the broker.
public protocol FleetIndexSource: Sendable {
    /// Per thing name that has any: the fields (`shadow.reported.temp`, `shadow.name.<n>.desired.x`, ...)
    /// and the `shadow` JSON of the answer. `named`: the named shadows to include.
    func shadows(thingNames: [String], named: [String]) async -> [String: (fields: [String: [FleetValue]], json: String)]
    /// Whether a client with the thing's name as client id is connected, since when, and why it left.
    func connectivity(thingName: String) -> (connected: Bool, timestamp: Int64?, disconnectReason: String?)
}

/// Fleet indexing with botocore's URIs and shapes: Update/GetIndexingConfiguration, ListIndices,
/// DescribeIndex, SearchIndex, and the aggregations GetStatistics, GetCardinality, GetPercentiles and
/// GetBucketsAggregation, over `AWS_Things` and `AWS_ThingGroups`.
extension ControlPlane {
    static func addFleetIndexingRoutes(to router: Router<ControlPlaneContext>, registry: Registry, source: (any FleetIndexSource)?) {
        router.post("/indexing/config") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let things = try thingIndexingConfiguration(body)
            let groupMode = try (body["thingGroupIndexingConfiguration"] as? [String: Any]).map { try requiredString($0, "thingGroupIndexingMode") }
            guard things != nil || groupMode != nil else {
                throw AWSErrorResponse.invalidRequest("thingIndexingConfiguration or thingGroupIndexingConfiguration is required.")
            }
            try await registry.perform { state throws(RegistryError) in try state.updateIndexingConfiguration(things: things, thingGroupMode: groupMode) }
            return try json([:])
        }
        router.get("/indexing/config") { _, context in
            try requireControlPlane(context)
            let record = try await registry.read { state throws(RegistryError) in state.indexingConfigurationRecord }
            var things: [String: Any] = ["thingIndexingMode": record.thingIndexingMode,
                                         "thingConnectivityIndexingMode": record.thingConnectivityIndexingMode,
                                         "deviceDefenderIndexingMode": record.deviceDefenderIndexingMode,
                                         "namedShadowIndexingMode": record.namedShadowIndexingMode]
            if record.thingsIndexed {
                let managed = FleetIndex.managedThingFields + (record.connectivityIndexed ? FleetIndex.managedConnectivityFields : [])
                things["managedFields"] = managed.map { ["name": $0.name, "type": $0.type] }
                things["customFields"] = record.customFields.map { ["name": $0.name, "type": $0.type] }
            }
            if !record.namedShadowNames.isEmpty { things["filter"] = ["namedShadowNames": record.namedShadowNames] }
            var groups: [String: Any] = ["thingGroupIndexingMode": record.thingGroupIndexingMode]
            if record.thingGroupsIndexed { groups["managedFields"] = FleetIndex.managedThingGroupFields.map { ["name": $0.name, "type": $0.type] } }
            return try json(["thingIndexingConfiguration": things, "thingGroupIndexingConfiguration": groups])
        }
        router.get("/indices") { request, context in
            try requireControlPlane(context)
            if let max = try intParameter(request, "maxResults"), !(1...500).contains(max) {
                throw AWSErrorResponse.invalidRequest("maxResults must be between 1 and 500.")
            }
            let record = try await registry.read { state throws(RegistryError) in state.indexingConfigurationRecord }
            return try json(["indexNames": (record.thingsIndexed ? [FleetIndex.things] : []) + (record.thingGroupsIndexed ? [FleetIndex.thingGroups] : [])])
        }
        router.get("/indices/:indexName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "indexName")
            let record = try await registry.read { state throws(RegistryError) in state.indexingConfigurationRecord }
            switch name {
            case FleetIndex.things where record.thingsIndexed:
                var schema = record.shadowsIndexed ? "REGISTRY_AND_SHADOW" : "REGISTRY"
                if record.connectivityIndexed { schema += "_AND_CONNECTIVITY_STATUS" }
                return try json(["indexName": name, "indexStatus": "ACTIVE", "schema": schema])
            case FleetIndex.thingGroups where record.thingGroupsIndexed:
                return try json(["indexName": name, "indexStatus": "ACTIVE", "schema": "THING_GROUPS"])
            default:
                throw AWSErrorResponse(status: 404, type: "ResourceNotFoundException", message: "Index \(name.prefix(128)) does not exist.")
            }
        }
        router.post("/indices/search") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let search = try await FleetSearch.run(body, registry: registry, source: source)
            let maxResults = try optionalInt(body, "maxResults") ?? FleetIndex.maximumResults
            guard (1...FleetIndex.maximumResults).contains(maxResults) else {
                throw AWSErrorResponse.invalidRequest("maxResults must be between 1 and \(FleetIndex.maximumResults).")
            }
            let names = search.matches.map(\.name)
            let page = try pageOf(names, token: try optionalString(body, "nextToken"), size: maxResults)
            var out: [String: Any] = [:]
            if let next = page.next { out["nextToken"] = next }
            let pageSet = Set(page.items)
            out[search.isGroups ? "thingGroups" : "things"] = search.matches.filter { pageSet.contains($0.name) }.map(\.answer)
            out[search.isGroups ? "things" : "thingGroups"] = [Any]()
            return try json(out)
        }
        router.post("/indices/statistics") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let search = try await FleetSearch.run(body, registry: registry, source: source)
            guard let field = try optionalString(body, "aggregationField") else {
                return try json(["statistics": ["count": search.matches.count]])
            }
            let values = search.values(of: field)
            let numbers = values.compactMap(\.numericValue)
            guard !values.isEmpty else { return try json(["statistics": ["count": 0]]) }
            guard numbers.count == values.count else {
                // A text or boolean field has only a count.
                return try json(["statistics": ["count": values.count]])
            }
            let sum = numbers.reduce(0, +)
            let average = sum / Double(numbers.count)
            let squares = numbers.reduce(0) { $0 + $1 * $1 }
            let variance = squares / Double(numbers.count) - average * average
            return try json(["statistics": ["count": numbers.count, "average": average, "sum": sum, "minimum": numbers.min()!, "maximum": numbers.max()!,
                                            "sumOfSquares": squares, "variance": max(0, variance), "stdDeviation": max(0, variance).squareRoot()]])
        }
        router.post("/indices/cardinality") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let search = try await FleetSearch.run(body, registry: registry, source: source)
            let field = try optionalString(body, "aggregationField") ?? (search.isGroups ? "thingGroupName" : "thingName")
            return try json(["cardinality": Set(search.values(of: field).map { $0.textValue.lowercased() }).count])
        }
        router.post("/indices/percentiles") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let search = try await FleetSearch.run(body, registry: registry, source: source)
            let field = try requiredString(body, "aggregationField")
            let percents = (body["percents"] as? [Any])?.compactMap { ($0 as? NSNumber)?.doubleValue ?? ($0 as? Double) } ?? [1, 5, 25, 50, 75, 95, 99]
            guard percents.allSatisfy({ (0...100).contains($0) }) else { throw AWSErrorResponse.invalidRequest("percents must be between 0 and 100.") }
            let values = search.values(of: field)
            let numbers = values.compactMap(\.numericValue).sorted()
            guard numbers.count == values.count else {
                throw AWSErrorResponse(status: 400, type: "InvalidAggregationException", message: "\(field.prefix(256)) is not a numeric field.")
            }
            return try json(["percentiles": numbers.isEmpty ? [] : percents.map { percent -> [String: Any] in
                // Nearest rank.
                let rank = max(0, min(numbers.count - 1, Int((percent / 100 * Double(numbers.count)).rounded(.up)) - 1))
                return ["percent": percent, "value": numbers[rank]]
            }])
        }
        router.post("/indices/buckets") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let search = try await FleetSearch.run(body, registry: registry, source: source)
            let field = try requiredString(body, "aggregationField")
            let type = body["bucketsAggregationType"] as? [String: Any]
            let terms = type?["termsAggregation"] as? [String: Any]
            let maxBuckets = (terms?["maxBuckets"] as? Int) ?? 10
            guard (1...10_000).contains(maxBuckets) else { throw AWSErrorResponse.invalidRequest("maxBuckets must be between 1 and 10000.") }
            var counts: [String: Int] = [:]
            for match in search.matches {
                for key in Set(match.document.values(field).map(\.textValue)) { counts[key, default: 0] += 1 }
            }
            let buckets = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(maxBuckets)
            return try json(["totalCount": search.matches.count, "buckets": buckets.map { ["keyValue": $0.key, "count": $0.value] }])
        }
    }

    static func thingIndexingConfiguration(_ body: [String: Any]) throws -> IndexingConfigurationRecord? {
        guard let raw = body["thingIndexingConfiguration"] else { return nil }
        guard let object = raw as? [String: Any] else { throw AWSErrorResponse.invalidRequest("thingIndexingConfiguration must be an object.") }
        var record = IndexingConfigurationRecord()
        record.thingIndexingMode = try requiredString(object, "thingIndexingMode")
        record.thingConnectivityIndexingMode = try optionalString(object, "thingConnectivityIndexingMode") ?? "OFF"
        record.deviceDefenderIndexingMode = try optionalString(object, "deviceDefenderIndexingMode") ?? "OFF"
        record.namedShadowIndexingMode = try optionalString(object, "namedShadowIndexingMode") ?? "OFF"
        if let filter = object["filter"] as? [String: Any] { record.namedShadowNames = filter["namedShadowNames"] as? [String] ?? [] }
        if let fields = object["customFields"] as? [[String: Any]] {
            record.customFields = try fields.map { .init(name: try requiredString($0, "name"), type: try optionalString($0, "type") ?? "String") }
        }
        return record
    }

    static func pageOf(_ names: [String], token: String?, size: Int) throws -> (items: [String], next: String?) {
        var start = 0
        if let token {
            guard let data = Data(base64Encoded: token), let last = String(data: data, encoding: .utf8), let index = names.firstIndex(of: last) else {
                throw AWSErrorResponse.invalidRequest("The nextToken is not valid for this query.")
            }
            start = index + 1
        }
        let end = min(names.count, start + size)
        let items = Array(names[start..<end])
        return (items, end < names.count ? items.last.map { Data($0.utf8).base64EncodedString() } : nil)
    }
}

/// One query run over an index: the matching things (or groups), each with its document and answer.
struct FleetSearch {
    struct Match {
        var name: String
        var document: FleetDocument
        var answer: [String: Any]
    }

    var isGroups: Bool
    var matches: [Match]

    func values(of field: String) -> [FleetValue] { matches.flatMap { $0.document.values(field) } }

    static func run(_ body: [String: Any], registry: Registry, source: (any FleetIndexSource)?) async throws -> FleetSearch {
        let indexName = try ControlPlane.optionalString(body, "indexName") ?? FleetIndex.things
        let text = try ControlPlane.requiredString(body, "queryString")
        if let version = try ControlPlane.optionalString(body, "queryVersion"), version != "2017-09-30" {
            throw AWSErrorResponse.invalidRequest("queryVersion must be 2017-09-30.")
        }
        let query = try FleetQuery.parse(text)
        let (record, things, groups) = try await registry.read { state throws(RegistryError) in
            (state.indexingConfigurationRecord,
             indexName == FleetIndex.things ? state.allThings.map { ($0, state.fleetDocument(thing: $0), state.thingGroups(ofThing: $0.name)) } : [],
             indexName == FleetIndex.thingGroups ? state.allThingGroups.map { ($0, state.fleetDocument(thingGroup: $0), state.ancestors(of: $0.name).map(\.name)) } : [])
        }
        switch indexName {
        case FleetIndex.things where record.thingsIndexed:
            let shadows = record.shadowsIndexed
                ? await source?.shadows(thingNames: things.map(\.0.name), named: record.namedShadowIndexingMode == "ON" ? record.namedShadowNames : []) ?? [:]
                : [:]
            var matches: [Match] = []
            for (thing, registryDocument, groupNames) in things {
                var document = registryDocument
                var answer: [String: Any] = ["thingName": thing.name, "thingId": thing.thingID, "attributes": thing.attributes,
                                             "thingGroupNames": groupNames]
                if let type = thing.thingTypeName { answer["thingTypeName"] = type }
                if let shadow = shadows[thing.name] {
                    for (field, values) in shadow.fields { for value in values { document.add(field, value) } }
                    answer["shadow"] = shadow.json
                }
                if record.connectivityIndexed, let source {
                    let connectivity = source.connectivity(thingName: thing.name)
                    document.add("connectivity.connected", .bool(connectivity.connected))
                    var out: [String: Any] = ["connected": connectivity.connected]
                    if let timestamp = connectivity.timestamp {
                        document.add("connectivity.timestamp", .number(Double(timestamp)))
                        out["timestamp"] = timestamp
                    }
                    if let reason = connectivity.disconnectReason {
                        document.add("connectivity.disconnectReason", .string(reason))
                        out["disconnectReason"] = reason
                    }
                    answer["connectivity"] = out
                }
                if query.matches(document) { matches.append(Match(name: thing.name, document: document, answer: answer)) }
            }
            return FleetSearch(isGroups: false, matches: matches)
        case FleetIndex.thingGroups where record.thingGroupsIndexed:
            return FleetSearch(isGroups: true, matches: groups.compactMap { group, document, parents in
                guard query.matches(document) else { return nil }
                var answer: [String: Any] = ["thingGroupName": group.name, "thingGroupId": group.thingGroupID, "attributes": group.attributes,
                                             "parentGroupNames": parents]
                if let description = group.description { answer["thingGroupDescription"] = description }
                return Match(name: group.name, document: document, answer: answer)
            })
        case FleetIndex.things, FleetIndex.thingGroups:
            throw AWSErrorResponse(status: 404, type: "ResourceNotFoundException",
                                   message: "Index \(indexName) does not exist. Please enable index by calling UpdateIndexingConfiguration")
        default:
            throw AWSErrorResponse(status: 404, type: "ResourceNotFoundException", message: "Index \(indexName.prefix(128)) does not exist.")
        }
    }
}
