import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A CA and a server certificate for 127.0.0.1 and localhost, made at startup.
/// kubectl (client-go) sends bearer tokens only over TLS, so the fake serves HTTPS,
/// and its kubeconfig carries the CA as a real cluster's does.
public struct TLSIdentity: Sendable, Codable {
    /// The CA certificate, PEM: what a client trusts.
    public let caPEM: String
    let certificatePEM: String
    let privateKeyPEM: String

    /// A new CA and a server certificate signed by it, valid for a year.
    public static func generate() throws -> TLSIdentity {
        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("db-operator")
            CommonName("fake-apiserver-ca")
        }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))
        let serverKey = P256.Signing.PrivateKey()
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86400),
            issuer: caName, subject: try DistinguishedName { CommonName("fake-apiserver") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([
                    .dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                    .ipAddress(ASN1OctetString(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
                ])
            },
            issuerPrivateKey: .init(caKey))
        return TLSIdentity(
            caPEM: try ca.serializeAsPEM().pemString, certificatePEM: try server.serializeAsPEM().pemString,
            privateKeyPEM: serverKey.pemRepresentation)
    }

    func serverConfiguration() throws -> TLSConfiguration {
        TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)))
    }

    /// A client configuration that trusts this CA.
    public func clientConfiguration() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(caPEM.utf8), format: .pem)])
        return configuration
    }
}

/// The identity a data directory keeps across restarts, so kubeconfigs written
/// before keep working: the serving CA, certificate and key, and the tokens.
struct SavedIdentity: Codable {
    var tls: TLSIdentity?
    var tokens: [String: String]
    /// The key service-account tokens are signed with (32 bytes).
    var serviceAccountKey: Data?

    /// Reads `identity.json`, or makes and writes it (mode 0600). Users of `tokens`
    /// that it lacks are added to it; a TLS identity is made if it has none.
    static func loadOrCreate(directory: String, tls: Bool, tokens: [String: String]) throws -> SavedIdentity {
        let path = directory + "/identity.json"
        var saved: SavedIdentity
        var changed = false
        if let data = FileManager.default.contents(atPath: path) {
            saved = try JSONDecoder().decode(SavedIdentity.self, from: data)
        } else {
            saved = SavedIdentity(tls: nil, tokens: [:])
            changed = true
        }
        let users = Set(saved.tokens.values)
        for (token, user) in tokens where !users.contains(user) {
            saved.tokens[token] = user
            changed = true
        }
        if saved.serviceAccountKey == nil {
            saved.serviceAccountKey = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
            changed = true
        }
        if tls && saved.tls == nil {
            saved.tls = try TLSIdentity.generate()
            changed = true
        }
        if changed {
            let temporary = path + ".tmp"
            guard FileManager.default.createFile(atPath: temporary, contents: try JSONEncoder().encode(saved), attributes: [.posixPermissions: 0o600]) else {
                throw Journal.WriteFailed(description: "cannot write \(temporary)")
            }
            guard rename(temporary, path) == 0 else { throw Journal.WriteFailed(description: "cannot write \(path)") }
        }
        return saved
    }
}
