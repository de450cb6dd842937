/// The CustomResourceDefinitions of `Database`, `Backup`, `DatabaseServer` and `BackupSchedule` (`db-operator crds`):
/// OpenAPI v3 schemas that match the Swift types (a test proves it both ways),
/// printer columns, the status subresource.
public enum CustomResourceDefinitions {
    public static var all: [CustomResourceDefinition] { [database, backup, databaseServer, backupSchedule] }

    public static var backupSchedule: CustomResourceDefinition {
        crd(BackupSchedule.resource, singular: "backupschedule", shortNames: ["dbschedule"], schema: backupScheduleSchema, columns: [
            column("Database", ".spec.database"),
            column("Schedule", ".spec.schedule"),
            column("Suspended", ".spec.suspend", type: "boolean"),
            column("Last success", ".status.lastSuccessfulTime", type: "date"),
            // A time, not an age: kubectl shows a future "date" column as <invalid>.
            column("Next", ".status.nextScheduleTime"),
            column("Ready", ".status.conditions[?(@.type==\"Ready\")].reason", priority: 1),
            column("Age", ".metadata.creationTimestamp", type: "date"),
        ])
    }

    public static var databaseServer: CustomResourceDefinition {
        crd(DatabaseServer.resource, singular: "databaseserver", shortNames: ["dbserver", "dbservers"], schema: databaseServerSchema, columns: [
            column("Driver", ".spec.driver"),
            column("Host", ".spec.connect.host"),
            column("Version", ".status.version"),
            column("Databases", ".status.databases", type: "integer"),
            column("Ready", ".status.conditions[?(@.type==\"Ready\")].reason"),
            column("Age", ".metadata.creationTimestamp", type: "date"),
        ])
    }

    public static var database: CustomResourceDefinition {
        crd(Database.resource, singular: "database", shortNames: ["db", "dbs"], schema: databaseSchema, columns: [
            column("Phase", ".status.phase"),
            column("Driver", ".spec.driver"),
            column("Database", ".status.databaseName", priority: 1),
            column("Ready", ".status.conditions[?(@.type==\"Ready\")].reason", priority: 1),
            column("Expires", ".status.expiresAt", type: "date"),
            column("Age", ".metadata.creationTimestamp", type: "date"),
        ])
    }

    public static var backup: CustomResourceDefinition {
        crd(Backup.resource, singular: "backup", shortNames: ["dbbackup"], schema: backupSchema, columns: [
            column("Phase", ".status.phase"),
            column("Database", ".spec.database"),
            column("Size", ".status.size", type: "integer"),
            column("Destination", ".status.destination", priority: 1),
            column("Age", ".metadata.creationTimestamp", type: "date"),
        ])
    }

    // MARK: Schemas

