import Foundation
import Testing
import TestSupport

/// The S3 server of the harness stores and returns objects, and checks SigV4
/// signatures. Driven with the aws CLI until the project's own S3 client exists.
@Suite(
    "S3 store of the harness",
    .enabled(
        if: TestServices.current.shouldRun(.s3) && TestServices.current.shouldRun(.awsCLI),
        "needs S3 and the aws CLI: run ci/install.sh and ci/services.sh start")
)
struct S3RoundTripTests {
    private func aws(_ s3: S3Settings, _ arguments: [String], accessKey: String? = nil, secretKey: String? = nil)
        async throws -> ChildProcessResult
    {
        try await ChildProcess.run(
            try TestServices.current.awsCLI(),
            ["--endpoint-url", s3.endpoint, "--region", s3.region] + arguments,
            environment: [
                "AWS_ACCESS_KEY_ID": accessKey ?? s3.accessKeyID,
                "AWS_SECRET_ACCESS_KEY": secretKey ?? s3.secretAccessKey,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            ])
    }

    @Test("an object put with valid SigV4 credentials comes back byte for byte, and is deleted")
    func roundTrip() async throws {
        let s3 = try TestServices.current.s3()
        let key = "harness/roundtrip-\(UUID().uuidString)"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var generator = SystemRandomNumberGenerator()
        let payload = Data((0..<(3 * 1024 * 1024 + 17)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let source = dir.appendingPathComponent("in"), target = dir.appendingPathComponent("out")
        try payload.write(to: source)

        let put = try await aws(s3, ["s3", "cp", "--only-show-errors", source.path, "s3://\(s3.bucket)/\(key)"])
        try #require(put.status == 0, "\(put.stderr)")
        let get = try await aws(s3, ["s3", "cp", "--only-show-errors", "s3://\(s3.bucket)/\(key)", target.path])
        try #require(get.status == 0, "\(get.stderr)")
        #expect(try Data(contentsOf: target) == payload)

        let delete = try await aws(s3, ["s3", "rm", "--only-show-errors", "s3://\(s3.bucket)/\(key)"])
        #expect(delete.status == 0, "\(delete.stderr)")
        let head = try await aws(s3, ["s3api", "head-object", "--bucket", s3.bucket, "--key", key])
        #expect(head.status != 0)
        #expect(head.stderr.contains("404") || head.stderr.contains("Not Found"))
    }

    @Test("an unknown access key is refused with InvalidAccessKeyId")
    func unknownAccessKey() async throws {
        let s3 = try TestServices.current.s3()
        let result = try await aws(s3, ["s3api", "list-objects-v2", "--bucket", s3.bucket], accessKey: "NOSUCHKEY")
        #expect(result.status != 0)
        #expect(result.stderr.contains("InvalidAccessKeyId"))
    }

    @Test("a wrong secret key is refused with SignatureDoesNotMatch")
    func wrongSecret() async throws {
        let s3 = try TestServices.current.s3()
        let result = try await aws(s3, ["s3api", "list-objects-v2", "--bucket", s3.bucket], secretKey: "wrong-secret")
        #expect(result.status != 0)
        #expect(result.stderr.contains("SignatureDoesNotMatch"))
    }
}
