// swift-tools-version:6.0
// db-operator: a Kubernetes operator that manages databases inside existing
// PostgreSQL and MySQL instances. See README.md for the layout of the package.
import PackageDescription

let package = Package(
    name: "db-operator",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "db-operator", targets: ["CLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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

        // db-operator subcommands: parse flags, build, run. Nothing else.
        .executableTarget(
            name: "CLI",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/CLI"
        ),

        // Tests: the env contract of the local services, shared by every test target.
        .target(name: "TestSupport", path: "Tests/Support"),
        .testTarget(
            name: "UnitTests",
            dependencies: [
                "CLI", "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/Unit"
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["CLibPQ", "CMySQL", "TestSupport"],
            path: "Tests/Integration"
        ),
    ],
    swiftLanguageModes: [.v6]
)
