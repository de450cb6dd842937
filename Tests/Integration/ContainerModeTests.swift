import Foundation
import KubeModel
import Testing
import TestSupport

/// The Jobs in containers (SPEC: production deployment): the job runner runs each pod
/// as a container of the image `ci/image.sh build` makes, with runc, as a kubelet
/// would — read-only root, the pod's user (65532), the service account's token, CA
/// and namespace mounted at /var/run/secrets/kubernetes.io/serviceaccount,
/// KUBERNETES_SERVICE_HOST/PORT. The driver inside has no kubeconfig: it works only
/// through its in-cluster configuration, with the PostgreSQL 18 and MariaDB client
/// tools of the image, under deploy/'s RBAC.
@Suite("Jobs in containers of the image (runc)", .serialized)
struct ContainerModeTests {
    static let services = TestServices.current

    @Test(
        "ci/image.sh run -- --version runs the image with runc; its dump tools are there",
        .enabled(if: services.shouldRun(.containers)))
    func imageRuns() async throws {
        _ = try Self.services.containers()
        let script = QuickStartTests.repository.appendingPathComponent("ci/image.sh").path
        let version = try await ChildProcess.run("/bin/bash", [script, "run", "--", "--version"])
        #expect(version.status == 0, "\(version.stderr)")
        #expect(version.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).range(of: #"^\d+\.\d+\.\d+"#, options: .regularExpression) != nil, "\(version.stdoutText)")
        let pgDump = try await ChildProcess.run("/bin/bash", [script, "run", "--entrypoint", "/usr/lib/postgresql/18/bin/pg_dump", "--", "--version"])
        #expect(pgDump.stdoutText.contains("pg_dump (PostgreSQL) 18."), "\(pgDump.stderr)")
        let mariadbDump = try await ChildProcess.run("/bin/bash", [script, "run", "--entrypoint", "/usr/bin/mariadb-dump", "--", "--version"])
        #expect(mariadbDump.stdoutText.contains("MariaDB"), "\(mariadbDump.stderr)")
        // The clients restores load with.
        let mariadb = try await ChildProcess.run("/bin/bash", [script, "run", "--entrypoint", "/usr/bin/mariadb", "--", "--version"])
        #expect(mariadb.stdoutText.contains("MariaDB"), "\(mariadb.stderr)")
        let pgRestore = try await ChildProcess.run("/bin/bash", [script, "run", "--entrypoint", "/usr/lib/postgresql/18/bin/pg_restore", "--", "--version"])
        #expect(pgRestore.stdoutText.contains("pg_restore (PostgreSQL) 18."), "\(pgRestore.stderr)")
    }

    @Test(
        "both drivers in containers: create, backup (restored), backup-before-delete (restored) and drop, each Job as its service account",
        .enabled(
            if: services.shouldRun(.containers) && services.shouldRun(.postgresql) && services.shouldRun(.mysql) && services.shouldRun(.s3)
                && services.shouldRun(.kubectl)))
    func lifecycles() async throws {
        _ = try Self.services.containers()
        let s3 = try Self.services.s3()
        let drivers = [try EndToEndTests.Driver(engine: Engine.postgresql), try EndToEndTests.Driver(engine: Engine.mysql)]
        for driver in drivers { try await driver.engine.prepare() }
        let run = "c" + String(UUID().uuidString.prefix(5).lowercased())
        try await LifecycleHarness.with(containers: true) { harness in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for driver in drivers {
                    group.addTask { try await EndToEndTests.shortLifecycle(driver, harness: harness, s3: s3, run: run) }
                }
                try await group.waitForAll()
            }
            // The drivers asked as their service accounts (tokens mounted in the containers).
            let users = Set(harness.cluster.server.accessLog().map(\.record.user))
            for driver in drivers {
                #expect(users.contains("system:serviceaccount:e2e-\(driver.label)-\(run):db-operator-driver"), "\(users.sorted())")
            }
        }
    }
}
