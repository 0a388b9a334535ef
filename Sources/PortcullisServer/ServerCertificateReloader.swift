import DeviceIdentity
import Foundation
import Gateway
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Rotation of the default domain's certificates without a restart: every few seconds the data folder's
/// server certificate and key files are looked at; when they changed and load (chain parses, key matches),
/// new handshakes get them, while connections already up keep theirs. A set that does not load is refused
/// and logged, and the previous one stays in service. Once an hour the gateway's own certificates are
/// renewed in place when they near expiry (a month before), which the next look picks up.
public final class ServerCertificateReloader: Service, Sendable {
    let dataDirectory: DataDirectory
    let serverHostNames: [String]
    let template: GatewayTLSMaterial
    let contexts: [ServerTLSDirectory]
    let logger: Logger
    private let seen: NIOLockedValueBox<[String: String]>
    public static let interval: Duration = .seconds(5)
    static let renewalInterval: Duration = .seconds(3600)

    public init(dataDirectory: DataDirectory, serverHostNames: [String], material: GatewayTLSMaterial, contexts: [ServerTLSDirectory],
                logger: Logger) {
        self.dataDirectory = dataDirectory
        self.serverHostNames = serverHostNames
        self.template = material
        self.contexts = contexts
        self.logger = logger
        self.seen = NIOLockedValueBox(Self.contents(of: Self.paths(dataDirectory), material: material))
    }

    static func paths(_ data: DataDirectory) -> [String] {
        [data.serverCertificatePath, data.serverKeyPath, data.rsaServerCertificatePath, data.rsaServerKeyPath]
    }

    /// What is in force: the files' texts as of the last load.
    static func contents(of paths: [String], material: GatewayTLSMaterial) -> [String: String] {
        let texts = [material.serverCertificateChainPEM, material.serverPrivateKeyPEM,
                     material.rsaServerCertificateChainPEM ?? "", material.rsaServerPrivateKeyPEM ?? ""]
        return Dictionary(uniqueKeysWithValues: zip(paths, texts))
    }

    public enum Outcome: Equatable, Sendable {
        case unchanged
        case reloaded
        case refused(String)
    }

    /// Looks at the files once; reloads them if they changed.
    @discardableResult
    public func check() -> Outcome {
        let paths = Self.paths(dataDirectory)
        var current: [String: String] = [:]
        for path in paths { current[path] = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        let previous = seen.withLockedValue { $0 }
        guard current != previous else { return .unchanged }
        var material = template
        material.serverCertificateChainPEM = current[paths[0]] ?? ""
        material.serverPrivateKeyPEM = current[paths[1]] ?? ""
        let rsaChain = current[paths[2]] ?? "", rsaKey = current[paths[3]] ?? ""
        material.rsaServerCertificateChainPEM = rsaChain.isEmpty ? nil : rsaChain
        material.rsaServerPrivateKeyPEM = rsaKey.isEmpty ? nil : rsaKey
        do {
            for directory in contexts { try directory.replaceDefaultCertificates(material) }
        } catch {
            // Remember the bad set so it is reported once, not every few seconds.
            seen.withLockedValue { $0 = current }
            let reason = "the new server certificate files do not load (\(error)); the previous certificate stays in service"
            logger.error("server certificate not reloaded", metadata: ["reason": "\(reason)"])
            return .refused(reason)
        }
        seen.withLockedValue { $0 = current }
        logger.info("server certificate reloaded", metadata: ["path": "\(paths[0])"])
        return .reloaded
    }

    /// Looks every `interval` until graceful shutdown.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            var sinceRenewal: Duration = .zero
            while !Task.isCancelled {
                try await Task.sleep(for: Self.interval)
                sinceRenewal += Self.interval
                if sinceRenewal >= Self.renewalInterval {
                    sinceRenewal = .zero
                    _ = try? dataDirectory.prepare(serverHostNames: serverHostNames)
                }
                check()
            }
        }
    }
}
