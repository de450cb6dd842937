import DriverProtocol
import Foundation
import KubeModel
import SQLSupport

/// Which `pg_dump` (or `pg_restore`) dumps a given server (SPEC section 11): the
/// newest found in `DB_OPERATOR_PG_BIN_DIRS`, never one older than the server. Finding
/// the tools is I/O (`find`); choosing among them is the pure `choose`.
public struct PostgreSQLTools: Sendable {
    /// A tool found on the machine, with the major version it reported.
    public struct Tool: Sendable, Equatable {
        public var path: String
        public var version: String
        public var major: Int

        public init(path: String, version: String, major: Int) {
            self.path = path
            self.version = version
            self.major = major
        }
    }

    /// The directories searched, in order.
    public var directories: [String]

    public init(directories: [String]) {
        self.directories = directories
    }

    /// `DB_OPERATOR_PG_BIN_DIRS` (colon-separated) when set; else Debian's layout
    /// (`/usr/lib/postgresql/<major>/bin`, newest first, where the image keeps its
    /// tools too), then each directory of `PATH`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> PostgreSQLTools {
        if let list = environment["DB_OPERATOR_PG_BIN_DIRS"], !list.isEmpty {
            return PostgreSQLTools(directories: list.split(separator: ":").map(String.init))
        }
        let root = "/usr/lib/postgresql"
        let majors = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        let path = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        return PostgreSQLTools(directories: majors.map { "\(root)/\($0)/bin" } + path)
    }

    /// Every `tool` in the directories that runs and reports its version.
    public func find(_ tool: String) async -> [Tool] {
        var found: [Tool] = []
        var seen = Set<String>()
        for directory in directories {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(tool).path
            guard !seen.contains(path), FileManager.default.isExecutableFile(atPath: path) else { continue }
            seen.insert(path)
            guard let output = try? await BlockingExecutor.run({ try Self.versionOutput(path) }),
                let (version, major) = Self.parseVersion(output)
            else { continue }
            found.append(Tool(path: path, version: version, major: major))
        }
        return found
    }

    /// The tool for a server of `serverMajor`: the newest found, if it is at least
    /// the server's major; else `ToolTooOld` naming both versions (or `ToolNotFound`).
    public static func choose(_ tool: String, serverVersion: String, serverMajor: Int, among found: [Tool], searched: [String]) throws -> Tool {
        guard let newest = found.max(by: { $0.major < $1.major }) else {
            throw DriverError(
                reason: .toolNotFound,
                message: "no \(tool) in \(searched.joined(separator: ":")); install PostgreSQL \(serverMajor) client tools or name their directory in DB_OPERATOR_PG_BIN_DIRS",
                retryable: false)
        }
        guard newest.major >= serverMajor else {
            throw DriverError(
                reason: .toolTooOld,
                message: "the server is PostgreSQL \(serverVersion) but the newest \(tool) found is \(newest.version) (\(newest.path)); \(tool) must be of the server's major version or newer: use an image with PostgreSQL \(serverMajor)+ client tools or name their directory in DB_OPERATOR_PG_BIN_DIRS",
                retryable: false)
        }
        return newest
    }

    /// `pg_dump (PostgreSQL) 18.6` (or `16.4 (Debian 16.4-1)`, `17beta1`) -> ("18.6", 18).
    static func parseVersion(_ output: String) -> (String, Int)? {
        guard let line = output.split(whereSeparator: \.isNewline).first,
            let word = line.split(separator: " ").first(where: { $0.first?.isNumber == true })
        else { return nil }
        let digits = word.prefix(while: \.isNumber)
        guard let major = Int(digits) else { return nil }
        return (String(word), major)
    }

    private static func versionOutput(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--version"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}
