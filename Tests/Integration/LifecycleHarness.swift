import AsyncHTTPClient
import DriverAPI
import FakeAPIServer
import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Logging
import NIOCore
import Synchronization
import Testing
import TestSupport

/// The real programs around a fake API server: `db-operator run` (with the test
/// driver enabled) and `db-operator job-runner` as child processes, the CRDs
/// installed, and a recorder of every phase transition seen on watches.
final class LifecycleHarness: @unchecked Sendable {
    let cluster: FakeCluster
    let root: String
    let recorder = TransitionRecorder()
    private let operatorProcess = Mutex<RunningProcess?>(nil)
    private var runner: RunningProcess?
    let extraOperatorArguments: [String]
    /// With RBAC on: the operator's kubeconfig (service account db-operator's token).
    private(set) var operatorKubeconfig: String
    let rbac: Bool

    /// The db-operator binary built beside this test bundle.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("db-operator").path
    }

    private init(cluster: FakeCluster, root: String, extraOperatorArguments: [String], rbac: Bool) {
        self.cluster = cluster
        self.root = root
        self.extraOperatorArguments = extraOperatorArguments
        self.rbac = rbac
        operatorKubeconfig = cluster.kubeconfigPath
    }

    static let deployDirectory = QuickStartTests.repository.appendingPathComponent("deploy").path
    /// The Jobs' service account, as deploy/ names it (`--job-service-account`).
    static let jobServiceAccount = "db-operator-driver"
    /// The arguments deploy/operator.yaml gives `db-operator run`, but the metrics port
    /// and leader election: a single operator here, and nothing restarts it when a
    /// renewal misses its deadline on a loaded machine (DeployTests runs the election
    /// under deploy's RBAC).
    static let deployedOperatorArguments = ["--operator-namespace", operatorNamespace, "--job-service-account", jobServiceAccount]

    var api: HTTPKubernetesClient { cluster.client }

    /// The operator's namespace (its default, `--operator-namespace`).
    static let operatorNamespace = "db-operator"

    /// - Parameter runnerEnvironment: variables of the job runner's processes (the
    ///   "image's" environment); by default `DB_OPERATOR_PG_BIN_DIRS` names the newest
    ///   PostgreSQL client tools the services installed.
    /// - Parameter rbac: the server authorizes with RBAC; `deploy/` is applied with
    ///   `kubectl apply -k`, the operator runs with the token `kubectl create token` gives
    ///   service account db-operator,
    ///   each Job's process with a token of its pod's service account (the job runner
    ///   asks for it as a kubelet does), and `makeNamespace` adds deploy's tenant
    ///   service account and RoleBinding. A 403 to either fails the test. The test's own
    ///   client stays in system:masters.
    /// - Parameter containers: (implies `rbac`) the job runner runs each pod as a
    ///   container of the image (`DBOP_IMAGE_ARCHIVE`, `ci/image.sh build`) with runc,
    ///   as a kubelet would: the driver inside uses its in-cluster configuration.
    static func with<T: Sendable>(
        operatorArguments: [String] = [], runnerEnvironment: [String: String]? = nil, rbac: Bool = false, containers: Bool = false,
        _ body: (LifecycleHarness) async throws -> T
    ) async throws -> T {
        let rbac = rbac || containers
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw EventuallyTimedOut(description: "build db-operator first: \(binary)")
        }
        return try await FakeCluster.with(configure: { configuration in
            guard rbac else { return }
            configuration.authorization = .rbac
            configuration.groups["operator"] = ["system:masters"]
        }) { cluster in
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("lifecycle-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: "\(root)/flags", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(root)/crash", withIntermediateDirectories: true)
            defer {
                if ProcessInfo.processInfo.environment["DBOP_KEEP_TEST_STATE"] == nil { try? FileManager.default.removeItem(atPath: root) }
            }
            for crd in CustomResourceDefinitions.all { _ = try await cluster.client.create(crd) }
            try await eventually("the CRDs to be established") {
                try await cluster.client.list(CustomResourceDefinition.self, namespace: nil).allSatisfy { $0.object.isEstablished }
            }
            // The operator's namespace: Jobs of Databases on DatabaseServers, the servers' Secrets.
            _ = try await cluster.client.create(Namespace(metadata: ObjectMeta(name: LifecycleHarness.operatorNamespace)))
            let jobKubeconfig = "\(root)/job.kubeconfig"
            try cluster.server.writeKubeconfig(to: jobKubeconfig, user: "job")
            let harness = LifecycleHarness(
                cluster: cluster, root: root, extraOperatorArguments: operatorArguments + (rbac ? Self.deployedOperatorArguments : []), rbac: rbac)
            if rbac { try await harness.installRBAC() }
            try harness.startOperator()
            // The driver finds pg_dump where the services put the newest (an image carries it).
            let tools = TestServices.current.postgresqlToolDirectories
            harness.runner = try RunningProcess(binary, [
                "job-runner", "--kubeconfig", cluster.kubeconfigPath, "--log-dir", "\(root)/logs", "--retry-backoff", "0.2",
            ] + (containers ? try Self.containerArguments(root: root) : rbac ? ["--service-account-tokens"] : ["--job-kubeconfig", jobKubeconfig]), environment: runnerEnvironment ?? (tools.isEmpty ? [:] : ["DB_OPERATOR_PG_BIN_DIRS": tools.joined(separator: ":")]))
            let watching = Task { try await harness.recorder.watch(api: cluster.client) }
            defer {
                watching.cancel()
                harness.stopOperator()
                harness.runner?.terminate()
            }
            do {
                let result = try await body(harness)
                if rbac {
                    let log = cluster.server.accessLog()
                    let denied = log.filter { !$0.record.allowed && $0.record.user.hasPrefix("system:serviceaccount:") }
                    #expect(denied.isEmpty, "the programs were refused under deploy/'s RBAC: \(denied.map { "\($0.record)" })")
                    try Self.saveRBACUsage(log.map(\.record))
                }
                return result
            } catch {
                print("operator output:\n\(harness.operatorOutput.suffix(6000))\njob logs:\n\(harness.jobLogs().suffix(12000))")
                throw error
            }
        }
    }

    /// The job runner's container mode: the image and a runc state directory of this run.
    static func containerArguments(root: String) throws -> [String] {
        let (archive, runc) = try TestServices.current.containers()
        return ["--runtime", "runc", "--runc", runc, "--image", archive, "--runc-root", "\(root)/runc"]
    }

    /// Where every RBAC run leaves what the programs' service accounts were allowed, by
    /// which rule (`DBOP_RBAC_USAGE_DIR`, set by ci/test.sh): RBACCoverageTests then fails
    /// on a rule of deploy/rbac.yaml that the whole suite never used.
    static func saveRBACUsage(_ records: [AccessRecord]) throws {
        guard let directory = ProcessInfo.processInfo.environment["DBOP_RBAC_USAGE_DIR"], !directory.isEmpty else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let used = records.filter { $0.allowed && $0.role != nil && $0.user.hasPrefix("system:serviceaccount:") }
        try JSONEncoder().encode(used).write(to: URL(fileURLWithPath: "\(directory)/\(UUID().uuidString).json"))
    }

    /// deploy/, applied by kubectl as a user would; the operator's kubeconfig then
    /// carries its service account's token.
    private func installRBAC() async throws {
        // As the README deploys: the kustomize base (its Deployment is stored, not run:
        // the operator runs here as a process), then the operator's token.
        _ = try await kubectl(["apply", "-k", Self.deployDirectory])
        let token = try await kubectl(["create", "token", "db-operator", "-n", Self.operatorNamespace, "--duration=24h"])
        operatorKubeconfig = "\(root)/operator.kubeconfig"
        try cluster.server.writeKubeconfig(to: operatorKubeconfig, token: token.trimmingCharacters(in: .whitespacesAndNewlines), user: "db-operator")
    }

    /// Real kubectl as the cluster's admin; its output, or a thrown error with its stderr.
    func kubectl(_ arguments: [String]) async throws -> String {
        let result = try await ChildProcess.run(
            try TestServices.current.kubectl(), ["--kubeconfig", cluster.kubeconfigPath, "--cache-dir", "\(root)/kubectl-cache"] + arguments,
            environment: ["HOME": root])
        guard result.status == 0 else { throw EventuallyTimedOut(description: "kubectl \(arguments.joined(separator: " ")): \(result.stderr)") }
        return result.stdoutText
    }

    func startOperator() throws {
        let process = try RunningProcess(Self.binary, [
            "run", "--kubeconfig", operatorKubeconfig, "--enable-test-driver", root, "--job-retry-base", "0.5",
            "--job-env", "DB_OPERATOR_MAX_BACKUP_ATTEMPTS=2", "--job-env", "DB_OPERATOR_LOG_LEVEL=debug",
        ] + extraOperatorArguments)
        operatorProcess.withLock { $0 = process }
    }

    /// Kills the operator abruptly (SIGKILL) or gracefully.
    func stopOperator(abruptly: Bool = false) {
        guard let process = operatorProcess.withLock({ $0 }) else { return }
        if abruptly { process.signal(SIGKILL) }
        process.terminate()
    }

    var operatorOutput: String { operatorProcess.withLock { $0?.text ?? "" } }

    /// The operator's `/metrics` samples by "name{labels}" (the operator must run with
    /// `--metrics-addr 127.0.0.1:0`; its log says where it serves).
    func operatorMetrics() async throws -> [String: Double] {
        let output = operatorOutput
        guard let marker = output.range(of: "\"metrics.address\":\"127.0.0.1:") else {
            throw EventuallyTimedOut(description: "the operator has not logged where it serves metrics")
        }
        let port = String(output[marker.upperBound...].prefix { $0.isNumber })
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(10))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 22))
        var samples: [String: Double] = [:]
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    func jobLogs() -> String {
        let directory = "\(root)/logs"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.sorted() ?? []
        return files.map { "== \($0)\n" + ((try? String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8)) ?? "") }.joined(separator: "\n")
    }

    // MARK: Test driver steering

    func setFlag(_ database: String, _ flag: String, _ value: String = "1") throws {
        try value.write(toFile: "\(root)/flags/\(database).\(flag)", atomically: true, encoding: .utf8)
    }

    func clearFlag(_ database: String, _ flag: String) {
        try? FileManager.default.removeItem(atPath: "\(root)/flags/\(database).\(flag)")
    }

    /// Makes the driver process exit right after writing `transition` for the `occurrence`th time.
    func crashOnce(namespace: String, database: String, after transition: Transition, occurrence: Int = 1) throws {
        try String(occurrence).write(toFile: "\(root)/crash/\(namespace)_\(database).\(transition.rawValue)", atomically: true, encoding: .utf8)
    }

    func pendingCrashes() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/crash")) ?? [] }

    /// The record the test driver's "instance" keeps for a database.
    func instanceRecord(host: String, database: String) -> [String: String]? {
        guard let data = FileManager.default.contents(atPath: "\(root)/instances/\(host)/\(database).json"),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: String]
        else { return nil }
        return object
    }

    /// The test driver's record, with what a restore loaded into it (`restoredFrom`, `restoredBytes`).
    func restoredInto(host: String, database: String) -> (from: String?, bytes: Int?)? {
        guard let data = FileManager.default.contents(atPath: "\(root)/instances/\(host)/\(database).json"),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return (object["restoredFrom"] as? String, object["restoredBytes"] as? Int)
    }

    // MARK: Resources

    func makeNamespace(_ name: String) async throws {
        _ = try await api.create(Namespace(metadata: ObjectMeta(name: name)))
        try await prepareForJobs(name)
        var admin = Secret(metadata: ObjectMeta(name: "dbpassword", namespace: name))
        admin.setValue("admin-pw", for: "password")
        _ = try await api.create(admin)
    }

    /// With RBAC on, what a namespace needs for the Jobs of its inline Databases:
    /// deploy/examples/tenant/driver.yaml for it (the service account and its
    /// RoleBinding). Nothing otherwise.
    func prepareForJobs(_ name: String) async throws {
        guard rbac else { return }
        let accounts = ResourceDescriptor(group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true)
        _ = try await api.create(accounts, namespace: name, object: ["metadata": ["name": .string(Self.jobServiceAccount)]])
        let bindings = ResourceDescriptor(group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", kind: "RoleBinding", namespaced: true)
        _ = try await api.create(bindings, namespace: name, object: [
            "metadata": ["name": .string(Self.jobServiceAccount)],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "db-operator-driver"],
            "subjects": [["kind": "ServiceAccount", "name": .string(Self.jobServiceAccount), "namespace": .string(name)]],
        ])
    }

    /// Secret `s3-creds`; with `certificateAuthorityPEM`, also the `ca.crt` that the
    /// driver trusts for the store.
    func s3CredentialsSecret(namespace: String, s3: S3Settings, certificateAuthorityPEM: String? = nil) async throws {
        var secret = Secret(metadata: ObjectMeta(name: "s3-creds", namespace: namespace))
        secret.setValue(s3.accessKeyID, for: "accessKeyId")
        secret.setValue(s3.secretAccessKey, for: "secretAccessKey")
        if let certificateAuthorityPEM { secret.setValue(certificateAuthorityPEM, for: "ca.crt") }
        _ = try await api.create(secret)
    }

    /// A namespace with Secrets `admin` (the login's password) and `s3-creds`, and a
    /// Database `main` on the real server of `login` backed up to `s3`, once Created.
    func createRealDatabase(namespace: String, driver: String, login: DatabaseServerLogin, s3: S3Settings, policy: DeletionPolicy) async throws {
        _ = try await api.create(Namespace(metadata: ObjectMeta(name: namespace)))
        var admin = Secret(metadata: ObjectMeta(name: "admin", namespace: namespace))
        admin.setValue(login.password, for: "password")
        _ = try await api.create(admin)
        try await s3CredentialsSecret(namespace: namespace, s3: s3)
        try await createDatabase("main", namespace: namespace, spec: Self.realDatabaseSpec(driver: driver, login: login, s3: s3, prefix: "\(namespace)/", policy: policy))
        try await waitForPhase("main", namespace: namespace, .created, timeout: .seconds(120))
    }

    /// A Database on a real server: admin `login` with its password in Secret `admin`,
    /// backups to `s3` under `prefix` with Secret `s3-creds`.
    static func realDatabaseSpec(driver: String, login: DatabaseServerLogin, s3: S3Settings, prefix: String, policy: DeletionPolicy) -> DatabaseSpec {
        DatabaseSpec(
            driver: driver, connect: ConnectSpec(host: login.host, port: login.port, sslMode: .disable),
            credentials: CredentialsSpec(
                username: ValueSource(value: login.user), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "admin", key: "password")))),
            backupTo: BackupTarget(s3: S3Spec(region: s3.region, bucket: s3.bucket, prefix: prefix, endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: "s3-creds")),
            deletionPolicy: policy)
    }

    static func databaseSpec(host: String, policy: DeletionPolicy? = nil, s3: S3Settings?, prefix: String = "") -> DatabaseSpec {
        var spec = DatabaseSpec(
            driver: "test", connect: ConnectSpec(host: host),
            credentials: CredentialsSpec(
                username: ValueSource(value: "admin"),
                password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "dbpassword", key: "password")))),
            deletionPolicy: policy)
        if let s3 {
            var target = S3Spec()
            target.Region = s3.region
            target.Bucket = s3.bucket
            target.Prefix = prefix
            target.Endpoint = s3.endpoint
            target.ForcePathStyle = true
            target.CredentialsSecret = "s3-creds"
            spec.backupTo = BackupTarget(S3: target)
        }
        return spec
    }

    @discardableResult
    func createDatabase(_ name: String, namespace: String, spec: DatabaseSpec) async throws -> Resource<Database> {
        try await api.create(Database(metadata: ObjectMeta(name: name, namespace: namespace), spec: spec))
    }

    func createBackup(_ name: String, namespace: String, database: String) async throws {
        _ = try await api.create(Backup(metadata: ObjectMeta(name: name, namespace: namespace), spec: BackupSpec(database: database)))
    }

    func database(_ name: String, namespace: String) async throws -> Database? {
        do {
            return try await api.get(Database.self, namespace: namespace, name: name).object
        } catch let error as KubeError where error.code == .notFound {
            return nil
        }
    }

    func backup(_ name: String, namespace: String) async throws -> Backup? {
        do {
            return try await api.get(Backup.self, namespace: namespace, name: name).object
        } catch let error as KubeError where error.code == .notFound {
            return nil
        }
    }

    func waitForPhase(_ name: String, namespace: String, _ phase: DatabasePhase, timeout: Duration = .seconds(60)) async throws {
        try await eventually(timeout: timeout, "Database \(namespace)/\(name) to be \(phase.rawValue)") {
            try await self.database(name, namespace: namespace)?.phase == phase
        }
    }

    func waitForBackup(_ name: String, namespace: String, _ phase: BackupPhase, timeout: Duration = .seconds(60)) async throws {
        try await eventually(timeout: timeout, "Backup \(namespace)/\(name) to be \(phase.rawValue)") {
            try await self.backup(name, namespace: namespace)?.phase == phase
        }
    }

    func waitUntilGone(_ name: String, namespace: String, timeout: Duration = .seconds(60)) async throws {
        try await eventually(timeout: timeout, "Database \(namespace)/\(name) to be gone") {
            try await self.database(name, namespace: namespace) == nil
        }
    }

    /// Changes a Database's spec or metadata as a user would: read, modify, write, again on conflict.
    func modifyDatabase(_ name: String, namespace: String, _ change: @Sendable (inout Database) -> Void) async throws {
        while true {
            let current = try await api.get(Database.self, namespace: namespace, name: name)
            var modified = current.object
            change(&modified)
            do {
                _ = try await api.update(current, to: modified)
                return
            } catch let error as KubeError where error.code == .conflict {
                continue
            }
        }
    }

    func delete(_ name: String, namespace: String) async throws {
        try await api.delete(Database.self, namespace: namespace, name: name)
    }

    func secret(_ name: String, namespace: String) async throws -> Secret? {
        do {
            return try await api.get(Secret.self, namespace: namespace, name: name).object
        } catch let error as KubeError where error.code == .notFound {
            return nil
        }
    }
}

