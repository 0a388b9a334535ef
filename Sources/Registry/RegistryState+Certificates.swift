import Foundation
import X509

/// Device certificates and CA certificates, with AWS's preconditions (reference 2.1, 2.2, 9.3).
extension RegistryState {
    // MARK: device certificates

    /// A certificate the gateway's CA just issued (CreateKeysAndCertificate, CreateCertificateFromCsr).
    public mutating func addIssuedCertificate(_ parsed: ParsedCertificate, setAsActive: Bool, now: Double) throws(RegistryError) -> DeviceCertificate {
        try insert(parsed, caCertificateID: nil, mode: .default, status: setAsActive ? .active : .inactive, now: now)
    }

    /// RegisterCertificate: a certificate signed by a registered, ACTIVE CA (named by `caPEM` or found by
    /// its issuer), or by the gateway's own CA. Without a status it is registered INACTIVE.
    public mutating func registerCertificate(pem: String, caPEM: String?, status: String?, setAsActive: Bool?, now: Double)
        throws(RegistryError) -> DeviceCertificate
    {
        let parsed = try ParsedCertificate(pem: pem, field: "certificatePem")
        let status = try Self.registrationStatus(status, setAsActive: setAsActive)
        let candidates: [CACertificateRecord]
        if let caPEM {
            let ca = try ParsedCertificate(pem: caPEM, field: "caCertificatePem")
            guard let record = caCertificates[ca.certificateID] else {
                throw RegistryError(.certificateValidation, "The CA certificate \(ca.certificateID) is not registered.")
            }
            candidates = [record]
        } else {
            candidates = caCertificates.values.sorted { $0.createdAt < $1.createdAt }
        }
        for record in candidates {
            guard let ca = try? ParsedCertificate(pem: record.certificatePEM, field: "caCertificate"), parsed.isSigned(by: ca.certificate) else { continue }
            guard record.status == .active else {
                throw RegistryError(.certificateState, "The CA certificate \(record.certificateID) that signed this certificate is not ACTIVE.")
            }
            return try insert(parsed, caCertificateID: record.certificateID, mode: record.mode, status: status, now: now)
        }
        if caPEM == nil, let localCA, parsed.isSigned(by: localCA) {
            return try insert(parsed, caCertificateID: nil, mode: .default, status: status, now: now)
        }
        throw RegistryError(.certificateValidation, caPEM == nil
            ? "The certificate is not signed by a registered CA certificate: register its CA first, or use RegisterCertificateWithoutCA."
            : "The certificate is not signed by the given CA certificate.")
    }

    /// RegisterCertificateWithoutCA: any issuer; the certificate itself is what is trusted (SNI_ONLY).
    public mutating func registerCertificateWithoutCA(pem: String, status: String?, now: Double) throws(RegistryError) -> DeviceCertificate {
        let parsed = try ParsedCertificate(pem: pem, field: "certificatePem")
        let status = try Self.registrationStatus(status, setAsActive: nil)
        return try insert(parsed, caCertificateID: nil, mode: .sniOnly, status: status, now: now)
    }

    /// A device presented an unknown certificate signed by a CA with auto-registration on: it is
    /// registered PENDING_ACTIVATION (and refused until someone activates it). Nil if the CA no longer
    /// allows it or the certificate is known by now.
    public mutating func autoRegister(_ parsed: ParsedCertificate, caCertificateID: String, now: Double) -> DeviceCertificate? {
        guard certificates[parsed.certificateID] == nil, let ca = caCertificates[caCertificateID],
              ca.status == .active, ca.autoRegistration else { return nil }
        return try? insert(parsed, caCertificateID: caCertificateID, mode: ca.mode, status: .pendingActivation, now: now)
    }

    public func certificate(id: String) throws(RegistryError) -> DeviceCertificate {
        let id = try CertificateRules.normalisedID(id)
        guard let certificate = certificates[id] else {
            throw RegistryError(.resourceNotFound, "The certificate \(id) does not exist.")
        }
        return certificate
    }

