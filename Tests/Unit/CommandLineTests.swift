import Foundation
import ArgumentParser
import Testing
@testable import CLI

@Suite("db-operator command line")
struct CommandLineTests {
    @Test("--version prints the version")
    func version() throws {
        let error = try #require(throws: (any Error).self) { try DBOperatorCommand.parseAsRoot(["--version"]) }
        #expect(DBOperatorCommand.exitCode(for: error) == .success)
        #expect(DBOperatorCommand.fullMessage(for: error) == DBOperatorVersion.current)
        #expect(!DBOperatorVersion.current.isEmpty)
    }

    @Test("--help describes the product under its command name")
    func help() {
        let help = DBOperatorCommand.helpMessage()
        #expect(help.contains("USAGE: db-operator"))
        #expect(help.contains("PostgreSQL and MySQL"))
    }

    @Test("an unknown flag is rejected")
    func unknownFlag() throws {
        let error = try #require(throws: (any Error).self) { try DBOperatorCommand.parseAsRoot(["--no-such-flag"]) }
        #expect(DBOperatorCommand.exitCode(for: error) == .validationFailure)
        #expect(DBOperatorCommand.fullMessage(for: error).contains("--no-such-flag"))
    }

    @Test("`db-operator driver` without its variables fails the same way on the fast path (no parser) as parsed: a validation error naming them")
    func driverWithoutEnvironment() async throws {
        try #require(ProcessInfo.processInfo.environment["DB_OPERATOR_OPERATION"] == nil)
        let fast = try await #require(throws: ValidationError.self) { try await DriverCommand.runWithDefaults() }
        var parsed = try #require(try DBOperatorCommand.parseAsRoot(["driver"]) as? DriverCommand)
        let slow = try await #require(throws: ValidationError.self) { try await parsed.run() }
        #expect(fast.message == slow.message)
        #expect(fast.message.contains("DB_OPERATOR_DATABASE"))
        #expect(DriverCommand.exitCode(for: fast) == .validationFailure)
    }
}
