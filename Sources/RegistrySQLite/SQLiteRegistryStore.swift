import Foundation
import GRDB
import DeviceShadow
import Registry
import Rules

/// The registry in SQLite (GRDB): one file in the data folder, WAL mode, append-only named migrations,
/// each operation's changes in one transaction, so a crash leaves the last committed state.
/// Objects are rows of one table keyed by kind and name or id, with their fields as JSON: the registry
/// keeps its state in memory and reads the file only at start.
///
/// One file holds every (account, region) namespace: each row carries its namespace key, and a store
/// value is the view of one namespace (`namespace(_:)`), sharing the file's connection pool. The key
/// `""` is the default namespace: what a data folder made before namespaces existed holds.
public final class SQLiteRegistryStore: RegistryStore, Sendable {
    private let pool: DatabasePool
    /// The namespace this view reads and writes ("" for the default one).
    public let namespace: String

    public convenience init(path: String) throws {
        try self.init(path: path, migrations: nil)
    }

    /// - Parameter migrations: run only the first this many migrations (tests make a file as an
    ///   earlier release left it); nil runs them all.
    init(path: String, migrations: Int?) throws {
        var configuration = Configuration()
        configuration.label = "portcullis.registry"
        // Full durability: an API call that answered 200 is on disk.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        pool = try DatabasePool(path: path, configuration: configuration)
        namespace = ""
        if let migrations {
            try Self.migrator.migrate(pool, upTo: Self.migrationNames[migrations - 1])
        } else {
            try Self.migrator.migrate(pool)
        }
    }

    /// Runs SQL as it is (tests write rows as an earlier release's code did).
    func execute(sql: String) throws {
        try pool.write { db in try db.execute(sql: sql) }
    }

    private init(pool: DatabasePool, namespace: String) {
        self.pool = pool
        self.namespace = namespace
    }

    /// The view of another namespace in the same file.
    public func namespace(_ key: String) -> SQLiteRegistryStore {
        SQLiteRegistryStore(pool: pool, namespace: key)
    }

    /// The namespaces that hold any record or shadow (the default one included if it does).
    public func namespacesInUse() throws -> Set<String> {
        try pool.read { db in
            Set(try String.fetchAll(db, sql: "SELECT DISTINCT namespace FROM record UNION SELECT DISTINCT namespace FROM shadow"))
        }
    }

    static let migrationNames = ["v1-policies", "v2-things", "v3-records", "v4-shadows", "v5-namespaces", "v6-connectivity", "v7-rule-tables"]

