import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// `ObjectStore` for any S3-compatible store (AWS S3, MinIO, SeaweedFS, Ceph) over
/// AsyncHTTPClient: SigV4 on every request with `x-amz-content-sha256`, path or
/// virtual-host style, a custom endpoint and CA, S3 XML errors decoded into
/// `ObjectStoreError` codes, and retries with backoff for 5xx and throttling.
public final class S3ObjectStore: ObjectStore {
    public struct Configuration: Sendable {
        /// `https://s3.eu-west-1.amazonaws.com` or a custom endpoint; nil for AWS in `region`.
        public var endpoint: String?
        public var region: String
        public var bucket: String
        public var credentials: S3Credentials
        /// When set, credentials come from STS for this web identity (and are renewed
        /// before they expire); `credentials` is then not used.
        public var webIdentity: WebIdentity?
        /// Path style (`endpoint/bucket/key`) rather than virtual host (`bucket.endpoint/key`).
        public var forcePathStyle = false
        /// PEM of a CA to trust besides the system's.
        public var certificateAuthorityPEM: String?
        /// Host names to connect to at another address, as curl's `--resolve`: the
        /// request still names (and TLS still verifies) the host of the URL, e.g.
        /// `["backups.s3.internal": "10.0.0.7"]` where DNS does not know the
        /// virtual-host name `<bucket>.<endpoint host>`.
        public var connectTo: [String: String] = [:]
        public var maxAttempts = 5
        public var initialBackoff: Duration = .milliseconds(200)
        public var requestTimeout: Duration = .seconds(300)

        public init(endpoint: String?, region: String, bucket: String, credentials: S3Credentials) {
            self.endpoint = endpoint
            self.region = region
            self.bucket = bucket
            self.credentials = credentials
        }
    }

