import DeviceIdentity
import IoTPolicy
import SwiftASN1
import X509

/// The certificate policy variables of reference 3.5: every Subject and Issuer field by AWS's names, the
/// subject alternative names, and the serial number, with all their values (indexed and `.List`).
public enum CertificateFields {
    /// AWS's field names and the attribute types they read.
    static let attributes: [(String, ASN1ObjectIdentifier)] = [
        ("DistinguishedNameQualifier", [2, 5, 4, 46]), ("Country", [2, 5, 4, 6]), ("Organization", [2, 5, 4, 10]),
        ("OrganizationalUnit", [2, 5, 4, 11]), ("State", [2, 5, 4, 8]), ("CommonName", [2, 5, 4, 3]),
        ("SerialNumber", [2, 5, 4, 5]), ("Title", [2, 5, 4, 12]), ("Surname", [2, 5, 4, 4]), ("GivenName", [2, 5, 4, 42]),
        ("Initials", [2, 5, 4, 43]), ("Pseudonym", [2, 5, 4, 65]), ("GenerationQualifier", [2, 5, 4, 44]),
    ]

    /// Adds the certificate's variables to `context`.
    public static func add(_ certificate: Certificate, to context: inout AuthorizationContext) {
        for (prefix, name) in [("iot:Certificate.Subject", certificate.subject), ("iot:Certificate.Issuer", certificate.issuer)] {
            for (field, oid) in attributes {
                let values = name.flatMap { $0 }.filter { $0.type == oid }.compactMap { String($0.value) }
                if !values.isEmpty { context.setCertificateField("\(prefix).\(field)", values: values) }
            }
        }
        if let names = try? certificate.extensions.subjectAlternativeNames {
            addAlternativeNames(Array(names), prefix: "iot:Certificate.Subject.AlternativeName", to: &context)
        }
        // The issuer alternative names extension (2.5.29.18) holds the same GeneralNames structure as
        // the subject's; swift-certificates parses only the latter, so its parser reads the bytes.
        if let issuer = certificate.extensions.first(where: { $0.oid == Self.issuerAlternativeNameOID }),
           let names = try? SubjectAlternativeNames(Certificate.Extension(oid: .X509ExtensionID.subjectAlternativeName,
                                                                          critical: issuer.critical, value: issuer.value)) {
            addAlternativeNames(Array(names), prefix: "iot:Certificate.Issuer.AlternativeName", to: &context)
        }
        let serial = certificate.serialNumber.bytes.map { byte -> String in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
        context.setCertificateField("iot:Certificate.SerialNumber", values: [serial])
    }

    static let issuerAlternativeNameOID: ASN1ObjectIdentifier = [2, 5, 29, 18]

    static func addAlternativeNames(_ names: [GeneralName], prefix: String, to context: inout AuthorizationContext) {
        var byKind: [String: [String]] = [:]
        for name in names {
            switch name {
            case .rfc822Name(let value): byKind["RFC822Name", default: []].append(value)
            case .dnsName(let value): byKind["DNSName", default: []].append(value)
            case .uniformResourceIdentifier(let value): byKind["UniformResourceIdentifier", default: []].append(value)
            case .directoryName(let value): byKind["DirectoryName", default: []].append(String(describing: value))
            case .ipAddress(let bytes): byKind["IPAddress", default: []].append(ipText(Array(bytes.bytes)))
            default: break
            }
        }
        for (kind, values) in byKind.sorted(by: { $0.key < $1.key }) {
            context.setCertificateField("\(prefix).\(kind)", values: values)
        }
    }

    static func ipText(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return "" }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}
