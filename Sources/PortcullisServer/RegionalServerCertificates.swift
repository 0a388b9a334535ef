import DeviceIdentity
import Foundation
import Gateway
import NIOConcurrencyHelpers
import Registry

/// Server certificates for the built-in regional names: `iot.<region>.localhost` and
/// `*.iot.<region>.localhost`, one ECDSA P-256 certificate per region from the local CA, made on the
/// first handshake that asks for the region (in memory; made again after a restart). Only while the
/// default server certificate is the local CA's: a gateway serving an operator's certificates serves
/// those for every name.
final class RegionalServerCertificates: Sendable {
    private let authority: CertificateAuthority
    private let material: GatewayTLSMaterial
    private let hostNames: NamespaceHostNames
    private let issued = NIOLockedValueBox<[String: GatewayTLSMaterial]>([:])

    init(authority: CertificateAuthority, material: GatewayTLSMaterial, hostNames: NamespaceHostNames) {
        self.authority = authority
        self.material = material
        self.hostNames = hostNames
    }

    /// The material for a lower-case server name, if it is a regional one.
    var onDemand: ServerTLSDirectory.OnDemandMaterial {
        { [self] name in
            guard let (region, _) = hostNames.regional(name) else { return nil }
            let key = "region/\(region)"
            if let made = issued.withLockedValue({ $0[region] }) { return (key, made) }
            let domain = "iot.\(region).\(NamespaceHostNames.regionalDomain)"
            guard let credential = try? authority.issueServerCertificate(
                dnsNames: [domain, "*.\(domain)"], commonName: domain, notBefore: Date().addingTimeInterval(-3600),
                validity: 397 * 24 * 3600) else { return nil }
            var regional = material
            regional.serverCertificateChainPEM = credential.certificatePEM
            regional.serverPrivateKeyPEM = credential.privateKeyPEM
            regional.rsaServerCertificateChainPEM = nil
            regional.rsaServerPrivateKeyPEM = nil
            let kept = issued.withLockedValue { issued in
                if let existing = issued[region] { return existing }
                issued[region] = regional
                return regional
            }
            return (key, kept)
        }
    }
}