    public let configuration: Configuration
    private let http: HTTPClient
    private let signer: SigV4Signer
    private let webIdentity: WebIdentityCredentials?
    private let logger: Logger
    private let scheme: String
    private let host: String
    private let port: Int?

    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
        let endpoint = configuration.endpoint ?? "https://s3.\(configuration.region).amazonaws.com"
        guard let url = URLComponents(string: endpoint), let scheme = url.scheme, let host = url.host, !host.isEmpty else {
            throw ObjectStoreError(code: .configuration, message: "endpoint \(endpoint) is not a URL like https://host[:port]")
        }
        self.scheme = scheme
        self.host = host
        self.port = url.port
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = configuration.certificateAuthorityPEM {
            do {
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.utf8)))]
            } catch {
                throw ObjectStoreError(code: .configuration, message: "the CA certificate is not valid PEM: \(error)")
            }
        }
        var httpConfiguration = HTTPClient.Configuration(tlsConfiguration: tls)
        httpConfiguration.dnsOverride = configuration.connectTo
        httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        httpConfiguration.timeout.connect = .seconds(10)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        self.http = http
        webIdentity = configuration.webIdentity.map { WebIdentityCredentials(identity: $0, http: http, logger: logger) }
    }

    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: ObjectStore

    public func putObject(key: String, body: ByteBuffer, metadata: [String: String], contentType: String?) async throws -> String {
        let response = try await send(.PUT, key: key, headers: Self.metadataHeaders(metadata) + Self.contentTypeHeader(contentType), body: body)
        return response.headers.first(name: "ETag") ?? ""
    }

    public func getObject(key: String) async throws -> (ObjectInfo, ByteStream) {
        var attempt = 0
        var response: HTTPClientResponse
        var description: String
        while true {
            attempt += 1
            (response, description) = try await execute(.GET, key: key, query: [], headers: [], body: nil, stream: true)
            if response.status.code / 100 == 2 { break }
            let error = Self.error(status: Int(response.status.code), body: try await response.body.collect(upTo: 1 << 20), request: description)
            guard error.isRetryable, attempt < configuration.maxAttempts else { throw error }
            try await Task.sleep(for: configuration.initialBackoff * attempt)
        }
        let info = Self.info(key: key, headers: response.headers)
        let body = response.body
        let request = description
        return (info, ByteStream {
            var iterator = body.makeAsyncIterator()
            return ByteStream.AsyncIterator {
                do {
                    return try await iterator.next()
                } catch {
                    throw ObjectStoreError(code: .transport, message: "download broke: \(error)", request: request)
                }
            }
        })
    }

    public func headObject(key: String) async throws -> ObjectInfo? {
        do {
            let response = try await send(.HEAD, key: key)
            return Self.info(key: key, headers: response.headers)
        } catch let error as ObjectStoreError where error.httpStatus == 404 {
            return nil
        }
    }

    public func listObjects(prefix: String) async throws -> [ObjectInfo] {
        var result: [ObjectInfo] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let xml = try await sendXML(.GET, key: nil, query: query)
            for item in xml.all("Contents") {
                result.append(ObjectInfo(
                    key: item["Key"]?.text ?? "", size: Int64(item["Size"]?.text ?? "") ?? 0,
                    etag: item["ETag"]?.text, lastModified: item["LastModified"]?.text))
            }
            token = xml["IsTruncated"]?.text == "true" ? xml["NextContinuationToken"]?.text : nil
        } while token != nil
        return result
    }

    public func deleteObject(key: String) async throws {
        _ = try await send(.DELETE, key: key)
    }

    public func createMultipartUpload(key: String, metadata: [String: String], contentType: String?) async throws -> String {
        let xml = try await sendXML(.POST, key: key, query: [("uploads", "")], headers: Self.metadataHeaders(metadata) + Self.contentTypeHeader(contentType))
        guard let id = xml["UploadId"]?.text, !id.isEmpty else {
            throw ObjectStoreError(code: .badResponse, message: "CreateMultipartUpload returned no UploadId", request: "POST \(key)")
        }
        return id
    }

    public func uploadPart(key: String, uploadID: String, partNumber: Int, body: ByteBuffer) async throws -> CompletedPart {
        let response = try await send(.PUT, key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadID)], body: body)
        guard let etag = response.headers.first(name: "ETag") else {
            throw ObjectStoreError(code: .badResponse, message: "UploadPart returned no ETag", request: "PUT \(key) part \(partNumber)")
        }
        return CompletedPart(partNumber: partNumber, etag: etag)
    }

    public func completeMultipartUpload(key: String, uploadID: String, parts: [CompletedPart]) async throws -> String {
        let body = "<CompleteMultipartUpload>"
            + parts.sorted { $0.partNumber < $1.partNumber }
                .map { "<Part><PartNumber>\($0.partNumber)</PartNumber><ETag>\(xmlEscape($0.etag))</ETag></Part>" }.joined()
            + "</CompleteMultipartUpload>"
        let xml = try await sendXML(
            .POST, key: key, query: [("uploadId", uploadID)], headers: [("Content-Type", "application/xml")],
            body: ByteBuffer(string: body))
        // A 200 may still carry an <Error>: the completion failed after it started.
        if xml.name == "Error" {
            throw Self.error(from: xml, httpStatus: 200, request: "POST \(key) complete")
        }
        return xml["ETag"]?.text ?? ""
    }

    public func abortMultipartUpload(key: String, uploadID: String) async throws {
        do {
            _ = try await send(.DELETE, key: key, query: [("uploadId", uploadID)])
        } catch let error as ObjectStoreError where error.code == .noSuchUpload {
            // Already gone: aborting is idempotent.
        }
    }

    public func listMultipartUploads(prefix: String) async throws -> [MultipartUploadInfo] {
        var result: [MultipartUploadInfo] = []
        var markers: (String, String)?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let (key, id) = markers { query += [("key-marker", key), ("upload-id-marker", id)] }
            let xml = try await sendXML(.GET, key: nil, query: query)
            for upload in xml.all("Upload") {
                result.append(MultipartUploadInfo(key: upload["Key"]?.text ?? "", uploadID: upload["UploadId"]?.text ?? "", initiated: upload["Initiated"]?.text))
            }
            if xml["IsTruncated"]?.text == "true", let key = xml["NextKeyMarker"]?.text, let id = xml["NextUploadIdMarker"]?.text {
                markers = (key, id)
            } else {
                markers = nil
            }
        } while markers != nil
        return result
    }

    // MARK: Requests

    private func sendXML(
        _ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [], body: ByteBuffer? = nil
    ) async throws -> S3XMLElement {
        let response = try await send(method, key: key, query: query, headers: headers, body: body)
        guard let xml = S3XMLElement.parse(Data(response.body.readableBytesView)) else {
            throw ObjectStoreError(code: .badResponse, httpStatus: Int(response.status.code), message: "the response is not XML", request: "\(method) \(key ?? "")")
        }
        return xml
    }

    struct Response {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    /// A request with its whole response, retried with backoff when retryable.
    private func send(
        _ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [], body: ByteBuffer? = nil
    ) async throws -> Response {
        var attempt = 0
        var backoff = configuration.initialBackoff
        while true {
            attempt += 1
            do {
                let (response, description) = try await execute(method, key: key, query: query, headers: headers, body: body, stream: false)
                let bytes = try await response.body.collect(upTo: 64 << 20)
                if response.status.code / 100 != 2 {
                    throw Self.error(status: Int(response.status.code), body: bytes, request: description)
                }
                return Response(status: response.status, headers: response.headers, body: bytes)
            } catch let error as ObjectStoreError where error.isRetryable && attempt < configuration.maxAttempts {
                logger.debug("retrying S3 request", metadata: ["s3.request": "\(error.request)", "s3.error": "\(error.code)", "retry.attempt": "\(attempt)"])
                let nanos = Double(backoff.components.seconds) * 1e9 + Double(backoff.components.attoseconds) / 1e9
                try await Task.sleep(for: .nanoseconds(Int64(nanos * Double.random(in: 0.5...1.0))))
                backoff = backoff * 2
            }
        }
    }

    private func execute(
        _ method: HTTPMethod, key: String?, query: [(String, String)], headers: [(String, String)], body: ByteBuffer?, stream: Bool
    ) async throws -> (HTTPClientResponse, String) {
        let bucket = configuration.bucket
        let hostHeader: String
        var path: String
        if configuration.forcePathStyle {
            hostHeader = host + (port.map { ":\($0)" } ?? "")
            path = "/\(bucket)"
        } else {
            hostHeader = "\(bucket).\(host)" + (port.map { ":\($0)" } ?? "")
            path = ""
        }
        path += "/" + (key ?? "")
        let description = "\(method) \(bucket)/\(key ?? "")"
        let payloadHash = body.map { $0.withUnsafeReadableBytes { SigV4Signer.payloadHash($0) } } ?? SigV4Signer.emptyPayloadHash
        var signedHeaders = headers
        signedHeaders.append(("host", hostHeader))
        var signer = self.signer
        if let webIdentity { signer.credentials = try await webIdentity.current() }
        let authorization = signer.sign(method: method.rawValue, path: path, query: query, headers: signedHeaders, payloadHash: payloadHash, date: Date())
        // Exactly the bytes the signature covers (a strict server verifies the raw query).
        let queryString = SigV4Signer.canonicalQuery(query)
        let url = "\(scheme)://\(hostHeader)\(SigV4Signer.uriEncode(path, encodeSlash: false))\(queryString.isEmpty ? "" : "?\(queryString)")"
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in signedHeaders where name != "host" { request.headers.add(name: name, value: value) }
        request.headers.replaceOrAdd(name: "Host", value: hostHeader)
        for (name, value) in authorization { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(body)
        } else if method == .PUT || method == .POST {
            request.headers.add(name: "Content-Length", value: "0")
        }
        do {
            let deadline = NIODeadline.now() + .seconds(Int64(configuration.requestTimeout.components.seconds))
            return (try await http.execute(request, deadline: stream ? .now() + .hours(24) : deadline), description)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as NIOSSLError {
            throw ObjectStoreError(
                code: .tls,
                message: "TLS with \(scheme)://\(hostHeader) failed (\(error)); if the store's certificate comes from a private CA, give that CA (AWS_CA_BUNDLE)",
                request: description)
        } catch {
            throw ObjectStoreError(code: .transport, message: "\(error)", request: description)
        }
    }

    private static func metadataHeaders(_ metadata: [String: String]) -> [(String, String)] {
        metadata.sorted { $0.key < $1.key }.map { ("x-amz-meta-\($0.key.lowercased())", $0.value) }
    }

    private static func info(key: String, headers: HTTPHeaders) -> ObjectInfo {
        var metadata: [String: String] = [:]
        for header in headers where header.name.lowercased().hasPrefix("x-amz-meta-") {
            metadata[String(header.name.lowercased().dropFirst("x-amz-meta-".count))] = header.value
        }
        return ObjectInfo(
            key: key, size: Int64(headers.first(name: "Content-Length") ?? "") ?? 0, etag: headers.first(name: "ETag"),
            lastModified: headers.first(name: "Last-Modified"), metadata: metadata, contentType: headers.first(name: "Content-Type"))
    }

    private static func contentTypeHeader(_ contentType: String?) -> [(String, String)] {
        contentType.map { [("Content-Type", $0)] } ?? []
    }

    private static func error(status: Int, body: ByteBuffer, request: String) -> ObjectStoreError {
        if let xml = S3XMLElement.parse(Data(body.readableBytesView)), xml.name == "Error" {
            return error(from: xml, httpStatus: status, request: request)
        }
        // HEAD responses have no body: name the status.
        let code: ObjectStoreError.Code
        switch status {
        case 404: code = .noSuchKey
        case 403: code = .accessDenied
        case 503: code = .slowDown
        default: code = status >= 500 ? .internalError : .badResponse
        }
        return ObjectStoreError(code: code, httpStatus: status, message: "HTTP \(status)", request: request)
    }

    private static func error(from xml: S3XMLElement, httpStatus: Int, request: String) -> ObjectStoreError {
        ObjectStoreError(
            code: .init(rawValue: xml["Code"]?.text ?? "Unknown"), httpStatus: httpStatus,
            message: xml["Message"]?.text ?? "", request: request)
    }
}