    static var databaseSchema: JSONValue {
        object(required: ["spec"], [
            "apiVersion": string(), "kind": string(), "metadata": ["type": "object"],
            "spec": object([
                "driver": string(description: "The driver that manages the database: postgresql or mysql. Required without server.", minLength: 1),
                "server": string(
                    description: "A DatabaseServer to create the database on, instead of connect and credentials: the admin login stays in the operator's namespace.",
                    minLength: 1),
                "connect": object([
                    "host": string(description: "Host of the instance (required; the operator reports a missing one)."),
                    "port": ["type": "integer", "minimum": 1, "maximum": 65535, "description": "Default 5432 (postgresql), 3306 (mysql)."],
                    "sslMode": string(enum: TLSModeName.allCases.map(\.rawValue)),
                    "caSecret": string(
                        description: "Secret (this namespace) whose ca.crt is the CA the server's certificate must chain to; for verify-ca and verify-full.",
                        minLength: 1),
                ]),
                "credentials": object([
                    "username": valueSource, "password": valueSource,
                ], description: "The instance's admin login; Secrets are read from this namespace only."),
                "backupTo": object([
                    "S3": s3Schema, "s3": s3Schema,
                    "compression": string(
                        description: "MySQL dumps: gzip (default, .sql.gz) or zstd (.sql.zst). PostgreSQL's custom format is compressed by pg_dump.",
                        enum: BackupCompression.allCases.map(\.rawValue)),
                    "encryption": encryptionSchema,
                ], description: "Where backups go. S3 (as in the original design) or s3, not both."),
                "databaseName": string(description: "Default: <namespace>_<name>, normalised and shortened.", minLength: 1, maxLength: 64),
                "username": string(description: "Default: the database name, shortened to the engine's limit.", minLength: 1, maxLength: 63),
                "deletionPolicy": string(enum: DeletionPolicy.allCases.map(\.rawValue)),
                "ttl": string(
                    description: "A Go duration (2h, 30m, 1h30m): the Database is deleted this long after its creation, and its deletionPolicy applies.",
                    pattern: "^[-+]?([0-9]*(\\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$"),
                "restoreFrom": restoreSchema,
                "cloneFrom": object(required: ["database"], [
                    "database": string(description: "A Created Database of this namespace, of the same driver.", minLength: 1),
                ], description: "Start as a copy of another Database as it is now: on one PostgreSQL instance CREATE DATABASE ... TEMPLATE when the source has no sessions, else a streamed dump into the new one. Read at creation only."),
                "adopt": [
                    "type": "boolean",
                    "description": "Dangerous: take over a database recorded for this namespace and name in another cluster. A database retained by an earlier Database of this cluster is adopted without it.",
                ],
            ]),
            "status": object([
                "phase": string(enum: DatabasePhase.allCases.map(\.rawValue)),
                "observedGeneration": int64,
                "databaseName": string(), "username": string(), "secretName": string(),
                "driver": string(), "host": string(), "port": ["type": "integer"], "server": string(),
                "activeBackup": string(),
                "deletionPolicy": string(enum: DeletionPolicy.allCases.map(\.rawValue)),
                "lastBackup": object(required: ["name"], ["name": string(), "destination": string(), "completedAt": string(format: "date-time")]),
                "expiresAt": string(format: "date-time"),
                "restore": object([
                    "source": string(), "attempts": ["type": "integer", "minimum": 0], "completedAt": string(format: "date-time"), "failed": ["type": "boolean"],
                ]),
                "conditions": conditions,
            ]),
        ])
    }

    static var databaseServerSchema: JSONValue {
        object(required: ["spec"], [
            "apiVersion": string(), "kind": string(), "metadata": ["type": "object"],
            "spec": object(required: ["driver", "connect", "credentials"], [
                "driver": string(description: "postgresql or mysql.", minLength: 1),
                "connect": object(required: ["host"], [
                    "host": string(minLength: 1),
                    "port": ["type": "integer", "minimum": 1, "maximum": 65535, "description": "Default 5432 (postgresql), 3306 (mysql)."],
                    "sslMode": string(enum: TLSModeName.allCases.map(\.rawValue)),
                    "caSecret": string(description: "Secret in the operator's namespace whose ca.crt the server's certificate must chain to.", minLength: 1),
                ]),
                "credentials": object([
                    "username": valueSource, "password": valueSource,
                ], description: "The instance's admin login; Secrets are read from the operator's namespace only."),
                "allowedNamespaces": object([
                    "selector": object([
                        "matchLabels": ["type": "object", "additionalProperties": string()],
                        "matchExpressions": [
                            "type": "array",
                            "items": object(required: ["key", "operator"], [
                                "key": string(minLength: 1),
                                "operator": string(enum: ["In", "NotIn", "Exists", "DoesNotExist"]),
                                "values": ["type": "array", "items": string()],
                            ]),
                        ],
                    ]),
                ], description: "The namespaces whose Databases may use this server; absent: every namespace."),
                "backupTo": object([
                    "S3": s3Schema, "s3": s3Schema,
                    "compression": string(enum: BackupCompression.allCases.map(\.rawValue)),
                    "encryption": encryptionSchema,
                ], description: "Default backup target of the server's Databases; its CredentialsSecret is read from the operator's namespace."),
            ]),
            "status": object([
                "observedGeneration": int64,
                "version": string(),
                "lastProbeTime": string(format: "date-time"),
                "databases": ["type": "integer", "minimum": 0],
                "conditions": conditions,
            ]),
        ])
    }