/// Every phase transition seen on watches of Databases and Backups, per object.
final class TransitionRecorder: Sendable {
    private struct State {
        var databases: [String: DatabaseStatus] = [:]
        var backups: [String: BackupStatus] = [:]
        var seen: [Transition: [String]] = [:] {
            didSet {
                for (transition, keys) in seen where keys.count > (oldValue[transition]?.count ?? 0) {
                    log.append((transition, keys.last!))
                }
            }
        }
        /// Every transition in the order seen.
        var log: [(Transition, String)] = []
    }

    /// Where in the order of all transitions `transition` of `key` was first seen.
    func position(of transition: Transition, for key: String) -> Int? {
        state.withLock { $0.log.firstIndex { $0.0 == transition && $0.1 == key } }
    }

    private let state = Mutex(State())

    var seen: Set<Transition> { state.withLock { Set($0.seen.keys) } }

    func objects(with transition: Transition) -> [String] { state.withLock { $0.seen[transition] ?? [] } }

    func watch(api: any KubernetesAPI) async throws {
        let logger = { var logger = Logger(label: "recorder"); logger.logLevel = .warning; return logger }()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await event in Watcher<Database>(api: api, logger: logger) { self.record(event) }
            }
            group.addTask {
                for try await event in Watcher<Backup>(api: api, logger: logger) { self.record(event) }
            }
            try await group.next()
        }
    }

    private func key(_ metadata: ObjectMeta) -> String { "\(metadata.namespace ?? "")/\(metadata.name ?? "")" }

    private func record(_ event: WatcherEvent<Database>) {
        state.withLock { state in
            switch event {
            case .restarted(let items):
                for item in items { note(&state, item.object) }
            case .applied(let item):
                note(&state, item.object)
            case .deleted(let item):
                note(&state, item.object)
                if item.object.phase == .deleted { state.seen[.d10, default: []].append(key(item.metadata)) }
                state.databases[item.metadata.uid ?? ""] = nil
            }
        }
    }

    private func note(_ state: inout State, _ database: Database) {
        let uid = database.metadata.uid ?? ""
        let before = state.databases[uid]
        if let transition = Transition.database(from: before?.phase, to: database.phase), before?.phase != database.phase {
            state.seen[transition, default: []].append(key(database.metadata))
        }
        state.databases[uid] = database.status ?? DatabaseStatus()
    }

    private func record(_ event: WatcherEvent<Backup>) {
        state.withLock { state in
            let items: [Resource<Backup>]
            switch event {
            case .restarted(let all): items = all
            case .applied(let item), .deleted(let item): items = [item]
            }
            for item in items {
                let uid = item.metadata.uid ?? ""
                let before = state.backups[uid]
                let after = item.object.status ?? BackupStatus()
                let changed = before?.phase != after.phase || (after.phase == .backingUp && before?.progress?.bytes != after.progress?.bytes && before?.progress != nil)
                if changed, let transition = Transition.backup(from: before?.phase, to: after.phase) {
                    state.seen[transition, default: []].append(key(item.metadata))
                }
                state.backups[uid] = after
            }
        }
    }
}

