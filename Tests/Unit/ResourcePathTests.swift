import Foundation
import KubeModel
import Testing

/// Paths escape each segment as Foundation's urlPathAllowed (less "/") would, by hand.
@Suite("Resource paths")
struct ResourcePathTests {
    @Test("segments are escaped as Foundation escapes them")
    func escaping() {
        let allowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))
        for segment in ["plain-name.1", "a b", "x/y", "100%", "ümlaut", "q?x#y", "semi;colon", "a+b=c&d", "@:!$'()*,~_", ""] {
            let expected = segment.addingPercentEncoding(withAllowedCharacters: allowed) ?? segment
            #expect(Database.resource.path(namespace: segment, name: segment) == "/apis/dboperator.io/v1alpha1/namespaces/\(expected)/databases/\(expected)", "\(segment)")
        }
        #expect(Namespace.resource.path(namespace: nil, name: "kube-system") == "/api/v1/namespaces/kube-system")
    }
}
