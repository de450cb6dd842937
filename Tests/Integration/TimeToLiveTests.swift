import Foundation
import KubeClient
import KubeModel
import SQLSupport
import Testing
import TestSupport

/// `spec.ttl` (SPEC section 13): the operator deletes the Database when it runs out,
/// and the deletion policy applies — a database per CI run that cleans itself up.
@Suite("Time to live", .serialized)
struct TimeToLiveTests {
    static let services = TestServices.current

    @Test("test driver: status.expiresAt; gone and dropped by itself; a long ttl waits and a shortened one takes effect; a bad ttl is refused or InvalidSpec")
    func testDriver() async throws {
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with { harness in
            let ns = "ttl-\(run)"
            try await harness.makeNamespace(ns)
            var spec = LifecycleHarness.databaseSpec(host: "instance-ttl-\(run)", policy: .delete, s3: nil)
            spec.ttl = "4s"
            try await harness.createDatabase("short", namespace: ns, spec: spec)
            spec.ttl = "1h"
            try await harness.createDatabase("long", namespace: ns, spec: spec)
            // Not a duration: the CRD's schema refuses it; a negative one is the operator's InvalidSpec.
            spec.ttl = "a while"
            await #expect(throws: KubeError.self) { try await harness.createDatabase("bad", namespace: ns, spec: spec) }
            spec.ttl = "-5m"
            try await harness.createDatabase("bad", namespace: ns, spec: spec)
            try await harness.waitForPhase("short", namespace: ns, .created)
            let short = try #require(try await harness.database("short", namespace: ns))
            let created = try #require(short.metadata.creationTimestamp.flatMap(KubeTime.parse))
            try await eventually("status.expiresAt") { try await harness.database("short", namespace: ns)?.status?.expiresAt != nil }
            let expiresAt = try #require(try await harness.database("short", namespace: ns)?.status?.expiresAt.flatMap(KubeTime.parse))
            #expect(expiresAt.timeIntervalSince(created) == 4)
            try await harness.waitUntilGone("short", namespace: ns, timeout: .seconds(60))
            #expect(Date() >= expiresAt)
            #expect(harness.instanceRecord(host: "instance-ttl-\(run)", database: "ttl_\(run)_short") == nil, "dropped")
            #expect(try await harness.api.list(Event.self, namespace: ns).contains { $0.object.involvedObject.name == "short" && $0.object.reason == "Expired" })
            #expect(try await harness.database("long", namespace: ns)?.phase == .created, "not before its time")
            try await eventually("the bad ttl to be reported") {
                let ready = try await harness.database("bad", namespace: ns)?.status?.conditions?[type: "Ready"]
                return ready?.reason == "InvalidSpec" && ready?.message.contains("spec.ttl") == true
            }
            // Shortening the ttl of a live Database takes effect.
            try await harness.modifyDatabase("long", namespace: ns) { $0.spec.ttl = "1s" }
            try await harness.waitUntilGone("long", namespace: ns, timeout: .seconds(60))
        }
    }

    @Test(
        "both drivers on real servers: ttl 20s, gone and dropped by itself",
        .enabled(if: services.shouldRun(.postgresql) && services.shouldRun(.mysql)))
    func realServers() async throws {
        let drivers = [try EndToEndTests.Driver(engine: Engine.postgresql), try EndToEndTests.Driver(engine: Engine.mysql)]
        for driver in drivers { try await driver.engine.prepare() }
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with { harness in
            let ns = "ttl-real-\(run)"
            _ = try await harness.api.create(Namespace(metadata: ObjectMeta(name: ns)))
            var logins: [(EndToEndTests.Driver, String, String, String)] = []
            for driver in drivers {
                try await EndToEndTests.secret(harness, ns, "\(driver.name)-admin", ["password": driver.login.password])
                let spec = DatabaseSpec(
                    driver: driver.name, connect: ConnectSpec(host: driver.login.host, port: driver.login.port, sslMode: .disable),
                    credentials: CredentialsSpec(
                        username: ValueSource(value: driver.login.user),
                        password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "\(driver.name)-admin", key: "password")))),
                    ttl: "20s")
                try await harness.createDatabase(driver.name, namespace: ns, spec: spec)
            }
            for driver in drivers {
                try await harness.waitForPhase(driver.name, namespace: ns, .created, timeout: .seconds(60))
                let secret = try #require(try await harness.secret(driver.name, namespace: ns))
                let login = (driver, try #require(secret.value("username")), try #require(secret.value("password")), try #require(secret.value("database")))
                _ = try await driver.engine.runAs(driver.login, login.1, login.2, login.3, ["SELECT 1"])
                logins.append(login)
            }
            for driver in drivers { try await harness.waitUntilGone(driver.name, namespace: ns, timeout: .seconds(90)) }
            for (driver, user, password, database) in logins {
                await #expect(throws: SQLError.self, "\(database) is dropped") { _ = try await driver.engine.runAs(driver.login, user, password, database, ["SELECT 1"]) }
            }
        }
    }
}
