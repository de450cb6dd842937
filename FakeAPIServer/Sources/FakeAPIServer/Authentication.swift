// Who a request comes from: static bearer tokens (each a user with groups), and
// service-account tokens minted by the TokenRequest subresource
// (`POST .../serviceaccounts/NAME/token`, what `kubectl create token` sends).
//
// Service-account tokens are JWTs with the claims a real cluster puts in them
// (iss, sub, aud, exp, iat, nbf, kubernetes.io: namespace and service account name
// and uid), signed with HMAC-SHA256 by a key the server keeps (in the data directory
// when it has one, so tokens survive restarts). As in a real cluster they stop
// working when they expire or when their service account is deleted (or replaced:
// the uid must match). Nobody outside verifies them, so HS256 instead of RS256.

import Crypto
import Foundation
import KubeModel

/// Turns bearer tokens into users.
struct Authenticator: Sendable {
    /// Static token to user name.
    let tokens: [String: String]
    /// Groups of static users besides `system:authenticated`.
    let groups: [String: [String]]
    let signingKey: SymmetricKey

    static let issuer = "https://kubernetes.default.svc.cluster.local"
    static let defaultAudience = "https://kubernetes.default.svc.cluster.local"
    /// TokenRequest's default and bounds, as kube-apiserver's.
    static let defaultExpiration = 3600
    static let minimumExpiration = 600

    /// The user of `token`, or nil when it is unknown, expired, or its service account gone.
    func user(token: String, storage: Storage, now: Date = Date()) -> UserInfo? {
        if let name = tokens[token] {
            return UserInfo(name: name, groups: (groups[name] ?? []) + ["system:authenticated"])
        }
        guard let claims = verify(token), let exp = claims["exp"]?.intValue, Double(exp) > now.timeIntervalSince1970,
            let namespace = claims[path: ["kubernetes.io", "namespace"]]?.stringValue,
            let name = claims[path: ["kubernetes.io", "serviceaccount", "name"]]?.stringValue,
            let uid = claims[path: ["kubernetes.io", "serviceaccount", "uid"]]?.stringValue,
            let serviceAccounts = storage.resourceType(group: "", version: "v1", plural: "serviceaccounts"),
            let account = try? storage.get(serviceAccounts, namespace: namespace, name: name),
            account[path: ["metadata", "uid"]]?.stringValue == uid, account[path: ["metadata", "deletionTimestamp"]] == nil
        else { return nil }
        return UserInfo.serviceAccount(namespace: namespace, name: name)
    }

    /// A token for the service account `account` (a stored object), valid for `seconds`.
    func mint(serviceAccount account: JSONValue, audiences: [String], seconds: Int, now: Date = Date()) -> (token: String, expires: Date) {
        let issued = Int(now.timeIntervalSince1970)
        let namespace = account[path: ["metadata", "namespace"]]?.stringValue ?? ""
        let name = account[path: ["metadata", "name"]]?.stringValue ?? ""
        let claims: JSONValue = [
            "iss": .string(Self.issuer), "sub": .string(UserInfo.serviceAccountName(namespace: namespace, name: name)),
            "aud": .array((audiences.isEmpty ? [Self.defaultAudience] : audiences).map(JSONValue.string)),
            "iat": .int(Int64(issued)), "nbf": .int(Int64(issued)), "exp": .int(Int64(issued + seconds)),
            "jti": .string(RandomUUID.make()),
            "kubernetes.io": [
                "namespace": .string(namespace),
                "serviceaccount": ["name": .string(name), "uid": account[path: ["metadata", "uid"]] ?? ""],
            ],
        ]
        let header = Self.base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload = Self.base64URL(Data(claims.encoded()))
        let signature = HMAC<SHA256>.authenticationCode(for: Data("\(header).\(payload)".utf8), using: signingKey)
        return ("\(header).\(payload).\(Self.base64URL(Data(signature)))", Date(timeIntervalSince1970: Double(issued + seconds)))
    }

    /// The claims of a token this server signed, or nil.
    private func verify(_ token: String) -> JSONValue? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let signature = Self.base64URLDecode(parts[2]),
            HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Data("\(parts[0]).\(parts[1])".utf8), using: signingKey),
            let payload = Self.base64URLDecode(parts[1])
        else { return nil }
        return try? JSONValue.decode(payload)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }

    /// Answers a TokenRequest for the service account `account`: the request with its status.
    func tokenRequest(_ body: JSONValue, serviceAccount account: JSONValue) throws(APIError) -> JSONValue {
        let seconds = body[path: ["spec", "expirationSeconds"]]?.intValue.map(Int.init) ?? Self.defaultExpiration
        let name = account[path: ["metadata", "name"]]?.stringValue ?? ""
        if seconds < Self.minimumExpiration {
            throw APIError(
                code: 422, reason: "Invalid",
                message: "TokenRequest.authentication.k8s.io \"\(name)\" is invalid: spec.expirationSeconds: Invalid value: \(seconds): may not specify a duration less than 10 minutes",
                details: ["name": .string(name), "group": "authentication.k8s.io", "kind": "TokenRequest"])
        }
        let audiences = body[path: ["spec", "audiences"]]?.arrayValue?.compactMap(\.stringValue) ?? []
        let (token, expires) = mint(serviceAccount: account, audiences: audiences, seconds: seconds)
        var spec = body["spec"]?.objectValue ?? [:]
        spec["audiences"] = .array((audiences.isEmpty ? [Self.defaultAudience] : audiences).map(JSONValue.string))
        spec["expirationSeconds"] = .int(Int64(seconds))
        return [
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": [
                "name": .string(name), "namespace": account[path: ["metadata", "namespace"]] ?? "", "creationTimestamp": .string(Timestamp.now()),
            ],
            "spec": .object(spec),
            "status": ["token": .string(token), "expirationTimestamp": .string(Timestamp.format(expires))],
        ]
    }
}
