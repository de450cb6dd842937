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
}
