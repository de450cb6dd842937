import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An XML element of an S3 response: name (without namespace), text, children.
/// Parsed with Foundation's XMLParser.
struct S3XMLElement {
    var name: String
    var text = ""
    var children: [S3XMLElement] = []

    /// The first child named `name`.
    subscript(_ name: String) -> S3XMLElement? { children.first { $0.name == name } }

    func all(_ name: String) -> [S3XMLElement] { children.filter { $0.name == name } }

    static func parse(_ data: Data) -> S3XMLElement? {
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        parser.shouldProcessNamespaces = true
        guard parser.parse() else { return nil }
        return builder.root
    }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [S3XMLElement] = []
        var root: S3XMLElement?

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            stack.append(S3XMLElement(name: elementName))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !stack.isEmpty { stack[stack.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            guard let element = stack.popLast() else { return }
            if stack.isEmpty {
                root = element
            } else {
                stack[stack.count - 1].children.append(element)
            }
        }
    }
}

/// XML text escaping for the bodies the client sends.
func xmlEscape(_ text: String) -> String {
    var result = ""
    for ch in text {
        switch ch {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&apos;"
        default: result.append(ch)
        }
    }
    return result
}