    /// Every registered certificate, for the gateway's snapshot.
    public var allCertificates: Dictionary<String, DeviceCertificate>.Values { certificates.values }
    public var allCACertificates: Dictionary<String, CACertificateRecord>.Values { caCertificates.values }

    /// ListCertificates, or ListCertificatesByCA when `caCertificateID` is given; newest first unless ascending.
    public func listCertificates(caCertificateID: String?, marker: String?, pageSize: Int?, ascending: Bool) throws(RegistryError)
        -> (certificates: [DeviceCertificate], nextMarker: String?)
    {
        var selected = Array(certificates.values)
        if let caCertificateID {
            let id = try CertificateRules.normalisedID(caCertificateID, field: "caCertificateId")
            guard caCertificates[id] != nil else {
                throw RegistryError(.resourceNotFound, "The CA certificate \(id) does not exist.")
            }
            selected = selected.filter { $0.caCertificateID == id }
        }
        let sorted = selected.sorted { ($0.createdAt, $0.certificateID) < ($1.createdAt, $1.certificateID) }
        let page = try Self.page(ascending ? sorted : sorted.reversed(), key: \.certificateID, marker: marker,
                                 pageSize: pageSize ?? CertificateRules.defaultPageSize, maximum: 250)
        return (page.items, page.nextMarker)
    }

    /// UpdateCertificate. REVOKED is final; PENDING_TRANSFER and PENDING_ACTIVATION are the service's to set.
    public mutating func updateCertificate(id: String, newStatus: String, now: Double) throws(RegistryError) {
        var certificate = try certificate(id: id)
        guard let status = CertificateStatus(rawValue: newStatus) else {
            throw RegistryError(.invalidRequest, "newStatus must be one of ACTIVE, INACTIVE, REVOKED, REGISTER_INACTIVE.")
        }
        guard status != .pendingTransfer, status != .pendingActivation else {
            throw RegistryError(.invalidRequest, "The status \(status.rawValue) cannot be set with UpdateCertificate.")
        }
        if certificate.status == .revoked, status != .revoked {
            throw RegistryError(.certificateState, "The certificate \(certificate.certificateID) is revoked; a revoked certificate cannot be changed.")
        }
        if certificate.status == .pendingTransfer {
            throw RegistryError(.certificateState, "The certificate \(certificate.certificateID) is being transferred.")
        }
        guard certificate.status != status else { return }
        certificate.status = status
        certificate.lastModifiedAt = now
        certificate.customerVersion += 1
        certificate.generationID = Self.newGenerationID()
        certificates[certificate.certificateID] = certificate
    }

    /// DeleteCertificate: not while ACTIVE, not while attached to a thing; attached policies only with
    /// forceDelete, which detaches them.
    public mutating func deleteCertificate(id: String, forceDelete: Bool) throws(RegistryError) {
        let certificate = try certificate(id: id)
        let arn = arns.certificate(certificate.certificateID)
        guard certificate.status != .active else {
            throw RegistryError(.certificateState, "Certificate must be deactivated (not ACTIVE) before deletion. Id: \(certificate.certificateID)")
        }
        if thingPrincipals.contains(where: { $0.value[arn] != nil }) {
            throw RegistryError(.deleteConflict, "Things must be detached before deletion (arn: \(arn))")
        }
        let attached = policyTargets.filter { $0.value.contains(arn) }.keys
        if !attached.isEmpty {
            guard forceDelete else {
                throw RegistryError(.deleteConflict, "Certificate policies must be detached before deletion (arn: \(arn))")
            }
            for name in attached { policyTargets[name]?.remove(arn) }
        }
        certificates[certificate.certificateID] = nil
    }

