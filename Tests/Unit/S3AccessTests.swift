import DriverProtocol
import Foundation
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