    static var backupSchema: JSONValue {
        object(required: ["spec"], [
            "apiVersion": string(), "kind": string(), "metadata": ["type": "object"],
            "spec": object(required: ["database"], [
                "database": string(description: "A Database in the same namespace.", minLength: 1),
            ]),
            "status": object([
                "phase": string(enum: BackupPhase.allCases.map(\.rawValue)),
                "destination": string(),
                "progress": object(required: ["bytes"], [
                    "bytes": int64, "estimatedTotalBytes": int64,
                    "percent": ["type": "integer", "minimum": 0, "maximum": 100], "updatedAt": string(format: "date-time"),
                ]),
                "size": int64, "sha256": string(),
                "startedAt": string(format: "date-time"), "completedAt": string(format: "date-time"),
                "attempts": ["type": "integer", "minimum": 0],
                "conditions": conditions,
            ]),
        ])
    }

    static var backupScheduleSchema: JSONValue {
        let keep = { (what: String) -> JSONValue in
            ["type": "integer", "minimum": 0, "description": .string(what)]
        }
        return object(required: ["spec"], [
            "apiVersion": string(), "kind": string(), "metadata": ["type": "object"],
            "spec": object(required: ["database", "schedule"], [
                "database": string(description: "A Database in the same namespace.", minLength: 1),
                "schedule": string(description: "Cron, five fields (minute hour day-of-month month day-of-week), or @hourly, @daily, @weekly, @monthly, @yearly.", minLength: 1),
                "timeZone": string(description: "IANA time zone the schedule is read in (Europe/Amsterdam); default UTC.", minLength: 1),
                "suspend": ["type": "boolean", "description": "No new runs while true; retention still applies."],
                "retention": object([
                    "keepLast": keep("The newest N Completed Backups."),
                    "keepDaily": keep("The newest Completed Backup of each of the last N days that have one."),
                    "keepWeekly": keep("The same for ISO weeks."),
                    "keepMonthly": keep("The same for months."),
                ], description: "Which Completed Backups of this schedule to keep (as restic's forget --keep-*); the others are deleted with their objects. The newest is always kept. Absent: all."),
            ]),
            "status": object([
                "lastScheduleTime": string(format: "date-time"), "lastSuccessfulTime": string(format: "date-time"),
                "nextScheduleTime": string(format: "date-time"), "lastBackup": string(), "observedGeneration": int64,
                "conditions": conditions,
            ]),
        ])
    }

    /// `spec.restoreFrom`.
    static var restoreSchema: JSONValue {
        var s3: [String: JSONValue] = [:]
        for (lower, upper, schema) in [
            ("region", "Region", string()), ("bucket", "Bucket", string(minLength: 1)), ("key", "Key", string(minLength: 1)),
            ("endpoint", "Endpoint", string(pattern: "^https?://")), ("forcePathStyle", "ForcePathStyle", ["type": "boolean"]),
            ("credentialsSecret", "CredentialsSecret", string(description: "A Secret in this namespace with keys accessKeyId and secretAccessKey (optional sessionToken, ca.crt).")),
        ] as [(String, String, JSONValue)] {
            s3[lower] = schema
            s3[upper] = schema
        }
        let object: JSONValue = .object(["type": "object", "properties": .object(s3)])
        return CustomResourceDefinitions.object([
            "backup": string(description: "A Completed Backup in this namespace.", minLength: 1),
            "s3": object, "S3": object,
            "identitySecret": string(
                description: "Secret in this namespace whose key identity holds age secret keys (AGE-SECRET-KEY-1...), for encrypted backups.", minLength: 1),
        ], description: "Load the new database from a backup: a Backup (backup) or an S3 object (s3; pg_dump -Fc, or mysqldump output, plain, .gz or .zst, optionally .age). Read at creation only.")
    }

