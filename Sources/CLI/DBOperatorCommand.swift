import ArgumentParser

/// The `db-operator` executable: one binary whose subcommands are the operator,
/// the driver entrypoint of a Job, the local job runner and the dev mode.
@main
struct DBOperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db-operator",
        abstract: "Creates and deletes databases inside existing PostgreSQL and MySQL instances, "
            + "publishes their connection Secrets, and streams backups to S3-compatible storage.",
        version: DBOperatorVersion.current,
        subcommands: [RunCommand.self, DriverCommand.self, JobRunnerCommand.self, DevCommand.self, CRDsCommand.self, ManifestsCommand.self]
    )

    func run() async throws {
        // No subcommand given: show what there is to run.
        throw CleanExit.helpRequest(self)
    }

    /// ArgumentParser's entry, except for exactly `db-operator driver` (every Job's
    /// command): it runs with the options' defaults without building the parser, whose
    /// reflection over the command tree is ~5 ms of CPU on each Job's critical path.
    static func main() async {
        if CommandLine.arguments.dropFirst().elementsEqual(["driver"]) {
            do {
                try await DriverCommand.runWithDefaults()
            } catch {
                // The driver's usage beside a ValidationError (a missing variable, say).
                DriverCommand.exit(withError: error)
            }
            return
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