    /// Never edit a migration that has shipped: add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-policies") { db in
            try db.create(table: "policy") { table in
                table.column("name", .text).primaryKey()
                table.column("data", .blob).notNull()
            }
        }
        migrator.registerMigration("v2-things") { db in
            try db.create(table: "thing") { table in
                table.column("name", .text).primaryKey()
                table.column("data", .blob).notNull()
            }
        }
        // One table of JSON records keyed by kind and name, so new kinds of object need no migration.
        migrator.registerMigration("v3-records") { db in
            try db.create(table: "record", options: [.withoutRowID]) { table in
                table.column("kind", .text).notNull()
                table.column("key", .text).notNull()
                table.column("data", .blob).notNull()
                table.primaryKey(["kind", "key"])
            }
            try db.execute(sql: "INSERT INTO record (kind, key, data) SELECT 'policy', name, data FROM policy")
            try db.execute(sql: "INSERT INTO record (kind, key, data) SELECT 'thing', name, data FROM thing")
            try db.drop(table: "policy")
            try db.drop(table: "thing")
        }
        // Device shadows: one row per thing and shadow name ('' for the classic shadow), the document as
        // JSON. Apart from the records, which the registry loads whole at start: shadows are read on use.
        migrator.registerMigration("v4-shadows") { db in
            try db.create(table: "shadow", options: [.withoutRowID]) { table in
                table.column("thing", .text).notNull()
                table.column("name", .text).notNull()
                table.column("present", .boolean).notNull()
                table.column("data", .blob).notNull()
                table.primaryKey(["thing", "name"])
            }
        }
        // Regions and accounts: every row belongs to one namespace; what was there is the default one ('').
        migrator.registerMigration("v5-namespaces") { db in
            try db.create(table: "record_v5", options: [.withoutRowID]) { table in
                table.column("namespace", .text).notNull()
                table.column("kind", .text).notNull()
                table.column("key", .text).notNull()
                table.column("data", .blob).notNull()
                table.primaryKey(["namespace", "kind", "key"])
            }
            try db.execute(sql: "INSERT INTO record_v5 (namespace, kind, key, data) SELECT '', kind, key, data FROM record")
            try db.drop(table: "record")
            try db.rename(table: "record_v5", to: "record")
            try db.create(table: "shadow_v5", options: [.withoutRowID]) { table in
                table.column("namespace", .text).notNull()
                table.column("thing", .text).notNull()
                table.column("name", .text).notNull()
                table.column("present", .boolean).notNull()
                table.column("data", .blob).notNull()
                table.primaryKey(["namespace", "thing", "name"])
            }
            try db.execute(sql: "INSERT INTO shadow_v5 (namespace, thing, name, present, data) SELECT '', thing, name, present, data FROM shadow")
            try db.drop(table: "shadow")
            try db.rename(table: "shadow_v5", to: "shadow")
        }
        // Fleet indexing's connectivity: when and why each thing last disconnected (AWS keeps it).
        migrator.registerMigration("v6-connectivity") { db in
            try db.create(table: "disconnect", options: [.withoutRowID]) { table in
                table.column("namespace", .text).notNull()
                table.column("thing", .text).notNull()
                table.column("timestamp", .integer).notNull()
                table.column("reason", .text)
                table.primaryKey(["namespace", "thing"])
            }
        }
        // The rules' local DynamoDB-shaped tables: schemas, and items keyed by their canonical key texts.
        migrator.registerMigration("v7-rule-tables") { db in
            try db.create(table: "rule_table", options: [.withoutRowID]) { table in
                table.column("namespace", .text).notNull()
                table.column("name", .text).notNull()
                table.column("schema", .text).notNull()
                table.primaryKey(["namespace", "name"])
            }
            try db.create(table: "rule_item", options: [.withoutRowID]) { table in
                table.column("namespace", .text).notNull()
                table.column("table_name", .text).notNull()
                table.column("hash_key", .text).notNull()
                table.column("range_key", .text).notNull()
                table.column("item", .text).notNull()
                table.primaryKey(["namespace", "table_name", "hash_key", "range_key"])
            }
        }
        return migrator
    }

    public func loadRecords() throws -> [RegistryRecordKey: Data] {
        try pool.read { db in
            var records: [RegistryRecordKey: Data] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT kind, key, data FROM record WHERE namespace = ?", arguments: [namespace]) {
                let kindName: String = row["kind"]
                // A kind written by a newer version is kept on disk and left alone.
                guard let kind = RegistryRecordKind(rawValue: kindName) else { continue }
                records[RegistryRecordKey(kind, row["key"])] = row["data"] as Data
            }
            return records
        }
    }

    public func apply(_ changes: RegistryChanges) throws {
        try pool.write { db in
            for (key, data) in changes.upserts {
                try db.execute(sql: "INSERT INTO record (namespace, kind, key, data) VALUES (?, ?, ?, ?) ON CONFLICT(namespace, kind, key) DO UPDATE SET data = excluded.data",
                               arguments: [namespace, key.kind.rawValue, key.key, data])
            }
            for key in changes.deletions {
                try db.execute(sql: "DELETE FROM record WHERE namespace = ? AND kind = ? AND key = ?", arguments: [namespace, key.kind.rawValue, key.key])
            }
        }
    }
}

