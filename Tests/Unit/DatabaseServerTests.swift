import Foundation
import KubeModel
import KubeRuntime
import ObjectStore
@testable import Operator
import Testing

/// DatabaseServer's pure parts (SPEC section 12): which namespaces a server allows,
/// what a Database naming one may and may not say, when the server is probed, and
/// where the Jobs of its Databases run.
@Suite("DatabaseServer: selectors, specs, probes and Jobs")
struct DatabaseServerTests {
    static func server(_ change: (inout DatabaseServerSpec) -> Void = { _ in }) -> DatabaseServer {
        var spec = DatabaseServerSpec(
            driver: "postgresql", connect: ConnectSpec(host: "pg.internal"),
            credentials: CredentialsSpec(
                username: ValueSource(value: "postgres"), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "shared-pg-admin", key: "password")))))
        change(&spec)
        var metadata = ObjectMeta(name: "shared-pg")
        metadata.uid = "server-uid"
        metadata.generation = 1
        return DatabaseServer(metadata: metadata, spec: spec)
    }

    static func database(_ change: (inout DatabaseSpec) -> Void = { _ in }) -> Database {
        var spec = DatabaseSpec(driver: nil, connect: nil, server: "shared-pg")
        change(&spec)
        var metadata = ObjectMeta(name: "orders", namespace: "shop")
        metadata.uid = "db-uid"
        metadata.generation = 1
        return Database(metadata: metadata, spec: spec)
    }

    @Test("label selectors match as Kubernetes matches them")
    func selectors() {
        let labels = ["db-operator.io/tenant": "true", "team": "a"]
        #expect(LabelSelector().matches(labels))
        #expect(LabelSelector(matchLabels: ["db-operator.io/tenant": "true"]).matches(labels))
        #expect(!LabelSelector(matchLabels: ["db-operator.io/tenant": "false"]).matches(labels))
        #expect(!LabelSelector(matchLabels: ["db-operator.io/tenant": "true"]).matches([:]))
        #expect(LabelSelector(matchExpressions: [.init(key: "team", operator: "In", values: ["a", "b"])]).matches(labels))
        #expect(!LabelSelector(matchExpressions: [.init(key: "team", operator: "In", values: ["b"])]).matches(labels))
        #expect(!LabelSelector(matchExpressions: [.init(key: "team", operator: "In", values: ["a"])]).matches([:]))
        #expect(LabelSelector(matchExpressions: [.init(key: "team", operator: "NotIn", values: ["b"])]).matches(labels))
        #expect(LabelSelector(matchExpressions: [.init(key: "team", operator: "NotIn", values: ["b"])]).matches([:]))
        #expect(!LabelSelector(matchExpressions: [.init(key: "team", operator: "NotIn", values: ["a"])]).matches(labels))
        #expect(LabelSelector(matchExpressions: [.init(key: "team", operator: "Exists")]).matches(labels))
        #expect(!LabelSelector(matchExpressions: [.init(key: "other", operator: "Exists")]).matches(labels))
        #expect(LabelSelector(matchExpressions: [.init(key: "other", operator: "DoesNotExist")]).matches(labels))
        #expect(!LabelSelector(matchExpressions: [.init(key: "team", operator: "DoesNotExist")]).matches(labels))
        #expect(!LabelSelector(matchExpressions: [.init(key: "team", operator: "Like", values: ["a"])]).matches(labels))
        #expect(LabelSelector(matchExpressions: [.init(key: "team", operator: "Like")]).problems == ["team: unknown operator Like"])
        #expect(LabelSelector(matchExpressions: [.init(key: "team", operator: "In")]).problems == ["team: In needs values"])
        // No allowedNamespaces: every namespace.
        #expect(Self.server().allows(namespaceLabels: [:]))
        let closed = Self.server { $0.allowedNamespaces = AllowedNamespaces(selector: LabelSelector(matchLabels: ["db-operator.io/tenant": "true"])) }
        #expect(closed.allows(namespaceLabels: labels) && !closed.allows(namespaceLabels: [:]))
    }

    @Test("a server's spec: known driver, host, admin login, backup target, selector")
    func serverValidation() {
        #expect(Self.server().validate(knownDrivers: ["postgresql"]).isEmpty)
        #expect(Self.server { $0.driver = "oracle" }.validate(knownDrivers: ["postgresql"]).map(\.field) == ["spec.driver"])
        #expect(Self.server { $0.credentials = nil }.validate(knownDrivers: ["postgresql"]).map(\.field) == ["spec.credentials.username", "spec.credentials.password"])
        #expect(Self.server { $0.connect.host = " " }.validate(knownDrivers: ["postgresql"]).map(\.field) == ["spec.connect.host"])
        #expect(Self.server { $0.backupTo = BackupTarget(s3: S3Spec(region: "r")) }.validate(knownDrivers: ["postgresql"]).map(\.field) == ["spec.backupTo.S3.Bucket"])
        #expect(Self.server { $0.allowedNamespaces = AllowedNamespaces(selector: LabelSelector(matchExpressions: [.init(key: "k", operator: "Exists", values: ["v"])])) }
            .validate(knownDrivers: ["postgresql"]).map(\.field) == ["spec.allowedNamespaces.selector"])
    }

    @Test("a Database names a server instead of connect and credentials, never both")
    func databaseOnServer() {
        let server = Self.server { $0.backupTo = BackupTarget(s3: S3Spec(bucket: "shared")) }
        #expect(Self.database().validate(knownDrivers: ["postgresql"], server: server).isEmpty)
        #expect(Self.database().validate(knownDrivers: ["postgresql"]).isEmpty, "the server is not needed to accept the spec")
        let both = Self.database { $0.connect = ConnectSpec(host: "db") }
        #expect(both.validate(knownDrivers: ["postgresql"], server: server).map(\.field) == ["spec.server"])
        let withCredentials = Self.database { $0.credentials = CredentialsSpec(username: ValueSource(value: "u"), password: ValueSource(value: "p")) }
        #expect(withCredentials.validate(knownDrivers: ["postgresql"], server: server).map(\.field) == ["spec.server"])
        #expect(Self.database { $0.driver = "postgresql" }.validate(knownDrivers: ["postgresql"], server: server).isEmpty)
        #expect(Self.database { $0.driver = "mysql" }.validate(knownDrivers: ["postgresql", "mysql"], server: server).map(\.field) == ["spec.driver"])
        // Without a server, a driver, a host and credentials are required.
        let bare = Database(metadata: ObjectMeta(name: "x", namespace: "shop"), spec: DatabaseSpec(driver: nil, connect: nil))
        #expect(bare.validate(knownDrivers: ["postgresql"]).map(\.field) == ["spec.driver", "spec.connect.host", "spec.credentials.username", "spec.credentials.password"])
        // The server's backup target counts: for the policy's default and for BackupBeforeDelete.
        let policy = Self.database { $0.deletionPolicy = .backupBeforeDelete }
        #expect(policy.validate(knownDrivers: ["postgresql"], server: server).isEmpty)
        #expect(policy.validate(knownDrivers: ["postgresql"], server: Self.server()).map(\.field) == ["spec.deletionPolicy"])
        #expect(Self.database().effectiveDeletionPolicy(server: server) == .backupBeforeDelete)
        #expect(Self.database().effectiveDeletionPolicy(server: Self.server()) == .delete)
        let target = Self.database().backupTarget(server: server)
        #expect(target?.fromServer == true && target?.target.s3Spec?.bucket == "shared")
        let own = Self.database { $0.backupTo = BackupTarget(s3: S3Spec(bucket: "mine")) }.backupTarget(server: server)
        #expect(own?.fromServer == false && own?.target.s3Spec?.bucket == "mine")
    }

    @Test("once Created, the server is recorded: a changed spec.server is reported, not followed")
    func serverIsImmutable() {
        var database = Self.database()
        var status = DatabaseStatus(phase: .created)
        status.driver = "postgresql"
        status.host = "pg.internal"
        status.server = "shared-pg"
        database.status = status
        #expect(database.immutableFieldChanges.isEmpty)
        #expect(database.serverName == "shared-pg")
        database.spec.server = "other"
        #expect(database.immutableFieldChanges == ["server (shared-pg -> other)"])
        #expect(database.serverName == "shared-pg")
        // Created inline: naming a server later is reported, and the database stays inline.
        var inline = Self.database { $0.server = "shared-pg" }
        var inlineStatus = DatabaseStatus(phase: .created)
        inlineStatus.driver = "postgresql"
        inlineStatus.host = "db"
        inline.status = inlineStatus
        #expect(inline.immutableFieldChanges == ["server (none -> shared-pg)"])
        #expect(inline.serverName == nil)
    }

    @Test("a refused Database gets no Job, but its deletion is never blocked")
    func refusals() {
        let refusal = Refusal(reason: "NamespaceNotAllowed", message: "no")
        var facts = DatabaseFacts(generation: 1, phase: nil, deleting: false, hasFinalizer: false, deletionPolicy: .delete, refusal: refusal)
        #expect(JobDecider.decide(DecisionInput(database: facts, backups: [], jobs: [], now: Date())) == .refused(refusal))
        facts.phase = .created
        facts.hasFinalizer = true
        let pending = [BackupFacts(name: "b", creationTimestamp: "2026-01-01T00:00:00Z", phase: nil)]
        #expect(JobDecider.decide(DecisionInput(database: facts, backups: pending, jobs: [], now: Date())) == .refused(refusal))
        facts.deleting = true
        #expect(JobDecider.decide(DecisionInput(database: facts, backups: [], jobs: [], now: Date())) == .createJob(JobRequest(operation: .delete, backup: nil, attempt: 0)))
    }

    @Test("probes: at once for a new or changed spec, then on the interval, sooner while failing, never in a loop")
    func probes() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        func facts(probed: Int64? = 1, last: TimeInterval? = -10, ready: Bool = true, probing: Bool = false, jobEnded: TimeInterval? = nil) -> ServerFacts {
            ServerFacts(
                generation: 1, probedGeneration: probed, lastProbe: last.map { now.addingTimeInterval($0) }, ready: ready, probing: probing,
                lastProbeJobFinished: jobEnded.map { now.addingTimeInterval($0) })
        }
        #expect(ProbeDecider.decide(facts(probed: nil, last: nil), now: now, interval: 600) == .probe)
        #expect(ProbeDecider.decide(facts(probed: 0), now: now, interval: 600) == .probe, "the spec changed since the last probe")
        #expect(ProbeDecider.decide(facts(probing: true), now: now, interval: 600) == .wait)
        #expect(ProbeDecider.decide(facts(last: -10), now: now, interval: 600) == .later(590))
        #expect(ProbeDecider.decide(facts(last: -600), now: now, interval: 600) == .probe)
        #expect(ProbeDecider.decide(facts(last: -10, ready: false), now: now, interval: 600) == .later(20))
        #expect(ProbeDecider.decide(facts(last: -10, ready: false), now: now, interval: 5) == .probe, "the retry is never longer than the interval")
        // A probe Job that ended without writing its result is not followed at once by another.
        #expect(ProbeDecider.decide(facts(probed: nil, last: nil, jobEnded: -5), now: now, interval: 600) == .later(25))
        #expect(ProbeDecider.decide(facts(probed: nil, last: nil, jobEnded: -30), now: now, interval: 600) == .probe)
    }

    @Test("Jobs of a Database on a server run in the operator's namespace, tied to it by labels, and probe Jobs there too")
    func jobs() throws {
        let template = JobTemplate()
        let request = JobRequest(operation: .create, backup: nil, attempt: 0)
        let job = template.job(for: Self.database(), request: request, clusterID: "cluster", operatorNamespace: "db-operator")
        #expect(job.metadata.namespace == "db-operator")
        #expect(job.metadata.ownerReferences == nil, "an owner in another namespace is not valid")
        #expect(job.metadata.labels?[LabelKey.databaseUID] == "db-uid" && job.metadata.labels?[LabelKey.databaseNamespace] == "shop")
        #expect(job.metadata.annotations?[AnnotationKey.databaseName] == "orders")
        let env = try #require(job.spec?.template.spec.containers.first?.env)
        #expect(env.contains(EnvVar(name: "DB_OPERATOR_NAMESPACE", value: "shop")) && env.contains(EnvVar(name: "DB_OPERATOR_OPERATOR_NAMESPACE", value: "db-operator")))
        #expect(DatabaseOperator.databaseKey(of: try JobRecord(job)) == ObjectKey(namespace: "shop", name: "orders"))
        // Inline: in the Database's namespace, owned by it, no operator namespace.
        var inline = Self.database { $0 = DatabaseSpec(driver: "postgresql", connect: ConnectSpec(host: "db")) }
        inline.spec.server = nil
        let own = template.job(for: inline, request: request, operatorNamespace: "db-operator")
        #expect(own.metadata.namespace == "shop" && own.metadata.ownerReferences?.first?.uid == "db-uid")
        #expect(own.spec?.template.spec.containers.first?.env?.contains { $0.name == "DB_OPERATOR_OPERATOR_NAMESPACE" } == false)
        #expect(DatabaseOperator.databaseKey(of: try JobRecord(own)) == ObjectKey(namespace: "shop", name: "orders"))

        let probe = template.probeJob(for: Self.server(), seed: "1|0", operatorNamespace: "db-operator")
        #expect(probe.metadata.namespace == "db-operator" && probe.metadata.name?.hasPrefix("shared-pg-probe-") == true)
        #expect(probe.metadata.labels?[LabelKey.serverUID] == "server-uid" && probe.metadata.annotations?[AnnotationKey.server] == "shared-pg")
        #expect(probe.spec?.backoffLimit == 0)
        #expect(template.probeJob(for: Self.server(), seed: "1|1", operatorNamespace: "db-operator").metadata.name != probe.metadata.name)
    }
}

