import DeviceIdentity
import Foundation
import X509

/// What the gateway needs of the registry to authenticate a device, as an immutable snapshot taken
/// after every change: connect-time checks read memory, never the database.
///
/// A certificate is accepted only if it is registered and ACTIVE and, if registered under a CA, that
/// CA is ACTIVE and signed the chain; certificates issued by the gateway's CA or registered without a
/// CA are trusted by their fingerprint. Validity periods and key usage are checked in every case.
public struct DeviceTrust: Sendable {
    public struct Entry: Sendable, Hashable {
        public var status: CertificateStatus
        public var caCertificateID: String?
        public var notAfter: Double
    }

    struct Authority: Sendable {
        var certificate: Certificate
        var active: Bool
        var autoRegistration: Bool
        /// Built with the snapshot, not per handshake.
        var verifier: ClientCertificateVerifier
    }

    public let certificates: [String: Entry]
    let authorities: [String: Authority]
    /// Registered certificates whose serial is on the revocation list of the CA that issued them,
    /// computed with the snapshot so the handshake check is one set lookup whatever the lists' length.
    let revokedByList: [String: String]
    /// CA certificate id -> revoked serials, for certificates not registered yet (auto-registration).
    let revocationLists: [String: Set<String>]

    /// What a registered certificate's revocation check needs: its serial and issuer, parsed once per
    /// certificate and kept across snapshots by the caller.
    public struct LeafKey: Sendable {
        var serial: String
        var issuer: DistinguishedName
    }
    /// Every registered CA and the gateway's CA: used to tell an expired or foreign certificate from one
    /// that is merely unregistered, so refusals say what is wrong.
    let classifier: ClientCertificateVerifier

    /// The outcome of a handshake's certificate check.
    public enum Decision: Sendable {
        case accepted(certificateID: String)
        case rejected(ClientRejection)
        /// PENDING_ACTIVATION under a CA with auto-registration: refused, and announced on
        /// `$aws/events/certificates/registered/<caCertificateId>`. `register` carries the certificate when
        /// it is unknown yet and must first be registered PENDING_ACTIVATION.
        case pendingActivation(certificateID: String, caCertificateID: String, register: ParsedCertificate?, rejection: ClientRejection)

        public var rejection: ClientRejection? {
            switch self {
            case .accepted: nil
            case .rejected(let rejection), .pendingActivation(_, _, _, let rejection): rejection
            }
        }
    }

    /// - Parameters:
    ///   - parsedCAs: CA certificates parsed by earlier snapshots, by id; updated with new ones.
    ///   - leafKeys: serials and issuers of registered certificates parsed by earlier snapshots (only
    ///     needed, and only filled, while some revocation list is in place).
    public init(state: RegistryState, parsedCAs: inout [String: Certificate], leafKeys: inout [String: LeafKey]) {
        var certificates: [String: Entry] = [:]
        certificates.reserveCapacity(state.certificates.count)
        for certificate in state.certificates.values {
            certificates[certificate.certificateID] = Entry(status: certificate.status, caCertificateID: certificate.caCertificateID,
                                                            notAfter: certificate.notAfter)
        }
        var authorities: [String: Authority] = [:]
        var seen: [String: Certificate] = [:]
        for record in state.caCertificates.values {
            let parsed = parsedCAs[record.certificateID] ?? (try? PEM.parseCertificate(pem: record.certificatePEM))
            guard let parsed else { continue }
            seen[record.certificateID] = parsed
            authorities[record.certificateID] = Authority(certificate: parsed, active: record.status == .active,
                                                          autoRegistration: record.autoRegistration,
                                                          verifier: ClientCertificateVerifier(trustRoots: [parsed]))
        }
        parsedCAs = seen
        self.certificates = certificates
        self.authorities = authorities
        let lists = state.allRevocationLists
        self.revocationLists = lists.mapValues(\.revokedSerials)
        var revoked: [String: String] = [:]
        if lists.isEmpty {
            leafKeys = [:]
        } else {
            // Which list applies: the registered CA's; for a certificate registered without a CA (or issued
            // by the gateway's CA), the lists of the CAs whose subject is its issuer.
            var listsBySubject: [DistinguishedName: [String]] = [:]
            for caID in lists.keys {
                let subject = seen[caID]?.subject ?? (state.localCA.flatMap { ca in (try? CertificateID.compute(ca)) == caID ? ca.subject : nil })
                if let subject { listsBySubject[subject, default: []].append(caID) }
            }
            var keys: [String: LeafKey] = [:]
            for certificate in state.certificates.values {
                let id = certificate.certificateID
                guard let key = leafKeys[id] ?? (try? PEM.parseCertificate(pem: certificate.certificatePEM)).map({
                    LeafKey(serial: CertificateRevocationList.serialKey($0.serialNumber), issuer: $0.issuer)
                }) else { continue }
                keys[id] = key
                let candidates = certificate.caCertificateID.map { [$0] } ?? listsBySubject[key.issuer] ?? []
                if let caID = candidates.first(where: { lists[$0]?.revokedSerials.contains(key.serial) == true }) {
                    revoked[id] = caID
                }
            }
            leafKeys = keys
        }
        self.revokedByList = revoked
        self.classifier = ClientCertificateVerifier(trustRoots: authorities.values.map(\.certificate) + (state.localCA.map { [$0] } ?? []))
    }

