// swift-tools-version:6.0
// db-operator: a Kubernetes operator that manages databases inside existing
// PostgreSQL and MySQL instances. See README.md for the layout of the package.
import PackageDescription

let package = Package(
    name: "db-operator",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "db-operator", targets: ["CLI"]),
        .executable(name: "fake-apiserver", targets: ["fake-apiserver"]),
        .executable(name: "db-operator-bench", targets: ["Bench"]),
        .library(name: "FakeAPIServer", targets: ["FakeAPIServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.25.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The engines' own C client libraries.
        .systemLibrary(
            name: "CLibPQ",
            path: "Sources/CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .systemLibrary(
            name: "CMySQL",
            path: "Sources/CMySQL",
            pkgConfig: "libmariadb",
            providers: [.apt(["libmariadb-dev"]), .brew(["mariadb-connector-c"])]
        ),

        // Compression libraries for backups: gzip members (libdeflate) and zstd frames.
        .systemLibrary(name: "CLibDeflate", path: "Sources/CLibDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"]), .brew(["libdeflate"])]),
        // glibc's mallopt, for `MemoryTuning`.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        // zlib: streaming gzip decompression (libdeflate has none) for restores.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),

        // The drivers' shared pieces: blocking calls off the cooperative pool, settings, errors.
        .target(name: "SQLSupport", path: "Sources/SQLSupport"),
        // Thin Swift over libpq and libmysqlclient.
        .target(name: "PostgreSQLDriver", dependencies: ["CLibPQ", "SQLSupport", "DriverProtocol", "KubeModel"], path: "Sources/PostgreSQLDriver"),
        .target(name: "MySQLDriver", dependencies: ["CMySQL", "SQLSupport", "DriverProtocol", "KubeModel"], path: "Sources/MySQLDriver"),

        // The Driver API's driver side: protocol DatabaseDriver and plain values, no Kubernetes
        // client (KubeModel only for the shared `Reason` constants of DriverError).
        .target(
            name: "DriverProtocol",
            dependencies: [
                "KubeModel",
                "SQLSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            path: "Sources/DriverProtocol"
        ),
        // A driver for tests that needs no database server (enabled only on request).
        .target(name: "TestDriver", dependencies: ["DriverProtocol", "KubeModel", "SQLSupport", .product(name: "NIOCore", package: "swift-nio")], path: "Sources/TestDriver"),

        // Codable Kubernetes API types, and the JSON value they keep unknown fields in.
        .target(name: "KubeModel", dependencies: [.product(name: "Crypto", package: "swift-crypto")], path: "Sources/KubeModel"),

        // The Kubernetes client: kubeconfig and in-cluster configuration, HTTP, typed errors, watches.
        .target(
            name: "KubeClient",
            dependencies: [
                "KubeModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/KubeClient"
        ),
        // Controller machinery: watcher, cache, work queue, controller, leader election, events.
        .target(
            name: "KubeRuntime",
            dependencies: [
                "KubeModel", "KubeClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/KubeRuntime"
        ),

        // `db-operator job-runner`: Jobs as local processes, status as the job controller writes it;
        // for dev, the service-account controller too.
        .target(
            name: "JobRunner",
            dependencies: [
                "KubeModel", "KubeClient", "KubeRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/JobRunner"
        ),

        // The operator: observe Databases, Backups and Jobs, decide (pure), create Jobs.
        .target(
            name: "Operator",
            dependencies: [
                "KubeModel", "KubeClient", "KubeRuntime",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Sources/Operator"
        ),
        // The Driver API runtime inside a Job: phase writes, finalizer, Secret, backups to S3.
        .target(
            name: "DriverAPI",
            dependencies: [
                "BackupData", "DriverProtocol", "KubeModel", "KubeClient", "KubeRuntime", "ObjectStore", "SQLSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/DriverAPI"
        ),

        // The backup data path: a dump stream in, one object and its manifest out (key
        // layout, compression, encryption, upload, verification), and the reverse.
        .target(
            name: "BackupData",
            dependencies: [
                "KubeModel", "ObjectStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/BackupData"
        ),

        // S3-compatible object storage: SigV4, the S3 operations backups need, an in-memory store.
        .target(
            name: "ObjectStore",
            dependencies: [
                "CLibDeflate", "CZstd", "CZlib", "CMalloc",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            path: "Sources/ObjectStore"
        ),

        // The fake kube-apiserver: a library (for tests and `db-operator dev`) and its executable.
        .target(
            name: "FakeAPIServer",
            dependencies: [
                "KubeModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "FakeAPIServer/Sources/FakeAPIServer"
        ),
        .executableTarget(
            name: "fake-apiserver",
            dependencies: [
                "FakeAPIServer", "KubeModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "FakeAPIServer/Sources/fake-apiserver"
        ),

        // db-operator subcommands: parse flags, build, run. Nothing else.
        .executableTarget(
            name: "CLI",
            dependencies: [
                "KubeClient", "JobRunner", "Operator", "DriverAPI", "DriverProtocol", "TestDriver", "ObjectStore", "KubeModel",
                "PostgreSQLDriver", "MySQLDriver", "FakeAPIServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/CLI"
        ),

        // Benchmarks that print figures (never timed assertions in tests).
        .executableTarget(
            name: "Bench",
            dependencies: [
                "ObjectStore", "DriverProtocol", "PostgreSQLDriver", "SQLSupport", "TestSupport", "FakeAPIServer", "KubeClient", "KubeModel", "KubeRuntime", "Operator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/Bench"
        ),

        // Tests: the env contract of the local services, shared by every test target.
        .target(
            name: "TestSupport",
            dependencies: ["ObjectStore", "KubeModel", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/Support"
        ),
        .testTarget(
            name: "UnitTests",
            dependencies: [
                "CLI", "KubeModel", "KubeClient", "KubeRuntime", "ObjectStore", "BackupData", "TestSupport", "Operator", "DriverAPI", "DriverProtocol", "FakeAPIServer", "JobRunner",
                "PostgreSQLDriver", "SQLSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Tests/Unit",
            // Vectors read at run time (botocore's SigV4 output), not resources.
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "CLibPQ", "CMySQL", "SQLSupport", "PostgreSQLDriver", "MySQLDriver", "TestSupport", "KubeModel", "KubeClient", "KubeRuntime", "JobRunner", "FakeAPIServer", "ObjectStore", "BackupData", "Operator", "DriverAPI", "DriverProtocol", "TestDriver",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/Integration"
        ),
        // The fake API server's rules, each a test over HTTP, and real kubectl and
        // the official Python client against it.
        .testTarget(
            name: "FakeAPIServerTests",
            dependencies: [
                "FakeAPIServer", "KubeModel", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "FakeAPIServer/Tests/FakeAPIServerTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