@Suite("Operator-wide Job credentials")
struct JobCredentialUnitTests {
    @Test("--job-env-from-secret becomes an optional envFrom on every Job, inline or in the operator's namespace")
    func envFrom() throws {
        var template = JobTemplate()
        template.environmentFromSecrets = ["dbop-job-env"]
        let request = JobRequest(operation: .backup, backup: "b", attempt: 0)
        for database in [DatabaseServerTests.database(), DatabaseServerTests.database { $0 = DatabaseSpec(driver: "postgresql", connect: ConnectSpec(host: "db")) }] {
            let job = template.job(for: database, request: request)
            #expect(job.spec?.template.spec.containers.first?.envFrom == [EnvFromSource(secretRef: .init(name: "dbop-job-env", optional: true))])
        }
        let probe = template.probeJob(for: DatabaseServerTests.server(), seed: "1", operatorNamespace: "db-operator")
        #expect(probe.spec?.template.spec.containers.first?.envFrom?.count == 1)
        #expect(JobTemplate().job(for: DatabaseServerTests.database(), request: request).spec?.template.spec.containers.first?.envFrom == nil)
    }

    @Test("web identity from the environment: both variables needed; the STS endpoint from AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL or the region")
    func webIdentity() {
        let base = ["AWS_ROLE_ARN": "arn:aws:iam::1:role/r", "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"]
        #expect(WebIdentity.fromEnvironment(["AWS_ROLE_ARN": "arn"]) == nil)
        #expect(WebIdentity.fromEnvironment(["AWS_WEB_IDENTITY_TOKEN_FILE": "/t"]) == nil)
        #expect(WebIdentity.fromEnvironment(base)?.stsEndpoint == "https://sts.amazonaws.com")
        #expect(WebIdentity.fromEnvironment(base, region: "eu-west-1")?.stsEndpoint == "https://sts.eu-west-1.amazonaws.com")
        #expect(WebIdentity.fromEnvironment(base.merging(["AWS_REGION": "us-east-2"]) { $1 }, region: "eu-west-1")?.stsEndpoint == "https://sts.us-east-2.amazonaws.com")
        #expect(WebIdentity.fromEnvironment(base.merging(["AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_STS": "http://sts:2"]) { $1 })?.stsEndpoint == "http://sts:2")
        #expect(WebIdentity.fromEnvironment(base.merging(["AWS_ENDPOINT_URL": "http://a:1"]) { $1 })?.stsEndpoint == "http://a:1")
        #expect(WebIdentity.fromEnvironment(base.merging(["AWS_ROLE_SESSION_NAME": "s"]) { $1 })?.sessionName == "s")
        #expect(WebIdentity.fromEnvironment(base)?.roleARN == "arn:aws:iam::1:role/r")
    }
}

