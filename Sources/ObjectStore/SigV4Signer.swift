import Crypto
import Foundation

/// Credentials of an S3-compatible store.
public struct S3Credentials: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, if set.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> S3Credentials? {
        guard let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty,
            let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        else { return nil }
        return S3Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
    }
}

/// AWS Signature Version 4 for the Authorization header: a pure function of the
/// request, the credentials, the region and the time.
public struct SigV4Signer: Sendable {
    public var credentials: S3Credentials
    public var region: String
    public var service = "s3"

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256`,
    /// `x-amz-security-token` (with a session token) and `Authorization`.
    ///
    /// - Parameters:
    ///   - path: the request path, not yet percent-encoded (`/bucket/a key`).
    ///   - query: query parameters, not yet encoded; the request must send exactly
    ///     `canonicalQuery(query)` as its query string.
    ///   - headers: the other headers to sign; must include `host`.
    public func sign(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String, date: Date
    ) -> [(String, String)] {
        let amzDate = Self.amzDate(date)
        let day = String(amzDate.prefix(8))
        let signed = signedHeaders(headers, amzDate: amzDate, payloadHash: payloadHash)
        let signedHeaderNames = signed.map(\.0).joined(separator: ";")
        let canonicalRequest = Self.canonicalRequest(method: method, path: path, query: query, signedHeaders: signed, payloadHash: payloadHash)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))].joined(separator: "\n")

        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        var result = signed.filter { ["x-amz-date", "x-amz-content-sha256", "x-amz-security-token"].contains($0.0) }
        result.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope),SignedHeaders=\(signedHeaderNames),Signature=\(signature)"))
        return result
    }

    /// The headers that are signed, lower-cased, trimmed and sorted: the given ones
    /// plus `x-amz-date`, `x-amz-content-sha256` and the session token.
    func signedHeaders(_ headers: [(String, String)], amzDate: String, payloadHash: String) -> [(String, String)] {
        var signed = headers.map { ($0.0.lowercased(), Self.trimHeaderValue($0.1)) }
        signed.append(("x-amz-date", amzDate))
        signed.append(("x-amz-content-sha256", payloadHash))
        if let token = credentials.sessionToken { signed.append(("x-amz-security-token", token)) }
        return signed.sorted { $0.0 < $1.0 }
    }

    /// SigV4's canonical request: method, encoded path, canonical query, headers,
    /// signed header names and payload hash, one per line.
    public static func canonicalRequest(
        method: String, path: String, query: [(String, String)], signedHeaders: [(String, String)], payloadHash: String
    ) -> String {
        let canonicalHeaders = signedHeaders.map { "\($0.0):\($0.1)\n" }.joined()
        return [
            method, uriEncode(path, encodeSlash: false), canonicalQuery(query), canonicalHeaders,
            signedHeaders.map(\.0).joined(separator: ";"), payloadHash,
        ].joined(separator: "\n")
    }

    /// The canonical query string: every name and value URI-encoded (`/`, `=`, `+`,
    /// space and every non-ASCII byte as %XX), sorted by encoded name then value,
    /// `name=value` joined by `&`. The one place a query string is made: requests
    /// send these bytes, so a server that verifies the raw query agrees.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { pair in
            (uriEncode(pair.0, encodeSlash: true), uriEncode(pair.1, encodeSlash: true))
        }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// AWS's URI encoding: unreserved characters as they are, everything else %XX
    /// (uppercase hex) per UTF-8 byte; `/` kept in paths.
    public static func uriEncode(_ text: String, encodeSlash: Bool) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                result.append(Character(UnicodeScalar(byte)))
            case UInt8(ascii: "/") where !encodeSlash:
                result.append("/")
            default:
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }

    private static func trimHeaderValue(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// Hex SHA-256 of a payload, as `x-amz-content-sha256` wants it.
    public static func payloadHash<D: DataProtocol>(_ data: D) -> String {
        hex(SHA256.hash(data: data))
    }
}