    private mutating func insert(_ parsed: ParsedCertificate, caCertificateID: String?, mode: CertificateMode,
                                 status: CertificateStatus, now: Double) throws(RegistryError) -> DeviceCertificate {
        guard certificates[parsed.certificateID] == nil else {
            throw RegistryError(.resourceAlreadyExists, "The certificate is already provisioned or registered", resourceID: parsed.certificateID,
                                resourceARN: arns.certificate(parsed.certificateID))
        }
        guard caCertificates[parsed.certificateID] == nil else {
            throw RegistryError(.resourceAlreadyExists, "The certificate is registered as a CA certificate.", resourceID: parsed.certificateID,
                                resourceARN: arns.caCertificate(parsed.certificateID))
        }
        let certificate = DeviceCertificate(
            certificateID: parsed.certificateID, certificatePEM: parsed.pem, caCertificateID: caCertificateID, status: status, mode: mode,
            createdAt: now, lastModifiedAt: now, customerVersion: 1, generationID: Self.newGenerationID(),
            notBefore: parsed.notBefore, notAfter: parsed.notAfter)
        certificates[certificate.certificateID] = certificate
        return certificate
    }

    /// The status a certificate is registered with: `status` (ACTIVE, INACTIVE or REVOKED... as AWS
    /// allows), else the deprecated `setAsActive`, else INACTIVE.
    static func registrationStatus(_ status: String?, setAsActive: Bool?) throws(RegistryError) -> CertificateStatus {
        guard let status else { return setAsActive == true ? .active : .inactive }
        guard let value = CertificateStatus(rawValue: status), value != .pendingTransfer, value != .pendingActivation else {
            throw RegistryError(.invalidRequest, "status must be one of ACTIVE, INACTIVE, REVOKED, REGISTER_INACTIVE.")
        }
        return value
    }

    // MARK: CA certificates