/// Shadows in the same database file: each save (one shadow, or a batch's) is one transaction, durable
/// (synchronous=FULL) before it returns, so an update is on disk before `/update/accepted` is sent.
extension SQLiteRegistryStore: ShadowStore {
    public func loadShadow(_ id: ShadowID) throws -> Shadow? {
        let data = try pool.read { db in
            try Data.fetchOne(db, sql: "SELECT data FROM shadow WHERE namespace = ? AND thing = ? AND name = ?",
                              arguments: [namespace, id.thingName, id.shadowName ?? ""])
        }
        return try data.map { try JSONDecoder().decode(Shadow.self, from: $0) }
    }

    /// The shadows of many things at once (the classic one and those `named`), in one read per 500 things:
    /// what fleet indexing reads for every thing of a query.
    public func loadShadows(thingNames: [String], named: [String]) throws -> [ShadowID: Shadow] {
        let names = [""] + named
        var found: [ShadowID: Shadow] = [:]
        let decoder = JSONDecoder()
        try pool.read { db in
            for start in stride(from: 0, to: thingNames.count, by: 500) {
                let chunk = Array(thingNames[start..<min(thingNames.count, start + 500)])
                let things = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let shadows = Array(repeating: "?", count: names.count).joined(separator: ",")
                let arguments = StatementArguments([namespace] + chunk + names)
                for row in try Row.fetchAll(db, sql: "SELECT thing, name, data FROM shadow WHERE namespace = ? AND thing IN (\(things)) AND name IN (\(shadows))",
                                            arguments: arguments) {
                    let name: String = row["name"]
                    guard let id = ShadowID(thingName: row["thing"], shadowName: name.isEmpty ? nil : name),
                          let shadow = try? decoder.decode(Shadow.self, from: row["data"] as Data) else { continue }
                    found[id] = shadow
                }
            }
        }
        return found
    }

    public func saveShadow(_ id: ShadowID, _ shadow: Shadow) throws {
        try saveShadows([(id, shadow)])
    }

