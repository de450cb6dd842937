import AsyncAlgorithms
import DriverProtocol
import Foundation
import NIOCore
import Testing

@testable import DriverAPI

@Suite("Which CA a driver Job trusts for the store")
struct S3AccessTests {
    @Test("the CredentialsSecret's ca.crt first, else the AWS_CA_BUNDLE file, else none")
    func sources() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID().uuidString).pem")
        try "FROM THE FILE".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let environment = ["AWS_CA_BUNDLE": file.path]
        #expect(try DriverRuntime.certificateAuthority(secretValue: "FROM THE SECRET", environment: environment) == "FROM THE SECRET")
        #expect(try DriverRuntime.certificateAuthority(secretValue: nil, environment: environment) == "FROM THE FILE")
        #expect(try DriverRuntime.certificateAuthority(secretValue: "", environment: environment) == "FROM THE FILE")
        #expect(try DriverRuntime.certificateAuthority(secretValue: nil, environment: [:]) == nil)
    }

    @Test("an AWS_CA_BUNDLE that cannot be read is named in the error")
    func unreadable() {
        let error = #expect(throws: DriverError.self) {
            _ = try DriverRuntime.certificateAuthority(secretValue: nil, environment: ["AWS_CA_BUNDLE": "/nonexistent/ca.pem"])
        }
        #expect(error?.reason == "CABundleUnreadable")
        #expect(error?.message.contains("/nonexistent/ca.pem") == true)
    }
}

@Suite("Backup progress")
struct BackupProgressTests {
    @Test("the percent compares the bytes dumped with the estimate, and stays below 100 until stored")
    func percent() {
        // A zstd dump of half the database's size stored so far: the percent follows the dump.
        #expect(ProgressWriter.percent(dumped: 600, estimate: 1000) == 60)
        #expect(ProgressWriter.percent(dumped: 5000, estimate: 1000) == 99)
        #expect(ProgressWriter.percent(dumped: 10, estimate: 0) == 0)
        #expect(ProgressWriter.percent(dumped: 10, estimate: nil) == nil)
    }

    @Test("a counted dump adds every chunk's size as it is read")
    func counting() async throws {
        let counter = ByteCounter()
        let dump = DumpStream([ByteBuffer(repeating: 1, count: 3), ByteBuffer(repeating: 2, count: 5)].async).counted(into: counter)
        var read = 0
        for try await chunk in dump { read += chunk.readableBytes }
        #expect(read == 8 && counter.count == 8)
    }
}