@Suite("A Database's time to live")
struct TimeToLiveTests {
    @Test("Go durations as time.ParseDuration reads them")
    func durations() {
        #expect(GoDuration.seconds("2h") == 7200)
        #expect(GoDuration.seconds("20s") == 20)
        #expect(GoDuration.seconds("1h30m") == 5400)
        #expect(GoDuration.seconds("1.5h") == 5400)
        #expect(GoDuration.seconds("300ms") == 0.3)
        #expect(GoDuration.seconds("2m3.5s") == 123.5)
        #expect(GoDuration.seconds("-1m") == -60)
        #expect(GoDuration.seconds("0") == 0)
        for bad in ["", "2", "h", "2d", "1h 30m", "1..5h", ".s", "2hh", "abc"] {
            #expect(GoDuration.seconds(bad) == nil, "\(bad)")
        }
    }

    @Test("expiry is creation + ttl; a bad or non-positive ttl is InvalidSpec and never expires")
    func expiry() {
        var database = DatabaseServerTests.database { $0.ttl = "90s" }
        database.metadata.creationTimestamp = "2026-12-01T10:00:00Z"
        #expect(database.expiry.map(KubeTime.format) == "2026-12-01T10:01:30Z")
        #expect(database.validate(knownDrivers: ["postgresql"]).isEmpty)
        for bad in ["ninety", "-5m", "0"] {
            database.spec.ttl = bad
            #expect(database.expiry == nil)
            #expect(database.validate(knownDrivers: ["postgresql"]).map(\.field) == ["spec.ttl"], "\(bad)")
        }
    }
}
