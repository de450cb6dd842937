import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Credentials from a web identity, as on EKS (IAM Roles for Service Accounts): the
/// projected service-account token in `AWS_WEB_IDENTITY_TOKEN_FILE` is exchanged for
/// temporary keys of `AWS_ROLE_ARN` with STS `AssumeRoleWithWebIdentity` (an unsigned
/// call). Written by hand for the same reason as the S3 client: no package here
/// speaks STS.
public struct WebIdentity: Sendable, Hashable {
    public var roleARN: String
    public var tokenFile: String
    public var sessionName: String
    /// `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else STS of `region`
    /// (`https://sts.<region>.amazonaws.com`), else the global `https://sts.amazonaws.com`.
    public var stsEndpoint: String

    public init(roleARN: String, tokenFile: String, sessionName: String, stsEndpoint: String) {
        self.roleARN = roleARN
        self.tokenFile = tokenFile
        self.sessionName = sessionName
        self.stsEndpoint = stsEndpoint
    }

    /// From `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE` (both needed),
    /// `AWS_ROLE_SESSION_NAME`, the endpoint variables and `AWS_REGION`.
    public static func fromEnvironment(_ environment: [String: String], region: String? = nil) -> WebIdentity? {
        guard let role = environment["AWS_ROLE_ARN"], !role.isEmpty, let file = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], !file.isEmpty else {
            return nil
        }
        let region = environment["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["AWS_DEFAULT_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? region
        let endpoint = [environment["AWS_ENDPOINT_URL_STS"], environment["AWS_ENDPOINT_URL"]].compactMap { $0 }.first { !$0.isEmpty }
            ?? region.map { "https://sts.\($0).amazonaws.com" } ?? "https://sts.amazonaws.com"
        let session = environment["AWS_ROLE_SESSION_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? "db-operator-\(ProcessInfo.processInfo.processIdentifier)"
        return WebIdentity(roleARN: role, tokenFile: file, sessionName: session, stsEndpoint: endpoint)
    }
}

/// Temporary keys for a `WebIdentity`, fetched on first use and again five minutes
/// before they expire (the token file is read each time: the kubelet rotates it).
final class WebIdentityCredentials: Sendable {
    private struct Cached {
        var credentials: S3Credentials
        var expires: Date
    }

    let identity: WebIdentity
    private let http: HTTPClient
    private let logger: Logger
    private let cached = Mutex<Cached?>(nil)

    init(identity: WebIdentity, http: HTTPClient, logger: Logger) {
        self.identity = identity
        self.http = http
        self.logger = logger
    }

    func current(now: Date = Date()) async throws -> S3Credentials {
        if let cached = cached.withLock({ $0 }), cached.expires.timeIntervalSince(now) > 300 { return cached.credentials }
        let fresh = try await assumeRole()
        cached.withLock { $0 = fresh }
        return fresh.credentials
    }

    private func assumeRole() async throws -> Cached {
        let request = "STS AssumeRoleWithWebIdentity \(identity.roleARN)"
        let token: String
        do {
            token = try String(contentsOfFile: identity.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ObjectStoreError(code: .configuration, message: "cannot read the web identity token AWS_WEB_IDENTITY_TOKEN_FILE=\(identity.tokenFile): \(error)", request: request)
        }
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", identity.roleARN),
            ("RoleSessionName", identity.sessionName), ("WebIdentityToken", token),
        ].map { "\($0.0)=\(SigV4Signer.uriEncode($0.1, encodeSlash: true))" }.joined(separator: "&")
        var http = HTTPClientRequest(url: identity.stsEndpoint.hasSuffix("/") ? identity.stsEndpoint : identity.stsEndpoint + "/")
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")
        http.headers.add(name: "Accept", value: "application/xml")
        http.body = .bytes(ByteBuffer(string: form))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await self.http.execute(http, timeout: .seconds(30))
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw ObjectStoreError(code: .transport, message: "\(identity.stsEndpoint): \(error)", request: request)
        }
        let xml = S3XMLElement.parse(Data(body.readableBytesView))
        guard response.status.code / 100 == 2 else {
            let error = xml?["Error"] ?? xml
            throw ObjectStoreError(
                code: .init(rawValue: error?["Code"]?.text ?? "STSError"), httpStatus: Int(response.status.code),
                message: "STS refused the web identity for \(identity.roleARN): \(error?["Message"]?.text ?? "HTTP \(response.status.code)")", request: request)
        }
        guard let credentials = xml?["AssumeRoleWithWebIdentityResult"]?["Credentials"],
            let key = credentials["AccessKeyId"]?.text, let secret = credentials["SecretAccessKey"]?.text,
            let session = credentials["SessionToken"]?.text
        else {
            throw ObjectStoreError(code: .badResponse, httpStatus: Int(response.status.code), message: "STS answered without credentials", request: request)
        }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let expiration = credentials["Expiration"]?.text ?? ""
        let expires = ISO8601DateFormatter().date(from: expiration) ?? fractional.date(from: expiration) ?? Date().addingTimeInterval(900)
        logger.info("assumed role with web identity", metadata: ["aws.role": "\(identity.roleARN)", "aws.expires": "\(expires)"])
        return Cached(credentials: S3Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: session), expires: expires)
    }
}
