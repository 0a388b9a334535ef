import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// An X.509 certificate revocation list (RFC 5280 section 5), parsed and checked: who issued it, when,
/// and the serial numbers it revokes. swift-certificates has no CRL type, so the DER is read here with
/// SwiftASN1; the signature is verified with swift-certificates' public key types.
public struct CertificateRevocationList: Sendable {
    /// The most a CRL may be: about 80,000 entries.
    public static let maximumBytes = 4 * 1024 * 1024

    public let issuer: DistinguishedName
    public let thisUpdate: Date
    public let nextUpdate: Date?
    /// The revoked serial numbers as lowercase hex of their DER content bytes (as the certificate's
    /// `serialNumber.bytes`), so a lookup is one set membership test.
    public let revokedSerials: Set<String>
    /// The CRL number extension, when present (hex).
    public let crlNumber: String?
    public let der: [UInt8]
    let tbsBytes: ArraySlice<UInt8>
    let signatureAlgorithmOID: ASN1ObjectIdentifier
    let signatureBytes: ArraySlice<UInt8>

    /// Parses a CRL given as PEM (`X509 CRL`) or DER.
    public init(bytes: [UInt8]) throws(DeviceIdentityError) {
        guard bytes.count <= Self.maximumBytes else {
            throw DeviceIdentityError(code: .invalidRevocationList, reason: "the CRL is larger than \(Self.maximumBytes) bytes")
        }
        var der = bytes
        if let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN") {
            guard let document = try? PEMDocument(pemString: text), document.discriminator == "X509 CRL" else {
                throw DeviceIdentityError(code: .invalidRevocationList, reason: "the PEM is not one X509 CRL block")
            }
            der = document.derBytes
        }
        do {
            self = try Self.parse(der: der)
        } catch let error as DeviceIdentityError {
            throw error
        } catch {
            throw DeviceIdentityError(code: .invalidRevocationList, reason: "the CRL is not valid DER: \(error)")
        }
    }

    private init(issuer: DistinguishedName, thisUpdate: Date, nextUpdate: Date?, revokedSerials: Set<String>, crlNumber: String?,
                 der: [UInt8], tbsBytes: ArraySlice<UInt8>, signatureAlgorithmOID: ASN1ObjectIdentifier, signatureBytes: ArraySlice<UInt8>) {
        self.issuer = issuer
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.revokedSerials = revokedSerials
        self.crlNumber = crlNumber
        self.der = der
        self.tbsBytes = tbsBytes
        self.signatureAlgorithmOID = signatureAlgorithmOID
        self.signatureBytes = signatureBytes
    }

    /// Whether `ca` issued this list: the issuer name is its subject and its key verifies the signature.
    public func isSigned(by ca: Certificate) -> Bool {
        guard issuer == ca.subject, let algorithm = Self.signatureAlgorithm(signatureAlgorithmOID) else { return false }
        return ca.publicKey.isValidSignature(signatureBytes, for: tbsBytes, signatureAlgorithm: algorithm)
    }

    /// The hex form of a certificate's serial number, as `revokedSerials` holds them.
    public static func serialKey(_ serial: Certificate.SerialNumber) -> String { hex(serial.bytes) }

    static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        var text = ""
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(Character(Unicode.Scalar(hexDigits[Int(byte >> 4)])))
            text.append(Character(Unicode.Scalar(hexDigits[Int(byte & 0x0F)])))
        }
        return text
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func parse(der: [UInt8]) throws -> CertificateRevocationList {
        let root = try DER.parse(der)
        return try DER.sequence(root, identifier: .sequence) { nodes in
            guard let tbs = nodes.next() else { throw DeviceIdentityError(code: .invalidRevocationList, reason: "the CRL has no TBSCertList") }
            let (algorithm, _) = try Self.algorithmIdentifier(&nodes)
            let signature = try ASN1BitString(derEncoded: &nodes)
            let fields = try DER.sequence(tbs, identifier: .sequence) { tbsNodes in
                // version INTEGER OPTIONAL (v2 = 1)
                var version = 0
                if Self.peek(tbsNodes) == .integer { version = try Int(derEncoded: &tbsNodes) }
                guard version <= 1 else { throw DeviceIdentityError(code: .invalidRevocationList, reason: "unsupported CRL version \(version + 1)") }
                let (innerAlgorithm, _) = try Self.algorithmIdentifier(&tbsNodes)
                let issuer = try DistinguishedName(derEncoded: &tbsNodes)
                guard let thisUpdate = try Self.time(&tbsNodes, required: true) else {
                    throw DeviceIdentityError(code: .invalidRevocationList, reason: "thisUpdate is not a valid date")
                }
                let nextUpdate = try Self.time(&tbsNodes, required: false)
                var serials = Set<String>()
                if Self.peek(tbsNodes) == .sequence {
                    try DER.sequence(of: RevokedEntry.self, identifier: .sequence, nodes: &tbsNodes).forEach { serials.insert(Self.hex($0.serial)) }
                }
                var crlNumber: String?
                if Self.peek(tbsNodes) == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) {
                    let explicit = tbsNodes.next()!
                    crlNumber = try DER.explicitlyTagged(explicit, tagNumber: 0, tagClass: .contextSpecific) { node in
                        try Self.crlNumber(in: node)
                    }
                }
                guard tbsNodes.next() == nil else { throw DeviceIdentityError(code: .invalidRevocationList, reason: "trailing data in TBSCertList") }
                return (innerAlgorithm, issuer, thisUpdate, nextUpdate, serials, crlNumber)
            }
            guard fields.0 == algorithm else {
                throw DeviceIdentityError(code: .invalidRevocationList, reason: "the CRL's two signature algorithms differ")
            }
            return CertificateRevocationList(
                issuer: fields.1, thisUpdate: fields.2, nextUpdate: fields.3, revokedSerials: fields.4, crlNumber: fields.5,
                der: der, tbsBytes: tbs.encodedBytes, signatureAlgorithmOID: algorithm, signatureBytes: signature.bytes)
        }
    }

    /// One `revokedCertificates` entry: the serial; the date and entry extensions are not needed.
    private struct RevokedEntry: DERParseable {
        var serial: ArraySlice<UInt8>
        init(derEncoded node: ASN1Node) throws {
            serial = try DER.sequence(node, identifier: .sequence) { nodes in
                let serial = try ArraySlice<UInt8>(derEncoded: &nodes)
                _ = try CertificateRevocationList.time(&nodes, required: true)
                _ = nodes.next()  // crlEntryExtensions, optional
                return serial
            }
        }
    }

    private static func algorithmIdentifier(_ nodes: inout ASN1NodeCollection.Iterator) throws -> (ASN1ObjectIdentifier, Bool) {
        guard let node = nodes.next() else { throw DeviceIdentityError(code: .invalidRevocationList, reason: "missing AlgorithmIdentifier") }
        return try DER.sequence(node, identifier: .sequence) { inner in
            let oid = try ASN1ObjectIdentifier(derEncoded: &inner)
            let hasParameters = inner.next() != nil
            return (oid, hasParameters)
        }
    }

    /// The identifier of the next node, without consuming it.
    static func peek(_ nodes: ASN1NodeCollection.Iterator) -> ASN1Identifier? {
        var copy = nodes
        return copy.next()?.identifier
    }

    static func time(_ nodes: inout ASN1NodeCollection.Iterator, required: Bool) throws -> Date? {
        guard let identifier = peek(nodes) else {
            if required { throw DeviceIdentityError(code: .invalidRevocationList, reason: "missing time") }
            return nil
        }
        switch identifier {
        case .utcTime:
            let t = try UTCTime(derEncoded: &nodes)
            return date(t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
        case .generalizedTime:
            let t = try GeneralizedTime(derEncoded: &nodes)
            return date(t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
        default:
            if required { throw DeviceIdentityError(code: .invalidRevocationList, reason: "expected a UTCTime or GeneralizedTime") }
            return nil
        }
    }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    static func date(_ year: Int, _ month: Int, _ day: Int, _ hours: Int, _ minutes: Int, _ seconds: Int) -> Date? {
        utc.date(from: DateComponents(year: year, month: month, day: day, hour: hours, minute: minutes, second: seconds))
    }

    static func generalizedTime(_ date: Date) throws -> GeneralizedTime {
        let c = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return try GeneralizedTime(year: c.year!, month: c.month!, day: c.day!, hours: c.hour!, minutes: c.minute!, seconds: c.second!,
                                   fractionalSeconds: 0)
    }

    private static let crlNumberOID: ASN1ObjectIdentifier = [2, 5, 29, 20]

    private static func crlNumber(in extensions: ASN1Node) throws -> String? {
        try DER.sequence(extensions, identifier: .sequence) { nodes in
            var found: String?
            while let node = nodes.next() {
                let value = try DER.sequence(node, identifier: .sequence) { inner -> String? in
                    let oid = try ASN1ObjectIdentifier(derEncoded: &inner)
                    if Self.peek(inner) == .boolean { _ = try Bool(derEncoded: &inner) }
                    let octets = try ASN1OctetString(derEncoded: &inner)
                    guard oid == crlNumberOID else { return nil }
                    return Self.hex(try ArraySlice<UInt8>(derEncoded: octets.bytes))
                }
                if let value { found = value }
            }
            return found
        }
    }

    static func signatureAlgorithm(_ oid: ASN1ObjectIdentifier) -> Certificate.SignatureAlgorithm? {
        switch oid {
        case [1, 2, 840, 10045, 4, 3, 2]: .ecdsaWithSHA256
        case [1, 2, 840, 10045, 4, 3, 3]: .ecdsaWithSHA384
        case [1, 2, 840, 10045, 4, 3, 4]: .ecdsaWithSHA512
        case [1, 2, 840, 113549, 1, 1, 11]: .sha256WithRSAEncryption
        case [1, 2, 840, 113549, 1, 1, 12]: .sha384WithRSAEncryption
        case [1, 2, 840, 113549, 1, 1, 13]: .sha512WithRSAEncryption
        default: nil
        }
    }
}

extension CertificateAuthority {
    /// Issues a CRL (v2) revoking `serials`, signed with this CA's key: for tests, and for operators who
    /// revoke devices of the gateway's own CA.
    public func makeRevocationList(revoking serials: [Certificate.SerialNumber], thisUpdate: Date, nextUpdate: Date,
                                   crlNumber: Int = 1) throws -> CertificateRevocationList {
        let isRSA = _RSA.Signing.PublicKey(privateKey.publicKey) != nil
        let algorithm: Certificate.SignatureAlgorithm = isRSA ? .sha256WithRSAEncryption : .ecdsaWithSHA256
        let oid: ASN1ObjectIdentifier = isRSA ? [1, 2, 840, 113549, 1, 1, 11] : [1, 2, 840, 10045, 4, 3, 2]
        do {
            var tbs = DER.Serializer()
            try tbs.appendConstructedNode(identifier: .sequence) { s in
                try s.serialize(1)  // v2
                try Self.serializeAlgorithm(oid, rsa: isRSA, into: &s)
                try s.serialize(certificate.subject)
                try s.serialize(try CertificateRevocationList.generalizedTime(thisUpdate))
                try s.serialize(try CertificateRevocationList.generalizedTime(nextUpdate))
                if !serials.isEmpty {
                    try s.appendConstructedNode(identifier: .sequence) { list in
                        for serial in serials {
                            try list.appendConstructedNode(identifier: .sequence) { entry in
                                try entry.serialize(serial.bytes)
                                try entry.serialize(try CertificateRevocationList.generalizedTime(thisUpdate))
                            }
                        }
                    }
                }
                try s.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { ext in
                    try ext.appendConstructedNode(identifier: .sequence) { list in
                        try list.appendConstructedNode(identifier: .sequence) { one in
                            let oid: ASN1ObjectIdentifier = [2, 5, 29, 20]
                            try one.serialize(oid)
                            var number = DER.Serializer()
                            try number.serialize(crlNumber)
                            try one.serialize(ASN1OctetString(contentBytes: number.serializedBytes[...]))
                        }
                    }
                }
            }
            let tbsBytes = tbs.serializedBytes
            let signature = try privateKey.sign(bytes: tbsBytes, signatureAlgorithm: algorithm)
            var whole = DER.Serializer()
            try whole.appendConstructedNode(identifier: .sequence) { s in
                s.serializeRawBytes(tbsBytes)
                try Self.serializeAlgorithm(oid, rsa: isRSA, into: &s)
                try s.serialize(ASN1BitString(bytes: signature.rawRepresentation[...]))
            }
            return try CertificateRevocationList(bytes: whole.serializedBytes)
        } catch let error as DeviceIdentityError {
            throw error
        } catch {
            throw DeviceIdentityError(code: .encodingFailed, reason: "cannot build the CRL: \(error)")
        }
    }

    private static func serializeAlgorithm(_ oid: ASN1ObjectIdentifier, rsa: Bool, into serializer: inout DER.Serializer) throws {
        try serializer.appendConstructedNode(identifier: .sequence) { s in
            try s.serialize(oid)
            if rsa { try s.serialize(ASN1Null()) }
        }
    }
}

extension CertificateRevocationList {
    /// The CRL as PEM.
    public var pem: String {
        PEMDocument(type: "X509 CRL", derBytes: der).pemString + "\n"
    }
}
