/// The version `db-operator --version` prints.
enum DBOperatorVersion {
    static let current = "0.1.0-dev"
}
