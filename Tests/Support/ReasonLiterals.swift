import KubeModel

// Tests compare reasons with the words a user reads (`ready?.reason == "Created"`),
// which keeps a renamed constant from passing unnoticed. The sources may not: they
// use `Reason`'s constants (`ReasonTests` checks).
extension Reason: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(rawValue: value) }
}