    /// One transaction for all of them: one disk sync for a batch of requests.
    public func saveShadows(_ shadows: [(ShadowID, Shadow)]) throws {
        let rows = shadows.map { ($0.0, $0.1.exists, Data($0.1.storedJSON.utf8)) }
        let namespace = self.namespace
        try pool.write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO shadow (namespace, thing, name, present, data) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(namespace, thing, name) DO UPDATE SET present = excluded.present, data = excluded.data
                """)
            for (id, present, data) in rows {
                try statement.execute(arguments: [namespace, id.thingName, id.shadowName ?? "", present, data])
            }
        }
    }

    public func deleteShadows(thingName: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM shadow WHERE namespace = ? AND thing = ?", arguments: [namespace, thingName]) }
    }

    public func namedShadows(thingName: String) throws -> [String] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM shadow WHERE namespace = ? AND thing = ? AND name <> '' AND present ORDER BY name",
                                arguments: [namespace, thingName])
        }
    }
}

/// The last disconnect of each thing (fleet indexing's `connectivity.timestamp` and
/// `connectivity.disconnectReason` once the broker has forgotten the client id).
extension SQLiteRegistryStore {
    public struct Disconnect: Sendable, Hashable {
        public var epochMilliseconds: Int64
        public var reason: String?
        public init(epochMilliseconds: Int64, reason: String?) {
            self.epochMilliseconds = epochMilliseconds
            self.reason = reason
        }
    }

    public func loadDisconnects() throws -> [String: Disconnect] {
        try pool.read { db in
            var found: [String: Disconnect] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT thing, timestamp, reason FROM disconnect WHERE namespace = ?", arguments: [namespace]) {
                found[row["thing"]] = Disconnect(epochMilliseconds: row["timestamp"], reason: row["reason"])
            }
            return found
        }
    }

    /// Writes some things' last disconnects (nil: forget the thing's), in one transaction.
    public func saveDisconnects(_ disconnects: [String: Disconnect?]) throws {
        let namespace = self.namespace
        try pool.write { db in
            for (thing, disconnect) in disconnects {
                if let disconnect {
                    try db.execute(sql: """
                        INSERT INTO disconnect (namespace, thing, timestamp, reason) VALUES (?, ?, ?, ?)
                        ON CONFLICT(namespace, thing) DO UPDATE SET timestamp = excluded.timestamp, reason = excluded.reason
                        """, arguments: [namespace, thing, disconnect.epochMilliseconds, disconnect.reason])
                } else {
                    try db.execute(sql: "DELETE FROM disconnect WHERE namespace = ? AND thing = ?", arguments: [namespace, thing])
                }
            }
        }
    }
}

/// The rules' local tables (`RuleTableStore`): one row per table with its schema as JSON, one row per item
/// with its AttributeValue map as JSON text.
extension SQLiteRegistryStore: RuleTableStore {
    public func tableSchema(_ name: String) throws -> TableSchema? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT schema FROM rule_table WHERE namespace = ? AND name = ?", arguments: [namespace, name])
        }.map { try JSONDecoder().decode(TableSchema.self, from: Data($0.utf8)) }
    }

    public func createTable(_ schema: TableSchema) throws -> Bool {
        let text = String(decoding: try JSONEncoder().encode(schema), as: UTF8.self)
        let namespace = self.namespace
        return try pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO rule_table (namespace, name, schema) VALUES (?, ?, ?)", arguments: [namespace, schema.name, text])
            return db.changesCount == 1
        }
    }

    public func deleteTable(_ name: String) throws -> TableSchema? {
        guard let schema = try tableSchema(name) else { return nil }
        let namespace = self.namespace
        try pool.write { db in
            try db.execute(sql: "DELETE FROM rule_item WHERE namespace = ? AND table_name = ?", arguments: [namespace, name])
            try db.execute(sql: "DELETE FROM rule_table WHERE namespace = ? AND name = ?", arguments: [namespace, name])
        }
        return schema
    }

    public func tableNames() throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM rule_table WHERE namespace = ? ORDER BY name", arguments: [namespace]) }
    }

    public func putItem(table: String, key: ItemKey, item: String) throws {
        let namespace = self.namespace
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO rule_item (namespace, table_name, hash_key, range_key, item) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(namespace, table_name, hash_key, range_key) DO UPDATE SET item = excluded.item
                """, arguments: [namespace, table, key.hash, key.range, item])
        }
    }

    public func item(table: String, key: ItemKey) throws -> String? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT item FROM rule_item WHERE namespace = ? AND table_name = ? AND hash_key = ? AND range_key = ?",
                                arguments: [namespace, table, key.hash, key.range])
        }
    }

    public func deleteItem(table: String, key: ItemKey) throws {
        let namespace = self.namespace
        try pool.write { db in
            try db.execute(sql: "DELETE FROM rule_item WHERE namespace = ? AND table_name = ? AND hash_key = ? AND range_key = ?",
                           arguments: [namespace, table, key.hash, key.range])
        }
    }

    public func scan(table: String, after: ItemKey?, limit: Int) throws -> [(key: ItemKey, item: String)] {
        try pool.read { db in
            let rows: [Row]
            if let after {
                rows = try Row.fetchAll(db, sql: """
                    SELECT hash_key, range_key, item FROM rule_item WHERE namespace = ? AND table_name = ? AND (hash_key, range_key) > (?, ?)
                    ORDER BY hash_key, range_key LIMIT ?
                    """, arguments: [namespace, table, after.hash, after.range, limit])
            } else {
                rows = try Row.fetchAll(db, sql: """
                    SELECT hash_key, range_key, item FROM rule_item WHERE namespace = ? AND table_name = ? ORDER BY hash_key, range_key LIMIT ?
                    """, arguments: [namespace, table, limit])
            }
            return rows.map { (ItemKey(hash: $0["hash_key"], range: $0["range_key"]), $0["item"]) }
        }
    }

    public func itemCount(table: String) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rule_item WHERE namespace = ? AND table_name = ?", arguments: [namespace, table]) ?? 0
        }
    }
}