    static var s3Schema: JSONValue {
        var properties: [String: JSONValue] = [:]
        for (lower, upper, schema) in [
            ("region", "Region", string()), ("bucket", "Bucket", string(minLength: 1)), ("prefix", "Prefix", string()),
            ("endpoint", "Endpoint", string(pattern: "^https?://")), ("forcePathStyle", "ForcePathStyle", ["type": "boolean"]),
            ("credentialsSecret", "CredentialsSecret", string(description: "A Secret in this namespace with keys accessKeyId and secretAccessKey; optional sessionToken, and ca.crt (PEM) for a store whose certificate comes from a private CA.")),
        ] as [(String, String, JSONValue)] {
            properties[lower] = schema
            properties[upper] = schema
        }
        return .object(["type": "object", "properties": .object(properties)])
    }

    static var valueSource: JSONValue {
        object([
            "value": string(),
            "valueFrom": object([
                "secretKeyRef": object(required: ["name", "key"], [
                    "name": string(minLength: 1), "key": string(minLength: 1),
                    "namespace": string(description: "Must be the resource's own namespace when given."),
                ]),
            ]),
        ])
    }

    static var conditions: JSONValue {
        [
            "type": "array",
            "items": object(required: ["type", "status", "reason", "message", "lastTransitionTime"], [
                "type": string(), "status": string(enum: ["True", "False", "Unknown"]), "reason": string(), "message": string(),
                "lastTransitionTime": string(format: "date-time"), "observedGeneration": int64,
            ]),
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        ]
    }

    // MARK: Building blocks

    static let int64: JSONValue = ["type": "integer", "format": "int64"]

    /// `backupTo.encryption`.
    static let encryptionSchema = object(required: ["recipientsSecret"], [
        "recipientsSecret": string(
            description: "Secret (where the CredentialsSecret is read) whose key recipients holds age X25519 public keys (age1...), one per line: objects are encrypted to them (suffix .age).",
            minLength: 1),
    ], description: "Client-side encryption of the backup objects in the age format.")

    static func object(required: [String] = [], _ properties: [String: JSONValue], description: String? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { schema["required"] = .array(required.map { .string($0) }) }
        if let description { schema["description"] = .string(description) }
        return .object(schema)
    }

    static func string(
        description: String? = nil, enum values: [String]? = nil, minLength: Int? = nil, maxLength: Int? = nil,
        pattern: String? = nil, format: String? = nil
    ) -> JSONValue {
        var schema: [String: JSONValue] = ["type": "string"]
        if let description { schema["description"] = .string(description) }
        if let values { schema["enum"] = .array(values.map { .string($0) }) }
        if let minLength { schema["minLength"] = .int(Int64(minLength)) }
        if let maxLength { schema["maxLength"] = .int(Int64(maxLength)) }
        if let pattern { schema["pattern"] = .string(pattern) }
        if let format { schema["format"] = .string(format) }
        return .object(schema)
    }

    static func column(_ name: String, _ path: String, type: String = "string", priority: Int = 0) -> JSONValue {
        var column: [String: JSONValue] = ["name": .string(name), "type": .string(type), "jsonPath": .string(path)]
        if priority > 0 { column["priority"] = .int(Int64(priority)) }
        return .object(column)
    }

    static func crd(_ resource: ResourceDescriptor, singular: String, shortNames: [String], schema: JSONValue, columns: [JSONValue]) -> CustomResourceDefinition {
        CustomResourceDefinition(
            metadata: ObjectMeta(name: "\(resource.plural).\(resource.group)", labels: ["app.kubernetes.io/managed-by": "db-operator"]),
            spec: [
                "group": .string(resource.group),
                "scope": .string(resource.namespaced ? "Namespaced" : "Cluster"),
                "names": [
                    "plural": .string(resource.plural), "singular": .string(singular), "kind": .string(resource.kind),
                    "listKind": .string("\(resource.kind)List"), "shortNames": .array(shortNames.map { .string($0) }),
                    "categories": ["db-operator"],
                ],
                "versions": [[
                    "name": .string(resource.version), "served": true, "storage": true,
                    "schema": ["openAPIV3Schema": schema],
                    "subresources": ["status": [:]],
                    "additionalPrinterColumns": .array(columns),
                ]],
            ])
    }
}
