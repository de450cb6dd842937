import Foundation
import NIOCore
import Testing

@testable import DriverProtocol

/// How a dump tool gets its secrets: a file that no one else can read at any moment,
/// in a directory of its own, gone afterwards; and an environment without the Job's keys.
@Suite("Dump tool secrets")
struct DumpProcessTests {
    @Test("a secret file is 0600 in a 0700 directory of its own and removed afterwards; the tool sees only its own variables, never AWS keys")
    func privateFilesAndEnvironment() async throws {
        setenv("AWS_SECRET_ACCESS_KEY", "must-not-reach-the-dump-tool", 1)
        defer { unsetenv("AWS_SECRET_ACCESS_KEY") }
        let command = DumpCommand(
            executable: "/bin/sh",
            arguments: ["-c", "echo \"$0\"; stat -c '%a %U' \"$0\" \"$0/client.cnf\"; cat \"$0/client.cnf\"; echo; env", DumpCommand.privateDirectory],
            environment: ["PGPASSWORD": "tool-needs-this"], files: ["client.cnf": "[client]\npassword=\"p\""],
            fileExtension: "sql", wantsCompression: false)
        var output = ByteBuffer()
        for try await var chunk in try DumpProcess.start(command) { output.writeBuffer(&chunk) }
        let lines = String(buffer: output).split(separator: "\n").map(String.init)
        let directory = try #require(lines.first)
        #expect(directory.hasPrefix(NSTemporaryDirectory()) || directory.hasPrefix("/tmp/"))
        let owner = String(cString: getpwuid(geteuid()).pointee.pw_name)
        #expect(lines.dropFirst().prefix(2) == ["700 \(owner)", "600 \(owner)"])
        #expect(lines.contains("password=\"p\""))
        #expect(lines.contains("PGPASSWORD=tool-needs-this"))
        #expect(!lines.contains { $0.contains("must-not-reach-the-dump-tool") })
        #expect(!lines.contains { $0.hasPrefix("HOME=") || $0.hasPrefix("KUBECONFIG=") })
        // Removed when the tool's output is drained; wait for that, not a fixed time.
        let deadline = ContinuousClock.now + .seconds(10)
        while FileManager.default.fileExists(atPath: directory), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!FileManager.default.fileExists(atPath: directory), "the private directory is removed")
    }

    @Test("only PATH, locale, TZ and TMPDIR are inherited; the command's own variables win")
    func environment() {
        let inherited = DumpProcess.toolEnvironment(
            ["PGHOST": "db", "PATH": "/own"],
            from: ["PATH": "/usr/bin", "LANG": "C.UTF-8", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "HOME": "/root", "DB_OPERATOR_NAMESPACE": "x"])
        #expect(inherited == ["PATH": "/own", "LANG": "C.UTF-8", "PGHOST": "db"])
    }

    @Test("a dump started and then not wanted is cancelled: the tool ends and its secret files go, though nothing was read")
    func cancelledUnread() async throws {
        let pidFile = NSTemporaryDirectory() + "/dump-pid-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        let command = DumpCommand(
            executable: "/bin/sh", arguments: ["-c", "echo $$ > \"$1\"; echo \"$0\" >> \"$1\"; exec yes dump-bytes", DumpCommand.privateDirectory, pidFile],
            files: ["client.cnf": "secret"], fileExtension: "sql", wantsCompression: false)
        let stream = try DumpProcess.start(command)
        var lines: [String] = []
        // Generous: a machine running other suites beside this one can be slow to start a shell.
        let deadline = ContinuousClock.now + .seconds(60)
        while lines.count < 2, ContinuousClock.now < deadline {
            lines = ((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            try await Task.sleep(for: .milliseconds(10))
        }
        let pid = try #require(lines.first.flatMap { pid_t($0) })
        let directory = lines[1]
        #expect(FileManager.default.fileExists(atPath: directory))
        stream.cancel()
        // Ended: gone, or a zombie not yet reaped (state Z in /proc).
        let ended = { kill(pid, 0) != 0 || ((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first == "Z") }
        let end = ContinuousClock.now + .seconds(10)
        while (!ended() || FileManager.default.fileExists(atPath: directory)), ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(ended(), "the tool has ended: \((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? "gone")")
        #expect(!FileManager.default.fileExists(atPath: directory), "its private directory is gone")
    }
}
