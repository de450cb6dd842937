import Foundation

/// The variables the tests read to reach the local services, merged from the process
/// environment (first) and the env file that `ci/services.sh start` writes.
///
/// The contract is documented in README.md ("The env contract").
public struct ServiceEnvironment: Sendable {
    /// Where `ci/services.sh` writes its env file unless `DBOP_ENV_FILE` says otherwise.
    public static let defaultEnvFile = "/tmp/db-operator-services/env"

    public let values: [String: String]

    public init(values: [String: String]) {
        self.values = values
    }

    /// The environment of this test process, completed from the env file.
    public static let current: ServiceEnvironment = {
        let process = ProcessInfo.processInfo.environment
        let path = process["DBOP_ENV_FILE"] ?? defaultEnvFile
        var merged = (try? String(contentsOfFile: path, encoding: .utf8)).map(parseEnvFile) ?? [:]
        merged.merge(process) { _, fromProcess in fromProcess }
        return ServiceEnvironment(values: merged)
    }()

    /// True when running in CI (`CI=true`): a missing service is then a failure, never a skip.
    public var isCI: Bool {
        guard let ci = values["CI"]?.lowercased() else { return false }
        return ci == "true" || ci == "1"
    }

    public subscript(_ key: String) -> String? {
        guard let value = values[key], !value.isEmpty else { return nil }
        return value
    }

    /// Parses `KEY=value` lines; blank lines and `#` comments are ignored.
    public static func parseEnvFile(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq]).trimmingCharacters(in: .whitespaces)
            var value = String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
                value = String(value.dropFirst().dropLast())
            }
            result[key] = value
        }
        return result
    }
}
