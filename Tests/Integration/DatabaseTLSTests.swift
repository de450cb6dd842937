import DriverProtocol
import Foundation
import KubeModel
import MySQLDriver
import PostgreSQLDriver
import SQLSupport
import Testing
import TestSupport

/// `connect.caSecret` and `sslMode: verify-full` against servers whose certificates
/// come from a test CA and name 127.0.0.1 only (SPEC 2.1; #16 item 7): the right
/// CA connects, creates, dumps and drops; another CA, or a name the certificate does
/// not hold, is TLSRefused; a plain connection to the TLS-only server is TLSRefused.
@Suite(
    "Database TLS that verifies",
    .enabled(if: TestServices.current.shouldRun(.databaseTLS), "needs the TLS database servers: run ci/services.sh start"))
struct DatabaseTLSTests {
    static let services = TestServices.current

    enum Server: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case postgresql, mysql
        var testDescription: String { rawValue }

        func login(_ tls: DatabaseTLSSettings) -> DatabaseServerLogin { self == .postgresql ? tls.postgresql : tls.mysql }
        var driver: any DatabaseDriver { self == .postgresql ? Engine.postgresqlDriver : MySQLDatabaseDriver(engine: MySQLEngine()) }
    }

    func settings(_ login: DatabaseServerLogin, host: String? = nil, mode: TLSMode, ca: String?) -> ConnectionSettings {
        ConnectionSettings(
            host: host ?? login.host, port: login.port, user: login.user, password: login.password, tlsMode: mode, connectTimeoutSeconds: 5,
            certificateAuthorityPEM: ca)
    }

    func connect(_ server: Server, _ settings: ConnectionSettings) async throws {
        if server == .postgresql {
            _ = try await PGConnection.connect(settings).query("SELECT 1")
        } else {
            _ = try await MySQLConnection.connect(settings).query("SELECT 1")
        }
    }

    @Test("verify-full with the CA: a database is created, dumped over TLS and dropped", arguments: Server.allCases)
    func verifiedLifecycle(_ server: Server) async throws {
        let tls = try Self.services.databaseTLS()
        let login = server.login(tls)
        let name = "dbop_tls_\(UUID().uuidString.prefix(8).lowercased())"
        let target = DatabaseTarget(
            instance: settings(login, mode: .verifyFull, ca: tls.certificateAuthorityPEM), databaseName: name, username: name,
            owner: OwnerRecord(uid: UUID().uuidString, namespace: "tls", name: "db"))
        try await server.driver.create(target, password: "tenant-pw")
        let dump = try await server.driver.backup(target)
        var bytes = 0
        for try await chunk in dump.bytes { bytes += chunk.readableBytes }
        #expect(bytes > 0)
        try await server.driver.drop(target)
    }

    @Test("another CA, a host name the certificate does not hold, or no TLS to a server that requires it: TLSRefused", arguments: Server.allCases)
    func refused(_ server: Server) async throws {
        let tls = try Self.services.databaseTLS()
        let login = server.login(tls)
        // The right CA and name connect (the other cases differ in one thing each).
        try await connect(server, settings(login, mode: .verifyFull, ca: tls.certificateAuthorityPEM))
        var cases: [(String, ConnectionSettings)] = [
            ("another CA", settings(login, mode: .verifyFull, ca: tls.otherCertificateAuthorityPEM)),
            ("a name not in the certificate", settings(login, host: "localhost", mode: .verifyFull, ca: tls.certificateAuthorityPEM)),
        ]
        if server == .postgresql {
            // The TLS-only server refuses a plain connection (MariaDB here offers TLS, it does not require it).
            cases.append(("no TLS", settings(login, mode: .disable, ca: nil)))
        }
        for (what, settings) in cases {
            let error = await #expect(throws: SQLError.self, "\(what)") { try await connect(server, settings) }
            #expect(error?.kind == .tlsRefused, "\(what): \(error?.description ?? "")")
        }
        if server == .postgresql {
            // verify-ca checks the chain, not the name: localhost is accepted.
            try await connect(server, settings(login, host: "localhost", mode: .verifyCA, ca: tls.certificateAuthorityPEM))
        }
    }

    @Test("through the real programs: connect.caSecret with verify-full creates and backs up on both engines; another CA is TLSRefused, a missing caSecret SecretNotFound")
    func throughThePrograms() async throws {
        let tls = try Self.services.databaseTLS()
        let s3 = try Self.services.s3()
        try await LifecycleHarness.with { harness in
            let run = UUID().uuidString.prefix(6).lowercased()
            for server in Server.allCases {
                let ns = "tls-\(server.rawValue)-\(run)"
                let login = server.login(tls)
                _ = try await harness.api.create(Namespace(metadata: ObjectMeta(name: ns)))
                for (name, key, value) in [("admin", "password", login.password), ("db-ca", "ca.crt", tls.certificateAuthorityPEM), ("other-ca", "ca.crt", tls.otherCertificateAuthorityPEM)] {
                    var secret = Secret(metadata: ObjectMeta(name: name, namespace: ns))
                    secret.setValue(value, for: key)
                    _ = try await harness.api.create(secret)
                }
                try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
                func spec(caSecret: String) -> DatabaseSpec {
                    var spec = LifecycleHarness.realDatabaseSpec(driver: server.rawValue, login: login, s3: s3, prefix: "\(ns)/", policy: .delete)
                    spec.connect = ConnectSpec(host: login.host, port: login.port, sslMode: .verifyFull, caSecret: caSecret)
                    return spec
                }
                try await harness.createDatabase("main", namespace: ns, spec: spec(caSecret: "db-ca"))
                try await harness.createDatabase("wrongca", namespace: ns, spec: spec(caSecret: "other-ca"))
                try await harness.createDatabase("noca", namespace: ns, spec: spec(caSecret: "no-such-secret"))
                try await harness.waitForPhase("main", namespace: ns, .created, timeout: .seconds(120))
                try await harness.createBackup("main-1", namespace: ns, database: "main")
                try await harness.waitForBackup("main-1", namespace: ns, .completed, timeout: .seconds(120))
                for (name, reason) in [("wrongca", "TLSRefused"), ("noca", "SecretNotFound")] {
                    try await eventually(timeout: .seconds(60), "\(ns)/\(name) to report \(reason)") {
                        try await harness.database(name, namespace: ns)?.status?.conditions?[type: "Ready"]?.reason.rawValue == reason
                    }
                }
                for name in ["main", "wrongca", "noca"] { try await harness.delete(name, namespace: ns) }
                try await harness.waitUntilGone("main", namespace: ns, timeout: .seconds(120))
                // A drop needs a verified connection too (an earlier attempt may have made
                // something): it waits, saying why, until the CA is right.
                try await eventually(timeout: .seconds(60), "\(ns)/wrongca's drop to wait on TLS") {
                    try await harness.database("wrongca", namespace: ns)?.status?.conditions?[type: "Ready"]?.reason == "TLSRefused"
                }
                var wrong = try await harness.api.get(Secret.self, namespace: ns, name: "other-ca")
                var fixed = wrong.object
                fixed.setValue(tls.certificateAuthorityPEM, for: "ca.crt")
                wrong = try await harness.api.update(wrong, to: fixed)
                var missing = Secret(metadata: ObjectMeta(name: "no-such-secret", namespace: ns))
                missing.setValue(tls.certificateAuthorityPEM, for: "ca.crt")
                _ = try await harness.api.create(missing)
                for name in ["wrongca", "noca"] { try await harness.waitUntilGone(name, namespace: ns, timeout: .seconds(120)) }
            }
        }
    }
}
