import Foundation
import GRDB
import Registry

/// The registry in SQLite (GRDB): one file in the data folder, WAL mode, append-only named migrations,
/// each operation's changes in one transaction, so a crash leaves the last committed state.
/// Objects are rows keyed by their name or id, with their fields as JSON; queries the API needs get
/// their own columns and indexes as the operations arrive.
public final class SQLiteRegistryStore: RegistryStore, Sendable {
    private let pool: DatabasePool

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.label = "portcullis.registry"
        // Full durability: an API call that answered 200 is on disk.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

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
        return migrator
    }

    public func loadPolicies() throws -> [Policy] {
        let decoder = JSONDecoder()
        return try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT data FROM policy ORDER BY name").map { row in
                try decoder.decode(Policy.self, from: row["data"] as Data)
            }
        }
    }

    public func loadThings() throws -> [Thing] {
        let decoder = JSONDecoder()
        return try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT data FROM thing ORDER BY name").map { row in
                try decoder.decode(Thing.self, from: row["data"] as Data)
            }
        }
    }

    public func apply(_ changes: RegistryChanges) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try pool.write { db in
            for policy in changes.upsertedPolicies {
                try db.execute(sql: "INSERT INTO policy (name, data) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET data = excluded.data",
                               arguments: [policy.name, try encoder.encode(policy)])
            }
            for name in changes.deletedPolicies {
                try db.execute(sql: "DELETE FROM policy WHERE name = ?", arguments: [name])
            }
            for thing in changes.upsertedThings {
                try db.execute(sql: "INSERT INTO thing (name, data) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET data = excluded.data",
                               arguments: [thing.name, try encoder.encode(thing)])
            }
            for name in changes.deletedThings {
                try db.execute(sql: "DELETE FROM thing WHERE name = ?", arguments: [name])
            }
        }
    }
}
