@testable import FakeAPIServer
@testable import CLI
import Foundation
import KubeModel
import Testing
import Yams

/// The CRDs' schemas and the Swift types agree both ways: a Swift object with every
/// field set passes the schema with nothing pruned, and an object with every schema
/// property set survives a decode and re-encode through the Swift type unchanged.
@Suite("The CRDs match the Swift types")
struct CustomResourceDefinitionTests {
    static func schema(_ crd: CustomResourceDefinition) throws -> JSONValue {
        try #require(crd.spec["versions"]?.arrayValue?.first?[path: ["schema", "openAPIV3Schema"]])
    }

    static let fullDatabase: Database = {
        var s3 = S3Spec(region: "eu-west-1", bucket: "b", prefix: "p/", endpoint: "https://s3.example", forcePathStyle: true, credentialsSecret: "c")
        s3.Region = "eu-west-1"
        var status = DatabaseStatus(phase: .created)
        status.observedGeneration = 2
        status.databaseName = "d"
        status.username = "u"
        status.secretName = "s"
        status.driver = "postgresql"
        status.host = "h"
        status.port = 5432
        status.server = "shared"
        status.expiresAt = "2026-11-25T01:30:00Z"
        status.activeBackup = ""
        status.lastBackup = LastBackup(name: "n", destination: "s3://b/k", completedAt: "2026-11-25T00:00:00Z")
        status.conditions = [Condition(type: "Ready", status: "True", reason: "Created", message: "m", lastTransitionTime: "2026-11-25T00:00:00Z", observedGeneration: 2)]
        return Database(
            metadata: ObjectMeta(name: "orders", namespace: "shop"),
            spec: DatabaseSpec(
                driver: "postgresql", connect: ConnectSpec(host: "h", port: 5432, sslMode: .verifyFull),
                credentials: CredentialsSpec(
                    username: ValueSource(value: "postgres"),
                    password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "pw", key: "password", namespace: "shop")))),
                backupTo: BackupTarget(S3: s3, s3: S3Spec(bucket: "other"), compression: "zstd"), databaseName: "d", username: "u", deletionPolicy: .retain,
                adopt: true, server: "shared", ttl: "1h30m"),
            status: status)
    }()

    static let fullServer: DatabaseServer = {
        var status = DatabaseServerStatus()
        status.observedGeneration = 3
        status.version = "18.6"
        status.lastProbeTime = "2026-11-25T00:00:00Z"
        status.databases = 12
        status.conditions = [Condition(type: "Ready", status: "True", reason: "Connected", message: "m", lastTransitionTime: "2026-11-25T00:00:00Z", observedGeneration: 3)]
        return DatabaseServer(
            metadata: ObjectMeta(name: "shared-pg"),
            spec: DatabaseServerSpec(
                driver: "postgresql", connect: ConnectSpec(host: "pg.internal", port: 5432, sslMode: .verifyFull, caSecret: "pg-ca"),
                credentials: CredentialsSpec(
                    username: ValueSource(value: "postgres"), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "shared-pg-admin", key: "password")))),
                allowedNamespaces: AllowedNamespaces(selector: LabelSelector(
                    matchLabels: ["db-operator.io/tenant": "true"], matchExpressions: [.init(key: "team", operator: "In", values: ["a", "b"])])),
                backupTo: BackupTarget(s3: S3Spec(region: "r", bucket: "b", prefix: "p/", endpoint: "http://s3:8333", forcePathStyle: true, credentialsSecret: "s3"), compression: "gzip")),
            status: status)
    }()

    static let fullBackup: Backup = {
        var status = BackupStatus(phase: .completed)
        status.destination = "s3://b/k"
        status.progress = BackupProgress(bytes: 10, estimatedTotalBytes: 20, percent: 50, updatedAt: "2026-11-25T00:00:00Z")
        status.size = 10
        status.sha256 = "ab"
        status.startedAt = "2026-11-25T00:00:00Z"
        status.completedAt = "2026-11-25T00:00:00Z"
        status.attempts = 1
        status.conditions = [Condition(type: "Ready", status: "True", reason: "Completed", message: "m", lastTransitionTime: "2026-11-25T00:00:00Z")]
        return Backup(metadata: ObjectMeta(name: "nightly", namespace: "shop"), spec: BackupSpec(database: "orders"), status: status)
    }()

    static let fullSchedule: BackupSchedule = {
        var status = BackupScheduleStatus()
        status.lastScheduleTime = "2026-11-25T03:00:00Z"
        status.lastSuccessfulTime = "2026-11-25T03:01:00Z"
        status.nextScheduleTime = "2026-11-26T03:00:00Z"
        status.lastBackup = "nightly-202611250300"
        status.observedGeneration = 2
        status.conditions = [Condition(type: "Ready", status: "True", reason: "Scheduled", message: "m", lastTransitionTime: "2026-11-25T00:00:00Z")]
        return BackupSchedule(
            metadata: ObjectMeta(name: "nightly", namespace: "shop"),
            spec: BackupScheduleSpec(
                database: "orders", schedule: "0 3 * * *", timeZone: "Europe/Amsterdam", suspend: false,
                retention: BackupRetention(keepLast: 7, keepDaily: 7, keepWeekly: 4, keepMonthly: 6)),
            status: status)
    }()

    @Test("a Database, Backup, DatabaseServer and BackupSchedule with every Swift field set pass their schemas with nothing pruned")
    func swiftToSchema() throws {
        for (crd, object) in [
            (CustomResourceDefinitions.database, try JSONValue(encoding: Self.fullDatabase)), (CustomResourceDefinitions.backup, try JSONValue(encoding: Self.fullBackup)),
            (CustomResourceDefinitions.databaseServer, try JSONValue(encoding: Self.fullServer)),
            (CustomResourceDefinitions.backupSchedule, try JSONValue(encoding: Self.fullSchedule)),
        ] {
            let schema = try Self.schema(crd)
            var pruned: [String] = []
            let kept = SchemaValidator.prune(object, schema: schema, pruned: &pruned)
            #expect(pruned.isEmpty, "fields of the Swift type missing from the schema: \(pruned)")
            #expect(kept == object)
            let errors = SchemaValidator.validate(object, schema: schema)
            #expect(errors.isEmpty, "\(errors)")
        }
    }

    @Test("an object with every schema property set decodes into the Swift type and encodes back unchanged")
    func schemaToSwift() throws {
        let database = Self.example(of: try Self.schema(CustomResourceDefinitions.database))
        #expect(try JSONValue(encoding: try database.decode(as: Database.self)) == database)
        let backup = Self.example(of: try Self.schema(CustomResourceDefinitions.backup))
        #expect(try JSONValue(encoding: try backup.decode(as: Backup.self)) == backup)
        let server = Self.example(of: try Self.schema(CustomResourceDefinitions.databaseServer))
        #expect(try JSONValue(encoding: try server.decode(as: DatabaseServer.self)) == server)
        let schedule = Self.example(of: try Self.schema(CustomResourceDefinitions.backupSchedule))
        #expect(try JSONValue(encoding: try schedule.decode(as: BackupSchedule.self)) == schedule)
    }

    @Test("BackupSchedule is namespaced, with columns Database, Schedule, Suspended, Last success, Next, Ready and Age")
    func scheduleColumns() throws {
        let crd = CustomResourceDefinitions.backupSchedule
        #expect(crd.spec["scope"] == "Namespaced")
        let version = try #require(crd.spec["versions"]?.arrayValue?.first)
        let names = version["additionalPrinterColumns"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names == ["Database", "Schedule", "Suspended", "Last success", "Next", "Ready", "Age"])
    }

    @Test("deploy/crds.yaml is exactly what `db-operator crds` prints (regenerate: db-operator crds > deploy/crds.yaml)")
    func committedCRDsAreGenerated() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = try String(contentsOf: repository.appendingPathComponent("deploy/crds.yaml"), encoding: .utf8)
        #expect(committed == (try CRDsCommand.render(json: false)))
    }

    @Test("DatabaseServer is cluster-scoped, with columns Driver, Host, Version, Databases, Ready and Age")
    func serverColumns() throws {
        let crd = CustomResourceDefinitions.databaseServer
        #expect(crd.spec["scope"] == "Cluster")
        #expect(CustomResourceDefinitions.database.spec["scope"] == "Namespaced")
        let version = try #require(crd.spec["versions"]?.arrayValue?.first)
        let names = version["additionalPrinterColumns"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names == ["Driver", "Host", "Version", "Databases", "Ready", "Age"])
    }

    @Test("the schemas have printer columns Phase, Driver and Age, and the status subresource")
    func columns() throws {
        let version = try #require(CustomResourceDefinitions.database.spec["versions"]?.arrayValue?.first)
        let names = version["additionalPrinterColumns"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(["Phase", "Driver", "Age"].allSatisfy(names.contains))
        #expect(version[path: ["subresources", "status"]] == [:])
    }

    @Test("the original design's example is accepted as written")
    func originalExample() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/original-design-example.yaml")
        let yaml = try String(contentsOf: url, encoding: .utf8)
        let object = try JSONValue.decode(JSONSerialization.data(withJSONObject: try #require(try Yams.load(yaml: yaml))))
        var pruned: [String] = []
        _ = SchemaValidator.prune(object, schema: try Self.schema(CustomResourceDefinitions.database), pruned: &pruned)
        #expect(pruned.isEmpty)
        #expect(SchemaValidator.validate(object, schema: try Self.schema(CustomResourceDefinitions.database)).isEmpty)
        let database = try object.decode(as: Database.self)
        #expect(database.spec.backupTo?.s3Spec?.location == S3Location(region: "eu-west-1", bucket: "my-backup-bucket", prefix: "", endpoint: nil, forcePathStyle: false, credentialsSecret: nil))
        #expect(database.validate(knownDrivers: ["postgresql", "mysql"]).isEmpty)
    }

    /// A value for every property of `schema`.
    static func example(of schema: JSONValue) -> JSONValue {
        switch schema["type"]?.stringValue {
        case "object":
            guard let properties = schema["properties"]?.objectValue else { return ["name": "x"] }
            return .object(properties.mapValues { example(of: $0) })
        case "array":
            return .array([example(of: schema["items"] ?? [:])])
        case "integer":
            return .int(schema["minimum"]?.intValue ?? 7)
        case "boolean":
            return true
        default:
            if let first = schema["enum"]?.arrayValue?.first { return first }
            if schema["format"]?.stringValue == "date-time" { return "2026-11-25T03:15:00Z" }
            if schema["pattern"] != nil { return "https://s3.example" }
            return "text"
        }
    }
}

@Suite("What the schema cannot say about a Database")
struct DatabaseValidationTests {
    static func database(_ change: (inout DatabaseSpec) -> Void = { _ in }) -> Database {
        var spec = DatabaseSpec(
            driver: "postgresql", connect: ConnectSpec(host: "db"),
            credentials: CredentialsSpec(username: ValueSource(value: "admin"), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "pw", key: "password")))))
        change(&spec)
        return Database(metadata: ObjectMeta(name: "orders", namespace: "shop"), spec: spec)
    }

    static func fields(_ database: Database) -> [String] { database.validate(knownDrivers: ["postgresql", "mysql"]).map(\.field) }

    @Test("a valid spec has no problems")
    func valid() { #expect(Self.fields(Self.database()).isEmpty) }

    @Test("unknown driver, missing host, both spellings, a Secret in another namespace, a policy without a target")
    func invalid() {
        #expect(Self.fields(Self.database { $0.driver = "oracle" }) == ["spec.driver"])
        #expect(Self.fields(Self.database { $0.connect?.host = nil }) == ["spec.connect.host"])
        #expect(Self.fields(Self.database { $0.backupTo = BackupTarget(S3: S3Spec(bucket: "a"), s3: S3Spec(bucket: "a")) }) == ["spec.backupTo"])
        #expect(Self.fields(Self.database { var s3 = S3Spec(bucket: "a"); s3.Bucket = "b"; $0.backupTo = BackupTarget(S3: s3) }) == ["spec.backupTo.S3"])
        #expect(Self.fields(Self.database { $0.credentials?.password = ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "pw", key: "p", namespace: "other"))) })
            == ["spec.credentials.password.valueFrom.secretKeyRef.namespace"])
        #expect(Self.fields(Self.database { $0.backupTo = BackupTarget(s3: S3Spec(bucket: "a", credentialsSecret: "other/creds")) }) == ["spec.backupTo.S3.CredentialsSecret"])
        #expect(Self.fields(Self.database { $0.deletionPolicy = .backupBeforeDelete }) == ["spec.deletionPolicy"])
        #expect(Self.fields(Self.database { $0.credentials = nil }) == ["spec.credentials.username", "spec.credentials.password"])
        #expect(Self.fields(Self.database { $0.backupTo = BackupTarget(s3: S3Spec(bucket: "a"), compression: "lz4") }) == ["spec.backupTo.compression"])
    }

    @Test("backup compression: gzip unless zstd is asked for")
    func compression() {
        #expect(BackupTarget(s3: S3Spec(bucket: "a")).compressionFormat == .gzip)
        #expect(BackupTarget(s3: S3Spec(bucket: "a"), compression: "zstd").compressionFormat == .zstd)
        #expect(BackupTarget(s3: S3Spec(bucket: "a"), compression: "lz4").compressionFormat == nil)
        #expect(Self.fields(Self.database { $0.backupTo = BackupTarget(s3: S3Spec(bucket: "a"), compression: "zstd") }).isEmpty)
    }

    @Test("deletionPolicy defaults to BackupBeforeDelete with a target, else Delete")
    func defaultPolicy() {
        #expect(Self.database().spec.effectiveDeletionPolicy() == .delete)
        #expect(Self.database { $0.backupTo = BackupTarget(s3: S3Spec(bucket: "a")) }.spec.effectiveDeletionPolicy() == .backupBeforeDelete)
        // Once Created with BackupBeforeDelete, removing backupTo keeps it; writing a policy changes it.
        var created = Self.database { $0.backupTo = BackupTarget(s3: S3Spec(bucket: "a")) }
        let recorded = created.effectiveDeletionPolicy()
        created.status = DatabaseStatus(phase: .created)
        created.status?.deletionPolicy = recorded
        #expect(created.status?.deletionPolicy == .backupBeforeDelete)
        created.spec.backupTo = nil
        #expect(created.effectiveDeletionPolicy() == .backupBeforeDelete)
        created.spec.deletionPolicy = .delete
        #expect(created.effectiveDeletionPolicy() == .delete)
        // Created without a target (Delete recorded), adding one later asks for the final backup.
        var plain = Self.database()
        plain.status = DatabaseStatus(phase: .created)
        plain.status?.deletionPolicy = .delete
        plain.spec.backupTo = BackupTarget(s3: S3Spec(bucket: "a"))
        #expect(plain.effectiveDeletionPolicy() == .backupBeforeDelete)
    }

    @Test("changes to immutable fields after creation are named")
    func immutable() {
        var database = Self.database { $0.connect?.host = "new-host" }
        var status = DatabaseStatus(phase: .created)
        status.driver = "postgresql"
        status.host = "old-host"
        status.databaseName = "shop_orders"
        database.status = status
        #expect(database.immutableFieldChanges == ["connect.host (old-host -> new-host)"])
    }
}