    /// GetRegistrationCode: created on first use, then the same until deleted.
    public mutating func obtainRegistrationCode() -> String {
        if let registrationCode { return registrationCode }
        var generator = SystemRandomNumberGenerator()
        let code = (0..<4).map { _ in
            let value = generator.next() as UInt64
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
        registrationCode = code
        return code
    }

    public mutating func deleteRegistrationCode() { registrationCode = nil }

    /// RegisterCACertificate. DEFAULT mode proves possession of the CA key with a verification certificate
    /// it signed whose CN is the registration code; SNI_ONLY needs none. INACTIVE unless `setAsActive`.
    public mutating func registerCACertificate(pem: String, verificationPEM: String?, setAsActive: Bool, allowAutoRegistration: Bool,
                                               mode: String?, now: Double) throws(RegistryError) -> CACertificateRecord {
        let ca = try ParsedCertificate(pem: pem, field: "caCertificate")
        let verification = verificationPEM.flatMap { $0.isEmpty ? nil : $0 }
        let certificateMode: CertificateMode
        switch mode {
        case nil: certificateMode = verification == nil ? .sniOnly : .default
        case "DEFAULT": certificateMode = .default
        case "SNI_ONLY": certificateMode = .sniOnly
        default: throw RegistryError(.invalidRequest, "certificateMode must be DEFAULT or SNI_ONLY.")
        }
        guard ca.isCertificateAuthority else {
            throw RegistryError(.certificateValidation, "The certificate is not a CA certificate (basicConstraints CA:TRUE is missing).")
        }
        switch certificateMode {
        case .default:
            guard let verification else {
                throw RegistryError(.invalidRequest, "A CA certificate in DEFAULT mode needs a verificationCertificate.")
            }
            let proof = try ParsedCertificate(pem: verification, field: "verificationCertificate")
            guard let code = registrationCode else {
                throw RegistryError(.registrationCodeValidation, "There is no registration code: call GetRegistrationCode first.")
            }
            guard proof.isSigned(by: ca.certificate) else {
                throw RegistryError(.certificateValidation, "The verification certificate is not signed by the CA certificate.")
            }
            guard proof.commonName == code else {
                throw RegistryError(.registrationCodeValidation, "The common name of the verification certificate is not the registration code.")
            }
        case .sniOnly:
            guard verification == nil else {
                throw RegistryError(.invalidRequest, "A CA certificate in SNI_ONLY mode takes no verificationCertificate.")
            }
        }
        guard certificates[ca.certificateID] == nil else {
            throw RegistryError(.resourceAlreadyExists, "The certificate is registered as a device certificate.", resourceID: ca.certificateID,
                                resourceARN: arns.certificate(ca.certificateID))
        }
        guard caCertificates[ca.certificateID] == nil else {
            throw RegistryError(.resourceAlreadyExists, "The CA certificate is already registered.", resourceID: ca.certificateID,
                                resourceARN: arns.caCertificate(ca.certificateID))
        }
        let sameSubject = caCertificates.values.filter { record in
            (try? ParsedCertificate(pem: record.certificatePEM, field: "caCertificate"))?.certificate.subject == ca.certificate.subject
        }
        guard sameSubject.count < CertificateRules.maximumCAsPerSubject else {
            throw RegistryError(.limitExceeded, "At most \(CertificateRules.maximumCAsPerSubject) CA certificates may have the same subject.")
        }
        let record = CACertificateRecord(
            certificateID: ca.certificateID, certificatePEM: ca.pem, status: setAsActive ? .active : .inactive,
            autoRegistration: allowAutoRegistration, mode: certificateMode, createdAt: now, lastModifiedAt: now, customerVersion: 1,
            generationID: Self.newGenerationID(), notBefore: ca.notBefore, notAfter: ca.notAfter)
        caCertificates[record.certificateID] = record
        return record
    }

    public func caCertificate(id: String) throws(RegistryError) -> CACertificateRecord {
        let id = try CertificateRules.normalisedID(id, field: "caCertificateId")
        guard let record = caCertificates[id] else {
            throw RegistryError(.resourceNotFound, "The CA certificate \(id) does not exist.")
        }
        return record
    }

    /// UpdateCACertificate: status ACTIVE or INACTIVE, auto-registration ENABLE or DISABLE.
    public mutating func updateCACertificate(id: String, newStatus: String?, newAutoRegistrationStatus: String?,
                                             removeAutoRegistration: Bool, now: Double) throws(RegistryError) {
        var record = try caCertificate(id: id)
        let before = record
        if let newStatus {
            guard let status = CACertificateStatus(rawValue: newStatus) else {
                throw RegistryError(.invalidRequest, "newStatus must be ACTIVE or INACTIVE.")
            }
            record.status = status
        }
        if let newAutoRegistrationStatus {
            switch newAutoRegistrationStatus {
            case "ENABLE": record.autoRegistration = true
            case "DISABLE": record.autoRegistration = false
            default: throw RegistryError(.invalidRequest, "newAutoRegistrationStatus must be ENABLE or DISABLE.")
            }
        }
        if removeAutoRegistration { record.autoRegistration = false }
        guard record != before else { return }
        record.lastModifiedAt = now
        record.customerVersion += 1
        record.generationID = Self.newGenerationID()
        caCertificates[record.certificateID] = record
    }

    public func listCACertificates(marker: String?, pageSize: Int?, ascending: Bool) throws(RegistryError)
        -> (certificates: [CACertificateRecord], nextMarker: String?)
    {
        let sorted = caCertificates.values.sorted { ($0.createdAt, $0.certificateID) < ($1.createdAt, $1.certificateID) }
        let page = try Self.page(ascending ? sorted : sorted.reversed(), key: \.certificateID, marker: marker,
                                 pageSize: pageSize ?? CertificateRules.defaultPageSize, maximum: 250)
        return (page.items, page.nextMarker)
    }

    /// DeleteCACertificate: not while ACTIVE, not while device certificates registered under it remain.
    public mutating func deleteCACertificate(id: String) throws(RegistryError) {
        let record = try caCertificate(id: id)
        guard record.status != .active else {
            throw RegistryError(.certificateState, "The CA certificate \(record.certificateID) is ACTIVE: deactivate it before deleting it.")
        }
        let remaining = certificates.values.filter { $0.caCertificateID == record.certificateID }.count
        guard remaining == 0 else {
            throw RegistryError(.certificateState, "\(remaining) certificates are registered under the CA certificate \(record.certificateID): delete them first.")
        }
        caCertificates[record.certificateID] = nil
        revocationLists[record.certificateID] = nil
        forgetTags(of: arns.caCertificate(record.certificateID))
    }
}
