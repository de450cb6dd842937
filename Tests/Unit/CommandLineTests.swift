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
}