extension LifecycleHarness {
    /// PostgreSQL and MariaDB (RDS-like admins) side by side in one harness under
    /// deploy/'s RBAC: `body` runs for each at once, with the store and a run id.
    static func withRealDrivers(
        _ body: @escaping @Sendable (EndToEndTests.Driver, LifecycleHarness, S3Settings, String) async throws -> Void
    ) async throws {
        let s3 = try TestServices.current.s3()
        let drivers = [try EndToEndTests.Driver(engine: Engine.postgresql), try EndToEndTests.Driver(engine: Engine.mysql)]
        for driver in drivers { try await driver.engine.prepare() }
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await with(rbac: true) { harness in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for driver in drivers {
                    group.addTask { try await body(driver, harness, s3, run) }
                }
                try await group.waitForAll()
            }
        }
    }

    /// A namespace for a real driver's Databases: the Jobs' service account, Secret
    /// `admin` (the login's password) and Secret `s3-creds`.
    func makeRealNamespace(_ ns: String, driver: EndToEndTests.Driver, s3: S3Settings) async throws {
        _ = try await api.create(Namespace(metadata: ObjectMeta(name: ns)))
        try await prepareForJobs(ns)
        try await EndToEndTests.secret(self, ns, "admin", ["password": driver.login.password])
        try await s3CredentialsSecret(namespace: ns, s3: s3)
    }
}
