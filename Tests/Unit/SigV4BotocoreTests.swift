import Foundation
import ObjectStore
import Testing

/// The signer agrees byte for byte with botocore (the AWS SDK for Python) on the
/// requests the S3 client makes, including queries with `/`, `=`, `+`, spaces,
/// unicode and empty values. The vectors are botocore's own output, made by
/// `ci/make-sigv4-vectors.py`.
@Suite("SigV4 against botocore's signer")
struct SigV4BotocoreTests {
    struct Vectors: Decodable {
        var accessKeyID: String
        var secretAccessKey: String
        var region: String
        var vectors: [Vector]
    }

    struct Vector: Decodable, CustomTestStringConvertible {
        var method: String
        var path: String
        var query: [[String]]
        var sessionToken: String?
        var host: String
        var payloadHash: String
        var date: String
        var canonicalRequest: String
        var authorization: String

        var testDescription: String { "\(method) \(path)?\(query.map { $0.joined(separator: "=") }.joined(separator: "&"))" }
        var pairs: [(String, String)] { query.map { ($0[0], $0[1]) } }
    }

    static let fixture: Vectors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/sigv4-botocore.json")
        // A missing or broken fixture fails every test below through an empty list check.
        return (try? JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))) ?? Vectors(accessKeyID: "", secretAccessKey: "", region: "", vectors: [])
    }()

    @Test("the fixture holds botocore's vectors")
    func fixtureLoads() {
        #expect(Self.fixture.vectors.count >= 10)
    }

    @Test("canonical request and Authorization header equal botocore's", arguments: fixture.vectors)
    func agrees(_ vector: Vector) throws {
        let fixture = Self.fixture
        let signer = SigV4Signer(
            credentials: S3Credentials(accessKeyID: fixture.accessKeyID, secretAccessKey: fixture.secretAccessKey, sessionToken: vector.sessionToken),
            region: fixture.region)
        let date = try #require(ISO8601DateFormatter().date(from: vector.date))
        var signed: [(String, String)] = [("host", vector.host), ("x-amz-content-sha256", vector.payloadHash), ("x-amz-date", SigV4Signer.amzDate(date))]
        if let token = vector.sessionToken { signed.append(("x-amz-security-token", token)) }
        signed.sort { $0.0 < $1.0 }
        let canonical = SigV4Signer.canonicalRequest(method: vector.method, path: vector.path, query: vector.pairs, signedHeaders: signed, payloadHash: vector.payloadHash)
        #expect(canonical == vector.canonicalRequest)
        let headers = signer.sign(method: vector.method, path: vector.path, query: vector.pairs, headers: [("host", vector.host)], payloadHash: vector.payloadHash, date: date)
        // botocore separates the Authorization parts with ", "; the server reads either.
        let ours = headers.first { $0.0 == "Authorization" }?.1
        #expect(ours == vector.authorization.replacingOccurrences(of: ", ", with: ","))
        // The query the client sends is the canonical query line.
        #expect(SigV4Signer.canonicalQuery(vector.pairs) == vector.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2].description)
    }
}