    /// Whether a connection authenticated by this certificate may stay connected: still ACTIVE (its CA
    /// too) and not expired since the handshake.
    public func allowsConnection(certificateID: String, at time: Date = Date()) -> Bool {
        guard let entry = certificates[certificateID], entry.status == .active, time.timeIntervalSince1970 <= entry.notAfter,
              revokedByList[certificateID] == nil else { return false }
        guard let ca = entry.caCertificateID else { return true }
        return authorities[ca]?.active == true
    }

    /// Checks the chain a device presented (DER, leaf first) at `time`.
    public func authenticate(derChain: [[UInt8]], at time: Date) async -> Decision {
        guard let leafDER = derChain.first else {
            return .rejected(ClientRejection(code: .noCertificate, reason: "the client presented no certificate"))
        }
        let leafID = CertificateID.compute(derBytes: leafDER)
        if let entry = certificates[leafID] {
            if entry.status == .pendingActivation, let caID = entry.caCertificateID {
                return .pendingActivation(certificateID: leafID, caCertificateID: caID, register: nil, rejection: ClientRejection(
                    code: .notActive, reason: "certificate \(leafID) is PENDING_ACTIVATION (registered by CA \(caID)); activate it to connect"))
            }
            guard entry.status == .active else {
                return .rejected(ClientRejection(code: .notActive, reason: "certificate \(leafID) is \(entry.status.rawValue)"))
            }
            if let caID = revokedByList[leafID] {
                return .rejected(ClientRejection(code: .revokedByCRL, reason: "certificate \(leafID) is on the revocation list of CA \(caID)"))
            }
            guard let caID = entry.caCertificateID else {
                guard let leaf = try? Certificate(derEncoded: leafDER) else {
                    if let problem = KeyStrength.problem(certificateDER: leafDER) {
                        return .rejected(ClientRejection(code: .weakKey, reason: "certificate \(leafID): \(problem)"))
                    }
                    return .rejected(ClientRejection(code: .malformedCertificate, reason: "the presented certificate is not valid X.509"))
                }
                return Self.decision(ClientCertificateVerifier.verifyPinned(leaf: leaf, at: time))
            }
            guard let ca = authorities[caID], ca.active else {
                return .rejected(ClientRejection(code: .caNotActive, reason: "certificate \(leafID) was registered under CA \(caID), which is not ACTIVE"))
            }
            return Self.decision(await ca.verifier.verify(derChain: derChain, at: time))
        }
        let verification = await classifier.verify(derChain: derChain, at: time)
        guard case .trusted(let leaf, let chain, _) = verification else { return Self.decision(verification) }
        let notRegistered = ClientRejection(code: .notRegistered, reason: "certificate \(leafID) ('\(leaf.subject)') is not registered")
        if let root = chain.last, let rootID = try? CertificateID.compute(root),
           revocationLists[rootID]?.contains(CertificateRevocationList.serialKey(leaf.serialNumber)) == true {
            return .rejected(ClientRejection(code: .revokedByCRL, reason: "certificate \(leafID) is on the revocation list of CA \(rootID)"))
        }
        if let root = chain.last, let rootID = try? CertificateID.compute(root), let ca = authorities[rootID], ca.active, ca.autoRegistration,
           let parsed = try? ParsedCertificate(certificate: leaf) {
            return .pendingActivation(certificateID: leafID, caCertificateID: rootID, register: parsed, rejection: ClientRejection(
                code: .notActive, reason: "certificate \(leafID) is registered as PENDING_ACTIVATION (auto-registration by CA \(rootID))"))
        }
        return .rejected(notRegistered)
    }

    static func decision(_ verification: ClientVerification) -> Decision {
        switch verification {
        case .trusted(_, _, let id): .accepted(certificateID: id)
        case .rejected(let rejection): .rejected(rejection)
        }
    }
}
