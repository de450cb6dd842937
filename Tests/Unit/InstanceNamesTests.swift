import DriverAPI
import DriverProtocol
import KubeModel
import Testing

@Suite("Names inside the instance (SPEC 2.4)")
struct InstanceNamesTests {
    static func derive(_ namespace: String, _ name: String, database: String? = nil, user: String? = nil, limits: NameLimits = .postgresql) -> Result<(database: String, user: String), InvalidName> {
        InstanceNames.derive(namespace: namespace, name: name, databaseName: database, username: user, limits: limits)
    }

    @Test("the default is <namespace>_<name> normalised to [a-z0-9_]")
    func normalised() throws {
        let names = try Self.derive("shop", "Orders.v2-eu").get()
        #expect(names.database == "shop_orders_v2_eu")
        #expect(names.user == "shop_orders_v2_eu")
    }

    @Test("long names keep a prefix and end in _ plus 8 hex of the full name's SHA-256, within each engine's limit")
    func shortened() throws {
        let name = String(repeating: "x", count: 120)
        let pg = try Self.derive("team-a", name).get()
        #expect(pg.database.utf8.count == 63)
        #expect(pg.database.hasPrefix("team_a_xxx"))
        #expect(pg.database.range(of: "_[0-9a-f]{8}$", options: .regularExpression) != nil)
        let mysql = try Self.derive("team-a", name, limits: .mysql).get()
        #expect(mysql.database.utf8.count == 64)
        #expect(mysql.user.utf8.count == 32)
        #expect(mysql.user.hasSuffix(String(mysql.database.suffix(8))), "both shortened from the same full name")
        let other = try Self.derive("team-b", name).get()
        #expect(other.database != pg.database)
    }

    @Test("given names are used as they are, and refused when too long or reserved")
    func given() throws {
        let names = try Self.derive("shop", "orders", database: "Orders DB", user: "app").get()
        #expect(names.database == "Orders DB" && names.user == "app")
        #expect((try? Self.derive("shop", "x", user: String(repeating: "u", count: 33), limits: .mysql).get()) == nil)
        #expect((try? Self.derive("shop", "x", database: "db_operator").get()) == nil)
        #expect((try? Self.derive("db", "operator").get()) == nil, "the derived name may not be the bookkeeping database either")
    }
}

@Suite("The connection Secret (SPEC 2.2)")
struct ConnectionSecretTests {
    static let details = ConnectionDetails(driver: "postgresql", host: "db.example.com", port: 5432, database: "shop_orders", username: "shop orders", password: "p@ss/word:1", sslMode: .require)

    @Test("URIs percent-encode their parts")
    func uris() {
        #expect(Self.details.uri == "postgresql://shop%20orders:p%40ss%2Fword%3A1@db.example.com:5432/shop_orders?sslmode=require")
        #expect(Self.details.jdbcURI == "jdbc:postgresql://db.example.com:5432/shop_orders?user=shop%20orders&password=p%40ss%2Fword%3A1&sslmode=require")
        var mysql = Self.details
        mysql.driver = "mysql"
        mysql.port = 3306
        #expect(mysql.uri == "mysql://shop%20orders:p%40ss%2Fword%3A1@db.example.com:3306/shop_orders")
    }

    @Test("only the owned keys are written; other keys, labels and annotations stay")
    func keepsOthers() {
        var existing = Secret(metadata: ObjectMeta(name: "orders", namespace: "shop", labels: ["team": "a"], annotations: ["note": "keep"]))
        existing.setValue("mine", for: "extra")
        existing.setValue("stale", for: "host")
        let owner = OwnerReference(apiVersion: "dboperator.io/v1alpha1", kind: "Database", name: "orders", uid: "u1", controller: true)
        let secret = Self.details.secret(updating: existing, name: "orders", namespace: "shop", owner: owner)
        #expect(secret.value("extra") == "mine")
        #expect(secret.value("host") == "db.example.com")
        #expect(secret.value("password") == "p@ss/word:1")
        #expect(Set(secret.data?.keys.map { $0 } ?? []) == Set(ConnectionDetails.ownedKeys + ["extra"]))
        #expect(secret.metadata.labels == ["team": "a", "app.kubernetes.io/managed-by": "db-operator"])
        #expect(secret.metadata.annotations == ["note": "keep"])
        #expect(secret.metadata.ownerReferences == [owner])
    }

    @Test("passwords are 32 URL-safe characters and differ")
    func passwords() {
        let passwords = (0..<100).map { _ in PasswordGenerator.generate() }
        #expect(Set(passwords).count == 100)
        for password in passwords {
            #expect(password.count == 32)
            #expect(password.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        }
    }
}

@Suite("Object names of backups")
struct BackupObjectNameTests {
    @Test("a Backup's name starts its objects' names as it is up to 200 bytes; longer ones are cut with a hash of the whole, so two never share a part")
    func objectNamePart() {
        let short = String(repeating: "a", count: 200)
        #expect(S3Location.objectNamePart(short) == short)
        let one = String(repeating: "b", count: 250) + "1", other = String(repeating: "b", count: 250) + "2"
        let (a, b) = (S3Location.objectNamePart(one), S3Location.objectNamePart(other))
        #expect(a.utf8.count == 200 && b.utf8.count == 200 && a != b)
        #expect(a == S3Location.objectNamePart(one))
        #expect(a.hasPrefix(String(repeating: "b", count: 183) + "-"))
    }
}
