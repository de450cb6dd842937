import ArgumentParser
import AsyncHTTPClient
import FakeAPIServer
import Foundation
import KubeClient
import KubeModel
import Logging
import NIOCore

/// `db-operator-bench control-plane`: how fast an operator turns N existing Databases
/// into N create-Jobs. For each contender, a fresh fake API server (in this process,
/// the same for all) gets the CRDs, M namespaces and N Databases; then the contender
/// starts, and the time until N Jobs exist is taken, with the contender's CPU time
/// and peak and steady memory (from /proc). The peer is a minimal kopf operator
/// (`ci/kopf_peer.py`) that creates one owned Job per Database.
struct ControlPlaneBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control-plane",
        abstract: "Time N Databases to N create-Jobs for db-operator (and a kopf peer); print time, Jobs/s, CPU-s, peak and steady RSS.")

    @Option(help: "Databases to create before the operator starts.")
    var databases = 2000

    @Option(help: "Namespaces they are spread over.")
    var namespaces = 10

    @Option(help: "Also measure a peer: kopf (needs `pip install kopf kubernetes`).")
    var peer: [String] = []

    @Option(help: "The db-operator binary (default: the one beside this program). The image's is built with --static-swift-stdlib (ci/image.sh) and maps less code than a development build.")
    var operatorBinary: String?

    @Option(help: "Seconds to wait for the Jobs before giving up on a contender.")
    var timeout: Double = 900

    @Option(help: "db-operator's --log-level: warning (the default here) writes about as little as kopf's --quiet; info is `run`'s own default, a line per Job made; debug a line per decision.")
    var operatorLogLevel = "warning"

    @Option(help: "Measure every contender this many times, alternating their order, and print each round's ratio: the machine's speed drifts between contenders run one after the other.")
    var rounds = 1

    func validate() throws {
        guard databases > 0, namespaces > 0 else { throw ValidationError("--databases and --namespaces must be positive") }
        guard rounds > 0 else { throw ValidationError("--rounds must be positive") }
        for name in peer where name != "kopf" { throw ValidationError("--peer \(name): only kopf is known") }
        guard Logger.Level(rawValue: operatorLogLevel) != nil else { throw ValidationError("--operator-log-level \(operatorLogLevel): not a log level") }
    }

    @Flag(help: "Also restart db-operator once its Jobs exist and time the full resync (every Database reconciled, no new Job).")
    var resync = false

    @Flag(help: "Also measure the fake API server alone: creates/s, a list of every object, watch events/s.")
    var apiserver = false

    struct Figures {
        var name: String
        var seconds: Double
        /// Seconds until the first Job: the start, mostly the initial lists.
        var firstJob: Double
        var jobs: Int
        var cpuSeconds: Double
        var peakRSS: Int
        var steadyRSS: Int
        /// Lines the contender wrote to standard error meanwhile (its log).
        var logLines = 0
        /// Page faults that had to read from disk (a binary whose pages left the page
        /// cache starts late with its CPU idle).
        var majorFaults = 0
        /// The restart: seconds until every Database was decided on again, and Jobs made meanwhile.
        var resync: (seconds: Double, newJobs: Int, peakRSS: Int)?
    }

    func run() async throws {
        let binary = operatorBinary
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("db-operator").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw ValidationError("no db-operator at \(binary); give --operator-binary") }
        if apiserver { try await FakeServerBench.run(objects: databases) }
        let metricsPort = 20_000 + Int(getpid() % 20_000)
        var contenders: [(String, (String) -> (String, [String]))] = [
            ("db-operator run", { kubeconfig in
                (binary, ["run", "--kubeconfig", kubeconfig, "--log-level", operatorLogLevel, "--metrics-addr", "127.0.0.1:\(metricsPort)"])
            }),
        ]
        if peer.contains("kopf") {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("ci/kopf_peer.py").path
            contenders.append(("kopf (Python)", { _ in ("/usr/bin/env", ["python3", "-m", "kopf", "run", "--standalone", "--all-namespaces", "--quiet", script]) }))
        }
        var results: [(round: Int, figures: Figures)] = []
        for round in 1...rounds {
            // Every other round the other way round, so a drift of the machine's speed
            // does not always favour the same contender.
            for (name, command) in round % 2 == 1 ? contenders : contenders.reversed() {
                print("\(name)\(rounds > 1 ? " (round \(round))" : ""): \(databases) Databases in \(namespaces) namespaces ...")
                let measureResync = resync && round == 1 && name.hasPrefix("db-operator")
                results.append((round, try await measure(name: name, command: command, resyncMetricsPort: measureResync ? metricsPort : nil)))
            }
        }
        print("")
        print("\(rounds > 1 ? "round  " : "")contender          time (s)   first Job (s)   Jobs/s   CPU (s)   peak RSS (MiB)   steady RSS (MiB)")
        for (round, figures) in results {
            let line = [
                figures.name.padding(toLength: 18, withPad: " ", startingAt: 0),
                String(format: "%8.1f", figures.seconds), String(format: "%15.2f", figures.firstJob), String(format: "%8.0f", Double(figures.jobs) / figures.seconds),
                String(format: "%9.1f", figures.cpuSeconds), String(format: "%16d", figures.peakRSS >> 20), String(format: "%18d", figures.steadyRSS >> 20),
            ]
            print((rounds > 1 ? String(format: "%5d  ", round) : "") + line.joined(separator: " "))
        }
        if contenders.count > 1 {
            for round in 1...rounds {
                let measured = results.filter { $0.round == round }.map(\.figures)
                guard let ours = measured.first(where: { $0.name.hasPrefix("db-operator") }),
                    let theirs = measured.first(where: { !$0.name.hasPrefix("db-operator") })
                else { continue }
                let ratio = (Double(ours.jobs) / ours.seconds) / (Double(theirs.jobs) / theirs.seconds)
                print(String(format: "%@db-operator's Jobs/s are %.1fx kopf's", rounds > 1 ? "round \(round): " : "", ratio))
            }
        }
        // A log level other than the one asked for (a stale build, a forgotten flag) costs
        // CPU that is not the operator's work: the lines are counted so it shows.
        for (round, figures) in results where figures.name.hasPrefix("db-operator") {
            print("\(figures.name)\(rounds > 1 ? " (round \(round))" : ""): \(figures.logLines) log lines at --log-level \(operatorLogLevel), \(figures.majorFaults) major page faults")
        }
        for (_, figures) in results {
            if let (seconds, newJobs, peak) = figures.resync {
                print(String(
                    format: "%@: full resync of %d Databases after a restart: %.2f s, %d new Jobs, peak RSS %d MiB (every Job listed at start)",
                    figures.name, figures.jobs, seconds, newJobs, peak >> 20))
            }
        }
    }

    private func measure(name: String, command: (String) -> (String, [String]), resyncMetricsPort: Int?) async throws -> Figures {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let cluster = try await InProcessCluster.start(name: "control-plane", historyLimit: max(100_000, databases * 20), logger: logger)
        defer { cluster.close() }
        let api = cluster.api, directory = cluster.directory, kubeconfig = cluster.kubeconfig

        for crd in CustomResourceDefinitions.all { _ = try await api.create(crd) }
        while try await !api.list(CustomResourceDefinition.self, namespace: nil).allSatisfy({ $0.object.isEstablished }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        for index in 0..<namespaces { _ = try await api.create(Namespace(metadata: ObjectMeta(name: "bench-\(index)"))) }
        let spec = DatabaseSpec(
            driver: "postgresql", connect: ConnectSpec(host: "db.bench.invalid"),
            credentials: CredentialsSpec(username: ValueSource(value: "admin"), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "admin", key: "password")))))
        let total = databases, spread = namespaces
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    for index in stride(from: worker, to: total, by: 16) {
                        _ = try await api.create(Database(metadata: ObjectMeta(name: "db-\(index)", namespace: "bench-\(index % spread)"), spec: spec))
                    }
                }
            }
            try await group.waitForAll()
        }

        // The Jobs are counted in the server's store, in this process: a watch would
        // make the server encode and send every Job once more, and this process decode
        // it, on the two cores the contender runs on.
        let server = cluster.server
        let jobs = { server.objectCount(group: Job.resource.group, plural: Job.resource.plural) }
        let (executable, arguments) = command(kubeconfig)
        let errors = "\(directory)/stderr"
        func launch() throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(["KUBECONFIG": kubeconfig]) { $1 }
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            FileManager.default.createFile(atPath: errors, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: errors)
            try process.run()
            return process
        }
        func stop(_ process: Process) {
            guard process.isRunning else { return }
            process.terminate()
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        let start = ContinuousClock.now
        var process = try launch()
        defer { stop(process) }
        var firstJob: Duration?
        while jobs() < total {
            if firstJob == nil, jobs() > 0 { firstJob = ContinuousClock.now - start }
            guard process.isRunning else {
                throw ValidationError("\(name) ended early: \((try? String(contentsOfFile: errors, encoding: .utf8))?.suffix(2000) ?? "")")
            }
            guard ContinuousClock.now - start < .seconds(timeout) else {
                throw ValidationError("\(name): only \(jobs()) of \(total) Jobs after \(Int(timeout)) s")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        let elapsed = ContinuousClock.now - start
        let pid = process.processIdentifier
        let cpu = Self.cpuSeconds(pid)
        let majorFaults = Self.statField(pid, 9) ?? 0
        let peak = Self.status(pid, "VmHWM")
        try await Task.sleep(for: .seconds(5))
        let steady = Self.status(pid, "VmRSS")
        var figures = Figures(name: name, seconds: Self.seconds(elapsed), firstJob: Self.seconds(firstJob ?? elapsed), jobs: total, cpuSeconds: cpu, peakRSS: peak, steadyRSS: steady)
        figures.majorFaults = Int(majorFaults)
        figures.logLines = (FileManager.default.contents(atPath: errors) ?? Data()).reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        if let port = resyncMetricsPort {
            // A restart with every Job there: done when the decisions counted on
            // /metrics reach N (each Database decided on at least once, as the
            // initial list queues each once); a new Job would show in the count.
            stop(process)
            let before = jobs()
            let restarted = ContinuousClock.now
            process = try launch()
            while try await Self.decisions(port: port) < total {
                guard process.isRunning else { throw ValidationError("\(name) ended early after the restart") }
                guard ContinuousClock.now - restarted < .seconds(timeout) else { throw ValidationError("\(name): the resync did not finish") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let took = ContinuousClock.now - restarted
            figures.resync = (
                Self.seconds(took), jobs() - before,
                Self.status(process.processIdentifier, "VmHWM")
            )
        }
        return figures
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// The sum of `db_operator_decisions_total` on the operator's /metrics (0 until it serves).
    static func decisions(port: Int) async throws -> Int {
        let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics")
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)), response.status == .ok,
            let body = try? await response.body.collect(upTo: 64 << 20)
        else { return 0 }
        let text = String(buffer: body)
        return text.split(separator: "\n").filter { $0.hasPrefix("db_operator_decisions_total{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0) { $0 + Int($1) }
    }

    /// User plus system CPU time of a process and its reaped children, in seconds.
    static func cpuSeconds(_ pid: Int32) -> Double {
        // utime, stime, cutime, cstime are fields 14-17 of proc(5).
        let ticks = [11, 12, 13, 14].compactMap { statField(pid, $0) }.reduce(0, +)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A number of `/proc/<pid>/stat`, counted from the field after the command (the
    /// state, field 3 of proc(5), is 0; majflt, field 12, is 9).
    static func statField(_ pid: Int32, _ index: Int) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > index ? Double(fields[index]) : nil
    }

    /// A `/proc/<pid>/status` size in bytes (VmHWM: peak RSS; VmRSS: now).
    static func status(_ pid: Int32, _ key: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("\(key):") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}
